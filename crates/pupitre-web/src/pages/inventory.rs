//! Inventory pages: the asset list and search, asset pages with their dependency graph and
//! history, asset forms, locations, machine-room floor plans and rack elevations.

use std::collections::BTreeMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use pupitre_core::audit::AuditRecord;
use pupitre_core::inventory::{
    AGENT_FIELDS, Asset, AssetType, Building, Direction, FieldLock, OsFamily, Rack, RelationKind,
    Room, Site, Software, Status, cents_to_text,
};
use pupitre_core::model::{Entity, Team};
use pupitre_core::permission::Access;
use pupitre_core::permission::Domain::Inventory;
use pupitre_core::permission::Level::{Edit, Read};
use serde::Deserialize;

use super::{Choice, Done, FormData, Frame, PageResult, perr, see_other, split_error};
use crate::auth::Caller;
use crate::error::AppError;
use crate::extract::Id;
use crate::ops::assets::{
    AssetFields, AssetListParams, DiskFields, InterfaceFields, RelationFields,
};
use crate::ops::locations::{BuildingFields, Patch, RackFields, RoomFields, SiteFields};
use crate::ops::{self, assets, locations};
use crate::routes::{RouteDef, page};
use crate::state::AppState;

/// Names of the locations, teams and entities a page shows instead of ids.
struct Places {
    sites: Vec<Site>,
    buildings: Vec<Building>,
    rooms: Vec<Room>,
    racks: Vec<Rack>,
    teams: Vec<Team>,
    entities: Vec<Entity>,
}

impl Places {
    async fn load(st: &AppState, caller: &Caller) -> Result<Places, AppError> {
        Ok(Places {
            sites: locations::list_sites(st, caller).await?,
            buildings: locations::list_buildings(st, caller).await?,
            rooms: locations::list_rooms(st, caller).await?,
            racks: locations::list_racks(st, caller).await?,
            teams: st
                .store
                .list_teams(&caller.visible(pupitre_core::permission::Domain::Administration))
                .await?,
            entities: st.store.list_entities().await?,
        })
    }

    /// Sites, rooms and racks only: what a list of assets names.
    async fn for_list(st: &AppState, caller: &Caller) -> Result<Places, AppError> {
        Ok(Places {
            sites: locations::list_sites(st, caller).await?,
            buildings: Vec::new(),
            rooms: locations::list_rooms(st, caller).await?,
            racks: locations::list_racks(st, caller).await?,
            teams: Vec::new(),
            entities: Vec::new(),
        })
    }

    fn site(&self, id: Option<i64>) -> String {
        id.and_then(|id| self.sites.iter().find(|s| s.id == id))
            .map(|s| s.name.clone())
            .unwrap_or_default()
    }

    fn room(&self, id: Option<i64>) -> String {
        id.and_then(|id| self.rooms.iter().find(|s| s.id == id))
            .map(|s| s.name.clone())
            .unwrap_or_default()
    }

    fn rack(&self, id: Option<i64>) -> String {
        id.and_then(|id| self.racks.iter().find(|s| s.id == id))
            .map(|s| s.name.clone())
            .unwrap_or_default()
    }

    fn team(&self, id: Option<i64>) -> String {
        id.and_then(|id| self.teams.iter().find(|t| t.id == id))
            .map(|t| t.name.clone())
            .unwrap_or_default()
    }

    fn entity(&self, id: i64) -> String {
        self.entities
            .iter()
            .find(|e| e.id == id)
            .map_or_else(|| format!("#{id}"), |e| e.name.clone())
    }

    /// "Site › Room › Rack U12 (front)", or the note of a place outside any rack.
    fn location(&self, a: &Asset, f: &Frame) -> String {
        let mut parts = Vec::new();
        for p in [
            self.site(a.site_id),
            self.room(a.room_id),
            self.rack(a.rack_id),
        ] {
            if !p.is_empty() {
                parts.push(p);
            }
        }
        let mut text = parts.join(" › ");
        if let Some(u) = a.rack_u {
            let top = u + a.height_u.max(1) - 1;
            let units = if top > u {
                format!("U{u}–U{top}")
            } else {
                format!("U{u}")
            };
            let face = a
                .rack_face
                .map(|x| f.t(&format!("face.{}", x.key())))
                .unwrap_or_default();
            text.push_str(&format!(" {units} {face}"));
        }
        if !a.location_note.is_empty() {
            if !text.is_empty() {
                text.push_str(" — ");
            }
            text.push_str(&a.location_note);
        }
        text
    }

    /// Racks as "Site › Room › Rack" for a select, in that order.
    fn rack_choices(&self) -> Vec<(i64, String)> {
        let mut list: Vec<(i64, String)> = self
            .racks
            .iter()
            .map(|r| {
                (
                    r.id,
                    format!(
                        "{} › {} › {}",
                        self.site(Some(r.site_id)),
                        self.room(Some(r.room_id)),
                        r.name
                    ),
                )
            })
            .collect();
        list.sort_by(|a, b| a.1.cmp(&b.1));
        list
    }

    fn room_choices(&self) -> Vec<(i64, String)> {
        let mut list: Vec<(i64, String)> = self
            .rooms
            .iter()
            .map(|r| (r.id, format!("{} › {}", self.site(Some(r.site_id)), r.name)))
            .collect();
        list.sort_by(|a, b| a.1.cmp(&b.1));
        list
    }
}

/// The options of `list`, `current` selected.
fn choices(list: impl IntoIterator<Item = (String, String)>, current: &str) -> Vec<Choice> {
    super::choices(list, |v| v == current)
}

fn type_choices(f: &Frame, current: &str) -> Vec<Choice> {
    choices(
        AssetType::ALL.iter().map(|t| {
            (
                t.key().to_owned(),
                format!(
                    "{} — {}",
                    f.t(&format!("group.{}", t.group().key())),
                    f.t(&format!("asset_type.{}", t.key()))
                ),
            )
        }),
        current,
    )
}

fn status_choices(f: &Frame, current: &str) -> Vec<Choice> {
    choices(
        Status::ALL
            .iter()
            .map(|s| (s.key().to_owned(), f.t(&format!("status.{}", s.key())))),
        current,
    )
}

fn os_choices(current: &str) -> Vec<Choice> {
    choices(
        OsFamily::ALL
            .iter()
            .map(|o| (o.key().to_owned(), o.label().to_owned())),
        current,
    )
}

// ---------------------------------------------------------------- list

/// Lists count matching assets up to this many, and show "1000+" beyond.
const COUNT_CAP: i64 = 1_000;

/// One row of the asset list.
pub struct Row {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub status_key: &'static str,
    pub status: String,
    pub hostname: String,
    pub ip: String,
    pub location: String,
    pub os: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "inventory/list.html")]
struct ListPage {
    f: Frame,
    rows: Vec<Row>,
    q: String,
    types: Vec<Choice>,
    statuses: Vec<Choice>,
    sites: Vec<Choice>,
    tag: String,
    /// The count of matching assets, "1000+" past [`COUNT_CAP`].
    total: String,
    next: Option<String>,
    export_query: String,
    quarantine: bool,
    waiting: i64,
    can_edit: bool,
}

