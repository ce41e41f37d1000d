//! Getting a feed's bytes, politely and with hard limits.
//!
//! Feeds are fetched on a schedule from servers we do not control, so every
//! fetch is bounded in time and size, uses conditional GET so unchanged
//! feeds cost the publisher a 304, and fails with one line an operator can
//! act on.

use std::error::Error as _;
use std::path::Path;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Client, StatusCode, redirect};
use tokio::io::AsyncReadExt;
use url::Url;

use super::parse::looks_like_html;

/// Feeds we accept, in order of preference; `*/*` last because many
/// servers label feeds `text/plain` or `application/octet-stream`.
const ACCEPT: &str = "application/rss+xml, application/atom+xml, application/feed+json, \
                      application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, */*;q=0.5";

#[derive(Debug, Clone)]
pub struct FetchLimits {
    /// For the whole fetch, body included: a server dripping one byte a
    /// second must not hold a worker.
    pub timeout: Duration,
    /// Measured after decompression, so a gzip bomb is cut off too.
    pub max_bytes: u64,
    pub max_redirects: usize,
}

impl Default for FetchLimits {
    fn default() -> Self {
        FetchLimits {
            timeout: Duration::from_secs(20),
            max_bytes: 10 * 1024 * 1024,
            max_redirects: 5,
        }
    }
}

/// What the server told us last time, sent back so it can answer 304.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchOutcome {
    NotModified,
    Fetched {
        body: Vec<u8>,
        /// To be stored and passed to the next fetch.
        validators: Validators,
        status: u16,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("invalid feed URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("unsupported URL scheme {0:?} (use http, https or file)")]
    UnsupportedScheme(String),
    #[error("could not set up the HTTP client: {0}")]
    Client(String),
    #[error("could not connect to {host}: {detail}")]
    Connect { host: String, detail: String },
    #[error("timed out after {}", human_duration(*.0))]
    TimedOut(Duration),
    #[error("too many redirects (more than {0})")]
    TooManyRedirects(usize),
    #[error("HTTP {code} {reason}")]
    Status { code: u16, reason: String },
    #[error("feed larger than {}", human_bytes(*limit))]
    TooLarge { limit: u64 },
    #[error("not a feed: the server sent an HTML page")]
    HtmlPage,
    #[error("could not read {path}: {detail}")]
    File { path: String, detail: String },
    #[error("network error: {0}")]
    Network(String),
}

impl FetchError {
    /// Whether trying again later may succeed, so the scheduler can retry
    /// outages but stop hammering a feed that is gone or wrong.
    pub fn is_transient(&self) -> bool {
        match self {
            FetchError::Connect { .. } | FetchError::TimedOut(_) | FetchError::Network(_) => true,
            FetchError::Status { code, .. } => *code == 429 || *code >= 500,
            _ => false,
        }
    }
}

/// Builds the client shared by all feed fetches (connection reuse matters
/// when many feeds live on one host). Needs a rustls crypto provider to be
/// installed first.
pub fn http_client(limits: &FetchLimits, user_agent: &str) -> Result<Client, FetchError> {
    Client::builder()
        .user_agent(user_agent)
        .redirect(redirect::Policy::limited(limits.max_redirects))
        .timeout(limits.timeout)
        .connect_timeout(limits.timeout.min(Duration::from_secs(10)))
        .gzip(true)
        .build()
        .map_err(|e| FetchError::Client(error_chain(&e)))
}

/// Fetches `url` (http, https or file). An unchanged feed comes back as
/// `NotModified` without a body.
pub async fn fetch_feed(
    client: &Client,
    url: &str,
    validators: &Validators,
    limits: &FetchLimits,
) -> Result<FetchOutcome, FetchError> {
    let parsed = Url::parse(url.trim()).map_err(|e| FetchError::InvalidUrl {
        url: url.to_owned(),
        reason: e.to_string(),
    })?;
    let fetch = async {
        match parsed.scheme() {
            "http" | "https" => fetch_http(client, parsed, validators, limits).await,
            "file" => fetch_file(&parsed, validators, limits).await,
            other => Err(FetchError::UnsupportedScheme(other.to_owned())),
        }
    };
    let outcome = tokio::time::timeout(limits.timeout, fetch)
        .await
        .map_err(|_| FetchError::TimedOut(limits.timeout))??;
    reject_html(outcome)
}

/// A feed never starts like an HTML page, whatever its Content-Type says;
/// catching this here names the usual cause (moved blog, login wall).
fn reject_html(outcome: FetchOutcome) -> Result<FetchOutcome, FetchError> {
    match &outcome {
        FetchOutcome::Fetched { body, .. } if looks_like_html(body) => Err(FetchError::HtmlPage),
        _ => Ok(outcome),
    }
}

async fn fetch_http(
    client: &Client,
    url: Url,
    validators: &Validators,
    limits: &FetchLimits,
) -> Result<FetchOutcome, FetchError> {
    let host = url.host_str().unwrap_or_default().to_owned();
    let response = client
        .get(url)
        .header(header::ACCEPT, ACCEPT)
        .headers(conditional_headers(validators))
        .send()
        .await
        .map_err(|e| classify(&e, &host, limits))?;
    let status = response.status();
    if status == StatusCode::NOT_MODIFIED {
        return Ok(FetchOutcome::NotModified);
    }
    if !status.is_success() {
        return Err(FetchError::Status {
            code: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("").to_owned(),
        });
    }
    if response
        .content_length()
        .is_some_and(|len| len > limits.max_bytes)
    {
        return Err(FetchError::TooLarge {
            limit: limits.max_bytes,
        });
    }
    let validators = response_validators(response.headers());
    let body = read_capped(response, &host, limits).await?;
    Ok(FetchOutcome::Fetched {
        body,
        validators,
        status: status.as_u16(),
    })
}

fn conditional_headers(validators: &Validators) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let pairs = [
        (header::IF_NONE_MATCH, &validators.etag),
        (header::IF_MODIFIED_SINCE, &validators.last_modified),
    ];
    for (name, value) in pairs {
        // A stored validator that is not a valid header value is useless;
        // dropping it costs a full fetch, not a failure.
        if let Some(value) = value.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
            headers.insert(name, value);
        }
    }
    headers
}

