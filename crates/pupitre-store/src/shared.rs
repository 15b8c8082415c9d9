//! The queries both backends share, written once and instantiated per backend by
//! `impl_store!`. Placeholders are `$N`, which SQLite and PostgreSQL both accept; SQL that
//! differs between backends does not belong here.

use pupitre_core::audit::Change;

/// Serialises an audit record's changes for the `changes` column.
pub(crate) fn encode_changes(changes: &[Change]) -> String {
    let list: Vec<serde_json::Value> = changes
        .iter()
        .map(|c| serde_json::json!({"field": c.field, "before": c.before, "after": c.after}))
        .collect();
    serde_json::Value::Array(list).to_string()
}

pub(crate) fn decode_changes(text: &str) -> Vec<Change> {
    let Ok(serde_json::Value::Array(list)) = serde_json::from_str::<serde_json::Value>(text) else {
        return Vec::new();
    };
    list.iter()
        .map(|v| Change {
            field: v["field"].as_str().unwrap_or_default().to_owned(),
            before: v["before"].as_str().map(str::to_owned),
            after: v["after"].as_str().map(str::to_owned),
        })
        .collect()
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
pub(crate) fn like_pattern(text: &str) -> String {
    let mut out = String::from("%");
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Maps a unique-constraint violation to a conflict on `field`, other errors unchanged.
pub(crate) fn conflict_on(
    field: &str,
    message: &str,
) -> impl FnOnce(sqlx::Error) -> crate::StoreError {
    let field = field.to_owned();
    let message = message.to_owned();
    move |e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            crate::StoreError::Conflict { field, message }
        }
        sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
            crate::StoreError::Rejected("a referenced object does not exist".to_owned())
        }
        _ => crate::StoreError::Database(e),
    }
}

macro_rules! user_cols {
    () => {
        "id, login, display_name, email, phone, language, time_zone, active, entity_id, \
    must_change_password, notify_email, notify_sms, created_at, updated_at, last_login_at"
    };
}
/// User columns qualified by the `u` alias, for joins.
macro_rules! user_cols_u {
    () => {
        "u.id, u.login, u.display_name, u.email, u.phone, u.language, u.time_zone, u.active, u.entity_id, \
         u.must_change_password, u.notify_email, u.notify_sms, u.created_at, u.updated_at, u.last_login_at"
    };
}

macro_rules! profile_cols {
    () => {
        "id, name, description, levels, assigned_only, builtin, entity_id, created_at, updated_at"
    };
}
macro_rules! template_cols {
    () => {
        "id, name, entity_id, profile_id, recursive, team_id, language, time_zone, \
    notify_email, notify_sms, created_at, updated_at"
    };
}
macro_rules! token_cols {
    () => {
        "id, user_id, name, prefix, levels, created_at, expires_at, last_used_at, revoked_at"
    };
}
macro_rules! audit_cols {
    () => {
        "id, at, actor_id, actor_login, source, action, object_type, object_id, \
    object_label, entity_id, changes"
    };
}

