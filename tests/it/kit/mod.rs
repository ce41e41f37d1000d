//! The test kit: helpers every integration test may use, in one place. `helpers` starts
//! the service and the servers around it; the kit adds what tests do inside it.

pub mod browser;
pub mod content;

pub use browser::{Browser, PASSWORD, Page, add_user};
pub use content::{digest, seed_content, subscriber, wait_until_sent};
