//! The logo: an absolute http(s) URL, or a file uploaded through the admin. An upload is
//! hostile until read: its size is capped, its type is decided from its first bytes (a
//! PNG, JPEG, GIF or WebP signature; never the name or the type the browser sent), and
//! SVG is refused because it can carry script. It is served back from our own route
//! with that type and `nosniff`.

use sha2::{Digest as _, Sha256};
use url::Url;

use crate::app::App;

/// Largest upload accepted: a masthead logo is a few kilobytes.
pub const MAX_BYTES: usize = 512 * 1024;
/// Longest alt text: it stands for the publication's name, not a description.
pub const MAX_ALT: usize = 150;

/// The image type of `bytes` from its signature, if it is one we serve.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

/// Why an upload is refused, in words for the editor; `Ok` gives its type and hash.
pub fn check_upload(bytes: &[u8]) -> Result<(&'static str, String), String> {
    if bytes.is_empty() {
        return Err("The file is empty.".into());
    }
    if bytes.len() > MAX_BYTES {
        return Err(format!(
            "The file is {} KB; a logo may be at most {} KB.",
            bytes.len().div_ceil(1024),
            MAX_BYTES / 1024
        ));
    }
    let Some(kind) = sniff(bytes) else {
        return Err(
            "That file is not a PNG, JPEG, GIF or WebP image (SVG is not accepted: it can carry script)."
                .into(),
        );
    };
    Ok((kind, hex::encode(Sha256::digest(bytes))))
}

/// A logo address typed by an editor or in the configuration: absolute http(s) only.
pub fn check_url(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    let url = Url::parse(raw).map_err(|_| {
        format!("{raw:?} is not a web address: give the full address, starting with https://.")
    })?;
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() || raw.len() > 2000 {
        return Err("The logo address must start with https:// (or http://).".into());
    }
    Ok(url.to_string())
}

/// Alt text is required with a logo: it is the publication's name for whoever cannot see it.
pub fn check_alt(raw: &str) -> Result<String, String> {
    let alt = raw.trim();
    if alt.is_empty() {
        return Err("Give the logo's alt text (usually the publication's name): screen readers and mail clients that block images show it instead.".into());
    }
    if alt.chars().count() > MAX_ALT {
        return Err(format!("Keep the alt text under {MAX_ALT} characters."));
    }
    Ok(alt.to_owned())
}

/// The absolute address pages and emails load the logo from, or `None` for no logo (or
/// one that no longer resolves).
pub async fn resolve(app: &App, reference: &str) -> Option<String> {
    let reference = reference.trim();
    if reference.is_empty() {
        return None;
    }
    if let Some(id) = reference.strip_prefix("asset:") {
        let id: i64 = id.parse().ok()?;
        return match app.store.brand_asset(id).await {
            Ok(Some(a)) => Some(app.url(&super::asset_path(a.id, &a.sha256))),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the uploaded logo");
                None
            }
        };
    }
    check_url(reference)
        .inspect_err(|e| tracing::warn!(error = %e, "configured logo ignored"))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_comes_from_the_content() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff(b"<svg onload=alert(1)>"), None);
        assert_eq!(sniff(b"<html><script>"), None);
        assert!(
            check_upload(&vec![0x89; MAX_BYTES + 1])
                .unwrap_err()
                .contains("KB")
        );
        assert!(check_upload(b"").is_err());
    }

    #[test]
    fn logo_addresses_are_absolute_web_addresses() {
        assert!(check_url("https://news.example/logo.png").is_ok());
        assert!(check_url("javascript:alert(1)").is_err());
        assert!(check_url("/logo.png").is_err());
        assert!(check_alt("  ").is_err());
    }
}
