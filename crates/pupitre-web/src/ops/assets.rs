//! Assets (configuration items), their relations, dependency graph and software.

use std::collections::BTreeMap;

use pupitre_core::inventory::{
    self as inv, AGENT_FIELDS, Asset, AssetInput, AssetType, Disk, Face, FieldLock, ImpactGraph,
    Interface, OsFamily, Relation, RelationInput, RelationKind, Software, Status,
};
use pupitre_core::permission::{Domain, EntityId, Level};
use pupitre_store::{AssetFilter, Installation, Page};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::error::AppError;
use crate::ops::PageParams;
use crate::ops::locations::{Patch, merge};
use crate::state::AppState;

/// How far the dependency walk goes.
pub const GRAPH_DEPTH: u32 = 8;
pub const GRAPH_NODES: usize = 500;

#[derive(Clone, Debug, Default, Deserialize, Serialize, ToSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct InterfaceFields {
    #[serde(default)]
    pub name: String,
    /// Any common notation; stored as lower-case `aa:bb:cc:dd:ee:ff`.
    #[serde(default)]
    pub mac: String,
    #[serde(default)]
    pub ips: Vec<String>,
    pub vlan: Option<i32>,
    pub speed_mbps: Option<i64>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, ToSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DiskFields {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub serial: String,
    pub size_mb: Option<i64>,
}

/// The writable fields of an asset: the body of a create, and what a PATCH overwrites key by
/// key. Enumerations are given by key (`server`, `in_production`, `linux`, `front`).
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AssetFields {
    /// Defaults to the caller's entity.
    #[serde(default)]
    pub entity_id: Option<i64>,
    /// `server`, `virtual_machine`, `switch`, … (see `GET /api/v1/inventory/vocabulary`).
    #[serde(default)]
    pub asset_type: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub hostname: String,
    #[serde(default)]
    pub manufacturer: String,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub serial: String,
    #[serde(default)]
    pub asset_tag: String,
    #[serde(default)]
    pub uuid: String,
    /// Defaults to `in_production`.
    #[serde(default)]
    pub status: String,
    /// `YYYY-MM-DD`; set to today when the status changes, unless given.
    #[serde(default)]
    pub status_since: String,
    #[serde(default)]
    pub ordered_on: String,
    #[serde(default)]
    pub received_on: String,
    #[serde(default)]
    pub in_production_on: String,
    #[serde(default)]
    pub retired_on: String,
    #[serde(default)]
    pub disposed_on: String,
    #[serde(default)]
    pub owner_team_id: Option<i64>,
    #[serde(default)]
    pub site_id: Option<i64>,
    #[serde(default)]
    pub room_id: Option<i64>,
    #[serde(default)]
    pub rack_id: Option<i64>,
    /// Lowest rack unit the device occupies (1 = bottom).
    #[serde(default)]
    pub rack_u: Option<i32>,
    /// `front` or `rear` (default `front` in a rack).
    #[serde(default)]
    pub rack_face: Option<String>,
    /// Height in rack units; defaults by type.
    #[serde(default)]
    pub height_u: Option<i32>,
    /// Occupies both faces (default true).
    #[serde(default)]
    pub full_depth: Option<bool>,
    #[serde(default)]
    pub location_note: String,
    #[serde(default)]
    pub os_family: Option<String>,
    #[serde(default)]
    pub os_name: String,
    #[serde(default)]
    pub os_version: String,
    #[serde(default)]
    pub cpu_model: String,
    #[serde(default)]
    pub cpu_sockets: Option<i32>,
    #[serde(default)]
    pub cpu_cores: Option<i32>,
    #[serde(default)]
    pub memory_mb: Option<i64>,
    #[serde(default)]
    pub management_ip: String,
    #[serde(default)]
    pub power_draw_w: Option<i64>,
    #[serde(default)]
    pub purchase_date: String,
    /// Decimal amount, e.g. `1499.90`.
    #[serde(default)]
    pub purchase_cost: String,
    #[serde(default)]
    pub supplier: String,
    #[serde(default)]
    pub order_ref: String,
    #[serde(default)]
    pub warranty_end: String,
    #[serde(default)]
    pub contract_id: Option<i64>,
    #[serde(default)]
    pub notes: String,
    #[serde(default)]
    pub interfaces: Vec<InterfaceFields>,
    #[serde(default)]
    pub disks: Vec<DiskFields>,
    /// Type-specific attributes (validated by type) and custom ones.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    #[serde(default)]
    pub tags: Vec<String>,
}

