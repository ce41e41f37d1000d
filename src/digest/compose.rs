//! Choosing and rendering a digest: which articles, in what order, under which
//! headings, with the editor's note made safe, rendered once for everyone.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
use templates::email::digest::{
    AnnouncementView, ArticleView, DigestEmail, SectionView, render_digest_html, render_digest_text,
};
use url::Url;

use super::personalise::{Escape, Fill, Sentinels, Slot, Template};
use crate::{
    app::App,
    config::DigestConfig,
    feeds::sanitize::{clean_html, truncate_words},
    store::{
        articles::{Article, ArticleWindow},
        curation::{Announcement, ArticleOverride},
        digests::{ComposedDigest, Digest, DigestPick, EditionKind},
    },
};

/// Heading for articles whose feed has no section.
pub const UNSECTIONED: &str = "Latest";
/// Upper bound on the window's articles read before capping; far above any digest.
const MAX_CANDIDATES: i64 = 2_000;
/// How many years back "on this day" looks.
const ON_THIS_DAY_YEARS: i32 = 10;
const PREHEADER_CHARS: usize = 140;

/// The chosen articles in reading order.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub pinned: Vec<Article>,
    pub sections: Vec<(String, Vec<Article>)>,
    /// Articles of the window left out because the issue was full
    /// (`digest.max_articles`); see [`select`].
    pub left_out: usize,
}

impl Selection {
    pub fn is_empty(&self) -> bool {
        self.pinned.is_empty() && self.sections.iter().all(|(_, a)| a.is_empty())
    }

    pub fn articles(&self) -> impl Iterator<Item = &Article> {
        self.pinned
            .iter()
            .chain(self.sections.iter().flat_map(|(_, a)| a.iter()))
    }
}

/// What one composition produced: what the edition's "nothing to send" rule looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Composed {
    pub digest_id: i64,
    /// Articles chosen (pinned and in sections; "on this day" is not counted).
    pub articles: usize,
    pub has_note: bool,
}

/// What [`compose`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Composition {
    Composed(Composed),
    /// The digest is already sending or sent; it is never recomposed.
    AlreadyOut(i64),
}

