//! What a web page says about itself: its title, description and image, read from the
//! Open Graph tags (`og:title`, `og:description`, `og:image`), else `<title>` and
//! `<meta name="description">`. Used when an editor adds an article by URL.
//!
//! The page is hostile input: only the `<head>`'s `<meta>` and `<title>` are read (by a
//! small tolerant scanner, never a script), values are decoded as plain text, and the
//! image must be an absolute http(s) URL after resolving against the page.

use url::Url;

use super::parse::absolute_http_url;
use super::sanitize::plain_text;

/// Only the start of a page is scanned: metadata lives in the head.
const MAX_SCAN_BYTES: usize = 512 * 1024;
const MAX_TITLE_CHARS: usize = 300;
const MAX_SUMMARY_CHARS: usize = 2_000;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageMeta {
    pub title: Option<String>,
    pub description: Option<String>,
    pub image_url: Option<String>,
}

/// Reads the metadata of `html`, fetched from `page_url`.
pub fn page_meta(html: &[u8], page_url: &Url) -> PageMeta {
    let html = String::from_utf8_lossy(&html[..html.len().min(MAX_SCAN_BYTES)]);
    let lower = html.to_ascii_lowercase();
    // Stop at the body: tags there are the article's, not the page's own.
    let end = lower.find("<body").unwrap_or(lower.len());
    let (head, lower_head) = (&html[..end], &lower[..end]);
    let mut og_title = None;
    let mut og_description = None;
    let mut og_image = None;
    let mut description = None;
    let mut from = 0;
    while let Some(at) = lower_head[from..].find("<meta") {
        let start = from + at + "<meta".len();
        let close = tag_end(&lower_head[start..]).map_or(lower_head.len(), |c| start + c);
        let attrs = attributes(&head[start..close]);
        from = close;
        let key = attrs
            .iter()
            .find(|(k, _)| k == "property" || k == "name")
            .map(|(_, v)| v.trim().to_ascii_lowercase());
        let Some(content) = attrs.iter().find(|(k, _)| k == "content").map(|(_, v)| v) else {
            continue;
        };
        let slot = match key.as_deref() {
            Some("og:title") => &mut og_title,
            Some("og:description") => &mut og_description,
            Some("og:image" | "og:image:url" | "og:image:secure_url") => &mut og_image,
            Some("description") => &mut description,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(content.clone());
        }
    }
    let title_tag = lower_head.find("<title").and_then(|t| {
        let open = t + lower_head[t..].find('>')? + 1;
        let close = open + lower_head[open..].find("</title")?;
        Some(head[open..close].to_owned())
    });
    PageMeta {
        title: clean(og_title.or(title_tag), MAX_TITLE_CHARS),
        description: clean(og_description.or(description), MAX_SUMMARY_CHARS),
        image_url: og_image.and_then(|i| absolute_http_url(&plain_text(&i), Some(page_url))),
    }
}

/// Where a tag's attributes end: the first `>` outside a quoted value.
fn tag_end(attrs: &str) -> Option<usize> {
    let mut quote = None;
    for (i, c) in attrs.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '>') => return Some(i),
            _ => {}
        }
    }
    None
}

/// Plain text, one line of whitespace, bounded; nothing when empty.
fn clean(value: Option<String>, max_chars: usize) -> Option<String> {
    let text = plain_text(&value?);
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let text: String = text.chars().take(max_chars).collect();
    (!text.is_empty()).then_some(text)
}

/// The attributes of one tag (between its name and `>`): lower-cased names, raw values
/// (quoted with `"` or `'`, or bare).
fn attributes(tag: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = tag;
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == '/');
        let name_end = rest
            .find(|c: char| c.is_whitespace() || c == '=' || c == '/')
            .unwrap_or(rest.len());
        if name_end == 0 {
            return out;
        }
        let name = rest[..name_end].to_ascii_lowercase();
        rest = rest[name_end..].trim_start();
        let Some(after_eq) = rest.strip_prefix('=') else {
            out.push((name, String::new()));
            continue;
        };
        let after_eq = after_eq.trim_start();
        let (value, next) = match after_eq.chars().next() {
            Some(q @ ('"' | '\'')) => {
                let body = &after_eq[1..];
                let end = body.find(q).unwrap_or(body.len());
                (&body[..end], &body[(end + 1).min(body.len())..])
            }
            _ => {
                let end = after_eq.find(char::is_whitespace).unwrap_or(after_eq.len());
                (&after_eq[..end], &after_eq[end..])
            }
        };
        out.push((name, value.to_owned()));
        rest = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url() -> Url {
        Url::parse("https://news.example/2026/strike").unwrap()
    }

    #[test]
    fn open_graph_first_then_title_and_description() {
        let html = br#"<!doctype html><html><head>
            <title>Site | Fallback &amp; more</title>
            <meta name="description" content="Plain description">
            <meta property='og:title' content='Dockers &amp; drivers <b>walk out</b>'>
            <meta content="/img/1.jpg" property="og:image" />
            </head><body><meta property="og:description" content="from the body"></body>"#;
        let m = page_meta(html, &url());
        assert_eq!(
            m.title.as_deref(),
            Some("Dockers & drivers <b>walk out</b>")
        );
        assert_eq!(m.description.as_deref(), Some("Plain description"));
        assert_eq!(
            m.image_url.as_deref(),
            Some("https://news.example/img/1.jpg")
        );
        let m = page_meta(b"<title>\n  Only a  title </title>", &url());
        assert_eq!(m.title.as_deref(), Some("Only a title"));
        assert_eq!(m.image_url, None);
    }

    #[test]
    fn hostile_values_are_text_and_scripts_are_not_urls() {
        let html = br#"<head><meta property="og:image" content="javascript:alert(1)">
            <meta property=og:title content=Bare><meta name=description></head>"#;
        let m = page_meta(html, &url());
        assert_eq!(m.image_url, None);
        assert_eq!(m.title.as_deref(), Some("Bare"));
        assert_eq!(m.description, None);
    }
}
