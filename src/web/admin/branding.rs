//! `/admin/branding`: accent colours, logo (address or upload) and the editable copy.
//! Editors only; every form carries the CSRF token. The rules (contrast, logo checks,
//! Markdown cleaning) are [`crate::brand`]'s; this file only reads forms and answers.

use axum::{
    Router,
    extract::{DefaultBodyLimit, Multipart, Query, State, multipart::MultipartRejection},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::post,
};
use serde::Deserialize;
use templates::admin::branding::{BrandingView, CopyEditor, LookForm, branding_page};
use templates::email::transactional::render_transactional_html;

use super::{CheckedForm, flash_for, html_page, meta, nav, see_other};
use crate::{
    app::App,
    brand::{self, CopyKey, Saved, Scheme, colour, copy, logo},
    web::auth::{CSRF_FIELD, CurrentUser, PageError, RequireEditor, verify_csrf},
};

const PATH: &str = "/admin/branding";

/// The upload route, outside the service-wide 64 KiB body limit: it enforces its own
/// (a little over the logo limit, so an oversized file is refused with a page).
pub fn upload_routes() -> Router<App> {
    Router::new()
        .route("/admin/branding/logo", post(upload_logo))
        .layer(DefaultBodyLimit::max(logo::MAX_BYTES + 64 * 1024))
}

#[derive(Debug, Deserialize)]
pub struct PageQuery {
    msg: Option<String>,
}

pub async fn page(
    State(app): State<App>,
    RequireEditor(user): RequireEditor,
    Query(q): Query<PageQuery>,
) -> Result<Response, PageError> {
    let view = view(&app, None, None).await?;
    Ok(render(
        &app,
        &user,
        StatusCode::OK,
        flash_for(q.msg.as_deref()),
        &view,
    ))
}

fn render(
    app: &App,
    user: &CurrentUser,
    status: StatusCode,
    flash: Option<templates::page::Flash>,
    view: &BrandingView,
) -> Response {
    let mut response = html_page(branding_page(
        &meta(app, "Branding and copy", flash),
        &nav(user, PATH),
        view,
    ));
    *response.status_mut() = status;
    response
}

/// The page's state: the saved values (or the configured ones) in the look form unless a
/// refused form is being shown again, and each copy editor with its saved text.
async fn view(
    app: &App,
    look_form: Option<LookForm>,
    editing: Option<CopyEditor>,
) -> Result<BrandingView, PageError> {
    let saved = Saved {
        values: app.store.brand_settings().await?,
    };
    let look = app.look.reload(app).await;
    let cfg = &app.config.brand;
    let value = |key: &str, configured: &str| {
        saved
            .get(key)
            .map_or_else(|| configured.to_owned(), str::to_owned)
    };
    let logo_ref = value(brand::LOGO, &cfg.logo_url);
    let uploaded = logo_ref.starts_with("asset:");
    let look_form = look_form.unwrap_or_else(|| LookForm {
        accent: value(brand::ACCENT, &cfg.accent_colour),
        accent_dark: value(brand::ACCENT_DARK, &cfg.accent_colour_dark),
        logo_url: if uploaded { String::new() } else { logo_ref },
        logo_alt: value(brand::LOGO_ALT, &cfg.logo_alt),
        uploaded_in_use: uploaded,
        ..LookForm::default()
    });
    let copies = CopyKey::ALL
        .into_iter()
        .map(|k| match &editing {
            Some(e) if e.key == k.key() => e.clone(),
            _ => CopyEditor {
                key: k.key().into(),
                label: k.label().into(),
                fixed_parts: k.fixed_parts().into(),
                markdown: look.copy.markdown(k).to_owned(),
                is_default: saved.get(k.key()).is_none_or(|t| t.trim().is_empty()),
                ..CopyEditor::default()
            },
        })
        .collect();
    Ok(BrandingView {
        brand: look.brand.clone(),
        look: look_form,
        copies,
        max_logo_kb: logo::MAX_BYTES / 1024,
    })
}

