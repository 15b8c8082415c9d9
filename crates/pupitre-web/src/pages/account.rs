//! Logging in and out, the forced password change, personal settings and API tokens.

use askama::Template;
use askama_web::WebTemplate;
use axum::body::Bytes;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Response};
use pupitre_core::permission::{Access, Level};
use serde::Deserialize;

use super::{Done, FormData, Frame, PageError, PageResult, see_other};
use crate::api::views::TokenView;
use crate::auth::{self, Caller, LOGIN_CSRF_COOKIE, SESSION_COOKIE, cookie, set_cookie, source_of};
use crate::extract::Id;
use crate::i18n::Tr;
use crate::ops;
use crate::routes::{RouteDef, page};
use crate::state::AppState;

#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
struct LoginPage {
    tr: Tr,
    csrf: String,
    next: String,
    login: String,
    error: Option<String>,
}

#[derive(Deserialize)]
struct NextParam {
    next: Option<String>,
}

/// Only local paths are followed after login (no open redirect).
fn safe_next(next: Option<&str>) -> String {
    let ok = |n: &str| {
        let b = n.as_bytes();
        b.first() == Some(&b'/')
            && !matches!(b.get(1), Some(b'/' | b'\\'))
            && n.bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"/-_.~?=&%+:,".contains(&c))
    };
    match next {
        Some(n) if ok(n) => n.to_owned(),
        _ => "/".to_owned(),
    }
}

async fn login_form(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<NextParam>,
) -> Response {
    let csrf = auth::random_hex(16);
    let page = LoginPage {
        tr: Tr::negotiate(None, &headers),
        csrf: csrf.clone(),
        next: safe_next(q.next.as_deref()),
        login: String::new(),
        error: None,
    };
    let c = set_cookie(LOGIN_CSRF_COOKIE, &csrf, 3600, st.config.secure_cookies);
    ([(header::SET_COOKIE, c)], page).into_response()
}

async fn login_submit(State(st): State<AppState>, req: Request) -> Response {
    let source = source_of(req.extensions());
    let headers = req.headers().clone();
    let tr = Tr::negotiate(None, &headers);
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .chars()
        .take(200)
        .collect::<String>();
    let body = match axum::body::to_bytes(req.into_body(), 64 * 1024).await {
        Ok(b) => b,
        Err(_) => return (StatusCode::PAYLOAD_TOO_LARGE, "request too large").into_response(),
    };
    let form = FormData::parse(&body);
    let next = safe_next(form.opt("next").as_deref());
    let login = form.get("login");
    let rerender = |status: StatusCode, error: String| {
        let csrf = auth::random_hex(16);
        let c = set_cookie(LOGIN_CSRF_COOKIE, &csrf, 3600, st.config.secure_cookies);
        (
            status,
            [(header::SET_COOKIE, c)],
            LoginPage {
                tr,
                csrf,
                next: next.clone(),
                login: login.clone(),
                error: Some(error),
            },
        )
            .into_response()
    };
    let expected = cookie(&headers, LOGIN_CSRF_COOKIE);
    if expected.is_none() || expected.as_deref() != Some(form.get("csrf").as_str()) {
        return rerender(StatusCode::FORBIDDEN, tr.t("login.expired"));
    }
    match ops::me::check_login(&st, &login, &form.get("password"), &source).await {
        Ok(user) => match auth::start_session(&st, &user, &source, &user_agent).await {
            Ok(c) => {
                let clear = set_cookie(LOGIN_CSRF_COOKIE, "", 0, st.config.secure_cookies);
                let to = if user.must_change_password {
                    "/password".to_owned()
                } else {
                    next.clone()
                };
                (
                    StatusCode::SEE_OTHER,
                    AppendHeaders([
                        (header::SET_COOKIE, c),
                        (header::SET_COOKIE, clear),
                        (header::LOCATION, to),
                    ]),
                )
                    .into_response()
            }
            Err(e) => e.into_response(),
        },
        Err(e) if e.status == StatusCode::TOO_MANY_REQUESTS => {
            rerender(e.status, tr.t("login.throttled"))
        }
        Err(e) if e.status == StatusCode::UNAUTHORIZED => rerender(e.status, tr.t("login.failed")),
        Err(e) => e.into_response(),
    }
}

