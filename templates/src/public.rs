//! Pages a subscriber sees: sign-up (full page and embeddable), "check your email",
//! confirmed, expired link, unsubscribe (ask, then done) and preferences.
//!
//! Every form works without JavaScript. Personal pages (reached by a link from an
//! email) are `noindex` and carry their token in the form action, never in a cookie.

use maud::{Markup, html};

use crate::page::{
    ButtonKind, PageMeta, button, checkbox, embed_page, form_field, link_button, page,
};

/// The sign-up form as it should be shown, including what was typed and what was wrong.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SignupView {
    pub publication: String,
    pub pitch: String,
    pub email: String,
    pub name: String,
    pub email_error: Option<String>,
    pub name_error: Option<String>,
    /// Whether the form is shown inside someone else's page.
    pub embed: bool,
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

fn signup_form(v: &SignupView) -> Markup {
    html! {
        form method="post" action="/subscribe" target=[v.embed.then_some("_top")] novalidate style="margin:0" {
            @if v.embed { input type="hidden" name="embed" value="1"; }
            (form_field("Email address", "email", "email", &v.email, true, None, v.email_error.as_deref()))
            (form_field("Your name", "name", "text", &v.name, false, Some("So we can greet you properly."), v.name_error.as_deref()))
            (honeypot())
            p.muted.consent style="font-size:0.9375rem;margin:0 0 1.25rem" {
                "By subscribing you agree to receive " (v.publication)
                " by email. We will send you a link to confirm first. Every email has a one-click unsubscribe link, and we never share your address."
            }
            div.actions { (button("Subscribe", ButtonKind::Primary)) }
        }
    }
}

pub fn signup_page(meta: &PageMeta, v: &SignupView) -> Markup {
    if v.embed {
        return embed_page(
            meta,
            html! {
                h1 { "Subscribe to " (v.publication) }
                p { (v.pitch) }
                (signup_form(v))
            },
        );
    }
    page(
        meta,
        html! {
            h1 { "Get " (v.publication) " by email" }
            p.lede { (v.pitch) }
            div.card { (signup_form(v)) }
        },
    )
}

/// The one answer to every sign-up, whatever the address's state, so the page reveals
/// nothing about who is on the list.
pub fn check_email_page(meta: &PageMeta, embed: bool) -> Markup {
    let body = html! {
        h1 { "Check your inbox" }
        p.lede { "If that address can be subscribed, a confirmation link is on its way." }
        p { "Open the email and follow the link to start receiving the newsletter. If nothing arrives within a few minutes, look in your spam folder." }
        p.muted { "Already subscribed? Then there is nothing more to do: you will not get a second confirmation." }
    };
    if embed {
        embed_page(meta, body)
    } else {
        page(meta, body)
    }
}

/// Without `preferences_url` (an expired link was replayed) the page points to the emails,
/// each of which carries a fresh preferences link.
pub fn confirmed_page(meta: &PageMeta, publication: &str, preferences_url: Option<&str>) -> Markup {
    page(
        meta,
        html! {
            h1 { "You're subscribed" }
            p.lede { "Thank you for confirming. The next " (publication) " will be in your inbox." }
            @if let Some(url) = preferences_url {
                p { "You can change how often you hear from us, or pause for a while, at any time." }
                div.actions {
                    (link_button("Manage my preferences", url, ButtonKind::Secondary))
                }
            } @else {
                p { "Every email we send has a link to your preferences." }
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

/// Asks before unsubscribing: link scanners follow every link in an email, so a GET
/// must never change anything. The button posts the RFC 8058 body itself.
pub fn unsubscribe_page(meta: &PageMeta, publication: &str, email: &str, token: &str) -> Markup {
    page(
        meta,
        html! {
            h1 { "Unsubscribe from " (publication) "?" }
            p.lede { "We will stop sending email to " strong { (email) } " straight away." }
            form method="post" action={ "/unsubscribe?token=" (token) } {
                input type="hidden" name="List-Unsubscribe" value="One-Click";
                div.actions { (button("Unsubscribe", ButtonKind::Primary)) }
            }
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
            p { "Clicked by mistake? You can come back at any time; we will ask you to confirm by email first." }
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

/// What the preferences page shows and may have to say back.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PreferencesView {
    pub publication: String,
    pub token: String,
    pub email: String,
    pub name: String,
    /// "daily" or "weekly".
    pub frequency: String,
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
                @if let Some(until) = &v.paused_until {
                    p.hint { "Paused until " (until) ". Enter 0 to resume now." }
                }
                (form_field("Pause for how many days", "pause_days", "number", "", false, Some("Leave empty to keep things as they are; 0 resumes."), None))
                div.actions { (button("Save preferences", ButtonKind::Primary)) }
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
        assert!(!html.contains("<script"));
        let embed = signup_page(&meta(), &SignupView { embed: true, ..v }).into_string();
        assert!(embed.contains(r#"target="_top""#) && !embed.contains("<header"));
    }

    #[test]
    fn unsubscribe_button_posts_one_click_body() {
        let html = unsubscribe_page(&meta(), "B", "a@b.org", "tok").into_string();
        assert!(html.contains(r#"action="/unsubscribe?token=tok""#));
        assert!(html.contains(r#"name="List-Unsubscribe" value="One-Click""#));
    }
}
