//! The service's notion of "now", which tests can hold still or move.

use std::sync::{
    Arc,
    atomic::{AtomicI64, Ordering},
};

use chrono::{DateTime, TimeZone, Utc};

/// Wall-clock time in production; a hand-driven clock in tests of scheduling and expiry.
#[derive(Clone, Debug, Default)]
pub enum Clock {
    #[default]
    System,
    Manual(Arc<AtomicI64>),
    /// The system's time shifted by this many milliseconds: a test's child process
    /// living on another day (see [`Clock::for_process`]).
    Offset(i64),
}

impl Clock {
    pub fn manual(at: DateTime<Utc>) -> Self {
        Self::Manual(Arc::new(AtomicI64::new(at.timestamp_millis())))
    }

    pub fn now_ms(&self) -> i64 {
        match self {
            Self::System => Utc::now().timestamp_millis(),
            Self::Manual(ms) => ms.load(Ordering::SeqCst),
            Self::Offset(by) => Utc::now().timestamp_millis() + by,
        }
    }

    /// The clock of a `breakfast` process: the system's. Only a debug build (what the
    /// tests run) honours `BREAKFAST_TEST_CLOCK_START` (RFC 3339): the clock then starts
    /// at that instant and runs at real speed, so a test can kill and restart the real
    /// binary on either side of a send time. Release builds ignore the variable, and
    /// nothing on the web or in the configuration can set it.
    pub fn for_process() -> Self {
        #[cfg(debug_assertions)]
        if let Some(start) = std::env::var("BREAKFAST_TEST_CLOCK_START")
            .ok()
            .and_then(|s| s.parse::<DateTime<Utc>>().ok())
        {
            tracing::warn!(start = %start, "test clock: this process runs from the given instant");
            return Self::Offset(start.timestamp_millis() - Utc::now().timestamp_millis());
        }
        Self::System
    }

    pub fn now(&self) -> DateTime<Utc> {
        from_ms(self.now_ms())
    }

    /// Moves a manual clock; a system clock cannot be moved and ignores this.
    pub fn set(&self, at: DateTime<Utc>) {
        if let Self::Manual(ms) = self {
            ms.store(at.timestamp_millis(), Ordering::SeqCst);
        }
    }

    pub fn advance(&self, by: chrono::Duration) {
        if let Self::Manual(ms) = self {
            ms.fetch_add(by.num_milliseconds(), Ordering::SeqCst);
        }
    }
}

/// Epoch milliseconds, as stored in the database, back to a time.
pub fn from_ms(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}
