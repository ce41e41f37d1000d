//! The publication's own look and words, set in the admin: accent colours refused with
//! their contrast ratio when unreadable, logos (address or upload, checked by content,
//! served with their type and `nosniff`), and the editable copy of the sign-up journey,
//! previewed before saving, cleaned like the editor's note, and unable to remove the
//! confirm or unsubscribe link. Seen where readers see it: pages, the archive, the
//! digest, the confirmation and welcome emails.

use std::time::Duration;

use breakfast::{domain::Clock, edition::ComposeOutcome, store::users::AdminRole};
use reqwest::{StatusCode, header};

use crate::{
    admin::{Browser, PASSWORD, add_user},
    kit::{Backend, FilePart, Mail, TestApp, find_link},
    on_both_databases,
};

const TOML: &str = "[ingest]\npoll_minutes = 0\n[subscribers]\nrate_limit_per_minute = 10000\n";

/// A PNG signature and a few bytes: what the upload check reads.
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0";

async fn editor(t: &TestApp) -> (Browser, String) {
    add_user(&t.app, "ed@example.org", AdminRole::Editor).await;
    let mut b = Browser::new(t);
    b.login("ed@example.org", PASSWORD).await;
    let page = b.get("/admin/branding").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let csrf = page.csrf();
    (b, csrf)
}

/// Posts a logo the way the upload form does. The browser's claimed type is a lie on
/// purpose: only the bytes count.
async fn upload(
    b: &mut Browser,
    csrf: &str,
    file: &[u8],
    alt: &str,
) -> (StatusCode, String, Option<String>) {
    let file = FilePart {
        field: "file",
        name: "logo.png",
        content_type: "image/png",
        bytes: file,
    };
    let fields = [("csrf", csrf), ("alt", alt)];
    let page = b
        .post_multipart("/admin/branding/logo", &fields, file)
        .await;
    (page.status, page.body, page.location)
}

async fn get(t: &TestApp, path: &str) -> (StatusCode, String) {
    t.get(path).await.parts()
}

/// The service on 3 March 2026, 05:00 UTC, with an editor signed in: (app, browser,
/// the branding page's CSRF token).
async fn spawn(backend: Backend) -> Option<(TestApp, Browser, String)> {
    let clock = Clock::manual("2026-03-03T05:00:00Z".parse().unwrap());
    let t = TestApp::spawn_with(backend, TOML, clock).await?;
    let (b, csrf) = editor(&t).await;
    Some((t, b, csrf))
}

