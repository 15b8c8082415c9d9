//! Performance data (`'label'=value[UOM];[warn];[crit];[min];[max]`), as the monitoring-plugins
//! guidelines define it (<https://www.monitoring-plugins.org/doc/guidelines.html>, "Performance
//! data").
//!
//! Parsing is forgiving item by item: every good item is kept, and every bad one gives an error
//! that names it, so one sloppy metric never hides the others.

use std::fmt;

use super::range::{Range, RangeError};
use super::{NumberError, number_prefix_len, parse_number};

/// Longest item text quoted in an error; longer items are cut with `…`.
const MAX_ITEM_IN_ERROR: usize = 200;

/// One metric of a plugin's performance data.
#[derive(Clone, Debug, PartialEq)]
pub struct PerfDatum {
    /// The label, unquoted and with `''` turned back into `'`.
    pub label: String,
    /// `None` when the plugin printed `U` (the value could not be determined).
    pub value: Option<f64>,
    pub uom: Uom,
    pub warning: Option<Range>,
    pub critical: Option<Range>,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

/// The unit of measurement written after the value.
///
/// The guidelines list no unit, `s`/`ms`/`us`, `%`, `B`/`KB`/`MB`/`TB` and `c`; `GB` is accepted
/// too because real plugins (`check_disk`) print it. Units are case-sensitive, as in the
/// guidelines. Any other unit is kept as [`Uom::Other`] and reported.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Uom {
    /// No unit: a number of things (users, processes, load average).
    Count,
    Seconds,
    Milliseconds,
    Microseconds,
    Percent,
    Bytes,
    Kilobytes,
    Megabytes,
    Gigabytes,
    Terabytes,
    /// `c`: a continuous counter, such as bytes sent on an interface.
    Counter,
    /// A unit the guidelines do not define, kept as written (never contains a digit).
    Other(String),
}

impl Uom {
    const KNOWN: [Uom; 11] = [
        Uom::Count,
        Uom::Seconds,
        Uom::Milliseconds,
        Uom::Microseconds,
        Uom::Percent,
        Uom::Bytes,
        Uom::Kilobytes,
        Uom::Megabytes,
        Uom::Gigabytes,
        Uom::Terabytes,
        Uom::Counter,
    ];

    /// The unit written `text` (empty for [`Uom::Count`]).
    pub fn from_text(text: &str) -> Uom {
        Uom::KNOWN
            .into_iter()
            .find(|u| u.as_str() == text)
            .unwrap_or_else(|| Uom::Other(text.to_owned()))
    }

    /// The unit as plugins write it.
    pub fn as_str(&self) -> &str {
        match self {
            Uom::Count => "",
            Uom::Seconds => "s",
            Uom::Milliseconds => "ms",
            Uom::Microseconds => "us",
            Uom::Percent => "%",
            Uom::Bytes => "B",
            Uom::Kilobytes => "KB",
            Uom::Megabytes => "MB",
            Uom::Gigabytes => "GB",
            Uom::Terabytes => "TB",
            Uom::Counter => "c",
            Uom::Other(text) => text,
        }
    }
}

