//! Bulk import and export as CSV. Import streams the file and writes batches of rows in
//! one transaction each, so a crash leaves whole batches and never half a row set; export
//! writes the same columns import reads, so a list can move between installations.

use std::{
    collections::HashSet,
    io::{Read, Write},
};

use chrono::{DateTime, SecondsFormat};
use serde::{Deserialize, Serialize};

use crate::{
    app::App,
    domain::{EmailAddress, Frequency, SubscriberStatus, clock::from_ms},
    store::subscribers::{ImportRow, PageCursor, Subscriber, SubscriberFilter, SubscriberSort},
};

/// Rows per transaction: large enough to amortise commits, small enough to keep the
/// statement's parameter count well under both databases' limits.
const BATCH: usize = 1000;
/// The export's header, which import also understands (and its default column order).
pub const EXPORT_HEADER: [&str; 6] = [
    "email",
    "name",
    "status",
    "created_at",
    "frequency",
    "time_zone",
];

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ImportOptions {
    /// The operator vouches that these addresses opted in elsewhere.
    pub confirmed: bool,
    /// Which column holds what. `None`: read the header, else the documented order.
    #[serde(default)]
    pub columns: Option<ColumnMap>,
    /// What to do with addresses that are already subscribers.
    #[serde(default)]
    pub existing: Existing,
}

/// What an import does with a line whose address is already a subscriber.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Existing {
    /// Leave the subscriber as they are (and list the line as already present).
    #[default]
    Skip,
    /// Take the name, frequency and time zone from the file; never the status.
    Update,
}

/// What an import did, with line numbers for everything it did not take.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportReport {
    pub rows: u64,
    pub accepted: u64,
    /// Lines repeating an address seen earlier in the same file.
    pub duplicate_in_file: Vec<u64>,
    /// Lines whose address is already a subscriber (left as they were).
    pub already_present: Vec<u64>,
    /// Lines whose address was already a subscriber and whose details were updated.
    #[serde(default)]
    pub updated: Vec<u64>,
    /// Lines whose address was erased at its owner's request.
    pub suppressed: Vec<u64>,
    pub invalid: Vec<(u64, String)>,
    /// Rows marked confirmed in the file but imported as pending (no `--confirmed`).
    pub downgraded: u64,
}

/// Which column (0-based) of the file holds each field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnMap {
    pub email: usize,
    pub name: Option<usize>,
    pub status: Option<usize>,
    pub created_at: Option<usize>,
    pub frequency: Option<usize>,
    pub time_zone: Option<usize>,
    /// The first line names the columns and is not a subscriber.
    pub has_header: bool,
}

/// The fields an import can fill, with the header names that suggest each.
pub const FIELDS: [(&str, &[&str]); 6] = [
    (
        "email",
        &[
            "email",
            "e-mail",
            "email address",
            "e-mail address",
            "email_address",
            "mail",
        ],
    ),
    (
        "name",
        &["name", "full name", "first name", "first_name", "firstname"],
    ),
    ("status", &["status", "state"]),
    (
        "created_at",
        &[
            "created_at",
            "created",
            "signed up",
            "signed_up",
            "subscribed_at",
            "date",
        ],
    ),
    ("frequency", &["frequency"]),
    (
        "time_zone",
        &["time_zone", "timezone", "time zone", "tz", "zone"],
    ),
];

impl ColumnMap {
    fn default_order() -> Self {
        ColumnMap {
            email: 0,
            name: Some(1),
            status: Some(2),
            created_at: Some(3),
            frequency: Some(4),
            time_zone: Some(5),
            has_header: false,
        }
    }

    /// The mapping a header suggests, or `None` when the line names no email column
    /// (it is then data, not a header).
    pub fn from_header(record: &csv::StringRecord) -> Option<Self> {
        let find = |names: &[&str]| {
            record.iter().position(|f| {
                let f = f.trim().trim_start_matches('\u{feff}');
                names.iter().any(|n| f.eq_ignore_ascii_case(n))
            })
        };
        Some(ColumnMap {
            email: find(FIELDS[0].1)?,
            name: find(FIELDS[1].1),
            status: find(FIELDS[2].1),
            created_at: find(FIELDS[3].1),
            frequency: find(FIELDS[4].1),
            time_zone: find(FIELDS[5].1),
            has_header: true,
        })
    }