/// Composes `digest` from its window's articles and the editor's picks and note, and
/// stores the rendering (even when it has nothing in it: whether to send is the
/// edition's decision, not the composer's). `zone` is the publication's time zone.
pub async fn compose(app: &App, digest: &Digest, zone: Tz) -> anyhow::Result<Composition> {
    let now = app.now_ms();
    if digest.status.is_out() {
        return Ok(Composition::AlreadyOut(digest.id));
    }
    let picks = app.store.digest_picks(digest.id).await?;
    // Another process may have saved a new look; the render below reads the cache.
    app.look.fresh(app).await;
    let window = window(app, digest, now).await?;
    let mut candidates = app
        .store
        .articles_in_window(&window, MAX_CANDIDATES)
        .await?;
    // The editor's pinned articles, and those added to this issue by URL, are in
    // whatever their date.
    let have: HashSet<i64> = candidates.iter().map(|a| a.id).collect();
    let added = app.store.added_article_ids(digest.id).await?;
    let pinned_elsewhere: Vec<i64> = picks
        .iter()
        .filter(|p| p.pinned && !p.dropped)
        .map(|p| p.article_id)
        .chain(added)
        .filter(|id| !have.contains(id))
        .collect();
    candidates.extend(app.store.articles_by_ids(&pinned_elsewhere).await?);
    let per_section =
        (digest.kind == EditionKind::Weekly).then(|| app.config.digest.weekly_per_section.max(1));
    if digest.kind == EditionKind::Weekly {
        // What an editor dropped from the week's dailies stays out of the round-up too
        // (unless they pinned it here).
        let ids: Vec<i64> = candidates.iter().map(|a| a.id).collect();
        let dropped: HashSet<i64> = app
            .store
            .articles_dropped_from(&[EditionKind::Daily, EditionKind::Special], &ids)
            .await?
            .into_iter()
            .collect();
        let pinned_here: HashSet<i64> = picks
            .iter()
            .filter(|p| p.pinned && !p.dropped)
            .map(|p| p.article_id)
            .collect();
        candidates.retain(|a| !dropped.contains(&a.id) || pinned_here.contains(&a.id));
    }
    let mut selection = select(candidates, &picks, &app.config.digest, per_section);
    if selection.left_out > 0 {
        tracing::warn!(
            digest_id = digest.id,
            left_out = selection.left_out,
            max_articles = app.config.digest.max_articles,
            "more articles came in than digest.max_articles: the oldest are in no issue"
        );
    }
    apply_overrides(
        &mut selection,
        &app.store.article_overrides(digest.id).await?,
    );
    let announcement = app
        .store
        .announcement(digest.id)
        .await?
        .and_then(|a| announcement_view(&a, app));
    let note = EditorNote::from_markdown(&digest.editor_note, app);
    let on_this_day = if app.config.digest.on_this_day && digest.kind == EditionKind::Daily {
        on_this_day(app, zone, digest.issue_date, &selection).await?
    } else {
        None
    };
    let greetings = super::greeting_config(app).await?;
    let rendered = render(
        app,
        &greetings,
        zone,
        digest,
        &selection,
        Blocks {
            note: note.as_ref(),
            announcement,
            on_this_day: on_this_day.as_ref(),
        },
    )?;
    let ids: Vec<i64> = selection
        .articles()
        .chain(on_this_day.iter())
        .map(|a| a.id)
        .collect();
    let stored = app
        .store
        .save_composition(
            digest.id,
            &ComposedDigest {
                subject: &rendered.subject,
                preheader: &rendered.preheader,
                html: &rendered.archive_html,
                text: &rendered.archive_text,
                html_template: &rendered.html.to_json(),
                text_template: &rendered.text.to_json(),
                article_ids: &ids,
            },
            Some(window.until_id),
            i64::try_from(selection.left_out).unwrap_or(i64::MAX),
            now,
        )
        .await?;
    if !stored {
        // Sending started while we were composing; what is stored is what went out.
        return Ok(Composition::AlreadyOut(digest.id));
    }
    tracing::info!(digest_id = digest.id, date = %digest.issue_date, kind = digest.kind.as_str(), articles = ids.len(), "digest composed");
    Ok(Composition::Composed(Composed {
        digest_id: digest.id,
        articles: selection.articles().count(),
        has_note: note.is_some(),
    }))
}

/// The editor's per-issue text and image in place of the feed's, so that every part
/// made from this composition (email, text, archive) shows the same article. The
/// feed's own text stays in the store.
pub fn apply_overrides(selection: &mut Selection, overrides: &[ArticleOverride]) {
    let by_id: HashMap<i64, &ArticleOverride> =
        overrides.iter().map(|o| (o.article_id, o)).collect();
    let articles = selection.pinned.iter_mut().chain(
        selection
            .sections
            .iter_mut()
            .flat_map(|(_, a)| a.iter_mut()),
    );
    for a in articles {
        let Some(o) = by_id.get(&a.id) else { continue };
        if let Some(title) = &o.title {
            a.title = title.clone();
        }
        if let Some(summary) = &o.summary {
            a.summary_text = summary.clone();
        }
        if let Some(image) = &o.image_url {
            a.image_url = Some(image.clone());
        }
    }
}

/// The announcement, from Markdown to sanitised HTML and text like the editor's note.
fn announcement_view(a: &Announcement, app: &App) -> Option<AnnouncementView> {
    let rendered = EditorNote::from_markdown(&a.body, app)?;
    Some(AnnouncementView {
        html: rendered.html,
        text: rendered.text,
        after: usize::try_from(a.after_article).unwrap_or(0),
    })
}

