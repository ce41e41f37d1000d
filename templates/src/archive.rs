//! The public archive, the front door for readers who arrive from a forwarded link or a
//! search: the list of issues, each issue as a web page (not the raw email), and the
//! Atom feed of issues.
//!
//! An issue page shows what the email showed minus everything personal: no greeting, no
//! "you are receiving this", no unsubscribe or preferences links. In their place, a
//! sign-up form, links to the neighbouring issues and the tags link previews read.

use maud::{Markup, PreEscaped, html};

use crate::email::digest::{ArticleView, SectionView};
use crate::page::{ButtonKind, PageMeta, link_button, page_with_head};
use crate::public::{SignupView, signup_form};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ArchiveEntry {
    /// e.g. "Monday 6 March 2026".
    pub date_label: String,
    /// YYYY-MM-DD, for the `<time>` element.
    pub iso_date: String,
    pub subject: String,
    pub preheader: String,
    pub href: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ArchiveView {
    pub publication: String,
    pub brand: crate::brand::Brand,
    /// e.g. "Sundays": the weekly edition's day, for the sign-up form.
    pub weekly_day: String,
    pub pitch: String,
    pub entries: Vec<ArchiveEntry>,
    pub newer_href: Option<String>,
    pub older_href: Option<String>,
    /// e.g. "The next issue goes out on Tuesday 7 March at 07:00 GMT."
    pub next_issue: Option<String>,
    /// Absolute URL of `/archive.atom`.
    pub feed_url: String,
}

/// A neighbouring issue, for the previous/next links.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IssueLink {
    pub href: String,
    pub date_label: String,
    pub subject: String,
}

/// One sent issue, as the archive shows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IssueView {
    pub publication: String,
    pub brand: crate::brand::Brand,
    /// e.g. "Sundays": the weekly edition's day, for the sign-up form.
    pub weekly_day: String,
    pub pitch: String,
    pub subject: String,
    /// The preheader: what link previews and the feed show as the summary.
    pub description: String,
    pub date_label: String,
    pub iso_date: String,
    /// Absolute URL of this page, for `og:url` and the canonical link.
    pub canonical_url: String,
    /// The lead article's picture, for link previews.
    pub image_url: Option<String>,
    pub image_alt: String,
    /// Already sanitised; written as is.
    pub editor_note_html: Option<String>,
    pub pinned: Vec<ArticleView>,
    pub sections: Vec<SectionView>,
    pub on_this_day: Option<ArticleView>,
    pub previous: Option<IssueLink>,
    pub next: Option<IssueLink>,
    /// Absolute URL of `/archive.atom`.
    pub feed_url: String,
}

/// Layout of the issue and its stories; the colours are the site's own variables, so
/// light and dark follow the rest of the site.
const ARCHIVE_CSS: &str = "\
.issue-head{margin:0 0 1.5rem}\
.issue-head .muted{margin:0;font-size:.9rem;letter-spacing:.08em;text-transform:uppercase}\
.issue-head h1{margin:.25em 0 .3em}\
.issue-note{border-left:3px solid var(--accent);padding:.1rem 0 .1rem 1rem;margin:0 0 2rem}\
.issue-note>h2{font-size:.85rem;font-family:var(--sans);letter-spacing:.12em;text-transform:uppercase;color:var(--muted);margin:0 0 .5rem}\
.issue-section>h2{font-family:var(--sans);font-size:.85rem;letter-spacing:.14em;text-transform:uppercase;color:var(--accent);border-top:2px solid var(--accent);padding-top:.6rem;margin:2.25rem 0 0}\
.story{padding:1.1rem 0;border-bottom:1px solid var(--rule)}\
.story:last-child{border-bottom:0}\
.story h3{margin:0 0 .35rem;font-size:1.25rem}\
.story h3 a{color:var(--ink);text-decoration:none}\
.story h3 a:hover{text-decoration:underline}\
.story.lead h3{font-size:1.6rem}\
.story .kicker{margin:0 0 .3rem;font-size:.8rem;font-weight:700;letter-spacing:.1em;text-transform:uppercase;color:var(--accent)}\
.story .byline{margin:0 0 .4rem;font-size:.9rem;color:var(--muted)}\
.story p{margin:0 0 .5rem}\
.story img{display:block;width:100%;height:auto;border-radius:3px;margin:0 0 .75rem}\
.story .thumb{float:right;width:7.5rem;margin:.25rem 0 .5rem 1rem}\
.story::after{content:'';display:block;clear:both}\
@media (max-width:30rem){.story .thumb{width:5rem;margin-left:.75rem}}\
.on-this-day{background:var(--surface);border-left:4px solid var(--accent);padding:1rem 1.25rem;margin:2.25rem 0 0}\
.on-this-day>h2{font-family:var(--sans);font-size:.85rem;letter-spacing:.14em;text-transform:uppercase;color:var(--accent);margin:0}\
.on-this-day .story{border:0;padding-bottom:0}\
.issue-nav{display:flex;flex-wrap:wrap;justify-content:space-between;gap:1rem;margin:2.5rem 0 0;padding:1rem 0 0;border-top:1px solid var(--rule)}\
.issue-nav a{display:block;max-width:18rem;text-decoration:none}\
.issue-nav a span{display:block;font-size:.8rem;letter-spacing:.08em;text-transform:uppercase;color:var(--muted)}\
.issue-nav .next{margin-left:auto;text-align:right}\
.subscribe-box{margin:2.5rem 0 0}\
.subscribe-box h2{margin-top:0}\
.archive-list{list-style:none;padding:0;margin:1.5rem 0 0}\
.archive-list h2{margin:0 0 .5rem;font-size:1.25rem}\
";

