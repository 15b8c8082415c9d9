//! Who is calling: password hashing, browser sessions, API tokens, the per-route guard that
//! checks permissions and CSRF, and login throttling.

use std::net::SocketAddr;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use pupitre_core::audit::Actor;
use pupitre_core::model::{Session, User};
use pupitre_core::permission::{Access, Domain, EntityId, Grant, Grants, Level, Levels, subtree};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::error::AppError;
use crate::state::{AppState, now_ms};

pub const SESSION_COOKIE: &str = "pupitre_session";
/// Cookie holding the CSRF token of the login form, before any session exists.
pub const LOGIN_CSRF_COOKIE: &str = "pupitre_login_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";
pub const TOKEN_PREFIX: &str = "pup_";

/// How a route answers a caller who is not logged in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// JSON: 401 with the error envelope.
    Api,
    /// HTML: a redirect to the login page.
    Page,
}

#[derive(Clone)]
pub enum AuthKind {
    Session {
        token_hash: String,
        csrf: String,
    },
    Token {
        id: i64,
        expires_at: i64,
    },
    /// `pupitre admin` on the server itself.
    Local,
}

impl std::fmt::Debug for AuthKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthKind::Session { .. } => f.write_str("Session(<redacted>)"),
            AuthKind::Token { id, .. } => write!(f, "Token({id})"),
            AuthKind::Local => f.write_str("Local"),
        }
    }
}

/// The authenticated caller of a request, with the levels they hold on every entity.
#[derive(Clone, Debug)]
pub struct Caller {
    pub user: User,
    pub grants: Grants,
    pub auth: AuthKind,
    pub source: String,
    pub tree: Vec<(EntityId, Option<EntityId>)>,
    /// The assignments `grants` was resolved from, and the token's cap: what it takes to
    /// recompute the caller's rights over a changed tree.
    pub raw: Vec<Grant>,
    pub cap: Option<Levels>,
}

impl Caller {
    /// The local administrator acting through `pupitre admin` on the server itself: full
    /// rights on every entity, audited as `system` from `local`.
    pub fn system(tree: Vec<(EntityId, Option<EntityId>)>) -> Caller {
        let now = now_ms();
        Caller {
            user: User {
                id: 0,
                login: "system".to_owned(),
                display_name: "pupitre admin (command line)".to_owned(),
                email: String::new(),
                phone: String::new(),
                language: "en".to_owned(),
                time_zone: "UTC".to_owned(),
                active: true,
                entity_id: pupitre_core::model::ROOT_ENTITY,
                must_change_password: false,
                notify_email: false,
                notify_sms: false,
                created_at: now,
                updated_at: now,
                last_login_at: None,
            },
            grants: Grants::everywhere(Levels::uniform(Level::Manage), &tree),
            auth: AuthKind::Local,
            source: "local".to_owned(),
            raw: vec![Grant {
                entity_id: pupitre_core::model::ROOT_ENTITY,
                levels: Levels::uniform(Level::Manage),
                recursive: true,
            }],
            cap: None,
            tree,
        }
    }

    /// An agent acting with its own credential: it may edit the inventory of its entity,
    /// and nothing else, audited as `agent:<name>` from its address.
    pub fn agent(
        name: &str,
        entity: EntityId,
        tree: Vec<(EntityId, Option<EntityId>)>,
        source: String,
    ) -> Caller {
        let raw = vec![Grant {
            entity_id: entity,
            levels: Levels::default().with(Domain::Inventory, Level::Edit),
            recursive: false,
        }];
        let mut caller = Caller::system(tree);
        caller.user.login = format!("agent:{name}");
        caller.user.display_name = format!("Pupitre agent on {name}");
        caller.user.entity_id = entity;
        caller.grants = Grants::resolve(&raw, &caller.tree);
        caller.raw = raw;
        caller.source = source;
        caller
    }

    pub fn actor(&self) -> Actor {
        Actor {
            user_id: Some(self.user.id).filter(|id| *id != 0),
            login: self.user.login.clone(),
            source: self.source.clone(),
            at: now_ms(),
        }
    }

