-- Silences (issue #7): matchers on an alert's labels, from a start to an end, with an
-- author and a comment. A matching alert is recorded without an incident and pages nobody;
-- once the silence ends, a problem still there opens its incident.

CREATE TABLE silences (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    entity_id   INTEGER NOT NULL REFERENCES entities(id),
    matchers    TEXT NOT NULL,     -- JSON [{name, op, value}], op one of = != =~ !~
    starts_at   INTEGER NOT NULL,
    ends_at     INTEGER NOT NULL,
    author      TEXT NOT NULL,
    comment     TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX silences_ends ON silences (ends_at);