/// Which articles an edition takes. The window is keyed on the order in which Breakfast
/// stored articles (their ids, up to [`crate::store::Store::article_window_mark`], read
/// when no insert is in flight): it starts after the last article the previous edition of
/// the same readers could see (its composition that went out) and ends with the last one
/// stored before this composition, so an article is in that edition or in this one, never
/// in neither — also when a fetch stamped it before a composition and committed it after.
/// Daily and special editions share one chain; the weekly edition has its own. Before
/// the first edition: what was first seen in the last `lookback_hours` (a week for the
/// weekly edition). After an edition composed before marks were stored: what was first
/// seen after its composition.
async fn window(app: &App, digest: &Digest, now: i64) -> anyhow::Result<ArticleWindow> {
    let (kinds, fallback_hours): (&[EditionKind], i64) = match digest.kind {
        EditionKind::Daily | EditionKind::Special => (
            &[EditionKind::Daily, EditionKind::Special],
            i64::from(app.config.digest.lookback_hours),
        ),
        EditionKind::Weekly => (&[EditionKind::Weekly], 7 * 24),
    };
    let until_id = app.store.article_window_mark().await?;
    let (after_id, composed_at) = app.store.previous_window_end(kinds, digest.id).await?;
    let seen_after = match (after_id, composed_at) {
        (Some(_), _) => i64::MIN,
        (None, Some(at)) => at,
        (None, None) => now - fallback_hours * 3_600_000,
    };
    Ok(ArticleWindow {
        after_id: after_id.unwrap_or(0),
        until_id,
        seen_after,
        backfill_ms: i64::from(app.config.digest.lookback_hours) * 3_600_000,
    })
}

/// The section an article is shown under, in the email and in the admin alike: the
/// first of its feed categories that the `category_sections` mapping names (matched
/// without regard to case), else its first category, else its feed's section, else
/// [`UNSECTIONED`].
pub fn section_of(a: &Article, config: &DigestConfig) -> String {
    let mapped = a.categories.iter().find_map(|c| {
        let key = c.trim().to_lowercase();
        config
            .category_sections
            .iter()
            .find(|(k, _)| k.trim().to_lowercase() == key)
            .map(|(_, section)| section.clone())
    });
    mapped
        .or_else(|| {
            a.categories
                .iter()
                .map(|c| c.trim())
                .find(|c| !c.is_empty())
                .map(str::to_owned)
        })
        .or_else(|| a.section.clone().filter(|s| !s.trim().is_empty()))
        .unwrap_or_else(|| UNSECTIONED.to_owned())
}

/// Pinned first (by position), then the newest of the rest up to the cap, grouped by
/// section in the configured order. Dropped and unlinkable articles are left out. With
/// `per_section` (the weekly edition's "best N"), each section keeps only its newest N
/// before the cap applies, so one busy section cannot crowd the others out of the cap.
///
/// What the cap leaves out is counted in [`Selection::left_out`] and dropped, not carried
/// into the next issue: news is perishable, and carrying the overflow would grow a backlog
/// on every busy day and fill tomorrow's issue with yesterday's stories. So the drop is
/// made visible instead — logged with its count and shown to the editor in the composer,
/// who can pin an article or raise `digest.max_articles`.
pub fn select(
    candidates: Vec<Article>,
    picks: &[DigestPick],
    config: &DigestConfig,
    per_section: Option<usize>,
) -> Selection {
    let picks: HashMap<i64, &DigestPick> = picks.iter().map(|p| (p.article_id, p)).collect();
    let mut seen = HashSet::new();
    let mut pinned = Vec::new();
    let mut rest = Vec::new();
    for a in candidates {
        let pick = picks.get(&a.id);
        if a.link.is_none() || pick.is_some_and(|p| p.dropped) || !seen.insert(a.id) {
            continue;
        }
        if pick.is_some_and(|p| p.pinned) {
            pinned.push(a);
        } else {
            rest.push(a);
        }
    }
    let position = |a: &Article| picks.get(&a.id).and_then(|p| p.position);
    let newest_first =
        |x: &Article, y: &Article| (y.published_at, y.id).cmp(&(x.published_at, x.id));
    pinned.sort_by(|x, y| by_position(position(x), position(y)).then(newest_first(x, y)));
    let mut left_out = pinned.len().saturating_sub(config.max_articles);
    pinned.truncate(config.max_articles);
    rest.sort_by(newest_first);
    if let Some(best) = per_section {
        let mut taken: HashMap<String, usize> = HashMap::new();
        rest.retain(|a| {
            let n = taken.entry(section_of(a, config)).or_default();
            *n += 1;
            *n <= best
        });
    }
    let room = config.max_articles - pinned.len();
    left_out += rest.len().saturating_sub(room);
    rest.truncate(room);
    let mut groups: HashMap<String, Vec<Article>> = HashMap::new();
    for a in rest {
        let name = section_of(&a, config);
        groups.entry(name).or_default().push(a);
    }
    let mut sections: Vec<(String, Vec<Article>)> = groups.into_iter().collect();
    sections.sort_by_key(|(name, _)| section_rank(name, &config.section_order));
    for (_, articles) in &mut sections {
        articles.sort_by(|x, y| by_position(position(x), position(y)).then(newest_first(x, y)));
    }
    Selection {
        pinned,
        sections,
        left_out,
    }
}

