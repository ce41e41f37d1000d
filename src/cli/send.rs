//! `breakfast digest send` and `breakfast digest status`.

use std::{io::IsTerminal, time::Duration};

use chrono::NaiveDate;

use crate::{
    app::App,
    bounces::IssueBounces,
    config::Config,
    delivery::{self, progress},
    domain::EmailAddress,
    edition::{self, By, Outcome, Which, test_copy::test_copy},
    mail::{Head, OutgoingEmail},
    queue,
    shutdown::Shutdown,
    store::deliveries::DeliveryProgress,
};

pub struct SendArgs {
    pub date: Option<NaiveDate>,
    pub digest: Option<i64>,
    pub to: Option<String>,
    pub wait: bool,
}

pub async fn send(config: Config, args: SendArgs) -> anyhow::Result<()> {
    let to = args
        .to
        .as_deref()
        .map(EmailAddress::parse)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--to: {e}"))?;
    let app = super::open(config).await?;
    let result = send_with(&app, args, to).await;
    app.close().await;
    result
}

async fn send_with(app: &App, args: SendArgs, to: Option<EmailAddress>) -> anyhow::Result<()> {
    let which = match (args.digest, args.date) {
        (Some(id), _) => Which::Digest(id),
        (None, Some(date)) => Which::Date(date),
        (None, None) => Which::Today,
    };
    if let Some(to) = to {
        let digest = edition::resolve(app, which).await?;
        if !digest.status.is_out() {
            edition::prepare(app, &digest).await?;
        }
        return send_test_copy(app, digest.id, to).await;
    }
    let digest_id = match edition::send(app, which, By::Cli).await? {
        Outcome::Started {
            digest_id,
            recipients,
        } => {
            println!("digest {digest_id} started for {recipients} subscribers");
            digest_id
        }
        Outcome::NothingToSend { digest_id } => {
            println!(
                "digest {digest_id}: nothing to send (no articles and no editor's note); nothing was sent"
            );
            return Ok(());
        }
        Outcome::AlreadyOut { digest_id } => {
            anyhow::bail!(
                "digest {digest_id} was already sent (or is sending); it is never sent twice. \
                 Follow it with `breakfast digest status {digest_id}`"
            )
        }
        Outcome::Held { digest_id } => {
            anyhow::bail!("digest {digest_id} is held for approval; approve it in /admin")
        }
    };
    if !args.wait {
        println!(
            "digest {digest_id} queued for sending; a running `breakfast serve` or `breakfast worker` sends it.\n\
             Follow it with `breakfast digest status {digest_id}`."
        );
        return Ok(());
    }
    let done = run_until_sent(app, digest_id).await?;
    println!("{}", progress::summary_line(&done));
    Ok(())
}

/// One copy to one address, sent right now: the greeting for readers without a name,
/// and links that cannot touch anyone's subscription (see [`test_copy`]).
async fn send_test_copy(app: &App, digest_id: i64, to: EmailAddress) -> anyhow::Result<()> {
    let (subject, html, text) = test_copy(app, digest_id).await?;
    let message = OutgoingEmail {
        head: Head {
            to,
            to_name: None,
            subject,
            unsubscribe: None,
        },
        html,
        text,
    }
    .to_message(&app.identity)?;
    app.mailer
        .send(message)
        .await
        .map_err(|e| anyhow::anyhow!("the test copy was not accepted: {e}"))?;
    println!("test copy of digest {digest_id} sent (subscribers and the ledger are untouched)");
    Ok(())
}

/// Runs workers and the sweeper in this process and follows the digest until every
/// delivery is sent or failed, or Ctrl-C.
async fn run_until_sent(app: &App, digest_id: i64) -> anyhow::Result<DeliveryProgress> {
    let (trigger, shutdown) = Shutdown::new();
    let signals = Shutdown::on_signals();
    let workers = tokio::spawn(queue::workers::run(app.clone(), shutdown.clone().wait()));
    let sweeper = delivery::sweeper::spawn(app, &shutdown);
    let result = follow(app, digest_id, &signals).await;
    trigger.trigger();
    let _ = workers.await;
    let _ = sweeper.await;
    result
}

