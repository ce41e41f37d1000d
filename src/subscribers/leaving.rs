//! Leaving, and the ways to stay that the unsubscribe page offers first: the weekly
//! round-up instead of every day, or a pause. A reason for leaving is optional and kept
//! only as a count.

use chrono::Duration;

use super::{ServiceError, ServiceResult, holder, unsubscribe};
use crate::{
    app::App,
    domain::{Frequency, Purpose, SubscriberStatus},
    store::subscribers::{PreferencesUpdate, Subscriber},
};

/// The reasons the unsubscribe page offers: (stored key, what the reader sees).
pub const REASONS: [(&str, &str); 5] = [
    ("too-often", "Too many emails"),
    ("not-relevant", "Not what I expected"),
    ("elsewhere", "I read the paper elsewhere"),
    ("never-signed-up", "I never signed up"),
    ("other", "Another reason"),
];

/// How long "pause instead" pauses for.
pub const PAUSE_INSTEAD_DAYS: u32 = 30;

/// What the label of a stored reason key is (for the editors' counts).
pub fn reason_label(key: &str) -> &str {
    REASONS
        .iter()
        .find(|(k, _)| *k == key)
        .map_or(key, |(_, label)| label)
}

/// Unsubscribes (as [`unsubscribe`]) and counts the reason, if one of ours was given and
/// this click is the one that unsubscribed: a second click does not count twice.
pub async fn unsubscribe_because(
    app: &App,
    token: &str,
    reason: Option<&str>,
) -> ServiceResult<Subscriber> {
    let before = holder(app, token, Purpose::Unsubscribe).await?;
    let after = unsubscribe(app, token).await?;
    let left_now = before.status != after.status && after.status == SubscriberStatus::Unsubscribed;
    if let Some(key) = reason.map(str::trim).filter(|r| !r.is_empty())
        && left_now
    {
        if REASONS.iter().any(|(k, _)| *k == key) {
            app.store
                .record_unsubscribe_reason(key, app.now_ms())
                .await?;
        } else {
            tracing::info!("unknown unsubscribe reason ignored");
        }
    }
    Ok(after)
}

/// What the reader chose instead of leaving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instead {
    Weekly,
    Pause,
}

impl std::str::FromStr for Instead {
    type Err = ServiceError;
    fn from_str(s: &str) -> Result<Self, ServiceError> {
        match s.trim() {
            "weekly" => Ok(Instead::Weekly),
            "pause" => Ok(Instead::Pause),
            _ => Err(ServiceError::Invalid(
                "choose the weekly round-up or a pause".into(),
            )),
        }
    }
}

/// Switches to the weekly round-up, or pauses for [`PAUSE_INSTEAD_DAYS`], with the
/// unsubscribe link's authority (it names the reader as surely as the preferences link).
pub async fn stay_instead(app: &App, token: &str, choice: Instead) -> ServiceResult<Subscriber> {
    let s = holder(app, token, Purpose::Unsubscribe).await?;
    let now = app.now_ms();
    let current_pause = s.paused_until.filter(|&t| t > now);
    let (frequency, paused_until) = match choice {
        Instead::Weekly => (Frequency::Weekly, current_pause),
        Instead::Pause => (
            s.frequency,
            Some(now + Duration::days(i64::from(PAUSE_INSTEAD_DAYS)).num_milliseconds()),
        ),
    };
    let update = PreferencesUpdate {
        name: s.name.as_deref(),
        frequency,
        paused_until,
    };
    let s = app.store.update_preferences(s.id, &update, now).await?;
    tracing::info!(subscriber = s.id, ?choice, "stayed instead of leaving");
    Ok(s)
}
