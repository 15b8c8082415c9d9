//! Monitoring rules shared by every probe: check states, Nagios threshold ranges, performance
//! data and plugin output, as the monitoring-plugins development guidelines define them
//! (<https://www.monitoring-plugins.org/doc/guidelines.html>).
//!
//! Everything here is pure: no process is run and no clock is read. The probe executor runs the
//! plugin and hands its exit code and stdout to [`State::from_exit_code`] and
//! [`output::PluginOutput::parse`].
//!
//! Numbers, wherever they appear (range ends, perfdata values, min and max), are written as a
//! decimal with a point: an optional sign, digits with an optional `.`, and an optional exponent
//! (`1e3`, `1.5E-3`). The guidelines only list the characters `[-0-9.]`; the exponent is accepted
//! because the reference C library reads numbers with `strtod` and because plugins written in
//! Python print small floats as `1e-05`. `inf`, `nan`, hexadecimal numbers and decimal commas are
//! refused.

use std::fmt;

pub mod check;
pub mod definition;
pub mod exposition;
pub mod output;
pub mod perfdata;
pub mod range;
pub mod schedule;
pub mod status;
pub mod template;

/// The state of a check, as a plugin reports it through its exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    Ok,
    Warning,
    Critical,
    Unknown,
}

impl State {
    /// Every state, in exit-code order.
    pub const ALL: [State; 4] = [State::Ok, State::Warning, State::Critical, State::Unknown];

    /// The stable key stored and used in URLs: `ok`, `warning`, `critical`, `unknown`.
    pub fn key(self) -> &'static str {
        match self {
            State::Ok => "ok",
            State::Warning => "warning",
            State::Critical => "critical",
            State::Unknown => "unknown",
        }
    }

    /// The state whose [`key`](State::key) is `key`, if any.
    pub fn from_key(key: &str) -> Option<State> {
        State::ALL.into_iter().find(|s| s.key() == key)
    }

    /// The state a plugin reports with its exit code: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    ///
    /// Any other code (4 and above, such as 126 "not executable", 127 "not found" or 255, and
    /// negative codes) means the plugin itself failed, so the state is UNKNOWN.
    pub fn from_exit_code(code: i32) -> State {
        match code {
            0 => State::Ok,
            1 => State::Warning,
            2 => State::Critical,
            _ => State::Unknown,
        }
    }

    /// The exit code a plugin uses for this state.
    pub fn exit_code(self) -> i32 {
        match self {
            State::Ok => 0,
            State::Warning => 1,
            State::Critical => 2,
            State::Unknown => 3,
        }
    }

    /// How bad the state is, for sorting problems worst first: CRITICAL > UNKNOWN > WARNING > OK,
    /// the order Icinga uses. This is not the exit-code order (UNKNOWN is 3 there).
    pub fn severity(self) -> u8 {
        match self {
            State::Ok => 0,
            State::Warning => 1,
            State::Unknown => 2,
            State::Critical => 3,
        }
    }
}

/// Upper case, as plugins print it: `OK`, `WARNING`, `CRITICAL`, `UNKNOWN`.
impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Ok => "OK",
            State::Warning => "WARNING",
            State::Critical => "CRITICAL",
            State::Unknown => "UNKNOWN",
        })
    }
}

/// Why a piece of text is not a number (see the module documentation for the accepted form).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    #[error("a number is missing")]
    Missing,
    #[error("`{0}` is not a number")]
    NotANumber(String),
    #[error("`{0}` uses a decimal comma; write a decimal point")]
    DecimalComma(String),
    #[error("`{0}` is not a finite number")]
    NotFinite(String),
    #[error("`{0}` is too large")]
    TooLarge(String),
}

/// Reads a whole number field.
fn parse_number(text: &str) -> Result<f64, NumberError> {
    if text.is_empty() {
        return Err(NumberError::Missing);
    }
    let len = number_prefix_len(text);
    if len != text.len() {
        let unsigned = text.trim_start_matches(['+', '-']);
        if ["inf", "infinity", "nan"]
            .iter()
            .any(|w| unsigned.eq_ignore_ascii_case(w))
        {
            return Err(NumberError::NotFinite(text.to_owned()));
        }
        if len > 0 && text[len..].starts_with(',') {
            return Err(NumberError::DecimalComma(text.to_owned()));
        }
        return Err(NumberError::NotANumber(text.to_owned()));
    }
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err(NumberError::TooLarge(text.to_owned())),
        Err(_) => Err(NumberError::NotANumber(text.to_owned())),
    }
}