impl AssetFields {
    pub fn of(a: &AssetInput) -> AssetFields {
        AssetFields {
            entity_id: Some(a.entity_id),
            asset_type: a.asset_type.key().to_owned(),
            name: a.name.clone(),
            hostname: a.hostname.clone(),
            manufacturer: a.manufacturer.clone(),
            model: a.model.clone(),
            serial: a.serial.clone(),
            asset_tag: a.asset_tag.clone(),
            uuid: a.uuid.clone(),
            status: a.status.key().to_owned(),
            status_since: a.status_since.clone(),
            ordered_on: a.ordered_on.clone(),
            received_on: a.received_on.clone(),
            in_production_on: a.in_production_on.clone(),
            retired_on: a.retired_on.clone(),
            disposed_on: a.disposed_on.clone(),
            owner_team_id: a.owner_team_id,
            site_id: a.site_id,
            room_id: a.room_id,
            rack_id: a.rack_id,
            rack_u: a.rack_u,
            rack_face: a.rack_face.map(|f| f.key().to_owned()),
            height_u: Some(a.height_u),
            full_depth: Some(a.full_depth),
            location_note: a.location_note.clone(),
            os_family: a.os_family.map(|f| f.key().to_owned()),
            os_name: a.os_name.clone(),
            os_version: a.os_version.clone(),
            cpu_model: a.cpu_model.clone(),
            cpu_sockets: a.cpu_sockets,
            cpu_cores: a.cpu_cores,
            memory_mb: a.memory_mb,
            management_ip: a.management_ip.clone(),
            power_draw_w: a.power_draw_w,
            purchase_date: a.purchase_date.clone(),
            purchase_cost: a
                .purchase_cost_cents
                .map(inv::cents_to_text)
                .unwrap_or_default(),
            supplier: a.supplier.clone(),
            order_ref: a.order_ref.clone(),
            warranty_end: a.warranty_end.clone(),
            contract_id: a.contract_id,
            notes: a.notes.clone(),
            interfaces: a
                .interfaces
                .iter()
                .map(|i| InterfaceFields {
                    name: i.name.clone(),
                    mac: i.mac.clone(),
                    ips: i.ips.clone(),
                    vlan: i.vlan,
                    speed_mbps: i.speed_mbps,
                })
                .collect(),
            disks: a
                .disks
                .iter()
                .map(|d| DiskFields {
                    name: d.name.clone(),
                    model: d.model.clone(),
                    serial: d.serial.clone(),
                    size_mb: d.size_mb,
                })
                .collect(),
            attributes: a.attributes.clone(),
            tags: a.tags.clone(),
        }
    }

