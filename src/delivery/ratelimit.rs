//! One messages-per-second budget for the whole process, shared by every batch.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

/// While a server asks us to slow down, an unlimited sender drops to this rate.
const SLOW_UNLIMITED_PER_SECOND: u32 = 20;
/// How long a 421/451 answer keeps us slow.
const SLOW_DOWN_FOR: Duration = Duration::from_secs(30);

/// Spaces messages evenly at the configured rate: each caller reserves the next free
/// slot and sleeps until it. No burst, so the server sees a steady stream.
pub struct RateLimiter {
    per_second: u32,
    state: Mutex<State>,
}

struct State {
    next_slot: Instant,
    slow_until: Option<Instant>,
}

impl RateLimiter {
    /// `per_second` 0 means unlimited (until a server asks us to slow down).
    pub fn new(per_second: u32) -> RateLimiter {
        RateLimiter {
            per_second,
            state: Mutex::new(State {
                next_slot: Instant::now(),
                slow_until: None,
            }),
        }
    }

    /// Waits for this message's turn.
    pub async fn acquire(&self) {
        if let Some(slot) = self.reserve(Instant::now()) {
            tokio::time::sleep_until(slot.into()).await;
        }
    }

    /// Reserves the next slot, or `None` when no limit applies now.
    fn reserve(&self, now: Instant) -> Option<Instant> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let slow = state.slow_until.is_some_and(|until| until > now);
        let rate = match (self.per_second, slow) {
            (0, false) => return None,
            (0, true) => SLOW_UNLIMITED_PER_SECOND,
            (r, false) => r,
            (r, true) => (r / 4).max(1),
        };
        let interval = Duration::from_secs(1) / rate;
        let slot = state.next_slot.max(now);
        state.next_slot = slot + interval;
        Some(slot)
    }

    /// A server answered 421/451: go slower for a while. Only the answer that starts a
    /// slow spell is logged at WARN; the ones during it extend it quietly (the sender's
    /// periodic summary counts them).
    pub fn slow_down(&self) {
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let already = state.slow_until.is_some_and(|until| until > now);
        state.slow_until = Some(now + SLOW_DOWN_FOR);
        drop(state);
        if already {
            tracing::debug!("SMTP server asked us to slow down again");
        } else {
            tracing::warn!(
                seconds = SLOW_DOWN_FOR.as_secs(),
                "SMTP server asked us to slow down"
            );
        }
    }

    pub fn is_slowed(&self) -> bool {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.slow_until.is_some_and(|u| u > Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlimited_never_waits_until_slowed() {
        let limiter = RateLimiter::new(0);
        assert!(limiter.reserve(Instant::now()).is_none());
        limiter.slow_down();
        let now = Instant::now();
        let a = limiter.reserve(now).unwrap();
        let b = limiter.reserve(now).unwrap();
        assert_eq!(b - a, Duration::from_millis(50));
    }

    #[test]
    fn spaces_messages_at_the_rate() {
        let limiter = RateLimiter::new(100);
        let now = Instant::now();
        let slots: Vec<Instant> = (0..5).map(|_| limiter.reserve(now).unwrap()).collect();
        assert_eq!(slots[4] - slots[0], Duration::from_millis(40));
    }
}
