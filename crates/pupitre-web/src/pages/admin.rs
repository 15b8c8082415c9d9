//! Administration pages: users, account templates, teams, profiles, entities, audit log.

use askama::Template;
use askama_web::WebTemplate;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use pupitre_core::model::{Entity, Profile, Team, User, UserTemplate};
use pupitre_core::permission::Domain::Administration;
use pupitre_core::permission::Level::{Edit, Manage, Read};
use pupitre_core::permission::{Access, Domain, Level};

use super::{Done, FormData, Frame, PageError, PageResult, see_other, split_error};
use crate::api::views::AuditView;
use crate::auth::Caller;
use crate::error::AppError;
use crate::extract::Id;
use crate::ops::audit::AuditParams;
use crate::ops::users::{AssignmentInput, CreateUser, ImportReport, UpdateUser, UserListParams};
use crate::ops::{self};
use crate::routes::{RouteDef, page};
use crate::state::AppState;

/// What forms need to offer choices: entities, profiles, teams, templates the caller sees.
struct Choices {
    entities: Vec<Entity>,
    profiles: Vec<Profile>,
    teams: Vec<Team>,
    templates: Vec<UserTemplate>,
}

async fn choices(st: &AppState, caller: &Caller) -> Result<Choices, PageError> {
    let err = |e| PageError(caller.clone(), e);
    Ok(Choices {
        entities: ops::entities::list(st, caller).await.map_err(err)?,
        profiles: ops::profiles::list(st, caller).await.map_err(err)?,
        teams: ops::teams::list(st, caller).await.map_err(err)?,
        templates: ops::templates::list(st, caller).await.map_err(err)?,
    })
}

fn entity_name(entities: &[Entity], id: i64) -> String {
    entities
        .iter()
        .find(|e| e.id == id)
        .map_or_else(|| format!("#{id}"), |e| e.name.clone())
}

// ---------------------------------------------------------------- users

#[derive(Template, WebTemplate)]
#[template(path = "admin/users.html")]
struct UsersPage {
    f: Frame,
    users: Vec<(User, String)>,
    q: String,
    next: Option<String>,
    can_edit: bool,
}

