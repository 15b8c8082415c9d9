//! Inventory endpoints: locations, assets, relations, the dependency graph, software, and
//! the automatic-inventory endpoint that field agents post to.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use pupitre_core::inventory::{
    Asset, AssetType, Building, FieldLock, OsFamily, Rack, Relation, RelationKind, Room, Site,
    Status,
};
use pupitre_core::permission::Level;
use pupitre_intake::decode::{self, Encoding};
use pupitre_intake::{IntakeError, glpi, ocs};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::views::rfc3339;
use crate::auth::{self, Caller, source_of};
use crate::error::AppError;
use crate::extract::{ApiJson, ApiQuery, Id};
use crate::ops::assets::{AssetFields, AssetListParams, InstallationParams, RelationFields};
use crate::ops::locations::{
    BuildingFields, Patch, RackFields, RoomFields, SiteFields, building_fields, rack_fields,
    room_fields, site_fields,
};
use crate::ops::{assets, intake, locations};
use crate::state::AppState;

type ApiResult<T> = Result<Json<T>, AppError>;

/// Largest inventory accepted once decompressed.
pub const MAX_INVENTORY_BYTES: usize = 64 * 1024 * 1024;

#[derive(Serialize, ToSchema)]
pub struct Located<F> {
    pub id: i64,
    #[serde(flatten)]
    pub fields: F,
    pub created_at: String,
    pub updated_at: String,
}

pub type SiteView = Located<SiteFields>;
pub type BuildingView = Located<BuildingFields>;
pub type RoomView = Located<RoomFields>;
pub type RackView = Located<RackFields>;

fn site_view(s: &Site) -> SiteView {
    Located {
        id: s.id,
        fields: site_fields(s),
        created_at: rfc3339(s.created_at),
        updated_at: rfc3339(s.updated_at),
    }
}
fn building_view(b: &Building) -> BuildingView {
    Located {
        id: b.id,
        fields: building_fields(b),
        created_at: rfc3339(b.created_at),
        updated_at: rfc3339(b.updated_at),
    }
}
fn room_view(r: &Room) -> RoomView {
    Located {
        id: r.id,
        fields: room_fields(r),
        created_at: rfc3339(r.created_at),
        updated_at: rfc3339(r.updated_at),
    }
}
fn rack_view(r: &Rack) -> RackView {
    Located {
        id: r.id,
        fields: rack_fields(r),
        created_at: rfc3339(r.created_at),
        updated_at: rfc3339(r.updated_at),
    }
}

/// Declares list, create, get, update and delete handlers for one kind of location.
macro_rules! location_api {
    ($path:literal, $item:literal, $tag:literal, $fields:ty, $view:ty, $to_view:ident,
     $list:ident, $create:ident, $get:ident, $update:ident, $delete:ident,
     ops: $o_list:ident, $o_create:ident, $o_get:ident, $o_update:ident, $o_delete:ident) => {
        #[utoipa::path(get, path = $path, tag = $tag, responses((status = 200, body = Vec<$view>)))]
        pub async fn $list(State(st): State<AppState>, caller: Caller) -> ApiResult<Vec<$view>> {
            Ok(Json(
                locations::$o_list(&st, &caller)
                    .await?
                    .iter()
                    .map($to_view)
                    .collect(),
            ))
        }

        #[utoipa::path(post, path = $path, tag = $tag, request_body = $fields,
                                    responses((status = 201, body = $view)))]
        pub async fn $create(
            State(st): State<AppState>,
            caller: Caller,
            ApiJson(f): ApiJson<$fields>,
        ) -> Result<(StatusCode, Json<$view>), AppError> {
            let created = locations::$o_create(&st, &caller, f).await?;
            Ok((StatusCode::CREATED, Json($to_view(&created))))
        }

        #[utoipa::path(get, path = $item, tag = $tag,
                                    params(("id" = i64, Path, description = "The object's id")),
                                    responses((status = 200, body = $view)))]
        pub async fn $get(
            State(st): State<AppState>,
            caller: Caller,
            Id(id): Id,
        ) -> ApiResult<$view> {
            Ok(Json($to_view(
                &locations::$o_get(&st, &caller, id, Level::Read).await?,
            )))
        }

        #[utoipa::path(patch, path = $item, tag = $tag, request_body = $fields,
                                    params(("id" = i64, Path, description = "The object's id")),
                                    responses((status = 200, body = $view)))]
        pub async fn $update(
            State(st): State<AppState>,
            caller: Caller,
            Id(id): Id,
            ApiJson(patch): ApiJson<Patch>,
        ) -> ApiResult<$view> {
            Ok(Json($to_view(
                &locations::$o_update(&st, &caller, id, patch).await?,
            )))
        }

        #[utoipa::path(delete, path = $item, tag = $tag,
                                    params(("id" = i64, Path, description = "The object's id")),
                                    responses((status = 204)))]
        pub async fn $delete(
            State(st): State<AppState>,
            caller: Caller,
            Id(id): Id,
        ) -> Result<StatusCode, AppError> {
            locations::$o_delete(&st, &caller, id).await?;
            Ok(StatusCode::NO_CONTENT)
        }
    };
}

