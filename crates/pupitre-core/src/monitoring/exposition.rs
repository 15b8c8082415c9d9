//! Prometheus exporters' scrape bodies: the text exposition format 0.0.4
//! (<https://prometheus.io/docs/instrumenting/exposition_formats/>) and OpenMetrics 1.0 text
//! (<https://github.com/prometheus/OpenMetrics/blob/main/specification/OpenMetrics.md>), the
//! PromQL instant-vector selectors that pick series out of them, and the verdict of thresholds
//! put on one series.
//!
//! Pure: the probe fetches the body (and decompresses it), picks the [`Format`] from the
//! `Content-Type` with [`Format::from_content_type`], and hands the bytes to [`parse`].
//!
//! Decisions:
//! - One bad line fails the whole scrape, as Prometheus does: a partly read body would silently
//!   hide series, and a check on a hidden series would go UNKNOWN for the wrong reason.
//! - [`Limits`] bound the work: a line longer than `max_line_bytes` is refused as soon as the
//!   parser has looked at that many bytes, and the sample after the `max_samples`th fails the
//!   scrape, so a huge body of garbage or of series costs at most that much.
//! - 0.0.4 is read as liberally as Prometheus reads it (blanks and tabs between tokens, a comma
//!   before `}`, any `#` line that is not `HELP` or `TYPE` is a comment, an unknown escape in a
//!   label value is kept as written); OpenMetrics is read as its ABNF says (single spaces, no
//!   blank lines, no other comments, only `\\`, `\"` and `\n` escapes, `# EOF` last).
//! - Samples are kept as written, suffixes (`_total`, `_bucket`, …) included. Histogram and
//!   summary structure (`le` order, the `+Inf` bucket), counters' `_total` suffix and families
//!   interleaving are not checked, and duplicate series are kept (a selector matching both
//!   reports that it matches two).
//! - Metric names are the classic `[a-zA-Z_:][a-zA-Z0-9_:]*`; Prometheus 3's quoted UTF-8 names
//!   (`{"my.metric"}`) are refused.

use std::collections::HashMap;
use std::fmt::{self, Write as _};

use super::State;
use super::range::{Range, Thresholds};

// ---------------------------------------------------------------------------------------------
// Formats, limits, samples and families
// ---------------------------------------------------------------------------------------------

/// The two text formats an exporter may answer with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `text/plain; version=0.0.4`.
    Text004,
    /// `application/openmetrics-text; version=1.0.0`.
    OpenMetrics,
}

impl Format {
    /// The format named by a `Content-Type` value: `text/plain` (any or no `version`) is 0.0.4,
    /// `application/openmetrics-text` is OpenMetrics. Others (protobuf, HTML) are `None`.
    pub fn from_content_type(content_type: &str) -> Option<Format> {
        let media = content_type.split(';').next().unwrap_or("").trim();
        if media.eq_ignore_ascii_case("text/plain") {
            Some(Format::Text004)
        } else if media.eq_ignore_ascii_case("application/openmetrics-text") {
            Some(Format::OpenMetrics)
        } else {
            None
        }
    }
}

/// Bounds on the work one scrape may cause; the caller chooses them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The most samples a body may hold.
    pub max_samples: usize,
    /// The longest line, in bytes, without its line feed.
    pub max_line_bytes: usize,
}

/// One sample: a series and its value.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The name as written, suffix included (`http_requests_total`, `latency_bucket`).
    pub name: String,
    /// Label pairs sorted by name; names are unique.
    pub labels: Vec<(String, String)>,
    pub value: f64,
    /// Milliseconds since the Unix epoch (OpenMetrics seconds are converted and rounded).
    pub timestamp_ms: Option<i64>,
}

impl Sample {
    /// The value of label `name`, `""` when it is absent (Prometheus treats both the same).
    /// `__name__` is the sample's name.
    pub fn label(&self, name: &str) -> &str {
        if name == "__name__" {
            return &self.name;
        }
        match self.labels.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
            Ok(i) => &self.labels[i].1,
            Err(_) => "",
        }
    }
}

/// `name{a="1",b="2"}` with the label values escaped as in the text format; no value.
impl fmt::Display for Sample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if self.labels.is_empty() {
            return Ok(());
        }
        f.write_char('{')?;
        for (i, (name, value)) in self.labels.iter().enumerate() {
            if i > 0 {
                f.write_char(',')?;
            }
            write!(f, "{name}=\"")?;
            write_escaped(f, value)?;
            f.write_char('"')?;
        }
        f.write_char('}')
    }
}

/// Writes a label value with `\\`, `\"` and `\n` escaped.
fn write_escaped(f: &mut impl fmt::Write, value: &str) -> fmt::Result {
    for c in value.chars() {
        match c {
            '\\' => f.write_str("\\\\")?,
            '"' => f.write_str("\\\"")?,
            '\n' => f.write_str("\\n")?,
            c => f.write_char(c)?,
        }
    }
    Ok(())
}

/// A metric family's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    Summary,
    /// 0.0.4 only.
    Untyped,
    /// OpenMetrics only, as are the three below.
    Info,
    StateSet,
    GaugeHistogram,
    Unknown,
}

impl MetricType {
    fn parse(text: &str, format: Format) -> Option<MetricType> {
        let common = match text {
            "counter" => Some(MetricType::Counter),
            "gauge" => Some(MetricType::Gauge),
            "histogram" => Some(MetricType::Histogram),
            "summary" => Some(MetricType::Summary),
            _ => None,
        };
        common.or(match (format, text) {
            (Format::Text004, "untyped") => Some(MetricType::Untyped),
            (Format::OpenMetrics, "info") => Some(MetricType::Info),
            (Format::OpenMetrics, "stateset") => Some(MetricType::StateSet),
            (Format::OpenMetrics, "gaugehistogram") => Some(MetricType::GaugeHistogram),
            (Format::OpenMetrics, "unknown") => Some(MetricType::Unknown),
            _ => None,
        })
    }
}

/// What `# TYPE`, `# HELP` and `# UNIT` lines say about one family.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Family {
    /// The name in the metadata lines (without sample suffixes such as `_total`).
    pub name: String,
    pub metric_type: Option<MetricType>,
    /// Unescaped.
    pub help: Option<String>,
    /// OpenMetrics only.
    pub unit: Option<String>,
}

/// A parsed scrape body.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Exposition {
    /// In body order.
    pub samples: Vec<Sample>,
    /// In order of their first metadata line.
    pub families: Vec<Family>,
}

