//! Bulk import and export as CSV. Import streams the file and writes batches of rows in
//! one transaction each, so a crash leaves whole batches and never half a row set; export
//! writes the same columns import reads, so a list can move between installations.

use std::{
    collections::HashSet,
    io::{Read, Write},
};

use chrono::{DateTime, SecondsFormat};

use crate::{
    app::App,
    domain::{EmailAddress, SubscriberStatus, clock::from_ms},
    store::subscribers::ImportRow,
};

/// Rows per transaction: large enough to amortise commits, small enough to keep the
/// statement's parameter count well under both databases' limits.
const BATCH: usize = 1000;
/// The export's header, which import also understands.
pub const EXPORT_HEADER: [&str; 4] = ["email", "name", "status", "created_at"];

#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// The operator vouches that these addresses opted in elsewhere.
    pub confirmed: bool,
}

/// What an import did, with line numbers for everything it did not take.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub rows: u64,
    pub accepted: u64,
    /// Lines repeating an address seen earlier in the same file.
    pub duplicate_in_file: Vec<u64>,
    /// Lines whose address is already a subscriber.
    pub already_present: Vec<u64>,
    /// Lines whose address was erased at its owner's request.
    pub suppressed: Vec<u64>,
    pub invalid: Vec<(u64, String)>,
    /// Rows marked confirmed in the file but imported as pending (no `--confirmed`).
    pub downgraded: u64,
}

/// Column positions, from the header or the documented default order.
struct Columns {
    email: usize,
    name: Option<usize>,
    status: Option<usize>,
    created_at: Option<usize>,
}

impl Columns {
    fn default_order() -> Self {
        Columns {
            email: 0,
            name: Some(1),
            status: Some(2),
            created_at: Some(3),
        }
    }

    fn from_header(record: &csv::StringRecord) -> Option<Self> {
        let find = |n: &str| {
            record.iter().position(|f| {
                f.trim()
                    .trim_start_matches('\u{feff}')
                    .eq_ignore_ascii_case(n)
            })
        };
        Some(Columns {
            email: find("email")?,
            name: find("name"),
            status: find("status"),
            created_at: find("created_at"),
        })
    }
}

struct Pending {
    row: ImportRow,
    line: u64,
}

/// Reads CSV from `reader` and adds its subscribers. `progress` is told the bytes read
/// so far after each batch.
pub async fn import_csv<R: Read>(
    app: &App,
    reader: R,
    options: &ImportOptions,
    mut progress: impl FnMut(u64),
) -> anyhow::Result<ImportReport> {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(reader);
    let mut report = ImportReport::default();
    let mut seen: HashSet<String> = HashSet::new();
    let mut batch: Vec<Pending> = Vec::with_capacity(BATCH);
    let mut columns: Option<Columns> = None;
    let now = app.now_ms();
    let mut record = csv::StringRecord::new();
    loop {
        let line = csv.position().line();
        match csv.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                report.rows += 1;
                report.invalid.push((line, describe_csv_error(&e)));
                if e.is_io_error() {
                    break;
                }
                continue;
            }
        }
        let line = record.position().map_or(line, |p| p.line());
        if columns.is_none() {
            if let Some(c) = Columns::from_header(&record) {
                columns = Some(c);
                continue;
            }
            columns = Some(Columns::default_order());
        }
        if record.iter().all(str::is_empty) {
            continue;
        }
        report.rows += 1;
        let cols = columns.as_ref().expect("set above");
        match parse_row(&record, cols, options, now) {
            Ok((row, downgraded)) => {
                if !seen.insert(row.email.key()) {
                    report.duplicate_in_file.push(line);
                    continue;
                }
                report.downgraded += u64::from(downgraded);
                batch.push(Pending { row, line });
            }
            Err(why) => report.invalid.push((line, why)),
        }
        if batch.len() >= BATCH {
            write_batch(app, &mut batch, now, &mut report).await?;
            progress(csv.position().byte());
        }
    }
    write_batch(app, &mut batch, now, &mut report).await?;
    progress(csv.position().byte());
    Ok(report)
}

