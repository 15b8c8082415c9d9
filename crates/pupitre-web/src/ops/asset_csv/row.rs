//! One row of an import: which asset it stands for, its cells over that asset's fields, and
//! every check `POST`/`PATCH /api/v1/assets` makes, plus what the rows before it claimed
//! (serial numbers, asset tags, rack units).

use std::collections::{HashMap, HashSet};

use pupitre_core::inventory::{
    Asset, AssetId, AssetInput, AssetType, Face, Occupant, PlacementConflict, Rack, Room, Site,
    placement_conflict,
};
use pupitre_core::permission::{Domain, EntityId, Level};
use pupitre_store::{AssetFilter, AssetKeys, Page};

use super::import::{Columns, ImportOptions, MatchKey, RowError};
use super::{ATTR_PREFIX, Lookup, Pick};
use crate::auth::Caller;
use crate::error::AppError;
use crate::ops::assets::{self, AssetFields, DiskFields, InterfaceFields, LockChanges};
use crate::state::AppState;

/// What a checked row will do.
pub(super) enum Outcome {
    Create(AssetInput),
    Update {
        id: AssetId,
        input: AssetInput,
        fields: Vec<String>,
    },
    Unchanged,
}

/// Checks rows one by one, remembering what earlier rows claimed.
pub(super) struct Checker<'a> {
    st: &'a AppState,
    caller: &'a Caller,
    opts: &'a ImportOptions,
    cols: &'a Columns,
    lookup: &'a Lookup,
    all_entities: Vec<EntityId>,
    serials: HashMap<(AssetType, String), usize>,
    tags: HashMap<String, usize>,
    hostnames: HashMap<String, usize>,
    matched: HashMap<AssetId, usize>,
    /// Rack id → the devices in it, as the rows checked so far leave it.
    racks: HashMap<i64, Vec<Occupant>>,
    /// Existing assets whose place the file decides.
    placed: HashSet<AssetId>,
    /// The assets the rows of the current chunk match, looked up together.
    found: HashMap<AssetKeys, Option<Asset>>,
}

/// Collects the errors of one row.
pub(super) struct RowErrors<'a> {
    pub(super) row: usize,
    pub(super) cols: &'a Columns,
    pub(super) list: Vec<RowError>,
}

impl RowErrors<'_> {
    fn push(&mut self, column: &str, message: impl Into<String>) {
        self.list.push(RowError {
            row: self.row,
            column: self.cols.header(column),
            message: message.into(),
        });
    }

    /// An error of the input checks, filed under the column of its field.
    fn push_app(&mut self, e: AppError, default_column: &str) {
        match e.field {
            Some(f) => {
                let column = column_of(&f);
                let message = if f.contains('[') || f.starts_with("attributes") {
                    format!("{f}: {}", e.message)
                } else {
                    e.message
                };
                self.push(&column, message);
            }
            None => self.push(default_column, e.message),
        }
    }
}

impl<'a> Checker<'a> {
    pub(super) fn new(
        st: &'a AppState,
        caller: &'a Caller,
        opts: &'a ImportOptions,
        cols: &'a Columns,
        lookup: &'a Lookup,
    ) -> Checker<'a> {
        Checker {
            st,
            caller,
            opts,
            cols,
            lookup,
            all_entities: lookup.paths.keys().copied().collect(),
            serials: HashMap::new(),
            tags: HashMap::new(),
            hostnames: HashMap::new(),
            matched: HashMap::new(),
            racks: HashMap::new(),
            placed: HashSet::new(),
            found: HashMap::new(),
        }
    }
}

