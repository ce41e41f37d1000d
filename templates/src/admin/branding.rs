//! `/admin/branding`: the publication's accent colours and logo, and the editable copy
//! of the sign-up journey, each previewed before it is saved.

use maud::{Markup, PreEscaped, html};

use crate::{
    admin::{AdminNav, admin_page, csrf_field},
    brand::Brand,
    page::{ButtonKind, PageMeta, button, checkbox, form_field},
};

const BRANDING_CSS: &str = r#"
.swatches { display: flex; flex-wrap: wrap; gap: 1rem; margin: 0 0 1rem; }
.swatch { border: 1px solid var(--rule); border-radius: var(--radius); padding: .75rem 1rem; min-width: 14rem; }
.swatch .chip { display: inline-block; width: 1.25rem; height: 1.25rem; border-radius: 50%; vertical-align: middle; margin-right: .4rem; border: 1px solid var(--control); }
.swatch-light { background: #faf6ee; color: #1f1b16; }
.swatch-dark { background: #161310; color: #eee8de; }
.logo-now img { max-height: 3rem; width: auto; max-width: 100%; display: block; margin: .25rem 0 .5rem; }
.copy-preview { border: 1px dashed var(--control); border-radius: var(--radius); padding: 1rem; margin: 0 0 1rem; }
.fixed-parts { font-size: .9rem; }
section textarea { min-height: 9rem; }
"#;

/// The look form as shown: what is saved (or configured), what was typed, what is wrong.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LookForm {
    pub accent: String,
    pub accent_dark: String,
    pub logo_url: String,
    pub logo_alt: String,
    pub accent_error: Option<String>,
    pub accent_dark_error: Option<String>,
    pub logo_url_error: Option<String>,
    pub logo_alt_error: Option<String>,
    /// An uploaded file is the logo in use (its URL field is then empty).
    pub uploaded_in_use: bool,
    pub upload_error: Option<String>,
}

/// One piece of editable copy.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CopyEditor {
    /// Form field name and anchor, e.g. "copy.welcome".
    pub key: String,
    pub label: String,
    /// What the template adds around the text.
    pub fixed_parts: String,
    pub markdown: String,
    pub error: Option<String>,
    /// Cleaned HTML of the page copy being previewed.
    pub preview_html: Option<String>,
    /// A whole email being previewed (shown in a sandboxed frame).
    pub preview_email: Option<String>,
    pub is_default: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct BrandingView {
    /// The look in effect (for the swatches and the current logo).
    pub brand: Brand,
    pub look: LookForm,
    pub copies: Vec<CopyEditor>,
    pub max_logo_kb: usize,
}

fn anchor(key: &str) -> String {
    key.replace('.', "-")
}

pub fn branding_page(meta: &PageMeta, n: &AdminNav, v: &BrandingView) -> Markup {
    admin_page(
        meta,
        n,
        html! {
            style { (PreEscaped(BRANDING_CSS)) }
            h1 { "Branding and copy" }
            p.muted { "What you save here overrides the [brand] section of the configuration; clear a field to go back to it. Pages show a change at once, emails from the next one sent." }
            (look_section(n, v))
            (upload_section(n, v))
            h2 #copy { "Copy" }
            p.muted { "Written in Markdown (**bold**, *italic*, [links](https://example.org), lists). HTML is removed. Preview before you save; the links and buttons readers need are added for you." }
            @for c in &v.copies { (copy_section(n, c)) }
        },
    )
}

fn look_section(n: &AdminNav, v: &BrandingView) -> Markup {
    let f = &v.look;
    html! {
        section aria-labelledby="look-heading" {
            h2 #look-heading { "Look" }
            div.swatches {
                div.swatch.swatch-light {
                    span.chip style={ "background:" (v.brand.accent) } {}
                    span style={ "color:" (v.brand.accent) ";font-weight:700" } { "Light accent " (v.brand.accent) }
                }
                div.swatch.swatch-dark {
                    span.chip style={ "background:" (v.brand.accent_dark) } {}
                    span style={ "color:" (v.brand.accent_dark) ";font-weight:700" } { "Dark accent " (v.brand.accent_dark) }
                }
            }
            @if let Some(logo) = &v.brand.logo {
                div.logo-now { p { "Logo in use:" } img src=(logo.url) alt=(logo.alt); }
            }
            form.card method="post" action="/admin/branding/look" novalidate {
                (csrf_field(&n.csrf))
                (form_field("Accent colour", "accent", "text", &f.accent, true,
                    Some("Hex, such as #b3001b. Links, headings and buttons; it must reach 4.5:1 contrast on the light backgrounds."),
                    f.accent_error.as_deref()))
                (form_field("Accent colour in dark mode", "accent_dark", "text", &f.accent_dark, false,
                    Some("Hex; it must reach 4.5:1 on the dark backgrounds. Leave empty to derive it from the accent."),
                    f.accent_dark_error.as_deref()))
                (form_field("Logo address", "logo_url", "url", &f.logo_url, false,
                    Some(if f.uploaded_in_use { "An uploaded file is in use; give an https:// address to use that instead." } else { "An https:// address, shown instead of the name. Or upload a file below." }),
                    f.logo_url_error.as_deref()))
                (form_field("Logo alt text", "logo_alt", "text", &f.logo_alt, false,
                    Some("Required with a logo: usually the publication's name."),
                    f.logo_alt_error.as_deref()))
                (checkbox("No logo: show the name in type", "remove_logo", "1", false, None))
                div.actions { (button("Save the look", ButtonKind::Primary)) }
            }
        }
    }
}

fn upload_section(n: &AdminNav, v: &BrandingView) -> Markup {
    let f = &v.look;
    html! {
        section aria-labelledby="upload-heading" {
            h2 #upload-heading { "Upload a logo" }
            form.card method="post" action="/admin/branding/logo" enctype="multipart/form-data" novalidate {
                (csrf_field(&n.csrf))
                div.field.field-has-error[f.upload_error.is_some()] {
                    label for="logo-file" { "Image file" }
                    span.hint id="logo-file-hint" { "PNG, JPEG, GIF or WebP, up to " (v.max_logo_kb) " KB. About 80 px tall reads well in email." }
                    @if let Some(e) = &f.upload_error {
                        span.field-error id="logo-file-error" { span.visually-hidden { "Error: " } (e) }
                    }
                    input id="logo-file" type="file" name="file" accept="image/png,image/jpeg,image/gif,image/webp" required
                        aria-invalid=[f.upload_error.as_ref().map(|_| "true")]
                        aria-describedby=(if f.upload_error.is_some() { "logo-file-hint logo-file-error" } else { "logo-file-hint" });
                }
                (form_field("Alt text", "alt", "text", &f.logo_alt, true, Some("Required: usually the publication's name."), None))
                div.actions { (button("Upload and use", ButtonKind::Primary)) }
            }
        }
    }
}

fn copy_section(n: &AdminNav, c: &CopyEditor) -> Markup {
    let id = anchor(&c.key);
    html! {
        section id=(id) aria-labelledby={ (id) "-heading" } {
            h3 id={ (id) "-heading" } {
                (c.label)
                @if c.is_default { span.badge { "default" } }
            }
            p.muted.fixed-parts { (c.fixed_parts) }
            @if let Some(html) = &c.preview_html {
                h4 { "Preview (not saved yet)" }
                div.copy-preview.copy { (PreEscaped(html)) }
            }
            @if let Some(email) = &c.preview_email {
                h4 { "Preview (not saved yet)" }
                iframe.preview-frame sandbox="" title={ "Preview of the " (c.label) } srcdoc=(email) {}
            }
            form.card method="post" action={ "/admin/branding/copy#" (id) } novalidate {
                (csrf_field(&n.csrf))
                input type="hidden" name="key" value=(c.key);
                (form_field(&c.label, &c.key, "textarea", &c.markdown, false, Some("Markdown. Empty: back to the default."), c.error.as_deref()))
                div.actions {
                    button.btn.btn-secondary type="submit" name="action" value="preview" { "Preview" }
                    button.btn type="submit" name="action" value="save" { "Save" }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_are_sandboxed_and_fields_named_by_key() {
        let v = BrandingView {
            copies: vec![CopyEditor {
                key: "copy.welcome".into(),
                label: "Welcome email".into(),
                markdown: "Hi <there>".into(),
                preview_email: Some("<p onclick=x>mail</p>".into()),
                ..Default::default()
            }],
            ..Default::default()
        };
        let html = branding_page(&PageMeta::default(), &AdminNav::default(), &v).into_string();
        assert!(html.contains(r#"sandbox="""#));
        assert!(
            html.contains(r#"srcdoc="&lt;p onclick=x&gt;mail&lt;/p&gt;""#),
            "{html}"
        );
        assert!(html.contains(r#"name="copy.welcome""#));
        assert!(html.contains("Hi &lt;there&gt;"));
    }
}
