//! Notification channels' storage (issue #7): each person's contact methods, their rules
//! (kept as JSON the web layer validates), and the message templates administrators edit.
//!
//! A webhook's URL is a secret (whoever has it can post into the channel): the store keeps
//! it sealed by the vault, and shows only its origin.

use async_trait::async_trait;
use pupitre_core::audit::Actor;

use crate::Result;

/// One way to reach a person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContactMethodRecord {
    pub id: i64,
    pub user_id: i64,
    /// `email`, `sms`, `webhook`, `slack`, `mattermost` or `teams`.
    pub kind: String,
    pub label: String,
    /// What is shown: the e-mail address, the phone number, or a webhook URL's origin.
    pub address: String,
    /// The webhook's whole URL, sealed by the vault.
    pub secret: Option<String>,
    pub created_at: i64,
}

/// A contact method to add.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewContactMethod {
    pub user_id: i64,
    pub kind: String,
    pub label: String,
    pub address: String,
    pub secret: Option<String>,
}

/// A message template an administrator changed; the kinds without one use the built-in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateRecord {
    /// `email`, `chat`, `sms` or `webhook`.
    pub kind: String,
    pub subject: String,
    pub body: String,
    pub updated_by: String,
    pub updated_at: i64,
}

#[async_trait]
pub trait NotifyStore: Send + Sync {
    async fn list_contact_methods(&self, user: i64) -> Result<Vec<ContactMethodRecord>>;
    async fn get_contact_method(&self, id: i64) -> Result<ContactMethodRecord>;
    async fn create_contact_method(
        &self,
        actor: &Actor,
        method: &NewContactMethod,
    ) -> Result<ContactMethodRecord>;
    /// Deletes a method; the rules that named it are the web layer's to drop.
    async fn delete_contact_method(&self, actor: &Actor, id: i64) -> Result<()>;

    /// A person's rules (JSON), if they set any.
    async fn notification_prefs(&self, user: i64) -> Result<Option<String>>;
    async fn put_notification_prefs(
        &self,
        actor: &Actor,
        user: i64,
        definition: &str,
    ) -> Result<()>;

    async fn list_message_templates(&self) -> Result<Vec<TemplateRecord>>;
    async fn put_message_template(
        &self,
        actor: &Actor,
        kind: &str,
        subject: &str,
        body: &str,
    ) -> Result<TemplateRecord>;
    /// Goes back to the built-in template.
    async fn delete_message_template(&self, actor: &Actor, kind: &str) -> Result<()>;
}