location_api!("/api/v1/sites", "/api/v1/sites/{id}", "locations", SiteFields, SiteView, site_view,
    list_sites, create_site, get_site, update_site, delete_site,
    ops: list_sites, create_site, get_site, update_site, delete_site);
location_api!("/api/v1/buildings", "/api/v1/buildings/{id}", "locations", BuildingFields, BuildingView, building_view,
    list_buildings, create_building, get_building, update_building, delete_building,
    ops: list_buildings, create_building, get_building, update_building, delete_building);
location_api!("/api/v1/rooms", "/api/v1/rooms/{id}", "locations", RoomFields, RoomView, room_view,
    list_rooms, create_room, get_room, update_room, delete_room,
    ops: list_rooms, create_room, get_room, update_room, delete_room);
location_api!("/api/v1/racks", "/api/v1/racks/{id}", "locations", RackFields, RackView, rack_view,
    list_racks, create_rack, get_rack, update_rack, delete_rack,
    ops: list_racks, create_rack, get_rack, update_rack, delete_rack);

#[derive(Serialize, ToSchema)]
pub struct AssetView {
    pub id: i64,
    #[serde(flatten)]
    pub fields: AssetFields,
    /// Reported by an inventory agent and awaiting approval.
    pub quarantined: bool,
    /// Fields the inventory agent keeps up to date (manual edits refused until unlocked).
    pub agent_fields: Vec<String>,
    /// Agent fields a person has taken over.
    pub manual_fields: Vec<String>,
    pub last_inventory_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Asset> for AssetView {
    fn from(a: &Asset) -> AssetView {
        let locked = |l: FieldLock| {
            a.locks
                .iter()
                .filter(|(_, v)| **v == l)
                .map(|(k, _)| k.clone())
                .collect()
        };
        AssetView {
            id: a.id,
            fields: AssetFields::of(&a.clone().into()),
            quarantined: a.quarantined,
            agent_fields: locked(FieldLock::Agent),
            manual_fields: locked(FieldLock::Manual),
            last_inventory_at: a.last_inventory_at.map(rfc3339),
            created_at: rfc3339(a.created_at),
            updated_at: rfc3339(a.updated_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AssetList {
    pub items: Vec<AssetView>,
    pub next_cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/assets", tag = "assets", params(AssetListParams),
    responses((status = 200, body = AssetList)))]
pub async fn list_assets(
    State(st): State<AppState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<AssetListParams>,
) -> ApiResult<AssetList> {
    let (assets, next_cursor) = assets::list(&st, &caller, &p).await?;
    Ok(Json(AssetList {
        items: assets.iter().map(AssetView::from).collect(),
        next_cursor,
    }))
}

#[utoipa::path(post, path = "/api/v1/assets", tag = "assets", request_body = AssetFields,
    responses((status = 201, body = AssetView)))]
pub async fn create_asset(
    State(st): State<AppState>,
    caller: Caller,
    ApiJson(f): ApiJson<AssetFields>,
) -> Result<(StatusCode, Json<AssetView>), AppError> {
    let a = assets::create(&st, &caller, f).await?;
    Ok((StatusCode::CREATED, Json(AssetView::from(&a))))
}

#[utoipa::path(get, path = "/api/v1/assets/{id}", tag = "assets",
    params(("id" = i64, Path, description = "The object's id")),
    responses((status = 200, body = AssetView)))]
pub async fn get_asset(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> ApiResult<AssetView> {
    Ok(Json(AssetView::from(
        &assets::get(&st, &caller, id, Level::Read).await?,
    )))
}

#[utoipa::path(patch, path = "/api/v1/assets/{id}", tag = "assets",
    request_body(content = AssetFields, description = "Any asset fields; those given replace \
        the stored ones. Two more keys take lists of agent-managed field names: `unlock` hands \
        them to people (the agent leaves them alone afterwards), `relock` gives them back."),
    params(("id" = i64, Path, description = "The object's id")),
    responses((status = 200, body = AssetView)))]
