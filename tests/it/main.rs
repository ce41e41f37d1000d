//! Integration tests over real parts: HTTP on loopback, SQLite files, the machine's
//! PostgreSQL, and a real SMTP server (aiosmtpd). One test crate, so it links once.

mod kit;

mod a11y;
mod admin;
mod archive;
mod audience;
mod bounce_reports;
mod bounces;
mod brand;
mod crash;
mod curation;
mod delivery;
mod digest;
mod dkim;
mod dns_server;
mod doctor;
mod edition;
mod foundation;
mod local_time;
mod ops;
mod schedule;
mod security;
mod smtp;
mod store;
mod subscribers;