impl Exposition {
    /// The family a sample name belongs to: the family of that exact name, else the one named
    /// without a suffix (`_total`, `_created`, `_bucket`, `_count`, `_sum`, `_gcount`, `_gsum`,
    /// `_info`).
    pub fn family_of(&self, sample_name: &str) -> Option<&Family> {
        const SUFFIXES: [&str; 8] = [
            "_total", "_created", "_bucket", "_count", "_sum", "_gcount", "_gsum", "_info",
        ];
        let by_name = |name: &str| self.families.iter().find(|f| f.name == name);
        by_name(sample_name).or_else(|| {
            SUFFIXES
                .iter()
                .filter_map(|s| sample_name.strip_suffix(s))
                .find_map(by_name)
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// Why a scrape body was refused. Displays as `line 3: ...`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct ExpositionError {
    /// 1-based; for a problem with the end of the body, the line after the last one.
    pub line: usize,
    pub problem: ExpositionProblem,
}

/// What is wrong with a scrape body.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExpositionProblem {
    #[error("the line is longer than {max} bytes")]
    LineTooLong { max: usize },
    #[error("the body has more than {max} samples")]
    TooManySamples { max: usize },
    #[error("the line is not valid UTF-8")]
    NotUtf8,
    #[error("blank lines are not allowed in OpenMetrics")]
    BlankLine,
    #[error("expected a metric name, found `{0}`")]
    ExpectedMetricName(String),
    #[error("expected a label name, found `{0}`")]
    ExpectedLabelName(String),
    #[error("expected `=` after label `{0}`")]
    ExpectedEquals(String),
    #[error("expected a `\"` to open the value of label `{0}`")]
    ExpectedQuote(String),
    #[error("the value of label `{0}` has no closing `\"`")]
    UnterminatedLabelValue(String),
    #[error("unknown escape `\\{0}` in a label value (only `\\\\`, `\\\"` and `\\n` exist)")]
    UnknownEscape(char),
    #[error("expected `,` or `}}` after the value of label `{0}`")]
    ExpectedCommaOrBrace(String),
    #[error("label `{0}` appears twice")]
    DuplicateLabel(String),
    #[error("expected a space before the value, found `{0}`")]
    ExpectedSeparator(String),
    #[error("the sample has no value")]
    MissingValue,
    #[error("`{0}` is not a sample value (a number, `NaN`, `+Inf` or `-Inf`)")]
    BadValue(String),
    #[error("`{0}` is not a timestamp ({1})")]
    BadTimestamp(String, &'static str),
    #[error("unexpected `{0}` after the sample")]
    TrailingText(String),
    #[error("`# {0}` needs a metric name")]
    MetadataWithoutName(&'static str),
    #[error("`# TYPE {0}` needs a type")]
    MissingType(String),
    #[error("`{0}` is not a metric type in {1}")]
    UnknownType(String, &'static str),
    #[error("a second `# {0}` line for `{1}`")]
    DuplicateMetadata(&'static str, String),
    #[error("the family name `{name}` does not end with its unit, `_{unit}`")]
    UnitNotSuffix { name: String, unit: String },
    #[error(
        "`{0}` is not a `# HELP`, `# TYPE`, `# UNIT` or `# EOF` line; OpenMetrics has no comments"
    )]
    UnknownComment(String),
    #[error("bad exemplar: {0}")]
    BadExemplar(Box<ExpositionProblem>),
    #[error("the body does not end with `# EOF`; it was probably truncated")]
    MissingEof,
    #[error("nothing may follow `# EOF`")]
    AfterEof,
    #[error("the last line does not end with a line feed; the body was probably truncated")]
    MissingFinalLineFeed,
}

// ---------------------------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------------------------

/// Parses a scrape body. The first bad line fails the whole body (see the module documentation).
pub fn parse(body: &[u8], format: Format, limits: Limits) -> Result<Exposition, ExpositionError> {
    let mut samples = Vec::new();
    let mut out = parse_each(body, format, limits, |_, sample| samples.push(sample))?;
    out.samples = samples;
    Ok(out)
}

/// Parses `body` as [`parse`] does, but hands each sample to `each` (with the families seen so
/// far) instead of keeping it: for bodies too large to hold as samples, such as a backfill
/// file. Returns the families, without samples.
pub fn parse_each(
    body: &[u8],
    format: Format,
    limits: Limits,
    mut each: impl FnMut(&Exposition, Sample),
) -> Result<Exposition, ExpositionError> {
    let mut samples = 0;
    let mut parser = Parser {
        format,
        out: Exposition::default(),
        family_index: HashMap::new(),
    };
    let mut pos = 0;
    let mut line_no = 0;
    let mut saw_eof = false;
    while pos < body.len() {
        line_no += 1;
        let err = |problem| ExpositionError {
            line: line_no,
            problem,
        };
        if saw_eof {
            // `# EOF` may only be followed by nothing (its own line feed was consumed).
            return Err(err(ExpositionProblem::AfterEof));
        }
        let window = &body[pos..body.len().min(pos + limits.max_line_bytes + 1)];
        let (line, terminated) = match window.iter().position(|&b| b == b'\n') {
            Some(i) => (&body[pos..pos + i], true),
            None if window.len() > limits.max_line_bytes => {
                return Err(err(ExpositionProblem::LineTooLong {
                    max: limits.max_line_bytes,
                }));
            }
            None => (window, false),
        };
        pos += line.len() + usize::from(terminated);
        let line = std::str::from_utf8(line).map_err(|_| err(ExpositionProblem::NotUtf8))?;
        if format == Format::OpenMetrics && line == "# EOF" {
            saw_eof = true;
            continue;
        }
        if !terminated && format == Format::Text004 {
            return Err(err(ExpositionProblem::MissingFinalLineFeed));
        }
        if let Some(sample) = parser.line(line).map_err(err)? {
            if samples == limits.max_samples {
                return Err(err(ExpositionProblem::TooManySamples {
                    max: limits.max_samples,
                }));
            }
            samples += 1;
            each(&parser.out, sample);
        }
    }
    if format == Format::OpenMetrics && !saw_eof {
        return Err(ExpositionError {
            line: line_no + 1,
            problem: ExpositionProblem::MissingEof,
        });
    }
    Ok(parser.out)
}

struct Parser {
    format: Format,
    out: Exposition,
    family_index: HashMap<String, usize>,
}

impl Parser {
    fn strict(&self) -> bool {
        self.format == Format::OpenMetrics
    }

    /// One line without its line feed; `# EOF` has been handled by the caller.
    fn line(&mut self, line: &str) -> Result<Option<Sample>, ExpositionProblem> {
        if self.strict() {
            if line.is_empty() {
                return Err(ExpositionProblem::BlankLine);
            }
            if let Some(rest) = line.strip_prefix('#') {
                self.openmetrics_metadata(line, rest)?;
                return Ok(None);
            }
            self.sample(line).map(Some)
        } else {
            let line = line.trim_start_matches(BLANKS);
            if line.is_empty() {
                return Ok(None);
            }
            if let Some(rest) = line.strip_prefix('#') {
                self.text_comment(rest)?;
                return Ok(None);
            }
            self.sample(line).map(Some)
        }
    }

    /// A 0.0.4 `#` line: `HELP` and `TYPE` are metadata, anything else is a comment.
    fn text_comment(&mut self, rest: &str) -> Result<(), ExpositionProblem> {
        let rest = rest.trim_start_matches(BLANKS);
        let (keyword, rest) = rest.split_once(BLANKS).unwrap_or((rest, ""));
        let keyword = match keyword {
            "HELP" => "HELP",
            "TYPE" => "TYPE",
            _ => return Ok(()),
        };
        let mut c = Cursor::new(rest.trim_start_matches(BLANKS));
        let name = c
            .metric_name()
            .ok_or(ExpositionProblem::MetadataWithoutName(keyword))?;
        let after = c.rest();
        let text = after.trim_start_matches(BLANKS);
        if !after.is_empty() && text.len() == after.len() {
            return Err(ExpositionProblem::ExpectedMetricName(found(c.text)));
        }
        if keyword == "HELP" {
            self.set_help(name, unescape_help(text, false))
        } else {
            self.set_type(name, text.trim_end_matches(BLANKS))
        }
    }

    /// An OpenMetrics `#` line (other than `# EOF`): exactly `# HELP|TYPE|UNIT name text`.
    fn openmetrics_metadata(&mut self, line: &str, rest: &str) -> Result<(), ExpositionProblem> {
        let unknown = || ExpositionProblem::UnknownComment(found(line));
        let rest = rest.strip_prefix(' ').ok_or_else(unknown)?;
        let (keyword, rest) = rest.split_once(' ').unwrap_or((rest, ""));
        let keyword = match keyword {
            "HELP" => "HELP",
            "TYPE" => "TYPE",
            "UNIT" => "UNIT",
            _ => return Err(unknown()),
        };
        let mut c = Cursor::new(rest);
        let name = c
            .metric_name()
            .ok_or(ExpositionProblem::MetadataWithoutName(keyword))?;
        let text = match c.rest() {
            "" => "",
            after => after
                .strip_prefix(' ')
                .ok_or_else(|| ExpositionProblem::ExpectedMetricName(found(rest)))?,
        };
        match keyword {
            "HELP" => self.set_help(name, unescape_help(text, true)),
            "TYPE" => self.set_type(name, text),
            _ => self.set_unit(name, text),
        }
    }

    fn family(&mut self, name: &str) -> &mut Family {
        let families = &mut self.out.families;
        let index = *self.family_index.entry(name.to_owned()).or_insert_with(|| {
            families.push(Family {
                name: name.to_owned(),
                ..Family::default()
            });
            families.len() - 1
        });
        &mut families[index]
    }

    fn set_help(&mut self, name: &str, help: String) -> Result<(), ExpositionProblem> {
        let family = self.family(name);
        if family.help.is_some() {
            return Err(ExpositionProblem::DuplicateMetadata(
                "HELP",
                name.to_owned(),
            ));
        }
        family.help = Some(help);
        Ok(())
    }

    fn set_type(&mut self, name: &str, text: &str) -> Result<(), ExpositionProblem> {
        if text.is_empty() {
            return Err(ExpositionProblem::MissingType(name.to_owned()));
        }
        let format_name = match self.format {
            Format::Text004 => "the text format 0.0.4",
            Format::OpenMetrics => "OpenMetrics",
        };
        let metric_type = MetricType::parse(text, self.format)
            .ok_or_else(|| ExpositionProblem::UnknownType(text.to_owned(), format_name))?;
        let family = self.family(name);
        if family.metric_type.is_some() {
            return Err(ExpositionProblem::DuplicateMetadata(
                "TYPE",
                name.to_owned(),
            ));
        }
        family.metric_type = Some(metric_type);
        Ok(())
    }

    fn set_unit(&mut self, name: &str, unit: &str) -> Result<(), ExpositionProblem> {
        if !unit.is_empty() && !name.ends_with(&format!("_{unit}")) {
            return Err(ExpositionProblem::UnitNotSuffix {
                name: name.to_owned(),
                unit: unit.to_owned(),
            });
        }
        let family = self.family(name);
        if family.unit.is_some() {
            return Err(ExpositionProblem::DuplicateMetadata(
                "UNIT",
                name.to_owned(),
            ));
        }
        family.unit = (!unit.is_empty()).then(|| unit.to_owned());
        Ok(())
    }

    /// `name[{labels}] value [timestamp]`, and in OpenMetrics an optional ` # exemplar`.
    fn sample(&self, line: &str) -> Result<Sample, ExpositionProblem> {
        let strict = self.strict();
        let mut c = Cursor::new(line);
        let name = c
            .metric_name()
            .ok_or_else(|| ExpositionProblem::ExpectedMetricName(found(line)))?;
        let blanks_before = !strict && c.skip_blanks();
        let had_labels = c.peek() == Some('{');
        let labels = if had_labels {
            label_set(&mut c, strict)?
        } else {
            Vec::new()
        };
        let separated = if strict {
            c.eat(' ')
        } else {
            // 0.0.4 allows `metric{a="b"}1`.
            c.skip_blanks() || blanks_before || had_labels
        };
        if c.rest().is_empty() {
            return Err(ExpositionProblem::MissingValue);
        }
        if !separated {
            return Err(ExpositionProblem::ExpectedSeparator(found(c.rest())));
        }
        let value = sample_value(c.token())?;
        let mut timestamp_ms = None;
        if strict {
            let mut has_exemplar = c.eat_str(" # ");
            if !has_exemplar && c.eat(' ') {
                timestamp_ms = Some(seconds_timestamp(c.token())?);
                has_exemplar = c.eat_str(" # ");
            }
            if has_exemplar {
                exemplar(&mut c).map_err(|p| ExpositionProblem::BadExemplar(Box::new(p)))?;
            }
        } else if c.skip_blanks() && !c.rest().is_empty() {
            timestamp_ms = Some(millisecond_timestamp(c.token())?);
            c.skip_blanks();
        }
        if !c.rest().is_empty() {
            return Err(ExpositionProblem::TrailingText(found(c.rest())));
        }
        Ok(Sample {
            name: name.to_owned(),
            labels,
            value,
            timestamp_ms,
        })
    }
}

/// Skips an OpenMetrics exemplar, `{labels} value [timestamp]`, checking its syntax.
fn exemplar(c: &mut Cursor<'_>) -> Result<(), ExpositionProblem> {
    if c.peek() != Some('{') {
        return Err(ExpositionProblem::ExpectedLabelName(found(c.rest())));
    }
    label_set(c, true)?;
    if !c.eat(' ') || c.rest().is_empty() {
        return Err(ExpositionProblem::MissingValue);
    }
    sample_value(c.token())?;
    if c.eat(' ') {
        seconds_timestamp(c.token())?;
    }
    Ok(())
}

const BLANKS: [char; 2] = [' ', '\t'];

/// The start of `text` for an error message: up to the first blank, at most 40 characters.
fn found(text: &str) -> String {
    let word = text.split(BLANKS).next().unwrap_or("");
    let word = if word.is_empty() { text } else { word };
    if word.is_empty() {
        return "end of line".to_owned();
    }
    match word.char_indices().nth(40) {
        Some((i, _)) => format!("{}…", &word[..i]),
        None => word.to_owned(),
    }
}

/// `{name="value",...}`; the cursor stands on `{`. Sorted by name, duplicates refused.
fn label_set(c: &mut Cursor<'_>, strict: bool) -> Result<Vec<(String, String)>, ExpositionProblem> {
    let blanks = |c: &mut Cursor<'_>| {
        if !strict {
            c.skip_blanks();
        }
    };
    c.eat('{');
    let mut labels: Vec<(String, String)> = Vec::new();
    blanks(c);
    if !c.eat('}') {
        loop {
            let name = c
                .label_name()
                .ok_or_else(|| ExpositionProblem::ExpectedLabelName(found(c.rest())))?
                .to_owned();
            blanks(c);
            if !c.eat('=') {
                return Err(ExpositionProblem::ExpectedEquals(name));
            }
            blanks(c);
            if !c.eat('"') {
                return Err(ExpositionProblem::ExpectedQuote(name));
            }
            let value = label_value(c, strict, &name)?;
            labels.push((name, value));
            blanks(c);
            if c.eat('}') {
                break;
            }
            if !c.eat(',') {
                let name = labels.pop().map(|(n, _)| n).unwrap_or_default();
                return Err(ExpositionProblem::ExpectedCommaOrBrace(name));
            }
            blanks(c);
            // 0.0.4 allows a comma before `}`.
            if !strict && c.eat('}') {
                break;
            }
        }
    }
    labels.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some(pair) = labels.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(ExpositionProblem::DuplicateLabel(pair[0].0.clone()));
    }
    Ok(labels)
}

/// A label value after its opening `"`, up to and including the closing one, unescaped.
fn label_value(c: &mut Cursor<'_>, strict: bool, name: &str) -> Result<String, ExpositionProblem> {
    let mut value = String::new();
    let mut chars = c.rest().char_indices();
    while let Some((i, ch)) = chars.next() {
        match ch {
            '"' => {
                c.pos += i + 1;
                return Ok(value);
            }
            '\\' => match chars.next().map(|(_, e)| e) {
                Some('\\') => value.push('\\'),
                Some('"') => value.push('"'),
                Some('n') => value.push('\n'),
                Some(other) if strict => return Err(ExpositionProblem::UnknownEscape(other)),
                // Prometheus keeps unknown 0.0.4 escapes as written.
                Some(other) => {
                    value.push('\\');
                    value.push(other);
                }
                None => break,
            },
            ch => value.push(ch),
        }
    }
    Err(ExpositionProblem::UnterminatedLabelValue(name.to_owned()))
}

/// A HELP text with `\\` and `\n` unescaped (and `\"` in OpenMetrics); other backslashes stay.
fn unescape_help(text: &str, openmetrics: bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(ch) = chars.next() {
        if ch != '\\' {
            out.push(ch);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if openmetrics => out.push('"'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// A float as Go's `ParseFloat` reads it for Prometheus: decimal, exponent, `NaN`, `+Inf`,
/// `-Inf` (the special words in any case).
fn sample_value(token: &str) -> Result<f64, ExpositionProblem> {
    token
        .parse::<f64>()
        .map_err(|_| ExpositionProblem::BadValue(token.to_owned()))
}

/// A 0.0.4 timestamp: whole milliseconds since the epoch.
fn millisecond_timestamp(token: &str) -> Result<i64, ExpositionProblem> {
    token.parse::<i64>().map_err(|_| {
        ExpositionProblem::BadTimestamp(
            token.to_owned(),
            "milliseconds since the epoch, a whole number",
        )
    })
}

/// An OpenMetrics timestamp: seconds since the epoch, with decimals; rounded to milliseconds.
fn seconds_timestamp(token: &str) -> Result<i64, ExpositionProblem> {
    let bad =
        || ExpositionProblem::BadTimestamp(token.to_owned(), "seconds since the epoch, a number");
    let seconds = token.parse::<f64>().map_err(|_| bad())?;
    let ms = (seconds * 1000.0).round();
    // i64::MAX is about 9.22e18; stay well inside it so the cast cannot saturate.
    if !ms.is_finite() || ms.abs() >= 9e18 {
        return Err(bad());
    }
    #[expect(
        clippy::cast_possible_truncation,
        reason = "checked to be in range above"
    )]
    Ok(ms as i64)
}

/// A position in one line.
struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str) -> Cursor<'a> {
        Cursor { text, pos: 0 }
    }

    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn eat(&mut self, ch: char) -> bool {
        let hit = self.peek() == Some(ch);
        if hit {
            self.pos += ch.len_utf8();
        }
        hit
    }

    fn eat_str(&mut self, s: &str) -> bool {
        let hit = self.rest().starts_with(s);
        if hit {
            self.pos += s.len();
        }
        hit
    }

    /// Skips blanks and tabs; true if there were any.
    fn skip_blanks(&mut self) -> bool {
        let rest = self.rest();
        let skipped = rest.len() - rest.trim_start_matches(BLANKS).len();
        self.pos += skipped;
        skipped > 0
    }

    /// Everything up to the next blank or tab.
    fn token(&mut self) -> &'a str {
        let rest = self.rest();
        let len = rest.find(BLANKS).unwrap_or(rest.len());
        self.pos += len;
        &rest[..len]
    }

