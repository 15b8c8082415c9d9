//! How each person is notified (issue #7): their contact methods, the rules that use them by
//! urgency, quiet hours, the storm limit, and the message templates administrators edit.
//!
//! - **Contact methods** are the person's own (e-mail, SMS, a generic webhook, Slack,
//!   Mattermost, Teams). A webhook's URL is its secret: kept sealed, shown by its origin.
//! - **Rules** say which methods a page of each urgency goes to, each after a delay
//!   ("Slack at once, SMS after 5 minutes"); a delayed message is not sent if the incident
//!   was acknowledged meanwhile. Without rules, a page goes to the account's e-mail address
//!   (and, for high urgency, its phone by SMS when the account asks for SMS).
//! - **Quiet hours** hold low-urgency messages until they end; high urgency is never held.
//! - **Storm limit**: beyond `digest_after` messages a minute to one person, the pager holds
//!   the rest and sends them as one digest when the minute is up.
//! - **Templates** (minijinja, one per kind of channel) are rendered with the incidents, the
//!   person and their signed links; a template is checked when saved (syntax, and a render
//!   with a sample page and a sample digest) and can be previewed before.

use jiff::Timestamp;
use jiff::civil::Time;
use jiff::tz::TimeZone;
use pupitre_core::incident::Urgency;
use pupitre_core::model::User;
use pupitre_core::permission::{Domain, Level};
use pupitre_store::incidents::IncidentRecord;
use pupitre_store::notify::{ContactMethodRecord, NewContactMethod, TemplateRecord};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::views::rfc3339;
use crate::auth::Caller;
use crate::error::AppError;
use crate::ops::paging::{LINK_VALID_MS, sign_link};
use crate::state::{AppState, now_ms};

/// The kinds of contact method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelKind {
    Email,
    Sms,
    Webhook,
    Slack,
    Mattermost,
    Teams,
}

impl ChannelKind {
    pub const ALL: [ChannelKind; 6] = [
        ChannelKind::Email,
        ChannelKind::Sms,
        ChannelKind::Webhook,
        ChannelKind::Slack,
        ChannelKind::Mattermost,
        ChannelKind::Teams,
    ];

    pub fn key(self) -> &'static str {
        match self {
            ChannelKind::Email => "email",
            ChannelKind::Sms => "sms",
            ChannelKind::Webhook => "webhook",
            ChannelKind::Slack => "slack",
            ChannelKind::Mattermost => "mattermost",
            ChannelKind::Teams => "teams",
        }
    }

    pub fn parse(key: &str) -> Option<ChannelKind> {
        ChannelKind::ALL.into_iter().find(|k| k.key() == key)
    }

    /// As a timeline says it: `paged night by e-mail`.
    pub fn name(self) -> &'static str {
        match self {
            ChannelKind::Email => "e-mail",
            ChannelKind::Sms => "SMS",
            ChannelKind::Webhook => "webhook",
            ChannelKind::Slack => "Slack",
            ChannelKind::Mattermost => "Mattermost",
            ChannelKind::Teams => "Teams",
        }
    }

    /// A URL to post to, rather than an address.
    pub fn is_webhook(self) -> bool {
        !matches!(self, ChannelKind::Email | ChannelKind::Sms)
    }

    pub fn template(self) -> TemplateKind {
        match self {
            ChannelKind::Email => TemplateKind::Email,
            ChannelKind::Sms => TemplateKind::Sms,
            ChannelKind::Webhook => TemplateKind::Webhook,
            ChannelKind::Slack | ChannelKind::Mattermost | ChannelKind::Teams => TemplateKind::Chat,
        }
    }
}

// ---- Contact methods ------------------------------------------------------------------------

/// A contact method to add: `address` for e-mail and SMS, `url` for the webhooks.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactMethodFields {
    /// `email`, `sms`, `webhook`, `slack`, `mattermost` or `teams`.
    pub kind: String,
    #[serde(default)]
    pub label: String,
    /// An e-mail address, or a phone number in international form (`+33612345678`).
    #[serde(default)]
    pub address: Option<String>,
    /// The webhook's URL (kept sealed; only its origin is shown).
    #[serde(default)]
    pub url: Option<String>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ContactMethodView {
    pub id: i64,
    pub kind: String,
    pub label: String,
    pub address: String,
    pub created_at: String,
}

