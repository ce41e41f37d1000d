//! The reader's pages in a real browser: the sign-up flow (form, "check your inbox",
//! confirm, confirmed), preferences, unsubscribe and the archive (index and an issue),
//! with the publication's logo, each opened in headless Chromium at 1200 and 390 px in
//! the light and the dark scheme, screenshotted, and checked by axe-core
//! (`tests/support/a11y/check.mjs`). Also screenshots the digest email.
//!
//! Needs node, Chromium and `npm install` in tests/support/a11y; runs when
//! `BREAKFAST_TEST_A11Y=1` (CI sets it) and is skipped otherwise. Screenshots land in
//! `target/a11y/`.

use std::{path::PathBuf, process::Command};

use breakfast::{
    brand,
    digest::Personaliser,
    domain::{Clock, Purpose, SubscriberStatus},
    store::users::AdminRole,
};

use crate::{archive::three_issues, kit::TestApp};

const TOML: &str = "[ingest]\npoll_minutes = 0\n[subscribers]\nrate_limit_per_minute = 10000\n";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reader_pages_pass_axe_in_chromium_light_and_dark() {
    if std::env::var("BREAKFAST_TEST_A11Y").as_deref() != Ok("1") {
        eprintln!(
            "skipped: set BREAKFAST_TEST_A11Y=1 (needs node, chromium, npm install in tests/support/a11y)"
        );
        return;
    }
    let Some(t) = TestApp::spawn_with(
        crate::kit::Backend::Sqlite,
        TOML,
        Clock::manual("2026-03-03T05:00:00Z".parse().unwrap()),
    )
    .await
    else {
        return;
    };
    let app = &t.app;
    // The publication's logo, as an editor would upload it.
    let logo = std::fs::read(root().join("tests/fixtures/brand/logo.png")).unwrap();
    let (kind, sha) = brand::logo::check_upload(&logo).unwrap();
    let id = app
        .store
        .insert_brand_asset(kind, &logo, &sha, app.now_ms())
        .await
        .unwrap();
    for (k, v) in [
        (brand::LOGO, format!("asset:{id}")),
        (brand::LOGO_ALT, "Breakfast in Red".to_string()),
    ] {
        app.store
            .set_brand_setting(k, Some(&v), None, app.now_ms())
            .await
            .unwrap();
    }
    app.look.reload(app).await;
    three_issues(app).await;
    crate::admin::add_user(app, "ed@example.org", AdminRole::Editor).await;

    // A reader who signed up, for the personal pages.
    let mut readers = Vec::new();
    for n in 0..4 {
        let address = format!("rosa{n}@example.org");
        let rosa = Some("Rosa");
        let id = crate::kit::subscriber_named(app, &address, rosa, SubscriberStatus::Pending).await;
        readers.push(id);
    }
    let reader = readers[0];
    let far = app.now_ms() + 30 * 86_400_000;
    // A confirmation link works once: one reader per run.
    let confirm: Vec<String> = readers
        .iter()
        .map(|&id| {
            let token = app.signer.sign(id, Purpose::Confirm, Some(far));
            t.url(&format!("/confirm?token={token}"))
        })
        .collect();
    let prefs = app.signer.sign(reader, Purpose::Preferences, Some(far));
    let unsub = app.signer.sign(reader, Purpose::Unsubscribe, None);

    // The email, as this reader would get the first issue.
    let out = root().join("target/a11y");
    std::fs::create_dir_all(&out).unwrap();
    let first = crate::kit::digest_on(app, "2026-03-03").await;
    let (_, html, _) = Personaliser::load(app, first.id)
        .await
        .unwrap()
        .render_for(reader, Some("Rosa"));
    std::fs::write(out.join("email.html"), html).unwrap();

    let u = |p: &str| t.url(p);
    let plan = serde_json::json!([
        {"name": "signup", "url": u("/")},
        {"name": "check-inbox", "url": u("/"),
         "fill": {"#field-email": "rosa@example.org", "#field-name": "Rosa"},
         "click": "main form button[type=submit]"},
        {"name": "confirm", "url": confirm},
        {"name": "confirmed", "url": confirm,
         "click": "main form button[type=submit]"},
        {"name": "preferences", "url": u(&format!("/preferences?token={prefs}"))},
        {"name": "unsubscribe", "url": u(&format!("/unsubscribe?token={unsub}"))},
        {"name": "archive", "url": u("/archive")},
        {"name": "archive-issue", "url": u("/archive/2026-03-03")},
        {"name": "admin-branding", "url": u("/admin/login"),
         "fill": {"#field-email": "ed@example.org", "#field-password": crate::admin::PASSWORD},
         "click": "main form button[type=submit]", "then": u("/admin/branding")},
        {"name": "email", "url": format!("file://{}", out.join("email.html").display()), "axe": false},
    ]);
    let plan_file = out.join("plan.json");
    std::fs::write(&plan_file, plan.to_string()).unwrap();
    let result = Command::new("node")
        .arg(root().join("tests/support/a11y/check.mjs"))
        .arg(&plan_file)
        .arg(&out)
        .output()
        .expect("node runs");
    let report = String::from_utf8_lossy(&result.stdout);
    println!("{report}");
    eprintln!("{}", String::from_utf8_lossy(&result.stderr));
    assert!(result.status.success(), "axe or layout problems:\n{report}");
    t.stop().await;
}