    fn ident(&mut self, first: fn(u8) -> bool, next: fn(u8) -> bool) -> Option<&'a str> {
        let rest = self.rest().as_bytes();
        if !rest.first().is_some_and(|&b| first(b)) {
            return None;
        }
        let len = 1 + rest[1..].iter().take_while(|&&b| next(b)).count();
        let start = self.pos;
        self.pos += len;
        Some(&self.text[start..self.pos])
    }

    /// `[a-zA-Z_:][a-zA-Z0-9_:]*`
    fn metric_name(&mut self) -> Option<&'a str> {
        self.ident(
            |b| b.is_ascii_alphabetic() || b == b'_' || b == b':',
            |b| b.is_ascii_alphanumeric() || b == b'_' || b == b':',
        )
    }

    /// `[a-zA-Z_][a-zA-Z0-9_]*`
    fn label_name(&mut self) -> Option<&'a str> {
        self.ident(
            |b| b.is_ascii_alphabetic() || b == b'_',
            |b| b.is_ascii_alphanumeric() || b == b'_',
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Selectors
// ---------------------------------------------------------------------------------------------

/// A PromQL instant-vector selector: `name{label="value",label!~"a|b"}`, `name`, or
/// `{__name__="name",...}`. Values are quoted with `"`, `'` (Go escapes `\\ \" \' \n \t \r`) or
/// backquotes (raw).
///
/// Regex matchers (`=~`, `!~`) are anchored, as in PromQL, and only a subset is supported because
/// pupitre-core has no regex engine: alternatives separated by `|`, each a literal with an
/// optional `.*` at its start and/or end (`tmpfs|overlay`, `sd.*`, `.*-backup`, `.*ceph.*`).
/// Other special characters are literals when escaped with `\` (`.*\.example\.com` in
/// backquotes). `.` matches any character, newline included, as in Prometheus 3.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selector {
    name: Option<String>,
    matchers: Vec<Matcher>,
}

