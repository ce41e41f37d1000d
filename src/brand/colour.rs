//! Accent colours: parsing `#rgb`/`#rrggbb`, WCAG 2 contrast, and the check that an
//! accent reads on every background of its scheme. One colour cannot pass against both a
//! light and a dark background (it would need a luminance both below ~0.17 and above
//! ~0.21), so each scheme has its own accent, and the dark one can be derived.

use super::Scheme;

/// WCAG 2 AA for normal text: links and headings are drawn in the accent.
pub const MIN_RATIO: f64 = 4.5;

/// `#rgb` or `#rrggbb` (the `#` optional), as 0–255 channels.
pub fn parse(colour: &str) -> Option<[u8; 3]> {
    let hex = colour.trim();
    let hex = hex.strip_prefix('#').unwrap_or(hex);
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let channel = |s: &str| u8::from_str_radix(s, 16).ok();
    match hex.len() {
        3 => {
            let mut out = [0u8; 3];
            for (i, c) in hex.chars().enumerate() {
                out[i] = channel(&format!("{c}{c}"))?;
            }
            Some(out)
        }
        6 => Some([
            channel(&hex[0..2])?,
            channel(&hex[2..4])?,
            channel(&hex[4..6])?,
        ]),
        _ => None,
    }
}

pub fn to_hex(rgb: [u8; 3]) -> String {
    format!("#{:02x}{:02x}{:02x}", rgb[0], rgb[1], rgb[2])
}

/// Relative luminance (WCAG 2).
pub fn luminance(rgb: [u8; 3]) -> f64 {
    let lin = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * lin(rgb[0]) + 0.7152 * lin(rgb[1]) + 0.0722 * lin(rgb[2])
}

pub fn ratio(a: [u8; 3], b: [u8; 3]) -> f64 {
    let (la, lb) = (luminance(a), luminance(b));
    let (hi, lo) = if la > lb { (la, lb) } else { (lb, la) };
    (hi + 0.05) / (lo + 0.05)
}

/// The lowest contrast of `rgb` against the scheme's backgrounds, and that background.
pub fn worst(rgb: [u8; 3], scheme: Scheme) -> (f64, &'static str) {
    scheme
        .backgrounds()
        .iter()
        .filter_map(|bg| parse(bg).map(|b| (ratio(rgb, b), *bg)))
        .fold((f64::INFINITY, ""), |w, c| if c.0 < w.0 { c } else { w })
}

/// The colour normalised to `#rrggbb` if it reads on every background of `scheme`;
/// otherwise a sentence that gives the ratio, so the editor knows how far off it is.
pub fn check(colour: &str, scheme: Scheme) -> Result<String, String> {
    let Some(rgb) = parse(colour) else {
        return Err(format!(
            "{:?} is not a colour: use a hex value such as #b3001b.",
            colour.trim()
        ));
    };
    let (r, bg) = worst(rgb, scheme);
    if r < MIN_RATIO {
        let hint = match scheme {
            Scheme::Light => "choose a darker shade",
            Scheme::Dark => "choose a lighter shade",
        };
        return Err(format!(
            "{} is unreadable on the {} background ({bg}): its contrast is {r:.2}:1 and text needs at least {MIN_RATIO}:1; {hint}.",
            to_hex(rgb),
            scheme.name()
        ));
    }
    Ok(to_hex(rgb))
}

/// A dark-scheme accent for `light`: the same hue mixed with white, in small steps, until
/// it reads on every dark background.
pub fn derive_dark(light: &str) -> String {
    let base = parse(light).unwrap_or([0xb3, 0x00, 0x1b]);
    for step in 0..=20u16 {
        let mix = |c: u8| (u16::from(c) + (255 - u16::from(c)) * step / 20) as u8;
        let rgb = [mix(base[0]), mix(base[1]), mix(base[2])];
        if worst(rgb, Scheme::Dark).0 >= MIN_RATIO {
            return to_hex(rgb);
        }
    }
    "#ffffff".into()
}

/// Text on an accent-filled button: white or near-black, whichever contrasts more.
pub fn text_on(accent: &str) -> String {
    let rgb = parse(accent).unwrap_or([0xb3, 0x00, 0x1b]);
    let (white, black) = ([0xff, 0xff, 0xff], [0x1a, 0x0c, 0x0e]);
    if ratio(rgb, white) >= ratio(rgb, black) {
        "#ffffff".into()
    } else {
        "#1a0c0e".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stock_accents_pass_and_a_pale_one_is_refused_with_its_ratio() {
        assert_eq!(check("#B3001B", Scheme::Light).unwrap(), "#b3001b");
        assert_eq!(check("#ff8f9a", Scheme::Dark).unwrap(), "#ff8f9a");
        let why = check("#ffcc00", Scheme::Light).unwrap_err();
        assert!(why.contains(":1") && why.contains("4.5"), "{why}");
        let measured = worst(parse("#ffcc00").unwrap(), Scheme::Light).0;
        assert!(why.contains(&format!("{measured:.2}:1")), "{why}");
        let why = check("#b3001b", Scheme::Dark).unwrap_err();
        assert!(why.contains("dark background"), "{why}");
        assert!(check("red", Scheme::Light).is_err());
        assert!(check("#12345", Scheme::Light).is_err());
    }

    #[test]
    fn known_ratios() {
        let r = ratio([0, 0, 0], [255, 255, 255]);
        assert!((r - 21.0).abs() < 0.01, "{r}");
        assert_eq!(parse("#abc"), Some([0xaa, 0xbb, 0xcc]));
    }

    #[test]
    fn derived_dark_accents_read_on_dark_backgrounds() {
        for light in ["#b3001b", "#0b3d91", "#1e6b34", "#000000"] {
            let dark = derive_dark(light);
            assert!(check(&dark, Scheme::Dark).is_ok(), "{light} -> {dark}");
        }
        assert_eq!(text_on("#b3001b"), "#ffffff");
        assert_eq!(text_on("#ff8f9a"), "#1a0c0e");
    }
}
