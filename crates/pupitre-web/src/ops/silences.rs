//! Silences (issue #7): matchers on an alert's labels, in force from a start to an end, with
//! an author and a comment. An alert a silence matches is recorded without an incident and
//! pages nobody; when the silence ends and the problem is still there, its incident opens
//! (monitoring's within 2 s, through `reconsider_suppressed`; an external source's at its next
//! report, which Alertmanager repeats).
//!
//! An alert's labels: `source`, `severity`, `key`, `service`; an Alertmanager alert's own
//! labels; a webhook's string `details`; for a check, `asset`, `check` and `state`. Matchers
//! read as Alertmanager's: `=`, `!=`, `=~` and `!~`, the regular expressions anchored at both
//! ends.

use std::collections::BTreeMap;

use pupitre_core::permission::{Domain, EntityId, Level, subtree};
use pupitre_store::incidents::{Signal, SilenceRecord};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::AppError;
use crate::state::{AppState, now_ms};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Matcher {
    pub name: String,
    /// `=`, `!=`, `=~` or `!~`.
    pub op: String,
    pub value: String,
}

/// A matcher ready to test labels.
struct Compiled {
    name: String,
    negate: bool,
    test: Test,
}

enum Test {
    Equal(String),
    Regex(regex::Regex),
}

fn compile(m: &Matcher) -> Result<Compiled, String> {
    let (negate, regex) = match m.op.as_str() {
        "=" => (false, false),
        "!=" => (true, false),
        "=~" => (false, true),
        "!~" => (true, true),
        _ => return Err("op must be =, !=, =~ or !~".to_owned()),
    };
    let test = if regex {
        let re = regex::RegexBuilder::new(&format!("^(?:{})$", m.value))
            .size_limit(1 << 20)
            .build()
            .map_err(|e| e.to_string())?;
        Test::Regex(re)
    } else {
        Test::Equal(m.value.clone())
    };
    Ok(Compiled {
        name: m.name.clone(),
        negate,
        test,
    })
}

impl Compiled {
    /// An absent label reads as empty, as in Alertmanager.
    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.name).map_or("", String::as_str);
        let hit = match &self.test {
            Test::Equal(v) => v == value,
            Test::Regex(re) => re.is_match(value),
        };
        hit != self.negate
    }
}

/// Checks matchers; the error names the one at fault.
pub fn check_matchers(matchers: &[Matcher]) -> Result<(), AppError> {
    if matchers.is_empty() || matchers.len() > 20 {
        return Err(AppError::invalid("matchers", "1 to 20 matchers"));
    }
    for (i, m) in matchers.iter().enumerate() {
        let valid_name = !m.name.is_empty()
            && m.name.len() <= 100
            && m.name
                .chars()
                .enumerate()
                .all(|(j, c)| c == '_' || c.is_ascii_alphabetic() || (j > 0 && c.is_ascii_digit()));
        if !valid_name {
            return Err(AppError::invalid(
                format!("matchers[{i}].name"),
                "must be a label name (letters, digits, _)",
            ));
        }
        if m.value.len() > 1000 {
            return Err(AppError::invalid(
                format!("matchers[{i}].value"),
                "longer than 1000 characters",
            ));
        }
        compile(m).map_err(|e| {
            let field = if e.starts_with("op") { "op" } else { "value" };
            AppError::invalid(format!("matchers[{i}].{field}"), e)
        })?;
    }
    Ok(())
}

/// The labels silences match an alert on.
pub fn labels(
    signal: &Signal,
    asset: Option<&str>,
    check: Option<&str>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some(Value::Object(l)) = signal.details.get("labels") {
        for (k, v) in l {
            if let Some(v) = v.as_str() {
                out.insert(k.clone(), v.to_owned());
            }
        }
    } else {
        for (k, v) in &signal.details {
            if let Some(v) = v.as_str() {
                out.insert(k.clone(), v.to_owned());
            }
        }
    }
    out.insert("source".to_owned(), signal.source.clone());
    out.insert("severity".to_owned(), signal.severity.clone());
    out.insert("key".to_owned(), signal.key.clone());
    if !signal.service.is_empty() {
        out.insert("service".to_owned(), signal.service.clone());
    }
    if let Some(a) = asset {
        out.insert("asset".to_owned(), a.to_owned());
    }
    if let Some(c) = check {
        out.insert("check".to_owned(), c.to_owned());
    }
    out
}