/// Saves the accents and the logo address, or shows the form again with what is wrong
/// (the contrast ratio included). Nothing is saved unless everything passes.
pub async fn save_look(
    State(app): State<App>,
    CheckedForm(RequireEditor(user), form): CheckedForm<RequireEditor>,
) -> Result<Response, PageError> {
    let mut f = LookForm {
        accent: form.text("accent"),
        accent_dark: form.text("accent_dark"),
        logo_url: form.text("logo_url"),
        logo_alt: form.text("logo_alt"),
        ..LookForm::default()
    };
    let remove_logo = form.get("remove_logo").is_some();
    let accent = colour::check(&f.accent, Scheme::Light)
        .map_err(|e| f.accent_error = Some(e))
        .ok();
    let accent_dark = if f.accent_dark.is_empty() {
        Some(String::new())
    } else {
        colour::check(&f.accent_dark, Scheme::Dark)
            .map_err(|e| f.accent_dark_error = Some(e))
            .ok()
    };
    let saved = Saved {
        values: app.store.brand_settings().await?,
    };
    let current_logo = saved
        .get(brand::LOGO)
        .map_or_else(|| app.config.brand.logo_url.clone(), str::to_owned);
    // The logo after this save: none, a new address, or whatever is in use now.
    let logo_ref = if remove_logo {
        Some(String::new())
    } else if !f.logo_url.is_empty() {
        logo::check_url(&f.logo_url)
            .map_err(|e| f.logo_url_error = Some(e))
            .ok()
    } else {
        Some(current_logo)
    };
    let has_logo = logo_ref.as_deref().is_some_and(|l| !l.trim().is_empty());
    let alt = if has_logo {
        logo::check_alt(&f.logo_alt)
            .map_err(|e| f.logo_alt_error = Some(e))
            .ok()
    } else {
        Some(f.logo_alt.clone())
    };
    let (Some(accent), Some(accent_dark), Some(logo_ref), Some(alt)) =
        (accent, accent_dark, logo_ref, alt)
    else {
        f.uploaded_in_use = saved
            .get(brand::LOGO)
            .is_some_and(|l| l.starts_with("asset:"));
        let view = view(&app, Some(f), None).await?;
        return Ok(render(
            &app,
            &user,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(error_flash(
                "The look was not saved: see the fields marked below.",
            )),
            &view,
        ));
    };
    let now = app.now_ms();
    for (key, value) in [
        (brand::ACCENT, accent),
        (brand::ACCENT_DARK, accent_dark),
        (brand::LOGO, logo_ref),
        (brand::LOGO_ALT, alt),
    ] {
        app.store
            .set_brand_setting(key, Some(&value), Some(user.id), now)
            .await?;
    }
    app.look.reload(&app).await;
    tracing::info!(by = user.id, "brand look saved");
    Ok(see_other(&format!("{PATH}?msg=saved")))
}

fn error_flash(message: &str) -> templates::page::Flash {
    templates::page::Flash {
        kind: templates::page::FlashKind::Error,
        message: message.into(),
    }
}

/// Previews or saves one piece of copy. A preview renders it exactly as readers will
/// get it (the whole email, in a sandboxed frame) and saves nothing.
pub async fn copy_action(
    State(app): State<App>,
    CheckedForm(RequireEditor(user), form): CheckedForm<RequireEditor>,
) -> Result<Response, PageError> {
    let Some(key) = form.get("key").and_then(CopyKey::from_key) else {
        let view = view(&app, None, None).await?;
        return Ok(render(
            &app,
            &user,
            StatusCode::BAD_REQUEST,
            Some(error_flash("That is not a piece of copy this page edits.")),
            &view,
        ));
    };
    let text = form.get(key.key()).unwrap_or("").to_owned();
    let mut editor = CopyEditor {
        key: key.key().into(),
        label: key.label().into(),
        fixed_parts: key.fixed_parts().into(),
        markdown: text.clone(),
        ..CopyEditor::default()
    };
    let checked = copy::check(&text, &app);
    let checked = match checked {
        Ok(t) => t,
        Err(e) => {
            editor.error = Some(e);
            let view = view(&app, None, Some(editor)).await?;
            return Ok(render(
                &app,
                &user,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(error_flash("Not saved: see the message by the text.")),
                &view,
            ));
        }
    };
    if form.get("action") == Some("save") {
        let value = (!checked.trim().is_empty()).then_some(checked.as_str());
        app.store
            .set_brand_setting(key.key(), value, Some(user.id), app.now_ms())
            .await?;
        app.look.reload(&app).await;
        tracing::info!(by = user.id, key = key.key(), "copy saved");
        return Ok(see_other(&format!(
            "{PATH}?msg=saved#{}",
            key.key().replace('.', "-")
        )));
    }
    let source = if checked.trim().is_empty() {
        key.default_text(&app)
    } else {
        checked
    };
    editor.is_default = text.trim().is_empty();
    let rendered = copy::render(&source, &app).unwrap_or_default();
    match key {
        CopyKey::Confirmation | CopyKey::Welcome => {
            editor.preview_email = Some(preview_email(&app, key, &rendered).await);
        }
        CopyKey::SignupPitch | CopyKey::Confirmed => editor.preview_html = Some(rendered.html),
    }
    let view = view(&app, None, Some(editor)).await?;
    Ok(render(&app, &user, StatusCode::OK, None, &view))
}

