//! The schedule page: the daily rule, pause/resume, one-off sends, what comes next.

use maud::{Markup, html};

use super::{AdminNav, admin_page, csrf_field};
use crate::page::{ButtonKind, PageMeta, button, checkbox, form_field, radio};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScheduleView {
    pub send_time: String,
    pub time_zone: String,
    /// (key, label, checked) for each weekday.
    pub days: Vec<(String, String, bool)>,
    pub skip_when_empty: bool,
    pub paused: bool,
    /// Worded, e.g. "Monday 30 November 2026, 07:00 GMT".
    pub next_sends: Vec<String>,
    pub one_offs: Vec<(i64, String)>,
    /// (local date, outcome, when it fired).
    pub runs: Vec<(String, String, String)>,
    pub daily_error: Option<String>,
    pub one_off_date: String,
    pub one_off_time: String,
    pub one_off_zone: String,
    pub one_off_error: Option<String>,
    pub grace_minutes: u32,
    /// Hold each issue for an editor's approval (else it goes out by itself).
    pub approval: bool,
    /// Each reader at the send time in their own zone (else all at once).
    pub local_delivery: bool,
    pub approval_lead_minutes: u32,
    /// Issues held or waiting for approval: (link, label).
    pub awaiting: Vec<(String, String)>,
    /// The greeting pattern (with `{first_name}`) and the one for readers without a name.
    pub greeting: String,
    pub greeting_without_name: String,
    pub csrf: String,
}

/// The issues held for an editor's approval, (href, label) each; nothing when none is.
/// On the schedule page and on every digest's page.
pub(crate) fn awaiting_card(awaiting: &[(String, String)]) -> Markup {
    html! {
        @if !awaiting.is_empty() {
            div.card {
                h2 { "Waiting for approval" }
                ul { @for (href, label) in awaiting { li { a href=(href) { (label) } } } }
            }
        }
    }
}

pub fn schedule_page(meta: &PageMeta, n: &AdminNav, v: &ScheduleView) -> Markup {
    admin_page(
        meta,
        n,
        html! {
            h1 { "Schedule" }
            @if v.paused {
                div.flash.flash-info role="status" { p { "The daily digest is paused: nothing goes out until you resume it." } }
            }
            @if v.approval {
                div.flash.flash-info role="status" { p {
                    "Hold for approval: each issue is composed " (v.approval_lead_minutes)
                    " minutes before its send time, every editor gets a review email, and it goes out only once one of you approves it. An issue not approved in time is held, and can be sent late from its page."
                } }
            }
            (awaiting_card(&v.awaiting))
            div.grid-2 {
                section {
                    h2 { "Daily digest" }
                    form method="post" action="/admin/schedule" {
                        (csrf_field(&v.csrf))
                        @if let Some(e) = &v.daily_error {
                            div.flash.flash-error role="alert" { p { (e) } }
                        }
                        (form_field("Send time", "send_time", "time", &v.send_time, true, Some("24-hour local time in the zone below."), None))
                        (form_field("Time zone", "time_zone", "text", &v.time_zone, true, Some("An IANA name, e.g. Europe/London, America/New_York."), None))
                        fieldset.days {
                            legend { "Days it goes out" }
                            @for (key, label, checked) in &v.days {
                                (checkbox(label, "days", key, *checked, None))
                            }
                        }
                        (checkbox("Skip days with nothing new", "skip_when_empty", "1", v.skip_when_empty, Some("No email on days with no articles and no editor's note.")))
                        fieldset.field {
                            legend { "When the send time comes" }
                            (radio("mode-approval", "mode", "approval", v.approval, "Hold for approval: an editor approves each issue first"))
                            (radio("mode-automatic", "mode", "automatic", !v.approval, "Send automatically"))
                        }
                        fieldset.field {
                            legend { "Who gets it when" }
                            (radio("delivery-moment", "delivery", "moment", !v.local_delivery, "Everyone at once, at the send time in the zone above"))
                            (radio("delivery-local", "delivery", "local", v.local_delivery, "Each reader at the send time in their own zone"))
                            p.hint { "Readers without a zone get it at the send time in the zone above. Each issue is composed once (and approved once), at the send time in UTC+14, where each day begins first; a reader whose send time has already passed gets it at once." }
                        }
                        div.actions { (button("Save schedule", ButtonKind::Primary)) }
                    }
                    h2 { "Greeting" }
                    form method="post" action="/admin/schedule/greeting" {
                        (csrf_field(&v.csrf))
                        (form_field("Greeting", "greeting", "text", &v.greeting, false, Some("Above the editor's note. {first_name} is the reader's first name. Empty: no greeting."), None))
                        (form_field("Greeting without a name", "greeting_without_name", "text", &v.greeting_without_name, false, Some("For readers who gave no name, and the archive."), None))
                        div.actions { (button("Save greeting", ButtonKind::Secondary)) }
                    }
                    form method="post" action="/admin/schedule/pause" {
                        (csrf_field(&v.csrf))
                        input type="hidden" name="paused" value=(if v.paused { "0" } else { "1" });
                        div.actions {
                            @if v.paused { (button("Resume the daily digest", ButtonKind::Primary)) }
                            @else { (button("Pause the daily digest", ButtonKind::Secondary)) }
                        }
                    }
                    h2 { "Next five sends" }
                    @if v.paused { p.muted { "None while paused." } }
                    @else {
                        ol { @for s in &v.next_sends { li { (s) } } }
                    }
                    p.muted { "A send missed while the service was down still goes out when it comes back, if at most "
                        (v.grace_minutes) " minutes late." }
                }
                section {
                    h2 { "One-off send" }
                    p { "Sends the digest for that day at a particular time, in addition to the daily schedule." }
                    form method="post" action="/admin/schedule/oneoff" {
                        (csrf_field(&v.csrf))
                        @if let Some(e) = &v.one_off_error {
                            div.flash.flash-error role="alert" { p { (e) } }
                        }
                        (form_field("Date", "date", "date", &v.one_off_date, true, None, None))
                        (form_field("Time", "time", "time", &v.one_off_time, true, None, None))
                        (form_field("Time zone", "time_zone", "text", &v.one_off_zone, true, None, None))
                        div.actions { (button("Schedule one-off send", ButtonKind::Primary)) }
                    }
                    @if !v.one_offs.is_empty() {
                        h3 { "Planned one-offs" }
                        ul {
                            @for (id, when) in &v.one_offs {
                                li {
                                    (when) " "
                                    form style="display:inline" method="post" action=(format!("/admin/schedule/oneoff/{id}/cancel")) {
                                        (csrf_field(&v.csrf))
                                        button.linkish type="submit" { "Cancel" }
                                    }
                                }
                            }
                        }
                    }
                    h2 { "Recent runs" }
                    @if v.runs.is_empty() { p.muted { "Nothing has fired yet." } }
                    @else {
                        div.table-scroll { table {
                            thead { tr { th { "Issue" } th { "Outcome" } th { "At" } } }
                            tbody { @for (d, o, at) in &v.runs { tr { td { (d) } td { (o) } td { (at) } } } }
                        } }
                    }
                }
            }
        },
    )
}