fn response_validators(headers: &HeaderMap) -> Validators {
    let get = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .map(str::to_owned)
    };
    Validators {
        etag: get(header::ETAG),
        last_modified: get(header::LAST_MODIFIED),
    }
}

/// Reads the body chunk by chunk so an oversize feed is abandoned at the
/// limit rather than buffered whole.
async fn read_capped(
    response: reqwest::Response,
    host: &str,
    limits: &FetchLimits,
) -> Result<Vec<u8>, FetchError> {
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| classify(&e, host, limits))?;
        if body.len() as u64 + chunk.len() as u64 > limits.max_bytes {
            return Err(FetchError::TooLarge {
                limit: limits.max_bytes,
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn classify(err: &reqwest::Error, host: &str, limits: &FetchLimits) -> FetchError {
    if err.is_timeout() {
        FetchError::TimedOut(limits.timeout)
    } else if err.is_redirect() {
        FetchError::TooManyRedirects(limits.max_redirects)
    } else if err.is_connect() {
        FetchError::Connect {
            host: host.to_owned(),
            detail: innermost_cause(err),
        }
    } else {
        FetchError::Network(error_chain(err))
    }
}

/// reqwest wraps the useful part ("connection refused", "invalid peer
/// certificate") several layers down.
fn innermost_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut current = err;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}

fn error_chain(err: &reqwest::Error) -> String {
    let mut parts = vec![message_without_url(err)];
    let mut source = err.source();
    while let Some(cause) = source {
        parts.push(cause.to_string());
        source = cause.source();
    }
    parts.dedup();
    parts.join(": ")
}

/// The URL is already in the operator's context; repeating it makes the
/// message wrap.
fn message_without_url(err: &reqwest::Error) -> String {
    let message = err.to_string();
    match err.url() {
        Some(url) => message.replace(&format!(" for url ({url})"), ""),
        None => message,
    }
}

/// Local feeds are for operators (static exports, tests); the file's
/// modification time doubles as its Last-Modified so an unchanged file is
/// not re-parsed.
async fn fetch_file(
    url: &Url,
    validators: &Validators,
    limits: &FetchLimits,
) -> Result<FetchOutcome, FetchError> {
    let path = url.to_file_path().map_err(|()| FetchError::InvalidUrl {
        url: url.to_string(),
        reason: "not a local file path".into(),
    })?;
    let file_error = |e: std::io::Error| FetchError::File {
        path: path.display().to_string(),
        detail: io_detail(&e),
    };
    let metadata = tokio::fs::metadata(&path).await.map_err(file_error)?;
    if !metadata.is_file() {
        return Err(file_error(std::io::Error::other("not a regular file")));
    }
    let last_modified = metadata.modified().ok().map(http_date);
    if last_modified.is_some() && last_modified == validators.last_modified {
        return Ok(FetchOutcome::NotModified);
    }
    if metadata.len() > limits.max_bytes {
        return Err(FetchError::TooLarge {
            limit: limits.max_bytes,
        });
    }
    let body = read_file_capped(&path, limits.max_bytes)
        .await
        .map_err(file_error)?;
    if body.len() as u64 > limits.max_bytes {
        return Err(FetchError::TooLarge {
            limit: limits.max_bytes,
        });
    }
    Ok(FetchOutcome::Fetched {
        body,
        validators: Validators {
            etag: None,
            last_modified,
        },
        status: 200,
    })
}

/// Reads one byte past the limit, so a file that grew after `metadata`
/// is detected instead of silently cut.
async fn read_file_capped(path: &Path, max_bytes: u64) -> std::io::Result<Vec<u8>> {
    let file = tokio::fs::File::open(path).await?;
    let mut body = Vec::new();
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut body)
        .await?;
    Ok(body)
}

fn io_detail(err: &std::io::Error) -> String {
    match err.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => err.to_string(),
    }
}

