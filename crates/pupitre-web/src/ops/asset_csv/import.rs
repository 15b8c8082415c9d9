//! The import: CSV rows matched to existing assets by serial number, asset tag or host name,
//! each checked as `POST`/`PATCH /api/v1/assets` would check it, then written in batches, or
//! nothing written when any row has an error.

use std::collections::{BTreeMap, HashMap};

use pupitre_core::inventory::{AssetId, AssetInput};
use serde::Serialize;
use utoipa::ToSchema;

use super::row::{Checker, Outcome, RowErrors, column_of};
use super::{ATTR_PREFIX, COLUMNS, Lookup};
use crate::auth::Caller;
use crate::error::AppError;
use crate::state::AppState;

/// Assets written per transaction.
pub const IMPORT_BATCH: usize = 500;

/// The key that tells which existing asset a row stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MatchKey {
    /// The serial number, within the row's asset type when it has one.
    Serial,
    AssetTag,
    /// The host name, case-insensitive.
    Hostname,
}

impl MatchKey {
    pub const ALL: &[MatchKey] = &[MatchKey::Serial, MatchKey::AssetTag, MatchKey::Hostname];

    pub fn key(self) -> &'static str {
        match self {
            MatchKey::Serial => "serial",
            MatchKey::AssetTag => "asset_tag",
            MatchKey::Hostname => "hostname",
        }
    }

    pub fn from_key(key: &str) -> Option<MatchKey> {
        MatchKey::ALL.iter().copied().find(|k| k.key() == key)
    }
}

/// How to read and apply a CSV file.
#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// Check every row and report what would change; write nothing.
    pub dry_run: bool,
    /// Match rows on this key only; `None` tries the serial number, then the asset tag,
    /// then the host name.
    pub key: Option<MatchKey>,
    /// The file's header → a Pupitre column (or `attr:<key>`); `""` ignores the column.
    pub mapping: BTreeMap<String, String>,
}

/// What an import is busy with, for progress reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Reading and checking rows; nothing is written yet.
    Check,
    /// Writing the checked rows, in batches.
    Write,
}

/// Called with the stage, the rows done and the rows in all.
pub type Progress<'a> = &'a (dyn Fn(Stage, usize, usize) + Send + Sync);

/// A problem with one cell or row. Row numbers are those a spreadsheet shows: the header
/// is row 1.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct RowError {
    pub row: usize,
    /// The column's header in the file, or the Pupitre column when the file lacks it.
    pub column: String,
    pub message: String,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PlannedCreate {
    pub row: usize,
    pub name: String,
    /// The new asset, once written.
    pub id: Option<i64>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PlannedUpdate {
    pub row: usize,
    pub id: i64,
    pub name: String,
    /// The columns whose value changes.
    pub fields: Vec<String>,
}

/// The outcome of an import, or the plan of a dry run.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AssetImportReport {
    pub dry_run: bool,
    /// Data rows read.
    pub rows: usize,
    /// Assets created (in a dry run or with errors: that would be created).
    pub created: usize,
    pub updated: usize,
    /// Rows that match an asset and change nothing.
    pub unchanged: usize,
    pub creates: Vec<PlannedCreate>,
    pub updates: Vec<PlannedUpdate>,
    /// Rows with no serial number, asset tag or host name to match on: importing the file
    /// again creates them again.
    pub unkeyed_rows: Vec<usize>,
    /// Every problem found. When there is any, nothing was written (but see `written`).
    pub errors: Vec<RowError>,
    /// Rows written: none in a dry run or when a row has an error. Fewer than the creates
    /// and updates only if the database refused a batch while writing (a rack unit taken
    /// meanwhile…): the batches before it stay written, and importing the file again
    /// after a fix completes the work.
    pub written: usize,
}

impl AssetImportReport {
    fn new(dry_run: bool) -> AssetImportReport {
        AssetImportReport {
            dry_run,
            rows: 0,
            created: 0,
            updated: 0,
            unchanged: 0,
            creates: Vec::new(),
            updates: Vec::new(),
            unkeyed_rows: Vec::new(),
            errors: Vec::new(),
            written: 0,
        }
    }