impl Checker<'_> {
    /// The keys `record` is matched by.
    fn keys(&self, record: &csv::StringRecord) -> AssetKeys {
        let cell = |c: &str| self.cols.cell(record, c).map(str::trim);
        let value = |c: &str| cell(c).unwrap_or("").to_owned();
        let row_type = cell("asset_type").and_then(AssetType::from_key);
        match self.opts.key {
            Some(MatchKey::Serial) => AssetKeys {
                serial: value("serial"),
                asset_type: row_type,
                ..AssetKeys::default()
            },
            Some(MatchKey::AssetTag) => AssetKeys {
                asset_tag: value("asset_tag"),
                ..AssetKeys::default()
            },
            Some(MatchKey::Hostname) => AssetKeys {
                hostname: value("hostname"),
                ..AssetKeys::default()
            },
            None => AssetKeys {
                serial: value("serial"),
                asset_tag: value("asset_tag"),
                hostname: value("hostname"),
                asset_type: row_type,
                ..AssetKeys::default()
            },
        }
    }

    /// Looks up the assets `records` match, all at once: [`check_row`](Self::check_row)
    /// then finds them here instead of querying the store row by row.
    pub(super) async fn prefetch(&mut self, records: &[csv::StringRecord]) -> Result<(), AppError> {
        let keys: Vec<AssetKeys> = records.iter().map(|r| self.keys(r)).collect();
        let found = self.st.store.find_assets(&keys).await?;
        self.found = keys.into_iter().zip(found).collect();
        Ok(())
    }

    fn visible(&self, entity: EntityId) -> bool {
        self.caller
            .grants
            .allows(Domain::Inventory, Level::Read, entity)
    }

    /// Checks one row: `Ok(None)` when it has errors, now in `errs`.
    pub(super) async fn check_row(
        &mut self,
        record: &csv::StringRecord,
        errs: &mut RowErrors<'_>,
        unkeyed: &mut bool,
    ) -> Result<Option<Outcome>, AppError> {
        let row = errs.row;
        if record.len() != self.cols.targets.len() {
            errs.push(
                "",
                format!(
                    "has {} cells where the header has {}",
                    record.len(),
                    self.cols.targets.len()
                ),
            );
            return Ok(None);
        }
        let cell = |c: &str| self.cols.cell(record, c).map(str::trim);
        let value = |c: &str| cell(c).unwrap_or("").to_owned();

        // Which asset the row stands for.
        let keys = self.keys(record);
        *unkeyed = keys.serial.is_empty() && keys.asset_tag.is_empty() && keys.hostname.is_empty();
        let key_column = self
            .opts
            .key
            .or_else(|| {
                [
                    (MatchKey::Serial, &keys.serial),
                    (MatchKey::AssetTag, &keys.asset_tag),
                    (MatchKey::Hostname, &keys.hostname),
                ]
                .into_iter()
                .find(|(_, v)| !v.is_empty())
                .map(|(k, _)| k)
            })
            .map_or("serial", MatchKey::key);
        let existing = if *unkeyed {
            None
        } else if let Some(hit) = self.found.get(&keys) {
            hit.clone()
        } else {
            self.st.store.find_asset(&keys).await?
        };
        if let Some(a) = &existing {
            if !self.visible(a.entity_id) {
                errs.push(
                    key_column,
                    format!(
                        "{} is the {key_column} of an asset outside the entities you can see",
                        value(key_column)
                    ),
                );
                return Ok(None);
            }
            if let Err(e) = self
                .caller
                .check(Domain::Inventory, Level::Edit, a.entity_id, "asset")
            {
                errs.push(key_column, format!("{} {}: {}", a.name, a.id, e.message));
                return Ok(None);
            }
            if let Some(other) = self.matched.insert(a.id, row) {
                errs.push(
                    key_column,
                    format!("matches asset {} ({}), as row {other} does", a.id, a.name),
                );
                return Ok(None);
            }
        }
        let id = existing.as_ref().map(|a| a.id);
        let before = existing.map(AssetInput::from);

        // The row's fields over the asset's, or over an empty asset.
        let mut fields = match &before {
            Some(b) => AssetFields::of(b),
            None => {
                let mut f = AssetFields::of(&AssetInput::new(
                    self.caller.user.entity_id,
                    AssetType::Other,
                    "",
                ));
                f.asset_type = String::new();
                f.status = String::new();
                f.height_u = None;
                f.full_depth = None;
                f
            }
        };
        for (i, target) in self.cols.targets.iter().enumerate() {
            let (Some(target), Some(v)) = (target, record.get(i)) else {
                continue;
            };
            if let Err(message) = set_cell(&mut fields, target, v.trim()) {
                errs.push(target, message);
            }
        }
        let base_entity = fields.entity_id.unwrap_or(self.caller.user.entity_id);
        let entity = match cell("entity") {
            None | Some("") => base_entity,
            Some(path) => match self.lookup.by_path.get(path) {
                Some(Some(id)) if self.visible(*id) => *id,
                Some(None) => {
                    errs.push("entity", format!("{path:?} names several entities"));
                    base_entity
                }
                _ => {
                    errs.push(
                        "entity",
                        format!("no entity {path:?} (give its path from the root, e.g. Root entity/Customer X)"),
                    );
                    base_entity
                }
            },
        };
        fields.entity_id = Some(entity);
        if let Some(name) = cell("owner_team") {
            fields.owner_team_id = self.team(name, entity, errs);
        }
        if ["site", "room", "rack"].iter().any(|c| self.cols.has(c)) {
            self.locate(&mut fields, record, entity, errs);
        }
        if !errs.list.is_empty() {
            return Ok(None);
        }

        let mut input = match fields.input(self.caller.user.entity_id) {
            Ok(i) => i,
            Err(e) => {
                errs.push_app(e, "name");
                return Ok(None);
            }
        };
        let since_given = cell("status_since").is_some_and(|v| !v.is_empty());
        match &before {
            Some(b) => {
                input.locks = b.locks.clone();
                input.quarantined = b.quarantined;
                assets::stamp_status(Some(b), &mut input, since_given);
                keep_status_dates(b, &mut input);
                if let Err(e) = assets::apply_locks(b, &mut input, &LockChanges::default()) {
                    errs.push_app(e, "name");
                    return Ok(None);
                }
            }
            None => {
                assets::stamp_status(None, &mut input, since_given);
                input.locks.clear();
                input.quarantined = false;
            }
        }
        if let Err(e) = assets::check_refs(self.st, self.caller, &input).await {
            errs.push_app(e, "entity");
            return Ok(None);
        }
        self.check_unique(row, id, &before, &keys, &input, errs)
            .await?;
        if !errs.list.is_empty() {
            return Ok(None);
        }
        self.check_place(row, id, &input, errs).await?;
        if !errs.list.is_empty() {
            return Ok(None);
        }
        Ok(Some(match (before, id) {
            (Some(b), Some(id)) => {
                let fields = changed_fields(&b, &input);
                if fields.is_empty() && b.locks == input.locks {
                    Outcome::Unchanged
                } else {
                    Outcome::Update { id, input, fields }
                }
            }
            _ => Outcome::Create(input),
        }))
    }

    /// The owner team named `name`: visible to the caller (inventory or administration),
    /// in the asset's entity or the nearest ancestor when several share the name.
    fn team(&self, name: &str, entity: EntityId, errs: &mut RowErrors<'_>) -> Option<i64> {
        if name.is_empty() {
            return None;
        }
        let candidates: Vec<(&i64, &(String, EntityId))> = self
            .lookup
            .teams
            .iter()
            .filter(|(_, (n, e))| {
                n == name
                    && (self.visible(*e)
                        || self
                            .caller
                            .grants
                            .allows(Domain::Administration, Level::Read, *e))
            })
            .collect();
        let pairs: Vec<&(&i64, &(String, EntityId))> = candidates.iter().collect();
        match self.lookup.pick(pairs, |t| t.1.1, entity) {
            Pick::One(t) => Some(*t.0),
            Pick::None => {
                errs.push("owner_team", format!("no team {name:?}"));
                None
            }
            Pick::Ambiguous => {
                errs.push(
                    "owner_team",
                    format!("several teams are named {name:?}; rename one"),
                );
                None
            }
        }
    }

    /// Resolves site, then room, then rack by name; the three columns replace the
    /// asset's place together.
    fn locate(
        &self,
        fields: &mut AssetFields,
        record: &csv::StringRecord,
        entity: EntityId,
        errs: &mut RowErrors<'_>,
    ) {
        let name = |c: &str| self.cols.cell(record, c).map(str::trim).unwrap_or("");
        let (site_name, room_name, rack_name) = (name("site"), name("room"), name("rack"));
        let l = self.lookup;
        let mut site: Option<&Site> = None;
        if !site_name.is_empty() {
            let c = l
                .sites
                .values()
                .filter(|s| s.name == site_name && self.visible(s.entity_id))
                .collect();
            site = self.picked(
                l.pick(c, |s| s.entity_id, entity),
                "site",
                site_name,
                "",
                errs,
            );
        }
        let mut room: Option<&Room> = None;
        if !room_name.is_empty() {
            let c = l
                .rooms
                .values()
                .filter(|r| {
                    r.name == room_name
                        && self.visible(r.entity_id)
                        && site.is_none_or(|s| s.id == r.site_id)
                })
                .collect();
            let within = if site_name.is_empty() {
                String::new()
            } else {
                format!(" in site {site_name:?}")
            };
            room = self.picked(
                l.pick(c, |r| r.entity_id, entity),
                "room",
                room_name,
                &within,
                errs,
            );
        }
        let mut rack: Option<&Rack> = None;
        if !rack_name.is_empty() {
            let c = l
                .racks
                .values()
                .filter(|r| {
                    r.name == rack_name
                        && self.visible(r.entity_id)
                        && room.is_none_or(|m| m.id == r.room_id)
                        && site.is_none_or(|s| s.id == r.site_id)
                })
                .collect();
            let within = match (room_name, site_name) {
                ("", "") => String::new(),
                ("", s) => format!(" in site {s:?}"),
                (m, _) => format!(" in room {m:?}"),
            };
            rack = self.picked(
                l.pick(c, |r| r.entity_id, entity),
                "rack",
                rack_name,
                &within,
                errs,
            );
        }
        fields.site_id = site.map(|s| s.id);
        fields.room_id = room.map(|r| r.id);
        fields.rack_id = rack.map(|r| r.id);
        if let Some(r) = room {
            fields.site_id = Some(r.site_id);
        }
        if let Some(r) = rack {
            fields.room_id = Some(r.room_id);
            fields.site_id = Some(r.site_id);
        }
        // Out of a rack, a device has no rack position (unless the row gives one: an error).
        if fields.rack_id.is_none() && self.cols.cell(record, "rack_u").is_none_or(str::is_empty) {
            fields.rack_u = None;
            fields.rack_face = None;
        }
    }

    fn picked<'l, T>(
        &self,
        pick: Pick<'l, T>,
        column: &str,
        name: &str,
        within: &str,
        errs: &mut RowErrors<'_>,
    ) -> Option<&'l T> {
        match pick {
            Pick::One(x) => Some(x),
            Pick::None => {
                errs.push(column, format!("no {column} {name:?}{within}"));
                None
            }
            Pick::Ambiguous => {
                errs.push(
                    column,
                    format!("several {column}s are named {name:?}{within}; give the site and room"),
                );
                None
            }
        }
    }

    /// Serial numbers (within a type) and asset tags are unique: neither another row nor
    /// another asset may hold them. Host names used to match may not repeat either.
    async fn check_unique(
        &mut self,
        row: usize,
        id: Option<AssetId>,
        before: &Option<AssetInput>,
        keys: &AssetKeys,
        input: &AssetInput,
        errs: &mut RowErrors<'_>,
    ) -> Result<(), AppError> {
        let looked_up_free = |k: MatchKey| {
            id.is_none()
                && match k {
                    MatchKey::Serial => !keys.serial.is_empty(),
                    MatchKey::AssetTag => !keys.asset_tag.is_empty(),
                    MatchKey::Hostname => !keys.hostname.is_empty(),
                }
        };
        if !input.serial.is_empty() {
            let k = (input.asset_type, input.serial.clone());
            if let Some(other) = self.serials.insert(k, row) {
                errs.push(
                    "serial",
                    format!(
                        "serial number {} of a {} is also in row {other}",
                        input.serial, input.asset_type
                    ),
                );
            } else if !(looked_up_free(MatchKey::Serial)
                && keys.asset_type.is_none_or(|t| t == input.asset_type))
                && before
                    .as_ref()
                    .is_none_or(|b| b.serial != input.serial || b.asset_type != input.asset_type)
            {
                let holder = self
                    .st
                    .store
                    .find_asset(&AssetKeys {
                        serial: input.serial.clone(),
                        asset_type: Some(input.asset_type),
                        ..AssetKeys::default()
                    })
                    .await?;
                if let Some(h) = holder.filter(|h| Some(h.id) != id) {
                    errs.push(
                        "serial",
                        format!(
                            "serial number {} is already used by {}",
                            input.serial,
                            self.label(&h)
                        ),
                    );
                }
            }
        }
        if !input.asset_tag.is_empty() {
            if let Some(other) = self.tags.insert(input.asset_tag.clone(), row) {
                errs.push(
                    "asset_tag",
                    format!("asset tag {} is also in row {other}", input.asset_tag),
                );
            } else if !looked_up_free(MatchKey::AssetTag)
                && before
                    .as_ref()
                    .is_none_or(|b| b.asset_tag != input.asset_tag)
            {
                let holder = self
                    .st
                    .store
                    .find_asset(&AssetKeys {
                        asset_tag: input.asset_tag.clone(),
                        ..AssetKeys::default()
                    })
                    .await?;
                if let Some(h) = holder.filter(|h| Some(h.id) != id) {
                    errs.push(
                        "asset_tag",
                        format!(
                            "asset tag {} is already used by {}",
                            input.asset_tag,
                            self.label(&h)
                        ),
                    );
                }
            }
        }
        let by_hostname = match self.opts.key {
            Some(k) => k == MatchKey::Hostname,
            None => keys.serial.is_empty() && keys.asset_tag.is_empty(),
        };
        if by_hostname
            && !input.hostname.is_empty()
            && let Some(other) = self.hostnames.insert(input.hostname.to_lowercase(), row)
        {
            errs.push(
                "hostname",
                format!(
                    "host name {} is also in row {other}: both rows would be the same asset",
                    input.hostname
                ),
            );
        }
        Ok(())
    }

    /// How an error names another asset: by name when the caller may see it.
    fn label(&self, a: &Asset) -> String {
        if self.visible(a.entity_id) {
            format!("{} (asset {})", a.name, a.id)
        } else {
            "an asset outside the entities you can see".to_owned()
        }
    }

    /// The rack units the row asks for are free, given the rows before it.
    async fn check_place(
        &mut self,
        row: usize,
        id: Option<AssetId>,
        input: &AssetInput,
        errs: &mut RowErrors<'_>,
    ) -> Result<(), AppError> {
        // New rows get ids of their own below zero, so that they collide with each other.
        let me = id.unwrap_or(-(row as i64));
        if let Some(id) = id {
            for list in self.racks.values_mut() {
                list.retain(|o| o.asset_id != id);
            }
            self.placed.insert(id);
        }
        let (Some(rack_id), Some(u)) = (input.rack_id, input.rack_u) else {
            return Ok(());
        };
        let Some(rack) = self.lookup.racks.get(&rack_id) else {
            return Ok(());
        };
        if !self.racks.contains_key(&rack_id) {
            let list = self.occupants(rack_id).await?;
            self.racks.insert(rack_id, list);
        }
        let candidate = Occupant::asked(me, input, u);
        let list = self.racks.entry(rack_id).or_default();
        match placement_conflict(rack.height_u, &candidate, list) {
            Some(PlacementConflict::Occupied { name, unit, by }) if by < 0 => errs.push(
                "rack_u",
                format!(
                    "rack {}: U{unit} is already taken by {name}, row {}",
                    rack.name, -by
                ),
            ),
            Some(c) => errs.push("rack_u", format!("rack {}: {}", rack.name, c.message())),
            None => list.push(candidate),
        }
        Ok(())
    }

    /// The devices in a rack, whoever may see them, less those the file moves.
    async fn occupants(&self, rack_id: i64) -> Result<Vec<Occupant>, AppError> {
        let filter = AssetFilter {
            visible: self.all_entities.clone(),
            rack_id: Some(rack_id),
            ..AssetFilter::default()
        };
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .st
                .store
                .list_assets(&filter, Page { after, limit: 500 })
                .await?;
            for a in &page {
                if let Some(u) = a.rack_u
                    && !self.placed.contains(&a.id)
                {
                    out.push(Occupant {
                        asset_id: a.id,
                        name: a.name.clone(),
                        rack_u: u,
                        height_u: a.height_u,
                        face: a.rack_face.unwrap_or(Face::Front),
                        full_depth: a.full_depth,
                    });
                }
            }
            match page.last() {
                Some(a) if page.len() == 500 => after = Some(a.id),
                _ => break,
            }
        }
        Ok(out)
    }
}