/// One label matcher of a [`Selector`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Matcher {
    pub label: String,
    pub op: MatchOp,
    /// As written (unquoted); for regex operators, the regex.
    pub value: String,
    alternatives: Vec<Alternative>,
}

/// The four PromQL matching operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchOp {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~`
    RegexMatch,
    /// `!~`
    RegexNoMatch,
}

impl MatchOp {
    fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::RegexMatch => "=~",
            MatchOp::RegexNoMatch => "!~",
        }
    }
}

/// One `|` alternative of the supported regex subset: `[.*]literal[.*]`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Alternative {
    any_prefix: bool,
    literal: String,
    any_suffix: bool,
}

impl Alternative {
    fn matches(&self, text: &str) -> bool {
        match (self.any_prefix, self.any_suffix) {
            (false, false) => text == self.literal,
            (true, false) => text.ends_with(&self.literal),
            (false, true) => text.starts_with(&self.literal),
            (true, true) => text.contains(&self.literal),
        }
    }
}

/// Why a selector was refused. Displays as `"up{job}" column 7: expected one of ...`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("\"{input}\" column {column}: {problem}")]
pub struct SelectorError {
    pub input: String,
    /// 1-based, in characters.
    pub column: usize,
    pub problem: SelectorProblem,
}

/// What is wrong with a selector.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SelectorProblem {
    #[error("the selector is empty")]
    Empty,
    #[error("expected a metric name or `{{`")]
    ExpectedNameOrBrace,
    #[error("expected a label name")]
    ExpectedLabelName,
    #[error("expected one of `=`, `!=`, `=~`, `!~`")]
    ExpectedOperator,
    #[error("expected a value quoted with `\"`, `'` or `` ` ``")]
    ExpectedString,
    #[error("the quoted value is not closed")]
    UnterminatedString,
    #[error("unknown escape `\\{0}` (use `\\\\`, `\\\"`, `\\'`, `\\n`, `\\t` or `\\r`)")]
    UnknownEscape(char),
    #[error("expected `,` or `}}`")]
    ExpectedCommaOrBrace,
    #[error("unexpected text after the selector")]
    TrailingText,
    #[error("the metric name is given twice (before `{{` and as `__name__`)")]
    NameTwice,
    #[error("a selector needs a metric name or a matcher that does not match the empty string")]
    MatchesEverything,
    #[error(
        "unsupported regex `{regex}`: {reason}; supported are alternatives of literals with an \
         optional `.*` at the start or end of each (`tmpfs|overlay`, `sd.*`, `.*-backup`), other \
         special characters escaped with `\\`"
    )]
    UnsupportedRegex { regex: String, reason: String },
}

impl Selector {
    /// Parses a selector; surrounding blanks are allowed.
    pub fn parse(text: &str) -> Result<Selector, SelectorError> {
        let mut c = Cursor::new(text);
        Selector::parse_inner(&mut c).map_err(|problem| SelectorError {
            input: text.to_owned(),
            column: text[..c.pos.min(text.len())].chars().count() + 1,
            problem,
        })
    }

    fn parse_inner(c: &mut Cursor<'_>) -> Result<Selector, SelectorProblem> {
        skip_space(c);
        if c.rest().is_empty() {
            return Err(SelectorProblem::Empty);
        }
        let name = c.metric_name().map(str::to_owned);
        skip_space(c);
        let mut matchers = Vec::new();
        if c.eat('{') {
            loop {
                skip_space(c);
                if c.eat('}') {
                    break;
                }
                let matcher_start = c.pos;
                let label = c
                    .label_name()
                    .ok_or(SelectorProblem::ExpectedLabelName)?
                    .to_owned();
                skip_space(c);
                let op = if c.eat_str("=~") {
                    MatchOp::RegexMatch
                } else if c.eat_str("!~") {
                    MatchOp::RegexNoMatch
                } else if c.eat_str("!=") {
                    MatchOp::NotEqual
                } else if c.eat('=') {
                    MatchOp::Equal
                } else {
                    return Err(SelectorProblem::ExpectedOperator);
                };
                skip_space(c);
                let value_start = c.pos;
                let value = quoted(c)?;
                let alternatives = match op {
                    MatchOp::RegexMatch | MatchOp::RegexNoMatch => {
                        parse_regex(&value).inspect_err(|_| c.pos = value_start)?
                    }
                    MatchOp::Equal | MatchOp::NotEqual => Vec::new(),
                };
                if label == "__name__" && name.is_some() {
                    c.pos = matcher_start;
                    return Err(SelectorProblem::NameTwice);
                }
                matchers.push(Matcher {
                    label,
                    op,
                    value,
                    alternatives,
                });
                skip_space(c);
                if c.eat('}') {
                    break;
                }
                if !c.eat(',') {
                    return Err(SelectorProblem::ExpectedCommaOrBrace);
                }
            }
        } else if name.is_none() {
            return Err(SelectorProblem::ExpectedNameOrBrace);
        }
        skip_space(c);
        if !c.rest().is_empty() {
            return Err(SelectorProblem::TrailingText);
        }
        let selector = Selector { name, matchers };
        if selector.name.is_none() && selector.matchers.iter().all(|m| m.matches_value("")) {
            c.pos = 0;
            return Err(SelectorProblem::MatchesEverything);
        }
        Ok(selector)
    }

    /// The metric name before `{`, if one was written there.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    pub fn matchers(&self) -> &[Matcher] {
        &self.matchers
    }

    /// Whether the sample's name and every matcher agree. An absent label has the value `""`.
    pub fn matches(&self, sample: &Sample) -> bool {
        self.name.as_ref().is_none_or(|n| *n == sample.name)
            && self
                .matchers
                .iter()
                .all(|m| m.matches_value(sample.label(&m.label)))
    }

    /// The samples that match, in their order.
    pub fn select<'s>(&self, samples: &'s [Sample]) -> Vec<&'s Sample> {
        samples.iter().filter(|s| self.matches(s)).collect()
    }
}

impl Matcher {
    /// Whether a label value satisfies this matcher.
    pub fn matches_value(&self, value: &str) -> bool {
        match self.op {
            MatchOp::Equal => value == self.value,
            MatchOp::NotEqual => value != self.value,
            MatchOp::RegexMatch => self.alternatives.iter().any(|a| a.matches(value)),
            MatchOp::RegexNoMatch => !self.alternatives.iter().any(|a| a.matches(value)),
        }
    }
}

/// `name{label="value",...}`, values double-quoted and escaped; `name` alone without matchers.
impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = &self.name {
            f.write_str(name)?;
        }
        if self.matchers.is_empty() && self.name.is_some() {
            return Ok(());
        }
        f.write_char('{')?;
        for (i, m) in self.matchers.iter().enumerate() {
            if i > 0 {
                f.write_char(',')?;
            }
            write!(f, "{}{}\"", m.label, m.op.as_str())?;
            write_escaped(f, &m.value)?;
            f.write_char('"')?;
        }
        f.write_char('}')
    }
}

fn skip_space(c: &mut Cursor<'_>) {
    let rest = c.rest();
    c.pos += rest.len() - rest.trim_start().len();
}

/// A PromQL string at the cursor, unquoted.
fn quoted(c: &mut Cursor<'_>) -> Result<String, SelectorProblem> {
    let quote = match c.peek() {
        Some(q @ ('"' | '\'' | '`')) => q,
        _ => return Err(SelectorProblem::ExpectedString),
    };
    let start = c.pos;
    c.pos += 1;
    let mut value = String::new();
    let mut chars = c.rest().char_indices();
    while let Some((i, ch)) = chars.next() {
        if ch == quote {
            c.pos += i + 1;
            return Ok(value);
        }
        if ch == '\\' && quote != '`' {
            let escaped = match chars.next() {
                Some((_, e @ ('\\' | '"' | '\''))) => e,
                Some((_, 'n')) => '\n',
                Some((_, 't')) => '\t',
                Some((_, 'r')) => '\r',
                Some((j, other)) => {
                    c.pos += j - 1;
                    return Err(SelectorProblem::UnknownEscape(other));
                }
                None => break,
            };
            value.push(escaped);
        } else {
            value.push(ch);
        }
    }
    c.pos = start;
    Err(SelectorProblem::UnterminatedString)
}

