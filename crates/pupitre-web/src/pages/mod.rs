//! The server-rendered web UI. Handlers build plain view models for askama templates and
//! call the same operations as the REST API; templates never touch the store.

mod account;
mod admin;
mod agents;
mod check_templates;
mod credentials;
mod downtimes;
mod incidents;
mod inventory;
mod maintenance;
mod monitoring;
mod notify;
mod oncall;
mod runbooks;
mod silences;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pupitre_core::permission::Domain::{self, *};
use pupitre_core::permission::Level::Read;
use pupitre_core::permission::{Access, Level};

use crate::auth::Caller;
use crate::error::AppError;
use crate::i18n::Tr;
use crate::routes::{RouteDef, page};
use crate::state::AppState;

/// One entry of the navigation.
pub struct NavItem {
    pub href: &'static str,
    pub key: &'static str,
    /// The page shown is this entry's.
    pub current: bool,
    /// A separator goes before this entry.
    pub starts_group: bool,
}

/// Top-level pages, in navigation order, with what they need.
const NAV: &[(&str, &str, &str, Option<Domain>)] = &[
    ("/", "nav.dashboard", "main", None),
    ("/inventory", "nav.inventory", "main", Some(Inventory)),
    ("/monitoring", "nav.monitoring", "main", Some(Monitoring)),
    ("/jobs", "nav.jobs", "main", Some(Jobs)),
    ("/backups", "nav.backups", "main", Some(Backups)),
    ("/incidents", "nav.incidents", "main", Some(Incidents)),
    ("/oncall", "nav.oncall", "main", Some(Incidents)),
    ("/maintenance", "nav.maintenance", "main", Some(Maintenance)),
    ("/stock", "nav.stock", "main", Some(Stock)),
    ("/helpdesk", "nav.helpdesk", "main", Some(Helpdesk)),
    ("/reports", "nav.reports", "main", Some(Reports)),
    ("/shiftlog", "nav.shiftlog", "main", Some(Incidents)),
    ("/admin/users", "nav.users", "admin", Some(Administration)),
    ("/admin/teams", "nav.teams", "admin", Some(Administration)),
    (
        "/admin/profiles",
        "nav.profiles",
        "admin",
        Some(Administration),
    ),
    (
        "/admin/entities",
        "nav.entities",
        "admin",
        Some(Administration),
    ),
    (
        "/admin/templates",
        "nav.templates",
        "admin",
        Some(Administration),
    ),
    ("/admin/audit", "nav.audit", "admin", Some(Administration)),
    ("/settings", "nav.settings", "me", None),
    ("/api/docs", "nav.api", "me", None),
];

/// The frame around every page: language, navigation, the user, the CSRF token.
pub struct Frame {
    pub tr: Tr,
    pub title: String,
    pub user_name: String,
    pub nav: Vec<NavItem>,
    pub active: &'static str,
    pub csrf: String,
    pub flash: Option<String>,
    /// The caller may search the inventory: the header shows the global search box.
    pub search: bool,
}

impl Frame {
    pub fn new(caller: &Caller, active: &'static str, title_key: &str) -> Frame {
        let tr = Tr::new(&caller.user.language);
        let mut nav = Vec::new();
        let mut last_group = "";
        for &(href, key, group, domain) in NAV {
            if domain.is_some_and(|d| !caller.grants.allows_somewhere(d, Read)) {
                continue;
            }
            nav.push(NavItem {
                href,
                key,
                current: href == active,
                starts_group: !last_group.is_empty() && group != last_group,
            });
            last_group = group;
        }
        Frame {
            title: tr.t(title_key),
            tr,
            user_name: caller.user.display_name.clone(),
            nav,
            active,
            csrf: caller.csrf().to_owned(),
            flash: None,
            search: caller.grants.allows_somewhere(Inventory, Read),
        }
    }

    /// Shows a translated confirmation for a `?done=` key the handlers know.
    pub fn with_flash(mut self, done: Option<&str>) -> Frame {
        const KNOWN: &[&str] = &[
            "saved",
            "created",
            "deleted",
            "password",
            "revoked",
            "logged_out_everywhere",
            "imported",
            "ran",
        ];
        self.flash = done
            .filter(|d| KNOWN.contains(d))
            .map(|d| self.tr.t(&format!("flash.{d}")));
        self
    }

    pub fn t(&self, key: &str) -> String {
        self.tr.t(key)
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "error.html")]
struct ErrorPage {
    f: Frame,
    status: u16,
    message: String,
}