fn head_links(feed_url: &str, publication: &str) -> Markup {
    html! {
        link rel="alternate" type="application/atom+xml" title={ (publication) " issues" } href=(feed_url);
        style { (PreEscaped(ARCHIVE_CSS)) }
    }
}

fn subscribe_box(publication: &str, pitch: &str, weekly_day: &str) -> Markup {
    let view = SignupView {
        publication: publication.to_string(),
        pitch: pitch.to_string(),
        weekly_day: weekly_day.to_string(),
        ..Default::default()
    };
    html! {
        section.card.subscribe-box aria-labelledby="subscribe-heading" {
            h2 #subscribe-heading { "Get " (publication) " by email" }
            @if !pitch.is_empty() { p { (pitch) } }
            (signup_form(&view))
        }
    }
}

pub fn archive_page(v: &ArchiveView) -> Markup {
    let meta = PageMeta {
        title: "Past issues".into(),
        publication: v.publication.clone(),
        flash: None,
        noindex: false,
        brand: v.brand.clone(),
    };
    page_with_head(
        &meta,
        head_links(&v.feed_url, &v.publication),
        html! {
            h1 { "Past issues" }
            @if !v.pitch.is_empty() { p.lede { (v.pitch) } }
            @if let Some(next) = &v.next_issue { p { (next) } }
            p.actions {
                (link_button("Subscribe", "#subscribe-heading", ButtonKind::Primary))
                (link_button("Atom feed", &v.feed_url, ButtonKind::Secondary))
            }
            @if v.entries.is_empty() {
                p.muted { "Nothing has been sent yet. The first issue will appear here once it goes out." }
            } @else {
                ol.archive-list {
                    @for e in &v.entries {
                        li.card {
                            p.muted style="margin:0 0 .25rem;font-size:.9rem" {
                                time datetime=(e.iso_date) { (e.date_label) }
                            }
                            h2 { a href=(e.href) { (e.subject) } }
                            @if !e.preheader.is_empty() {
                                p style="margin:0" { (e.preheader) }
                            }
                        }
                    }
                }
            }
            @if v.newer_href.is_some() || v.older_href.is_some() {
                nav aria-label="More issues" {
                    p.actions {
                        @if let Some(href) = &v.newer_href {
                            (link_button("Newer", href, ButtonKind::Secondary))
                        }
                        @if let Some(href) = &v.older_href {
                            (link_button("Older", href, ButtonKind::Secondary))
                        }
                    }
                }
            }
            (subscribe_box(&v.publication, &v.pitch, &v.weekly_day))
        },
    )
}

/// OpenGraph and Twitter card tags, so a shared link shows the issue, not a bare URL.
fn social_tags(v: &IssueView) -> Markup {
    let card = if v.image_url.is_some() {
        "summary_large_image"
    } else {
        "summary"
    };
    html! {
        link rel="canonical" href=(v.canonical_url);
        meta name="description" content=(v.description);
        meta property="og:type" content="article";
        meta property="og:site_name" content=(v.publication);
        meta property="og:title" content=(v.subject);
        meta property="og:description" content=(v.description);
        meta property="og:url" content=(v.canonical_url);
        meta property="article:published_time" content=(v.iso_date);
        @if let Some(img) = &v.image_url {
            meta property="og:image" content=(img);
            @if !v.image_alt.is_empty() { meta property="og:image:alt" content=(v.image_alt); }
        }
        meta name="twitter:card" content=(card);
        meta name="twitter:title" content=(v.subject);
        meta name="twitter:description" content=(v.description);
        @if let Some(img) = &v.image_url {
            meta name="twitter:image" content=(img);
            @if !v.image_alt.is_empty() { meta name="twitter:image:alt" content=(v.image_alt); }
        }
    }
}