impl From<&ContactMethodRecord> for ContactMethodView {
    fn from(m: &ContactMethodRecord) -> ContactMethodView {
        ContactMethodView {
            id: m.id,
            kind: m.kind.clone(),
            label: m.label.clone(),
            address: m.address.clone(),
            created_at: rfc3339(m.created_at),
        }
    }
}

/// The vault's context for a webhook URL: a sealed URL opens only as the method it was
/// sealed for.
fn url_context(user: i64, kind: &str) -> String {
    format!("contact-method:{user}:{kind}")
}

fn is_phone(text: &str) -> bool {
    let digits = text.strip_prefix('+').unwrap_or("");
    (8..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

/// Adds a contact method to the caller's own account.
pub async fn add_contact_method(
    st: &AppState,
    caller: &Caller,
    f: &ContactMethodFields,
) -> Result<ContactMethodRecord, AppError> {
    let kind = ChannelKind::parse(f.kind.trim()).ok_or_else(|| {
        AppError::invalid(
            "kind",
            "must be email, sms, webhook, slack, mattermost or teams",
        )
    })?;
    let label = f.label.trim();
    if label.chars().count() > 100 {
        return Err(AppError::invalid("label", "must be at most 100 characters"));
    }
    let user = caller.user.id;
    let (address, secret) = if kind.is_webhook() {
        if f.address.is_some() {
            return Err(AppError::invalid("address", "a webhook takes a url"));
        }
        let text = f.url.as_deref().map(str::trim).unwrap_or_default();
        let url = reqwest::Url::parse(text)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| AppError::invalid("url", "must be an http:// or https:// URL"))?;
        // Link-local addresses are cloud metadata services, not chat servers.
        let ip = url
            .host_str()
            .and_then(|h| h.trim_matches(['[', ']']).parse::<std::net::IpAddr>().ok());
        let link_local = match ip {
            Some(std::net::IpAddr::V4(ip)) => ip.is_link_local(),
            Some(std::net::IpAddr::V6(ip)) => (ip.segments()[0] & 0xffc0) == 0xfe80,
            None => false,
        };
        if link_local {
            return Err(AppError::invalid(
                "url",
                "a link-local address is not a webhook",
            ));
        }
        let vault = st.vault.as_ref().ok_or_else(|| {
            AppError::invalid(
                "url",
                "a webhook URL is a secret and this server has no credentials key to keep it",
            )
        })?;
        let sealed = vault
            .seal(&url_context(user, kind.key()), url.as_str())
            .map_err(|_| AppError::internal())?;
        (url.origin().ascii_serialization(), Some(sealed))
    } else {
        if f.url.is_some() {
            return Err(AppError::invalid("url", "only webhooks take a url"));
        }
        let text = f.address.as_deref().map(str::trim).unwrap_or_default();
        let valid = match kind {
            ChannelKind::Email => text.parse::<lettre::Address>().is_ok(),
            _ => is_phone(text),
        };
        if !valid {
            return Err(AppError::invalid(
                "address",
                if kind == ChannelKind::Email {
                    "must be an e-mail address"
                } else {
                    "must be a phone number in international form, such as +33612345678"
                },
            ));
        }
        (text.to_owned(), None)
    };
    if st.store.list_contact_methods(user).await?.len() >= 20 {
        return Err(AppError::invalid("kind", "at most 20 contact methods"));
    }
    let label = if label.is_empty() {
        kind.key().to_owned()
    } else {
        label.to_owned()
    };
    Ok(st
        .store
        .create_contact_method(
            &caller.actor(),
            &NewContactMethod {
                user_id: user,
                kind: kind.key().to_owned(),
                label,
                address,
                secret,
            },
        )
        .await?)
}

pub async fn list_contact_methods(
    st: &AppState,
    caller: &Caller,
) -> Result<Vec<ContactMethodRecord>, AppError> {
    Ok(st.store.list_contact_methods(caller.user.id).await?)
}

/// One of the caller's own methods (another person's is not found).
pub async fn own_contact_method(
    st: &AppState,
    caller: &Caller,
    id: i64,
) -> Result<ContactMethodRecord, AppError> {
    match st.store.get_contact_method(id).await {
        Ok(m) if m.user_id == caller.user.id => Ok(m),
        _ => Err(AppError::not_found("contact method")),
    }
}

/// Deletes one of the caller's methods, and the rules that used it.
pub async fn delete_contact_method(
    st: &AppState,
    caller: &Caller,
    id: i64,
) -> Result<(), AppError> {
    own_contact_method(st, caller, id).await?;
    st.store.delete_contact_method(&caller.actor(), id).await?;
    // The rules that used it go with it (the person falls back to their e-mail address if
    // none is left).
    let mut rules = rules_of(st, caller.user.id).await?;
    let before = rules.rules.len();
    rules.rules.retain(|r| r.contact_method_id != id);
    if rules.rules.len() != before {
        put_rules(st, caller, &rules).await?;
    }
    Ok(())
}

/// Sends a test message through one of the caller's methods, now; the error says why it did
/// not go.
pub async fn test_contact_method(
    st: &AppState,
    caller: &Caller,
    id: i64,
) -> Result<Result<(), String>, AppError> {
    let m = own_contact_method(st, caller, id).await?;
    let kind = ChannelKind::parse(&m.kind).ok_or_else(AppError::internal)?;
    let subject = "Pupitre: test message".to_owned();
    let body = format!(
        "This is a test from Pupitre ({}) to {} ({}). Pages will reach you here.",
        st.config.public_url, caller.user.login, m.label
    );
    let message = Rendered {
        subject,
        body,
        digest: false,
        recipient: caller.user.login.clone(),
        incidents: Vec::new(),
    };
    let address = destination_address(st, &m)?;
    let channels = crate::ops::channels::Channels::new(&st.config);
    let outcome = channels
        .send(
            &crate::ops::channels::Destination {
                kind,
                address: &address,
            },
            &message,
        )
        .await;
    // A message leaving the system on request is worth a line in the audit log.
    let event = pupitre_core::audit::AuditEvent {
        action: "contact_method.test".to_owned(),
        object_type: "contact_method".to_owned(),
        object_id: Some(m.id),
        object_label: format!("{}: {} {}", caller.user.login, m.kind, m.label),
        entity_id: Some(caller.user.entity_id),
        changes: vec![pupitre_core::audit::Change {
            field: "delivered".to_owned(),
            before: None,
            after: Some(outcome.is_ok().to_string()),
        }],
    };
    st.store.record_event(&caller.actor(), &event).await?;
    Ok(outcome)
}

/// Where a method sends to: its address, or its webhook's URL opened from the vault.
pub fn destination_address(st: &AppState, m: &ContactMethodRecord) -> Result<String, AppError> {
    match &m.secret {
        None => Ok(m.address.clone()),
        Some(sealed) => st
            .vault
            .as_ref()
            .and_then(|v| v.open(&url_context(m.user_id, &m.kind), sealed).ok())
            .ok_or_else(|| {
                AppError::conflict("the webhook URL cannot be opened with this credentials key")
            }),
    }
}

// ---- Rules ----------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleFields {
    pub contact_method_id: i64,
    /// `high` or `low`.
    pub urgency: String,
    /// Minutes after the page (0 to 1440); not sent if the incident is acknowledged first.
    #[serde(default)]
    pub delay_minutes: u32,
}

