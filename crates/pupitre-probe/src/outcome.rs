//! The result every native probe (TCP now; HTTP, DNS and SNMP later) returns: a state, the text
//! a person reads and performance data, the same parts a Nagios plugin prints.
//!
//! A native probe never fails: whatever goes wrong (a name that does not resolve, a refused
//! connection, a timeout) is an [`Outcome`] with the state the probe's rules give it.

use std::fmt::Write as _;

use pupitre_core::monitoring::State;
use pupitre_core::monitoring::perfdata::PerfDatum;

/// What one run of a native probe found.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    pub state: State,
    /// One line, as a plugin's first line of output (`TCP OK - 0.001 second response time …`).
    pub summary: String,
    /// More lines for a person, empty when there is nothing more to say.
    pub long_output: String,
    pub perfdata: Vec<PerfDatum>,
}

impl Outcome {
    /// An outcome with this state and summary, no long output and no performance data.
    pub fn new(state: State, summary: impl Into<String>) -> Outcome {
        Outcome {
            state,
            summary: summary.into(),
            long_output: String::new(),
            perfdata: Vec::new(),
        }
    }

    pub fn ok(summary: impl Into<String>) -> Outcome {
        Outcome::new(State::Ok, summary)
    }

    pub fn warning(summary: impl Into<String>) -> Outcome {
        Outcome::new(State::Warning, summary)
    }

    pub fn critical(summary: impl Into<String>) -> Outcome {
        Outcome::new(State::Critical, summary)
    }

    /// The probe could not tell how the service is (bad input, a name that does not resolve).
    pub fn unknown(summary: impl Into<String>) -> Outcome {
        Outcome::new(State::Unknown, summary)
    }

    pub fn with_long_output(mut self, long_output: impl Into<String>) -> Outcome {
        self.long_output = long_output.into();
        self
    }

    pub fn with_perfdatum(mut self, datum: PerfDatum) -> Outcome {
        self.perfdata.push(datum);
        self
    }

    /// The outcome as a plugin would print it: `summary|perfdata`, then the long output on the
    /// following lines. [`PluginOutput::parse`](pupitre_core::monitoring::output::PluginOutput::parse)
    /// reads it back into the same parts, as long as the summary and the long output hold no `|`.
    ///
    /// An unknown value is printed `U`, without a unit, as the guidelines write it, so it reads
    /// back with no unit. Values, min and max are printed with six decimals, as the monitoring-plugins' `fperfdata`
    /// prints them (`time=0.000112s;;;0.000000;10.000000`); warning and critical ranges in their
    /// canonical form (`0`, `10:`, `@1:2`).
    pub fn to_plugin_output(&self) -> String {
        let mut text = self.summary.clone();
        if !self.perfdata.is_empty() {
            text.push('|');
            text.push_str(&self.perfdata_text());
        }
        if !self.long_output.is_empty() {
            text.push('\n');
            text.push_str(&self.long_output);
        }
        text
    }

    /// The performance data as a plugin prints it after `|`: `time=0.001000s;;;0.000000`.
    pub fn perfdata_text(&self) -> String {
        let mut text = String::new();
        for (index, datum) in self.perfdata.iter().enumerate() {
            if index > 0 {
                text.push(' ');
            }
            write_perfdatum(&mut text, datum);
        }
        text
    }
}

fn write_perfdatum(text: &mut String, datum: &PerfDatum) {
    let label = &datum.label;
    if label.contains([' ', '=', '\'']) {
        text.push('\'');
        text.push_str(&label.replace('\'', "''"));
        text.push('\'');
    } else {
        text.push_str(label);
    }
    text.push('=');
    match datum.value {
        Some(value) => {
            let _ = write!(text, "{value:.6}");
            text.push_str(datum.uom.as_str());
        }
        // The guidelines give `U` no unit, and a parser reads `Us` as a bad value.
        None => text.push('U'),
    }
    text.push(';');
    if let Some(warning) = datum.warning {
        let _ = write!(text, "{warning}");
    }
    text.push(';');
    if let Some(critical) = datum.critical {
        let _ = write!(text, "{critical}");
    }
    text.push(';');
    if let Some(min) = datum.min {
        let _ = write!(text, "{min:.6}");
    }
    text.push(';');
    if let Some(max) = datum.max {
        let _ = write!(text, "{max:.6}");
    }
}

#[cfg(test)]
mod tests {
    use pupitre_core::monitoring::output::PluginOutput;
    use pupitre_core::monitoring::perfdata::Uom;
    use pupitre_core::monitoring::range::Range;

    use super::*;

    fn datum(label: &str, value: Option<f64>) -> PerfDatum {
        PerfDatum {
            label: label.to_owned(),
            value,
            uom: if value.is_some() {
                Uom::Seconds
            } else {
                Uom::Count
            },
            warning: None,
            critical: None,
            min: Some(0.0),
            max: Some(10.0),
        }
    }

    #[test]
    fn plugin_output() {
        let mut with_ranges = datum("time", Some(0.000112));
        with_ranges.warning = Range::parse("0").ok();
        with_ranges.critical = Range::parse("@1:2").ok();
        let table = [
            (Outcome::unknown("TCP UNKNOWN - x"), "TCP UNKNOWN - x"),
            (
                Outcome::ok("TCP OK - y").with_perfdatum(datum("time", Some(0.000112))),
                "TCP OK - y|time=0.000112s;;;0.000000;10.000000",
            ),
            (
                Outcome::warning("w")
                    .with_perfdatum(with_ranges)
                    .with_perfdatum(datum("it's time", None))
                    .with_long_output("line 2\nline 3"),
                "w|time=0.000112s;0;@1:2;0.000000;10.000000 'it''s time'=U;;;0.000000;10.000000\n\
                 line 2\nline 3",
            ),
        ];
        for (outcome, printed) in table {
            let text = outcome.to_plugin_output();
            assert_eq!(text, printed);
            let parsed = PluginOutput::parse(&text, 64 * 1024);
            assert_eq!(parsed.summary, outcome.summary);
            assert_eq!(parsed.long_output, outcome.long_output);
            assert_eq!(parsed.perfdata, outcome.perfdata, "{text}");
            assert!(parsed.perfdata_errors.is_empty(), "{text}");
        }
    }
}
