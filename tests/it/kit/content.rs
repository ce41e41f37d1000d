//! What a test needs in the database: feeds with articles, subscribers, ready digests,
//! and waiting for a send to finish.

use std::time::{Duration, Instant};

use chrono::NaiveDate;

use breakfast::{
    App,
    domain::{EmailAddress, SubscriberStatus},
    edition::{ComposeOutcome, compose_for_date},
    store::{
        articles::NewArticle, deliveries::DeliveryProgress, digests::Digest,
        subscribers::NewSubscriber,
    },
};

/// A feed with articles published an hour ago, and confirmed subscribers.
pub async fn seed_content(app: &App, titles: &[&str], subscribers: &[&str]) -> i64 {
    let feed = add_feed(app, "https://paper.example.org/feed.xml").await;
    let stories: Vec<(&str, &str)> = titles.iter().map(|t| (*t, "Summary.")).collect();
    add_articles(app, feed, "k", &stories).await;
    for s in subscribers {
        confirmed(app, s).await;
    }
    feed
}

async fn add_feed(app: &App, url: &str) -> i64 {
    app.store
        .insert_feed(url, "The Paper", Some("News"), app.now_ms())
        .await
        .unwrap()
        .id
}

/// Articles of `feed` published an hour ago, first seen now: (title, plain summary).
async fn add_articles(app: &App, feed: i64, key_prefix: &str, stories: &[(&str, &str)]) {
    let now = app.now_ms();
    for (i, (title, summary)) in stories.iter().enumerate() {
        let key = format!("{key_prefix}-{title}");
        let link = format!("https://paper.example.org/{key_prefix}/{i}");
        let escaped = summary
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        let summary_html = format!("<p>{escaped}</p>");
        let a = NewArticle {
            dedup_key: &key,
            guid: None,
            link: Some(&link),
            title,
            author: None,
            published_at: now - 3_600_000,
            summary_html: &summary_html,
            summary_text: summary,
            section: Some("News"),
            categories: &[],
            image_url: None,
        };
        app.store.upsert_article(feed, &a, now).await.unwrap();
    }
}

/// A subscriber named "Reader" in `status` (see [`subscriber_named`]).
pub async fn subscriber(app: &App, address: &str, status: SubscriberStatus) -> i64 {
    subscriber_named(app, address, Some("Reader"), status).await
}

/// A confirmed subscriber without a name.
pub async fn confirmed(app: &App, address: &str) -> i64 {
    subscriber_named(app, address, None, SubscriberStatus::Confirmed).await
}

/// A subscriber in `status` (pending ones stay pending; others are confirmed first).
pub async fn subscriber_named(
    app: &App,
    address: &str,
    name: Option<&str>,
    status: SubscriberStatus,
) -> i64 {
    let email = EmailAddress::parse(address).unwrap();
    let initial = if status == SubscriberStatus::Pending {
        SubscriberStatus::Pending
    } else {
        SubscriberStatus::Confirmed
    };
    let s = app
        .store
        .insert_subscriber(
            &NewSubscriber {
                email: &email,
                name,
                status: initial,
                source: "test",
            },
            app.now_ms(),
        )
        .await
        .unwrap();
    if status != initial {
        app.store
            .set_subscriber_status(s.id, status, app.now_ms())
            .await
            .unwrap();
    }
    s.id
}

/// The story every [`digest`] carries, as its article's title.
pub const STORY: &str = "The tenants won.";

/// The subject the composer gives the daily digest of 2026-11-28 (the default pattern).
pub const SUBJECT_2026_11_28: &str = "Breakfast in Red — Saturday 28 November";

/// A digest for `date`, composed by the real composer from one fresh article titled
/// [`STORY`], ready to send (through the personaliser, like every digest).
pub async fn digest(app: &App, date: &str) -> i64 {
    composed_digest(app, date, &[(STORY, "Summary.")]).await
}

/// A digest for `date`, composed by the real composer from fresh articles (title, plain
/// summary) of a feed of their own, so that each call's articles are new to its window.
pub async fn composed_digest(app: &App, date: &str, stories: &[(&str, &str)]) -> i64 {
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let feed = add_feed(app, &format!("https://paper.example.org/{tag}.xml")).await;
    add_articles(app, feed, &tag, stories).await;
    let day: NaiveDate = date.parse().expect("a YYYY-MM-DD date");
    match compose_for_date(app, day).await.unwrap() {
        ComposeOutcome::Composed(id) => id,
        other => panic!("the digest for {date} did not compose: {other:?}"),
    }
}

/// The digest the service made for `date` (YYYY-MM-DD); fails the test when there is none.
pub async fn digest_on(app: &App, date: &str) -> Digest {
    let day: NaiveDate = date.parse().expect("a YYYY-MM-DD date");
    app.store
        .digest_for_date(day)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("there is no digest for {date}"))
}

/// The digest's progress once it is sent, or after `timeout`, whichever comes first.
pub async fn wait_until_sent(app: &App, digest_id: i64, timeout: Duration) -> DeliveryProgress {
    let deadline = Instant::now() + timeout;
    loop {
        let p = app
            .store
            .delivery_progress(digest_id, app.now_ms())
            .await
            .unwrap();
        if p.is_finished() || Instant::now() > deadline {
            return p;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