pub async fn update_asset(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    ApiJson(patch): ApiJson<Patch>,
) -> ApiResult<AssetView> {
    Ok(Json(AssetView::from(
        &assets::update(&st, &caller, id, patch).await?,
    )))
}

#[utoipa::path(delete, path = "/api/v1/assets/{id}", tag = "assets",
    params(("id" = i64, Path, description = "The object's id")),
    responses((status = 204)))]
pub async fn delete_asset(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> Result<StatusCode, AppError> {
    assets::delete(&st, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/assets/{id}/approve", tag = "assets",
    params(("id" = i64, Path, description = "The object's id")),
    responses((status = 200, body = AssetView)))]
pub async fn approve_asset(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> ApiResult<AssetView> {
    Ok(Json(AssetView::from(
        &assets::approve(&st, &caller, id).await?,
    )))
}

#[derive(Serialize, ToSchema)]
pub struct RelationView {
    pub id: i64,
    pub kind: String,
    pub from_id: i64,
    pub to_id: i64,
    pub from_port: String,
    pub to_port: String,
    pub cable_id: String,
    pub comment: String,
    pub created_at: String,
}

impl From<&Relation> for RelationView {
    fn from(r: &Relation) -> RelationView {
        RelationView {
            id: r.id,
            kind: r.kind.key().to_owned(),
            from_id: r.from_id,
            to_id: r.to_id,
            from_port: r.from_port.clone(),
            to_port: r.to_port.clone(),
            cable_id: r.cable_id.clone(),
            comment: r.comment.clone(),
            created_at: rfc3339(r.created_at),
        }
    }
}

#[utoipa::path(get, path = "/api/v1/assets/{id}/relations", tag = "assets",
    params(("id" = i64, Path, description = "The object's id")),
    responses((status = 200, body = Vec<RelationView>)))]
pub async fn asset_relations(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> ApiResult<Vec<RelationView>> {
    let asset = assets::get(&st, &caller, id, Level::Read).await?;
    let (rels, _) = assets::relations(&st, &caller, &asset).await?;
    Ok(Json(rels.iter().map(RelationView::from).collect()))
}

#[utoipa::path(post, path = "/api/v1/relations", tag = "assets", request_body = RelationFields,
    responses((status = 201, body = RelationView)))]
pub async fn create_relation(
    State(st): State<AppState>,
    caller: Caller,
    ApiJson(f): ApiJson<RelationFields>,
) -> Result<(StatusCode, Json<RelationView>), AppError> {
    let r = assets::create_relation(&st, &caller, f).await?;
    Ok((StatusCode::CREATED, Json(RelationView::from(&r))))
}

#[utoipa::path(delete, path = "/api/v1/relations/{id}", tag = "assets",
    params(("id" = i64, Path, description = "The object's id")),
    responses((status = 204)))]
