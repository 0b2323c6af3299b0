-- Students' requests under GDPR Arts. 15-22, with their legal deadline (Art. 12(3)).
CREATE TABLE data_requests (
    id              TEXT PRIMARY KEY,
    subject_id      TEXT NOT NULL REFERENCES subjects (id),
    kind            TEXT NOT NULL CHECK (kind IN ('access', 'rectification', 'erasure', 'restriction', 'objection')),
    -- JSON object: the student's text, and for rectification the record and what is wrong.
    details         TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('received', 'in_progress', 'waiting_for_student', 'done', 'refused')),
    received_at     TEXT NOT NULL,
    deadline        TEXT NOT NULL,
    extension_reason TEXT,
    -- The last answer to the student, and the reason of a refusal.
    reply           TEXT,
    updated_at      TEXT NOT NULL
);
CREATE INDEX data_requests_by_deadline ON data_requests (state, deadline);
CREATE INDEX data_requests_by_subject ON data_requests (subject_id, received_at);

-- What a student is told (each state change of their requests); e-mail delivery is pluggable.
CREATE TABLE notifications (
    id         TEXT PRIMARY KEY,
    subject_id TEXT NOT NULL,
    request_id TEXT REFERENCES data_requests (id) ON DELETE CASCADE,
    message    TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX notifications_by_subject ON notifications (subject_id, created_at);

-- Restriction of processing (Art. 18): the gateway leaves these students out of every read.
CREATE TABLE subject_restrictions (
    subject_id TEXT PRIMARY KEY REFERENCES subjects (id) ON DELETE CASCADE,
    request_id TEXT REFERENCES data_requests (id),
    since      TEXT NOT NULL
);

-- Rectification by annotation: what the student said is wrong, kept beside the record.
CREATE TABLE record_annotations (
    id         TEXT PRIMARY KEY,
    record_id  TEXT NOT NULL REFERENCES records (id) ON DELETE CASCADE,
    request_id TEXT REFERENCES data_requests (id),
    note       TEXT NOT NULL,
    created_at TEXT NOT NULL
);