/// The length in bytes of the longest prefix of `text` that is a number:
/// `[+-]?(digits[.digits?] | .digits)([eE][+-]?digits)?`. Zero when there is none.
fn number_prefix_len(text: &str) -> usize {
    let b = text.as_bytes();
    let digits = |mut i: usize| {
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        i
    };
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let int_end = digits(i);
    let mut end = int_end;
    let mut mantissa_digits = int_end - i;
    if end < b.len() && b[end] == b'.' {
        let frac_end = digits(end + 1);
        mantissa_digits += frac_end - (end + 1);
        end = frac_end;
    }
    if mantissa_digits == 0 {
        return 0;
    }
    if end < b.len() && (b[end] == b'e' || b[end] == b'E') {
        let mut j = end + 1;
        if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
            j += 1;
        }
        let exp_end = digits(j);
        if exp_end > j {
            end = exp_end;
        }
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes() {
        let table = [
            (0, State::Ok),
            (1, State::Warning),
            (2, State::Critical),
            (3, State::Unknown),
            (4, State::Unknown),
            (126, State::Unknown),
            (127, State::Unknown),
            (255, State::Unknown),
            (-1, State::Unknown),
            (i32::MIN, State::Unknown),
            (i32::MAX, State::Unknown),
        ];
        for (code, state) in table {
            assert_eq!(State::from_exit_code(code), state, "exit code {code}");
        }
        for state in State::ALL {
            assert_eq!(State::from_exit_code(state.exit_code()), state);
        }
    }

    #[test]
    fn keys_round_trip() {
        for state in State::ALL {
            assert_eq!(State::from_key(state.key()), Some(state));
        }
        let keys: Vec<_> = State::ALL.iter().map(|s| s.key()).collect();
        assert_eq!(keys, ["ok", "warning", "critical", "unknown"]);
        assert_eq!(State::from_key("OK"), None);
        assert_eq!(State::from_key(""), None);
    }

    #[test]
    fn display() {
        let shown: Vec<_> = State::ALL.iter().map(|s| s.to_string()).collect();
        assert_eq!(shown, ["OK", "WARNING", "CRITICAL", "UNKNOWN"]);
    }

    #[test]
    fn problems_sort_critical_unknown_warning_ok() {
        let mut states = vec![State::Ok, State::Unknown, State::Warning, State::Critical];
        states.sort_by_key(|s| std::cmp::Reverse(s.severity()));
        assert_eq!(
            states,
            [State::Critical, State::Unknown, State::Warning, State::Ok]
        );
    }

    #[test]
    fn numbers() {
        let good = [
            ("0", 0.0),
            ("10", 10.0),
            ("-10", -10.0),
            ("+5", 5.0),
            ("0.5", 0.5),
            ("-0.000166", -0.000166),
            (".5", 0.5),
            ("5.", 5.0),
            ("1e3", 1000.0),
            ("1.5E-3", 0.0015),
            ("1e-05", 0.00001),
        ];
        for (text, value) in good {
            assert_eq!(parse_number(text), Ok(value), "{text}");
        }
        let bad = [
            ("", "a number is missing"),
            ("abc", "`abc` is not a number"),
            ("-", "`-` is not a number"),
            (".", "`.` is not a number"),
            ("1.2.3", "`1.2.3` is not a number"),
            ("1e", "`1e` is not a number"),
            ("0x10", "`0x10` is not a number"),
            ("1,5", "`1,5` uses a decimal comma; write a decimal point"),
            ("nan", "`nan` is not a finite number"),
            ("-inf", "`-inf` is not a finite number"),
            ("Infinity", "`Infinity` is not a finite number"),
            ("1e999", "`1e999` is too large"),
            (" 1", "` 1` is not a number"),
        ];
        for (text, message) in bad {
            let err = parse_number(text).expect_err(text);
            assert_eq!(err.to_string(), message, "{text}");
        }
    }
}