/// Placed articles before unplaced ones, lower positions first.
fn by_position(x: Option<i64>, y: Option<i64>) -> std::cmp::Ordering {
    match (x, y) {
        (Some(a), Some(b)) => a.cmp(&b),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    }
}

/// Configured sections in their order, then the others alphabetically, then the
/// articles without a section.
fn section_rank(name: &str, order: &[String]) -> (usize, usize, String) {
    let key = name.to_lowercase();
    if let Some(i) = order.iter().position(|o| o.trim().to_lowercase() == key) {
        (0, i, String::new())
    } else if name == UNSECTIONED {
        (2, 0, String::new())
    } else {
        (1, 0, key)
    }
}

/// An article from the same day in an earlier year, newest year first, that is not
/// already in the digest.
async fn on_this_day(
    app: &App,
    tz: Tz,
    date: NaiveDate,
    selection: &Selection,
) -> anyhow::Result<Option<Article>> {
    let taken: HashSet<i64> = selection.articles().map(|a| a.id).collect();
    for years in 1..=ON_THIS_DAY_YEARS {
        let Some(day) = date.with_year(date.year() - years) else {
            continue; // 29 February
        };
        let (start, end) = (
            local_midnight(tz, day),
            local_midnight(tz, day.succ_opt().unwrap_or(day)),
        );
        let found = app.store.articles_published_between(start, end, 20).await?;
        if let Some(a) = found
            .into_iter()
            .find(|a| a.link.is_some() && !taken.contains(&a.id))
        {
            return Ok(Some(a));
        }
    }
    Ok(None)
}

fn local_midnight(tz: Tz, day: NaiveDate) -> i64 {
    let naive = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|t| t.timestamp_millis())
        .unwrap_or_else(|| naive.and_utc().timestamp_millis())
}

/// The editor's note, from Markdown to sanitised HTML and readable text.
pub struct EditorNote {
    pub html: String,
    pub text: String,
}

impl EditorNote {
    /// `None` when there is nothing to say.
    pub fn from_markdown(markdown: &str, app: &App) -> Option<EditorNote> {
        let base = Url::parse(app.config.base()).ok();
        Self::render(markdown, base.as_ref())
    }

    pub fn render(markdown: &str, base: Option<&Url>) -> Option<EditorNote> {
        if markdown.trim().is_empty() {
            return None;
        }
        let mut raw = String::new();
        pulldown_cmark::html::push_html(&mut raw, Parser::new_ext(markdown, markdown_options()));
        // The note is trusted more than a feed, but not to put markup in people's inboxes:
        // it goes through the same cleaner as feed content.
        let html = clean_html(&raw, base);
        let text = markdown_to_text(markdown);
        if html.trim().is_empty() && text.is_empty() {
            return None;
        }
        Some(EditorNote { html, text })
    }
}

fn markdown_options() -> Options {
    Options::ENABLE_STRIKETHROUGH | Options::ENABLE_SMART_PUNCTUATION
}