    /// The core input, each enumeration checked by key; everything else is checked by
    /// [`inv::asset_input`].
    pub fn input(&self, default_entity: EntityId) -> Result<AssetInput, AppError> {
        fn key<T>(
            field: &str,
            value: &str,
            parse: fn(&str) -> Option<T>,
            keys: String,
        ) -> Result<T, AppError> {
            parse(value.trim()).ok_or_else(|| {
                if value.trim().is_empty() {
                    AppError::invalid(field, "is required")
                } else {
                    AppError::invalid(field, format!("{value:?} is not one of {keys}"))
                }
            })
        }
        let asset_type = key(
            "asset_type",
            &self.asset_type,
            AssetType::from_key,
            AssetType::keys(),
        )?;
        let status = if self.status.trim().is_empty() {
            Status::InProduction
        } else {
            key("status", &self.status, Status::from_key, Status::keys())?
        };
        let rack_face = match self.rack_face.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(f) => Some(key("rack_face", f, Face::from_key, Face::keys())?),
        };
        let os_family = match self.os_family.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(f) => Some(key("os_family", f, OsFamily::from_key, OsFamily::keys())?),
        };
        let mut input = AssetInput::new(
            self.entity_id.unwrap_or(default_entity),
            asset_type,
            &self.name,
        );
        input.hostname.clone_from(&self.hostname);
        input.manufacturer.clone_from(&self.manufacturer);
        input.model.clone_from(&self.model);
        input.serial.clone_from(&self.serial);
        input.asset_tag.clone_from(&self.asset_tag);
        input.uuid.clone_from(&self.uuid);
        input.status = status;
        input.status_since.clone_from(&self.status_since);
        input.ordered_on.clone_from(&self.ordered_on);
        input.received_on.clone_from(&self.received_on);
        input.in_production_on.clone_from(&self.in_production_on);
        input.retired_on.clone_from(&self.retired_on);
        input.disposed_on.clone_from(&self.disposed_on);
        input.owner_team_id = self.owner_team_id;
        input.site_id = self.site_id;
        input.room_id = self.room_id;
        input.rack_id = self.rack_id;
        input.rack_u = self.rack_u;
        input.rack_face = rack_face;
        input.height_u = self.height_u.unwrap_or(asset_type.default_height_u());
        input.full_depth = self.full_depth.unwrap_or(true);
        input.location_note.clone_from(&self.location_note);
        input.os_family = os_family;
        input.os_name.clone_from(&self.os_name);
        input.os_version.clone_from(&self.os_version);
        input.cpu_model.clone_from(&self.cpu_model);
        input.cpu_sockets = self.cpu_sockets;
        input.cpu_cores = self.cpu_cores;
        input.memory_mb = self.memory_mb;
        input.management_ip.clone_from(&self.management_ip);
        input.power_draw_w = self.power_draw_w;
        input.purchase_date.clone_from(&self.purchase_date);
        input.purchase_cost_cents = inv::parse_cents("purchase_cost", &self.purchase_cost)?;
        input.supplier.clone_from(&self.supplier);
        input.order_ref.clone_from(&self.order_ref);
        input.warranty_end.clone_from(&self.warranty_end);
        input.contract_id = self.contract_id;
        input.notes.clone_from(&self.notes);
        input.interfaces = self
            .interfaces
            .iter()
            .map(|i| Interface {
                name: i.name.clone(),
                mac: i.mac.clone(),
                ips: i.ips.clone(),
                vlan: i.vlan,
                speed_mbps: i.speed_mbps,
            })
            .collect();
        input.disks = self
            .disks
            .iter()
            .map(|d| Disk {
                name: d.name.clone(),
                model: d.model.clone(),
                serial: d.serial.clone(),
                size_mb: d.size_mb,
            })
            .collect();
        input.attributes.clone_from(&self.attributes);
        input.tags.clone_from(&self.tags);
        Ok(inv::asset_input(input)?)
    }
}

/// Query parameters of asset lists and exports. Every filter is optional and ANDed.
#[derive(Clone, Debug, Default, Deserialize, Serialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AssetListParams {
    /// Words of the global search: name, host name, serial, asset tag, UUID, MAC, IP or tag
    /// starting with each word.
    pub q: Option<String>,
    pub entity_id: Option<i64>,
    pub asset_type: Option<String>,
    pub status: Option<String>,
    pub os_family: Option<String>,
    pub site_id: Option<i64>,
    pub room_id: Option<i64>,
    pub rack_id: Option<i64>,
    pub owner_team_id: Option<i64>,
    pub tag: Option<String>,
    pub manufacturer: Option<String>,
    /// Installed software name (case-insensitive, exact).
    pub software: Option<String>,
    /// With `software`: version prefix, e.g. `1.1`.
    pub software_version: Option<String>,
    /// List the quarantine (agents' unknown machines awaiting approval) instead.
    pub quarantined: Option<bool>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