fn http_date(time: SystemTime) -> String {
    DateTime::<Utc>::from(time)
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

fn human_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

fn human_bytes(bytes: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    const KIB: u64 = 1024;
    match bytes {
        b if b >= MIB && b % MIB == 0 => format!("{} MiB", b / MIB),
        b if b >= MIB => format!("{:.1} MiB", b as f64 / MIB as f64),
        b if b >= KIB && b % KIB == 0 => format!("{} KiB", b / KIB),
        b => format!("{b} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::http::{HeaderMap as AxumHeaders, StatusCode as AxumStatus, header as h};
    use axum::response::{IntoResponse, Response};
    use axum::routing::get;

    const FEED: &str =
        r#"<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>"#;
    const ETAG: &str = "\"v1\"";

    fn install_crypto() {
        // Installing twice fails harmlessly; tests run in parallel.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }

    async fn feed(headers: AxumHeaders) -> Response {
        if headers.get(h::IF_NONE_MATCH).is_some_and(|v| v == ETAG) {
            return AxumStatus::NOT_MODIFIED.into_response();
        }
        (
            [(h::ETAG, ETAG), (h::CONTENT_TYPE, "application/rss+xml")],
            FEED,
        )
            .into_response()
    }

    async fn html() -> Response {
        (
            [(h::CONTENT_TYPE, "text/html")],
            "<!DOCTYPE html><html><body>Sign in</body></html>",
        )
            .into_response()
    }

    async fn slow_drip() -> Response {
        let drip = futures::stream::unfold(0u32, |n| async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            Some((Ok::<_, std::io::Error>(vec![b' ']), n + 1))
        });
        Body::from_stream(drip).into_response()
    }

    async fn huge() -> Response {
        // Streamed without Content-Length, so only the running count can
        // catch it.
        let chunks =
            futures::stream::iter((0..64).map(|_| Ok::<_, std::io::Error>(vec![b'x'; 64 * 1024])));
        Body::from_stream(chunks).into_response()
    }

    async fn serve() -> String {
        let app = Router::new()
            .route("/feed.xml", get(feed))
            .route("/html", get(html))
            .route("/slow", get(slow_drip))
            .route("/huge", get(huge))
            .route(
                "/loop",
                get(|| async { axum::response::Redirect::temporary("/loop") }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}")
    }

    fn limits() -> FetchLimits {
        FetchLimits {
            timeout: Duration::from_secs(2),
            max_bytes: 1024 * 1024,
            max_redirects: 3,
        }
    }

    async fn fetch(url: &str, validators: &Validators) -> Result<FetchOutcome, FetchError> {
        install_crypto();
        let client = http_client(&limits(), "breakfast-test/1").unwrap();
        fetch_feed(&client, url, validators, &limits()).await
    }

    #[tokio::test]
    async fn conditional_get_round_trip() {
        let base = serve().await;
        let url = format!("{base}/feed.xml");
        let first = fetch(&url, &Validators::default()).await.unwrap();
        let FetchOutcome::Fetched {
            body,
            validators,
            status,
        } = first
        else {
            panic!("expected a body, got {first:?}");
        };
        assert_eq!((body.as_slice(), status), (FEED.as_bytes(), 200));
        assert_eq!(validators.etag.as_deref(), Some(ETAG));
        let second = fetch(&url, &validators).await.unwrap();
        assert_eq!(second, FetchOutcome::NotModified);
    }

    #[tokio::test]
    async fn http_failures_have_operator_messages() {
        let base = serve().await;
        let cases = [
            ("/missing", "HTTP 404 Not Found", false),
            ("/html", "not a feed: the server sent an HTML page", false),
            ("/huge", "feed larger than 1 MiB", false),
            ("/loop", "too many redirects (more than 3)", false),
            ("/slow", "timed out after 2s", true),
        ];
        for (path, message, transient) in cases {
            let err = fetch(&format!("{base}{path}"), &Validators::default())
                .await
                .unwrap_err();
            assert_eq!(err.to_string(), message, "{path}");
            assert_eq!(err.is_transient(), transient, "{path}");
        }
    }

    #[tokio::test]
    async fn connection_refused_names_the_host() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let err = fetch(&format!("http://{addr}/feed"), &Validators::default())
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("could not connect to 127.0.0.1: "),
            "{err}"
        );
        assert!(err.is_transient());
    }

    #[tokio::test]
    async fn bad_urls_and_schemes() {
        let err = fetch("not a url", &Validators::default())
            .await
            .unwrap_err();
        assert!(err.to_string().starts_with("invalid feed URL"), "{err}");
        let err = fetch("ftp://x.example/feed", &Validators::default())
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "unsupported URL scheme \"ftp\" (use http, https or file)"
        );
    }

    #[tokio::test]
    async fn file_urls_are_read_and_capped() {
        let dir = std::env::temp_dir().join(format!("breakfast-feeds-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("feed.xml");
        std::fs::write(&path, FEED).unwrap();
        let url = Url::from_file_path(&path).unwrap().to_string();

        let first = fetch(&url, &Validators::default()).await.unwrap();
        let FetchOutcome::Fetched {
            body, validators, ..
        } = first
        else {
            panic!("expected a body, got {first:?}");
        };
        assert_eq!(body, FEED.as_bytes());
        assert!(validators.last_modified.is_some());
        assert_eq!(
            fetch(&url, &validators).await.unwrap(),
            FetchOutcome::NotModified
        );

        let big = dir.join("big.xml");
        std::fs::write(&big, vec![b' '; 2 * 1024 * 1024]).unwrap();
        let err = fetch(
            Url::from_file_path(&big).unwrap().as_str(),
            &Validators::default(),
        )
        .await
        .unwrap_err();
        assert_eq!(err.to_string(), "feed larger than 1 MiB");

        let err = fetch(
            Url::from_file_path(dir.join("absent.xml"))
                .unwrap()
                .as_str(),
            &Validators::default(),
        )
        .await
        .unwrap_err();
        assert!(
            err.to_string().ends_with("absent.xml: no such file"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn human_units() {
        assert_eq!(human_bytes(10 * 1024 * 1024), "10 MiB");
        assert_eq!(human_bytes(1536 * 1024), "1.5 MiB");
        assert_eq!(human_bytes(512), "512 bytes");
        assert_eq!(human_duration(Duration::from_secs(20)), "20s");
        assert_eq!(human_duration(Duration::from_millis(1500)), "1500ms");
    }
}
