//! A plugin's standard output split as Nagios 3 and later split it: summary, long output and
//! performance data.
//!
//! ```text
//! SERVICE STATUS: First line of output | First part of performance data
//! Any number of subsequent lines of output, but note that buffers
//! may have a limited size | Second part of performance data, which
//! may have continuation lines, too
//! ```

use super::perfdata::{PerfDataError, PerfDataProblem, PerfDatum, parse_perfdata};

/// The parts of a plugin's output.
#[derive(Clone, Debug, PartialEq)]
pub struct PluginOutput {
    /// The first line, before any `|`, trimmed. Empty when the plugin printed nothing.
    pub summary: String,
    /// The other lines, before the `|` that starts the second part of the performance data,
    /// joined with `\n`. Ends with the truncation marker when the output was cut.
    pub long_output: String,
    /// Good performance data items, those of the first line first.
    pub perfdata: Vec<PerfDatum>,
    /// One entry per bad performance data item.
    pub perfdata_errors: Vec<PerfDataError>,
    /// How many bytes of the output were dropped by the size limit (0 when none).
    pub dropped_bytes: usize,
}

impl PluginOutput {
    /// Splits `stdout`, keeping at most `max_bytes` bytes of it.
    ///
    /// - Trailing line breaks are removed; `\r\n` line ends are accepted.
    /// - The first line is the summary; text after its first `|` is performance data.
    /// - In the following lines, the first `|` starts the second part of the performance data,
    ///   which runs to the end of the output across lines; what comes before it is long output.
    /// - The two parts of performance data are parsed separately, so a plugin that forgets the
    ///   space between them (Nagios concatenates them as they are) does not get its last and
    ///   first items glued together.
    /// - Output longer than `max_bytes` is cut at a character boundary and a marker
    ///   `[output truncated: N bytes dropped]` is added to the long output (to the summary for a
    ///   single line). When the cut falls inside a performance data item, that partial item is
    ///   not parsed (it could read as a wrong value, `1234` cut to `12`) but reported as
    ///   [`PerfDataProblem::Truncated`].
    pub fn parse(stdout: &str, max_bytes: usize) -> PluginOutput {
        let full = stdout.trim_end_matches(['\n', '\r']);
        let (kept, dropped_bytes) = if full.len() > max_bytes {
            let mut cut = max_bytes;
            while !full.is_char_boundary(cut) {
                cut -= 1;
            }
            (&full[..cut], full.len() - cut)
        } else {
            (full, 0)
        };
        let cut_inside_word = dropped_bytes > 0
            && !kept.ends_with(char::is_whitespace)
            && !full[kept.len()..].starts_with(char::is_whitespace);

        let mut lines = kept.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
        let first = lines.next().unwrap_or_default();
        let (summary, first_perfdata) = match first.split_once('|') {
            Some((summary, perfdata)) => (summary.trim(), Some(perfdata)),
            None => (first.trim(), None),
        };

        let mut long_lines: Vec<&str> = Vec::new();
        let mut long_perfdata: Option<Vec<&str>> = None;
        for line in lines {
            match &mut long_perfdata {
                Some(perf_lines) => perf_lines.push(line),
                None => match line.split_once('|') {
                    Some((text, perfdata)) => {
                        if !text.trim().is_empty() {
                            long_lines.push(text.trim_end());
                        }
                        long_perfdata = Some(vec![perfdata]);
                    }
                    None => long_lines.push(line),
                },
            }
        }
        let long_perfdata = long_perfdata.map(|lines| lines.join("\n"));

        // Which performance data part, if any, holds the cut.
        let single_line = !kept.contains('\n');
        let mut perfdata = Vec::new();
        let mut perfdata_errors = Vec::new();
        let parts = [
            (first_perfdata, single_line),
            (long_perfdata.as_deref(), true),
        ];
        for (part, holds_cut) in parts {
            let Some(mut text) = part else { continue };
            let mut partial = None;
            if holds_cut && cut_inside_word {
                let start = text.rfind(char::is_whitespace).map_or(0, |i| i + 1);
                partial = Some(&text[start..]).filter(|p| !p.is_empty());
                text = &text[..start];
            }
            let (data, errors) = parse_perfdata(text);
            perfdata.extend(data);
            perfdata_errors.extend(errors);
            if let Some(partial) = partial {
                perfdata_errors.push(PerfDataError::new(partial, PerfDataProblem::Truncated));
            }
        }

        let mut summary = summary.to_owned();
        let mut long_output = long_lines.join("\n").trim_end().to_owned();
        if dropped_bytes > 0 {
            let marker = format!("[output truncated: {dropped_bytes} bytes dropped]");
            if single_line {
                if !summary.is_empty() {
                    summary.push(' ');
                }
                summary.push_str(&marker);
            } else {
                if !long_output.is_empty() {
                    long_output.push('\n');
                }
                long_output.push_str(&marker);
            }
        }

        PluginOutput {
            summary,
            long_output,
            perfdata,
            perfdata_errors,
            dropped_bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_LIMIT: usize = usize::MAX;

    fn labels(out: &PluginOutput) -> Vec<&str> {
        out.perfdata.iter().map(|d| d.label.as_str()).collect()
    }

    fn errors(out: &PluginOutput) -> Vec<String> {
        out.perfdata_errors.iter().map(|e| e.to_string()).collect()
    }

    /// The layout example of the guidelines ("Print only one line of text"). Its performance
    /// data is prose, so every word is a bad item; the split is what matters.
    #[test]
    fn guidelines_layout() {
        let stdout = "SERVICE STATUS: First line of output | First part of performance data\n\
                      Any number of subsequent lines of output, but note that buffers\n\
                      may have a limited size | Second part of performance data, which\n\
                      may have continuation lines, too\n";
        let out = PluginOutput::parse(stdout, NO_LIMIT);
        assert_eq!(out.summary, "SERVICE STATUS: First line of output");
        assert_eq!(
            out.long_output,
            "Any number of subsequent lines of output, but note that buffers\n\
             may have a limited size"
        );
        assert!(out.perfdata.is_empty());
        let items: Vec<&str> = out
            .perfdata_errors
            .iter()
            .map(|e| e.item.as_str())
            .collect();
        assert_eq!(
            items,
            [
                "First",
                "part",
                "of",
                "performance",
                "data",
                "Second",
                "part",
                "of",
                "performance",
                "data,",
                "which",
                "may",
                "have",
                "continuation",
                "lines,",
                "too",
            ]
        );
        assert_eq!(out.dropped_bytes, 0);
    }

    /// The multi-line example of the Nagios 3 plugin API documentation.
    #[test]
    fn nagios_disk_example() {
        let stdout = "DISK OK - free space: / 3326 MB (56%); | /=2643MB;5948;5958;0;5968\n\
                      / 15272 MB (77%);\n\
                      /boot 68 MB (69%);\n\
                      /home 69357 MB (27%);\n\
                      /var/log 819 MB (84%); | /boot=68MB;88;93;0;98\n\
                      /home=69357MB;253404;253409;0;253414\n\
                      /var/log=818MB;970;975;0;980\n";
        let out = PluginOutput::parse(stdout, NO_LIMIT);
        assert_eq!(out.summary, "DISK OK - free space: / 3326 MB (56%);");
        assert_eq!(
            out.long_output,
            "/ 15272 MB (77%);\n/boot 68 MB (69%);\n/home 69357 MB (27%);\n/var/log 819 MB (84%);"
        );
        assert_eq!(labels(&out), ["/", "/boot", "/home", "/var/log"]);
        assert_eq!(out.perfdata[2].value, Some(69357.0));
        assert!(out.perfdata_errors.is_empty());
    }

    #[test]
    fn single_lines() {
        let out = PluginOutput::parse(
            "PING OK - Packet loss = 0%, RTA = 0.05 ms|rta=0.045000ms;100.000000;500.000000;0.000000 pl=0%;20;60;0\n",
            NO_LIMIT,
        );
        assert_eq!(out.summary, "PING OK - Packet loss = 0%, RTA = 0.05 ms");
        assert_eq!(out.long_output, "");
        assert_eq!(labels(&out), ["rta", "pl"]);

        let out = PluginOutput::parse("OK - all good\n", NO_LIMIT);
        assert_eq!(out.summary, "OK - all good");
        assert!(out.perfdata.is_empty() && out.perfdata_errors.is_empty());

        let out = PluginOutput::parse("", NO_LIMIT);
        assert_eq!((out.summary.as_str(), out.long_output.as_str()), ("", ""));

        let out = PluginOutput::parse("\n\n", NO_LIMIT);
        assert_eq!(out.summary, "");

        // A `|` with nothing after it, and a second `|` inside the performance data.
        let out = PluginOutput::parse("OK |", NO_LIMIT);
        assert_eq!(out.summary, "OK");
        assert!(out.perfdata.is_empty() && out.perfdata_errors.is_empty());
        let out = PluginOutput::parse("OK | a=1 | b=2", NO_LIMIT);
        assert_eq!(labels(&out), ["a", "b"]);
        assert_eq!(
            errors(&out),
            ["`|`: there is no `=` between the label and the value"]
        );
    }

    #[test]
    fn long_output_without_perfdata_and_crlf() {
        let out = PluginOutput::parse("WARNING - 2 jobs late\r\njob a\r\njob b\r\n", NO_LIMIT);
        assert_eq!(out.summary, "WARNING - 2 jobs late");
        assert_eq!(out.long_output, "job a\njob b");
        assert!(out.perfdata.is_empty());
    }

    #[test]
    fn perfdata_only_in_long_output() {
        let out = PluginOutput::parse("OK\ndetail\n| a=1\nb=2", NO_LIMIT);
        assert_eq!(out.summary, "OK");
        assert_eq!(out.long_output, "detail");
        assert_eq!(labels(&out), ["a", "b"]);
    }

    #[test]
    fn perfdata_parts_are_not_glued() {
        // Nagios would read `a=1b=2`; each part is parsed on its own here.
        let out = PluginOutput::parse("OK | a=1\ntext | b=2", NO_LIMIT);
        assert_eq!(labels(&out), ["a", "b"]);
        assert!(out.perfdata_errors.is_empty());
    }

    #[test]
    fn truncation_marks_the_text() {
        let out = PluginOutput::parse("OK - 0123456789", 9);
        assert_eq!(out.summary, "OK - 0123 [output truncated: 6 bytes dropped]");
        assert_eq!(out.dropped_bytes, 6);

        let out = PluginOutput::parse("OK\nline one\nline two\n", 12);
        assert_eq!(out.summary, "OK");
        assert_eq!(
            out.long_output,
            "line one\n[output truncated: 8 bytes dropped]"
        );

        // The trailing newline does not count against the limit.
        let out = PluginOutput::parse("OK\n", 2);
        assert_eq!((out.summary.as_str(), out.dropped_bytes), ("OK", 0));

        let out = PluginOutput::parse("OK", 0);
        assert_eq!(out.summary, "[output truncated: 2 bytes dropped]");
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        // "é" is two bytes: a limit of 5 falls inside the third one.
        let out = PluginOutput::parse("éééé", 5);
        assert_eq!(out.summary, "éé [output truncated: 4 bytes dropped]");
        for limit in 0..12 {
            let out = PluginOutput::parse("CRIT – ça dépasse | é=1", limit);
            assert!(out.dropped_bytes > 0, "{limit}");
        }
    }

    #[test]
    fn truncation_never_reads_a_partial_perfdata_item() {
        // Cut inside `b=1234`: it must not come out as `b=12`.
        let stdout = "OK | a=1 b=1234 c=5";
        let out = PluginOutput::parse(stdout, 13);
        assert_eq!(labels(&out), ["a"]);
        assert_eq!(errors(&out), ["`b=12`: cut off by the output size limit"]);
        assert_eq!(out.summary, "OK [output truncated: 6 bytes dropped]");

        // A cut that falls on a space keeps every complete item.
        let out = PluginOutput::parse(stdout, 15);
        assert_eq!(labels(&out), ["a", "b"]);
        assert!(out.perfdata_errors.is_empty());

        // Same in the long output, after the errors of complete items.
        let stdout = "OK\ntext | x y=1\nz=12345";
        let out = PluginOutput::parse(stdout, 21);
        assert_eq!(labels(&out), ["y"]);
        assert_eq!(
            errors(&out),
            [
                "`x`: there is no `=` between the label and the value",
                "`z=123`: cut off by the output size limit",
            ]
        );
        assert_eq!(out.long_output, "text\n[output truncated: 2 bytes dropped]");
    }

    /// Random outputs built from the characters the parsers care about, at every size limit:
    /// parsing never panics, and every kept datum is a complete item.
    #[test]
    fn arbitrary_output_never_panics() {
        const PIECES: [&str; 18] = [
            "a", "=", "'", "''", ";", "|", " ", "\n", "\r\n", "1", "-", ".", ",", "e", "@", "~:",
            "é", "U",
        ];
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..2000 {
            let len = next() % 40;
            let stdout: String = (0..len)
                .map(|_| PIECES[(next() % PIECES.len() as u64) as usize])
                .collect();
            for limit in 0..=stdout.len() + 1 {
                let out = PluginOutput::parse(&stdout, limit);
                assert!(
                    out.summary.len() + out.long_output.len() <= limit + 64,
                    "{stdout:?}"
                );
            }
        }
    }

    #[test]
    fn megabytes_of_output_are_capped() {
        let stdout = format!("OK\n{}", "x".repeat(5 * 1024 * 1024));
        let out = PluginOutput::parse(&stdout, 64 * 1024);
        assert!(out.long_output.len() < 64 * 1024 + 64);
        assert_eq!(out.dropped_bytes, stdout.len() - 64 * 1024);
    }
}
