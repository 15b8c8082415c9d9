//! The export: any filtered asset list, as CSV in the import's columns or as JSON, one page
//! of assets per chunk so that a list of any size streams in constant memory.

use pupitre_core::inventory::{self as inv, Asset, AssetInput, Face};
use pupitre_store::{AssetFilter, Page};
use serde::Serialize;
use utoipa::ToSchema;

use super::{ATTR_PREFIX, COLUMNS, Lookup};
use crate::auth::Caller;
use crate::error::AppError;
use crate::ops::assets::{AssetFields, AssetListParams};
use crate::state::AppState;

/// Assets per page of an export.
pub const EXPORT_PAGE: i64 = 1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Json,
}

impl ExportFormat {
    pub fn from_key(key: &str) -> Option<ExportFormat> {
        match key {
            "csv" => Some(ExportFormat::Csv),
            "json" => Some(ExportFormat::Json),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Json => "application/json",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Json => "json",
        }
    }
}

/// One asset of a JSON export: its id and the fields `POST /api/v1/assets` accepts.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportedAsset {
    pub id: i64,
    #[serde(flatten)]
    pub fields: AssetFields,
}

/// An export in progress: each [`Export::next_chunk`] reads one page of assets and
/// returns its bytes, so that a list of any size streams in constant memory.
pub struct Export {
    st: AppState,
    filter: AssetFilter,
    format: ExportFormat,
    lookup: Lookup,
    attributes: Vec<String>,
    after: Option<i64>,
    started: bool,
    done: bool,
}

impl Export {
    /// Checks the filters and reads the names; `limit` and `cursor` are ignored, an export
    /// holds every asset the filters select.
    pub async fn start(
        st: &AppState,
        caller: &Caller,
        params: &AssetListParams,
        format: ExportFormat,
    ) -> Result<Export, AppError> {
        let filter = params.filter(caller)?;
        let attributes = match format {
            ExportFormat::Csv => st.store.asset_attribute_keys(&filter).await?,
            ExportFormat::Json => Vec::new(),
        };
        Ok(Export {
            st: st.clone(),
            filter,
            format,
            lookup: Lookup::load(st).await?,
            attributes,
            after: None,
            started: false,
            done: false,
        })
    }

    pub fn format(&self) -> ExportFormat {
        self.format
    }

    /// The header row of a CSV export.
    pub fn header(&self) -> Vec<String> {
        COLUMNS
            .iter()
            .map(|c| (*c).to_owned())
            .chain(self.attributes.iter().map(|k| format!("{ATTR_PREFIX}{k}")))
            .collect()
    }

    /// The next piece of the file, `None` at the end.
    pub async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, AppError> {
        if self.done {
            return Ok(None);
        }
        let page = Page {
            after: self.after,
            limit: EXPORT_PAGE,
        };
        let assets = self.st.store.list_assets(&self.filter, page).await?;
        let first = !self.started;
        self.started = true;
        self.done = (assets.len() as i64) < EXPORT_PAGE;
        self.after = assets.last().map(|a| a.id).or(self.after);
        let out = match self.format {
            ExportFormat::Csv => self.csv_chunk(&assets, first)?,
            ExportFormat::Json => self.json_chunk(&assets, first)?,
        };
        Ok(Some(out))
    }

    fn csv_chunk(&self, assets: &[Asset], first: bool) -> Result<Vec<u8>, AppError> {
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(Vec::with_capacity(assets.len() * 400));
        let fail = |e: csv::Error| {
            tracing::error!(error = %e, "CSV export");
            AppError::internal()
        };
        if first {
            w.write_record(self.header()).map_err(fail)?;
        }
        for a in assets {
            w.write_record(self.csv_record(a)).map_err(fail)?;
        }
        w.into_inner().map_err(|e| fail(e.into_error().into()))
    }

    fn csv_record(&self, a: &Asset) -> Vec<String> {
        let mut out: Vec<String> = COLUMNS.iter().map(|c| self.cell(a, c)).collect();
        for k in &self.attributes {
            out.push(a.attributes.get(k).cloned().unwrap_or_default());
        }
        out
    }

