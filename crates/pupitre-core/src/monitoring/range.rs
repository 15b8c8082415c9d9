//! Nagios threshold ranges (`[@]start:end`) and warning/critical thresholds, as the
//! monitoring-plugins guidelines define them
//! (<https://www.monitoring-plugins.org/doc/guidelines.html#THRESHOLDFORMAT>).

use std::fmt;

use super::{NumberError, State, parse_number};

/// A range of values with the side that raises an alert.
///
/// Written `[@]start:end`:
/// - `start` and `:` may be left out when the start is 0 (`10` is `0:10`);
/// - `~` as the start is negative infinity (`~:10`);
/// - an empty end is positive infinity (`10:`);
/// - the range alerts when the value is *outside* `start..=end`, or *inside* it with a leading `@`.
///
/// Stricter than the reference C library, which reads anything with `strtod`: a missing start
/// before `:` (`:10`), a lone `~`, and trailing text are errors here rather than silently read
/// as 0. Invariant: `start <= end`, neither is NaN.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Range {
    start: f64,
    end: f64,
    alert_inside: bool,
}

/// Why a range was refused. Displays as `"10:5": the start is greater than the end`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("\"{input}\": {problem}")]
pub struct RangeError {
    /// The text that was given.
    pub input: String,
    pub problem: RangeProblem,
}

/// What is wrong with a range.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RangeProblem {
    #[error("the range is empty")]
    Empty,
    #[error("nothing follows `@`")]
    NothingAfterAt,
    #[error("a range has at most one `:`")]
    TooManyColons,
    #[error("the start before `:` is missing (write `0:` for 0 or `~:` for no lower bound)")]
    MissingStart,
    #[error("`~` (negative infinity) can only be the start, as in `~:10`")]
    MisplacedTilde,
    #[error("the start is greater than the end")]
    StartAfterEnd,
    #[error("the end is negative, but a range without `:` starts at 0 (write `~:{end}`?)")]
    NegativeEndWithoutStart { end: String },
    #[error(transparent)]
    Number(NumberError),
}

impl Range {
    /// Parses `[@]start:end`. The text must be exactly a range: no surrounding spaces.
    pub fn parse(text: &str) -> Result<Range, RangeError> {
        Range::parse_inner(text).map_err(|problem| RangeError {
            input: text.to_owned(),
            problem,
        })
    }

    fn parse_inner(text: &str) -> Result<Range, RangeProblem> {
        if text.is_empty() {
            return Err(RangeProblem::Empty);
        }
        let (alert_inside, body) = match text.strip_prefix('@') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        if body.is_empty() {
            return Err(RangeProblem::NothingAfterAt);
        }
        let number = |t: &str| parse_number(t).map_err(RangeProblem::Number);
        let (start, end) = match body.split_once(':') {
            None => {
                if body == "~" {
                    return Err(RangeProblem::MisplacedTilde);
                }
                let end = number(body)?;
                if end < 0.0 {
                    return Err(RangeProblem::NegativeEndWithoutStart {
                        end: body.to_owned(),
                    });
                }
                (0.0, end)
            }
            Some((start, end)) => {
                if end.contains(':') {
                    return Err(RangeProblem::TooManyColons);
                }
                let start = match start {
                    "" => return Err(RangeProblem::MissingStart),
                    "~" => f64::NEG_INFINITY,
                    s => number(s)?,
                };
                let end = match end {
                    "" => f64::INFINITY,
                    "~" => return Err(RangeProblem::MisplacedTilde),
                    e => number(e)?,
                };
                (start, end)
            }
        };
        if start > end {
            return Err(RangeProblem::StartAfterEnd);
        }
        Ok(Range {
            start,
            end,
            alert_inside,
        })
    }

    /// Whether `value` raises an alert. A NaN value never does (see [`Thresholds::evaluate`]).
    pub fn alerts(&self, value: f64) -> bool {
        if value.is_nan() {
            return false;
        }
        let inside = self.start <= value && value <= self.end;
        inside == self.alert_inside
    }

    /// The start, `f64::NEG_INFINITY` for `~`.
    pub fn start(&self) -> f64 {
        self.start
    }

    /// The end, `f64::INFINITY` when open.
    pub fn end(&self) -> f64 {
        self.end
    }

    /// True for `@` ranges, which alert when the value is inside.
    pub fn alerts_inside(&self) -> bool {
        self.alert_inside
    }
}

/// The canonical form: `10` (not `0:10`), `10:`, `~:10`, `10:20`, `@10:20`, `~:`. Numbers are
/// printed in plain decimal (`1e3` prints `1000`). Parsing the output gives the same range back.
impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.alert_inside {
            f.write_str("@")?;
        }
        if self.start == f64::NEG_INFINITY {
            f.write_str("~:")?;
        } else if self.start != 0.0 || self.end == f64::INFINITY {
            write!(f, "{}:", self.start)?;
        }
        if self.end != f64::INFINITY {
            write!(f, "{}", self.end)?;
        }
        Ok(())
    }
}

