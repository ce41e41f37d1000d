//! Provider webhooks: check each provider's signature or secret, then turn its documented
//! payload into [`ProviderEvent`]s. Nothing here touches the store; a request that fails
//! these checks changes nothing.

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;

use super::parse::Kind;
use crate::config::BouncesConfig;

/// One bounce or complaint event from a provider's webhook, already authenticated.
#[derive(Debug, Clone)]
pub struct ProviderEvent {
    /// The provider's id for the event: replays of it change nothing.
    pub key: String,
    pub kind: Kind,
    pub recipient: String,
    pub status: Option<String>,
    pub detail: String,
    /// Headers or tags the provider echoed back, searched for our VERP token.
    pub echoed: String,
}

type HmacSha256 = Hmac<Sha256>;

/// Why a webhook was refused (answered 401 and logged with this text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("this provider's webhook is not configured")]
    NotConfigured,
    #[error("missing {0}")]
    Missing(&'static str),
    #[error("the signature does not verify")]
    BadSignature,
    #[error("the timestamp is outside the allowed window (replayed or clock skew)")]
    Stale,
    #[error("{0}")]
    Refused(String),
}

/// The body could not be read as the provider documents it (answered 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PayloadError(pub String);

/// The events of a body whose signature has been checked (on arrival), read the way its
/// provider documents it. The one place that maps a provider to its parser, so that a
/// body stored as unreadable is re-read later exactly as it would have been on arrival.
/// For `ses` the body is the whole SNS envelope, as posted.
pub fn events_of(provider: &str, body: &[u8]) -> Result<Vec<ProviderEvent>, PayloadError> {
    match provider {
        "generic" => generic_events(body),
        "mailgun" => mailgun_events(body),
        "postmark" => postmark_events(body),
        "sendgrid" => sendgrid_events(body),
        "ses" => ses_events(&sns_message(body)?),
        other => Err(PayloadError(format!("unknown provider {other:?}"))),
    }
}

fn json(body: &[u8]) -> Result<Value, PayloadError> {
    serde_json::from_slice(body).map_err(|e| PayloadError(format!("the body is not JSON: {e}")))
}

fn within_window(ts_secs: i64, now_ms: i64, max_age_secs: i64) -> Result<(), AuthError> {
    if (now_ms / 1000 - ts_secs).abs() > max_age_secs.max(1) {
        return Err(AuthError::Stale);
    }
    Ok(())
}

fn hmac_hex_ok(key: &[u8], data: &[u8], hex_sig: &str) -> bool {
    let Ok(sig) = hex::decode(hex_sig.trim()) else {
        return false;
    };
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key).expect("any key length");
    mac.update(data);
    mac.verify_slice(&sig).is_ok()
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

// ----- generic -------------------------------------------------------------------------

/// `X-Breakfast-Timestamp` (Unix seconds) and `X-Breakfast-Signature` = hex
/// HMAC-SHA256(generic_secret, "TIMESTAMP.BODY").
pub fn verify_generic(
    cfg: &BouncesConfig,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now_ms: i64,
) -> Result<(), AuthError> {
    if cfg.generic_secret.is_empty() {
        return Err(AuthError::NotConfigured);
    }
    let ts = timestamp.ok_or(AuthError::Missing("X-Breakfast-Timestamp"))?;
    let sig = signature.ok_or(AuthError::Missing("X-Breakfast-Signature"))?;
    let mut signed = format!("{}.", ts.trim()).into_bytes();
    signed.extend_from_slice(body);
    if !hmac_hex_ok(cfg.generic_secret.expose().as_bytes(), &signed, sig) {
        return Err(AuthError::BadSignature);
    }
    let ts: i64 = ts.trim().parse().map_err(|_| AuthError::Stale)?;
    within_window(ts, now_ms, cfg.webhook_max_age_secs)
}

