//! Types that make bad states unrepresentable; the rest of the service speaks in them.

pub mod clock;
pub mod email;
pub mod net;
pub mod spreadsheet;
pub mod subscriber;
pub mod token;

pub use clock::Clock;
pub use email::{EmailAddress, EmailError};
pub use subscriber::{Frequency, IllegalTransition, SubscriberStatus};
pub use token::{Purpose, TokenError, TokenSigner};
