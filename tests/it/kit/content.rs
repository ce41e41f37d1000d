//! What a test needs in the database: feeds with articles, subscribers, ready digests,
//! and waiting for a send to finish.

use std::time::{Duration, Instant};

use breakfast::{
    App,
    domain::{EmailAddress, SubscriberStatus},
    store::{articles::NewArticle, deliveries::DeliveryProgress, subscribers::NewSubscriber},
};

pub const HTML: &str = "<html><body><h1>Today</h1><p>The tenants won.</p></body></html>";
pub const TEXT: &str = "Today\n\nThe tenants won.\n";

/// A feed with articles published an hour ago, and confirmed subscribers.
pub async fn seed_content(app: &App, titles: &[&str], subscribers: &[&str]) -> i64 {
    let now = app.now_ms();
    let feed = app
        .store
        .insert_feed(
            "https://paper.example.org/feed.xml",
            "The Paper",
            Some("News"),
            now,
        )
        .await
        .unwrap();
    for (i, title) in titles.iter().enumerate() {
        let key = format!("k-{title}");
        let link = format!("https://paper.example.org/{i}");
        let a = NewArticle {
            dedup_key: &key,
            guid: None,
            link: Some(&link),
            title,
            author: None,
            published_at: now - 3_600_000,
            summary_html: "<p>Summary.</p>",
            summary_text: "Summary.",
            section: Some("News"),
            categories: &[],
            image_url: None,
        };
        app.store.upsert_article(feed.id, &a, now).await.unwrap();
    }
    for s in subscribers {
        app.store
            .insert_subscriber(
                &NewSubscriber {
                    email: &EmailAddress::parse(s).unwrap(),
                    name: None,
                    status: SubscriberStatus::Confirmed,
                    source: "test",
                },
                now,
            )
            .await
            .unwrap();
    }
    feed.id
}

/// A subscriber in `status` (pending ones stay pending; others are confirmed first).
pub async fn subscriber(app: &App, address: &str, status: SubscriberStatus) -> i64 {
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
                name: Some("Reader"),
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

/// A digest stored ready to send, with fixed HTML and text, for `date`.
pub async fn digest(app: &App, date: &str) -> i64 {
    app.store
        .insert_composed_digest(date, "Breakfast today", HTML, TEXT, app.now_ms())
        .await
        .unwrap()
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
