//! Measures what one recipient costs once a digest is rendered: greeting, two signed
//! links and two copies of the stored parts. Run with
//! `cargo run --release --bin bench_personalise [-- RECIPIENTS]`.
//!
//! It composes a real 30-article digest through the service (SQLite in a temporary
//! folder), loads the `Personaliser` once, then personalises for every recipient, and
//! prints the cost per recipient next to the cost of rendering the template once.

mod common;

use std::time::Instant;

use breakfast::{
    App,
    digest::Personaliser,
    edition::{ComposeOutcome, compose_for_date},
    store::articles::NewArticle,
};

const ARTICLES: usize = 30;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let recipients: i64 = common::size_arg(100_000)?;
    common::run(
        common::Database::Scratch,
        &format!("[digest]\nmax_articles = {ARTICLES}"),
        |app, dir| run(app, dir, recipients),
    )
    .await
}

async fn run(app: App, _dir: std::path::PathBuf, recipients: i64) -> anyhow::Result<()> {
    seed(&app).await?;
    let date = breakfast::edition::today(&app).await;

    let started = Instant::now();
    let ComposeOutcome::Composed(id) = compose_for_date(&app, date).await? else {
        anyhow::bail!("the digest did not compose");
    };
    let compose_ms = started.elapsed().as_secs_f64() * 1e3;
    let digest = app.store.digest(id).await?;

    let started = Instant::now();
    let personaliser = Personaliser::load(&app, id).await?;
    let load_ms = started.elapsed().as_secs_f64() * 1e3;

    let started = Instant::now();
    let mut bytes = 0usize;
    for subscriber in 1..=recipients {
        let name = (subscriber % 3 != 0).then_some("Ana");
        let (subject, html, text) = personaliser.render_for(subscriber, name);
        bytes += subject.len() + html.len() + text.len();
    }
    let total = started.elapsed();
    let per_us = total.as_secs_f64() * 1e6 / recipients as f64;

    println!(
        "digest: {} articles, HTML {} KiB, text {} KiB",
        digest.article_ids.len(),
        digest.html.as_deref().unwrap_or("").len() / 1024,
        digest.text.as_deref().unwrap_or("").len() / 1024
    );
    println!("compose + render once: {compose_ms:.1} ms; Personaliser::load: {load_ms:.2} ms");
    println!(
        "personalised {recipients} recipients in {:.2} s: {per_us:.2} µs per recipient \
         ({:.0} MiB of mail produced)",
        total.as_secs_f64(),
        bytes as f64 / (1024.0 * 1024.0)
    );
    app.close().await;
    Ok(())
}

/// A feed of 30 articles published over the last hours, with summaries, authors and
/// pictures, spread over four sections.
async fn seed(app: &App) -> anyhow::Result<()> {
    let now = app.now_ms();
    let sections = ["Britain", "World", "Culture", "Labour"];
    let mut feed_ids = Vec::new();
    for (i, s) in sections.iter().enumerate() {
        let feed = app
            .store
            .insert_feed(&format!("https://paper.example/{i}.xml"), s, Some(s), now)
            .await?;
        feed_ids.push(feed.id);
    }
    let summary = "Hundreds of tenants met on Thursday evening to plan a coordinated response \
                   to the latest round of rent increases, which the council has refused to cap \
                   despite a motion passed last year. Organisers say the next step is a rent strike.";
    for n in 0..ARTICLES {
        let link = format!("https://paper.example/articles/{n}");
        let title = format!("Article {n}: tenants organise against the rent rise");
        let image = format!("https://img.example/{n}.jpg");
        let author = format!("Writer {n}");
        app.store
            .upsert_article(
                feed_ids[n % feed_ids.len()],
                &NewArticle {
                    dedup_key: &link,
                    guid: None,
                    link: Some(&link),
                    title: &title,
                    author: Some(&author),
                    published_at: now - (n as i64 + 1) * 60_000,
                    summary_html: "",
                    summary_text: summary,
                    section: Some(sections[n % sections.len()]),
                    categories: &[],
                    image_url: (n % 2 == 0).then_some(image.as_str()),
                },
                now,
            )
            .await?;
    }
    Ok(())
}
