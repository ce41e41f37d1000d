//! An article an editor adds to an issue by its web address: the page is fetched with
//! the feeds' client and limits (so the same refusal of internal addresses applies),
//! its headline, summary and image read from its metadata and cleaned like feed
//! content, and stored with the issue in one step. Every failure is one sentence for
//! the editor, and nothing is stored.

use url::Url;

use super::fetch::{FetchError, fetch_page, human_bytes, human_duration};
use super::ingest::{client, limits};
use super::page_meta::page_meta;
use super::sanitize::text_to_html;
use crate::{app::App, store::articles::NewArticle};

/// Why an article was not added, in the editor's words.
#[derive(Debug, thiserror::Error)]
pub enum AddError {
    #[error("Enter the article's full web address, starting with https:// or http://.")]
    NotAUrl,
    #[error(
        "Refused: {0} is a loopback, private or link-local address. Breakfast does not fetch pages from internal addresses (an operator can allow one in ingest.allow_private)."
    )]
    Internal(String),
    #[error("The page did not answer within {0}. Nothing was added; try again later.")]
    TimedOut(String),
    #[error("The page is larger than {0}, more than Breakfast reads. Nothing was added.")]
    TooLarge(String),
    #[error("That address is not a web page: the server sent {0}. Nothing was added.")]
    NotHtml(String),
    #[error(
        "The page has no title (no og:title and no <title>), so there is no headline to show. Nothing was added."
    )]
    NoTitle,
    #[error("The page could not be fetched: {0}. Nothing was added.")]
    Fetch(String),
    #[error("The article could not be saved. Nothing was added.")]
    Store,
}

impl From<FetchError> for AddError {
    fn from(e: FetchError) -> Self {
        match e {
            FetchError::InvalidUrl { .. } | FetchError::UnsupportedScheme(_) => AddError::NotAUrl,
            FetchError::Internal { host } => AddError::Internal(host),
            FetchError::TimedOut(d) => AddError::TimedOut(human_duration(d)),
            FetchError::TooLarge { limit } => AddError::TooLarge(human_bytes(limit)),
            FetchError::NotHtml(what) => AddError::NotHtml(what),
            other => AddError::Fetch(other.to_string()),
        }
    }
}

/// Fetches `raw_url`, reads its metadata and adds the article to digest `digest_id`;
/// returns the article's id.
pub async fn add_article(app: &App, digest_id: i64, raw_url: &str) -> Result<i64, AddError> {
    let url = Url::parse(raw_url.trim()).map_err(|_| AddError::NotAUrl)?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(AddError::NotAUrl);
    }
    let client = client(app).map_err(|e| AddError::Fetch(format!("{e:#}")))?;
    let body = fetch_page(&client, url.as_str(), &limits(app)).await?;
    let meta = page_meta(&body, &url);
    let title = meta.title.ok_or(AddError::NoTitle)?;
    let summary = meta.description.unwrap_or_default();
    let summary_html = text_to_html(&summary);
    let dedup_key = format!("added-by-url:{url}");
    let article = NewArticle {
        dedup_key: &dedup_key,
        guid: None,
        link: Some(url.as_str()),
        title: &title,
        author: None,
        published_at: app.now_ms(),
        summary_html: &summary_html,
        summary_text: &summary,
        section: None,
        categories: &[],
        image_url: meta.image_url.as_deref(),
    };
    app.store
        .add_article_to_digest(digest_id, &article, app.now_ms())
        .await
        .map_err(|e| {
            tracing::warn!(digest = digest_id, error = %e, "storing an article added by URL failed");
            AddError::Store
        })
}
