//! Pages a subscriber sees: sign-up (full page and embeddable), "check your email",
//! confirmed, expired link, unsubscribe (ask, then done) and preferences.
//!
//! Every form works without JavaScript. Personal pages (reached by a link from an
//! email) are `noindex` and carry their token in the form action, never in a cookie.

use maud::{Markup, PreEscaped, html};

use crate::page::{
    ButtonKind, PageMeta, button, checkbox, embed_page, form_field, link_button, page,
};

/// The sign-up form as it should be shown, including what was typed and what was wrong.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SignupView {
    pub publication: String,
    pub pitch: String,
    /// The pitch as the editors wrote it (Markdown, cleaned by the service); empty:
    /// `pitch` as plain text.
    pub pitch_html: String,
    pub email: String,
    pub name: String,
    pub email_error: Option<String>,
    pub name_error: Option<String>,
    /// Whether the form is shown inside someone else's page.
    pub embed: bool,
    /// "weekly" when the reader chose the weekly round-up; anything else is daily.
    pub frequency: String,
    /// e.g. "Sunday": the weekly edition's day.
    pub weekly_day: String,
}

/// Hidden from people (off-screen, out of the tab order, hidden from screen readers) but
/// present for bots that fill every field.
fn honeypot() -> Markup {
    html! {
        div aria-hidden="true" style="position:absolute;left:-10000px;top:auto;width:1px;height:1px;overflow:hidden" {
            label for="field-website" { "Leave this field empty" }
            input id="field-website" type="text" name="website" value="" tabindex="-1" autocomplete="off";
        }
    }
}

/// The sign-up form's one inline script: it fills in the reader's time zone. A page
/// whose Content-Security-Policy forbids inline script (the archive's issue pages) names
/// this exact text by its hash, so it runs there and nothing else does.
pub const ZONE_SCRIPT: &str = "(function(f){try{f.querySelector('input[name=time_zone]').value=\
Intl.DateTimeFormat().resolvedOptions().timeZone||''}catch(e){}})(document.currentScript.parentNode);";

/// The reader's time zone, read from the browser by the only script on the page: the
/// form works without it (the publication's zone applies). No id, so the form can
/// appear twice on one page.
fn zone_field() -> Markup {
    html! {
        input type="hidden" name="time_zone" value="";
        script { (maud::PreEscaped(ZONE_SCRIPT)) }
    }
}

/// The sign-up form on its own, for the sign-up page and the archive's pages.
pub fn signup_form(v: &SignupView) -> Markup {
    html! {
        form method="post" action="/subscribe" target=[v.embed.then_some("_top")] novalidate style="margin:0" {
            @if v.embed { input type="hidden" name="embed" value="1"; }
            (form_field("Email address", "email", "email", &v.email, true, None, v.email_error.as_deref()))
            (form_field("Your name", "name", "text", &v.name, false, Some("So we can greet you properly."), v.name_error.as_deref()))
            fieldset.field style="border:0;padding:0;margin:0 0 1.25rem;min-width:0" {
                legend.label style="font-weight:600;padding:0;margin:0 0 0.25rem" { "How often" }
                div.checkbox style="margin:0 0 0.5rem" {
                    input id="signup-daily" type="radio" name="frequency" value="daily" checked[v.frequency != "weekly"];
                    label for="signup-daily" { "Every day" }
                }
                div.checkbox style="margin:0" {
                    input id="signup-weekly" type="radio" name="frequency" value="weekly" checked[v.frequency == "weekly"];
                    label for="signup-weekly" { "A weekly round-up, on " (v.weekly_day) }
                }
            }
            (honeypot())
            (zone_field())
            p.muted.consent style="font-size:0.9375rem;margin:0 0 1.25rem" {
                "By subscribing you agree to receive " (v.publication)
                " by email. We will send you a link to confirm first. Every email has a one-click unsubscribe link, and we never share your address."
            }
            div.actions { (button("Subscribe", ButtonKind::Primary)) }
        }
    }
}

