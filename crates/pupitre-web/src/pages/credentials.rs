//! Credential pages: the list of stored credentials (SNMP communities, SNMPv3 users,
//! passwords), the one form that creates or changes any kind, and deletion. They call the
//! same operations as `/api/v1/credentials` (`ops::credentials`), which validate and seal.
//!
//! Secrets are write-only here too: no page ever carries one. Secret inputs are always
//! rendered empty, even when a refused form comes back, and an empty one is sent as "not
//! given", so that an update keeps the stored value. The form has no script (the CSP allows
//! none inline): each kind's fields sit in their own fieldset, and the kind chosen says
//! which are read. A secret typed in another kind's fieldset is still sent, and refused by
//! the validation, rather than dropped without a word.

use askama::Template;
use askama_web::WebTemplate;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use pupitre_core::credential::{
    AuthProtocol, CommunityVersion, CredentialKind, PrivProtocol, SecurityLevel,
};
use pupitre_core::permission::Access;
use pupitre_core::permission::Domain::Monitoring;
use pupitre_core::permission::Level::{Edit, Read};

use super::{
    Choice, Done, FieldErrors, FormData, Frame, PageError, PageResult, choices, entity_names,
    optional_number, perr, see_other,
};
use crate::auth::Caller;
use crate::error::AppError;
use crate::extract::Id;
use crate::ops::credentials::{self, CredentialFields, CredentialView};
use crate::routes::{RouteDef, page};
use crate::state::AppState;

/// The form fields that carry secrets: never echoed, empty means "keep".
const SECRETS: [&str; 4] = ["community", "auth_password", "priv_password", "password"];

/// The options of `all`, `chosen` selected.
fn pick(all: impl IntoIterator<Item = (String, String)>, chosen: &str) -> Vec<Choice> {
    choices(all, |v| v == chosen)
}

/// Choices labelled by their own keys (protocol and level names are the same in every
/// language).
fn keyed(keys: impl IntoIterator<Item = &'static str>, chosen: &str) -> Vec<Choice> {
    pick(
        keys.into_iter().map(|k| (k.to_owned(), k.to_owned())),
        chosen,
    )
}

/// One credential as a row of the list: its public half only.
pub struct Row {
    pub id: i64,
    pub name: String,
    pub kind: String,
    /// Version, or user, level and protocols, on one line.
    pub details: String,
    pub entity: String,
    pub description: String,
    pub updated_at: String,
    pub can_edit: bool,
}

impl Row {
    fn details(v: &CredentialView) -> String {
        if let Some(version) = &v.version {
            return format!("SNMP v{version}");
        }
        let user = v.user.clone().unwrap_or_default();
        let Some(level) = &v.level else {
            return user;
        };
        let mut parts = vec![user, level.clone()];
        let level = SecurityLevel::from_key(level);
        if level != Some(SecurityLevel::NoAuthNoPriv) {
            parts.extend(v.auth_protocol.clone());
        }
        if level == Some(SecurityLevel::AuthPriv) {
            parts.extend(v.priv_protocol.clone());
        }
        parts.join(" · ")
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "monitoring/credentials.html")]
struct ListPage {
    f: Frame,
    rows: Vec<Row>,
    can_edit: bool,
    /// Why the last action was refused (a deletion while checks use the credential).
    error: Option<String>,
}

async fn render_list(
    st: &AppState,
    caller: &Caller,
    done: Option<&str>,
    error: Option<AppError>,
) -> Result<Response, AppError> {
    let list = credentials::list(st, caller).await?;
    let entities = entity_names(st).await?;
    let f = Frame::new(caller, "/monitoring", "monitoring.credentials").with_flash(done);
    let rows = list
        .iter()
        .map(|c| {
            let v = CredentialView::from(c);
            Row {
                id: v.id,
                kind: f.t(&format!("monitoring.credential_kind.{}", v.kind)),
                details: Row::details(&v),
                entity: entities
                    .get(&v.entity_id)
                    .cloned()
                    .unwrap_or_else(|| format!("#{}", v.entity_id)),
                can_edit: caller.grants.allows(Monitoring, Edit, v.entity_id),
                name: v.name,
                description: v.description,
                updated_at: v.updated_at,
            }
        })
        .collect();
    let status = error.as_ref().map_or(StatusCode::OK, |e| e.status);
    let page = ListPage {
        rows,
        can_edit: caller.grants.allows_somewhere(Monitoring, Edit),
        error: error.map(|e| e.to_string()),
        f,
    };
    Ok((status, page).into_response())
}

