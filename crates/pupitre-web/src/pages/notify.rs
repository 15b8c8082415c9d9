//! The notification pages: Settings → Notifications (the caller's contact methods, a test
//! message, the rules by urgency, quiet hours and the storm limit) and Incidents →
//! Templates (the message templates, with a preview). They call the same operations as
//! `/api/v1/me/contact-methods`, `/api/v1/me/notification-rules` and
//! `/api/v1/notification-templates`.

use askama::Template;
use askama_web::WebTemplate;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use pupitre_core::permission::Access;
use pupitre_core::permission::Domain::Incidents;
use pupitre_core::permission::Level::{Manage, Read};

use super::{Done, FormData, Frame, PageResult, perr, see_other};
use crate::auth::Caller;
use crate::error::AppError;
use crate::extract::Id;
use crate::ops::notify::{
    self as ops, ChannelKind, ContactMethodFields, ContactMethodView, NotificationRules,
    QuietHours, Rendered, RuleFields, TemplateFields, TemplateKind, TemplateView,
};
use crate::routes::{RouteDef, page};
use crate::state::AppState;

#[derive(Template, WebTemplate)]
#[template(path = "notifications.html")]
struct NotificationsPage {
    f: Frame,
    methods: Vec<ContactMethodView>,
    kinds: Vec<&'static str>,
    /// Rule rows (urgency, method id, delay), with empty rows to add more.
    rules: Vec<(String, String, String)>,
    quiet_start: String,
    quiet_end: String,
    quiet_zone: String,
    zone: String,
    digest_after: String,
    form_kind: String,
    form_label: String,
    form_target: String,
    tested: Option<String>,
    error: Option<String>,
}

/// What the page shows beyond the stored state: a refused form's input, a test's outcome.
#[derive(Default)]
struct Shown {
    done: Option<String>,
    method: Option<(String, String, String)>,
    rules: Option<FormData>,
    tested: Option<String>,
    /// A test message that did not go: shown as an error, though the request succeeded.
    not_delivered: Option<String>,
    error: Option<AppError>,
}

async fn render_notifications(st: &AppState, caller: &Caller, shown: Shown) -> PageResult {
    let methods = ops::list_contact_methods(st, caller)
        .await
        .map_err(perr(caller))?;
    let stored = ops::rules_of(st, caller.user.id)
        .await
        .map_err(perr(caller))?;
    let (mut rules, quiet, digest_after) = match &shown.rules {
        Some(form) => {
            let rows = form
                .all("urgency")
                .into_iter()
                .zip(form.all("method"))
                .zip(form.all("delay"))
                .map(|((u, m), d)| (u, m, d))
                .collect();
            let quiet = (
                form.get("quiet_start"),
                form.get("quiet_end"),
                form.get("quiet_zone"),
            );
            (rows, quiet, form.get("digest_after"))
        }
        None => {
            let rows: Vec<_> = stored
                .rules
                .iter()
                .map(|r| {
                    (
                        r.urgency.clone(),
                        r.contact_method_id.to_string(),
                        r.delay_minutes.to_string(),
                    )
                })
                .collect();
            let quiet = stored
                .quiet_hours
                .clone()
                .map_or_else(Default::default, |q| (q.start, q.end, q.time_zone));
            (rows, quiet, stored.digest_after.to_string())
        }
    };
    for urgency in ["high", "high", "low"] {
        rules.push((urgency.to_owned(), String::new(), "0".to_owned()));
    }
    let (method_kind, method_label, method_target) = shown.method.unwrap_or_default();
    let status = shown.error.as_ref().map_or(StatusCode::OK, |e| e.status);
    let page = NotificationsPage {
        f: Frame::new(caller, "/settings", "notify.title").with_flash(shown.done.as_deref()),
        methods: methods.iter().map(ContactMethodView::from).collect(),
        kinds: ChannelKind::ALL.iter().map(|k| k.key()).collect(),
        rules,
        quiet_start: quiet.0,
        quiet_end: quiet.1,
        quiet_zone: quiet.2,
        zone: caller.user.time_zone.clone(),
        digest_after,
        form_kind: method_kind,
        form_label: method_label,
        form_target: method_target,
        tested: shown.tested,
        error: shown.error.map(|e| e.to_string()).or(shown.not_delivered),
    };
    Ok((status, page).into_response())
}

