//! Curating an issue in the composer (`/admin`): the script's JSON answers for pin, drop,
//! move and move-to-top beside the no-script form path, per-issue overrides of an
//! article (kept out of the feed's text, revertible, in the sent email), articles added
//! by URL from a loopback page (and each way that fails), and the announcement block.

use std::time::Duration;

use axum::{Router, http::header, response::IntoResponse, routing::get};
use breakfast::store::users::AdminRole;
use reqwest::StatusCode;

use crate::{
    admin::{Browser, PASSWORD, add_user, seed_content},
    kit::{Backend, Mail, TestApp},
    on_both_databases,
};

/// A publisher's site on loopback: an article page with Open Graph metadata, a page
/// with only a `<title>`, an image, and a page too large to read.
async fn start_site() -> String {
    let article = || async {
        (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            r#"<!doctype html><html><head>
            <title>Site title | The Morning Star</title>
            <meta property="og:title" content="Bus drivers &amp; cleaners win <script>alert(1)</script>">
            <meta property="og:description" content="After a six-week strike the depot settled.">
            <meta property="og:image" content="/img/depot.jpg">
            </head><body><p>Body text.</p></body></html>"#,
        )
    };
    let plain = || async {
        (
            [(header::CONTENT_TYPE, "text/html")],
            "<html><head><title>Only a title</title><meta name=description content='From the meta tag'></head></html>",
        )
    };
    let image = || async {
        (
            [(header::CONTENT_TYPE, "image/png")],
            vec![0x89u8, b'P', b'N', b'G', 0, 0],
        )
    };
    let big = || async {
        let mut body = String::from("<!doctype html><html><head><title>Huge</title></head><body>");
        body.push_str(&"x".repeat(200_000));
        ([(header::CONTENT_TYPE, "text/html")], body).into_response()
    };
    let slow = || async {
        tokio::time::sleep(Duration::from_secs(4)).await;
        ([(header::CONTENT_TYPE, "text/html")], "<title>Late</title>")
    };
    let app = Router::new()
        .route("/article", get(article))
        .route("/slow", get(slow))
        .route("/plain", get(plain))
        .route("/image.png", get(image))
        .route("/big", get(big));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// The digest id and the ids of articles by title, from the store.
async fn ids(t: &TestApp, titles: &[&str]) -> Vec<i64> {
    let mut out = Vec::new();
    for title in titles {
        let a = t
            .app
            .store
            .article_by_dedup_key(&format!("k-{title}"))
            .await
            .unwrap()
            .expect("seeded article");
        out.push(a.id);
    }
    out
}

fn digest_id_in(body: &str) -> i64 {
    body.split("/admin/digest/")
        .nth(1)
        .and_then(|s| s.split('/').next())
        .and_then(|s| s.parse().ok())
        .expect("digest id in the page")
}

/// Posts like the composer's script does (asking for JSON) and returns the answer.
async fn post_json(
    b: &Browser,
    path: &str,
    form: &[(&str, &str)],
) -> (StatusCode, serde_json::Value) {
    let cookies = b
        .cookies
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    let res = b
        .http
        .post(format!("{}{path}", b.base))
        .header(header::COOKIE, cookies)
        .header(header::ACCEPT, "application/json")
        .form(form)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let ct = res
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(ct.starts_with("application/json"), "{path}: {ct}");
    (status, res.json().await.unwrap())
}

async fn order(t: &TestApp, digest_id: i64) -> Vec<i64> {
    t.app.store.digest(digest_id).await.unwrap().article_ids
}

const TITLES: [&str; 4] = [
    "Rent strike spreads",
    "Nurses ballot",
    "Dockers win pay rise",
    "Tenants union grows",
];

async fn reorder_over_json_and_without_script(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    add_user(&t.app, "ed@example.org", AdminRole::Editor).await;
    seed_content(&t.app, &TITLES, &["a@example.org", "b@example.org"]).await;
    let mut b = Browser::new(&t);
    b.login("ed@example.org", PASSWORD).await;
    let res = t
        .http
        .get(t.url("/admin"))
        .header(
            header::COOKIE,
            b.cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; "),
        )
        .send()
        .await
        .unwrap();
    let csp = res.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let page = res.text().await.unwrap();
    assert!(page.contains(r#"src="/admin/assets/composer.js""#));
    assert!(!page.contains("<script>"), "no inline script");
    assert!(page.contains("Send now to 2 subscribers"), "{page}");
    assert!(page.contains("Goes to 2 daily subscribers"));
    let js = b.get("/admin/assets/composer.js").await;
    assert_eq!(js.status, StatusCode::OK);
    assert!(js.body.contains("application/json"));
    let csrf = b.get("/admin").await.csrf();
    let digest_id = digest_id_in(&page);
    let url = |a: i64| format!("/admin/digest/{digest_id}/articles/{a}");
    let start = order(&t, digest_id).await;
    assert_eq!(start.len(), 4);

    // Move to the top: first in the issue, pinned, and the list says so.
    let last = start[3];
    let (status, j) = post_json(&b, &url(last), &[("csrf", &csrf), ("action", "top")]).await;
    assert_eq!(status, StatusCode::OK, "{j}");
    assert_eq!(j["ok"], true);
    assert_eq!(order(&t, digest_id).await[0], last);
    let list = j["list"].as_str().unwrap();
    assert!(list.contains(&format!(r#"id="article-{last}""#)));
    assert!(list.find(&format!("article-{last}")) < list.find(&format!("article-{}", start[0])));
    assert!(j["message"].as_str().unwrap().contains("now 1 of 4"), "{j}");

    // Pin, then drag (move to a place), then drop; each answers with the new list.
    let (_, j) = post_json(&b, &url(start[2]), &[("csrf", &csrf), ("action", "pin")]).await;
    assert!(j["message"].as_str().unwrap().starts_with("Pinned"), "{j}");
    let (_, j) = post_json(
        &b,
        &url(start[1]),
        &[("csrf", &csrf), ("action", "move"), ("to", "3")],
    )
    .await;
    assert_eq!(j["ok"], true, "{j}");
    assert_eq!(order(&t, digest_id).await[3], start[1]);
    let (_, j) = post_json(&b, &url(start[0]), &[("csrf", &csrf), ("action", "drop")]).await;
    assert!(j["list"].as_str().unwrap().contains("dropped"));
    assert!(!order(&t, digest_id).await.contains(&start[0]));
    let preview = b
        .get(&format!("/admin/digest/{digest_id}/preview.txt"))
        .await;
    let dropped_title = t.app.store.article(start[0]).await.unwrap().title;
    assert!(
        !preview.body.contains(&dropped_title),
        "preview follows the change"
    );

    // Refusals come back as JSON too: an unknown action, a forged token.
    let (status, j) = post_json(&b, &url(start[1]), &[("csrf", &csrf), ("action", "fly")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(j["ok"], false);
    let (status, j) = post_json(&b, &url(start[1]), &[("csrf", "forged"), ("action", "up")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{j}");

    // Without the script: the same forms redirect back to the article.
    let r = b
        .post(&url(start[0]), &[("csrf", &csrf), ("action", "restore")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(
        r.location
            .as_deref()
            .unwrap()
            .ends_with(&format!("#article-{}", start[0])),
        "{:?}",
        r.location
    );
    assert!(order(&t, digest_id).await.contains(&start[0]));
    let before = order(&t, digest_id).await;
    let moved = before[2];
    b.post(&url(moved), &[("csrf", &csrf), ("action", "up")])
        .await;
    assert_eq!(order(&t, digest_id).await[1], moved);
    t.stop().await;
}
on_both_databases!(reorder_over_json_and_without_script);

async fn overrides_announcement_and_add_by_url(backend: Backend) {
    let Some(t) = TestApp::spawn_with(
        backend,
        "[ingest]\nmax_bytes = 100000\ntimeout_secs = 1\n",
        breakfast::domain::Clock::System,
    )
    .await
    else {
        return;
    };
    let site = start_site().await;
    add_user(&t.app, "ed@example.org", AdminRole::Editor).await;
    seed_content(&t.app, &TITLES[..2], &["reader@example.org"]).await;
    let mut b = Browser::new(&t);
    b.login("ed@example.org", PASSWORD).await;
    let page = b.get("/admin").await;
    assert!(page.body.contains("Send now to 1 subscriber…"), "singular");
    let csrf = page.csrf();
    let digest_id = digest_id_in(&page.body);
    let [rent, nurses] = ids(&t, &TITLES[..2]).await[..] else {
        unreachable!()
    };
    let ov = |a: i64| format!("/admin/digest/{digest_id}/articles/{a}/override");

    // Override one article's headline, summary and image; override and revert the other.
    let r = b
        .post(
            &ov(rent),
            &[
                ("csrf", &csrf),
                ("action", "save"),
                ("title", "Rent strike reaches 40 estates"),
                ("summary", "Our reporter spent a week on the picket lines."),
                ("image_url", "https://paper.example.org/rent.jpg"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let (status, j) = post_json(
        &b,
        &ov(nurses),
        &[
            ("csrf", &csrf),
            ("action", "save"),
            ("title", "Nurses vote"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        j["list"]
            .as_str()
            .unwrap()
            .contains("edited for this issue")
    );
    assert!(
        j["list"]
            .as_str()
            .unwrap()
            .contains("Feed's headline: Nurses ballot")
    );
    let preview = b
        .get(&format!("/admin/digest/{digest_id}/preview.txt"))
        .await;
    assert!(preview.body.contains("Nurses vote"), "{}", preview.body);
    let (_, j) = post_json(&b, &ov(nurses), &[("csrf", &csrf), ("action", "revert")]).await;
    assert!(j["message"].as_str().unwrap().contains("feed's"), "{j}");
    let bad = b
        .post(
            &ov(rent),
            &[
                ("csrf", &csrf),
                ("action", "save"),
                ("image_url", "javascript:alert(1)"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("full web address"));

    // The announcement, placed after the first article.
    let r = b
        .post(
            &format!("/admin/digest/{digest_id}/announcement"),
            &[
                ("csrf", &csrf),
                ("announcement", "**Rally** on Saturday <script>x()</script>"),
                ("after", "1"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);

    // Add by URL: the failures first, each with a message and nothing added.
    let articles_before = t.app.store.count_articles().await.unwrap();
    let add = format!("/admin/digest/{digest_id}/add-url");
    for (url, says) in [
        ("http://10.20.30.40/story".to_owned(), "internal addresses"),
        ("http://192.168.1.1/".to_owned(), "internal addresses"),
        (format!("{site}/image.png"), "not a web page"),
        (format!("{site}/big"), "larger than"),
        (format!("{site}/slow"), "did not answer within 1s"),
        ("ftp://example.org/x".to_owned(), "full web address"),
    ] {
        let r = b.post(&add, &[("csrf", &csrf), ("url", &url)]).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{url}");
        assert!(r.body.contains(says), "{url}: {}", r.body);
        assert!(
            r.body.contains(&format!(r#"value="{url}""#)),
            "the URL is kept"
        );
    }
    assert_eq!(t.app.store.count_articles().await.unwrap(), articles_before);
    let r = b
        .post(
            &add,
            &[("csrf", &csrf), ("url", &format!("{site}/article"))],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let r = b
        .post(&add, &[("csrf", &csrf), ("url", &format!("{site}/plain"))])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = b.get("/admin").await;
    assert!(page.body.contains("added by URL"));
    assert!(page.body.contains("Only a title"));
    let feeds = b.get("/admin/feeds").await;
    assert!(!feeds.body.contains("added-by-url"), "not listed as a feed");

    // Send: the email carries the overrides, the added articles and the announcement.
    let send_path = format!("/admin/digest/{digest_id}/send");
    let sent = b.post_fields(&send_path, &csrf, "").await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    let mail = t.wait_for_outbox(1, Duration::from_secs(60)).await;
    let m = Mail::parse(&mail[0]);
    if let Ok(dir) = std::env::var("SHOTS") {
        // To look at in a browser: the sent issue with its overrides and announcement.
        let _ = std::fs::write(format!("{dir}/curated-email.html"), &m.html);
    }
    assert!(m.html.contains("Rent strike reaches 40 estates"));
    assert!(!m.html.contains("Rent strike spreads"));
    assert!(m.html.contains("picket lines"));
    assert!(m.html.contains("https://paper.example.org/rent.jpg"));
    assert!(m.html.contains("Nurses ballot"), "reverted");
    assert!(!m.html.contains("Nurses vote"));
    assert!(m.html.contains("<strong>Rally</strong>"));
    assert!(!m.html.contains("<script"), "sanitised");
    assert!(m.text.contains("Rally on Saturday"), "{}", m.text);
    // The page's title is text: escaped, never markup.
    assert!(m.html.contains("Bus drivers &amp; cleaners win"));
    assert!(m.html.contains("six-week strike"));
    assert!(m.html.contains(&format!("{site}/img/depot.jpg")));
    assert!(m.text.contains("Only a title") && m.text.contains("From the meta tag"));
    // The feed's own text is untouched.
    let feed_rent = t.app.store.article(rent).await.unwrap();
    assert_eq!(feed_rent.title, "Rent strike spreads");
    assert_eq!(feed_rent.image_url, None);
    t.stop().await;
}
on_both_databases!(overrides_announcement_and_add_by_url);

/// The composer in headless Chromium (`tests/support/composer_browser.cjs`): pin, drag,
/// keyboard move and an override, without reloads. Needs node with playwright-core on
/// `NODE_PATH` and Chromium, so it is run on request (see the README); screenshots go
/// to `$SHOTS` (default: a temporary folder, printed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs node, playwright-core and chromium"]
async fn composer_in_headless_chromium() {
    let Some(t) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    add_user(&t.app, "ed@example.org", AdminRole::Editor).await;
    seed_content(
        &t.app,
        &[
            "Rent strike spreads",
            "Nurses ballot",
            "Dockers win pay rise",
            "Tenants union grows",
            "Bus drivers walk out",
        ],
        &["reader@example.org"],
    )
    .await;
    let shots = std::env::var("SHOTS").unwrap_or_else(|_| t.db.dir.path().display().to_string());
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/support/composer_browser.cjs"
    );
    let base = t.base.clone();
    let out = tokio::task::spawn_blocking({
        let shots = shots.clone();
        move || {
            std::process::Command::new("node")
                .arg(script)
                .env("BASE", base)
                .env("EMAIL", "ed@example.org")
                .env("PASSWORD", PASSWORD)
                .env("SHOTS", shots)
                .output()
                .expect("node runs")
        }
    })
    .await
    .unwrap();
    println!("{}", String::from_utf8_lossy(&out.stdout));
    println!("screenshots in {shots}");
    crate::kit::assert_success(&out);
    t.stop().await;
}
