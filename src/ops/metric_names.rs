//! The names of the metrics the service records: the contract with dashboards and alerts,
//! so keep them stable. A leaf module: every room may record a metric by name without
//! depending on the exporter in [`super::metrics`].

pub const MESSAGES_SENT: &str = "breakfast_messages_sent_total";
pub const MESSAGES_FAILED: &str = "breakfast_messages_failed_total";
pub const MESSAGES_RETRIED: &str = "breakfast_messages_retried_total";
pub const TRANSACTIONAL_SENT: &str = "breakfast_transactional_sent_total";
pub const TRANSACTIONAL_FAILED: &str = "breakfast_transactional_failed_total";
pub const TRANSACTIONAL_RETRIED: &str = "breakfast_transactional_retried_total";
pub const MAIL_SEND_SECONDS: &str = "breakfast_mail_send_seconds";
pub const FEED_FETCHES: &str = "breakfast_feed_fetches_total";
pub const HTTP_REQUESTS: &str = "breakfast_http_requests_total";
pub const HTTP_SECONDS: &str = "breakfast_http_request_duration_seconds";
pub const SUBSCRIBERS: &str = "breakfast_subscribers";
pub const JOBS: &str = "breakfast_jobs";
pub const OLDEST_WAITING: &str = "breakfast_queue_oldest_waiting_seconds";

/// Counters that exist from the start, so a dashboard shows 0 rather than "no data".
pub(super) const COUNTERS: &[(&str, &str)] = &[
    (
        MESSAGES_SENT,
        "Digest messages accepted by the mail transport.",
    ),
    (
        MESSAGES_FAILED,
        "Digest messages given up on (permanent refusal or attempts exhausted).",
    ),
    (
        MESSAGES_RETRIED,
        "Digest messages that failed for now and will be tried again.",
    ),
    (
        TRANSACTIONAL_SENT,
        "Single emails (confirmations, welcomes, tests) sent.",
    ),
    (TRANSACTIONAL_FAILED, "Single emails refused for good."),
    (
        TRANSACTIONAL_RETRIED,
        "Single emails that failed for now and will be retried.",
    ),
    (FEED_FETCHES, "Feed fetches by result."),
    (HTTP_REQUESTS, "HTTP requests by method, route and status."),
];
