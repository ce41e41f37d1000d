//! Turning untrusted feed HTML into something safe to put in an email.
//!
//! Everything a feed says is written by a stranger and will be rendered in
//! subscribers' mail clients, so the rules here err on the side of dropping
//! things: no images (tracking pixels, multi-megabyte banners), no styling
//! (it breaks email layouts and can hide text), no active content.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashSet;
use std::sync::LazyLock;

use ammonia::{Builder, UrlRelative};
use url::Url;

/// Upper bound on the HTML we hand to the sanitiser. A summary is a few
/// paragraphs; anything beyond this is a full article or an attack, and
/// parsing megabytes per entry would stall a worker on a hostile feed.
pub const MAX_HTML_BYTES: usize = 64 * 1024;

/// Tags whose start or end begins a new paragraph when flattening to text.
const BLOCK_TAGS: &[&str] = &[
    "p",
    "div",
    "li",
    "ul",
    "ol",
    "blockquote",
    "pre",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "tr",
    "table",
];

thread_local! {
    /// The base for relative links of the `clean_html` call in progress on
    /// this thread. The cleaner is a shared static (building it is not free
    /// and it never changes), but each feed has its own base URL; ammonia
    /// calls the resolver synchronously inside `clean`, so a thread-local
    /// set just around that call is exact.
    static LINK_BASE: RefCell<Option<Url>> = const { RefCell::new(None) };
}

/// The cleaner for summaries that end up in emails.
static SUMMARY_CLEANER: LazyLock<Builder<'static>> = LazyLock::new(|| {
    let mut builder = Builder::empty();
    builder
        .tags(HashSet::from([
            "p",
            "br",
            "a",
            "em",
            "strong",
            "b",
            "i",
            "ul",
            "ol",
            "li",
            "blockquote",
            "h2",
            "h3",
            "h4",
            "code",
            "pre",
        ]))
        .generic_attributes(HashSet::new())
        .generic_attribute_prefixes(HashSet::new())
        .tag_attributes([("a", HashSet::from(["href"]))].into())
        .url_schemes(HashSet::from(["http", "https", "mailto"]))
        .url_relative(UrlRelative::Custom(Box::new(resolve_against_thread_base)))
        .link_rel(Some("noopener noreferrer"))
        .add_clean_content_tags(["template", "noscript"])
        .strip_comments(true);
    builder
});

/// A cleaner that keeps only paragraph structure, so that the output is a
/// predictable token stream (`<p>`, `</p>`, `<br>`, escaped text) that
/// `html_to_text` can flatten without a second HTML parser.
static TEXT_CLEANER: LazyLock<Builder<'static>> = LazyLock::new(|| {
    let mut builder = Builder::empty();
    let mut tags: HashSet<&'static str> = BLOCK_TAGS.iter().copied().collect();
    tags.insert("br");
    builder
        .tags(tags)
        .generic_attributes(HashSet::new())
        .generic_attribute_prefixes(HashSet::new())
        .tag_attributes(Default::default())
        .link_rel(None)
        .add_clean_content_tags(["template", "noscript"])
        .strip_comments(true);
    builder
});

fn resolve_against_thread_base(relative: &str) -> Option<Cow<'_, str>> {
    LINK_BASE.with_borrow(|base| {
        let absolute = base.as_ref()?.join(relative).ok()?;
        matches!(absolute.scheme(), "http" | "https").then(|| Cow::Owned(absolute.into()))
    })
}

/// Clears the thread's link base even if the sanitiser unwinds, so a later
/// call can never resolve against another feed's URL.
struct BaseGuard;

impl BaseGuard {
    fn set(base: Option<&Url>) -> Self {
        LINK_BASE.set(base.cloned());
        BaseGuard
    }
}

impl Drop for BaseGuard {
    fn drop(&mut self) {
        LINK_BASE.set(None);
    }
}

/// Sanitises feed HTML for display in an email. Relative links are made
/// absolute against `base` (they would otherwise point at our own host) and
/// dropped when there is no base.
pub fn clean_html(html: &str, base: Option<&Url>) -> String {
    let _guard = BaseGuard::set(base);
    SUMMARY_CLEANER
        .clean(clip(html, MAX_HTML_BYTES))
        .to_string()
}

/// Flattens HTML into readable plain text for the text/plain part of an
/// email and for length measurement: tags go, entities are decoded,
/// whitespace is collapsed, and block boundaries become blank lines.
pub fn html_to_text(html: &str) -> String {
    let simplified = TEXT_CLEANER.clean(clip(html, MAX_HTML_BYTES)).to_string();
    let mut writer = TextWriter::default();
    for token in Tokens::new(&simplified) {
        match token {
            Token::Text(escaped) => writer.push_text(&decode_serialized_entities(escaped)),
            Token::Tag("br") => writer.gap(Gap::Line),
            Token::Tag(_) => writer.gap(Gap::Paragraph),
        }
    }
    writer.out
}

