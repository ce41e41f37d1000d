//! Getting a feed's bytes, politely and with hard limits.
//!
//! Feeds are fetched on a schedule from servers we do not control, so every
//! fetch is bounded in time and size, uses conditional GET so unchanged
//! feeds cost the publisher a 304, and fails with one line an operator can
//! act on.
//!
//! Feed URLs come from editors and redirects from any publisher, so the fetcher never
//! connects to an internal address (loopback, private, link-local, multicast,
//! unspecified: [`crate::domain::net::is_internal`]) unless `ingest.allow_private` lists
//! it. The check is made on the resolved address by the client's own resolver, so it
//! holds at connect time, after every redirect and whatever a name resolves to next.

use std::error::Error as _;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Client, StatusCode, redirect};
use tokio::io::AsyncReadExt;
use url::Url;

use super::parse::looks_like_html;
use crate::domain::net::{IpRange, canonical, is_internal};

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
    /// Internal hosts and ranges the operator allows (`ingest.allow_private`).
    pub allow_private: AllowList,
}

impl Default for FetchLimits {
    fn default() -> Self {
        FetchLimits {
            timeout: Duration::from_secs(20),
            max_bytes: 10 * 1024 * 1024,
            max_redirects: 5,
            allow_private: AllowList::default(),
        }
    }
}

/// The internal hosts feeds may come from anyway: host names (matched as written in the
/// URL) and addresses or CIDR ranges (matched against the resolved address).
#[derive(Debug, Clone, Default)]
pub struct AllowList {
    hosts: Vec<String>,
    ranges: Vec<IpRange>,
}

impl AllowList {
    /// Entries that parse as an address or range are ranges; the rest are host names.
    pub fn new(entries: &[String]) -> Self {
        let mut list = AllowList::default();
        for entry in entries.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
            match entry.parse::<IpRange>() {
                Ok(range) => list.ranges.push(range),
                Err(_) => list
                    .hosts
                    .push(entry.trim_end_matches('.').to_ascii_lowercase()),
            }
        }
        list
    }

    /// Whether `host`, resolved to `ip`, may be fetched from.
    pub fn permits(&self, host: &str, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        !is_internal(ip)
            || self.ranges.iter().any(|r| r.contains(ip))
            || self
                .hosts
                .iter()
                .any(|h| h.eq_ignore_ascii_case(host.trim_end_matches('.')))
    }
}

/// Why a fetch was stopped before connecting; found again in reqwest's error chain.
#[derive(Debug, thiserror::Error)]
#[error("{host} is an internal address")]
struct InternalAddress {
    host: String,
}

/// Resolves names as usual, then keeps only the addresses the allow-list permits; none
/// left is an error, so the connection is never attempted.
struct GuardedResolver {
    allow: AllowList,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow = self.allow.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let permitted: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|a| allow.permits(&host, a.ip()))
                .collect();
            if permitted.is_empty() {
                let refused: Box<dyn std::error::Error + Send + Sync> =
                    Box::new(InternalAddress { host });
                return Err(refused);
            }
            Ok(Box::new(permitted.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// An address written into the URL is never resolved, so it is checked here (for the
/// first URL and for every redirect).
fn literal_refused(url: &Url, allow: &AllowList) -> Option<InternalAddress> {
    let ip: IpAddr = match url.host()? {
        url::Host::Ipv4(v4) => v4.into(),
        url::Host::Ipv6(v6) => v6.into(),
        url::Host::Domain(_) => return None,
    };
    let host = url.host_str().unwrap_or_default().to_owned();
    (!allow.permits(&host, ip)).then_some(InternalAddress { host })
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
    /// Deliberately the same whatever the port or the reason (refused, reset, closed), so
    /// that feed errors cannot be used to map which ports of a host are open.
    #[error("could not connect to {host}{detail}")]
    Connect { host: String, detail: String },
    #[error(
        "refused to fetch from {host}: it is a loopback, private or link-local address (list it in ingest.allow_private to allow an intranet feed)"
    )]
    Internal { host: String },
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
    #[error("not a web page: the server sent {0}")]
    NotHtml(String),
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
    let allow = limits.allow_private.clone();
    let max_redirects = limits.max_redirects;
    let policy = redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() > max_redirects {
            attempt.error(TooManyRedirects)
        } else if let Some(refused) = literal_refused(attempt.url(), &allow) {
            attempt.error(refused)
        } else {
            attempt.follow()
        }
    });
    Client::builder()
        .user_agent(user_agent)
        .redirect(policy)
        .dns_resolver(Arc::new(GuardedResolver {
            allow: limits.allow_private.clone(),
        }))
        // A proxy would connect for us, past the check on the resolved address.
        .no_proxy()
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
            "http" | "https" => fetch_http(client, parsed, validators, limits, ACCEPT)
                .await
                .map(|(outcome, _)| outcome),
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

