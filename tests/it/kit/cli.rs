//! The built `breakfast` binary, run by tests as a command.

use std::{
    path::Path,
    process::{Child, Command, Stdio},
};

use super::{TestDb, free_port};

/// Runs the built `breakfast` binary with `args` and environment, returning its output.
pub fn breakfast_cmd(args: &[&str], env: &[(&str, &str)], cwd: &Path) -> std::process::Output {
    // `timeout` bounds a command that would otherwise hang the test run.
    let mut cmd = Command::new("timeout");
    cmd.arg("60").arg(env!("CARGO_BIN_EXE_breakfast"));
    cmd.args(args)
        .current_dir(cwd)
        .env_remove("BREAKFAST_CONFIG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("breakfast runs")
}

/// `breakfast <command>` (`serve` or `worker`) as a child process on the test's
/// database, listening on a free loopback port, polling fast, writing mail to the
/// database folder's outbox (or to `BREAKFAST_SMTP_URL` when `env` sets it), quiet;
/// `env` adds or overrides settings.
pub fn spawn_breakfast(command: &str, db: &TestDb, env: &[(&str, &str)]) -> Child {
    breakfast_process(command, db, env)
        .spawn()
        .expect("breakfast starts")
}

/// The command [`spawn_breakfast`] runs, for a test that changes more (its output).
pub fn breakfast_process(command: &str, db: &TestDb, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_breakfast"));
    cmd.arg(command)
        .env_remove("BREAKFAST_CONFIG")
        .env("BREAKFAST_DATABASE_URL", &db.url)
        .env("BREAKFAST_SECRET", "test-secret-0123456789")
        .env("BREAKFAST_LISTEN", format!("127.0.0.1:{}", free_port()))
        .env("BREAKFAST_QUEUE__POLL_INTERVAL_MS", "50")
        .env(
            "BREAKFAST_MAIL__OUTBOX_DIR",
            db.dir.path().join("outbox").display().to_string(),
        )
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Fails the test unless the command succeeded, showing what it printed.
pub fn assert_success(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{:?}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