    fn cell(&self, a: &Asset, column: &str) -> String {
        let l = &self.lookup;
        let num = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
        let num32 = |v: Option<i32>| num(v.map(i64::from));
        let name_of = |id: Option<i64>, names: &dyn Fn(i64) -> Option<String>| {
            id.and_then(names).unwrap_or_default()
        };
        match column {
            "asset_type" => a.asset_type.key().to_owned(),
            "name" => a.name.clone(),
            "entity" => l.entity_path(a.entity_id),
            "hostname" => a.hostname.clone(),
            "manufacturer" => a.manufacturer.clone(),
            "model" => a.model.clone(),
            "serial" => a.serial.clone(),
            "asset_tag" => a.asset_tag.clone(),
            "uuid" => a.uuid.clone(),
            "status" => a.status.key().to_owned(),
            "status_since" => a.status_since.clone(),
            "ordered_on" => a.ordered_on.clone(),
            "received_on" => a.received_on.clone(),
            "in_production_on" => a.in_production_on.clone(),
            "retired_on" => a.retired_on.clone(),
            "disposed_on" => a.disposed_on.clone(),
            "owner_team" => name_of(a.owner_team_id, &|id| l.teams.get(&id).map(|t| t.0.clone())),
            "site" => name_of(a.site_id, &|id| l.sites.get(&id).map(|s| s.name.clone())),
            "room" => name_of(a.room_id, &|id| l.rooms.get(&id).map(|r| r.name.clone())),
            "rack" => name_of(a.rack_id, &|id| l.racks.get(&id).map(|r| r.name.clone())),
            "rack_u" => num32(a.rack_u),
            "rack_face" => a.rack_face.map(Face::key).unwrap_or_default().to_owned(),
            "height_u" => a.height_u.to_string(),
            "full_depth" => a.full_depth.to_string(),
            "location_note" => a.location_note.clone(),
            "os_family" => a.os_family.map(|f| f.key()).unwrap_or_default().to_owned(),
            "os_name" => a.os_name.clone(),
            "os_version" => a.os_version.clone(),
            "cpu_model" => a.cpu_model.clone(),
            "cpu_sockets" => num32(a.cpu_sockets),
            "cpu_cores" => num32(a.cpu_cores),
            "memory_mb" => num(a.memory_mb),
            "management_ip" => a.management_ip.clone(),
            "power_draw_w" => num(a.power_draw_w),
            "purchase_date" => a.purchase_date.clone(),
            "purchase_cost" => a
                .purchase_cost_cents
                .map(inv::cents_to_text)
                .unwrap_or_default(),
            "supplier" => a.supplier.clone(),
            "order_ref" => a.order_ref.clone(),
            "warranty_end" => a.warranty_end.clone(),
            "notes" => a.notes.clone(),
            "tags" => a.tags.join(","),
            "interfaces" => compact_json(
                a.interfaces
                    .iter()
                    .map(|i| CellInterface {
                        name: &i.name,
                        mac: &i.mac,
                        ips: &i.ips,
                        vlan: i.vlan,
                        speed_mbps: i.speed_mbps,
                    })
                    .collect(),
            ),
            "disks" => compact_json(
                a.disks
                    .iter()
                    .map(|d| CellDisk {
                        name: &d.name,
                        model: &d.model,
                        serial: &d.serial,
                        size_mb: d.size_mb,
                    })
                    .collect(),
            ),
            _ => String::new(),
        }
    }

    fn json_chunk(&self, assets: &[Asset], first: bool) -> Result<Vec<u8>, AppError> {
        let mut out = Vec::with_capacity(assets.len() * 800);
        if first {
            out.push(b'[');
        }
        for (i, a) in assets.iter().enumerate() {
            if !(first && i == 0) {
                out.push(b',');
            }
            out.push(b'\n');
            let item = ExportedAsset {
                id: a.id,
                fields: AssetFields::of(&AssetInput::from(a.clone())),
            };
            serde_json::to_writer(&mut out, &item).map_err(|e| {
                tracing::error!(error = %e, "JSON export");
                AppError::internal()
            })?;
        }
        if self.done {
            out.extend_from_slice(b"\n]\n");
        }
        Ok(out)
    }
}

/// An interface in a CSV cell: the API's `InterfaceFields`, without empty members.
#[derive(Serialize)]
struct CellInterface<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    name: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    mac: &'a str,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    ips: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    vlan: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    speed_mbps: Option<i64>,
}

/// A disk in a CSV cell: the API's `DiskFields`, without empty members.
#[derive(Serialize)]
struct CellDisk<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    name: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    model: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    serial: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    size_mb: Option<i64>,
}

/// A compact JSON array, or an empty cell for an empty list.
fn compact_json<T: Serialize>(list: Vec<T>) -> String {
    if list.is_empty() {
        return String::new();
    }
    serde_json::to_string(&list).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interfaces_and_disks_are_compact_json() {
        let ips = ["10.0.0.1".to_owned()];
        let list = vec![
            CellInterface {
                name: "eth0",
                mac: "",
                ips: &ips,
                vlan: None,
                speed_mbps: Some(1000),
            },
            CellInterface {
                name: "",
                mac: "",
                ips: &[],
                vlan: None,
                speed_mbps: None,
            },
        ];
        assert_eq!(
            compact_json(list),
            r#"[{"name":"eth0","ips":["10.0.0.1"],"speed_mbps":1000},{}]"#
        );
        assert_eq!(compact_json(Vec::<CellDisk>::new()), "");
        let back: Vec<crate::ops::assets::InterfaceFields> =
            serde_json::from_str(r#"[{"name":"eth0","ips":["10.0.0.1"],"speed_mbps":1000},{}]"#)
                .unwrap();
        assert_eq!(back[0].speed_mbps, Some(1000));
    }
}