/// Web pages, for an article an editor adds by its URL.
const ACCEPT_PAGE: &str = "text/html, application/xhtml+xml;q=0.9, */*;q=0.1";

/// Fetches the web page at `url` (http or https only) through the same client, limits
/// and address policy as feeds, and insists on HTML: an editor adding an article by
/// URL must get a clear answer for an image, a PDF or a feed.
pub async fn fetch_page(
    client: &Client,
    url: &str,
    limits: &FetchLimits,
) -> Result<Vec<u8>, FetchError> {
    let parsed = Url::parse(url.trim()).map_err(|e| FetchError::InvalidUrl {
        url: url.to_owned(),
        reason: e.to_string(),
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(FetchError::UnsupportedScheme(parsed.scheme().to_owned()));
    }
    let none = Validators::default();
    let fetch = fetch_http(client, parsed, &none, limits, ACCEPT_PAGE);
    let (body, content_type) = match tokio::time::timeout(limits.timeout, fetch)
        .await
        .map_err(|_| FetchError::TimedOut(limits.timeout))??
    {
        (FetchOutcome::Fetched { body, .. }, content_type) => (body, content_type),
        (FetchOutcome::NotModified, _) => (Vec::new(), None),
    };
    let html_type = content_type.as_deref().is_some_and(|t| {
        let t = t.to_ascii_lowercase();
        t.starts_with("text/html") || t.starts_with("application/xhtml+xml")
    });
    if !html_type && !looks_like_html(&body) {
        let what = content_type.map_or_else(|| "no content type".to_owned(), |t| format!("“{t}”"));
        return Err(FetchError::NotHtml(what));
    }
    Ok(body)
}

#[derive(Debug, thiserror::Error)]
#[error("too many redirects")]
struct TooManyRedirects;

async fn fetch_http(
    client: &Client,
    url: Url,
    validators: &Validators,
    limits: &FetchLimits,
    accept: &str,
) -> Result<(FetchOutcome, Option<String>), FetchError> {
    let host = url.host_str().unwrap_or_default().to_owned();
    if let Some(refused) = literal_refused(&url, &limits.allow_private) {
        return Err(FetchError::Internal { host: refused.host });
    }
    let response = client
        .get(url)
        .header(header::ACCEPT, accept)
        .headers(conditional_headers(validators))
        .send()
        .await
        .map_err(|e| classify(&e, &host, limits))?;
    let status = response.status();
    if status == StatusCode::NOT_MODIFIED {
        return Ok((FetchOutcome::NotModified, None));
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
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = read_capped(response, &host, limits).await?;
    let fetched = FetchOutcome::Fetched {
        body,
        validators,
        status: status.as_u16(),
    };
    Ok((fetched, content_type))
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
    if let Some(refused) = find_cause::<InternalAddress>(err) {
        return FetchError::Internal {
            host: refused.host.clone(),
        };
    }
    if err.is_timeout() {
        FetchError::TimedOut(limits.timeout)
    } else if err.is_redirect() {
        FetchError::TooManyRedirects(limits.max_redirects)
    } else if err.is_connect() || err.is_request() {
        FetchError::Connect {
            host: host.to_owned(),
            detail: tls_detail(&innermost_cause(err)),
        }
    } else {
        FetchError::Network(error_chain(err))
    }
}

/// The first error of type `E` in `err`'s chain of causes.
fn find_cause<E: std::error::Error + 'static>(err: &reqwest::Error) -> Option<&E> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<E>() {
            return Some(found);
        }
        current = e.source();
    }
    None
}