/// Low-urgency messages wait while quiet hours last.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    /// `HH:MM`, local time.
    pub start: String,
    pub end: String,
    /// Empty: the account's own time zone.
    #[serde(default)]
    pub time_zone: String,
}

/// A person's rules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationRules {
    #[serde(default)]
    pub rules: Vec<RuleFields>,
    #[serde(default)]
    pub quiet_hours: Option<QuietHours>,
    /// More messages than this in a minute become one digest (1 to 100).
    #[serde(default = "default_digest_after")]
    pub digest_after: u32,
}

fn default_digest_after() -> u32 {
    5
}

impl Default for NotificationRules {
    fn default() -> NotificationRules {
        NotificationRules {
            rules: Vec::new(),
            quiet_hours: None,
            digest_after: default_digest_after(),
        }
    }
}

fn parse_hhmm(text: &str) -> Option<Time> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    Time::new(h.parse().ok()?, m.parse().ok()?, 0, 0).ok()
}

impl QuietHours {
    /// When the quiet hours around `at` end, if `at` is in them; `user_zone` is the
    /// account's time zone, used when the quiet hours name none.
    pub fn ends_after(&self, user_zone: &str, at: i64) -> Option<i64> {
        let (start, end) = (parse_hhmm(&self.start)?, parse_hhmm(&self.end)?);
        let name = if self.time_zone.is_empty() {
            user_zone
        } else {
            &self.time_zone
        };
        let tz = TimeZone::get(name).ok()?;
        let local = Timestamp::from_millisecond(at).ok()?.to_zoned(tz.clone());
        let time = local.time();
        let date = local.date();
        let inside = if start <= end {
            start <= time && time < end
        } else {
            time >= start || time < end
        };
        if !inside {
            return None;
        }
        let end_date = if end <= time {
            date.tomorrow().ok()?
        } else {
            date
        };
        let ends = end_date.to_datetime(end).to_zoned(tz).ok()?;
        Some(ends.timestamp().as_millisecond())
    }
}

