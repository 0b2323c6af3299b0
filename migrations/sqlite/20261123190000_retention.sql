-- Whether every record's expiry must be recomputed: purpose changes raise `requested`, a
-- finished recomputation sets `done` to the `requested` it started from.
CREATE TABLE retention_state (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    requested BIGINT NOT NULL,
    done      BIGINT NOT NULL
);
INSERT INTO retention_state (id, requested, done) VALUES (1, 1, 0);

-- Sweeps, with their counts kept in the same transaction as each batch they delete, so a
-- sweep killed part-way is finished by the next one without counting anything twice.
CREATE TABLE retention_sweeps (
    id          TEXT PRIMARY KEY,
    as_of       TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    -- JSON object: records deleted per category so far.
    deleted     TEXT NOT NULL
);

-- Certificates of erasure (GDPR Art. 17): what was deleted, when, what was kept and why.
CREATE TABLE erasure_certificates (
    id          TEXT PRIMARY KEY,
    subject_id  TEXT NOT NULL,
    issued_at   TEXT NOT NULL,
    certificate TEXT NOT NULL
);
CREATE INDEX erasure_certificates_by_subject ON erasure_certificates (subject_id);

-- The agent (`scheme:value`) of agent-scoped xAPI documents, so that erasure finds them.
ALTER TABLE xapi_documents ADD COLUMN agent TEXT;
CREATE INDEX xapi_documents_by_agent ON xapi_documents (agent);