async fn list(State(st): State<AppState>, caller: Caller, Query(d): Query<Done>) -> PageResult {
    render_list(&st, &caller, d.done.as_deref(), None)
        .await
        .map_err(perr(&caller))
}

/// The form's public fields as typed, kept as text so that a refused form comes back as it
/// was sent. It has no room for secrets: they are read from the body and never kept.
pub struct CredentialForm {
    pub name: String,
    pub entity_id: String,
    pub description: String,
    pub kind: String,
    pub version: String,
    /// The SNMPv3 user.
    pub user: String,
    /// The user a password goes with (its own input, in the password's fieldset).
    pub login: String,
    pub level: String,
    pub auth_protocol: String,
    pub priv_protocol: String,
}

impl CredentialForm {
    /// A new credential in the caller's entity, with the API's defaults.
    fn blank(caller: &Caller) -> CredentialForm {
        CredentialForm {
            name: String::new(),
            entity_id: caller.user.entity_id.to_string(),
            description: String::new(),
            kind: CredentialKind::SnmpCommunity.key().to_owned(),
            version: CommunityVersion::V2c.key().to_owned(),
            user: String::new(),
            login: String::new(),
            level: SecurityLevel::AuthPriv.key().to_owned(),
            auth_protocol: AuthProtocol::Sha256.key().to_owned(),
            priv_protocol: PrivProtocol::Aes128.key().to_owned(),
        }
    }

    fn of(caller: &Caller, v: &CredentialView) -> CredentialForm {
        let blank = CredentialForm::blank(caller);
        let password = v.kind == CredentialKind::Password.key();
        let user = v.user.clone().unwrap_or_default();
        CredentialForm {
            name: v.name.clone(),
            entity_id: v.entity_id.to_string(),
            description: v.description.clone(),
            kind: v.kind.clone(),
            version: v.version.clone().unwrap_or(blank.version),
            user: if password {
                String::new()
            } else {
                user.clone()
            },
            login: if password { user } else { String::new() },
            level: v.level.clone().unwrap_or(blank.level),
            auth_protocol: v.auth_protocol.clone().unwrap_or(blank.auth_protocol),
            priv_protocol: v.priv_protocol.clone().unwrap_or(blank.priv_protocol),
        }
    }

    fn read(form: &FormData) -> CredentialForm {
        CredentialForm {
            name: form.get("name"),
            entity_id: form.get("entity_id"),
            description: form.get("description"),
            kind: form.get("kind"),
            version: form.get("version"),
            user: form.get("user"),
            login: form.get("login"),
            level: form.get("level"),
            auth_protocol: form.get("auth_protocol"),
            priv_protocol: form.get("priv_protocol"),
        }
    }

    /// The API's fields: the user of the kind chosen, and each secret typed (an empty
    /// input is not given, so that an update keeps the stored value).
    fn fields(&self, form: &FormData) -> Result<CredentialFields, AppError> {
        let [community, auth_password, priv_password, password] = SECRETS.map(|s| form.opt(s));
        let user = if self.kind == CredentialKind::Password.key() {
            &self.login
        } else {
            &self.user
        };
        Ok(CredentialFields {
            name: self.name.clone(),
            entity_id: optional_number("entity_id", &self.entity_id)?,
            description: self.description.clone(),
            kind: self.kind.clone(),
            version: self.version.clone(),
            user: user.clone(),
            level: self.level.clone(),
            auth_protocol: self.auth_protocol.clone(),
            priv_protocol: self.priv_protocol.clone(),
            community,
            auth_password,
            priv_password,
            password,
        })
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "monitoring/credentials_form.html")]
struct FormPage {
    f: Frame,
    /// Where the form posts.
    action: String,
    /// An existing credential: empty secrets keep their value.
    editing: bool,
    v: CredentialForm,
    kinds: Vec<Choice>,
    entities: Vec<Choice>,
    versions: Vec<Choice>,
    levels: Vec<Choice>,
    auth_protocols: Vec<Choice>,
    priv_protocols: Vec<Choice>,
    errors: FieldErrors,
}