    pub fn csrf(&self) -> &str {
        match &self.auth {
            AuthKind::Session { csrf, .. } => csrf,
            AuthKind::Token { .. } | AuthKind::Local => "",
        }
    }

    /// Checks `level` in `domain` on the object's `entity`. An object the caller cannot even
    /// read is reported as not found; one they can read but not change, as forbidden.
    pub fn check(
        &self,
        domain: Domain,
        level: Level,
        entity: EntityId,
        what: &str,
    ) -> Result<(), AppError> {
        if self.grants.allows(domain, level, entity) {
            Ok(())
        } else if self.grants.allows(domain, Level::Read, entity) {
            Err(AppError::forbidden(format!(
                "your profile does not allow {} in {} on this {what}",
                level.key(),
                domain.key()
            )))
        } else {
            Err(AppError::not_found(what))
        }
    }

    /// Checks that an entity named in input exists and that the caller may see it; otherwise
    /// a field error, worded the same whether it does not exist or is hidden.
    pub fn visible_entity(&self, id: EntityId, field: &str) -> Result<(), AppError> {
        let exists = self.tree.iter().any(|&(e, _)| e == id);
        if exists && self.grants.allows(Domain::Administration, Level::Read, id) {
            Ok(())
        } else {
            Err(AppError::invalid(
                field,
                format!("entity {id} does not exist"),
            ))
        }
    }

    /// Checks that the caller may put an object of `domain` in entity `id`, named by input
    /// `field`: an entity that does not exist or that the caller cannot read in the domain is a
    /// field error (worded the same either way), one they cannot change there is forbidden.
    pub fn target_entity(
        &self,
        domain: Domain,
        level: Level,
        id: EntityId,
        field: &str,
    ) -> Result<(), AppError> {
        let exists = self.tree.iter().any(|&(e, _)| e == id);
        if !exists || !self.grants.allows(domain, Level::Read, id) {
            return Err(AppError::invalid(
                field,
                format!("entity {id} does not exist"),
            ));
        }
        self.check(domain, level, id, "entity")
    }

    /// The entities an assignment at `entity` reaches.
    pub fn reach(&self, entity: EntityId, recursive: bool) -> Vec<EntityId> {
        if recursive {
            subtree(entity, &self.tree)
        } else {
            vec![entity]
        }
    }

    /// True when the caller could grant `levels` on each of `entities` themselves: they hold
    /// administration=manage and at least `levels` on every one.
    pub fn may_grant(&self, levels: &Levels, entities: &[EntityId]) -> bool {
        entities.iter().all(|&e| {
            self.grants.allows(Domain::Administration, Level::Manage, e)
                && levels.within(&self.grants.levels_on(e))
        })
    }

    /// The caller's levels if the tree were `tree` (an entity about to move).
    pub fn grants_over(&self, tree: &[(EntityId, Option<EntityId>)]) -> Grants {
        let g = Grants::resolve(&self.raw, tree);
        match self.cap {
            Some(cap) => g.capped(cap),
            None => g,
        }
    }

    pub fn visible(&self, domain: Domain) -> Vec<EntityId> {
        self.grants.entities_with(domain, Level::Read)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Caller, AppError> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(AppError::unauthenticated)
    }
}

pub fn hash_password(password: &str) -> Result<String, AppError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| {
            tracing::error!(error = %e, "password hashing failed");
            AppError::internal()
        })
}

/// Hashes off the async workers: Argon2id takes tens of milliseconds of CPU.
pub async fn hash(password: &str) -> Result<String, AppError> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|_| AppError::internal())?
}

/// Verifies off the async workers. Without a hash, a dummy hash is verified so that the
/// answer takes the same time.
pub async fn verify(hash: Option<String>, password: &str) -> bool {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || match hash {
        Some(h) => verify_password(&h, &password),
        None => {
            dummy_verify(&password);
            false
        }
    })
    .await
    .unwrap_or(false)
}

pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A burned-in hash verified when a login does not exist, so that timing does not reveal
/// which logins exist.
pub fn dummy_verify(password: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let hash = DUMMY.get_or_init(|| hash_password("pupitre-dummy-password").unwrap_or_default());
    let _ = verify_password(hash, password);
}

pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    hex(&buf)
}