/// Plain text for the text/plain part: paragraphs and list items on their own, links
/// spelled out after their words, raw HTML dropped.
pub fn markdown_to_text(markdown: &str) -> String {
    let mut out = String::new();
    let mut links: Vec<String> = Vec::new();
    let paragraph = |out: &mut String| {
        let trimmed = out.trim_end_matches([' ', '\n']).len();
        out.truncate(trimmed);
        if !out.is_empty() {
            out.push_str("\n\n");
        }
    };
    for event in Parser::new_ext(markdown, markdown_options()) {
        match event {
            Event::Text(t) | Event::Code(t) => out.push_str(&t),
            Event::SoftBreak => out.push(' '),
            Event::HardBreak => out.push('\n'),
            Event::Start(Tag::Item) => {
                paragraph(&mut out);
                out.push_str("- ");
            }
            Event::Start(Tag::Link { dest_url, .. }) => links.push(dest_url.to_string()),
            Event::End(TagEnd::Link) => {
                let url = links.pop().unwrap_or_default();
                let readable = url.starts_with("http://") || url.starts_with("https://");
                if readable && !out.ends_with(url.as_str()) {
                    out.push_str(" (");
                    out.push_str(&url);
                    out.push(')');
                }
            }
            Event::End(
                TagEnd::Paragraph
                | TagEnd::Heading(_)
                | TagEnd::Item
                | TagEnd::BlockQuote(_)
                | TagEnd::CodeBlock
                | TagEnd::List(_),
            ) => paragraph(&mut out),
            Event::Rule => {
                paragraph(&mut out);
                out.push_str("* * *");
                paragraph(&mut out);
            }
            _ => {}
        }
    }
    out.trim().to_owned()
}

/// A composed digest: the parts cut for personalisation and the archive copy.
pub(crate) struct Rendered {
    pub subject: String,
    pub preheader: String,
    pub html: Template,
    pub text: Template,
    pub archive_html: String,
    pub archive_text: String,
}

/// What an issue shows besides its stories.
struct Blocks<'a> {
    note: Option<&'a EditorNote>,
    announcement: Option<AnnouncementView>,
    on_this_day: Option<&'a Article>,
}

fn render(
    app: &App,
    greetings: &DigestConfig,
    tz: Tz,
    digest: &Digest,
    selection: &Selection,
    blocks: Blocks<'_>,
) -> anyhow::Result<Rendered> {
    let Blocks {
        note,
        announcement,
        on_this_day,
    } = blocks;
    let subject = digest
        .subject_override
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .unwrap_or_else(|| subject_for(app, digest.kind, digest.edition_no, digest.issue_date));
    let preheader = preheader(note, selection);
    let sentinels = Sentinels::new();
    let summary_chars = app.config.digest.summary_chars.max(1);
    let view = |a: &Article, with_section: bool, label: &str| ArticleView {
        title: a.title.clone(),
        url: a.link.clone().unwrap_or_default(),
        author: a.author.clone(),
        published_label: Some(date_label(tz, a.published_at, label)),
        summary_text: truncate_words(&a.summary_text, summary_chars),
        // The one rule for an article's section (categories, then the feed's).
        section: with_section.then(|| section_of(a, &app.config.digest)),
        image_url: a.image_url.clone(),
        image_alt: a.title.clone(),
        compact: false,
    };
    let email = DigestEmail {
        publication: app.config.newsletter.name.clone(),
        subject: subject.clone(),
        preheader: preheader.clone(),
        date_label: digest.issue_date.format("%A %-d %B %Y").to_string(),
        greeting: sentinels.for_slot(Slot::Greeting),
        editor_note_html: note.map(|n| n.html.clone()),
        editor_note_text: note.map(|n| n.text.clone()),
        headlines: if app.config.digest.headline_list {
            selection
                .articles()
                .map(|a| (a.title.clone(), a.link.clone().unwrap_or_default()))
                .collect()
        } else {
            Vec::new()
        },
        pinned: selection
            .pinned
            .iter()
            .map(|a| view(a, true, "%-d %B"))
            .collect(),
        sections: compact_tail(
            selection
                .sections
                .iter()
                .map(|(name, articles)| SectionView {
                    name: name.clone(),
                    articles: articles.iter().map(|a| view(a, false, "%-d %B")).collect(),
                })
                .collect(),
            app.config
                .digest
                .compact_after
                .saturating_sub(selection.pinned.len()),
        ),
        on_this_day: on_this_day.map(|a| view(a, false, "%-d %B %Y")),
        announcement,
        view_in_browser_url: crate::links::Links::new(app).archive(digest),
        subscribe_url: app.url("/"),
        unsubscribe_url: sentinels.for_slot(Slot::Unsubscribe),
        preferences_url: sentinels.for_slot(Slot::Preferences),
        postal_address: app.config.newsletter.postal_address.clone(),
        why_received: why_received(app),
        brand: app.look.current().brand.clone(),
    };
    let html = Template::split(&render_digest_html(&email), &sentinels, Escape::Html)?;
    let text = Template::split(&render_digest_text(&email), &sentinels, Escape::Text)?;
    let home = app.url("/");
    let archive = Fill {
        greeting: &super::greeting(greetings, None),
        unsubscribe_url: &home,
        preferences_url: &home,
    };
    Ok(Rendered {
        archive_html: html.fill(&archive),
        archive_text: text.fill(&archive),
        subject,
        preheader,
        html,
        text,
    })
}

