//! Sending a rendered message through one contact method: e-mail (SMTP), a generic JSON
//! webhook, Slack-, Mattermost- and Microsoft Teams-compatible incoming webhooks, and SMS
//! through the HTTP gateway the configuration describes.
//!
//! Every send says why it failed in one line; the caller records it and retries. A remote
//! error's body is not echoed (the URL is the user's, the body could be anything): the HTTP
//! status is enough to act on.

use std::time::Duration;

use serde_json::{Value, json};

use crate::ops::mail::Mailer;
use crate::ops::notify::{ChannelKind, Rendered};
use crate::state::WebConfig;

/// The HTTP gateway SMS go through: a URL and, for a POST, a body, both minijinja templates
/// given `to` (E.164) and `text`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmsGateway {
    /// `https://gateway/send?to={{ to|urlencode }}&text={{ text|urlencode }}`; user and
    /// password in the URL are sent as basic authentication.
    pub url: String,
    /// Empty: a GET of the URL. Otherwise the POST's body.
    pub body: String,
    pub content_type: String,
}

/// Where one message goes.
pub struct Destination<'a> {
    pub kind: ChannelKind,
    /// The e-mail address or phone number; for webhooks, the whole URL (opened from the
    /// vault).
    pub address: &'a str,
}

/// The ways out, built once per pager.
pub struct Channels {
    mailer: Mailer,
    http: Result<reqwest::Client, String>,
    sms: Option<SmsGateway>,
}

impl Channels {
    pub fn new(config: &WebConfig) -> Channels {
        Channels {
            mailer: Mailer::new(config),
            http: http_client(),
            sms: config.sms_gateway.clone(),
        }
    }

    /// Sends `message`; the error says why it did not go.
    pub async fn send(&self, to: &Destination<'_>, message: &Rendered) -> Result<(), String> {
        match to.kind {
            ChannelKind::Email => self.mailer.send(to.address, message).await,
            ChannelKind::Sms => self.sms(to.address, &message.body).await,
            kind => {
                let payload = payload(kind, message);
                let http = self.http.as_ref().map_err(Clone::clone)?;
                let request = http.post(to.address).json(&payload);
                answered(request.send().await)
            }
        }
    }

    async fn sms(&self, to: &str, text: &str) -> Result<(), String> {
        let gateway = self
            .sms
            .as_ref()
            .ok_or("no SMS gateway is configured (sms_gateway_url)")?;
        let http = self.http.as_ref().map_err(Clone::clone)?;
        let (url, body) = sms_request(gateway, to, text)?;
        let request = match body {
            None => http.get(url),
            Some(body) => http
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, &gateway.content_type)
                .body(body),
        };
        answered(request.send().await)
    }
}

/// The SMS gateway's URL and body (`None`: a GET) for one message.
pub fn sms_request(
    gateway: &SmsGateway,
    to: &str,
    text: &str,
) -> Result<(String, Option<String>), String> {
    let env = crate::ops::notify::template_env();
    let ctx = minijinja::context! { to => to, text => text };
    let url = env
        .render_str(&gateway.url, ctx.clone())
        .map_err(|e| format!("sms_gateway_url: {e}"))?;
    reqwest::Url::parse(&url).map_err(|e| format!("sms_gateway_url: {e}"))?;
    let body = if gateway.body.is_empty() {
        None
    } else {
        Some(
            env.render_str(&gateway.body, ctx)
                .map_err(|e| format!("sms_gateway_body: {e}"))?,
        )
    };
    Ok((url, body))
}

fn http_client() -> Result<reqwest::Client, String> {
    let tls = pupitre_probe::tls_client(None)?;
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .timeout(Duration::from_secs(15))
        // A webhook that redirects is misconfigured; following it could post elsewhere.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!(
            "Pupitre/",
            env!("CARGO_PKG_VERSION"),
            " (notifications)"
        ))
        .build()
        .map_err(|e| pupitre_probe::error_chain(&e))
}

fn answered(outcome: reqwest::Result<reqwest::Response>) -> Result<(), String> {
    let response = outcome.map_err(|e| pupitre_probe::error_chain(&e.without_url()))?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("the receiver answered HTTP {status}"))
    }
}

/// What each kind of webhook expects.
fn payload(kind: ChannelKind, m: &Rendered) -> Value {
    let first = m.incidents.first();
    match kind {
        ChannelKind::Slack | ChannelKind::Mattermost => json!({ "text": m.body }),
        ChannelKind::Teams => {
            // A message with an Adaptive Card: what Teams' Workflows webhooks (and the
            // connectors they replace) display.
            let actions: Vec<Value> = first
                .into_iter()
                .flat_map(|i| {
                    [
                        ("Open", &i.url),
                        ("Acknowledge", &i.acknowledge_url),
                        ("Resolve", &i.resolve_url),
                    ]
                })
                .filter(|(_, url)| !url.is_empty() && !m.digest)
                .map(|(title, url)| json!({"type": "Action.OpenUrl", "title": title, "url": url}))
                .collect();
            json!({
                "type": "message",
                "attachments": [{
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "contentUrl": null,
                    "content": {
                        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                        "type": "AdaptiveCard",
                        "version": "1.4",
                        "body": [
                            {"type": "TextBlock", "text": m.subject, "weight": "Bolder", "wrap": true},
                            {"type": "TextBlock", "text": m.body, "wrap": true}
                        ],
                        "actions": actions
                    }
                }]
            })
        }
        _ => json!({
            "event": if m.digest { "digest" } else { "page" },
            "subject": m.subject,
            "text": m.body,
            "recipient": m.recipient,
            "incidents": m.incidents,
        }),
    }
}