impl fmt::Display for Uom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A problem with one item of performance data.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{item}`: {problem}")]
pub struct PerfDataError {
    /// The item as written (cut after 200 bytes).
    pub item: String,
    pub problem: PerfDataProblem,
}

/// What is wrong with an item. All problems drop the item except
/// [`UnknownUnit`](PerfDataProblem::UnknownUnit), which is reported while the item is kept.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PerfDataProblem {
    #[error("there is no `=` between the label and the value")]
    MissingEquals,
    #[error("the label is empty")]
    EmptyLabel,
    #[error("the quoted label has no closing quote")]
    UnclosedQuote,
    #[error("`=` must follow the closing quote of the label")]
    TextAfterQuote,
    #[error("value: {0}")]
    Value(NumberError),
    #[error("`{0}` is not a unit of measurement")]
    InvalidUnit(String),
    #[error("unknown unit of measurement `{0}` (the item is kept)")]
    UnknownUnit(String),
    #[error("warn: {0}")]
    Warning(RangeError),
    #[error("crit: {0}")]
    Critical(RangeError),
    #[error("min: {0}")]
    Min(NumberError),
    #[error("max: {0}")]
    Max(NumberError),
    #[error("more than five `;`-separated fields")]
    TooManyFields,
    #[error("cut off by the output size limit")]
    Truncated,
}

impl PerfDataError {
    pub(super) fn new(item: &str, problem: PerfDataProblem) -> PerfDataError {
        let item = if item.len() > MAX_ITEM_IN_ERROR {
            let mut cut = MAX_ITEM_IN_ERROR;
            while !item.is_char_boundary(cut) {
                cut -= 1;
            }
            format!("{}…", &item[..cut])
        } else {
            item.to_owned()
        };
        PerfDataError { item, problem }
    }
}

/// Parses a performance data string: items separated by whitespace (spaces, tabs or newlines).
///
/// Returns every well-formed item in order, and one error per bad item. Items with an unknown
/// unit appear in both lists (see [`PerfDataProblem::UnknownUnit`]).
///
/// Labels may be quoted with `'`, and must be when they hold spaces; inside quotes `''` stands
/// for `'` and `=` is allowed (the current guidelines forbid `=` and `'` in labels, older ones
/// allowed them; real plugins print both). A quoted label does not run past the end of a line.
/// Trailing empty fields are ignored, even beyond the fifth (`a=1;2;3;0;10;`).
pub fn parse_perfdata(text: &str) -> (Vec<PerfDatum>, Vec<PerfDataError>) {
    let mut data = Vec::new();
    let mut errors = Vec::new();
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        let len = item_len(rest);
        let item = &rest[..len];
        rest = rest[len..].trim_start();
        match parse_item(item) {
            Ok((datum, unknown_unit)) => {
                if let Some(unit) = unknown_unit {
                    errors.push(PerfDataError::new(item, PerfDataProblem::UnknownUnit(unit)));
                }
                data.push(datum);
            }
            Err(problem) => errors.push(PerfDataError::new(item, problem)),
        }
    }
    (data, errors)
}

/// The length of the item at the start of `text` (which starts with a non-blank): up to the next
/// whitespace, not counting whitespace inside a closed quoted label.
fn item_len(text: &str) -> usize {
    let from = match closing_quote(text) {
        Some(close) => close + 1,
        None => 0,
    };
    text[from..]
        .find(char::is_whitespace)
        .map_or(text.len(), |i| from + i)
}

/// For text starting with `'`, the byte index of the quote that closes the label (`''` is an
/// escaped quote). `None` if the text does not start with a quote, or the quote is not closed
/// before the end of the line.
fn closing_quote(text: &str) -> Option<usize> {
    if !text.starts_with('\'') {
        return None;
    }
    let mut chars = text.char_indices().skip(1).peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\n' | '\r' => return None,
            '\'' if chars.peek().is_some_and(|&(_, next)| next == '\'') => {
                chars.next();
            }
            '\'' => return Some(i),
            _ => {}
        }
    }
    None
}