/// The editors' pitch (already-cleaned HTML) or the configured one as text.
fn pitch(v: &SignupView, lede: bool) -> Markup {
    let body = if v.pitch_html.trim().is_empty() {
        html! { p { (v.pitch) } }
    } else {
        html! { (PreEscaped(&v.pitch_html)) }
    };
    html! {
        @if lede { div.copy.lede { (body) } } @else { div.copy { (body) } }
    }
}

pub fn signup_page(meta: &PageMeta, v: &SignupView) -> Markup {
    if v.embed {
        return embed_page(
            meta,
            html! {
                h1 { "Subscribe to " (v.publication) }
                (pitch(v, false))
                (signup_form(v))
            },
        );
    }
    page(
        meta,
        html! {
            h1 { "Get " (v.publication) " by email" }
            (pitch(v, true))
            div.card { (signup_form(v)) }
        },
    )
}

/// What the "check your inbox" page repeats back: the address as typed (so a typo can
/// be spotted) and what the resend button posts again.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CheckEmailView {
    /// Empty when the address is not known to the page (a resend from an expired link).
    pub email: String,
    pub name: String,
    pub embed: bool,
    /// How long before another link can be sent, e.g. "10 minutes".
    pub resend_after: String,
}

/// The one answer to every sign-up, whatever the address's state, so the page reveals
/// nothing about who is on the list. It only repeats what the visitor typed.
pub fn check_email_page(meta: &PageMeta, v: &CheckEmailView) -> Markup {
    let body = html! {
        h1 { "Check your inbox" }
        @if v.email.is_empty() {
            p.lede { "If that address can be subscribed, a confirmation link is on its way." }
        } @else {
            p.lede { "If " strong.address { (v.email) } " can be subscribed, a confirmation link is on its way to it." }
        }
        p { "Open the email and follow the link to start receiving the newsletter. If nothing arrives within a few minutes, look in your spam folder." }
        @if !v.email.is_empty() {
            p { "Not your address, or a typo? " a href=(if v.embed { "/embed" } else { "/" }) { "Sign up again with the right one" } "." }
            form method="post" action="/subscribe" target=[v.embed.then_some("_top")] {
                input type="hidden" name="email" value=(v.email);
                @if !v.name.is_empty() { input type="hidden" name="name" value=(v.name); }
                @if v.embed { input type="hidden" name="embed" value="1"; }
                div.actions { (button("Send the link again", ButtonKind::Secondary)) }
                p.hint { "We send at most one link every " (v.resend_after) "." }
            }
        }
        p.muted { "Already subscribed? Then there is nothing more to do: you will not get a second confirmation." }
    };
    if v.embed {
        embed_page(meta, body)
    } else {
        page(meta, body)
    }
}

/// What the confirmed page says about what happens next.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfirmedView {
    pub publication: String,
    /// The editors' words (cleaned HTML); empty: the stock thank-you.
    pub message_html: String,
    /// `None` when an expired link was replayed: the emails carry fresh ones.
    pub preferences_url: Option<String>,
    /// e.g. "The next issue goes out on Tuesday 7 March at 07:00 GMT."; `None` when no
    /// send is scheduled.
    pub next_issue: Option<String>,
    /// The newest issue in the archive, if any has gone out.
    pub latest_issue: Option<(String, String)>,
}

pub fn confirmed_page(meta: &PageMeta, v: &ConfirmedView) -> Markup {
    page(
        meta,
        html! {
            h1 { "You're subscribed" }
            @if v.message_html.trim().is_empty() {
                p.lede { "Thank you for confirming. " (v.publication) " will come to your inbox." }
            } @else { div.lede.copy { (PreEscaped(&v.message_html)) } }
            @if let Some(next) = &v.next_issue {
                p { strong { (next) } " That is when your first issue arrives." }
            }
            @if let Some((subject, href)) = &v.latest_issue {
                p { "Can't wait? Read the latest issue: " a href=(href) { (subject) } "." }
            }
            @if v.preferences_url.is_some() {
                p { "You can change how often you hear from us, or pause for a while, at any time." }
            } @else {
                p { "Every email we send has a link to your preferences." }
            }
            div.actions {
                @if let Some(url) = &v.preferences_url {
                    (link_button("Manage my preferences", url, ButtonKind::Secondary))
                }
                (link_button("Past issues", "/archive", ButtonKind::Secondary))
            }
        },
    )
}