/// Sets one cell's value on `fields`; entity, owner team and location are resolved by
/// name elsewhere.
fn set_cell(f: &mut AssetFields, column: &str, v: &str) -> Result<(), String> {
    let text = |v: &str| v.to_owned();
    let int32 = |v: &str| -> Result<Option<i32>, String> {
        if v.is_empty() {
            return Ok(None);
        }
        v.parse()
            .map(Some)
            .map_err(|_| format!("{v:?} is not a whole number"))
    };
    let int64 = |v: &str| -> Result<Option<i64>, String> {
        if v.is_empty() {
            return Ok(None);
        }
        v.parse()
            .map(Some)
            .map_err(|_| format!("{v:?} is not a whole number"))
    };
    let opt = |v: &str| Some(v.to_owned()).filter(|s| !s.is_empty());
    if let Some(key) = column.strip_prefix(ATTR_PREFIX) {
        if v.is_empty() {
            f.attributes.remove(key);
        } else {
            f.attributes.insert(key.to_owned(), v.to_owned());
        }
        return Ok(());
    }
    match column {
        "asset_type" => f.asset_type = text(v),
        "name" => f.name = text(v),
        "hostname" => f.hostname = text(v),
        "manufacturer" => f.manufacturer = text(v),
        "model" => f.model = text(v),
        "serial" => f.serial = text(v),
        "asset_tag" => f.asset_tag = text(v),
        "uuid" => f.uuid = text(v),
        "status" => f.status = text(v),
        "status_since" => f.status_since = text(v),
        "ordered_on" => f.ordered_on = text(v),
        "received_on" => f.received_on = text(v),
        "in_production_on" => f.in_production_on = text(v),
        "retired_on" => f.retired_on = text(v),
        "disposed_on" => f.disposed_on = text(v),
        "rack_u" => f.rack_u = int32(v)?,
        "rack_face" => f.rack_face = opt(v),
        "height_u" => f.height_u = int32(v)?,
        "full_depth" => {
            f.full_depth = match v.to_lowercase().as_str() {
                "" => None,
                "true" | "yes" | "1" | "oui" => Some(true),
                "false" | "no" | "0" | "non" => Some(false),
                _ => return Err(format!("{v:?} is not true or false")),
            }
        }
        "location_note" => f.location_note = text(v),
        "os_family" => f.os_family = opt(v),
        "os_name" => f.os_name = text(v),
        "os_version" => f.os_version = text(v),
        "cpu_model" => f.cpu_model = text(v),
        "cpu_sockets" => f.cpu_sockets = int32(v)?,
        "cpu_cores" => f.cpu_cores = int32(v)?,
        "memory_mb" => f.memory_mb = int64(v)?,
        "management_ip" => f.management_ip = text(v),
        "power_draw_w" => f.power_draw_w = int64(v)?,
        "purchase_date" => f.purchase_date = text(v),
        "purchase_cost" => f.purchase_cost = text(v),
        "supplier" => f.supplier = text(v),
        "order_ref" => f.order_ref = text(v),
        "warranty_end" => f.warranty_end = text(v),
        "notes" => f.notes = text(v),
        "tags" => {
            f.tags = v
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect()
        }
        "interfaces" => f.interfaces = json_list::<InterfaceFields>(v, INTERFACES_EXAMPLE)?,
        "disks" => f.disks = json_list::<DiskFields>(v, DISKS_EXAMPLE)?,
        // Resolved by name with the caller's visibility.
        _ => {}
    }
    Ok(())
}