impl AssetListParams {
    pub fn filter(&self, caller: &Caller) -> Result<AssetFilter, AppError> {
        let nonempty = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let asset_type = match nonempty(&self.asset_type) {
            None => None,
            Some(t) => Some(AssetType::from_key(&t).ok_or_else(|| {
                AppError::invalid(
                    "asset_type",
                    format!("{t:?} is not one of {}", AssetType::keys()),
                )
            })?),
        };
        let status = match nonempty(&self.status) {
            None => None,
            Some(t) => Some(Status::from_key(&t).ok_or_else(|| {
                AppError::invalid("status", format!("{t:?} is not one of {}", Status::keys()))
            })?),
        };
        let os_family = match nonempty(&self.os_family) {
            None => None,
            Some(t) => Some(OsFamily::from_key(&t).ok_or_else(|| {
                AppError::invalid(
                    "os_family",
                    format!("{t:?} is not one of {}", OsFamily::keys()),
                )
            })?),
        };
        let query: Vec<String> = self
            .q
            .as_deref()
            .unwrap_or_default()
            .split_whitespace()
            .take(8)
            .map(str::to_lowercase)
            .collect();
        if query.iter().any(|w| w.len() > 255) {
            return Err(AppError::invalid("q", "words must be at most 255 bytes"));
        }
        if self.software_version.is_some() && self.software.is_none() {
            return Err(AppError::invalid("software_version", "needs software"));
        }
        Ok(AssetFilter {
            visible: caller.visible(Domain::Inventory),
            entity_id: self.entity_id,
            asset_type,
            status,
            os_family,
            site_id: self.site_id,
            room_id: self.room_id,
            rack_id: self.rack_id,
            owner_team_id: self.owner_team_id,
            tag: nonempty(&self.tag),
            manufacturer: nonempty(&self.manufacturer),
            query,
            software: nonempty(&self.software).map(|s| (s, nonempty(&self.software_version))),
            quarantined: self.quarantined,
        })
    }

    pub fn page(&self) -> Result<Page, AppError> {
        PageParams {
            limit: self.limit,
            cursor: self.cursor.clone(),
        }
        .page()
    }
}

pub async fn list(
    st: &AppState,
    caller: &Caller,
    p: &AssetListParams,
) -> Result<(Vec<Asset>, Option<String>), AppError> {
    let filter = p.filter(caller)?;
    let page = p.page()?;
    let assets = st.store.list_assets(&filter, page).await?;
    let next = crate::ops::next_cursor(&assets, page.limit, |a| a.id);
    Ok((assets, next))
}

pub async fn get(st: &AppState, caller: &Caller, id: i64, level: Level) -> Result<Asset, AppError> {
    let a = st
        .store
        .get_asset(id)
        .await
        .map_err(|e| AppError::from_store("asset", e))?;
    caller.check(Domain::Inventory, level, a.entity_id, "asset")?;
    Ok(a)
}

pub fn today() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%d").to_string()
}

/// Stamps the date of a status change and fills the status's milestone date if empty.
pub(crate) fn stamp_status(before: Option<&AssetInput>, input: &mut AssetInput, since_given: bool) {
    let changed = before.is_none_or(|b| b.status != input.status);
    if !changed {
        return;
    }
    let today = today();
    if !since_given || input.status_since.is_empty() {
        input.status_since.clone_from(&today);
    }
    let milestone = match input.status {
        Status::Ordered => Some(&mut input.ordered_on),
        Status::InStock => Some(&mut input.received_on),
        Status::InProduction => Some(&mut input.in_production_on),
        Status::Retired => Some(&mut input.retired_on),
        Status::Disposed => Some(&mut input.disposed_on),
        Status::InMaintenance | Status::OutOfOrder => None,
    };
    if let Some(date) = milestone
        && date.is_empty()
    {
        date.clone_from(&input.status_since);
    }
}

/// Checks the entity and the locations an input names: they must be visible to the caller,
/// and the caller must be allowed to edit in the entity.
pub(crate) async fn check_refs(
    st: &AppState,
    caller: &Caller,
    input: &AssetInput,
) -> Result<(), AppError> {
    caller.target_entity(Domain::Inventory, Level::Edit, input.entity_id, "entity_id")?;
    if let Some(team) = input.owner_team_id {
        let hidden = || AppError::invalid("owner_team_id", format!("team {team} does not exist"));
        let t = st.store.get_team(team).await.map_err(|_| hidden())?;
        let visible = caller
            .grants
            .allows(Domain::Administration, Level::Read, t.entity_id)
            || caller
                .grants
                .allows(Domain::Inventory, Level::Read, t.entity_id);
        if !visible {
            return Err(hidden());
        }
    }
    use crate::ops::locations as loc;
    if let Some(id) = input.rack_id {
        loc::get_rack(st, caller, id, Level::Read)
            .await
            .map_err(|_| AppError::invalid("rack_id", format!("rack {id} does not exist")))?;
    } else if let Some(id) = input.room_id {
        loc::get_room(st, caller, id, Level::Read)
            .await
            .map_err(|_| AppError::invalid("room_id", format!("room {id} does not exist")))?;
    } else if let Some(id) = input.site_id {
        loc::get_site(st, caller, id, Level::Read)
            .await
            .map_err(|_| AppError::invalid("site_id", format!("site {id} does not exist")))?;
    }
    Ok(())
}

