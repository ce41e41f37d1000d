//! DKIM: signing the exact bytes that go on the wire, reading keys, making new ones.
//!
//! Signing uses Stalwart's `mail-auth` (ring underneath), not lettre's signer: lettre's
//! signatures did not verify with an independent verifier, and it signed too few headers.
//! A message is signed after it is final — `Mailer::send` formats it, signs those bytes
//! and puts the `DKIM-Signature` headers in front — so nothing can fold or re-encode a
//! header after the signature was computed. Keys are parsed once at start-up; each
//! signature runs on the blocking pool, at most one per core at a time, so RSA never
//! stalls the async workers.

use std::{path::Path, sync::Arc};

use base64::Engine as _;
use mail_auth::{
    common::{
        crypto::{Ed25519Key, RsaKey, Sha256},
        headers::HeaderWriter,
    },
    dkim::{Canonicalization, DkimSigner, Done},
};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer};

use crate::config::{DkimKeyConfig, MailConfig};

/// The headers each signature covers, in the order `h=` lists them. A header named here
/// but absent from a message is signed as absent, so nobody can add it later; From and
/// Subject are named twice so that a second From or Subject added in transit breaks the
/// signature instead of being shown to the reader (over-signing, RFC 6376 §8.15).
pub const SIGNED_HEADERS: &[&str] = &[
    "From",
    "From",
    "Subject",
    "Subject",
    "To",
    "Date",
    "Message-ID",
    "MIME-Version",
    "Content-Type",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "Reply-To",
    "Feedback-ID",
];

/// The two algorithms receivers accept today.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Rsa,
    Ed25519,
}

impl Algorithm {
    pub fn parse(s: &str) -> Option<Algorithm> {
        match s.trim().to_ascii_lowercase().as_str() {
            "rsa" | "rsa-sha256" => Some(Algorithm::Rsa),
            "ed25519" | "ed25519-sha256" => Some(Algorithm::Ed25519),
            _ => None,
        }
    }

    /// The `k=` tag of the DNS record.
    pub fn dns_name(self) -> &'static str {
        match self {
            Algorithm::Rsa => "rsa",
            Algorithm::Ed25519 => "ed25519",
        }
    }
}

/// A private key read from a file, with the public half as DNS publishes it (`p=`).
pub struct LoadedKey {
    pub algorithm: Algorithm,
    /// RSA: SubjectPublicKeyInfo DER; Ed25519: the raw 32 bytes (RFC 8463).
    pub public_key: Vec<u8>,
    signing: SigningKeyKind,
}

enum SigningKeyKind {
    Rsa(RsaKey<Sha256>),
    Ed25519(Ed25519Key),
}

/// Why a key file cannot be used, in words that say what to do.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read the key file {path}: {error}")]
    Unreadable { path: String, error: String },
    #[error("the key file {path} is not a PEM file (expected -----BEGIN PRIVATE KEY-----)")]
    NotPem { path: String },
    #[error(
        "the key file {path} holds {found}, not an RSA or Ed25519 private key (make one with `breakfast dkim generate`)"
    )]
    WrongType { path: String, found: String },
    #[error("the key file {path} is not a valid {algorithm} private key: {error}")]
    Malformed {
        path: String,
        algorithm: &'static str,
        error: String,
    },
    #[error(
        "the key file {path} holds an {found} key, but algorithm = {configured:?} is configured"
    )]
    AlgorithmMismatch {
        path: String,
        found: &'static str,
        configured: String,
    },
}

