-- Notification channels (issue #7): each person's contact methods and the rules that use
-- them (by urgency, each with a delay; quiet hours for low urgency; a storm limit beyond
-- which messages become a digest), and the message templates administrators edit.

CREATE TABLE contact_methods (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,     -- email, sms, webhook, slack, mattermost, teams
    label       TEXT NOT NULL,
    -- What is shown: the e-mail address, the phone number, or a webhook URL's origin.
    address     TEXT NOT NULL,
    -- A webhook's whole URL (its path is the secret), sealed by the vault.
    secret      TEXT,
    created_at  INTEGER NOT NULL
);
CREATE INDEX contact_methods_user ON contact_methods (user_id, id);

CREATE TABLE notification_prefs (
    user_id     INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    -- JSON {rules: [{contact_method_id, urgency, delay_minutes}], quiet_hours, digest_after}
    definition  TEXT NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE notification_templates (
    kind        TEXT PRIMARY KEY,  -- email, chat, sms, webhook; absent: the built-in one
    subject     TEXT NOT NULL,
    body        TEXT NOT NULL,
    updated_by  TEXT NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- NULL for the account's own e-mail address (no rules set), or a deleted method.
ALTER TABLE notifications ADD COLUMN contact_method_id INTEGER REFERENCES contact_methods(id) ON DELETE SET NULL;
-- The message that carried it: its own id, or the first of a digest's.
ALTER TABLE notifications ADD COLUMN message_id INTEGER;
CREATE INDEX notifications_user_sent ON notifications (user_id, sent_at);