    /// The column chosen for the field named `field` (one of [`FIELDS`]).
    pub fn get(&self, field: &str) -> Option<usize> {
        match field {
            "email" => Some(self.email),
            "name" => self.name,
            "status" => self.status,
            "created_at" => self.created_at,
            "frequency" => self.frequency,
            "time_zone" => self.time_zone,
            _ => None,
        }
    }
}

struct Pending {
    row: ImportRow,
    line: u64,
}

/// One data line of a file as the import sees it.
enum Line {
    Row(u64, Box<(ImportRow, bool)>),
    Invalid(u64, String),
    /// The file cannot be read further (an I/O error); already reported as invalid.
    Broken(u64, String),
}

/// Reads a CSV file line by line with the one set of rules import and preview share:
/// the header (given by the mapping, or recognised), blank lines skipped, each line
/// parsed and checked.
struct LineReader<R: Read> {
    csv: csv::Reader<R>,
    record: csv::StringRecord,
    columns: Option<ColumnMap>,
    options: ImportOptions,
    now: i64,
    header_pending: bool,
}

impl<R: Read> LineReader<R> {
    fn new(reader: R, options: &ImportOptions, now: i64) -> Self {
        LineReader {
            csv: csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .trim(csv::Trim::All)
                .from_reader(reader),
            record: csv::StringRecord::new(),
            header_pending: options.columns.as_ref().is_some_and(|c| c.has_header),
            columns: options.columns.clone(),
            options: options.clone(),
            now,
        }
    }

    fn bytes_read(&self) -> u64 {
        self.csv.position().byte()
    }

    fn next_line(&mut self) -> Option<Line> {
        loop {
            let line = self.csv.position().line();
            match self.csv.read_record(&mut self.record) {
                Ok(false) => return None,
                Ok(true) => {}
                Err(e) => {
                    let why = describe_csv_error(&e);
                    return Some(if e.is_io_error() {
                        Line::Broken(line, why)
                    } else {
                        Line::Invalid(line, why)
                    });
                }
            }
            let line = self.record.position().map_or(line, |p| p.line());
            if self.header_pending {
                self.header_pending = false;
                continue;
            }
            if self.columns.is_none() {
                if let Some(c) = ColumnMap::from_header(&self.record) {
                    self.columns = Some(c);
                    continue;
                }
                self.columns = Some(ColumnMap::default_order());
            }
            if self.record.iter().all(str::is_empty) {
                continue;
            }
            let cols = self.columns.as_ref().expect("set above");
            return Some(
                match parse_row(&self.record, cols, &self.options, self.now) {
                    Ok(parsed) => Line::Row(line, Box::new(parsed)),
                    Err(why) => Line::Invalid(line, why),
                },
            );
        }
    }
}

/// Reads CSV from `reader` and adds its subscribers. `progress` is told the bytes read
/// so far after each batch.
pub async fn import_csv<R: Read>(
    app: &App,
    reader: R,
    options: &ImportOptions,
    mut progress: impl FnMut(u64),
) -> anyhow::Result<ImportReport> {
    let mut report = ImportReport::default();
    import_into(app, reader, options, &mut report, &mut progress).await?;
    Ok(report)
}

/// [`import_csv`], filling `report` as it goes, so that a caller whose import fails
/// part-way still has the report of the batches written before the failure.
pub async fn import_into<R: Read>(
    app: &App,
    reader: R,
    options: &ImportOptions,
    report: &mut ImportReport,
    progress: &mut impl FnMut(u64),
) -> anyhow::Result<()> {
    let now = app.now_ms();
    let mut lines = LineReader::new(reader, options, now);
    let mut seen: HashSet<String> = HashSet::new();
    let mut batch: Vec<Pending> = Vec::with_capacity(BATCH);
    while let Some(l) = lines.next_line() {
        report.rows += 1;
        match l {
            Line::Row(line, parsed) => {
                let (row, downgraded) = *parsed;
                if !seen.insert(row.email.key()) {
                    report.duplicate_in_file.push(line);
                    continue;
                }
                report.downgraded += u64::from(downgraded);
                batch.push(Pending { row, line });
            }
            Line::Invalid(line, why) => report.invalid.push((line, why)),
            Line::Broken(line, why) => {
                report.invalid.push((line, why));
                break;
            }
        }
        if batch.len() >= BATCH {
            write_batch(app, &mut batch, options.existing, now, report).await?;
            progress(lines.bytes_read());
        }
    }
    write_batch(app, &mut batch, options.existing, now, report).await?;
    progress(lines.bytes_read());
    Ok(())
}

