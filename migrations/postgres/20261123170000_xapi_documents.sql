-- xAPI documents (activity state, activity and agent profiles), kept only in the
-- conformant ingest mode; in minimise mode they are accepted and not kept.
CREATE TABLE xapi_documents (
    -- SHA-256 of (resource, activity, agent, registration, document id).
    key          TEXT PRIMARY KEY,
    resource     TEXT NOT NULL CHECK (resource IN ('state', 'activity_profile', 'agent_profile')),
    source_id    TEXT NOT NULL REFERENCES sources (id),
    document_id  TEXT NOT NULL,
    -- The scope the document id is unique in, for listing: resource|activity|agent|registration.
    scope        TEXT NOT NULL,
    content_type TEXT NOT NULL,
    -- base64 of the bytes as received.
    content      TEXT NOT NULL,
    etag         TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE INDEX xapi_documents_by_scope ON xapi_documents (scope, updated_at);

-- Statements voided by a later statement of the same source (xAPI 1.0.3 §2.3.2).
ALTER TABLE records ADD COLUMN voided SMALLINT NOT NULL DEFAULT 0 CHECK (voided IN (0, 1));

-- The xAPI context.registration (attempt or enrolment), when a purpose reads it.
ALTER TABLE records ADD COLUMN registration TEXT;