/// A random password for new accounts and resets: 20 characters from an unambiguous alphabet.
pub fn random_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut buf = [0u8; 20];
    rand::rng().fill_bytes(&mut buf);
    buf.iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}

pub fn sha256_hex(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

pub fn set_cookie(name: &str, value: &str, max_age_secs: i64, secure: bool) -> String {
    format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The caller's address: the TCP peer (Pupitre does not trust forwarding headers).
pub fn source_of(extensions: &axum::http::Extensions) -> String {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "local".to_owned())
}

/// Starts a browser session for `user`; returns the `Set-Cookie` value.
pub async fn start_session(
    st: &AppState,
    user: &User,
    source: &str,
    user_agent: &str,
) -> Result<String, AppError> {
    let token = random_hex(32);
    let now = now_ms();
    let session = Session {
        user_id: user.id,
        csrf_token: random_hex(16),
        created_at: now,
        last_seen_at: now,
        expires_at: now + st.config.session_idle.as_millis() as i64,
    };
    st.store
        .create_session(&sha256_hex(&token), &session, source, user_agent)
        .await?;
    Ok(set_cookie(
        SESSION_COOKIE,
        &token,
        st.config.session_max.as_secs() as i64,
        st.config.secure_cookies,
    ))
}

/// The API token of a request: `Authorization: Bearer <token>`, or HTTP Basic with the
/// token as password (what inventory agents and `curl -u` send; the user name is ignored).
fn presented_token(headers: &HeaderMap) -> Option<String> {
    use base64::Engine;
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    if let Some(bearer) = value.strip_prefix("Bearer ") {
        return Some(bearer.trim().to_owned());
    }
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (_, password) = text.split_once(':')?;
    Some(password.to_owned())
}

/// Resolves the session cookie or API token of a request, if any.
pub async fn resolve(
    st: &AppState,
    headers: &HeaderMap,
    source: String,
) -> Result<Option<Caller>, AppError> {
    let now = now_ms();
    let (user, auth, cap) = if let Some(bearer) = presented_token(headers) {
        let Some((token, user)) = st.store.token_user(&sha256_hex(bearer.trim())).await? else {
            return Ok(None);
        };
        if token.revoked_at.is_some() || token.expires_at <= now {
            return Ok(None);
        }
        if token.last_used_at.is_none_or(|t| now - t > 60_000) {
            st.store.touch_token(token.id, now).await?;
        }
        (
            user,
            AuthKind::Token {
                id: token.id,
                expires_at: token.expires_at,
            },
            Some(token.levels),
        )
    } else if let Some(raw) = cookie(headers, SESSION_COOKIE) {
        let token_hash = sha256_hex(&raw);
        let Some((session, user)) = st.store.session_user(&token_hash).await? else {
            return Ok(None);
        };
        let max_age = st.config.session_max.as_millis() as i64;
        if session.expires_at <= now || now - session.created_at >= max_age {
            st.store.delete_session(&token_hash).await?;
            return Ok(None);
        }
        if now - session.last_seen_at > 60_000 {
            let expires = now + st.config.session_idle.as_millis() as i64;
            st.store.touch_session(&token_hash, now, expires).await?;
        }
        (
            user,
            AuthKind::Session {
                token_hash,
                csrf: session.csrf_token,
            },
            None,
        )
    } else {
        return Ok(None);
    };
    if !user.active {
        return Ok(None);
    }
    caller_for(st, user, auth, cap, source).await.map(Some)
}

/// The caller of a command-line action taken on behalf of `user`.
pub async fn resolve_user(st: &AppState, user: User, source: String) -> Result<Caller, AppError> {
    caller_for(st, user, AuthKind::Local, None, source).await
}

async fn caller_for(
    st: &AppState,
    user: User,
    auth: AuthKind,
    cap: Option<Levels>,
    source: String,
) -> Result<Caller, AppError> {
    let tree = st.entity_tree().await?;
    let grants: Vec<Grant> = st
        .store
        .user_grants(user.id)
        .await?
        .into_iter()
        .map(|(a, levels)| Grant {
            entity_id: a.entity_id,
            levels,
            recursive: a.recursive,
        })
        .collect();
    let mut resolved = Grants::resolve(&grants, &tree);
    if let Some(cap) = cap {
        resolved = resolved.capped(cap);
    }
    Ok(Caller {
        user,
        grants: resolved,
        auth,
        source,
        tree,
        raw: grants,
        cap,
    })
}

/// The per-route guard: authenticates, enforces a forced password change, checks CSRF on
/// browser-session writes, and checks the route's [`Access`].
pub async fn guard(
    st: State<AppState>,
    access: Access,
    kind: Kind,
    req: Request,
    next: Next,
) -> Response {
    match guard_inner(&st, access, kind, req).await {
        Ok(req) => next.run(req).await,
        Err(resp) => resp,
    }
}

async fn guard_inner(
    st: &AppState,
    access: Access,
    kind: Kind,
    req: Request,
) -> Result<Request, Response> {
    if access == Access::Public {
        return Ok(req);
    }
    let source = source_of(req.extensions());
    let caller = match resolve(st, req.headers(), source).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            return Err(match kind {
                Kind::Api => AppError::unauthenticated().into_response(),
                Kind::Page => {
                    let next = req
                        .uri()
                        .path_and_query()
                        .map(|p| p.as_str())
                        .unwrap_or("/");
                    Redirect::to(&format!("/login?next={}", urlencode(next))).into_response()
                }
            });
        }
        Err(e) => return Err(e.into_response()),
    };
    let path = req.uri().path().to_owned();
    let allowed = PASSWORD_CHANGE_PATHS
        .iter()
        .any(|(m, p)| *m == req.method().as_str() && *p == path);
    if caller.user.must_change_password && !allowed {
        return Err(match kind {
            Kind::Page => Redirect::to("/password").into_response(),
            Kind::Api => AppError::new(
                StatusCode::FORBIDDEN,
                "password_change_required",
                "change your password first (POST /api/v1/me/password)",
            )
            .into_response(),
        });
    }
    let req = match (&caller.auth, req.method()) {
        (_, &Method::GET | &Method::HEAD | &Method::OPTIONS)
        | (AuthKind::Token { .. } | AuthKind::Local, _) => req,
        (AuthKind::Session { csrf, .. }, _) => check_csrf(st, req, csrf, kind).await?,
    };
    if let Access::Domain(domain, level) = access
        && !caller.grants.allows_somewhere(domain, level)
    {
        let e = AppError::forbidden(format!(
            "your profile does not allow {} in {}",
            level.key(),
            domain.key()
        ));
        return Err(match kind {
            Kind::Api => e.into_response(),
            Kind::Page => crate::pages::error_page(&caller, &e),
        });
    }
    let mut req = req;
    req.extensions_mut().insert(caller);
    Ok(req)
}