/// The person's rules, or the defaults when they set none.
pub async fn rules_of(st: &AppState, user: i64) -> Result<NotificationRules, AppError> {
    Ok(st
        .store
        .notification_prefs(user)
        .await?
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default())
}

/// Replaces the caller's rules.
pub async fn put_rules(
    st: &AppState,
    caller: &Caller,
    rules: &NotificationRules,
) -> Result<NotificationRules, AppError> {
    let methods = st.store.list_contact_methods(caller.user.id).await?;
    if rules.rules.len() > 50 {
        return Err(AppError::invalid("rules", "at most 50 rules"));
    }
    for (i, r) in rules.rules.iter().enumerate() {
        if !methods.iter().any(|m| m.id == r.contact_method_id) {
            return Err(AppError::invalid(
                format!("rules[{i}].contact_method_id"),
                "not one of your contact methods",
            ));
        }
        if Urgency::parse(&r.urgency).is_none() {
            return Err(AppError::invalid(
                format!("rules[{i}].urgency"),
                "must be high or low",
            ));
        }
        if r.delay_minutes > 1440 {
            return Err(AppError::invalid(
                format!("rules[{i}].delay_minutes"),
                "must be at most 1440 (a day)",
            ));
        }
    }
    if let Some(q) = &rules.quiet_hours {
        for (field, text) in [("start", &q.start), ("end", &q.end)] {
            if parse_hhmm(text).is_none() {
                return Err(AppError::invalid(
                    format!("quiet_hours.{field}"),
                    "must be a time as HH:MM",
                ));
            }
        }
        if q.start == q.end {
            return Err(AppError::invalid(
                "quiet_hours.end",
                "must differ from the start",
            ));
        }
        if !q.time_zone.is_empty() && TimeZone::get(&q.time_zone).is_err() {
            return Err(AppError::invalid(
                "quiet_hours.time_zone",
                "unknown time zone",
            ));
        }
    }
    if !(1..=100).contains(&rules.digest_after) {
        return Err(AppError::invalid("digest_after", "must be 1 to 100"));
    }
    let text = serde_json::to_string(rules).map_err(|_| AppError::internal())?;
    st.store
        .put_notification_prefs(&caller.actor(), caller.user.id, &text)
        .await?;
    Ok(rules.clone())
}

/// One message to queue for a person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Planned {
    pub kind: ChannelKind,
    pub address: String,
    pub contact_method_id: Option<i64>,
    pub due_at: i64,
    /// How it was chosen, for the timeline: `by slack (Ops channel)`, `…in 5 min`.
    pub how: String,
}