pub async fn create(
    st: &AppState,
    caller: &Caller,
    fields: AssetFields,
) -> Result<Asset, AppError> {
    let mut input = fields.input(caller.user.entity_id)?;
    stamp_status(None, &mut input, !fields.status_since.is_empty());
    input.locks.clear();
    input.quarantined = false;
    check_refs(st, caller, &input).await?;
    let asset = st
        .store
        .create_asset(&caller.actor(), &input)
        .await
        .map_err(|e| AppError::from_store("asset", e))?;
    crate::ops::check_templates::assets_changed(st, &caller.actor(), &[asset.id]).await;
    Ok(asset)
}

/// Keys of a PATCH body that are not asset fields.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LockChanges {
    /// Agent-managed fields to hand over to people: the agent leaves them alone afterwards.
    #[serde(default)]
    pub unlock: Vec<String>,
    /// Fields to hand back to the inventory agent.
    #[serde(default)]
    pub relock: Vec<String>,
}

pub async fn update(
    st: &AppState,
    caller: &Caller,
    id: i64,
    mut patch: Patch,
) -> Result<Asset, AppError> {
    let current = get(st, caller, id, Level::Edit).await?;
    let mut locks = LockChanges::default();
    for (key, target) in [("unlock", &mut locks.unlock), ("relock", &mut locks.relock)] {
        if let Some(v) = patch.remove(key) {
            *target = serde_json::from_value(v)
                .map_err(|_| AppError::invalid(key, "must be a list of field names"))?;
        }
    }
    let since_given = patch.contains_key("status_since");
    let before = AssetInput::from(current.clone());
    let fields = merge(&AssetFields::of(&before), patch)?;
    let mut input = fields.input(caller.user.entity_id)?;
    input.locks = before.locks.clone();
    input.quarantined = before.quarantined;
    stamp_status(Some(&before), &mut input, since_given);
    apply_locks(&before, &mut input, &locks)?;
    check_refs(st, caller, &input).await?;
    if input.entity_id != before.entity_id {
        caller.check(Domain::Inventory, Level::Edit, before.entity_id, "asset")?;
    }
    let asset = st
        .store
        .update_asset(&caller.actor(), id, &input)
        .await
        .map_err(|e| AppError::from_store("asset", e))?;
    crate::ops::check_templates::assets_changed(st, &caller.actor(), &[id]).await;
    Ok(asset)
}

/// Refuses manual changes to agent-managed fields unless they are unlocked in the same
/// request; unlocked fields become manual, relocked ones go back to the agent.
pub(crate) fn apply_locks(
    before: &AssetInput,
    input: &mut AssetInput,
    changes: &LockChanges,
) -> Result<(), AppError> {
    for f in changes.unlock.iter().chain(&changes.relock) {
        if !AGENT_FIELDS.contains(&f.as_str()) {
            return Err(AppError::invalid(
                "unlock",
                format!(
                    "{f:?} is not a field inventory agents manage ({})",
                    AGENT_FIELDS.join(", ")
                ),
            ));
        }
    }
    let old = before.audit_fields();
    let new = input.audit_fields();
    for (o, n) in old.iter().zip(&new) {
        if o.value == n.value || !AGENT_FIELDS.contains(&o.name) {
            continue;
        }
        let unlocked = changes.unlock.iter().any(|u| u == o.name);
        if before.locks.get(o.name) == Some(&FieldLock::Agent) && !unlocked {
            return Err(AppError {
                field: Some(o.name.to_owned()),
                ..AppError::conflict(format!(
                    "{} is kept up to date by the inventory agent; unlock it to change it by hand",
                    o.name
                ))
            });
        }
        input.locks.insert(o.name.to_owned(), FieldLock::Manual);
    }
    for f in &changes.unlock {
        input.locks.insert(f.clone(), FieldLock::Manual);
    }
    for f in &changes.relock {
        input.locks.remove(f);
    }
    Ok(())
}

