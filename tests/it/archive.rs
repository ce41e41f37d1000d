//! The archive as the front door: issue pages as web pages (no personal parts, a sign-up
//! form, neighbours, link-preview tags), `/archive.atom` checked by two feed parsers we
//! did not write (feed-rs and Python's feedparser), the "forwarded / share" links in the
//! email, the sign-up pages that echo the address and say when the first issue comes,
//! and resubscribing from a signed link.

use std::{io::Write as _, process::Stdio, time::Duration};

use breakfast::{
    App,
    domain::{Clock, EmailAddress, Purpose, SubscriberStatus},
    edition::{ComposeOutcome, compose_for_date},
    store::{articles::NewArticle, digests::DigestPick},
};
use chrono::{DateTime, NaiveDate, Utc};
use reqwest::StatusCode;

use crate::{
    kit::{Backend, Mail, TestApp, confirmed, find_link},
    on_both_databases,
};

const TOML: &str = "[ingest]\npoll_minutes = 0\n[subscribers]\nrate_limit_per_minute = 10000\n";

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, d).unwrap()
}

async fn get(t: &TestApp, path: &str) -> (StatusCode, String) {
    t.get(path).await.parts()
}

async fn post_form(t: &TestApp, path: &str, body: &str) -> (StatusCode, String) {
    t.post_encoded(path, body).await.parts()
}

struct Story {
    key: &'static str,
    title: &'static str,
    section: &'static str,
    image: Option<&'static str>,
}

/// Publishes `stories` (each from its own feed, whose section it takes) at 05:00 UTC on 2026-03-`d`, composes that day's issue (with the
/// first story pinned and `note` from the editor) and marks it sent at 06:00.
async fn send_issue(app: &App, d: u32, stories: &[Story], note: &str) -> i64 {
    app.clock.set(at(&format!("2026-03-{d:02}T05:30:00Z")));
    let now = app.now_ms();
    let digest = app.store.get_or_create_digest(day(d), now).await.unwrap();
    for (i, s) in stories.iter().enumerate() {
        let link = format!("https://paper.example/{}", s.key);
        // Sections are the feed's: one feed per section.
        let feed = app
            .store
            .insert_feed(&format!("{link}.xml"), s.key, Some(s.section), now)
            .await
            .unwrap()
            .id;
        let up = app
            .store
            .upsert_article(
                feed,
                &NewArticle {
                    dedup_key: &link,
                    guid: None,
                    link: Some(&link),
                    title: s.title,
                    author: Some("Rosa"),
                    published_at: at(&format!("2026-03-{d:02}T05:00:00Z")).timestamp_millis()
                        - i as i64 * 60_000,
                    summary_html: "",
                    summary_text: "What happened, in a sentence.",
                    section: Some(s.section),
                    categories: &[],
                    image_url: s.image,
                },
                now,
            )
            .await
            .unwrap();
        let id = match up {
            breakfast::store::articles::Upserted::New(id)
            | breakfast::store::articles::Upserted::Updated(id) => id,
            other => panic!("{other:?}"),
        };
        if i == 0 {
            app.store
                .set_digest_pick(
                    digest.id,
                    &DigestPick {
                        article_id: id,
                        pinned: true,
                        dropped: false,
                        position: Some(1),
                    },
                )
                .await
                .unwrap();
        }
    }
    if !note.is_empty() {
        app.store
            .set_editor_note(digest.id, note, now)
            .await
            .unwrap();
    }
    let ComposeOutcome::Composed(id) = compose_for_date(app, day(d)).await.unwrap() else {
        panic!("issue {d} composed");
    };
    app.clock.set(at(&format!("2026-03-{d:02}T06:00:00Z")));
    app.store.mark_digest_sent(id, app.now_ms()).await.unwrap();
    id
}