/// Paths a user who must change their password may still reach.
const PASSWORD_CHANGE_PATHS: &[(&str, &str)] = &[
    ("GET", "/password"),
    ("POST", "/password"),
    ("POST", "/logout"),
    ("GET", "/api/v1/me"),
    ("POST", "/api/v1/me/password"),
];

/// Browser-session writes must carry the session's CSRF token: in the `x-csrf-token` header,
/// or as the `csrf` field of a url-encoded form.
async fn check_csrf(
    st: &AppState,
    req: Request,
    expected: &str,
    kind: Kind,
) -> Result<Request, Response> {
    let refuse = || {
        AppError::forbidden("missing or wrong CSRF token; reload the page and try again")
            .into_response()
    };
    if let Some(h) = req.headers().get(CSRF_HEADER) {
        return if h.as_bytes() == expected.as_bytes() {
            Ok(req)
        } else {
            Err(refuse())
        };
    }
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if kind == Kind::Api || !is_form {
        return Err(refuse());
    }
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, st.config.max_body_bytes)
        .await
        .map_err(|_| {
            AppError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                "the request body is too large",
            )
            .into_response()
        })?;
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes).unwrap_or_default();
    if fields.iter().any(|(k, v)| k == "csrf" && v == expected) {
        Ok(Request::from_parts(parts, Body::from(bytes)))
    } else {
        Err(refuse())
    }
}

pub fn urlencode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
