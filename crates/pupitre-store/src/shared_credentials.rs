//! The credential queries both backends share, instantiated per backend by
//! `impl_credential_store!` inside a module of its own.

macro_rules! impl_credential_store {
    ($store:ident, $db:ty) => {
        mod credential_impl {
            use async_trait::async_trait;
            use pupitre_core::audit::{self as core_audit, Actor, AuditEvent};
            use pupitre_core::credential::{Credential, CredentialId, CredentialParams};
            use pupitre_core::permission::EntityId;
            use sqlx::{QueryBuilder, Row};

            use super::$store;
            use crate::credentials::{
                decode_params, encode_params, CredentialStore, CredentialUsers, CredentialWrite,
                SealedCredential,
            };
            use crate::monitoring::{decode_probe, decode_template_checks};
            use crate::{Result, StoreError};

            type Row_ = <$db as sqlx::Database>::Row;
            type Tx<'a> = sqlx::Transaction<'a, $db>;

            fn sealed_from(row: &Row_) -> Result<SealedCredential> {
                let kind: String = row.try_get("kind")?;
                let params: String = row.try_get("params")?;
                Ok(SealedCredential {
                    credential: Credential {
                        id: row.try_get("id")?,
                        name: row.try_get("name")?,
                        entity_id: row.try_get("entity_id")?,
                        description: row.try_get("description")?,
                        params: decode_params(&kind, &params)?,
                        created_at: row.try_get("created_at")?,
                        updated_at: row.try_get("updated_at")?,
                    },
                    secret: row.try_get("secret")?,
                    priv_secret: row.try_get("priv_secret")?,
                })
            }

            /// The audited fields: everything but the secrets.
            fn fields(c: &Credential) -> Vec<core_audit::Field> {
                let mut fields = vec![
                    core_audit::Field::new("name", c.name.clone()),
                    core_audit::Field::new("entity_id", c.entity_id.to_string()),
                    core_audit::Field::new("description", c.description.clone()),
                    core_audit::Field::new("kind", c.params.kind().key()),
                ];
                match &c.params {
                    CredentialParams::SnmpCommunity { version } => {
                        fields.push(core_audit::Field::new("version", version.key()));
                    }
                    CredentialParams::SnmpV3 { user, level, auth_protocol, priv_protocol } => {
                        fields.push(core_audit::Field::new("user", user.clone()));
                        fields.push(core_audit::Field::new("level", level.key()));
                        fields.push(core_audit::Field::new("auth_protocol", auth_protocol.key()));
                        fields.push(core_audit::Field::new("priv_protocol", priv_protocol.key()));
                    }
                    CredentialParams::Password { user } => {
                        fields.push(core_audit::Field::new("user", user.clone()));
                    }
                }
                fields
            }

            fn unique_name(e: sqlx::Error) -> StoreError {
                match &e {
                    sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict {
                        field: "name".to_owned(),
                        message: "a credential with this name already exists".to_owned(),
                    },
                    sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
                        StoreError::Conflict {
                            field: "entity_id".to_owned(),
                            message: "the entity does not exist".to_owned(),
                        }
                    }
                    _ => StoreError::Database(e),
                }
            }

            async fn audit(
                tx: &mut Tx<'_>,
                actor: &Actor,
                action: &str,
                c: &Credential,
                before: Option<&[core_audit::Field]>,
                after: Option<&[core_audit::Field]>,
            ) -> Result<()> {
                let ev = AuditEvent {
                    action: action.to_owned(),
                    object_type: "credential".to_owned(),
                    object_id: Some(c.id),
                    object_label: c.name.clone(),
                    entity_id: Some(c.entity_id),
                    changes: core_audit::diff(before, after),
                };
                if action.ends_with(".update") && ev.changes.is_empty() {
                    return Ok(());
                }
                super::write_audit(tx, actor, &ev).await
            }

            async fn users(tx: &mut Tx<'_>, name: &str) -> Result<CredentialUsers> {
                let mut users = CredentialUsers::default();
                // LIKE narrows the rows; the decoded probe decides.
                let rows = sqlx::query(
                    "SELECT c.name, c.probe, a.name AS asset_name FROM checks c \
                     JOIN assets a ON a.id = c.asset_id \
                     WHERE c.probe_kind IN ('snmp', 'database') AND c.probe LIKE $1 ORDER BY c.id",
                )
                .bind(format!("%{name}%"))
                .fetch_all(&mut **tx)
                .await?;
                for row in rows {
                    let probe: String = row.try_get("probe")?;
                    if decode_probe(&probe)?.credential() == Some(name) {
                        let asset: String = row.try_get("asset_name")?;
                        let check: String = row.try_get("name")?;
                        users.checks.push(format!("{asset}/{check}"));
                    }
                }
                let rows = sqlx::query(
                    "SELECT name, checks, entity_id FROM check_templates WHERE checks LIKE $1 ORDER BY name",
                )
                .bind(format!("%{name}%"))
                .fetch_all(&mut **tx)
                .await?;
                for row in rows {
                    let checks: String = row.try_get("checks")?;
                    let entity: EntityId = row.try_get("entity_id")?;
                    if decode_template_checks(&checks, entity)?
                        .iter()
                        .any(|d| d.probe.credential() == Some(name))
                    {
                        users.templates.push(row.try_get("name")?);
                    }
                }
                Ok(users)
            }

            async fn get(tx: &mut Tx<'_>, id: CredentialId) -> Result<SealedCredential> {
                let row = sqlx::query("SELECT * FROM credentials WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut **tx)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                sealed_from(&row)
            }

            #[async_trait]
            impl CredentialStore for $store {
                async fn create_credential(&self, actor: &Actor, c: &CredentialWrite) -> Result<Credential> {
                    let mut tx = self.write.begin().await?;
                    let id: i64 = sqlx::query(
                        "INSERT INTO credentials (entity_id, name, description, kind, params, \
                         secret, priv_secret, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id",
                    )
                    .bind(c.entity_id)
                    .bind(&c.name)
                    .bind(&c.description)
                    .bind(c.params.kind().key())
                    .bind(encode_params(&c.params))
                    .bind(&c.secret)
                    .bind(&c.priv_secret)
                    .bind(actor.at)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(unique_name)?
                    .try_get("id")?;
                    let created = Credential {
                        id,
                        name: c.name.clone(),
                        entity_id: c.entity_id,
                        description: c.description.clone(),
                        params: c.params.clone(),
                        created_at: actor.at,
                        updated_at: actor.at,
                    };
                    audit(&mut tx, actor, "credential.create", &created, None, Some(&fields(&created))).await?;
                    tx.commit().await?;
                    Ok(created)
                }

                async fn update_credential(
                    &self,
                    actor: &Actor,
                    id: CredentialId,
                    c: &CredentialWrite,
                ) -> Result<Credential> {
                    let mut tx = self.write.begin().await?;
                    let before = get(&mut tx, id).await?;
                    let old = &before.credential;
                    let renamed = old.name != c.name;
                    let family_changed = old.params.kind().is_snmp() != c.params.kind().is_snmp();
                    if renamed || family_changed {
                        let users = users(&mut tx, &old.name).await?;
                        if !users.is_empty() {
                            return Err(StoreError::Conflict {
                                field: if renamed { "name" } else { "kind" }.to_owned(),
                                message: format!(
                                    "cannot change while the credential is {}; they name it",
                                    users.describe()
                                ),
                            });
                        }
                    }
                    sqlx::query(
                        "UPDATE credentials SET entity_id = $1, name = $2, description = $3, \
                         kind = $4, params = $5, secret = $6, priv_secret = $7, updated_at = $8 \
                         WHERE id = $9",
                    )
                    .bind(c.entity_id)
                    .bind(&c.name)
                    .bind(&c.description)
                    .bind(c.params.kind().key())
                    .bind(encode_params(&c.params))
                    .bind(&c.secret)
                    .bind(&c.priv_secret)
                    .bind(actor.at)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(unique_name)?;
                    let updated = Credential {
                        id,
                        name: c.name.clone(),
                        entity_id: c.entity_id,
                        description: c.description.clone(),
                        params: c.params.clone(),
                        created_at: old.created_at,
                        updated_at: actor.at,
                    };
                    let mut before_fields = fields(old);
                    let mut after_fields = fields(&updated);
                    if (&before.secret, &before.priv_secret) != (&c.secret, &c.priv_secret) {
                        before_fields.push(core_audit::Field::new("secrets", "previous"));
                        after_fields.push(core_audit::Field::new("secrets", "replaced"));
                    }
                    audit(&mut tx, actor, "credential.update", &updated, Some(&before_fields), Some(&after_fields)).await?;
                    tx.commit().await?;
                    Ok(updated)
                }

                async fn delete_credential(&self, actor: &Actor, id: CredentialId) -> Result<()> {
                    let mut tx = self.write.begin().await?;
                    let before = get(&mut tx, id).await?.credential;
                    let users = users(&mut tx, &before.name).await?;
                    if !users.is_empty() {
                        return Err(StoreError::Rejected(format!(
                            "credential {} is {}: change them first",
                            before.name,
                            users.describe()
                        )));
                    }
                    sqlx::query("DELETE FROM credentials WHERE id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    audit(&mut tx, actor, "credential.delete", &before, Some(&fields(&before)), None).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn get_credential(&self, id: CredentialId) -> Result<SealedCredential> {
                    let row = sqlx::query("SELECT * FROM credentials WHERE id = $1")
                        .bind(id)
                        .fetch_optional(&self.read)
                        .await?
                        .ok_or(StoreError::NotFound)?;
                    sealed_from(&row)
                }

                async fn credential_by_name(&self, name: &str) -> Result<Option<Credential>> {
                    let row = sqlx::query("SELECT * FROM credentials WHERE name = $1")
                        .bind(name)
                        .fetch_optional(&self.read)
                        .await?;
                    row.map(|r| sealed_from(&r).map(|s| s.credential)).transpose()
                }

                async fn list_credentials(&self, visible: &[EntityId]) -> Result<Vec<Credential>> {
                    let mut qb = QueryBuilder::<$db>::new("SELECT * FROM credentials WHERE entity_id IN (");
                    let mut list = qb.separated(", ");
                    for e in visible {
                        list.push_bind(*e);
                    }
                    if visible.is_empty() {
                        list.push("NULL");
                    }
                    qb.push(") ORDER BY name");
                    let rows = qb.build().fetch_all(&self.read).await?;
                    rows.iter().map(|r| sealed_from(r).map(|s| s.credential)).collect()
                }

                async fn all_credentials(&self) -> Result<Vec<SealedCredential>> {
                    let rows = sqlx::query("SELECT * FROM credentials ORDER BY id")
                        .fetch_all(&self.read)
                        .await?;
                    rows.iter().map(sealed_from).collect()
                }

                async fn credential_users(&self, name: &str) -> Result<CredentialUsers> {
                    let mut tx = self.read.begin().await?;
                    users(&mut tx, name).await
                }
            }
        }
    };
}