/// A line of the preview: its number, its cells, and what is wrong with it, if anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewLine {
    pub line: u64,
    pub email: String,
    pub name: String,
    pub status: String,
    pub frequency: String,
    pub time_zone: String,
    pub error: Option<String>,
}

/// The first `n` data lines as `options` would import them, checked by the same rules.
/// Duplicates within the preview are flagged; the database is not consulted.
pub fn preview<R: Read>(
    reader: R,
    options: &ImportOptions,
    n: usize,
    now: i64,
) -> Vec<PreviewLine> {
    let mut lines = LineReader::new(reader, options, now);
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    while out.len() < n {
        let Some(l) = lines.next_line() else { break };
        let raw = |i: Option<usize>| {
            i.and_then(|i| lines.record.get(i))
                .unwrap_or_default()
                .to_string()
        };
        let cols = lines
            .columns
            .clone()
            .unwrap_or_else(ColumnMap::default_order);
        let mut p = PreviewLine {
            line: 0,
            email: raw(Some(cols.email)),
            name: raw(cols.name),
            status: raw(cols.status),
            frequency: raw(cols.frequency),
            time_zone: raw(cols.time_zone),
            error: None,
        };
        match l {
            Line::Row(line, parsed) => {
                p.line = line;
                p.status = parsed.0.status.to_string();
                if !seen.insert(parsed.0.email.key()) {
                    p.error = Some("repeats an address seen earlier in the file".into());
                }
            }
            Line::Invalid(line, why) => {
                p.line = line;
                p.error = Some(why);
            }
            Line::Broken(line, why) => {
                p.line = line;
                p.error = Some(why);
                out.push(p);
                break;
            }
        }
        out.push(p);
    }
    out
}

/// The first line of a file and the mapping it suggests, for the mapping form.
#[derive(Debug, Clone)]
pub struct Sniffed {
    /// What to call each column: the header's names, or "column 1", "column 2", ….
    pub columns: Vec<String>,
    pub suggested: ColumnMap,
}

pub fn sniff<R: Read>(reader: R) -> Sniffed {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(reader);
    let mut record = csv::StringRecord::new();
    let first = csv.read_record(&mut record).unwrap_or(false);
    if first && let Some(map) = ColumnMap::from_header(&record) {
        return Sniffed {
            columns: record
                .iter()
                .map(|f| f.trim_start_matches('\u{feff}').to_string())
                .collect(),
            suggested: map,
        };
    }
    let width = if first { record.len().max(1) } else { 1 };
    let mut suggested = ColumnMap::default_order();
    let fit = |c: Option<usize>| c.filter(|&i| i < width);
    suggested.name = fit(suggested.name);
    suggested.status = fit(suggested.status);
    suggested.created_at = fit(suggested.created_at);
    suggested.frequency = fit(suggested.frequency);
    suggested.time_zone = fit(suggested.time_zone);
    Sniffed {
        columns: (1..=width).map(|i| format!("column {i}")).collect(),
        suggested,
    }
}

/// Why an uploaded file is refused before anything is imported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadProblem {
    #[error(
        "the file is larger than {limit_mb} MB; split it, or use `breakfast subscribers import` on the server"
    )]
    TooLarge { limit_mb: u64 },
    #[error("the file is empty")]
    Empty,
    #[error(
        "this is not a CSV file ({0}); save or export it as CSV (comma-separated values, UTF-8) and upload that"
    )]
    NotCsv(&'static str),
    #[error("the file is in {0}, not UTF-8; save it again as \"CSV UTF-8\" and upload that")]
    Encoding(&'static str),
    #[error(
        "the file is not UTF-8 text (first bad byte on line {line}); save it again as \"CSV UTF-8\" (it may be in Windows-1252 or Latin-1) and upload that"
    )]
    NotUtf8 { line: u64 },
}