/// Where a page of `urgency` goes for `user`, and when; empty with a reason when nowhere.
pub async fn plan(
    st: &AppState,
    user: &User,
    urgency: Urgency,
    now: i64,
) -> Result<Result<Vec<Planned>, String>, AppError> {
    let rules = rules_of(st, user.id).await?;
    let methods = st.store.list_contact_methods(user.id).await?;
    let mut out = Vec::new();
    // Rules whose method is gone do not count (a method deleted elsewhere than here).
    let usable: Vec<&RuleFields> = rules
        .rules
        .iter()
        .filter(|r| methods.iter().any(|m| m.id == r.contact_method_id))
        .collect();
    let matching: Vec<&&RuleFields> = usable
        .iter()
        .filter(|r| r.urgency == urgency.key())
        .collect();
    if usable.is_empty() {
        if user.notify_email && !user.email.is_empty() {
            out.push((
                ChannelKind::Email,
                user.email.clone(),
                None,
                0,
                String::new(),
            ));
        }
        if urgency == Urgency::High && user.notify_sms && is_phone(&user.phone) {
            out.push((ChannelKind::Sms, user.phone.clone(), None, 0, String::new()));
        }
        if out.is_empty() {
            return Ok(Err(format!(
                "{} has no e-mail address or notification rule to be paged by",
                user.login
            )));
        }
    } else {
        for r in matching {
            let Some(m) = methods.iter().find(|m| m.id == r.contact_method_id) else {
                continue;
            };
            let Some(kind) = ChannelKind::parse(&m.kind) else {
                continue;
            };
            out.push((
                kind,
                m.address.clone(),
                Some(m.id),
                r.delay_minutes,
                format!(" ({})", m.label),
            ));
        }
        if out.is_empty() {
            return Ok(Err(format!(
                "{} has no rule for {} urgency and was not paged",
                user.login,
                urgency.key()
            )));
        }
    }
    Ok(Ok(out
        .into_iter()
        .map(|(kind, address, method, delay, label)| {
            let mut due_at = now + i64::from(delay) * 60_000;
            let mut how = format!("by {}{label}", kind.name());
            if delay > 0 {
                how.push_str(&format!(" in {delay} min unless acknowledged"));
            }
            if urgency == Urgency::Low
                && let Some(end) = rules
                    .quiet_hours
                    .as_ref()
                    .and_then(|q| q.ends_after(&user.time_zone, due_at))
            {
                due_at = end;
                how.push_str(&format!(", held for quiet hours until {}", rfc3339(end)));
            }
            Planned {
                kind,
                address,
                contact_method_id: method,
                due_at,
                how,
            }
        })
        .collect()))
}

// ---- Templates ------------------------------------------------------------------------------

/// The templates, one per kind of channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TemplateKind {
    Email,
    /// Slack, Mattermost and Teams (markdown-ish text).
    Chat,
    Sms,
    /// The generic webhook's `text` (its JSON carries the incidents too).
    Webhook,
}

impl TemplateKind {
    pub const ALL: [TemplateKind; 4] = [
        TemplateKind::Email,
        TemplateKind::Chat,
        TemplateKind::Sms,
        TemplateKind::Webhook,
    ];

    pub fn key(self) -> &'static str {
        match self {
            TemplateKind::Email => "email",
            TemplateKind::Chat => "chat",
            TemplateKind::Sms => "sms",
            TemplateKind::Webhook => "webhook",
        }
    }

    pub fn parse(key: &str) -> Option<TemplateKind> {
        TemplateKind::ALL.into_iter().find(|k| k.key() == key)
    }

    /// The built-in subject and body.
    pub fn builtin(self) -> (&'static str, &'static str) {
        const SUBJECT: &str = "{% if digest %}[Pupitre] {{ incidents|length }} incidents for you\
             {% else %}[P{{ incident.priority }}] #{{ incident.id }} {{ incident.title }}{% endif %}";
        match self {
            TemplateKind::Email => (
                SUBJECT,
                "{% if digest %}{{ incidents|length }} incidents were paged to you within a minute:\n\n\
                 {% for i in incidents %}- [P{{ i.priority }}] #{{ i.id }} {{ i.title }} ({{ i.status }})\n  {{ i.url }}\n\
                 {% endfor %}\nOpen Pupitre to acknowledge them: {{ base_url }}/incidents\n\
                 {% else %}{{ incident.title }}\n\n\
                 Priority P{{ incident.priority }}, {{ incident.urgency }} urgency, {{ incident.impact }} asset(s) affected.\n\
                 Opened {{ incident.opened }}.\n\n\
                 Incident: {{ incident.url }}\n\
                 {% if incident.acknowledge_url %}Acknowledge: {{ incident.acknowledge_url }}\n{% endif %}\
                 {% if incident.resolve_url %}Resolve: {{ incident.resolve_url }}\n{% endif %}\n\
                 The links work for 24 hours, for you only.\n{% endif %}",
            ),
            TemplateKind::Chat => (
                SUBJECT,
                "{% if digest %}*{{ incidents|length }} incidents paged to {{ recipient }}*\n\
                 {% for i in incidents %}• P{{ i.priority }} <{{ i.url }}|#{{ i.id }} {{ i.title }}>\n{% endfor %}\
                 {% else %}*[P{{ incident.priority }}] #{{ incident.id }} {{ incident.title }}*\n\
                 {{ incident.urgency }} urgency, {{ incident.impact }} asset(s) affected, paged to {{ recipient }}.\n\
                 <{{ incident.url }}|Open>{% if incident.acknowledge_url %} · <{{ incident.acknowledge_url }}|Acknowledge>{% endif %}{% endif %}",
            ),
            TemplateKind::Sms => (
                "",
                "{% if digest %}Pupitre: {{ incidents|length }} incidents, first P{{ incident.priority }} #{{ incident.id }} \
                 {{ incident.title[:60] }}. {{ base_url }}/incidents\
                 {% else %}P{{ incident.priority }} #{{ incident.id }} {{ incident.title[:80] }}\
                 {% if incident.acknowledge_url %} Ack: {{ incident.acknowledge_url }}{% endif %}{% endif %}",
            ),
            TemplateKind::Webhook => (
                SUBJECT,
                "{% if digest %}{{ incidents|length }} incidents paged to {{ recipient }}\
                 {% else %}[P{{ incident.priority }}] #{{ incident.id }} {{ incident.title }}: paged to {{ recipient }}{% endif %}",
            ),
        }
    }
}

