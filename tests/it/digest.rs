//! Feeds to digest: real RSS, Atom and JSON feeds served over loopback HTTP (with a 304
//! round trip, hostile content and feeds that fail in every usual way), the composed
//! digest as stored, per-recipient personalisation, the web archive, and the CLI.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    body::Body,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use breakfast::{
    App,
    digest::Personaliser,
    domain::{Clock, Purpose},
    edition::{ComposeOutcome, compose_for_date},
    feeds::ingest::{self, FeedResult},
    store::digests::DigestPick,
};
use chrono::{DateTime, NaiveDate, Utc};

use crate::{
    kit::{Backend, TestApp, breakfast_cmd, find_link},
    on_both_databases,
};

/// Loopback feed server: each path serves a body with an ETag and answers 304 to a
/// matching If-None-Match; counts what it answered.
#[derive(Clone, Default)]
struct Feeds {
    bodies: Arc<Mutex<HashMap<String, (String, String)>>>,
    answers: Arc<Mutex<Vec<(String, u16)>>>,
}

impl Feeds {
    fn set(&self, path: &str, body: String) {
        let etag = format!("\"v{}\"", body.len());
        self.bodies
            .lock()
            .unwrap()
            .insert(path.to_owned(), (body, etag));
    }

    fn answered(&self, path: &str, status: u16) -> usize {
        self.answers
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, s)| p == path && *s == status)
            .count()
    }
}

async fn serve_feed(
    State(feeds): State<Feeds>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Response {
    let found = feeds.bodies.lock().unwrap().get(&path).cloned();
    let Some((body, etag)) = found else {
        feeds.answers.lock().unwrap().push((path, 404));
        return (StatusCode::NOT_FOUND, "no such feed").into_response();
    };
    if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes())
    {
        feeds.answers.lock().unwrap().push((path, 304));
        return StatusCode::NOT_MODIFIED.into_response();
    }
    feeds.answers.lock().unwrap().push((path.clone(), 200));
    let content_type = if path.ends_with(".json") {
        "application/feed+json"
    } else if path.ends_with(".html") {
        "text/html"
    } else {
        "application/xml"
    };
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::ETAG, etag),
        ],
        body,
    )
        .into_response()
}

/// Sends the start of a feed, then one byte a second: longer than any fetch may take.
async fn slow_drip() -> Response {
    let head = futures::stream::once(async {
        Ok::<_, std::io::Error>(b"<?xml version=\"1.0\"?><rss version=\"2.0\"><channel>".to_vec())
    });
    let drip = futures::stream::unfold((), |()| async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        Some((Ok::<_, std::io::Error>(b" ".to_vec()), ()))
    });
    Body::from_stream(futures::StreamExt::chain(head, drip)).into_response()
}