/// Ends the browser's session cookie and sends it to the login page.
fn to_login(st: &AppState) -> Response {
    let clear = set_cookie(SESSION_COOKIE, "", 0, st.config.secure_cookies);
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, clear),
            (header::LOCATION, "/login".to_owned()),
        ],
    )
        .into_response()
}

async fn logout(State(st): State<AppState>, caller: Caller) -> PageResult {
    ops::me::logout(&st, &caller)
        .await
        .map_err(|e| PageError(caller.clone(), e))?;
    Ok(to_login(&st))
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_local_paths_are_followed_after_login() {
        for (next, want) in [
            ("/admin/users?q=x", "/admin/users?q=x"),
            ("//evil.com", "/"),
            ("/\\evil.com", "/"),
            ("/\t/evil.com", "/"),
            ("/%0d%0aSet-Cookie:x", "/%0d%0aSet-Cookie:x"),
            ("/a\r\nb", "/"),
            ("https://evil.com", "/"),
            ("", "/"),
        ] {
            assert_eq!(super::safe_next(Some(next)), want, "{next:?}");
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "password.html")]
struct PasswordPage {
    f: Frame,
    forced: bool,
    error: Option<String>,
}

async fn password_form(caller: Caller) -> Response {
    let forced = caller.user.must_change_password;
    PasswordPage {
        f: Frame::new(&caller, "/settings", "password.title"),
        forced,
        error: None,
    }
    .into_response()
}

async fn password_submit(State(st): State<AppState>, caller: Caller, body: Bytes) -> Response {
    let form = FormData::parse(&body);
    let req = ops::me::ChangePassword {
        current_password: form.get("current_password"),
        new_password: form.get("new_password"),
    };
    if form.get("new_password") != form.get("confirm_password") {
        let f = Frame::new(&caller, "/settings", "password.title");
        let error = Some(f.t("password.mismatch"));
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            PasswordPage {
                f,
                forced: caller.user.must_change_password,
                error,
            },
        )
            .into_response();
    }
    match ops::me::change_password(&st, &caller, req).await {
        Ok(()) => see_other("/settings?done=password"),
        Err(e) => {
            let f = Frame::new(&caller, "/settings", "password.title");
            (
                e.status,
                PasswordPage {
                    f,
                    forced: caller.user.must_change_password,
                    error: Some(e.to_string()),
                },
            )
                .into_response()
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "settings.html")]
struct SettingsPage {
    f: Frame,
    display_name: String,
    email: String,
    phone: String,
    language: String,
    time_zone: String,
    notify_email: bool,
    notify_sms: bool,
    tokens: Vec<TokenView>,
    new_secret: Option<String>,
    error: Option<String>,
}

async fn settings_page(
    st: &AppState,
    caller: &Caller,
    done: Option<&str>,
    new_secret: Option<String>,
    error: Option<String>,
) -> PageResult {
    let tokens = st
        .store
        .list_tokens(caller.user.id)
        .await
        .map_err(|e| PageError(caller.clone(), e.into()))?;
    let u = &caller.user;
    Ok(SettingsPage {
        f: Frame::new(caller, "/settings", "settings.title").with_flash(done),
        display_name: u.display_name.clone(),
        email: u.email.clone(),
        phone: u.phone.clone(),
        language: u.language.clone(),
        time_zone: u.time_zone.clone(),
        notify_email: u.notify_email,
        notify_sms: u.notify_sms,
        tokens: tokens.iter().map(TokenView::from).collect(),
        new_secret,
        error,
    }
    .into_response())
}

async fn settings(State(st): State<AppState>, caller: Caller, Query(d): Query<Done>) -> PageResult {
    settings_page(&st, &caller, d.done.as_deref(), None, None).await
}

async fn settings_submit(State(st): State<AppState>, caller: Caller, body: Bytes) -> PageResult {
    let form = FormData::parse(&body);
    let req = ops::me::UpdateMe {
        display_name: Some(form.get("display_name")),
        email: Some(form.get("email")),
        phone: Some(form.get("phone")),
        language: Some(form.get("language")),
        time_zone: Some(form.get("time_zone")),
        notify_email: Some(form.checked("notify_email")),
        notify_sms: Some(form.checked("notify_sms")),
    };
    match ops::me::update(&st, &caller, req).await {
        Ok(_) => Ok(see_other("/settings?done=saved")),
        Err(e) => settings_page(&st, &caller, None, None, Some(e.to_string())).await,
    }
}

async fn token_create(State(st): State<AppState>, caller: Caller, body: Bytes) -> PageResult {
    let form = FormData::parse(&body);
    let days = form
        .int("expires_in_days")
        .map_err(|e| PageError(caller.clone(), e))?
        .unwrap_or(90);
    // "Read only" caps every domain at read; otherwise the token carries the owner's rights.
    let levels = form.checked("read_only").then(|| {
        caller
            .grants
            .best()
            .iter()
            .map(|(d, l)| (d.key().to_owned(), l.min(Level::Read).key().to_owned()))
            .collect()
    });
    let req = ops::me::CreateToken {
        name: form.get("name"),
        expires_in_days: days,
        levels,
    };
    match ops::me::create_token(&st, &caller, req).await {
        Ok((_, secret)) => settings_page(&st, &caller, Some("created"), Some(secret), None).await,
        Err(e) => settings_page(&st, &caller, None, None, Some(e.to_string())).await,
    }
}

async fn token_revoke(State(st): State<AppState>, caller: Caller, Id(id): Id) -> PageResult {
    ops::me::revoke_token(&st, &caller, id)
        .await
        .map_err(|e| PageError(caller.clone(), e))?;
    Ok(see_other("/settings?done=revoked"))
}

async fn logout_everywhere(State(st): State<AppState>, caller: Caller) -> PageResult {
    ops::me::logout_everywhere(&st, &caller)
        .await
        .map_err(|e| PageError(caller.clone(), e))?;
    Ok(to_login(&st))
}

/// One operation of the OpenAPI document, for the API docs page.
struct Operation {
    method: String,
    path: String,
    summary: String,
    tag: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "api_docs.html")]