/// One story. `lead` stories get the full-width picture; the others a thumbnail.
fn story(a: &ArticleView, lead: bool) -> Markup {
    html! {
        article.story.lead[lead] {
            @if let Some(src) = &a.image_url {
                @if lead {
                    img src=(src) alt=(a.image_alt) loading="lazy";
                } @else {
                    img.thumb src=(src) alt=(a.image_alt) loading="lazy";
                }
            }
            @if lead { @if let Some(s) = &a.section { p.kicker { (s) } } }
            h3 { a href=(a.url) { (a.title) } }
            @if let Some(b) = a.byline() { p.byline { (b) } }
            @if !a.summary_text.trim().is_empty() { p { (a.summary_text) } }
            p { a href=(a.url) { "Read more" span.visually-hidden { ": " (a.title) } " →" } }
        }
    }
}

/// The issue's content without the page around it: the issue page and the feed share it.
pub fn issue_content(v: &IssueView) -> Markup {
    html! {
        @if let Some(note) = &v.editor_note_html {
            section.issue-note aria-labelledby="note-heading" {
                h2 #note-heading { "From the editor" }
                (PreEscaped(note))
            }
        }
        @if !v.pinned.is_empty() {
            section.issue-section aria-label="Top stories" {
                h2 { "Top stories" }
                @for a in &v.pinned { (story(a, true)) }
            }
        }
        @for s in v.sections.iter().filter(|s| !s.articles.is_empty()) {
            section.issue-section aria-label=(s.name) {
                h2 { (s.name) }
                @for a in &s.articles { (story(a, false)) }
            }
        }
        @if let Some(a) = &v.on_this_day {
            aside.on-this-day aria-label="On this day" {
                h2 { "On this day" }
                (story(a, false))
            }
        }
    }
}

pub fn issue_page(v: &IssueView) -> Markup {
    let meta = PageMeta {
        title: v.subject.clone(),
        publication: v.publication.clone(),
        flash: None,
        noindex: false,
        brand: v.brand.clone(),
    };
    let head = html! {
        (head_links(&v.feed_url, &v.publication))
        (social_tags(v))
    };
    page_with_head(
        &meta,
        head,
        html! {
            header.issue-head {
                p.muted { time datetime=(v.iso_date) { (v.date_label) } }
                h1 { (v.subject) }
                // The preheader is the note's opening when there is a note: shown once.
                @if !v.description.is_empty() && v.editor_note_html.is_none() { p.lede { (v.description) } }
            }
            (issue_content(v))
            @if v.previous.is_some() || v.next.is_some() {
                nav.issue-nav aria-label="Other issues" {
                    @if let Some(p) = &v.previous {
                        a.previous href=(p.href) rel="prev" { span { "← Previous issue" } (p.subject) }
                    }
                    @if let Some(n) = &v.next {
                        a.next href=(n.href) rel="next" { span { "Next issue →" } (n.subject) }
                    }
                }
            }
            p { a href="/archive" { "All past issues" } }
            (subscribe_box(&v.publication, &v.pitch, &v.weekly_day))
        },
    )
}

/// One issue in the feed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeedEntry {
    pub id: String,
    pub title: String,
    pub url: String,
    /// RFC 3339.
    pub updated: String,
    pub summary: String,
    /// The issue's content as HTML (see [`issue_content`]).
    pub content_html: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeedView {
    pub id: String,
    pub title: String,
    pub subtitle: String,
    pub self_url: String,
    pub archive_url: String,
    /// RFC 3339; the newest entry's, or any fixed time when there is none.
    pub updated: String,
    pub entries: Vec<FeedEntry>,
}