/// An incident as a template sees it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct IncidentContext {
    pub id: i64,
    pub title: String,
    pub status: String,
    pub priority: u8,
    pub urgency: String,
    pub impact: i64,
    pub opened: String,
    pub url: String,
    /// Signed for the recipient, valid 24 hours; empty without a credentials key.
    pub acknowledge_url: String,
    pub resolve_url: String,
}

/// A message, rendered.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Rendered {
    pub subject: String,
    pub body: String,
    #[serde(skip)]
    pub digest: bool,
    #[serde(skip)]
    pub recipient: String,
    #[serde(skip)]
    pub incidents: Vec<IncidentContext>,
}

/// The environment every user template renders in: no loader, a bounded amount of work,
/// undefined names an error except in tests (`{% if x %}`).
pub fn template_env() -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    env.set_fuel(Some(200_000));
    env.set_recursion_limit(20);
    env.set_undefined_behavior(minijinja::UndefinedBehavior::SemiStrict);
    env
}

/// The incidents of a message as its recipient's template sees them.
pub fn incident_context(st: &AppState, i: &IncidentRecord, user: Option<i64>) -> IncidentContext {
    let base = &st.config.public_url;
    let link = |action: &str| {
        user.and_then(|u| sign_link(st, i.id, action, u, now_ms() + LINK_VALID_MS))
            .map(|token| format!("{base}/a/{token}"))
            .unwrap_or_default()
    };
    IncidentContext {
        id: i.id,
        title: i.title.clone(),
        status: i.status.key().to_owned(),
        priority: i.priority,
        urgency: i.urgency.key().to_owned(),
        impact: i.impact,
        opened: rfc3339(i.created_at),
        url: format!("{base}/incidents/{}", i.id),
        acknowledge_url: link("acknowledge"),
        resolve_url: link("resolve"),
    }
}

/// Renders a template for `recipient` about `incidents` (more than one: a digest). The error
/// names the part (`subject`, `body`) and says what is wrong, with the line.
pub fn render(
    base_url: &str,
    (subject, body): (&str, &str),
    recipient: &str,
    incidents: Vec<IncidentContext>,
) -> Result<Rendered, (&'static str, String)> {
    let env = template_env();
    let digest = incidents.len() > 1;
    let ctx = minijinja::context! {
        incident => minijinja::value::Serde(incidents.first()),
        incidents => minijinja::value::Serde(&incidents),
        digest => digest,
        recipient => recipient,
        base_url => base_url,
    };
    let one = |part: &'static str, source: &str| {
        let text = env.render_str(source, ctx.clone()).map_err(|e| {
            let line = e.line().map(|l| format!("line {l}: ")).unwrap_or_default();
            let detail = e
                .detail()
                .map(str::to_owned)
                .unwrap_or_else(|| e.to_string());
            (part, format!("{line}{detail}"))
        })?;
        if text.len() > 64 * 1024 {
            return Err((part, "renders to more than 64 KiB".to_owned()));
        }
        Ok(text)
    };
    Ok(Rendered {
        subject: one("subject", subject)?.trim().replace(['\r', '\n'], " "),
        body: one("body", body)?,
        digest,
        recipient: recipient.to_owned(),
        incidents,
    })
}