/// What a confirmation link opens: one button, a form posting the token back, so that
/// a mail scanner following the link confirms nothing. Works without script.
pub fn confirm_page(meta: &PageMeta, publication: &str, email: &str, token: &str) -> Markup {
    page(
        meta,
        html! {
            h1 { "Confirm your subscription to " (publication) }
            p.lede { "One click and " strong { (email) } " is on the list." }
            form method="post" action="/confirm" {
                input type="hidden" name="token" value=(token);
                div.actions { (button("Yes, subscribe me", ButtonKind::Primary)) }
            }
            p { "If you did not ask for this, close this page: nothing happens." }
        },
    )
}

/// An expired confirmation link: says so and offers a fresh one in one click.
pub fn link_expired_page(meta: &PageMeta, token: &str) -> Markup {
    page(
        meta,
        html! {
            div.error-page {
                p.status-code { "Error 410" }
                h1 { "This confirmation link has expired" }
                p.lede { "Links in confirmation emails only work for a few days. We can send you a new one." }
                form method="post" action="/confirm/resend" {
                    input type="hidden" name="token" value=(token);
                    div.actions { (button("Send me a new link", ButtonKind::Primary)) }
                }
            }
        },
    )
}

/// What the unsubscribe page offers before the reader leaves.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UnsubscribeView {
    pub publication: String,
    pub email: String,
    pub token: String,
    /// (key, label) of the optional reasons.
    pub reasons: Vec<(String, String)>,
    /// Whether the reader gets every issue now (then "weekly instead" is offered).
    pub daily: bool,
    /// E.g. "Sunday".
    pub weekly_day: String,
    pub pause_days: u32,
}

/// Asks before unsubscribing: link scanners follow every link in an email, so a GET
/// must never change anything. The button posts the RFC 8058 body itself, plus the
/// optional reason. Before that, the two ways to stay.
pub fn unsubscribe_page(meta: &PageMeta, v: &UnsubscribeView) -> Markup {
    let instead = format!("/unsubscribe/instead?token={}", v.token);
    page(
        meta,
        html! {
            h1 { "Unsubscribe from " (v.publication) "?" }
            p.lede { "We will stop sending email to " strong { (v.email) } " straight away." }
            section.card aria-labelledby="stay-heading" {
                h2 #stay-heading style="margin-top:0" { "Or hear from us less" }
                @if v.daily {
                    form method="post" action=(instead) style="margin:0 0 1rem" {
                        input type="hidden" name="choice" value="weekly";
                        p style="margin:0 0 .5rem" { "One email a week, every " (v.weekly_day) ", with the week's best." }
                        (button("Switch to the weekly round-up", ButtonKind::Secondary))
                    }
                }
                form method="post" action=(instead) style="margin:0" {
                    input type="hidden" name="choice" value="pause";
                    p style="margin:0 0 .5rem" { "Nothing for " (v.pause_days) " days, then it starts again by itself." }
                    (button(&format!("Pause for {} days", v.pause_days), ButtonKind::Secondary))
                }
            }
            form method="post" action={ "/unsubscribe?token=" (v.token) } {
                input type="hidden" name="List-Unsubscribe" value="One-Click";
                fieldset.field style="border:0;padding:0;margin:1.5rem 0 1.25rem;min-width:0" {
                    legend.label style="font-weight:600;padding:0;margin:0 0 .25rem" {
                        "Why are you leaving? " span.optional { "(optional)" }
                    }
                    span.hint style="display:block;margin:0 0 .5rem" { "We only count the answers; they are not linked to your address." }
                    @for (key, label) in &v.reasons {
                        div.checkbox style="margin:0 0 .4rem" {
                            input id={ "reason-" (key) } type="radio" name="reason" value=(key);
                            label for={ "reason-" (key) } { (label) }
                        }
                    }
                }
                div.actions { (button("Unsubscribe", ButtonKind::Primary)) }
            }
        },
    )
}

