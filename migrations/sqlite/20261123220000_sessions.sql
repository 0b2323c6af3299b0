-- Server-side sessions of people who signed in; the cookie carries a random token, the
-- store only its SHA-256.
CREATE TABLE sessions (
    token_sha256 TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider     TEXT NOT NULL,
    -- Sent back with every state-changing request made with the cookie.
    csrf_token   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    -- JSON array of the roles the identity provider's claims gave at sign-in.
    claim_roles  TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX sessions_by_user ON sessions (user_id);

-- Sign-ins under way at an identity provider: the state, with the PKCE verifier and the
-- nonce the callback needs; each is used once and lives ten minutes.
CREATE TABLE login_attempts (
    state         TEXT PRIMARY KEY,
    provider      TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    nonce         TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
