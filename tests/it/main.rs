//! Integration tests over real parts: HTTP on loopback, SQLite files, the machine's
//! PostgreSQL, and a real SMTP server (aiosmtpd). One test crate, so it links once.

mod helpers;

mod admin;
mod audience;
mod delivery;
mod digest;
mod foundation;
mod ops;
mod schedule;
mod subscribers;