/// Parses one item; on success also returns the unit text if it is not a known unit.
fn parse_item(item: &str) -> Result<(PerfDatum, Option<String>), PerfDataProblem> {
    let (label, data) = if item.starts_with('\'') {
        let close = closing_quote(item).ok_or(PerfDataProblem::UnclosedQuote)?;
        let after = &item[close + 1..];
        let data = match after.strip_prefix('=') {
            Some(data) => data,
            None if after.is_empty() => return Err(PerfDataProblem::MissingEquals),
            None => return Err(PerfDataProblem::TextAfterQuote),
        };
        (item[1..close].replace("''", "'"), data)
    } else {
        let (label, data) = item.split_once('=').ok_or(PerfDataProblem::MissingEquals)?;
        (label.to_owned(), data)
    };
    if label.is_empty() {
        return Err(PerfDataProblem::EmptyLabel);
    }

    let fields: Vec<&str> = data.split(';').collect();
    if fields.iter().skip(5).any(|f| !f.is_empty()) {
        return Err(PerfDataProblem::TooManyFields);
    }
    let field = |i: usize| fields.get(i).copied().filter(|f| !f.is_empty());

    let (value, uom) = parse_value(fields[0])?;
    let warning = field(1)
        .map(Range::parse)
        .transpose()
        .map_err(PerfDataProblem::Warning)?;
    let critical = field(2)
        .map(Range::parse)
        .transpose()
        .map_err(PerfDataProblem::Critical)?;
    let min = field(3)
        .map(parse_number)
        .transpose()
        .map_err(PerfDataProblem::Min)?;
    let max = field(4)
        .map(parse_number)
        .transpose()
        .map_err(PerfDataProblem::Max)?;

    let unknown_unit = match &uom {
        Uom::Other(text) => Some(text.clone()),
        _ => None,
    };
    let datum = PerfDatum {
        label,
        value,
        uom,
        warning,
        critical,
        min,
        max,
    };
    Ok((datum, unknown_unit))
}

