//! Validation of user-supplied fields. Every error names the field and says what is wrong.

use std::fmt;

use crate::model::{EntityInput, ProfileInput, TeamInput, UserInput, UserTemplateInput};

/// A user mistake in one field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for FieldError {}

pub const LANGUAGES: &[&str] = &["en", "fr"];

/// Free text: any characters except control characters (tabs and newlines allowed when
/// `multiline`), between `min` and `max` characters once trimmed.
pub fn text(field: &str, value: &str, min: usize, max: usize) -> Result<String, FieldError> {
    let v = value.trim();
    let n = v.chars().count();
    if n < min {
        return Err(FieldError::new(
            field,
            if min == 1 {
                "is required".to_owned()
            } else {
                format!("must be at least {min} characters")
            },
        ));
    }
    if n > max {
        return Err(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if v.chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(v.to_owned())
}

/// A login: 1 to 64 letters, digits and `. _ - @ ' +`, starting with a letter or digit.
pub fn login(value: &str) -> Result<String, FieldError> {
    let v = value.trim();
    let ok_char = |c: char| c.is_alphanumeric() || ".-_@'+".contains(c);
    if v.is_empty() {
        return Err(FieldError::new("login", "is required"));
    }
    if v.chars().count() > 64 {
        return Err(FieldError::new("login", "must be at most 64 characters"));
    }
    if !v.chars().next().is_some_and(char::is_alphanumeric) || !v.chars().all(ok_char) {
        return Err(FieldError::new(
            "login",
            "must start with a letter or digit and contain only letters, digits and . _ - @ ' +",
        ));
    }
    Ok(v.to_owned())
}

/// An optional e-mail address (empty is allowed).
pub fn email(value: &str) -> Result<String, FieldError> {
    let v = value.trim();
    if v.is_empty() {
        return Ok(String::new());
    }
    let valid = v.len() <= 254
        && !v.chars().any(|c| c.is_whitespace() || c.is_control())
        && v.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if valid {
        Ok(v.to_owned())
    } else {
        Err(FieldError::new("email", "is not an e-mail address"))
    }
}

/// An optional phone number: digits, spaces and `+ - . ( )`, at most 32 characters.
pub fn phone(value: &str) -> Result<String, FieldError> {
    let v = value.trim();
    if v.chars().count() > 32
        || !v
            .chars()
            .all(|c| c.is_ascii_digit() || " +-.()".contains(c))
    {
        return Err(FieldError::new(
            "phone",
            "must contain only digits, spaces and + - . ( ), at most 32 characters",
        ));
    }
    Ok(v.to_owned())
}

pub fn language(value: &str) -> Result<String, FieldError> {
    if LANGUAGES.contains(&value) {
        Ok(value.to_owned())
    } else {
        Err(FieldError::new(
            "language",
            format!("must be one of {}", LANGUAGES.join(", ")),
        ))
    }
}

/// Normalises and checks a user's editable fields. Time zones are checked by the caller,
/// which has access to the time-zone database.
pub fn user_input(input: UserInput) -> Result<UserInput, FieldError> {
    Ok(UserInput {
        login: login(&input.login)?,
        display_name: text("display_name", &input.display_name, 1, 200)?,
        email: email(&input.email)?,
        phone: phone(&input.phone)?,
        language: language(&input.language)?,
        time_zone: text("time_zone", &input.time_zone, 1, 64)?,
        ..input
    })
}

pub fn entity_input(input: EntityInput) -> Result<EntityInput, FieldError> {
    Ok(EntityInput {
        name: text("name", &input.name, 1, 200)?,
        comment: text("comment", &input.comment, 0, 4000)?,
        ..input
    })
}

pub fn profile_input(input: ProfileInput) -> Result<ProfileInput, FieldError> {
    Ok(ProfileInput {
        name: text("name", &input.name, 1, 100)?,
        description: text("description", &input.description, 0, 2000)?,
        ..input
    })
}

pub fn team_input(mut input: TeamInput) -> Result<TeamInput, FieldError> {
    input.members.sort_unstable();
    input.members.dedup();
    Ok(TeamInput {
        name: text("name", &input.name, 1, 100)?,
        description: text("description", &input.description, 0, 2000)?,
        ..input
    })
}

pub fn user_template_input(input: UserTemplateInput) -> Result<UserTemplateInput, FieldError> {
    Ok(UserTemplateInput {
        name: text("name", &input.name, 1, 100)?,
        language: language(&input.language)?,
        time_zone: text("time_zone", &input.time_zone, 1, 64)?,
        ..input
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins() {
        for ok in ["alice", "o'brien", "j.dupont@corp", "éloïse", "x1"] {
            assert!(login(ok).is_ok(), "{ok}");
        }
        for bad in ["", " ", ".alice", "a b", "<script>", &"a".repeat(65)] {
            assert!(login(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn emails_and_phones() {
        assert_eq!(email(""), Ok(String::new()));
        assert!(email("ops@example.com").is_ok());
        assert!(email("ops@").is_err());
        assert!(email("a b@example.com").is_err());
        assert!(phone("+33 (0)1 23 45 67 89").is_ok());
        assert!(phone("call me").is_err());
    }

    #[test]
    fn text_keeps_markup_and_quotes() {
        let v = "<b>Robert'); DROP TABLE users;--</b>";
        assert_eq!(text("display_name", v, 1, 200).as_deref(), Ok(v));
        assert!(text("display_name", "a\u{0}b", 1, 200).is_err());
    }
}
