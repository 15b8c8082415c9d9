//! Plain domain records shared by the store and the web layer.

use crate::audit::Field;
use crate::permission::{EntityId, Levels};

pub type UserId = i64;
pub type ProfileId = i64;
pub type TeamId = i64;

/// The root of the entity tree, created by the first migration.
pub const ROOT_ENTITY: EntityId = 1;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entity {
    pub id: EntityId,
    pub parent_id: Option<EntityId>,
    pub name: String,
    pub comment: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Entity {
    pub fn audit_fields(&self) -> Vec<Field> {
        vec![
            Field::new("name", &self.name),
            Field::new("parent_id", opt(self.parent_id)),
            Field::new("comment", &self.comment),
        ]
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntityInput {
    pub parent_id: EntityId,
    pub name: String,
    pub comment: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    pub id: ProfileId,
    pub name: String,
    pub description: String,
    pub levels: Levels,
    /// Vendor-like profiles see only the objects assigned to the user.
    pub assigned_only: bool,
    pub builtin: bool,
    pub entity_id: EntityId,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Profile {
    pub fn audit_fields(&self) -> Vec<Field> {
        vec![
            Field::new("name", &self.name),
            Field::new("description", &self.description),
            Field::new("levels", self.levels.encode()),
            Field::new("assigned_only", self.assigned_only.to_string()),
            Field::new("entity_id", self.entity_id.to_string()),
        ]
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfileInput {
    pub name: String,
    pub description: String,
    pub levels: Levels,
    pub assigned_only: bool,
    pub entity_id: EntityId,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub login: String,
    pub display_name: String,
    pub email: String,
    pub phone: String,
    pub language: String,
    pub time_zone: String,
    pub active: bool,
    pub entity_id: EntityId,
    pub must_change_password: bool,
    pub notify_email: bool,
    pub notify_sms: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_login_at: Option<i64>,
}

impl User {
    pub fn audit_fields(&self) -> Vec<Field> {
        vec![
            Field::new("login", &self.login),
            Field::new("display_name", &self.display_name),
            Field::new("email", &self.email),
            Field::new("phone", &self.phone),
            Field::new("language", &self.language),
            Field::new("time_zone", &self.time_zone),
            Field::new("active", self.active.to_string()),
            Field::new("entity_id", self.entity_id.to_string()),
            Field::new("notify_email", self.notify_email.to_string()),
            Field::new("notify_sms", self.notify_sms.to_string()),
        ]
    }
}

/// The editable fields of a user, validated by [`crate::validate::user_input`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserInput {
    pub login: String,
    pub display_name: String,
    pub email: String,
    pub phone: String,
    pub language: String,
    pub time_zone: String,
    pub active: bool,
    pub entity_id: EntityId,
    pub notify_email: bool,
    pub notify_sms: bool,
}

impl UserInput {
    pub fn from_user(u: &User) -> UserInput {
        UserInput {
            login: u.login.clone(),
            display_name: u.display_name.clone(),
            email: u.email.clone(),
            phone: u.phone.clone(),
            language: u.language.clone(),
            time_zone: u.time_zone.clone(),
            active: u.active,
            entity_id: u.entity_id,
            notify_email: u.notify_email,
            notify_sms: u.notify_sms,
        }
    }
}

/// One (entity, profile) assignment of a user.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Assignment {
    pub entity_id: EntityId,
    pub profile_id: ProfileId,
    pub recursive: bool,
}

pub fn assignments_field(list: &[Assignment]) -> Field {
    let text = list
        .iter()
        .map(|a| {
            format!(
                "{}@{}{}",
                a.profile_id,
                a.entity_id,
                if a.recursive { "+" } else { "" }
            )
        })
        .collect::<Vec<_>>()
        .join(" ");
    Field::new("assignments", text)
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Team {
    pub id: TeamId,
    pub name: String,
    pub description: String,
    pub entity_id: EntityId,
    pub members: Vec<UserId>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Team {
    pub fn audit_fields(&self) -> Vec<Field> {
        vec![
            Field::new("name", &self.name),
            Field::new("description", &self.description),
            Field::new("entity_id", self.entity_id.to_string()),
            Field::new(
                "members",
                self.members
                    .iter()
                    .map(|m| m.to_string())
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
        ]
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TeamInput {
    pub name: String,
    pub description: String,
    pub entity_id: EntityId,
    pub members: Vec<UserId>,
}

/// A preset used to create accounts "by profile" in one step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserTemplate {
    pub id: i64,
    pub name: String,
    pub entity_id: EntityId,
    pub profile_id: ProfileId,
    pub recursive: bool,
    pub team_id: Option<TeamId>,
    pub language: String,
    pub time_zone: String,
    pub notify_email: bool,
    pub notify_sms: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl UserTemplate {
    pub fn audit_fields(&self) -> Vec<Field> {
        vec![
            Field::new("name", &self.name),
            Field::new("entity_id", self.entity_id.to_string()),
            Field::new("profile_id", self.profile_id.to_string()),
            Field::new("recursive", self.recursive.to_string()),
            Field::new("team_id", opt(self.team_id)),
            Field::new("language", &self.language),
            Field::new("time_zone", &self.time_zone),
            Field::new("notify_email", self.notify_email.to_string()),
            Field::new("notify_sms", self.notify_sms.to_string()),
        ]
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserTemplateInput {
    pub name: String,
    pub entity_id: EntityId,
    pub profile_id: ProfileId,
    pub recursive: bool,
    pub team_id: Option<TeamId>,
    pub language: String,
    pub time_zone: String,
    pub notify_email: bool,
    pub notify_sms: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiToken {
    pub id: i64,
    pub user_id: UserId,
    pub name: String,
    /// The first characters of the secret, shown so that people can tell tokens apart.
    pub prefix: String,
    pub levels: Levels,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl ApiToken {
    pub fn audit_fields(&self) -> Vec<Field> {
        vec![
            Field::new("name", &self.name),
            Field::new("prefix", &self.prefix),
            Field::new("levels", self.levels.encode()),
            Field::new("expires_at", self.expires_at.to_string()),
            Field::secret("secret"),
        ]
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub user_id: UserId,
    pub csrf_token: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
}

fn opt(v: Option<i64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}
