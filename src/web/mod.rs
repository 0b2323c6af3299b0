//! The web interface: server-rendered pages (maud) in Dutch and English for students,
//! mentors and the privacy office. Pages call the same domain functions as the API; they
//! work without JavaScript, forms carry the session's CSRF token, and every page is sent
//! with a strict Content-Security-Policy.

mod layout;
mod mentor;
mod office;
mod student;
mod texts;

use axum::Router;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

pub use layout::bare;
pub use texts::{Texts, role_name, texts};

use crate::auth::Principal;
use crate::auth::sessions::{self, COOKIE};
use crate::problem::ApiError;
use crate::purposes::Language;
use crate::server::AppState;

/// The cookie that keeps the chosen language.
const LANGUAGE_COOKIE: &str = "consentry_lang";
const STYLESHEET: &str = include_str!("consentry.css");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(student::home))
        .route("/sign-in", get(layout::sign_in))
        .route("/language/{language}", get(choose_language))
        .route("/assets/consentry.css", get(stylesheet))
        .merge(student::router())
        .merge(mentor::router())
        .merge(office::router())
        .layer(middleware::map_response(security_headers))
}

/// Pages may load only this server's own styles and scripts, be framed by nobody, and
/// post forms only here.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                 frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
            ),
        );
    }
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    response
}

async fn stylesheet() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")], STYLESHEET)
}

/// The page language: the reader's choice (cookie), else their browser's, else Dutch.
pub fn language(headers: &HeaderMap) -> Language {
    let cookies = headers.get(header::COOKIE).and_then(|value| value.to_str().ok());
    if let Some(chosen) = cookies.and_then(|cookies| sessions::cookie(cookies, LANGUAGE_COOKIE)) {
        return if chosen == "en" { Language::En } else { Language::Nl };
    }
    let accepted = headers.get(header::ACCEPT_LANGUAGE).and_then(|value| value.to_str().ok()).unwrap_or_default();
    let mut ranked: Vec<(f32, &str)> = accepted
        .split(',')
        .filter_map(|entry| {
            let mut parts = entry.trim().split(';');
            let tag = parts.next()?.trim();
            let quality = parts
                .find_map(|part| part.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            Some((quality, tag))
        })
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
    ranked
        .iter()
        .find_map(|(_, tag)| match tag.get(..2) {
            Some("en") => Some(Language::En),
            Some("nl") => Some(Language::Nl),
            _ => None,
        })
        .unwrap_or(Language::Nl)
}

/// Switches the language and returns to the page the reader came from.
async fn choose_language(State(state): State<AppState>, Path(chosen): Path<String>, headers: HeaderMap) -> Response {
    let value = if chosen == "en" { "en" } else { "nl" };
    // Only a path on this server, never an address elsewhere.
    let back = headers
        .get(header::REFERER)
        .and_then(|value| value.to_str().ok())
        .and_then(|referer| reqwest::Url::parse(referer).ok())
        .map(|url| url.path().to_owned())
        .filter(|path| path.starts_with('/') && !path.starts_with("//") && !path.starts_with("/language/"))
        .unwrap_or_else(|| "/".to_owned());
    let cookie = state.sessions.set_cookie(LANGUAGE_COOKIE, Some(value), 365 * 86_400);
    ([(header::SET_COOKIE, cookie)], Redirect::to(&back)).into_response()
}

/// The person a page is for: signed in with a session, their CSRF token, their language.
pub struct Viewer {
    pub principal: Principal,
    pub csrf: String,
    pub language: Language,
}

impl Viewer {
    pub fn texts(&self) -> &'static Texts {
        texts::texts(self.language)
    }

    /// Whether a posted form carries this session's CSRF token.
    pub fn check(&self, csrf: &str) -> Result<(), PageError> {
        if csrf == self.csrf {
            Ok(())
        } else {
            Err(PageError::new(
                self.language,
                ApiError::new(
                    crate::problem::ProblemType::Forbidden,
                    "the form is stale or forged: open the page again",
                ),
            ))
        }
    }
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let language = language(&parts.headers);
        let token = parts
            .headers
            .get(header::COOKIE)
            .and_then(|value| value.to_str().ok())
            .and_then(|cookies| sessions::cookie(cookies, COOKIE));
        let Some(token) = token else { return Err(Redirect::to("/sign-in").into_response()) };
        let store = &state.sessions;
        let mut connection =
            state.db.pool().acquire().await.map_err(|error| PageError::new(language, error.into()).into_response())?;
        let session = sessions::resolve(&mut connection, &token, store.lifetimes, store.clock.now())
            .await
            .map_err(|error| PageError::new(language, ApiError::internal(error)).into_response())?;
        match session {
            Some(session) => Ok(Viewer { principal: session.principal, csrf: session.csrf, language }),
            None => Err(Redirect::to("/sign-in").into_response()),
        }
    }
}

/// A failure shown as a page, with the problem's status and words.
pub struct PageError {
    language: Language,
    error: Box<ApiError>,
}

impl PageError {
    pub fn new(language: Language, error: ApiError) -> Self {
        Self { language, error: Box::new(error) }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.error.status();
        if status.is_server_error() {
            tracing::error!(detail = %self.error.detail(), "a page failed");
        }
        let texts = texts::texts(self.language);
        let markup = layout::bare(
            self.language,
            texts.error_title,
            maud::html! {
                h1 { (texts.error_title) }
                p { (self.error.detail()) }
                p { a href="/" { (texts.back_home) } }
            },
        );
        (status, markup).into_response()
    }
}

/// Turns a domain error into an error page in the viewer's language.
pub trait OrPage<T> {
    fn or_page(self, language: Language) -> Result<T, PageError>;
}

impl<T, E: Into<ApiError>> OrPage<T> for Result<T, E> {
    fn or_page(self, language: Language) -> Result<T, PageError> {
        self.map_err(|error| PageError::new(language, error.into()))
    }
}

/// After a form: back to a page, with a note of what happened.
pub fn see_other(path: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, path.to_owned())]).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> Language {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_str(value).unwrap());
        language(&headers)
    }

    #[test]
    fn the_language_follows_the_choice_then_the_browser_then_dutch() {
        assert_eq!(accept("en-GB,en;q=0.9"), Language::En);
        assert_eq!(accept("de-DE, nl;q=0.5, en;q=0.8"), Language::En);
        assert_eq!(accept("fr"), Language::Nl);
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_static("en"));
        headers.insert(header::COOKIE, HeaderValue::from_static("consentry_lang=nl"));
        assert_eq!(language(&headers), Language::Nl);
    }
}