/// Three issues (3, 4 and 5 March 2026); the clock is left at 06:00 on the 5th, an hour
/// before that day's 07:00 send.
pub(crate) async fn three_issues(app: &App) {
    let first = [
        Story {
            key: "dockers",
            title: "Dockers win their strike",
            section: "Labour",
            image: Some("https://img.example/dockers.jpg"),
        },
        Story {
            key: "rent",
            title: "Rent & wages: tenants organise",
            section: "Britain",
            image: None,
        },
        Story {
            key: "ports",
            title: "Ports close across the coast",
            section: "World",
            image: Some("https://img.example/ports.jpg"),
        },
    ];
    send_issue(app, 3, &first, "Good news **today**.").await;
    let second = [Story {
        key: "council",
        title: "Council votes on the budget",
        section: "Britain",
        image: None,
    }];
    send_issue(app, 4, &second, "").await;
    let third = [Story {
        key: "miners",
        title: "A film about the miners",
        section: "Culture",
        image: None,
    }];
    send_issue(app, 5, &third, "").await;
}

async fn spawn(backend: Backend) -> Option<TestApp> {
    TestApp::spawn_with(backend, TOML, Clock::manual(at("2026-03-03T05:00:00Z"))).await
}

fn assert_nothing_personal(page: &str) {
    for unwanted in [
        "/unsubscribe",
        ">Unsubscribe<",
        "/preferences",
        ">Preferences<",
        "Good morning",
        "receiving this",
        "token=",
    ] {
        assert!(
            !page.contains(unwanted),
            "{unwanted:?} on the page:\n{page}"
        );
    }
}

