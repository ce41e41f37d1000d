//! The public archive's view of the issues that went out: each one rebuilt as a web page
//! from what it was made of (its articles in their sent order, the editor's note), so
//! nothing personal from the email reaches it; its neighbours; the Atom feed of issues;
//! and when the next issue goes out.

use std::collections::HashSet;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;
use templates::{
    archive::{FeedEntry, FeedView, IssueLink, IssueView, atom_feed, issue_content},
    email::digest::{ArticleView, SectionView},
};

use crate::{
    app::App,
    digest::compose::{EditorNote, archive_path, archive_path_of, section_of},
    edition,
    feeds::sanitize::truncate_words,
    schedule::runner,
    store::{
        StoreResult,
        articles::Article,
        digests::{Digest, SentDigest},
    },
};

/// How many issues the feed carries.
pub const FEED_ENTRIES: i64 = 20;

pub fn long_date(date: NaiveDate) -> String {
    date.format("%A %-d %B %Y").to_string()
}

fn local_date(tz: Tz, ms: i64) -> NaiveDate {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .with_timezone(&tz)
        .date_naive()
}

/// An article as the issue showed it: the same fields the email shows.
/// Times are told in `tz`, the publication's zone ([`edition::zone`], as the composer
/// tells them); the section is [`section_of`], the email's one rule.
fn article_view(app: &App, tz: Tz, a: &Article, with_section: bool, format: &str) -> ArticleView {
    ArticleView {
        title: a.title.clone(),
        url: a.link.clone().unwrap_or_default(),
        author: a.author.clone(),
        published_label: Some(
            DateTime::<Utc>::from_timestamp_millis(a.published_at)
                .unwrap_or_default()
                .with_timezone(&tz)
                .format(format)
                .to_string(),
        ),
        summary_text: truncate_words(&a.summary_text, app.config.digest.summary_chars.max(1)),
        section: with_section.then(|| section_of(a, &app.config.digest)),
        image_url: a.image_url.clone(),
        image_alt: a.title.clone(),
        compact: false,
    }
}

/// The issue's stories in the shape the email had them. The composer stored the ids in
/// reading order (pinned, then the sections one after another, then "on this day"), so
/// grouping consecutive articles by section gives back its sections; the last article is
/// "on this day" when it is from this calendar day in an earlier year.
struct Stories {
    pinned: Vec<ArticleView>,
    sections: Vec<SectionView>,
    on_this_day: Option<ArticleView>,
    /// The lead picture for link previews: the first story that has one.
    image: Option<(String, String)>,
}

async fn stories(app: &App, digest: &Digest) -> StoreResult<Stories> {
    let mut found = app.store.articles_by_ids(&digest.article_ids).await?;
    let ordered: Vec<Article> = digest
        .article_ids
        .iter()
        .filter_map(|id| {
            let at = found.iter().position(|a| a.id == *id)?;
            Some(found.swap_remove(at))
        })
        .collect();
    let pinned_ids: HashSet<i64> = app
        .store
        .digest_picks(digest.id)
        .await?
        .into_iter()
        .filter(|p| p.pinned && !p.dropped)
        .map(|p| p.article_id)
        .collect();
    let tz = edition::zone(app).await;
    let issue = digest.issue_date;
    let mut rest: Vec<&Article> = Vec::new();
    let mut pinned = Vec::new();
    for a in &ordered {
        if pinned_ids.contains(&a.id) && rest.is_empty() {
            pinned.push(article_view(app, tz, a, true, "%-d %B"));
        } else {
            rest.push(a);
        }
    }
    let mut on_this_day = None;
    if app.config.digest.on_this_day
        && let Some(last) = rest.last()
    {
        let d = local_date(tz, last.published_at);
        if d.year() < issue.year() && d.month() == issue.month() && d.day() == issue.day() {
            on_this_day = Some(article_view(app, tz, last, false, "%-d %B %Y"));
            rest.pop();
        }
    }
    let mut sections: Vec<SectionView> = Vec::new();
    for a in rest {
        // The composer grouped the issue by this rule; regrouping by it gives its sections.
        let name = section_of(a, &app.config.digest);
        let view = article_view(app, tz, a, false, "%-d %B");
        match sections.last_mut() {
            Some(s) if s.name == name => s.articles.push(view),
            _ => sections.push(SectionView {
                name,
                articles: vec![view],
            }),
        }
    }
    let image = ordered
        .iter()
        .find_map(|a| a.image_url.clone().map(|u| (u, a.title.clone())));
    Ok(Stories {
        pinned,
        sections,
        on_this_day,
        image,
    })
}

