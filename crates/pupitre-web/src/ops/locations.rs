//! Sites, buildings, rooms and racks. Each lives in an entity; reading needs
//! inventory=read there, changing needs inventory=edit.

use pupitre_core::inventory::{
    self as inv, Building, BuildingInput, Rack, RackInput, Room, RoomInput, Site, SiteInput,
};
use pupitre_core::permission::{Domain, EntityId, Level};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::error::AppError;
use crate::ops::check_time_zone;
use crate::state::AppState;

/// Checks that the caller may put a location in `entity` (named by `field`).
fn check_target(caller: &Caller, entity: EntityId, field: &str) -> Result<(), AppError> {
    caller.target_entity(Domain::Inventory, Level::Edit, entity, field)
}

/// A location named in input must exist and be visible; otherwise a field error.
fn hidden(field: &str, what: &str, id: i64) -> AppError {
    AppError::invalid(field, format!("{what} {id} does not exist"))
}

#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SiteFields {
    /// Defaults to the caller's entity.
    pub entity_id: Option<i64>,
    pub name: String,
    #[serde(default)]
    pub address: String,
    /// IANA time zone; defaults to UTC.
    #[serde(default)]
    pub time_zone: String,
    #[serde(default)]
    pub comment: String,
}

#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BuildingFields {
    pub site_id: i64,
    /// Defaults to the site's entity.
    pub entity_id: Option<i64>,
    pub name: String,
    #[serde(default)]
    pub comment: String,
}

#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoomFields {
    pub site_id: i64,
    pub building_id: Option<i64>,
    /// Defaults to the site's entity.
    pub entity_id: Option<i64>,
    pub name: String,
    /// Rack positions: rows (lettered A, B, …) × columns; 0 × 0 for a room without a grid.
    #[serde(default)]
    pub grid_rows: i32,
    #[serde(default)]
    pub grid_cols: i32,
    pub power_capacity_w: Option<i64>,
    pub cooling_capacity_w: Option<i64>,
    /// Notes on power and cooling (redundancy, circuits, CRAC units).
    #[serde(default)]
    pub notes: String,
}

#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RackFields {
    pub room_id: i64,
    /// Defaults to the room's entity (a customer's rack in a shared room may differ).
    pub entity_id: Option<i64>,
    pub name: String,
    /// Height in rack units, 1–100 (default 42).
    pub height_u: Option<i32>,
    /// Position on the room's grid, 1-based.
    pub grid_row: Option<i32>,
    pub grid_col: Option<i32>,
    pub max_power_w: Option<i64>,
    #[serde(default)]
    pub comment: String,
}

/// A partial update: the object's current fields, overwritten by the keys given.
pub type Patch = serde_json::Map<String, serde_json::Value>;

/// Applies `patch` over `current` (both JSON objects of the same fields) and parses the
/// result, so that unknown keys and wrong types are errors naming the field.
pub fn merge<T: Serialize + serde::de::DeserializeOwned>(
    current: &T,
    patch: Patch,
) -> Result<T, AppError> {
    let mut value = serde_json::to_value(current).map_err(|_| AppError::internal())?;
    let Some(object) = value.as_object_mut() else {
        return Err(AppError::internal());
    };
    for (k, v) in patch {
        if !object.contains_key(&k) {
            return Err(AppError::invalid(k, "unknown field"));
        }
        object.insert(k, v);
    }
    let bytes = serde_json::to_vec(&value).map_err(|_| AppError::internal())?;
    crate::extract::parse_json(&bytes)
}

pub async fn list_sites(st: &AppState, caller: &Caller) -> Result<Vec<Site>, AppError> {
    Ok(st
        .store
        .list_sites(&caller.visible(Domain::Inventory))
        .await?)
}

pub async fn get_site(
    st: &AppState,
    caller: &Caller,
    id: i64,
    level: Level,
) -> Result<Site, AppError> {
    let s = st
        .store
        .get_site(id)
        .await
        .map_err(|e| AppError::from_store("site", e))?;
    caller.check(Domain::Inventory, level, s.entity_id, "site")?;
    Ok(s)
}

fn site_input(caller: &Caller, f: SiteFields) -> Result<SiteInput, AppError> {
    let entity_id = f.entity_id.unwrap_or(caller.user.entity_id);
    check_target(caller, entity_id, "entity_id")?;
    let time_zone = if f.time_zone.trim().is_empty() {
        "UTC".to_owned()
    } else {
        f.time_zone
    };
    let input = inv::site_input(SiteInput {
        entity_id,
        name: f.name,
        address: f.address,
        time_zone,
        comment: f.comment,
    })?;
    check_time_zone("time_zone", &input.time_zone)?;
    Ok(input)
}