/// The email as a reader would get it, with sample links in place of personal ones.
async fn preview_email(app: &App, key: CopyKey, intro: &copy::Rendered) -> String {
    let look = app.look.current();
    let m = match key {
        CopyKey::Welcome => crate::subscribers::welcome_message(
            app,
            &look,
            intro,
            Some("Rosa"),
            crate::archive::next_issue_sentence(app).await,
            app.url("/preferences?token=preview"),
            app.url("/unsubscribe?token=preview"),
        ),
        _ => crate::subscribers::confirmation_message(
            app,
            &look,
            intro,
            app.url("/confirm?token=preview"),
        ),
    };
    render_transactional_html(&m)
}

/// The logo form's fields: its CSRF token, the alt text and the file, read no further
/// than one byte past [`logo::MAX_BYTES`] (the check then refuses it as too large).
/// `Err` names what was cut off: the "file", or the whole "upload".
async fn read_logo_form(
    multipart: &mut Multipart,
) -> Result<(Option<String>, String, Option<Vec<u8>>), &'static str> {
    let (mut csrf, mut alt, mut file) = (None::<String>, String::new(), None::<Vec<u8>>);
    while let Some(mut field) = multipart.next_field().await.map_err(|_| "upload")? {
        match field.name() {
            Some(CSRF_FIELD) => csrf = field.text().await.ok(),
            Some("alt") => alt = field.text().await.unwrap_or_default(),
            Some("file") if file.is_none() => {
                let mut bytes = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(|_| "file")? {
                    bytes.extend_from_slice(&chunk);
                    if bytes.len() > logo::MAX_BYTES {
                        break;
                    }
                }
                file = Some(bytes);
            }
            _ => {}
        }
    }
    Ok((csrf, alt, file))
}

/// Stores an uploaded logo (checked by its content) with its alt text and puts it in use.
pub async fn upload_logo(
    State(app): State<App>,
    RequireEditor(user): RequireEditor,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, PageError> {
    let refused = |app: &App, user: &CurrentUser, status: StatusCode, why: String| {
        let app = app.clone();
        let user = user.clone();
        async move {
            let mut view = view(&app, None, None).await?;
            view.look.upload_error = Some(why);
            Ok::<Response, PageError>(render(
                &app,
                &user,
                status,
                Some(error_flash("The logo was not uploaded.")),
                &view,
            ))
        }
    };
    let Ok(mut multipart) = multipart else {
        return refused(
            &app,
            &user,
            StatusCode::BAD_REQUEST,
            "Choose an image file.".into(),
        )
        .await;
    };
    let (csrf, alt, file) = match read_logo_form(&mut multipart).await {
        Ok(fields) => fields,
        Err(what) => {
            let why = format!(
                "The {what} did not arrive whole; a logo may be at most {} KB.",
                logo::MAX_BYTES / 1024
            );
            return refused(&app, &user, StatusCode::PAYLOAD_TOO_LARGE, why).await;
        }
    };
    verify_csrf(&app, &user, csrf.as_deref())?;
    let bytes = file.unwrap_or_default();
    let checked = logo::check_upload(&bytes)
        .and_then(|(kind, sha)| logo::check_alt(&alt).map(|alt| (kind, sha, alt)));
    let (kind, sha, alt) = match checked {
        Ok(c) => c,
        Err(why) => {
            let status = if bytes.len() > logo::MAX_BYTES {
                StatusCode::PAYLOAD_TOO_LARGE
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            return refused(&app, &user, status, why).await;
        }
    };
    let now = app.now_ms();
    let id = app
        .store
        .insert_brand_asset(kind, &bytes, &sha, now)
        .await?;
    for (key, value) in [(brand::LOGO, format!("asset:{id}")), (brand::LOGO_ALT, alt)] {
        app.store
            .set_brand_setting(key, Some(&value), Some(user.id), now)
            .await?;
    }
    app.look.reload(&app).await;
    tracing::info!(by = user.id, asset = id, kind, "logo uploaded");
    Ok(see_other(&format!("{PATH}?msg=saved")).into_response())
}
