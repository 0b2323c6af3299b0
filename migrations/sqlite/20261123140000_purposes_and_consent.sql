-- The purpose register (GDPR Art. 30) and the consent ledger (after ISO/IEC TS 27560).

-- One row per purpose: its lifecycle and which version is current.
CREATE TABLE purposes (
    id         TEXT PRIMARY KEY,
    status     TEXT NOT NULL CHECK (status IN ('draft', 'active', 'suspended', 'retired')),
    version    INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- Every version of every purpose, kept: consent is given for a version.
CREATE TABLE purpose_versions (
    purpose_id TEXT NOT NULL REFERENCES purposes (id),
    version    INTEGER NOT NULL,
    -- The validated definition as JSON (titles, notices, legal basis, categories, fields,
    -- granularity, retention, recipients, review and DPIA flags).
    definition TEXT NOT NULL,
    -- Whether this version reads more than the one before it: consent given for an
    -- earlier version does not cover it.
    widens     SMALLINT NOT NULL CHECK (widens IN (0, 1)),
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    PRIMARY KEY (purpose_id, version)
);

-- Append-only: the current choice is the latest record. No code path updates or deletes.
CREATE TABLE consent_records (
    id              TEXT PRIMARY KEY,
    subject_id      TEXT NOT NULL REFERENCES subjects (id),
    purpose_id      TEXT NOT NULL REFERENCES purposes (id),
    purpose_version INTEGER NOT NULL,
    event           TEXT NOT NULL CHECK (event IN ('given', 'withdrawn', 'objected', 'objection_lifted')),
    legal_basis     TEXT NOT NULL,
    -- The notice shown: the purpose version whose notice text the student saw, and its language.
    notice_version  INTEGER NOT NULL,
    language        TEXT NOT NULL CHECK (language IN ('nl', 'en')),
    method          TEXT NOT NULL CHECK (method IN ('web', 'api', 'import', 'paper', 'phone')),
    -- Who recorded it, and in what relation to the student.
    actor_id        TEXT NOT NULL,
    relation        TEXT NOT NULL CHECK (relation IN ('self', 'staff', 'guardian', 'import')),
    recorded_at     TEXT NOT NULL
);
CREATE INDEX consent_records_by_subject ON consent_records (subject_id, purpose_id, recorded_at);
CREATE INDEX consent_records_by_purpose ON consent_records (purpose_id, recorded_at);

-- Parents or guardians who may act for students under 16 (UAVG Art. 5).
CREATE TABLE guardians (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    subject_id TEXT NOT NULL REFERENCES subjects (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, subject_id)
);

-- Identity data, needed to tell whether a guardian may still act for the student.
ALTER TABLE subjects ADD COLUMN date_of_birth TEXT;