pub fn site_fields(s: &Site) -> SiteFields {
    SiteFields {
        entity_id: Some(s.entity_id),
        name: s.name.clone(),
        address: s.address.clone(),
        time_zone: s.time_zone.clone(),
        comment: s.comment.clone(),
    }
}

pub async fn create_site(st: &AppState, caller: &Caller, f: SiteFields) -> Result<Site, AppError> {
    let input = site_input(caller, f)?;
    st.store
        .create_site(&caller.actor(), &input)
        .await
        .map_err(|e| AppError::from_store("site", e))
}

pub async fn update_site(
    st: &AppState,
    caller: &Caller,
    id: i64,
    patch: Patch,
) -> Result<Site, AppError> {
    let current = get_site(st, caller, id, Level::Edit).await?;
    let input = site_input(caller, merge(&site_fields(&current), patch)?)?;
    st.store
        .update_site(&caller.actor(), id, &input)
        .await
        .map_err(|e| AppError::from_store("site", e))
}

pub async fn delete_site(st: &AppState, caller: &Caller, id: i64) -> Result<(), AppError> {
    get_site(st, caller, id, Level::Edit).await?;
    st.store
        .delete_site(&caller.actor(), id)
        .await
        .map_err(|e| AppError::from_store("site", e))
}

pub async fn list_buildings(st: &AppState, caller: &Caller) -> Result<Vec<Building>, AppError> {
    Ok(st
        .store
        .list_buildings(&caller.visible(Domain::Inventory))
        .await?)
}

pub async fn get_building(
    st: &AppState,
    caller: &Caller,
    id: i64,
    level: Level,
) -> Result<Building, AppError> {
    let b = st
        .store
        .get_building(id)
        .await
        .map_err(|e| AppError::from_store("building", e))?;
    caller.check(Domain::Inventory, level, b.entity_id, "building")?;
    Ok(b)
}

/// A site named in input, visible to the caller.
async fn visible_site(st: &AppState, caller: &Caller, id: i64) -> Result<Site, AppError> {
    get_site(st, caller, id, Level::Read)
        .await
        .map_err(|_| hidden("site_id", "site", id))
}

async fn building_input(
    st: &AppState,
    caller: &Caller,
    f: BuildingFields,
) -> Result<BuildingInput, AppError> {
    let site = visible_site(st, caller, f.site_id).await?;
    let entity_id = f.entity_id.unwrap_or(site.entity_id);
    check_target(caller, entity_id, "entity_id")?;
    Ok(inv::building_input(BuildingInput {
        site_id: f.site_id,
        entity_id,
        name: f.name,
        comment: f.comment,
    })?)
}

pub fn building_fields(b: &Building) -> BuildingFields {
    BuildingFields {
        site_id: b.site_id,
        entity_id: Some(b.entity_id),
        name: b.name.clone(),
        comment: b.comment.clone(),
    }
}

pub async fn create_building(
    st: &AppState,
    caller: &Caller,
    f: BuildingFields,
) -> Result<Building, AppError> {
    let input = building_input(st, caller, f).await?;
    st.store
        .create_building(&caller.actor(), &input)
        .await
        .map_err(|e| AppError::from_store("building", e))
}

pub async fn update_building(
    st: &AppState,
    caller: &Caller,
    id: i64,
    patch: Patch,
) -> Result<Building, AppError> {
    let current = get_building(st, caller, id, Level::Edit).await?;
    let input = building_input(st, caller, merge(&building_fields(&current), patch)?).await?;
    st.store
        .update_building(&caller.actor(), id, &input)
        .await
        .map_err(|e| AppError::from_store("building", e))
}

pub async fn delete_building(st: &AppState, caller: &Caller, id: i64) -> Result<(), AppError> {
    get_building(st, caller, id, Level::Edit).await?;
    st.store
        .delete_building(&caller.actor(), id)
        .await
        .map_err(|e| AppError::from_store("building", e))
}

pub async fn list_rooms(st: &AppState, caller: &Caller) -> Result<Vec<Room>, AppError> {
    Ok(st
        .store
        .list_rooms(&caller.visible(Domain::Inventory))
        .await?)
}

pub async fn get_room(
    st: &AppState,
    caller: &Caller,
    id: i64,
    level: Level,
) -> Result<Room, AppError> {
    let r = st
        .store
        .get_room(id)
        .await
        .map_err(|e| AppError::from_store("room", e))?;
    caller.check(Domain::Inventory, level, r.entity_id, "room")?;
    Ok(r)
}