/// After "weekly instead" or "pause instead".
pub fn stayed_page(
    meta: &PageMeta,
    publication: &str,
    what: &str,
    preferences_url: &str,
) -> Markup {
    page(
        meta,
        html! {
            h1 { "Thanks for staying" }
            p.lede { (what) }
            p { "You can change this, or leave, at any time from your preferences page." }
            div.actions {
                (link_button("Preferences", preferences_url, ButtonKind::Secondary))
                (link_button(&format!("Past issues of {publication}"), "/archive", ButtonKind::Secondary))
            }
        },
    )
}

/// The page a change-of-address link opens: one button, since link scanners follow links.
pub fn confirm_address_page(meta: &PageMeta, new_email: &str, token: &str, tag: &str) -> Markup {
    page(
        meta,
        html! {
            h1 { "Use this address?" }
            p.lede { "Your subscription will move to " strong { (new_email) } "." }
            form method="post" action="/preferences/address" {
                input type="hidden" name="token" value=(token);
                input type="hidden" name="tag" value=(tag);
                div.actions { (button("Use this address", ButtonKind::Primary)) }
            }
        },
    )
}

pub fn address_changed_page(meta: &PageMeta, new_email: &str, preferences_url: &str) -> Markup {
    page(
        meta,
        html! {
            h1 { "Your address is changed" }
            p.lede { "From now on we write to " strong { (new_email) } "." }
            div.actions { (link_button("Preferences", preferences_url, ButtonKind::Secondary)) }
        },
    )
}

pub fn unsubscribed_page(
    meta: &PageMeta,
    publication: &str,
    token: &str,
    preferences_url: &str,
) -> Markup {
    page(
        meta,
        html! {
            h1 { "You're unsubscribed" }
            p.lede { "You will not receive " (publication) " any more. Sorry to see you go." }
            p { "Clicked by mistake? Resubscribe with one click: this link came to your inbox, so there is nothing to confirm." }
            form method="post" action="/resubscribe" {
                input type="hidden" name="token" value=(token);
                div.actions {
                    (button("Resubscribe", ButtonKind::Primary))
                    (link_button("Preferences and your data", preferences_url, ButtonKind::Secondary))
                }
            }
        },
    )
}

/// How a resubscribe went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResubscribeOutcome {
    Now,
    Already,
    /// The address reported our mail as spam; we do not mail it again on a click.
    Refused,
}

pub fn resubscribed_page(
    meta: &PageMeta,
    publication: &str,
    outcome: ResubscribeOutcome,
    next_issue: Option<&str>,
    preferences_url: &str,
) -> Markup {
    page(
        meta,
        html! {
            @match outcome {
                ResubscribeOutcome::Now => {
                    h1 { "Welcome back" }
                    p.lede { "You are subscribed to " (publication) " again, starting with the next issue. There is nothing to confirm." }
                    @if let Some(next) = next_issue { p { (next) } }
                }
                ResubscribeOutcome::Already => {
                    h1 { "You're already subscribed" }
                    p.lede { (publication) " is still coming to your inbox. There is nothing more to do." }
                }
                ResubscribeOutcome::Refused => {
                    h1 { "We can't resubscribe this address from here" }
                    p.lede { "Our email to it was reported as unwanted, so we do not send " (publication) " to it any more. If that was a mistake, reply to any issue and tell us." }
                }
            }
            div.actions {
                (link_button("Preferences and your data", preferences_url, ButtonKind::Secondary))
                (link_button("Past issues", "/archive", ButtonKind::Secondary))
            }
        },
    )
}

