//! What names a series: a metric name and labels, checked as Prometheus checks them, and what
//! kind of quantity it holds.
//!
//! The source (a check, an agent, a scrape) is the store's business; within a source, a key is
//! unique. Labels are kept sorted by name, and a label with an empty value is no label at all
//! (as in Prometheus), so that two spellings of one series are one key.

use std::fmt;

/// The most labels a series has.
pub const MOST_LABELS: usize = 32;
/// The longest metric or label name, in bytes.
pub const LONGEST_NAME: usize = 200;
/// The longest label value, in bytes.
pub const LONGEST_VALUE: usize = 1024;

/// A metric name and its labels, sorted by name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    name: String,
    labels: Vec<(String, String)>,
}

/// Why a key is not acceptable. The message starts with the field at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SeriesError {
    #[error(
        "name: {0:?} is not a metric name (letters, digits, _ and :, not starting with a digit, at most 200 bytes)"
    )]
    Name(String),
    #[error(
        "labels: {0:?} is not a label name (letters, digits and _, not starting with a digit or __, at most 200 bytes)"
    )]
    LabelName(String),
    #[error("labels: {0:?} is given twice")]
    DuplicateLabel(String),
    #[error("labels: {0} labels, more than 32")]
    TooManyLabels(usize),
    #[error("labels: the value of {0:?} is longer than 1024 bytes")]
    ValueTooLong(String),
}

impl SeriesError {
    /// The field at fault, as named at the start of the message.
    pub fn field(&self) -> &'static str {
        match self {
            SeriesError::Name(_) => "name",
            _ => "labels",
        }
    }
}

impl SeriesKey {
    pub fn new(
        name: &str,
        labels: impl IntoIterator<Item = (String, String)>,
    ) -> Result<SeriesKey, SeriesError> {
        if !is_metric_name(name) {
            return Err(SeriesError::Name(name.to_owned()));
        }
        let mut kept = Vec::new();
        for (label, value) in labels {
            if !is_label_name(&label) {
                return Err(SeriesError::LabelName(label));
            }
            if value.len() > LONGEST_VALUE {
                return Err(SeriesError::ValueTooLong(label));
            }
            if !value.is_empty() {
                kept.push((label, value));
            }
        }
        kept.sort();
        if let Some(pair) = kept.windows(2).find(|pair| pair[0].0 == pair[1].0) {
            return Err(SeriesError::DuplicateLabel(pair[0].0.clone()));
        }
        if kept.len() > MOST_LABELS {
            return Err(SeriesError::TooManyLabels(kept.len()));
        }
        Ok(SeriesKey {
            name: name.to_owned(),
            labels: kept,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn labels(&self) -> &[(String, String)] {
        &self.labels
    }

    /// The value of `label`, if the series has it.
    pub fn label(&self, label: &str) -> Option<&str> {
        self.labels
            .binary_search_by(|(name, _)| name.as_str().cmp(label))
            .ok()
            .map(|index| self.labels[index].1.as_str())
    }
}

/// `name{label="value",…}`, values escaped as in Prometheus's text format.
impl fmt::Display for SeriesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if self.labels.is_empty() {
            return Ok(());
        }
        f.write_str("{")?;
        for (index, (label, value)) in self.labels.iter().enumerate() {
            if index > 0 {
                f.write_str(",")?;
            }
            write!(f, "{label}=\"")?;
            for c in value.chars() {
                match c {
                    '\\' => f.write_str("\\\\")?,
                    '"' => f.write_str("\\\"")?,
                    '\n' => f.write_str("\\n")?,
                    c => write!(f, "{c}")?,
                }
            }
            f.write_str("\"")?;
        }
        f.write_str("}")
    }
}

/// What a series' values are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A level that goes up and down: disk used, temperature, response time.
    Gauge,
    /// A total that only grows, except when its source restarts and it starts again from 0.
    Counter,
    /// A per-second rate already worked out by the source (SNMP interface bit rates).
    Rate,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Gauge, Kind::Counter, Kind::Rate];

    pub fn key(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
            Kind::Rate => "rate",
        }
    }

    pub fn parse(key: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| kind.key() == key)
    }
}

fn is_metric_name(name: &str) -> bool {
    name.len() <= LONGEST_NAME
        && name.bytes().enumerate().all(|(i, b)| {
            b.is_ascii_alphabetic() || b == b'_' || b == b':' || i > 0 && b.is_ascii_digit()
        })
        && !name.is_empty()
}

fn is_label_name(name: &str) -> bool {
    name.len() <= LONGEST_NAME
        && !name.is_empty()
        && !name.starts_with("__")
        && name
            .bytes()
            .enumerate()
            .all(|(i, b)| b.is_ascii_alphabetic() || b == b'_' || i > 0 && b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    type Labels = Vec<(String, String)>;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(l, v)| ((*l).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn keys_are_one_spelling() {
        let a = SeriesKey::new(
            "node_cpu_seconds_total",
            labels(&[("mode", "idle"), ("cpu", "0")]),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let b = SeriesKey::new(
            "node_cpu_seconds_total",
            labels(&[("cpu", "0"), ("job", ""), ("mode", "idle")]),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a, b);
        assert_eq!(
            a.to_string(),
            r#"node_cpu_seconds_total{cpu="0",mode="idle"}"#
        );
        assert_eq!(a.label("mode"), Some("idle"));
        assert_eq!(a.label("job"), None);
        let quoted = SeriesKey::new("x", labels(&[("path", "C:\\\"a\"\nb")]))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(quoted.to_string(), r#"x{path="C:\\\"a\"\nb"}"#);
        assert_eq!(Kind::parse("counter"), Some(Kind::Counter));
        assert_eq!(Kind::parse("histogram"), None);
    }

    #[test]
    fn bad_keys_name_the_field() {
        let long = "a".repeat(LONGEST_NAME + 1);
        let many: Labels = (0..=MOST_LABELS)
            .map(|i| (format!("l{i}"), "v".to_owned()))
            .collect();
        let cases: Vec<(String, Labels, &str)> = vec![
            (String::new(), vec![], "name"),
            ("1xx".into(), vec![], "name"),
            ("a-b".into(), vec![], "name"),
            (long.clone(), vec![], "name"),
            ("ok".into(), labels(&[("__name__", "x")]), "labels"),
            ("ok".into(), labels(&[("9a", "x")]), "labels"),
            ("ok".into(), labels(&[("a:b", "x")]), "labels"),
            ("ok".into(), labels(&[("a", "x"), ("a", "y")]), "labels"),
            ("ok".into(), labels(&[(&long, "x")]), "labels"),
            (
                "ok".into(),
                vec![("a".into(), "v".repeat(LONGEST_VALUE + 1))],
                "labels",
            ),
            ("ok".into(), many, "labels"),
        ];
        for (name, labels, field) in cases {
            let error = SeriesKey::new(&name, labels).expect_err(&name);
            assert_eq!(error.field(), field, "{error}");
            assert!(error.to_string().starts_with(field), "{error}");
        }
        assert!(SeriesKey::new("a:b_c9", labels(&[("_x", "1")])).is_ok());
    }
}