async fn start_feed_server(feeds: Feeds) -> String {
    let app = Router::new()
        .route("/slow.xml", get(slow_drip))
        .route("/{path}", get(serve_feed))
        .with_state(feeds);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn ago(minutes: i64) -> DateTime<Utc> {
    Utc::now() - chrono::Duration::minutes(minutes)
}

fn rss_date(minutes: i64) -> String {
    ago(minutes).to_rfc2822()
}

fn iso(minutes: i64) -> String {
    ago(minutes).to_rfc3339()
}

/// RSS 2.0 with hostile and awkward entries (section "Britain").
fn rss(first_title: &str) -> String {
    let huge = "word ".repeat(1_000_000);
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel><title>The Paper</title><link>https://paper.example/</link>
<item><title>{first_title}</title><link>https://paper.example/rent</link><guid>https://paper.example/rent</guid>
  <pubDate>{d1}</pubDate><description>Tenants &amp;amp; workers meet.</description></item>
<item><title>Council votes</title><link>https://paper.example/council</link><guid>https://paper.example/council</guid>
  <pubDate>{d2}</pubDate><media:thumbnail url="https://tracker.example/open.gif" width="1" height="1"/>
  <description><![CDATA[<p onclick="steal()">Council <b>votes</b> today.<script>alert('x')</script><style>p{{}}</style>
  <img src="https://tracker.example/pixel.gif" width="1" height="1"><iframe src="https://evil.example/"></iframe>
  <a href="javascript:alert(1)">click</a> <a href="https://paper.example/minutes">minutes</a></p>]]></description></item>
<item><title>مرحبا بالعالم 👋🏽 שלום</title><link>https://paper.example/rtl</link><guid>https://paper.example/rtl</guid>
  <pubDate>{d3}</pubDate><description>نص عربي 🎉 and emoji 👨‍👩‍👧</description></item>
<item><title>Dockers strike</title><link>https://paper.example/dockers</link><guid>https://paper.example/dockers</guid>
  <pubDate>{d4}</pubDate><description>First copy.</description></item>
<item><title>Dockers strike (repeated)</title><link>https://paper.example/dockers-2</link><guid>https://paper.example/dockers</guid>
  <pubDate>{d4}</pubDate><description>Second copy with the same guid.</description></item>
<item><title>A very long read</title><link>https://paper.example/long</link><guid>https://paper.example/long</guid>
  <pubDate>{d5}</pubDate><enclosure url="https://img.example/huge-10000x8000.jpg" type="image/jpeg" length="99999999"/>
  <description><![CDATA[<p>{huge}</p>]]></description></item>
<item><title>Broken markup</title><link>https://paper.example/broken</link><guid>https://paper.example/broken</guid>
  <pubDate>{d6}</pubDate><description><![CDATA[<p><b>unclosed <i>tags<div></span><table><tr><td>cell]]></description></item>
<item><description>No title and no link: skipped.</description><pubDate>{d1}</pubDate></item>
<item><title>Undated</title><link>https://paper.example/undated</link><pubDate>not a date</pubDate></item>
</channel></rss>"#,
        d1 = rss_date(60),
        d2 = rss_date(120),
        d3 = rss_date(180),
        d4 = rss_date(240),
        d5 = rss_date(300),
        d6 = rss_date(360),
    )
}

/// Atom 1.0 (section "World"); one entry is three days old, outside the window.
fn atom() -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>World desk</title><id>tag:paper.example,2026:world</id>
<updated>{u}</updated>
<entry><title type="html">Ports &lt;em&gt;close&lt;/em&gt;</title><id>tag:paper.example,2026:ports</id>
  <link rel="alternate" href="https://paper.example/world/ports"/><published>{a1}</published><updated>{a1}</updated>
  <author><name>Rosa</name></author><summary>Ports close across the coast.</summary></entry>
<entry><title>Dropped by the editor</title><id>tag:paper.example,2026:dropped</id>
  <link href="https://paper.example/world/dropped"/><published>{a2}</published><updated>{a2}</updated>
  <summary>Should not appear.</summary></entry>
<entry><title>Old but pinned</title><id>tag:paper.example,2026:old</id>
  <link href="https://paper.example/world/old"/><published>{a3}</published><updated>{a3}</updated>
  <summary>Three days old, pinned by the editor.</summary></entry>
</feed>"#,
        u = iso(30),
        a1 = iso(30),
        a2 = iso(420),
        a3 = iso(72 * 60),
    )
}

/// JSON Feed 1.1 (section "Culture").
fn json_feed() -> String {
    serde_json::json!({
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Culture",
        "items": [
            {"id": "c1", "url": "https://paper.example/culture/film", "title": "A film about the miners",
             "content_html": "<p>Review.</p>", "date_published": iso(90),
             "image": "https://img.example/film.jpg"},
            {"id": "c2", "url": "https://paper.example/culture/book", "title": "Oldest in the window",
             "content_text": "A book.", "date_published": iso(480)}
        ]
    })
    .to_string()
}

const SECTIONS: &str = "[digest]\nmax_articles = 8\nsection_order = [\"World\", \"Britain\"]\n\
                        lookback_hours = 24\n[ingest]\npoll_minutes = 0\ntimeout_secs = 2\n";

