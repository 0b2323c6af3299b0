-- Analytics runs: one per window and model version, so a repeated run adds nothing.
CREATE TABLE analytics_runs (
    id            TEXT PRIMARY KEY,
    model_version TEXT NOT NULL,
    window_start  TEXT NOT NULL,
    window_end    TEXT NOT NULL,
    started_at    TEXT NOT NULL,
    -- JSON: students scored, proposals made, score distribution.
    summary       TEXT NOT NULL,
    UNIQUE (model_version, window_start, window_end)
);

-- Interventions proposed for one student, which only their mentor can turn into action.
CREATE TABLE proposals (
    id            TEXT PRIMARY KEY,
    run_id        TEXT NOT NULL REFERENCES analytics_runs (id),
    subject_id    TEXT NOT NULL REFERENCES subjects (id) ON DELETE CASCADE,
    mentor_id     TEXT NOT NULL,
    action        TEXT NOT NULL CHECK (action IN ('invite_conversation', 'offer_extra_material', 'check_in')),
    -- Place in the mentor's invitation order (1 = first).
    rank          INTEGER NOT NULL,
    score         DOUBLE PRECISION NOT NULL,
    -- JSON: the indicators that drove the score, with values, group means and norms.
    explanation   TEXT NOT NULL,
    model_version TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'amended', 'expired')),
    created_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    opened_at     TEXT,
    decided_by    TEXT,
    decided_at    TEXT,
    rationale     TEXT,
    amended_action TEXT,
    amended_text  TEXT,
    declined_at   TEXT,
    UNIQUE (run_id, subject_id, action)
);
CREATE INDEX proposals_by_mentor ON proposals (mentor_id, status, rank);
CREATE INDEX proposals_by_subject ON proposals (subject_id, status);

-- The stop switch (AI Act Art. 14(4)(e)): while set, no proposals are made or decided.
CREATE TABLE analytics_state (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    stopped   SMALLINT NOT NULL CHECK (stopped IN (0, 1)),
    reason    TEXT,
    since     TEXT
);
INSERT INTO analytics_state (id, stopped) VALUES (1, 0);
