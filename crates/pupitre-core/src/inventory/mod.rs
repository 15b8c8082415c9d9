//! The inventory (CMDB): locations, assets, their relations and what agents report.
//!
//! Records and inputs are plain data; the rules that do not need the database (field
//! validation, rack placement, the dependency graph, merging an agent's report) live
//! here so that the store and the web layer share one definition of each.

mod check;
mod graph;
mod kinds;
mod placement;
mod report;

use std::collections::BTreeMap;

pub use check::{
    asset_input, building_input, cents_to_text, date, ip_address, mac_address, parse_cents,
    rack_input, relation_input, room_input, site_input,
};
pub use graph::{Direction, GraphEdge, ImpactGraph, ImpactNode, impact_graph};
pub use kinds::{
    AssetType, AttrDef, AttrKind, Face, LINUX_DISTRIBUTIONS, OsFamily, RelationKind, Status,
    TypeGroup,
};
pub use placement::{Occupant, PlacementConflict, placement_conflict};
pub use report::{InventoryReport, Software};

use crate::audit::Field;
use crate::permission::EntityId;

pub type AssetId = i64;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Site {
    pub id: i64,
    pub entity_id: EntityId,
    pub name: String,
    pub address: String,
    /// IANA time zone, e.g. `Europe/Paris`.
    pub time_zone: String,
    pub comment: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteInput {
    pub entity_id: EntityId,
    pub name: String,
    pub address: String,
    pub time_zone: String,
    pub comment: String,
}

impl Site {
    pub fn audit_fields(&self) -> Vec<Field> {
        vec![
            Field::new("entity_id", self.entity_id.to_string()),
            Field::new("name", &self.name),
            Field::new("address", &self.address),
            Field::new("time_zone", &self.time_zone),
            Field::new("comment", &self.comment),
        ]
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Building {
    pub id: i64,
    pub site_id: i64,
    pub entity_id: EntityId,
    pub name: String,
    pub comment: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildingInput {
    pub site_id: i64,
    pub entity_id: EntityId,
    pub name: String,
    pub comment: String,
}

impl Building {
    pub fn audit_fields(&self) -> Vec<Field> {
        vec![
            Field::new("site_id", self.site_id.to_string()),
            Field::new("entity_id", self.entity_id.to_string()),
            Field::new("name", &self.name),
            Field::new("comment", &self.comment),
        ]
    }
}

/// A room; a machine room has a grid of rack positions (`grid_rows` × `grid_cols`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Room {
    pub id: i64,
    pub site_id: i64,
    pub building_id: Option<i64>,
    pub entity_id: EntityId,
    pub name: String,
    pub grid_rows: i32,
    pub grid_cols: i32,
    pub power_capacity_w: Option<i64>,
    pub cooling_capacity_w: Option<i64>,
    pub notes: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomInput {
    pub site_id: i64,
    pub building_id: Option<i64>,
    pub entity_id: EntityId,
    pub name: String,
    pub grid_rows: i32,
    pub grid_cols: i32,
    pub power_capacity_w: Option<i64>,
    pub cooling_capacity_w: Option<i64>,
    pub notes: String,
}

impl Room {
    pub fn audit_fields(&self) -> Vec<Field> {
        vec![
            Field::new("site_id", self.site_id.to_string()),
            Field::new("building_id", opt(self.building_id)),
            Field::new("entity_id", self.entity_id.to_string()),
            Field::new("name", &self.name),
            Field::new("grid_rows", self.grid_rows.to_string()),
            Field::new("grid_cols", self.grid_cols.to_string()),
            Field::new("power_capacity_w", opt(self.power_capacity_w)),
            Field::new("cooling_capacity_w", opt(self.cooling_capacity_w)),
            Field::new("notes", &self.notes),
        ]
    }
}

/// A rack; `grid_row`/`grid_col` place it on its room's grid (1-based).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rack {
    pub id: i64,
    pub room_id: i64,
    pub site_id: i64,
    pub entity_id: EntityId,
    pub name: String,
    pub height_u: i32,
    pub grid_row: Option<i32>,
    pub grid_col: Option<i32>,
    pub max_power_w: Option<i64>,
    pub comment: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RackInput {
    pub room_id: i64,
    pub entity_id: EntityId,
    pub name: String,
    pub height_u: i32,
    pub grid_row: Option<i32>,
    pub grid_col: Option<i32>,
    pub max_power_w: Option<i64>,
    pub comment: String,
}

impl Rack {
    pub fn audit_fields(&self) -> Vec<Field> {
        vec![
            Field::new("room_id", self.room_id.to_string()),
            Field::new("entity_id", self.entity_id.to_string()),
            Field::new("name", &self.name),
            Field::new("height_u", self.height_u.to_string()),
            Field::new("grid_row", opt(self.grid_row.map(i64::from))),
            Field::new("grid_col", opt(self.grid_col.map(i64::from))),
            Field::new("max_power_w", opt(self.max_power_w)),
            Field::new("comment", &self.comment),
        ]
    }
}

/// A network interface of an asset.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Interface {
    pub name: String,
    /// Lower-case, colon-separated, or empty.
    pub mac: String,
    /// IPv4 and IPv6 addresses, canonical text form.
    pub ips: Vec<String>,
    pub vlan: Option<i32>,
    pub speed_mbps: Option<i64>,
}

/// A physical or virtual disk of an asset.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Disk {
    pub name: String,
    pub model: String,
    pub serial: String,
    pub size_mb: Option<i64>,
}

/// Who owns a field of an asset: the inventory agent (manual edits refused until someone
/// unlocks it) or a person (the agent leaves it alone).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldLock {
    Agent,
    Manual,
}

impl FieldLock {
    pub fn key(self) -> &'static str {
        match self {
            FieldLock::Agent => "agent",
            FieldLock::Manual => "manual",
        }
    }

    pub fn from_key(key: &str) -> Option<FieldLock> {
        match key {
            "agent" => Some(FieldLock::Agent),
            "manual" => Some(FieldLock::Manual),
            _ => None,
        }
    }
}