/// Reads a PEM private key: PKCS#1 RSA, PKCS#8 RSA or PKCS#8 Ed25519.
pub fn load_key(path: &Path) -> Result<LoadedKey, KeyError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| KeyError::Unreadable {
        path: shown.clone(),
        error: e.to_string(),
    })?;
    let text = String::from_utf8_lossy(&bytes);
    let (label, der) = pem_block(&text).ok_or_else(|| KeyError::NotPem {
        path: shown.clone(),
    })?;
    let malformed = |algorithm: &'static str, error: String| KeyError::Malformed {
        path: shown.clone(),
        algorithm,
        error,
    };
    match label.as_str() {
        "RSA PRIVATE KEY" => {
            let key = RsaKey::<Sha256>::from_key_der(PrivateKeyDer::Pkcs1(
                PrivatePkcs1KeyDer::from(der.clone()),
            ))
            .map_err(|e| malformed("RSA", e.to_string()))?;
            rsa_loaded(key)
        }
        "PRIVATE KEY" => {
            if let Ok(key) = RsaKey::<Sha256>::from_key_der(PrivateKeyDer::Pkcs8(
                PrivatePkcs8KeyDer::from(der.clone()),
            )) {
                return rsa_loaded(key);
            }
            let key = Ed25519Key::from_pkcs8_maybe_unchecked_der(&der).map_err(|e| {
                malformed(
                    "RSA (2048 to 8192 bits) or Ed25519",
                    format!("neither algorithm accepts it ({e})"),
                )
            })?;
            Ok(LoadedKey {
                algorithm: Algorithm::Ed25519,
                public_key: key.public_key(),
                signing: SigningKeyKind::Ed25519(key),
            })
        }
        "ENCRYPTED PRIVATE KEY" => Err(KeyError::WrongType {
            path: shown,
            found: "a password-protected key (decrypt it: openssl pkey -in KEY -out KEY.pem)"
                .into(),
        }),
        other => Err(KeyError::WrongType {
            path: shown,
            found: format!("a {other}"),
        }),
    }
}

fn rsa_loaded(key: RsaKey<Sha256>) -> Result<LoadedKey, KeyError> {
    Ok(LoadedKey {
        algorithm: Algorithm::Rsa,
        public_key: spki_from_pkcs1(&key.public_key()),
        signing: SigningKeyKind::Rsa(key),
    })
}

/// The first PEM block of a file: its label and decoded bytes.
fn pem_block(text: &str) -> Option<(String, Vec<u8>)> {
    let start = text.find("-----BEGIN ")?;
    let rest = &text[start + "-----BEGIN ".len()..];
    let label_end = rest.find("-----")?;
    let label = rest[..label_end].trim().to_string();
    let body_and_end = &rest[label_end + 5..];
    let end = body_and_end.find("-----END ")?;
    let body: String = body_and_end[..end]
        .lines()
        .filter(|l| !l.contains(':'))
        .flat_map(|l| l.chars())
        .filter(|c| !c.is_whitespace())
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .ok()?;
    Some((label, der))
}