/// An error inside the frame, for a logged-in caller.
pub fn error_page(caller: &Caller, e: &AppError) -> Response {
    let f = Frame::new(caller, "", "error.title");
    let page = ErrorPage {
        f,
        status: e.status.as_u16(),
        message: e.to_string(),
    };
    (e.status, page).into_response()
}

#[derive(Template, WebTemplate)]
#[template(path = "not_found.html")]
struct NotFoundPage {
    tr: Tr,
}

pub fn not_found_page(headers: &HeaderMap) -> Response {
    (
        StatusCode::NOT_FOUND,
        NotFoundPage {
            tr: Tr::negotiate(None, headers),
        },
    )
        .into_response()
}

/// Handler results for pages: errors are rendered in the frame.
pub struct PageError(pub Caller, pub AppError);

/// Entity names by id.
pub async fn entity_names(
    st: &AppState,
) -> Result<std::collections::BTreeMap<i64, String>, AppError> {
    Ok(st
        .store
        .list_entities()
        .await?
        .into_iter()
        .map(|e| (e.id, e.name))
        .collect())
}

/// Turns an operation's error into the page error shown to `caller`.
pub fn perr(caller: &Caller) -> impl Fn(AppError) -> PageError + '_ {
    move |e| PageError(caller.clone(), e)
}

/// An option of a select, or a box of a group of check boxes.
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// The options `(value, label)` of `list`, those `chosen` says selected.
pub fn choices(
    list: impl IntoIterator<Item = (String, String)>,
    chosen: impl Fn(&str) -> bool,
) -> Vec<Choice> {
    list.into_iter()
        .map(|(value, label)| Choice {
            selected: chosen(&value),
            value,
            label,
        })
        .collect()
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        error_page(&self.0, &self.1)
    }
}

pub type PageResult = Result<Response, PageError>;

/// A url-encoded form as submitted, so that multi-valued fields survive.
pub struct FormData(pub Vec<(String, String)>);

impl FormData {
    pub fn parse(body: &[u8]) -> FormData {
        FormData(serde_urlencoded::from_bytes(body).unwrap_or_default())
    }

    pub fn get(&self, name: &str) -> String {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    pub fn opt(&self, name: &str) -> Option<String> {
        Some(self.get(name)).filter(|v| !v.is_empty())
    }

    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn checked(&self, name: &str) -> bool {
        self.0
            .iter()
            .any(|(k, v)| k == name && v != "false" && v != "0")
    }

    pub fn int(&self, name: &str) -> Result<Option<i64>, AppError> {
        match self.opt(name) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| AppError::invalid(name, "must be a number")),
        }
    }

    /// An optional 32-bit number (rack units, grid positions, counts).
    pub fn int32(&self, name: &str) -> Result<Option<i32>, AppError> {
        self.int(name)?
            .map(|v| i32::try_from(v).map_err(|_| AppError::invalid(name, "is out of range")))
            .transpose()
    }

    pub fn ints(&self, name: &str) -> Result<Vec<i64>, AppError> {
        self.all(name)
            .iter()
            .filter(|v| !v.is_empty())
            .map(|v| {
                v.trim()
                    .parse()
                    .map_err(|_| AppError::invalid(name, "must be a number"))
            })
            .collect()
    }
}

/// The `?done=` confirmation a page shows after a redirect (see [`Frame::with_flash`]).
#[derive(Debug, Default, serde::Deserialize)]
pub struct Done {
    pub done: Option<String>,
}

/// The status and message of an error shown above a form (200 when there is none).
pub fn split_error(error: Option<AppError>) -> (StatusCode, Option<String>) {
    match error {
        Some(e) => (e.status, Some(e.to_string())),
        None => (StatusCode::OK, None),
    }
}

/// A failed form's errors, each with the field it names (empty when the error has none), to
/// list above the form shown again with what was typed.
#[derive(Default)]
pub struct FieldErrors(pub Vec<(String, String)>);

impl FieldErrors {
    pub fn of(e: &AppError) -> FieldErrors {
        if e.errors.is_empty() {
            FieldErrors(vec![(
                e.field.clone().unwrap_or_default(),
                e.message.clone(),
            )])
        } else {
            FieldErrors(
                e.errors
                    .iter()
                    .map(|f| (f.field.clone(), f.message.clone()))
                    .collect(),
            )
        }
    }

    /// Whether an error concerns the form field `name` (or a part of it: `checks[2].name`).
    pub fn on(&self, name: &str) -> bool {
        self.0.iter().any(|(f, _)| {
            f.strip_prefix(name)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['[', '.']))
        })
    }
}