async fn list_page(
    st: &AppState,
    caller: &Caller,
    mut p: AssetListParams,
    quarantine: bool,
    done: Option<&str>,
) -> Result<Response, AppError> {
    p.quarantined = Some(quarantine);
    let (list, next) = assets::list(st, caller, &p).await?;
    let filter = p.filter(caller)?;
    let total = st.store.count_assets_upto(&filter, COUNT_CAP).await?;
    let waiting = if quarantine {
        total
    } else {
        let all_waiting = pupitre_store::AssetFilter {
            visible: filter.visible.clone(),
            quarantined: Some(true),
            ..pupitre_store::AssetFilter::default()
        };
        st.store.count_assets_upto(&all_waiting, COUNT_CAP).await?
    };
    let places = Places::for_list(st, caller).await?;
    let f = Frame::new(
        caller,
        "/inventory",
        if quarantine {
            "inventory.quarantine"
        } else {
            "inventory.title"
        },
    )
    .with_flash(done);
    let rows = list
        .iter()
        .map(|a| Row {
            id: a.id,
            name: a.name.clone(),
            kind: f.t(&format!("asset_type.{}", a.asset_type.key())),
            status_key: a.status.key(),
            status: f.t(&format!("status.{}", a.status.key())),
            hostname: a.hostname.clone(),
            ip: if a.management_ip.is_empty() {
                a.interfaces
                    .iter()
                    .flat_map(|i| i.ips.first())
                    .next()
                    .cloned()
                    .unwrap_or_default()
            } else {
                a.management_ip.clone()
            },
            location: places.location(a, &f),
            os: [a.os_name.as_str(), a.os_version.as_str()]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(" "),
        })
        .collect();
    let mut query = p.clone();
    query.cursor = None;
    query.limit = None;
    let export_query = serde_urlencoded::to_string(&query).unwrap_or_default();
    let base = if quarantine {
        "/inventory/quarantine"
    } else {
        "/inventory"
    };
    let next = next.map(|c| {
        let mut q = query.clone();
        q.cursor = Some(c);
        q.quarantined = None;
        format!(
            "{base}?{}",
            serde_urlencoded::to_string(&q).unwrap_or_default()
        )
    });
    let mut any = vec![(String::new(), f.t("common.any"))];
    let types = {
        let mut t = any.clone();
        t.extend(type_choices(&f, "").into_iter().map(|c| (c.value, c.label)));
        choices(t, p.asset_type.as_deref().unwrap_or(""))
    };
    let statuses = {
        let mut t = any.clone();
        t.extend(
            status_choices(&f, "")
                .into_iter()
                .map(|c| (c.value, c.label)),
        );
        choices(t, p.status.as_deref().unwrap_or(""))
    };
    any.extend(
        places
            .sites
            .iter()
            .map(|s| (s.id.to_string(), s.name.clone())),
    );
    let sites = choices(any, &p.site_id.map(|s| s.to_string()).unwrap_or_default());
    Ok(ListPage {
        can_edit: caller.grants.allows_somewhere(Inventory, Edit),
        f,
        rows,
        q: p.q.clone().unwrap_or_default(),
        types,
        statuses,
        sites,
        tag: p.tag.clone().unwrap_or_default(),
        total: if total >= COUNT_CAP {
            format!("{COUNT_CAP}+")
        } else {
            total.to_string()
        },
        next,
        export_query,
        quarantine,
        waiting,
    }
    .into_response())
}

/// Query parameters of the list page: the API's, with empty values meaning "any".
#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    asset_type: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    site_id: String,
    #[serde(default)]
    tag: String,
    #[serde(default)]
    cursor: String,
    #[serde(default)]
    software: String,
    done: Option<String>,
}

impl ListQuery {
    fn params(&self) -> Result<AssetListParams, AppError> {
        let some = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        Ok(AssetListParams {
            q: some(&self.q),
            asset_type: some(&self.asset_type),
            status: some(&self.status),
            site_id: match some(&self.site_id) {
                None => None,
                Some(s) => Some(
                    s.parse()
                        .map_err(|_| AppError::invalid("site_id", "must be a number"))?,
                ),
            },
            tag: some(&self.tag),
            cursor: some(&self.cursor),
            software: some(&self.software),
            ..AssetListParams::default()
        })
    }
}