async fn room_input(st: &AppState, caller: &Caller, f: RoomFields) -> Result<RoomInput, AppError> {
    let site = visible_site(st, caller, f.site_id).await?;
    if let Some(b) = f.building_id {
        get_building(st, caller, b, Level::Read)
            .await
            .map_err(|_| hidden("building_id", "building", b))?;
    }
    let entity_id = f.entity_id.unwrap_or(site.entity_id);
    check_target(caller, entity_id, "entity_id")?;
    Ok(inv::room_input(RoomInput {
        site_id: f.site_id,
        building_id: f.building_id,
        entity_id,
        name: f.name,
        grid_rows: f.grid_rows,
        grid_cols: f.grid_cols,
        power_capacity_w: f.power_capacity_w,
        cooling_capacity_w: f.cooling_capacity_w,
        notes: f.notes,
    })?)
}

pub fn room_fields(r: &Room) -> RoomFields {
    RoomFields {
        site_id: r.site_id,
        building_id: r.building_id,
        entity_id: Some(r.entity_id),
        name: r.name.clone(),
        grid_rows: r.grid_rows,
        grid_cols: r.grid_cols,
        power_capacity_w: r.power_capacity_w,
        cooling_capacity_w: r.cooling_capacity_w,
        notes: r.notes.clone(),
    }
}

pub async fn create_room(st: &AppState, caller: &Caller, f: RoomFields) -> Result<Room, AppError> {
    let input = room_input(st, caller, f).await?;
    st.store
        .create_room(&caller.actor(), &input)
        .await
        .map_err(|e| AppError::from_store("room", e))
}

pub async fn update_room(
    st: &AppState,
    caller: &Caller,
    id: i64,
    patch: Patch,
) -> Result<Room, AppError> {
    let current = get_room(st, caller, id, Level::Edit).await?;
    let input = room_input(st, caller, merge(&room_fields(&current), patch)?).await?;
    st.store
        .update_room(&caller.actor(), id, &input)
        .await
        .map_err(|e| AppError::from_store("room", e))
}

pub async fn delete_room(st: &AppState, caller: &Caller, id: i64) -> Result<(), AppError> {
    get_room(st, caller, id, Level::Edit).await?;
    st.store
        .delete_room(&caller.actor(), id)
        .await
        .map_err(|e| AppError::from_store("room", e))
}

pub async fn list_racks(st: &AppState, caller: &Caller) -> Result<Vec<Rack>, AppError> {
    Ok(st
        .store
        .list_racks(&caller.visible(Domain::Inventory))
        .await?)
}

pub async fn get_rack(
    st: &AppState,
    caller: &Caller,
    id: i64,
    level: Level,
) -> Result<Rack, AppError> {
    let r = st
        .store
        .get_rack(id)
        .await
        .map_err(|e| AppError::from_store("rack", e))?;
    caller.check(Domain::Inventory, level, r.entity_id, "rack")?;
    Ok(r)
}

async fn rack_input(st: &AppState, caller: &Caller, f: RackFields) -> Result<RackInput, AppError> {
    let room = get_room(st, caller, f.room_id, Level::Read)
        .await
        .map_err(|_| hidden("room_id", "room", f.room_id))?;
    let entity_id = f.entity_id.unwrap_or(room.entity_id);
    check_target(caller, entity_id, "entity_id")?;
    Ok(inv::rack_input(RackInput {
        room_id: f.room_id,
        entity_id,
        name: f.name,
        height_u: f.height_u.unwrap_or(42),
        grid_row: f.grid_row,
        grid_col: f.grid_col,
        max_power_w: f.max_power_w,
        comment: f.comment,
    })?)
}

pub fn rack_fields(r: &Rack) -> RackFields {
    RackFields {
        room_id: r.room_id,
        entity_id: Some(r.entity_id),
        name: r.name.clone(),
        height_u: Some(r.height_u),
        grid_row: r.grid_row,
        grid_col: r.grid_col,
        max_power_w: r.max_power_w,
        comment: r.comment.clone(),
    }
}

pub async fn create_rack(st: &AppState, caller: &Caller, f: RackFields) -> Result<Rack, AppError> {
    let input = rack_input(st, caller, f).await?;
    st.store
        .create_rack(&caller.actor(), &input)
        .await
        .map_err(|e| AppError::from_store("rack", e))
}

pub async fn update_rack(
    st: &AppState,
    caller: &Caller,
    id: i64,
    patch: Patch,
) -> Result<Rack, AppError> {
    let current = get_rack(st, caller, id, Level::Edit).await?;
    let input = rack_input(st, caller, merge(&rack_fields(&current), patch)?).await?;
    st.store
        .update_rack(&caller.actor(), id, &input)
        .await
        .map_err(|e| AppError::from_store("rack", e))
}

pub async fn delete_rack(st: &AppState, caller: &Caller, id: i64) -> Result<(), AppError> {
    get_rack(st, caller, id, Level::Edit).await?;
    st.store
        .delete_rack(&caller.actor(), id)
        .await
        .map_err(|e| AppError::from_store("rack", e))
}