macro_rules! impl_store {
    ($store:ty, $db:ty) => {
        use async_trait::async_trait;
        use pupitre_core::audit::{self as core_audit, Actor, AuditEvent, AuditRecord};
        use pupitre_core::model::{
            assignments_field, ApiToken, Assignment, Entity, EntityInput, Profile, ProfileInput,
            Session, Team, TeamInput, User, UserInput, UserTemplate, UserTemplateInput,
        };
        use pupitre_core::permission::{EntityId, Levels};
        use sqlx::{QueryBuilder, Row};

        use crate::sql::push_in;

        use crate::shared::{conflict_on, decode_changes, encode_changes, like_pattern};
        use crate::{
            AuditFilter, AuditStore, Credentials, EntityStore, NewToken, NewUser, Page, PasswordChange,
            ProfileStore, Result, SessionStore, StoreError, TeamStore, TokenStore, UserFilter,
            UserStore, UserTemplateStore,
        };

        type Row_ = <$db as sqlx::Database>::Row;
        type Tx<'a> = sqlx::Transaction<'a, $db>;

        fn levels_col(row: &Row_, col: &str) -> Result<Levels> {
            let text: String = row.try_get(col)?;
            Levels::parse(&text).map_err(|e| StoreError::Rejected(format!("stored levels: {e}")))
        }

        fn entity_from(row: &Row_) -> Result<Entity> {
            Ok(Entity {
                id: row.try_get("id")?,
                parent_id: row.try_get("parent_id")?,
                name: row.try_get("name")?,
                comment: row.try_get("comment")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
            })
        }

        fn profile_from(row: &Row_) -> Result<Profile> {
            Ok(Profile {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                description: row.try_get("description")?,
                levels: levels_col(row, "levels")?,
                assigned_only: row.try_get("assigned_only")?,
                builtin: row.try_get("builtin")?,
                entity_id: row.try_get("entity_id")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
            })
        }

        fn user_from(row: &Row_) -> Result<User> {
            Ok(User {
                id: row.try_get("id")?,
                login: row.try_get("login")?,
                display_name: row.try_get("display_name")?,
                email: row.try_get("email")?,
                phone: row.try_get("phone")?,
                language: row.try_get("language")?,
                time_zone: row.try_get("time_zone")?,
                active: row.try_get("active")?,
                entity_id: row.try_get("entity_id")?,
                must_change_password: row.try_get("must_change_password")?,
                notify_email: row.try_get("notify_email")?,
                notify_sms: row.try_get("notify_sms")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
                last_login_at: row.try_get("last_login_at")?,
            })
        }

        /// Decodes one row per user (the default shape of a page of users).
        #[allow(dead_code, reason = "a backend that aggregates its pages does not use it")]
        fn user_rows(rows: &[Row_]) -> Result<Vec<User>> {
            rows.iter().map(user_from).collect()
        }

        fn template_from(row: &Row_) -> Result<UserTemplate> {
            Ok(UserTemplate {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                entity_id: row.try_get("entity_id")?,
                profile_id: row.try_get("profile_id")?,
                recursive: row.try_get("recursive")?,
                team_id: row.try_get("team_id")?,
                language: row.try_get("language")?,
                time_zone: row.try_get("time_zone")?,
                notify_email: row.try_get("notify_email")?,
                notify_sms: row.try_get("notify_sms")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
            })
        }

        fn token_from(row: &Row_) -> Result<ApiToken> {
            Ok(ApiToken {
                id: row.try_get("id")?,
                user_id: row.try_get("user_id")?,
                name: row.try_get("name")?,
                prefix: row.try_get("prefix")?,
                levels: levels_col(row, "levels")?,
                created_at: row.try_get("created_at")?,
                expires_at: row.try_get("expires_at")?,
                last_used_at: row.try_get("last_used_at")?,
                revoked_at: row.try_get("revoked_at")?,
            })
        }

        fn audit_from(row: &Row_) -> Result<AuditRecord> {
            let changes: String = row.try_get("changes")?;
            Ok(AuditRecord {
                id: row.try_get("id")?,
                at: row.try_get("at")?,
                actor_id: row.try_get("actor_id")?,
                actor_login: row.try_get("actor_login")?,
                source: row.try_get("source")?,
                event: AuditEvent {
                    action: row.try_get("action")?,
                    object_type: row.try_get("object_type")?,
                    object_id: row.try_get("object_id")?,
                    object_label: row.try_get("object_label")?,
                    entity_id: row.try_get("entity_id")?,
                    changes: decode_changes(&changes),
                },
            })
        }

        async fn write_audit(tx: &mut Tx<'_>, actor: &Actor, ev: &AuditEvent) -> Result<()> {
            write_audits(tx, actor, std::slice::from_ref(ev)).await
        }

        /// Audits `action` on one object (type, id, label, entity) with `changes`.
        async fn audit_object(
            tx: &mut Tx<'_>,
            actor: &Actor,
            action: &str,
            (object_type, id, label, entity): (&str, i64, &str, EntityId),
            changes: Vec<core_audit::Change>,
        ) -> Result<()> {
            let ev = AuditEvent {
                action: action.to_owned(),
                object_type: object_type.to_owned(),
                object_id: Some(id),
                object_label: label.to_owned(),
                entity_id: Some(entity),
                changes,
            };
            write_audit(tx, actor, &ev).await
        }

        /// One field's change, as an audit record lists it.
        fn one_change(field: &'static str, before: &str, after: &str) -> Vec<core_audit::Change> {
            core_audit::diff(
                Some(&[core_audit::Field::new(field, before)]),
                Some(&[core_audit::Field::new(field, after)]),
            )
        }

        /// Writes `events`, in order, as many per statement as the bind limit allows.
        async fn write_audits(tx: &mut Tx<'_>, actor: &Actor, events: &[AuditEvent]) -> Result<()> {
            for chunk in events.chunks(1000) {
                let mut qb = QueryBuilder::<$db>::new(
                    "INSERT INTO audit_log (at, actor_id, actor_login, source, action, object_type, \
                     object_id, object_label, entity_id, changes) ",
                );
                qb.push_values(chunk, |mut b, ev| {
                    b.push_bind(actor.at)
                        .push_bind(actor.user_id)
                        .push_bind(actor.login.clone())
                        .push_bind(actor.source.clone())
                        .push_bind(ev.action.clone())
                        .push_bind(ev.object_type.clone())
                        .push_bind(ev.object_id)
                        .push_bind(ev.object_label.clone())
                        .push_bind(ev.entity_id)
                        .push_bind(encode_changes(&ev.changes));
                });
                qb.build().execute(&mut **tx).await?;
            }
            Ok(())
        }

        fn event(
            action: &str,
            object_type: &str,
            id: i64,
            label: &str,
            entity: Option<EntityId>,
            before: Option<&[core_audit::Field]>,
            after: Option<&[core_audit::Field]>,
        ) -> AuditEvent {
            AuditEvent {
                action: action.to_owned(),
                object_type: object_type.to_owned(),
                object_id: Some(id),
                object_label: label.to_owned(),
                entity_id: entity,
                changes: core_audit::diff(before, after),
            }
        }

        async fn entity_in(tx: &mut Tx<'_>, id: EntityId) -> Result<Entity> {
            let row = sqlx::query("SELECT * FROM entities WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut **tx)
                .await?
                .ok_or(StoreError::NotFound)?;
            entity_from(&row)
        }

        async fn profile_in(tx: &mut Tx<'_>, id: i64) -> Result<Profile> {
            let row = sqlx::query(concat!("SELECT ", profile_cols!(), " FROM profiles WHERE id = $1"))
                .bind(id)
                .fetch_optional(&mut **tx)
                .await?
                .ok_or(StoreError::NotFound)?;
            profile_from(&row)
        }

        async fn user_in(tx: &mut Tx<'_>, id: i64) -> Result<User> {
            let row = sqlx::query(concat!("SELECT ", user_cols!(), " FROM users WHERE id = $1"))
                .bind(id)
                .fetch_optional(&mut **tx)
                .await?
                .ok_or(StoreError::NotFound)?;
            user_from(&row)
        }

        async fn team_in(tx: &mut Tx<'_>, id: i64) -> Result<Team> {
            let row = sqlx::query("SELECT * FROM teams WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut **tx)
                .await?
                .ok_or(StoreError::NotFound)?;
            let members = sqlx::query("SELECT user_id FROM team_members WHERE team_id = $1 ORDER BY user_id")
                .bind(id)
                .fetch_all(&mut **tx)
                .await?
                .iter()
                .map(|r| r.try_get::<i64, _>("user_id"))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Team {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                description: row.try_get("description")?,
                entity_id: row.try_get("entity_id")?,
                members,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
            })
        }

        async fn template_in(tx: &mut Tx<'_>, id: i64) -> Result<UserTemplate> {
            let row = sqlx::query(concat!("SELECT ", template_cols!(), " FROM user_templates WHERE id = $1"))
                .bind(id)
                .fetch_optional(&mut **tx)
                .await?
                .ok_or(StoreError::NotFound)?;
            template_from(&row)
        }

        async fn assignments_in(tx: &mut Tx<'_>, user_id: i64) -> Result<Vec<Assignment>> {
            let rows = sqlx::query(
                "SELECT entity_id, profile_id, recursive FROM assignments WHERE user_id = $1 \
                 ORDER BY entity_id, profile_id",
            )
            .bind(user_id)
            .fetch_all(&mut **tx)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(Assignment {
                        entity_id: r.try_get("entity_id")?,
                        profile_id: r.try_get("profile_id")?,
                        recursive: r.try_get("recursive")?,
                    })
                })
                .collect()
        }

        async fn replace_assignments(tx: &mut Tx<'_>, user_id: i64, list: &[Assignment]) -> Result<()> {
            sqlx::query("DELETE FROM assignments WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut **tx)
                .await?;
            for a in list {
                sqlx::query(
                    "INSERT INTO assignments (user_id, entity_id, profile_id, recursive) VALUES ($1, $2, $3, $4)",
                )
                .bind(user_id)
                .bind(a.entity_id)
                .bind(a.profile_id)
                .bind(a.recursive)
                .execute(&mut **tx)
                .await
                .map_err(conflict_on("assignments", "lists the same entity and profile twice"))?;
            }
            Ok(())
        }

        async fn replace_members(tx: &mut Tx<'_>, team_id: i64, members: &[i64]) -> Result<()> {
            sqlx::query("DELETE FROM team_members WHERE team_id = $1")
                .bind(team_id)
                .execute(&mut **tx)
                .await?;
            for m in members {
                sqlx::query("INSERT INTO team_members (team_id, user_id) VALUES ($1, $2)")
                    .bind(team_id)
                    .bind(m)
                    .execute(&mut **tx)
                    .await
                    .map_err(conflict_on("members", "lists a user twice"))?;
            }
            Ok(())
        }

        #[async_trait]
        impl EntityStore for $store {
            async fn list_entities(&self) -> Result<Vec<Entity>> {
                let rows = sqlx::query("SELECT * FROM entities ORDER BY id")
                    .fetch_all(&self.read)
                    .await?;
                rows.iter().map(entity_from).collect()
            }

            async fn get_entity(&self, id: EntityId) -> Result<Entity> {
                let row = sqlx::query("SELECT * FROM entities WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.read)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                entity_from(&row)
            }

            async fn create_entity(&self, actor: &Actor, input: &EntityInput) -> Result<Entity> {
                let mut tx = self.write.begin().await?;
                entity_in(&mut tx, input.parent_id).await.map_err(|_| StoreError::Conflict {
                    field: "parent_id".into(),
                    message: format!("entity {} does not exist", input.parent_id),
                })?;
                let id: i64 = sqlx::query(
                    "INSERT INTO entities (parent_id, name, comment, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $4) RETURNING id",
                )
                .bind(input.parent_id)
                .bind(&input.name)
                .bind(&input.comment)
                .bind(actor.at)
                .fetch_one(&mut *tx)
                .await
                .map_err(conflict_on("name", "is already used by a sibling entity"))?
                .try_get("id")?;
                let e = entity_in(&mut tx, id).await?;
                write_audit(&mut tx, actor, &event("entity.create", "entity", id, &e.name, Some(id), None, Some(&e.audit_fields()))).await?;
                tx.commit().await?;
                Ok(e)
            }

            async fn update_entity(&self, actor: &Actor, id: EntityId, input: &EntityInput) -> Result<Entity> {
                let mut tx = self.write.begin().await?;
                let before = entity_in(&mut tx, id).await?;
                if before.parent_id.is_none() && input.parent_id != 0 {
                    return Err(StoreError::Rejected("the root entity cannot be moved".into()));
                }
                let parent = before.parent_id.map(|_| input.parent_id);
                if let Some(p) = parent {
                    // Moves are serialised on the root's row, so that two concurrent moves
                    // cannot both pass the cycle check (PostgreSQL; SQLite has one writer).
                    sqlx::query("UPDATE entities SET updated_at = updated_at WHERE parent_id IS NULL")
                        .execute(&mut *tx)
                        .await?;
                    let tree: Vec<(i64, Option<i64>)> = sqlx::query("SELECT id, parent_id FROM entities")
                        .fetch_all(&mut *tx)
                        .await?
                        .iter()
                        .map(|r| Ok((r.try_get("id")?, r.try_get("parent_id")?)))
                        .collect::<Result<_>>()?;
                    if !tree.iter().any(|&(i, _)| i == p) {
                        return Err(StoreError::Conflict { field: "parent_id".into(), message: format!("entity {p} does not exist") });
                    }
                    if pupitre_core::permission::subtree(id, &tree).contains(&p) {
                        return Err(StoreError::Conflict { field: "parent_id".into(), message: "would put the entity inside itself".into() });
                    }
                }
                sqlx::query("UPDATE entities SET parent_id = $1, name = $2, comment = $3, updated_at = $4 WHERE id = $5")
                    .bind(parent)
                    .bind(&input.name)
                    .bind(&input.comment)
                    .bind(actor.at)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(conflict_on("name", "is already used by a sibling entity"))?;
                let after = entity_in(&mut tx, id).await?;
                write_audit(&mut tx, actor, &event("entity.update", "entity", id, &after.name, Some(id), Some(&before.audit_fields()), Some(&after.audit_fields()))).await?;
                tx.commit().await?;
                Ok(after)
            }

            async fn delete_entity(&self, actor: &Actor, id: EntityId) -> Result<()> {
                let mut tx = self.write.begin().await?;
                let before = entity_in(&mut tx, id).await?;
                if before.parent_id.is_none() {
                    return Err(StoreError::Rejected("the root entity cannot be deleted".into()));
                }
                for (table, what) in [("entities WHERE parent_id", "child entities"), ("users WHERE entity_id", "users"),
                    ("teams WHERE entity_id", "teams"), ("profiles WHERE entity_id", "profiles"),
                    ("assignments WHERE entity_id", "assignments"), ("user_templates WHERE entity_id", "account templates")] {
                    let n: i64 = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) AS n FROM {table} = $1")))
                        .bind(id)
                        .fetch_one(&mut *tx)
                        .await?
                        .try_get("n")?;
                    if n > 0 {
                        return Err(StoreError::Rejected(format!("the entity still has {n} {what}; move or delete them first")));
                    }
                }
                sqlx::query("DELETE FROM entities WHERE id = $1").bind(id).execute(&mut *tx).await?;
                // Filed under the parent, whose administrators keep seeing it.
                write_audit(&mut tx, actor, &event("entity.delete", "entity", id, &before.name, before.parent_id, Some(&before.audit_fields()), None)).await?;
                tx.commit().await?;
                Ok(())
            }
        }

        #[async_trait]
        impl ProfileStore for $store {
            async fn list_profiles(&self) -> Result<Vec<Profile>> {
                let rows = sqlx::query(concat!("SELECT ", profile_cols!(), " FROM profiles ORDER BY builtin DESC, id"))
                    .fetch_all(&self.read)
                    .await?;
                rows.iter().map(profile_from).collect()
            }

            async fn get_profile(&self, id: i64) -> Result<Profile> {
                let row = sqlx::query(concat!("SELECT ", profile_cols!(), " FROM profiles WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&self.read)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                profile_from(&row)
            }

            async fn create_profile(&self, actor: &Actor, input: &ProfileInput) -> Result<Profile> {
                let mut tx = self.write.begin().await?;
                let id: i64 = sqlx::query(
                    "INSERT INTO profiles (name, description, levels, assigned_only, builtin, entity_id, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, FALSE, $5, $6, $6) RETURNING id",
                )
                .bind(&input.name)
                .bind(&input.description)
                .bind(input.levels.encode())
                .bind(input.assigned_only)
                .bind(input.entity_id)
                .bind(actor.at)
                .fetch_one(&mut *tx)
                .await
                .map_err(conflict_on("name", "is already used by another profile"))?
                .try_get("id")?;
                let p = profile_in(&mut tx, id).await?;
                write_audit(&mut tx, actor, &event("profile.create", "profile", id, &p.name, Some(p.entity_id), None, Some(&p.audit_fields()))).await?;
                tx.commit().await?;
                Ok(p)
            }

            async fn update_profile(&self, actor: &Actor, id: i64, input: &ProfileInput) -> Result<Profile> {
                let mut tx = self.write.begin().await?;
                let before = profile_in(&mut tx, id).await?;
                if before.builtin {
                    return Err(StoreError::Rejected("built-in profiles cannot be changed; copy one instead".into()));
                }
                sqlx::query("UPDATE profiles SET name = $1, description = $2, levels = $3, assigned_only = $4, entity_id = $5, updated_at = $6 WHERE id = $7")
                    .bind(&input.name)
                    .bind(&input.description)
                    .bind(input.levels.encode())
                    .bind(input.assigned_only)
                    .bind(input.entity_id)
                    .bind(actor.at)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(conflict_on("name", "is already used by another profile"))?;
                let after = profile_in(&mut tx, id).await?;
                write_audit(&mut tx, actor, &event("profile.update", "profile", id, &after.name, Some(after.entity_id), Some(&before.audit_fields()), Some(&after.audit_fields()))).await?;
                tx.commit().await?;
                Ok(after)
            }

            async fn delete_profile(&self, actor: &Actor, id: i64) -> Result<()> {
                let mut tx = self.write.begin().await?;
                let before = profile_in(&mut tx, id).await?;
                if before.builtin {
                    return Err(StoreError::Rejected("built-in profiles cannot be deleted".into()));
                }
                for (table, what) in [("assignments", "assignments"), ("user_templates", "account templates")] {
                    let n: i64 = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) AS n FROM {table} WHERE profile_id = $1")))
                        .bind(id)
                        .fetch_one(&mut *tx)
                        .await?
                        .try_get("n")?;
                    if n > 0 {
                        return Err(StoreError::Rejected(format!("the profile is used by {n} {what}")));
                    }
                }
                sqlx::query("DELETE FROM profiles WHERE id = $1").bind(id).execute(&mut *tx).await?;
                write_audit(&mut tx, actor, &event("profile.delete", "profile", id, &before.name, Some(before.entity_id), Some(&before.audit_fields()), None)).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn profile_uses(&self, id: i64) -> Result<Vec<(EntityId, bool)>> {
                let rows = sqlx::query(
                    "SELECT entity_id, recursive FROM assignments WHERE profile_id = $1 \
                     UNION SELECT entity_id, recursive FROM user_templates WHERE profile_id = $1",
                )
                .bind(id)
                .fetch_all(&self.read)
                .await?;
                rows.iter().map(|r| Ok((r.try_get("entity_id")?, r.try_get("recursive")?))).collect()
            }

            async fn sync_builtin_profiles(&self, now: i64) -> Result<()> {
                let mut tx = self.write.begin().await?;
                for b in pupitre_core::builtin::profiles() {
                    let updated = sqlx::query("UPDATE profiles SET description = $1, levels = $2, assigned_only = $3 WHERE name = $4 AND builtin = TRUE")
                        .bind(b.description)
                        .bind(b.levels.encode())
                        .bind(b.assigned_only)
                        .bind(b.name)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    if updated == 0 {
                        sqlx::query(
                            "INSERT INTO profiles (name, description, levels, assigned_only, builtin, entity_id, created_at, updated_at) \
                             VALUES ($1, $2, $3, $4, TRUE, $5, $6, $6)",
                        )
                        .bind(b.name)
                        .bind(b.description)
                        .bind(b.levels.encode())
                        .bind(b.assigned_only)
                        .bind(pupitre_core::model::ROOT_ENTITY)
                        .bind(now)
                        .execute(&mut *tx)
                        .await
                        .map_err(conflict_on("name", "a custom profile already has a built-in profile's name"))?;
                    }
                }
                tx.commit().await?;
                Ok(())
            }
        }

        #[async_trait]
        impl UserStore for $store {
            async fn list_users(&self, filter: &UserFilter, page: Page) -> Result<Vec<User>> {
                if filter.visible.is_empty() {
                    return Ok(Vec::new());
                }
                let mut qb = QueryBuilder::<$db>::new(<$store>::USER_PAGE_HEAD);
                push_in(&mut qb, "entity_id", &filter.visible);
                if let Some(after) = page.after {
                    qb.push(" AND id > ").push_bind(after);
                }
                if let Some(e) = filter.entity_id {
                    qb.push(" AND entity_id = ").push_bind(e);
                }
                if let Some(a) = filter.active {
                    qb.push(" AND active = ").push_bind(a);
                }
                if let Some(t) = filter.team_id {
                    qb.push(" AND id IN (SELECT user_id FROM team_members WHERE team_id = ").push_bind(t).push(")");
                }
                if let Some(q) = filter.query.as_deref().filter(|q| !q.is_empty()) {
                    let pat = like_pattern(q);
                    qb.push(" AND (LOWER(login) LIKE ").push_bind(pat.clone()).push(" ESCAPE '\\'")
                        .push(" OR LOWER(display_name) LIKE ").push_bind(pat.clone()).push(" ESCAPE '\\'")
                        .push(" OR LOWER(email) LIKE ").push_bind(pat).push(" ESCAPE '\\')");
                }
                qb.push(" ORDER BY id LIMIT ").push(page.limit).push(<$store>::USER_PAGE_TAIL);
                let rows = qb.build().fetch_all(&self.read).await?;
                <$store>::user_page(&rows)
            }

            async fn count_users(&self) -> Result<i64> {
                Ok(sqlx::query("SELECT COUNT(*) AS n FROM users").fetch_one(&self.read).await?.try_get("n")?)
            }

            async fn get_user(&self, id: i64) -> Result<User> {
                let row = sqlx::query(concat!("SELECT ", user_cols!(), " FROM users WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&self.read)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                user_from(&row)
            }

            async fn find_credentials(&self, login: &str) -> Result<Option<Credentials>> {
                let row = sqlx::query(concat!("SELECT ", user_cols!(), ", password_hash FROM users WHERE login_key = $1"))
                    .bind(login.trim().to_lowercase())
                    .fetch_optional(&self.read)
                    .await?;
                row.map(|r| Ok(Credentials { user: user_from(&r)?, password_hash: r.try_get("password_hash")? })).transpose()
            }

            async fn create_users(&self, actor: &Actor, users: &[NewUser]) -> Result<Vec<User>> {
                let mut tx = self.write.begin().await?;
                let mut out = Vec::with_capacity(users.len());
                for (i, nu) in users.iter().enumerate() {
                    let u = &nu.input;
                    let at_row = |field: &str| if users.len() > 1 { format!("row {}: {field}", i + 1) } else { field.to_owned() };
                    let id: i64 = sqlx::query(
                        "INSERT INTO users (login, login_key, display_name, email, phone, language, time_zone, active, entity_id, \
                         password_hash, must_change_password, notify_email, notify_sms, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14) RETURNING id",
                    )
                    .bind(&u.login)
                    .bind(u.login.to_lowercase())
                    .bind(&u.display_name)
                    .bind(&u.email)
                    .bind(&u.phone)
                    .bind(&u.language)
                    .bind(&u.time_zone)
                    .bind(u.active)
                    .bind(u.entity_id)
                    .bind(&nu.password_hash)
                    .bind(nu.must_change_password)
                    .bind(u.notify_email)
                    .bind(u.notify_sms)
                    .bind(actor.at)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(conflict_on(&at_row("login"), "is already taken"))?
                    .try_get("id")?;
                    replace_assignments(&mut tx, id, &nu.assignments).await?;
                    for t in &nu.teams {
                        sqlx::query("INSERT INTO team_members (team_id, user_id) VALUES ($1, $2)")
                            .bind(t)
                            .bind(id)
                            .execute(&mut *tx)
                            .await
                            .map_err(conflict_on(&at_row("teams"), "lists a team twice"))?;
                    }
                    let user = user_in(&mut tx, id).await?;
                    let mut fields = user.audit_fields();
                    fields.push(assignments_field(&nu.assignments));
                    fields.push(core_audit::Field::new("teams", nu.teams.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(" ")));
                    fields.push(core_audit::Field::secret("password"));
                    write_audit(&mut tx, actor, &event("user.create", "user", id, &user.login, Some(user.entity_id), None, Some(&fields))).await?;
                    out.push(user);
                }
                tx.commit().await?;
                Ok(out)
            }

            async fn update_user(&self, actor: &Actor, id: i64, input: &UserInput) -> Result<User> {
                let mut tx = self.write.begin().await?;
                let before = user_in(&mut tx, id).await?;
                sqlx::query(
                    "UPDATE users SET login = $1, login_key = $2, display_name = $3, email = $4, phone = $5, language = $6, \
                     time_zone = $7, active = $8, entity_id = $9, notify_email = $10, notify_sms = $11, updated_at = $12 WHERE id = $13",
                )
                .bind(&input.login)
                .bind(input.login.to_lowercase())
                .bind(&input.display_name)
                .bind(&input.email)
                .bind(&input.phone)
                .bind(&input.language)
                .bind(&input.time_zone)
                .bind(input.active)
                .bind(input.entity_id)
                .bind(input.notify_email)
                .bind(input.notify_sms)
                .bind(actor.at)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(conflict_on("login", "is already taken"))?;
                if before.active && !input.active {
                    sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(id).execute(&mut *tx).await?;
                }
                let after = user_in(&mut tx, id).await?;
                write_audit(&mut tx, actor, &event("user.update", "user", id, &after.login, Some(after.entity_id), Some(&before.audit_fields()), Some(&after.audit_fields()))).await?;
                tx.commit().await?;
                Ok(after)
            }

            async fn delete_user(&self, actor: &Actor, id: i64) -> Result<()> {
                let mut tx = self.write.begin().await?;
                let before = user_in(&mut tx, id).await?;
                sqlx::query("DELETE FROM users WHERE id = $1").bind(id).execute(&mut *tx).await?;
                write_audit(&mut tx, actor, &event("user.delete", "user", id, &before.login, Some(before.entity_id), Some(&before.audit_fields()), None)).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn set_password(&self, actor: &Actor, id: i64, change: &PasswordChange) -> Result<()> {
                let mut tx = self.write.begin().await?;
                let before = user_in(&mut tx, id).await?;
                sqlx::query("UPDATE users SET password_hash = $1, must_change_password = $2, updated_at = $3 WHERE id = $4")
                    .bind(&change.password_hash)
                    .bind(change.must_change)
                    .bind(actor.at)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                let ended = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2")
                    .bind(id)
                    .bind(change.keep_session.as_deref().unwrap_or(""))
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                let revoked = if change.revoke_tokens {
                    sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
                        .bind(actor.at)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected()
                } else {
                    0
                };
                let b = [core_audit::Field::new("must_change_password", before.must_change_password.to_string())];
                let a = [
                    core_audit::Field::new("must_change_password", change.must_change.to_string()),
                    core_audit::Field::secret("password"),
                    core_audit::Field::new("sessions_ended", ended.to_string()),
                    core_audit::Field::new("tokens_revoked", revoked.to_string()),
                ];
                write_audit(&mut tx, actor, &event("user.set_password", "user", id, &before.login, Some(before.entity_id), Some(&b), Some(&a))).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn record_login(&self, actor: &Actor, id: i64, ev: &AuditEvent) -> Result<()> {
                let mut tx = self.write.begin().await?;
                sqlx::query("UPDATE users SET last_login_at = $1 WHERE id = $2").bind(actor.at).bind(id).execute(&mut *tx).await?;
                write_audit(&mut tx, actor, ev).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn list_assignments(&self, user_id: i64) -> Result<Vec<Assignment>> {
                let mut conn = self.read.acquire().await?;
                let rows = sqlx::query("SELECT entity_id, profile_id, recursive FROM assignments WHERE user_id = $1 ORDER BY entity_id, profile_id")
                    .bind(user_id)
                    .fetch_all(&mut *conn)
                    .await?;
                rows.iter()
                    .map(|r| Ok(Assignment { entity_id: r.try_get("entity_id")?, profile_id: r.try_get("profile_id")?, recursive: r.try_get("recursive")? }))
                    .collect()
            }

            async fn set_assignments(&self, actor: &Actor, user_id: i64, list: &[Assignment]) -> Result<()> {
                let mut tx = self.write.begin().await?;
                let user = user_in(&mut tx, user_id).await?;
                let before = assignments_in(&mut tx, user_id).await?;
                replace_assignments(&mut tx, user_id, list).await?;
                let after = assignments_in(&mut tx, user_id).await?;
                write_audit(&mut tx, actor, &event("user.set_assignments", "user", user_id, &user.login, Some(user.entity_id),
                    Some(&[assignments_field(&before)]), Some(&[assignments_field(&after)]))).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn user_grants(&self, user_id: i64) -> Result<Vec<(Assignment, Levels)>> {
                let rows = sqlx::query(
                    "SELECT a.entity_id, a.profile_id, a.recursive, p.levels FROM assignments a \
                     JOIN profiles p ON p.id = a.profile_id WHERE a.user_id = $1",
                )
                .bind(user_id)
                .fetch_all(&self.read)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok((
                            Assignment { entity_id: r.try_get("entity_id")?, profile_id: r.try_get("profile_id")?, recursive: r.try_get("recursive")? },
                            levels_col(r, "levels")?,
                        ))
                    })
                    .collect()
            }

        }

        #[async_trait]
        impl TeamStore for $store {
            async fn list_teams(&self, visible: &[EntityId]) -> Result<Vec<Team>> {
                if visible.is_empty() {
                    return Ok(Vec::new());
                }
                // Two queries whatever the number of teams: the teams, then all their members.
                let mut qb = QueryBuilder::<$db>::new("SELECT * FROM teams WHERE ");
                push_in(&mut qb, "entity_id", visible);
                qb.push(" ORDER BY name, id");
                let rows = qb.build().fetch_all(&self.read).await?;
                let mut teams = rows
                    .iter()
                    .map(|row| {
                        Ok(Team {
                            id: row.try_get("id")?,
                            name: row.try_get("name")?,
                            description: row.try_get("description")?,
                            entity_id: row.try_get("entity_id")?,
                            members: Vec::new(),
                            created_at: row.try_get("created_at")?,
                            updated_at: row.try_get("updated_at")?,
                        })
                    })
                    .collect::<Result<Vec<Team>>>()?;
                let mut qb = QueryBuilder::<$db>::new("SELECT m.team_id, m.user_id FROM team_members m JOIN teams t ON t.id = m.team_id WHERE ");
                push_in(&mut qb, "t.entity_id", visible);
                qb.push(" ORDER BY m.user_id");
                for r in qb.build().fetch_all(&self.read).await? {
                    let (team, user): (i64, i64) = (r.try_get("team_id")?, r.try_get("user_id")?);
                    if let Some(t) = teams.iter_mut().find(|t| t.id == team) {
                        t.members.push(user);
                    }
                }
                Ok(teams)
            }

            async fn get_team(&self, id: i64) -> Result<Team> {
                let mut tx = self.read.begin().await?;
                let t = team_in(&mut tx, id).await?;
                tx.commit().await?;
                Ok(t)
            }

            async fn create_team(&self, actor: &Actor, input: &TeamInput) -> Result<Team> {
                let mut tx = self.write.begin().await?;
                let id: i64 = sqlx::query("INSERT INTO teams (name, description, entity_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) RETURNING id")
                    .bind(&input.name)
                    .bind(&input.description)
                    .bind(input.entity_id)
                    .bind(actor.at)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(conflict_on("name", "is already used by another team of this entity"))?
                    .try_get("id")?;
                replace_members(&mut tx, id, &input.members).await?;
                let t = team_in(&mut tx, id).await?;
                write_audit(&mut tx, actor, &event("team.create", "team", id, &t.name, Some(t.entity_id), None, Some(&t.audit_fields()))).await?;
                tx.commit().await?;
                Ok(t)
            }

            async fn update_team(&self, actor: &Actor, id: i64, input: &TeamInput) -> Result<Team> {
                let mut tx = self.write.begin().await?;
                let before = team_in(&mut tx, id).await?;
                sqlx::query("UPDATE teams SET name = $1, description = $2, entity_id = $3, updated_at = $4 WHERE id = $5")
                    .bind(&input.name)
                    .bind(&input.description)
                    .bind(input.entity_id)
                    .bind(actor.at)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(conflict_on("name", "is already used by another team of this entity"))?;
                replace_members(&mut tx, id, &input.members).await?;
                let after = team_in(&mut tx, id).await?;
                write_audit(&mut tx, actor, &event("team.update", "team", id, &after.name, Some(after.entity_id), Some(&before.audit_fields()), Some(&after.audit_fields()))).await?;
                tx.commit().await?;
                Ok(after)
            }

            async fn delete_team(&self, actor: &Actor, id: i64) -> Result<()> {
                let mut tx = self.write.begin().await?;
                let before = team_in(&mut tx, id).await?;
                sqlx::query("DELETE FROM teams WHERE id = $1").bind(id).execute(&mut *tx).await?;
                write_audit(&mut tx, actor, &event("team.delete", "team", id, &before.name, Some(before.entity_id), Some(&before.audit_fields()), None)).await?;
                tx.commit().await?;
                Ok(())
            }
        }

        #[async_trait]
        impl UserTemplateStore for $store {
            async fn list_user_templates(&self, visible: &[EntityId]) -> Result<Vec<UserTemplate>> {
                if visible.is_empty() {
                    return Ok(Vec::new());
                }
                let mut qb = QueryBuilder::<$db>::new(concat!("SELECT ", template_cols!(), " FROM user_templates WHERE "));
                push_in(&mut qb, "entity_id", visible);
                qb.push(" ORDER BY name");
                let rows = qb.build().fetch_all(&self.read).await?;
                rows.iter().map(template_from).collect()
            }

            async fn get_user_template(&self, id: i64) -> Result<UserTemplate> {
                let row = sqlx::query(concat!("SELECT ", template_cols!(), " FROM user_templates WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&self.read)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                template_from(&row)
            }

            async fn create_user_template(&self, actor: &Actor, input: &UserTemplateInput) -> Result<UserTemplate> {
                let mut tx = self.write.begin().await?;
                let id: i64 = sqlx::query(
                    "INSERT INTO user_templates (name, entity_id, profile_id, recursive, team_id, language, time_zone, notify_email, notify_sms, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING id",
                )
                .bind(&input.name)
                .bind(input.entity_id)
                .bind(input.profile_id)
                .bind(input.recursive)
                .bind(input.team_id)
                .bind(&input.language)
                .bind(&input.time_zone)
                .bind(input.notify_email)
                .bind(input.notify_sms)
                .bind(actor.at)
                .fetch_one(&mut *tx)
                .await
                .map_err(conflict_on("name", "is already used by another account template"))?
                .try_get("id")?;
                let t = template_in(&mut tx, id).await?;
                write_audit(&mut tx, actor, &event("user_template.create", "user_template", id, &t.name, Some(t.entity_id), None, Some(&t.audit_fields()))).await?;
                tx.commit().await?;
                Ok(t)
            }

            async fn update_user_template(&self, actor: &Actor, id: i64, input: &UserTemplateInput) -> Result<UserTemplate> {
                let mut tx = self.write.begin().await?;
                let before = template_in(&mut tx, id).await?;
                sqlx::query(
                    "UPDATE user_templates SET name = $1, entity_id = $2, profile_id = $3, recursive = $4, team_id = $5, language = $6, \
                     time_zone = $7, notify_email = $8, notify_sms = $9, updated_at = $10 WHERE id = $11",
                )
                .bind(&input.name)
                .bind(input.entity_id)
                .bind(input.profile_id)
                .bind(input.recursive)
                .bind(input.team_id)
                .bind(&input.language)
                .bind(&input.time_zone)
                .bind(input.notify_email)
                .bind(input.notify_sms)
                .bind(actor.at)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(conflict_on("name", "is already used by another account template"))?;
                let after = template_in(&mut tx, id).await?;
                write_audit(&mut tx, actor, &event("user_template.update", "user_template", id, &after.name, Some(after.entity_id), Some(&before.audit_fields()), Some(&after.audit_fields()))).await?;
                tx.commit().await?;
                Ok(after)
            }

            async fn delete_user_template(&self, actor: &Actor, id: i64) -> Result<()> {
                let mut tx = self.write.begin().await?;
                let before = template_in(&mut tx, id).await?;
                sqlx::query("DELETE FROM user_templates WHERE id = $1").bind(id).execute(&mut *tx).await?;
                write_audit(&mut tx, actor, &event("user_template.delete", "user_template", id, &before.name, Some(before.entity_id), Some(&before.audit_fields()), None)).await?;
                tx.commit().await?;
                Ok(())
            }
        }

        #[async_trait]
        impl SessionStore for $store {
            async fn create_session(&self, token_hash: &str, s: &Session, source: &str, user_agent: &str) -> Result<()> {
                sqlx::query(
                    "INSERT INTO sessions (token_hash, user_id, csrf_token, source, user_agent, created_at, last_seen_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(token_hash)
                .bind(s.user_id)
                .bind(&s.csrf_token)
                .bind(source)
                .bind(user_agent)
                .bind(s.created_at)
                .bind(s.last_seen_at)
                .bind(s.expires_at)
                .execute(&self.write)
                .await?;
                Ok(())
            }

            async fn session_user(&self, token_hash: &str) -> Result<Option<(Session, User)>> {
                let row = sqlx::query(concat!(
                    "SELECT s.csrf_token AS s_csrf, s.created_at AS s_created, s.last_seen_at AS s_seen, s.expires_at AS s_expires, ",
                    user_cols_u!(),
                    " FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1"
                ))
                .bind(token_hash)
                .fetch_optional(&self.read)
                .await?;
                row.map(|r| {
                    let user = user_from(&r)?;
                    let session = Session {
                        user_id: user.id,
                        csrf_token: r.try_get("s_csrf")?,
                        created_at: r.try_get("s_created")?,
                        last_seen_at: r.try_get("s_seen")?,
                        expires_at: r.try_get("s_expires")?,
                    };
                    Ok((session, user))
                })
                .transpose()
            }

            async fn touch_session(&self, token_hash: &str, now: i64, expires_at: i64) -> Result<()> {
                sqlx::query("UPDATE sessions SET last_seen_at = $1, expires_at = $2 WHERE token_hash = $3")
                    .bind(now)
                    .bind(expires_at)
                    .bind(token_hash)
                    .execute(&self.write)
                    .await?;
                Ok(())
            }

            async fn delete_session(&self, token_hash: &str) -> Result<()> {
                sqlx::query("DELETE FROM sessions WHERE token_hash = $1").bind(token_hash).execute(&self.write).await?;
                Ok(())
            }

            async fn end_sessions(&self, actor: &Actor, user_id: i64, only: Option<&str>, ev: &AuditEvent) -> Result<u64> {
                let mut tx = self.write.begin().await?;
                let ended = match only {
                    Some(hash) => sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND token_hash = $2").bind(user_id).bind(hash).execute(&mut *tx).await?,
                    None => sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?,
                }
                .rows_affected();
                let mut ev = ev.clone();
                ev.changes.push(core_audit::Change { field: "sessions_ended".into(), before: None, after: Some(ended.to_string()) });
                write_audit(&mut tx, actor, &ev).await?;
                tx.commit().await?;
                Ok(ended)
            }

            async fn purge_expired_sessions(&self, now: i64) -> Result<u64> {
                Ok(sqlx::query("DELETE FROM sessions WHERE expires_at < $1").bind(now).execute(&self.write).await?.rows_affected())
            }
        }

        #[async_trait]
        impl TokenStore for $store {
            async fn create_token(&self, actor: &Actor, t: &NewToken) -> Result<ApiToken> {
                let mut tx = self.write.begin().await?;
                let user = user_in(&mut tx, t.user_id).await?;
                let id: i64 = sqlx::query(
                    "INSERT INTO api_tokens (user_id, name, prefix, token_hash, levels, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                )
                .bind(t.user_id)
                .bind(&t.name)
                .bind(&t.prefix)
                .bind(&t.token_hash)
                .bind(t.levels.encode())
                .bind(actor.at)
                .bind(t.expires_at)
                .fetch_one(&mut *tx)
                .await?
                .try_get("id")?;
                let row = sqlx::query(concat!("SELECT ", token_cols!(), " FROM api_tokens WHERE id = $1"))
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
                let token = token_from(&row)?;
                write_audit(&mut tx, actor, &event("api_token.create", "api_token", id, &format!("{} ({})", token.name, user.login), Some(user.entity_id), None, Some(&token.audit_fields()))).await?;
                tx.commit().await?;
                Ok(token)
            }

            async fn list_tokens(&self, user_id: i64) -> Result<Vec<ApiToken>> {
                let rows = sqlx::query(concat!("SELECT ", token_cols!(), " FROM api_tokens WHERE user_id = $1 ORDER BY id"))
                    .bind(user_id)
                    .fetch_all(&self.read)
                    .await?;
                rows.iter().map(token_from).collect()
            }

            async fn token_user(&self, token_hash: &str) -> Result<Option<(ApiToken, User)>> {
                let row = sqlx::query(concat!(
                    "SELECT t.id AS t_id, t.name AS t_name, t.prefix AS t_prefix, t.levels AS t_levels, t.created_at AS t_created, \
                     t.expires_at AS t_expires, t.last_used_at AS t_used, t.revoked_at AS t_revoked, ",
                    user_cols_u!(),
                    " FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1"
                ))
                .bind(token_hash)
                .fetch_optional(&self.read)
                .await?;
                row.map(|r| {
                    let user = user_from(&r)?;
                    let token = ApiToken {
                        id: r.try_get("t_id")?,
                        user_id: user.id,
                        name: r.try_get("t_name")?,
                        prefix: r.try_get("t_prefix")?,
                        levels: levels_col(&r, "t_levels")?,
                        created_at: r.try_get("t_created")?,
                        expires_at: r.try_get("t_expires")?,
                        last_used_at: r.try_get("t_used")?,
                        revoked_at: r.try_get("t_revoked")?,
                    };
                    Ok((token, user))
                })
                .transpose()
            }

            async fn touch_token(&self, id: i64, now: i64) -> Result<()> {
                sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2").bind(now).bind(id).execute(&self.write).await?;
                Ok(())
            }

            async fn revoke_token(&self, actor: &Actor, user_id: i64, id: i64) -> Result<()> {
                let mut tx = self.write.begin().await?;
                let row = sqlx::query(concat!("SELECT ", token_cols!(), " FROM api_tokens WHERE id = $1 AND user_id = $2"))
                    .bind(id)
                    .bind(user_id)
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                let token = token_from(&row)?;
                if token.revoked_at.is_some() {
                    return Err(StoreError::Rejected("the token is already revoked".into()));
                }
                let user = user_in(&mut tx, user_id).await?;
                sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2").bind(actor.at).bind(id).execute(&mut *tx).await?;
                let b = [core_audit::Field::new("revoked", "false")];
                let a = [core_audit::Field::new("revoked", "true")];
                write_audit(&mut tx, actor, &event("api_token.revoke", "api_token", id, &format!("{} ({})", token.name, user.login), Some(user.entity_id), Some(&b), Some(&a))).await?;
                tx.commit().await?;
                Ok(())
            }
        }

        #[async_trait]
        impl AuditStore for $store {
            async fn record_event(&self, actor: &Actor, ev: &AuditEvent) -> Result<()> {
                let mut tx = self.write.begin().await?;
                write_audit(&mut tx, actor, ev).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn list_audit(&self, f: &AuditFilter, page: Page) -> Result<Vec<AuditRecord>> {
                let mut qb = QueryBuilder::<$db>::new(concat!("SELECT ", audit_cols!(), " FROM audit_log WHERE ("));
                if f.visible.is_empty() {
                    qb.push("FALSE");
                } else {
                    push_in(&mut qb, "entity_id", &f.visible);
                }
                if f.global {
                    // Records without an entity, or whose entity was deleted since.
                    qb.push(" OR entity_id IS NULL OR entity_id NOT IN (SELECT id FROM entities)");
                }
                qb.push(")");
                if let Some(after) = page.after {
                    qb.push(" AND id < ").push_bind(after);
                }
                if let Some(a) = &f.action {
                    qb.push(" AND action = ").push_bind(a.clone());
                }
                if let Some(t) = &f.object_type {
                    qb.push(" AND object_type = ").push_bind(t.clone());
                }
                if let Some(id) = f.object_id {
                    qb.push(" AND object_id = ").push_bind(id);
                }
                if let Some(a) = &f.actor {
                    qb.push(" AND actor_login = ").push_bind(a.clone());
                }
                if let Some(s) = f.since {
                    qb.push(" AND at >= ").push_bind(s);
                }
                if let Some(u) = f.until {
                    qb.push(" AND at < ").push_bind(u);
                }
                qb.push(" ORDER BY id DESC LIMIT ").push(page.limit);
                let rows = qb.build().fetch_all(&self.read).await?;
                rows.iter().map(audit_from).collect()
            }

            async fn count_recent(&self, action: &str, key: &str, by_source: bool, since: i64) -> Result<i64> {
                let sql = if by_source {
                    "SELECT COUNT(*) AS n FROM audit_log WHERE action = $1 AND source = $2 AND at >= $3"
                } else {
                    "SELECT COUNT(*) AS n FROM audit_log WHERE action = $1 AND object_label = $2 AND at >= $3"
                };
                Ok(sqlx::query(sql).bind(action).bind(key).bind(since).fetch_one(&self.read).await?.try_get("n")?)
            }
        }

        /// Applies the embedded migrations not yet recorded, each in its own transaction.
        async fn apply_migrations(
            conn: &mut <$db as sqlx::Database>::Connection,
            list: &[crate::migrate::Migration],
            now: i64,
        ) -> Result<usize> {
            use sqlx::Connection;
            sqlx::raw_sql(crate::migrate::CREATE_TABLE).execute(&mut *conn).await?;
            let applied: Vec<(i64, String)> = sqlx::query("SELECT version, checksum FROM schema_migrations ORDER BY version")
                .fetch_all(&mut *conn)
                .await?
                .iter()
                .map(|r| Ok((r.try_get("version")?, r.try_get("checksum")?)))
                .collect::<Result<_>>()?;
            let known = list.last().map_or(0, |m| m.version);
            if let Some(&(found, _)) = applied.iter().find(|(v, _)| *v > known) {
                return Err(StoreError::SchemaTooNew { found, known });
            }
            let mut count = 0;
            for m in list {
                let sum = crate::migrate::checksum(m.sql);
                if let Some((_, recorded)) = applied.iter().find(|(v, _)| *v == m.version) {
                    if *recorded != sum {
                        return Err(StoreError::MigrationChanged { version: m.version });
                    }
                    continue;
                }
                let mut tx = conn.begin().await?;
                sqlx::raw_sql(m.sql).execute(&mut *tx).await?;
                sqlx::query("INSERT INTO schema_migrations (version, description, checksum, applied_at) VALUES ($1, $2, $3, $4)")
                    .bind(m.version)
                    .bind(m.description)
                    .bind(&sum)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                tracing::info!(migration.version = m.version, migration.description = m.description, "applied migration");
                count += 1;
            }
            Ok(count)
        }

        /// True when every embedded migration is recorded.
        async fn migrations_current(pool: &sqlx::Pool<$db>, list: &[crate::migrate::Migration]) -> Result<bool> {
            let rows = match sqlx::query("SELECT version FROM schema_migrations").fetch_all(pool).await {
                Ok(rows) => rows,
                Err(sqlx::Error::Database(_)) => return Ok(false),
                Err(e) => return Err(e.into()),
            };
            let applied: Vec<i64> = rows.iter().map(|r| r.try_get("version")).collect::<Result<_, _>>()?;
            Ok(list.iter().all(|m| applied.contains(&m.version)))
        }
    };
}