/// Decodes entities in text that is meant to be plain (titles, author
/// names). Feeds routinely escape twice, so "plain" text often still holds
/// `&amp;` or `&#8212;`; a literal `<` stays literal.
pub fn plain_text(text: &str) -> String {
    html_to_text(&text.replace('<', "&lt;"))
}

/// Wraps plain text into minimal HTML (escaped, one `<p>` per paragraph),
/// for places that need HTML but only have text.
pub fn text_to_html(text: &str) -> String {
    text.split("\n\n")
        .map(str::trim)
        .filter(|para| !para.is_empty())
        .map(|para| format!("<p>{}</p>", escape_html(para).replace('\n', "<br>")))
        .collect()
}

/// Shortens text to at most `max_chars` characters, cutting at a word
/// boundary where one is reasonably close and marking the cut with "…",
/// so that digests do not end mid-word.
pub fn truncate_words(s: &str, max_chars: usize) -> String {
    let s = s.trim();
    if s.chars().count() <= max_chars {
        return s.to_owned();
    }
    if max_chars == 0 {
        return String::new();
    }
    let keep = byte_index_of_char(s, max_chars - 1);
    let head = &s[..keep];
    let at_boundary = s[keep..].starts_with(char::is_whitespace);
    let cut = match head.rfind(char::is_whitespace) {
        _ if at_boundary => head,
        // A very long first word (URL, CJK text without spaces) would
        // otherwise leave almost nothing; cut mid-word instead.
        Some(space) if space >= keep / 2 => &head[..space],
        _ => head,
    };
    let cut = cut.trim_end_matches(|c: char| c.is_whitespace() || ",;:-–—".contains(c));
    format!("{cut}…")
}

/// Returns the longest prefix of `s` that is at most `max_bytes` long and
/// ends on a character boundary.
fn clip(s: &str, max_bytes: usize) -> &str {
    if s.len() <= max_bytes {
        return s;
    }
    let mut end = max_bytes;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn byte_index_of_char(s: &str, n: usize) -> usize {
    s.char_indices().nth(n).map_or(s.len(), |(i, _)| i)
}

/// Text made safe for HTML by the escaper every template uses.
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    templates::push_escaped(&mut out, text);
    out
}

/// html5ever's serialiser writes every other character literally, so these
/// are the only entities that can appear in text it produced.
fn decode_serialized_entities(text: &str) -> Cow<'_, str> {
    if !text.contains('&') {
        return Cow::Borrowed(text);
    }
    const ENTITIES: [(&str, char); 5] = [
        ("&amp;", '&'),
        ("&lt;", '<'),
        ("&gt;", '>'),
        ("&quot;", '"'),
        ("&nbsp;", '\u{a0}'),
    ];
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        match ENTITIES.iter().find(|(name, _)| rest.starts_with(name)) {
            Some((name, c)) => {
                out.push(*c);
                rest = &rest[name.len()..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

enum Token<'a> {
    Text(&'a str),
    /// Tag name without `<`, `/` or `>`; start and end tags look alike
    /// because both mark a block boundary.
    Tag(&'a str),
}

/// Splits the text cleaner's output, which contains attribute-less tags
/// only, into text runs and tags.
struct Tokens<'a> {
    rest: &'a str,
}

impl<'a> Tokens<'a> {
    fn new(html: &'a str) -> Self {
        Tokens { rest: html }
    }
}

impl<'a> Iterator for Tokens<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        if self.rest.is_empty() {
            return None;
        }
        if let Some(tag) = self.rest.strip_prefix('<') {
            let end = tag.find('>').unwrap_or(tag.len());
            let name = tag[..end].trim_start_matches('/').trim_end_matches('/');
            self.rest = tag.get(end + 1..).unwrap_or("");
            return Some(Token::Tag(name));
        }
        let end = self.rest.find('<').unwrap_or(self.rest.len());
        let (text, rest) = self.rest.split_at(end);
        self.rest = rest;
        Some(Token::Text(text))
    }
}

/// What separates the next word from the previous one; the strongest
/// separator seen between two words wins.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
enum Gap {
    #[default]
    None,
    Space,
    Line,
    Paragraph,
}

#[derive(Default)]
struct TextWriter {
    out: String,
    pending: Gap,
}

impl TextWriter {
    fn gap(&mut self, gap: Gap) {
        self.pending = self.pending.max(gap);
    }

    fn push_text(&mut self, text: &str) {
        if text.starts_with(char::is_whitespace) {
            self.gap(Gap::Space);
        }
        for word in text.split_whitespace() {
            self.push_word(word);
            self.gap(Gap::Space);
        }
        if !text.ends_with(char::is_whitespace) && !text.trim().is_empty() {
            self.pending = Gap::None;
        }
    }

    fn push_word(&mut self, word: &str) {
        if !self.out.is_empty() {
            self.out.push_str(match self.pending {
                Gap::None => "",
                Gap::Space => " ",
                Gap::Line => "\n",
                Gap::Paragraph => "\n\n",
            });
        }
        self.pending = Gap::None;
        self.out.push_str(word);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("https://blog.example/feed.xml").unwrap()
    }