/// `{"id", "type": hard|soft|complaint, "email", "status"?, "reason"?, "token"?}` or an
/// array of them.
pub fn generic_events(body: &[u8]) -> Result<Vec<ProviderEvent>, PayloadError> {
    let v = json(body)?;
    let items = match v {
        Value::Array(items) => items,
        one => vec![one],
    };
    items
        .iter()
        .map(|e| {
            let kind = match str_of(e, "type") {
                "hard" => Kind::Hard,
                "soft" => Kind::Soft,
                "complaint" => Kind::Complaint,
                other => {
                    return Err(PayloadError(format!(
                        "type {other:?}: expected hard, soft or complaint"
                    )));
                }
            };
            let id = str_of(e, "id");
            if id.is_empty() || str_of(e, "email").is_empty() {
                return Err(PayloadError("each event needs an id and an email".into()));
            }
            Ok(ProviderEvent {
                key: id.to_string(),
                kind,
                recipient: str_of(e, "email").to_string(),
                status: e.get("status").and_then(Value::as_str).map(str::to_string),
                detail: non_empty(str_of(e, "reason"), kind.as_str()),
                echoed: token_hint(str_of(e, "token")),
            })
        })
        .collect()
}

fn non_empty(s: &str, fallback: &str) -> String {
    if s.trim().is_empty() {
        fallback.to_string()
    } else {
        s.to_string()
    }
}

/// A bare token written so that [`super::verp::find_ref`] recognises it.
fn token_hint(token: &str) -> String {
    if token.is_empty() {
        String::new()
    } else {
        format!("{}: {token}", crate::mail::BOUNCE_REF_HEADER)
    }
}

// ----- Mailgun -------------------------------------------------------------------------

/// Mailgun signs `timestamp + token` with the webhook signing key (hex HMAC-SHA256).
pub fn verify_mailgun(cfg: &BouncesConfig, body: &[u8], now_ms: i64) -> Result<(), AuthError> {
    if cfg.mailgun_signing_key.is_empty() {
        return Err(AuthError::NotConfigured);
    }
    let v: Value = serde_json::from_slice(body).map_err(|_| AuthError::Missing("signature"))?;
    let s = v.get("signature").ok_or(AuthError::Missing("signature"))?;
    let ts = s
        .get("timestamp")
        .and_then(|t| {
            t.as_str()
                .map(str::to_string)
                .or_else(|| t.as_i64().map(|n| n.to_string()))
        })
        .ok_or(AuthError::Missing("signature.timestamp"))?;
    let token = s
        .get("token")
        .and_then(Value::as_str)
        .ok_or(AuthError::Missing("signature.token"))?;
    let sig = s
        .get("signature")
        .and_then(Value::as_str)
        .ok_or(AuthError::Missing("signature.signature"))?;
    let signed = format!("{ts}{token}");
    if !hmac_hex_ok(
        cfg.mailgun_signing_key.expose().as_bytes(),
        signed.as_bytes(),
        sig,
    ) {
        return Err(AuthError::BadSignature);
    }
    within_window(
        ts.parse().map_err(|_| AuthError::Stale)?,
        now_ms,
        cfg.webhook_max_age_secs,
    )
}

pub fn mailgun_events(body: &[u8]) -> Result<Vec<ProviderEvent>, PayloadError> {
    let v = json(body)?;
    let e = v
        .get("event-data")
        .ok_or_else(|| PayloadError("no event-data".into()))?;
    let kind = match (str_of(e, "event"), str_of(e, "severity")) {
        ("complained", _) => Kind::Complaint,
        ("failed", "permanent") => Kind::Hard,
        ("failed", _) => Kind::Soft,
        _ => return Ok(Vec::new()),
    };
    let status = e.get("delivery-status");
    let code = status
        .and_then(|s| s.get("enhanced-code").or_else(|| s.get("code")))
        .map(|c| {
            c.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| c.to_string())
        });
    let detail = status
        .map(|s| non_empty(str_of(s, "message"), str_of(s, "description")))
        .unwrap_or_default();
    Ok(vec![ProviderEvent {
        key: non_empty(str_of(e, "id"), &hex::encode(sha(body))),
        kind,
        recipient: str_of(e, "recipient").to_string(),
        status: code.and_then(|c| super::parse::find_status_code(&c).or(Some(c))),
        detail: non_empty(
            &detail,
            non_empty(str_of(e, "reason"), kind.as_str()).as_str(),
        ),
        echoed: e
            .get("user-variables")
            .map(|u| token_hint(str_of(u, "breakfast_ref")))
            .unwrap_or_default()
            + &e.get("message").map(Value::to_string).unwrap_or_default(),
    }])
}