async fn follow(app: &App, digest_id: i64, signals: &Shutdown) -> anyhow::Result<DeliveryProgress> {
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} sent  {msg}  [{elapsed_precise}, eta {eta}]",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let mut last_line = std::time::Instant::now();
    // The end is noticed from the digest's status on every tick; the ledger is counted
    // (every row of the digest) only as often as the bar or the line shows it.
    let count_every = Duration::from_secs(if bar.is_some() { 1 } else { 2 });
    let mut counted: Option<std::time::Instant> = None;
    loop {
        let count_due = counted.is_none_or(|t| t.elapsed() >= count_every);
        if !count_due && !signals.is_triggered() && progress::still_sending(app, digest_id).await? {
            tokio::time::sleep(Duration::from_millis(250)).await;
            continue;
        }
        let p = progress::progress(app, digest_id).await?;
        counted = Some(std::time::Instant::now());
        match &bar {
            Some(bar) => {
                bar.set_length(p.recipients.unwrap_or(0).max(0) as u64);
                bar.set_position((p.sent + p.failed) as u64);
                bar.set_message(format!(
                    "{} failed, {} retrying, {:.0} msg/s",
                    p.failed, p.retrying, p.rate_per_second
                ));
            }
            None if last_line.elapsed() >= Duration::from_secs(2) => {
                eprintln!("{}", progress::summary_line(&p));
                last_line = std::time::Instant::now();
            }
            None => {}
        }
        if !progress::is_sending(&p) {
            if let Some(bar) = &bar {
                bar.finish();
            }
            return Ok(p);
        }
        if signals.is_triggered() {
            if let Some(bar) = &bar {
                bar.abandon();
            }
            eprintln!("interrupted: the send goes on in any running `breakfast serve` or `worker`");
            return Ok(p);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

pub async fn status(config: Config, id: i64, json: bool) -> anyhow::Result<()> {
    let app = super::open(config).await?;
    let result = progress::progress(&app, id).await;
    let edition = app.store.digest(id).await.ok();
    let zones = progress::zone_rows(&app, id).await.unwrap_or_default();
    // Read only for a digest that exists (the progress read says which do not).
    let bounces = match &result {
        Ok(_) => Some(crate::bounces::issue_bounces(&app, id).await),
        Err(_) => None,
    };
    let thresholds = crate::bounces::Thresholds::from_config(&app.config.bounces);
    app.close().await;
    let p = result?;
    let bounces = bounces.transpose()?;
    if json {
        let mut value = serde_json::to_value(&p)?;
        if let (Some(d), Some(map)) = (&edition, value.as_object_mut()) {
            map.insert("edition".into(), serde_json::json!(d.kind.as_str()));
        }
        if let (Some(b), Some(map)) = (&bounces, value.as_object_mut()) {
            map.insert("bounces".into(), serde_json::to_value(b)?);
            map.insert("thresholds".into(), serde_json::to_value(thresholds)?);
        }
        if let Some(map) = value.as_object_mut().filter(|_| !zones.is_empty()) {
            let by_zone: Vec<_> = zones
                .iter()
                .map(|z| serde_json::json!({"zone": z.zone, "sent": z.sent, "waiting": z.waiting, "failed": z.failed, "when": z.when}))
                .collect();
            map.insert("zones".into(), serde_json::json!(by_zone));
        }
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        if let Some(d) = &edition {
            println!("edition    {}", edition::review::edition_label(d));
        }
        print!("{}", progress::report(&p));
        // Bounces and complaints mean something only once messages went out.
        let out = |b: &&IssueBounces| b.counts.sent + b.counts.hard + b.counts.complaints > 0;
        if let Some(b) = bounces.as_ref().filter(out) {
            print!("{}", super::bounces::status_lines(b, &thresholds));
        }
        print!("{}", progress::zone_report(&zones));
    }
    Ok(())
}
