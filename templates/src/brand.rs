//! The publication's look as the views take it: the accent for each colour scheme and the
//! logo. The service checks these (hex, contrast against every background below) before
//! they get here; the views still pass each colour through [`safe_colour`], because a
//! colour ends up inside `style`, where escaping stops nothing.

use maud::{Markup, html};

/// Backgrounds the accent is drawn on in the light scheme: the pages' body and surface,
/// the email's page, card and box. The service checks contrast against each.
pub const LIGHT_BACKGROUNDS: &[&str] = &["#faf6ee", "#fffdf8", "#efe8dc", "#fffdf9", "#f6f0e4"];
/// The same in the dark scheme (pages and email).
pub const DARK_BACKGROUNDS: &[&str] = &["#161310", "#201c18", "#15120f", "#2a241e"];

pub const DEFAULT_ACCENT: &str = "#b3001b";
pub const DEFAULT_ACCENT_DARK: &str = "#ff8f9a";

/// What pages and emails show of the brand; `Default` is the stock look.
#[derive(Debug, Clone, PartialEq)]
pub struct Brand {
    /// Links, headings and buttons in the light scheme (and in mail clients that paint
    /// no dark mode).
    pub accent: String,
    /// The same in the dark scheme.
    pub accent_dark: String,
    /// Text on an accent-coloured button: white or near-black, whichever reads better.
    pub on_accent: String,
    pub on_accent_dark: String,
    pub logo: Option<Logo>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logo {
    /// Absolute for email; the pages use it as given.
    pub url: String,
    /// Required: the logo stands for the publication's name.
    pub alt: String,
}

impl Default for Brand {
    fn default() -> Self {
        Brand {
            accent: DEFAULT_ACCENT.into(),
            accent_dark: DEFAULT_ACCENT_DARK.into(),
            on_accent: "#ffffff".into(),
            on_accent_dark: "#1a0c0e".into(),
            logo: None,
        }
    }
}

/// Only a bare `#rgb` / `#rrggbb` gets into a style; anything else is `fallback`.
pub fn safe_colour<'a>(colour: &'a str, fallback: &'a str) -> &'a str {
    let c = colour.trim();
    let hex = c.strip_prefix('#').unwrap_or("");
    if matches!(hex.len(), 3 | 6) && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        c
    } else {
        fallback
    }
}

impl Brand {
    /// The site stylesheet's accent variables for this brand, appended after it. Hover
    /// moves away from the background (darker in light, lighter in dark), so it never
    /// reads worse than the checked colour.
    pub fn page_css(&self) -> String {
        let light = safe_colour(&self.accent, DEFAULT_ACCENT);
        let dark = safe_colour(&self.accent_dark, DEFAULT_ACCENT_DARK);
        let on_light = safe_colour(&self.on_accent, "#ffffff");
        let on_dark = safe_colour(&self.on_accent_dark, "#1a0c0e");
        format!(
            ":root{{--accent:{light};--accent-hover:color-mix(in srgb,{light} 80%,#000);--on-accent:{on_light}}}\
             @media (prefers-color-scheme:dark){{:root{{--accent:{dark};--accent-hover:color-mix(in srgb,{dark} 75%,#fff);--on-accent:{on_dark}}}}}"
        )
    }

    /// The site's icon, as SVG: a disc in the accent (the dark scheme's accent where the
    /// browser is dark), so tabs and bookmarks carry the publication's colour. Served
    /// at `/favicon.svg` and `/favicon.ico`; every page links it.
    pub fn favicon_svg(&self) -> String {
        let light = safe_colour(&self.accent, DEFAULT_ACCENT);
        let dark = safe_colour(&self.accent_dark, DEFAULT_ACCENT_DARK);
        let style = format!(
            "circle{{fill:{light}}}@media (prefers-color-scheme:dark){{circle{{fill:{dark}}}}}"
        );
        html! {
            svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32" {
                style { (style) }
                circle cx="16" cy="16" r="15" {}
            }
        }
        .into_string()
    }

    /// The masthead's mark: the logo (with its alt text standing for the name) or the
    /// publication's name in type.
    pub fn masthead(&self, publication: &str) -> Markup {
        html! {
            @if let Some(logo) = &self.logo {
                img.brand-logo src=(logo.url) alt=(logo.alt) height="40";
            } @else {
                (publication)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_colours_do_not_reach_the_css() {
        let b = Brand {
            accent: "red;}body{display:none".into(),
            ..Brand::default()
        };
        let css = b.page_css();
        assert!(css.contains("--accent:#b3001b;"));
        assert!(!css.contains("display:none"));
    }

    #[test]
    fn logo_replaces_the_name_with_its_alt_text() {
        let b = Brand {
            logo: Some(Logo {
                url: "/brand/logo/1".into(),
                alt: "Breakfast \"in\" Red".into(),
            }),
            ..Brand::default()
        };
        let html = b.masthead("Breakfast").into_string();
        assert!(
            html.contains(r#"alt="Breakfast &quot;in&quot; Red""#),
            "{html}"
        );
    }
}