/// Wraps a PKCS#1 RSAPublicKey in the SubjectPublicKeyInfo that DKIM records carry
/// (what `openssl rsa -pubout` prints).
pub fn spki_from_pkcs1(pkcs1: &[u8]) -> Vec<u8> {
    // AlgorithmIdentifier: rsaEncryption (1.2.840.113549.1.1.1) with NULL parameters.
    const RSA_ALGORITHM: &[u8] = &[
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let mut bit_string = vec![0u8];
    bit_string.extend_from_slice(pkcs1);
    let mut inner = RSA_ALGORITHM.to_vec();
    inner.extend(der_element(0x03, &bit_string));
    der_element(0x30, &inner)
}

fn der_element(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

/// Whether a DKIM selector or domain can be carried by DNS: dot-separated labels of
/// letters, digits and inner hyphens, 1 to 63 characters each (RFC 6376 §3.1).
pub fn is_dns_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// Whether mail From `from_domain` signed with `d=` passes DMARC's relaxed alignment:
/// the same domain, or `d=` a parent of it.
pub fn is_aligned(from_domain: &str, dkim_domain: &str) -> bool {
    let from = from_domain.trim_end_matches('.').to_ascii_lowercase();
    let d = dkim_domain.trim_end_matches('.').to_ascii_lowercase();
    from == d || from.ends_with(&format!(".{d}"))
}

/// The signers configured under `[[mail.dkim]]`: one signature per key on every message.
pub struct Signers {
    signers: Vec<Signer>,
    permits: tokio::sync::Semaphore,
}

enum Signer {
    Rsa(DkimSigner<RsaKey<Sha256>, Done>),
    Ed25519(DkimSigner<Ed25519Key, Done>),
}

impl Signers {
    /// Reads every configured key once. Any problem is an error naming the key and the
    /// file, so that mail the operator believes signed is never sent unsigned.
    pub fn from_config(mail: &MailConfig, from_domain: &str) -> anyhow::Result<Option<Signers>> {
        if mail.dkim.is_empty() {
            return Ok(None);
        }
        let mut signers = Vec::with_capacity(mail.dkim.len());
        for (i, key) in mail.dkim.iter().enumerate() {
            let name = format!("mail.dkim[{i}] (selector {:?})", key.selector);
            signers.push(
                signer_for(key, from_domain)
                    .map_err(|e| anyhow::anyhow!("DKIM key {name}: {e}"))?,
            );
        }
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(Some(Signers {
            signers,
            permits: tokio::sync::Semaphore::new(cores),
        }))
    }

    /// Returns `message` with one `DKIM-Signature` header per key in front of it.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        let mut headers = String::new();
        for signer in &self.signers {
            let signature = match signer {
                Signer::Rsa(s) => s.sign(message),
                Signer::Ed25519(s) => s.sign(message),
            }
            .map_err(|e| format!("DKIM signing failed: {e}"))?;
            headers.push_str(&signature.to_header());
        }
        let mut out = Vec::with_capacity(headers.len() + message.len());
        out.extend_from_slice(headers.as_bytes());
        out.extend_from_slice(message);
        Ok(out)
    }

    /// `sign` on the blocking pool, at most one signature per core at a time.
    pub async fn sign_off_loop(self: &Arc<Self>, message: Vec<u8>) -> Result<Vec<u8>, String> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| "DKIM signing is shutting down".to_string())?;
        let this = Arc::clone(self);
        tokio::task::spawn_blocking(move || this.sign(&message))
            .await
            .map_err(|e| format!("DKIM signing failed: {e}"))?
    }
}

fn signer_for(key: &DkimKeyConfig, from_domain: &str) -> anyhow::Result<Signer> {
    if !is_dns_name(&key.selector) {
        anyhow::bail!(
            "selector {:?} has characters DNS cannot carry (use letters, digits, '-' and '.')",
            key.selector
        );
    }
    if !is_dns_name(&key.domain) {
        anyhow::bail!("domain {:?} is not a DNS name", key.domain);
    }
    if !is_aligned(from_domain, &key.domain) {
        anyhow::bail!(
            "domain {:?} does not match the From domain {from_domain:?} (DMARC needs d= to be the From domain or a parent of it)",
            key.domain
        );
    }
    if key.private_key_file.trim().is_empty() {
        anyhow::bail!("private_key_file is empty");
    }
    let loaded = load_key(Path::new(&key.private_key_file))?;
    if !key.algorithm.trim().is_empty() {
        let configured = Algorithm::parse(&key.algorithm).ok_or_else(|| {
            anyhow::anyhow!(
                "algorithm {:?} is not rsa or ed25519 (key file {})",
                key.algorithm,
                key.private_key_file
            )
        })?;
        if configured != loaded.algorithm {
            return Err(KeyError::AlgorithmMismatch {
                path: key.private_key_file.clone(),
                found: loaded.algorithm.dns_name(),
                configured: key.algorithm.clone(),
            }
            .into());
        }
    }
    Ok(match loaded.signing {
        SigningKeyKind::Rsa(k) => Signer::Rsa(configure(DkimSigner::from_key(k), key)),
        SigningKeyKind::Ed25519(k) => Signer::Ed25519(configure(DkimSigner::from_key(k), key)),
    })
}

fn configure<T: mail_auth::common::crypto::SigningKey>(
    signer: mail_auth::dkim::DkimSigner<T, mail_auth::dkim::NeedDomain>,
    key: &DkimKeyConfig,
) -> DkimSigner<T, Done> {
    signer
        .domain(key.domain.to_ascii_lowercase())
        .selector(key.selector.clone())
        .headers(SIGNED_HEADERS.iter().copied())
        .header_canonicalization(Canonicalization::Relaxed)
        .body_canonicalization(Canonicalization::Relaxed)
}