/// The supported regex subset (see [`Selector`]).
fn parse_regex(regex: &str) -> Result<Vec<Alternative>, SelectorProblem> {
    let unsupported = |reason: String| SelectorProblem::UnsupportedRegex {
        regex: regex.to_owned(),
        reason,
    };
    let mut alternatives = Vec::new();
    let mut current = Alternative {
        any_prefix: false,
        literal: String::new(),
        any_suffix: false,
    };
    // Position within the current alternative, counting characters read.
    let mut at_start = true;
    let mut chars = regex.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '|' => {
                alternatives.push(std::mem::replace(
                    &mut current,
                    Alternative {
                        any_prefix: false,
                        literal: String::new(),
                        any_suffix: false,
                    },
                ));
                at_start = true;
                continue;
            }
            _ if current.any_suffix => {
                return Err(unsupported(
                    "`.*` is only supported at the start or end".to_owned(),
                ));
            }
            '\\' => match chars.next() {
                Some(e) if "\\.+*?()|[]{}^$-/".contains(e) => current.literal.push(e),
                Some(e) => {
                    return Err(unsupported(format!(
                        "`\\{e}` (character classes and escapes other than special characters)"
                    )));
                }
                None => return Err(unsupported("it ends with `\\`".to_owned())),
            },
            '.' if chars.peek() == Some(&'*') => {
                chars.next();
                let at_end = matches!(chars.peek(), None | Some('|'));
                if at_start && !current.any_prefix {
                    current.any_prefix = true;
                    // `.*` alone is both; keep it as a prefix.
                } else if at_end {
                    current.any_suffix = true;
                } else {
                    return Err(unsupported(
                        "`.*` is only supported at the start or end".to_owned(),
                    ));
                }
            }
            '.' | '+' | '*' | '?' | '(' | ')' | '[' | ']' | '{' | '}' | '^' | '$' => {
                return Err(unsupported(format!("`{ch}` is not supported")));
            }
            ch => current.literal.push(ch),
        }
        at_start = false;
    }
    alternatives.push(current);
    Ok(alternatives)
}

// ---------------------------------------------------------------------------------------------
// Thresholds on one series
// ---------------------------------------------------------------------------------------------

/// The outcome of thresholds put on the one series a selector picks.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesVerdict {
    pub state: State,
    /// One line, such as `node_load1 = 3.2 (WARNING: outside 2)`.
    pub summary: String,
    /// More lines (the series found); empty when there is nothing to add.
    pub detail: String,
    /// The series judged, when exactly one matched.
    pub series: Option<Sample>,
}

/// At most this many series are listed when a selector matches several.
const LISTED_SERIES: usize = 20;

/// Judges the one sample `selector` picks from `samples` against `thresholds`.
///
/// UNKNOWN when no sample or more than one matches, or when the value is NaN; otherwise
/// [`Thresholds::evaluate`], with the range that alerted in the summary.
pub fn evaluate_series(
    samples: &[Sample],
    selector: &Selector,
    thresholds: &Thresholds,
) -> SeriesVerdict {
    let found = selector.select(samples);
    let unknown = |summary: String, detail: String, series: Option<Sample>| SeriesVerdict {
        state: State::Unknown,
        summary,
        detail,
        series,
    };
    let sample = match found.as_slice() {
        [] => {
            return unknown(format!("no series matches {selector}"), String::new(), None);
        }
        [one] => *one,
        many => {
            let mut detail = String::new();
            for s in many.iter().take(LISTED_SERIES) {
                let _ = writeln!(detail, "{s} {}", s.value);
            }
            if many.len() > LISTED_SERIES {
                let _ = writeln!(detail, "… and {} more", many.len() - LISTED_SERIES);
            }
            return unknown(
                format!(
                    "{} series match {selector}; add labels to pick one",
                    many.len()
                ),
                detail.trim_end().to_owned(),
                None,
            );
        }
    };
    let detail = sample.to_string();
    if sample.value.is_nan() {
        return unknown(
            format!("{selector} = NaN, which no threshold can judge"),
            detail,
            Some(sample.clone()),
        );
    }
    let state = thresholds.evaluate(sample.value);
    let alerted = match state {
        State::Critical => thresholds.critical,
        State::Warning => thresholds.warning,
        State::Ok | State::Unknown => None,
    };
    let why = match alerted {
        Some(range) => format!("{state}: {}", describe(&range)),
        None => state.to_string(),
    };
    SeriesVerdict {
        state,
        summary: format!("{selector} = {} ({why})", sample.value),
        detail,
        series: Some(sample.clone()),
    }
}

