//! Subscriber lifecycle: the states an address can be in and the moves between them.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SubscriberStatus {
    Pending,
    Confirmed,
    Unsubscribed,
    Bounced,
    Complained,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a subscriber cannot go from {from} to {to}")]
pub struct IllegalTransition {
    pub from: SubscriberStatus,
    pub to: SubscriberStatus,
}

impl SubscriberStatus {
    pub const ALL: [SubscriberStatus; 5] = [
        Self::Pending,
        Self::Confirmed,
        Self::Unsubscribed,
        Self::Bounced,
        Self::Complained,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Confirmed => "confirmed",
            Self::Unsubscribed => "unsubscribed",
            Self::Bounced => "bounced",
            Self::Complained => "complained",
        }
    }

    /// Only a confirmed address has asked for the digest; everything else is off-limits.
    pub fn may_receive_digest(self) -> bool {
        self == Self::Confirmed
    }

    /// The moves a subscriber may make. Re-entering the same state is allowed (idempotent
    /// clicks). Leaving `unsubscribed`, `bounced` or `complained` for `confirmed` directly is
    /// refused: such an address must opt in again through `pending`, so that no mail reaches
    /// someone who said stop without a fresh confirmation.
    pub fn can_become(self, to: SubscriberStatus) -> bool {
        use SubscriberStatus::*;
        if self == to {
            return true;
        }
        match (self, to) {
            (Pending, Confirmed | Unsubscribed | Bounced | Complained) => true,
            (Confirmed, Unsubscribed | Bounced | Complained) => true,
            (Unsubscribed | Bounced, Pending) => true,
            (Bounced, Unsubscribed) => true,
            // A complaint is final short of the operator erasing the record.
            _ => false,
        }
    }

    pub fn transition(self, to: SubscriberStatus) -> Result<SubscriberStatus, IllegalTransition> {
        if self.can_become(to) {
            Ok(to)
        } else {
            Err(IllegalTransition { from: self, to })
        }
    }
}

impl fmt::Display for SubscriberStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown status {0:?}: expected pending, confirmed, unsubscribed, bounced or complained")]
pub struct UnknownStatus(pub String);

impl FromStr for SubscriberStatus {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownStatus(s.to_string()))
    }
}

/// How often a subscriber wants mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Frequency {
    Daily,
    Weekly,
}

impl Frequency {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Daily => "daily",
            Self::Weekly => "weekly",
        }
    }
}

impl FromStr for Frequency {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "daily" => Ok(Self::Daily),
            "weekly" => Ok(Self::Weekly),
            other => Err(format!(
                "unknown frequency {other:?}: expected daily or weekly"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SubscriberStatus::*;
    use super::*;

    #[test]
    fn legal_moves() {
        assert!(Pending.can_become(Confirmed));
        assert!(Confirmed.can_become(Unsubscribed));
        assert!(Unsubscribed.can_become(Pending));
        assert!(Confirmed.can_become(Confirmed));
    }

    #[test]
    fn illegal_moves_are_refused() {
        assert!(Unsubscribed.transition(Confirmed).is_err());
        assert!(Bounced.transition(Confirmed).is_err());
        assert!(Complained.transition(Pending).is_err());
        assert!(Confirmed.transition(Pending).is_err());
        assert!(!Unsubscribed.may_receive_digest());
    }

    #[test]
    fn parses_names() {
        assert_eq!("Confirmed".parse::<SubscriberStatus>().unwrap(), Confirmed);
        assert!("gone".parse::<SubscriberStatus>().is_err());
    }
}
