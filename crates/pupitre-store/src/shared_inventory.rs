//! The inventory queries both backends share, instantiated per backend by
//! `impl_inventory_store!` inside a module of its own.

macro_rules! asset_cols {
    () => {
        "id, entity_id, asset_type, name, hostname, manufacturer, model, serial, asset_tag, uuid, \
         status, status_since, ordered_on, received_on, in_production_on, retired_on, disposed_on, \
         owner_team_id, site_id, room_id, rack_id, rack_u, rack_face, height_u, full_depth, \
         location_note, os_family, os_name, os_version, cpu_model, cpu_sockets, cpu_cores, \
         memory_mb, management_ip, power_draw_w, purchase_date, purchase_cost_cents, supplier, \
         order_ref, warranty_end, contract_id, notes, quarantined, locks, last_inventory_at, \
         created_at, updated_at"
    };
}

/// The stored columns an asset input writes, in bind order ($1…$45).
macro_rules! asset_input_cols {
    () => {
        "entity_id, asset_type, name, hostname, manufacturer, model, serial, asset_tag, uuid, \
         status, status_since, ordered_on, received_on, in_production_on, retired_on, disposed_on, \
         owner_team_id, site_id, room_id, rack_id, rack_u, rack_face, height_u, full_depth, \
         location_note, os_family, os_name, os_version, cpu_model, cpu_sockets, cpu_cores, \
         memory_mb, management_ip, power_draw_w, purchase_date, purchase_cost_cents, supplier, \
         order_ref, warranty_end, contract_id, notes, quarantined, locks"
    };
}

