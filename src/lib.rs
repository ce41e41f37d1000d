//! Breakfast: a self-hosted newsletter service for a publication's daily digest.
//!
//! Data flows one way: feeds → articles → digest → deliveries → mail. Each module is a
//! room with one job; SQL lives in [`store`], HTTP in [`web`], SMTP in [`mail`], markup in
//! the `templates` crate.

pub mod accounts;
pub mod app;
pub mod archive;
pub mod bounces;
pub mod brand;
pub mod cli;
pub mod config;
pub mod delivery;
pub mod digest;
pub mod doctor;
pub mod domain;
pub mod edition;
pub mod feeds;
pub mod links;
pub mod mail;
pub mod ops;
pub mod queue;
pub mod schedule;
pub mod service;
pub mod shutdown;
pub mod store;
pub mod subscribers;
pub mod tasks;
pub mod telemetry;
pub mod tls;
pub mod web;

pub use app::App;

/// Installs the process-wide TLS crypto provider (ring). reqwest and lettre are built
/// without a default provider so that only one TLS stack is compiled in.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