async fn users(
    State(st): State<AppState>,
    caller: Caller,
    Query(p): Query<UserListParams>,
) -> PageResult {
    // The list shows entity names only: no need for every profile, team and template.
    let entities = ops::entities::list(&st, &caller)
        .await
        .map_err(|e| PageError(caller.clone(), e))?;
    let (list, next) = ops::users::list(&st, &caller, &p)
        .await
        .map_err(|e| PageError(caller.clone(), e))?;
    let users = list
        .into_iter()
        .map(|u| {
            let e = entity_name(&entities, u.entity_id);
            (u, e)
        })
        .collect();
    let next = next.map(|c| {
        format!(
            "/admin/users?cursor={c}&q={}",
            crate::auth::urlencode(p.q.as_deref().unwrap_or(""))
        )
    });
    Ok(UsersPage {
        f: Frame::new(&caller, "/admin/users", "users.title"),
        users,
        q: p.q.unwrap_or_default(),
        next,
        can_edit: caller.grants.allows_somewhere(Administration, Edit),
    }
    .into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/user_new.html")]
struct UserNewPage {
    f: Frame,
    c: Choices,
    form: FormData,
    error: Option<String>,
    created: Option<(User, Option<String>)>,
}

async fn user_new(State(st): State<AppState>, caller: Caller) -> PageResult {
    let c = choices(&st, &caller).await?;
    Ok(UserNewPage {
        f: Frame::new(&caller, "/admin/users", "users.new"),
        c,
        form: FormData(vec![]),
        error: None,
        created: None,
    }
    .into_response())
}

async fn user_create(State(st): State<AppState>, caller: Caller, body: Bytes) -> PageResult {
    let form = FormData::parse(&body);
    let result = async {
        let mut assignments = Vec::new();
        if let Some(profile_id) = form.int("profile_id")? {
            assignments.push(AssignmentInput {
                entity_id: form.int("entity_id")?.unwrap_or(1),
                profile_id,
                recursive: form.checked("recursive"),
            });
        }
        let req = CreateUser {
            login: form.get("login"),
            display_name: form.get("display_name"),
            email: form.get("email"),
            phone: form.get("phone"),
            language: form.opt("language"),
            time_zone: form.opt("time_zone"),
            entity_id: form.int("entity_id")?,
            password: form.opt("password"),
            template_id: form.int("template_id")?,
            assignments,
            team_ids: form.ints("team_ids")?,
            ..CreateUser::default()
        };
        ops::users::create(&st, &caller, req).await
    }
    .await;
    let c = choices(&st, &caller).await?;
    let f = Frame::new(&caller, "/admin/users", "users.new");
    Ok(match result {
        Ok(created) => UserNewPage {
            f,
            c,
            form: FormData(vec![]),
            error: None,
            created: Some(created),
        }
        .into_response(),
        Err(e) => (
            e.status,
            UserNewPage {
                f,
                c,
                form,
                error: Some(e.to_string()),
                created: None,
            },
        )
            .into_response(),
    })
}

/// One (entity, profile) assignment as the user page shows it.
struct AssignmentRow {
    profile: String,
    entity: String,
    recursive: bool,
    /// `entity:profile`, what the remove button sends.
    key: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/user.html")]
struct UserPage {
    f: Frame,
    u: User,
    c: Choices,
    assignments: Vec<AssignmentRow>,
    can_edit: bool,
    can_manage: bool,
    error: Option<String>,
    new_password: Option<String>,
}

async fn user_page(
    st: &AppState,
    caller: &Caller,
    id: i64,
    done: Option<&str>,
    error: Option<AppError>,
    new_password: Option<String>,
) -> PageResult {
    let err = |e| PageError(caller.clone(), e);
    let u = ops::users::get(st, caller, id, Read).await.map_err(err)?;
    let c = choices(st, caller).await?;
    let assignments = st
        .store
        .list_assignments(id)
        .await
        .map_err(|e| err(e.into()))?
        .iter()
        .filter(|a| caller.grants.allows(Administration, Read, a.entity_id))
        .map(|a| {
            let profile = c
                .profiles
                .iter()
                .find(|p| p.id == a.profile_id)
                .map_or_else(|| format!("#{}", a.profile_id), |p| p.name.clone());
            AssignmentRow {
                profile,
                entity: entity_name(&c.entities, a.entity_id),
                recursive: a.recursive,
                key: format!("{}:{}", a.entity_id, a.profile_id),
            }
        })
        .collect();
    let can_edit = caller.grants.allows(Administration, Edit, u.entity_id);
    let can_manage = caller.grants.allows(Administration, Manage, u.entity_id);
    let f = Frame::new(caller, "/admin/users", "users.edit").with_flash(done);
    let (status, error) = split_error(error);
    Ok((
        status,
        UserPage {
            f,
            u,
            c,
            assignments,
            can_edit,
            can_manage,
            error,
            new_password,
        },
    )
        .into_response())
}

async fn user(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    Query(d): Query<Done>,
) -> PageResult {
    user_page(&st, &caller, id, d.done.as_deref(), None, None).await
}

async fn user_update(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    body: Bytes,
) -> PageResult {
    let form = FormData::parse(&body);
    let result = async {
        let req = UpdateUser {
            login: Some(form.get("login")),
            display_name: Some(form.get("display_name")),
            email: Some(form.get("email")),
            phone: Some(form.get("phone")),
            language: Some(form.get("language")),
            time_zone: Some(form.get("time_zone")),
            active: Some(form.checked("active")),
            entity_id: form.int("entity_id")?,
            notify_email: Some(form.checked("notify_email")),
            notify_sms: Some(form.checked("notify_sms")),
        };
        ops::users::update(&st, &caller, id, req).await
    }
    .await;
    match result {
        Ok(_) => Ok(see_other(&format!("/admin/users/{id}?done=saved"))),
        Err(e) => user_page(&st, &caller, id, None, Some(e), None).await,
    }
}

async fn user_assign(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    body: Bytes,
) -> PageResult {
    let form = FormData::parse(&body);
    let result = async {
        let mut list: Vec<AssignmentInput> = st
            .store
            .list_assignments(id)
            .await?
            .into_iter()
            .map(|a| AssignmentInput {
                entity_id: a.entity_id,
                profile_id: a.profile_id,
                recursive: a.recursive,
            })
            .collect();
        if let Some(key) = form.opt("remove") {
            let (e, p) = key.split_once(':').unwrap_or_default();
            list.retain(|a| format!("{}:{}", a.entity_id, a.profile_id) != format!("{e}:{p}"));
        } else {
            let profile_id = form
                .int("profile_id")?
                .ok_or_else(|| AppError::invalid("profile_id", "is required"))?;
            let entity_id = form
                .int("entity_id")?
                .ok_or_else(|| AppError::invalid("entity_id", "is required"))?;
            list.push(AssignmentInput {
                entity_id,
                profile_id,
                recursive: form.checked("recursive"),
            });
        }
        ops::users::set_assignments(&st, &caller, id, &list).await
    }
    .await;
    match result {
        Ok(_) => Ok(see_other(&format!("/admin/users/{id}?done=saved"))),
        Err(e) => user_page(&st, &caller, id, None, Some(e), None).await,
    }
}

async fn user_reset_password(State(st): State<AppState>, caller: Caller, Id(id): Id) -> PageResult {
    match ops::users::reset_password(&st, &caller, id, None).await {
        Ok(p) => user_page(&st, &caller, id, Some("password"), None, p).await,
        Err(e) => user_page(&st, &caller, id, None, Some(e), None).await,
    }
}

async fn user_delete(State(st): State<AppState>, caller: Caller, Id(id): Id) -> PageResult {
    match ops::users::delete(&st, &caller, id).await {
        Ok(()) => Ok(see_other("/admin/users?done=deleted")),
        Err(e) => user_page(&st, &caller, id, None, Some(e), None).await,
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/import.html")]
struct ImportPage {
    f: Frame,
    csv: String,
    error: Option<String>,
    report: Option<ImportReport>,
}

async fn import_form(caller: Caller) -> Response {
    ImportPage {
        f: Frame::new(&caller, "/admin/users", "import.title"),
        csv: String::new(),
        error: None,
        report: None,
    }
    .into_response()
}

async fn import_submit(State(st): State<AppState>, caller: Caller, body: Bytes) -> Response {
    let form = FormData::parse(&body);
    let csv = form.get("csv");
    let dry_run = form.checked("dry_run");
    let f = Frame::new(&caller, "/admin/users", "import.title");
    match ops::users::import_csv(&st, &caller, csv.as_bytes(), dry_run).await {
        Ok(report) => ImportPage {
            f,
            csv: if dry_run { csv } else { String::new() },
            error: None,
            report: Some(report),
        }
        .into_response(),
        Err(e) => (
            e.status,
            ImportPage {
                f,
                csv,
                error: Some(e.to_string()),
                report: None,
            },
        )
            .into_response(),
    }
}

// ---------------------------------------------------------------- teams

#[derive(Template, WebTemplate)]
#[template(path = "admin/teams.html")]
struct TeamsPage {
    f: Frame,
    c: Choices,
    can_edit: bool,
    error: Option<String>,
}

async fn teams_page(
    st: &AppState,
    caller: &Caller,
    done: Option<&str>,
    error: Option<AppError>,
) -> PageResult {
    let c = choices(st, caller).await?;
    let f = Frame::new(caller, "/admin/teams", "teams.title").with_flash(done);
    let (status, error) = split_error(error);
    Ok((
        status,
        TeamsPage {
            f,
            c,
            can_edit: caller.grants.allows_somewhere(Administration, Edit),
            error,
        },
    )
        .into_response())
}

async fn teams(State(st): State<AppState>, caller: Caller, Query(d): Query<Done>) -> PageResult {
    teams_page(&st, &caller, d.done.as_deref(), None).await
}

async fn team_create(State(st): State<AppState>, caller: Caller, body: Bytes) -> PageResult {
    let form = FormData::parse(&body);
    let result = async {
        let req = ops::teams::CreateTeam {
            name: form.get("name"),
            description: form.get("description"),
            entity_id: form.int("entity_id")?,
            member_ids: vec![],
        };
        ops::teams::create(&st, &caller, req).await
    }
    .await;
    match result {
        Ok(t) => Ok(see_other(&format!("/admin/teams/{}?done=created", t.id))),
        Err(e) => teams_page(&st, &caller, None, Some(e)).await,
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/team.html")]
struct TeamPage {
    f: Frame,
    t: Team,
    members: Vec<User>,
    c: Choices,
    can_edit: bool,
    error: Option<String>,
}

async fn team_page(
    st: &AppState,
    caller: &Caller,
    id: i64,
    done: Option<&str>,
    error: Option<AppError>,
) -> PageResult {
    let t = ops::teams::get(st, caller, id, Read)
        .await
        .map_err(|e| PageError(caller.clone(), e))?;
    let c = choices(st, caller).await?;
    let mut members = Vec::new();
    for m in &t.members {
        if let Ok(u) = st.store.get_user(*m).await {
            members.push(u);
        }
    }
    let f = Frame::new(caller, "/admin/teams", "teams.edit").with_flash(done);
    let can_edit = caller.grants.allows(Administration, Edit, t.entity_id);
    let (status, error) = split_error(error);
    Ok((
        status,
        TeamPage {
            f,
            t,
            members,
            c,
            can_edit,
            error,
        },
    )
        .into_response())
}

async fn team(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    Query(d): Query<Done>,
) -> PageResult {
    team_page(&st, &caller, id, d.done.as_deref(), None).await
}

async fn team_update(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    body: Bytes,
) -> PageResult {
    let form = FormData::parse(&body);
    let result = async {
        let mut members = form.ints("member_ids")?;
        if let Some(login) = form.opt("add_login") {
            let u = st
                .store
                .find_credentials(&login)
                .await?
                .filter(|c| caller.grants.allows(Administration, Read, c.user.entity_id))
                .ok_or_else(|| AppError::invalid("add_login", format!("no user `{login}`")))?;
            members.push(u.user.id);
        }
        let req = ops::teams::UpdateTeam {
            name: Some(form.get("name")),
            description: Some(form.get("description")),
            entity_id: form.int("entity_id")?,
            member_ids: Some(members),
        };
        ops::teams::update(&st, &caller, id, req).await
    }
    .await;
    match result {
        Ok(_) => Ok(see_other(&format!("/admin/teams/{id}?done=saved"))),
        Err(e) => team_page(&st, &caller, id, None, Some(e)).await,
    }
}

async fn team_delete(State(st): State<AppState>, caller: Caller, Id(id): Id) -> PageResult {
    match ops::teams::delete(&st, &caller, id).await {
        Ok(()) => Ok(see_other("/admin/teams?done=deleted")),
        Err(e) => team_page(&st, &caller, id, None, Some(e)).await,
    }
}

// ---------------------------------------------------------------- profiles

/// A profile with its levels translated, for display.
struct ProfileRow {
    p: Profile,
    levels: Vec<(String, String, String)>,
}

fn profile_rows(f: &Frame, list: &[Profile]) -> Vec<ProfileRow> {
    list.iter()
        .map(|p| ProfileRow {
            p: p.clone(),
            levels: p
                .levels
                .iter()
                .map(|(d, l)| {
                    (
                        d.key().to_owned(),
                        f.t(&format!("domain.{}", d.key())),
                        l.key().to_owned(),
                    )
                })
                .collect(),
        })
        .collect()
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/profiles.html")]
struct ProfilesPage {
    f: Frame,
    rows: Vec<ProfileRow>,
    domains: Vec<(String, String)>,
    levels: Vec<String>,
    entities: Vec<Entity>,
    can_manage: bool,
    error: Option<String>,
}

fn domain_labels(f: &Frame) -> Vec<(String, String)> {
    Domain::ALL
        .iter()
        .map(|d| (d.key().to_owned(), f.t(&format!("domain.{}", d.key()))))
        .collect()
}

fn level_keys() -> Vec<String> {
    Level::ALL.iter().map(|l| l.key().to_owned()).collect()
}

async fn profiles_page(
    st: &AppState,
    caller: &Caller,
    done: Option<&str>,
    error: Option<AppError>,
) -> PageResult {
    let list = ops::profiles::list(st, caller)
        .await
        .map_err(|e| PageError(caller.clone(), e))?;
    let entities = ops::entities::list(st, caller)
        .await
        .map_err(|e| PageError(caller.clone(), e))?;
    let f = Frame::new(caller, "/admin/profiles", "profiles.title").with_flash(done);
    let rows = profile_rows(&f, &list);
    let domains = domain_labels(&f);
    let (status, error) = split_error(error);
    let can_manage = caller.grants.allows_somewhere(Administration, Manage);
    Ok((
        status,
        ProfilesPage {
            f,
            rows,
            domains,
            levels: level_keys(),
            entities,
            can_manage,
            error,
        },
    )
        .into_response())
}

async fn profiles(State(st): State<AppState>, caller: Caller, Query(d): Query<Done>) -> PageResult {
    profiles_page(&st, &caller, d.done.as_deref(), None).await
}

fn levels_from_form(form: &FormData) -> std::collections::BTreeMap<String, String> {
    Domain::ALL
        .iter()
        .filter_map(|d| {
            form.opt(&format!("level_{}", d.key()))
                .map(|l| (d.key().to_owned(), l))
        })
        .collect()
}

async fn profile_create(State(st): State<AppState>, caller: Caller, body: Bytes) -> PageResult {
    let form = FormData::parse(&body);
    let result = async {
        let req = ops::profiles::CreateProfile {
            name: form.get("name"),
            description: form.get("description"),
            levels: levels_from_form(&form),
            assigned_only: form.checked("assigned_only"),
            entity_id: form.int("entity_id")?,
        };
        ops::profiles::create(&st, &caller, req).await
    }
    .await;
    match result {
        Ok(p) => Ok(see_other(&format!("/admin/profiles/{}?done=created", p.id))),
        Err(e) => profiles_page(&st, &caller, None, Some(e)).await,
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/profile.html")]
struct ProfilePage {
    f: Frame,
    row: ProfileRow,
    levels: Vec<String>,
    entities: Vec<Entity>,
    editable: bool,
    error: Option<String>,
}

async fn profile_page(
    st: &AppState,
    caller: &Caller,
    id: i64,
    done: Option<&str>,
    error: Option<AppError>,
) -> PageResult {
    let p = ops::profiles::get(st, caller, id, Read)
        .await
        .map_err(|e| PageError(caller.clone(), e))?;
    let entities = ops::entities::list(st, caller)
        .await
        .map_err(|e| PageError(caller.clone(), e))?;
    let f = Frame::new(caller, "/admin/profiles", "profiles.edit").with_flash(done);
    let editable = !p.builtin && caller.grants.allows(Administration, Manage, p.entity_id);
    let row = profile_rows(&f, std::slice::from_ref(&p)).remove(0);
    let (status, error) = split_error(error);
    Ok((
        status,
        ProfilePage {
            f,
            row,
            levels: level_keys(),
            entities,
            editable,
            error,
        },
    )
        .into_response())
}

async fn profile(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    Query(d): Query<Done>,
) -> PageResult {
    profile_page(&st, &caller, id, d.done.as_deref(), None).await
}

async fn profile_update(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    body: Bytes,
) -> PageResult {
    let form = FormData::parse(&body);
    let result = async {
        let req = ops::profiles::UpdateProfile {
            name: Some(form.get("name")),
            description: Some(form.get("description")),
            levels: Some(levels_from_form(&form)),
            assigned_only: Some(form.checked("assigned_only")),
            entity_id: form.int("entity_id")?,
        };
        ops::profiles::update(&st, &caller, id, req).await
    }
    .await;
    match result {
        Ok(_) => Ok(see_other(&format!("/admin/profiles/{id}?done=saved"))),
        Err(e) => profile_page(&st, &caller, id, None, Some(e)).await,
    }
}

async fn profile_delete(State(st): State<AppState>, caller: Caller, Id(id): Id) -> PageResult {
    match ops::profiles::delete(&st, &caller, id).await {
        Ok(()) => Ok(see_other("/admin/profiles?done=deleted")),
        Err(e) => profile_page(&st, &caller, id, None, Some(e)).await,
    }
}

// ---------------------------------------------------------------- entities

/// An entity with its depth in the tree, for an indented list.
struct EntityRow {
    e: Entity,
    depth: usize,
}

fn tree_rows(list: &[Entity]) -> Vec<EntityRow> {
    fn walk(
        list: &[Entity],
        parent: Option<i64>,
        depth: usize,
        out: &mut Vec<EntityRow>,
        seen: &mut Vec<i64>,
    ) {
        for e in list.iter().filter(|e| e.parent_id == parent) {
            if seen.contains(&e.id) {
                continue;
            }
            seen.push(e.id);
            out.push(EntityRow {
                e: e.clone(),
                depth,
            });
            walk(list, Some(e.id), depth + 1, out, seen);
        }
    }
    let mut out = Vec::new();
    let mut seen = Vec::new();
    let ids: Vec<i64> = list.iter().map(|e| e.id).collect();
    // Roots of what the caller sees: entities whose parent is not visible.
    for root in list
        .iter()
        .filter(|e| e.parent_id.is_none_or(|p| !ids.contains(&p)))
    {
        if seen.contains(&root.id) {
            continue;
        }
        seen.push(root.id);
        out.push(EntityRow {
            e: root.clone(),
            depth: 0,
        });
        walk(list, Some(root.id), 1, &mut out, &mut seen);
    }
    out
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/entities.html")]
struct EntitiesPage {
    f: Frame,
    rows: Vec<EntityRow>,
    can_manage: bool,
    error: Option<String>,
}

async fn entities_page(
    st: &AppState,
    caller: &Caller,
    done: Option<&str>,
    error: Option<AppError>,
) -> PageResult {
    let list = ops::entities::list(st, caller)
        .await
        .map_err(|e| PageError(caller.clone(), e))?;
    let f = Frame::new(caller, "/admin/entities", "entities.title").with_flash(done);
    let (status, error) = split_error(error);
    Ok((
        status,
        EntitiesPage {
            f,
            rows: tree_rows(&list),
            can_manage: caller.grants.allows_somewhere(Administration, Manage),
            error,
        },
    )
        .into_response())
}

async fn entities(State(st): State<AppState>, caller: Caller, Query(d): Query<Done>) -> PageResult {
    entities_page(&st, &caller, d.done.as_deref(), None).await
}

async fn entity_create(State(st): State<AppState>, caller: Caller, body: Bytes) -> PageResult {
    let form = FormData::parse(&body);
    let result = async {
        let parent_id = form
            .int("parent_id")?
            .ok_or_else(|| AppError::invalid("parent_id", "is required"))?;
        ops::entities::create(
            &st,
            &caller,
            ops::entities::CreateEntity {
                parent_id,
                name: form.get("name"),
                comment: form.get("comment"),
            },
        )
        .await
    }
    .await;
    match result {
        Ok(_) => Ok(see_other("/admin/entities?done=created")),
        Err(e) => entities_page(&st, &caller, None, Some(e)).await,
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/entity.html")]
struct EntityPage {
    f: Frame,
    e: Entity,
    /// The current parent's id, 0 for the root.
    parent_id: i64,
    parents: Vec<EntityRow>,
    can_manage: bool,
    error: Option<String>,
}

async fn entity_page(
    st: &AppState,
    caller: &Caller,
    id: i64,
    done: Option<&str>,
    error: Option<AppError>,
) -> PageResult {
    let e = ops::entities::get(st, caller, id, Read)
        .await
        .map_err(|err| PageError(caller.clone(), err))?;
    let list = ops::entities::list(st, caller)
        .await
        .map_err(|err| PageError(caller.clone(), err))?;
    let below = pupitre_core::permission::subtree(id, &caller.tree);
    let parents = tree_rows(&list)
        .into_iter()
        .filter(|r| !below.contains(&r.e.id))
        .collect();
    let f = Frame::new(caller, "/admin/entities", "entities.edit").with_flash(done);
    let can_manage = caller.grants.allows(Administration, Manage, id);
    let (status, error) = split_error(error);
    let parent_id = e.parent_id.unwrap_or(0);
    Ok((
        status,
        EntityPage {
            f,
            e,
            parent_id,
            parents,
            can_manage,
            error,
        },
    )
        .into_response())
}

async fn entity(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    Query(d): Query<Done>,
) -> PageResult {
    entity_page(&st, &caller, id, d.done.as_deref(), None).await
}

async fn entity_update(
    State(st): State<AppState>,
    caller: Caller,
    Id(id): Id,
    body: Bytes,
) -> PageResult {
    let form = FormData::parse(&body);
    let result = async {
        let req = ops::entities::UpdateEntity {
            parent_id: form.int("parent_id")?,
            name: Some(form.get("name")),
            comment: Some(form.get("comment")),
        };
        ops::entities::update(&st, &caller, id, req).await
    }
    .await;
    match result {
        Ok(_) => Ok(see_other(&format!("/admin/entities/{id}?done=saved"))),
        Err(e) => entity_page(&st, &caller, id, None, Some(e)).await,
    }
}

async fn entity_delete(State(st): State<AppState>, caller: Caller, Id(id): Id) -> PageResult {
    match ops::entities::delete(&st, &caller, id).await {
        Ok(()) => Ok(see_other("/admin/entities?done=deleted")),
        Err(e) => entity_page(&st, &caller, id, None, Some(e)).await,
    }
}

// ---------------------------------------------------------------- account templates

#[derive(Template, WebTemplate)]
#[template(path = "admin/templates.html")]
struct TemplatesPage {
    f: Frame,
    c: Choices,
    can_edit: bool,
    error: Option<String>,
}

async fn templates_page(
    st: &AppState,
    caller: &Caller,
    done: Option<&str>,
    error: Option<AppError>,
) -> PageResult {
    let c = choices(st, caller).await?;
    let f = Frame::new(caller, "/admin/templates", "templates.title").with_flash(done);
    let (status, error) = split_error(error);
    Ok((
        status,
        TemplatesPage {
            f,
            c,
            can_edit: caller.grants.allows_somewhere(Administration, Manage),
            error,
        },
    )
        .into_response())
}

async fn templates(
    State(st): State<AppState>,
    caller: Caller,
    Query(d): Query<Done>,
) -> PageResult {
    templates_page(&st, &caller, d.done.as_deref(), None).await
}

async fn template_create(State(st): State<AppState>, caller: Caller, body: Bytes) -> PageResult {
    let form = FormData::parse(&body);
    let result = async {
        let profile_id = form
            .int("profile_id")?
            .ok_or_else(|| AppError::invalid("profile_id", "is required"))?;
        let req = ops::templates::CreateUserTemplate {
            name: form.get("name"),
            entity_id: form.int("entity_id")?,
            profile_id,
            recursive: form.checked("recursive"),
            team_id: form.int("team_id")?,
            language: form.opt("language"),
            time_zone: form.opt("time_zone"),
            notify_email: Some(form.checked("notify_email")),
            notify_sms: Some(form.checked("notify_sms")),
        };
        ops::templates::create(&st, &caller, req).await
    }
    .await;
    match result {
        Ok(_) => Ok(see_other("/admin/templates?done=created")),
        Err(e) => templates_page(&st, &caller, None, Some(e)).await,
    }
}

async fn template_delete(State(st): State<AppState>, caller: Caller, Id(id): Id) -> PageResult {
    match ops::templates::delete(&st, &caller, id).await {
        Ok(()) => Ok(see_other("/admin/templates?done=deleted")),
        Err(e) => templates_page(&st, &caller, None, Some(e)).await,
    }
}

// ---------------------------------------------------------------- audit log

#[derive(Template, WebTemplate)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    f: Frame,
    records: Vec<AuditView>,
    action: String,
    object_type: String,
    actor: String,
    next: Option<String>,
}

async fn audit(
    State(st): State<AppState>,
    caller: Caller,
    Query(p): Query<AuditParams>,
) -> PageResult {
    let (records, next) = ops::audit::list(&st, &caller, &p)
        .await
        .map_err(|e| PageError(caller.clone(), e))?;
    let enc = |v: &Option<String>| crate::auth::urlencode(v.as_deref().unwrap_or(""));
    let next = next.map(|c| {
        format!(
            "/admin/audit?cursor={c}&action={}&object_type={}&actor={}",
            enc(&p.action),
            enc(&p.object_type),
            enc(&p.actor)
        )
    });
    Ok(AuditPage {
        f: Frame::new(&caller, "/admin/audit", "audit.title"),
        records: records.iter().map(AuditView::from).collect(),
        action: p.action.unwrap_or_default(),
        object_type: p.object_type.unwrap_or_default(),
        actor: p.actor.unwrap_or_default(),
        next,
    }
    .into_response())
}

pub fn routes() -> Vec<RouteDef> {
    let a = |l| Access::Domain(Administration, l);
    use Method as M;
    vec![
        page(M::GET, "/admin/users", a(Read), users),
        page(M::GET, "/admin/users/new", a(Edit), user_new),
        page(M::POST, "/admin/users/new", a(Edit), user_create),
        page(M::GET, "/admin/users/import", a(Edit), import_form),
        page(M::POST, "/admin/users/import", a(Edit), import_submit),
        page(M::GET, "/admin/users/{id}", a(Read), user),
        page(M::POST, "/admin/users/{id}", a(Edit), user_update),
        page(
            M::POST,
            "/admin/users/{id}/assignments",
            a(Manage),
            user_assign,
        ),
        page(
            M::POST,
            "/admin/users/{id}/password",
            a(Edit),
            user_reset_password,
        ),
        page(M::POST, "/admin/users/{id}/delete", a(Edit), user_delete),
        page(M::GET, "/admin/teams", a(Read), teams),
        page(M::POST, "/admin/teams", a(Edit), team_create),
        page(M::GET, "/admin/teams/{id}", a(Read), team),
        page(M::POST, "/admin/teams/{id}", a(Edit), team_update),
        page(M::POST, "/admin/teams/{id}/delete", a(Edit), team_delete),
        page(M::GET, "/admin/profiles", a(Read), profiles),
        page(M::POST, "/admin/profiles", a(Manage), profile_create),
        page(M::GET, "/admin/profiles/{id}", a(Read), profile),
        page(M::POST, "/admin/profiles/{id}", a(Manage), profile_update),
        page(
            M::POST,
            "/admin/profiles/{id}/delete",
            a(Manage),
            profile_delete,
        ),
        page(M::GET, "/admin/entities", a(Read), entities),
        page(M::POST, "/admin/entities", a(Manage), entity_create),
        page(M::GET, "/admin/entities/{id}", a(Read), entity),
        page(M::POST, "/admin/entities/{id}", a(Manage), entity_update),
        page(
            M::POST,
            "/admin/entities/{id}/delete",
            a(Manage),
            entity_delete,
        ),
        page(M::GET, "/admin/templates", a(Read), templates),
        page(M::POST, "/admin/templates", a(Manage), template_create),
        page(
            M::POST,
            "/admin/templates/{id}/delete",
            a(Manage),
            template_delete,
        ),
        page(M::GET, "/admin/audit", a(Read), audit),
    ]
}
