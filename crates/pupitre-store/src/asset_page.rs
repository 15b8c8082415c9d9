//! Assets come out of the database as one JSON document per query: the asset rows with
//! their interfaces, disks, attributes and tags nested inside. sqlx hands every value of
//! every row from the connection's thread to the caller separately; on a 50-asset page with
//! its children that hand-off, about 4,000 values, cost more than the query itself (see
//! BENCHMARKS.md). Both backends build the same document, so one parser serves them.

use std::collections::BTreeMap;

use pupitre_core::inventory::{
    Asset, AssetType, Disk, Face, Interface, OsFamily, Status, decode_locks,
};
use serde::{Deserialize, Deserializer};

use crate::{Result, StoreError, stored};

/// The SQL that wraps a query selecting `asset_cols!()` from `assets a` into the page
/// document: `$array` and `$agg` name the backend's JSON array constructor and aggregate,
/// `$nest` turns a nested document back into JSON (SQLite's `json`; PostgreSQL keeps the
/// type), `$open`/`$close` wrap the result so it arrives as text. The inner query follows
/// the head and is closed by `asset_page_tail!()`.
///
/// No aggregate has an ORDER BY: SQLite sorts each one in a temporary B-tree even when the
/// index already yields that order (a quarter of the page's cost), so [`parse`] sorts.
macro_rules! asset_page_head {
    ($array:literal, $agg:literal, $nest:literal, $open:literal, $close:literal) => {
        concat!(
            "SELECT ",
            $open,
            "COALESCE(",
            $agg,
            "(",
            $array,
            "(",
            asset_cols!(),
            ", ",
            $nest,
            "((SELECT COALESCE(",
            $agg,
            "(",
            $array,
            "(c.position, c.name, c.mac, c.ips, c.vlan, c.speed_mbps)), '[]') \
             FROM asset_interfaces c WHERE c.asset_id = p.id)), ",
            $nest,
            "((SELECT COALESCE(",
            $agg,
            "(",
            $array,
            "(c.position, c.name, c.model, c.serial, c.size_mb)), '[]') \
             FROM asset_disks c WHERE c.asset_id = p.id)), ",
            $nest,
            "((SELECT COALESCE(",
            $agg,
            "(",
            $array,
            "(c.key, c.value)), '[]') \
             FROM asset_attributes c WHERE c.asset_id = p.id)), ",
            $nest,
            "((SELECT COALESCE(",
            $agg,
            "(c.tag), '[]') FROM asset_tags c WHERE c.asset_id = p.id))",
            ")), '[]')",
            $close,
            " AS page FROM (SELECT ",
            asset_cols!(),
            " FROM assets a WHERE "
        )
    };
}

macro_rules! asset_page_tail {
    () => {
        ") p"
    };
}

/// One asset of the document, its fields in `asset_cols!()` order, then its children.
#[derive(Deserialize)]
struct AssetRow {
    id: i64,
    entity_id: i64,
    asset_type: String,
    name: String,
    hostname: String,
    manufacturer: String,
    model: String,
    serial: String,
    asset_tag: String,
    uuid: String,
    status: String,
    status_since: String,
    ordered_on: String,
    received_on: String,
    in_production_on: String,
    retired_on: String,
    disposed_on: String,
    owner_team_id: Option<i64>,
    site_id: Option<i64>,
    room_id: Option<i64>,
    rack_id: Option<i64>,
    rack_u: Option<i32>,
    rack_face: Option<String>,
    height_u: i32,
    #[serde(deserialize_with = "flag")]
    full_depth: bool,
    location_note: String,
    os_family: Option<String>,
    os_name: String,
    os_version: String,
    cpu_model: String,
    cpu_sockets: Option<i32>,
    cpu_cores: Option<i32>,
    memory_mb: Option<i64>,
    management_ip: String,
    power_draw_w: Option<i64>,
    purchase_date: String,
    purchase_cost_cents: Option<i64>,
    supplier: String,
    order_ref: String,
    warranty_end: String,
    contract_id: Option<i64>,
    notes: String,
    #[serde(deserialize_with = "flag")]
    quarantined: bool,
    locks: String,
    last_inventory_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
    interfaces: Vec<InterfaceRow>,
    disks: Vec<DiskRow>,
    attributes: Vec<(String, String)>,
    tags: Vec<String>,
}