async fn form_page(
    st: &AppState,
    caller: &Caller,
    id: Option<i64>,
    v: CredentialForm,
    error: Option<AppError>,
) -> Result<Response, AppError> {
    let names = entity_names(st).await?;
    let key = if id.is_some() {
        "monitoring.edit_credential"
    } else {
        "monitoring.new_credential"
    };
    let mut f = Frame::new(caller, "/monitoring", key);
    if id.is_some() {
        f.title = format!("{} — {}", f.t(key), v.name);
    }
    let entities = caller
        .visible(Monitoring)
        .into_iter()
        .filter(|e| caller.grants.allows(Monitoring, Edit, *e))
        .map(|e| {
            (
                e.to_string(),
                names.get(&e).cloned().unwrap_or_else(|| format!("#{e}")),
            )
        });
    let kinds = CredentialKind::ALL.iter().map(|k| {
        (
            k.key().to_owned(),
            f.t(&format!("monitoring.credential_kind.{}", k.key())),
        )
    });
    let status = error.as_ref().map_or(StatusCode::OK, |e| e.status);
    let page = FormPage {
        action: id.map_or_else(
            || "/monitoring/credentials".to_owned(),
            |id| format!("/monitoring/credentials/{id}"),
        ),
        editing: id.is_some(),
        kinds: pick(kinds, &v.kind),
        entities: pick(entities, &v.entity_id),
        versions: keyed(CommunityVersion::ALL.iter().map(|k| k.key()), &v.version),
        levels: keyed(SecurityLevel::ALL.iter().map(|k| k.key()), &v.level),
        auth_protocols: keyed(AuthProtocol::ALL.iter().map(|k| k.key()), &v.auth_protocol),
        priv_protocols: keyed(PrivProtocol::ALL.iter().map(|k| k.key()), &v.priv_protocol),
        errors: error.as_ref().map(FieldErrors::of).unwrap_or_default(),
        v,
        f,
    };
    Ok((status, page).into_response())
}

async fn new_form(State(st): State<AppState>, caller: Caller) -> PageResult {
    form_page(&st, &caller, None, CredentialForm::blank(&caller), None)
        .await
        .map_err(perr(&caller))
}

async fn create(State(st): State<AppState>, caller: Caller, body: Bytes) -> PageResult {
    let form = FormData::parse(&body);
    let v = CredentialForm::read(&form);
    let result = match v.fields(&form) {
        Ok(fields) => credentials::create(&st, &caller, fields).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(see_other("/monitoring/credentials?done=created")),
        Err(e) => form_page(&st, &caller, None, v, Some(e))
            .await
            .map_err(perr(&caller)),
    }
}

async fn edit_form(State(st): State<AppState>, caller: Caller, Id(id): Id) -> PageResult {
    let c = credentials::get(&st, &caller, id, Edit)
        .await
        .map_err(perr(&caller))?;
    let v = CredentialForm::of(&caller, &CredentialView::from(&c));
    form_page(&st, &caller, Some(id), v, None)
        .await
        .map_err(perr(&caller))
}

async fn update(State(st): State<AppState>, caller: Caller, Id(id): Id, body: Bytes) -> PageResult {
    // A credential the caller may not change is an error page, not a form.
    credentials::get(&st, &caller, id, Edit)
        .await
        .map_err(perr(&caller))?;
    let form = FormData::parse(&body);
    let v = CredentialForm::read(&form);
    let result = match v.fields(&form) {
        Ok(fields) => credentials::update(&st, &caller, id, fields).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(see_other("/monitoring/credentials?done=saved")),
        Err(e) => form_page(&st, &caller, Some(id), v, Some(e))
            .await
            .map_err(perr(&caller)),
    }
}

async fn delete(State(st): State<AppState>, caller: Caller, Id(id): Id) -> PageResult {
    match credentials::delete(&st, &caller, id).await {
        Ok(()) => Ok(see_other("/monitoring/credentials?done=deleted")),
        // Checks still name it: the list says which, above the credential.
        Err(e) if e.status == StatusCode::CONFLICT => render_list(&st, &caller, None, Some(e))
            .await
            .map_err(perr(&caller)),
        Err(e) => Err(PageError(caller, e)),
    }
}

pub fn routes() -> Vec<RouteDef> {
    let read = Access::Domain(Monitoring, Read);
    let edit = Access::Domain(Monitoring, Edit);
    vec![
        page(Method::GET, "/monitoring/credentials", read, list),
        page(Method::POST, "/monitoring/credentials", edit, create),
        page(Method::GET, "/monitoring/credentials/new", edit, new_form),
        page(Method::POST, "/monitoring/credentials/{id}", edit, update),
        page(
            Method::GET,
            "/monitoring/credentials/{id}/edit",
            edit,
            edit_form,
        ),
        page(
            Method::POST,
            "/monitoring/credentials/{id}/delete",
            edit,
            delete,
        ),
    ]
}