/// How long a compact story's line is.
const COMPACT_LINE_CHARS: usize = 120;

/// Makes the section stories after the first `full` compact: headline and one line.
fn compact_tail(mut sections: Vec<SectionView>, full: usize) -> Vec<SectionView> {
    let mut seen = 0;
    for a in sections.iter_mut().flat_map(|s| s.articles.iter_mut()) {
        seen += 1;
        if seen > full {
            a.compact = true;
            a.summary_text = truncate_words(&a.summary_text, COMPACT_LINE_CHARS);
        }
    }
    sections
}

fn date_label(tz: Tz, ms: i64, format: &str) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .with_timezone(&tz)
        .format(format)
        .to_string()
}

pub use crate::links::{archive_path, archive_path_of};

/// The subject an edition gets from its pattern: the daily pattern, the weekly pattern,
/// or the daily one marked as the day's special edition (numbered from the second).
pub fn subject_for(app: &App, kind: EditionKind, edition_no: i64, date: NaiveDate) -> String {
    let c = &app.config.digest;
    let name = &app.config.newsletter.name;
    match kind {
        EditionKind::Daily => subject_from_pattern(&c.subject_pattern, name, date),
        EditionKind::Weekly => subject_from_pattern(&c.weekly_subject_pattern, name, date),
        EditionKind::Special => {
            let base = subject_from_pattern(&c.subject_pattern, name, date);
            match edition_no {
                n if n <= 1 => format!("{base} — special edition"),
                n => format!("{base} — special edition {n}"),
            }
        }
    }
}

/// Fills `{name}`, `{weekday}`, `{day}`, `{month}` and `{year}` in the configured pattern,
/// e.g. "Breakfast in Red — Monday 6 March".
pub fn subject_from_pattern(pattern: &str, name: &str, date: NaiveDate) -> String {
    pattern
        .replace("{name}", name)
        .replace("{weekday}", &date.format("%A").to_string())
        .replace("{day}", &date.day().to_string())
        .replace("{month}", &date.format("%B").to_string())
        .replace("{year}", &date.year().to_string())
}

/// The line inbox lists show after the subject: the note's opening, or the first
/// headlines.
fn preheader(note: Option<&EditorNote>, selection: &Selection) -> String {
    if let Some(first) = note.and_then(|n| n.text.split("\n\n").next()) {
        return truncate_words(first, PREHEADER_CHARS);
    }
    let titles: Vec<&str> = selection
        .articles()
        .take(3)
        .map(|a| a.title.as_str())
        .collect();
    truncate_words(&titles.join(" · "), PREHEADER_CHARS)
}

