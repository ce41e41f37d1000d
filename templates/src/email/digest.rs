//! The daily digest: masthead, greeting and editor's note, pinned stories,
//! one block per section, "on this day", and the legal footer.
//!
//! The caller renders once per digest with sentinels in the personal fields
//! (`greeting`, `unsubscribe_url`, `preferences_url`) and substitutes them
//! per recipient. So those values are only ever escaped, never trimmed,
//! re-cased, wrapped or encoded, and each is written exactly once per part.

use crate::brand::Brand;
use maud::{Markup, PreEscaped, html};

use super::{
    BOX_BG, CARD_BG, box_bg, document, ink, logo_or_name, muted, push_signature, push_wrapped,
    rule, safe_accent, sans, serif, underlined, wrap,
};

/// Everything one digest shows. Times are already formatted: the service
/// knows the subscriber's zone and locale, this crate does not.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DigestEmail {
    pub publication: String,
    pub subject: String,
    pub preheader: String,
    /// e.g. "Monday 6 March 2026".
    pub date_label: String,
    /// Personal: e.g. "Good morning, Ana", or a sentinel.
    pub greeting: String,
    /// Already sanitised; written as is.
    pub editor_note_html: Option<String>,
    /// The same note for the plain-text part.
    pub editor_note_text: Option<String>,
    /// "In today's issue": (headline, link) of every story; empty for no list.
    pub headlines: Vec<(String, String)>,
    pub pinned: Vec<ArticleView>,
    pub sections: Vec<SectionView>,
    pub on_this_day: Option<ArticleView>,
    /// The editor's announcement, placed between the stories.
    pub announcement: Option<AnnouncementView>,
    /// The issue's archive page; also the link the email asks readers to share.
    pub view_in_browser_url: String,
    /// The sign-up page, for readers who got the email forwarded.
    pub subscribe_url: String,
    /// Personal.
    pub unsubscribe_url: String,
    /// Personal.
    pub preferences_url: String,
    pub postal_address: String,
    /// e.g. "You get this because you subscribed at example.org."
    pub why_received: String,
    /// The accents (a colour that is not bare hex falls back to the red) and the logo.
    pub brand: Brand,
}

/// A short block an editor places between stories (a fundraiser, an event).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AnnouncementView {
    /// Already sanitised; written as is.
    pub html: String,
    pub text: String,
    /// How many stories (pinned, then section by section) come before it; past the
    /// last story it follows the last one.
    pub after: usize,
}

/// The reading-order number of each story's end, to place the announcement: pinned
/// story `i` ends at `i + 1`, and each section continues the count.
fn section_offsets(d: &DigestEmail) -> Vec<usize> {
    let mut at = d.pinned.len();
    d.sections
        .iter()
        .filter(|s| !s.articles.is_empty())
        .map(|s| {
            let start = at;
            at += s.articles.len();
            start
        })
        .collect()
}

