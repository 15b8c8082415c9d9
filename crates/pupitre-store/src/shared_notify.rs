//! The notification channels' queries both backends share, instantiated per backend by
//! `impl_notify_store!` inside a module of its own.

macro_rules! impl_notify_store {
    ($store:ident, $db:ty) => {
        mod notify_impl {
            use async_trait::async_trait;
            use pupitre_core::audit::{self as core_audit, Actor, AuditEvent};
            use sqlx::Row;

            use super::{$store, audit_object, write_audit};
            use crate::notify::{ContactMethodRecord, NewContactMethod, NotifyStore, TemplateRecord};
            use crate::{Result, StoreError};

            type Row_ = <$db as sqlx::Database>::Row;
            type Tx<'a> = sqlx::Transaction<'a, $db>;

            fn method_from(row: &Row_) -> Result<ContactMethodRecord> {
                Ok(ContactMethodRecord {
                    id: row.try_get("id")?,
                    user_id: row.try_get("user_id")?,
                    kind: row.try_get("kind")?,
                    label: row.try_get("label")?,
                    address: row.try_get("address")?,
                    secret: row.try_get("secret")?,
                    created_at: row.try_get("created_at")?,
                })
            }

            fn template_from(row: &Row_) -> Result<TemplateRecord> {
                Ok(TemplateRecord {
                    kind: row.try_get("kind")?,
                    subject: row.try_get("subject")?,
                    body: row.try_get("body")?,
                    updated_by: row.try_get("updated_by")?,
                    updated_at: row.try_get("updated_at")?,
                })
            }

            /// A method's audited fields; its secret is never one.
            fn method_fields(m: &ContactMethodRecord) -> Vec<core_audit::Field> {
                vec![
                    core_audit::Field::new("kind", &m.kind),
                    core_audit::Field::new("label", &m.label),
                    core_audit::Field::new("address", &m.address),
                ]
            }

            /// Rules' audited fields: the JSON's three parts.
            fn prefs_fields(definition: &str) -> Vec<core_audit::Field> {
                let d: serde_json::Value = serde_json::from_str(definition).unwrap_or_default();
                vec![
                    core_audit::Field::new("rules", d["rules"].to_string()),
                    core_audit::Field::new("quiet_hours", d["quiet_hours"].to_string()),
                    core_audit::Field::new("digest_after", d["digest_after"].to_string()),
                ]
            }

            /// The account's login and entity, for the audit record about its settings.
            async fn owner(tx: &mut Tx<'_>, user: i64) -> Result<(String, i64)> {
                let row = sqlx::query("SELECT login, entity_id FROM users WHERE id = $1")
                    .bind(user)
                    .fetch_optional(&mut **tx)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                Ok((row.try_get("login")?, row.try_get("entity_id")?))
            }

            async fn template(tx: &mut Tx<'_>, kind: &str) -> Result<Option<TemplateRecord>> {
                sqlx::query("SELECT * FROM notification_templates WHERE kind = $1")
                    .bind(kind)
                    .fetch_optional(&mut **tx)
                    .await?
                    .as_ref()
                    .map(template_from)
                    .transpose()
            }

            async fn audit_template(
                tx: &mut Tx<'_>,
                actor: &Actor,
                action: &str,
                kind: &str,
                before: Option<&TemplateRecord>,
                after: Option<&TemplateRecord>,
            ) -> Result<()> {
                let fields = |t: &TemplateRecord| {
                    vec![
                        core_audit::Field::new("name", &t.kind),
                        core_audit::Field::new("subject", &t.subject),
                        core_audit::Field::new("body", &t.body),
                    ]
                };
                let event = AuditEvent {
                    action: action.to_owned(),
                    object_type: "notification_template".to_owned(),
                    object_id: None,
                    object_label: kind.to_owned(),
                    entity_id: None,
                    changes: core_audit::diff(
                        before.map(fields).as_deref(),
                        after.map(fields).as_deref(),
                    ),
                };
                write_audit(tx, actor, &event).await
            }

            #[async_trait]
            impl NotifyStore for $store {
                async fn list_contact_methods(&self, user: i64) -> Result<Vec<ContactMethodRecord>> {
                    let rows = sqlx::query("SELECT * FROM contact_methods WHERE user_id = $1 ORDER BY id")
                        .bind(user)
                        .fetch_all(&self.read)
                        .await?;
                    rows.iter().map(method_from).collect()
                }

                async fn get_contact_method(&self, id: i64) -> Result<ContactMethodRecord> {
                    row_by_id!(&self.read, "contact_methods", method_from, id)
                }

                async fn create_contact_method(
                    &self,
                    actor: &Actor,
                    m: &NewContactMethod,
                ) -> Result<ContactMethodRecord> {
                    let mut tx = self.write.begin().await?;
                    let (login, entity) = owner(&mut tx, m.user_id).await?;
                    let now = actor.at;
                    let id: i64 = sqlx::query_scalar(
                        "INSERT INTO contact_methods (user_id, kind, label, address, secret, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                    )
                    .bind(m.user_id)
                    .bind(&m.kind)
                    .bind(&m.label)
                    .bind(&m.address)
                    .bind(&m.secret)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                    let record = row_by_id!(&mut *tx, "contact_methods", method_from, id)?;
                    let label = format!("{login}: {} {}", record.kind, record.label);
                    audit_object(
                        &mut tx,
                        actor,
                        "contact_method.create",
                        ("contact_method", id, &label, entity),
                        core_audit::diff(None, Some(&method_fields(&record))),
                    )
                    .await?;
                    tx.commit().await?;
                    Ok(record)
                }

                async fn delete_contact_method(&self, actor: &Actor, id: i64) -> Result<()> {
                    let mut tx = self.write.begin().await?;
                    let record = row_by_id!(&mut *tx, "contact_methods", method_from, id)?;
                    let (login, entity) = owner(&mut tx, record.user_id).await?;
                    sqlx::query("DELETE FROM contact_methods WHERE id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    let label = format!("{login}: {} {}", record.kind, record.label);
                    let mut fields = method_fields(&record);
                    fields.push(core_audit::Field::new("name", &record.label));
                    audit_object(
                        &mut tx,
                        actor,
                        "contact_method.delete",
                        ("contact_method", id, &label, entity),
                        core_audit::diff(Some(&fields), None),
                    )
                    .await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn notification_prefs(&self, user: i64) -> Result<Option<String>> {
                    Ok(sqlx::query_scalar("SELECT definition FROM notification_prefs WHERE user_id = $1")
                        .bind(user)
                        .fetch_optional(&self.read)
                        .await?)
                }

                async fn put_notification_prefs(&self, actor: &Actor, user: i64, definition: &str) -> Result<()> {
                    let mut tx = self.write.begin().await?;
                    let (login, entity) = owner(&mut tx, user).await?;
                    let before: Option<String> =
                        sqlx::query_scalar("SELECT definition FROM notification_prefs WHERE user_id = $1")
                            .bind(user)
                            .fetch_optional(&mut *tx)
                            .await?;
                    sqlx::query(
                        "INSERT INTO notification_prefs (user_id, definition, updated_at) VALUES ($1, $2, $3) \
                         ON CONFLICT (user_id) DO UPDATE SET definition = excluded.definition, \
                         updated_at = excluded.updated_at",
                    )
                    .bind(user)
                    .bind(definition)
                    .bind(actor.at)
                    .execute(&mut *tx)
                    .await?;
                    audit_object(
                        &mut tx,
                        actor,
                        "notification_rules.update",
                        ("user", user, &login, entity),
                        core_audit::diff(
                            before.as_deref().map(prefs_fields).as_deref(),
                            Some(&prefs_fields(definition)),
                        ),
                    )
                    .await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn list_message_templates(&self) -> Result<Vec<TemplateRecord>> {
                    let rows = sqlx::query("SELECT * FROM notification_templates ORDER BY kind")
                        .fetch_all(&self.read)
                        .await?;
                    rows.iter().map(template_from).collect()
                }

                async fn put_message_template(
                    &self,
                    actor: &Actor,
                    kind: &str,
                    subject: &str,
                    body: &str,
                ) -> Result<TemplateRecord> {
                    let mut tx = self.write.begin().await?;
                    let before = template(&mut tx, kind).await?;
                    sqlx::query(
                        "INSERT INTO notification_templates (kind, subject, body, updated_by, updated_at) \
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (kind) DO UPDATE SET \
                         subject = excluded.subject, body = excluded.body, \
                         updated_by = excluded.updated_by, updated_at = excluded.updated_at",
                    )
                    .bind(kind)
                    .bind(subject)
                    .bind(body)
                    .bind(&actor.login)
                    .bind(actor.at)
                    .execute(&mut *tx)
                    .await?;
                    let after = template(&mut tx, kind).await?.ok_or(StoreError::NotFound)?;
                    audit_template(&mut tx, actor, "notification_template.update", kind, before.as_ref(), Some(&after)).await?;
                    tx.commit().await?;
                    Ok(after)
                }

                async fn delete_message_template(&self, actor: &Actor, kind: &str) -> Result<()> {
                    let mut tx = self.write.begin().await?;
                    let before = template(&mut tx, kind).await?.ok_or(StoreError::NotFound)?;
                    sqlx::query("DELETE FROM notification_templates WHERE kind = $1")
                        .bind(kind)
                        .execute(&mut *tx)
                        .await?;
                    audit_template(&mut tx, actor, "notification_template.delete", kind, Some(&before), None).await?;
                    tx.commit().await?;
                    Ok(())
                }
            }
        }
    };
}