/// Checks an upload as it streams in: a known binary or UTF-16 start, NUL bytes, and
/// UTF-8 validity across chunk boundaries, so a refused file is refused whole.
#[derive(Debug, Default)]
pub struct UploadCheck {
    seen: u64,
    line: u64,
    /// The bytes of a UTF-8 sequence cut by the end of the last chunk.
    carry: Vec<u8>,
}

impl UploadCheck {
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), UploadProblem> {
        if self.seen == 0 && !chunk.is_empty() {
            check_start(chunk)?;
        }
        self.seen += chunk.len() as u64;
        if chunk.contains(&0) {
            return Err(UploadProblem::NotCsv("it contains binary data"));
        }
        let mut bytes = std::mem::take(&mut self.carry);
        bytes.extend_from_slice(chunk);
        let valid = match std::str::from_utf8(&bytes) {
            Ok(s) => s.len(),
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(e) => {
                let line = self.line + count_lines(&bytes[..e.valid_up_to()]) + 1;
                return Err(UploadProblem::NotUtf8 { line });
            }
        };
        self.line += count_lines(&bytes[..valid]);
        self.carry = bytes[valid..].to_vec();
        Ok(())
    }

    /// After the last chunk: an empty file, or one ending mid-character, is refused.
    pub fn finish(&self) -> Result<(), UploadProblem> {
        if self.seen == 0 {
            return Err(UploadProblem::Empty);
        }
        if !self.carry.is_empty() {
            return Err(UploadProblem::NotUtf8 {
                line: self.line + 1,
            });
        }
        Ok(())
    }
}

fn count_lines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

/// Recognises the files people upload by mistake from their first bytes.
fn check_start(start: &[u8]) -> Result<(), UploadProblem> {
    const SIGNATURES: [(&[u8], UploadProblem); 6] = [
        (b"\xFF\xFE", UploadProblem::Encoding("UTF-16")),
        (b"\xFE\xFF", UploadProblem::Encoding("UTF-16")),
        (
            b"PK\x03\x04",
            UploadProblem::NotCsv("it looks like an Excel workbook or a ZIP archive"),
        ),
        (
            b"\xD0\xCF\x11\xE0",
            UploadProblem::NotCsv("it looks like an old Excel workbook"),
        ),
        (b"%PDF", UploadProblem::NotCsv("it is a PDF")),
        (
            b"\x1F\x8B",
            UploadProblem::NotCsv("it is compressed with gzip"),
        ),
    ];
    for (magic, problem) in SIGNATURES {
        if start.starts_with(magic) {
            return Err(problem);
        }
    }
    Ok(())
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
    cols: &ColumnMap,
    options: &ImportOptions,
    now: i64,
) -> Result<(ImportRow, bool), String> {
    let field = |i: Option<usize>| {
        i.and_then(|i| record.get(i))
            .map(super::csv_safe::restore)
            .filter(|v| !v.is_empty())
    };
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
    let frequency = field(cols.frequency)
        .map(|f| f.to_ascii_lowercase().parse::<Frequency>())
        .transpose()?;
    let time_zone = field(cols.time_zone)
        .map(super::clean_time_zone)
        .transpose()?;
    Ok((
        ImportRow {
            email,
            name,
            status,
            created_at,
            frequency,
            time_zone,
        },
        downgraded,
    ))
}

async fn write_batch(
    app: &App,
    batch: &mut Vec<Pending>,
    existing: Existing,
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
    let updated: HashSet<String> = if existing == Existing::Update {
        let present: Vec<ImportRow> = rows
            .into_iter()
            .filter(|r| !inserted.contains(&r.email.key()))
            .collect();
        app.store
            .update_imported(&present, now)
            .await?
            .into_iter()
            .collect()
    } else {
        HashSet::new()
    };
    for (line, key) in lines {
        if inserted.contains(&key) {
            report.accepted += 1;
        } else if updated.contains(&key) {
            report.updated.push(line);
        } else {
            report.already_present.push(line);
        }
    }
    Ok(())
}