fn sha(data: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    Sha256::digest(data).to_vec()
}

// ----- Postmark ------------------------------------------------------------------------

/// Postmark authenticates webhooks with HTTP basic auth in the URL it calls.
pub fn verify_postmark(cfg: &BouncesConfig, authorization: Option<&str>) -> Result<(), AuthError> {
    if cfg.postmark_basic_auth.is_empty() {
        return Err(AuthError::NotConfigured);
    }
    let given = authorization
        .and_then(|h| h.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .ok_or(AuthError::Missing("basic authorization"))?;
    let expected = cfg.postmark_basic_auth.expose().as_bytes();
    // Compare MACs of both so the comparison takes the same time whatever matches.
    let key = b"postmark-basic-auth";
    let mut a = <HmacSha256 as KeyInit>::new_from_slice(key).expect("key");
    a.update(&given);
    let mut b = <HmacSha256 as KeyInit>::new_from_slice(key).expect("key");
    b.update(expected);
    a.verify_slice(&b.finalize().into_bytes())
        .map_err(|_| AuthError::BadSignature)
}

pub fn postmark_events(body: &[u8]) -> Result<Vec<ProviderEvent>, PayloadError> {
    let v = json(body)?;
    let kind = match (str_of(&v, "RecordType"), str_of(&v, "Type")) {
        ("SpamComplaint", _) | (_, "SpamComplaint") => Kind::Complaint,
        ("Bounce", "HardBounce" | "BadEmailAddress" | "ManuallyDeactivated") => Kind::Hard,
        ("Bounce", "SoftBounce" | "Transient" | "DnsError" | "AutoResponder" | "Blocked") => {
            Kind::Soft
        }
        _ => return Ok(Vec::new()),
    };
    let id = v
        .get("ID")
        .map(|i| {
            i.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| i.to_string())
        })
        .ok_or_else(|| PayloadError("no ID".into()))?;
    let details = str_of(&v, "Details");
    Ok(vec![ProviderEvent {
        key: id,
        kind,
        recipient: str_of(&v, "Email").to_string(),
        status: super::parse::find_status_code(details),
        detail: non_empty(details, str_of(&v, "Description")),
        echoed: v
            .get("Metadata")
            .map(|m| token_hint(str_of(m, "breakfast_ref")))
            .unwrap_or_default(),
    }])
}

// ----- SendGrid ------------------------------------------------------------------------

/// DER prefix of a P-256 SubjectPublicKeyInfo; the uncompressed point follows.
const P256_SPKI_PREFIX: &str = "3059301306072a8648ce3d020106082a8648ce3d030107034200";