/// An interface: position, name, MAC, space-separated IPs, VLAN, speed.
#[derive(Deserialize)]
struct InterfaceRow(i32, String, String, String, Option<i32>, Option<i64>);

/// A disk: position, name, model, serial, size.
#[derive(Deserialize)]
struct DiskRow(i32, String, String, String, Option<i64>);

/// A boolean column: PostgreSQL's JSON has `true`/`false`, SQLite's has 1/0.
fn flag<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Flag {
        Bool(bool),
        Int(i64),
    }
    Ok(match Flag::deserialize(d)? {
        Flag::Bool(b) => b,
        Flag::Int(i) => i != 0,
    })
}

/// Parses the page document into assets, in id order.
pub(crate) fn parse(text: &str) -> Result<Vec<Asset>> {
    let mut rows: Vec<AssetRow> = serde_json::from_str(text)
        .map_err(|e| StoreError::Rejected(format!("page of assets: {e}")))?;
    rows.sort_unstable_by_key(|r| r.id);
    rows.into_iter().map(AssetRow::into_asset).collect()
}

impl AssetRow {
    fn into_asset(mut self) -> Result<Asset> {
        self.interfaces.sort_unstable_by_key(|i| i.0);
        self.disks.sort_unstable_by_key(|d| d.0);
        self.tags.sort_unstable();
        Ok(Asset {
            id: self.id,
            entity_id: self.entity_id,
            asset_type: stored(
                "asset type",
                &self.asset_type,
                AssetType::from_key(&self.asset_type),
            )?,
            name: self.name,
            hostname: self.hostname,
            manufacturer: self.manufacturer,
            model: self.model,
            serial: self.serial,
            asset_tag: self.asset_tag,
            uuid: self.uuid,
            status: stored("status", &self.status, Status::from_key(&self.status))?,
            status_since: self.status_since,
            ordered_on: self.ordered_on,
            received_on: self.received_on,
            in_production_on: self.in_production_on,
            retired_on: self.retired_on,
            disposed_on: self.disposed_on,
            owner_team_id: self.owner_team_id,
            site_id: self.site_id,
            room_id: self.room_id,
            rack_id: self.rack_id,
            rack_u: self.rack_u,
            rack_face: self.rack_face.as_deref().and_then(Face::from_key),
            height_u: self.height_u,
            full_depth: self.full_depth,
            location_note: self.location_note,
            os_family: self.os_family.as_deref().and_then(OsFamily::from_key),
            os_name: self.os_name,
            os_version: self.os_version,
            cpu_model: self.cpu_model,
            cpu_sockets: self.cpu_sockets,
            cpu_cores: self.cpu_cores,
            memory_mb: self.memory_mb,
            management_ip: self.management_ip,
            power_draw_w: self.power_draw_w,
            purchase_date: self.purchase_date,
            purchase_cost_cents: self.purchase_cost_cents,
            supplier: self.supplier,
            order_ref: self.order_ref,
            warranty_end: self.warranty_end,
            contract_id: self.contract_id,
            notes: self.notes,
            quarantined: self.quarantined,
            locks: decode_locks(&self.locks),
            interfaces: self
                .interfaces
                .into_iter()
                .map(
                    |InterfaceRow(_, name, mac, ips, vlan, speed_mbps)| Interface {
                        name,
                        mac,
                        ips: ips.split_whitespace().map(str::to_owned).collect(),
                        vlan,
                        speed_mbps,
                    },
                )
                .collect(),
            disks: self
                .disks
                .into_iter()
                .map(|DiskRow(_, name, model, serial, size_mb)| Disk {
                    name,
                    model,
                    serial,
                    size_mb,
                })
                .collect(),
            attributes: self.attributes.into_iter().collect::<BTreeMap<_, _>>(),
            tags: self.tags,
            last_inventory_at: self.last_inventory_at,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}