async fn notifications(
    State(st): State<AppState>,
    caller: Caller,
    Query(d): Query<Done>,
) -> PageResult {
    let shown = Shown {
        done: d.done,
        ..Shown::default()
    };
    render_notifications(&st, &caller, shown).await
}

async fn add_method(State(st): State<AppState>, caller: Caller, body: Bytes) -> PageResult {
    let form = FormData::parse(&body);
    let kind = form.get("kind");
    let target = form.get("target");
    let is_webhook = ChannelKind::parse(&kind).is_some_and(ChannelKind::is_webhook);
    let fields = ContactMethodFields {
        kind: kind.clone(),
        label: form.get("label"),
        address: (!is_webhook).then(|| target.clone()),
        url: is_webhook.then(|| target.clone()),
    };
    match ops::add_contact_method(&st, &caller, &fields).await {
        Ok(_) => Ok(see_other("/settings/notifications?done=created")),
        Err(mut e) => {
            // The form has one box for the address or the URL.
            if matches!(e.field.as_deref(), Some("address" | "url")) {
                e.field = Some("target".to_owned());
            }
            let shown = Shown {
                method: Some((kind, form.get("label"), target)),
                error: Some(e),
                ..Shown::default()
            };
            render_notifications(&st, &caller, shown).await
        }
    }
}

async fn delete_method(State(st): State<AppState>, caller: Caller, Id(id): Id) -> PageResult {
    ops::delete_contact_method(&st, &caller, id)
        .await
        .map_err(perr(&caller))?;
    Ok(see_other("/settings/notifications?done=deleted"))
}

async fn test_method(State(st): State<AppState>, caller: Caller, Id(id): Id) -> PageResult {
    let outcome = ops::test_contact_method(&st, &caller, id)
        .await
        .map_err(perr(&caller))?;
    let f = Frame::new(&caller, "/settings", "notify.title");
    let shown = match outcome {
        Ok(()) => Shown {
            tested: Some(f.t("notify.test_sent")),
            ..Shown::default()
        },
        Err(why) => Shown {
            not_delivered: Some(format!("{}: {why}", f.t("notify.test_failed"))),
            ..Shown::default()
        },
    };
    render_notifications(&st, &caller, shown).await
}

/// The rules typed in the form; empty rows (no method chosen) are ignored.
fn rules_from_form(form: &FormData) -> Result<NotificationRules, AppError> {
    let mut rules = Vec::new();
    let rows = form
        .all("urgency")
        .into_iter()
        .zip(form.all("method"))
        .zip(form.all("delay"));
    for (i, ((urgency, method), delay)) in rows.enumerate() {
        if method.trim().is_empty() {
            continue;
        }
        let contact_method_id = method.trim().parse().map_err(|_| {
            AppError::invalid(format!("rules[{i}].contact_method_id"), "choose a method")
        })?;
        let delay_minutes = match delay.trim() {
            "" => 0,
            d => d.parse().map_err(|_| {
                AppError::invalid(
                    format!("rules[{i}].delay_minutes"),
                    "must be a whole number of minutes",
                )
            })?,
        };
        rules.push(RuleFields {
            contact_method_id,
            urgency,
            delay_minutes,
        });
    }
    let (start, end) = (form.get("quiet_start"), form.get("quiet_end"));
    let quiet_hours = (!start.trim().is_empty() || !end.trim().is_empty()).then(|| QuietHours {
        start: start.trim().to_owned(),
        end: end.trim().to_owned(),
        time_zone: form.get("quiet_zone").trim().to_owned(),
    });
    let digest_after = form
        .get("digest_after")
        .trim()
        .parse()
        .map_err(|_| AppError::invalid("digest_after", "must be a whole number"))?;
    Ok(NotificationRules {
        rules,
        quiet_hours,
        digest_after,
    })
}

async fn save_rules(State(st): State<AppState>, caller: Caller, body: Bytes) -> PageResult {
    let form = FormData::parse(&body);
    let outcome = match rules_from_form(&form) {
        Ok(rules) => ops::put_rules(&st, &caller, &rules).await.map(|_| ()),
        Err(e) => Err(e),
    };
    match outcome {
        Ok(()) => Ok(see_other("/settings/notifications?done=saved")),
        Err(e) => {
            let shown = Shown {
                rules: Some(form),
                error: Some(e),
                ..Shown::default()
            };
            render_notifications(&st, &caller, shown).await
        }
    }
}

