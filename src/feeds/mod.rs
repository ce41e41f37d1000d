//! Feed ingestion: bytes from the network (`fetch`), articles from bytes
//! (`parse`), and safe markup from whatever a publisher wrote (`sanitize`).
//!
//! Nothing here touches the database, so the pipeline can be tested against
//! plain strings and a loopback server; the store decides what is new.

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