    fn fail(mut self, row: usize, column: &str, message: impl Into<String>) -> Self {
        self.errors.push(RowError {
            row,
            column: column.to_owned(),
            message: message.into(),
        });
        self
    }
}

/// Where each Pupitre column is in the file.
pub(super) struct Columns {
    /// Per file column: the Pupitre column it feeds, `None` when ignored.
    pub(super) targets: Vec<Option<String>>,
    /// Pupitre column → position and header in the file.
    index: HashMap<String, (usize, String)>,
}

impl Columns {
    fn resolve(
        headers: &csv::StringRecord,
        opts: &ImportOptions,
    ) -> Result<Columns, Vec<RowError>> {
        let mut errors = Vec::new();
        let mut err = |column: &str, message: String| {
            errors.push(RowError {
                row: 1,
                column: column.to_owned(),
                message,
            })
        };
        for (from, to) in &opts.mapping {
            if !headers.iter().any(|h| h == from) {
                err(from, "is mapped but the file has no such column".to_owned());
            }
            if !to.is_empty() && !known_column(to) {
                err(
                    from,
                    format!(
                        "is mapped to {to:?}, which is not a column; use one of {}, or attr:<key>",
                        COLUMNS.join(", ")
                    ),
                );
            }
        }
        let mut targets = Vec::new();
        let mut index = HashMap::new();
        let mut listed = false;
        for (i, h) in headers.iter().enumerate() {
            let target = match opts.mapping.get(h) {
                Some(t) if t.is_empty() => None,
                Some(t) => Some(t.clone()),
                None if known_column(h) => Some(h.to_owned()),
                None if h.is_empty() => {
                    err(
                        h,
                        format!("column {} has no header; map it or remove it", i + 1),
                    );
                    None
                }
                None => {
                    // The list of columns once is enough.
                    let columns = if listed {
                        String::new()
                    } else {
                        listed = true;
                        format!(" ({}, or attr:<key>)", COLUMNS.join(", "))
                    };
                    err(
                        h,
                        format!(
                            "is not a column; map it to one{columns} or to nothing to ignore it"
                        ),
                    );
                    None
                }
            };
            if let Some(t) = &target {
                let key = normalise_column(t);
                if let Some((_, other)) = index.get(&key) {
                    err(h, format!("feeds {t}, as column {other:?} does already"));
                } else {
                    index.insert(key, (i, h.to_owned()));
                }
            }
            targets.push(target.map(|t| normalise_column(&t)));
        }
        if let Some(k) = opts.key
            && !index.contains_key(k.key())
        {
            err(
                k.key(),
                format!("the file has no {} column to match rows on", k.key()),
            );
        }
        if errors.is_empty() {
            Ok(Columns { targets, index })
        } else {
            Err(errors)
        }
    }

    pub(super) fn has(&self, column: &str) -> bool {
        self.index.contains_key(column)
    }

    pub(super) fn cell<'r>(&self, record: &'r csv::StringRecord, column: &str) -> Option<&'r str> {
        self.index
            .get(column)
            .map(|(i, _)| record.get(*i).unwrap_or(""))
    }

    /// The header naming `column` in the file, else the column itself.
    pub(super) fn header(&self, column: &str) -> String {
        self.index
            .get(column)
            .map_or_else(|| column.to_owned(), |(_, h)| h.clone())
    }
}

fn known_column(name: &str) -> bool {
    COLUMNS.contains(&name)
        || name
            .strip_prefix(ATTR_PREFIX)
            .is_some_and(|k| !k.trim().is_empty())
}

/// Attribute keys are case-insensitive, as the store keeps them lower-case.
fn normalise_column(name: &str) -> String {
    match name.strip_prefix(ATTR_PREFIX) {
        Some(k) => format!("{ATTR_PREFIX}{}", k.trim().to_lowercase()),
        None => name.to_owned(),
    }
}