const INTERFACES_EXAMPLE: &str =
    r#"[{"name":"eth0","mac":"00:1a:2b:3c:4d:5e","ips":["10.0.0.1"],"vlan":12,"speed_mbps":1000}]"#;
const DISKS_EXAMPLE: &str = r#"[{"name":"sda","model":"PM893","serial":"S5","size_mb":960000}]"#;

fn json_list<T: serde::de::DeserializeOwned>(v: &str, example: &str) -> Result<Vec<T>, String> {
    if v.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_str(v).map_err(|e| {
        let message = e.to_string();
        let message = message.split(" at line ").next().unwrap_or(&message);
        format!("is not a JSON list like {example}: {message}")
    })
}

/// On an update whose status stays, an empty status date keeps the stored one: those
/// dates are filled in automatically, and a file that leaves them empty must not clear
/// them each time it is imported.
fn keep_status_dates(before: &AssetInput, input: &mut AssetInput) {
    if before.status != input.status {
        return;
    }
    let pairs = [
        (&mut input.status_since, &before.status_since),
        (&mut input.ordered_on, &before.ordered_on),
        (&mut input.received_on, &before.received_on),
        (&mut input.in_production_on, &before.in_production_on),
        (&mut input.retired_on, &before.retired_on),
        (&mut input.disposed_on, &before.disposed_on),
    ];
    for (new, old) in pairs {
        if new.is_empty() {
            new.clone_from(old);
        }
    }
}

