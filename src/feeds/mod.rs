//! Feed ingestion: bytes from the network (`fetch`), articles from bytes
//! (`parse`), and safe markup from whatever a publisher wrote (`sanitize`).
//!
//! `fetch`, `parse` and `sanitize` touch no database, so the pipeline can be tested
//! against plain strings and a loopback server. `ingest` connects them to the store (the
//! configured feeds become rows, each fetch's articles are upserted, the store decides
//! what is new) and runs the polling loop.

pub mod by_url;
pub mod fetch;
pub mod ingest;
pub mod page_meta;
pub mod parse;
pub mod sanitize;

pub use fetch::{FetchError, FetchLimits, FetchOutcome, Validators, fetch_feed, http_client};
pub use parse::{
    ParseError, ParseOptions, ParsedArticle, ParsedFeed, SkipKind, SkippedEntry, parse_feed,
};