/// The fields an inventory agent reports, hence the ones it may manage.
pub const AGENT_FIELDS: &[&str] = &[
    "hostname",
    "manufacturer",
    "model",
    "serial",
    "uuid",
    "os_family",
    "os_name",
    "os_version",
    "cpu_model",
    "cpu_sockets",
    "cpu_cores",
    "memory_mb",
    "interfaces",
    "disks",
];

/// A configuration item: hardware, virtual machine, logical service or licence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Asset {
    pub id: AssetId,
    pub entity_id: EntityId,
    pub asset_type: AssetType,
    pub name: String,
    /// Host name or FQDN.
    pub hostname: String,
    pub manufacturer: String,
    pub model: String,
    pub serial: String,
    pub asset_tag: String,
    /// SMBIOS UUID, as reported by agents.
    pub uuid: String,
    pub status: Status,
    /// `YYYY-MM-DD` of the last status change.
    pub status_since: String,
    pub ordered_on: String,
    pub received_on: String,
    pub in_production_on: String,
    pub retired_on: String,
    pub disposed_on: String,
    pub owner_team_id: Option<i64>,
    pub site_id: Option<i64>,
    pub room_id: Option<i64>,
    pub rack_id: Option<i64>,
    /// Lowest rack unit occupied (1 = bottom).
    pub rack_u: Option<i32>,
    pub rack_face: Option<Face>,
    pub height_u: i32,
    /// Occupies both faces of its units.
    pub full_depth: bool,
    /// A place outside any rack ("office 2.14", "stock shelf B").
    pub location_note: String,
    pub os_family: Option<OsFamily>,
    pub os_name: String,
    pub os_version: String,
    pub cpu_model: String,
    pub cpu_sockets: Option<i32>,
    pub cpu_cores: Option<i32>,
    pub memory_mb: Option<i64>,
    pub management_ip: String,
    pub power_draw_w: Option<i64>,
    pub purchase_date: String,
    /// In hundredths of the currency unit.
    pub purchase_cost_cents: Option<i64>,
    pub supplier: String,
    pub order_ref: String,
    pub warranty_end: String,
    /// Support contract; contracts arrive with a later part of the product.
    pub contract_id: Option<i64>,
    pub notes: String,
    /// Set when an agent reported an unknown machine and quarantine is on.
    pub quarantined: bool,
    pub locks: BTreeMap<String, FieldLock>,
    pub interfaces: Vec<Interface>,
    pub disks: Vec<Disk>,
    /// Type-specific and custom attributes.
    pub attributes: BTreeMap<String, String>,
    /// Lower-case tags, sorted.
    pub tags: Vec<String>,
    pub last_inventory_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The editable fields of an asset, validated by [`asset_input`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssetInput {
    pub entity_id: EntityId,
    pub asset_type: AssetType,
    pub name: String,
    pub hostname: String,
    pub manufacturer: String,
    pub model: String,
    pub serial: String,
    pub asset_tag: String,
    pub uuid: String,
    pub status: Status,
    pub status_since: String,
    pub ordered_on: String,
    pub received_on: String,
    pub in_production_on: String,
    pub retired_on: String,
    pub disposed_on: String,
    pub owner_team_id: Option<i64>,
    pub site_id: Option<i64>,
    pub room_id: Option<i64>,
    pub rack_id: Option<i64>,
    pub rack_u: Option<i32>,
    pub rack_face: Option<Face>,
    pub height_u: i32,
    pub full_depth: bool,
    pub location_note: String,
    pub os_family: Option<OsFamily>,
    pub os_name: String,
    pub os_version: String,
    pub cpu_model: String,
    pub cpu_sockets: Option<i32>,
    pub cpu_cores: Option<i32>,
    pub memory_mb: Option<i64>,
    pub management_ip: String,
    pub power_draw_w: Option<i64>,
    pub purchase_date: String,
    pub purchase_cost_cents: Option<i64>,
    pub supplier: String,
    pub order_ref: String,
    pub warranty_end: String,
    pub contract_id: Option<i64>,
    pub notes: String,
    pub quarantined: bool,
    pub locks: BTreeMap<String, FieldLock>,
    pub interfaces: Vec<Interface>,
    pub disks: Vec<Disk>,
    pub attributes: BTreeMap<String, String>,
    pub tags: Vec<String>,
}

impl AssetInput {
    /// A new asset of `asset_type` named `name`, every other field empty.
    pub fn new(entity_id: EntityId, asset_type: AssetType, name: &str) -> AssetInput {
        AssetInput {
            entity_id,
            asset_type,
            name: name.to_owned(),
            hostname: String::new(),
            manufacturer: String::new(),
            model: String::new(),
            serial: String::new(),
            asset_tag: String::new(),
            uuid: String::new(),
            status: Status::InProduction,
            status_since: String::new(),
            ordered_on: String::new(),
            received_on: String::new(),
            in_production_on: String::new(),
            retired_on: String::new(),
            disposed_on: String::new(),
            owner_team_id: None,
            site_id: None,
            room_id: None,
            rack_id: None,
            rack_u: None,
            rack_face: None,
            height_u: asset_type.default_height_u(),
            full_depth: true,
            location_note: String::new(),
            os_family: None,
            os_name: String::new(),
            os_version: String::new(),
            cpu_model: String::new(),
            cpu_sockets: None,
            cpu_cores: None,
            memory_mb: None,
            management_ip: String::new(),
            power_draw_w: None,
            purchase_date: String::new(),
            purchase_cost_cents: None,
            supplier: String::new(),
            order_ref: String::new(),
            warranty_end: String::new(),
            contract_id: None,
            notes: String::new(),
            quarantined: false,
            locks: BTreeMap::new(),
            interfaces: Vec::new(),
            disks: Vec::new(),
            attributes: BTreeMap::new(),
            tags: Vec::new(),
        }
    }
}

impl AssetInput {
    /// The asset this input describes, as if stored under `id` (timestamps zero): for tests of
    /// rules that read assets.
    #[cfg(test)]
    pub(crate) fn stored_as(self, id: AssetId) -> Asset {
        let a = self;
        Asset {
            id,
            entity_id: a.entity_id,
            asset_type: a.asset_type,
            name: a.name,
            hostname: a.hostname,
            manufacturer: a.manufacturer,
            model: a.model,
            serial: a.serial,
            asset_tag: a.asset_tag,
            uuid: a.uuid,
            status: a.status,
            status_since: a.status_since,
            ordered_on: a.ordered_on,
            received_on: a.received_on,
            in_production_on: a.in_production_on,
            retired_on: a.retired_on,
            disposed_on: a.disposed_on,
            owner_team_id: a.owner_team_id,
            site_id: a.site_id,
            room_id: a.room_id,
            rack_id: a.rack_id,
            rack_u: a.rack_u,
            rack_face: a.rack_face,
            height_u: a.height_u,
            full_depth: a.full_depth,
            location_note: a.location_note,
            os_family: a.os_family,
            os_name: a.os_name,
            os_version: a.os_version,
            cpu_model: a.cpu_model,
            cpu_sockets: a.cpu_sockets,
            cpu_cores: a.cpu_cores,
            memory_mb: a.memory_mb,
            management_ip: a.management_ip,
            power_draw_w: a.power_draw_w,
            purchase_date: a.purchase_date,
            purchase_cost_cents: a.purchase_cost_cents,
            supplier: a.supplier,
            order_ref: a.order_ref,
            warranty_end: a.warranty_end,
            contract_id: a.contract_id,
            notes: a.notes,
            quarantined: a.quarantined,
            locks: a.locks,
            interfaces: a.interfaces,
            disks: a.disks,
            attributes: a.attributes,
            tags: a.tags,
            last_inventory_at: None,
            created_at: 0,
            updated_at: 0,
        }
    }
}

impl From<Asset> for AssetInput {
    fn from(a: Asset) -> AssetInput {
        AssetInput {
            entity_id: a.entity_id,
            asset_type: a.asset_type,
            name: a.name,
            hostname: a.hostname,
            manufacturer: a.manufacturer,
            model: a.model,
            serial: a.serial,
            asset_tag: a.asset_tag,
            uuid: a.uuid,
            status: a.status,
            status_since: a.status_since,
            ordered_on: a.ordered_on,
            received_on: a.received_on,
            in_production_on: a.in_production_on,
            retired_on: a.retired_on,
            disposed_on: a.disposed_on,
            owner_team_id: a.owner_team_id,
            site_id: a.site_id,
            room_id: a.room_id,
            rack_id: a.rack_id,
            rack_u: a.rack_u,
            rack_face: a.rack_face,
            height_u: a.height_u,
            full_depth: a.full_depth,
            location_note: a.location_note,
            os_family: a.os_family,
            os_name: a.os_name,
            os_version: a.os_version,
            cpu_model: a.cpu_model,
            cpu_sockets: a.cpu_sockets,
            cpu_cores: a.cpu_cores,
            memory_mb: a.memory_mb,
            management_ip: a.management_ip,
            power_draw_w: a.power_draw_w,
            purchase_date: a.purchase_date,
            purchase_cost_cents: a.purchase_cost_cents,
            supplier: a.supplier,
            order_ref: a.order_ref,
            warranty_end: a.warranty_end,
            contract_id: a.contract_id,
            notes: a.notes,
            quarantined: a.quarantined,
            locks: a.locks,
            interfaces: a.interfaces,
            disks: a.disks,
            attributes: a.attributes,
            tags: a.tags,
        }
    }
}

impl AssetInput {
    /// The audited fields, by name. Lists are folded into one field each so that the
    /// history shows "interfaces: eth0 … → eth0 …" rather than one line per row.
    pub fn audit_fields(&self) -> Vec<Field> {
        let o32 = |v: Option<i32>| opt(v.map(i64::from));
        vec![
            Field::new("entity_id", self.entity_id.to_string()),
            Field::new("asset_type", self.asset_type.key()),
            Field::new("name", &self.name),
            Field::new("hostname", &self.hostname),
            Field::new("manufacturer", &self.manufacturer),
            Field::new("model", &self.model),
            Field::new("serial", &self.serial),
            Field::new("asset_tag", &self.asset_tag),
            Field::new("uuid", &self.uuid),
            Field::new("status", self.status.key()),
            Field::new("status_since", &self.status_since),
            Field::new("ordered_on", &self.ordered_on),
            Field::new("received_on", &self.received_on),
            Field::new("in_production_on", &self.in_production_on),
            Field::new("retired_on", &self.retired_on),
            Field::new("disposed_on", &self.disposed_on),
            Field::new("owner_team_id", opt(self.owner_team_id)),
            Field::new("site_id", opt(self.site_id)),
            Field::new("room_id", opt(self.room_id)),
            Field::new("rack_id", opt(self.rack_id)),
            Field::new("rack_u", o32(self.rack_u)),
            Field::new(
                "rack_face",
                self.rack_face.map(Face::key).unwrap_or_default(),
            ),
            Field::new("height_u", self.height_u.to_string()),
            Field::new("full_depth", self.full_depth.to_string()),
            Field::new("location_note", &self.location_note),
            Field::new(
                "os_family",
                self.os_family.map(OsFamily::key).unwrap_or_default(),
            ),
            Field::new("os_name", &self.os_name),
            Field::new("os_version", &self.os_version),
            Field::new("cpu_model", &self.cpu_model),
            Field::new("cpu_sockets", o32(self.cpu_sockets)),
            Field::new("cpu_cores", o32(self.cpu_cores)),
            Field::new("memory_mb", opt(self.memory_mb)),
            Field::new("management_ip", &self.management_ip),
            Field::new("power_draw_w", opt(self.power_draw_w)),
            Field::new("purchase_date", &self.purchase_date),
            Field::new(
                "purchase_cost",
                self.purchase_cost_cents
                    .map(cents_to_text)
                    .unwrap_or_default(),
            ),
            Field::new("supplier", &self.supplier),
            Field::new("order_ref", &self.order_ref),
            Field::new("warranty_end", &self.warranty_end),
            Field::new("contract_id", opt(self.contract_id)),
            Field::new("notes", &self.notes),
            Field::new("quarantined", self.quarantined.to_string()),
            Field::new("locks", encode_locks(&self.locks)),
            Field::new("interfaces", summarise_interfaces(&self.interfaces)),
            Field::new("disks", summarise_disks(&self.disks)),
            Field::new(
                "attributes",
                self.attributes
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            Field::new("tags", self.tags.join(", ")),
        ]
    }

    /// The words the global search finds this asset by: name, host name and its labels,
    /// serial, asset tag, UUID, MAC and IP addresses, management IP and tags. Lower-case,
    /// deduplicated.
    pub fn search_terms(&self) -> Vec<String> {
        let mut terms = Vec::new();
        let mut push = |t: &str| {
            let t = t.trim().to_lowercase();
            if !t.is_empty() && t.len() <= 255 {
                terms.push(t);
            }
        };
        push(&self.name);
        for word in self.name.split_whitespace() {
            push(word);
        }
        push(&self.hostname);
        if let Some((short, _)) = self.hostname.split_once('.') {
            push(short);
        }
        push(&self.serial);
        push(&self.asset_tag);
        push(&self.uuid);
        push(&self.management_ip);
        for i in &self.interfaces {
            push(&i.mac);
            for ip in &i.ips {
                push(ip);
            }
        }
        for t in &self.tags {
            push(t);
        }
        terms.sort();
        terms.dedup();
        terms
    }
}

impl Asset {
    pub fn audit_fields(&self) -> Vec<Field> {
        AssetInput::from(self.clone()).audit_fields()
    }
}

pub fn encode_locks(locks: &BTreeMap<String, FieldLock>) -> String {
    locks
        .iter()
        .map(|(k, v)| format!("{k}={}", v.key()))
        .collect::<Vec<_>>()
        .join(",")
}

pub fn decode_locks(text: &str) -> BTreeMap<String, FieldLock> {
    text.split(',')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            Some((k.to_owned(), FieldLock::from_key(v)?))
        })
        .collect()
}