// ---- Templates ------------------------------------------------------------------------------

#[derive(Template, WebTemplate)]
#[template(path = "incidents/templates.html")]
struct TemplatesPage {
    f: Frame,
    templates: Vec<TemplateView>,
    manage: bool,
    preview_kind: String,
    previews: Vec<Rendered>,
    error: Option<String>,
}

/// The templates page; `typed` replaces one template's stored text by what was typed.
async fn render_templates(
    st: &AppState,
    caller: &Caller,
    done: Option<&str>,
    typed: Option<(TemplateKind, &TemplateFields)>,
    previews: Vec<Rendered>,
    error: Option<AppError>,
) -> Result<Response, AppError> {
    let mut templates = ops::list_templates(st, caller).await?;
    if let Some((kind, f)) = typed
        && let Some(t) = templates.iter_mut().find(|t| t.kind == kind.key())
    {
        t.subject = f.subject.clone();
        t.body = f.body.clone();
    }
    let status = error.as_ref().map_or(StatusCode::OK, |e| e.status);
    let page = TemplatesPage {
        f: Frame::new(caller, "/incidents", "templates_n.title").with_flash(done),
        templates,
        manage: caller
            .grants
            .allows(Incidents, Manage, pupitre_core::model::ROOT_ENTITY),
        preview_kind: typed.map(|(k, _)| k.key().to_owned()).unwrap_or_default(),
        previews,
        error: error.map(|e| e.to_string()),
    };
    Ok((status, page).into_response())
}

async fn templates(
    State(st): State<AppState>,
    caller: Caller,
    Query(d): Query<Done>,
) -> PageResult {
    render_templates(&st, &caller, d.done.as_deref(), None, Vec::new(), None)
        .await
        .map_err(perr(&caller))
}

/// Previews (`action=preview`) or saves a template.
async fn template_submit(
    State(st): State<AppState>,
    caller: Caller,
    Path(kind): Path<String>,
    body: Bytes,
) -> PageResult {
    let kind = TemplateKind::parse(&kind)
        .ok_or_else(|| AppError::not_found("notification template"))
        .map_err(perr(&caller))?;
    let form = FormData::parse(&body);
    let fields = TemplateFields {
        subject: form.get("subject"),
        body: form.get("body"),
        incident_id: None,
    };
    let outcome = if form.get("action") == "preview" {
        ops::preview(&st, &caller, kind, &fields).await
    } else {
        match ops::put_template(&st, &caller, kind, &fields).await {
            Ok(_) => return Ok(see_other("/incidents/templates?done=saved")),
            Err(e) => Err(e),
        }
    };
    let (previews, error) = match outcome {
        Ok(previews) => (previews, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    render_templates(&st, &caller, None, Some((kind, &fields)), previews, error)
        .await
        .map_err(perr(&caller))
}

async fn template_reset(
    State(st): State<AppState>,
    caller: Caller,
    Path(kind): Path<String>,
) -> PageResult {
    let outcome = match TemplateKind::parse(&kind) {
        Some(kind) => ops::reset_template(&st, &caller, kind).await,
        None => Err(AppError::not_found("notification template")),
    };
    outcome.map_err(perr(&caller))?;
    Ok(see_other("/incidents/templates?done=saved"))
}

pub fn routes() -> Vec<RouteDef> {
    let authed = Access::Authenticated;
    vec![
        page(
            Method::GET,
            "/settings/notifications",
            authed,
            notifications,
        ),
        page(
            Method::POST,
            "/settings/notifications/methods",
            authed,
            add_method,
        ),
        page(
            Method::POST,
            "/settings/notifications/methods/{id}/delete",
            authed,
            delete_method,
        ),
        page(
            Method::POST,
            "/settings/notifications/methods/{id}/test",
            authed,
            test_method,
        ),
        page(
            Method::POST,
            "/settings/notifications/rules",
            authed,
            save_rules,
        ),
        page(
            Method::GET,
            "/incidents/templates",
            Access::Domain(Incidents, Read),
            templates,
        ),
        page(
            Method::POST,
            "/incidents/templates/{kind}",
            Access::Domain(Incidents, Read),
            template_submit,
        ),
        page(
            Method::POST,
            "/incidents/templates/{kind}/reset",
            Access::Domain(Incidents, Manage),
            template_reset,
        ),
    ]
}
