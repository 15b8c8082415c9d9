//! Audit records: who changed what, with the before and after values of changed fields.

/// One named value of an audited object. Secrets carry a mask, never their value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub value: String,
    pub secret: bool,
}

/// What is written in place of a secret's value.
pub const MASK: &str = "********";

impl Field {
    pub fn new(name: &'static str, value: impl Into<String>) -> Field {
        Field {
            name,
            value: value.into(),
            secret: false,
        }
    }

    /// A secret field: its change is recorded, its value never is.
    pub fn secret(name: &'static str) -> Field {
        Field {
            name,
            value: MASK.to_owned(),
            secret: true,
        }
    }
}

/// An epoch-milliseconds instant as an audit value: RFC 3339 in UTC
/// (`2026-12-01T22:00:00Z`, with `.mmm` only when there are milliseconds).
pub fn instant(ms: i64) -> String {
    let seconds = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let (days, secs) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let fraction = if millis == 0 {
        String::new()
    } else {
        format!(".{millis:03}")
    };
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}{fraction}Z")
}

/// One changed field of an audit record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub field: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// The changed fields between two versions of an object; `None` is "did not exist".
///
/// Secret fields present on either side always appear, masked, so that "the password
/// changed" is recorded without the password.
pub fn diff(before: Option<&[Field]>, after: Option<&[Field]>) -> Vec<Change> {
    let mut out = Vec::new();
    let find = |list: Option<&[Field]>, name: &str| {
        list.and_then(|l| l.iter().find(|f| f.name == name).cloned())
    };
    let mut names: Vec<&'static str> = Vec::new();
    for f in before
        .into_iter()
        .flatten()
        .chain(after.into_iter().flatten())
    {
        if !names.contains(&f.name) {
            names.push(f.name);
        }
    }
    for name in names {
        let b = find(before, name);
        let a = find(after, name);
        let secret = b.as_ref().is_some_and(|f| f.secret) || a.as_ref().is_some_and(|f| f.secret);
        let bv = b.map(|f| f.value);
        let av = a.map(|f| f.value);
        if secret || bv != av {
            out.push(Change {
                field: name.to_owned(),
                before: bv,
                after: av,
            });
        }
    }
    out
}

/// What happened, written once per mutation or sensitive action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEvent {
    /// `object.verb`, e.g. `user.create`, `session.login_failed`.
    pub action: String,
    pub object_type: String,
    pub object_id: Option<i64>,
    /// A human label: a login, a name.
    pub object_label: String,
    pub entity_id: Option<i64>,
    pub changes: Vec<Change>,
}

/// Who acted, from where, and when (epoch milliseconds).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    pub user_id: Option<i64>,
    pub login: String,
    pub source: String,
    pub at: i64,
}

/// A stored audit record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    pub id: i64,
    pub at: i64,
    pub actor_id: Option<i64>,
    pub actor_login: String,
    pub source: String,
    pub event: AuditEvent,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_read_as_rfc3339() {
        assert_eq!(instant(0), "1970-01-01T00:00:00Z");
        assert_eq!(instant(1_795_996_800_000), "2026-11-30T00:00:00Z");
        assert_eq!(instant(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(instant(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn diff_reports_changed_fields_and_masks_secrets() {
        let before = [Field::new("name", "a"), Field::new("mail", "x")];
        let after = [
            Field::new("name", "b"),
            Field::new("mail", "x"),
            Field::secret("password"),
        ];
        let d = diff(Some(&before), Some(&after));
        assert_eq!(
            d,
            vec![
                Change {
                    field: "name".into(),
                    before: Some("a".into()),
                    after: Some("b".into())
                },
                Change {
                    field: "password".into(),
                    before: None,
                    after: Some(MASK.into())
                },
            ]
        );
    }

    #[test]
    fn creation_lists_every_field() {
        let after = [Field::new("name", "a"), Field::new("mail", "")];
        assert_eq!(diff(None, Some(&after)).len(), 2);
        assert_eq!(diff(Some(&after), None).len(), 2);
    }
}