/// A number typed in a form field kept as text (empty: none).
pub fn optional_number<T: std::str::FromStr>(
    field: &str,
    text: &str,
) -> Result<Option<T>, AppError> {
    match text.trim() {
        "" => Ok(None),
        t => t
            .parse()
            .map(Some)
            .map_err(|_| AppError::invalid(field, "must be a whole number")),
    }
}

/// A 303 redirect after a successful form post.
pub fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response()
}

#[derive(Template, WebTemplate)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    f: Frame,
    users: i64,
    entities: usize,
    domains: Vec<(String, String)>,
}

async fn dashboard(State(st): State<AppState>, caller: Caller) -> PageResult {
    let users = if caller
        .grants
        .allows(Administration, Read, pupitre_core::model::ROOT_ENTITY)
    {
        st.store
            .count_users()
            .await
            .map_err(|e| PageError(caller.clone(), e.into()))?
    } else {
        0
    };
    let f = Frame::new(&caller, "/", "dashboard.title");
    let domains = caller
        .grants
        .best()
        .iter()
        .filter(|(_, l)| *l > Level::None)
        .map(|(d, l)| {
            (
                f.t(&format!("domain.{}", d.key())),
                f.t(&format!("level.{}", l.key())),
            )
        })
        .collect();
    let entities = caller.visible(Administration).len();
    Ok(DashboardPage {
        f,
        users,
        entities,
        domains,
    }
    .into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "coming_soon.html")]
struct ComingSoonPage {
    f: Frame,
    what: String,
}

fn coming_soon(caller: &Caller, href: &'static str, key: &'static str) -> Response {
    let f = Frame::new(caller, href, key);
    let what = f.t(&format!("{key}.soon"));
    ComingSoonPage { f, what }.into_response()
}

async fn stylesheet() -> Response {
    static_asset(
        "text/css; charset=utf-8",
        include_str!("../../assets/app.css"),
    )
}

async fn script() -> Response {
    static_asset(
        "text/javascript; charset=utf-8",
        include_str!("../../assets/app.js"),
    )
}

async fn favicon() -> Response {
    static_asset("image/svg+xml", include_str!("../../assets/favicon.svg"))
}

fn static_asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// Serves the configured `public_dir` read-only under `/public/`.
async fn public_file(State(st): State<AppState>, req: axum::extract::Request) -> Response {
    use tower::ServiceExt;
    let Some(dir) = st.config.public_dir.clone() else {
        return not_found_page(req.headers());
    };
    let (mut parts, body) = req.into_parts();
    let rest = parts.uri.path().trim_start_matches("/public").to_owned();
    parts.uri = rest.parse().unwrap_or_default();
    let req = axum::extract::Request::from_parts(parts, body);
    match tower_http::services::ServeDir::new(dir).oneshot(req).await {
        Ok(resp) => resp.into_response(),
        Err(never) => match never {},
    }
}

pub fn routes() -> Vec<RouteDef> {
    let authed = Access::Authenticated;
    let mut r = vec![
        page(Method::GET, "/", authed, dashboard),
        page(Method::GET, "/static/app.css", Access::Public, stylesheet),
        page(Method::GET, "/static/app.js", Access::Public, script),
        page(Method::GET, "/static/favicon.svg", Access::Public, favicon),
        page(Method::GET, "/public/{*path}", Access::Public, public_file),
    ];
    for &(href, key, group, domain) in NAV {
        if group != "main"
            || href == "/"
            || href == "/inventory"
            || href == "/monitoring"
            || href == "/incidents"
            || href == "/shiftlog"
            || href == "/oncall"
            || href == "/maintenance"
        {
            continue;
        }
        let access = domain.map_or(authed, |d| Access::Domain(d, Read));
        r.push(page(
            Method::GET,
            href,
            access,
            move |caller: Caller| async move { coming_soon(&caller, href, key) },
        ));
    }
    r.extend(account::routes());
    r.extend(admin::routes());
    r.extend(inventory::routes());
    r.extend(monitoring::routes());
    r.extend(downtimes::routes());
    r.extend(check_templates::routes());
    r.extend(credentials::routes());
    r.extend(agents::routes());
    r.extend(incidents::routes());
    r.extend(notify::routes());
    r.extend(runbooks::routes());
    r.extend(silences::routes());
    r.extend(maintenance::routes());
    r.extend(oncall::routes());
    r.extend(incidents::link_routes());
    r.extend(incidents::shift_log_routes());
    r.extend(incidents::oncall_routes());
    r
}
