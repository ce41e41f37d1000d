//! `breakfast digest preview`: what today's digest would look like, without sending it.

use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::NaiveDate;

use crate::{
    app::App,
    config::Config,
    edition::{self, ComposeOutcome},
};

pub struct PreviewArgs {
    pub date: Option<NaiveDate>,
    pub out: Option<PathBuf>,
    pub html: bool,
}

pub async fn preview(config: Config, args: PreviewArgs) -> anyhow::Result<()> {
    let app = super::open(config).await?;
    let result = preview_with(&app, args).await;
    app.close().await;
    result
}

/// Composes (or, once sent, reuses) the date's digest and writes its archive copy: the
/// email as every recipient gets it, with a neutral greeting and no personal links.
async fn preview_with(app: &App, args: PreviewArgs) -> anyhow::Result<()> {
    let date = match args.date {
        Some(d) => d,
        None => crate::edition::today(app).await,
    };
    let id = match edition::compose_for_date(app, date).await? {
        ComposeOutcome::Composed(id) => id,
        ComposeOutcome::AlreadySent(id) => {
            eprintln!("the digest for {date} has already been sent; showing it as sent");
            id
        }
        ComposeOutcome::SkippedNothingNew => {
            eprintln!(
                "nothing to send for {date}: no articles and no editor's note; \
                 fetch the feeds with `breakfast feeds fetch` or write an editor's note"
            );
            return Ok(());
        }
    };
    let d = app.store.digest(id).await?;
    let (html, text) = (d.html.unwrap_or_default(), d.text.unwrap_or_default());
    eprintln!(
        "digest {id} for {date}: {:?}, {} articles",
        d.subject.unwrap_or_default(),
        d.article_ids.len()
    );
    match args.out {
        Some(dir) => write_files(&dir, &html, &text),
        None if args.html => {
            println!("{html}");
            Ok(())
        }
        None => {
            println!("{text}");
            Ok(())
        }
    }
}

fn write_files(dir: &Path, html: &str, text: &str) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (name, body) in [("preview.html", html), ("preview.txt", text)] {
        let path = dir.join(name);
        std::fs::write(&path, body).with_context(|| format!("cannot write {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