fn feeds_toml(base: &str) -> String {
    let mut toml = String::from(SECTIONS);
    for (path, name, section) in [
        ("rss.xml", "The Paper", Some("Britain")),
        ("atom.xml", "World desk", Some("World")),
        ("culture.json", "Culture", Some("Culture")),
        ("broken.xml", "Broken", None),
        ("missing.xml", "Gone", None),
        ("page.html", "Not a feed", None),
        ("slow.xml", "Slow", None),
    ] {
        toml.push_str(&format!(
            "[[feeds]]\nurl = \"{base}/{path}\"\nname = \"{name}\"\n"
        ));
        if let Some(s) = section {
            toml.push_str(&format!("section = \"{s}\"\n"));
        }
    }
    toml
}

fn serve_fixtures(feeds: &Feeds) {
    feeds.set("rss.xml", rss("Rent &amp;amp; wages &amp;#8212; the fight"));
    feeds.set("atom.xml", atom());
    feeds.set("culture.json", json_feed());
    feeds.set(
        "broken.xml",
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><item><title>cut off".into(),
    );
    feeds.set(
        "page.html",
        "<!DOCTYPE html><html><body><h1>Sign in</h1></body></html>".into(),
    );
}

async fn feed_id(app: &App, name: &str) -> i64 {
    app.store
        .feeds()
        .await
        .unwrap()
        .into_iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("feed {name}"))
        .id
}

async fn article_id(app: &App, key: &str) -> i64 {
    app.store
        .article_by_dedup_key(key)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("article {key}"))
        .id
}

fn result_of<'a>(reports: &'a [ingest::FeedReport], name: &str) -> &'a FeedResult {
    &reports.iter().find(|r| r.name == name).unwrap().result
}

fn position(haystack: &str, needle: &str) -> usize {
    haystack
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} missing from:\n{haystack}"))
}

