//! The audience in the admin over HTTP and on the store: the subscribers table (keyset
//! paging in every order, forwards and back, filters, search, counts), a subscriber's
//! page and its actions by role, adding one, the filtered export (formula cells
//! neutralised), and the file-upload import (mapping, preview, background job, report),
//! including a 100 000-line upload with bad and repeated lines and each refused upload.

use std::time::Duration;

use breakfast::{
    App,
    domain::{EmailAddress, Frequency, SubscriberStatus},
    store::{
        subscribers::{
            ImportRow, NewSubscriber, PageCursor, Subscriber, SubscriberFilter, SubscriberSort,
        },
        users::AdminRole,
    },
};
use reqwest::{StatusCode, header};

use crate::{
    kit::{Backend, Browser, FilePart, PASSWORD, Page, TestApp, add_user},
    on_both_databases,
};

const ROOMY: &str = "[subscribers]\nrate_limit_per_minute = 10000\n";

fn email(s: &str) -> EmailAddress {
    EmailAddress::parse(s).unwrap()
}

/// A spread of subscribers whose id order, signed-up order and address order all differ,
/// with ties on signed-up time, three sources, both frequencies and every status.
async fn seed(app: &App, n: usize) -> Vec<(i64, String, i64)> {
    let base = 1_700_000_000_000_i64;
    let statuses = [
        SubscriberStatus::Confirmed,
        SubscriberStatus::Confirmed,
        SubscriberStatus::Pending,
        SubscriberStatus::Unsubscribed,
        SubscriberStatus::Bounced,
    ];
    for (chunk_no, chunk) in (0..n).collect::<Vec<_>>().chunks(200).enumerate() {
        let rows: Vec<ImportRow> = chunk
            .iter()
            .map(|&i| ImportRow {
                // Addresses in a shuffled order relative to ids.
                email: email(&format!("u{:05}@example.org", (i * 7919) % 100_003)),
                name: Some(if i % 10 == 0 {
                    format!("Ana {i}")
                } else {
                    format!("Reader {i}")
                }),
                status: statuses[i % statuses.len()],
                created_at: base + ((i * 31) % 97) as i64 * 60_000,
                frequency: Some(if i % 3 == 0 {
                    Frequency::Weekly
                } else {
                    Frequency::Daily
                }),
                time_zone: (i % 4 == 0).then(|| "Europe/Berlin".to_string()),
            })
            .collect();
        let source = ["web", "import", "api"][chunk_no % 3];
        app.store
            .import_subscribers(&rows, source, base)
            .await
            .unwrap();
    }
    let mut all = Vec::new();
    let mut cursor = PageCursor::First;
    loop {
        let page = app
            .store
            .subscriber_page(
                &SubscriberFilter::default(),
                SubscriberSort::OldestFirst,
                cursor,
                1000,
            )
            .await
            .unwrap();
        for r in &page.rows {
            all.push((
                r.subscriber.id,
                r.subscriber.email.key(),
                r.subscriber.created_at,
            ));
        }
        match page.rows.last() {
            Some(l) if page.has_next => cursor = PageCursor::After(l.subscriber.id),
            _ => break,
        }
    }
    assert_eq!(all.len(), n);
    all
}

/// Every id of `filter` in `sort` order, walking pages of `size` forwards, then the
/// same walk backwards from the last page.
async fn walk(
    app: &App,
    filter: &SubscriberFilter,
    sort: SubscriberSort,
    size: i64,
) -> (Vec<i64>, Vec<i64>) {
    let mut forward = Vec::new();
    let mut pages = Vec::new();
    let mut cursor = PageCursor::First;
    loop {
        let page = app
            .store
            .subscriber_page(filter, sort, cursor, size)
            .await
            .unwrap();
        assert!(page.rows.len() as i64 <= size);
        assert_eq!(page.has_prev, cursor != PageCursor::First);
        let ids: Vec<i64> = page.rows.iter().map(|r| r.subscriber.id).collect();
        forward.extend(&ids);
        pages.push(ids);
        match page.rows.last() {
            Some(l) if page.has_next => cursor = PageCursor::After(l.subscriber.id),
            _ => break,
        }
    }
    // Back from the last page, one "previous" at a time.
    let mut backward: Vec<i64> = pages.last().cloned().unwrap_or_default();
    let mut first = backward.first().copied();
    while let Some(id) = first {
        let page = app
            .store
            .subscriber_page(filter, sort, PageCursor::Before(id), size)
            .await
            .unwrap();
        let ids: Vec<i64> = page.rows.iter().map(|r| r.subscriber.id).collect();
        if ids.is_empty() {
            break;
        }
        first = page.has_prev.then(|| ids[0]);
        backward.splice(0..0, ids);
    }
    (forward, backward)
}

