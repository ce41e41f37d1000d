//! The operator's queue dashboard: pictures first (a stacked bar per job kind, a
//! progress bar per digest, a chart of messages per minute), tables below, and the
//! repair buttons beside the failures they repair. Refreshes itself every ten seconds
//! with a meta refresh, so it needs no JavaScript.

use maud::{Markup, html};

use crate::{
    admin::{AdminNav, admin_page},
    bounces::{IssueRates, Limits, limits_note, rates_table},
    page::{ButtonKind, PageMeta, button},
};

/// Seconds between automatic reloads.
pub const REFRESH_SECS: u32 = 10;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueView {
    pub kinds: Vec<KindRow>,
    pub digests: Vec<DigestRow>,
    /// Messages sent in each of the last minutes, oldest first.
    pub sent_per_minute: Vec<i64>,
    pub failures: Vec<FailureRow>,
    /// The most recent issues' bounce and complaint numbers, and the limits beside them.
    pub issues: Vec<IssueRates>,
    pub limits: Limits,
    /// This session's CSRF token, echoed by every form.
    pub csrf: String,
    /// Where the forms post: `/admin/queue`.
    pub base_path: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KindRow {
    pub kind: String,
    pub waiting: i64,
    pub running: i64,
    pub done: i64,
    pub retrying: i64,
    pub dead: i64,
    /// Already worded, e.g. "3 min".
    pub oldest_waiting: Option<String>,
    pub done_last_minute: i64,
    pub done_last_hour: i64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct DigestRow {
    pub id: i64,
    pub issue_date: String,
    pub status: String,
    pub total: i64,
    pub sent: i64,
    pub failed: i64,
    pub pending: i64,
    pub rate_per_minute: f64,
    /// Already worded, e.g. "12 min".
    pub eta: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FailureRow {
    pub id: String,
    pub kind: String,
    /// "retrying" or "dead".
    pub state: String,
    pub attempts: i64,
    pub max_attempts: i64,
    pub error: String,
    pub when: String,
}

/// The five states, their labels and the CSS class that colours them.
const STATES: [(&str, &str); 5] = [
    ("Waiting", "q-waiting"),
    ("Running", "q-running"),
    ("Done", "q-done"),
    ("Retrying", "q-retrying"),
    ("Dead", "q-dead"),
];

const STYLE: &str = "
.q-wide { max-width: 64rem; }
.q-bar { display: block; width: 100%; height: 1.25rem; border-radius: var(--radius); background: var(--rule); }
.q-waiting { fill: var(--info); background: var(--info); }
.q-running { fill: #b86e00; background: #b86e00; }
.q-done { fill: var(--success); background: var(--success); }
.q-retrying { fill: #d08a00; background: #d08a00; }
.q-dead { fill: var(--error); background: var(--error); }
.q-pending { fill: var(--control); }
.q-legend { display: flex; flex-wrap: wrap; gap: 0.25rem 1rem; margin: 0.25rem 0 1rem; padding: 0; list-style: none; font-size: 0.9rem; }
.q-swatch { display: inline-block; width: 0.8rem; height: 0.8rem; margin-right: 0.3rem; border-radius: 2px; vertical-align: -0.05rem; }
.q-chart { display: block; width: 100%; height: auto; }
.q-chart .q-axis { stroke: var(--rule); }
.q-chart text { fill: var(--muted); font: 12px var(--sans); }
.q-chart rect { fill: var(--success); }
.q-kind h3, .q-digest h3 { margin: 1rem 0 0.25rem; font-size: 1rem; }
.q-num { text-align: right; font-variant-numeric: tabular-nums; }
.q-error { font-family: ui-monospace, monospace; font-size: 0.85rem; overflow-wrap: anywhere; }
.q-inline { display: inline; margin: 0; }
";

/// The whole page, inside the admin's shell and navigation.
pub fn queue_page(meta: &PageMeta, nav: &AdminNav, view: &QueueView) -> Markup {
    let body = html! {
        // Inside the body, browsers still honour it; the shared page shell has no slot
        // for extra head elements. Reloads land on the page itself (never on a POST).
        meta http-equiv="refresh" content=(format!("{REFRESH_SECS}; url={}", view.base_path));
        style { (STYLE) }
        div.q-wide {
            h1 { "Queue" }
            p.muted { "Refreshes every " (REFRESH_SECS) " seconds." }
            (kind_bars(&view.kinds))
            (digest_bars(&view.digests))
            (bounce_rates(view))
            section {
                h2 { "Messages sent per minute, last hour" }
                (sent_chart(&view.sent_per_minute))
            }
            (kinds_table(view))
            (failures_table(view))
        }
    };
    admin_page(meta, nav, body)
}

fn kind_counts(k: &KindRow) -> [i64; 5] {
    [k.waiting, k.running, k.done, k.retrying, k.dead]
}

/// Widths (out of 1000) of stacked segments. A state with any job gets at least a sliver,
/// so a single dead job stays visible beside a million done ones; the numbers beside the
/// bar are exact.
pub fn segment_widths(counts: &[i64]) -> Vec<f64> {
    const FULL: f64 = 1000.0;
    const SLIVER: f64 = 12.0;
    let total: i64 = counts.iter().map(|c| (*c).max(0)).sum();
    if total == 0 {
        return vec![0.0; counts.len()];
    }
    let nonzero = counts.iter().filter(|c| **c > 0).count() as f64;
    let room = FULL - SLIVER * nonzero;
    counts
        .iter()
        .map(|c| {
            if *c > 0 {
                SLIVER + room * (*c as f64) / total as f64
            } else {
                0.0
            }
        })
        .collect()
}

fn stacked_bar(label: &str, counts: &[i64], classes: &[&str]) -> Markup {
    let mut x = 0.0;
    let segments: Vec<(f64, f64, &str)> = segment_widths(counts)
        .into_iter()
        .zip(classes)
        .map(|(w, class)| {
            let at = x;
            x += w;
            (at, w, *class)
        })
        .filter(|(_, w, _)| *w > 0.0)
        .collect();
    html! {
        svg.q-bar viewBox="0 0 1000 20" preserveAspectRatio="none" role="img" aria-label=(label) {
            title { (label) }
            @for (at, w, class) in segments {
                rect class=(class) x=(format!("{at:.1}")) y="0" width=(format!("{w:.1}")) height="20" {}
            }
        }
    }
}

fn legend(items: &[(String, &str)]) -> Markup {
    html! {
        ul.q-legend {
            @for (text, class) in items {
                li { span class=(format!("q-swatch {class}")) {} (text) }
            }
        }
    }
}

fn kind_bars(kinds: &[KindRow]) -> Markup {
    html! {
        section {
            h2 { "Jobs by kind" }
            @if kinds.is_empty() { p.muted { "No jobs yet." } }
            @for k in kinds {
                div.q-kind {
                    h3 { (k.kind) }
                    @let counts = kind_counts(k);
                    @let words: Vec<String> = STATES.iter().zip(counts).map(|((name, _), n)| format!("{name} {n}")).collect();
                    (stacked_bar(&format!("{}: {}", k.kind, words.join(", ")), &counts, &STATES.map(|s| s.1)))
                    (legend(&words.iter().cloned().zip(STATES.map(|s| s.1)).collect::<Vec<_>>()))
                }
            }
        }
    }
}

fn digest_bars(digests: &[DigestRow]) -> Markup {
    html! {
        section {
            h2 { "Digest sends" }
            @if digests.is_empty() { p.muted { "No digest is being sent." } }
            @for d in digests {
                div.q-digest {
                    h3 { "Digest " (d.issue_date) " · " (d.status) }
                    @let rest = (d.total - d.sent - d.failed).max(0);
                    @let label = format!("{} of {} sent, {} failed, {} to go", d.sent, d.total, d.failed, rest);
                    (stacked_bar(&label, &[d.sent, d.failed, rest], &["q-done", "q-dead", "q-pending"]))
                    p {
                        strong { (d.sent) " / " (d.total) " sent" }
                        " · " (d.failed) " failed"
                        " · " (per_minute(d.rate_per_minute)) " per minute"
                        @if let Some(eta) = &d.eta { " · about " (eta) " to go" }
                    }
                }
            }
        }
    }
}

/// A send rate for people: whole messages from ten a minute up, one decimal below, so a
/// slow relay's trickle (one message every five minutes) reads "0.2", not "0".
fn per_minute(rate: f64) -> String {
    if rate >= 10.0 || rate == 0.0 {
        format!("{rate:.0}")
    } else if rate < 0.1 {
        "under 0.1".to_owned()
    } else {
        format!("{rate:.1}")
    }
}

/// Bounces and complaints arrive for days after a send, so the recent issues are listed
/// whether or not they are still on the progress bars above.
fn bounce_rates(view: &QueueView) -> Markup {
    html! {
        section {
            h2 { "Bounces and complaints by issue" }
            (limits_note(&view.limits))
            @if view.issues.is_empty() {
                p.muted { "No digest has been sent yet." }
            } @else {
                (rates_table(&view.issues))
                p { a href="/admin/bounces" { "All bounces, complaints and unmatched reports" } }
            }
        }
    }
}

/// A bar per minute, scaled to the busiest minute; empty minutes leave a gap.
pub fn sent_chart(series: &[i64]) -> Markup {
    const W: f64 = 600.0;
    const H: f64 = 120.0;
    const LEFT: f64 = 40.0;
    const BOTTOM: f64 = 18.0;
    let max = series.iter().copied().max().unwrap_or(0).max(1);
    let slot = (W - LEFT) / series.len().max(1) as f64;
    let total: i64 = series.iter().sum();
    let label = format!(
        "{total} messages in the last {} minutes, at most {max} in one minute",
        series.len()
    );
    html! {
        svg.q-chart viewBox=(format!("0 0 {W} {H}")) role="img" aria-label=(label) {
            title { (label) }
            line.q-axis x1=(LEFT) y1=(H - BOTTOM) x2=(W) y2=(H - BOTTOM) {}
            text x="0" y="12" { (max) }
            text x="0" y=(H - BOTTOM) { "0" }
            text x=(LEFT) y=(H - 3.0) { (series.len()) " min ago" }
            text x=(W - 24.0) y=(H - 3.0) { "now" }
            @for (i, n) in series.iter().enumerate() {
                @if *n > 0 {
                    @let h = (H - BOTTOM - 4.0) * (*n as f64) / max as f64;
                    rect x=(format!("{:.1}", LEFT + i as f64 * slot + 1.0)) y=(format!("{:.1}", H - BOTTOM - h))
                        width=(format!("{:.1}", (slot - 2.0).max(1.0))) height=(format!("{h:.1}")) {
                        title { (n) " sent" }
                    }
                }
            }
        }
    }
}

fn kinds_table(view: &QueueView) -> Markup {
    let any_failed = view.kinds.iter().any(|k| k.retrying + k.dead > 0);
    html! {
        section {
            h2 { "Numbers" }
            div.table-scroll {
                table {
                    thead { tr {
                        th scope="col" { "Kind" }
                        @for (name, _) in STATES { th.q-num scope="col" { (name) } }
                        th.q-num scope="col" { "Oldest waiting" }
                        th.q-num scope="col" { "Done last min" }
                        th.q-num scope="col" { "Done last hour" }
                    } }
                    tbody {
                        @for k in &view.kinds {
                            tr {
                                th scope="row" { (k.kind) }
                                @for n in kind_counts(k) { td.q-num { (n) } }
                                td.q-num { (k.oldest_waiting.as_deref().unwrap_or("–")) }
                                td.q-num { (k.done_last_minute) }
                                td.q-num { (k.done_last_hour) }
                            }
                        }
                    }
                }
            }
            @if any_failed {
                form method="post" action=(format!("{}/retry-all", view.base_path)) {
                    input type="hidden" name="csrf" value=(view.csrf);
                    (button("Retry all failed jobs", ButtonKind::Primary))
                }
            }
        }
    }
}

fn failures_table(view: &QueueView) -> Markup {
    html! {
        section {
            h2 { "Latest failures" }
            @if view.failures.is_empty() {
                p.muted { "No failed jobs." }
            } @else {
                div.table-scroll {
                    table {
                        thead { tr {
                            th scope="col" { "When" }
                            th scope="col" { "Kind" }
                            th scope="col" { "State" }
                            th.q-num scope="col" { "Attempts" }
                            th scope="col" { "Error" }
                            th scope="col" { span.visually-hidden { "Actions" } }
                        } }
                        tbody {
                            @for f in &view.failures {
                                tr {
                                    td { (f.when) }
                                    td { (f.kind) }
                                    td { (f.state) }
                                    td.q-num { (f.attempts) "/" (f.max_attempts) }
                                    td.q-error { (f.error) }
                                    td { (job_actions(view, f)) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn job_actions(view: &QueueView, f: &FailureRow) -> Markup {
    let path = format!("{}/jobs/{}", view.base_path, f.id);
    html! {
        form.q-inline method="post" action=(format!("{path}/retry")) {
            input type="hidden" name="csrf" value=(view.csrf);
            (button("Retry", ButtonKind::Secondary))
        }
        @if f.state == "retrying" {
            " "
            form.q-inline method="post" action=(format!("{path}/discard")) {
                input type="hidden" name="csrf" value=(view.csrf);
                (button("Discard", ButtonKind::Danger))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slow_send_rate_is_not_shown_as_zero() {
        assert_eq!(per_minute(0.0), "0");
        assert_eq!(per_minute(0.05), "under 0.1");
        assert_eq!(per_minute(0.2), "0.2");
        assert_eq!(per_minute(2.46), "2.5");
        assert_eq!(per_minute(12.4), "12");
        assert_eq!(per_minute(950.0), "950");
    }

    #[test]
    fn tiny_counts_stay_visible() {
        let w = segment_widths(&[0, 0, 1_000_000, 0, 1]);
        assert!(w[4] >= 12.0, "{w:?}");
        assert!((w.iter().sum::<f64>() - 1000.0).abs() < 0.01);
        assert_eq!(segment_widths(&[0, 0]), vec![0.0, 0.0]);
    }

    #[test]
    fn chart_labels_its_numbers() {
        let mut series = vec![0; 60];
        series[59] = 42;
        let svg = sent_chart(&series).into_string();
        assert!(svg.contains("42 messages in the last 60 minutes"), "{svg}");
        assert_eq!(svg.matches("<rect").count(), 1);
    }

    #[test]
    fn forms_carry_the_csrf_token() {
        let view = QueueView {
            kinds: vec![KindRow {
                kind: "transactional-email".into(),
                dead: 1,
                ..KindRow::default()
            }],
            failures: vec![FailureRow {
                id: "01J".into(),
                state: "retrying".into(),
                error: "<b>451</b>".into(),
                ..FailureRow::default()
            }],
            csrf: "tok".into(),
            base_path: "/admin/queue".into(),
            ..QueueView::default()
        };
        let html = queue_page(&PageMeta::default(), &AdminNav::default(), &view).into_string();
        // Retry all, retry one, discard one (the nav's sign-out form has its own token).
        assert_eq!(html.matches(r#"name="csrf" value="tok""#).count(), 3);
        assert!(html.contains("/admin/queue/jobs/01J/discard"));
        assert!(html.contains("&lt;b&gt;451"), "errors are escaped");
        assert!(html.contains(r#"http-equiv="refresh""#));
    }

    #[test]
    fn issues_show_their_rates_beside_the_limits() {
        let view = QueueView {
            issues: vec![IssueRates {
                digest_id: 7,
                date: "2026-11-30".into(),
                sent: 1000,
                complaints: 4,
                complaint_rate: 0.004,
                complaint_warning: Some("past the pause limit".into()),
                ..IssueRates::default()
            }],
            limits: Limits {
                pause_complaint_rate: 0.003,
                pause_hard_bounce_rate: 0.0,
                pause_min_sent: 100,
            },
            base_path: "/admin/queue".into(),
            ..QueueView::default()
        };
        let html = queue_page(&PageMeta::default(), &AdminNav::default(), &view).into_string();
        assert!(html.contains(r#"href="/admin/bounces?digest=7""#), "{html}");
        assert!(html.contains("4 (0.40 %)"), "{html}");
        assert!(html.contains("past the pause limit"), "{html}");
        assert!(html.contains("under 0.1 %, and never 0.3 %"), "{html}");
        assert!(html.contains("a complaint rate over 0.30 % once an issue has sent 100"));
        assert!(!html.contains("hard-bounce rate over"), "that check is off");
    }
}
