-- Policy sets written through the API: drafts, the active one, and those before it.
-- Without an activated row, the policies shipped in policies/ (or policies_dir) apply.
CREATE TABLE policy_sets (
    version      INTEGER PRIMARY KEY,
    -- JSON array of {"name": "audit.cedar", "text": "…"}.
    files        TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('draft', 'active', 'superseded')),
    created_by   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    activated_by TEXT,
    activated_at TEXT,
    -- Why the shipped forbid guarantees were overridden, when they were.
    override_reason TEXT
);
