//! The publication's own look and words: accent colours, logo and the editable copy of
//! the sign-up journey. The configuration (`[brand]`) gives the defaults; what an editor
//! saves in the admin (`/admin/branding`) overrides them key by key. Every value is
//! checked here, once, before it reaches a page or an email: colours for contrast against
//! every background they are drawn on, logos by their content, copy through the same
//! Markdown renderer and sanitiser as the editor's note.
//!
//! Pages read the current [`Look`] from a cache ([`LookCache::current`]) that is loaded at
//! start, reloaded after each save, and refreshed on use when older than [`MAX_AGE_MS`]
//! (so another process's save shows within seconds); emails are built in async code and
//! refresh before they read it.

pub mod colour;
pub mod copy;
pub mod logo;
pub mod look;

use std::sync::{Arc, atomic::Ordering};

use templates::brand::{Brand, DARK_BACKGROUNDS, LIGHT_BACKGROUNDS, Logo};

pub use self::look::{Copy, CopyKey, Look, LookCache, Saved};
use crate::{app::App, store::StoreResult};

/// How long a loaded look is trusted before the next use reloads it.
pub const MAX_AGE_MS: i64 = 10_000;

/// Setting keys in `brand_settings`.
pub const ACCENT: &str = "accent";
pub const ACCENT_DARK: &str = "accent_dark";
/// An absolute http(s) URL, or `asset:<id>` for an uploaded file.
pub const LOGO: &str = "logo";
pub const LOGO_ALT: &str = "logo_alt";

/// Where an uploaded logo is served; the hash makes the address change with the file,
/// so it can be cached for ever.
pub fn asset_path(id: i64, sha256: &str) -> String {
    format!("/brand/logo/{id}-{}", &sha256[..sha256.len().min(12)])
}

/// Builds the look from the configuration and the saved values. A saved value that no
/// longer passes its check (an older rule, a hand-edited row) is ignored with a warning
/// rather than shown unreadable.
pub async fn load(app: &App) -> StoreResult<Look> {
    let saved = Saved {
        values: app.store.brand_settings().await?,
    };
    let cfg = &app.config.brand;
    let pick = |key: &str, configured: &str| -> String {
        saved
            .get(key)
            .map(str::to_owned)
            .unwrap_or_else(|| configured.to_owned())
    };
    let accent = colour::check(&pick(ACCENT, &cfg.accent_colour), Scheme::Light)
        .inspect_err(|e| tracing::warn!(error = %e, "brand accent ignored"))
        .unwrap_or_else(|_| templates::brand::DEFAULT_ACCENT.to_owned());
    let dark_wanted = pick(ACCENT_DARK, &cfg.accent_colour_dark);
    let accent_dark = if dark_wanted.trim().is_empty() {
        colour::derive_dark(&accent)
    } else {
        colour::check(&dark_wanted, Scheme::Dark)
            .inspect_err(|e| tracing::warn!(error = %e, "brand dark accent ignored"))
            .unwrap_or_else(|_| colour::derive_dark(&accent))
    };
    let logo_ref = pick(LOGO, &cfg.logo_url);
    let alt = pick(LOGO_ALT, &cfg.logo_alt);
    let logo = match logo::resolve(app, &logo_ref).await {
        Some(url) if !alt.trim().is_empty() => Some(Logo {
            url,
            alt: alt.trim().to_owned(),
        }),
        Some(_) => {
            tracing::warn!("brand logo has no alt text; showing the name instead");
            None
        }
        None => None,
    };
    let brand = Brand {
        on_accent: colour::text_on(&accent),
        on_accent_dark: colour::text_on(&accent_dark),
        accent,
        accent_dark,
        logo,
    };
    Ok(Look {
        brand,
        copy: Copy::from_saved(app, &saved),
    })
}

/// The cleaned HTML of one piece of copy as it stands, for a page.
pub fn copy_html(app: &App, key: CopyKey) -> String {
    app.look.current().copy.rendered(key, app).html
}

/// The configured look must pass the same checks as the admin's: a start-up error that
/// names the ratio beats pages nobody can read.
pub fn check_config(cfg: &crate::config::BrandConfig) -> Result<(), String> {
    colour::check(&cfg.accent_colour, Scheme::Light).map_err(|e| format!("accent_colour: {e}"))?;
    if !cfg.accent_colour_dark.trim().is_empty() {
        colour::check(&cfg.accent_colour_dark, Scheme::Dark)
            .map_err(|e| format!("accent_colour_dark: {e}"))?;
    }
    if !cfg.logo_url.trim().is_empty() {
        logo::check_url(&cfg.logo_url).map_err(|e| format!("logo_url: {e}"))?;
        logo::check_alt(&cfg.logo_alt).map_err(|e| format!("logo_alt: {e}"))?;
    }
    Ok(())
}

/// The colour scheme a colour is checked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Light,
    Dark,
}

impl Scheme {
    pub fn backgrounds(self) -> &'static [&'static str] {
        match self {
            Scheme::Light => LIGHT_BACKGROUNDS,
            Scheme::Dark => DARK_BACKGROUNDS,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Light => "light",
            Scheme::Dark => "dark",
        }
    }
}

impl LookCache {
    /// Reloads from the store; on failure keeps the previous look and says so.
    pub async fn reload(&self, app: &App) -> Arc<Look> {
        match load(app).await {
            Ok(look) => {
                let look = Arc::new(look);
                if let Ok(mut slot) = self.look.write() {
                    *slot = Arc::clone(&look);
                }
                self.loaded_at.store(app.now_ms(), Ordering::Relaxed);
                look
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the brand settings; keeping the last ones");
                self.current()
            }
        }
    }

    /// The current look, reloaded first when older than [`MAX_AGE_MS`].
    pub async fn fresh(&self, app: &App) -> Arc<Look> {
        let age = app.now_ms() - self.loaded_at.load(Ordering::Relaxed);
        if !(0..MAX_AGE_MS).contains(&age) {
            return self.reload(app).await;
        }
        self.current()
    }
}