struct PlanRow {
    row: usize,
    name: String,
    fields: Option<Vec<String>>,
}

/// The text of the file: UTF-8, without a byte-order mark.
fn decode(data: &[u8]) -> Result<&str, RowError> {
    let text = std::str::from_utf8(data).map_err(|e| {
        let line = data[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1;
        RowError {
            row: line,
            column: String::new(),
            message: format!("line {line} is not valid UTF-8; save the file as UTF-8"),
        }
    })?;
    Ok(text.strip_prefix('\u{feff}').unwrap_or(text))
}

/// The number of data rows, for progress reports.
fn count_rows(text: &str) -> usize {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut record = csv::ByteRecord::new();
    let mut n = 0;
    while let Ok(true) = reader.read_byte_record(&mut record) {
        n += 1;
    }
    n
}

/// Imports assets from CSV (UTF-8, comma-separated, a header row). Every row is checked
/// first; with any error, or in a dry run, nothing is written and the report says what
/// would happen. Then the rows are written in order, [`IMPORT_BATCH`] per transaction.
pub async fn import_csv(
    st: &AppState,
    caller: &Caller,
    data: &[u8],
    opts: &ImportOptions,
    progress: Progress<'_>,
) -> Result<AssetImportReport, AppError> {
    let mut report = AssetImportReport::new(opts.dry_run);
    let text = match decode(data) {
        Ok(t) => t,
        Err(e) => return Ok(report.fail(e.row, &e.column, e.message)),
    };
    let total = count_rows(text);
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => return Ok(report.fail(1, "", e.to_string())),
    };
    if headers.is_empty() || headers.iter().all(str::is_empty) {
        return Ok(report.fail(1, "", "the file is empty; it needs a header row"));
    }
    let cols = match Columns::resolve(&headers, opts) {
        Ok(c) => c,
        Err(errors) => {
            report.errors = errors;
            return Ok(report);
        }
    };
    let lookup = Lookup::load(st).await?;
    let mut checker = Checker::new(st, caller, opts, &cols, &lookup);
    let mut writes: Vec<(Option<AssetId>, AssetInput)> = Vec::new();
    let mut plan: Vec<PlanRow> = Vec::new();
    // Rows are read and checked a chunk at a time, so that the assets they match are
    // looked up together.
    let mut records: Vec<csv::StringRecord> = Vec::with_capacity(IMPORT_BATCH);
    let mut row = 1;
    let mut at_end = false;
    while !at_end {
        records.clear();
        let mut read_error = None;
        while records.len() < IMPORT_BATCH {
            let mut record = csv::StringRecord::new();
            match reader.read_record(&mut record) {
                Ok(true) => records.push(record),
                Ok(false) => break,
                Err(e) => {
                    read_error = Some(e);
                    break;
                }
            }
        }
        at_end = records.len() < IMPORT_BATCH;
        checker.prefetch(&records).await?;
        for record in &records {
            row += 1;
            let mut unkeyed = false;
            let mut errs = RowErrors {
                row,
                cols: &cols,
                list: Vec::new(),
            };
            match checker.check_row(record, &mut errs, &mut unkeyed).await? {
                Some(Outcome::Create(input)) => {
                    plan.push(PlanRow {
                        row,
                        name: input.name.clone(),
                        fields: None,
                    });
                    writes.push((None, input));
                }
                Some(Outcome::Update { id, input, fields }) => {
                    plan.push(PlanRow {
                        row,
                        name: input.name.clone(),
                        fields: Some(fields),
                    });
                    writes.push((Some(id), input));
                }
                Some(Outcome::Unchanged) => report.unchanged += 1,
                None => report.errors.extend(errs.list),
            }
            if unkeyed {
                report.unkeyed_rows.push(row);
            }
            progress(Stage::Check, row - 1, total.max(row - 1));
        }
        if let Some(e) = read_error {
            report.errors.push(RowError {
                row: row + 1,
                column: String::new(),
                message: e.to_string(),
            });
            break;
        }
    }
    report.rows = row - 1;
    if opts.dry_run || !report.errors.is_empty() {
        for (p, (id, _)) in plan.iter().zip(&writes) {
            push_planned(&mut report, p, *id, None);
        }
        return Ok(report);
    }
    drop(checker);
    let mut done = 0;
    progress(Stage::Write, 0, writes.len());
    for (chunk, meta) in writes.chunks(IMPORT_BATCH).zip(plan.chunks(IMPORT_BATCH)) {
        match st.store.write_assets(&caller.actor(), chunk).await {
            Ok(assets) => {
                for ((p, (id, _)), a) in meta.iter().zip(chunk).zip(&assets) {
                    push_planned(&mut report, p, *id, Some(a.id));
                }
                let ids: Vec<i64> = assets.iter().map(|a| a.id).collect();
                crate::ops::check_templates::assets_changed(st, &caller.actor(), &ids).await;
            }
            Err(e) => {
                let e = AppError::from_store("asset", e);
                if e.status.is_server_error() {
                    return Err(e);
                }
                let first = meta.first().map_or(0, |p| p.row);
                let last = meta.last().map_or(0, |p| p.row);
                let column = e.field.as_deref().map(column_of).unwrap_or_default();
                let earlier = if done > 0 {
                    format!(
                        "; the {done} rows before row {first} were written (importing the file again after a fix is safe)"
                    )
                } else {
                    String::new()
                };
                report.errors.push(RowError {
                    row: first,
                    column,
                    message: format!(
                        "rows {first} to {last} were not written: {}{earlier}",
                        e.message
                    ),
                });
                return Ok(report);
            }
        }
        done += chunk.len();
        report.written = done;
        progress(Stage::Write, done, writes.len());
    }
    Ok(report)
}

