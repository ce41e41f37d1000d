//! The periodic loops that run beside the queue workers, by process role. Each loop is a
//! small function in its own room that does one round of work and returns;
//! [`crate::shutdown::every`] calls it on its interval until shutdown.

use crate::{app::App, shutdown::Shutdown};

/// Which process is running: `serve` does everything; `worker` leaves feed polling to
/// the web process (one poller is enough) but helps with scheduling and sweeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Serve,
    Worker,
}

/// Starts the periodic loops for `role`; they stop when `shutdown` fires.
pub fn spawn_all(app: &App, role: Role, shutdown: &Shutdown) -> Vec<tokio::task::JoinHandle<()>> {
    let mut handles = Vec::new();
    let _ = role;
    if role == Role::Serve {
        handles.extend(crate::feeds::ingest::spawn_polling(app, shutdown));
    }
    handles.push(crate::delivery::sweeper::spawn(app, shutdown));
    handles.push(crate::schedule::runner::spawn(app, shutdown));
    handles.push(crate::ops::retention::spawn(app, shutdown));
    handles.extend(crate::bounces::mailbox::spawn(app, shutdown));
    handles
}