pub async fn delete_relation(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> Result<StatusCode, AppError> {
    assets::delete_relation(&st, &caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct GraphNodeView {
    pub asset_id: i64,
    pub name: String,
    pub asset_type: String,
    /// `upstream` (what the asset needs) or `downstream` (what needs it).
    pub direction: String,
    pub depth: u32,
    pub via: i64,
    pub kind: String,
}

#[derive(Serialize, ToSchema)]
pub struct GraphView {
    pub asset_id: i64,
    pub nodes: Vec<GraphNodeView>,
    pub relations: Vec<RelationView>,
    /// The walk stopped at its node limit.
    pub truncated: bool,
}

#[utoipa::path(get, path = "/api/v1/assets/{id}/graph", tag = "assets",
    params(("id" = i64, Path, description = "The object's id")),
    responses((status = 200, body = GraphView)))]
pub async fn asset_graph(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> ApiResult<GraphView> {
    let (graph, assets) = assets::impact_graph(&st, &caller, id).await?;
    let nodes = graph
        .nodes
        .iter()
        .filter_map(|n| {
            let a = assets.get(&n.asset_id)?;
            Some(GraphNodeView {
                asset_id: n.asset_id,
                name: a.name.clone(),
                asset_type: a.asset_type.key().to_owned(),
                direction: match n.direction {
                    pupitre_core::inventory::Direction::Upstream => "upstream",
                    pupitre_core::inventory::Direction::Downstream => "downstream",
                }
                .to_owned(),
                depth: n.depth,
                via: n.via,
                kind: n.kind.key().to_owned(),
            })
        })
        .collect();
    let relations = graph
        .edges
        .iter()
        .map(|e| RelationView {
            id: e.relation_id,
            kind: e.kind.key().to_owned(),
            from_id: e.from_id,
            to_id: e.to_id,
            from_port: String::new(),
            to_port: String::new(),
            cable_id: String::new(),
            comment: String::new(),
            created_at: String::new(),
        })
        .collect();
    Ok(Json(GraphView {
        asset_id: id,
        nodes,
        relations,
        truncated: graph.truncated,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct SoftwareView {
    pub name: String,
    pub version: String,
    pub publisher: String,
}

#[utoipa::path(get, path = "/api/v1/assets/{id}/software", tag = "assets",
    params(("id" = i64, Path, description = "The object's id")),
    responses((status = 200, body = Vec<SoftwareView>)))]
pub async fn asset_software(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
) -> ApiResult<Vec<SoftwareView>> {
    let list = assets::software(&st, &caller, id).await?;
    Ok(Json(
        list.into_iter()
            .map(|s| SoftwareView {
                name: s.name,
                version: s.version,
                publisher: s.publisher,
            })
            .collect(),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct InstallationView {
    pub asset_id: i64,
    pub asset_name: String,
    pub entity_id: i64,
    pub name: String,
    pub version: String,
    pub publisher: String,
}

#[derive(Serialize, ToSchema)]
pub struct InstallationList {
    pub items: Vec<InstallationView>,
    pub next_cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/software/installations", tag = "assets",
    params(InstallationParams),
    responses((status = 200, body = InstallationList)))]
pub async fn installations(
    State(st): State<AppState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<InstallationParams>,
) -> ApiResult<InstallationList> {
    let (list, next_cursor) = assets::installations(&st, &caller, &p).await?;
    Ok(Json(InstallationList {
        items: list
            .into_iter()
            .map(|i| InstallationView {
                asset_id: i.asset_id,
                asset_name: i.asset_name,
                entity_id: i.entity_id,
                name: i.software.name,
                version: i.software.version,
                publisher: i.software.publisher,
            })
            .collect(),
        next_cursor,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct Term {
    pub key: String,
    pub label: String,
}

#[derive(Serialize, ToSchema)]
pub struct Vocabulary {
    pub asset_types: Vec<Term>,
    pub statuses: Vec<String>,
    pub os_families: Vec<Term>,
    pub linux_distributions: Vec<String>,
    pub relation_kinds: Vec<String>,
}

#[utoipa::path(get, path = "/api/v1/inventory/vocabulary", tag = "assets",
    responses((status = 200, body = Vocabulary)))]
pub async fn vocabulary() -> Json<Vocabulary> {
    Json(Vocabulary {
        asset_types: AssetType::ALL
            .iter()
            .map(|t| Term {
                key: t.key().to_owned(),
                label: t.group().key().to_owned(),
            })
            .collect(),
        statuses: Status::ALL.iter().map(|s| s.key().to_owned()).collect(),
        os_families: OsFamily::ALL
            .iter()
            .map(|f| Term {
                key: f.key().to_owned(),
                label: f.label().to_owned(),
            })
            .collect(),
        linux_distributions: pupitre_core::inventory::LINUX_DISTRIBUTIONS
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
        relation_kinds: RelationKind::ALL
            .iter()
            .map(|k| k.key().to_owned())
            .collect(),
    })
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AgentParams {
    /// Entity that new machines go to (default: the token owner's entity).
    pub entity_id: Option<i64>,
}

#[utoipa::path(post, path = "/api/v1/inventory/agent", tag = "assets", params(AgentParams),
    request_body(content = Vec<u8>, content_type = "application/x-compress-zlib",
        description = "An OCS XML message (PROLOG or INVENTORY) or a GLPI Agent JSON message \
        (contact or inventory), zlib-, gzip- or not compressed."),
    responses((status = 200, description = "The protocol's reply, in the request's encoding")))]
/// The endpoint FusionInventory and GLPI agents post to (`--server URL`). Authenticate with
/// an API token as the HTTP Basic password (`--user anything --password <token>`): the agent
/// sends it after the server's 401 challenge. Bodies may be zlib, gzip or plain.
pub async fn agent_inventory(
    State(st): State<AppState>,
    Query(p): Query<AgentParams>,
    req: axum::extract::Request,
) -> Response {
    let source = source_of(req.extensions());
    let caller = match auth::resolve(&st, req.headers(), source.clone()).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            // Agents send their inventory first without credentials, then again with them on
            // the same kept-alive connection: the body is read before the challenge, since a
            // server that answers with a body unread closes the connection, and the agent's
            // second attempt then fails on it ("wrong credentials" in FusionInventory's log).
            let _ = axum::body::to_bytes(req.into_body(), st.config.max_body_bytes).await;
            let mut resp = AppError::unauthenticated().into_response();
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Basic realm=\"Pupitre inventory\""),
            );
            return resp;
        }
        Err(e) => return e.into_response(),
    };
    let body = req.into_body();
    let body = match axum::body::to_bytes(body, st.config.max_body_bytes).await {
        Ok(b) => b,
        Err(_) => {
            return AppError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                "the inventory upload is too large",
            )
            .into_response();
        }
    };
    let entity = p.entity_id.unwrap_or(caller.user.entity_id);
    match receive(&st, &caller, &body, entity).await {
        Ok(resp) => resp,
        Err(e) => {
            tracing::warn!(%source, user = %caller.user.login, error = %e, "inventory upload rejected");
            e.into_response()
        }
    }
}

fn intake_error(e: IntakeError) -> AppError {
    match e {
        IntakeError::TooLarge { .. } => {
            AppError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", e.to_string())
        }
        other => AppError::bad_request(format!("inventory upload: {other}")),
    }
}

async fn receive(
    st: &AppState,
    caller: &Caller,
    body: &Bytes,
    entity: i64,
) -> Result<Response, AppError> {
    let (encoding, plain) = decode::decompress(body, MAX_INVENTORY_BYTES).map_err(intake_error)?;
    if pupitre_intake::is_json(&plain) {
        let reply = match glpi::parse(&plain).map_err(intake_error)? {
            glpi::GlpiRequest::Contact { .. } => glpi::contact_reply(24),
            glpi::GlpiRequest::Inventory(report) => {
                intake::apply_report(st, caller, &report, entity).await?;
                glpi::inventory_reply()
            }
            glpi::GlpiRequest::Other { action } => {
                glpi::error_reply(&format!("action {action} is not supported"))
            }
        };
        return Ok(reply_in(encoding, "application/json", reply.into_bytes()));
    }
    let reply = match ocs::parse(&plain).map_err(intake_error)? {
        ocs::OcsRequest::Prolog { .. } => ocs::prolog_reply(true, 24),
        ocs::OcsRequest::Inventory(report) => {
            let applied = intake::apply_report(st, caller, &report, entity).await?;
            tracing::info!(
                asset = applied.asset.id,
                created = applied.created,
                software = applied.software,
                device = %report.device_id,
                "inventory received"
            );
            ocs::inventory_reply()
        }
        ocs::OcsRequest::Other { query } => {
            return Err(AppError::bad_request(format!(
                "OCS query {query} is not supported"
            )));
        }
    };
    Ok(reply_in(encoding, "application/xml", reply.into_bytes()))
}

/// Answers in the encoding the agent used: agents sniff the reply's first bytes.
fn reply_in(encoding: Encoding, plain_type: &'static str, body: Vec<u8>) -> Response {
    let content_type = match encoding {
        Encoding::Zlib => "application/x-compress-zlib",
        Encoding::Gzip => "application/x-compress-gzip",
        Encoding::Plain => plain_type,
    };
    (
        [(header::CONTENT_TYPE, content_type)],
        decode::compress(encoding, &body),
    )
        .into_response()
}

#[derive(OpenApi)]
#[openapi(paths(
    list_sites,
    create_site,
    get_site,
    update_site,
    delete_site,
    list_buildings,
    create_building,
    get_building,
    update_building,
    delete_building,
    list_rooms,
    create_room,
    get_room,
    update_room,
    delete_room,
    list_racks,
    create_rack,
    get_rack,
    update_rack,
    delete_rack,
    list_assets,
    create_asset,
    get_asset,
    update_asset,
    delete_asset,
    approve_asset,
    asset_relations,
    create_relation,
    delete_relation,
    asset_graph,
    asset_software,
    installations,
    vocabulary,
    agent_inventory,
    super::inventory_csv::export_assets,
    super::inventory_csv::import_assets,
    super::inventory_csv::import_job,
))]
pub struct InventoryDoc;
