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
