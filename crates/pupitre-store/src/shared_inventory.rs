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

            use std::collections::{BTreeSet, HashMap};

            use async_trait::async_trait;
            use crate::sql::push_in;
            use pupitre_core::audit::{self as core_audit, Actor, AuditEvent};
            use pupitre_core::inventory::{
                encode_locks, placement_conflict, PlacementConflict, Asset, AssetId, AssetInput,
                Building, BuildingInput, Disk, Face, Interface, Occupant, OsFamily,
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

            /// One asset to write: a creation (`id` is `None`) or a replacement. Agents'
            /// reports also set the device id they know the machine by, and the time.
            struct Write<'a> {
                id: Option<i64>,
                input: &'a AssetInput,
                device_id: &'a str,
                inventory_at: Option<i64>,
            }

            impl<'a> Write<'a> {
                fn manual(id: Option<i64>, input: &'a AssetInput) -> Write<'a> {
                    Write { id, input, device_id: "", inventory_at: None }
                }
            }

            /// Bind parameters per statement: well under SQLite's 32,766 and PostgreSQL's 65,535.
            const BINDS: usize = 16_000;

            /// The rows of `table` whose id is among `ids`, by id.
            async fn by_id<T>(
                tx: &mut Tx<'_>,
                table: &str,
                ids: impl IntoIterator<Item = i64>,
                decode: fn(&Row_) -> Result<T>,
            ) -> Result<HashMap<i64, T>> {
                let ids: Vec<i64> = ids.into_iter().collect::<BTreeSet<_>>().into_iter().collect();
                let mut found = HashMap::with_capacity(ids.len());
                for chunk in ids.chunks(BINDS) {
                    let mut qb = QueryBuilder::<$db>::new(format!("SELECT * FROM {table} WHERE "));
                    push_in(&mut qb, "id", chunk);
                    for row in qb.build().fetch_all(&mut **tx).await? {
                        found.insert(row.try_get("id")?, decode(&row)?);
                    }
                }
                Ok(found)
            }

            fn nothing(_: &Row_) -> Result<()> {
                Ok(())
            }

            /// Checks the references of every input, in order, as if each had been written
            /// before the next one was checked, and fills the site and room implied by a
            /// rack or room. Checks rack units, serial numbers and asset tags against the
            /// database and against the earlier writes of the batch. A handful of queries
            /// for the whole batch: bulk imports check thousands of rows.
            async fn resolve(tx: &mut Tx<'_>, writes: &[Write<'_>]) -> Result<Vec<AssetInput>> {
                let mut inputs: Vec<AssetInput> = writes.iter().map(|w| w.input.clone()).collect();
                let entities = by_id(tx, "entities", inputs.iter().map(|i| i.entity_id), nothing).await?;
                let teams = by_id(tx, "teams", inputs.iter().filter_map(|i| i.owner_team_id), nothing).await?;
                let racks = by_id(tx, "racks", inputs.iter().filter_map(|i| i.rack_id), rack_from).await?;
                let rooms = by_id(
                    tx,
                    "rooms",
                    inputs.iter().filter(|i| i.rack_id.is_none()).filter_map(|i| i.room_id),
                    room_from,
                )
                .await?;
                let sites = by_id(
                    tx,
                    "sites",
                    inputs.iter().filter(|i| i.rack_id.is_none() && i.room_id.is_none()).filter_map(|i| i.site_id),
                    nothing,
                )
                .await?;

                // What the batch may collide with: the devices in its racks, the holders of
                // its serial numbers and asset tags.
                let mut occupants: HashMap<i64, Vec<Occupant>> = HashMap::new();
                let placed: BTreeSet<i64> =
                    inputs.iter().filter(|i| i.rack_u.is_some()).filter_map(|i| i.rack_id).collect();
                let placed: Vec<i64> = placed.into_iter().collect();
                for chunk in placed.chunks(BINDS) {
                    let mut qb = QueryBuilder::<$db>::new(
                        "SELECT id, name, rack_id, rack_u, height_u, rack_face, full_depth FROM assets WHERE ",
                    );
                    push_in(&mut qb, "rack_id", chunk);
                    qb.push(" AND rack_u IS NOT NULL");
                    for r in qb.build().fetch_all(&mut **tx).await? {
                        let face: Option<String> = r.try_get("rack_face")?;
                        occupants.entry(r.try_get("rack_id")?).or_default().push(Occupant {
                            asset_id: r.try_get("id")?,
                            name: r.try_get("name")?,
                            rack_u: r.try_get("rack_u")?,
                            height_u: r.try_get("height_u")?,
                            face: face.as_deref().and_then(Face::from_key).unwrap_or(Face::Front),
                            full_depth: r.try_get("full_depth")?,
                        });
                    }
                }
                let mut serials: HashMap<(String, String), i64> = HashMap::new();
                let mut tags: HashMap<String, i64> = HashMap::new();
                for (column, values) in [
                    ("serial", inputs.iter().map(|i| i.serial.as_str()).collect::<BTreeSet<_>>()),
                    ("asset_tag", inputs.iter().map(|i| i.asset_tag.as_str()).collect::<BTreeSet<_>>()),
                ] {
                    let values: Vec<&str> = values.into_iter().filter(|v| !v.is_empty()).collect();
                    for chunk in values.chunks(BINDS) {
                        // The `<> ''` repeats the partial index's condition, so that it is used.
                        let mut qb = QueryBuilder::<$db>::new(format!(
                            "SELECT id, asset_type, {column} AS v FROM assets WHERE {column} <> '' AND {column} IN ("
                        ));
                        let mut sep = qb.separated(", ");
                        for v in chunk {
                            sep.push_bind(*v);
                        }
                        qb.push(")");
                        for r in qb.build().fetch_all(&mut **tx).await? {
                            let (id, v): (i64, String) = (r.try_get("id")?, r.try_get("v")?);
                            if column == "serial" {
                                serials.insert((r.try_get("asset_type")?, v), id);
                            } else {
                                tags.insert(v, id);
                            }
                        }
                    }
                }

                for (i, (w, input)) in writes.iter().zip(&mut inputs).enumerate() {
                    // A new asset is known by its place in the batch until it has an id.
                    let me = w.id.unwrap_or(-1 - i as i64);
                    if w.id.is_some() {
                        // What the asset held before this write does not collide with it.
                        for list in occupants.values_mut() {
                            list.retain(|o| o.asset_id != me);
                        }
                        serials.retain(|_, owner| *owner != me);
                        tags.retain(|_, owner| *owner != me);
                    }
                    if !entities.contains_key(&input.entity_id) {
                        return Err(conflict("entity_id", format!("entity {} does not exist", input.entity_id)));
                    }
                    if let Some(team) = input.owner_team_id.filter(|t| !teams.contains_key(t)) {
                        return Err(conflict("owner_team_id", format!("team {team} does not exist")));
                    }
                    if let Some(rack_id) = input.rack_id {
                        let rack = racks
                            .get(&rack_id)
                            .ok_or_else(|| conflict("rack_id", format!("rack {rack_id} does not exist")))?;
                        input.room_id = Some(rack.room_id);
                        input.site_id = Some(rack.site_id);
                        if let Some(u) = input.rack_u {
                            let candidate = Occupant::asked(me, input, u);
                            let others = occupants.entry(rack_id).or_default();
                            if let Some(c) = placement_conflict(rack.height_u, &candidate, others) {
                                let message = match c {
                                    PlacementConflict::Occupied { by, name, unit } if by < 0 => {
                                        format!("U{unit} is already taken by {name}, earlier in the same batch")
                                    }
                                    c => c.message(),
                                };
                                return Err(conflict("rack_u", format!("rack {}: {message}", rack.name)));
                            }
                            others.push(candidate);
                        }
                    } else if let Some(room_id) = input.room_id {
                        let room = rooms
                            .get(&room_id)
                            .ok_or_else(|| conflict("room_id", format!("room {room_id} does not exist")))?;
                        input.site_id = Some(room.site_id);
                    } else if let Some(site_id) = input.site_id.filter(|s| !sites.contains_key(s)) {
                        return Err(conflict("site_id", format!("site {site_id} does not exist")));
                    }
                    if !input.serial.is_empty() {
                        let key = (input.asset_type.key().to_owned(), input.serial.clone());
                        // The other asset may be in an entity the caller cannot see: name nothing.
                        if serials.get(&key).is_some_and(|owner| *owner != me) {
                            return Err(conflict(
                                "serial",
                                format!(
                                    "serial number {} is already used by another {}",
                                    input.serial, input.asset_type
                                ),
                            ));
                        }
                        serials.insert(key, me);
                    }
                    if !input.asset_tag.is_empty() {
                        if tags.get(&input.asset_tag).is_some_and(|owner| *owner != me) {
                            return Err(conflict(
                                "asset_tag",
                                format!("asset tag {} is already used by another asset", input.asset_tag),
                            ));
                        }
                        tags.insert(input.asset_tag.clone(), me);
                    }
                }
                Ok(inputs)
            }

            /// Pushes the stored columns of `a`, in `asset_input_cols!()` order.
            fn push_input(b: &mut sqlx::query_builder::Separated<'_, $db, &'static str>, a: &AssetInput) {
                b.push_bind(a.entity_id)
                    .push_bind(a.asset_type.key())
                    .push_bind(a.name.clone())
                    .push_bind(a.hostname.clone())
                    .push_bind(a.manufacturer.clone())
                    .push_bind(a.model.clone())
                    .push_bind(a.serial.clone())
                    .push_bind(a.asset_tag.clone())
                    .push_bind(a.uuid.clone())
                    .push_bind(a.status.key())
                    .push_bind(a.status_since.clone())
                    .push_bind(a.ordered_on.clone())
                    .push_bind(a.received_on.clone())
                    .push_bind(a.in_production_on.clone())
                    .push_bind(a.retired_on.clone())
                    .push_bind(a.disposed_on.clone())
                    .push_bind(a.owner_team_id)
                    .push_bind(a.site_id)
                    .push_bind(a.room_id)
                    .push_bind(a.rack_id)
                    .push_bind(a.rack_u)
                    .push_bind(a.rack_face.map(Face::key))
                    .push_bind(a.height_u)
                    .push_bind(a.full_depth)
                    .push_bind(a.location_note.clone())
                    .push_bind(a.os_family.map(OsFamily::key))
                    .push_bind(a.os_name.clone())
                    .push_bind(a.os_version.clone())
                    .push_bind(a.cpu_model.clone())
                    .push_bind(a.cpu_sockets)
                    .push_bind(a.cpu_cores)
                    .push_bind(a.memory_mb)
                    .push_bind(a.management_ip.clone())
                    .push_bind(a.power_draw_w)
                    .push_bind(a.purchase_date.clone())
                    .push_bind(a.purchase_cost_cents)
                    .push_bind(a.supplier.clone())
                    .push_bind(a.order_ref.clone())
                    .push_bind(a.warranty_end.clone())
                    .push_bind(a.contract_id)
                    .push_bind(a.notes.clone())
                    .push_bind(a.quarantined)
                    .push_bind(encode_locks(&a.locks));
            }

            /// Binds per created asset: its input columns and four more.
            const INSERT_BINDS: usize = 47;

            /// Deletes the rows of `table` that belong to `ids`.
            async fn delete_of(tx: &mut Tx<'_>, table: &str, ids: &[i64]) -> Result<()> {
                for chunk in ids.chunks(BINDS) {
                    let mut qb = QueryBuilder::<$db>::new(format!("DELETE FROM {table} WHERE "));
                    push_in(&mut qb, "asset_id", chunk);
                    qb.build().execute(&mut **tx).await?;
                }
                Ok(())
            }

            /// Inserts `rows` into `table (columns)`, as many per statement as the bind limit allows.
            async fn insert_rows<T>(
                tx: &mut Tx<'_>,
                table_columns: &str,
                binds_per_row: usize,
                rows: &[T],
                push: impl Fn(&mut sqlx::query_builder::Separated<'_, $db, &'static str>, &T),
            ) -> Result<()> {
                for chunk in rows.chunks(BINDS / binds_per_row) {
                    let mut qb = QueryBuilder::<$db>::new(format!("INSERT INTO {table_columns} "));
                    qb.push_values(chunk, |mut b, row| push(&mut b, row));
                    qb.build().execute(&mut **tx).await?;
                }
                Ok(())
            }

            /// Writes the interfaces, disks, attributes, tags and search terms of assets
            /// `ids[i]` ← `inputs[i]`, after deleting those of the `replaced` ones.
            async fn write_children(tx: &mut Tx<'_>, ids: &[i64], inputs: &[AssetInput], replaced: &[i64]) -> Result<()> {
                for table in ["asset_interfaces", "asset_disks", "asset_attributes", "asset_tags", "asset_search"] {
                    delete_of(tx, table, replaced).await?;
                }
                let owned = || ids.iter().copied().zip(inputs);
                let interfaces: Vec<(i64, usize, &Interface)> =
                    owned().flat_map(|(id, a)| a.interfaces.iter().enumerate().map(move |(p, x)| (id, p, x))).collect();
                insert_rows(
                    tx,
                    "asset_interfaces (asset_id, position, name, mac, ips, vlan, speed_mbps)",
                    7,
                    &interfaces,
                    |b, (id, pos, i)| {
                        b.push_bind(*id)
                            .push_bind(*pos as i32)
                            .push_bind(i.name.clone())
                            .push_bind(i.mac.clone())
                            .push_bind(i.ips.join(" "))
                            .push_bind(i.vlan)
                            .push_bind(i.speed_mbps);
                    },
                )
                .await?;
                let disks: Vec<(i64, usize, &Disk)> =
                    owned().flat_map(|(id, a)| a.disks.iter().enumerate().map(move |(p, x)| (id, p, x))).collect();
                insert_rows(
                    tx,
                    "asset_disks (asset_id, position, name, model, serial, size_mb)",
                    6,
                    &disks,
                    |b, (id, pos, d)| {
                        b.push_bind(*id)
                            .push_bind(*pos as i32)
                            .push_bind(d.name.clone())
                            .push_bind(d.model.clone())
                            .push_bind(d.serial.clone())
                            .push_bind(d.size_mb);
                    },
                )
                .await?;
                let attributes: Vec<(i64, &String, &String)> =
                    owned().flat_map(|(id, a)| a.attributes.iter().map(move |(k, v)| (id, k, v))).collect();
                insert_rows(tx, "asset_attributes (asset_id, key, value)", 3, &attributes, |b, (id, k, v)| {
                    b.push_bind(*id).push_bind((*k).clone()).push_bind((*v).clone());
                })
                .await?;
                let tags: Vec<(i64, &String)> =
                    owned().flat_map(|(id, a)| a.tags.iter().map(move |t| (id, t))).collect();
                insert_rows(tx, "asset_tags (asset_id, tag)", 2, &tags, |b, (id, t)| {
                    b.push_bind(*id).push_bind((*t).clone());
                })
                .await?;
                let terms: Vec<(i64, String)> =
                    owned().flat_map(|(id, a)| a.search_terms().into_iter().map(move |t| (id, t))).collect();
                insert_rows(tx, "asset_search (term, asset_id)", 2, &terms, |b, (id, term)| {
                    b.push_bind(term.clone()).push_bind(*id);
                })
                .await?;
                Ok(())
            }

            /// The assets among `ids` that exist, by id.
            async fn assets_by_ids(conn: &mut Conn, ids: &[i64]) -> Result<HashMap<i64, Asset>> {
                let mut found = HashMap::with_capacity(ids.len());
                for chunk in ids.chunks(BINDS) {
                    for a in assets_where(&mut *conn, |qb| push_in(qb, "a.id", chunk)).await? {
                        found.insert(a.id, a);
                    }
                }
                Ok(found)
            }

            /// The assets `ids`, in that order; all must exist.
            async fn assets_in_order(conn: &mut Conn, ids: &[i64]) -> Result<Vec<Asset>> {
                let mut found = assets_by_ids(conn, ids).await?;
                ids.iter().map(|id| found.remove(id).ok_or(StoreError::NotFound)).collect()
            }

            /// Creates or replaces every asset of `writes`, in order, with one audit record
            /// per change; returns them as stored. A constant number of statements per
            /// batch rather than per asset (bulk imports write 500 assets per call).
            async fn write_batch(tx: &mut Tx<'_>, actor: &Actor, writes: &[Write<'_>]) -> Result<Vec<Asset>> {
                let replaced: Vec<i64> = writes.iter().filter_map(|w| w.id).collect();
                let before = assets_in_order(&mut **tx, &replaced).await?;
                let inputs = resolve(tx, writes).await?;

                // Replacements go first: `resolve` allowed a creation to take a serial number
                // or asset tag that a replacement earlier in the batch gave up, never the
                // reverse, so this order cannot trip the unique indexes.
                for (w, input) in writes.iter().zip(&inputs) {
                    let Some(id) = w.id else { continue };
                    let mut qb = QueryBuilder::<$db>::new(concat!(
                        "UPDATE assets SET (",
                        asset_input_cols!(),
                        ", agent_device_id, last_inventory_at, updated_at) = ("
                    ));
                    push_input(&mut qb.separated(", "), input);
                    qb.push(", COALESCE(NULLIF(")
                        .push_bind(w.device_id)
                        .push(", ''), agent_device_id), COALESCE(")
                        .push_bind(w.inventory_at)
                        .push(", last_inventory_at), ")
                        .push_bind(actor.at)
                        .push(") WHERE id = ")
                        .push_bind(id);
                    qb.build()
                        .execute(&mut **tx)
                        .await
                        .map_err(unique("serial", "the serial number or asset tag is already used"))?;
                }
                let created: Vec<(&Write<'_>, &AssetInput)> =
                    writes.iter().zip(&inputs).filter(|(w, _)| w.id.is_none()).collect();
                let mut new_ids = Vec::with_capacity(created.len());
                for chunk in created.chunks(BINDS / INSERT_BINDS) {
                    let mut qb = QueryBuilder::<$db>::new(concat!(
                        "INSERT INTO assets (",
                        asset_input_cols!(),
                        ", agent_device_id, last_inventory_at, created_at, updated_at) "
                    ));
                    qb.push_values(chunk, |mut b, (w, input)| {
                        push_input(&mut b, input);
                        b.push_bind(w.device_id)
                            .push_bind(w.inventory_at)
                            .push_bind(actor.at)
                            .push_bind(actor.at);
                    });
                    qb.push(" RETURNING id");
                    let rows = qb
                        .build()
                        .fetch_all(&mut **tx)
                        .await
                        .map_err(unique("serial", "the serial number or asset tag is already used"))?;
                    // Both databases number the rows of one INSERT … VALUES in the order
                    // they are listed; the comparison with the re-read below checks it.
                    let mut ids = rows.iter().map(|r| r.try_get::<i64, _>("id")).collect::<Result<Vec<_>, _>>()?;
                    ids.sort_unstable();
                    new_ids.extend(ids);
                }
                let mut new_ids = new_ids.into_iter();
                let ids: Vec<i64> = writes.iter().map(|w| w.id.or_else(|| new_ids.next()).unwrap_or(0)).collect();
                write_children(tx, &ids, &inputs, &replaced).await?;

                let after = assets_in_order(&mut **tx, &ids).await?;
                if after.iter().zip(&inputs).any(|(a, i)| a.name != i.name || a.serial != i.serial) {
                    return Err(StoreError::Rejected("the database numbered a batch of new assets out of order".into()));
                }
                let mut before = before.into_iter();
                let events: Vec<AuditEvent> = writes
                    .iter()
                    .zip(&after)
                    .filter_map(|(w, asset)| {
                        let (action, before) = match w.id {
                            Some(_) => ("asset.update", before.next().map(|b| b.audit_fields())),
                            None => ("asset.create", None),
                        };
                        let ev = AuditEvent {
                            action: action.to_owned(),
                            object_type: "asset".to_owned(),
                            object_id: Some(asset.id),
                            object_label: asset.name.clone(),
                            entity_id: Some(asset.entity_id),
                            changes: core_audit::diff(before.as_deref(), Some(&asset.audit_fields())),
                        };
                        (action == "asset.create" || !ev.changes.is_empty()).then_some(ev)
                    })
                    .collect();
                super::write_audits(tx, actor, &events).await?;
                Ok(after)
            }

            async fn one_write(tx: &mut Tx<'_>, actor: &Actor, write: Write<'_>) -> Result<Asset> {
                write_batch(tx, actor, std::slice::from_ref(&write)).await?.pop().ok_or(StoreError::NotFound)
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
                    // The limit is written into the SQL: a bound LIMIT makes SQLite
                    // re-prepare the statement on every run (see `list_assets`).
                    let n: i64 = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT COUNT(*) AS n FROM (SELECT 1 FROM asset_search \
                         WHERE term >= $1 AND term < $2 LIMIT {COMMON_TERMS}) t"
                    )))
                    .bind(&w)
                    .bind(format!("{w}\u{10FFFF}"))
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
                        // A literal, not a bound value: SQLite plans with the LIMIT's value and
                        // re-prepares a statement with a bound LIMIT on every run (measured with
                        // sqlite3_stmt_status: 10 runs, 10 re-prepares), which cost 11 % of a
                        // list page's CPU.
                        qb.push(" ORDER BY a.id LIMIT ").push(page.limit);
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
                    qb.push(" LIMIT ").push(cap).push(") capped");
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
                    Ok(self.find_assets(std::slice::from_ref(keys)).await?.pop().flatten())
                }

                async fn find_assets(&self, keys: &[AssetKeys]) -> Result<Vec<Option<Asset>>> {
                    // One query per kind of key over all of `keys`, strongest kind first. Each
                    // repeats its partial index's condition (`<> ''`): without it, neither
                    // SQLite nor PostgreSQL may use the index for a bound value.
                    type Of = fn(&AssetKeys) -> String;
                    let kinds: [(&str, &str, Of); 5] = [
                        ("agent_device_id", "agent_device_id <> ''", |k| k.device_id.trim().to_owned()),
                        ("uuid", "uuid <> ''", |k| k.uuid.trim().to_lowercase()),
                        ("serial", "serial <> ''", |k| k.serial.trim().to_owned()),
                        ("asset_tag", "asset_tag <> ''", |k| k.asset_tag.trim().to_owned()),
                        ("lower(hostname)", "hostname <> ''", |k| k.hostname.trim().to_lowercase()),
                    ];
                    let mut conn = self.read.acquire().await?;
                    // Per kind: value → (id, type) of the assets holding it, by id.
                    let mut holders: Vec<HashMap<String, Vec<(i64, String)>>> = Vec::new();
                    for (column, partial, of) in kinds {
                        let values: BTreeSet<String> = keys.iter().map(of).filter(|v| !v.is_empty()).collect();
                        let values: Vec<String> = values.into_iter().collect();
                        let mut found: HashMap<String, Vec<(i64, String)>> = HashMap::new();
                        for chunk in values.chunks(BINDS) {
                            let mut qb = QueryBuilder::<$db>::new(format!(
                                "SELECT id, asset_type, {column} AS v FROM assets WHERE {partial} AND {column} IN ("
                            ));
                            let mut sep = qb.separated(", ");
                            for v in chunk {
                                sep.push_bind(v.clone());
                            }
                            qb.push(") ORDER BY id");
                            for r in qb.build().fetch_all(&mut *conn).await? {
                                found.entry(r.try_get("v")?).or_default().push((r.try_get("id")?, r.try_get("asset_type")?));
                            }
                        }
                        holders.push(found);
                    }
                    let chosen: Vec<Option<i64>> = keys
                        .iter()
                        .map(|k| {
                            kinds.iter().zip(&holders).find_map(|((column, _, of), found)| {
                                let wanted_type = (*column == "serial").then_some(k.asset_type).flatten();
                                found.get(&of(k))?.iter().find(|(_, t)| wanted_type.is_none_or(|w| w.key() == t)).map(|(id, _)| *id)
                            })
                        })
                        .collect();
                    let ids: BTreeSet<i64> = chosen.iter().flatten().copied().collect();
                    let ids: Vec<i64> = ids.into_iter().collect();
                    let assets = assets_by_ids(&mut conn, &ids).await?;
                    Ok(chosen.iter().map(|id| id.and_then(|id| assets.get(&id).cloned())).collect())
                }

                async fn create_asset(&self, actor: &Actor, input: &AssetInput) -> Result<Asset> {
                    let mut tx = self.write.begin().await?;
                    let asset = one_write(&mut tx, actor, Write::manual(None, input)).await?;
                    tx.commit().await?;
                    Ok(asset)
                }

                async fn update_asset(&self, actor: &Actor, id: AssetId, input: &AssetInput) -> Result<Asset> {
                    let mut tx = self.write.begin().await?;
                    let asset = one_write(&mut tx, actor, Write::manual(Some(id), input)).await?;
                    tx.commit().await?;
                    Ok(asset)
                }

                async fn write_assets(
                    &self,
                    actor: &Actor,
                    batch: &[(Option<AssetId>, AssetInput)],
                ) -> Result<Vec<Asset>> {
                    let mut tx = self.write.begin().await?;
                    let writes: Vec<Write<'_>> = batch.iter().map(|(id, input)| Write::manual(*id, input)).collect();
                    let written = write_batch(&mut tx, actor, &writes).await?;
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
                    let write = Write {
                        id: update.asset_id,
                        input: &update.input,
                        device_id: &update.device_id,
                        inventory_at: Some(actor.at),
                    };
                    let asset = one_write(&mut tx, actor, write).await?;
                    let created = update.asset_id.is_none();
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
                    qb.push(" ORDER BY a.id, s.version LIMIT ").push(page.limit);
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