pub async fn delete(st: &AppState, caller: &Caller, id: i64) -> Result<(), AppError> {
    get(st, caller, id, Level::Edit).await?;
    st.store
        .delete_asset(&caller.actor(), id)
        .await
        .map_err(|e| AppError::from_store("asset", e))
}

/// Takes an asset out of quarantine.
pub async fn approve(st: &AppState, caller: &Caller, id: i64) -> Result<Asset, AppError> {
    let current = get(st, caller, id, Level::Edit).await?;
    if !current.quarantined {
        return Err(AppError::conflict("this asset is not in quarantine"));
    }
    let mut input = AssetInput::from(current);
    input.quarantined = false;
    let asset = st
        .store
        .update_asset(&caller.actor(), id, &input)
        .await
        .map_err(|e| AppError::from_store("asset", e))?;
    crate::ops::check_templates::assets_changed(st, &caller.actor(), &[id]).await;
    Ok(asset)
}

#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RelationFields {
    /// `runs_on`, `depends_on`, `connected_to`, `powered_by`, `backs_up` or `member_of`.
    pub kind: String,
    /// The dependent side: the VM that runs on, the application that depends on…
    pub from_id: i64,
    pub to_id: i64,
    #[serde(default)]
    pub from_port: String,
    #[serde(default)]
    pub to_port: String,
    #[serde(default)]
    pub cable_id: String,
    #[serde(default)]
    pub comment: String,
}

/// An asset named by a relation must be visible; otherwise a field error.
async fn related(st: &AppState, caller: &Caller, id: i64, field: &str) -> Result<Asset, AppError> {
    get(st, caller, id, Level::Read)
        .await
        .map_err(|_| AppError::invalid(field, format!("asset {id} does not exist")))
}

pub async fn create_relation(
    st: &AppState,
    caller: &Caller,
    f: RelationFields,
) -> Result<Relation, AppError> {
    let kind = RelationKind::from_key(f.kind.trim()).ok_or_else(|| {
        AppError::invalid(
            "kind",
            format!("{:?} is not one of {}", f.kind, RelationKind::keys()),
        )
    })?;
    let from = related(st, caller, f.from_id, "from_id").await?;
    related(st, caller, f.to_id, "to_id").await?;
    caller.check(Domain::Inventory, Level::Edit, from.entity_id, "asset")?;
    let input = inv::relation_input(RelationInput {
        kind,
        from_id: f.from_id,
        to_id: f.to_id,
        from_port: f.from_port,
        to_port: f.to_port,
        cable_id: f.cable_id,
        comment: f.comment,
    })?;
    st.store
        .create_relation(&caller.actor(), &input)
        .await
        .map_err(|e| AppError::from_store("relation", e))
}

pub async fn delete_relation(st: &AppState, caller: &Caller, id: i64) -> Result<(), AppError> {
    let rel = st
        .store
        .get_relation(id)
        .await
        .map_err(|e| AppError::from_store("relation", e))?;
    let from = get(st, caller, rel.from_id, Level::Read)
        .await
        .map_err(|_| AppError::not_found("relation"))?;
    caller.check(Domain::Inventory, Level::Edit, from.entity_id, "relation")?;
    st.store
        .delete_relation(&caller.actor(), id)
        .await
        .map_err(|e| AppError::from_store("relation", e))
}

/// The relations of an asset the caller can see (both ends visible).
pub async fn relations(
    st: &AppState,
    caller: &Caller,
    asset: &Asset,
) -> Result<(Vec<Relation>, BTreeMap<i64, Asset>), AppError> {
    let rels = st.store.list_relations(&[asset.id]).await?;
    let ids: Vec<i64> = rels
        .iter()
        .flat_map(|r| [r.from_id, r.to_id])
        .filter(|&i| i != asset.id)
        .collect();
    let others = visible_assets(st, caller, &ids).await?;
    let rels = rels
        .into_iter()
        .filter(|r| others.contains_key(&r.from_id) || others.contains_key(&r.to_id))
        .collect();
    Ok((rels, others))
}