fn why_received(app: &App) -> String {
    let host = Url::parse(app.config.base())
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| app.config.base().to_owned());
    format!(
        "You are receiving this because you subscribed to {} at {host}.",
        app.config.newsletter.name
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(max: usize, order: &[&str]) -> DigestConfig {
        let mut c = crate::config::Config::from_toml_str("").unwrap().digest;
        c.max_articles = max;
        c.section_order = order.iter().map(|s| s.to_string()).collect();
        c
    }

    fn article(id: i64, section: Option<&str>, published_at: i64) -> Article {
        Article {
            id,
            feed_id: 1,
            dedup_key: format!("k{id}"),
            guid: None,
            link: Some(format!("https://x.example/{id}")),
            title: format!("Article {id}"),
            author: None,
            published_at,
            summary_html: String::new(),
            summary_text: String::new(),
            section: section.map(str::to_owned),
            categories: vec![],
            image_url: None,
            first_seen_at: 0,
            updated_at: 0,
        }
    }

    fn pick(id: i64, pinned: bool, dropped: bool, position: Option<i64>) -> DigestPick {
        DigestPick {
            article_id: id,
            pinned,
            dropped,
            position,
        }
    }

    fn ids(articles: &[Article]) -> Vec<i64> {
        articles.iter().map(|a| a.id).collect()
    }

    #[test]
    fn pinned_first_then_sections_in_order_newest_first_and_capped() {
        let candidates = vec![
            article(1, Some("World"), 100),
            article(2, Some("Britain"), 200),
            article(3, Some("Culture"), 300),
            article(4, None, 400),
            article(5, Some("Britain"), 500),
            article(6, Some("World"), 600),
            article(7, Some("Arts"), 50),
            article(8, Some("World"), 10),
        ];
        let picks = [
            pick(1, true, false, Some(2)),
            pick(2, true, false, Some(1)),
            pick(6, false, true, None),
        ];
        let s = select(candidates, &picks, &config(6, &["world", "Britain"]), None);
        assert_eq!(ids(&s.pinned), vec![2, 1]);
        let names: Vec<&str> = s.sections.iter().map(|(n, _)| n.as_str()).collect();
        // 6 dropped; cap of 6 keeps the 4 newest others: 5, 4, 3, 7 (8 is oldest).
        assert_eq!(names, vec!["Britain", "Arts", "Culture", UNSECTIONED]);
        assert_eq!(s.articles().count(), 6);
        assert_eq!(s.left_out, 1, "8, the oldest, had no room");
        assert_eq!(ids(&s.sections[0].1), vec![5]);
        let s = select(
            vec![article(1, Some("A"), 1), article(2, Some("A"), 2)],
            &[],
            &config(10, &[]),
            None,
        );
        assert_eq!(ids(&s.sections[0].1), vec![2, 1]);
    }

    #[test]
    fn nothing_selected_is_empty_and_links_are_required() {
        let mut a = article(1, None, 1);
        a.link = None;
        assert!(select(vec![a], &[], &config(10, &[]), None).is_empty());
    }

    #[test]
    fn subject_pattern_fills_every_placeholder() {
        let date = NaiveDate::from_ymd_opt(2023, 3, 6).unwrap();
        assert_eq!(
            subject_from_pattern("{name} — {weekday} {day} {month}", "Breakfast in Red", date),
            "Breakfast in Red — Monday 6 March"
        );
        assert_eq!(subject_from_pattern("{year}", "x", date), "2023");
    }

    #[test]
    fn note_is_sanitised_and_its_text_spells_out_links() {
        let md = "Hello *there*. Read [our piece](https://x.example/p).\n\n<script>alert(1)</script>\n\n- one\n- two <img src=x onerror=alert(1)>\n\n[bad](javascript:alert(1))";
        let note = EditorNote::render(md, None).unwrap();
        assert!(!note.html.contains("<script"), "{}", note.html);
        assert!(!note.html.contains("onerror"), "{}", note.html);
        assert!(!note.html.contains("javascript"), "{}", note.html);
        assert!(note.html.contains("<em>there</em>"), "{}", note.html);
        assert!(
            note.html.contains("href=\"https://x.example/p\""),
            "{}",
            note.html
        );
        assert!(
            note.text.contains("Read our piece (https://x.example/p)."),
            "{}",
            note.text
        );
        assert!(note.text.contains("- one\n\n- two"), "{}", note.text);
        assert!(!note.text.contains("javascript"), "{}", note.text);
        assert!(EditorNote::render("  \n", None).is_none());
    }
}