fn push_planned(
    report: &mut AssetImportReport,
    p: &PlanRow,
    id: Option<AssetId>,
    new_id: Option<i64>,
) {
    match (&p.fields, id) {
        (Some(fields), Some(id)) => {
            report.updated += 1;
            report.updates.push(PlannedUpdate {
                row: p.row,
                id,
                name: p.name.clone(),
                fields: fields.clone(),
            });
        }
        _ => {
            report.created += 1;
            report.creates.push(PlannedCreate {
                row: p.row,
                name: p.name.clone(),
                id: new_id,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(line: &str) -> csv::StringRecord {
        csv::StringRecord::from(line.split(',').collect::<Vec<_>>())
    }

    fn resolve(line: &str, mapping: &[(&str, &str)]) -> Result<Vec<Option<String>>, Vec<String>> {
        let opts = ImportOptions {
            mapping: mapping
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..ImportOptions::default()
        };
        Columns::resolve(&headers(line), &opts)
            .map(|c| c.targets)
            .map_err(|e| {
                e.iter()
                    .map(|e| format!("{}: {}", e.column, e.message))
                    .collect()
            })
    }

    #[test]
    fn headers_resolve_through_the_mapping() {
        let some = |s: &str| Some(s.to_owned());
        assert_eq!(
            resolve(
                "name,Serial No,Junk,attr:Firmware",
                &[("Serial No", "serial"), ("Junk", "")]
            ),
            Ok(vec![
                some("name"),
                some("serial"),
                None,
                some("attr:firmware")
            ])
        );
        for (line, mapping, want) in [
            ("name,Label", &[][..], "Label: is not a column"),
            ("name,Label", &[("Label", "name")][..], "Label: feeds name"),
            (
                "name",
                &[("Missing", "serial")][..],
                "Missing: is mapped but the file has no such column",
            ),
            (
                "name,X",
                &[("X", "colour")][..],
                "X: is mapped to \"colour\"",
            ),
            ("name,", &[][..], ": column 2 has no header"),
        ] {
            let errors = resolve(line, mapping).unwrap_err();
            assert!(
                errors.iter().any(|e| e.starts_with(want)),
                "{line}: {errors:?}"
            );
        }
    }
}