async fn visible_assets(
    st: &AppState,
    caller: &Caller,
    ids: &[i64],
) -> Result<BTreeMap<i64, Asset>, AppError> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let mut out = BTreeMap::new();
    for chunk in ids.chunks(500) {
        for a in st.store.get_assets(chunk).await? {
            if caller
                .grants
                .allows(Domain::Inventory, Level::Read, a.entity_id)
            {
                out.insert(a.id, a);
            }
        }
    }
    Ok(out)
}

/// The dependency graph around `id`, level by level from the store. Reusable by
/// monitoring and incidents: pass [`Caller::system`] to see everything.
pub async fn impact_graph(
    st: &AppState,
    caller: &Caller,
    id: i64,
) -> Result<(ImpactGraph, BTreeMap<i64, Asset>), AppError> {
    let start = get(st, caller, id, Level::Read).await?;
    let mut edges = Vec::new();
    let mut seen_edges = std::collections::HashSet::new();
    let mut frontier = vec![start.id];
    let mut known = std::collections::HashSet::from([start.id]);
    for _ in 0..GRAPH_DEPTH {
        if frontier.is_empty() || known.len() > GRAPH_NODES {
            break;
        }
        let mut next = Vec::new();
        for chunk in frontier.chunks(500) {
            for r in st.store.list_relations(chunk).await? {
                if !seen_edges.insert(r.id) {
                    continue;
                }
                for end in [r.from_id, r.to_id] {
                    if known.insert(end) {
                        next.push(end);
                    }
                }
                edges.push(inv::GraphEdge {
                    relation_id: r.id,
                    kind: r.kind,
                    from_id: r.from_id,
                    to_id: r.to_id,
                });
            }
        }
        frontier = next;
    }
    let graph = inv::impact_graph(start.id, &edges, GRAPH_DEPTH, GRAPH_NODES);
    let ids: Vec<i64> = graph.nodes.iter().map(|n| n.asset_id).collect();
    let mut assets = visible_assets(st, caller, &ids).await?;
    // Assets the caller may not see are left out, with the edges that reach them.
    let mut graph = graph;
    graph.nodes.retain(|n| assets.contains_key(&n.asset_id));
    graph.edges.retain(|e| {
        (e.from_id == start.id || assets.contains_key(&e.from_id))
            && (e.to_id == start.id || assets.contains_key(&e.to_id))
    });
    assets.insert(start.id, start);
    Ok((graph, assets))
}

pub async fn software(st: &AppState, caller: &Caller, id: i64) -> Result<Vec<Software>, AppError> {
    get(st, caller, id, Level::Read).await?;
    Ok(st.store.list_software(id).await?)
}

#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct InstallationParams {
    /// Software name, case-insensitive, exact (`openssl`).
    pub name: String,
    /// Version prefix (`1.1`).
    pub version: Option<String>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

pub async fn installations(
    st: &AppState,
    caller: &Caller,
    p: &InstallationParams,
) -> Result<(Vec<Installation>, Option<String>), AppError> {
    let name = p.name.trim();
    if name.is_empty() {
        return Err(AppError::invalid("name", "is required"));
    }
    let page = PageParams {
        limit: p.limit,
        cursor: p.cursor.clone(),
    }
    .page()?;
    let version = p
        .version
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty());
    let list = st
        .store
        .find_installations(&caller.visible(Domain::Inventory), name, version, page)
        .await?;
    let next = crate::ops::next_cursor(&list, page.limit, |i| i.asset_id);
    Ok((list, next))
}

/// The asset's change history, newest first: every audited change of its fields, with who
/// made it. Readable by whoever may read the asset.
pub async fn history(
    st: &AppState,
    asset: &Asset,
    limit: i64,
) -> Result<Vec<pupitre_core::audit::AuditRecord>, AppError> {
    let filter = pupitre_store::AuditFilter {
        visible: vec![asset.entity_id],
        object_type: Some("asset".to_owned()),
        object_id: Some(asset.id),
        ..pupitre_store::AuditFilter::default()
    };
    Ok(st
        .store
        .list_audit(&filter, Page { after: None, limit })
        .await?)
}