async fn list(
    State(st): State<AppState>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> PageResult {
    let p = q.params().map_err(perr(&caller))?;
    list_page(&st, &caller, p, false, q.done.as_deref())
        .await
        .map_err(perr(&caller))
}

async fn quarantine(
    State(st): State<AppState>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> PageResult {
    let p = q.params().map_err(perr(&caller))?;
    list_page(&st, &caller, p, true, q.done.as_deref())
        .await
        .map_err(perr(&caller))
}

// ---------------------------------------------------------------- asset page

/// A field shown on the asset page, marked when an agent manages it.
pub struct Shown {
    pub label: String,
    pub value: String,
    pub agent: bool,
}

pub struct RelationRow {
    pub id: i64,
    pub kind: String,
    /// "→" when this asset is the dependent side, "←" otherwise.
    pub outgoing: bool,
    pub other_id: i64,
    pub other_name: String,
    pub ports: String,
}

pub struct HistoryRow {
    pub at: String,
    pub who: String,
    pub action: String,
    pub changes: Vec<(String, String, String)>,
}

#[derive(Template, WebTemplate)]
#[template(path = "inventory/asset.html")]
struct AssetPage {
    f: Frame,
    a: Asset,
    kind: String,
    status: String,
    last_inventory: String,
    location: String,
    rack_link: Option<i64>,
    fields: Vec<(String, Vec<Shown>)>,
    relations: Vec<RelationRow>,
    relation_kinds: Vec<Choice>,
    graph_svg: String,
    impact: usize,
    software: Vec<Software>,
    history: Vec<HistoryRow>,
    can_edit: bool,
}

fn shown(f: &Frame, a: &Asset, field: &str, value: String) -> Shown {
    Shown {
        label: f.t(&format!("asset.{field}")),
        value,
        agent: a.locks.get(field) == Some(&FieldLock::Agent),
    }
}

fn opt_num<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

async fn asset(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    Query(d): Query<Done>,
) -> PageResult {
    let err = perr(&caller);
    let a = assets::get(&st, &caller, id, Read).await.map_err(&err)?;
    let places = Places::load(&st, &caller).await.map_err(&err)?;
    let mut f = Frame::new(&caller, "/inventory", "inventory.asset").with_flash(d.done.as_deref());
    f.title.clone_from(&a.name);
    let t = |k: &str| f.t(k);
    let identity = vec![
        shown(&f, &a, "hostname", a.hostname.clone()),
        shown(&f, &a, "manufacturer", a.manufacturer.clone()),
        shown(&f, &a, "model", a.model.clone()),
        shown(&f, &a, "serial", a.serial.clone()),
        shown(&f, &a, "asset_tag", a.asset_tag.clone()),
        shown(&f, &a, "uuid", a.uuid.clone()),
        shown(&f, &a, "entity", places.entity(a.entity_id)),
        shown(&f, &a, "owner_team", places.team(a.owner_team_id)),
    ];
    let lifecycle = vec![
        shown(&f, &a, "status_since", a.status_since.clone()),
        shown(&f, &a, "ordered_on", a.ordered_on.clone()),
        shown(&f, &a, "received_on", a.received_on.clone()),
        shown(&f, &a, "in_production_on", a.in_production_on.clone()),
        shown(&f, &a, "retired_on", a.retired_on.clone()),
        shown(&f, &a, "disposed_on", a.disposed_on.clone()),
    ];
    let system = vec![
        shown(
            &f,
            &a,
            "os_family",
            a.os_family
                .map(|o| o.label().to_owned())
                .unwrap_or_default(),
        ),
        shown(&f, &a, "os_name", a.os_name.clone()),
        shown(&f, &a, "os_version", a.os_version.clone()),
        shown(&f, &a, "cpu_model", a.cpu_model.clone()),
        shown(&f, &a, "cpu_sockets", opt_num(a.cpu_sockets)),
        shown(&f, &a, "cpu_cores", opt_num(a.cpu_cores)),
        shown(&f, &a, "memory_mb", opt_num(a.memory_mb)),
        shown(&f, &a, "management_ip", a.management_ip.clone()),
        shown(&f, &a, "power_draw_w", opt_num(a.power_draw_w)),
    ];
    let purchase = vec![
        shown(&f, &a, "purchase_date", a.purchase_date.clone()),
        shown(
            &f,
            &a,
            "purchase_cost",
            a.purchase_cost_cents.map(cents_to_text).unwrap_or_default(),
        ),
        shown(&f, &a, "supplier", a.supplier.clone()),
        shown(&f, &a, "order_ref", a.order_ref.clone()),
        shown(&f, &a, "warranty_end", a.warranty_end.clone()),
        shown(&f, &a, "contract_id", opt_num(a.contract_id)),
    ];
    let fields = vec![
        (t("inventory.identity"), identity),
        (t("inventory.lifecycle"), lifecycle),
        (t("inventory.system"), system),
        (t("inventory.purchase"), purchase),
    ];
    let fields: Vec<(String, Vec<Shown>)> = fields
        .into_iter()
        .filter(|(_, list)| list.iter().any(|x| !x.value.is_empty()))
        .collect();
    let (rels, others) = assets::relations(&st, &caller, &a).await.map_err(&err)?;
    let relations = rels
        .iter()
        .map(|r| {
            let outgoing = r.from_id == a.id;
            let other_id = if outgoing { r.to_id } else { r.from_id };
            RelationRow {
                id: r.id,
                kind: f.t(&format!("relation.{}", r.kind.key())),
                outgoing,
                other_id,
                other_name: others
                    .get(&other_id)
                    .map(|o| o.name.clone())
                    .unwrap_or_default(),
                ports: [
                    r.from_port.as_str(),
                    r.to_port.as_str(),
                    r.cable_id.as_str(),
                ]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(" · "),
            }
        })
        .collect();
    let (graph, graph_assets) = assets::impact_graph(&st, &caller, a.id)
        .await
        .map_err(&err)?;
    let graph_svg = draw_graph(&f, &a, &graph, &graph_assets);
    let impact = graph.downstream().count();
    let software = st
        .store
        .list_software(a.id)
        .await
        .map_err(|e| err(e.into()))?;
    let history = assets::history(&st, &a, 200)
        .await
        .map_err(&err)?
        .iter()
        .map(history_row)
        .collect();
    Ok(AssetPage {
        kind: f.t(&format!("asset_type.{}", a.asset_type.key())),
        status: f.t(&format!("status.{}", a.status.key())),
        last_inventory: a.last_inventory_at.map(short_time).unwrap_or_default(),
        location: places.location(&a, &f),
        rack_link: a.rack_id,
        fields,
        relations,
        relation_kinds: choices(
            RelationKind::ALL
                .iter()
                .map(|k| (k.key().to_owned(), f.t(&format!("relation.{}", k.key())))),
            "depends_on",
        ),
        graph_svg,
        impact,
        software,
        history,
        can_edit: caller.grants.allows(Inventory, Edit, a.entity_id),
        a,
        f,
    }
    .into_response())
}

/// `2026-11-29 17:22:05`, UTC.
fn short_time(ms: i64) -> String {
    crate::api::views::rfc3339(ms)
        .replace('T', " ")
        .chars()
        .take(19)
        .collect()
}

fn history_row(r: &AuditRecord) -> HistoryRow {
    HistoryRow {
        at: short_time(r.at),
        who: r.actor_login.clone(),
        action: r.event.action.clone(),
        changes: r
            .event
            .changes
            .iter()
            .filter(|c| {
                c.before.as_deref().is_some_and(|b| !b.is_empty())
                    || c.after.as_deref().is_some_and(|a| !a.is_empty())
            })
            .map(|c| {
                (
                    c.field.clone(),
                    c.before.clone().unwrap_or_default(),
                    c.after.clone().unwrap_or_default(),
                )
            })
            .collect(),
    }
}

fn draw_graph(
    f: &Frame,
    a: &Asset,
    graph: &pupitre_core::inventory::ImpactGraph,
    assets: &BTreeMap<i64, Asset>,
) -> String {
    use pupitre_draw::{GraphDrawing, GraphLabels, GraphNode};
    let node = |x: &Asset| GraphNode {
        id: x.id,
        name: x.name.clone(),
        kind: x.asset_type.key().to_owned(),
        href: format!("/inventory/assets/{}", x.id),
        state: String::new(),
    };
    let layer = |dir: Direction| -> Vec<(GraphNode, u32)> {
        graph
            .nodes
            .iter()
            .filter(|n| n.direction == dir)
            .filter_map(|n| assets.get(&n.asset_id).map(|x| (node(x), n.depth)))
            .collect()
    };
    let drawing = GraphDrawing {
        center: node(a),
        upstream: layer(Direction::Upstream),
        downstream: layer(Direction::Downstream),
        edges: graph
            .edges
            .iter()
            .map(|e| {
                (
                    e.from_id,
                    e.to_id,
                    f.t(&format!("relation.{}", e.kind.key())),
                )
            })
            .collect(),
        labels: GraphLabels {
            upstream: f.t("inventory.upstream"),
            downstream: f.t("inventory.downstream"),
        },
    };
    pupitre_draw::without_style(&pupitre_draw::dependency_graph(&drawing))
}

// ---------------------------------------------------------------- asset forms

#[derive(Template, WebTemplate)]
#[template(path = "inventory/asset_form.html")]
struct AssetFormPage {
    f: Frame,
    action: String,
    v: AssetFields,
    types: Vec<Choice>,
    statuses: Vec<Choice>,
    os_families: Vec<Choice>,
    distributions: Vec<&'static str>,
    faces: Vec<Choice>,
    entities: Vec<Choice>,
    teams: Vec<Choice>,
    sites: Vec<Choice>,
    rooms: Vec<Choice>,
    racks: Vec<Choice>,
    interfaces: String,
    disks: String,
    attributes: String,
    tags: String,
    agent_fields: Vec<String>,
    error: Option<String>,
}

fn optional(list: Vec<(i64, String)>, current: Option<i64>, none: String) -> Vec<Choice> {
    let mut all = vec![(String::new(), none)];
    all.extend(list.into_iter().map(|(id, l)| (id.to_string(), l)));
    choices(all, &current.map(|c| c.to_string()).unwrap_or_default())
}

async fn form_page(
    st: &AppState,
    caller: &Caller,
    action: String,
    title: &str,
    v: AssetFields,
    agent_fields: Vec<String>,
    error: Option<AppError>,
) -> Result<Response, AppError> {
    let places = Places::load(st, caller).await?;
    let mut f = Frame::new(caller, "/inventory", title);
    if title == "inventory.edit" {
        f.title = format!("{} — {}", f.t(title), v.name);
    }
    let none = f.t("common.none");
    let entities = caller
        .visible(Inventory)
        .into_iter()
        .filter(|e| caller.grants.allows(Inventory, Edit, *e))
        .map(|e| (e, places.entity(e)))
        .collect();
    let interfaces = v
        .interfaces
        .iter()
        .map(|i| {
            format!(
                "{} | {} | {} | {} | {}",
                i.name,
                i.mac,
                i.ips.join(" "),
                opt_num(i.vlan),
                opt_num(i.speed_mbps)
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    let disks = v
        .disks
        .iter()
        .map(|d| {
            format!(
                "{} | {} | {} | {}",
                d.name,
                d.model,
                d.serial,
                opt_num(d.size_mb)
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    let attributes = v
        .attributes
        .iter()
        .map(|(k, val)| format!("{k} = {val}"))
        .collect::<Vec<_>>()
        .join("\n");
    let (status, error) = split_error(error);
    let page = AssetFormPage {
        action,
        types: type_choices(&f, &v.asset_type),
        statuses: status_choices(&f, &v.status),
        os_families: {
            let mut c = vec![(String::new(), none.clone())];
            c.extend(os_choices("").into_iter().map(|c| (c.value, c.label)));
            choices(c, v.os_family.as_deref().unwrap_or(""))
        },
        distributions: pupitre_core::inventory::LINUX_DISTRIBUTIONS.to_vec(),
        faces: choices(
            [("front", "face.front"), ("rear", "face.rear")]
                .iter()
                .map(|(k, l)| ((*k).to_owned(), f.t(l))),
            v.rack_face.as_deref().unwrap_or("front"),
        ),
        entities: optional(entities, v.entity_id, f.t("inventory.my_entity")),
        teams: optional(
            places
                .teams
                .iter()
                .map(|t| (t.id, t.name.clone()))
                .collect(),
            v.owner_team_id,
            none.clone(),
        ),
        sites: optional(
            places
                .sites
                .iter()
                .map(|s| (s.id, s.name.clone()))
                .collect(),
            v.site_id,
            none.clone(),
        ),
        rooms: optional(places.room_choices(), v.room_id, none.clone()),
        racks: optional(places.rack_choices(), v.rack_id, none),
        interfaces,
        disks,
        attributes,
        tags: v.tags.join(", "),
        agent_fields,
        error,
        v,
        f,
    };
    Ok((status, page).into_response())
}

/// Reads the asset form. Lists are one item per line, `|`-separated.
fn fields_from_form(form: &FormData) -> Result<AssetFields, AppError> {
    let int = |name: &str| form.int(name);
    let int32 = |name: &str| form.int32(name);
    let lines = |name: &str| -> Vec<Vec<String>> {
        form.get(name)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.split('|').map(|p| p.trim().to_owned()).collect())
            .collect()
    };
    let num = |field: String, v: Option<&String>| -> Result<Option<i64>, AppError> {
        match v.map(|s| s.trim()).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(s) => s
                .parse()
                .map(Some)
                .map_err(|_| AppError::invalid(field, "must be a number")),
        }
    };
    let mut interfaces = Vec::new();
    for (i, parts) in lines("interfaces").iter().enumerate() {
        interfaces.push(InterfaceFields {
            name: parts.first().cloned().unwrap_or_default(),
            mac: parts.get(1).cloned().unwrap_or_default(),
            ips: parts
                .get(2)
                .map(|s| s.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default(),
            vlan: num(format!("interfaces[{i}].vlan"), parts.get(3))?
                .map(|v| i32::try_from(v).unwrap_or(-1)),
            speed_mbps: num(format!("interfaces[{i}].speed_mbps"), parts.get(4))?,
        });
    }
    let mut disks = Vec::new();
    for (i, parts) in lines("disks").iter().enumerate() {
        disks.push(DiskFields {
            name: parts.first().cloned().unwrap_or_default(),
            model: parts.get(1).cloned().unwrap_or_default(),
            serial: parts.get(2).cloned().unwrap_or_default(),
            size_mb: num(format!("disks[{i}].size_mb"), parts.get(3))?,
        });
    }
    let mut attributes = BTreeMap::new();
    for line in form
        .get("attributes")
        .lines()
        .filter(|l| !l.trim().is_empty())
    {
        let Some((k, v)) = line.split_once('=') else {
            return Err(AppError::invalid(
                "attributes",
                format!("{line:?}: write one key = value per line"),
            ));
        };
        attributes.insert(k.trim().to_owned(), v.trim().to_owned());
    }
    Ok(AssetFields {
        entity_id: int("entity_id")?,
        asset_type: form.get("asset_type"),
        name: form.get("name"),
        hostname: form.get("hostname"),
        manufacturer: form.get("manufacturer"),
        model: form.get("model"),
        serial: form.get("serial"),
        asset_tag: form.get("asset_tag"),
        uuid: form.get("uuid"),
        status: form.get("status"),
        status_since: form.get("status_since"),
        ordered_on: form.get("ordered_on"),
        received_on: form.get("received_on"),
        in_production_on: form.get("in_production_on"),
        retired_on: form.get("retired_on"),
        disposed_on: form.get("disposed_on"),
        owner_team_id: int("owner_team_id")?,
        site_id: int("site_id")?,
        room_id: int("room_id")?,
        rack_id: int("rack_id")?,
        rack_u: int32("rack_u")?,
        rack_face: form.opt("rack_face"),
        height_u: int32("height_u")?,
        full_depth: Some(form.checked("full_depth")),
        location_note: form.get("location_note"),
        os_family: form.opt("os_family"),
        os_name: form.get("os_name"),
        os_version: form.get("os_version"),
        cpu_model: form.get("cpu_model"),
        cpu_sockets: int32("cpu_sockets")?,
        cpu_cores: int32("cpu_cores")?,
        memory_mb: int("memory_mb")?,
        management_ip: form.get("management_ip"),
        power_draw_w: int("power_draw_w")?,
        purchase_date: form.get("purchase_date"),
        purchase_cost: form.get("purchase_cost"),
        supplier: form.get("supplier"),
        order_ref: form.get("order_ref"),
        warranty_end: form.get("warranty_end"),
        contract_id: int("contract_id")?,
        notes: form.get("notes"),
        interfaces,
        disks,
        attributes,
        tags: form
            .get("tags")
            .split([',', ' '])
            .filter(|t| !t.trim().is_empty())
            .map(|t| t.trim().to_owned())
            .collect(),
    })
}

fn blank_fields() -> AssetFields {
    AssetFields::of(&pupitre_core::inventory::AssetInput::new(
        0,
        AssetType::Server,
        "",
    ))
}

async fn asset_new(State(st): State<AppState>, caller: Caller) -> PageResult {
    let mut v = blank_fields();
    v.entity_id = None;
    form_page(
        &st,
        &caller,
        "/inventory/assets/new".into(),
        "inventory.new",
        v,
        vec![],
        None,
    )
    .await
    .map_err(perr(&caller))
}

async fn asset_create(State(st): State<AppState>, caller: Caller, body: Bytes) -> PageResult {
    let form = FormData::parse(&body);
    let result = async {
        let fields = fields_from_form(&form)?;
        assets::create(&st, &caller, fields).await
    }
    .await;
    match result {
        Ok(a) => Ok(see_other(&format!(
            "/inventory/assets/{}?done=created",
            a.id
        ))),
        Err(e) => {
            let v = fields_from_form(&form).unwrap_or_else(|_| blank_fields());
            form_page(
                &st,
                &caller,
                "/inventory/assets/new".into(),
                "inventory.new",
                v,
                vec![],
                Some(e),
            )
            .await
            .map_err(perr(&caller))
        }
    }
}

fn agent_fields(a: &Asset) -> Vec<String> {
    AGENT_FIELDS
        .iter()
        .filter(|f| a.locks.get(**f) == Some(&FieldLock::Agent))
        .map(|f| (*f).to_owned())
        .collect()
}

async fn asset_edit(State(st): State<AppState>, caller: Caller, Id(id): Id) -> PageResult {
    let a = assets::get(&st, &caller, id, Edit)
        .await
        .map_err(perr(&caller))?;
    let fields = agent_fields(&a);
    form_page(
        &st,
        &caller,
        format!("/inventory/assets/{id}"),
        "inventory.edit",
        AssetFields::of(&a.into()),
        fields,
        None,
    )
    .await
    .map_err(perr(&caller))
}

/// The keys of `after` whose values differ from `before`: what the form changed.
fn changed_keys(before: &AssetFields, after: &AssetFields) -> Result<Patch, AppError> {
    let b = serde_json::to_value(before).map_err(|_| AppError::internal())?;
    let a = serde_json::to_value(after).map_err(|_| AppError::internal())?;
    let mut patch = Patch::new();
    if let (Some(b), Some(a)) = (b.as_object(), a.as_object()) {
        for (k, v) in a {
            if b.get(k) != Some(v) {
                patch.insert(k.clone(), v.clone());
            }
        }
    }
    Ok(patch)
}

async fn asset_update(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    body: Bytes,
) -> PageResult {
    let form = FormData::parse(&body);
    let current = assets::get(&st, &caller, id, Edit)
        .await
        .map_err(perr(&caller))?;
    let before = AssetFields::of(&current.clone().into());
    let result = async {
        let after = fields_from_form(&form)?;
        let mut patch = changed_keys(&before, &after)?;
        let unlock = form.all("unlock");
        if !unlock.is_empty() {
            patch.insert("unlock".into(), serde_json::json!(unlock));
        }
        assets::update(&st, &caller, id, patch).await
    }
    .await;
    match result {
        Ok(_) => Ok(see_other(&format!("/inventory/assets/{id}?done=saved"))),
        Err(e) => {
            let v = fields_from_form(&form).unwrap_or(before);
            form_page(
                &st,
                &caller,
                format!("/inventory/assets/{id}"),
                "inventory.edit",
                v,
                agent_fields(&current),
                Some(e),
            )
            .await
            .map_err(perr(&caller))
        }
    }
}

async fn asset_delete(State(st): State<AppState>, caller: Caller, Id(id): Id) -> PageResult {
    assets::delete(&st, &caller, id)
        .await
        .map_err(perr(&caller))?;
    Ok(see_other("/inventory?done=deleted"))
}

async fn asset_approve(State(st): State<AppState>, caller: Caller, Id(id): Id) -> PageResult {
    assets::approve(&st, &caller, id)
        .await
        .map_err(perr(&caller))?;
    Ok(see_other(&format!("/inventory/assets/{id}?done=saved")))
}

/// Adds a relation from the asset page: the other asset by id or exact name.
async fn relation_create(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    body: Bytes,
) -> PageResult {
    let form = FormData::parse(&body);
    assets::get(&st, &caller, id, Read)
        .await
        .map_err(perr(&caller))?;
    let result = async {
        let other = form.get("other");
        let other_id = match other.trim().parse::<i64>() {
            Ok(n) => n,
            Err(_) => {
                let p = AssetListParams {
                    q: Some(other.clone()),
                    limit: Some(20),
                    ..AssetListParams::default()
                };
                let (found, _) = assets::list(&st, &caller, &p).await?;
                found
                    .iter()
                    .find(|a| {
                        a.name.eq_ignore_ascii_case(other.trim())
                            || a.hostname.eq_ignore_ascii_case(other.trim())
                    })
                    .map(|a| a.id)
                    .ok_or_else(|| {
                        AppError::invalid("other", format!("no asset is named {other:?}"))
                    })?
            }
        };
        let (from_id, to_id) = if form.get("direction") == "incoming" {
            (other_id, id)
        } else {
            (id, other_id)
        };
        assets::create_relation(
            &st,
            &caller,
            RelationFields {
                kind: form.get("kind"),
                from_id,
                to_id,
                from_port: form.get("from_port"),
                to_port: form.get("to_port"),
                cable_id: form.get("cable_id"),
                comment: String::new(),
            },
        )
        .await
    }
    .await;
    result.map_err(perr(&caller))?;
    Ok(see_other(&format!(
        "/inventory/assets/{id}?done=saved#relations"
    )))
}

async fn relation_delete(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    body: Bytes,
) -> PageResult {
    let form = FormData::parse(&body);
    assets::delete_relation(&st, &caller, id)
        .await
        .map_err(perr(&caller))?;
    let back = form.int("asset").ok().flatten().map_or_else(
        || "/inventory".to_owned(),
        |a| format!("/inventory/assets/{a}?done=saved#relations"),
    );
    Ok(see_other(&back))
}

// ---------------------------------------------------------------- locations

pub struct SiteTree {
    pub site: Site,
    pub entity: String,
    pub buildings: Vec<Building>,
    pub rooms: Vec<(Room, Vec<Rack>)>,
}

#[derive(Template, WebTemplate)]
#[template(path = "inventory/locations.html")]
struct LocationsPage {
    f: Frame,
    tree: Vec<SiteTree>,
    entities: Vec<Choice>,
    sites: Vec<Choice>,
    buildings: Vec<Choice>,
    rooms: Vec<Choice>,
    can_edit: bool,
    error: Option<String>,
}

async fn locations_page(
    st: &AppState,
    caller: &Caller,
    error: Option<AppError>,
    done: Option<&str>,
) -> Result<Response, AppError> {
    let places = Places::load(st, caller).await?;
    let f = Frame::new(caller, "/inventory", "inventory.locations").with_flash(done);
    let tree = places
        .sites
        .iter()
        .map(|s| SiteTree {
            site: s.clone(),
            entity: places.entity(s.entity_id),
            buildings: places
                .buildings
                .iter()
                .filter(|b| b.site_id == s.id)
                .cloned()
                .collect(),
            rooms: places
                .rooms
                .iter()
                .filter(|r| r.site_id == s.id)
                .map(|r| {
                    (
                        r.clone(),
                        places
                            .racks
                            .iter()
                            .filter(|k| k.room_id == r.id)
                            .cloned()
                            .collect(),
                    )
                })
                .collect(),
        })
        .collect();
    let entities = caller
        .visible(Inventory)
        .into_iter()
        .filter(|e| caller.grants.allows(Inventory, Edit, *e))
        .map(|e| (e.to_string(), places.entity(e)))
        .collect::<Vec<_>>();
    let none = f.t("common.none");
    let (status, error) = split_error(error);
    let page = LocationsPage {
        tree,
        entities: choices(entities, &caller.user.entity_id.to_string()),
        sites: choices(
            places
                .sites
                .iter()
                .map(|s| (s.id.to_string(), s.name.clone())),
            "",
        ),
        buildings: optional(
            places
                .buildings
                .iter()
                .map(|b| {
                    (
                        b.id,
                        format!("{} › {}", places.site(Some(b.site_id)), b.name),
                    )
                })
                .collect(),
            None,
            none,
        ),
        rooms: choices(
            places
                .room_choices()
                .into_iter()
                .map(|(id, l)| (id.to_string(), l)),
            "",
        ),
        can_edit: caller.grants.allows_somewhere(Inventory, Edit),
        error,
        f,
    };
    Ok((status, page).into_response())
}

async fn locations_view(
    State(st): State<AppState>,
    caller: Caller,
    Query(d): Query<Done>,
) -> PageResult {
    locations_page(&st, &caller, None, d.done.as_deref())
        .await
        .map_err(perr(&caller))
}

/// Answers a location form: back to the locations page, or the page with the error.
async fn after_location(
    st: &AppState,
    caller: &Caller,
    result: Result<(), AppError>,
) -> PageResult {
    match result {
        Ok(()) => Ok(see_other("/inventory/locations?done=created")),
        Err(e) => locations_page(st, caller, Some(e), None)
            .await
            .map_err(perr(caller)),
    }
}

async fn site_create(State(st): State<AppState>, caller: Caller, body: Bytes) -> PageResult {
    let form = FormData::parse(&body);
    let result = async {
        locations::create_site(
            &st,
            &caller,
            SiteFields {
                entity_id: form.int("entity_id")?,
                name: form.get("name"),
                address: form.get("address"),
                time_zone: form.get("time_zone"),
                comment: form.get("comment"),
            },
        )
        .await
        .map(|_| ())
    }
    .await;
    after_location(&st, &caller, result).await
}

async fn building_create(State(st): State<AppState>, caller: Caller, body: Bytes) -> PageResult {
    let form = FormData::parse(&body);
    let result = async {
        locations::create_building(
            &st,
            &caller,
            BuildingFields {
                site_id: form
                    .int("site_id")?
                    .ok_or_else(|| AppError::invalid("site_id", "is required"))?,
                entity_id: None,
                name: form.get("name"),
                comment: form.get("comment"),
            },
        )
        .await
        .map(|_| ())
    }
    .await;
    after_location(&st, &caller, result).await
}

async fn room_create(State(st): State<AppState>, caller: Caller, body: Bytes) -> PageResult {
    let form = FormData::parse(&body);
    let result = async {
        let int32 = |n: &str| -> Result<i32, AppError> { Ok(form.int32(n)?.unwrap_or(0)) };
        locations::create_room(
            &st,
            &caller,
            RoomFields {
                site_id: form
                    .int("site_id")?
                    .ok_or_else(|| AppError::invalid("site_id", "is required"))?,
                building_id: form.int("building_id")?,
                entity_id: None,
                name: form.get("name"),
                grid_rows: int32("grid_rows")?,
                grid_cols: int32("grid_cols")?,
                power_capacity_w: form.int("power_capacity_w")?,
                cooling_capacity_w: form.int("cooling_capacity_w")?,
                notes: form.get("notes"),
            },
        )
        .await
        .map(|_| ())
    }
    .await;
    after_location(&st, &caller, result).await
}

async fn rack_create(State(st): State<AppState>, caller: Caller, body: Bytes) -> PageResult {
    let form = FormData::parse(&body);
    let result = async {
        let int32 = |n: &str| form.int32(n);
        locations::create_rack(
            &st,
            &caller,
            RackFields {
                room_id: form
                    .int("room_id")?
                    .ok_or_else(|| AppError::invalid("room_id", "is required"))?,
                entity_id: form.int("entity_id")?,
                name: form.get("name"),
                height_u: int32("height_u")?,
                grid_row: int32("grid_row")?,
                grid_col: int32("grid_col")?,
                max_power_w: form.int("max_power_w")?,
                comment: form.get("comment"),
            },
        )
        .await
        .map(|_| ())
    }
    .await;
    after_location(&st, &caller, result).await
}

async fn site_delete(State(st): State<AppState>, caller: Caller, Id(id): Id) -> PageResult {
    let r = locations::delete_site(&st, &caller, id).await;
    after_location(&st, &caller, r).await
}

async fn building_delete(State(st): State<AppState>, caller: Caller, Id(id): Id) -> PageResult {
    let r = locations::delete_building(&st, &caller, id).await;
    after_location(&st, &caller, r).await
}

async fn room_delete(State(st): State<AppState>, caller: Caller, Id(id): Id) -> PageResult {
    let r = locations::delete_room(&st, &caller, id).await;
    after_location(&st, &caller, r).await
}

async fn rack_delete(State(st): State<AppState>, caller: Caller, Id(id): Id) -> PageResult {
    let r = locations::delete_rack(&st, &caller, id).await;
    after_location(&st, &caller, r).await
}

/// The kinds of location a page can edit.
#[derive(Clone, Copy)]
enum LocationKind {
    Site,
    Building,
    Room,
    Rack,
}

/// A field of a location's edit form: its key in the API's fields, its label, and whether
/// it holds a number (empty meaning none).
struct FieldSpec {
    key: &'static str,
    label: &'static str,
    number: bool,
}

const fn text_field(key: &'static str, label: &'static str) -> FieldSpec {
    FieldSpec {
        key,
        label,
        number: false,
    }
}

const fn number_field(key: &'static str, label: &'static str) -> FieldSpec {
    FieldSpec {
        key,
        label,
        number: true,
    }
}

impl LocationKind {
    fn path(self) -> &'static str {
        match self {
            LocationKind::Site => "sites",
            LocationKind::Building => "buildings",
            LocationKind::Room => "rooms",
            LocationKind::Rack => "racks",
        }
    }

    fn title(self) -> &'static str {
        match self {
            LocationKind::Site => "inventory.edit_site",
            LocationKind::Building => "inventory.edit_building",
            LocationKind::Room => "inventory.edit_room",
            LocationKind::Rack => "inventory.edit_rack",
        }
    }

    fn fields(self) -> &'static [FieldSpec] {
        const SITE: &[FieldSpec] = &[
            text_field("name", "common.name"),
            text_field("address", "inventory.address"),
            text_field("time_zone", "users.time_zone"),
            text_field("comment", "common.description"),
        ];
        const BUILDING: &[FieldSpec] = &[
            text_field("name", "common.name"),
            text_field("comment", "common.description"),
        ];
        const ROOM: &[FieldSpec] = &[
            text_field("name", "common.name"),
            number_field("grid_rows", "inventory.grid_rows"),
            number_field("grid_cols", "inventory.grid_cols"),
            number_field("power_capacity_w", "inventory.power_capacity_w"),
            number_field("cooling_capacity_w", "inventory.cooling_capacity_w"),
            text_field("notes", "inventory.power_notes"),
        ];
        const RACK: &[FieldSpec] = &[
            text_field("name", "common.name"),
            number_field("height_u", "asset.height_u"),
            number_field("grid_row", "inventory.grid_row"),
            number_field("grid_col", "inventory.grid_col"),
            number_field("max_power_w", "inventory.max_power_w"),
            text_field("comment", "common.description"),
        ];
        match self {
            LocationKind::Site => SITE,
            LocationKind::Building => BUILDING,
            LocationKind::Room => ROOM,
            LocationKind::Rack => RACK,
        }
    }

    /// The location's current fields, as the API shows them.
    async fn current(
        self,
        st: &AppState,
        caller: &Caller,
        id: i64,
    ) -> Result<serde_json::Value, AppError> {
        let value = match self {
            LocationKind::Site => serde_json::to_value(locations::site_fields(
                &locations::get_site(st, caller, id, Edit).await?,
            )),
            LocationKind::Building => serde_json::to_value(locations::building_fields(
                &locations::get_building(st, caller, id, Edit).await?,
            )),
            LocationKind::Room => serde_json::to_value(locations::room_fields(
                &locations::get_room(st, caller, id, Edit).await?,
            )),
            LocationKind::Rack => serde_json::to_value(locations::rack_fields(
                &locations::get_rack(st, caller, id, Edit).await?,
            )),
        };
        value.map_err(|_| AppError::internal())
    }

    async fn update(
        self,
        st: &AppState,
        caller: &Caller,
        id: i64,
        patch: Patch,
    ) -> Result<(), AppError> {
        match self {
            LocationKind::Site => locations::update_site(st, caller, id, patch)
                .await
                .map(|_| ()),
            LocationKind::Building => locations::update_building(st, caller, id, patch)
                .await
                .map(|_| ()),
            LocationKind::Room => locations::update_room(st, caller, id, patch)
                .await
                .map(|_| ()),
            LocationKind::Rack => locations::update_rack(st, caller, id, patch)
                .await
                .map(|_| ()),
        }
    }

    /// Where to go once saved.
    fn after(self, id: i64) -> String {
        match self {
            LocationKind::Room | LocationKind::Rack => {
                format!("/inventory/{}/{id}?done=saved", self.path())
            }
            LocationKind::Site | LocationKind::Building => {
                "/inventory/locations?done=saved".to_owned()
            }
        }
    }
}

pub struct EditField {
    pub key: &'static str,
    pub label: String,
    pub value: String,
    pub number: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "inventory/location_edit.html")]
struct LocationEditPage {
    f: Frame,
    action: String,
    fields: Vec<EditField>,
    error: Option<String>,
}

fn edit_fields(f: &Frame, kind: LocationKind, values: &serde_json::Value) -> Vec<EditField> {
    kind.fields()
        .iter()
        .map(|spec| EditField {
            key: spec.key,
            label: f.t(spec.label),
            value: match &values[spec.key] {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                _ => String::new(),
            },
            number: spec.number,
        })
        .collect()
}

async fn location_edit_page(
    st: &AppState,
    caller: &Caller,
    kind: LocationKind,
    id: i64,
    shown: Option<serde_json::Value>,
    error: Option<AppError>,
) -> Result<Response, AppError> {
    let current = kind.current(st, caller, id).await?;
    let mut f = Frame::new(caller, "/inventory", kind.title());
    if let Some(name) = current["name"].as_str() {
        f.title = format!("{} — {name}", f.title);
    }
    let fields = edit_fields(&f, kind, shown.as_ref().unwrap_or(&current));
    let (status, error) = split_error(error);
    let page = LocationEditPage {
        action: format!("/inventory/{}/{id}", kind.path()),
        fields,
        error,
        f,
    };
    Ok((status, page).into_response())
}

/// The form's values as a PATCH of the kind's fields (an empty number is none).
fn location_patch(kind: LocationKind, form: &FormData) -> Result<Patch, AppError> {
    let mut patch = Patch::new();
    for spec in kind.fields() {
        let value = if spec.number {
            match form.int(spec.key)? {
                Some(n) => serde_json::Value::from(n),
                None => serde_json::Value::Null,
            }
        } else {
            serde_json::Value::from(form.get(spec.key))
        };
        patch.insert(spec.key.to_owned(), value);
    }
    Ok(patch)
}

async fn location_edit(st: AppState, caller: Caller, kind: LocationKind, id: i64) -> PageResult {
    location_edit_page(&st, &caller, kind, id, None, None)
        .await
        .map_err(perr(&caller))
}

async fn location_update(
    st: AppState,
    caller: Caller,
    kind: LocationKind,
    id: i64,
    body: Bytes,
) -> PageResult {
    let form = FormData::parse(&body);
    let result = async {
        let patch = location_patch(kind, &form)?;
        kind.update(&st, &caller, id, patch).await
    }
    .await;
    match result {
        Ok(()) => Ok(see_other(&kind.after(id))),
        Err(e) => {
            let shown = serde_json::Value::Object(location_patch(kind, &form).unwrap_or_default());
            location_edit_page(&st, &caller, kind, id, Some(shown), Some(e))
                .await
                .map_err(perr(&caller))
        }
    }
}

/// The edit and update routes of one kind of location.
fn location_routes(
    kind: LocationKind,
    edit_path: &'static str,
    update_path: &'static str,
) -> [RouteDef; 2] {
    let edit = Access::Domain(Inventory, Edit);
    [
        page(
            Method::GET,
            edit_path,
            edit,
            move |State(st): State<AppState>, caller: Caller, Id(id): Id| {
                location_edit(st, caller, kind, id)
            },
        ),
        page(
            Method::POST,
            update_path,
            edit,
            move |State(st): State<AppState>, caller: Caller, Id(id): Id, body: Bytes| {
                location_update(st, caller, kind, id, body)
            },
        ),
    ]
}

// ---------------------------------------------------------------- rooms and racks

/// The devices of one rack, for its elevation and table.
async fn rack_devices(st: &AppState, caller: &Caller, rack: &Rack) -> Result<Vec<Asset>, AppError> {
    let p = AssetListParams {
        rack_id: Some(rack.id),
        limit: Some(ops::MAX_LIMIT),
        ..AssetListParams::default()
    };
    Ok(assets::list(st, caller, &p).await?.0)
}

#[derive(Template, WebTemplate)]
#[template(path = "inventory/room.html")]
struct RoomPage {
    f: Frame,
    room: Room,
    site: String,
    svg: String,
    /// Each rack with its grid position ("B3"), units used and power drawn.
    racks: Vec<(Rack, String, i32, i64)>,
    power_w: i64,
}

async fn room(State(st): State<AppState>, caller: Caller, Id(id): Id) -> PageResult {
    let err = perr(&caller);
    let room = locations::get_room(&st, &caller, id, Read)
        .await
        .map_err(&err)?;
    let places = Places::load(&st, &caller).await.map_err(&err)?;
    let mut racks = Vec::new();
    for r in places.racks.iter().filter(|r| r.room_id == id) {
        let devices = rack_devices(&st, &caller, r).await.map_err(&err)?;
        let used: i32 = devices
            .iter()
            .filter(|d| d.rack_u.is_some())
            .map(|d| d.height_u)
            .sum();
        let power: i64 = devices.iter().filter_map(|d| d.power_draw_w).sum();
        let position = match (r.grid_row, r.grid_col) {
            (Some(row), Some(col)) => format!("{}{col}", pupitre_draw::row_label(row)),
            _ => String::new(),
        };
        racks.push((r.clone(), position, used, power));
    }
    let drawing = pupitre_draw::RoomDrawing {
        name: room.name.clone(),
        rows: room.grid_rows,
        cols: room.grid_cols,
        racks: racks
            .iter()
            .filter_map(|(r, _, used, power)| {
                Some(pupitre_draw::RoomRack {
                    id: r.id,
                    name: r.name.clone(),
                    row: r.grid_row?,
                    col: r.grid_col?,
                    used_u: *used,
                    height_u: r.height_u,
                    power_w: *power,
                    max_power_w: r.max_power_w,
                    href: format!("/inventory/racks/{}", r.id),
                })
            })
            .collect(),
    };
    let mut f = Frame::new(&caller, "/inventory", "inventory.room");
    f.title = format!("{} — {}", f.t("inventory.room"), room.name);
    Ok(RoomPage {
        site: places.site(Some(room.site_id)),
        svg: pupitre_draw::without_style(&pupitre_draw::room_grid(&drawing)),
        power_w: racks.iter().map(|r| r.3).sum(),
        racks,
        room,
        f,
    }
    .into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "inventory/rack.html")]
struct RackPage {
    f: Frame,
    rack: Rack,
    site: String,
    room: String,
    front: String,
    rear: String,
    devices: Vec<(Asset, String)>,
    free_front: i32,
    power_w: i64,
}

async fn rack(State(st): State<AppState>, caller: Caller, Id(id): Id) -> PageResult {
    let err = perr(&caller);
    let rack = locations::get_rack(&st, &caller, id, Read)
        .await
        .map_err(&err)?;
    let places = Places::load(&st, &caller).await.map_err(&err)?;
    let devices = rack_devices(&st, &caller, &rack).await.map_err(&err)?;
    let f0 = Frame::new(&caller, "/inventory", "inventory.rack");
    let drawing = pupitre_draw::RackDrawing {
        name: rack.name.clone(),
        height_u: rack.height_u,
        max_power_w: rack.max_power_w,
        devices: devices
            .iter()
            .filter_map(|d| {
                Some(pupitre_draw::RackDevice {
                    id: d.id,
                    name: d.name.clone(),
                    kind: d.asset_type.key().to_owned(),
                    status: d.status.key().to_owned(),
                    rack_u: d.rack_u?,
                    height_u: d.height_u,
                    face: match d.rack_face {
                        Some(pupitre_core::inventory::Face::Rear) => pupitre_draw::Face::Rear,
                        _ => pupitre_draw::Face::Front,
                    },
                    full_depth: d.full_depth,
                    power_draw_w: d.power_draw_w,
                    href: format!("/inventory/assets/{}", d.id),
                })
            })
            .collect(),
        labels: pupitre_draw::Labels {
            front: f0.t("face.front"),
            rear: f0.t("face.rear"),
            free: f0.t("inventory.free"),
            power: f0.t("inventory.power"),
        },
    };
    let mut f = f0;
    f.title = format!("{} — {}", f.t("inventory.rack"), rack.name);
    let rows = devices
        .iter()
        .map(|d| (d.clone(), places.location(d, &f)))
        .collect();
    Ok(RackPage {
        site: places.site(Some(rack.site_id)),
        room: places.room(Some(rack.room_id)),
        front: pupitre_draw::without_style(&pupitre_draw::rack_elevation(
            &drawing,
            pupitre_draw::Face::Front,
        )),
        rear: pupitre_draw::without_style(&pupitre_draw::rack_elevation(
            &drawing,
            pupitre_draw::Face::Rear,
        )),
        free_front: pupitre_draw::free_units(&drawing, pupitre_draw::Face::Front),
        power_w: pupitre_draw::used_power_w(&drawing),
        devices: rows,
        rack,
        f,
    }
    .into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "inventory/import.html")]
struct ImportPage {
    f: Frame,
}

/// The CSV import form; the browser sends the file to `POST /api/v1/assets/import` and
/// follows the job (see `app.js`).
async fn import(caller: Caller) -> Response {
    ImportPage {
        f: Frame::new(&caller, "/inventory", "inventory.import"),
    }
    .into_response()
}

async fn draw_css() -> Response {
    static CSS: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let css = CSS.get_or_init(pupitre_draw::stylesheet).as_str();
    (
        [
            (axum::http::header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (axum::http::header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        css,
    )
        .into_response()
}

pub fn routes() -> Vec<RouteDef> {
    let read = Access::Domain(Inventory, Read);
    let edit = Access::Domain(Inventory, Edit);
    let mut r = vec![
        page(Method::GET, "/static/draw.css", Access::Public, draw_css),
        page(Method::GET, "/inventory", read, list),
        page(Method::GET, "/inventory/quarantine", read, quarantine),
        page(Method::GET, "/inventory/import", edit, import),
        page(Method::GET, "/inventory/assets/new", edit, asset_new),
        page(Method::POST, "/inventory/assets/new", edit, asset_create),
        page(Method::GET, "/inventory/assets/{id}", read, asset),
        page(Method::GET, "/inventory/assets/{id}/edit", edit, asset_edit),
        page(Method::POST, "/inventory/assets/{id}", edit, asset_update),
        page(
            Method::POST,
            "/inventory/assets/{id}/delete",
            edit,
            asset_delete,
        ),
        page(
            Method::POST,
            "/inventory/assets/{id}/approve",
            edit,
            asset_approve,
        ),
        page(
            Method::POST,
            "/inventory/assets/{id}/relations",
            edit,
            relation_create,
        ),
        page(
            Method::POST,
            "/inventory/relations/{id}/delete",
            edit,
            relation_delete,
        ),
        page(Method::GET, "/inventory/locations", read, locations_view),
        page(Method::POST, "/inventory/sites", edit, site_create),
        page(Method::POST, "/inventory/buildings", edit, building_create),
        page(Method::POST, "/inventory/rooms", edit, room_create),
        page(Method::POST, "/inventory/racks", edit, rack_create),
        page(
            Method::POST,
            "/inventory/sites/{id}/delete",
            edit,
            site_delete,
        ),
        page(
            Method::POST,
            "/inventory/buildings/{id}/delete",
            edit,
            building_delete,
        ),
        page(
            Method::POST,
            "/inventory/rooms/{id}/delete",
            edit,
            room_delete,
        ),
        page(
            Method::POST,
            "/inventory/racks/{id}/delete",
            edit,
            rack_delete,
        ),
        page(Method::GET, "/inventory/rooms/{id}", read, room),
        page(Method::GET, "/inventory/racks/{id}", read, rack),
    ];
    r.extend(location_routes(
        LocationKind::Site,
        "/inventory/sites/{id}/edit",
        "/inventory/sites/{id}",
    ));
    r.extend(location_routes(
        LocationKind::Building,
        "/inventory/buildings/{id}/edit",
        "/inventory/buildings/{id}",
    ));
    r.extend(location_routes(
        LocationKind::Room,
        "/inventory/rooms/{id}/edit",
        "/inventory/rooms/{id}",
    ));
    r.extend(location_routes(
        LocationKind::Rack,
        "/inventory/racks/{id}/edit",
        "/inventory/racks/{id}",
    ));
    r
}