/// What the preferences page shows and may have to say back.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PreferencesView {
    pub publication: String,
    pub token: String,
    pub email: String,
    pub name: String,
    /// "daily" or "weekly".
    pub frequency: String,
    /// The reader's IANA zone; empty: the publication's.
    pub time_zone: String,
    /// Every IANA zone name, offered as the field's suggestions.
    pub zone_names: Vec<String>,
    /// E.g. "Sunday".
    pub weekly_day: String,
    /// Human-readable end of the current pause, if paused.
    pub paused_until: Option<String>,
    pub status: String,
    pub error: Option<String>,
    /// Everything stored about the subscriber, as (label, value) rows.
    pub stored: Vec<(String, String)>,
    /// The subscriber's history: (when, what).
    pub history: Vec<(String, String)>,
    /// Where to resubscribe when not subscribed (the unsubscribe token), if applicable.
    pub resubscribe_token: Option<String>,
    /// The unsubscribe page's link, while subscribed.
    pub unsubscribe_url: Option<String>,
    /// An address change waiting for its link to be followed.
    pub pending_address: Option<String>,
    /// The new-address field as typed, and what was wrong with it.
    pub new_address: String,
    pub new_address_error: Option<String>,
}

/// The reader's zone: a text field searching every IANA name (a `datalist`, so the
/// browser filters as they type, and no script is needed).
fn zone_input(v: &PreferencesView) -> Markup {
    html! {
        div.field {
            label for="field-time_zone" { "Your time zone " span.optional { "(optional)" } }
            span.hint id="field-time_zone-hint" {
                "The digest reaches you at its send time in this zone. Start typing a city, e.g. Europe/London; leave empty for the publication's zone."
            }
            input id="field-time_zone" name="time_zone" type="text" value=(v.time_zone)
                list="zone-names" autocomplete="off" spellcheck="false" autocapitalize="off"
                aria-describedby="field-time_zone-hint";
            datalist #zone-names { @for z in &v.zone_names { option value=(z) {} } }
        }
    }
}

pub fn preferences_page(meta: &PageMeta, v: &PreferencesView) -> Markup {
    let action = format!("/preferences?token={}", v.token);
    let delete_action = format!("/preferences/delete?token={}", v.token);
    page(
        meta,
        html! {
            h1 { "Your preferences" }
            p.lede { "For " strong { (v.email) } "." }
            @if let Some(t) = &v.resubscribe_token {
                div.card {
                    p { "You are not receiving " (v.publication) " at the moment (" (v.status) ")." }
                    form method="post" action="/resubscribe" style="margin:0" {
                        input type="hidden" name="token" value=(t);
                        div.actions { (button("Subscribe again", ButtonKind::Primary)) }
                    }
                }
            }
            form.card method="post" action=(action) novalidate {
                @if let Some(e) = &v.error {
                    div class="flash flash-error" role="alert" { p { span.visually-hidden { "Error: " } (e) } }
                }
                (form_field("Your name", "name", "text", &v.name, false, Some("Used to greet you; leave empty for none."), None))
                fieldset.field style="border:0;padding:0;margin:0 0 1.25rem;min-width:0" {
                    legend.label style="font-weight:600;padding:0;margin:0 0 0.25rem" { "How often" }
                    div.checkbox style="margin:0 0 0.5rem" {
                        input id="freq-daily" type="radio" name="frequency" value="daily" checked[v.frequency == "daily"];
                        label for="freq-daily" { "Every day" }
                    }
                    div.checkbox style="margin:0" {
                        input id="freq-weekly" type="radio" name="frequency" value="weekly" checked[v.frequency == "weekly"];
                        label for="freq-weekly" { "A weekly round-up, on " (v.weekly_day) }
                    }
                }
                (zone_input(v))
                @if let Some(until) = &v.paused_until {
                    p.hint { "Paused until " (until) ". Enter 0 to resume now." }
                }
                (form_field("Pause for how many days", "pause_days", "number", "", false, Some("Leave empty to keep things as they are; 0 resumes."), None))
                div.actions { (button("Save preferences", ButtonKind::Primary)) }
            }
            h2 #address { "Change your address" }
            @if let Some(p) = &v.pending_address {
                p role="status" { "We sent a link to " strong { (p) } ". Follow it to move your subscription there." }
            }
            form.card method="post" action={ "/preferences/address/change?token=" (v.token) } novalidate {
                (form_field("New email address", "new_email", "email", &v.new_address, true, Some("We send a link to the new address; nothing changes until it is followed."), v.new_address_error.as_deref()))
                div.actions { (button("Send the link", ButtonKind::Secondary)) }
            }
            @if let Some(u) = &v.unsubscribe_url {
                h2 { "Leave" }
                p { "Stop receiving " (v.publication) ". You can come back with one click." }
                div.actions { (link_button("Unsubscribe", u, ButtonKind::Secondary)) }
            }
            h2 { "What we store about you" }
            div.table-scroll {
                table {
                    tbody {
                        @for (label, value) in &v.stored {
                            tr { th scope="row" { (label) } td { (value) } }
                        }
                    }
                }
            }
            @if !v.history.is_empty() {
                h3 { "History" }
                div.table-scroll {
                    table {
                        thead { tr { th scope="col" { "When" } th scope="col" { "What" } } }
                        tbody {
                            @for (when, what) in &v.history {
                                tr { td { (when) } td { (what) } }
                            }
                        }
                    }
                }
            }
            h2 { "Delete everything about me" }
            p { "This removes your address, your name and your history. We keep only a one-way fingerprint of the address, so that it is never mailed again by mistake. It cannot be undone." }
            form method="post" action=(delete_action) {
                (checkbox("Yes, delete everything about me", "confirm", "yes", false, None))
                div.actions { (button("Delete everything", ButtonKind::Danger)) }
            }
        },
    )
}