/// SendGrid's signed event webhook: ECDSA P-256 / SHA-256 over `timestamp + body`, the
/// signature base64 DER, the key the base64 DER SubjectPublicKeyInfo from its settings.
pub fn verify_sendgrid(
    cfg: &BouncesConfig,
    signature: Option<&str>,
    timestamp: Option<&str>,
    body: &[u8],
    now_ms: i64,
) -> Result<(), AuthError> {
    let key = cfg.sendgrid_public_key.trim();
    if key.is_empty() {
        return Err(AuthError::NotConfigured);
    }
    let spki = STANDARD
        .decode(key)
        .map_err(|_| AuthError::Refused("bounces.sendgrid_public_key is not base64".into()))?;
    let prefix = hex::decode(P256_SPKI_PREFIX).expect("constant");
    let point = spki
        .strip_prefix(prefix.as_slice())
        .filter(|p| p.len() == 65)
        .ok_or_else(|| {
            AuthError::Refused("bounces.sendgrid_public_key is not a P-256 key".into())
        })?;
    let sig = signature.ok_or(AuthError::Missing("X-Twilio-Email-Event-Webhook-Signature"))?;
    let ts = timestamp.ok_or(AuthError::Missing("X-Twilio-Email-Event-Webhook-Timestamp"))?;
    let sig = STANDARD
        .decode(sig.trim())
        .map_err(|_| AuthError::BadSignature)?;
    let mut signed = ts.trim().as_bytes().to_vec();
    signed.extend_from_slice(body);
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_ASN1, point)
        .verify(&signed, &sig)
        .map_err(|_| AuthError::BadSignature)?;
    within_window(
        ts.trim().parse().map_err(|_| AuthError::Stale)?,
        now_ms,
        cfg.webhook_max_age_secs,
    )
}

pub fn sendgrid_events(body: &[u8]) -> Result<Vec<ProviderEvent>, PayloadError> {
    let v = json(body)?;
    let items = v
        .as_array()
        .ok_or_else(|| PayloadError("expected a JSON array of events".into()))?;
    let mut out = Vec::new();
    for e in items {
        let kind = match (str_of(e, "event"), str_of(e, "type")) {
            ("spamreport", _) => Kind::Complaint,
            ("bounce", "blocked") => Kind::Soft,
            ("bounce", _) => Kind::Hard,
            _ => continue,
        };
        let id = str_of(e, "sg_event_id");
        if id.is_empty() {
            return Err(PayloadError("an event without sg_event_id".into()));
        }
        out.push(ProviderEvent {
            key: id.to_string(),
            kind,
            recipient: str_of(e, "email").to_string(),
            status: e.get("status").and_then(Value::as_str).map(str::to_string),
            detail: non_empty(str_of(e, "reason"), kind.as_str()),
            echoed: token_hint(str_of(e, "breakfast_ref")),
        });
    }
    Ok(out)
}

// ----- Amazon SES through SNS -----------------------------------------------------------

/// An SNS message as posted, before its signature is checked.
#[derive(Debug, Clone)]
pub struct SnsMessage {
    pub kind: String,
    pub message_id: String,
    pub topic_arn: String,
    pub message: String,
    pub subscribe_url: String,
    pub timestamp: String,
    pub signature_version: String,
    pub signature: String,
    pub signing_cert_url: String,
    string_to_sign: String,
}

pub fn sns_message(body: &[u8]) -> Result<SnsMessage, PayloadError> {
    let v = json(body)?;
    let get = |k: &str| str_of(&v, k).to_string();
    let kind = get("Type");
    let mut fields: Vec<(&str, String)> =
        vec![("Message", get("Message")), ("MessageId", get("MessageId"))];
    match kind.as_str() {
        "Notification" => {
            if let Some(subject) = v.get("Subject").and_then(Value::as_str) {
                fields.push(("Subject", subject.to_string()));
            }
            fields.extend([
                ("Timestamp", get("Timestamp")),
                ("TopicArn", get("TopicArn")),
                ("Type", kind.clone()),
            ]);
        }
        "SubscriptionConfirmation" | "UnsubscribeConfirmation" => fields.extend([
            ("SubscribeURL", get("SubscribeURL")),
            ("Timestamp", get("Timestamp")),
            ("Token", get("Token")),
            ("TopicArn", get("TopicArn")),
            ("Type", kind.clone()),
        ]),
        other => return Err(PayloadError(format!("unknown SNS message type {other:?}"))),
    }
    let string_to_sign = fields
        .iter()
        .map(|(k, val)| format!("{k}\n{val}\n"))
        .collect();
    Ok(SnsMessage {
        message_id: get("MessageId"),
        topic_arn: get("TopicArn"),
        message: get("Message"),
        subscribe_url: get("SubscribeURL"),
        timestamp: get("Timestamp"),
        signature_version: get("SignatureVersion"),
        signature: get("Signature"),
        signing_cert_url: get("SigningCertURL"),
        kind,
        string_to_sign,
    })
}

