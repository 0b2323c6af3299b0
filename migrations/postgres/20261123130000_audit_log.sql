-- The tamper-evident audit log. Each event's hash covers the previous event's hash and the
-- event's own canonical JSON (RFC 8785), so editing, deleting or reordering any event
-- breaks the chain from there on. Signed checkpoints pin the chain at intervals.

-- Every decision Consentry makes or change it records. Subjects appear by internal id only.
CREATE TABLE audit_events (
    seq         BIGINT PRIMARY KEY,
    at          TEXT NOT NULL,
    -- Who: a user or client id (token `sub`), or `system` for Consentry's own jobs.
    actor_id    TEXT NOT NULL,
    actor_kind  TEXT NOT NULL CHECK (actor_kind IN ('user', 'client', 'system')),
    -- JSON array of the roles the actor held.
    actor_roles TEXT NOT NULL,
    action      TEXT NOT NULL,
    resource    TEXT NOT NULL,
    subject_id  TEXT,
    purpose     TEXT,
    decision    TEXT NOT NULL CHECK (decision IN ('allow', 'deny')),
    -- JSON array: the policy or rule ids that decided.
    reasons     TEXT NOT NULL,
    -- JSON object: what changed, without names, e-mail addresses or record contents.
    details     TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);
CREATE INDEX audit_events_by_time ON audit_events (at);
CREATE INDEX audit_events_by_actor ON audit_events (actor_id, seq);
CREATE INDEX audit_events_by_subject ON audit_events (subject_id, seq);
CREATE INDEX audit_events_by_purpose ON audit_events (purpose, seq);
CREATE INDEX audit_events_by_action ON audit_events (action, seq);

-- The chain's head: one row, updated by every append. Appending starts by updating it,
-- which makes concurrent appenders queue on its row lock: no gaps, no forks.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Signed statements "the event with this seq has this hash", made at intervals with the
-- audit signing key (Ed25519) from the data directory.
CREATE TABLE audit_checkpoints (
    seq       BIGINT PRIMARY KEY,
    hash      TEXT NOT NULL,
    at        TEXT NOT NULL,
    key_id    TEXT NOT NULL,
    -- base64 Ed25519 signature over the checkpoint's canonical JSON.
    signature TEXT NOT NULL
);

-- After pruning a prefix of the log: a signed checkpoint of the last pruned event, from
-- which the remaining chain verifies.
CREATE TABLE audit_anchor (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    seq       BIGINT NOT NULL,
    hash      TEXT NOT NULL,
    at        TEXT NOT NULL,
    key_id    TEXT NOT NULL,
    signature TEXT NOT NULL
);
