//! The host's allowlist of Nagios plugins the server may run, in NRPE's syntax so that an
//! existing `nrpe.cfg` carries over:
//!
//! ```text
//! # /etc/pupitre/agent-plugins.cfg
//! command[check_load]=/usr/lib/nagios/plugins/check_load -w 5,4,3 -c 10,8,6
//! command[check_disk]=/usr/lib/nagios/plugins/check_disk -w $ARG1$ -c $ARG2$ -p /
//! allow_arguments=1
//! ```
//!
//! The server names a plugin; the host decides what it runs. `$ARGn$` are filled from the
//! server's arguments only with `allow_arguments=1` (NRPE's `dont_blame_nrpe`), each into its
//! own word (no shell ever sees them), and arguments holding shell metacharacters are refused
//! as NRPE refuses them. The file is read again for every run, so an edit applies without a
//! restart.

use std::path::Path;

/// The characters NRPE refuses in arguments (`nasty_metachars`).
const NASTY: &[char] = &[
    '|', '`', '&', '>', '<', '\'', '"', '\\', '[', ']', '{', '}', ';', '!', '$', '\n', '\r',
];

/// A plugin's name: letters, digits, `_`, `-`, `.`, at most 64.
pub fn check_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    if valid {
        Ok(())
    } else {
        Err("1 to 64 letters, digits, '.', '_' or '-'".to_owned())
    }
}

/// Arguments NRPE would accept: at most 16, none with a shell metacharacter.
pub fn check_arguments(arguments: &[String]) -> Result<(), String> {
    if arguments.len() > 16 {
        return Err("at most 16 arguments".to_owned());
    }
    for (i, a) in arguments.iter().enumerate() {
        if a.len() > 1024 || a.contains(NASTY) || a.chars().any(char::is_control) {
            return Err(format!(
                "argument {} holds a character a plugin may not receive ({})",
                i + 1,
                NASTY.iter().filter(|c| !c.is_control()).collect::<String>()
            ));
        }
    }
    Ok(())
}

/// The allowlist: each name with its command line, and whether arguments are accepted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Allowlist {
    pub commands: Vec<(String, String)>,
    pub allow_arguments: bool,
}

impl Allowlist {
    /// Reads `path`; a file that does not exist allows nothing.
    pub fn read(path: &Path) -> Result<Allowlist, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => Allowlist::parse(&text).map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Allowlist::default()),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    pub fn parse(text: &str) -> Result<Allowlist, String> {
        let mut list = Allowlist::default();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                return Err(format!("line {}: no '='", n + 1));
            };
            let key = key.trim();
            if let Some(name) = key
                .strip_prefix("command[")
                .and_then(|k| k.strip_suffix(']'))
            {
                check_name(name).map_err(|e| format!("line {}: {name}: {e}", n + 1))?;
                list.commands
                    .push((name.to_owned(), value.trim().to_owned()));
            } else if key == "allow_arguments" || key == "dont_blame_nrpe" {
                list.allow_arguments = value.trim() == "1";
            }
            // Other nrpe.cfg keys (server_port, allowed_hosts…) mean nothing here.
        }
        Ok(list)
    }

    /// The argv for plugin `name` with `arguments`, or why it may not run.
    pub fn argv(&self, name: &str, arguments: &[String]) -> Result<Vec<String>, String> {
        let Some((_, line)) = self.commands.iter().find(|(n, _)| n == name) else {
            return Err(format!("plugin {name} is not in this host's allowlist"));
        };
        if !arguments.is_empty() && !self.allow_arguments {
            return Err("this host's allowlist does not accept arguments".to_owned());
        }
        check_arguments(arguments)?;
        let words = split_words(line)?;
        let argv: Vec<String> = words
            .into_iter()
            .map(|word| {
                let mut word = word;
                for (i, value) in arguments.iter().enumerate().rev() {
                    word = word.replace(&format!("$ARG{}$", i + 1), value);
                }
                word
            })
            .collect();
        if argv.iter().any(|w| w.contains("$ARG")) {
            return Err(format!("plugin {name} needs more arguments"));
        }
        match argv.first() {
            Some(program) if program.starts_with('/') => Ok(argv),
            _ => Err(format!(
                "plugin {name}: the command must start with an absolute path"
            )),
        }
    }
}

/// Splits a command line into words as a shell would for plain words and quotes, without
/// expanding anything.
fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err("an unclosed quote".to_owned());
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nrpe_lines_become_argv_with_arguments_only_where_allowed() {
        let text = "# comment\nserver_port=5666\ncommand[check_load]=/usr/lib/nagios/plugins/check_load -w 5,4,3 -c 10,8,6\n\
                    command[check_disk]=/usr/lib/nagios/plugins/check_disk -w $ARG1$ -c $ARG2$ -p '/var/lib/my data'\n";
        let list = Allowlist::parse(text).expect("parses");
        assert_eq!(
            list.argv("check_load", &[]),
            Ok(vec![
                "/usr/lib/nagios/plugins/check_load".to_owned(),
                "-w".into(),
                "5,4,3".into(),
                "-c".into(),
                "10,8,6".into()
            ])
        );
        assert!(list.argv("check_users", &[]).is_err(), "not listed");
        let args = ["20%".to_owned(), "10%".to_owned()];
        assert!(
            list.argv("check_disk", &args).is_err(),
            "arguments need allow_arguments=1"
        );
        let list = Allowlist::parse(&format!("{text}allow_arguments=1\n")).expect("parses");
        let argv = list.argv("check_disk", &args).expect("allowed");
        assert_eq!(argv[2], "20%");
        assert_eq!(argv.last().map(String::as_str), Some("/var/lib/my data"));
        assert!(
            list.argv("check_disk", &["20%".to_owned()]).is_err(),
            "$ARG2$ missing"
        );
        assert!(
            list.argv("check_disk", &["1; rm -rf /".to_owned(), "x".to_owned()])
                .is_err()
        );
        assert!(Allowlist::parse("command[bad name]=/bin/true").is_err());
        assert_eq!(
            Allowlist::read(Path::new("/nonexistent/agent-plugins.cfg")),
            Ok(Allowlist::default())
        );
    }
}