/// A warning and a critical range, either of which may be absent.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Thresholds {
    pub warning: Option<Range>,
    pub critical: Option<Range>,
}

/// A threshold that could not be parsed, naming which one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ThresholdsError {
    #[error("warning threshold {0}")]
    Warning(RangeError),
    #[error("critical threshold {0}")]
    Critical(RangeError),
}

impl Thresholds {
    /// Parses both ranges. An empty (or all-blank) string means no threshold; other text is
    /// trimmed and must be a [`Range`].
    pub fn parse(warning: &str, critical: &str) -> Result<Thresholds, ThresholdsError> {
        fn optional(text: &str) -> Result<Option<Range>, RangeError> {
            match text.trim() {
                "" => Ok(None),
                t => Range::parse(t).map(Some),
            }
        }
        Ok(Thresholds {
            warning: optional(warning).map_err(ThresholdsError::Warning)?,
            critical: optional(critical).map_err(ThresholdsError::Critical)?,
        })
    }

    /// The warning range as [`Thresholds::parse`] reads it back; empty when absent.
    pub fn warning_text(&self) -> String {
        self.warning.map(|r| r.to_string()).unwrap_or_default()
    }

    /// The critical range as [`Thresholds::parse`] reads it back; empty when absent.
    pub fn critical_text(&self) -> String {
        self.critical.map(|r| r.to_string()).unwrap_or_default()
    }