fn link(d: SentDigest) -> Option<IssueLink> {
    let date: NaiveDate = d.issue_date.parse().ok()?;
    Some(IssueLink {
        href: archive_path_of(&d.kind, d.id, &d.issue_date),
        date_label: long_date(date),
        subject: d.subject.unwrap_or_else(|| long_date(date)),
    })
}

/// The page for one sent issue, without its neighbours (the feed needs none).
async fn issue_view(app: &App, digest: &Digest) -> StoreResult<IssueView> {
    let s = stories(app, digest).await?;
    let note = EditorNote::from_markdown(&digest.editor_note, app);
    let date = digest.issue_date;
    let (image_url, image_alt) = s.image.unzip();
    Ok(IssueView {
        publication: app.config.newsletter.name.clone(),
        brand: app.look.current().brand.clone(),
        // Told by the page's handler, which knows how the sign-up form names days.
        weekly_day: String::new(),
        pitch: app.config.newsletter.pitch.clone(),
        subject: digest.subject.clone().unwrap_or_else(|| long_date(date)),
        description: digest.preheader.clone().unwrap_or_default(),
        date_label: long_date(date),
        iso_date: date.to_string(),
        canonical_url: app.url(&archive_path(digest)),
        image_url,
        image_alt: image_alt.unwrap_or_default(),
        editor_note_html: note.map(|n| n.html),
        pinned: s.pinned,
        sections: s.sections,
        on_this_day: s.on_this_day,
        previous: None,
        next: None,
        feed_url: app.url("/archive.atom"),
    })
}

/// The page for one sent issue, with links to the issues either side of it.
pub async fn issue_page_view(app: &App, digest: &Digest) -> StoreResult<IssueView> {
    let mut view = issue_view(app, digest).await?;
    let (previous, next) = app
        .store
        .sent_digest_neighbours(digest.issue_date, digest.id)
        .await?;
    view.previous = previous.and_then(link);
    view.next = next.and_then(link);
    Ok(view)
}

fn rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// `/archive.atom`: the latest issues, newest first, each with its whole content.
pub async fn feed(app: &App) -> StoreResult<String> {
    let mut entries = Vec::new();
    for sent in app.store.list_sent_digests(FEED_ENTRIES, 0).await? {
        let digest = app.store.digest(sent.id).await?;
        let view = issue_view(app, &digest).await?;
        let at = digest
            .send_started_at
            .or(digest.composed_at)
            .unwrap_or(digest.updated_at);
        entries.push(FeedEntry {
            id: view.canonical_url.clone(),
            title: view.subject.clone(),
            url: view.canonical_url.clone(),
            updated: rfc3339(at),
            summary: view.description.clone(),
            content_html: issue_content(&view).into_string(),
        });
    }
    let newsletter = &app.config.newsletter;
    Ok(atom_feed(&FeedView {
        id: app.url("/archive"),
        title: newsletter.name.clone(),
        subtitle: newsletter.pitch.clone(),
        self_url: app.url("/archive.atom"),
        archive_url: app.url("/archive"),
        // A feed with no entries still needs an `updated`; the epoch says "never".
        updated: entries
            .first()
            .map_or_else(|| rfc3339(0), |e| e.updated.clone()),
        entries,
    }))
}

/// When the next issue goes out, as a sentence, from the daily schedule's own next-send
/// computation; `None` when the schedule is paused or cannot be read.
pub async fn next_issue_sentence(app: &App) -> Option<String> {
    let daily = runner::daily_schedule(app)
        .await
        .inspect_err(|e| tracing::warn!(error = %e, "cannot read the daily schedule"))
        .ok()?;
    if daily.paused {
        return None;
    }
    let rule = runner::rule_of(&daily).ok()?;
    let (_, at) = *crate::schedule::daily::next_daily_sends(app, &rule, 1)
        .await
        .first()?;
    let local = at.instant().with_timezone(&rule.zone);
    Some(format!(
        "The next issue goes out on {} at {}.",
        local.format("%A %-d %B"),
        local.format("%H:%M %Z")
    ))
}
