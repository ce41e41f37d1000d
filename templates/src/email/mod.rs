//! Email layouts: the daily digest and one-off transactional messages.
//!
//! Mail clients are a hostile rendering target: Gmail drops `<style>` for
//! some accounts, Outlook for Windows lays out with Word, and Apple Mail or
//! Outlook.com may repaint everything for dark mode. So every element carries
//! its own inline style and a colour class; the `<style>` block in the head
//! only adds what cannot be inline (dark mode, narrow screens) and the mail
//! still reads when it is thrown away.

pub mod digest;
pub mod transactional;

use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::brand::{Brand, safe_colour};
pub(crate) use crate::brand::{DEFAULT_ACCENT, DEFAULT_ACCENT_DARK};

/// Palette and type, as macros so that `concat!` can build whole inline
/// style strings at compile time.
macro_rules! page_bg {
    () => {
        "#efe8dc"
    };
}
macro_rules! card_bg {
    () => {
        "#fffdf9"
    };
}
macro_rules! box_bg {
    () => {
        "#f6f0e4"
    };
}
macro_rules! ink {
    () => {
        "#1f1b16"
    };
}
macro_rules! muted {
    () => {
        "#5e564b"
    };
}
macro_rules! rule {
    () => {
        "#e2d9c8"
    };
}
macro_rules! sans {
    () => {
        "-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,'Helvetica Neue',Helvetica,Arial,sans-serif"
    };
}
macro_rules! serif {
    () => {
        "Georgia,Cambria,'Times New Roman',Times,serif"
    };
}
pub(crate) use {box_bg, ink, muted, rule, sans, serif};

pub(crate) const PAGE_BG: &str = page_bg!();
pub(crate) const CARD_BG: &str = card_bg!();
pub(crate) const BOX_BG: &str = box_bg!();