/// The template in use for `kind` among those `saved`: the saved one, else the built-in.
pub fn template_of(saved: &[TemplateRecord], kind: TemplateKind) -> (&str, &str) {
    match saved.iter().find(|t| t.kind == kind.key()) {
        Some(t) => (&t.subject, &t.body),
        None => kind.builtin(),
    }
}

/// Templates serve every entity: they are the root entity's to read and change
/// (incidents=read, incidents=manage there).
fn check_global(caller: &Caller, level: Level) -> Result<(), AppError> {
    caller.check(
        Domain::Incidents,
        level,
        pupitre_core::model::ROOT_ENTITY,
        "notification templates",
    )
}

/// The templates as the API shows them.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TemplateView {
    pub kind: String,
    pub subject: String,
    pub body: String,
    /// False: the built-in template.
    pub customised: bool,
    pub updated_by: Option<String>,
    pub updated_at: Option<String>,
}

pub async fn list_templates(st: &AppState, caller: &Caller) -> Result<Vec<TemplateView>, AppError> {
    check_global(caller, Level::Read)?;
    let saved = st.store.list_message_templates().await?;
    Ok(TemplateKind::ALL
        .into_iter()
        .map(|kind| match saved.iter().find(|t| t.kind == kind.key()) {
            Some(t) => TemplateView {
                kind: t.kind.clone(),
                subject: t.subject.clone(),
                body: t.body.clone(),
                customised: true,
                updated_by: Some(t.updated_by.clone()),
                updated_at: Some(rfc3339(t.updated_at)),
            },
            None => TemplateView {
                kind: kind.key().to_owned(),
                subject: kind.builtin().0.to_owned(),
                body: kind.builtin().1.to_owned(),
                customised: false,
                updated_by: None,
                updated_at: None,
            },
        })
        .collect())
}

#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateFields {
    #[serde(default)]
    pub subject: String,
    pub body: String,
    /// For a preview: an incident to render with instead of the sample (one you may read).
    #[serde(default)]
    pub incident_id: Option<i64>,
}

/// A sample incident for previews and the checks on save.
fn sample(st: &AppState, id: i64, title: &str) -> IncidentContext {
    let base = &st.config.public_url;
    IncidentContext {
        id,
        title: title.to_owned(),
        status: "triggered".to_owned(),
        priority: 1,
        urgency: "high".to_owned(),
        impact: 51,
        opened: rfc3339(now_ms()),
        url: format!("{base}/incidents/{id}"),
        acknowledge_url: format!("{base}/a/sample-acknowledge-link"),
        resolve_url: format!("{base}/a/sample-resolve-link"),
    }
}

/// Renders the template with a sample page and a sample digest (or with the given incident):
/// what a preview shows, and the check made before saving.
pub async fn preview(
    st: &AppState,
    caller: &Caller,
    kind: TemplateKind,
    f: &TemplateFields,
) -> Result<Vec<Rendered>, AppError> {
    // Rendering is bounded in steps, not in memory: only those who may change templates try
    // them.
    check_global(caller, Level::Manage)?;
    let len_check = |field: &'static str, text: &str, max: usize| {
        if text.len() > max {
            Err(AppError::invalid(
                field,
                format!("must be at most {max} bytes"),
            ))
        } else {
            Ok(())
        }
    };
    len_check("subject", &f.subject, 1000)?;
    len_check("body", &f.body, 20_000)?;
    if f.body.trim().is_empty() {
        return Err(AppError::invalid("body", "must not be empty"));
    }
    if kind == TemplateKind::Email && f.subject.trim().is_empty() {
        return Err(AppError::invalid("subject", "an e-mail needs a subject"));
    }
    let samples: Vec<Vec<IncidentContext>> = match f.incident_id {
        Some(id) => {
            let incident = crate::ops::incidents::get_incident(st, caller, id, Level::Read)
                .await
                .map_err(|_| AppError::invalid("incident_id", "no such incident"))?;
            vec![vec![incident_context(st, &incident, Some(caller.user.id))]]
        }
        None => vec![
            vec![sample(
                st,
                1042,
                "core-sw-01 is down (50 servers behind it)",
            )],
            vec![
                sample(st, 1042, "core-sw-01 is down (50 servers behind it)"),
                sample(st, 1043, "db-02: disk /var 95% full"),
            ],
        ],
    };
    samples
        .into_iter()
        .map(|incidents| {
            render(
                &st.config.public_url,
                (&f.subject, &f.body),
                &caller.user.login,
                incidents,
            )
            .map_err(|(field, message)| AppError::invalid(field, message))
        })
        .collect()
}