/// The columns whose value differs, in column order.
fn changed_fields(before: &AssetInput, after: &AssetInput) -> Vec<String> {
    let mut out = Vec::new();
    for (b, a) in before.audit_fields().iter().zip(after.audit_fields()) {
        if b.value == a.value || matches!(b.name, "locks" | "attributes") {
            continue;
        }
        out.push(column_of(b.name));
    }
    let keys: std::collections::BTreeSet<&String> = before
        .attributes
        .keys()
        .chain(after.attributes.keys())
        .collect();
    for k in keys {
        if before.attributes.get(k) != after.attributes.get(k) {
            out.push(format!("{ATTR_PREFIX}{k}"));
        }
    }
    out
}

/// The column an input field belongs to.
pub(super) fn column_of(field: &str) -> String {
    match field {
        "entity_id" => "entity".to_owned(),
        "owner_team_id" => "owner_team".to_owned(),
        "site_id" => "site".to_owned(),
        "room_id" => "room".to_owned(),
        "rack_id" => "rack".to_owned(),
        f if f.starts_with("interfaces") => "interfaces".to_owned(),
        f if f.starts_with("disks") => "disks".to_owned(),
        f => match f.strip_prefix("attributes.") {
            Some(k) => format!("{ATTR_PREFIX}{k}"),
            None => f.to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_fields_belong_to_columns() {
        for (field, column) in [
            ("entity_id", "entity"),
            ("owner_team_id", "owner_team"),
            ("rack_id", "rack"),
            ("interfaces[2].ips[0]", "interfaces"),
            ("disks[0].size_mb", "disks"),
            ("attributes.seats", "attr:seats"),
            ("purchase_cost", "purchase_cost"),
        ] {
            assert_eq!(column_of(field), column, "{field}");
        }
    }

    #[test]
    fn cells_parse_or_say_why_not() {
        let mut f = AssetFields::of(&AssetInput::new(1, AssetType::Server, "x"));
        for (column, value, error) in [
            ("cpu_cores", "many", "\"many\" is not a whole number"),
            ("full_depth", "maybe", "\"maybe\" is not true or false"),
            ("interfaces", "eth0", "is not a JSON list like"),
            ("disks", "[{\"size\": 3}]", "unknown field `size`"),
        ] {
            let e = set_cell(&mut f, column, value).unwrap_err();
            assert!(e.contains(error), "{column}: {e}");
        }
        set_cell(&mut f, "tags", " prod, ,web ").unwrap();
        assert_eq!(f.tags, ["prod", "web"]);
        set_cell(&mut f, "attr:firmware", "2.1").unwrap();
        set_cell(&mut f, "full_depth", "non").unwrap();
        assert_eq!(
            (f.attributes["firmware"].as_str(), f.full_depth),
            ("2.1", Some(false))
        );
        set_cell(&mut f, "attr:firmware", "").unwrap();
        assert!(
            f.attributes.is_empty(),
            "an empty cell removes the attribute"
        );
    }
}