fn describe_csv_error(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Utf8 { .. } => "the line is not valid UTF-8".into(),
        csv::ErrorKind::Io(io) => format!("cannot read the file: {io}"),
        _ => format!("not valid CSV: {e}"),
    }
}

fn parse_row(
    record: &csv::StringRecord,
    cols: &Columns,
    options: &ImportOptions,
    now: i64,
) -> Result<(ImportRow, bool), String> {
    let field = |i: Option<usize>| i.and_then(|i| record.get(i)).filter(|v| !v.is_empty());
    let raw_email = field(Some(cols.email)).ok_or("no email address")?;
    let email = EmailAddress::parse(raw_email).map_err(|e| format!("{e}"))?;
    let name = super::clean_name(field(cols.name))?;
    let mut status = match field(cols.status) {
        Some(s) => s.parse::<SubscriberStatus>().map_err(|e| e.to_string())?,
        None if options.confirmed => SubscriberStatus::Confirmed,
        None => SubscriberStatus::Pending,
    };
    let mut downgraded = false;
    if status == SubscriberStatus::Confirmed && !options.confirmed {
        status = SubscriberStatus::Pending;
        downgraded = true;
    }
    let created_at = match field(cols.created_at) {
        Some(t) => DateTime::parse_from_rfc3339(t)
            .map_err(|_| format!("created_at {t:?} is not an RFC 3339 time"))?
            .timestamp_millis(),
        None => now,
    };
    Ok((
        ImportRow {
            email,
            name,
            status,
            created_at,
        },
        downgraded,
    ))
}

async fn write_batch(
    app: &App,
    batch: &mut Vec<Pending>,
    now: i64,
    report: &mut ImportReport,
) -> anyhow::Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let hashes: Vec<String> = batch
        .iter()
        .map(|p| app.signer.fingerprint(&p.row.email.key()))
        .collect();
    let suppressed: HashSet<String> = app
        .store
        .suppressed_among(&hashes)
        .await?
        .into_iter()
        .collect();
    let mut rows = Vec::with_capacity(batch.len());
    let mut lines = Vec::with_capacity(batch.len());
    for (p, h) in batch.drain(..).zip(&hashes) {
        if suppressed.contains(h) {
            report.suppressed.push(p.line);
        } else {
            lines.push((p.line, p.row.email.key()));
            rows.push(p.row);
        }
    }
    let inserted: HashSet<String> = app
        .store
        .import_subscribers(&rows, "import", now)
        .await?
        .into_iter()
        .collect();
    for (line, key) in lines {
        if inserted.contains(&key) {
            report.accepted += 1;
        } else {
            report.already_present.push(line);
        }
    }
    Ok(())
}

/// Writes every subscriber (of `status`, when given) as CSV with [`EXPORT_HEADER`].
/// Returns the number of rows written.
pub async fn export_csv<W: Write>(
    app: &App,
    status: Option<SubscriberStatus>,
    out: W,
) -> anyhow::Result<u64> {
    let mut csv = csv::Writer::from_writer(out);
    csv.write_record(EXPORT_HEADER)?;
    let mut after = 0;
    let mut written = 0;
    loop {
        let page = app
            .store
            .list_subscribers(status, after, BATCH as i64)
            .await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for s in &page {
            let cells = [
                s.email.as_str(),
                s.name.as_deref().unwrap_or(""),
                s.status.as_str(),
                &from_ms(s.created_at).to_rfc3339_opts(SecondsFormat::Millis, true),
            ];
            csv.write_record(
                cells
                    .map(crate::domain::spreadsheet::safe_cell)
                    .iter()
                    .map(|c| c.as_ref()),
            )?;
            written += 1;
        }
    }
    csv.flush()?;
    Ok(written)
}