pub fn erased_page(meta: &PageMeta, publication: &str) -> Markup {
    page(
        meta,
        html! {
            h1 { "Everything about you is deleted" }
            p.lede { "Your address, name and history are gone from " (publication) "." }
            p { "You will not hear from us again. If you ever want the newsletter back, sign up again on the front page." }
            div.actions { (link_button("Go to the front page", "/", ButtonKind::Secondary)) }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> PageMeta {
        PageMeta {
            title: "Subscribe".into(),
            publication: "Breakfast in Red".into(),
            flash: None,
            noindex: false,
            brand: Default::default(),
        }
    }

    #[test]
    fn signup_has_labels_honeypot_and_no_script() {
        let v = SignupView {
            publication: "Breakfast in Red".into(),
            pitch: "News".into(),
            email: "a\"b".into(),
            email_error: Some("bad".into()),
            ..Default::default()
        };
        let html = signup_page(&meta(), &v).into_string();
        assert!(html.contains(r#"name="website""#));
        assert!(html.contains(r#"<label for="field-email">"#));
        assert!(html.contains("a&quot;b"));
        // One script, and only to fill in the zone: the form works without it.
        assert_eq!(html.matches("<script").count(), 1);
        assert!(html.contains(r#"<input type="hidden" name="time_zone" value="">"#));
        assert!(html.contains("resolvedOptions().timeZone"));
        let embed = signup_page(&meta(), &SignupView { embed: true, ..v }).into_string();
        assert!(embed.contains(r#"target="_top""#) && !embed.contains("<header"));
    }

    #[test]
    fn unsubscribe_button_posts_one_click_body() {
        let v = UnsubscribeView {
            publication: "B".into(),
            email: "a@b.org".into(),
            token: "tok".into(),
            reasons: vec![("too-often".into(), "Too many emails".into())],
            daily: true,
            weekly_day: "Sunday".into(),
            pause_days: 30,
        };
        let html = unsubscribe_page(&meta(), &v).into_string();
        assert!(html.contains(r#"action="/unsubscribe?token=tok""#));
        assert!(html.contains(r#"name="List-Unsubscribe" value="One-Click""#));
        assert!(html.contains(r#"action="/unsubscribe/instead?token=tok""#));
        assert!(html.contains(r#"name="reason" value="too-often""#));
    }
}
