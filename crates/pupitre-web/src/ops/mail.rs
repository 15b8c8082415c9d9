//! Sending e-mail (pages) through the configured SMTP server, with lettre.

use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::ops::notify::Rendered;
use crate::state::WebConfig;

/// The SMTP server pages go through, or why there is none.
pub struct Mailer {
    transport: Result<AsyncSmtpTransport<Tokio1Executor>, String>,
    from: String,
}

impl Mailer {
    pub fn new(config: &WebConfig) -> Mailer {
        let transport = match &config.smtp_url {
            None => Err("no SMTP server is configured (smtp_url)".to_owned()),
            Some(url) => AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                .map(|b| b.timeout(Some(std::time::Duration::from_secs(20))).build())
                .map_err(|e| format!("smtp_url: {e}")),
        };
        Mailer {
            transport,
            from: config.smtp_from.clone(),
        }
    }

    /// Sends one message; the error says why it did not go.
    pub async fn send(&self, to: &str, m: &Rendered) -> Result<(), String> {
        let transport = self.transport.as_ref().map_err(Clone::clone)?;
        let message = Message::builder()
            .from(self.from.parse().map_err(|e| format!("smtp_from: {e}"))?)
            .to(to.parse().map_err(|e| format!("address {to}: {e}"))?)
            .subject(&m.subject)
            .header(ContentType::TEXT_PLAIN)
            .body(m.body.clone())
            .map_err(|e| e.to_string())?;
        transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}