/// Splits `value[UOM]`. `U` is an undetermined value. A unit never contains a digit, so `1x2` is
/// refused rather than read as 1 with the unit `x2`.
fn parse_value(field: &str) -> Result<(Option<f64>, Uom), PerfDataProblem> {
    if field == "U" {
        return Ok((None, Uom::Count));
    }
    let len = number_prefix_len(field);
    let unit = &field[len..];
    if len == 0 || unit.starts_with(['.', ',']) {
        // No number, or a malformed one (`1.2.3`, `1,5`): report the whole field.
        let err = parse_number(field)
            .err()
            .unwrap_or_else(|| NumberError::NotANumber(field.to_owned()));
        return Err(PerfDataProblem::Value(err));
    }
    if unit.chars().any(|c| c.is_ascii_digit()) {
        return Err(PerfDataProblem::InvalidUnit(unit.to_owned()));
    }
    let value = parse_number(&field[..len]).map_err(PerfDataProblem::Value)?;
    Ok((Some(value), Uom::from_text(unit)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show_number(n: Option<f64>) -> String {
        n.map_or("-".to_owned(), |n| n.to_string())
    }

    fn show_range(r: Option<Range>) -> String {
        r.map_or("-".to_owned(), |r| r.to_string())
    }

    /// Parses `input` and compares with one line per item, in input order for the good ones then
    /// the errors: `label | value | uom | warn | crit | min | max`, or `error: message`.
    fn check(input: &str, expect: &[&str]) {
        let (data, errors) = parse_perfdata(input);
        let mut got: Vec<String> = data
            .iter()
            .map(|d| {
                format!(
                    "{} | {} | {} | {} | {} | {} | {}",
                    d.label,
                    d.value.map_or("U".to_owned(), |v| v.to_string()),
                    if d.uom == Uom::Count {
                        "-"
                    } else {
                        d.uom.as_str()
                    },
                    show_range(d.warning),
                    show_range(d.critical),
                    show_number(d.min),
                    show_number(d.max),
                )
            })
            .collect();
        got.extend(errors.iter().map(|e| format!("error: {e}")));
        assert_eq!(got, expect, "input: {input}");
    }

    #[test]
    fn guidelines_format() {
        check("'label'=1", &["label | 1 | - | - | - | - | -"]);
        check("label=1;2;3;4;5", &["label | 1 | - | 2 | 3 | 4 | 5"]);
        check("'my label'=1", &["my label | 1 | - | - | - | - | -"]);
        check("'it''s'=1", &["it's | 1 | - | - | - | - | -"]);
        check(
            "'a ''b'' = c'=0%;100;90;",
            &["a 'b' = c | 0 | % | 100 | 90 | - | -"],
        );
        // warn, crit, min or max may be null; trailing unfilled semicolons can be dropped.
        check("a=1;;;;", &["a | 1 | - | - | - | - | -"]);
        check("a=1;;;0", &["a | 1 | - | - | - | 0 | -"]);
        check("a=1;;5", &["a | 1 | - | - | 5 | - | -"]);
        // value may be "U": the actual value could not be determined.
        check("a=U;1;2;0;10", &["a | U | - | 1 | 2 | 0 | 10"]);
        // warn and crit are ranges in the threshold format.
        check("a=5;@10:20;~:30", &["a | 5 | - | @10:20 | ~:30 | - | -"]);
        check(
            "t=-3.5;-10:-5;10:",
            &["t | -3.5 | - | -10:-5 | 10: | - | -"],
        );
    }

    #[test]
    fn guidelines_units() {
        let table = [
            ("a=1", "a | 1 | - | - | - | - | -"),
            ("a=1s", "a | 1 | s | - | - | - | -"),
            ("a=1ms", "a | 1 | ms | - | - | - | -"),
            ("a=1us", "a | 1 | us | - | - | - | -"),
            ("a=1%", "a | 1 | % | - | - | - | -"),
            ("a=1B", "a | 1 | B | - | - | - | -"),
            ("a=1KB", "a | 1 | KB | - | - | - | -"),
            ("a=1MB", "a | 1 | MB | - | - | - | -"),
            ("a=1GB", "a | 1 | GB | - | - | - | -"),
            ("a=1TB", "a | 1 | TB | - | - | - | -"),
            ("a=1c", "a | 1 | c | - | - | - | -"),
        ];
        for (input, expect) in table {
            check(input, &[expect]);
        }
        let (data, _) =
            parse_perfdata("a=1 b=1s c=1ms d=1us e=1% f=1B g=1KB h=1MB i=1GB j=1TB k=1c");
        let units: Vec<Uom> = data.into_iter().map(|d| d.uom).collect();
        assert_eq!(units, Uom::KNOWN);
    }

    /// Lines copied from Debian monitoring-plugins 2.3.3.
    #[test]
    fn real_plugins() {
        // check_http
        check(
            "time=0.000166s;;;0.000000;10.000000",
            &["time | 0.000166 | s | - | - | 0 | 10"],
        );
        check(
            "time=0.270634s;;;0.000000 size=20156B;;;0",
            &[
                "time | 0.270634 | s | - | - | 0 | -",
                "size | 20156 | B | - | - | 0 | -",
            ],
        );
        check("size=125B;;;0", &["size | 125 | B | - | - | 0 | -"]);
        // check_load
        check(
            "load1=0.430;15.000;30.000;0; load5=0.330;10.000;25.000;0; load15=0.290;5.000;20.000;0; ",
            &[
                "load1 | 0.43 | - | 15 | 30 | 0 | -",
                "load5 | 0.33 | - | 10 | 25 | 0 | -",
                "load15 | 0.29 | - | 5 | 20 | 0 | -",
            ],
        );
        // check_disk
        check(
            "/=5342MB;7984;8982;0;9980 /boot=60MB;384;432;0;481",
            &[
                "/ | 5342 | MB | 7984 | 8982 | 0 | 9980",
                "/boot | 60 | MB | 384 | 432 | 0 | 481",
            ],
        );
        // check_procs
        check("procs=154;;;0;", &["procs | 154 | - | - | - | 0 | -"]);
        // check_ping
        check(
            "rta=0.045000ms;100.000000;500.000000;0.000000 pl=0%;20;60;0",
            &[
                "rta | 0.045 | ms | 100 | 500 | 0 | -",
                "pl | 0 | % | 20 | 60 | 0 | -",
            ],
        );
        // check_nt / NSClient++ style quoted label
        check(
            "'C:\\ Label'=80%;90;95",
            &["C:\\ Label | 80 | % | 90 | 95 | - | -"],
        );
        // check_users, check_swap
        check("users=2;5;10;0", &["users | 2 | - | 5 | 10 | 0 | -"]);
        check(
            "swap=2047MB;0;0;0;2047",
            &["swap | 2047 | MB | 0 | 0 | 0 | 2047"],
        );
    }

    #[test]
    fn bad_items_are_reported_and_good_ones_kept() {
        check(
            "=1 a= b=2 a=1x2 'open=1 c=3 a=1;;;b",
            &[
                "b | 2 | - | - | - | - | -",
                "c | 3 | - | - | - | - | -",
                "error: `=1`: the label is empty",
                "error: `a=`: value: a number is missing",
                "error: `a=1x2`: `x2` is not a unit of measurement",
                "error: `'open=1`: the quoted label has no closing quote",
                "error: `a=1;;;b`: min: `b` is not a number",
            ],
        );
    }

    #[test]
    fn bad_items() {
        let table = [
            ("a", "there is no `=` between the label and the value"),
            ("'a'", "there is no `=` between the label and the value"),
            ("''=1", "the label is empty"),
            ("'a'b=1", "`=` must follow the closing quote of the label"),
            ("a=abc", "value: `abc` is not a number"),
            (
                "a=1,5",
                "value: `1,5` uses a decimal comma; write a decimal point",
            ),
            (
                "a=0,5%",
                "value: `0,5%` uses a decimal comma; write a decimal point",
            ),
            ("a=1.2.3", "value: `1.2.3` is not a number"),
            ("a=nan", "value: `nan` is not a finite number"),
            ("a=u", "value: `u` is not a number"),
            (
                "a=1;10:5",
                "warn: \"10:5\": the start is greater than the end",
            ),
            ("a=1;;x", "crit: \"x\": `x` is not a number"),
            ("a=1;;;;b", "max: `b` is not a number"),
            ("a=1;;;0MB", "min: `0MB` is not a number"),
            ("a=1;2;3;4;5;6", "more than five `;`-separated fields"),
        ];
        for (input, message) in table {
            let expect = format!("error: `{input}`: {message}");
            check(input, &[expect.as_str()]);
        }
    }

    #[test]
    fn unknown_units_are_kept_and_reported() {
        check(
            "temp=21.5C;30;40 rate=3req/s",
            &[
                "temp | 21.5 | C | 30 | 40 | - | -",
                "rate | 3 | req/s | - | - | - | -",
                "error: `temp=21.5C;30;40`: unknown unit of measurement `C` (the item is kept)",
                "error: `rate=3req/s`: unknown unit of measurement `req/s` (the item is kept)",
            ],
        );
        let (data, _) = parse_perfdata("used=12kB");
        assert_eq!(data[0].uom, Uom::Other("kB".to_owned()));
    }

    #[test]
    fn separators_and_odd_spacing() {
        check("", &[]);
        check("   \n\t ", &[]);
        check(
            "  a=1\tb=2\n'c d'=3  ",
            &[
                "a | 1 | - | - | - | - | -",
                "b | 2 | - | - | - | - | -",
                "c d | 3 | - | - | - | - | -",
            ],
        );
        // Trailing empty fields beyond the fifth are ignored.
        check("a=1;2;3;0;10;", &["a | 1 | - | 2 | 3 | 0 | 10"]);
        // Numbers in exponent form, as Python plugins print them.
        check("t=1e-05s;;;0", &["t | 0.00001 | s | - | - | 0 | -"]);
        // An unquoted label may hold a quote; a quoted label does not run across lines.
        check("o'k=1", &["o'k | 1 | - | - | - | - | -"]);
        check(
            "'a\nb=1",
            &[
                "b | 1 | - | - | - | - | -",
                "error: `'a`: the quoted label has no closing quote",
            ],
        );
    }

    #[test]
    fn long_items_are_cut_in_errors() {
        let label = "é".repeat(300);
        let (_, errors) = parse_perfdata(&label);
        assert_eq!(errors.len(), 1);
        assert!(errors[0].item.ends_with('…'));
        assert!(errors[0].item.len() <= MAX_ITEM_IN_ERROR + '…'.len_utf8());
    }
}