/// Where the announcement goes: after this many stories (clamped to their number).
fn announcement_at(d: &DigestEmail) -> Option<usize> {
    let total = d.pinned.len() + d.sections.iter().map(|s| s.articles.len()).sum::<usize>();
    d.announcement.as_ref().map(|a| a.after.min(total))
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SectionView {
    pub name: String,
    pub articles: Vec<ArticleView>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ArticleView {
    pub title: String,
    pub url: String,
    pub author: Option<String>,
    pub published_label: Option<String>,
    /// Plain text; the feed's HTML has been stripped by the caller.
    pub summary_text: String,
    pub section: Option<String>,
    pub image_url: Option<String>,
    /// Empty means decorative.
    pub image_alt: String,
    /// Shown as headline and one line, without picture or byline (long issues).
    pub compact: bool,
}

/// Width of the column inside the card (600 minus 32px padding each side);
/// Outlook sizes images by the attribute, not by CSS.
const CONTENT_WIDTH: u32 = 536;
const THUMB_WIDTH: u32 = 120;

/// Styles on the sanitised note's own elements, which we do not write and so
/// cannot style inline by hand.
const NOTE_CSS: &str = concat!(
    "p{margin:0 0 14px 0}",
    "p:last-child{margin-bottom:0}",
    "h2,h3,h4{font-family:",
    serif!(),
    ";color:",
    ink!(),
    ";margin:18px 0 8px 0;font-size:19px;line-height:25px}",
    "ul,ol{margin:0 0 14px 0;padding-left:22px}",
    "li{margin:0 0 6px 0}",
    "blockquote{margin:0 0 14px 0;padding-left:14px;border-left:3px solid ",
    rule!(),
    ";font-style:italic}",
    "img{max-width:100%;height:auto}",
);

pub fn render_digest_html(d: &DigestEmail) -> String {
    let accent = safe_accent(&d.brand.accent);
    let column = html! {
        // "View in browser" sits above the card so it is the first link a
        // reader with a broken client sees.
        tr {
            td.bf-muted align="center" style=(concat!("padding:0 12px 14px 12px;font-family:", sans!(), ";font-size:12px;line-height:18px;color:", muted!())) {
                a.bf-muted href=(d.view_in_browser_url) target="_blank" style=(concat!("color:", muted!(), ";text-decoration:underline")) { "View in browser" }
                @if !d.subscribe_url.is_empty() {
                    (PreEscaped("&nbsp;&nbsp;&middot;&nbsp;&nbsp;"))
                    "Forwarded this? "
                    a.bf-muted href=(d.subscribe_url) target="_blank" style=(concat!("color:", muted!(), ";text-decoration:underline")) { "Subscribe" }
                }
            }
        }
        tr {
            td.bf-card bgcolor=(CARD_BG) style={ "background-color:" (CARD_BG) ";border-top:5px solid " (accent) ";border-radius:3px" } {
                table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="border-collapse:collapse" {
                    (masthead(d, accent))
                    (opening(d, accent))
                    @if !d.headlines.is_empty() { (headline_list(&d.headlines, accent)) }
                    @if announcement_at(d) == Some(0) { (announcement_block(d, accent)) }
                    @if !d.pinned.is_empty() {
                        (section_heading("Top stories", accent))
                        @for (i, a) in d.pinned.iter().enumerate() {
                            (lead_article(a, accent, i + 1 == d.pinned.len()))
                            @if announcement_at(d) == Some(i + 1) { (announcement_block(d, accent)) }
                        }
                    }
                    @for (s, start) in d.sections.iter().filter(|s| !s.articles.is_empty()).zip(section_offsets(d)) {
                        (section_heading(&s.name, accent))
                        @for (i, a) in s.articles.iter().enumerate() {
                            (article_row(a, accent, i + 1 == s.articles.len()))
                            @if announcement_at(d) == Some(start + i + 1) { (announcement_block(d, accent)) }
                        }
                    }
                    @if let Some(a) = &d.on_this_day {
                        (on_this_day(a, accent))
                    }
                    tr { td style="height:20px;line-height:20px;font-size:0" { (PreEscaped("&nbsp;")) } }
                }
            }
        }
        (footer(d))
    };
    document(&d.subject, &d.preheader, &d.brand, column).into_string()
}

/// One band of the email's body: a row whose cell carries the side padding (which the
/// phone styles narrow through `bf-pad`) and holds a full-width layout table around
/// `cell`, a `td`. The blocks between the masthead and the footer are each one, so their
/// edges line up.
fn band(padding: &str, cell: Markup) -> Markup {
    html! {
        tr {
            td.bf-pad style=(padding) {
                table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="border-collapse:collapse" {
                    tr { (cell) }
                }
            }
        }
    }
}

fn masthead(d: &DigestEmail, accent: &str) -> Markup {
    html! {
        tr {
            td.bf-pad align="center" style="padding:34px 32px 22px 32px" {
                h1.bf-accent.bf-title style={ "margin:0;font-family:" (serif!()) ";font-size:38px;line-height:42px;font-weight:700;letter-spacing:-0.5px;color:" (accent) } {
                    (logo_or_name(&d.brand, &d.publication, accent, 56))
                }
                p.bf-muted style=(concat!("margin:10px 0 0 0;font-family:", sans!(), ";font-size:12px;line-height:16px;font-weight:600;letter-spacing:1.6px;text-transform:uppercase;color:", muted!())) {
                    (d.date_label)
                }
            }
        }
    }
}

fn opening(d: &DigestEmail, accent: &str) -> Markup {
    let note = d
        .editor_note_html
        .as_deref()
        .map(|n| inline_note(n, accent));
    band(
        "padding:0 32px",
        html! {
            td.bf-rule style=(concat!("border-top:1px solid ", rule!(), ";padding:24px 0 4px 0")) {
                p.bf-ink style=(concat!("margin:0 0 14px 0;font-family:", serif!(), ";font-size:21px;line-height:28px;font-style:italic;color:", ink!())) {
                    (d.greeting)
                }
                @if let Some(note) = note {
                    div.bf-ink.bf-note style={ "margin:0 0 10px 0;padding:2px 0 2px 16px;border-left:3px solid " (accent) ";font-family:" (sans!()) ";font-size:16px;line-height:25px;color:" (ink!()) } {
                        (PreEscaped(note))
                    }
                }
            }
        },
    )
}

/// The editor's announcement: a tinted box between stories.
fn announcement_block(d: &DigestEmail, accent: &str) -> Markup {
    let Some(a) = &d.announcement else {
        return html! {};
    };
    band(
        "padding:22px 32px 0 32px",
        html! {
            td.bf-box.bf-ink.bf-announcement bgcolor=(BOX_BG) style={ "background-color:" (box_bg!()) ";border-left:4px solid " (accent) ";padding:14px 20px;font-family:" (sans!()) ";font-size:16px;line-height:24px;color:" (ink!()) } {
                (PreEscaped(inline_note(&a.html, accent)))
            }
        },
    )
}

/// "In today's issue": every headline, linked, before the stories.
fn headline_list(headlines: &[(String, String)], accent: &str) -> Markup {
    band(
        "padding:18px 32px 0 32px",
        html! {
            td.bf-box bgcolor=(BOX_BG) style={ "background-color:" (box_bg!()) ";padding:16px 20px" } {
                h2.bf-accent style={ "margin:0 0 8px 0;font-family:" (sans!()) ";font-size:12px;line-height:16px;font-weight:700;letter-spacing:1.8px;text-transform:uppercase;color:" (accent) } {
                    "In today's issue"
                }
                ul.bf-ink style=(concat!("margin:0;padding:0 0 0 18px;font-family:", sans!(), ";font-size:15px;line-height:22px;color:", ink!())) {
                    @for (title, url) in headlines {
                        li style="margin:0 0 4px 0" {
                            a.bf-ink href=(url) target="_blank" style=(concat!("color:", ink!(), ";text-decoration:none")) { (title) }
                        }
                    }
                }
            }
        },
    )
}

/// Inline the note's styles; if the inliner cannot parse it, the note is
/// still better shown plain than not at all.
pub(crate) fn inline_note(note: &str, accent: &str) -> String {
    let inliner = css_inline::CSSInliner::options()
        .load_remote_stylesheets(false)
        .build();
    let css = format!("{NOTE_CSS}a{{color:{accent};text-decoration:underline}}");
    inliner
        .inline_fragment(note, &css)
        .unwrap_or_else(|_| note.to_owned())
}

fn section_heading(name: &str, accent: &str) -> Markup {
    band(
        "padding:30px 32px 0 32px",
        html! {
            td style={ "border-top:2px solid " (accent) ";padding:10px 0 0 0" } {
                h2.bf-accent style={ "margin:0;font-family:" (sans!()) ";font-size:13px;line-height:18px;font-weight:700;letter-spacing:1.8px;text-transform:uppercase;color:" (accent) } {
                    (name)
                }
            }
        },
    )
}

impl ArticleView {
    /// "Author · date", or whichever of the two the story has; the same in the email and
    /// on the archive page.
    pub fn byline(&self) -> Option<String> {
        match (&self.author, &self.published_label) {
            (Some(au), Some(p)) => Some(format!("{au} · {p}")),
            (Some(au), None) => Some(au.clone()),
            (None, Some(p)) => Some(p.clone()),
            (None, None) => None,
        }
    }
}

fn byline_html(a: &ArticleView) -> Markup {
    html! {
        @if let Some(b) = a.byline() {
            p.bf-muted style=(concat!("margin:0 0 8px 0;font-family:", sans!(), ";font-size:13px;line-height:18px;color:", muted!())) {
                (b)
            }
        }
    }
}

fn read_more(a: &ArticleView, accent: &str) -> Markup {
    html! {
        p style="margin:0" {
            a.bf-accent href=(a.url) target="_blank" style={ "font-family:" (sans!()) ";font-size:14px;line-height:20px;font-weight:700;color:" (accent) ";text-decoration:none" } {
                "Read more " (PreEscaped("&rarr;"))
            }
        }
    }
}

fn summary(a: &ArticleView) -> Markup {
    html! {
        @if !a.summary_text.trim().is_empty() {
            p.bf-ink style=(concat!("margin:0 0 10px 0;font-family:", sans!(), ";font-size:16px;line-height:25px;color:", ink!())) {
                (a.summary_text)
            }
        }
    }
}

fn image(src: &str, alt: &str, width: u32, href: &str) -> Markup {
    html! {
        a href=(href) target="_blank" style="text-decoration:none;display:block" {
            img src=(src) alt=(alt) width=(width)
                style={ "display:block;width:100%;max-width:100%;height:auto;border:0;outline:none;text-decoration:none;font-family:" (sans!()) ";font-size:13px;color:" (muted!()) };
        }
    }
}

fn separator(last: bool) -> &'static str {
    if last {
        "padding:18px 0 0 0"
    } else {
        concat!("padding:18px 0 20px 0;border-bottom:1px solid ", rule!())
    }
}

/// Pinned stories: full-width picture and a larger headline.
fn lead_article(a: &ArticleView, accent: &str, last: bool) -> Markup {
    band(
        "padding:0 32px",
        html! {
            td.bf-rule style=(separator(last)) {
                @if let Some(src) = &a.image_url {
                    (image(src, &a.image_alt, CONTENT_WIDTH, &a.url))
                    div style="height:14px;line-height:14px;font-size:0" { (PreEscaped("&nbsp;")) }
                }
                @if let Some(section) = &a.section {
                    p.bf-accent style={ "margin:0 0 6px 0;font-family:" (sans!()) ";font-size:12px;line-height:16px;font-weight:700;letter-spacing:1.2px;text-transform:uppercase;color:" (accent) } {
                        (section)
                    }
                }
                h3.bf-lead style=(concat!("margin:0 0 8px 0;font-family:", serif!(), ";font-size:26px;line-height:32px;font-weight:700;color:", ink!())) {
                    a.bf-ink href=(a.url) target="_blank" style=(concat!("color:", ink!(), ";text-decoration:none")) { (a.title) }
                }
                (byline_html(a))
                (summary(a))
                (read_more(a, accent))
            }
        },
    )
}

/// A compact story: the headline as the link and one line under it.
fn compact_row(a: &ArticleView, last: bool) -> Markup {
    band(
        "padding:0 32px",
        html! {
            td.bf-rule style=(if last { "padding:12px 0 0 0" } else { concat!("padding:12px 0 12px 0;border-bottom:1px solid ", rule!()) }) {
                h3 style=(concat!("margin:0 0 4px 0;font-family:", serif!(), ";font-size:17px;line-height:23px;font-weight:700;color:", ink!())) {
                    a.bf-ink href=(a.url) target="_blank" style=(concat!("color:", ink!(), ";text-decoration:none")) { (a.title) }
                }
                @if !a.summary_text.trim().is_empty() {
                    p.bf-muted style=(concat!("margin:0;font-family:", sans!(), ";font-size:14px;line-height:20px;color:", muted!())) { (a.summary_text) }
                }
            }
        },
    )
}

/// Section stories: headline and summary with an optional thumbnail on the
/// right, which stays beside the text even on a phone.
fn article_row(a: &ArticleView, accent: &str, last: bool) -> Markup {
    if a.compact {
        return compact_row(a, last);
    }
    band(
        "padding:0 32px",
        html! {
            td.bf-rule style=(separator(last)) {
                table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="border-collapse:collapse" {
                    tr {
                        td valign="top" style="vertical-align:top" {
                            h3 style=(concat!("margin:0 0 6px 0;font-family:", serif!(), ";font-size:20px;line-height:26px;font-weight:700;color:", ink!())) {
                                a.bf-ink href=(a.url) target="_blank" style=(concat!("color:", ink!(), ";text-decoration:none")) { (a.title) }
                            }
                            (byline_html(a))
                            (summary(a))
                            (read_more(a, accent))
                        }
                        @if let Some(src) = &a.image_url {
                            td.bf-thumb valign="top" width=(THUMB_WIDTH + 16) style={ "vertical-align:top;width:" (THUMB_WIDTH + 16) "px;padding:4px 0 0 16px" } {
                                (image(src, &a.image_alt, THUMB_WIDTH, &a.url))
                            }
                        }
                    }
                }
            }
        },
    )
}

fn on_this_day(a: &ArticleView, accent: &str) -> Markup {
    band(
        "padding:32px 32px 0 32px",
        html! {
            td.bf-box bgcolor=(BOX_BG) style={ "background-color:" (box_bg!()) ";border-left:4px solid " (accent) ";padding:20px 22px" } {
                p.bf-accent style={ "margin:0 0 8px 0;font-family:" (sans!()) ";font-size:12px;line-height:16px;font-weight:700;letter-spacing:1.8px;text-transform:uppercase;color:" (accent) } {
                    "On this day"
                    @if let Some(p) = &a.published_label {
                        span.bf-muted style=(concat!("font-weight:400;letter-spacing:0;text-transform:none;color:", muted!())) {
                            " · " (p)
                        }
                    }
                }
                h3 style=(concat!("margin:0 0 8px 0;font-family:", serif!(), ";font-size:20px;line-height:26px;font-weight:700;color:", ink!())) {
                    a.bf-ink href=(a.url) target="_blank" style=(concat!("color:", ink!(), ";text-decoration:none")) { (a.title) }
                }
                @if let Some(au) = &a.author {
                    p.bf-muted style=(concat!("margin:0 0 8px 0;font-family:", sans!(), ";font-size:13px;line-height:18px;color:", muted!())) { (au) }
                }
                (summary(a))
                (read_more(a, accent))
            }
        },
    )
}

fn footer(d: &DigestEmail) -> Markup {
    const P: &str = concat!(
        "margin:0 0 10px 0;font-family:",
        sans!(),
        ";font-size:12px;line-height:19px;color:",
        muted!()
    );
    const LINK: &str = concat!("color:", muted!(), ";text-decoration:underline");
    html! {
        tr {
            td.bf-muted align="center" style="padding:26px 24px 0 24px" {
                p.bf-muted style=(P) {
                    "Know someone who would like this? Share this issue: "
                    a.bf-muted href=(d.view_in_browser_url) target="_blank" style=(LINK) { (display_url(&d.view_in_browser_url)) }
                }
                p.bf-muted style=(P) { (d.why_received) }
                p.bf-muted style=(P) {
                    a.bf-muted href=(d.unsubscribe_url) target="_blank" style=(LINK) { "Unsubscribe" }
                    (PreEscaped("&nbsp;&nbsp;&middot;&nbsp;&nbsp;"))
                    a.bf-muted href=(d.preferences_url) target="_blank" style=(LINK) { "Preferences" }
                }
                p.bf-muted style=(P) {
                    strong style="font-weight:600" { (d.publication) }
                    br;
                    (d.postal_address)
                }
            }
        }
    }
}

/// A link as people read it aloud: without the scheme.
fn display_url(url: &str) -> &str {
    url.strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .unwrap_or(url)
}

/// The text/plain alternative: what screen readers, watches, and readers
/// who prefer it get. Same order and same links as the HTML.
pub fn render_digest_text(d: &DigestEmail) -> String {
    let mut out = String::new();
    out.push_str(&underlined(&d.publication, '='));
    out.push('\n');
    out.push_str(&d.date_label);
    out.push_str("\n\nView in browser: ");
    out.push_str(&d.view_in_browser_url);
    if !d.subscribe_url.is_empty() {
        out.push_str("\nForwarded this? Subscribe: ");
        out.push_str(&d.subscribe_url);
    }
    out.push_str("\n\n");
    // Personal: verbatim, never wrapped.
    out.push_str(&d.greeting);
    out.push_str("\n\n");
    if let Some(note) = d
        .editor_note_text
        .as_deref()
        .filter(|n| !n.trim().is_empty())
    {
        out.push_str(&wrap(note, 72));
        out.push_str("\n\n");
    }
    if !d.headlines.is_empty() {
        out.push_str(&underlined("In today's issue", '-'));
        out.push_str("\n\n");
        for (title, _) in &d.headlines {
            out.push_str(&wrap(&format!("- {title}"), 72));
            out.push('\n');
        }
        out.push('\n');
    }
    // The stories, with the announcement cut in after the chosen one.
    let at = announcement_at(d);
    let mut done = 0;
    let push_announcement = |out: &mut String, done: usize| {
        if let (Some(at), Some(a)) = (at, &d.announcement)
            && at == done
            && !a.text.trim().is_empty()
        {
            out.push_str("* * *\n\n");
            out.push_str(&wrap(&a.text, 72));
            out.push_str("\n\n* * *\n\n");
        }
    };
    push_announcement(&mut out, 0);
    let mut groups: Vec<(&str, &[ArticleView])> = Vec::new();
    if !d.pinned.is_empty() {
        groups.push(("Top stories", &d.pinned));
    }
    for s in d.sections.iter().filter(|s| !s.articles.is_empty()) {
        groups.push((&s.name, &s.articles));
    }
    for (heading, articles) in groups {
        // A group is split where the announcement falls inside it.
        let split = at
            .filter(|at| *at > done && *at < done + articles.len())
            .map(|at| at - done);
        match split {
            Some(k) => {
                push_section(&mut out, heading, &articles[..k]);
                push_announcement(&mut out, done + k);
                push_stories(&mut out, &articles[k..]);
            }
            None => push_section(&mut out, heading, articles),
        }
        done += articles.len();
        push_announcement(&mut out, done);
    }
    if let Some(a) = &d.on_this_day {
        push_section(&mut out, "On this day", std::slice::from_ref(a));
    }
    out.push_str("-- \n");
    out.push_str("Share this issue: ");
    out.push_str(&d.view_in_browser_url);
    out.push('\n');
    out.push('\n');
    out.push_str(&wrap(&d.why_received, 72));
    out.push_str("\n\nUnsubscribe: ");
    out.push_str(&d.unsubscribe_url);
    out.push_str("\nPreferences: ");
    out.push_str(&d.preferences_url);
    out.push_str("\n\n");
    push_signature(&mut out, &d.publication, &d.postal_address);
    out
}

fn push_section(out: &mut String, heading: &str, articles: &[ArticleView]) {
    out.push_str(&underlined(heading, '-'));
    out.push_str("\n\n");
    push_stories(out, articles);
}

fn push_stories(out: &mut String, articles: &[ArticleView]) {
    for a in articles {
        push_wrapped(out, &a.title);
        // A compact story (a brief) has no byline: its title, summary and link only.
        if !a.compact
            && let Some(b) = a.byline()
        {
            push_wrapped(out, &b);
        }
        if !a.summary_text.trim().is_empty() {
            push_wrapped(out, &a.summary_text);
        }
        out.push_str("Read: ");
        out.push_str(&a.url);
        out.push_str("\n\n");
    }
}

/// The email every editor gets when an issue is ready for review (approval mode).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReviewRequest {
    pub publication: String,
    /// e.g. "Tuesday 1 December 2026 (daily issue)".
    pub edition_label: String,
    pub subject: String,
    /// e.g. "07:00 GMT".
    pub send_at: String,
    pub review_url: String,
}