struct ApiDocsPage {
    f: Frame,
    operations: Vec<Operation>,
}

async fn api_docs(caller: Caller) -> Response {
    let json = crate::api::system::document();
    let mut operations = Vec::new();
    if let Some(paths) = json["paths"].as_object() {
        for (path, item) in paths {
            for (method, op) in item.as_object().into_iter().flatten() {
                operations.push(Operation {
                    method: method.to_uppercase(),
                    path: path.clone(),
                    summary: op["summary"]
                        .as_str()
                        .or(op["description"].as_str())
                        .unwrap_or("")
                        .to_owned(),
                    tag: op["tags"][0].as_str().unwrap_or("").to_owned(),
                });
            }
        }
    }
    operations.sort_by(|a, b| (&a.tag, &a.path).cmp(&(&b.tag, &b.path)));
    ApiDocsPage {
        f: Frame::new(&caller, "/api/docs", "api.title"),
        operations,
    }
    .into_response()
}

pub fn routes() -> Vec<RouteDef> {
    let authed = Access::Authenticated;
    vec![
        page(Method::GET, "/login", Access::Public, login_form),
        page(Method::POST, "/login", Access::Public, login_submit),
        page(Method::POST, "/logout", authed, logout),
        page(Method::GET, "/password", authed, password_form),
        page(Method::POST, "/password", authed, password_submit),
        page(Method::GET, "/settings", authed, settings),
        page(Method::POST, "/settings", authed, settings_submit),
        page(Method::POST, "/settings/tokens", authed, token_create),
        page(
            Method::POST,
            "/settings/tokens/{id}/revoke",
            authed,
            token_revoke,
        ),
        page(
            Method::POST,
            "/settings/logout-everywhere",
            authed,
            logout_everywhere,
        ),
        page(Method::GET, "/api/docs", authed, api_docs),
    ]
}