    #[test]
    fn scripts_and_their_contents_are_removed() {
        let out = clean_html(
            "<p>hi<script>alert('x')</script></p><style>p{}</style>",
            None,
        );
        assert_eq!(out, "<p>hi</p>");
    }

    #[test]
    fn event_handlers_and_styles_are_removed() {
        let out = clean_html(
            r#"<p onclick="steal()" style="color:red" class="x">text</p>"#,
            None,
        );
        assert_eq!(out, "<p>text</p>");
    }

    #[test]
    fn javascript_and_data_links_lose_their_href() {
        let out = clean_html(
            r#"<a href="javascript:alert(1)">a</a><a href="data:text/html,x">b</a><a href="JaVaScRiPt:x">c</a>"#,
            None,
        );
        assert!(!out.to_lowercase().contains("javascript"), "{out}");
        assert!(!out.contains("data:"), "{out}");
        assert!(out.contains(">a</a>") && out.contains(">b</a>"), "{out}");
    }

    #[test]
    fn links_get_noopener_and_keep_safe_schemes() {
        let out = clean_html(
            r#"<a href="https://x.example/" target="_blank">x</a> <a href="mailto:a@b.example">m</a>"#,
            None,
        );
        assert_eq!(
            out,
            r#"<a href="https://x.example/" rel="noopener noreferrer">x</a> <a href="mailto:a@b.example" rel="noopener noreferrer">m</a>"#
        );
    }

    #[test]
    fn relative_links_resolve_against_the_base_or_vanish_without_one() {
        let html = r#"<a href="/post/1">p</a>"#;
        let with_base = clean_html(html, Some(&base()));
        assert!(
            with_base.contains(r#"href="https://blog.example/post/1""#),
            "{with_base}"
        );
        let without = clean_html(html, None);
        assert!(!without.contains("href"), "{without}");
    }

    #[test]
    fn images_and_embeds_are_dropped() {
        let out = clean_html(
            r#"<p>a<img src="https://t.example/p.gif" width="1" height="1">b</p><iframe src="https://e.example"></iframe><object data="x"></object><form><input></form>"#,
            None,
        );
        assert_eq!(out, "<p>ab</p>");
    }

    #[test]
    fn broken_html_is_balanced() {
        let out = clean_html(
            "<p><b>bold <i>both</p><ul><li>one<li>two</ul></div></span>",
            None,
        );
        // html5ever reopens the unclosed formatting tags in each list item,
        // as browsers do; what matters is that every tag is closed.
        assert_eq!(
            out,
            "<p><b>bold <i>both</i></b></p><ul><li><b><i>one</i></b></li><li><b><i>two</i></b></li></ul>"
        );
        assert_eq!(html_to_text("<p>a <b>b</p><p>c"), "a b\n\nc");
    }

    #[test]
    fn huge_input_is_bounded_and_quick() {
        let huge = format!("<p>{}</p>", "word ".repeat(1_000_000));
        let started = std::time::Instant::now();
        let html = clean_html(&huge, None);
        let text = html_to_text(&huge);
        assert!(html.len() <= MAX_HTML_BYTES + 16);
        assert!(text.len() <= MAX_HTML_BYTES);
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }

    #[test]
    fn text_keeps_paragraphs_and_decodes_entities() {
        let text = html_to_text(
            "<h2>Title</h2>\n<p>Tom &amp; Jerry &#8212;   &lt;2&gt;</p><p>line<br>break <b>bold</b>ly</p><script>x</script>",
        );
        assert_eq!(text, "Title\n\nTom & Jerry — <2>\n\nline\nbreak boldly");
    }

    #[test]
    fn plain_text_decodes_entities_but_keeps_angle_brackets() {
        assert_eq!(plain_text("Tom &amp; Jerry &#8212; 2"), "Tom & Jerry — 2");
        assert_eq!(plain_text("a <b> c"), "a <b> c");
    }

    #[test]
    fn rtl_and_emoji_survive() {
        let html = "<p>مرحبا بالعالم 👋🏽 שלום 👨‍👩‍👧</p>";
        assert_eq!(html_to_text(html), "مرحبا بالعالم 👋🏽 שלום 👨‍👩‍👧");
        assert_eq!(clean_html(html, None), html);
    }

    #[test]
    fn text_to_html_escapes() {
        assert_eq!(
            text_to_html("a < b & c\nd\n\ne"),
            "<p>a &lt; b &amp; c<br>d</p><p>e</p>"
        );
    }

    #[test]
    fn truncation_cuts_at_a_word_boundary() {
        assert_eq!(truncate_words("short", 10), "short");
        assert_eq!(truncate_words("one two three four", 12), "one two…");
        assert_eq!(truncate_words("one, two, three", 10), "one, two…");
        assert_eq!(truncate_words("abcdefghijklmnop", 6), "abcde…");
        assert_eq!(
            truncate_words("مرحبا بالعالم الجميل", 12).chars().count(),
            6
        );
        assert_eq!(truncate_words("anything", 0), "");
        for n in 1..30 {
            assert!(
                truncate_words("the quick brown fox jumps over", n)
                    .chars()
                    .count()
                    <= n
            );
        }
    }
}