/// Subject, HTML and text of a review request.
pub fn render_review_request(r: &ReviewRequest) -> (String, String, String) {
    let subject = format!("Review: {} — {}", r.publication, r.edition_label);
    let body = html! {
        p { "The issue for " (r.edition_label) " is ready for review:" }
        p { strong { (r.subject) } }
        p { "It goes out at " (r.send_at) " only once an editor approves it; until then it is held." }
        p { a href=(r.review_url) { "Review and approve" } }
    };
    let html = html! {
        (maud::DOCTYPE)
        html { body style=(concat!("font-family:", sans!(), ";color:", ink!())) { (body) } }
    }
    .into_string();
    let text = format!(
        "The issue for {} is ready for review:\n\n  {}\n\nIt goes out at {} only once an editor approves it; until then it is held.\n\nReview and approve: {}\n",
        r.edition_label, r.subject, r.send_at, r.review_url
    );
    (subject, html, text)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const UNSUB: &str = "%%BF_UNSUB%%";
    pub(crate) const PREFS: &str = "%%BF_PREFS%%";
    pub(crate) const GREETING: &str = "%%BF_GREETING%%";

    fn article(n: u32, section: &str, image: bool) -> ArticleView {
        ArticleView {
            title: format!("Article number {n}: tenants organise against the rent rise in {section}"),
            url: format!("https://example.org/{}/article-{n}?utm_source=digest&utm_medium=email", section.to_lowercase()),
            author: Some(format!("Writer {n}")),
            published_label: Some("5 March".into()),
            summary_text: "Hundreds of tenants met on Thursday evening to plan a coordinated response to the latest round of rent increases, which the council has refused to cap despite a motion passed last year.".into(),
            section: Some(section.into()),
            image_url: image.then(|| format!("file:///tmp/bf-img-{}.svg", n % 3)),
            image_alt: format!("Picture for article {n}"),
            compact: false,
        }
    }

    pub(crate) fn sample() -> DigestEmail {
        DigestEmail {
            publication: "Breakfast in Red".into(),
            subject: "Breakfast in Red — Monday 6 March 2026".into(),
            preheader: "Tenants organise, a strike ballot in the ports, and a note from the editor.".into(),
            date_label: "Monday 6 March 2026".into(),
            greeting: GREETING.into(),
            editor_note_html: Some("<p>Good morning. This week we look at the <a href=\"https://example.org/housing\">housing crisis</a> from the ground up: the people organising in their buildings.</p><p>Thank you to everyone who wrote in after last week's issue.</p>".into()),
            editor_note_text: Some("Good morning. This week we look at the housing crisis from the ground up: the people organising in their buildings.\n\nThank you to everyone who wrote in after last week's issue.".into()),
            headlines: vec![],
            pinned: vec![ArticleView {
                title: "A <b>bold</b> & \"quoted\" headline about the strike".into(),
                ..article(1, "Labour", true)
            }],
            sections: vec![
                SectionView { name: "Britain".into(), articles: vec![article(2, "Britain", true), article(3, "Britain", false)] },
                SectionView { name: "International".into(), articles: vec![article(4, "International", false), article(5, "International", true)] },
            ],
            on_this_day: Some(ArticleView { published_label: Some("6 March 1984".into()), image_url: None, ..article(6, "History", false) }),
            announcement: None,
            view_in_browser_url: "https://example.org/digests/2026-03-06".into(),
            subscribe_url: "https://example.org/".into(),
            unsubscribe_url: UNSUB.into(),
            preferences_url: PREFS.into(),
            postal_address: "Breakfast in Red, 1 Example Street, London E1 0AA, United Kingdom".into(),
            why_received: "You are receiving this because you subscribed to the Breakfast in Red daily digest at example.org.".into(),
            brand: Brand::default(),
        }
    }

    fn all_articles(d: &DigestEmail) -> Vec<&ArticleView> {
        d.pinned
            .iter()
            .chain(d.sections.iter().flat_map(|s| s.articles.iter()))
            .chain(d.on_this_day.iter())
            .collect()
    }

    #[test]
    fn html_has_no_script_and_a_hidden_preheader() {
        let d = sample();
        let html = render_digest_html(&d);
        assert!(!html.to_lowercase().contains("<script"));
        let at = html.find(&d.preheader).expect("preheader present");
        let open = html[..at].rfind("<span").expect("preheader in a span");
        let tag = &html[open..at];
        for rule in ["display:none", "max-height:0", "overflow:hidden"] {
            assert!(tag.contains(rule), "preheader lacks {rule}: {tag}");
        }
        assert!(html.contains(r#"<meta name="color-scheme" content="light dark">"#));
        assert!(html.contains(r#"<meta name="supported-color-schemes" content="light dark">"#));
    }

    #[test]
    fn every_article_link_is_in_both_parts() {
        let d = sample();
        let html = render_digest_html(&d);
        let text = render_digest_text(&d);
        for a in all_articles(&d) {
            let escaped = a.url.replace('&', "&amp;");
            assert!(html.contains(&format!("href=\"{escaped}\"")), "{}", a.url);
            assert!(text.contains(&format!("Read: {}\n", a.url)), "{}", a.url);
        }
    }

    #[test]
    fn personal_sentinels_appear_verbatim_once() {
        let d = sample();
        let html = render_digest_html(&d);
        let text = render_digest_text(&d);
        for part in [&html, &text] {
            assert_eq!(part.matches(UNSUB).count(), 1);
            assert_eq!(part.matches(PREFS).count(), 1);
            assert_eq!(part.matches(GREETING).count(), 1);
        }
        let footer_start = html.find(&d.why_received).unwrap();
        assert!(html.find(&format!("href=\"{UNSUB}\"")).unwrap() > footer_start);
        assert!(html.find(&format!("href=\"{PREFS}\"")).unwrap() > footer_start);
        assert!(text.contains(&format!("Unsubscribe: {UNSUB}\n")));
        assert!(text.contains(&format!("Preferences: {PREFS}\n")));
    }

    #[test]
    fn text_lines_are_short_except_urls() {
        let text = render_digest_text(&sample());
        let long: Vec<_> = text
            .lines()
            .filter(|l| l.chars().count() > 78 && !l.contains("://"))
            .collect();
        assert!(long.is_empty(), "{long:#?}");
        assert!(text.contains("Britain\n-------\n"));
        assert!(text.contains("International\n-------------\n"));
    }

    #[test]
    fn forwarded_and_share_links_in_both_parts() {
        let d = sample();
        let html = render_digest_html(&d);
        let text = render_digest_text(&d);
        assert!(html.contains("Forwarded this? <a"));
        assert!(html.contains(&format!("href=\"{}\"", d.subscribe_url)));
        assert!(html.contains("Share this issue: <a"));
        assert!(
            html.matches(&format!("href=\"{}\"", d.view_in_browser_url))
                .count()
                >= 2
        );
        assert!(text.contains(&format!("Forwarded this? Subscribe: {}\n", d.subscribe_url)));
        assert!(text.contains(&format!("Share this issue: {}\n", d.view_in_browser_url)));
    }

    #[test]
    fn headline_list_is_optional_and_escaped() {
        let plain = render_digest_html(&sample());
        assert!(!plain.contains("In today's issue"));
        let d = DigestEmail {
            headlines: vec![("Tom & Jerry".into(), "https://example.org/t?a=1&b=2".into())],
            ..sample()
        };
        let html = render_digest_html(&d);
        assert!(html.contains("In today's issue"));
        assert!(html.contains(r#"href="https://example.org/t?a=1&amp;b=2""#));
        assert!(html.contains(">Tom &amp; Jerry</a>"));
        assert!(html.find("In today's issue").unwrap() < html.find("Top stories").unwrap());
        assert!(
            render_digest_text(&d)
                .contains("In today's issue\n----------------\n\n- Tom & Jerry\n")
        );
    }

    #[test]
    fn titles_are_escaped() {
        let html = render_digest_html(&sample());
        assert!(html.contains("A &lt;b&gt;bold&lt;/b&gt; &amp; &quot;quoted&quot; headline"));
        assert!(!html.contains("<b>bold</b>"));
    }

    #[test]
    fn note_is_written_as_given_with_inline_styles() {
        let html = render_digest_html(&sample());
        assert!(html.contains("housing crisis</a>"));
        assert!(html.contains("<p style=\"margin: 0 0 14px 0"));
    }

    #[test]
    fn hostile_accent_is_replaced() {
        let d = DigestEmail {
            brand: Brand {
                accent: "red\" onload=\"x".into(),
                ..Brand::default()
            },
            ..sample()
        };
        let html = render_digest_html(&d);
        assert!(!html.contains("onload"));
        assert!(html.contains(super::super::DEFAULT_ACCENT));
    }

    #[test]
    fn images_have_alt_width_and_fluid_style() {
        let html = render_digest_html(&sample());
        let imgs: Vec<_> = html.match_indices("<img").collect();
        assert!(!imgs.is_empty());
        for (i, _) in imgs {
            let tag = &html[i..i + html[i..].find('>').unwrap()];
            assert!(tag.contains(" alt=\""), "{tag}");
            assert!(tag.contains(" width=\""), "{tag}");
            assert!(tag.contains("max-width:"), "{tag}");
        }
    }

    #[test]
    fn announcement_sits_after_the_chosen_story_in_both_parts() {
        let d = DigestEmail {
            announcement: Some(AnnouncementView {
                html: "<p>Rally on <strong>Saturday</strong></p>".into(),
                text: "Rally on Saturday".into(),
                after: 2,
            }),
            ..sample()
        };
        let stories = all_articles(&d);
        let (second, third) = (&stories[1].title, &stories[2].title);
        let html = render_digest_html(&d);
        let at = html.find("Rally on").expect("announcement in the HTML");
        assert!(
            html.find(second.as_str()).unwrap() < at,
            "after the second story"
        );
        assert!(
            at < html.find(third.as_str()).unwrap(),
            "before the third story"
        );
        let text = render_digest_text(&d);
        let at = text
            .find("Rally on Saturday")
            .expect("announcement in the text");
        assert!(text.find(second.as_str()).unwrap() < at);
        assert!(at < text.find(third.as_str()).unwrap());
        // Past the last story, it follows the last one; and it is written once.
        let d = DigestEmail {
            announcement: Some(AnnouncementView {
                after: 99,
                ..d.announcement.clone().unwrap()
            }),
            ..d
        };
        assert_eq!(
            render_digest_text(&d).matches("Rally on Saturday").count(),
            1
        );
        assert_eq!(render_digest_html(&d).matches("Rally on").count(), 1);
    }
}