/// The silences in force now, compiled, with the entities each covers.
pub struct Active {
    silences: Vec<(SilenceRecord, Vec<Compiled>, Vec<EntityId>)>,
}

impl Active {
    pub async fn load(st: &AppState) -> Result<Active, AppError> {
        let now = now_ms();
        let tree = st.entity_tree().await?;
        let all: Vec<EntityId> = tree.iter().map(|(id, _)| *id).collect();
        let silences = st
            .store
            .list_silences(&all, now)
            .await?
            .into_iter()
            .filter(|s| s.starts_at <= now)
            .filter_map(|s| {
                let matchers: Vec<Matcher> = serde_json::from_str(&s.matchers).ok()?;
                let compiled = matchers
                    .iter()
                    .map(compile)
                    .collect::<Result<Vec<_>, _>>()
                    .ok()?;
                let entities = subtree(s.entity_id, &tree);
                Some((s, compiled, entities))
            })
            .collect();
        Ok(Active { silences })
    }

    /// Why an alert of `entity` with `labels` is silenced, if it is.
    pub fn silencing(&self, entity: EntityId, labels: &BTreeMap<String, String>) -> Option<String> {
        self.silences
            .iter()
            .find(|(_, matchers, entities)| {
                entities.contains(&entity) && matchers.iter().all(|m| m.matches(labels))
            })
            .map(|(s, _, _)| format!("silenced by #{} ({}): {}", s.id, s.author, s.comment))
    }
}

/// Creates a silence (incidents=operate: the on-call people silence what they work on).
pub async fn create(
    st: &AppState,
    caller: &Caller,
    entity_id: EntityId,
    matchers: &[Matcher],
    starts_at: Option<i64>,
    ends_at: i64,
    comment: &str,
) -> Result<SilenceRecord, AppError> {
    // On-call people write here without seeing the entities' administration.
    if !caller
        .grants
        .allows(Domain::Incidents, Level::Operate, entity_id)
    {
        return Err(AppError::invalid(
            "entity_id",
            "no such entity, or your profile does not allow operate in incidents there",
        ));
    }
    check_matchers(matchers)?;
    let now = now_ms();
    let starts_at = starts_at.unwrap_or(now);
    if ends_at <= starts_at.max(now) {
        return Err(AppError::invalid(
            "ends_at",
            "must be in the future and after starts_at",
        ));
    }
    if ends_at - starts_at > 366 * 86_400_000 {
        return Err(AppError::invalid(
            "ends_at",
            "a silence lasts at most a year",
        ));
    }
    let comment = comment.trim();
    if comment.is_empty() || comment.chars().count() > 1000 {
        return Err(AppError::invalid(
            "comment",
            "say why, in 1 to 1000 characters",
        ));
    }
    let text = serde_json::to_string(matchers).map_err(|_| AppError::internal())?;
    st.store
        .create_silence(
            &caller.actor(),
            entity_id,
            &text,
            starts_at,
            ends_at,
            comment,
        )
        .await
        .map_err(|e| AppError::from_store("silence", e))
}

pub async fn list(st: &AppState, caller: &Caller) -> Result<Vec<SilenceRecord>, AppError> {
    Ok(st
        .store
        .list_silences(&caller.visible(Domain::Incidents), now_ms())
        .await?)
}

pub async fn expire(st: &AppState, caller: &Caller, id: i64) -> Result<SilenceRecord, AppError> {
    let s = st
        .store
        .get_silence(id)
        .await
        .map_err(|e| AppError::from_store("silence", e))?;
    caller.check(Domain::Incidents, Level::Operate, s.entity_id, "silence")?;
    Ok(st.store.expire_silence(&caller.actor(), id).await?)
}