/// An Atom 1.0 document (RFC 4287). maud escapes text and attributes the way XML needs;
/// elements are always written with a closing tag, never as HTML void elements.
pub fn atom_feed(f: &FeedView) -> String {
    let body = html! {
        feed xmlns="http://www.w3.org/2005/Atom" {
            id { (f.id) }
            title { (f.title) }
            @if !f.subtitle.is_empty() { subtitle { (f.subtitle) } }
            updated { (f.updated) }
            author { name { (f.title) } }
            link rel="self" type="application/atom+xml" href=(f.self_url) {}
            link rel="alternate" type="text/html" href=(f.archive_url) {}
            @for e in &f.entries {
                entry {
                    id { (e.id) }
                    title { (e.title) }
                    link rel="alternate" type="text/html" href=(e.url) {}
                    updated { (e.updated) }
                    published { (e.updated) }
                    @if !e.summary.is_empty() { summary { (e.summary) } }
                    content type="html" { (e.content_html) }
                }
            }
        }
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n{}",
        body.into_string()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn article(n: u32, image: bool) -> ArticleView {
        ArticleView {
            title: format!("Story {n} & <more>"),
            url: format!("https://paper.example/{n}"),
            author: Some("Writer".into()),
            published_label: Some("5 March".into()),
            summary_text: "What happened.".into(),
            section: Some("Labour".into()),
            image_url: image.then(|| format!("https://img.example/{n}.jpg")),
            image_alt: format!("Picture {n}"),
            compact: false,
        }
    }

    pub(crate) fn issue() -> IssueView {
        IssueView {
            publication: "Breakfast in Red".into(),
            brand: Default::default(),
            weekly_day: "Sundays".into(),
            pitch: "The paper's latest, every morning.".into(),
            subject: "Breakfast in Red — Monday 6 March".into(),
            description: "Tenants organise.".into(),
            date_label: "Monday 6 March 2026".into(),
            iso_date: "2026-03-06".into(),
            canonical_url: "https://news.example/archive/2026-03-06".into(),
            image_url: Some("https://img.example/1.jpg".into()),
            image_alt: "Picture 1".into(),
            editor_note_html: Some("<p>Hello from the editor.</p>".into()),
            pinned: vec![article(1, true)],
            sections: vec![SectionView {
                name: "Britain".into(),
                articles: vec![article(2, true), article(3, false)],
            }],
            on_this_day: Some(article(4, false)),
            previous: Some(IssueLink {
                href: "/archive/2026-03-05".into(),
                date_label: "Sunday 5 March 2026".into(),
                subject: "Sunday's issue".into(),
            }),
            next: None,
            feed_url: "https://news.example/archive.atom".into(),
        }
    }

    #[test]
    fn lists_entries_escaped_with_links_and_a_form() {
        let v = ArchiveView {
            publication: "Breakfast in Red".into(),
            brand: Default::default(),
            weekly_day: "Sundays".into(),
            pitch: "Daily.".into(),
            entries: vec![ArchiveEntry {
                date_label: "Monday 6 March 2026".into(),
                iso_date: "2026-03-06".into(),
                subject: "Tom & <Jerry>".into(),
                preheader: "Hello".into(),
                href: "/archive/2026-03-06".into(),
            }],
            newer_href: None,
            older_href: Some("/archive?page=2".into()),
            next_issue: None,
            feed_url: "/archive.atom".into(),
        };
        let html = archive_page(&v).into_string();
        assert!(html.contains("Tom &amp; &lt;Jerry&gt;"));
        assert!(html.contains("href=\"/archive/2026-03-06\""));
        assert!(html.contains("href=\"/archive?page=2\""));
        assert!(!html.contains("Newer"));
        assert!(html.contains(r#"action="/subscribe""#));
        assert!(html.contains(r#"type="application/atom+xml""#));
    }

    #[test]
    fn empty_archive_says_so() {
        let html = archive_page(&ArchiveView::default()).into_string();
        assert!(html.contains("Nothing has been sent yet"));
    }

    #[test]
    fn issue_page_has_social_tags_form_and_neighbours_but_nothing_personal() {
        let html = issue_page(&issue()).into_string();
        for want in [
            r#"<meta property="og:title" content="Breakfast in Red — Monday 6 March">"#,
            r#"<meta property="og:image" content="https://img.example/1.jpg">"#,
            r#"<meta name="twitter:card" content="summary_large_image">"#,
            r#"<meta property="og:description" content="Tenants organise.">"#,
            r#"action="/subscribe""#,
            r#"rel="prev""#,
            "<main",
            "Story 1 &amp; &lt;more&gt;",
            "<p>Hello from the editor.</p>",
        ] {
            assert!(html.contains(want), "{want} missing");
        }
        for unwanted in [
            "Unsubscribe",
            "Preferences",
            "Good morning",
            "receiving this",
            "rel=\"next\"",
        ] {
            assert!(!html.contains(unwanted), "{unwanted} present");
        }
    }

    #[test]
    fn atom_is_xml_with_closed_links_and_escaped_content() {
        let f = FeedView {
            id: "https://news.example/archive".into(),
            title: "A & B".into(),
            updated: "2026-03-06T07:00:00Z".into(),
            self_url: "https://news.example/archive.atom".into(),
            archive_url: "https://news.example/archive".into(),
            entries: vec![FeedEntry {
                id: "https://news.example/archive/2026-03-06".into(),
                title: "<Issue>".into(),
                url: "https://news.example/archive/2026-03-06".into(),
                updated: "2026-03-06T07:00:00Z".into(),
                summary: "s".into(),
                content_html: issue_content(&issue()).into_string(),
            }],
            ..Default::default()
        };
        let xml = atom_feed(&f);
        assert!(xml.starts_with("<?xml"));
        assert!(xml.contains("<title>A &amp; B</title>"));
        assert!(xml.contains("></link>"));
        assert!(xml.contains("&lt;h3&gt;"));
        assert!(!xml.contains("<h3>"));
    }
}
