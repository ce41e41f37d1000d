//! Test copies for editors: the issue as readers will get it, with links that work
//! without touching anyone's subscription. "View in browser" opens the draft through a
//! signed link that expires; unsubscribe and preferences lead to a page that says this
//! was a test copy.

use crate::{app::App, digest::Personaliser, domain::Purpose};

/// How long a test copy's "View in browser" link works.
pub const DRAFT_LINK_DAYS: i64 = 7;

/// The signed, expiring link to a digest's draft.
pub fn draft_url(app: &App, digest_id: i64) -> String {
    let expires = app.now_ms() + DRAFT_LINK_DAYS * 24 * 3_600_000;
    let token = app.signer.sign(digest_id, Purpose::Draft, Some(expires));
    app.url(&format!("/draft/{digest_id}?token={token}"))
}

/// Where a test copy's unsubscribe and preferences links lead.
pub fn test_page_url(app: &App) -> String {
    app.url("/test-copy")
}

/// Subject ("[Test] …"), HTML and text of a test copy of a composed digest.
pub async fn test_copy(app: &App, digest_id: i64) -> anyhow::Result<(String, String, String)> {
    let digest = app.store.digest(digest_id).await?;
    let (subject, html, text) = if app.store.digest_templates(digest_id).await?.is_some() {
        Personaliser::load(app, digest_id)
            .await?
            .render_test_copy(&test_page_url(app))
    } else {
        // Composed before migration 0003 kept the templates (an issue sent by an older
        // version, still in the archive): it has no personal parts to fill.
        match (digest.html.clone(), digest.text.clone()) {
            (Some(html), Some(text)) => (digest.subject.clone().unwrap_or_default(), html, text),
            _ => anyhow::bail!("digest {digest_id} has not been composed"),
        }
    };
    // The composed "View in browser" points at the archive, which shows an issue only
    // once it has gone out; the test copy points at the draft instead.
    let archive = app.url(&crate::digest::compose::archive_path(&digest));
    let draft = draft_url(app, digest_id);
    let html = html.replace(&archive, &draft.replace('&', "&amp;"));
    let text = text.replace(&archive, &draft);
    Ok((format!("[Test] {subject}"), html, text))
}

/// The digest id a draft link names, when the link is genuine and current.
pub fn verify_draft_token(app: &App, token: &str) -> Option<i64> {
    app.signer.verify(token, Purpose::Draft, app.now_ms()).ok()
}