/// Only a TLS failure ("invalid peer certificate") is worth naming: it is the operator's
/// to fix, and it says nothing about which ports are open. Refused, reset or closed
/// connections all read alike.
fn tls_detail(cause: &str) -> String {
    let lower = cause.to_ascii_lowercase();
    if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake") {
        format!(": {cause}")
    } else {
        String::new()
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

pub(crate) fn human_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

pub(crate) fn human_bytes(bytes: u64) -> String {
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

    /// Tests fetch from loopback, so they allow 127.0.0.1 (and only that) explicitly.
    fn limits() -> FetchLimits {
        FetchLimits {
            timeout: Duration::from_secs(2),
            max_bytes: 1024 * 1024,
            max_redirects: 3,
            allow_private: AllowList::new(&["127.0.0.1".to_string()]),
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
        assert_eq!(err.to_string(), "could not connect to 127.0.0.1", "{err}");
        assert!(err.is_transient());
    }

    /// A port that accepts and hangs up reads like one that refuses: otherwise the error
    /// text tells a feed's author which internal ports have something listening.
    #[tokio::test]
    async fn a_port_that_hangs_up_reads_like_a_refused_one() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                drop(socket);
            }
        });
        let err = fetch(&format!("http://{addr}/feed"), &Validators::default())
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "could not connect to 127.0.0.1", "{err}");
        assert!(err.is_transient());
    }

    /// An internal-only server on another loopback address, not allow-listed, counting
    /// the requests that reach it.
    async fn internal_server() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = hits.clone();
        let app = Router::new().fallback(get(move || {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async { ([(h::CONTENT_TYPE, "application/rss+xml")], FEED).into_response() }
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.2:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (format!("http://{addr}"), hits)
    }

    #[tokio::test]
    async fn internal_addresses_are_refused_directly_and_after_redirects() {
        let (internal, hits) = internal_server().await;
        let target = format!("{internal}/secret");
        let redirect_to = target.clone();
        let app = Router::new().route(
            "/moved",
            get(move || async move { axum::response::Redirect::temporary(&redirect_to) }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let allowed = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

        let host = internal
            .trim_start_matches("http://")
            .split(':')
            .next()
            .unwrap();
        let refused = format!(
            "refused to fetch from {host}: it is a loopback, private or link-local address \
             (list it in ingest.allow_private to allow an intranet feed)"
        );
        for url in [target.clone(), format!("{allowed}/moved")] {
            let err = fetch(&url, &Validators::default()).await.unwrap_err();
            assert_eq!(err.to_string(), refused, "{url}");
            assert!(!err.is_transient());
        }
        // A name is checked on what it resolves to, by the client's resolver: localhost
        // is loopback, and here only 127.0.0.3 is allowed.
        let strict = FetchLimits {
            allow_private: AllowList::new(&["127.0.0.3".to_string()]),
            ..limits()
        };
        let client = http_client(&strict, "breakfast-test/1").unwrap();
        let port = internal.rsplit(':').next().unwrap();
        let err = fetch_feed(
            &client,
            &format!("http://localhost:{port}/"),
            &Validators::default(),
            &strict,
        )
        .await
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("refused to fetch from localhost:"),
            "{err}"
        );
        assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 0);
    }

    #[test]
    fn allow_list_takes_names_and_ranges() {
        let list = AllowList::new(&["feeds.intranet".into(), "10.1.0.0/16".into()]);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(list.permits("feeds.intranet", ip("10.9.9.9")));
        assert!(list.permits("other", ip("10.1.2.3")));
        assert!(!list.permits("other", ip("10.2.0.1")));
        assert!(!list.permits("other", ip("169.254.169.254")));
        assert!(list.permits("news.example", ip("93.184.216.34")));
        assert!(!AllowList::default().permits("x", ip("::1")));
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