/// `outside 10:20` or `inside 10:20`.
fn describe(range: &Range) -> String {
    let text = range.to_string();
    match text.strip_prefix('@') {
        Some(inner) => format!("inside {inner}"),
        None => format!("outside {text}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_samples: 1000,
        max_line_bytes: 4096,
    };

    fn text(body: &str) -> Exposition {
        parse(body.as_bytes(), Format::Text004, LIMITS).expect(body)
    }

    fn om(body: &str) -> Exposition {
        parse(body.as_bytes(), Format::OpenMetrics, LIMITS).expect(body)
    }

    /// Each sample as `name{labels} value [timestamp]`, values printed by Rust.
    fn lines(e: &Exposition) -> Vec<String> {
        e.samples
            .iter()
            .map(|s| match s.timestamp_ms {
                Some(t) => format!("{s} {} @{t}", s.value),
                None => format!("{s} {}", s.value),
            })
            .collect()
    }

    /// The example of the Prometheus text-format documentation.
    #[test]
    fn prometheus_documentation_example() {
        let body = r#"# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1395066363000
http_requests_total{method="post",code="400"}    3 1395066363000

# Escaping in label values:
msdos_file_access_time_seconds{path="C:\\DIR\\FILE.TXT",error="Cannot find file:\n\"FILE.TXT\""} 1.458255915e9

# Minimalistic line:
metric_without_timestamp_and_labels 12.47

# A weird metric from before the epoch:
something_weird{problem="division by zero"} +Inf -3982045

# A histogram, which has a pretty complex representation in the text format:
# HELP http_request_duration_seconds A histogram of the request duration.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.05"} 24054
http_request_duration_seconds_bucket{le="0.1"} 33444
http_request_duration_seconds_bucket{le="0.2"} 100392
http_request_duration_seconds_bucket{le="0.5"} 129389
http_request_duration_seconds_bucket{le="1"} 133988
http_request_duration_seconds_bucket{le="+Inf"} 144320
http_request_duration_seconds_sum 53423
http_request_duration_seconds_count 144320

# Finally a summary, which has a complex representation, too:
# HELP rpc_duration_seconds A summary of the RPC duration in seconds.
# TYPE rpc_duration_seconds summary
rpc_duration_seconds{quantile="0.01"} 3102
rpc_duration_seconds{quantile="0.05"} 3272
rpc_duration_seconds{quantile="0.5"} 4773
rpc_duration_seconds{quantile="0.9"} 9001
rpc_duration_seconds{quantile="0.99"} 76656
rpc_duration_seconds_sum 1.7560473e+07
rpc_duration_seconds_count 2693
"#;
        let e = text(body);
        assert_eq!(
            lines(&e),
            [
                r#"http_requests_total{code="200",method="post"} 1027 @1395066363000"#,
                r#"http_requests_total{code="400",method="post"} 3 @1395066363000"#,
                r#"msdos_file_access_time_seconds{error="Cannot find file:\n\"FILE.TXT\"",path="C:\\DIR\\FILE.TXT"} 1458255915"#,
                "metric_without_timestamp_and_labels 12.47",
                r#"something_weird{problem="division by zero"} inf @-3982045"#,
                r#"http_request_duration_seconds_bucket{le="0.05"} 24054"#,
                r#"http_request_duration_seconds_bucket{le="0.1"} 33444"#,
                r#"http_request_duration_seconds_bucket{le="0.2"} 100392"#,
                r#"http_request_duration_seconds_bucket{le="0.5"} 129389"#,
                r#"http_request_duration_seconds_bucket{le="1"} 133988"#,
                r#"http_request_duration_seconds_bucket{le="+Inf"} 144320"#,
                "http_request_duration_seconds_sum 53423",
                "http_request_duration_seconds_count 144320",
                r#"rpc_duration_seconds{quantile="0.01"} 3102"#,
                r#"rpc_duration_seconds{quantile="0.05"} 3272"#,
                r#"rpc_duration_seconds{quantile="0.5"} 4773"#,
                r#"rpc_duration_seconds{quantile="0.9"} 9001"#,
                r#"rpc_duration_seconds{quantile="0.99"} 76656"#,
                "rpc_duration_seconds_sum 17560473",
                "rpc_duration_seconds_count 2693",
            ]
        );
        let path = &e.samples[2].labels[1];
        assert_eq!(path, &("path".to_owned(), r"C:\DIR\FILE.TXT".to_owned()));
        assert_eq!(e.samples[2].labels[0].1, "Cannot find file:\n\"FILE.TXT\"");
        let families: Vec<_> = e
            .families
            .iter()
            .map(|f| (f.name.as_str(), f.metric_type, f.help.as_deref()))
            .collect();
        assert_eq!(
            families,
            [
                (
                    "http_requests_total",
                    Some(MetricType::Counter),
                    Some("The total number of HTTP requests.")
                ),
                (
                    "http_request_duration_seconds",
                    Some(MetricType::Histogram),
                    Some("A histogram of the request duration.")
                ),
                (
                    "rpc_duration_seconds",
                    Some(MetricType::Summary),
                    Some("A summary of the RPC duration in seconds.")
                ),
            ]
        );
        let family = |name| e.family_of(name).map(|f| f.name.as_str());
        assert_eq!(
            family("http_request_duration_seconds_bucket"),
            Some("http_request_duration_seconds")
        );
        assert_eq!(
            family("rpc_duration_seconds_count"),
            Some("rpc_duration_seconds")
        );
        assert_eq!(family("http_requests_total"), Some("http_requests_total"));
        assert_eq!(family("metric_without_timestamp_and_labels"), None);
    }

    #[test]
    fn text_format_details() {
        let e = text(concat!(
            "# HELP escaped A \\\\ backslash\\nand a \\\"quote\n",
            "# TYPE escaped gauge\n",
            "#comment without a space\n",
            "# UNIT escaped seconds\n",
            "# EOF\n",
            "escaped NaN\n",
            "  \tindented{ a = \"1\" , b=\"2\", } -Inf\n",
            "glued{a=\"x\"}7\n",
            "empty{} 1e-3\n",
            "unknown_escape{a=\"\\t\"} 1\n",
            "untyped_one 0 \t\n",
            "# TYPE untyped_one untyped\n",
            "utf8{city=\"Zürich\"} 1\n",
        ));
        assert_eq!(
            lines(&e),
            [
                "escaped NaN",
                r#"indented{a="1",b="2"} -inf"#,
                r#"glued{a="x"} 7"#,
                "empty 0.001",
                r#"unknown_escape{a="\\t"} 1"#,
                "untyped_one 0",
                r#"utf8{city="Zürich"} 1"#,
            ]
        );
        assert_eq!(
            e.families[0].help.as_deref(),
            Some("A \\ backslash\nand a \\\"quote")
        );
        assert_eq!(e.families[0].unit, None, "# UNIT is a comment in 0.0.4");
        assert_eq!(e.families[1].metric_type, Some(MetricType::Untyped));
        assert_eq!(text(""), Exposition::default());
    }

    /// The OpenMetrics specification's examples.
    #[test]
    fn openmetrics_specification_examples() {
        let e = om(concat!(
            "# TYPE acme_http_router_request_seconds summary\n",
            "# UNIT acme_http_router_request_seconds seconds\n",
            "# HELP acme_http_router_request_seconds Latency though all of ACME's HTTP request router.\n",
            "acme_http_router_request_seconds_sum{path=\"/api/v1\",method=\"GET\"} 9036.32\n",
            "acme_http_router_request_seconds_count{path=\"/api/v1\",method=\"GET\"} 807283.0\n",
            "acme_http_router_request_seconds_created{path=\"/api/v1\",method=\"GET\"} 1605281325.0\n",
            "# TYPE go_goroutines gauge\n",
            "# HELP go_goroutines Number of goroutines that currently exist.\n",
            "go_goroutines 69\n",
            "# TYPE process_cpu_seconds counter\n",
            "# UNIT process_cpu_seconds seconds\n",
            "# HELP process_cpu_seconds Total user and system CPU time spent in seconds.\n",
            "process_cpu_seconds_total 4.20072246e+06\n",
            "# TYPE foo histogram\n",
            "foo_bucket{le=\"0.0\"} 0\n",
            "foo_bucket{le=\"1e-05\"} 0\n",
            "foo_bucket{le=\"0.1\"} 8 # {trace_id=\"KOO5S4vxi0o\"} 0.67\n",
            "foo_bucket{le=\"1.0\"} 10 # {trace_id=\"oHg5SJYRHA0\"} 9.8 1520879607.789\n",
            "foo_bucket{le=\"+Inf\"} 17\n",
            "foo_count 17\n",
            "foo_sum 324789.3\n",
            "foo_created 1520430000.123\n",
            "# TYPE a_counter counter\n",
            "a_counter_total{a=\"b\"} 1 1520879607.789 # {id=\"x\"} 1 1520879607.5\n",
            "# TYPE ss stateset\n",
            "ss{ss=\"a\"} 1\n",
            "ss{ss=\"b\"} 0\n",
            "# TYPE build info\n",
            "build_info{version=\"1.0\"} 1\n",
            "# TYPE gh gaugehistogram\n",
            "gh_bucket{le=\"+Inf\"} 3\n",
            "gh_gcount 3\n",
            "gh_gsum 2\n",
            "# TYPE u unknown\n",
            "u 1 -1.5\n",
            "# EOF\n",
        ));
        assert_eq!(
            lines(&e),
            [
                r#"acme_http_router_request_seconds_sum{method="GET",path="/api/v1"} 9036.32"#,
                r#"acme_http_router_request_seconds_count{method="GET",path="/api/v1"} 807283"#,
                r#"acme_http_router_request_seconds_created{method="GET",path="/api/v1"} 1605281325"#,
                "go_goroutines 69",
                "process_cpu_seconds_total 4200722.46",
                r#"foo_bucket{le="0.0"} 0"#,
                r#"foo_bucket{le="1e-05"} 0"#,
                r#"foo_bucket{le="0.1"} 8"#,
                r#"foo_bucket{le="1.0"} 10"#,
                r#"foo_bucket{le="+Inf"} 17"#,
                "foo_count 17",
                "foo_sum 324789.3",
                "foo_created 1520430000.123",
                r#"a_counter_total{a="b"} 1 @1520879607789"#,
                r#"ss{ss="a"} 1"#,
                r#"ss{ss="b"} 0"#,
                r#"build_info{version="1.0"} 1"#,
                r#"gh_bucket{le="+Inf"} 3"#,
                "gh_gcount 3",
                "gh_gsum 2",
                "u 1 @-1500",
            ]
        );
        let acme = &e.families[0];
        assert_eq!(acme.metric_type, Some(MetricType::Summary));
        assert_eq!(acme.unit.as_deref(), Some("seconds"));
        assert_eq!(
            acme.help.as_deref(),
            Some("Latency though all of ACME's HTTP request router.")
        );
        let types: Vec<_> = e.families.iter().map(|f| f.metric_type).collect();
        use MetricType::*;
        assert_eq!(
            types,
            [
                Some(Summary),
                Some(Gauge),
                Some(Counter),
                Some(Histogram),
                Some(Counter),
                Some(StateSet),
                Some(Info),
                Some(GaugeHistogram),
                Some(Unknown),
            ]
        );
        assert_eq!(
            e.family_of("process_cpu_seconds_total")
                .map(|f| &f.name[..]),
            Some("process_cpu_seconds")
        );
        assert_eq!(
            e.family_of("build_info").map(|f| &f.name[..]),
            Some("build")
        );
        // Escapes in OpenMetrics.
        let e = om("# HELP m a \\\"b\\\" \\\\ \\n\nm{a=\"\\\\ \\\" \\n\"} 1\n# EOF");
        assert_eq!(e.samples[0].labels[0].1, "\\ \" \n");
        assert_eq!(e.families[0].help.as_deref(), Some("a \"b\" \\ \n"));
        assert_eq!(om("# EOF").samples, []);
    }

    /// `(format, body, line, message)`: every bad input and its error.
    #[test]
    fn bad_bodies() {
        use Format::{OpenMetrics as O, Text004 as T};
        #[rustfmt::skip]
        let table: &[(Format, &str, usize, &str)] = &[
            (T, "1abc 1\n", 1, "expected a metric name, found `1abc`"),
            (T, "a 1\n{a=\"b\"} 1\n", 2, "expected a metric name, found `{a=\"b\"}`"),
            (T, "metric\n", 1, "the sample has no value"),
            (T, "metric{a=\"b\"}\n", 1, "the sample has no value"),
            (T, "metric one\n", 1, "`one` is not a sample value (a number, `NaN`, `+Inf` or `-Inf`)"),
            (T, "metric 1,5\n", 1, "`1,5` is not a sample value (a number, `NaN`, `+Inf` or `-Inf`)"),
            (T, "metric 1 1.5\n", 1, "`1.5` is not a timestamp (milliseconds since the epoch, a whole number)"),
            (T, "metric 1 2 3\n", 1, "unexpected `3` after the sample"),
            (T, "metric-x 1\n", 1, "expected a space before the value, found `-x`"),
            (T, "metric{a=\"b\" 1\n", 1, "expected `,` or `}` after the value of label `a`"),
            (T, "metric{a=\"b 1\n", 1, "the value of label `a` has no closing `\"`"),
            (T, "metric{a} 1\n", 1, "expected `=` after label `a`"),
            (T, "metric{a=b} 1\n", 1, "expected a `\"` to open the value of label `a`"),
            (T, "metric{,} 1\n", 1, "expected a label name, found `,}`"),
            (T, "metric{a=\"1\",a=\"2\"} 1\n", 1, "label `a` appears twice"),
            (T, "metric{\"my.label\"=\"1\"} 1\n", 1, "expected a label name, found `\"my.label\"=\"1\"}`"),
            (T, "# TYPE m gauge\n# TYPE m counter\n", 2, "a second `# TYPE` line for `m`"),
            (T, "# HELP m a\n# HELP m b\n", 2, "a second `# HELP` line for `m`"),
            (T, "# TYPE m\n", 1, "`# TYPE m` needs a type"),
            (T, "# TYPE m info\n", 1, "`info` is not a metric type in the text format 0.0.4"),
            (T, "# TYPE\n", 1, "`# TYPE` needs a metric name"),
            (T, "metric 1", 1, "the last line does not end with a line feed; the body was probably truncated"),
            (T, "metric 1\nmetric 2", 2, "the last line does not end with a line feed; the body was probably truncated"),
            (T, "metric 1 # {a=\"b\"} 1\n", 1, "`#` is not a timestamp (milliseconds since the epoch, a whole number)"),
            (O, "metric 1\n", 2, "the body does not end with `# EOF`; it was probably truncated"),
            (O, "", 1, "the body does not end with `# EOF`; it was probably truncated"),
            (O, "metric 1\n# EOF\nmetric 2\n", 3, "nothing may follow `# EOF`"),
            (O, "# EOF\n\n", 2, "nothing may follow `# EOF`"),
            (O, "metric 1\n\n# EOF\n", 2, "blank lines are not allowed in OpenMetrics"),
            (O, "# a comment\n# EOF\n", 1, "`#` is not a `# HELP`, `# TYPE`, `# UNIT` or `# EOF` line; OpenMetrics has no comments"),
            (O, "metric  1\n# EOF\n", 1, "`` is not a sample value (a number, `NaN`, `+Inf` or `-Inf`)"),
            (O, "metric{a=\"1\",} 1\n# EOF\n", 1, "expected a label name, found `}`"),
            (O, "metric{a = \"1\"} 1\n# EOF\n", 1, "expected `=` after label `a`"),
            (O, "metric{a=\"\\t\"} 1\n# EOF\n", 1, "unknown escape `\\t` in a label value (only `\\\\`, `\\\"` and `\\n` exist)"),
            (O, "metric 1 abc\n# EOF\n", 1, "`abc` is not a timestamp (seconds since the epoch, a number)"),
            (O, "metric 1 1e30\n# EOF\n", 1, "`1e30` is not a timestamp (seconds since the epoch, a number)"),
            (O, "metric 1 # x\n# EOF\n", 1, "bad exemplar: expected a label name, found `x`"),
            (O, "metric 1 # {a=\"b\"}\n# EOF\n", 1, "bad exemplar: the sample has no value"),
            (O, "metric 1 # {a=\"b\"} x\n# EOF\n", 1, "bad exemplar: `x` is not a sample value (a number, `NaN`, `+Inf` or `-Inf`)"),
            (O, "# TYPE m untyped\n# EOF\n", 1, "`untyped` is not a metric type in OpenMetrics"),
            (O, "# UNIT m_bytes seconds\n# EOF\n", 1, "the family name `m_bytes` does not end with its unit, `_seconds`"),
            (O, "# UNIT m_s s\n# UNIT m_s s\n# EOF\n", 2, "a second `# UNIT` line for `m_s`"),
            (O, "metric 1\n# EOF", 1, ""),
        ];
        for (format, body, line, message) in table {
            let result = parse(body.as_bytes(), *format, LIMITS);
            if message.is_empty() {
                assert!(result.is_ok(), "{body:?}: {result:?}");
                continue;
            }
            let err = result.expect_err(body);
            assert_eq!(
                (err.line, err.problem.to_string()),
                (*line, (*message).to_owned()),
                "{format:?} {body:?}"
            );
            assert_eq!(err.to_string(), format!("line {line}: {message}"));
        }
        let err = parse(b"metric{a=\"\xff\"} 1\n", Format::Text004, LIMITS).expect_err("utf-8");
        assert_eq!(err.to_string(), "line 1: the line is not valid UTF-8");
    }

    #[test]
    fn limits_refuse_huge_bodies_early() {
        let limits = Limits {
            max_samples: 3,
            max_line_bytes: 16,
        };
        // 64 MiB without a line feed: refused after looking at 17 bytes.
        let garbage = vec![b'x'; 64 << 20];
        let err = parse(&garbage, Format::Text004, limits).expect_err("long line");
        assert_eq!(err.to_string(), "line 1: the line is longer than 16 bytes");
        let err = parse(b"a 1\n0123456789abcdef0\n", Format::Text004, limits).expect_err("long");
        assert_eq!(err.to_string(), "line 2: the line is longer than 16 bytes");
        // Exactly at the limit is fine.
        assert!(parse(b"a_23456789abcd 1\n", Format::Text004, limits).is_ok());
        let body = "m 1\n".repeat(1 << 20);
        let err = parse(body.as_bytes(), Format::Text004, limits).expect_err("samples");
        assert_eq!(err.to_string(), "line 4: the body has more than 3 samples");
        assert_eq!(
            text("m 1\nm 2\nm 3\n").samples.len(),
            3,
            "the default limits are generous"
        );
    }

    #[test]
    fn content_types() {
        let table = [
            (
                "text/plain; version=0.0.4; charset=utf-8",
                Some(Format::Text004),
            ),
            ("text/plain", Some(Format::Text004)),
            (
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                Some(Format::OpenMetrics),
            ),
            ("Application/OpenMetrics-Text", Some(Format::OpenMetrics)),
            (
                "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited",
                None,
            ),
            ("text/html", None),
            ("", None),
        ];
        for (content_type, format) in table {
            assert_eq!(
                Format::from_content_type(content_type),
                format,
                "{content_type}"
            );
        }
    }

    fn sample(name: &str, labels: &[(&str, &str)], value: f64) -> Sample {
        let mut labels: Vec<_> = labels
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        labels.sort();
        Sample {
            name: name.to_owned(),
            labels,
            value,
            timestamp_ms: None,
        }
    }

    fn filesystems() -> Vec<Sample> {
        let fs = |device, fstype, mountpoint, value| {
            sample(
                "node_filesystem_avail_bytes",
                &[
                    ("device", device),
                    ("fstype", fstype),
                    ("mountpoint", mountpoint),
                ],
                value,
            )
        };
        vec![
            fs("/dev/sda1", "ext4", "/", 12345678.0),
            fs("/dev/sdb1", "xfs", "/srv/data-backup", 5e9),
            fs("tmpfs", "tmpfs", "/run", 1e8),
            fs(
                "overlay",
                "overlay",
                "/var/lib/docker/overlay2/x/merged",
                2e9,
            ),
            fs("/dev/nvme0n1p1", "vfat", "/boot/efi", f64::NAN),
            sample("node_load1", &[], 0.5),
        ]
    }

    /// `(selector, indexes of the matching samples of filesystems())`.
    #[test]
    fn selectors_select() {
        #[rustfmt::skip]
        let table: &[(&str, &[usize])] = &[
            ("node_filesystem_avail_bytes", &[0, 1, 2, 3, 4]),
            ("node_filesystem_avail_bytes{}", &[0, 1, 2, 3, 4]),
            (r#"node_filesystem_avail_bytes{mountpoint="/"}"#, &[0]),
            (r#" node_filesystem_avail_bytes { mountpoint = '/' } "#, &[0]),
            (r#"node_filesystem_avail_bytes{mountpoint!="/"}"#, &[1, 2, 3, 4]),
            (r#"node_filesystem_avail_bytes{fstype!~"tmpfs|overlay"}"#, &[0, 1, 4]),
            (r#"node_filesystem_avail_bytes{mountpoint="/",fstype!~"tmpfs|overlay"}"#, &[0]),
            (r#"node_filesystem_avail_bytes{device=~"/dev/sd.*"}"#, &[0, 1]),
            (r#"node_filesystem_avail_bytes{mountpoint=~".*-backup"}"#, &[1]),
            (r#"node_filesystem_avail_bytes{mountpoint=~".*docker.*"}"#, &[3]),
            (r#"node_filesystem_avail_bytes{mountpoint=~"/|/boot.*",}"#, &[0, 4]),
            (r#"{__name__="node_load1"}"#, &[5]),
            (r#"{__name__=~"node_.*",mountpoint=""}"#, &[5]),
            (r#"{mountpoint=~".+|/"}"#, &[]),
            (r#"node_load1{mountpoint=""}"#, &[5]),
            (r#"node_load1{mountpoint=~""}"#, &[5]),
            (r#"node_load1{mountpoint!=""}"#, &[]),
            (r#"{fstype=~`vfat|a\.b`}"#, &[4]),
            (r#"node_filesystem_avail_bytes{fstype=~"ext4|"}"#, &[0]),
            ("nothing_like_it", &[]),
        ];
        let samples = filesystems();
        for (text, expected) in table {
            let Ok(selector) = Selector::parse(text) else {
                // `.+` is not supported: that row pins the refusal instead.
                assert!(text.contains(".+"), "{text}: {:?}", Selector::parse(text));
                assert!(expected.is_empty());
                continue;
            };
            let got: Vec<usize> = samples
                .iter()
                .enumerate()
                .filter(|(_, s)| selector.matches(s))
                .map(|(i, _)| i)
                .collect();
            assert_eq!(&got, expected, "{text}");
            assert_eq!(selector.select(&samples).len(), expected.len(), "{text}");
        }
    }

    #[test]
    fn selector_display() {
        let table = [
            ("up", "up"),
            (
                r#" up { job = "a" , x!~'b|c' } "#,
                r#"up{job="a",x!~"b|c"}"#,
            ),
            (r#"{__name__="up"}"#, r#"{__name__="up"}"#),
            (r#"m{a="q\"\\\n"}"#, r#"m{a="q\"\\\n"}"#),
            ("m{a=`raw\\`}", r#"m{a="raw\\"}"#),
            ("m{a=~\"x\\\\.y\"}", r#"m{a=~"x\\.y"}"#),
        ];
        for (text, shown) in table {
            let selector = Selector::parse(text).expect(text);
            assert_eq!(selector.to_string(), shown, "{text}");
            assert_eq!(Selector::parse(shown), Ok(selector), "{text}");
        }
    }

    #[test]
    fn bad_selectors() {
        const REGEX_HELP: &str = "; supported are alternatives of literals with an optional `.*` \
             at the start or end of each (`tmpfs|overlay`, `sd.*`, `.*-backup`), other special \
             characters escaped with `\\`";
        #[rustfmt::skip]
        let table: &[(&str, usize, &str)] = &[
            ("", 1, "the selector is empty"),
            ("   ", 4, "the selector is empty"),
            ("9up", 1, "expected a metric name or `{`"),
            ("up{", 4, "expected a label name"),
            ("up{job}", 7, "expected one of `=`, `!=`, `=~`, `!~`"),
            ("up{job==\"a\"}", 8, "expected a value quoted with `\"`, `'` or `` ` ``"),
            ("up{job=a}", 8, "expected a value quoted with `\"`, `'` or `` ` ``"),
            ("up{job=\"a}", 8, "the quoted value is not closed"),
            ("up{job=\"a\\.b\"}", 10, "unknown escape `\\.` (use `\\\\`, `\\\"`, `\\'`, `\\n`, `\\t` or `\\r`)"),
            ("up{job=\"a\" x=\"b\"}", 12, "expected `,` or `}`"),
            ("up{job=\"a\"} extra", 13, "unexpected text after the selector"),
            ("up{job=\"a\"}[5m]", 12, "unexpected text after the selector"),
            ("up{__name__=\"up\"}", 4, "the metric name is given twice (before `{` and as `__name__`)"),
            ("{}", 1, "a selector needs a metric name or a matcher that does not match the empty string"),
            ("{job=~\".*\"}", 1, "a selector needs a metric name or a matcher that does not match the empty string"),
            ("{job!=\"a\"}", 1, "a selector needs a metric name or a matcher that does not match the empty string"),
        ];
        for (text, column, problem) in table {
            let err = Selector::parse(text).expect_err(text);
            assert_eq!(
                (err.column, err.problem.to_string()),
                (*column, (*problem).to_owned()),
                "{text}"
            );
            assert_eq!(
                err.to_string(),
                format!("\"{text}\" column {column}: {problem}")
            );
        }
        #[rustfmt::skip]
        let regexes: &[(&str, &str)] = &[
            ("sd[a-z]", "`[` is not supported"),
            ("sd.", "`.` is not supported"),
            (".+", "`.` is not supported"),
            ("a+", "`+` is not supported"),
            ("(a|b)", "`(` is not supported"),
            ("^a$", "`^` is not supported"),
            ("a.*b", "`.*` is only supported at the start or end"),
            ("\\\\d+", "`\\d` (character classes and escapes other than special characters)"),
            ("(?i)a", "`(` is not supported"),
        ];
        for (regex, reason) in regexes {
            let text = format!("m{{a=~\"{regex}\"}}");
            let err = Selector::parse(&text).expect_err(&text);
            let shown = regex.replace("\\\\", "\\");
            assert_eq!(
                (err.column, err.problem.to_string()),
                (
                    6,
                    format!("unsupported regex `{shown}`: {reason}{REGEX_HELP}")
                ),
                "{text}"
            );
        }
    }

    #[test]
    fn series_verdicts() {
        let samples = filesystems();
        let root = r#"node_filesystem_avail_bytes{mountpoint="/"}"#;
        type Row<'a> = (&'a str, &'a str, &'a str, State, &'a str);
        #[rustfmt::skip]
        let table: &[Row] = &[
            (root, "", "10000000000:", State::Critical, r#"node_filesystem_avail_bytes{mountpoint="/"} = 12345678 (CRITICAL: outside 10000000000:)"#),
            (root, "20000000:", "1000000:", State::Warning, r#"node_filesystem_avail_bytes{mountpoint="/"} = 12345678 (WARNING: outside 20000000:)"#),
            (root, "10000000:", "1000000:", State::Ok, r#"node_filesystem_avail_bytes{mountpoint="/"} = 12345678 (OK)"#),
            (root, "", "@1:20000000", State::Critical, r#"node_filesystem_avail_bytes{mountpoint="/"} = 12345678 (CRITICAL: inside 1:20000000)"#),
            (r#"node_filesystem_avail_bytes{mountpoint="/nope"}"#, "", "1:", State::Unknown, r#"no series matches node_filesystem_avail_bytes{mountpoint="/nope"}"#),
            (r#"node_filesystem_avail_bytes{fstype!~"tmpfs|overlay"}"#, "", "1:", State::Unknown, r#"3 series match node_filesystem_avail_bytes{fstype!~"tmpfs|overlay"}; add labels to pick one"#),
            (r#"node_filesystem_avail_bytes{mountpoint="/boot/efi"}"#, "", "1:", State::Unknown, r#"node_filesystem_avail_bytes{mountpoint="/boot/efi"} = NaN, which no threshold can judge"#),
            ("node_load1", "", "", State::Ok, "node_load1 = 0.5 (OK)"),
        ];
        for (selector, warning, critical, state, summary) in table {
            let selector = Selector::parse(selector).expect(selector);
            let thresholds = Thresholds::parse(warning, critical).expect(critical);
            let verdict = evaluate_series(&samples, &selector, &thresholds);
            assert_eq!(
                (verdict.state, verdict.summary.as_str()),
                (*state, *summary)
            );
        }
        let selector = Selector::parse(r#"node_filesystem_avail_bytes{fstype!~"tmpfs|overlay"}"#)
            .expect("selector");
        let verdict = evaluate_series(&samples, &selector, &Thresholds::default());
        assert_eq!(
            verdict.detail,
            concat!(
                "node_filesystem_avail_bytes{device=\"/dev/sda1\",fstype=\"ext4\",mountpoint=\"/\"} 12345678\n",
                "node_filesystem_avail_bytes{device=\"/dev/sdb1\",fstype=\"xfs\",mountpoint=\"/srv/data-backup\"} 5000000000\n",
                "node_filesystem_avail_bytes{device=\"/dev/nvme0n1p1\",fstype=\"vfat\",mountpoint=\"/boot/efi\"} NaN",
            )
        );
        assert_eq!(verdict.series, None);
        let selector =
            Selector::parse(r#"node_filesystem_avail_bytes{mountpoint="/"}"#).expect("selector");
        let verdict = evaluate_series(&samples, &selector, &Thresholds::default());
        assert_eq!(verdict.series.as_ref(), Some(&samples[0]));
        assert_eq!(
            verdict.detail,
            r#"node_filesystem_avail_bytes{device="/dev/sda1",fstype="ext4",mountpoint="/"}"#
        );
        // Many matches are listed up to a bound.
        let many: Vec<_> = (0..25)
            .map(|i| sample("m", &[("i", &i.to_string())], 1.0))
            .collect();
        let verdict = evaluate_series(
            &many,
            &Selector::parse("m").expect("m"),
            &Thresholds::default(),
        );
        assert_eq!(verdict.detail.lines().count(), 21);
        assert_eq!(verdict.detail.lines().last(), Some("… and 5 more"));
    }
}