    /// CRITICAL if the critical range alerts, else WARNING if the warning range alerts, else OK.
    /// A NaN value cannot be judged and gives UNKNOWN.
    pub fn evaluate(&self, value: f64) -> State {
        if value.is_nan() {
            State::Unknown
        } else if self.critical.is_some_and(|r| r.alerts(value)) {
            State::Critical
        } else if self.warning.is_some_and(|r| r.alerts(value)) {
            State::Warning
        } else {
            State::Ok
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every row of the guidelines' "Example ranges" table, with values on both sides of each
    /// boundary and the boundaries themselves.
    #[test]
    fn guidelines_example_ranges() {
        #[rustfmt::skip]
        let table: &[(&str, &[f64], &[f64])] = &[
            // range      alerts                                  does not alert
            ("10",     &[-1.0, -0.001, 10.001, 11.0, 1e9],        &[0.0, 0.001, 5.0, 9.999, 10.0]),
            ("10:",    &[-1e9, -1.0, 0.0, 9.0, 9.999],            &[10.0, 10.001, 11.0, 1e9]),
            ("~:10",   &[10.001, 11.0, 1e9],                      &[-1e9, -1.0, 0.0, 9.999, 10.0]),
            ("10:20",  &[-1.0, 0.0, 9.999, 20.001, 21.0],         &[10.0, 10.001, 15.0, 19.999, 20.0]),
            ("@10:20", &[10.0, 10.001, 15.0, 19.999, 20.0],       &[-1.0, 0.0, 9.999, 20.001, 21.0]),
        ];
        for (text, alerting, quiet) in table {
            let range = Range::parse(text).expect(text);
            for v in *alerting {
                assert!(range.alerts(*v), "{text} should alert for {v}");
            }
            for v in *quiet {
                assert!(!range.alerts(*v), "{text} should not alert for {v}");
            }
        }
    }

    /// The guidelines' "Command line examples" table, as warning/critical pairs.
    #[test]
    fn guidelines_command_line_examples() {
        use State::{Critical as C, Ok as O, Warning as W};
        /// `-w`, `-c`, and the state expected for some values.
        type Row<'a> = (&'a str, &'a str, &'a [(f64, State)]);
        #[rustfmt::skip]
        let table: &[Row] = &[
            ("10",   "20",     &[(-1.0, C), (0.0, O), (10.0, O), (11.0, W), (20.0, W), (21.0, C)]),
            ("~:10", "~:20",   &[(-5.0, O), (0.0, O), (10.0, O), (11.0, W), (20.0, W), (21.0, C)]),
            ("10:",  "20",     &[(-1.0, C), (0.0, W), (9.0, W), (10.0, O), (20.0, O), (21.0, C)]),
            ("",     "1:",     &[(0.0, C), (0.999, C), (1.0, O), (1e6, O)]),
            ("~:0",  "10",     &[(-1.0, C), (0.0, O), (0.5, W), (10.0, W), (10.5, C)]),
            ("",     "5:6",    &[(4.9, C), (5.0, O), (6.0, O), (6.1, C)]),
            ("",     "@10:20", &[(9.9, O), (10.0, C), (20.0, C), (20.1, O)]),
        ];
        for (warning, critical, cases) in table {
            let t = Thresholds::parse(warning, critical).expect(critical);
            for (value, state) in *cases {
                assert_eq!(
                    t.evaluate(*value),
                    *state,
                    "-w{warning} -c{critical}, {value}"
                );
            }
        }
    }

    #[test]
    fn bad_ranges() {
        let table = [
            ("", "the range is empty"),
            (
                ":",
                "the start before `:` is missing (write `0:` for 0 or `~:` for no lower bound)",
            ),
            (
                ":10",
                "the start before `:` is missing (write `0:` for 0 or `~:` for no lower bound)",
            ),
            ("abc", "`abc` is not a number"),
            ("10:5", "the start is greater than the end"),
            ("@", "nothing follows `@`"),
            ("1:2:3", "a range has at most one `:`"),
            ("nan", "`nan` is not a finite number"),
            ("inf", "`inf` is not a finite number"),
            ("-inf:0", "`-inf` is not a finite number"),
            (
                "~",
                "`~` (negative infinity) can only be the start, as in `~:10`",
            ),
            (
                "~:~",
                "`~` (negative infinity) can only be the start, as in `~:10`",
            ),
            (
                "-5",
                "the end is negative, but a range without `:` starts at 0 (write `~:-5`?)",
            ),
            ("10:abc", "`abc` is not a number"),
            ("1,5", "`1,5` uses a decimal comma; write a decimal point"),
            ("1e999", "`1e999` is too large"),
            ("@@10", "`@10` is not a number"),
            (" 10", "` 10` is not a number"),
            ("10s", "`10s` is not a number"),
        ];
        for (text, problem) in table {
            let err = Range::parse(text).expect_err(text);
            assert_eq!(err.to_string(), format!("\"{text}\": {problem}"), "{text}");
        }
    }

    #[test]
    fn canonical_form_round_trips() {
        let table = [
            ("10", "10"),
            ("0:10", "10"),
            ("10:", "10:"),
            ("0:", "0:"),
            ("~:10", "~:10"),
            ("~:", "~:"),
            ("10:20", "10:20"),
            ("@10:20", "@10:20"),
            ("@10", "@10"),
            ("@~:", "@~:"),
            ("5:5", "5:5"),
            ("-10:-5", "-10:-5"),
            ("~:-5", "~:-5"),
            ("0.5:1.5", "0.5:1.5"),
            ("1e3", "1000"),
            ("+5", "5"),
            ("0.000001:", "0.000001:"),
        ];
        for (text, canonical) in table {
            let range = Range::parse(text).expect(text);
            assert_eq!(range.to_string(), canonical, "{text}");
            assert_eq!(Range::parse(canonical), Ok(range), "{text}");
        }
    }

    #[test]
    fn negative_and_decimal_ranges() {
        let r = Range::parse("-10:-5").expect("range");
        assert!(r.alerts(-11.0) && r.alerts(-4.9) && r.alerts(0.0));
        assert!(!r.alerts(-10.0) && !r.alerts(-7.5) && !r.alerts(-5.0));
        let r = Range::parse("0.5:1.5").expect("range");
        assert!(r.alerts(0.49) && r.alerts(1.51));
        assert!(!r.alerts(0.5) && !r.alerts(1.0) && !r.alerts(1.5));
    }

    #[test]
    fn open_ranges_and_infinite_values() {
        let everything = Range::parse("~:").expect("range");
        assert!(!everything.alerts(f64::NEG_INFINITY) && !everything.alerts(f64::INFINITY));
        let always = Range::parse("@~:").expect("range");
        assert!(always.alerts(0.0) && always.alerts(f64::INFINITY));
        assert!(Range::parse("10").expect("range").alerts(f64::INFINITY));
        assert!(!Range::parse("10:").expect("range").alerts(f64::INFINITY));
    }

    #[test]
    fn nan_is_unknown() {
        assert!(!Range::parse("10").expect("range").alerts(f64::NAN));
        assert!(!Range::parse("@10").expect("range").alerts(f64::NAN));
        let t = Thresholds::parse("10", "20").expect("thresholds");
        assert_eq!(t.evaluate(f64::NAN), State::Unknown);
    }

    #[test]
    fn thresholds() {
        assert_eq!(Thresholds::parse("", ""), Ok(Thresholds::default()));
        assert_eq!(Thresholds::parse("  ", ""), Ok(Thresholds::default()));
        assert_eq!(Thresholds::default().evaluate(-1e9), State::Ok);
        let t = Thresholds::parse(" 10 ", "").expect("thresholds");
        assert_eq!(t.warning, Range::parse("10").ok());
        assert_eq!(t.critical, None);
        // Critical wins when both alert.
        let t = Thresholds::parse("10", "10").expect("thresholds");
        assert_eq!(t.evaluate(11.0), State::Critical);
        assert_eq!(
            Thresholds::parse("10:5", "").map_err(|e| e.to_string()),
            Err("warning threshold \"10:5\": the start is greater than the end".to_owned())
        );
        assert_eq!(
            Thresholds::parse("10", "x").map_err(|e| e.to_string()),
            Err("critical threshold \"x\": `x` is not a number".to_owned())
        );
    }
}