/// Whether `url` is one of SNS's own (https://sns.REGION.amazonaws.com[.cn]/…), or starts
/// with the loopback prefix that test configuration allows.
pub fn is_sns_url(cfg: &BouncesConfig, url: &str, must_be_pem: bool) -> bool {
    let test_prefix = cfg.sns_test_cert_url_prefix.trim();
    if !test_prefix.is_empty() && url.starts_with(test_prefix) {
        return true;
    }
    let Ok(u) = url::Url::parse(url) else {
        return false;
    };
    let host = u.host_str().unwrap_or_default();
    let region_host = host
        .strip_prefix("sns.")
        .and_then(|h| {
            h.strip_suffix(".amazonaws.com")
                .or_else(|| h.strip_suffix(".amazonaws.com.cn"))
        })
        .is_some_and(|region| {
            !region.is_empty()
                && region
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        });
    u.scheme() == "https"
        && region_host
        && u.port().is_none()
        && u.username().is_empty()
        && (!must_be_pem || u.path().ends_with(".pem"))
}

/// Checks what can be checked before fetching the certificate.
pub fn precheck_sns(cfg: &BouncesConfig, m: &SnsMessage, now_ms: i64) -> Result<(), AuthError> {
    if m.signature.is_empty() {
        return Err(AuthError::Missing("Signature"));
    }
    if m.signature_version != "2" {
        return Err(AuthError::Refused(format!(
            "SNS SignatureVersion {:?} is not accepted: set the topic's SignatureVersion to 2 (SHA256)",
            m.signature_version
        )));
    }
    if !is_sns_url(cfg, &m.signing_cert_url, true) {
        return Err(AuthError::Refused(
            "SigningCertURL is not on an SNS host (https://sns.REGION.amazonaws.com/….pem)".into(),
        ));
    }
    if !cfg.sns_topic_arns.is_empty() && !cfg.sns_topic_arns.contains(&m.topic_arn) {
        return Err(AuthError::Refused(
            "the topic is not in bounces.sns_topic_arns".into(),
        ));
    }
    // SNS retries a notification for up to an hour with its original timestamp.
    let ts = chrono::DateTime::parse_from_rfc3339(&m.timestamp).map_err(|_| AuthError::Stale)?;
    within_window(ts.timestamp(), now_ms, cfg.webhook_max_age_secs.max(3600))
}

/// Verifies the signature with the certificate (PEM) fetched from `SigningCertURL`.
pub fn verify_sns_signature(m: &SnsMessage, cert_pem: &str) -> Result<(), AuthError> {
    let der = pem_to_der(cert_pem)
        .ok_or_else(|| AuthError::Refused("the signing certificate is not PEM".into()))?;
    let cert_der = rustls::pki_types::CertificateDer::from(der);
    let cert = webpki::EndEntityCert::try_from(&cert_der)
        .map_err(|e| AuthError::Refused(format!("the signing certificate cannot be read: {e}")))?;
    let sig = STANDARD
        .decode(m.signature.trim())
        .map_err(|_| AuthError::BadSignature)?;
    cert.verify_signature(
        webpki::ring::RSA_PKCS1_2048_8192_SHA256,
        m.string_to_sign.as_bytes(),
        &sig,
    )
    .map_err(|_| AuthError::BadSignature)
}

