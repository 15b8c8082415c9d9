//! JSON representations of domain objects. Timestamps are RFC 3339 strings in UTC.

use std::collections::BTreeMap;

use pupitre_core::audit::AuditRecord;
use pupitre_core::model::{ApiToken, Assignment, Entity, Profile, Team, User, UserTemplate};
use pupitre_core::permission::Levels;
use serde::Serialize;
use utoipa::ToSchema;

/// An RFC 3339 time given in `field`, as Unix milliseconds; the field's error otherwise.
pub fn parse_instant(field: &str, text: &str) -> Result<i64, crate::error::AppError> {
    text.parse::<jiff::Timestamp>()
        .map(|t| t.as_millisecond())
        .map_err(|_| {
            crate::error::AppError::invalid(
                field,
                "must be an RFC 3339 time (2026-12-24T19:00:00+01:00)",
            )
        })
}

pub fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

pub fn levels_map(l: &Levels) -> BTreeMap<String, String> {
    l.iter()
        .map(|(d, l)| (d.key().to_owned(), l.key().to_owned()))
        .collect()
}

#[derive(Serialize, ToSchema)]
pub struct UserView {
    pub id: i64,
    pub login: String,
    pub display_name: String,
    pub email: String,
    pub phone: String,
    pub language: String,
    pub time_zone: String,
    pub active: bool,
    pub entity_id: i64,
    pub must_change_password: bool,
    pub notify_email: bool,
    pub notify_sms: bool,
    pub created_at: String,
    pub updated_at: String,
    pub last_login_at: Option<String>,
}

impl From<&User> for UserView {
    fn from(u: &User) -> UserView {
        UserView {
            id: u.id,
            login: u.login.clone(),
            display_name: u.display_name.clone(),
            email: u.email.clone(),
            phone: u.phone.clone(),
            language: u.language.clone(),
            time_zone: u.time_zone.clone(),
            active: u.active,
            entity_id: u.entity_id,
            must_change_password: u.must_change_password,
            notify_email: u.notify_email,
            notify_sms: u.notify_sms,
            created_at: rfc3339(u.created_at),
            updated_at: rfc3339(u.updated_at),
            last_login_at: u.last_login_at.map(rfc3339),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct UserList {
    pub items: Vec<UserView>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedUser {
    pub user: UserView,
    /// The generated initial password, shown only in this response.
    pub initial_password: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PasswordReset {
    /// The generated password, shown only in this response; `null` when one was given.
    pub password: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AssignmentView {
    pub entity_id: i64,
    pub profile_id: i64,
    pub recursive: bool,
}

impl From<&Assignment> for AssignmentView {
    fn from(a: &Assignment) -> AssignmentView {
        AssignmentView {
            entity_id: a.entity_id,
            profile_id: a.profile_id,
            recursive: a.recursive,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct EntityView {
    pub id: i64,
    pub parent_id: Option<i64>,
    pub name: String,
    pub comment: String,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Entity> for EntityView {
    fn from(e: &Entity) -> EntityView {
        EntityView {
            id: e.id,
            parent_id: e.parent_id,
            name: e.name.clone(),
            comment: e.comment.clone(),
            created_at: rfc3339(e.created_at),
            updated_at: rfc3339(e.updated_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ProfileView {
    pub id: i64,
    pub name: String,
    pub description: String,
    /// Domain → level.
    pub levels: BTreeMap<String, String>,
    pub assigned_only: bool,
    pub builtin: bool,
    pub entity_id: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Profile> for ProfileView {
    fn from(p: &Profile) -> ProfileView {
        ProfileView {
            id: p.id,
            name: p.name.clone(),
            description: p.description.clone(),
            levels: levels_map(&p.levels),
            assigned_only: p.assigned_only,
            builtin: p.builtin,
            entity_id: p.entity_id,
            created_at: rfc3339(p.created_at),
            updated_at: rfc3339(p.updated_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct TeamView {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub entity_id: i64,
    pub member_ids: Vec<i64>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Team> for TeamView {
    fn from(t: &Team) -> TeamView {
        TeamView {
            id: t.id,
            name: t.name.clone(),
            description: t.description.clone(),
            entity_id: t.entity_id,
            member_ids: t.members.clone(),
            created_at: rfc3339(t.created_at),
            updated_at: rfc3339(t.updated_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct UserTemplateView {
    pub id: i64,
    pub name: String,
    pub entity_id: i64,
    pub profile_id: i64,
    pub recursive: bool,
    pub team_id: Option<i64>,
    pub language: String,
    pub time_zone: String,
    pub notify_email: bool,
    pub notify_sms: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&UserTemplate> for UserTemplateView {
    fn from(t: &UserTemplate) -> UserTemplateView {
        UserTemplateView {
            id: t.id,
            name: t.name.clone(),
            entity_id: t.entity_id,
            profile_id: t.profile_id,
            recursive: t.recursive,
            team_id: t.team_id,
            language: t.language.clone(),
            time_zone: t.time_zone.clone(),
            notify_email: t.notify_email,
            notify_sms: t.notify_sms,
            created_at: rfc3339(t.created_at),
            updated_at: rfc3339(t.updated_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ChangeView {
    pub field: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditView {
    pub id: i64,
    pub at: String,
    pub actor_id: Option<i64>,
    pub actor_login: String,
    pub source: String,
    pub action: String,
    pub object_type: String,
    pub object_id: Option<i64>,
    pub object_label: String,
    pub entity_id: Option<i64>,
    pub changes: Vec<ChangeView>,
}

impl From<&AuditRecord> for AuditView {
    fn from(r: &AuditRecord) -> AuditView {
        AuditView {
            id: r.id,
            at: rfc3339(r.at),
            actor_id: r.actor_id,
            actor_login: r.actor_login.clone(),
            source: r.source.clone(),
            action: r.event.action.clone(),
            object_type: r.event.object_type.clone(),
            object_id: r.event.object_id,
            object_label: r.event.object_label.clone(),
            entity_id: r.event.entity_id,
            changes: r
                .event
                .changes
                .iter()
                .map(|c| ChangeView {
                    field: c.field.clone(),
                    before: c.before.clone(),
                    after: c.after.clone(),
                })
                .collect(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AuditList {
    pub items: Vec<AuditView>,
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TokenView {
    pub id: i64,
    pub name: String,
    /// The secret's first characters, to tell tokens apart.
    pub prefix: String,
    pub levels: BTreeMap<String, String>,
    pub created_at: String,
    pub expires_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

impl From<&ApiToken> for TokenView {
    fn from(t: &ApiToken) -> TokenView {
        TokenView {
            id: t.id,
            name: t.name.clone(),
            prefix: t.prefix.clone(),
            levels: levels_map(&t.levels),
            created_at: rfc3339(t.created_at),
            expires_at: rfc3339(t.expires_at),
            last_used_at: t.last_used_at.map(rfc3339),
            revoked_at: t.revoked_at.map(rfc3339),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    pub token: TokenView,
    /// Send as `Authorization: Bearer <secret>`. Shown only in this response.
    pub secret: String,
}

#[derive(Serialize, ToSchema)]
pub struct MeView {
    pub user: UserView,
    /// The highest level held in each domain on any entity.
    pub levels: BTreeMap<String, String>,
    pub assignments: Vec<AssignmentView>,
}

#[derive(Serialize, ToSchema)]
pub struct LoggedOut {
    /// Sessions ended.
    pub sessions: u64,
}
