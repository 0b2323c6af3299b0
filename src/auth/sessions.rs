//! Server-side sessions for people who signed in: the cookie holds a random token, the
//! store its SHA-256, so a leaked database does not sign anyone in. A session ends after
//! an idle time or an absolute lifetime, whichever comes first, and at logout.

use sqlx::{AnyConnection, Row};

use super::secrets::{self, RandomFailure};
use super::{Principal, PrincipalKind};
use crate::timestamp::Timestamp;

/// The session cookie's name.
pub const COOKIE: &str = "consentry_session";
/// The header that carries the session's CSRF token on state-changing requests.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// How long sessions live.
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    pub idle_seconds: i64,
    pub absolute_seconds: i64,
}

/// A session just opened: the cookie value and the CSRF token for the page.
#[derive(Debug, Clone)]
pub struct Opened {
    pub token: String,
    pub csrf: String,
    pub expires_at: Timestamp,
}

/// A live session.
#[derive(Debug, Clone)]
pub struct Session {
    pub principal: Principal,
    pub csrf: String,
    pub provider: String,
    pub expires_at: String,
}

/// Opens a session for `user`; a new token every time, so a login never reuses one.
pub async fn open(
    connection: &mut AnyConnection,
    user: &str,
    provider: &str,
    claim_roles: &[super::Role],
    lifetimes: Lifetimes,
    now: Timestamp,
) -> Result<Opened, SessionError> {
    let token = secrets::issue()?;
    let csrf = secrets::issue()?;
    let expires_at = now.plus_seconds(lifetimes.absolute_seconds);
    sqlx::query(
        "INSERT INTO sessions (token_sha256, user_id, provider, csrf_token, created_at, last_seen_at, expires_at, \
         claim_roles) VALUES ($1, $2, $3, $4, $5, $5, $6, $7)",
    )
    .bind(secrets::digest_hex(&token))
    .bind(user.to_owned())
    .bind(provider.to_owned())
    .bind(csrf.clone())
    .bind(now.to_storage())
    .bind(expires_at.to_storage())
    .bind(serde_json::to_string(claim_roles).unwrap_or_else(|_| "[]".to_owned()))
    .execute(connection)
    .await?;
    Ok(Opened { token, csrf, expires_at })
}

/// The session a cookie names, if it is live; marks it seen.
pub async fn resolve(
    connection: &mut AnyConnection,
    token: &str,
    lifetimes: Lifetimes,
    now: Timestamp,
) -> Result<Option<Session>, SessionError> {
    let digest = secrets::digest_hex(token);
    let row = sqlx::query(
        "SELECT user_id, provider, csrf_token, last_seen_at, expires_at, claim_roles FROM sessions WHERE token_sha256 = $1",
    )
    .bind(digest.clone())
    .fetch_optional(&mut *connection)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let last_seen: String = row.try_get("last_seen_at")?;
    let expires_at: String = row.try_get("expires_at")?;
    let idle_until = Timestamp::parse(&last_seen).map(|at| at.plus_seconds(lifetimes.idle_seconds)).unwrap_or(now);
    if expires_at <= now.to_storage() || idle_until <= now {
        sqlx::query("DELETE FROM sessions WHERE token_sha256 = $1").bind(digest).execute(&mut *connection).await?;
        return Ok(None);
    }
    sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE token_sha256 = $2")
        .bind(now.to_storage())
        .bind(digest)
        .execute(&mut *connection)
        .await?;
    let user: String = row.try_get("user_id")?;
    // Local grants and what the identity provider said at sign-in, together.
    let mut roles = crate::directory::roles_of(connection, &user).await?.unwrap_or_default();
    let claimed: String = row.try_get("claim_roles")?;
    roles.extend(serde_json::from_str::<Vec<super::Role>>(&claimed).unwrap_or_default());
    Ok(Some(Session {
        principal: Principal { id: user, kind: PrincipalKind::User, roles: roles.into_iter().collect() },
        csrf: row.try_get("csrf_token")?,
        provider: row.try_get("provider")?,
        expires_at,
    }))
}

/// Ends the session a cookie names.
pub async fn end(connection: &mut AnyConnection, token: &str) -> Result<bool, SessionError> {
    let ended = sqlx::query("DELETE FROM sessions WHERE token_sha256 = $1")
        .bind(secrets::digest_hex(token))
        .execute(connection)
        .await?
        .rows_affected();
    Ok(ended > 0)
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Random(#[from] RandomFailure),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Store(#[from] crate::db::DbError),
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie(header: &str, name: &str) -> Option<String> {
    cookie::Cookie::split_parse(header)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == name)
        .map(|cookie| cookie.value().to_owned())
}

/// Where sessions live and how long, for the extractor that reads them.
#[derive(Debug, Clone)]
pub struct SessionStore {
    pub db: crate::db::Db,
    pub lifetimes: Lifetimes,
    pub clock: crate::timestamp::Clock,
    /// Whether cookies are `Secure`: always, except a demo server on plain loopback.
    pub secure_cookies: bool,
}

impl SessionStore {
    /// The `Set-Cookie` value for a session token (empty and expired to remove it).
    pub fn set_cookie(&self, name: &'static str, value: Option<&str>, max_age_seconds: i64) -> String {
        let mut builder = cookie::Cookie::build((name, value.unwrap_or_default().to_owned()))
            .path("/")
            .http_only(true)
            .secure(self.secure_cookies)
            .same_site(cookie::SameSite::Lax);
        builder = match value {
            Some(_) => builder.max_age(cookie::time::Duration::seconds(max_age_seconds)),
            None => builder.max_age(cookie::time::Duration::ZERO),
        };
        builder.build().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::cookie;

    #[test]
    fn cookies_are_found_by_exact_name() {
        let header = "a=1; consentry_session=abc; consentry_session_old=x";
        assert_eq!(cookie(header, "consentry_session").as_deref(), Some("abc"));
        assert_eq!(cookie(header, "b"), None);
    }
}