async fn look_is_checked_saved_and_shown(backend: Backend) {
    let Some((t, mut b, csrf)) = spawn(backend).await else {
        return;
    };

    // Unreadable on the light backgrounds: refused, with the ratio.
    let page = b
        .post(
            "/admin/branding/look",
            &[("csrf", &csrf), ("accent", "#ffcc00"), ("accent_dark", "")],
        )
        .await;
    assert_eq!(page.status, 422, "{}", page.body);
    assert!(page.body.contains("contrast is 1."), "{}", page.body);
    assert!(page.body.contains("4.5:1"));
    assert!(
        page.body.contains(r##"value="#ffcc00""##),
        "what was typed stays"
    );
    // Readable in light, not in dark.
    let page = b
        .post(
            "/admin/branding/look",
            &[
                ("csrf", &csrf),
                ("accent", "#0b3d91"),
                ("accent_dark", "#0b3d91"),
            ],
        )
        .await;
    assert_eq!(page.status, 422);
    assert!(
        page.body.contains("on the dark background"),
        "{}",
        page.body
    );
    // A logo address needs its alt text.
    let page = b
        .post(
            "/admin/branding/look",
            &[
                ("csrf", &csrf),
                ("accent", "#0b3d91"),
                ("logo_url", "https://img.example/logo.png"),
                ("logo_alt", ""),
            ],
        )
        .await;
    assert_eq!(page.status, 422);
    assert!(page.body.contains("alt text"), "{}", page.body);
    // Without the form's token nothing is saved.
    let page = b
        .post("/admin/branding/look", &[("accent", "#0b3d91")])
        .await;
    assert_eq!(page.status, 403);

    // A readable pair is saved; the dark accent is derived when left empty.
    let page = b
        .post(
            "/admin/branding/look",
            &[("csrf", &csrf), ("accent", "#0B3D91"), ("accent_dark", "")],
        )
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    let (_, home) = get(&t, "/").await;
    assert!(home.contains("--accent:#0b3d91;"), "{home}");
    assert!(!home.contains("--accent:#b3001b"));
    let (_, archive) = get(&t, "/archive").await;
    assert!(archive.contains("--accent:#0b3d91;"));
    // The site's icon follows the accent, at the address pages link and browsers guess.
    assert!(home.contains(r#"<link rel="icon" href="/favicon.svg" type="image/svg+xml">"#));
    for path in ["/favicon.svg", "/favicon.ico"] {
        let r = t.http.get(t.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()[header::CONTENT_TYPE], "image/svg+xml");
        let svg = r.text().await.unwrap();
        assert!(
            svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
            "{svg}"
        );
        assert!(svg.contains("fill:#0b3d91"), "{svg}");
    }

    // An uploaded logo: SVG and non-images refused by content, a PNG kept and served.
    let (status, body, _) = upload(&mut b, &csrf, b"<svg onload=alert(1)></svg>", "Red").await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("not a PNG, JPEG, GIF or WebP"), "{body}");
    let (status, body, _) = upload(&mut b, &csrf, PNG, " ").await;
    assert_eq!(status, 422);
    assert!(body.contains("alt text"));
    let big = [PNG, &vec![0u8; 600 * 1024]].concat();
    let (status, body, _) = upload(&mut b, &csrf, &big, "Red").await;
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("at most 512 KB"), "{body}");
    let (status, body, location) = upload(&mut b, &csrf, PNG, "Breakfast in Red").await;
    assert_eq!(status, 303, "{body}");
    assert_eq!(location.as_deref(), Some("/admin/branding?msg=saved"));
    let (_, home) = get(&t, "/").await;
    let marker = "class=\"brand-logo\" src=\"";
    let at = home.find(marker).expect("the logo on the page") + marker.len();
    let src = home[at..].split('"').next().unwrap().to_string();
    assert!(src.starts_with(&format!("{}/brand/logo/", t.base)), "{src}");
    assert!(home.contains(r#"alt="Breakfast in Red""#));
    let r = t.http.get(&src).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()[header::CONTENT_TYPE], "image/png");
    assert_eq!(r.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(r.bytes().await.unwrap().as_ref(), PNG);
    let (status, _) = get(&t, "/brand/logo/1-0000").await;
    assert_eq!(status, 404, "a wrong hash is not the file");

    // The email: the accent and the logo (absolute, with its alt text).
    crate::admin::seed_content(&t.app, &["Dockers win"], &[]).await;
    let today = t.app.clock.now().date_naive();
    let ComposeOutcome::Composed(id) = breakfast::edition::compose_for_date(&t.app, today)
        .await
        .unwrap()
    else {
        panic!("composed");
    };
    let html = t.app.store.digest(id).await.unwrap().html.unwrap();
    assert!(html.contains("color:#0b3d91"), "accent in the email");
    assert!(
        html.contains(&format!("src=\"{src}\"")),
        "logo in the email"
    );
    assert!(!html.contains("#b3001b"), "no stock red left");

    // An operator cannot open the page.
    add_user(&t.app, "op@example.org", AdminRole::Operator).await;
    let mut op = Browser::new(&t);
    op.login("op@example.org", PASSWORD).await;
    assert_eq!(op.get("/admin/branding").await.status, 403);
    t.stop().await;
}
on_both_databases!(look_is_checked_saved_and_shown);

async fn copy_is_previewed_cleaned_and_keeps_the_required_links(backend: Backend) {
    let Some((t, mut b, csrf)) = spawn(backend).await else {
        return;
    };
    // Defaults are today's words.
    let page = b.get("/admin/branding").await;
    assert!(
        page.body
            .contains("Thanks for signing up to Breakfast in Red.")
    );

    // A preview shows the whole email and saves nothing.
    let words = "Hello from **the desk**. [Read us](https://paper.example/about) \
                 [bad](javascript:alert(1)) <script>alert(1)</script>";
    let page = b
        .post(
            "/admin/branding/copy",
            &[
                ("csrf", &csrf),
                ("key", "copy.confirmation"),
                ("copy.confirmation", words),
                ("action", "preview"),
            ],
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Preview (not saved yet)"));
    let at = page.body.find("srcdoc=\"").expect("the email in a frame") + 8;
    let email = page.body[at..].split('"').next().unwrap();
    assert!(
        email.contains("&lt;strong&gt;the desk&lt;/strong&gt;"),
        "{email}"
    );
    assert!(
        email.contains("Confirm my subscription"),
        "the fixed button"
    );
    assert!(!email.contains("javascript:"), "{email}");
    assert!(!email.contains("&lt;script"), "{email}");
    assert!(
        t.app.store.brand_settings().await.unwrap().is_empty(),
        "a preview saves nothing"
    );

    for (key, text) in [
        ("copy.confirmation", words),
        (
            "copy.welcome",
            "Welcome to *the* paper. Write to us any time.",
        ),
        (
            "copy.signup_pitch",
            "News for **organisers**, every morning.",
        ),
        ("copy.confirmed", "That is you **done**."),
    ] {
        let page = b
            .post(
                "/admin/branding/copy",
                &[
                    ("csrf", &csrf),
                    ("key", key),
                    (key, text),
                    ("action", "save"),
                ],
            )
            .await;
        assert_eq!(page.status, 303, "{key}: {}", page.body);
    }
    let too_long = "x".repeat(5000);
    let page = b
        .post(
            "/admin/branding/copy",
            &[
                ("csrf", &csrf),
                ("key", "copy.welcome"),
                ("copy.welcome", &too_long),
                ("action", "save"),
            ],
        )
        .await;
    assert_eq!(page.status, 422);

    // The sign-up page shows the pitch; the flow sends the edited confirmation, whose
    // confirm link is still there; the confirmed page and the welcome email follow.
    let (_, signup) = get(&t, "/").await;
    assert!(
        signup.contains("News for <strong>organisers</strong>, every morning."),
        "{signup}"
    );
    let r = t
        .http
        .post(t.url("/subscribe"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("email=rosa%40example.org&name=Rosa")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mails = t.wait_for_outbox(1, Duration::from_secs(60)).await;
    let confirm = Mail::parse(&mails[0]);
    assert!(
        confirm.html.contains("<strong>the desk</strong>"),
        "{}",
        confirm.html
    );
    assert!(confirm.html.contains("https://paper.example/about"));
    assert!(!confirm.html.contains("javascript:"));
    assert!(!confirm.html.contains("<script"));
    assert!(
        confirm.text.contains("Hello from the desk."),
        "{}",
        confirm.text
    );
    let link = find_link(&confirm.text, "/confirm?token=").expect("the confirm link stays");
    let path = &link[link.find("/confirm").unwrap()..];
    let r = t
        .http
        .post(t.url(path))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("")
        .send()
        .await
        .unwrap();
    let confirmed = r.text().await.unwrap();
    assert!(
        confirmed.contains("That is you <strong>done</strong>."),
        "{confirmed}"
    );
    assert!(confirmed.contains("You're subscribed"));
    let mails = t.wait_for_outbox(2, Duration::from_secs(60)).await;
    let welcome = mails
        .iter()
        .map(|m| Mail::parse(m))
        .find(|m| m.subject.starts_with("Welcome"))
        .expect("a welcome email");
    assert!(
        welcome.html.contains("Welcome to <em>the</em> paper."),
        "{}",
        welcome.html
    );
    assert!(
        welcome.html.contains(">Unsubscribe</a>"),
        "a visible unsubscribe link"
    );
    assert!(find_link(&welcome.text, "/unsubscribe?token=").is_some());
    assert!(
        welcome.text.contains("The next issue goes out on"),
        "when issues arrive: {}",
        welcome.text
    );
    t.stop().await;
}
on_both_databases!(copy_is_previewed_cleaned_and_keeps_the_required_links);
