//! The route registry: every route with its method, path, required access and kind. The
//! router is built from this list, and the route-matrix test walks the same list, so a route
//! added here is covered by the permission, entity and audit tests automatically.

use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{MethodFilter, MethodRouter, on};
use pupitre_core::permission::Access;
use pupitre_core::permission::Domain::{Administration, Inventory, Monitoring};
use pupitre_core::permission::Level::{Edit, Manage, Operate, Read};

use crate::api::{admin, inventory as inv, me, monitoring as mon, system};
use crate::auth::Kind;
use crate::pages;
use crate::state::AppState;

pub struct RouteDef {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
    pub kind: Kind,
    pub handler: MethodRouter<AppState>,
}

fn route<H, T>(
    method: Method,
    path: &'static str,
    access: Access,
    kind: Kind,
    handler: H,
) -> RouteDef
where
    H: Handler<T, AppState>,
    T: 'static,
{
    let filter = MethodFilter::try_from(method.clone()).unwrap_or(MethodFilter::GET);
    RouteDef {
        method,
        path,
        access,
        kind,
        handler: on(filter, handler),
    }
}

pub fn routes() -> Vec<RouteDef> {
    use Kind::Api;
    use Method as M;
    let public = Access::Public;
    let authed = Access::Authenticated;
    let admin = |l| Access::Domain(Administration, l);
    let inventory = |l| Access::Domain(Inventory, l);
    let monitoring = |l| Access::Domain(Monitoring, l);
    let mut r = vec![
        // System
        route(M::GET, "/healthz", public, Api, system::healthz),
        route(M::GET, "/readyz", public, Api, system::readyz),
        route(M::GET, "/metrics", public, Api, system::metrics),
        route(
            M::GET,
            "/api/v1/openapi.json",
            authed,
            Api,
            system::openapi_json,
        ),
        // Users and account templates
        route(M::GET, "/api/v1/users", admin(Read), Api, admin::list_users),
        route(
            M::POST,
            "/api/v1/users",
            admin(Edit),
            Api,
            admin::create_user,
        ),
        route(
            M::POST,
            "/api/v1/users/import",
            admin(Edit),
            Api,
            admin::import_users,
        ),
        route(
            M::GET,
            "/api/v1/users/{id}",
            admin(Read),
            Api,
            admin::get_user,
        ),
        route(
            M::PATCH,
            "/api/v1/users/{id}",
            admin(Edit),
            Api,
            admin::update_user,
        ),
        route(
            M::DELETE,
            "/api/v1/users/{id}",
            admin(Edit),
            Api,
            admin::delete_user,
        ),
        route(
            M::POST,
            "/api/v1/users/{id}/password",
            admin(Edit),
            Api,
            admin::reset_password,
        ),
        route(
            M::GET,
            "/api/v1/users/{id}/assignments",
            admin(Read),
            Api,
            admin::get_assignments,
        ),
        route(
            M::PUT,
            "/api/v1/users/{id}/assignments",
            admin(Manage),
            Api,
            admin::set_assignments,
        ),
        route(
            M::GET,
            "/api/v1/user-templates",
            admin(Read),
            Api,
            admin::list_templates,
        ),
        route(
            M::POST,
            "/api/v1/user-templates",
            admin(Manage),
            Api,
            admin::create_template,
        ),
        route(
            M::GET,
            "/api/v1/user-templates/{id}",
            admin(Read),
            Api,
            admin::get_template,
        ),
        route(
            M::PATCH,
            "/api/v1/user-templates/{id}",
            admin(Manage),
            Api,
            admin::update_template,
        ),
        route(
            M::DELETE,
            "/api/v1/user-templates/{id}",
            admin(Manage),
            Api,
            admin::delete_template,
        ),
        // Teams, profiles, entities, audit
        route(M::GET, "/api/v1/teams", admin(Read), Api, admin::list_teams),
        route(
            M::POST,
            "/api/v1/teams",
            admin(Edit),
            Api,
            admin::create_team,
        ),
        route(
            M::GET,
            "/api/v1/teams/{id}",
            admin(Read),
            Api,
            admin::get_team,
        ),
        route(
            M::PATCH,
            "/api/v1/teams/{id}",
            admin(Edit),
            Api,
            admin::update_team,
        ),
        route(
            M::DELETE,
            "/api/v1/teams/{id}",
            admin(Edit),
            Api,
            admin::delete_team,
        ),
        route(
            M::GET,
            "/api/v1/profiles",
            admin(Read),
            Api,
            admin::list_profiles,
        ),
        route(
            M::POST,
            "/api/v1/profiles",
            admin(Manage),
            Api,
            admin::create_profile,
        ),
        route(
            M::GET,
            "/api/v1/profiles/{id}",
            admin(Read),
            Api,
            admin::get_profile,
        ),
        route(
            M::PATCH,
            "/api/v1/profiles/{id}",
            admin(Manage),
            Api,
            admin::update_profile,
        ),
        route(
            M::DELETE,
            "/api/v1/profiles/{id}",
            admin(Manage),
            Api,
            admin::delete_profile,
        ),
        route(
            M::GET,
            "/api/v1/entities",
            admin(Read),
            Api,
            admin::list_entities,
        ),
        route(
            M::POST,
            "/api/v1/entities",
            admin(Manage),
            Api,
            admin::create_entity,
        ),
        route(
            M::GET,
            "/api/v1/entities/{id}",
            admin(Read),
            Api,
            admin::get_entity,
        ),
        route(
            M::PATCH,
            "/api/v1/entities/{id}",
            admin(Manage),
            Api,
            admin::update_entity,
        ),
        route(
            M::DELETE,
            "/api/v1/entities/{id}",
            admin(Manage),
            Api,
            admin::delete_entity,
        ),
        route(M::GET, "/api/v1/audit", admin(Read), Api, admin::list_audit),
        // Inventory: locations
        route(
            M::GET,
            "/api/v1/sites",
            inventory(Read),
            Api,
            inv::list_sites,
        ),
        route(
            M::POST,
            "/api/v1/sites",
            inventory(Edit),
            Api,
            inv::create_site,
        ),
        route(
            M::GET,
            "/api/v1/sites/{id}",
            inventory(Read),
            Api,
            inv::get_site,
        ),
        route(
            M::PATCH,
            "/api/v1/sites/{id}",
            inventory(Edit),
            Api,
            inv::update_site,
        ),
        route(
            M::DELETE,
            "/api/v1/sites/{id}",
            inventory(Edit),
            Api,
            inv::delete_site,
        ),
        route(
            M::GET,
            "/api/v1/buildings",
            inventory(Read),
            Api,
            inv::list_buildings,
        ),
        route(
            M::POST,
            "/api/v1/buildings",
            inventory(Edit),
            Api,
            inv::create_building,
        ),
        route(
            M::GET,
            "/api/v1/buildings/{id}",
            inventory(Read),
            Api,
            inv::get_building,
        ),
        route(
            M::PATCH,
            "/api/v1/buildings/{id}",
            inventory(Edit),
            Api,
            inv::update_building,
        ),
        route(
            M::DELETE,
            "/api/v1/buildings/{id}",
            inventory(Edit),
            Api,
            inv::delete_building,
        ),
        route(
            M::GET,
            "/api/v1/rooms",
            inventory(Read),
            Api,
            inv::list_rooms,
        ),
        route(
            M::POST,
            "/api/v1/rooms",
            inventory(Edit),
            Api,
            inv::create_room,
        ),
        route(
            M::GET,
            "/api/v1/rooms/{id}",
            inventory(Read),
            Api,
            inv::get_room,
        ),
        route(
            M::PATCH,
            "/api/v1/rooms/{id}",
            inventory(Edit),
            Api,
            inv::update_room,
        ),
        route(
            M::DELETE,
            "/api/v1/rooms/{id}",
            inventory(Edit),
            Api,
            inv::delete_room,
        ),
        route(
            M::GET,
            "/api/v1/racks",
            inventory(Read),
            Api,
            inv::list_racks,
        ),
        route(
            M::POST,
            "/api/v1/racks",
            inventory(Edit),
            Api,
            inv::create_rack,
        ),
        route(
            M::GET,
            "/api/v1/racks/{id}",
            inventory(Read),
            Api,
            inv::get_rack,
        ),
        route(
            M::PATCH,
            "/api/v1/racks/{id}",
            inventory(Edit),
            Api,
            inv::update_rack,
        ),
        route(
            M::DELETE,
            "/api/v1/racks/{id}",
            inventory(Edit),
            Api,
            inv::delete_rack,
        ),
        // Inventory: assets
        route(
            M::GET,
            "/api/v1/inventory/vocabulary",
            authed,
            Api,
            inv::vocabulary,
        ),
        route(
            M::GET,
            "/api/v1/assets",
            inventory(Read),
            Api,
            inv::list_assets,
        ),
        route(
            M::POST,
            "/api/v1/assets",
            inventory(Edit),
            Api,
            inv::create_asset,
        ),
        route(
            M::GET,
            "/api/v1/assets/export",
            inventory(Read),
            Api,
            crate::api::inventory_csv::export_assets,
        ),
        // Reads its body itself, up to inventory_csv::MAX_IMPORT_BYTES.
        route(
            M::POST,
            "/api/v1/assets/import",
            inventory(Edit),
            Api,
            crate::api::inventory_csv::import_assets,
        ),
        route(
            M::GET,
            "/api/v1/assets/import/{id}",
            inventory(Edit),
            Api,
            crate::api::inventory_csv::import_job,
        ),
        route(
            M::GET,
            "/api/v1/assets/{id}",
            inventory(Read),
            Api,
            inv::get_asset,
        ),
        route(
            M::PATCH,
            "/api/v1/assets/{id}",
            inventory(Edit),
            Api,
            inv::update_asset,
        ),
        route(
            M::DELETE,
            "/api/v1/assets/{id}",
            inventory(Edit),
            Api,
            inv::delete_asset,
        ),
        route(
            M::POST,
            "/api/v1/assets/{id}/approve",
            inventory(Edit),
            Api,
            inv::approve_asset,
        ),
        route(
            M::GET,
            "/api/v1/assets/{id}/relations",
            inventory(Read),
            Api,
            inv::asset_relations,
        ),
        route(
            M::GET,
            "/api/v1/assets/{id}/graph",
            inventory(Read),
            Api,
            inv::asset_graph,
        ),
        route(
            M::GET,
            "/api/v1/assets/{id}/software",
            inventory(Read),
            Api,
            inv::asset_software,
        ),
        route(
            M::POST,
            "/api/v1/relations",
            inventory(Edit),
            Api,
            inv::create_relation,
        ),
        route(
            M::DELETE,
            "/api/v1/relations/{id}",
            inventory(Edit),
            Api,
            inv::delete_relation,
        ),
        route(
            M::GET,
            "/api/v1/software/installations",
            inventory(Read),
            Api,
            inv::installations,
        ),
        // Field agents authenticate inside the handler, with an API token as the Basic
        // password, so that the 401 carries the challenge their HTTP client waits for.
        route(
            M::POST,
            "/api/v1/inventory/agent",
            public,
            Api,
            inv::agent_inventory,
        ),
        // Supervision
        route(
            M::GET,
            "/api/v1/check-templates",
            monitoring(Read),
            Api,
            mon::list_templates,
        ),
        route(
            M::POST,
            "/api/v1/check-templates",
            monitoring(Edit),
            Api,
            mon::create_template,
        ),
        route(
            M::GET,
            "/api/v1/check-templates/{id}",
            monitoring(Read),
            Api,
            mon::get_template,
        ),
        route(
            M::PUT,
            "/api/v1/check-templates/{id}",
            monitoring(Edit),
            Api,
            mon::update_template,
        ),
        route(
            M::DELETE,
            "/api/v1/check-templates/{id}",
            monitoring(Edit),
            Api,
            mon::delete_template,
        ),
        route(
            M::GET,
            "/api/v1/checks",
            monitoring(Read),
            Api,
            mon::list_checks,
        ),
        route(
            M::POST,
            "/api/v1/checks",
            monitoring(Edit),
            Api,
            mon::create_check,
        ),
        route(
            M::GET,
            "/api/v1/checks/{id}",
            monitoring(Read),
            Api,
            mon::get_check,
        ),
        route(
            M::PUT,
            "/api/v1/checks/{id}",
            monitoring(Edit),
            Api,
            mon::update_check,
        ),
        route(
            M::DELETE,
            "/api/v1/checks/{id}",
            monitoring(Edit),
            Api,
            mon::delete_check,
        ),
        route(
            M::POST,
            "/api/v1/checks/{id}/run",
            monitoring(Operate),
            Api,
            mon::run_check,
        ),
        route(
            M::POST,
            "/api/v1/checks/{id}/acknowledgement",
            monitoring(Operate),
            Api,
            mon::acknowledge,
        ),
        route(
            M::DELETE,
            "/api/v1/checks/{id}/acknowledgement",
            monitoring(Operate),
            Api,
            mon::unacknowledge,
        ),
        route(
            M::GET,
            "/api/v1/checks/{id}/events",
            monitoring(Read),
            Api,
            mon::check_events,
        ),
        route(
            M::GET,
            "/api/v1/problems",
            monitoring(Read),
            Api,
            mon::problems,
        ),
        route(
            M::GET,
            "/api/v1/monitoring/overview",
            monitoring(Read),
            Api,
            mon::overview,
        ),
        route(
            M::GET,
            "/api/v1/downtimes",
            monitoring(Read),
            Api,
            mon::list_downtimes,
        ),
        route(
            M::POST,
            "/api/v1/downtimes",
            monitoring(Operate),
            Api,
            mon::create_downtime,
        ),
        route(
            M::DELETE,
            "/api/v1/downtimes/{id}",
            monitoring(Operate),
            Api,
            mon::delete_downtime,
        ),
        // The secret in the path is the heartbeat's credential, checked by the handler.
        route(
            M::GET,
            "/api/v1/heartbeat/{token}",
            public,
            Api,
            mon::heartbeat,
        ),
        route(
            M::POST,
            "/api/v1/heartbeat/{token}",
            public,
            Api,
            mon::heartbeat,
        ),
        // The caller's own account
        route(M::GET, "/api/v1/me", authed, Api, me::get_me),
        route(M::PATCH, "/api/v1/me", authed, Api, me::update_me),
        route(
            M::POST,
            "/api/v1/me/password",
            authed,
            Api,
            me::change_password,
        ),
        route(
            M::POST,
            "/api/v1/me/logout-everywhere",
            authed,
            Api,
            me::logout_everywhere,
        ),
        route(M::GET, "/api/v1/me/tokens", authed, Api, me::list_tokens),
        route(M::POST, "/api/v1/me/tokens", authed, Api, me::create_token),
        route(
            M::DELETE,
            "/api/v1/me/tokens/{id}",
            authed,
            Api,
            me::revoke_token,
        ),
    ];
    r.extend(pages::routes());
    r
}

/// Shorthand for page modules.
pub fn page<H, T>(method: Method, path: &'static str, access: Access, handler: H) -> RouteDef
where
    H: Handler<T, AppState>,
    T: 'static,
{
    route(method, path, access, Kind::Page, handler)
}