async fn paging_in_every_order(backend: Backend) {
    let Some(t) = TestApp::with_toml(backend, ROOMY).await else {
        return;
    };
    let all = seed(&t.app, 503).await;
    let store = &t.app.store;
    let everyone = SubscriberFilter::default();
    let mut expected: Vec<(i64, String, i64)> = all.clone();
    expected.sort_by_key(|(id, _, at)| (*at, *id));
    let oldest: Vec<i64> = expected.iter().map(|r| r.0).collect();
    let newest: Vec<i64> = oldest.iter().rev().copied().collect();
    expected.sort_by(|a, b| a.1.cmp(&b.1));
    let by_email: Vec<i64> = expected.iter().map(|r| r.0).collect();
    let by_email_desc: Vec<i64> = by_email.iter().rev().copied().collect();
    for (sort, want) in [
        (SubscriberSort::OldestFirst, &oldest),
        (SubscriberSort::NewestFirst, &newest),
        (SubscriberSort::EmailAsc, &by_email),
        (SubscriberSort::EmailDesc, &by_email_desc),
    ] {
        let (forward, backward) = walk(&t.app, &everyone, sort, 50).await;
        assert_eq!(&forward, want, "{sort:?} forwards");
        assert_eq!(&backward, want, "{sort:?} backwards");
    }
    assert_eq!(store.count_matching(&everyone).await.unwrap(), 503);

    // Filters combine, and the count is of all matches, not of one page.
    let weekly_confirmed = SubscriberFilter {
        status: Some(SubscriberStatus::Confirmed),
        frequency: Some(Frequency::Weekly),
        ..Default::default()
    };
    let want = (0..503).filter(|i| i % 5 < 2 && i % 3 == 0).count() as i64;
    assert_eq!(store.count_matching(&weekly_confirmed).await.unwrap(), want);
    let (ids, back) = walk(&t.app, &weekly_confirmed, SubscriberSort::NewestFirst, 7).await;
    assert_eq!(ids.len() as i64, want);
    assert_eq!(ids, back);
    for id in &ids {
        let s = store.subscriber(*id).await.unwrap();
        assert_eq!(
            (s.status, s.frequency),
            (SubscriberStatus::Confirmed, Frequency::Weekly)
        );
    }
    let from_import = SubscriberFilter {
        source: Some("import".into()),
        ..Default::default()
    };
    assert_eq!(store.count_matching(&from_import).await.unwrap(), 200);
    assert_eq!(
        store.subscriber_sources().await.unwrap(),
        vec!["api".to_string(), "import".into(), "web".into()]
    );

    // Search: the name or the address, any case; wildcards are literal.
    let ana = SubscriberFilter {
        search: Some("aNA".into()),
        ..Default::default()
    };
    assert_eq!(store.count_matching(&ana).await.unwrap(), 51);
    let (ana_ids, _) = walk(&t.app, &ana, SubscriberSort::EmailAsc, 20).await;
    assert_eq!(ana_ids.len(), 51);
    // The table's own path for a search (matches found in one pass, the page cut from
    // them) walks the same rows in the same order, and counts them.
    for sort in SubscriberSort::ALL {
        let (want, _) = walk(&t.app, &ana, sort, 20).await;
        let mut got = Vec::new();
        let mut cursor = PageCursor::First;
        loop {
            let (page, count) = store
                .subscriber_listing(&ana, sort, cursor, 20)
                .await
                .unwrap();
            assert_eq!(count, 51);
            got.extend(page.rows.iter().map(|r| r.subscriber.id));
            match page.rows.last() {
                Some(l) if page.has_next => cursor = PageCursor::After(l.subscriber.id),
                _ => break,
            }
        }
        assert_eq!(got, want, "{sort:?}");
        let (back, _) = store
            .subscriber_listing(&ana, sort, PageCursor::Before(want[40]), 20)
            .await
            .unwrap();
        let back: Vec<i64> = back.rows.iter().map(|r| r.subscriber.id).collect();
        assert_eq!(back, want[20..40].to_vec(), "{sort:?} backwards");
    }
    let one = &all[17].1;
    let by_address = SubscriberFilter {
        search: Some(one.to_uppercase()),
        ..Default::default()
    };
    assert_eq!(store.count_matching(&by_address).await.unwrap(), 1);
    let wildcard = SubscriberFilter {
        search: Some("u%".into()),
        ..Default::default()
    };
    assert_eq!(store.count_matching(&wildcard).await.unwrap(), 0);

    // A page that starts from an erased subscriber starts again at the top.
    let gone = by_email[100];
    let s = store.subscriber(gone).await.unwrap();
    breakfast::subscribers::erase_subscriber(&t.app, &s, "test")
        .await
        .unwrap();
    let page = store
        .subscriber_page(
            &everyone,
            SubscriberSort::EmailAsc,
            PageCursor::After(gone),
            10,
        )
        .await
        .unwrap();
    assert_eq!(page.rows[0].subscriber.id, by_email[0]);
    t.stop().await;
}
on_both_databases!(paging_in_every_order);