fn pem_to_der(pem: &str) -> Option<Vec<u8>> {
    let start = pem.find("-----BEGIN CERTIFICATE-----")? + "-----BEGIN CERTIFICATE-----".len();
    let end = pem[start..].find("-----END CERTIFICATE-----")? + start;
    let b64: String = pem[start..end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    STANDARD.decode(b64).ok()
}

/// The bounce and complaint events of an SES notification (`Message` of an SNS
/// Notification): `notificationType` (SES notifications) or `eventType` (event publishing).
pub fn ses_events(sns: &SnsMessage) -> Result<Vec<ProviderEvent>, PayloadError> {
    let v: Value = serde_json::from_str(&sns.message)
        .map_err(|e| PayloadError(format!("the SNS Message is not SES JSON: {e}")))?;
    let kind = non_empty(str_of(&v, "notificationType"), str_of(&v, "eventType"));
    // The original headers (when the identity includes them) as "Name: value" lines, where
    // the X-Breakfast-Ref token is found.
    let echoed: String = v["mail"]["headers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| format!("{}: {}\n", str_of(h, "name"), str_of(h, "value")))
        .collect();
    let mut out = Vec::new();
    match kind.as_str() {
        "Bounce" => {
            let b = &v["bounce"];
            let permanent = str_of(b, "bounceType") == "Permanent";
            let feedback = non_empty(str_of(b, "feedbackId"), &sns.message_id);
            for (i, r) in b["bouncedRecipients"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
            {
                let status = r.get("status").and_then(Value::as_str).map(str::to_string);
                let kind = match &status {
                    Some(s) if !permanent => super::parse::kind_of_status(s).min_soft(),
                    _ if permanent => Kind::Hard,
                    _ => Kind::Soft,
                };
                out.push(ProviderEvent {
                    key: format!("{feedback}:{i}"),
                    kind,
                    recipient: str_of(r, "emailAddress").to_string(),
                    status,
                    detail: non_empty(str_of(r, "diagnosticCode"), str_of(b, "bounceSubType")),
                    echoed: echoed.clone(),
                });
            }
        }
        "Complaint" => {
            let c = &v["complaint"];
            let feedback = non_empty(str_of(c, "feedbackId"), &sns.message_id);
            let ftype = non_empty(str_of(c, "complaintFeedbackType"), "complaint");
            for (i, r) in c["complainedRecipients"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
            {
                out.push(ProviderEvent {
                    key: format!("{feedback}:{i}"),
                    kind: Kind::Complaint,
                    recipient: str_of(r, "emailAddress").to_string(),
                    status: None,
                    detail: format!("feedback report: {ftype}"),
                    echoed: echoed.clone(),
                });
            }
        }
        _ => {}
    }
    Ok(out)
}

impl Kind {
    /// A provider that calls a bounce transient means soft, whatever the code says.
    fn min_soft(self) -> Kind {
        match self {
            Kind::Complaint => Kind::Complaint,
            _ => Kind::Soft,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> BouncesConfig {
        crate::config::Config::from_toml_str("").unwrap().bounces
    }

    #[test]
    fn sns_hosts_are_restricted() {
        let c = cfg();
        assert!(is_sns_url(
            &c,
            "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem",
            true
        ));
        assert!(!is_sns_url(
            &c,
            "http://sns.eu-west-1.amazonaws.com/x.pem",
            true
        ));
        assert!(!is_sns_url(
            &c,
            "https://sns.eu-west-1.amazonaws.com.evil.org/x.pem",
            true
        ));
        assert!(!is_sns_url(
            &c,
            "https://evil.org/sns.eu-west-1.amazonaws.com/x.pem",
            true
        ));
        assert!(!is_sns_url(
            &c,
            "https://sns.eu-west-1.amazonaws.com:8443/x.pem",
            true
        ));
        assert!(!is_sns_url(
            &c,
            "https://sns.eu-west-1.amazonaws.com/x.txt",
            true
        ));
        assert!(!is_sns_url(&c, "http://127.0.0.1:9/x.pem", true));
    }
}