fn summarise_interfaces(list: &[Interface]) -> String {
    list.iter()
        .map(|i| {
            let mut s = i.name.clone();
            if !i.mac.is_empty() {
                s.push(' ');
                s.push_str(&i.mac);
            }
            for ip in &i.ips {
                s.push(' ');
                s.push_str(ip);
            }
            if let Some(v) = i.vlan {
                s.push_str(&format!(" vlan {v}"));
            }
            if let Some(sp) = i.speed_mbps {
                s.push_str(&format!(" {sp} Mb/s"));
            }
            s
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn summarise_disks(list: &[Disk]) -> String {
    list.iter()
        .map(|d| {
            let size = d.size_mb.map(|s| format!(" {s} MB")).unwrap_or_default();
            format!("{} {} {}{size}", d.name, d.model, d.serial)
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A typed, directed edge between two assets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Relation {
    pub id: i64,
    pub kind: RelationKind,
    pub from_id: AssetId,
    pub to_id: AssetId,
    pub from_port: String,
    pub to_port: String,
    pub cable_id: String,
    pub comment: String,
    pub created_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelationInput {
    pub kind: RelationKind,
    pub from_id: AssetId,
    pub to_id: AssetId,
    pub from_port: String,
    pub to_port: String,
    pub cable_id: String,
    pub comment: String,
}

impl Relation {
    pub fn audit_fields(&self) -> Vec<Field> {
        vec![
            Field::new("kind", self.kind.key()),
            Field::new("from_id", self.from_id.to_string()),
            Field::new("to_id", self.to_id.to_string()),
            Field::new("from_port", &self.from_port),
            Field::new("to_port", &self.to_port),
            Field::new("cable_id", &self.cable_id),
            Field::new("comment", &self.comment),
        ]
    }
}

/// Fills the agent-reported fields of `input` from `report`, except those a person has
/// taken over, and marks the others as managed by the agent.
pub fn merge_report(input: &mut AssetInput, report: &InventoryReport) {
    let manual =
        |input: &AssetInput, field: &str| input.locks.get(field) == Some(&FieldLock::Manual);
    macro_rules! take {
        ($field:ident, $value:expr) => {
            if !manual(input, stringify!($field)) {
                input.$field = $value;
                input
                    .locks
                    .insert(stringify!($field).to_owned(), FieldLock::Agent);
            }
        };
    }
    take!(hostname, report.fqdn());
    take!(manufacturer, report.manufacturer.clone());
    take!(model, report.model.clone());
    if !report.serial.is_empty() {
        take!(serial, report.serial.clone());
    }
    if !report.uuid.is_empty() {
        take!(uuid, report.uuid.to_lowercase());
    }
    take!(os_family, Some(OsFamily::guess(&report.os_name)));
    take!(os_name, report.os_name.clone());
    take!(os_version, report.os_version.clone());
    take!(cpu_model, report.cpu_model.clone());
    take!(cpu_sockets, report.cpu_sockets);
    take!(cpu_cores, report.cpu_cores);
    take!(memory_mb, report.memory_mb);
    take!(interfaces, report.interfaces.clone());
    take!(disks, report.disks.clone());
}

fn opt(v: Option<i64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}
