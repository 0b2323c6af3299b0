-- The institution's people, groups and courses, the registered analytics clients, and the
-- stored learning records. Times are RFC 3339 UTC text of fixed width (see src/timestamp.rs),
-- ids are UUIDv7 text unless they are institution-given login ids.

-- A student as a data subject. Display name and e-mail are identity data: they never
-- leave through the gateway.
CREATE TABLE subjects (
    id           TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    email        TEXT,
    created_at   TEXT NOT NULL
);

-- External identifiers that map to a subject: the SIS student number, the xAPI actor
-- (mbox, mbox_sha1sum, account, openid), the LMS user id.
CREATE TABLE subject_identifiers (
    scheme     TEXT NOT NULL,
    value      TEXT NOT NULL,
    subject_id TEXT NOT NULL REFERENCES subjects (id) ON DELETE CASCADE,
    PRIMARY KEY (scheme, value)
);
CREATE INDEX subject_identifiers_by_subject ON subject_identifiers (subject_id);

-- People who sign in. `id` is the login id that bearer tokens carry as `sub`.
CREATE TABLE users (
    id           TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    email        TEXT,
    -- Set for students: the data subject this person is.
    subject_id   TEXT UNIQUE REFERENCES subjects (id) ON DELETE SET NULL,
    created_at   TEXT NOT NULL
);

-- Roles granted locally (in addition to roles a token claims).
CREATE TABLE user_roles (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role    TEXT NOT NULL CHECK (role IN ('student', 'mentor', 'teacher', 'privacy_officer', 'dpo', 'admin')),
    PRIMARY KEY (user_id, role)
);

-- Student groups (classes), each with its mentors.
CREATE TABLE student_groups (
    id   TEXT PRIMARY KEY,
    name TEXT NOT NULL
);
CREATE TABLE group_members (
    group_id   TEXT NOT NULL REFERENCES student_groups (id) ON DELETE CASCADE,
    subject_id TEXT NOT NULL REFERENCES subjects (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, subject_id)
);
CREATE INDEX group_members_by_subject ON group_members (subject_id);
CREATE TABLE group_mentors (
    group_id TEXT NOT NULL REFERENCES student_groups (id) ON DELETE CASCADE,
    user_id  TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);

-- Courses; `activity_iri` is the xAPI activity id the LMS uses for the course.
CREATE TABLE courses (
    id           TEXT PRIMARY KEY,
    title        TEXT NOT NULL,
    activity_iri TEXT NOT NULL UNIQUE
);
CREATE TABLE course_teachers (
    course_id TEXT NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    user_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (course_id, user_id)
);

-- Analytics tools that read through the gateway. `id` is the `sub` of their tokens.
CREATE TABLE clients (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    organisation TEXT NOT NULL,
    contact      TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('active', 'suspended')),
    created_at   TEXT NOT NULL
);

-- One stored datum about one subject, minimised at ingest: only catalogued fields are
-- kept, as typed columns, so that projecting a purpose's fields is column selection.
CREATE TABLE records (
    id           TEXT PRIMARY KEY,
    subject_id   TEXT NOT NULL REFERENCES subjects (id) ON DELETE CASCADE,
    -- The system the datum came from, e.g. `lms`, `sis`, `survey`.
    source       TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('xapi', 'enrolment', 'grade', 'survey')),
    category     TEXT NOT NULL CHECK (category IN ('identity', 'enrolment', 'activity', 'assessment', 'wellbeing', 'special')),
    occurred_at  TEXT NOT NULL,
    stored_at    TEXT NOT NULL,
    -- When retention ends for the longest-keeping purpose; NULL until purposes exist.
    expires_at   TEXT,
    course_id    TEXT REFERENCES courses (id),
    -- xAPI statement id, unique so that re-sent statements are recognised.
    statement_id TEXT UNIQUE,
    verb         TEXT,
    object_id    TEXT,
    object_type  TEXT,
    score_scaled DOUBLE PRECISION,
    -- Flags are SMALLINT 0/1 on both backends: sqlx's Any driver cannot read SQLite booleans.
    success      SMALLINT CHECK (success IN (0, 1)),
    completion   SMALLINT CHECK (completion IN (0, 1)),
    duration_ms  BIGINT,
    -- Grade component or survey item, with its value.
    item         TEXT,
    value_text   TEXT,
    value_number DOUBLE PRECISION
);
CREATE INDEX records_by_subject ON records (subject_id, occurred_at);
CREATE INDEX records_by_course ON records (course_id, occurred_at);
CREATE INDEX records_by_expiry ON records (expires_at);

-- Marks a data directory seeded with the demo institution, so seeding runs once.
CREATE TABLE demo_seed (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    version   INTEGER NOT NULL,
    scale     DOUBLE PRECISION NOT NULL,
    seeded_at TEXT NOT NULL
);