/// Saves a template after checking it renders.
pub async fn put_template(
    st: &AppState,
    caller: &Caller,
    kind: TemplateKind,
    f: &TemplateFields,
) -> Result<TemplateView, AppError> {
    check_global(caller, Level::Manage)?;
    if f.incident_id.is_some() {
        return Err(AppError::invalid("incident_id", "only for a preview"));
    }
    preview(st, caller, kind, f).await?;
    let t = st
        .store
        .put_message_template(&caller.actor(), kind.key(), &f.subject, &f.body)
        .await?;
    Ok(TemplateView {
        kind: t.kind,
        subject: t.subject,
        body: t.body,
        customised: true,
        updated_by: Some(t.updated_by),
        updated_at: Some(rfc3339(t.updated_at)),
    })
}

/// Goes back to the built-in template.
pub async fn reset_template(
    st: &AppState,
    caller: &Caller,
    kind: TemplateKind,
) -> Result<(), AppError> {
    check_global(caller, Level::Manage)?;
    st.store
        .delete_message_template(&caller.actor(), kind.key())
        .await
        .map_err(|e| AppError::from_store("customised template", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(id: i64) -> IncidentContext {
        IncidentContext {
            id,
            title: "x".repeat(200),
            status: "triggered".to_owned(),
            priority: 2,
            urgency: "high".to_owned(),
            impact: 3,
            opened: "2026-11-30T03:00:00Z".to_owned(),
            url: format!("https://p.test/incidents/{id}"),
            acknowledge_url: "https://p.test/a/ack".to_owned(),
            resolve_url: String::new(),
        }
    }

    #[test]
    fn every_built_in_template_renders_a_page_and_a_digest() {
        for kind in TemplateKind::ALL {
            for incidents in [vec![sample(1)], vec![sample(1), sample(2)]] {
                let digest = incidents.len() > 1;
                let r = render("https://p.test", kind.builtin(), "night", incidents)
                    .unwrap_or_else(|e| panic!("{kind:?}: {e:?}"));
                assert!(!r.body.is_empty(), "{kind:?}");
                if kind == TemplateKind::Sms {
                    assert!(r.body.len() < 200, "an SMS stays short: {}", r.body);
                } else if !digest {
                    assert!(
                        r.subject.starts_with("[P2] #1 x"),
                        "{kind:?}: {}",
                        r.subject
                    );
                }
            }
        }
    }

    #[test]
    fn quiet_hours_end_at_the_next_end_in_the_zone() {
        let user = "Europe/Paris";
        let q = QuietHours {
            start: "22:00".to_owned(),
            end: "07:00".to_owned(),
            time_zone: String::new(),
        };
        let at = |text: &str| text.parse::<Timestamp>().unwrap().as_millisecond();
        // 23:30 in Paris (UTC+1 in winter): held until 07:00 the next morning.
        assert_eq!(
            q.ends_after(user, at("2026-11-30T22:30:00Z")),
            Some(at("2026-12-01T06:00:00Z"))
        );
        // 03:00 in Paris: until 07:00 the same morning.
        assert_eq!(
            q.ends_after(user, at("2026-12-01T02:00:00Z")),
            Some(at("2026-12-01T06:00:00Z"))
        );
        // 12:00: not quiet.
        assert_eq!(q.ends_after(user, at("2026-12-01T11:00:00Z")), None);
        // The night the clocks go back (28-29 March 2027 forward, 31 October 2027 back).
        assert_eq!(
            q.ends_after(user, at("2027-03-27T23:00:00Z")),
            Some(at("2027-03-28T05:00:00Z")),
            "07:00 CEST"
        );
    }
}
