//! `breakfast subscribers …`: bulk import and export, listing and counting.

use std::{
    io::{IsTerminal, Write},
    path::PathBuf,
};

use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};

use crate::{
    config::Config,
    domain::SubscriberStatus,
    subscribers::{ImportOptions, ImportReport, export_csv, import_csv},
};

#[derive(Debug, Subcommand)]
pub enum SubscribersCommand {
    /// Add subscribers from a CSV file with columns email,name[,status][,created_at].
    ///
    /// A header row naming the columns is optional (the export's header is understood).
    /// Addresses already on the list, repeated in the file, or erased at their owner's
    /// request are skipped; invalid rows are reported with their line numbers. Rows are
    /// written in batches, each in one transaction. Without --confirmed, rows are added
    /// as pending and are not mailed until they confirm.
    Import {
        /// The CSV file ("-" for standard input).
        file: PathBuf,
        /// The addresses opted in elsewhere: add them as confirmed (source "import").
        #[arg(long)]
        confirmed: bool,
    },
    /// Write subscribers as CSV (email,name,status,created_at) to standard output.
    Export {
        #[arg(long, value_name = "STATUS")]
        status: Option<SubscriberStatus>,
    },
    /// List subscribers: id, status, email, name.
    List {
        #[arg(long, value_name = "STATUS")]
        status: Option<SubscriberStatus>,
        #[arg(long, value_name = "N", default_value_t = 50)]
        limit: i64,
    },
    /// Count subscribers, per status or of one status.
    Count {
        #[arg(long, value_name = "STATUS")]
        status: Option<SubscriberStatus>,
    },
}

pub async fn run(command: SubscribersCommand, config: Config) -> anyhow::Result<()> {
    let app = super::open(config).await?;
    let result = match command {
        SubscribersCommand::Import { file, confirmed } => import(&app, &file, confirmed).await,
        SubscribersCommand::Export { status } => {
            let stdout = std::io::stdout().lock();
            let n = export_csv(&app, status, std::io::BufWriter::new(stdout)).await?;
            eprintln!("exported {n} subscribers");
            Ok(())
        }
        SubscribersCommand::List { status, limit } => list(&app, status, limit).await,
        SubscribersCommand::Count { status } => count(&app, status).await,
    };
    app.close().await;
    result
}

async fn import(app: &crate::App, file: &PathBuf, confirmed: bool) -> anyhow::Result<()> {
    let options = ImportOptions {
        confirmed,
        ..Default::default()
    };
    let started = std::time::Instant::now();
    let report = if file.as_os_str() == "-" {
        import_csv(app, std::io::stdin().lock(), &options, |_| {}).await?
    } else {
        let f = std::fs::File::open(file)
            .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", file.display()))?;
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        let bar = progress_bar(len);
        let reader = std::io::BufReader::with_capacity(256 * 1024, f);
        let report = import_csv(app, reader, &options, |bytes| {
            if let Some(b) = &bar {
                b.set_position(bytes);
            }
        })
        .await?;
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        report
    };
    print_report(&report, started.elapsed());
    Ok(())
}

/// A byte-based bar on a terminal; nothing when stderr is a file or a pipe, where
/// redraws would only be noise.
fn progress_bar(len: u64) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {percent:>3}% {bytes}/{total_bytes} eta {eta}")
    {
        bar.set_style(style);
    }
    Some(bar)
}

/// Lines listed in full up to this many per kind; the rest are counted.
const SHOW_LINES: usize = 50;

fn print_report(r: &ImportReport, took: std::time::Duration) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{} rows read in {:.1}s: {} accepted, {} duplicates in the file, {} already on the list, {} erased earlier (skipped), {} invalid",
        r.rows,
        took.as_secs_f64(),
        r.accepted,
        r.duplicate_in_file.len(),
        r.already_present.len(),
        r.suppressed.len(),
        r.invalid.len()
    );
    if r.downgraded > 0 {
        let _ = writeln!(
            out,
            "{} rows marked confirmed were added as pending (use --confirmed to keep them confirmed)",
            r.downgraded
        );
    }
    for (line, why) in r.invalid.iter().take(SHOW_LINES) {
        let _ = writeln!(out, "invalid: line {line}: {why}");
    }
    if r.invalid.len() > SHOW_LINES {
        let _ = writeln!(out, "invalid: … and {} more", r.invalid.len() - SHOW_LINES);
    }
    print_lines(&mut out, "duplicate in file", &r.duplicate_in_file);
    print_lines(&mut out, "already on the list", &r.already_present);
    print_lines(&mut out, "erased earlier", &r.suppressed);
}

fn print_lines(out: &mut impl Write, what: &str, lines: &[u64]) {
    if lines.is_empty() {
        return;
    }
    let shown: Vec<String> = lines.iter().take(SHOW_LINES).map(u64::to_string).collect();
    let more = if lines.len() > SHOW_LINES {
        format!(" … and {} more", lines.len() - SHOW_LINES)
    } else {
        String::new()
    };
    let _ = writeln!(out, "{what}: lines {}{more}", shown.join(", "));
}

async fn list(
    app: &crate::App,
    status: Option<SubscriberStatus>,
    limit: i64,
) -> anyhow::Result<()> {
    let rows = app.store.list_subscribers(status, 0, limit.max(0)).await?;
    let mut out = std::io::stdout().lock();
    for s in rows {
        writeln!(
            out,
            "{}\t{}\t{}\t{}",
            s.id,
            s.status,
            s.email,
            s.name.unwrap_or_default()
        )?;
    }
    Ok(())
}

async fn count(app: &crate::App, status: Option<SubscriberStatus>) -> anyhow::Result<()> {
    match status {
        Some(s) => println!("{}", app.store.count_subscribers(Some(s)).await?),
        None => {
            for (s, n) in app.store.count_subscribers_by_status().await? {
                println!("{s}\t{n}");
            }
        }
    }
    Ok(())
}
