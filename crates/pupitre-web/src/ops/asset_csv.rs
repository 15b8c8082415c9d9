//! Assets in bulk: any filtered list exported as CSV or JSON, and CSV imports as an
//! idempotent upsert with column mapping, a dry run, and every row error with its row and
//! column.
//!
//! The CSV columns are [`COLUMNS`] followed by one `attr:<key>` column per attribute key of
//! the exported set, sorted. Cells are readable and need no ids: enumerations by key, the
//! entity by its path from the root (`Root entity/Customer X`), the owner team, site, room
//! and rack by name, tags comma-separated, interfaces and disks as compact JSON arrays.
//! Exporting, importing into an empty database and exporting again gives the same file.
//!
//! An import matches each row to an existing asset by serial number (within the type),
//! asset tag or host name, and creates, updates (only the columns the file has) or leaves
//! it. Every row is checked before anything is written, with the same permission checks as
//! [`crate::ops::assets::create`] and [`crate::ops::assets::update`]; with any error, nothing is written.

use std::collections::HashMap;

use pupitre_core::inventory::{Rack, Room, Site};
use pupitre_core::permission::EntityId;

use crate::error::AppError;
use crate::state::AppState;

pub mod export;
pub mod import;
mod row;

/// The fixed CSV columns, in file order. Attributes follow as `attr:<key>` columns.
pub const COLUMNS: &[&str] = &[
    "asset_type",
    "name",
    "entity",
    "hostname",
    "manufacturer",
    "model",
    "serial",
    "asset_tag",
    "uuid",
    "status",
    "status_since",
    "ordered_on",
    "received_on",
    "in_production_on",
    "retired_on",
    "disposed_on",
    "owner_team",
    "site",
    "room",
    "rack",
    "rack_u",
    "rack_face",
    "height_u",
    "full_depth",
    "location_note",
    "os_family",
    "os_name",
    "os_version",
    "cpu_model",
    "cpu_sockets",
    "cpu_cores",
    "memory_mb",
    "management_ip",
    "power_draw_w",
    "purchase_date",
    "purchase_cost",
    "supplier",
    "order_ref",
    "warranty_end",
    "notes",
    "tags",
    "interfaces",
    "disks",
];

/// The prefix of attribute columns: `attr:firmware`.
pub const ATTR_PREFIX: &str = "attr:";

/// The names rows use for entities, teams and locations, and the ids they stand for.
struct Lookup {
    parents: HashMap<EntityId, Option<EntityId>>,
    /// Entity id → path from the root, `Root entity/Customer X`.
    paths: HashMap<EntityId, String>,
    /// Path → entity; `None` when two entities share a path (a `/` inside a name).
    by_path: HashMap<String, Option<EntityId>>,
    teams: HashMap<i64, (String, EntityId)>,
    sites: HashMap<i64, Site>,
    rooms: HashMap<i64, Room>,
    racks: HashMap<i64, Rack>,
}

impl Lookup {
    async fn load(st: &AppState) -> Result<Lookup, AppError> {
        let entities = st.store.list_entities().await?;
        let all: Vec<EntityId> = entities.iter().map(|e| e.id).collect();
        let parents: HashMap<EntityId, Option<EntityId>> =
            entities.iter().map(|e| (e.id, e.parent_id)).collect();
        let names: HashMap<EntityId, &str> =
            entities.iter().map(|e| (e.id, e.name.as_str())).collect();
        let mut paths = HashMap::new();
        let mut by_path: HashMap<String, Option<EntityId>> = HashMap::new();
        for e in &entities {
            let mut parts = vec![e.name.as_str()];
            let mut at = e.parent_id;
            // The tree has no cycles; the bound only guards against a corrupt one.
            while let Some(p) = at {
                if parts.len() > entities.len() {
                    break;
                }
                parts.push(names.get(&p).copied().unwrap_or_default());
                at = parents.get(&p).copied().flatten();
            }
            parts.reverse();
            let path = parts.join("/");
            by_path
                .entry(path.clone())
                .and_modify(|v| *v = None)
                .or_insert(Some(e.id));
            paths.insert(e.id, path);
        }
        Ok(Lookup {
            parents,
            paths,
            by_path,
            teams: st
                .store
                .list_teams(&all)
                .await?
                .into_iter()
                .map(|t| (t.id, (t.name, t.entity_id)))
                .collect(),
            sites: by_id(st.store.list_sites(&all).await?, |s| s.id),
            rooms: by_id(st.store.list_rooms(&all).await?, |r| r.id),
            racks: by_id(st.store.list_racks(&all).await?, |r| r.id),
        })
    }

    fn entity_path(&self, id: EntityId) -> String {
        self.paths.get(&id).cloned().unwrap_or_default()
    }

    /// Among same-named candidates, the one in `entity` or its nearest ancestor.
    fn pick<'a, T>(
        &self,
        candidates: Vec<&'a T>,
        entity_of: impl Fn(&T) -> EntityId,
        entity: EntityId,
    ) -> Pick<'a, T> {
        match candidates.len() {
            0 => return Pick::None,
            1 => return Pick::One(candidates[0]),
            _ => {}
        }
        let mut at = Some(entity);
        let mut steps = 0;
        while let Some(e) = at {
            let here: Vec<&&T> = candidates.iter().filter(|c| entity_of(c) == e).collect();
            if here.len() == 1 {
                return Pick::One(here[0]);
            }
            steps += 1;
            if steps > self.parents.len() {
                break;
            }
            at = self.parents.get(&e).copied().flatten();
        }
        Pick::Ambiguous
    }
}

enum Pick<'a, T> {
    One(&'a T),
    None,
    Ambiguous,
}

fn by_id<T>(list: Vec<T>, id: impl Fn(&T) -> i64) -> HashMap<i64, T> {
    list.into_iter().map(|x| (id(&x), x)).collect()
}
