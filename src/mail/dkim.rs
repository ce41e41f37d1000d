//! DKIM: signing the exact bytes that go on the wire, reading keys, making new ones.
//!
//! The signer is our own, relaxed/relaxed with RSA-SHA256 or Ed25519-SHA256 (RFC 6376,
//! RFC 8463), on AWS-LC (`aws-lc-rs`, whose API is ring's): lettre's signatures did not
//! verify with an independent verifier, `mail-auth`'s signer (still used to generate keys,
//! and by the tests to verify) fed SHA-256 one byte per call, and ring's RSA-2048
//! signature cost ~0.6 ms of CPU where AWS-LC's, with the AVX-512 IFMA code of CPUs that
//! have it, costs ~0.2 ms — the private-key operation is most of what signing costs.
//! A message is signed after it is final — `Mailer::send` formats it, signs those bytes
//! and puts the `DKIM-Signature` headers in front — so nothing can fold or re-encode a
//! header after the signature was computed. Keys are parsed once at start-up; the body
//! is canonicalised and hashed in one pass without a copy (only lines that change are
//! rewritten) and once for all keys; each message's signatures run on the blocking pool,
//! at most one message per core at a time, so RSA never stalls the async workers.

use std::{path::Path, sync::Arc};

use aws_lc_rs::{
    digest,
    rand::SystemRandom,
    signature::{Ed25519KeyPair, KeyPair as _, RSA_PKCS1_SHA256, RsaKeyPair},
};
use base64::Engine as _;

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
    Rsa(RsaKeyPair),
    Ed25519(Ed25519KeyPair),
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
            let key = RsaKeyPair::from_der(&der).map_err(|e| malformed("RSA", e.to_string()))?;
            Ok(rsa_loaded(key))
        }
        "PRIVATE KEY" => {
            if let Ok(key) = RsaKeyPair::from_pkcs8(&der) {
                return Ok(rsa_loaded(key));
            }
            let key = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der).map_err(|e| {
                malformed(
                    "RSA (2048 to 8192 bits) or Ed25519",
                    format!("neither algorithm accepts it ({e})"),
                )
            })?;
            Ok(LoadedKey {
                algorithm: Algorithm::Ed25519,
                public_key: key.public_key().as_ref().to_vec(),
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

fn rsa_loaded(key: RsaKeyPair) -> LoadedKey {
    LoadedKey {
        algorithm: Algorithm::Rsa,
        public_key: spki_from_pkcs1(key.public_key().as_ref()),
        signing: SigningKeyKind::Rsa(key),
    }
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
    /// Each distinct name of [`SIGNED_HEADERS`] with how often it is listed there.
    names: Vec<(&'static str, usize)>,
    rng: SystemRandom,
    permits: tokio::sync::Semaphore,
}

/// One key with the tags that are the same on every message it signs.
struct Signer {
    key: SigningKeyKind,
    /// `DKIM-Signature: v=1; a=…; c=relaxed/relaxed; d=…; s=…;` (folded)
    prefix: String,
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
            names: header_names(SIGNED_HEADERS),
            rng: SystemRandom::new(),
            permits: tokio::sync::Semaphore::new(cores),
        }))
    }

    /// Returns `message` with one `DKIM-Signature` header per key in front of it.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.sign_at(message, now)
    }

    /// `sign` with the signing time `t=` given (seconds since 1970).
    fn sign_at(&self, message: &[u8], now: u64) -> Result<Vec<u8>, String> {
        let (fields, body) = split_message(message);
        if fields.is_empty() {
            return Err("DKIM signing failed: the message has no header".into());
        }
        // The body hash, the signed headers and `h=` are the same for every key.
        let body_hash = body_hash(body);
        let (h, canonical_headers) = select_headers(&fields, &self.names);
        let mut out = Vec::with_capacity(message.len() + 1024 * self.signers.len());
        let mut data = Vec::with_capacity(canonical_headers.len() + 512);
        for signer in &self.signers {
            let start = out.len();
            let tags = signature_tags(&signer.prefix, now, body_hash.as_ref(), &h);
            out.extend_from_slice(tags.as_bytes());
            data.clear();
            data.extend_from_slice(&canonical_headers);
            // The signature's own header, `b=` empty and without its line break (§3.7).
            let (name, value) = tags.split_once(':').unwrap_or(("DKIM-Signature", ""));
            relaxed_header(name.as_bytes(), value.as_bytes(), &mut data);
            let signature = signer.sign(&data, &self.rng)?;
            fold_base64(&signature, &mut out);
            out.extend_from_slice(b"\r\n");
            debug_assert!(out[start..].starts_with(b"DKIM-Signature:"));
        }
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

impl Signer {
    fn sign(&self, data: &[u8], rng: &SystemRandom) -> Result<Vec<u8>, String> {
        match &self.key {
            SigningKeyKind::Rsa(key) => {
                let mut signature = vec![0; key.public_modulus_len()];
                key.sign(&RSA_PKCS1_SHA256, rng, data, &mut signature)
                    .map_err(|_| "DKIM signing failed: the RSA signature failed".to_string())?;
                Ok(signature)
            }
            // RFC 8463: Ed25519 signs the SHA-256 hash of the data, not the data.
            SigningKeyKind::Ed25519(key) => Ok(key
                .sign(digest::digest(&digest::SHA256, data).as_ref())
                .as_ref()
                .to_vec()),
        }
    }
}

/// Each distinct name with how many times `list` names it (case-insensitively).
fn header_names(list: &[&'static str]) -> Vec<(&'static str, usize)> {
    let mut names: Vec<(&'static str, usize)> = Vec::new();
    for name in list {
        match names.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            Some((_, count)) => *count += 1,
            None => names.push((name, 1)),
        }
    }
    names
}

/// The `DKIM-Signature` header up to and including its empty `b=`, folded so that no
/// line is much longer than 78 characters.
fn signature_tags(prefix: &str, now: u64, body_hash: &[u8], h: &[&str]) -> String {
    let engine = base64::engine::general_purpose::STANDARD;
    let mut out = String::with_capacity(prefix.len() + 400);
    out.push_str(prefix);
    out.push_str("\r\n\tt=");
    out.push_str(&now.to_string());
    out.push_str("; bh=");
    engine.encode_string(body_hash, &mut out);
    out.push_str(";\r\n\th=");
    let mut line = 3;
    for (i, name) in h.iter().enumerate() {
        if i > 0 {
            out.push(':');
            line += 1;
            if line + name.len() > 76 {
                out.push_str("\r\n\t");
                line = 1;
            }
        }
        out.push_str(name);
        line += name.len();
    }
    out.push_str(";\r\n\tb=");
    out
}

/// Appends a signature's base64, folded into lines of at most 76 characters.
fn fold_base64(signature: &[u8], out: &mut Vec<u8>) {
    let b64 = base64::engine::general_purpose::STANDARD.encode(signature);
    // The first line already holds the tab and "b=".
    let mut rest = b64.as_bytes();
    let mut width = 73;
    while rest.len() > width {
        out.extend_from_slice(&rest[..width]);
        out.extend_from_slice(b"\r\n\t");
        rest = &rest[width..];
        width = 75;
    }
    out.extend_from_slice(rest);
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
    let algorithm = match loaded.algorithm {
        Algorithm::Rsa => "rsa-sha256",
        Algorithm::Ed25519 => "ed25519-sha256",
    };
    Ok(Signer {
        key: loaded.signing,
        prefix: format!(
            "DKIM-Signature: v=1; a={algorithm}; c=relaxed/relaxed;\r\n\td={}; s={};",
            key.domain.to_ascii_lowercase(),
            key.selector
        ),
    })
}

/// A header field as the message carries it: the name, and the value after the colon with
/// its folding but without the field's final line break.
#[derive(Clone, Copy)]
struct Field<'a> {
    name: &'a [u8],
    value: &'a [u8],
}

/// The header fields of a message, top to bottom, and its body (what follows the first
/// empty line; empty when there is none).
fn split_message(message: &[u8]) -> (Vec<Field<'_>>, &[u8]) {
    let mut fields = Vec::with_capacity(24);
    let mut pos = 0;
    while pos < message.len() {
        let rest = &message[pos..];
        if rest.starts_with(b"\r\n") {
            return (fields, &message[pos + 2..]);
        }
        if rest.starts_with(b"\n") {
            return (fields, &message[pos + 1..]);
        }
        // A field runs to the first line break that a space or tab does not continue.
        let mut end = pos;
        loop {
            match message[end..].iter().position(|&b| b == b'\n') {
                None => {
                    end = message.len();
                    break;
                }
                Some(i) => {
                    end += i;
                    if matches!(message.get(end + 1), Some(b' ' | b'\t')) {
                        end += 1;
                    } else {
                        break;
                    }
                }
            }
        }
        let field = &message[pos..end];
        let field = field.strip_suffix(b"\r").unwrap_or(field);
        if let Some(colon) = field.iter().position(|&b| b == b':') {
            fields.push(Field {
                name: &field[..colon],
                value: &field[colon + 1..],
            });
        }
        pos = end + 1;
    }
    (fields, &[])
}

/// The `h=` list and the canonical form of the fields it names, in that order. Every
/// instance of a named field is signed, bottom-up as a verifier takes them (RFC 6376
/// §5.4.2); a name is listed at least once even when absent, so that the field cannot be
/// added later, and once more for each time [`SIGNED_HEADERS`] repeats it (over-signing).
fn select_headers(
    fields: &[Field<'_>],
    names: &[(&'static str, usize)],
) -> (Vec<&'static str>, Vec<u8>) {
    let mut h = Vec::with_capacity(names.len() + 4);
    let mut canonical = Vec::with_capacity(1024);
    for &(name, listed) in names {
        let mut present = 0;
        for field in fields
            .iter()
            .rev()
            .filter(|f| trim_wsp_end(f.name).eq_ignore_ascii_case(name.as_bytes()))
        {
            h.push(name);
            relaxed_header(field.name, field.value, &mut canonical);
            canonical.extend_from_slice(b"\r\n");
            present += 1;
        }
        let extra = present.max(1) - present + listed - 1;
        h.extend(std::iter::repeat_n(name, extra));
    }
    (h, canonical)
}

fn trim_wsp_end(s: &[u8]) -> &[u8] {
    let end = s
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(0, |i| i + 1);
    &s[..end]
}

/// Relaxed header canonicalisation (RFC 6376 §3.4.2), without the final CRLF: the name
/// in lower case, the value unfolded, each run of spaces and tabs made one space, and
/// the whitespace around the colon and at the end removed.
fn relaxed_header(name: &[u8], value: &[u8], out: &mut Vec<u8>) {
    out.extend(trim_wsp_end(name).iter().map(u8::to_ascii_lowercase));
    out.push(b':');
    let mut space = false;
    let mut started = false;
    for &b in value {
        if matches!(b, b' ' | b'\t' | b'\r' | b'\n') {
            space = true;
            continue;
        }
        if space && started {
            out.push(b' ');
        }
        space = false;
        started = true;
        out.push(b);
    }
}

/// SHA-256 of the relaxed canonical body (AWS-LC's digest, which uses the CPU's SHA
/// instructions where there are any).
fn body_hash(body: &[u8]) -> digest::Digest {
    let mut context = digest::Context::new(&digest::SHA256);
    relaxed_body(body, |part| context.update(part));
    context.finish()
}

/// Relaxed body canonicalisation (RFC 6376 §3.4.4), handed to `sink` in pieces: spaces
/// and tabs at the end of a line removed, other runs of them made one space, empty lines
/// at the end removed, and a CRLF after the last line. A line ends at LF (with or
/// without CR before it); a CR elsewhere is an ordinary character, as in dkimpy.
///
/// Lines already in canonical form, nearly all of a MIME-encoded message, are passed on
/// as they are, many at once: only a line that changes is copied, rewritten.
fn relaxed_body(body: &[u8], mut sink: impl FnMut(&[u8])) {
    let body = without_blank_tail(body);
    let mut done = 0;
    let mut line = Vec::new();
    while done < body.len() {
        let rest = &body[done..];
        let Some(at) = first_irregular(rest) else {
            sink(rest);
            return;
        };
        let start = rest[..at]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let end = rest[at..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(rest.len(), |i| at + i + 1);
        if start > 0 {
            sink(&rest[..start]);
        }
        line.clear();
        relaxed_line(&rest[start..end], &mut line);
        sink(&line);
        done += end;
    }
}

/// `body` without the lines at its end that are empty or only spaces and tabs.
fn without_blank_tail(body: &[u8]) -> &[u8] {
    let mut end = body.len();
    while end > 0 {
        let has_lf = body[end - 1] == b'\n';
        let content_end = if has_lf { end - 1 } else { end };
        let start = body[..content_end]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let mut content = &body[start..content_end];
        if has_lf {
            content = content.strip_suffix(b"\r").unwrap_or(content);
        }
        if !content.iter().all(|&b| b == b' ' || b == b'\t') {
            break;
        }
        end = start;
    }
    &body[..end]
}

/// One line (with its line break, if any) in relaxed form, CRLF included.
fn relaxed_line(line: &[u8], out: &mut Vec<u8>) {
    let content = match line.strip_suffix(b"\n") {
        Some(l) => l.strip_suffix(b"\r").unwrap_or(l),
        None => line,
    };
    let mut space = false;
    for &b in content {
        if b == b' ' || b == b'\t' {
            space = true;
            continue;
        }
        if space {
            out.push(b' ');
            space = false;
        }
        out.push(b);
    }
    out.extend_from_slice(b"\r\n");
}

/// Where `s` (which starts at the beginning of a line) first differs from relaxed
/// canonical form: a tab, a space before a space or a line break, a CR not before LF, an
/// LF not after CR, or a missing line break at the end. `None` when every line is
/// already canonical. Scans 64 byte pairs at a time without branches, which the compiler
/// turns into vector instructions.
fn first_irregular(s: &[u8]) -> Option<usize> {
    fn irregular(a: u8, b: u8) -> bool {
        (a == b'\t')
            | ((a == b' ') & ((b == b' ') | (b == b'\r') | (b == b'\n')))
            | ((a == b'\r') & (b != b'\n'))
            | ((b == b'\n') & (a != b'\r'))
    }
    let last = *s.last()?;
    if s[0] == b'\n' {
        return Some(0);
    }
    let pairs = s.len() - 1;
    let mut base = 0;
    while base < pairs {
        let n = 64.min(pairs - base);
        let (a, b) = (&s[base..base + n], &s[base + 1..base + 1 + n]);
        if a.iter()
            .zip(b)
            .fold(false, |any, (&x, &y)| any | irregular(x, y))
        {
            return (0..n).find(|&i| irregular(a[i], b[i])).map(|i| base + i);
        }
        base += n;
    }
    (last != b'\n').then_some(s.len() - 1)
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

    /// The canonical body, collected.
    fn relaxed(body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        relaxed_body(body, |part| out.extend_from_slice(part));
        out
    }

    #[test]
    fn relaxed_body_hash_matches_dkimpy() {
        // Expected values: dkimpy's dkim.canonicalization.Relaxed.canonicalize_body,
        // then SHA-256 in base64, as `bh=` carries it.
        let tricky = [
            &b"Line one  with  doubles \t\r\n\tTabbed start\r\n \r\n\r\nmiddle after blanks\r\n"[..],
            &b"long ".repeat(400),
            b"\r\n=20 soft=\r\nlast line   \t\r\n\r\n \t\r\n\r\n",
        ]
        .concat();
        let cases: [(&[u8], &str); 6] = [
            (&tricky, "dsSpmlasw52lco1yfAHP3kQ7ubaZIZwizPS6WOg9rsI="),
            // RFC 6376 §3.4.5's example.
            (
                b" C \r\nD \t E\r\n\r\n\r\n",
                "unak6JHq0wL+Q1HP7dW1tjBx9FLA6DffoZ0qrLwbbpo=",
            ),
            (b"a  b\r\nc", "Fpw9LRv98sOa9yITRAMuqnTeI6v8pmVq3GnXQ4jXZAY="),
            (
                b"x\r\n\r\n\r\n",
                "s14J+iztnrytnRYzb7lhFG/jS/vrxWJnnahfijFMnco=",
            ),
            (
                b"\r\n \r\n\t\r\n",
                "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
            ),
            (b"", "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="),
        ];
        let engine = base64::engine::general_purpose::STANDARD;
        for (body, expected) in cases {
            assert_eq!(
                engine.encode(body_hash(body)),
                expected,
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
        assert_eq!(relaxed(b" C \r\nD \t E\r\n\r\n\r\n"), b" C\r\nD E\r\n");
        // Lines that are already canonical come out as the same bytes.
        let clean = b"abc\r\n\r\n d e\r\n=20\r\n";
        assert_eq!(relaxed(clean), clean);
    }

    #[test]
    fn relaxed_body_matches_mail_auth_on_many_bodies() {
        use mail_auth::common::headers::Writable as _;
        // Bodies made of words, spaces, tabs and CRLFs in every mix a small generator
        // gives, each ending with a word line (the two canonicalisers differ only on
        // bare CR, bare LF and bodies of nothing but whitespace).
        let pieces: [&[u8]; 7] = [b"word", b" ", b"\t", b"\r\n", b"  \t ", b"x", b"\r\n\r\n"];
        let mut seed = 0x2545_f491_u32;
        for _ in 0..2000 {
            let mut body = Vec::new();
            let len = (seed % 40) as usize;
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                body.extend_from_slice(pieces[(seed % 7) as usize]);
            }
            body.extend_from_slice(b"\r\nz\r\n");
            let mut theirs = Vec::new();
            mail_auth::dkim::Canonicalization::Relaxed
                .canonical_body(&body, 0)
                .write(&mut theirs);
            assert_eq!(
                String::from_utf8_lossy(&relaxed(&body)),
                String::from_utf8_lossy(&theirs),
                "{:?}",
                String::from_utf8_lossy(&body)
            );
        }
    }

    #[test]
    fn relaxed_headers_unfold_and_squeeze() {
        let message = b"Subject :  A\r\n \tfolded\t  subject \r\nX-Other: no\r\nFrom: A <a@example.org>\r\nfrom: second@example.org\r\n\r\nbody\r\n";
        let (fields, body) = split_message(message);
        assert_eq!(fields.len(), 4);
        assert_eq!(body, b"body\r\n");
        let names = header_names(&["From", "From", "Subject", "Subject", "Reply-To"]);
        let (h, canonical) = select_headers(&fields, &names);
        // Both From fields bottom-up, one more From, Subject twice, Reply-To as absent.
        assert_eq!(
            h,
            ["From", "From", "From", "Subject", "Subject", "Reply-To"]
        );
        assert_eq!(
            String::from_utf8_lossy(&canonical),
            "from:second@example.org\r\nfrom:A <a@example.org>\r\nsubject:A folded subject\r\n"
        );
    }

    /// mail-auth's verifier, given the public keys instead of asking DNS.
    async fn verify_with_mail_auth(signed: &[u8], keys: &[(&str, String)]) -> Vec<String> {
        use mail_auth::{
            AuthenticatedMessage, MessageAuthenticator, Parameters, ResolverCache, Txt,
            common::parse::TxtRecordParser as _,
            common::verify::DomainKey,
            hickory_resolver::config::{NameServerConfigGroup, ResolverConfig, ResolverOpts},
        };
        use std::{borrow::Borrow, collections::HashMap, hash::Hash};
        struct Keys(HashMap<String, Txt>);
        impl ResolverCache<String, Txt> for Keys {
            fn get<Q>(&self, name: &Q) -> Option<Txt>
            where
                String: Borrow<Q>,
                Q: Hash + Eq + ?Sized,
            {
                self.0.get(name).cloned()
            }
            fn remove<Q>(&self, _: &Q) -> Option<Txt>
            where
                String: Borrow<Q>,
                Q: Hash + Eq + ?Sized,
            {
                None
            }
            fn insert(&self, _: String, _: Txt, _: std::time::Instant) {}
        }
        let cache = Keys(
            keys.iter()
                .map(|(name, record)| {
                    let key = DomainKey::parse(record.as_bytes()).unwrap();
                    (format!("{name}."), Txt::DomainKey(Arc::new(key)))
                })
                .collect(),
        );
        let verifier = MessageAuthenticator::new(
            ResolverConfig::from_parts(None, vec![], NameServerConfigGroup::with_capacity(0)),
            ResolverOpts::default(),
        )
        .unwrap();
        let message = AuthenticatedMessage::parse(signed).unwrap();
        verifier
            .verify_dkim(Parameters::new(&message).with_txt_cache(&cache))
            .await
            .iter()
            .map(|o| format!("{:?}", o.result()))
            .collect()
    }

    #[tokio::test]
    async fn signatures_verify_with_mail_auth() {
        let dir = tempfile::tempdir().unwrap();
        let mut toml = String::from("[newsletter]\nfrom = \"News <news@example.org>\"\n");
        let mut keys = Vec::new();
        for (selector, algorithm) in [("rsa1", Algorithm::Rsa), ("ed1", Algorithm::Ed25519)] {
            let (pem, record) = generate(algorithm).unwrap();
            let path = dir.path().join(format!("{selector}.pem"));
            std::fs::write(&path, pem).unwrap();
            toml.push_str(&format!(
                "[[mail.dkim]]\ndomain = \"example.org\"\nselector = {selector:?}\nprivate_key_file = {:?}\n",
                path.display().to_string()
            ));
            keys.push((format!("{selector}._domainkey.example.org"), record));
        }
        let config = crate::config::Config::from_toml_str(&toml).unwrap();
        let signers = Signers::from_config(&config.mail, "example.org")
            .unwrap()
            .unwrap();
        let keys: Vec<(&str, String)> = keys.iter().map(|(n, r)| (n.as_str(), r.clone())).collect();
        let long_subject = "word ".repeat(40);
        let messages = [
            // A body with every kind of line relaxed canonicalisation rewrites.
            format!(
                "From: News <news@example.org>\r\nTo: reader@example.net\r\nSubject: {long_subject}\r\n\tfolded\r\nDate: Tue, 1 Dec 2026 10:00:00 +0000\r\nMessage-ID: <1@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nLine  one \t\r\n\tTabbed\r\n \r\n{}\r\nlast   \r\n\r\n\r\n",
                "long ".repeat(300)
            ),
            // Already canonical, and without a final line break.
            "From: news@example.org\r\nSubject: hi\r\n\r\nhello\r\nworld".to_string(),
            // No body at all.
            "From: news@example.org\r\nSubject: hi\r\n\r\n".to_string(),
        ];
        for message in &messages {
            let signed = signers.sign(message.as_bytes()).unwrap();
            let text = String::from_utf8(signed).unwrap();
            let (headers, rest) = text.split_at(text.len() - message.len());
            assert_eq!(rest, message);
            assert_eq!(headers.matches("DKIM-Signature:").count(), 2);
            assert!(headers.split("\r\n").all(|l| l.len() <= 78), "{headers}");
            let results = verify_with_mail_auth(text.as_bytes(), &keys).await;
            assert_eq!(results, ["Pass", "Pass"], "{text}");
            for (from, to) in [("Subject: ", "Subject: Re: "), ("\r\n\r\n", "\r\n\r\n.")] {
                let tampered = format!("{headers}{}", message.replacen(from, to, 1));
                let results = verify_with_mail_auth(tampered.as_bytes(), &keys).await;
                // A changed header fails; a changed body is "neutral: body hash mismatch".
                assert_eq!(results.len(), 2);
                assert!(
                    results
                        .iter()
                        .all(|r| r.starts_with("Fail") || r.contains("FailedBodyHashMatch")),
                    "{results:?}"
                );
            }
        }
    }
}