/// Writes every subscriber (of `status`, when given) as CSV with [`EXPORT_HEADER`], in
/// id order. Returns the number of rows written.
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
            write_subscriber(&mut csv, s)?;
            written += 1;
        }
    }
    csv.flush()?;
    Ok(written)
}

/// Writes the subscribers `filter` matches, in `sort` order, as CSV with
/// [`EXPORT_HEADER`] (the admin's "export this view"). Returns the rows written.
pub async fn export_filtered<W: Write>(
    app: &App,
    filter: &SubscriberFilter,
    sort: SubscriberSort,
    out: W,
) -> anyhow::Result<u64> {
    let mut csv = csv::Writer::from_writer(out);
    csv.write_record(EXPORT_HEADER)?;
    let mut cursor = PageCursor::First;
    let mut written = 0;
    loop {
        let page = app
            .store
            .subscriber_page(filter, sort, cursor, BATCH as i64)
            .await?;
        for r in &page.rows {
            write_subscriber(&mut csv, &r.subscriber)?;
            written += 1;
        }
        match page.rows.last() {
            Some(last) if page.has_next => cursor = PageCursor::After(last.subscriber.id),
            _ => break,
        }
    }
    csv.flush()?;
    Ok(written)
}

fn write_subscriber<W: Write>(csv: &mut csv::Writer<W>, s: &Subscriber) -> csv::Result<()> {
    super::csv_safe::write_record(
        csv,
        &[
            s.email.as_str(),
            s.name.as_deref().unwrap_or(""),
            s.status.as_str(),
            &from_ms(s.created_at).to_rfc3339_opts(SecondsFormat::Millis, true),
            s.frequency.as_str(),
            s.time_zone.as_deref().unwrap_or(""),
        ],
    )
}

/// The report as CSV for download: the totals, then one line per line of the file that
/// was not added as a new subscriber, with what happened to it.
pub fn report_csv(report: &ImportReport) -> anyhow::Result<Vec<u8>> {
    let mut csv = csv::Writer::from_writer(Vec::new());
    csv.write_record(["line", "outcome", "detail"])?;
    let totals = [
        ("lines read", report.rows),
        ("added", report.accepted),
        ("updated", report.updated.len() as u64),
        (
            "already present, left as they were",
            report.already_present.len() as u64,
        ),
        (
            "repeated in the file",
            report.duplicate_in_file.len() as u64,
        ),
        (
            "erased at their owner's request, skipped",
            report.suppressed.len() as u64,
        ),
        ("invalid", report.invalid.len() as u64),
        (
            "confirmed in the file, imported as pending",
            report.downgraded,
        ),
    ];
    for (what, n) in totals {
        csv.write_record(["", "total", &format!("{what}: {n}")])?;
    }
    let mut lines: Vec<(u64, &str, String)> = Vec::new();
    lines.extend(
        report
            .updated
            .iter()
            .map(|&l| (l, "updated", String::new())),
    );
    lines.extend(
        report
            .already_present
            .iter()
            .map(|&l| (l, "already present", String::new())),
    );
    lines.extend(report.duplicate_in_file.iter().map(|&l| {
        (
            l,
            "duplicate",
            "repeats an address seen earlier in the file".to_string(),
        )
    }));
    lines.extend(report.suppressed.iter().map(|&l| {
        (
            l,
            "suppressed",
            "erased at its owner's request; skipped".to_string(),
        )
    }));
    lines.extend(
        report
            .invalid
            .iter()
            .map(|(l, why)| (*l, "invalid", why.clone())),
    );
    lines.sort_by_key(|(l, _, _)| *l);
    for (line, outcome, detail) in lines {
        super::csv_safe::write_record(&mut csv, &[&line.to_string(), outcome, &detail])?;
    }
    csv.into_inner().map_err(|e| anyhow::anyhow!("{e}"))
}