/// Text with every run of whitespace made one space, to look for words across wraps.
fn words(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Today in the publication's zone (the tests never change the schedule's zone, so the
/// configured one is the schedule row's).
fn today(app: &App) -> NaiveDate {
    let zone: chrono_tz::Tz = app.config.schedule.time_zone.parse().unwrap();
    app.clock.now().with_timezone(&zone).date_naive()
}

async fn fetches_feeds_and_composes_a_safe_grouped_digest(backend: Backend) {
    let feeds = Feeds::default();
    let base = start_feed_server(feeds.clone()).await;
    serve_fixtures(&feeds);
    let Some(t) = TestApp::spawn_with(backend, &feeds_toml(&base), Clock::System).await else {
        return;
    };
    let app = &t.app;

    // The config's feeds become rows once.
    assert_eq!(ingest::sync_config_feeds(app).await.unwrap(), 7);
    assert_eq!(ingest::sync_config_feeds(app).await.unwrap(), 0);

    let reports = ingest::fetch_all(app).await.unwrap();
    assert_eq!(
        result_of(&reports, "The Paper"),
        &FeedResult::Fetched {
            new: 6,
            updated: 0,
            unchanged: 0,
            skipped: 3
        },
        "two bad entries and a duplicate guid are skipped"
    );
    assert!(matches!(
        result_of(&reports, "World desk"),
        FeedResult::Fetched { new: 3, .. }
    ));
    assert!(matches!(
        result_of(&reports, "Culture"),
        FeedResult::Fetched { new: 2, .. }
    ));
    for (name, expected) in [
        ("Broken", "malformed"),
        ("Gone", "HTTP 404"),
        ("Not a feed", "HTML page"),
        ("Slow", "timed out"),
    ] {
        match result_of(&reports, name) {
            FeedResult::Failed(e) => assert!(e.contains(expected), "{name}: {e}"),
            other => panic!("{name}: {other:?}"),
        }
        let feed = app.store.feed(feed_id(app, name).await).await.unwrap();
        assert_eq!(feed.last_status.as_deref(), Some("error"), "{name}");
        assert!(
            feed.last_error.as_deref().unwrap_or("").contains(expected),
            "{name}: {:?}",
            feed.last_error
        );
        assert!(feed.last_ok_at.is_none());
    }
    assert_eq!(app.store.count_articles().await.unwrap(), 11);
    let long = app
        .store
        .article_by_dedup_key("https://paper.example/long")
        .await
        .unwrap()
        .unwrap();
    assert!(long.summary_text.chars().count() <= 600 && long.summary_html.len() < 4_000);
    let broken = app
        .store
        .article_by_dedup_key("https://paper.example/broken")
        .await
        .unwrap()
        .unwrap();
    let h = &broken.summary_html;
    assert!(!h.contains("<div") && !h.contains("<table"), "{h}");
    for tag in ["p", "b", "i"] {
        let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
        assert_eq!(h.matches(&open).count(), h.matches(&close).count(), "{h}");
    }

    // Unchanged feeds cost a 304 and change nothing.
    let reports = ingest::fetch_all(app).await.unwrap();
    assert_eq!(result_of(&reports, "The Paper"), &FeedResult::NotModified);
    assert_eq!(feeds.answered("rss.xml", 304), 1);
    let paper = app
        .store
        .feed(feed_id(app, "The Paper").await)
        .await
        .unwrap();
    assert_eq!(paper.last_status.as_deref(), Some("not_modified"));
    assert!(paper.etag.is_some() && paper.last_error.is_none());

    // An edited article is updated in place, never duplicated.
    feeds.set(
        "rss.xml",
        rss("Rent &amp;amp; wages &amp;#8212; the fight goes on"),
    );
    let reports = ingest::fetch_all(app).await.unwrap();
    assert_eq!(
        result_of(&reports, "The Paper"),
        &FeedResult::Fetched {
            new: 0,
            updated: 1,
            unchanged: 5,
            skipped: 3
        }
    );
    assert_eq!(app.store.count_articles().await.unwrap(), 11);
    let rent = app
        .store
        .article_by_dedup_key("https://paper.example/rent")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rent.title, "Rent & wages — the fight goes on");

    // The editor pins two (one outside the window) and drops one.
    let date = today(app);
    let draft = app
        .store
        .get_or_create_digest(date, app.now_ms())
        .await
        .unwrap();
    let long_id = article_id(app, "https://paper.example/long").await;
    let old_id = article_id(app, "tag:paper.example,2026:old").await;
    let dropped_id = article_id(app, "tag:paper.example,2026:dropped").await;
    for pick in [
        DigestPick {
            article_id: old_id,
            pinned: true,
            dropped: false,
            position: Some(2),
        },
        DigestPick {
            article_id: long_id,
            pinned: true,
            dropped: false,
            position: Some(1),
        },
        DigestPick {
            article_id: dropped_id,
            pinned: false,
            dropped: true,
            position: None,
        },
    ] {
        app.store.set_digest_pick(draft.id, &pick).await.unwrap();
    }
    app.store
        .set_editor_note(
            draft.id,
            "Good news from the **ports**. Read [the report](https://paper.example/report).\n\n<script>alert('note')</script>",
            app.now_ms(),
        )
        .await
        .unwrap();

    let ComposeOutcome::Composed(id) = compose_for_date(app, date).await.unwrap() else {
        panic!("composed");
    };
    assert_eq!(id, draft.id);
    let d = app.store.digest(id).await.unwrap();
    let html = d.html.clone().unwrap();
    let text = d.text.clone().unwrap();

    // Capped at 8: the two pinned plus the six newest of the rest.
    assert_eq!(d.article_ids.len(), 8, "{:?}", d.article_ids);
    assert_eq!(text.matches("\nRead: ").count(), 8, "{text}");
    assert!(!text.contains("Oldest in the window") && !text.contains("Broken markup"));
    assert!(!html.contains("Dropped by the editor") && !text.contains("Dropped by the editor"));

    // Pinned first in their order, then World, Britain (configured), Culture (the rest).
    let order = [
        "Top stories",
        "A very long read",
        "Old but pinned",
        "World\n-----",
        "Ports close",
        "Britain\n-------",
        "Rent & wages — the fight goes on",
        "Council votes",
        "مرحبا بالعالم 👋🏽 שלום",
        "Dockers strike",
        "Culture\n-------",
        "A film about the miners",
    ];
    let at: Vec<usize> = order.iter().map(|n| position(&text, n)).collect();
    assert!(
        at.windows(2).all(|w| w[0] < w[1]),
        "{order:?} at {at:?}:\n{text}"
    );
    let headings: Vec<usize> = [
        "Top stories</h2>",
        ">World</h2>",
        ">Britain</h2>",
        ">Culture</h2>",
    ]
    .iter()
    .map(|h| position(&html, h))
    .collect();
    assert!(headings.windows(2).all(|w| w[0] < w[1]), "{headings:?}");
    assert!(!text.contains("Dockers strike (repeated)"));

    // Nothing unsafe reaches the email; entities are decoded once and escaped once.
    let lower = html.to_lowercase();
    for bad in [
        "<script",
        "onclick",
        "javascript:",
        "<iframe",
        "tracker.example",
        "alert(",
    ] {
        assert!(!lower.contains(bad), "{bad} in html");
        assert!(!text.to_lowercase().contains(bad), "{bad} in text");
    }
    assert!(html.contains("Rent &amp; wages — the fight goes on"));
    assert!(html.contains("Ports close"), "Atom html title flattened");
    assert!(
        html.contains("<strong>ports</strong>"),
        "note rendered from Markdown"
    );
    assert!(
        words(&text).contains("Read the report (https://paper.example/report)."),
        "{text}"
    );
    // The huge picture is shown at the column's width, whatever its real size.
    let img = &html[position(&html, "https://img.example/huge-10000x8000.jpg")..];
    assert!(img[..img.find('>').unwrap()].contains("width=\"536\""));
    assert!(
        html.len() < 200_000,
        "the 5 MB summary was cut: {}",
        html.len()
    );
    // Every chosen article's link, in both parts.
    for link in [
        "https://paper.example/rent",
        "https://paper.example/world/old",
        "https://paper.example/world/ports",
        "https://paper.example/culture/film",
    ] {
        assert!(html.contains(&format!("href=\"{link}\"")), "{link}");
        assert!(text.contains(&format!("Read: {link}\n")), "{link}");
    }
    // Plain text: no markup, short lines except URLs.
    assert!(!text.contains("<p>") && !text.contains("&amp;"));
    assert!(
        text.lines()
            .all(|l| l.chars().count() <= 78 || l.contains("://")),
        "{text}"
    );
    // The archive copy: a neutral greeting and no personal links.
    let subject = d.subject.clone().unwrap();
    assert!(subject.starts_with("Breakfast in Red — "), "{subject}");
    assert!(html.contains("Hello.<") && text.contains("Hello.\n"));
    assert!(!html.contains("token=") && !text.contains("token="));
    let view_in_browser = format!("{}/archive/{date}", t.base);
    assert!(html.contains(&format!("href=\"{view_in_browser}\"")));
    assert!(text.contains(&view_in_browser));

    // Per recipient: their name and their own links, from the stored rendering.
    let p = Personaliser::load(app, id).await.unwrap();
    let (s, phtml, ptext) = p.render_for(41, Some("<Ana> Maria"));
    assert_eq!(s, subject);
    assert!(phtml.contains("Hello, &lt;Ana&gt;."), "{phtml}");
    assert!(ptext.contains("Hello, <Ana>.\n"));
    let unsubscribe = find_link(&ptext, "/unsubscribe?token=").unwrap();
    assert!(phtml.contains(&format!("href=\"{unsubscribe}\"")));
    let token = unsubscribe.split("token=").nth(1).unwrap();
    assert_eq!(
        app.signer.verify(token, Purpose::Unsubscribe, i64::MAX),
        Ok(41)
    );
    let prefs = find_link(&ptext, "/preferences?token=").unwrap();
    let token = prefs.split("token=").nth(1).unwrap();
    assert_eq!(
        app.signer.verify(token, Purpose::Preferences, app.now_ms()),
        Ok(41)
    );
    let (_, other, _) = p.render_for(42, None);
    assert!(other.contains("Hello.<") && !other.contains(&unsubscribe));

    // Not in the archive until it goes out.
    let r = t
        .http
        .get(t.url(&format!("/archive/{date}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    app.store.mark_digest_sent(id, app.now_ms()).await.unwrap();
    let r = t.http.get(t.url("/archive")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let list = r.text().await.unwrap();
    assert!(
        list.contains(&format!("href=\"/archive/{date}\"")),
        "{list}"
    );
    assert!(list.contains(&subject.replace('&', "&amp;")));
    for key in [date.to_string(), id.to_string()] {
        let r = t.get(&format!("/archive/{key}")).await;
        assert_eq!(r.status, 200);
        let policy = r.header("content-security-policy").unwrap_or_default();
        assert!(policy.contains("default-src 'none'"), "{policy}");
        // A web page built from the issue, not the email (tests/it/archive.rs).
        let page = r.body;
        assert!(page.contains("Ports close") && !page.contains("token="));
    }
    let r = t
        .http
        .get(t.url(&format!("/archive/{date}?format=text")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), text);
    for missing in ["2001-01-01", "999999", "not-a-digest", "%3Cscript%3E"] {
        let r = t
            .http
            .get(t.url(&format!("/archive/{missing}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{missing}");
        assert!(r.text().await.unwrap().contains("Go to the archive"));
    }
    let r = t
        .http
        .get(t.url("/archive?page=banana"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Once sent, never recomposed.
    assert_eq!(
        compose_for_date(app, date).await.unwrap(),
        ComposeOutcome::AlreadySent(id)
    );
    t.stop().await;
}
on_both_databases!(fetches_feeds_and_composes_a_safe_grouped_digest);

/// The next digest starts where the last one started sending; an empty day is skipped
/// (or composed anyway when configured so).
async fn window_follows_the_last_sent_digest_and_empty_days_skip(backend: Backend) {
    let feeds = Feeds::default();
    let base = start_feed_server(feeds.clone()).await;
    feeds.set("culture.json", json_feed());
    let toml = format!(
        "{SECTIONS}[[feeds]]\nurl = \"{base}/culture.json\"\nname = \"Culture\"\nsection = \"Culture\"\n"
    );
    let Some(t) = TestApp::with_toml(backend, &toml).await else {
        return;
    };
    let app = &t.app;
    ingest::sync_config_feeds(app).await.unwrap();
    ingest::fetch_all(app).await.unwrap();
    let day1 = NaiveDate::from_ymd_opt(2026, 3, 5).unwrap();
    let day2 = day1.succ_opt().unwrap();
    let ComposeOutcome::Composed(first) = compose_for_date(app, day1).await.unwrap() else {
        panic!("day 1 composes");
    };
    assert_eq!(app.store.digest(first).await.unwrap().article_ids.len(), 2);
    app.store
        .mark_digest_sent(first, app.now_ms())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;

    // Nothing published since day 1 went out.
    assert_eq!(
        compose_for_date(app, day2).await.unwrap(),
        ComposeOutcome::SkippedNothingNew
    );
    let skipped = app.store.digest_for_date(day2).await.unwrap().unwrap();
    assert_eq!(skipped.status.as_str(), "skipped");

    // A new article arrives: day 2 has exactly that one.
    let mut items = serde_json::from_str::<serde_json::Value>(&json_feed()).unwrap();
    items["items"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "id": "c3", "url": "https://paper.example/culture/new", "title": "Fresh today",
            "content_text": "New.", "date_published": Utc::now().to_rfc3339()
        }));
    feeds.set("culture.json", items.to_string());
    ingest::fetch_all(app).await.unwrap();
    let ComposeOutcome::Composed(second) = compose_for_date(app, day2).await.unwrap() else {
        panic!("day 2 composes");
    };
    let d = app.store.digest(second).await.unwrap();
    assert_eq!(d.article_ids.len(), 1);
    assert!(d.text.unwrap().contains("Fresh today\n"));

    // Moving the feed to another section moves its articles; disabling it leaves them out.
    let culture = app.store.feed(feed_id(app, "Culture").await).await.unwrap();
    app.store
        .update_feed(culture.id, "Culture", Some("Arts"), true)
        .await
        .unwrap();
    compose_for_date(app, day2).await.unwrap();
    let text = app.store.digest(second).await.unwrap().text.unwrap();
    assert!(text.contains("Arts\n----\n\nFresh today"), "{text}");
    app.store
        .update_feed(culture.id, "Culture", Some("Arts"), false)
        .await
        .unwrap();
    assert_eq!(
        compose_for_date(app, day2).await.unwrap(),
        ComposeOutcome::SkippedNothingNew
    );
    t.stop().await;
}
on_both_databases!(window_follows_the_last_sent_digest_and_empty_days_skip);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_day_composes_when_skipping_is_off() {
    let toml = "[digest]\nskip_when_empty = false\n[ingest]\npoll_minutes = 0\n";
    let Some(t) = TestApp::spawn_with(Backend::Sqlite, toml, Clock::System).await else {
        return;
    };
    let date = NaiveDate::from_ymd_opt(2026, 3, 6).unwrap();
    let ComposeOutcome::Composed(id) = compose_for_date(&t.app, date).await.unwrap() else {
        panic!("composed");
    };
    let d = t.app.store.digest(id).await.unwrap();
    assert_eq!(
        d.subject.as_deref(),
        Some("Breakfast in Red — Friday 6 March")
    );
    assert!(d.article_ids.is_empty());
    assert!(d.text.unwrap().contains("Unsubscribe: "));
    t.stop().await;
}

/// `serve` adds the config's feeds and fetches them at start, without being asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_polls_the_configured_feeds() {
    let feeds = Feeds::default();
    let base = start_feed_server(feeds.clone()).await;
    feeds.set("atom.xml", atom());
    let toml = format!(
        "[ingest]\npoll_minutes = 60\n[[feeds]]\nurl = \"{base}/atom.xml\"\nname = \"World\"\n"
    );
    let Some(t) = TestApp::with_toml(Backend::Sqlite, &toml).await else {
        return;
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while t.app.store.count_articles().await.unwrap() < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "feeds were not polled"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    t.stop().await;
}

/// The commands an operator uses: add, fetch, list (with errors), preview to files.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feeds_and_preview_commands() {
    let feeds = Feeds::default();
    let base = start_feed_server(feeds.clone()).await;
    serve_fixtures(&feeds);
    let Some(t) = TestApp::with_toml(Backend::Sqlite, SECTIONS).await else {
        return;
    };
    let dir = t.db.dir.path().to_path_buf();
    let env = [
        ("BREAKFAST_DATABASE_URL", t.db.url.as_str()),
        ("BREAKFAST_BASE_URL", t.base.as_str()),
        ("BREAKFAST_SECRET", "test-secret-0123456789"),
        ("BREAKFAST_INGEST__TIMEOUT_SECS", "2"),
        ("BREAKFAST_INGEST__ALLOW_PRIVATE", "[\"127.0.0.1\"]"),
        ("BREAKFAST_MAIL__OUTBOX_DIR", "outbox"),
    ];
    let run = |args: &[&str]| {
        let out = breakfast_cmd(args, &env, &dir);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let rss_url = format!("{base}/rss.xml");
    let (ok, out, err) = run(&[
        "feeds",
        "add",
        &rss_url,
        "--name",
        "The Paper",
        "--section",
        "Britain",
    ]);
    assert!(ok, "{out}{err}");
    let (ok, _, err) = run(&["feeds", "add", &rss_url, "--name", "Again"]);
    assert!(!ok && err.contains("already exists"), "{err}");
    let (ok, _, err) = run(&["feeds", "add", "gopher://x", "--name", "Old"]);
    assert!(!ok && err.contains("scheme"), "{err}");
    let (ok, _, _) = run(&[
        "feeds",
        "add",
        &format!("{base}/missing.xml"),
        "--name",
        "Gone",
    ]);
    assert!(ok);

    let (ok, out, err) = run(&["feeds", "fetch"]);
    assert!(!ok, "a failed feed fails the command");
    assert!(out.contains("The Paper: 6 new"), "{out}");
    assert!(out.contains("Gone: failed: HTTP 404"), "{out}");
    assert!(err.contains("1 of 2 feeds failed"), "{err}");

    let (ok, out, _) = run(&["feeds", "list"]);
    assert!(ok);
    assert!(out.contains("[Britain]") && out.contains("(ok)"), "{out}");
    assert!(out.contains("error: HTTP 404 Not Found"), "{out}");

    let preview = dir.join("preview");
    let (ok, out, err) = run(&["digest", "preview", "--out", preview.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    let html = std::fs::read_to_string(preview.join("preview.html")).unwrap();
    let text = std::fs::read_to_string(preview.join("preview.txt")).unwrap();
    assert!(html.contains("Council votes") && !html.to_lowercase().contains("<script"));
    assert!(text.contains("Read: https://paper.example/council"));
    let (ok, out, _) = run(&["digest", "preview"]);
    assert!(ok && out.contains("Council votes") && !out.contains("<html"));
    assert!(
        t.outbox_dir()
            .read_dir()
            .map_or(true, |mut d| d.next().is_none()),
        "nothing sent"
    );

    let id = feed_id(&t.app, "Gone").await.to_string();
    let (ok, out, _) = run(&["feeds", "remove", &id]);
    assert!(ok && out.contains("removed"));
    let (ok, _, err) = run(&["feeds", "remove", &id]);
    assert!(!ok && err.contains("no feed"), "{err}");
    t.stop().await;
}

/// "On this day" brings back last year's article from the same date, when enabled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_this_day_brings_back_an_article_from_a_year_ago() {
    let toml = "[digest]\non_this_day = true\n[ingest]\npoll_minutes = 0\n";
    let Some(t) = TestApp::spawn_with(Backend::Sqlite, toml, Clock::System).await else {
        return;
    };
    let app = &t.app;
    let now = app.now_ms();
    let feed = app
        .store
        .insert_feed("https://paper.example/all.xml", "All", Some("News"), now)
        .await
        .unwrap();
    let date = today(app);
    let Some(last_year) = chrono::Datelike::with_year(&date, chrono::Datelike::year(&date) - 1)
    else {
        return t.stop().await; // 29 February has no "a year ago"
    };
    let a_year_ago = last_year
        .and_hms_opt(12, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_millis();
    for (key, title, published_at) in [
        ("https://paper.example/today", "Today's story", now - 60_000),
        (
            "https://paper.example/last-year",
            "Last year's story",
            a_year_ago,
        ),
    ] {
        app.store
            .upsert_article(
                feed.id,
                &breakfast::store::articles::NewArticle {
                    dedup_key: key,
                    guid: None,
                    link: Some(key),
                    title,
                    author: None,
                    published_at,
                    summary_html: "",
                    summary_text: "Summary.",
                    section: Some("News"),
                    categories: &[],
                    image_url: None,
                },
                now,
            )
            .await
            .unwrap();
    }
    let ComposeOutcome::Composed(id) = compose_for_date(app, date).await.unwrap() else {
        panic!("composed");
    };
    let text = app.store.digest(id).await.unwrap().text.unwrap();
    assert!(
        position(&text, "Today's story") < position(&text, "On this day\n-----------"),
        "{text}"
    );
    assert!(position(&text, "On this day\n") < position(&text, "Last year's story"));
    t.stop().await;
}
