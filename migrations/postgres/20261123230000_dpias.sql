-- Data protection impact assessments (GDPR Art. 35), instances of `dpia-templates/`.

CREATE TABLE dpias (
    id                 TEXT PRIMARY KEY,
    title              TEXT NOT NULL,
    template_id        TEXT NOT NULL,
    template_version   INTEGER NOT NULL,
    language           TEXT NOT NULL CHECK (language IN ('nl', 'en')),
    status             TEXT NOT NULL CHECK (status IN ('draft', 'in_review', 'approved', 'rejected')),
    revision           INTEGER NOT NULL,
    -- Answers (with the register facts prefilled ones saw), risks and measures, as JSON.
    document           TEXT NOT NULL,
    -- The DPO's decision; the review date only for an approval.
    review_date        TEXT,
    decided_by         TEXT,
    decided_at         TEXT,
    decision_rationale TEXT,
    created_by         TEXT NOT NULL,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL
);

-- The purposes a DPIA covers, at the version it assessed: an approval covers that
-- version and later ones until a version reads more.
CREATE TABLE dpia_purposes (
    dpia_id         TEXT NOT NULL REFERENCES dpias (id),
    purpose_id      TEXT NOT NULL REFERENCES purposes (id),
    purpose_version INTEGER NOT NULL,
    PRIMARY KEY (dpia_id, purpose_id)
);
CREATE INDEX dpia_purposes_by_purpose ON dpia_purposes (purpose_id);

-- Every revision's document, kept: what was approved stays readable.
CREATE TABLE dpia_revisions (
    dpia_id    TEXT NOT NULL REFERENCES dpias (id),
    revision   INTEGER NOT NULL,
    status     TEXT NOT NULL,
    change     TEXT NOT NULL,
    document   TEXT NOT NULL,
    changed_by TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    PRIMARY KEY (dpia_id, revision)
);

CREATE TABLE dpia_comments (
    id         TEXT PRIMARY KEY,
    dpia_id    TEXT NOT NULL REFERENCES dpias (id),
    question   TEXT,
    author     TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX dpia_comments_by_dpia ON dpia_comments (dpia_id, created_at);
