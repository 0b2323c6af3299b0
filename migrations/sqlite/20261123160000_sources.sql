-- Systems that deliver data (an LMS, the SIS export, a survey tool), with the kinds of
-- record each may deliver and the SHA-256 of its secret (HTTP Basic password).
CREATE TABLE sources (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    -- JSON array of record kinds: xapi, enrolment, grade, survey.
    kinds         TEXT NOT NULL,
    secret_sha256 TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('active', 'suspended')),
    created_at    TEXT NOT NULL
);

-- SHA-256 of a statement as received: the same id with other content is a conflict.
ALTER TABLE records ADD COLUMN content_sha256 TEXT;

-- The statement as received, kept only in the `conformant` ingest mode.
ALTER TABLE records ADD COLUMN payload TEXT;