async fn archive_is_a_front_door(backend: Backend) {
    let Some(t) = spawn(backend).await else {
        return;
    };
    three_issues(&t.app).await;

    // The middle issue: its own stories, both neighbours, a form, nothing personal.
    let (status, page) = get(&t, "/archive/2026-03-04").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<main"), "a main landmark");
    assert!(page.contains("class=\"site-header\""));
    assert!(page.contains("Council votes on the budget"));
    assert!(!page.contains("Dockers win"), "another issue's story");
    assert!(
        page.contains(r#"rel="prev" href="/archive/2026-03-03""#)
            || page.contains(r#"href="/archive/2026-03-03" rel="prev""#),
        "{page}"
    );
    assert!(
        page.contains(r#"href="/archive/2026-03-05" rel="next""#),
        "{page}"
    );
    assert!(page.contains(r#"action="/subscribe""#));
    assert!(page.contains(r#"name="email""#));
    assert_nothing_personal(&page);
    let subject = "Breakfast in Red — Wednesday 4 March";
    assert!(page.contains(&format!(
        r#"<meta property="og:title" content="{subject}">"#
    )));
    assert!(page.contains(r#"<meta name="twitter:card" content="summary">"#));
    assert!(page.contains(&format!(
        r#"<link rel="canonical" href="{}/archive/2026-03-04">"#,
        t.base
    )));

    // The first issue: the editor's note, the pinned lead with its picture in the
    // link-preview tags, and the sections in the email's order; no previous issue.
    let (status, page) = get(&t, "/archive/2026-03-03").await;
    assert_eq!(status, 200);
    assert_nothing_personal(&page);
    assert!(page.contains("From the editor"));
    assert!(page.contains("Good news <strong>today</strong>."));
    assert!(
        page.contains(r#"<meta property="og:image" content="https://img.example/dockers.jpg">"#)
    );
    assert!(page.contains(r#"<meta name="twitter:card" content="summary_large_image">"#));
    assert!(page.contains("og:description"));
    assert!(page.contains("Rent &amp; wages: tenants organise"));
    let order = [
        "Top stories",
        "Dockers win their strike",
        ">Britain<",
        "Rent &amp; wages",
        ">World<",
        "Ports close",
    ];
    let main = &page[page.find("<main").unwrap()..];
    let found: Vec<usize> = order
        .iter()
        .map(|n| main.find(n).unwrap_or_else(|| panic!("{n} missing")))
        .collect();
    assert!(
        found.windows(2).all(|w| w[0] < w[1]),
        "{order:?} at {found:?}"
    );
    assert!(!page.contains("rel=\"prev\""));

    // The index: every issue, and a form.
    let (status, index) = get(&t, "/archive").await;
    assert_eq!(status, 200);
    for d in ["2026-03-03", "2026-03-04", "2026-03-05"] {
        assert!(index.contains(&format!("href=\"/archive/{d}\"")), "{d}");
    }
    assert!(index.contains(r#"action="/subscribe""#));
    // The 5 March issue went out at 05:30, so that morning's 07:00 send finds it out and
    // sends nothing: the next issue is Friday's.
    assert!(
        index.contains("The next issue goes out on Friday 6 March at 07:00 GMT."),
        "{index}"
    );

    // The email: a "forwarded this?" link to the sign-up page and a share link to the
    // issue's archive page, in both parts.
    let d = t.app.store.digest_for_date(day(4)).await.unwrap().unwrap();
    let (html, text) = (d.html.unwrap(), d.text.unwrap());
    let archive_url = format!("{}/archive/2026-03-04", t.base);
    assert!(html.contains("Forwarded this? <a"));
    assert!(html.contains(&format!("href=\"{}/\"", t.base)));
    assert!(html.contains("Share this issue: <a"));
    assert!(text.contains(&format!("Forwarded this? Subscribe: {}/\n", t.base)));
    assert!(text.contains(&format!("Share this issue: {archive_url}\n")));

    // The feed, read by two parsers we did not write.
    let r = t.get("/archive.atom").await;
    assert_eq!(r.status, 200);
    let content_type = r.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/atom+xml"),
        "{content_type}"
    );
    let xml = r.body;
    let feed = feed_rs::parser::parse(xml.as_bytes()).expect("feed-rs reads the feed");
    assert_eq!(feed.feed_type, feed_rs::model::FeedType::Atom);
    assert_eq!(feed.entries.len(), 3);
    let newest = &feed.entries[0];
    assert_eq!(
        newest.title.as_ref().unwrap().content,
        "Breakfast in Red — Thursday 5 March"
    );
    assert_eq!(
        newest.links[0].href,
        format!("{}/archive/2026-03-05", t.base)
    );
    let oldest = &feed.entries[2];
    let body = oldest
        .content
        .as_ref()
        .and_then(|c| c.body.clone())
        .unwrap();
    assert!(body.contains("Dockers win their strike"), "{body}");
    assert!(body.contains("https://paper.example/rent"));
    assert!(!body.contains("Unsubscribe") && !body.contains("Good morning"));
    assert_feedparser_reads(&xml, &t.base);
    t.stop().await;
}
on_both_databases!(archive_is_a_front_door);

/// The issue page forbids script (it carries feed content), yet its sign-up form has one
/// inline line that fills in the reader's time zone: the policy must name that exact
/// script by its hash (CSP Level 2), or a reader who signs up from the archive never gets
/// their own morning. Every inline script on the page is allowed; nothing else is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_page_policy_runs_only_the_forms_own_script() {
    use base64::Engine as _;
    use sha2::Digest as _;
    let Some(t) = spawn(Backend::Sqlite).await else {
        return;
    };
    three_issues(&t.app).await;
    let page = t.get("/archive/2026-03-04").await;
    assert_eq!(page.status, 200, "{}", page.text());
    let policy = page
        .header("content-security-policy")
        .expect("an issue page has a policy")
        .to_string();
    let script_src = policy
        .split(';')
        .map(str::trim)
        .find_map(|d| d.strip_prefix("script-src "))
        .unwrap_or_else(|| {
            panic!("no script-src, so default-src 'none' blocks the form's script: {policy}")
        });
    // The form may stand twice on a page; one hash covers both copies.
    let scripts: std::collections::BTreeSet<&str> = page
        .text()
        .split("<script>")
        .skip(1)
        .map(|rest| &rest[..rest.find("</script>").expect("a closed script")])
        .collect();
    assert!(!scripts.is_empty(), "the sign-up form fills in the zone");
    assert!(!page.text().contains("<script src"), "no external script");
    let allowed: Vec<&str> = script_src.split_whitespace().collect();
    for script in &scripts {
        let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(script));
        assert!(
            allowed.contains(&format!("'sha256-{hash}'").as_str()),
            "{script} not allowed by {policy}"
        );
    }
    assert!(!script_src.contains("unsafe-inline"), "{policy}");
    assert_eq!(
        allowed.len(),
        scripts.len(),
        "only the page's own scripts: {policy}"
    );
    assert!(policy.contains("default-src 'none'"), "{policy}");
    t.stop().await;
}

/// Python's feedparser, independent of our code and of feed-rs: the document is
/// well-formed Atom 1.0 with three entries whose content is HTML.
fn assert_feedparser_reads(xml: &str, base: &str) {
    let script = r#"
import sys, json
try:
    import feedparser
except ImportError:
    print("MISSING"); sys.exit(0)
d = feedparser.parse(sys.stdin.buffer.read())
print(json.dumps({
    "bozo": bool(d.bozo), "error": str(d.get("bozo_exception", "")), "version": d.version,
    "entries": [{"title": e.title, "link": e.link, "type": e.content[0].type,
                 "content": e.content[0].value, "updated": e.get("updated", "")} for e in d.entries],
}))
"#;
    let mut child = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(xml.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !stdout.starts_with("MISSING"),
        "Python's feedparser is needed: pip install feedparser (.ci/run does)"
    );
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect(&stdout);
    assert_eq!(report["bozo"], false, "{report}");
    assert_eq!(report["version"], "atom10", "{report}");
    let entries = report["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 3, "{report}");
    assert_eq!(entries[2]["link"], format!("{base}/archive/2026-03-03"));
    assert_eq!(entries[2]["type"], "text/html");
    assert!(
        entries[2]["content"]
            .as_str()
            .unwrap()
            .contains("Dockers win their strike")
    );
    assert!(!entries[0]["updated"].as_str().unwrap().is_empty());
}

/// Sign-up echoes the address and offers a resend; the confirmed page says when the first
/// issue comes (the schedule's next send) and links to the latest issue; unsubscribing
/// and then "Resubscribe" puts the reader back on the list at once.
async fn sign_up_pages_and_resubscribe(backend: Backend) {
    let Some(t) = spawn(backend).await else {
        return;
    };
    three_issues(&t.app).await;
    let (status, page) = post_form(&t, "/subscribe", "email=Rosa%40Example.org&name=Rosa").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Check your inbox"));
    assert!(
        page.contains("Rosa@Example.org"),
        "the address is echoed: {page}"
    );
    assert!(page.contains("Send the link again"));
    assert!(page.contains(r#"<input type="hidden" name="email" value="Rosa@Example.org">"#));
    // The resend is the same sign-up again: the same page, and the throttle holds it to
    // one email.
    let (status, again) = post_form(&t, "/subscribe", "email=Rosa%40Example.org&name=Rosa").await;
    assert_eq!(status, 200);
    assert!(again.contains("Rosa@Example.org"));

    let mails = t.wait_for_outbox(1, Duration::from_secs(60)).await;
    assert_eq!(mails.len(), 1, "one confirmation");
    let link = find_link(&Mail::parse(&mails[0]).text, "/confirm?token=").unwrap();
    let path = &link[link.find("/confirm").unwrap()..];
    // The link opens a page with one button; the button confirms.
    let (status, ask) = get(&t, path).await;
    assert_eq!(status, 200, "{ask}");
    assert!(ask.contains("Yes, subscribe me"), "{ask}");
    let (status, confirmed) = post_form(&t, path, "").await;
    assert_eq!(status, 200, "{confirmed}");
    assert!(confirmed.contains("You're subscribed"), "{confirmed}");
    assert!(
        confirmed.contains("The next issue goes out on Friday 6 March at 07:00 GMT."),
        "{confirmed}"
    );
    assert!(confirmed.contains(r#"href="/archive/2026-03-05""#));

    // Leave, then change one's mind.
    let email = EmailAddress::parse("rosa@example.org").unwrap();
    let id = t
        .app
        .store
        .subscriber_by_email(&email)
        .await
        .unwrap()
        .unwrap()
        .id;
    let unsub = t.app.signer.sign(id, Purpose::Unsubscribe, None);
    let (status, page) = post_form(
        &t,
        &format!("/unsubscribe?token={unsub}"),
        "List-Unsubscribe=One-Click",
    )
    .await;
    assert_eq!(status, 200, "{page}");
    let status_now = |t: &TestApp| {
        let store = t.app.store.clone();
        let email = email.clone();
        async move {
            store
                .subscriber_by_email(&email)
                .await
                .unwrap()
                .unwrap()
                .status
        }
    };
    assert_eq!(status_now(&t).await, SubscriberStatus::Unsubscribed);
    let (status, page) = post_form(&t, "/resubscribe", &format!("token={unsub}")).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Welcome back"), "{page}");
    assert!(
        !page.contains("Check your inbox"),
        "no confirmation is needed"
    );
    assert_eq!(
        status_now(&t).await,
        SubscriberStatus::Confirmed,
        "the signed link proves the mailbox: back on the list at once"
    );
    // Clicking again says so and changes nothing.
    let (status, page) = post_form(&t, "/resubscribe", &format!("token={unsub}")).await;
    assert_eq!(status, 200);
    assert!(page.contains("already subscribed"), "{page}");
    // A forged token is refused with a page, not a change.
    let (status, _) = post_form(&t, "/resubscribe", "token=not-a-token").await;
    assert_eq!(status, 400);
    t.stop().await;
}
on_both_databases!(sign_up_pages_and_resubscribe);

/// The unsubscribe page offers the weekly round-up and a pause first; the optional reason
/// is counted once per reader who leaves, and only if it is one of ours.
async fn leaving_offers_staying_and_counts_reasons(backend: Backend) {
    let Some(t) = TestApp::with_toml(backend, TOML).await else {
        return;
    };
    let app = &t.app;
    let ana = confirmed(app, "ana@example.org").await;
    let token = app.signer.sign(ana, Purpose::Unsubscribe, None);

    let prefs = app.signer.sign(ana, Purpose::Preferences, None);
    let (status, page) = get(&t, &format!("/preferences?token={prefs}")).await;
    assert_eq!(status, 200);
    assert!(
        page.contains(&format!("href=\"/unsubscribe?token={token}\"")),
        "an Unsubscribe button"
    );

    let (status, page) = get(&t, &format!("/unsubscribe?token={token}")).await;
    assert_eq!(status, 200);
    assert!(page.contains("Switch to the weekly round-up"));
    assert!(page.contains("Pause for 30 days"));
    assert!(page.contains(r#"name="reason" value="too-often""#));

    let path = format!("/unsubscribe/instead?token={token}");
    let (status, page) = post_form(&t, &path, "choice=weekly").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Thanks for staying"));
    let s = app.store.subscriber(ana).await.unwrap();
    assert_eq!(s.frequency, breakfast::domain::Frequency::Weekly);
    assert_eq!(s.status, SubscriberStatus::Confirmed);
    let (status, _) = post_form(&t, &path, "choice=pause").await;
    assert_eq!(status, 200);
    let s = app.store.subscriber(ana).await.unwrap();
    assert!(s.paused_until.unwrap() > app.now_ms() + 29 * 86_400_000);
    assert_eq!(s.frequency, breakfast::domain::Frequency::Weekly, "kept");
    let (status, page) = post_form(&t, &path, "choice=forever").await;
    assert_eq!(status, 422, "{page}");

    // Leaving with a reason, twice: counted once.
    let leave = format!("/unsubscribe?token={token}");
    for _ in 0..2 {
        let (status, page) =
            post_form(&t, &leave, "List-Unsubscribe=One-Click&reason=too-often").await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("You're unsubscribed"));
    }
    let bo = confirmed(app, "bo@example.org").await;
    let bo_token = app.signer.sign(bo, Purpose::Unsubscribe, None);
    post_form(
        &t,
        &format!("/unsubscribe?token={bo_token}"),
        "List-Unsubscribe=One-Click&reason=%3Cscript%3E",
    )
    .await;
    let cy = confirmed(app, "cy@example.org").await;
    let cy_token = app.signer.sign(cy, Purpose::Unsubscribe, None);
    post_form(
        &t,
        &format!("/unsubscribe?token={cy_token}"),
        "List-Unsubscribe=One-Click&reason=not-relevant",
    )
    .await;
    // The mail client's one-click body alone still works and counts nothing.
    let di = confirmed(app, "di@example.org").await;
    let di_token = app.signer.sign(di, Purpose::Unsubscribe, None);
    let (status, _) = post_form(
        &t,
        &format!("/unsubscribe?token={di_token}"),
        "List-Unsubscribe=One-Click",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        app.store.unsubscribe_reason_counts().await.unwrap(),
        vec![
            ("not-relevant".to_string(), 1),
            ("too-often".to_string(), 1)
        ]
    );
    for id in [ana, bo, cy, di] {
        assert_eq!(
            app.store.subscriber(id).await.unwrap().status,
            SubscriberStatus::Unsubscribed
        );
    }
    // Editors see the counts, with the labels readers saw; nobody else does.
    let mut anonymous = crate::admin::Browser::new(&t);
    let page = anonymous.get("/admin/leaving").await;
    assert_ne!(page.status, 200);
    crate::admin::add_user(
        app,
        "editor@example.org",
        breakfast::store::users::AdminRole::Editor,
    )
    .await;
    let mut editor = crate::admin::Browser::new(&t);
    editor
        .login("editor@example.org", crate::admin::PASSWORD)
        .await;
    let page = editor.get("/admin/leaving").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Why readers leave"));
    assert!(
        page.body
            .contains("<td>Too many emails</td><td class=\"num\">1</td>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("<td>Not what I expected</td>"));
    assert!(!page.body.contains("ana@example.org"), "counts only");
    t.stop().await;
}
on_both_databases!(leaving_offers_staying_and_counts_reasons);

/// A new address is used only after the link sent to it is followed, and only the link
/// for the latest request works.
async fn address_change_is_confirmed_by_the_new_address(backend: Backend) {
    let Some(t) = TestApp::with_toml(backend, TOML).await else {
        return;
    };
    let app = &t.app;
    let id = confirmed(app, "old@example.org").await;
    confirmed(app, "taken@example.org").await;
    let prefs = app.signer.sign(id, Purpose::Preferences, None);
    let change = format!("/preferences/address/change?token={prefs}");

    let (status, page) = post_form(&t, &change, "new_email=not-an-address").await;
    assert_eq!(status, 422, "{page}");
    assert!(page.contains("field-new_email-error"), "{page}");

    let (status, page) = post_form(&t, &change, "new_email=New%40Example.org").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("We sent a link to"), "{page}");
    let mails = t.wait_for_outbox(1, Duration::from_secs(60)).await;
    assert_eq!(mails.len(), 1);
    let mail = Mail::parse(&mails[0]);
    assert_eq!(mail.to, "New@example.org");
    let link = find_link(&mail.text, "/preferences/address?token=").expect("a link");
    assert_eq!(
        app.store.subscriber(id).await.unwrap().email.as_str(),
        "old@example.org",
        "nothing changes before the link is followed"
    );
    let path = &link[link.find("/preferences").unwrap()..];
    let (status, page) = get(&t, path).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Use this address?"));
    let query = &path[path.find('?').unwrap() + 1..];
    let (status, page) = post_form(&t, "/preferences/address", query).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Your address is changed"));
    assert_eq!(
        app.store.subscriber(id).await.unwrap().email.as_str(),
        "New@example.org"
    );
    // Used once; a second go is refused with a page.
    let (status, _) = post_form(&t, "/preferences/address", query).await;
    assert_eq!(status, 422);

    // A link for an earlier request does not apply a later one.
    let (status, _) = post_form(&t, &change, "new_email=first%40example.org").await;
    assert_eq!(status, 200);
    let mails = t.wait_for_outbox(2, Duration::from_secs(60)).await;
    let first = find_link(&Mail::parse(&mails[1]).text, "/preferences/address?token=").unwrap();
    let (status, _) = post_form(&t, &change, "new_email=second%40example.org").await;
    assert_eq!(status, 200);
    let first_query = &first[first.find('?').unwrap() + 1..];
    let (status, _) = post_form(&t, "/preferences/address", first_query).await;
    assert_eq!(status, 422);
    // An address already on the list gets no email, and the same answer.
    let (status, page) = post_form(&t, &change, "new_email=taken%40example.org").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        app.store.subscriber(id).await.unwrap().email.as_str(),
        "New@example.org"
    );
    t.stop().await;
}
on_both_databases!(address_change_is_confirmed_by_the_new_address);

/// The largest issue the default configuration makes (`digest.max_articles` = 30,
/// summaries cut at `digest.summary_chars` = 600, every story with a picture and a long
/// tracking link, a long editor's note, a 100-character name) stays well under Gmail's
/// ~102 KB clipping point once personalised: under 90 KB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn largest_default_issue_stays_under_90_kb() {
    largest_issue("", "defaults").await;
    // With the optional "In today's issue" list on top as well.
    largest_issue("[digest]\nheadline_list = true\n", "with the headline list").await;
}

async fn largest_issue(extra: &str, label: &str) {
    let toml = format!("{TOML}{extra}");
    let Some(t) = TestApp::spawn_with(
        Backend::Sqlite,
        &toml,
        Clock::manual(at("2026-03-03T05:00:00Z")),
    )
    .await
    else {
        return;
    };
    let app = &t.app;
    assert_eq!(app.config.digest.max_articles, 30, "the default");
    let now = app.now_ms();
    let sections = ["Labour", "Britain", "World", "Culture", "Opinion"];
    let mut feeds = Vec::new();
    for s in sections {
        let f = app
            .store
            .insert_feed(&format!("https://paper.example/{s}.xml"), s, Some(s), now)
            .await
            .unwrap();
        feeds.push(f.id);
    }
    let summary = "Hundreds of tenants met on Thursday evening to plan a coordinated response to the latest round of rent increases, which the council has refused to cap. ".repeat(8);
    for i in 0..40i64 {
        let link = format!(
            "https://paper.example/{}/2026/03/03/a-long-article-slug-about-the-story-number-{i}?utm_source=breakfast&utm_medium=email&utm_campaign=daily",
            sections[i as usize % 5].to_lowercase()
        );
        let title = format!(
            "Story {i}: tenants across the city organise against the rent rise, and the council answers at last"
        );
        let image =
            format!("https://images.paper.example/2026/03/03/story-{i}-1600x900.jpg?w=1072&q=80");
        app.store
            .upsert_article(
                feeds[i as usize % 5],
                &NewArticle {
                    dedup_key: &link,
                    guid: None,
                    link: Some(&link),
                    title: &title,
                    author: Some("Rosa Luxemburg and Karl Liebknecht"),
                    published_at: at("2026-03-03T04:00:00Z").timestamp_millis() - i * 60_000,
                    summary_html: "",
                    summary_text: &summary,
                    section: None,
                    categories: &[],
                    image_url: Some(&image),
                },
                now,
            )
            .await
            .unwrap();
    }
    let digest = app.store.get_or_create_digest(day(3), now).await.unwrap();
    let note = "Good morning. This week we look at the **housing crisis** from the ground up: the people organising in their buildings, [their meetings](https://paper.example/meetings) and what the council said back. ".repeat(6);
    app.store
        .set_editor_note(digest.id, &note, now)
        .await
        .unwrap();
    let ComposeOutcome::Composed(id) = compose_for_date(app, day(3)).await.unwrap() else {
        panic!("composed");
    };
    assert_eq!(app.store.digest(id).await.unwrap().article_ids.len(), 30);
    let p = breakfast::digest::Personaliser::load(app, id)
        .await
        .unwrap();
    let name = "N".repeat(100);
    let (_, html, text) = p.render_for(i64::MAX / 2, Some(&name));
    eprintln!(
        "largest default issue ({label}): {} bytes of HTML, {} of text",
        html.len(),
        text.len()
    );
    if !extra.is_empty() {
        assert!(html.contains("In today's issue"));
    }
    assert!(html.len() < 90_000, "{} bytes of HTML", html.len());
    t.stop().await;
}

/// A special edition shares its date with that day's daily issue, so the archive knows it
/// by its id: the index, the neighbours, the canonical link and the feed all have to say
/// `/archive/<id>`, or they open the daily issue instead (they did, by date).
async fn special_editions_are_linked_by_their_own_path(backend: Backend) {
    let Some(t) = spawn(backend).await else {
        return;
    };
    let app = &t.app;
    three_issues(app).await;
    app.clock.set(at("2026-03-05T09:00:00Z"));
    let now = app.now_ms();
    let feed = app
        .store
        .insert_feed("https://paper.example/late.xml", "late", Some("News"), now)
        .await
        .unwrap()
        .id;
    app.store
        .upsert_article(
            feed,
            &NewArticle {
                dedup_key: "https://paper.example/late",
                guid: None,
                link: Some("https://paper.example/late"),
                title: "Breaking: the strike spreads",
                author: None,
                published_at: now - 60_000,
                summary_html: "",
                summary_text: "It spread.",
                section: Some("News"),
                categories: &[],
                image_url: None,
            },
            now,
        )
        .await
        .unwrap();
    let special = breakfast::edition::new_special(app).await.unwrap();
    breakfast::edition::send(
        app,
        breakfast::edition::Which::Digest(special.id),
        breakfast::edition::By::Editor(1),
    )
    .await
    .unwrap();
    app.store.mark_digest_sent(special.id, now).await.unwrap();
    let path = format!("/archive/{}", special.id);

    let (status, index) = get(&t, "/archive").await;
    assert_eq!(status, 200);
    assert!(index.contains(&format!("href=\"{path}\"")), "{index}");
    assert!(
        index.contains("href=\"/archive/2026-03-05\""),
        "the daily one too"
    );
    // The archive's sign-up forms name the weekly edition's day, as the sign-up page does.
    assert!(index.contains("A weekly round-up, on Sundays"), "{index}");

    let (status, page) = get(&t, &path).await;
    assert_eq!(status, 200);
    assert!(page.contains("Breaking: the strike spreads"), "{page}");
    assert!(page.contains("A weekly round-up, on Sundays"));
    assert!(page.contains(&format!(
        r#"<link rel="canonical" href="{}{path}">"#,
        t.base
    )));
    assert!(
        page.contains(r#"href="/archive/2026-03-05" rel="prev""#)
            || page.contains(r#"rel="prev" href="/archive/2026-03-05""#),
        "the daily issue of the same day comes before it: {page}"
    );
    let (_, daily) = get(&t, "/archive/2026-03-05").await;
    assert!(
        daily.contains(&format!(r#"href="{path}" rel="next""#)),
        "{daily}"
    );
    assert!(daily.contains("A film about the miners"));

    let (_, xml) = get(&t, "/archive.atom").await;
    assert!(xml.contains(&format!("{}{path}", t.base)), "{xml}");
    t.stop().await;
}
on_both_databases!(special_editions_are_linked_by_their_own_path);