/// The table over HTTP: columns, the count of matches, next/previous links that carry
/// the filter and an id (never an address), sorting links, and the operator's view.
async fn table_over_http(backend: Backend) {
    let Some(t) = TestApp::with_toml(backend, ROOMY).await else {
        return;
    };
    seed(&t.app, 120).await;
    add_user(&t.app, "ed@example.org", AdminRole::Editor).await;
    add_user(&t.app, "op@example.org", AdminRole::Operator).await;
    let mut b = Browser::new(&t);
    b.login("ed@example.org", PASSWORD).await;
    let page = b.get("/admin/subscribers").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("120 matches"), "{}", page.body);
    for column in [
        "Address",
        "Name",
        "Status",
        "Frequency",
        "Time zone",
        "Signed up",
        "Last sent",
        "Bounces",
    ] {
        assert!(page.body.contains(column), "column {column}");
    }
    assert!(page.body.contains("Europe/Berlin"));
    assert_eq!(
        page.body.matches("href=\"/admin/subscribers/").count()
            - page.body.matches("href=\"/admin/subscribers/new").count()
            - page
                .body
                .matches("href=\"/admin/subscribers/import")
                .count()
            - page
                .body
                .matches("href=\"/admin/subscribers/export")
                .count(),
        50
    );
    let next = link_with(&page.body, "rel=\"next\"").expect("a next link");
    assert!(next.contains("after="), "{next}");
    assert!(!next.contains('@'));

    let filtered = b
        .get("/admin/subscribers?status=confirmed&frequency=weekly&q=reader")
        .await;
    let want = (0..120)
        .filter(|i| i % 5 < 2 && i % 3 == 0 && i % 10 != 0)
        .count();
    assert!(
        filtered.body.contains(&format!("{want} matches")),
        "{want}: {}",
        filtered.body
    );
    let sort = b.get("/admin/subscribers?sort=email").await;
    assert!(sort.body.contains("Address ↑"));
    let second = b.get(&next.replace("&amp;", "&")).await;
    assert_eq!(second.status, StatusCode::OK);
    assert!(link_with(&second.body, "rel=\"prev\"").is_some());
    // Unknown filter values are ignored, not a 500.
    let odd = b
        .get("/admin/subscribers?status=nonsense&sort=sideways&after=999999999")
        .await;
    assert_eq!(odd.status, StatusCode::OK);

    let mut op = Browser::new(&t);
    op.login("op@example.org", PASSWORD).await;
    let seen = op.get("/admin/subscribers").await;
    assert_eq!(seen.status, StatusCode::OK);
    assert!(!seen.body.contains("Add a subscriber"));
    t.stop().await;
}
on_both_databases!(table_over_http);

/// The href of the first `<a …>` whose tag contains `marker`.
fn link_with(body: &str, marker: &str) -> Option<String> {
    let at = body.find(marker)?;
    let tag_start = body[..at].rfind("<a ")?;
    let tag = &body[tag_start..];
    let href = tag.split("href=\"").nth(1)?.split('"').next()?;
    Some(href.to_string())
}

