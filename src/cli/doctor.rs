//! `breakfast doctor`: prints each deliverability check on one line.

use crate::{
    config::Config,
    doctor::{self, Level},
};

/// Prints every check; fails (exit status 1) when any is a problem.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let checks = doctor::run(&config).await;
    for check in &checks {
        println!("{}", check.line());
    }
    let problems = checks.iter().filter(|c| c.level == Level::Problem).count();
    let warnings = checks.iter().filter(|c| c.level == Level::Warning).count();
    println!("{problems} problem(s), {warnings} warning(s)");
    if problems > 0 {
        anyhow::bail!("doctor found {problems} problem(s)");
    }
    Ok(())
}
