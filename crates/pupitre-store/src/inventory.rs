//! The inventory's storage interface: locations, assets, relations and software.

use async_trait::async_trait;
use pupitre_core::audit::Actor;
use pupitre_core::inventory::{
    Asset, AssetId, AssetInput, AssetType, Building, BuildingInput, OsFamily, Rack, RackInput,
    Relation, RelationInput, Room, RoomInput, Site, SiteInput, Software, Status,
};
use pupitre_core::permission::EntityId;

use crate::{Page, Result};

/// Which assets a list shows. Every condition is ANDed.
#[derive(Clone, Debug, Default)]
pub struct AssetFilter {
    /// Only assets whose entity is in this list (the caller's visible entities).
    pub visible: Vec<EntityId>,
    pub entity_id: Option<EntityId>,
    pub asset_type: Option<AssetType>,
    pub status: Option<Status>,
    pub os_family: Option<OsFamily>,
    pub site_id: Option<i64>,
    pub room_id: Option<i64>,
    pub rack_id: Option<i64>,
    pub owner_team_id: Option<i64>,
    pub tag: Option<String>,
    /// Exact, case-insensitive manufacturer.
    pub manufacturer: Option<String>,
    /// Words of the global search: each must prefix one of the asset's search terms
    /// (name, host name, serial, asset tag, UUID, MAC, IP, tag).
    pub query: Vec<String>,
    /// Installed software: lower-case name, and optional version prefix.
    pub software: Option<(String, Option<String>)>,
    /// `Some(true)` lists only the quarantine; `None` and `Some(false)` hide it.
    pub quarantined: Option<bool>,
}

/// Keys that identify a machine across imports and agent runs, strongest first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct AssetKeys {
    pub asset_type: Option<AssetType>,
    pub serial: String,
    pub uuid: String,
    pub asset_tag: String,
    pub hostname: String,
    pub device_id: String,
}

/// An agent's report applied to an asset, with its software, in one transaction.
#[derive(Clone, Debug)]
pub struct InventoryUpdate {
    /// The asset to update, or `None` to create one.
    pub asset_id: Option<AssetId>,
    pub input: AssetInput,
    pub software: Vec<Software>,
    pub device_id: String,
}

/// One installation of a software version on an asset, for "who runs openssl 1.1?".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Installation {
    pub asset_id: AssetId,
    pub asset_name: String,
    pub entity_id: EntityId,
    pub software: Software,
}

#[async_trait]
pub trait InventoryStore: Send + Sync {
    async fn list_sites(&self, visible: &[EntityId]) -> Result<Vec<Site>>;
    async fn get_site(&self, id: i64) -> Result<Site>;
    async fn create_site(&self, actor: &Actor, input: &SiteInput) -> Result<Site>;
    async fn update_site(&self, actor: &Actor, id: i64, input: &SiteInput) -> Result<Site>;
    async fn delete_site(&self, actor: &Actor, id: i64) -> Result<()>;

    async fn list_buildings(&self, visible: &[EntityId]) -> Result<Vec<Building>>;
    async fn get_building(&self, id: i64) -> Result<Building>;
    async fn create_building(&self, actor: &Actor, input: &BuildingInput) -> Result<Building>;
    async fn update_building(
        &self,
        actor: &Actor,
        id: i64,
        input: &BuildingInput,
    ) -> Result<Building>;
    async fn delete_building(&self, actor: &Actor, id: i64) -> Result<()>;

    async fn list_rooms(&self, visible: &[EntityId]) -> Result<Vec<Room>>;
    async fn get_room(&self, id: i64) -> Result<Room>;
    async fn create_room(&self, actor: &Actor, input: &RoomInput) -> Result<Room>;
    async fn update_room(&self, actor: &Actor, id: i64, input: &RoomInput) -> Result<Room>;
    async fn delete_room(&self, actor: &Actor, id: i64) -> Result<()>;

    async fn list_racks(&self, visible: &[EntityId]) -> Result<Vec<Rack>>;
    async fn get_rack(&self, id: i64) -> Result<Rack>;
    async fn create_rack(&self, actor: &Actor, input: &RackInput) -> Result<Rack>;
    async fn update_rack(&self, actor: &Actor, id: i64, input: &RackInput) -> Result<Rack>;
    async fn delete_rack(&self, actor: &Actor, id: i64) -> Result<()>;

    async fn list_assets(&self, filter: &AssetFilter, page: Page) -> Result<Vec<Asset>>;
    async fn count_assets(&self, filter: &AssetFilter) -> Result<i64>;
    /// Counts matching assets, stopping at `cap`: a list's header stays cheap on a large fleet.
    async fn count_assets_upto(&self, filter: &AssetFilter, cap: i64) -> Result<i64>;
    async fn get_asset(&self, id: AssetId) -> Result<Asset>;
    async fn get_assets(&self, ids: &[AssetId]) -> Result<Vec<Asset>>;
    /// The asset these keys designate: by device id, then UUID, serial (within the type
    /// when given), asset tag, and host name. `None` when nothing matches.
    async fn find_asset(&self, keys: &AssetKeys) -> Result<Option<Asset>>;
    /// [`find_asset`](Self::find_asset) for each of `keys`, in a handful of queries.
    async fn find_assets(&self, keys: &[AssetKeys]) -> Result<Vec<Option<Asset>>>;
    /// Creates the asset after checking its location and rack units, in one transaction
    /// with its audit record.
    async fn create_asset(&self, actor: &Actor, input: &AssetInput) -> Result<Asset>;
    async fn update_asset(&self, actor: &Actor, id: AssetId, input: &AssetInput) -> Result<Asset>;
    /// Creates (`None`) or updates (`Some(id)`) every asset of `batch`, in order, in one
    /// transaction: all or nothing. Each change writes its own audit record, as
    /// [`create_asset`](Self::create_asset) and [`update_asset`](Self::update_asset) do.
    async fn write_assets(
        &self,
        actor: &Actor,
        batch: &[(Option<AssetId>, AssetInput)],
    ) -> Result<Vec<Asset>>;
    /// The attribute keys used by the assets `filter` selects, sorted (the columns of an
    /// export).
    async fn asset_attribute_keys(&self, filter: &AssetFilter) -> Result<Vec<String>>;
    async fn delete_asset(&self, actor: &Actor, id: AssetId) -> Result<()>;
    /// Creates or updates an asset from an agent's report, and replaces its software.
    /// Returns the asset and whether it was created.
    async fn apply_inventory(
        &self,
        actor: &Actor,
        update: &InventoryUpdate,
    ) -> Result<(Asset, bool)>;

    /// Relations with either end in `ids`.
    async fn list_relations(&self, ids: &[AssetId]) -> Result<Vec<Relation>>;
    async fn get_relation(&self, id: i64) -> Result<Relation>;
    /// Creates the relation; a `runs_on`/`depends_on` edge that would close a cycle is
    /// rejected with a conflict naming the path.
    async fn create_relation(&self, actor: &Actor, input: &RelationInput) -> Result<Relation>;
    async fn delete_relation(&self, actor: &Actor, id: i64) -> Result<()>;

    async fn list_software(&self, asset_id: AssetId) -> Result<Vec<Software>>;
    async fn count_software(&self, asset_id: AssetId) -> Result<i64>;
    /// Installations of software whose lower-case name is `name` (and whose version starts
    /// with `version`), on assets in `visible`.
    async fn find_installations(
        &self,
        visible: &[EntityId],
        name: &str,
        version: Option<&str>,
        page: Page,
    ) -> Result<Vec<Installation>>;
}