async fn subscriber_page_and_actions(backend: Backend) {
    let Some(t) = TestApp::with_toml(backend, ROOMY).await else {
        return;
    };
    add_user(&t.app, "ed@example.org", AdminRole::Editor).await;
    add_user(&t.app, "op@example.org", AdminRole::Operator).await;
    let mut b = Browser::new(&t);
    b.login("ed@example.org", PASSWORD).await;
    const NEW: &str = "/admin/subscribers/new";
    let form = b.get(NEW).await;
    let csrf = form.csrf();

    // Add one, pending: a confirmation email goes out.
    let added = b
        .post_fields(NEW, &csrf, "email=Pat@Example.org&name=Pat&mode=pending")
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.body);
    let path = added.location.unwrap();
    let id: i64 = path
        .trim_start_matches("/admin/subscribers/")
        .split('?')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let mails = t.wait_for_outbox(1, Duration::from_secs(20)).await;
    assert!(mails[0].contains("Confirm your subscription"));
    let pat = t.app.store.subscriber(id).await.unwrap();
    assert_eq!(
        (pat.status, pat.source.as_str()),
        (SubscriberStatus::Pending, "admin")
    );
    // The same address again, in another case: refused on the form, nothing lost.
    let again = b
        .post_fields(NEW, &csrf, "email=pat@example.org&mode=confirmed")
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.body.contains("already on the list"));
    let bad = b
        .post_fields(NEW, &csrf, "email=not an address&name=Kept")
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("Kept") && bad.body.contains("field-error"));
    // Added confirmed: no email.
    let direct = b
        .post_fields(NEW, &csrf, "email=kim@example.org&mode=confirmed")
        .await;
    assert_eq!(direct.status, StatusCode::SEE_OTHER);
    let kim = known(&t.app, "kim@example.org").await;
    assert_eq!(kim.status, SubscriberStatus::Confirmed);

    // A delivery of an issue shows on the page with its state.
    record_delivery(&t.app, kim.id).await;
    let page = b.get(&format!("/admin/subscribers/{}", kim.id)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("2026-11-30") && page.body.contains("Tuesday news"));
    assert!(page.body.contains(">sent<") || page.body.contains("sent"));
    assert!(page.body.contains("History") && page.body.contains("created"));
    // Legal moves only: a confirmed subscriber cannot be made pending by hand.
    assert!(!page.body.contains(r#"<option value="pending""#));

    // Edit name, frequency and zone.
    let kim_csrf = page.csrf();
    let edit = format!("/admin/subscribers/{}/edit", kim.id);
    let edited = b
        .post(
            &edit,
            &[
                ("csrf", &kim_csrf),
                ("name", "Kim K"),
                ("frequency", "weekly"),
                ("time_zone", "America/New_York"),
                ("status", "confirmed"),
            ],
        )
        .await;
    assert_eq!(edited.status, StatusCode::SEE_OTHER);
    let kim2 = t.app.store.subscriber(kim.id).await.unwrap();
    assert_eq!(kim2.name.as_deref(), Some("Kim K"));
    assert_eq!(kim2.frequency, Frequency::Weekly);
    assert_eq!(kim2.time_zone.as_deref(), Some("America/New_York"));
    // A zone that is none is refused; unsubscribing through the status field works;
    // back to confirmed then is refused.
    let (bad, see_other) = (StatusCode::BAD_REQUEST, StatusCode::SEE_OTHER);
    let zone_error = Some("not a time zone");
    for (step, fields, status, says) in [
        (
            "bad zone",
            "frequency=daily&time_zone=Mars/Olympus",
            bad,
            zone_error,
        ),
        (
            "unsubscribe",
            "frequency=weekly&status=unsubscribed",
            see_other,
            None,
        ),
        (
            "back to confirmed",
            "frequency=weekly&status=confirmed",
            bad,
            None,
        ),
    ] {
        let answer = b.post_fields(&edit, &kim_csrf, fields).await;
        assert_eq!(answer.status, status, "{step}: {}", answer.body);
        if let Some(says) = says {
            assert!(answer.body.contains(says), "{step}: {}", answer.body);
        }
    }
    assert_eq!(
        t.app.store.subscriber(kim.id).await.unwrap().status,
        SubscriberStatus::Unsubscribed
    );
    // Without the CSRF token nothing changes.
    let forged = b
        .post(
            &format!("/admin/subscribers/{}/edit", pat.id),
            &[("frequency", "weekly")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    // An operator may resend a confirmation but not edit or erase.
    let mut op = Browser::new(&t);
    op.login("op@example.org", PASSWORD).await;
    let op_page = op.get(&format!("/admin/subscribers/{}", pat.id)).await;
    assert_eq!(op_page.status, StatusCode::OK);
    assert!(!op_page.body.contains("/edit\""));
    let op_csrf = op_page.csrf();
    let no = op
        .post(
            &format!("/admin/subscribers/{}/edit", pat.id),
            &[("csrf", &op_csrf), ("frequency", "weekly")],
        )
        .await;
    assert_eq!(no.status, StatusCode::FORBIDDEN);
    assert_eq!(
        op.get(&format!("/admin/subscribers/{}/erase", pat.id))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    // (The first email was minutes ago, so the throttle holds this one back; the
    // page says so rather than promising an email.)
    let resent = op
        .post(
            &format!("/admin/subscribers/{}/resend", pat.id),
            &[("csrf", &op_csrf)],
        )
        .await;
    assert_eq!(resent.status, StatusCode::SEE_OTHER);
    assert!(resent.location.unwrap().contains("confirmation-resent"));

    // Erase asks first; the box must be ticked.
    let ask = b.get(&format!("/admin/subscribers/{}/erase", pat.id)).await;
    assert_eq!(ask.status, StatusCode::OK);
    let not_ticked = b
        .post(
            &format!("/admin/subscribers/{}/erase", pat.id),
            &[("csrf", &ask.csrf())],
        )
        .await;
    assert_eq!(not_ticked.status, StatusCode::BAD_REQUEST);
    assert!(t.app.store.subscriber(pat.id).await.is_ok());
    let erased = b
        .post(
            &format!("/admin/subscribers/{}/erase", pat.id),
            &[("csrf", &ask.csrf()), ("confirm", "yes")],
        )
        .await;
    assert_eq!(erased.status, StatusCode::SEE_OTHER);
    assert!(t.app.store.subscriber(pat.id).await.is_err());
    assert_eq!(
        b.get(&format!("/admin/subscribers/{}", pat.id))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // The old page's links still lead to a subscriber.
    let old = b.get(&format!("/admin/subscribers?id={}", kim.id)).await;
    assert_eq!(
        old.location.as_deref(),
        Some(format!("/admin/subscribers/{}", kim.id).as_str())
    );
    t.stop().await;
}
on_both_databases!(subscriber_page_and_actions);

/// The subscriber with `address`, who must exist.
async fn known(app: &App, address: &str) -> Subscriber {
    let found = app
        .store
        .subscriber_by_email(&email(address))
        .await
        .unwrap();
    found.unwrap_or_else(|| panic!("no subscriber {address}"))
}

/// A sent issue in the ledger, written directly: the delivery pipeline is not under test.
async fn record_delivery(app: &App, subscriber: i64) {
    app.store
        .insert_sent_issue("2026-11-30", "Tuesday news", Some(subscriber), app.now_ms())
        .await
        .unwrap();
}

async fn export_follows_the_filter_and_neutralises(backend: Backend) {
    let Some(t) = TestApp::with_toml(backend, ROOMY).await else {
        return;
    };
    add_user(&t.app, "op@example.org", AdminRole::Operator).await;
    for (addr, name, status) in [
        (
            "a@example.org",
            "=HYPERLINK(\"http://evil.example\")",
            SubscriberStatus::Confirmed,
        ),
        ("b@example.org", "+1 555", SubscriberStatus::Confirmed),
        ("c@example.org", "Cleo", SubscriberStatus::Pending),
    ] {
        t.app
            .store
            .insert_subscriber(
                &NewSubscriber {
                    email: &email(addr),
                    name: Some(name),
                    status,
                    source: "web",
                },
                t.app.now_ms(),
            )
            .await
            .unwrap();
    }
    let mut op = Browser::new(&t);
    op.login("op@example.org", PASSWORD).await;
    let res = t
        .http
        .get(t.url("/admin/subscribers/export.csv?status=confirmed&sort=email"))
        .header(
            header::COOKIE,
            format!("breakfast_admin={}", op.cookies["breakfast_admin"]),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let body = res.text().await.unwrap();
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines[0], "email,name,status,created_at,frequency,time_zone");
    assert_eq!(lines.len(), 3, "{body}");
    assert!(
        lines[1].starts_with("a@example.org,\"'=HYPERLINK("),
        "{body}"
    );
    assert!(lines[2].starts_with("b@example.org,'+1 555,"), "{body}");
    assert!(!body.contains("c@example.org"));
    t.stop().await;
}
on_both_databases!(export_follows_the_filter_and_neutralises);

/// A signed-in editor who can post multipart forms.
/// An editor on the import pages, with the upload form's CSRF token.
struct Uploader {
    b: tokio::sync::Mutex<Browser>,
    csrf: String,
}

impl Uploader {
    async fn new(t: &TestApp) -> Uploader {
        add_user(&t.app, "ed@example.org", AdminRole::Editor).await;
        let mut b = Browser::new(t);
        b.login("ed@example.org", PASSWORD).await;
        let page = b.get("/admin/subscribers/import").await;
        Uploader {
            b: tokio::sync::Mutex::new(b),
            csrf: page.csrf(),
        }
    }

    /// Posts `file` as the form would (CSRF field first, then the file).
    async fn upload(&self, file_name: &str, file: &[u8], csrf: Option<&str>) -> Page {
        let csrf = csrf.unwrap_or(&self.csrf);
        let fields: &[(&str, &str)] = if csrf.is_empty() {
            &[]
        } else {
            &[("csrf", csrf)]
        };
        let file = FilePart {
            field: "file",
            name: file_name,
            content_type: "text/csv",
            bytes: file,
        };
        let path = "/admin/subscribers/import/upload";
        self.b.lock().await.post_multipart(path, fields, file).await
    }

    async fn get(&self, path: &str) -> Page {
        self.b.lock().await.get(path).await
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        let mut fields = vec![("csrf", self.csrf.as_str())];
        fields.extend_from_slice(form);
        self.b.lock().await.post(path, &fields).await
    }

    /// Waits for the import's page to stop refreshing itself and returns it.
    async fn wait_done(&self, path: &str) -> Page {
        let deadline = std::time::Instant::now() + Duration::from_secs(300);
        loop {
            let page = self.get(path).await;
            if !page.body.contains("http-equiv=\"refresh\"") {
                return page;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "import did not finish"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

const LINES: usize = 100_000;

/// 100 000 lines in the order "name;mail" with a header the mapping must be told about,
/// three invalid lines, two repeats, and one address erased earlier.
fn big_file() -> (Vec<u8>, Vec<u64>, Vec<u64>) {
    let mut out = String::from("Full name,E-mail address,Zone\n");
    let mut invalid = Vec::new();
    let mut dups = Vec::new();
    for i in 0..LINES {
        let line = (i + 2) as u64;
        match i {
            5 => {
                out.push_str("Broken,not-an-address,\n");
                invalid.push(line);
            }
            70_000 => {
                out.push_str("Zoned,zoned@example.org,Mars/Olympus\n");
                invalid.push(line);
            }
            99_998 => {
                out.push_str(&format!("{},long@example.org,\n", "x".repeat(150)));
                invalid.push(line);
            }
            50_000 | 60_000 => {
                out.push_str(&format!("Again,r{:06}@example.org,\n", i - 40_000));
                dups.push(line);
            }
            _ => out.push_str(&format!("Reader {i},r{i:06}@example.org,Europe/Paris\n")),
        }
    }
    (out.into_bytes(), invalid, dups)
}

async fn upload_of_100k_lines(backend: Backend) {
    let Some(t) = TestApp::with_toml(backend, ROOMY).await else {
        return;
    };
    let up = Uploader::new(&t).await;
    // An address erased before the import is skipped, not brought back.
    let erased = t
        .app
        .store
        .insert_subscriber(
            &NewSubscriber {
                email: &email("r000007@example.org"),
                name: None,
                status: SubscriberStatus::Confirmed,
                source: "web",
            },
            t.app.now_ms(),
        )
        .await
        .unwrap();
    breakfast::subscribers::erase_subscriber(&t.app, &erased, "test")
        .await
        .unwrap();
    // And one already present is left alone (skip).
    t.app
        .store
        .insert_subscriber(
            &NewSubscriber {
                email: &email("r000009@example.org"),
                name: Some("Nine"),
                status: SubscriberStatus::Unsubscribed,
                source: "web",
            },
            t.app.now_ms(),
        )
        .await
        .unwrap();

    let (file, invalid, dups) = big_file();
    let stored = up.upload("big.csv", &file, None).await;
    assert_eq!(stored.status, StatusCode::SEE_OTHER, "{}", stored.body);
    let import = stored.location.unwrap();
    // The mapping page suggests columns from the header and previews the first lines,
    // the bad one flagged.
    let mapping = up.get(&import).await;
    assert!(mapping.body.contains("E-mail address"), "{}", mapping.body);
    assert!(mapping.body.contains("r000000@example.org"));
    assert!(mapping.body.contains("not-an-address"));
    assert!(
        mapping
            .body
            .contains("1 line of the first 10 would not be imported"),
        "{}",
        mapping.body
    );
    // Choosing no email column is refused with the form kept.
    let none = up
        .post(
            &import,
            &[
                ("col_email", ""),
                ("has_header", "yes"),
                ("action", "start"),
            ],
        )
        .await;
    assert_eq!(none.status, StatusCode::BAD_REQUEST);
    assert!(none.body.contains("Choose the column"));
    let start = up
        .post(
            &import,
            &[
                ("col_email", "1"),
                ("col_name", "0"),
                ("col_time_zone", "2"),
                ("has_header", "yes"),
                ("existing", "skip"),
                ("confirmed", "yes"),
                ("action", "start"),
            ],
        )
        .await;
    assert_eq!(start.status, StatusCode::SEE_OTHER, "{}", start.body);
    let started = std::time::Instant::now();
    let done = up.wait_done(&import).await;
    eprintln!(
        "{backend:?}: 100 000-line upload imported in {:?}",
        started.elapsed()
    );
    assert!(
        done.body.contains("The import is finished"),
        "{}",
        done.body
    );

    let report = up.get(&format!("{import}/report.csv")).await;
    assert_eq!(report.status, StatusCode::OK);
    let added = LINES - invalid.len() - dups.len() - 2;
    assert!(
        report.body.contains(&format!("added: {added}")),
        "{}",
        &report.body[..600]
    );
    assert!(report.body.contains(&format!("invalid: {}", invalid.len())));
    assert!(report.body.contains("repeated in the file: 2"));
    assert!(
        report
            .body
            .contains("erased at their owner's request, skipped: 1")
    );
    assert!(
        report
            .body
            .contains("already present, left as they were: 1")
    );
    for line in &invalid {
        assert!(
            report.body.contains(&format!("\n{line},invalid,")),
            "line {line}"
        );
    }
    for line in &dups {
        assert!(
            report.body.contains(&format!("\n{line},duplicate,")),
            "line {line}"
        );
    }
    assert!(report.body.contains("\n9,suppressed,"));
    assert_eq!(
        t.app
            .store
            .count_subscribers(Some(SubscriberStatus::Confirmed))
            .await
            .unwrap(),
        added as i64
    );
    let one = known(&t.app, "r012345@example.org").await;
    assert_eq!(one.name.as_deref(), Some("Reader 12345"));
    assert_eq!(one.time_zone.as_deref(), Some("Europe/Paris"));
    assert_eq!(one.source, "import");
    let nine = known(&t.app, "r000009@example.org").await;
    assert_eq!(nine.name.as_deref(), Some("Nine"));

    // A second file updates the existing addresses' details, never their status.
    let update = b"email,name,frequency\nr000009@example.org,Nina,weekly\nr000010@example.org,,weekly\nnew@example.org,New,\n";
    let stored = up.upload("update.csv", update, None).await;
    let import = stored.location.unwrap();
    let start = up
        .post(
            &import,
            &[
                ("col_email", "0"),
                ("col_name", "1"),
                ("col_frequency", "2"),
                ("has_header", "yes"),
                ("existing", "update"),
                ("action", "start"),
            ],
        )
        .await;
    assert_eq!(start.status, StatusCode::SEE_OTHER);
    let done = up.wait_done(&import).await;
    assert!(done.body.contains("The import is finished"));
    let nine = known(&t.app, "r000009@example.org").await;
    assert_eq!(nine.name.as_deref(), Some("Nina"));
    assert_eq!(nine.frequency, Frequency::Weekly);
    assert_eq!(nine.status, SubscriberStatus::Unsubscribed);
    let ten = known(&t.app, "r000010@example.org").await;
    assert_eq!(
        ten.name.as_deref(),
        Some("Reader 10"),
        "a blank cell keeps the name"
    );
    let new = known(&t.app, "new@example.org").await;
    assert_eq!(
        new.status,
        SubscriberStatus::Pending,
        "not vouched for: pending"
    );
    let report = up.get(&format!("{import}/report.csv")).await;
    assert!(report.body.contains("updated: 2"), "{}", report.body);
    assert!(report.body.contains("added: 1"));
    // Starting twice runs once.
    let again = up
        .post(&import, &[("col_email", "0"), ("action", "start")])
        .await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    t.stop().await;
}
on_both_databases!(upload_of_100k_lines);

async fn refused_uploads(backend: Backend) {
    let toml = "[subscribers]\nrate_limit_per_minute = 10000\nimport_max_mb = 1\n";
    let Some(t) = TestApp::with_toml(backend, toml).await else {
        return;
    };
    let up = Uploader::new(&t).await;
    let mut big = b"email\n".to_vec();
    while big.len() < 1024 * 1024 + 10 {
        big.extend_from_slice(b"someone@example.org\n");
    }
    let mut latin1 = b"email,name\nana@example.org,Ana\nbe@example.org,B".to_vec();
    latin1.extend_from_slice(&[0xE9, b'a', b'\n']);
    let mut utf16 = vec![0xFF, 0xFE];
    for c in "email\na@example.org\n".encode_utf16() {
        utf16.extend_from_slice(&c.to_le_bytes());
    }
    let cases: Vec<(&str, Vec<u8>, StatusCode, &str)> = vec![
        (
            "big.csv",
            big,
            StatusCode::PAYLOAD_TOO_LARGE,
            "larger than 1 MB",
        ),
        (
            "list.xlsx",
            b"PK\x03\x04\x14\x00\x06\x00rest of a zip".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "not a CSV file",
        ),
        (
            "list.csv",
            utf16,
            StatusCode::UNPROCESSABLE_ENTITY,
            "in UTF-16",
        ),
        (
            "list.csv",
            latin1,
            StatusCode::UNPROCESSABLE_ENTITY,
            "not UTF-8 text (first bad byte on line 3)",
        ),
        (
            "empty.csv",
            Vec::new(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "the file is empty",
        ),
        (
            "nul.csv",
            b"email\n\x00\x01\x02".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "binary data",
        ),
    ];
    for (name, bytes, status, message) in cases {
        let answer = up.upload(name, &bytes, None).await;
        assert_eq!(answer.status, status, "{name}: {}", answer.body);
        assert!(
            answer.body.to_lowercase().contains(&message.to_lowercase()),
            "{name}: {}",
            answer.body
        );
        assert!(answer.body.contains("Nothing was imported"));
        // The form is there to try again.
        assert!(answer.body.contains("enctype=\"multipart/form-data\""));
    }
    // Without the CSRF token: refused, nothing stored.
    let forged = up
        .upload("ok.csv", b"email\na@example.org\n", Some(""))
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    // Not multipart at all.
    let plain = up
        .post("/admin/subscribers/import/upload", &[("file", "x")])
        .await;
    assert_eq!(plain.status, StatusCode::BAD_REQUEST);
    assert!(plain.body.contains("Choose a CSV file"));
    assert_eq!(t.app.store.count_subscribers(None).await.unwrap(), 0);
    // A file just under the limit is taken.
    let ok = up.upload("ok.csv", b"email\na@example.org\n", None).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    // Someone else's import id, or none: 404 page.
    assert_eq!(
        up.get("/admin/subscribers/import/999999").await.status,
        StatusCode::NOT_FOUND
    );
    // The reporting of an import that has not run yet: a clear 404, not a 500.
    let pending = ok.location.unwrap();
    assert_eq!(
        up.get(&format!("{pending}/report.csv")).await.status,
        StatusCode::NOT_FOUND
    );
    t.stop().await;
}
on_both_databases!(refused_uploads);