/// A new key pair: the private key as PEM (PKCS#1 for RSA-2048, PKCS#8 for Ed25519)
/// and the DNS TXT record value that publishes its public half.
pub fn generate(algorithm: Algorithm) -> anyhow::Result<(String, String)> {
    let (label, private_der, public) = match algorithm {
        Algorithm::Rsa => {
            let pair = mail_auth::dkim::generate::DkimKeyPair::generate_rsa(2048)
                .map_err(|e| anyhow::anyhow!("cannot generate an RSA key: {e}"))?;
            let (private, public_pkcs1) = pair.into_inner();
            ("RSA PRIVATE KEY", private, spki_from_pkcs1(&public_pkcs1))
        }
        Algorithm::Ed25519 => {
            let pair = mail_auth::dkim::generate::DkimKeyPair::generate_ed25519()
                .map_err(|e| anyhow::anyhow!("cannot generate an Ed25519 key: {e}"))?;
            let (private, public) = pair.into_inner();
            ("PRIVATE KEY", private, public)
        }
    };
    let pem = to_pem(label, &private_der);
    Ok((pem, txt_record(algorithm, &public)))
}

/// `v=DKIM1; k=…; p=…` for a public key in its DKIM form.
pub fn txt_record(algorithm: Algorithm, public_key: &[u8]) -> String {
    format!(
        "v=DKIM1; k={}; p={}",
        algorithm.dns_name(),
        base64::engine::general_purpose::STANDARD.encode(public_key)
    )
}

/// A TXT record's value cut into the ≤255-byte strings one DNS TXT record is made of.
pub fn txt_strings(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = value;
    while rest.len() > 255 {
        // The value is ASCII, so any byte offset is a character boundary.
        let (head, tail) = rest.split_at(255);
        out.push(head);
        rest = tail;
    }
    out.push(rest);
    out
}

fn to_pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The `p=` of a DKIM TXT record, decoded; `None` when the record has none or it is
/// not base64.
pub fn record_public_key(record: &str) -> Option<Vec<u8>> {
    let p = record.split(';').find_map(|tag| {
        let (name, value) = tag.split_once('=')?;
        (name.trim() == "p").then(|| value.split_whitespace().collect::<String>())
    })?;
    base64::engine::general_purpose::STANDARD.decode(p).ok()
}

/// Whether a published `p=` is the public half of `key` (RSA records may carry either
/// SubjectPublicKeyInfo or a bare RSAPublicKey; both are accepted).
pub fn record_matches(key: &LoadedKey, published: &[u8]) -> bool {
    published == key.public_key.as_slice()
        || (key.algorithm == Algorithm::Rsa && spki_from_pkcs1(published) == key.public_key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_names() {
        assert!(is_dns_name("s2026"));
        assert!(is_dns_name("news.2026-11"));
        for bad in [
            "",
            "a_b",
            "a b",
            "-a",
            "a-",
            "a..b",
            "é",
            "a/b",
            &"x".repeat(64),
        ] {
            assert!(!is_dns_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn alignment_is_relaxed() {
        assert!(is_aligned("news.example.org", "example.org"));
        assert!(is_aligned("Example.org", "example.org."));
        assert!(!is_aligned("example.org", "news.example.org"));
        assert!(!is_aligned("badexample.org", "example.org"));
    }

    #[test]
    fn txt_strings_are_at_most_255_bytes() {
        let value = "x".repeat(600);
        let parts = txt_strings(&value);
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [255, 255, 90]
        );
        assert_eq!(parts.concat(), value);
    }

    #[test]
    fn spki_wraps_pkcs1_like_openssl() {
        // A 2048-bit key's SPKI is 294 bytes and starts with this fixed prefix.
        let (pem, record) = generate(Algorithm::Ed25519).unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert_eq!(record_public_key(&record).unwrap().len(), 32);
        let fake_pkcs1 = vec![0x30; 270];
        let spki = spki_from_pkcs1(&fake_pkcs1);
        assert_eq!(&spki[..4], &[0x30, 0x82, 0x01, 0x22]);
        assert_eq!(spki.len(), 294);
    }
}
