-- The client registry: the subject its tokens carry, the SHA-256 of its secret (HTTP Basic
-- password, for tools without an identity provider), and the purposes it may read for.
ALTER TABLE clients ADD COLUMN token_subject TEXT;
ALTER TABLE clients ADD COLUMN secret_sha256 TEXT;
UPDATE clients SET token_subject = id;
CREATE UNIQUE INDEX clients_by_token_subject ON clients (token_subject);

CREATE TABLE client_purposes (
    client_id     TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    purpose_id    TEXT NOT NULL REFERENCES purposes (id),
    registered_at TEXT NOT NULL,
    PRIMARY KEY (client_id, purpose_id)
);

-- Catalogued xAPI extensions some purpose reads, as a JSON object of catalogue field name
-- to value; NULL when none was kept.
ALTER TABLE records ADD COLUMN extensions TEXT;

-- One row per governed read: who read what, for which purpose, with which fields.
CREATE TABLE gateway_reads (
    id              TEXT PRIMARY KEY,
    client_id       TEXT NOT NULL,
    purpose_id      TEXT NOT NULL REFERENCES purposes (id),
    purpose_version INTEGER NOT NULL,
    -- `records` (individual) or `aggregates`.
    shape           TEXT NOT NULL CHECK (shape IN ('records', 'aggregates')),
    -- JSON array of the catalogue fields that left, and JSON object of the filters applied.
    fields          TEXT NOT NULL,
    filters         TEXT NOT NULL,
    records         BIGINT NOT NULL,
    subjects        BIGINT NOT NULL,
    started_at      TEXT NOT NULL,
    finished_at     TEXT NOT NULL,
    -- Whether the reader received the whole result (a dropped connection ends a read early).
    complete        SMALLINT NOT NULL CHECK (complete IN (0, 1))
);
CREATE INDEX gateway_reads_by_client ON gateway_reads (client_id, started_at);

-- The disclosure log: per read, each subject whose records left and how many. A read of a
-- million records over 2,000 students stores 2,000 rows.
CREATE TABLE disclosures (
    read_id    TEXT NOT NULL REFERENCES gateway_reads (id) ON DELETE CASCADE,
    subject_id TEXT NOT NULL,
    records    BIGINT NOT NULL,
    PRIMARY KEY (read_id, subject_id)
);
CREATE INDEX disclosures_by_subject ON disclosures (subject_id);

-- Pages of a governed read run in (occurred_at, id) order.
CREATE INDEX records_by_time ON records (occurred_at, id);