/// Overrides for clients that honour `prefers-color-scheme` (Apple Mail,
/// iOS, some Outlooks) and for Outlook.com, which marks its own dark mode
/// with `data-ogsc`/`data-ogsb` instead. Gmail ignores all of it and inverts
/// on its own; the explicit backgrounds everywhere keep that readable.
const HEAD_CSS: &str = "\
:root{color-scheme:light dark;supported-color-schemes:light dark}
body{margin:0!important;padding:0!important;width:100%!important}
a[x-apple-data-detectors]{color:inherit!important;text-decoration:none!important}
@media only screen and (max-width:620px){
.bf-pad{padding-left:20px!important;padding-right:20px!important}
.bf-title{font-size:30px!important;line-height:34px!important}
.bf-lead{font-size:23px!important;line-height:29px!important}
.bf-thumb{width:84px!important}
.bf-thumb img{width:84px!important}
}
@media (prefers-color-scheme:dark){
.bf-page,.bf-body{background-color:#15120f!important}
.bf-card{background-color:#201c18!important}
.bf-box{background-color:#2a241e!important}
.bf-ink{color:#efe9df!important}
.bf-muted{color:#b9ae9f!important}
.bf-accent,.bf-note a{color:{ACCENT_DARK}!important}
.bf-rule{border-color:#3b342c!important}
.bf-btn{background-color:{ACCENT_DARK}!important}
.bf-btn a{color:{ON_ACCENT_DARK}!important}
}
[data-ogsb] .bf-page{background-color:#15120f!important}
[data-ogsb] .bf-card{background-color:#201c18!important}
[data-ogsb] .bf-box{background-color:#2a241e!important}
[data-ogsc] .bf-ink{color:#efe9df!important}
[data-ogsc] .bf-muted{color:#b9ae9f!important}
[data-ogsc] .bf-accent{color:{ACCENT_DARK}!important}
";

/// Outlook for Windows ignores `max-width`, so it gets a fixed 600px table
/// that other clients never see.
const MSO_OPEN: &str = r#"<!--[if mso]><table role="presentation" width="600" align="center" cellpadding="0" cellspacing="0" border="0"><tr><td><![endif]-->"#;
const MSO_CLOSE: &str = "<!--[if mso]></td></tr></table><![endif]-->";

/// Inbox previews show the first text they find; padding the preheader with
/// invisible joiners stops "View in browser" leaking in after it.
const PREHEADER_SPACER: &str = "&#847;&zwnj;&nbsp;";

/// The document around any email body: head, hidden preheader, the page
/// background and the centred 600px column. `column` must be `<tr>` rows.
pub(crate) fn document(title: &str, preheader: &str, brand: &Brand, column: Markup) -> Markup {
    let head_css = HEAD_CSS
        .replace(
            "{ACCENT_DARK}",
            safe_colour(&brand.accent_dark, DEFAULT_ACCENT_DARK),
        )
        .replace(
            "{ON_ACCENT_DARK}",
            safe_colour(&brand.on_accent_dark, "#1a0c0e"),
        );
    html! {
        (DOCTYPE)
        html lang="en" dir="ltr" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta http-equiv="X-UA-Compatible" content="IE=edge";
                meta name="x-apple-disable-message-reformatting";
                meta name="format-detection" content="telephone=no, date=no, address=no, email=no, url=no";
                meta name="color-scheme" content="light dark";
                meta name="supported-color-schemes" content="light dark";
                title { (title) }
                style { (PreEscaped(head_css)) }
            }
            body.bf-body style=(concat!("margin:0;padding:0;width:100%;background-color:", page_bg!(), ";-webkit-text-size-adjust:100%;-ms-text-size-adjust:100%")) {
                span style=(concat!("display:none;font-size:1px;line-height:1px;max-height:0;max-width:0;opacity:0;overflow:hidden;mso-hide:all;color:", page_bg!())) {
                    (preheader)
                    @for _ in 0..60 { (PreEscaped(PREHEADER_SPACER)) }
                }
                table.bf-page role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" bgcolor=(PAGE_BG)
                    style=(concat!("width:100%;border-collapse:collapse;background-color:", page_bg!())) {
                    tr {
                        td align="center" style="padding:20px 8px 36px" {
                            (PreEscaped(MSO_OPEN))
                            table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0"
                                style="width:100%;max-width:600px;margin:0 auto;border-collapse:collapse" {
                                (column)
                            }
                            (PreEscaped(MSO_CLOSE))
                        }
                    }
                }
            }
        }
    }
}

/// A bulletproof button: the table cell paints the colour for Outlook, the
/// padded link gives everyone else a large tap target.
pub(crate) fn button(label: &str, url: &str, brand: &Brand) -> Markup {
    let accent = safe_accent(&brand.accent);
    let on_accent = safe_colour(&brand.on_accent, "#ffffff");
    html! {
        table role="presentation" cellpadding="0" cellspacing="0" border="0" style="border-collapse:separate" {
            tr {
                td.bf-btn bgcolor=(accent) style={ "border-radius:6px;mso-padding-alt:14px 28px;background-color:" (accent) } {
                    a href=(url) target="_blank" style={ "display:inline-block;padding:14px 28px;font-family:" (sans!()) ";font-size:16px;line-height:20px;font-weight:700;color:" (on_accent) ";text-decoration:none;border-radius:6px" } {
                        (label)
                    }
                }
            }
        }
    }
}

/// A configured accent ends up inside `style` attributes, where escaping
/// stops nothing; only a bare hex colour gets through.
pub(crate) fn safe_accent(colour: &str) -> &str {
    safe_colour(colour, DEFAULT_ACCENT)
}

/// The masthead's mark: the logo at `height` px, its alt text in the accent and the
/// masthead's type for clients that block images; or the name itself.
pub(crate) fn logo_or_name(brand: &Brand, publication: &str, accent: &str, height: u32) -> Markup {
    html! {
        @if let Some(logo) = &brand.logo {
            img src=(logo.url) alt=(logo.alt) height=(height)
                style={ "display:block;margin:0 auto;border:0;outline:none;height:" (height) "px;width:auto;max-width:100%;color:" (accent) };
        } @else {
            (publication)
        }
    }
}

/// Plain-text parts are read in terminals and quoted in replies, so prose is
/// wrapped near 72 columns. Words are never split: a long URL stays whole and
/// clickable, and a substituted sentinel is never broken across lines.
pub(crate) fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    for (i, para) in paragraphs(text).iter().enumerate() {
        if i > 0 {
            out.push_str("\n\n");
        }
        let mut col = 0;
        for word in para.split_whitespace() {
            let len = word.chars().count();
            if col > 0 && col + 1 + len > width {
                out.push('\n');
                col = 0;
            } else if col > 0 {
                out.push(' ');
                col += 1;
            }
            out.push_str(word);
            col += len;
        }
    }
    out
}

/// `text` wrapped at 72 columns, as a line (or lines) of its own.
pub(crate) fn push_wrapped(out: &mut String, text: &str) {
    out.push_str(&wrap(text, 72));
    out.push('\n');
}

/// The last lines of every plain-text email: the publication's name and its postal
/// address (the address bulk-sender rules ask every list message to show).
pub(crate) fn push_signature(out: &mut String, publication: &str, postal_address: &str) {
    out.push_str(publication);
    out.push('\n');
    push_wrapped(out, postal_address);
}

/// Blank-line separated paragraphs, ignoring stray whitespace.
fn paragraphs(text: &str) -> Vec<String> {
    let mut paras = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !current.is_empty() {
                paras.push(std::mem::take(&mut current));
            }
        } else {
            if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(line.trim());
        }
    }
    if !current.is_empty() {
        paras.push(current);
    }
    paras
}

/// A heading underlined the way plain-text readers expect (setext style).
pub(crate) fn underlined(heading: &str, mark: char) -> String {
    let heading = wrap(heading, 72);
    let longest = heading
        .lines()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = heading;
    out.push('\n');
    out.extend(std::iter::repeat_n(mark, longest));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_keeps_long_words_whole_and_lines_short() {
        let text = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma https://example.org/a/very/long/path/that/is/longer/than/the/limit/of/seventy-two/columns";
        let wrapped = wrap(text, 40);
        for line in wrapped.lines() {
            assert!(line.chars().count() <= 40 || !line.contains(' '), "{line}");
        }
        assert!(wrapped.contains("https://example.org/a/very/long/path/that/is/longer/than/the/limit/of/seventy-two/columns"));
    }

    #[test]
    fn wrap_keeps_paragraphs() {
        assert_eq!(wrap("one\ntwo\n\n\nthree", 72), "one two\n\nthree");
    }

    #[test]
    fn accent_must_be_hex() {
        assert_eq!(safe_accent("#C00"), "#C00");
        assert_eq!(safe_accent("#b3001b"), "#b3001b");
        assert_eq!(safe_accent("red;background:url(x)"), DEFAULT_ACCENT);
        assert_eq!(safe_accent("#12345g"), DEFAULT_ACCENT);
    }

    #[test]
    fn underline_matches_heading() {
        assert_eq!(underlined("Culture", '-'), "Culture\n-------");
    }
}