macro_rules! impl_inventory_store {
    ($store:ident, $db:ty) => {
        mod inventory_impl {

            use async_trait::async_trait;
            use pupitre_core::audit::{self as core_audit, Actor, AuditEvent};
            use pupitre_core::inventory::{
                encode_locks, placement_conflict, Asset, AssetId, AssetInput,
                AssetType, Building, BuildingInput, Disk, Face, Interface, Occupant, OsFamily,
                Rack, RackInput, Relation, RelationInput, RelationKind, Room, RoomInput, Site,
                SiteInput, Software,
            };
            use pupitre_core::permission::EntityId;
            use sqlx::{QueryBuilder, Row};

            use super::$store;
            use crate::inventory::{
                AssetFilter, AssetKeys, Installation, InventoryStore, InventoryUpdate,
            };
            use crate::{stored, Page, Result, StoreError};

            type Row_ = <$db as sqlx::Database>::Row;
            type Tx<'a> = sqlx::Transaction<'a, $db>;
            type Conn = <$db as sqlx::Database>::Connection;

            fn conflict(field: &str, message: String) -> StoreError {
                StoreError::Conflict {
                    field: field.to_owned(),
                    message,
                }
            }

            /// The audited object: type, id, label and entity.
            struct Object<'a>(&'a str, i64, &'a str, EntityId);

            async fn audit(
                tx: &mut Tx<'_>,
                actor: &Actor,
                action: &str,
                Object(object_type, id, label, entity): Object<'_>,
                before: Option<&[core_audit::Field]>,
                after: Option<&[core_audit::Field]>,
            ) -> Result<()> {
                let ev = AuditEvent {
                    action: action.to_owned(),
                    object_type: object_type.to_owned(),
                    object_id: Some(id),
                    object_label: label.to_owned(),
                    entity_id: Some(entity),
                    changes: core_audit::diff(before, after),
                };
                if action.ends_with(".update") && ev.changes.is_empty() {
                    return Ok(());
                }
                super::write_audit(tx, actor, &ev).await
            }

            async fn exists(conn: &mut Conn, table: &str, id: i64) -> Result<bool> {
                let sql = format!("SELECT 1 FROM {table} WHERE id = $1");
                Ok(sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(conn).await?.is_some())
            }

            async fn must_exist(conn: &mut Conn, table: &str, field: &str, what: &str, id: i64) -> Result<()> {
                if exists(conn, table, id).await? {
                    Ok(())
                } else {
                    Err(conflict(field, format!("{what} {id} does not exist")))
                }
            }

            /// Deletes `id` from `table` unless a row of `children` still points at it.
            async fn delete_unless_used(
                tx: &mut Tx<'_>,
                table: &str,
                id: i64,
                children: &[(&str, &str, &str)],
            ) -> Result<()> {
                for (child, column, what) in children {
                    let sql = format!("SELECT 1 FROM {child} WHERE {column} = $1 LIMIT 1");
                    if sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&mut **tx).await?.is_some() {
                        return Err(StoreError::Rejected(format!(
                            "it still holds {what}; move or delete them first"
                        )));
                    }
                }
                let sql = format!("DELETE FROM {table} WHERE id = $1");
                sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).execute(&mut **tx).await?;
                Ok(())
            }

            // ---- locations -------------------------------------------------------------

            fn site_from(row: &Row_) -> Result<Site> {
                Ok(Site {
                    id: row.try_get("id")?,
                    entity_id: row.try_get("entity_id")?,
                    name: row.try_get("name")?,
                    address: row.try_get("address")?,
                    time_zone: row.try_get("time_zone")?,
                    comment: row.try_get("comment")?,
                    created_at: row.try_get("created_at")?,
                    updated_at: row.try_get("updated_at")?,
                })
            }

            fn building_from(row: &Row_) -> Result<Building> {
                Ok(Building {
                    id: row.try_get("id")?,
                    site_id: row.try_get("site_id")?,
                    entity_id: row.try_get("entity_id")?,
                    name: row.try_get("name")?,
                    comment: row.try_get("comment")?,
                    created_at: row.try_get("created_at")?,
                    updated_at: row.try_get("updated_at")?,
                })
            }

            fn room_from(row: &Row_) -> Result<Room> {
                Ok(Room {
                    id: row.try_get("id")?,
                    site_id: row.try_get("site_id")?,
                    building_id: row.try_get("building_id")?,
                    entity_id: row.try_get("entity_id")?,
                    name: row.try_get("name")?,
                    grid_rows: row.try_get("grid_rows")?,
                    grid_cols: row.try_get("grid_cols")?,
                    power_capacity_w: row.try_get("power_capacity_w")?,
                    cooling_capacity_w: row.try_get("cooling_capacity_w")?,
                    notes: row.try_get("notes")?,
                    created_at: row.try_get("created_at")?,
                    updated_at: row.try_get("updated_at")?,
                })
            }

            fn rack_from(row: &Row_) -> Result<Rack> {
                Ok(Rack {
                    id: row.try_get("id")?,
                    room_id: row.try_get("room_id")?,
                    site_id: row.try_get("site_id")?,
                    entity_id: row.try_get("entity_id")?,
                    name: row.try_get("name")?,
                    height_u: row.try_get("height_u")?,
                    grid_row: row.try_get("grid_row")?,
                    grid_col: row.try_get("grid_col")?,
                    max_power_w: row.try_get("max_power_w")?,
                    comment: row.try_get("comment")?,
                    created_at: row.try_get("created_at")?,
                    updated_at: row.try_get("updated_at")?,
                })
            }

            async fn one<T>(
                conn: &mut Conn,
                sql: &'static str,
                id: i64,
                decode: fn(&Row_) -> Result<T>,
            ) -> Result<T> {
                let row = sqlx::query(sql)
                    .bind(id)
                    .fetch_optional(conn)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                decode(&row)
            }

            async fn visible_list<T>(
                pool: &sqlx::Pool<$db>,
                table: &str,
                visible: &[EntityId],
                decode: fn(&Row_) -> Result<T>,
            ) -> Result<Vec<T>> {
                let mut qb = QueryBuilder::<$db>::new(format!("SELECT * FROM {table} WHERE "));
                push_in(&mut qb, "entity_id", visible);
                qb.push(" ORDER BY name, id");
                let rows = qb.build().fetch_all(pool).await?;
                rows.iter().map(decode).collect()
            }

            fn push_in(qb: &mut QueryBuilder<$db>, column: &str, ids: &[i64]) {
                if ids.is_empty() {
                    qb.push("1 = 0");
                    return;
                }
                qb.push(column).push(" IN (");
                let mut sep = qb.separated(", ");
                for id in ids {
                    sep.push_bind(*id);
                }
                sep.push_unseparated(")");
            }

            fn unique(field: &'static str, message: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
                move |e| match &e {
                    sqlx::Error::Database(d) if d.is_unique_violation() => {
                        conflict(field, message.to_owned())
                    }
                    _ => StoreError::Database(e),
                }
            }

            async fn room_in_grid(tx: &mut Tx<'_>, input: &RackInput, id: Option<i64>) -> Result<Room> {
                let room = one(&mut **tx, "SELECT * FROM rooms WHERE id = $1", input.room_id, room_from)
                    .await
                    .map_err(|_| conflict("room_id", format!("room {} does not exist", input.room_id)))?;
                if let (Some(r), Some(c)) = (input.grid_row, input.grid_col) {
                    if r > room.grid_rows || c > room.grid_cols {
                        return Err(conflict(
                            "grid_row",
                            format!(
                                "position {r},{c} is outside the room's {}×{} grid",
                                room.grid_rows, room.grid_cols
                            ),
                        ));
                    }
                    let taken = sqlx::query(
                        "SELECT name FROM racks WHERE room_id = $1 AND grid_row = $2 AND grid_col = $3 AND id <> $4",
                    )
                    .bind(input.room_id)
                    .bind(r)
                    .bind(c)
                    .bind(id.unwrap_or(0))
                    .fetch_optional(&mut **tx)
                    .await?;
                    if let Some(row) = taken {
                        let name: String = row.try_get("name")?;
                        return Err(conflict(
                            "grid_row",
                            format!("position {r},{c} is already taken by rack {name}"),
                        ));
                    }
                }
                Ok(room)
            }

            /// A rack may not shrink below the devices it holds.
            async fn rack_fits_devices(tx: &mut Tx<'_>, id: i64, height: i32) -> Result<()> {
                let row = sqlx::query(
                    "SELECT name, rack_u + height_u - 1 AS top FROM assets \
                     WHERE rack_id = $1 AND rack_u IS NOT NULL AND rack_u + height_u - 1 > $2 LIMIT 1",
                )
                .bind(id)
                .bind(height)
                .fetch_optional(&mut **tx)
                .await?;
                if let Some(row) = row {
                    let name: String = row.try_get("name")?;
                    let top: i32 = row.try_get("top")?;
                    return Err(conflict(
                        "height_u",
                        format!("{name} reaches U{top}; the rack cannot be lower than that"),
                    ));
                }
                Ok(())
            }

            // ---- assets ----------------------------------------------------------------

            /// The assets `condition` selects from `assets a` (it may end with ORDER BY and
            /// LIMIT), with their children, in id order: one statement, one JSON document.
            async fn assets_where(
                conn: &mut Conn,
                condition: impl FnOnce(&mut QueryBuilder<$db>),
            ) -> Result<Vec<Asset>> {
                let mut qb = QueryBuilder::<$db>::new(<$store>::ASSET_PAGE_HEAD);
                condition(&mut qb);
                qb.push(asset_page_tail!());
                let row = qb.build().fetch_one(&mut *conn).await?;
                crate::asset_page::parse(row.try_get("page")?)
            }

            async fn asset_in(conn: &mut Conn, id: i64) -> Result<Asset> {
                assets_where(conn, |qb| {
                    qb.push("a.id = ").push_bind(id);
                })
                .await?
                .pop()
                .ok_or(StoreError::NotFound)
            }

            /// Checks the references of `input` and fills the site and room implied by
            /// its rack or room; checks the rack units are free.
            async fn resolve(tx: &mut Tx<'_>, id: Option<i64>, input: &mut AssetInput) -> Result<()> {
                must_exist(&mut **tx, "entities", "entity_id", "entity", input.entity_id).await?;
                if let Some(team) = input.owner_team_id {
                    must_exist(&mut **tx, "teams", "owner_team_id", "team", team).await?;
                }
                if let Some(rack_id) = input.rack_id {
                    let rack = one(&mut **tx, "SELECT * FROM racks WHERE id = $1", rack_id, rack_from)
                        .await
                        .map_err(|_| conflict("rack_id", format!("rack {rack_id} does not exist")))?;
                    input.room_id = Some(rack.room_id);
                    input.site_id = Some(rack.site_id);
                    if let Some(u) = input.rack_u {
                        let rows = sqlx::query(
                            "SELECT id, name, rack_u, height_u, rack_face, full_depth FROM assets \
                             WHERE rack_id = $1 AND rack_u IS NOT NULL AND id <> $2",
                        )
                        .bind(rack_id)
                        .bind(id.unwrap_or(0))
                        .fetch_all(&mut **tx)
                        .await?;
                        let others = rows
                            .iter()
                            .map(|r| {
                                let face: Option<String> = r.try_get("rack_face")?;
                                Ok(Occupant {
                                    asset_id: r.try_get("id")?,
                                    name: r.try_get("name")?,
                                    rack_u: r.try_get("rack_u")?,
                                    height_u: r.try_get("height_u")?,
                                    face: face.as_deref().and_then(Face::from_key).unwrap_or(Face::Front),
                                    full_depth: r.try_get("full_depth")?,
                                })
                            })
                            .collect::<Result<Vec<_>>>()?;
                        let candidate = Occupant {
                            asset_id: id.unwrap_or(0),
                            name: input.name.clone(),
                            rack_u: u,
                            height_u: input.height_u.max(1),
                            face: input.rack_face.unwrap_or(Face::Front),
                            full_depth: input.full_depth,
                        };
                        if let Some(c) = placement_conflict(rack.height_u, &candidate, &others) {
                            return Err(conflict("rack_u", format!("rack {}: {}", rack.name, c.message())));
                        }
                    }
                } else if let Some(room_id) = input.room_id {
                    let room = one(&mut **tx, "SELECT * FROM rooms WHERE id = $1", room_id, room_from)
                        .await
                        .map_err(|_| conflict("room_id", format!("room {room_id} does not exist")))?;
                    input.site_id = Some(room.site_id);
                } else if let Some(site_id) = input.site_id {
                    must_exist(&mut **tx, "sites", "site_id", "site", site_id).await?;
                }
                if !input.serial.is_empty() {
                    let row = sqlx::query(
                        "SELECT id, name FROM assets WHERE asset_type = $1 AND serial = $2 AND serial <> '' AND id <> $3",
                    )
                    .bind(input.asset_type.key())
                    .bind(&input.serial)
                    .bind(id.unwrap_or(0))
                    .fetch_optional(&mut **tx)
                    .await?;
                    // The other asset may be in an entity the caller cannot see: name nothing.
                    if row.is_some() {
                        return Err(conflict(
                            "serial",
                            format!(
                                "serial number {} is already used by another {}",
                                input.serial, input.asset_type
                            ),
                        ));
                    }
                }
                if !input.asset_tag.is_empty() {
                    let row = sqlx::query("SELECT id, name FROM assets WHERE asset_tag = $1 AND asset_tag <> '' AND id <> $2")
                        .bind(&input.asset_tag)
                        .bind(id.unwrap_or(0))
                        .fetch_optional(&mut **tx)
                        .await?;
                    if row.is_some() {
                        return Err(conflict(
                            "asset_tag",
                            format!("asset tag {} is already used by another asset", input.asset_tag),
                        ));
                    }
                }
                Ok(())
            }

            fn bind_input<'q>(
                q: sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments>,
                a: &'q AssetInput,
            ) -> sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments> {
                q.bind(a.entity_id)
                    .bind(a.asset_type.key())
                    .bind(&a.name)
                    .bind(&a.hostname)
                    .bind(&a.manufacturer)
                    .bind(&a.model)
                    .bind(&a.serial)
                    .bind(&a.asset_tag)
                    .bind(&a.uuid)
                    .bind(a.status.key())
                    .bind(&a.status_since)
                    .bind(&a.ordered_on)
                    .bind(&a.received_on)
                    .bind(&a.in_production_on)
                    .bind(&a.retired_on)
                    .bind(&a.disposed_on)
                    .bind(a.owner_team_id)
                    .bind(a.site_id)
                    .bind(a.room_id)
                    .bind(a.rack_id)
                    .bind(a.rack_u)
                    .bind(a.rack_face.map(Face::key))
                    .bind(a.height_u)
                    .bind(a.full_depth)
                    .bind(&a.location_note)
                    .bind(a.os_family.map(OsFamily::key))
                    .bind(&a.os_name)
                    .bind(&a.os_version)
                    .bind(&a.cpu_model)
                    .bind(a.cpu_sockets)
                    .bind(a.cpu_cores)
                    .bind(a.memory_mb)
                    .bind(&a.management_ip)
                    .bind(a.power_draw_w)
                    .bind(&a.purchase_date)
                    .bind(a.purchase_cost_cents)
                    .bind(&a.supplier)
                    .bind(&a.order_ref)
                    .bind(&a.warranty_end)
                    .bind(a.contract_id)
                    .bind(&a.notes)
                    .bind(a.quarantined)
                    .bind(encode_locks(&a.locks))
            }

            const INSERT_ASSET: &str = concat!(
                "INSERT INTO assets (",
                asset_input_cols!(),
                ", agent_device_id, last_inventory_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, \
                 $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, \
                 $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34, $35, $36, $37, $38, $39, $40, \
                 $41, $42, $43, $44, $45, $46, $46) RETURNING id"
            );

            const UPDATE_ASSET: &str = "UPDATE assets SET entity_id = $1, asset_type = $2, name = $3, \
                hostname = $4, manufacturer = $5, model = $6, serial = $7, asset_tag = $8, uuid = $9, \
                status = $10, status_since = $11, ordered_on = $12, received_on = $13, \
                in_production_on = $14, retired_on = $15, disposed_on = $16, owner_team_id = $17, \
                site_id = $18, room_id = $19, rack_id = $20, rack_u = $21, rack_face = $22, \
                height_u = $23, full_depth = $24, location_note = $25, os_family = $26, os_name = $27, \
                os_version = $28, cpu_model = $29, cpu_sockets = $30, cpu_cores = $31, memory_mb = $32, \
                management_ip = $33, power_draw_w = $34, purchase_date = $35, purchase_cost_cents = $36, \
                supplier = $37, order_ref = $38, warranty_end = $39, contract_id = $40, notes = $41, \
                quarantined = $42, locks = $43, \
                agent_device_id = CASE WHEN $44 = '' THEN agent_device_id ELSE $44 END, \
                last_inventory_at = COALESCE($45, last_inventory_at), updated_at = $46 WHERE id = $47";

            async fn write_children(tx: &mut Tx<'_>, id: i64, a: &AssetInput, fresh: bool) -> Result<()> {
                if !fresh {
                    for table in ["asset_interfaces", "asset_disks", "asset_attributes", "asset_tags", "asset_search"] {
                        let sql = format!("DELETE FROM {table} WHERE asset_id = $1");
                        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).execute(&mut **tx).await?;
                    }
                }
                // One multi-row INSERT per table (in chunks, well under both backends' limit on
                // bind parameters): bulk imports write thousands of assets in a row.
                const ROWS: usize = 500;
                let interfaces: Vec<(usize, &Interface)> = a.interfaces.iter().enumerate().collect();
                for chunk in interfaces.chunks(ROWS) {
                    let mut qb = QueryBuilder::<$db>::new(
                        "INSERT INTO asset_interfaces (asset_id, position, name, mac, ips, vlan, speed_mbps) ",
                    );
                    qb.push_values(chunk, |mut b, (pos, i)| {
                        b.push_bind(id)
                            .push_bind(*pos as i32)
                            .push_bind(&i.name)
                            .push_bind(&i.mac)
                            .push_bind(i.ips.join(" "))
                            .push_bind(i.vlan)
                            .push_bind(i.speed_mbps);
                    });
                    qb.build().execute(&mut **tx).await?;
                }
                let disks: Vec<(usize, &Disk)> = a.disks.iter().enumerate().collect();
                for chunk in disks.chunks(ROWS) {
                    let mut qb = QueryBuilder::<$db>::new(
                        "INSERT INTO asset_disks (asset_id, position, name, model, serial, size_mb) ",
                    );
                    qb.push_values(chunk, |mut b, (pos, d)| {
                        b.push_bind(id)
                            .push_bind(*pos as i32)
                            .push_bind(&d.name)
                            .push_bind(&d.model)
                            .push_bind(&d.serial)
                            .push_bind(d.size_mb);
                    });
                    qb.build().execute(&mut **tx).await?;
                }
                let attributes: Vec<(&String, &String)> = a.attributes.iter().collect();
                for chunk in attributes.chunks(ROWS) {
                    let mut qb = QueryBuilder::<$db>::new("INSERT INTO asset_attributes (asset_id, key, value) ");
                    qb.push_values(chunk, |mut b, (k, v)| {
                        b.push_bind(id).push_bind(*k).push_bind(*v);
                    });
                    qb.build().execute(&mut **tx).await?;
                }
                for chunk in a.tags.chunks(ROWS) {
                    let mut qb = QueryBuilder::<$db>::new("INSERT INTO asset_tags (asset_id, tag) ");
                    qb.push_values(chunk, |mut b, t| {
                        b.push_bind(id).push_bind(t);
                    });
                    qb.build().execute(&mut **tx).await?;
                }
                let terms = a.search_terms();
                for chunk in terms.chunks(ROWS) {
                    let mut qb = QueryBuilder::<$db>::new("INSERT INTO asset_search (term, asset_id) ");
                    qb.push_values(chunk, |mut b, term| {
                        b.push_bind(term).push_bind(id);
                    });
                    qb.build().execute(&mut **tx).await?;
                }
                Ok(())
            }

            async fn insert_asset(
                tx: &mut Tx<'_>,
                actor: &Actor,
                input: &AssetInput,
                device_id: &str,
                inventory_at: Option<i64>,
            ) -> Result<Asset> {
                let mut input = input.clone();
                resolve(tx, None, &mut input).await?;
                let id: i64 = bind_input(sqlx::query(INSERT_ASSET), &input)
                    .bind(device_id)
                    .bind(inventory_at)
                    .bind(actor.at)
                    .fetch_one(&mut **tx)
                    .await
                    .map_err(unique("serial", "the serial number or asset tag is already used"))?
                    .try_get("id")?;
                write_children(tx, id, &input, true).await?;
                let asset = asset_in(&mut **tx, id).await?;
                audit(tx, actor, "asset.create", Object("asset", id, &asset.name, asset.entity_id), None, Some(&asset.audit_fields())).await?;
                Ok(asset)
            }

            async fn replace_asset(
                tx: &mut Tx<'_>,
                actor: &Actor,
                id: i64,
                input: &AssetInput,
                device_id: &str,
                inventory_at: Option<i64>,
            ) -> Result<Asset> {
                let before = asset_in(&mut **tx, id).await?;
                let mut input = input.clone();
                resolve(tx, Some(id), &mut input).await?;
                bind_input(sqlx::query(UPDATE_ASSET), &input)
                    .bind(device_id)
                    .bind(inventory_at)
                    .bind(actor.at)
                    .bind(id)
                    .execute(&mut **tx)
                    .await
                    .map_err(unique("serial", "the serial number or asset tag is already used"))?;
                write_children(tx, id, &input, false).await?;
                let after = asset_in(&mut **tx, id).await?;
                audit(
                    tx,
                    actor,
                    "asset.update",
                    Object("asset", id, &after.name, after.entity_id),
                    Some(&before.audit_fields()),
                    Some(&after.audit_fields()),
                )
                .await?;
                Ok(after)
            }

            async fn replace_software(tx: &mut Tx<'_>, id: i64, list: &[Software]) -> Result<()> {
                sqlx::query("DELETE FROM asset_software WHERE asset_id = $1")
                    .bind(id)
                    .execute(&mut **tx)
                    .await?;
                // Whole chunks per statement: an agent reports a thousand packages or more.
                for chunk in list.chunks(200) {
                    let mut qb = QueryBuilder::<$db>::new(
                        "INSERT INTO software (name, name_key, version, publisher) ",
                    );
                    qb.push_values(chunk, |mut b, s| {
                        b.push_bind(&s.name)
                            .push_bind(s.name.to_lowercase())
                            .push_bind(&s.version)
                            .push_bind(&s.publisher);
                    });
                    qb.push(" ON CONFLICT (name, version, publisher) DO NOTHING");
                    qb.build().execute(&mut **tx).await?;
                    let mut qb = QueryBuilder::<$db>::new(
                        "INSERT INTO asset_software (asset_id, software_id) SELECT DISTINCT ",
                    );
                    qb.push_bind(id).push(
                        " , s.id FROM software s WHERE (s.name, s.version, s.publisher) IN (",
                    );
                    let mut sep = qb.separated(", ");
                    for s in chunk {
                        sep.push("(")
                            .push_bind_unseparated(&s.name)
                            .push_unseparated(", ")
                            .push_bind_unseparated(&s.version)
                            .push_unseparated(", ")
                            .push_bind_unseparated(&s.publisher)
                            .push_unseparated(")");
                    }
                    qb.push(") ON CONFLICT (asset_id, software_id) DO NOTHING");
                    qb.build().execute(&mut **tx).await?;
                }
                Ok(())
            }

            /// A search word matching at least this many terms is common: the list then walks
            /// the assets in id order and probes each one's terms, instead of collecting and
            /// sorting every match before taking the first page.
            const COMMON_TERMS: i64 = 2000;

            /// Which of the search words are common (see [`COMMON_TERMS`]).
            async fn common_words(pool: &sqlx::Pool<$db>, words: &[String]) -> Result<Vec<bool>> {
                let mut out = Vec::with_capacity(words.len());
                for w in words {
                    let w = w.to_lowercase();
                    let n: i64 = sqlx::query(
                        "SELECT COUNT(*) AS n FROM (SELECT 1 FROM asset_search \
                         WHERE term >= $1 AND term < $2 LIMIT $3) t",
                    )
                    .bind(&w)
                    .bind(format!("{w}\u{10FFFF}"))
                    .bind(COMMON_TERMS)
                    .fetch_one(pool)
                    .await?
                    .try_get("n")?;
                    out.push(n >= COMMON_TERMS);
                }
                Ok(out)
            }

            /// `common[i]` says whether search word `i` is common; missing means rare.
            fn push_filter(qb: &mut QueryBuilder<$db>, f: &AssetFilter, common: &[bool]) {
                push_in(qb, "a.entity_id", &f.visible);
                // A literal, so that the planner can use the quarantine's partial index.
                qb.push(if f.quarantined == Some(true) {
                    " AND a.quarantined = TRUE"
                } else {
                    " AND a.quarantined = FALSE"
                });
                if let Some(v) = f.entity_id {
                    qb.push(" AND a.entity_id = ").push_bind(v);
                }
                if let Some(v) = f.asset_type {
                    qb.push(" AND a.asset_type = ").push_bind(v.key());
                }
                if let Some(v) = f.status {
                    qb.push(" AND a.status = ").push_bind(v.key());
                }
                if let Some(v) = f.os_family {
                    qb.push(" AND a.os_family = ").push_bind(v.key());
                }
                for (column, value) in [
                    ("a.site_id", f.site_id),
                    ("a.room_id", f.room_id),
                    ("a.rack_id", f.rack_id),
                    ("a.owner_team_id", f.owner_team_id),
                ] {
                    if let Some(v) = value {
                        qb.push(format!(" AND {column} = ")).push_bind(v);
                    }
                }
                if let Some(m) = &f.manufacturer {
                    qb.push(" AND lower(a.manufacturer) = ").push_bind(m.to_lowercase());
                }
                if let Some(t) = &f.tag {
                    qb.push(" AND a.id IN (SELECT asset_id FROM asset_tags WHERE tag = ")
                        .push_bind(t.to_lowercase())
                        .push(")");
                }
                for (i, word) in f.query.iter().enumerate() {
                    let word = word.to_lowercase();
                    let end = format!("{word}\u{10FFFF}");
                    if common.get(i).copied().unwrap_or(false) {
                        qb.push(
                            " AND EXISTS (SELECT 1 FROM asset_search s WHERE s.asset_id = a.id AND s.term >= ",
                        );
                    } else {
                        qb.push(" AND a.id IN (SELECT asset_id FROM asset_search WHERE term >= ");
                    }
                    qb.push_bind(word).push(" AND term < ").push_bind(end).push(")");
                }
                if let Some((name, version)) = &f.software {
                    qb.push(
                        " AND a.id IN (SELECT x.asset_id FROM asset_software x JOIN software s ON s.id = x.software_id \
                         WHERE s.name_key = ",
                    )
                    .push_bind(name.to_lowercase());
                    if let Some(v) = version {
                        qb.push(" AND s.version >= ")
                            .push_bind(v.clone())
                            .push(" AND s.version < ")
                            .push_bind(format!("{v}\u{10FFFF}"));
                    }
                    qb.push(")");
                }
            }

            async fn relation_in(conn: &mut Conn, id: i64) -> Result<Relation> {
                one(conn, "SELECT * FROM asset_relations WHERE id = $1", id, relation_from).await
            }

            fn relation_from(row: &Row_) -> Result<Relation> {
                let kind: String = row.try_get("kind")?;
                Ok(Relation {
                    id: row.try_get("id")?,
                    kind: stored("relation kind", &kind, RelationKind::from_key(&kind))?,
                    from_id: row.try_get("from_id")?,
                    to_id: row.try_get("to_id")?,
                    from_port: row.try_get("from_port")?,
                    to_port: row.try_get("to_port")?,
                    cable_id: row.try_get("cable_id")?,
                    comment: row.try_get("comment")?,
                    created_at: row.try_get("created_at")?,
                })
            }

            async fn asset_label(conn: &mut Conn, id: i64, field: &str) -> Result<(String, EntityId)> {
                let row = sqlx::query("SELECT name, entity_id FROM assets WHERE id = $1")
                    .bind(id)
                    .fetch_optional(conn)
                    .await?
                    .ok_or_else(|| conflict(field, format!("asset {id} does not exist")))?;
                Ok((row.try_get("name")?, row.try_get("entity_id")?))
            }

            macro_rules! location_crud {
                (
                    $module:ident,
                    $ty:ident, $input:ident, $table:literal, $what:literal, $from:ident,
                    insert: $insert:literal, update: $update_sql:literal,
                    check: |$tx:ident, $inp:ident, $id:ident| $check:block,
                    bind: |$q:ident, $b:ident| $bind:expr,
                    children: $children:expr,
                ) => {
                    mod $module {
                    use super::*;

                    pub(super) async fn list(st: &$store, visible: &[EntityId]) -> Result<Vec<$ty>> {
                        visible_list(&st.read, $table, visible, $from).await
                    }

                    pub(super) async fn get(st: &$store, id: i64) -> Result<$ty> {
                        let mut conn = st.read.acquire().await?;
                        one(&mut conn, concat!("SELECT * FROM ", $table, " WHERE id = $1"), id, $from).await
                    }

                    pub(super) async fn create(st: &$store, actor: &Actor, input: &$input) -> Result<$ty> {
                        let mut tx = st.write.begin().await?;
                        let mut input = input.clone();
                        {
                            let $tx = &mut tx;
                            let $inp = &mut input;
                            let $id: Option<i64> = None;
                            let _ = $id;
                            $check
                        }
                        let $b = &input;
                        let $q = sqlx::query($insert);
                        let id: i64 = $bind
                            .bind(actor.at)
                            .fetch_one(&mut *tx)
                            .await
                            .map_err(unique("name", concat!("another ", $what, " here already has this name")))?
                            .try_get("id")?;
                        let created = one(&mut *tx, concat!("SELECT * FROM ", $table, " WHERE id = $1"), id, $from).await?;
                        audit(&mut tx, actor, concat!($what, ".create"), Object($what, id, &created.name, created.entity_id), None, Some(&created.audit_fields())).await?;
                        tx.commit().await?;
                        Ok(created)
                    }

                    pub(super) async fn update(st: &$store, actor: &Actor, id: i64, input: &$input) -> Result<$ty> {
                        let mut tx = st.write.begin().await?;
                        let before = one(&mut *tx, concat!("SELECT * FROM ", $table, " WHERE id = $1"), id, $from).await?;
                        let mut input = input.clone();
                        {
                            let $tx = &mut tx;
                            let $inp = &mut input;
                            let $id: Option<i64> = Some(id);
                            let _ = $id;
                            $check
                        }
                        let $b = &input;
                        let $q = sqlx::query($update_sql);
                        $bind
                            .bind(actor.at)
                            .bind(id)
                            .execute(&mut *tx)
                            .await
                            .map_err(unique("name", concat!("another ", $what, " here already has this name")))?;
                        let after = one(&mut *tx, concat!("SELECT * FROM ", $table, " WHERE id = $1"), id, $from).await?;
                        audit(&mut tx, actor, concat!($what, ".update"), Object($what, id, &after.name, after.entity_id), Some(&before.audit_fields()), Some(&after.audit_fields())).await?;
                        tx.commit().await?;
                        Ok(after)
                    }

                    pub(super) async fn delete(st: &$store, actor: &Actor, id: i64) -> Result<()> {
                        let mut tx = st.write.begin().await?;
                        let before = one(&mut *tx, concat!("SELECT * FROM ", $table, " WHERE id = $1"), id, $from).await?;
                        delete_unless_used(&mut tx, $table, id, $children).await?;
                        audit(&mut tx, actor, concat!($what, ".delete"), Object($what, id, &before.name, before.entity_id), Some(&before.audit_fields()), None).await?;
                        tx.commit().await?;
                        Ok(())
                    }
                    }
                };
            }

                location_crud! {
                    sites_ops,
                    Site, SiteInput, "sites", "site", site_from,
                    insert: "INSERT INTO sites (entity_id, name, address, time_zone, comment, created_at, updated_at) \
                             VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
                    update: "UPDATE sites SET entity_id = $1, name = $2, address = $3, time_zone = $4, comment = $5, \
                             updated_at = $6 WHERE id = $7",
                    check: |tx, input, id| {
                        must_exist(&mut **tx, "entities", "entity_id", "entity", input.entity_id).await?;
                    },
                    bind: |q, b| q.bind(b.entity_id).bind(&b.name).bind(&b.address).bind(&b.time_zone).bind(&b.comment),
                    children: &[("buildings", "site_id", "buildings"), ("rooms", "site_id", "rooms"), ("assets", "site_id", "assets")],
                }

                location_crud! {
                    buildings_ops,
                    Building, BuildingInput, "buildings", "building", building_from,
                    insert: "INSERT INTO buildings (site_id, entity_id, name, comment, created_at, updated_at) \
                             VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
                    update: "UPDATE buildings SET site_id = $1, entity_id = $2, name = $3, comment = $4, \
                             updated_at = $5 WHERE id = $6",
                    check: |tx, input, id| {
                        must_exist(&mut **tx, "entities", "entity_id", "entity", input.entity_id).await?;
                        must_exist(&mut **tx, "sites", "site_id", "site", input.site_id).await?;
                    },
                    bind: |q, b| q.bind(b.site_id).bind(b.entity_id).bind(&b.name).bind(&b.comment),
                    children: &[("rooms", "building_id", "rooms")],
                }

                location_crud! {
                    rooms_ops,
                    Room, RoomInput, "rooms", "room", room_from,
                    insert: "INSERT INTO rooms (site_id, building_id, entity_id, name, grid_rows, grid_cols, \
                             power_capacity_w, cooling_capacity_w, notes, created_at, updated_at) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING id",
                    update: "UPDATE rooms SET site_id = $1, building_id = $2, entity_id = $3, name = $4, \
                             grid_rows = $5, grid_cols = $6, power_capacity_w = $7, cooling_capacity_w = $8, \
                             notes = $9, updated_at = $10 WHERE id = $11",
                    check: |tx, input, id| {
                        must_exist(&mut **tx, "entities", "entity_id", "entity", input.entity_id).await?;
                        must_exist(&mut **tx, "sites", "site_id", "site", input.site_id).await?;
                        if let Some(b) = input.building_id {
                            let building = one(&mut **tx, "SELECT * FROM buildings WHERE id = $1", b, building_from)
                                .await
                                .map_err(|_| conflict("building_id", format!("building {b} does not exist")))?;
                            if building.site_id != input.site_id {
                                return Err(conflict("building_id", format!("building {} is not on site {}", building.name, input.site_id)));
                            }
                        }
                        if let Some(id) = id {
                            let row = sqlx::query("SELECT name, grid_row, grid_col FROM racks WHERE room_id = $1 AND (grid_row > $2 OR grid_col > $3) LIMIT 1")
                                .bind(id).bind(input.grid_rows).bind(input.grid_cols)
                                .fetch_optional(&mut **tx).await?;
                            if let Some(row) = row {
                                let name: String = row.try_get("name")?;
                                return Err(conflict("grid_rows", format!("rack {name} stands outside that grid; move it first")));
                            }
                        }
                    },
                    bind: |q, b| q.bind(b.site_id).bind(b.building_id).bind(b.entity_id).bind(&b.name)
                        .bind(b.grid_rows).bind(b.grid_cols).bind(b.power_capacity_w).bind(b.cooling_capacity_w).bind(&b.notes),
                    children: &[("racks", "room_id", "racks"), ("assets", "room_id", "assets")],
                }

                location_crud! {
                    racks_ops,
                    Rack, RackInput, "racks", "rack", rack_from,
                    insert: "INSERT INTO racks (room_id, site_id, entity_id, name, height_u, grid_row, grid_col, \
                             max_power_w, comment, created_at, updated_at) \
                             VALUES ($1, (SELECT site_id FROM rooms WHERE id = $1), $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id",
                    update: "UPDATE racks SET room_id = $1, site_id = (SELECT site_id FROM rooms WHERE id = $1), \
                             entity_id = $2, name = $3, height_u = $4, grid_row = $5, grid_col = $6, \
                             max_power_w = $7, comment = $8, updated_at = $9 WHERE id = $10",
                    check: |tx, input, id| {
                        must_exist(&mut **tx, "entities", "entity_id", "entity", input.entity_id).await?;
                        room_in_grid(tx, input, id).await?;
                        if let Some(id) = id {
                            rack_fits_devices(tx, id, input.height_u).await?;
                            // Devices follow their rack to its new room and site.
                            sqlx::query("UPDATE assets SET room_id = $1, site_id = (SELECT site_id FROM rooms WHERE id = $1) WHERE rack_id = $2")
                                .bind(input.room_id).bind(id).execute(&mut **tx).await?;
                        }
                    },
                    bind: |q, b| q.bind(b.room_id).bind(b.entity_id).bind(&b.name).bind(b.height_u)
                        .bind(b.grid_row).bind(b.grid_col).bind(b.max_power_w).bind(&b.comment),
                    children: &[("assets", "rack_id", "devices")],
                }

            #[async_trait]
            impl InventoryStore for $store {
                async fn list_sites(&self, visible: &[EntityId]) -> Result<Vec<Site>> {
                    sites_ops::list(self, visible).await
                }

                async fn get_site(&self, id: i64) -> Result<Site> {
                    sites_ops::get(self, id).await
                }

                async fn create_site(&self, actor: &Actor, input: &SiteInput) -> Result<Site> {
                    sites_ops::create(self, actor, input).await
                }

                async fn update_site(&self, actor: &Actor, id: i64, input: &SiteInput) -> Result<Site> {
                    sites_ops::update(self, actor, id, input).await
                }

                async fn delete_site(&self, actor: &Actor, id: i64) -> Result<()> {
                    sites_ops::delete(self, actor, id).await
                }

                async fn list_buildings(&self, visible: &[EntityId]) -> Result<Vec<Building>> {
                    buildings_ops::list(self, visible).await
                }

                async fn get_building(&self, id: i64) -> Result<Building> {
                    buildings_ops::get(self, id).await
                }

                async fn create_building(&self, actor: &Actor, input: &BuildingInput) -> Result<Building> {
                    buildings_ops::create(self, actor, input).await
                }

                async fn update_building(&self, actor: &Actor, id: i64, input: &BuildingInput) -> Result<Building> {
                    buildings_ops::update(self, actor, id, input).await
                }

                async fn delete_building(&self, actor: &Actor, id: i64) -> Result<()> {
                    buildings_ops::delete(self, actor, id).await
                }

                async fn list_rooms(&self, visible: &[EntityId]) -> Result<Vec<Room>> {
                    rooms_ops::list(self, visible).await
                }

                async fn get_room(&self, id: i64) -> Result<Room> {
                    rooms_ops::get(self, id).await
                }

                async fn create_room(&self, actor: &Actor, input: &RoomInput) -> Result<Room> {
                    rooms_ops::create(self, actor, input).await
                }

                async fn update_room(&self, actor: &Actor, id: i64, input: &RoomInput) -> Result<Room> {
                    rooms_ops::update(self, actor, id, input).await
                }

                async fn delete_room(&self, actor: &Actor, id: i64) -> Result<()> {
                    rooms_ops::delete(self, actor, id).await
                }

                async fn list_racks(&self, visible: &[EntityId]) -> Result<Vec<Rack>> {
                    racks_ops::list(self, visible).await
                }

                async fn get_rack(&self, id: i64) -> Result<Rack> {
                    racks_ops::get(self, id).await
                }

                async fn create_rack(&self, actor: &Actor, input: &RackInput) -> Result<Rack> {
                    racks_ops::create(self, actor, input).await
                }

                async fn update_rack(&self, actor: &Actor, id: i64, input: &RackInput) -> Result<Rack> {
                    racks_ops::update(self, actor, id, input).await
                }

                async fn delete_rack(&self, actor: &Actor, id: i64) -> Result<()> {
                    racks_ops::delete(self, actor, id).await
                }

                async fn list_assets(&self, filter: &AssetFilter, page: Page) -> Result<Vec<Asset>> {
                    let common = common_words(&self.read, &filter.query).await?;
                    let mut conn = self.read.acquire().await?;
                    assets_where(&mut conn, |qb| {
                        push_filter(qb, filter, &common);
                        if let Some(after) = page.after {
                            qb.push(" AND a.id > ").push_bind(after);
                        }
                        qb.push(" ORDER BY a.id LIMIT ").push_bind(page.limit);
                    })
                    .await
                }

                async fn count_assets(&self, filter: &AssetFilter) -> Result<i64> {
                    let mut qb = QueryBuilder::<$db>::new("SELECT COUNT(*) AS n FROM assets a WHERE ");
                    push_filter(&mut qb, filter, &[]);
                    Ok(qb.build().fetch_one(&self.read).await?.try_get("n")?)
                }

                async fn count_assets_upto(&self, filter: &AssetFilter, cap: i64) -> Result<i64> {
                    let common = common_words(&self.read, &filter.query).await?;
                    let mut qb = QueryBuilder::<$db>::new("SELECT COUNT(*) AS n FROM (SELECT 1 FROM assets a WHERE ");
                    push_filter(&mut qb, filter, &common);
                    qb.push(" LIMIT ").push_bind(cap).push(") capped");
                    Ok(qb.build().fetch_one(&self.read).await?.try_get("n")?)
                }

                async fn get_asset(&self, id: AssetId) -> Result<Asset> {
                    let mut conn = self.read.acquire().await?;
                    asset_in(&mut conn, id).await
                }

                async fn get_assets(&self, ids: &[AssetId]) -> Result<Vec<Asset>> {
                    let mut conn = self.read.acquire().await?;
                    assets_where(&mut conn, |qb| push_in(qb, "a.id", ids)).await
                }

                async fn find_asset(&self, keys: &AssetKeys) -> Result<Option<Asset>> {
                    let mut conn = self.read.acquire().await?;
                    let type_key = keys.asset_type.map(AssetType::key);
                    // Each lookup repeats its partial index's condition (`<> ''`): without it,
                    // neither SQLite nor PostgreSQL may use the index for a bound value, and
                    // every lookup would scan the table.
                    let lookups: [(&str, &str); 5] = [
                        ("SELECT id FROM assets WHERE agent_device_id = $1 AND agent_device_id <> '' AND $2 = $2 ORDER BY id LIMIT 1", &keys.device_id),
                        ("SELECT id FROM assets WHERE uuid = lower($1) AND uuid <> '' AND $2 = $2 ORDER BY id LIMIT 1", &keys.uuid),
                        ("SELECT id FROM assets WHERE serial = $1 AND serial <> '' AND ($2 = '' OR asset_type = $2) ORDER BY id LIMIT 1", &keys.serial),
                        ("SELECT id FROM assets WHERE asset_tag = $1 AND asset_tag <> '' AND $2 = $2 ORDER BY id LIMIT 1", &keys.asset_tag),
                        ("SELECT id FROM assets WHERE lower(hostname) = lower($1) AND hostname <> '' AND $2 = $2 ORDER BY id LIMIT 1", &keys.hostname),
                    ];
                    for (sql, value) in lookups {
                        if value.trim().is_empty() {
                            continue;
                        }
                        let row = sqlx::query(sql)
                            .bind(value.trim())
                            .bind(type_key.unwrap_or(""))
                            .fetch_optional(&mut *conn)
                            .await?;
                        if let Some(row) = row {
                            return Ok(Some(asset_in(&mut conn, row.try_get("id")?).await?));
                        }
                    }
                    Ok(None)
                }

                async fn create_asset(&self, actor: &Actor, input: &AssetInput) -> Result<Asset> {
                    let mut tx = self.write.begin().await?;
                    let asset = insert_asset(&mut tx, actor, input, "", None).await?;
                    tx.commit().await?;
                    Ok(asset)
                }

                async fn update_asset(&self, actor: &Actor, id: AssetId, input: &AssetInput) -> Result<Asset> {
                    let mut tx = self.write.begin().await?;
                    let asset = replace_asset(&mut tx, actor, id, input, "", None).await?;
                    tx.commit().await?;
                    Ok(asset)
                }

                async fn write_assets(
                    &self,
                    actor: &Actor,
                    batch: &[(Option<AssetId>, AssetInput)],
                ) -> Result<Vec<Asset>> {
                    let mut tx = self.write.begin().await?;
                    let mut written = Vec::with_capacity(batch.len());
                    for (id, input) in batch {
                        written.push(match id {
                            Some(id) => replace_asset(&mut tx, actor, *id, input, "", None).await?,
                            None => insert_asset(&mut tx, actor, input, "", None).await?,
                        });
                    }
                    tx.commit().await?;
                    Ok(written)
                }

                async fn asset_attribute_keys(&self, filter: &AssetFilter) -> Result<Vec<String>> {
                    let mut qb = QueryBuilder::<$db>::new(
                        "SELECT DISTINCT key FROM asset_attributes WHERE asset_id IN (SELECT a.id FROM assets a WHERE ",
                    );
                    push_filter(&mut qb, filter, &[]);
                    qb.push(")");
                    let rows = qb.build().fetch_all(&self.read).await?;
                    // Sorted here, byte-wise: PostgreSQL would sort by its locale's collation.
                    let mut keys = rows.iter().map(|r| Ok(r.try_get("key")?)).collect::<Result<Vec<String>>>()?;
                    keys.sort();
                    Ok(keys)
                }

                async fn delete_asset(&self, actor: &Actor, id: AssetId) -> Result<()> {
                    let mut tx = self.write.begin().await?;
                    let before = asset_in(&mut *tx, id).await?;
                    sqlx::query("DELETE FROM assets WHERE id = $1").bind(id).execute(&mut *tx).await?;
                    audit(&mut tx, actor, "asset.delete", Object("asset", id, &before.name, before.entity_id), Some(&before.audit_fields()), None).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn apply_inventory(&self, actor: &Actor, update: &InventoryUpdate) -> Result<(Asset, bool)> {
                    let mut tx = self.write.begin().await?;
                    let (asset, created) = match update.asset_id {
                        Some(id) => (replace_asset(&mut tx, actor, id, &update.input, &update.device_id, Some(actor.at)).await?, false),
                        None => (insert_asset(&mut tx, actor, &update.input, &update.device_id, Some(actor.at)).await?, true),
                    };
                    replace_software(&mut tx, asset.id, &update.software).await?;
                    tx.commit().await?;
                    Ok((asset, created))
                }

                async fn list_relations(&self, ids: &[AssetId]) -> Result<Vec<Relation>> {
                    let mut qb = QueryBuilder::<$db>::new("SELECT * FROM asset_relations WHERE ");
                    push_in(&mut qb, "from_id", ids);
                    qb.push(" OR ");
                    push_in(&mut qb, "to_id", ids);
                    qb.push(" ORDER BY id");
                    let rows = qb.build().fetch_all(&self.read).await?;
                    rows.iter().map(relation_from).collect()
                }

                async fn get_relation(&self, id: i64) -> Result<Relation> {
                    let mut conn = self.read.acquire().await?;
                    relation_in(&mut conn, id).await
                }

                async fn create_relation(&self, actor: &Actor, input: &RelationInput) -> Result<Relation> {
                    let mut tx = self.write.begin().await?;
                    let (from_name, entity) = asset_label(&mut *tx, input.from_id, "from_id").await?;
                    let (to_name, _) = asset_label(&mut *tx, input.to_id, "to_id").await?;
                    if input.kind.must_be_acyclic() {
                        // Serialises cycle checks between concurrent writers.
                        sqlx::query("UPDATE inventory_locks SET n = n + 1 WHERE name = 'relations'")
                            .execute(&mut *tx)
                            .await?;
                        let cycle = sqlx::query(
                            "WITH RECURSIVE reach(id) AS ( \
                               SELECT CAST($1 AS BIGINT) \
                               UNION \
                               SELECT r.to_id FROM asset_relations r JOIN reach ON r.from_id = reach.id \
                               WHERE r.kind IN ('runs_on', 'depends_on') \
                             ) SELECT 1 AS hit FROM reach WHERE id = $2 LIMIT 1",
                        )
                        .bind(input.to_id)
                        .bind(input.from_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                        if cycle.is_some() {
                            return Err(conflict(
                                "to_id",
                                format!(
                                    "{to_name} already runs on or depends on {from_name}, directly or \
                                     through others; {from_name} {} {to_name} would make a cycle",
                                    input.kind
                                ),
                            ));
                        }
                    }
                    let id: i64 = sqlx::query(
                        "INSERT INTO asset_relations (kind, from_id, to_id, from_port, to_port, cable_id, comment, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                    )
                    .bind(input.kind.key())
                    .bind(input.from_id)
                    .bind(input.to_id)
                    .bind(&input.from_port)
                    .bind(&input.to_port)
                    .bind(&input.cable_id)
                    .bind(&input.comment)
                    .bind(actor.at)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(unique("to_id", "this relation already exists"))?
                    .try_get("id")?;
                    let rel = relation_in(&mut *tx, id).await?;
                    let label = format!("{from_name} {} {to_name}", input.kind);
                    audit(&mut tx, actor, "relation.create", Object("relation", id, &label, entity), None, Some(&rel.audit_fields())).await?;
                    tx.commit().await?;
                    Ok(rel)
                }

                async fn delete_relation(&self, actor: &Actor, id: i64) -> Result<()> {
                    let mut tx = self.write.begin().await?;
                    let rel = relation_in(&mut *tx, id).await?;
                    let (from_name, entity) = asset_label(&mut *tx, rel.from_id, "from_id").await?;
                    let (to_name, _) = asset_label(&mut *tx, rel.to_id, "to_id").await?;
                    sqlx::query("DELETE FROM asset_relations WHERE id = $1").bind(id).execute(&mut *tx).await?;
                    let label = format!("{from_name} {} {to_name}", rel.kind);
                    audit(&mut tx, actor, "relation.delete", Object("relation", id, &label, entity), Some(&rel.audit_fields()), None).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn list_software(&self, asset_id: AssetId) -> Result<Vec<Software>> {
                    let rows = sqlx::query(
                        "SELECT s.name, s.version, s.publisher FROM asset_software x JOIN software s ON s.id = x.software_id \
                         WHERE x.asset_id = $1 ORDER BY s.name_key, s.version",
                    )
                    .bind(asset_id)
                    .fetch_all(&self.read)
                    .await?;
                    rows.iter()
                        .map(|r| Ok(Software { name: r.try_get("name")?, version: r.try_get("version")?, publisher: r.try_get("publisher")? }))
                        .collect()
                }

                async fn count_software(&self, asset_id: AssetId) -> Result<i64> {
                    Ok(sqlx::query("SELECT COUNT(*) AS n FROM asset_software WHERE asset_id = $1")
                        .bind(asset_id)
                        .fetch_one(&self.read)
                        .await?
                        .try_get("n")?)
                }

                async fn find_installations(
                    &self,
                    visible: &[EntityId],
                    name: &str,
                    version: Option<&str>,
                    page: Page,
                ) -> Result<Vec<Installation>> {
                    let mut qb = QueryBuilder::<$db>::new(
                        "SELECT a.id, a.name AS asset_name, a.entity_id, s.name, s.version, s.publisher \
                         FROM software s JOIN asset_software x ON x.software_id = s.id \
                         JOIN assets a ON a.id = x.asset_id WHERE s.name_key = ",
                    );
                    qb.push_bind(name.to_lowercase());
                    if let Some(v) = version {
                        qb.push(" AND s.version >= ").push_bind(v.to_owned())
                            .push(" AND s.version < ").push_bind(format!("{v}\u{10FFFF}"));
                    }
                    qb.push(" AND ");
                    push_in(&mut qb, "a.entity_id", visible);
                    if let Some(after) = page.after {
                        qb.push(" AND a.id > ").push_bind(after);
                    }
                    qb.push(" ORDER BY a.id, s.version LIMIT ").push_bind(page.limit);
                    let rows = qb.build().fetch_all(&self.read).await?;
                    rows.iter()
                        .map(|r| {
                            Ok(Installation {
                                asset_id: r.try_get("id")?,
                                asset_name: r.try_get("asset_name")?,
                                entity_id: r.try_get("entity_id")?,
                                software: Software { name: r.try_get("name")?, version: r.try_get("version")?, publisher: r.try_get("publisher")? },
                            })
                        })
                        .collect()
                }
            }
        }
    };
}
