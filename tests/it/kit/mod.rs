//! The test kit: every helper the integration tests share, in one place. `db` makes a
//! fresh database, `app` starts the service on it (a builder, typed requests, jobs run
//! on demand), `mail` the SMTP server and the messages, `cli` the binary as a command,
//! `browser` a signed-in admin, `content` what a test needs in the database, `tls` a
//! private CA and a certificate for 127.0.0.1.

#![allow(dead_code)]

pub mod app;
pub mod browser;
pub mod cli;
pub mod content;
pub mod db;
pub mod mail;
pub mod tls;

pub use app::{TEST_METRICS_TOKEN, TestApp, test_config};
pub use browser::{Browser, FilePart, PASSWORD, Page, add_user};
pub use cli::{assert_success, breakfast_cmd, breakfast_process, spawn_breakfast};
pub use content::{
    SUBJECT_2026_11_28, composed_digest, confirmed, digest, digest_on, seed_content, subscriber,
    subscriber_named, wait_until_sent,
};
pub use db::{Backend, TestDb};
pub use mail::{
    Mail, SmtpBehaviour, SmtpServer, eml_files, find_link, free_port, read_eml, received,
    wait_for_eml,
};
