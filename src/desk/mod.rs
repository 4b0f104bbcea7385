//! The desk: a local web page where a person reviews held posts (`[desk]`; served by `run`
//! and by `birdbridge desk`). The queue, each post with every target's copy as the server
//! will show it, a description field per image (counted against the target's limit), the
//! warning with the rule that set it, the text and visibility; then release, drop or next.
//!
//! Layers: [`session`] (login, sessions, CSRF, security headers), [`view`] (what a page
//! shows, read from the ledger on the blocking pool), [`pages`] (the HTML), and here the
//! routes and what each form changes. The ledger's checked transactions
//! (`store/review.rs`) decide; a release wakes the review deliverer
//! ([`crate::release`]), which delivers it.
//!
//! Rules kept here: nothing changes on `GET`; every form carries the session's CSRF token;
//! images are served by media id from what the ledger knows, never by a path from the
//! request; bodies are capped at [`BODY_LIMIT`]; a refused change (too long, stale, decided
//! meanwhile, unknown post) answers with a message and changes nothing.

mod pages;
mod session;
mod view;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::Utc;
use maud::Markup;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{Secret, Settings};
use crate::model::MediaKind;
use crate::review::{self, EditRefused};
use crate::store::{EditField, Ledger, QueueAt, QueueFilter, QueueKey, ReviewError, StoreError};
use session::{csrf_matches, set_cookie, Gate, LOGIN_COOKIE, SESSION_COOKIE};
use view::{PostView, QueueView};

/// The largest request body the desk reads (a form with long descriptions fits many times).
pub const BODY_LIMIT: usize = 256 * 1024;

/// The largest media file the desk sends to a browser.
const MEDIA_LIMIT: u64 = 200 * 1024 * 1024;

/// What the desk's handlers share.
struct Desk {
    settings: Arc<Settings>,
    ledger: Arc<Ledger>,
    gate: Gate,
    /// Wakes the review deliverer after a release.
    wake: Option<Arc<Notify>>,
}

/// Why the desk cannot start.
#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    /// `[desk]` is missing from the configuration.
    #[error(
        "{0}: no [desk] table: add one with `password_file` (see `birdbridge check --example`)"
    )]
    NotConfigured(std::path::PathBuf),
    /// The password file cannot be read.
    #[error(transparent)]
    Password(#[from] crate::config::ConfigError),
    /// `listen` cannot be bound.
    #[error("cannot serve the desk on {addr}")]
    Listen {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Binds the desk's address and reads its password (before anything runs, so a mistake
/// stops the command at once).
///
/// # Errors
/// See [`DeskError`].
pub async fn bind(settings: &Settings) -> Result<(TcpListener, Secret), DeskError> {
    let desk = settings
        .desk
        .as_ref()
        .ok_or_else(|| DeskError::NotConfigured(settings.file.clone()))?;
    let password = desk.password.load("desk.password_file")?;
    let listener = TcpListener::bind(desk.listen)
        .await
        .map_err(|source| DeskError::Listen {
            addr: desk.listen,
            source,
        })?;
    Ok((listener, password))
}

/// Serves the desk on `listener` until `cancel` fires.
pub fn spawn(
    listener: TcpListener,
    password: &Secret,
    settings: Arc<Settings>,
    ledger: Arc<Ledger>,
    wake: Option<Arc<Notify>>,
    cancel: CancellationToken,
) -> JoinHandle<()> {
    let desk = Arc::new(Desk {
        settings,
        ledger,
        gate: Gate::new(password),
        wake,
    });
    let app = router(desk);
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { cancel.cancelled().await })
            .await;
        if let Err(err) = served {
            tracing::error!(error = %err, "the desk stopped");
        }
    })
}

fn router(desk: Arc<Desk>) -> Router {
    Router::new()
        .route("/", get(queue))
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .route("/post/{route}/{id}", get(show_post))
        .route("/post/{route}/{id}/{target}", post(save))
        .route("/post/{route}/{id}/{target}/drop", post(drop_copy))
        .route("/media/{id}", get(media))
        .route("/static/desk.js", get(script))
        .route("/static/desk.css", get(style))
        .layer(axum::middleware::map_response(secure))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(desk)
}

/// The security headers of every answer.
async fn secure(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(session::CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// A path segment, percent-encoded.
pub(crate) fn enc(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

/// The link to a post's page.
fn post_link(route: &str, id: &str) -> String {
    format!("/post/{}/{}", enc(route), enc(id))
}

/// After a decision: on to the next held post (`next`), or the list when none is left,
/// saying what was `done`.
fn to_next(next: Option<(String, String)>, done: &str) -> Response {
    let to = next.map_or_else(|| "/".to_owned(), |(r, p)| post_link(&r, &p));
    Redirect::to(&format!("{to}?done={done}")).into_response()
}

fn html(status: StatusCode, markup: Markup) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        markup.into_string(),
    )
        .into_response()
}

fn message_page(
    status: StatusCode,
    title: &str,
    text: &str,
    kept: Option<&str>,
    back: Option<&str>,
) -> Response {
    html(
        status,
        pages::page(title, None, &pages::message(title, text, kept, back)),
    )
}

fn ledger_failed(err: &StoreError) -> Response {
    tracing::error!(error = %err, "desk: ledger failure");
    message_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "The ledger cannot be read",
        "The ledger failed; nothing was changed. Try again; the log says more.",
        None,
        None,
    )
}

/// A message shown after a change (fixed texts: nothing from the request is echoed).
fn done_text(done: Option<&str>) -> Option<String> {
    Some(
        match done? {
            "saved" => "Saved.",
            "released" => "Released: it goes out once, with its edits.",
            "dropped" => "Dropped: recorded as skipped, with your reason.",
            _ => return None,
        }
        .to_owned(),
    )
}

async fn queue(
    State(desk): State<Arc<Desk>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(session) = desk.gate.session(&headers) else {
        return Redirect::to("/login").into_response();
    };
    let pick = |k: &str| query.get(k).filter(|v| !v.is_empty()).cloned();
    let filter = QueueFilter {
        route: pick("route"),
        target: pick("target"),
        rule: pick("reason"),
    };
    let at = queue_at(&query);
    let done = done_text(query.get("done").map(String::as_str));
    match desk
        .ledger
        .call(move |l| QueueView::read(l, filter, &at, done))
        .await
    {
        Ok(v) => html(
            StatusCode::OK,
            pages::page(
                "Queue",
                Some((&session.name, &session.csrf)),
                &pages::queue(&v),
            ),
        ),
        Err(e) => ledger_failed(&e),
    }
}

async fn show_post(
    State(desk): State<Arc<Desk>>,
    headers: HeaderMap,
    Path((route, id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(session) = desk.gate.session(&headers) else {
        return Redirect::to("/login").into_response();
    };
    let settings = Arc::clone(&desk.settings);
    let (csrf, done) = (
        session.csrf.clone(),
        done_text(query.get("done").map(String::as_str)),
    );
    let (route_, id_) = (route.clone(), id.clone());
    match desk
        .ledger
        .call(move |l| PostView::read(l, &settings, (&route_, &id_), csrf, done))
        .await
    {
        Ok(Some(v)) => html(
            StatusCode::OK,
            pages::page(
                &format!("Post {id}"),
                Some((&session.name, &session.csrf)),
                &pages::post(&v),
            ),
        ),
        Ok(None) => unknown_post(&route, &id),
        Err(e) => ledger_failed(&e),
    }
}

/// Where the queue page starts, from its link (`page=after|before`, `at`, `post`, `in`);
/// the first page when the link says nothing usable.
fn queue_at(query: &HashMap<String, String>) -> QueueAt {
    let key = || {
        Some(QueueKey {
            posted_at: chrono::DateTime::parse_from_rfc3339(query.get("at")?)
                .ok()?
                .with_timezone(&Utc),
            source_post_id: query.get("post")?.clone(),
            route: query.get("in")?.clone(),
        })
    };
    match (query.get("page").map(String::as_str), key()) {
        (Some("after"), Some(k)) => QueueAt::After(k),
        (Some("before"), Some(k)) => QueueAt::Before(k),
        _ => QueueAt::First,
    }
}

fn unknown_post(route: &str, id: &str) -> Response {
    message_page(
        StatusCode::NOT_FOUND,
        "No such post",
        &format!(
            "The ledger holds no post {id} under review on route {route} (it may have been \
             delivered or dropped and forgotten). Nothing was changed."
        ),
        None,
        None,
    )
}

/// The session of a form, with its CSRF token checked; else the answer refusing it.
fn form_session(
    desk: &Desk,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<session::Session, Box<Response>> {
    let Some(session) = desk.gate.session(headers) else {
        return Err(Box::new(message_page(
            StatusCode::UNAUTHORIZED,
            "Not logged in",
            "Your session has ended: log in again. Nothing was changed.",
            None,
            None,
        )));
    };
    if !csrf_matches(&session.csrf, form.get("csrf").map(String::as_str)) {
        tracing::warn!("desk: a form without this session's CSRF token was refused");
        return Err(Box::new(message_page(
            StatusCode::FORBIDDEN,
            "Form refused",
            "This form did not come from this desk session (or is from before you logged \
             in again): reload the page and try again. Nothing was changed.",
            None,
            None,
        )));
    }
    Ok(session)
}

/// Why a form changed nothing.
enum Refusal {
    Unknown,
    Edit(EditRefused, String),
    Review(ReviewError),
}

fn refusal_page(r: Refusal, route: &str, id: &str) -> Response {
    let back = post_link(route, id);
    match r {
        Refusal::Unknown => unknown_post(route, id),
        Refusal::Edit(e, kept) => message_page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Not saved",
            &e.to_string(),
            Some(&kept),
            Some(&back),
        ),
        Refusal::Review(ReviewError::Store(e)) => ledger_failed(&e),
        Refusal::Review(e @ ReviewError::Unknown { .. }) => message_page(
            StatusCode::NOT_FOUND,
            "No such post",
            &e.to_string(),
            None,
            None,
        ),
        Refusal::Review(e) => message_page(
            StatusCode::CONFLICT,
            "Changed meanwhile",
            &e.to_string(),
            None,
            Some(&back),
        ),
    }
}

/// Saves a copy's form (and releases it, with `action=release`).
async fn save(
    State(desk): State<Arc<Desk>>,
    headers: HeaderMap,
    Path((route, id, target)): Path<(String, String, String)>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let session = match form_session(&desk, &headers, &form) {
        Ok(session) => session,
        Err(refused) => return *refused,
    };
    let release = form.get("action").is_some_and(|a| a == "release");
    let settings = Arc::clone(&desk.settings);
    let (route_, id_, target_) = (route.clone(), id.clone(), target.clone());
    let actor = session.actor();
    let outcome = desk
        .ledger
        .call(move |l| {
            let now = Utc::now();
            let Some(view) = PostView::read(l, &settings, (&route_, &id_), String::new(), None)?
            else {
                return Ok(Err(Refusal::Unknown));
            };
            let Some(copy) = view.copies.iter().find(|c| c.hold.target == target_) else {
                return Ok(Err(Refusal::Unknown));
            };
            let changes = match changes(&view, copy, &form) {
                Ok(c) => c,
                Err(refused) => return Ok(Err(refused)),
            };
            let fields: Vec<(EditField, Option<&str>)> =
                changes.iter().map(|(f, v)| (*f, v.as_deref())).collect();
            let expected = form.get("version").and_then(|v| v.parse().ok());
            let version = match l.edit_review_fields(
                (&route_, &id_, &target_),
                &fields,
                expected,
                &actor,
                now,
            ) {
                Ok(v) => v,
                Err(e) => return Ok(Err(Refusal::Review(e))),
            };
            if release {
                if let Err(e) =
                    l.release_review(&route_, &id_, Some(&target_), Some(version), &actor, now)
                {
                    return Ok(Err(Refusal::Review(e)));
                }
            }
            Ok(Ok(l.next_held(&route_, &id_)?))
        })
        .await;
    match outcome {
        Ok(Ok(next)) if release => {
            if let Some(wake) = &desk.wake {
                wake.notify_one();
            }
            to_next(next, "released")
        }
        Ok(Ok(_)) => {
            Redirect::to(&format!("{}?done=saved", post_link(&route, &id))).into_response()
        }
        Ok(Err(refused)) => refusal_page(refused, &route, &id),
        Err(e) => ledger_failed(&e),
    }
}

/// The edits a copy's form asks for, each checked against the target's limits: a field
/// equal to what the renderer gives without edits removes its edit.
fn changes(
    view: &PostView,
    copy: &view::CopyView,
    form: &HashMap<String, String>,
) -> Result<Vec<(EditField, Option<String>)>, Refusal> {
    let post = &view.post;
    let target = (copy.hold.target.as_str(), &copy.profile);
    let mut out = Vec::new();
    let mut check = |field: EditField, given: &str, unedited: &str| -> Result<(), Refusal> {
        let given = given.replace("\r\n", "\n");
        if given.trim() == unedited.trim() {
            out.push((field, None));
            return Ok(());
        }
        let value = review::check_edit(post, target, field, &given)
            .map_err(|e| Refusal::Edit(e, given.clone()))?;
        out.push((field, value));
        Ok(())
    };
    for (i, m) in post.media.iter().enumerate() {
        if let Some(given) = form.get(&format!("description_{i}")) {
            let index = u32::try_from(i).unwrap_or(u32::MAX);
            check(
                EditField::Description(index),
                given,
                m.alt_text.as_deref().unwrap_or(""),
            )?;
        }
    }
    if let Some(given) = form.get("warning") {
        check(
            EditField::Warning,
            given,
            copy.base.warning.as_deref().unwrap_or(""),
        )?;
    }
    if form.contains_key("sensitive_shown") {
        let given = form.get("sensitive").map_or("false", |_| "true");
        check(
            EditField::Sensitive,
            given,
            if post.sensitive { "true" } else { "false" },
        )?;
    }
    if let Some(given) = form.get("visibility") {
        check(
            EditField::Visibility,
            given,
            copy.unedited_visibility().as_str(),
        )?;
    }
    if let Some(given) = form.get("text") {
        check(EditField::Text, given, &copy.base.text)?;
    }
    Ok(out)
}

async fn drop_copy(
    State(desk): State<Arc<Desk>>,
    headers: HeaderMap,
    Path((route, id, target)): Path<(String, String, String)>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let session = match form_session(&desk, &headers, &form) {
        Ok(session) => session,
        Err(refused) => return *refused,
    };
    let reason = form
        .get("reason")
        .map(|r| r.trim().to_owned())
        .unwrap_or_default();
    if reason.is_empty() {
        return message_page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Not dropped",
            "Say why the post is dropped (the reason is kept in the ledger). Nothing was changed.",
            None,
            Some(&post_link(&route, &id)),
        );
    }
    let expected = form.get("version").and_then(|v| v.parse().ok());
    let (route_, id_, target_, actor) =
        (route.clone(), id.clone(), target.clone(), session.actor());
    let outcome = desk
        .ledger
        .call(move |l| {
            match l.drop_review(
                &route_,
                &id_,
                Some(&target_),
                expected,
                (&actor, &reason),
                Utc::now(),
            ) {
                Ok(_) => {
                    l.forget_reviewed(&route_, &id_)?;
                    Ok(Ok(l.next_held(&route_, &id_)?))
                }
                Err(e) => Ok(Err(Refusal::Review(e))),
            }
        })
        .await;
    match outcome {
        Ok(Ok(next)) => to_next(next, "dropped"),
        Ok(Err(refused)) => refusal_page(refused, &route, &id),
        Err(e) => ledger_failed(&e),
    }
}

/// An image (or video) by its media id: the kept download, or the archive's file; never a
/// path from the request.
async fn media(State(desk): State<Arc<Desk>>, headers: HeaderMap, Path(id): Path<i64>) -> Response {
    if desk.gate.session(&headers).is_none() {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let found =
        desk.ledger
            .call(move |l| {
                let Some(m) = l.held_media(id)? else {
                    return Ok(None);
                };
                if let Some(file) = &m.file {
                    let bytes = std::fs::read(file).ok();
                    return Ok(bytes
                        .map(|b| (b, m.mime.clone().unwrap_or_else(|| "image/jpeg".to_owned()))));
                }
                let Some(post) = l.reviewed_post(&m.route, &m.source_post_id)? else {
                    return Ok(None);
                };
                let Some(item) = post
                    .post
                    .ok()
                    .and_then(|p| p.media.get(m.media_index as usize).cloned())
                else {
                    return Ok(None);
                };
                Ok(crate::media::read(&item.source, item.kind, MEDIA_LIMIT)
                    .ok()
                    .map(|f| (f.bytes, f.mime.to_owned())))
            })
            .await;
    match found {
        Ok(Some((bytes, mime))) => {
            let mime = if mime.starts_with("image/") || mime.starts_with("video/") {
                mime
            } else {
                media_type(MediaKind::Photo).to_owned()
            };
            (
                [
                    (header::CONTENT_TYPE, mime),
                    (header::CACHE_CONTROL, "private, max-age=3600".to_owned()),
                ],
                bytes,
            )
                .into_response()
        }
        Ok(None) => (StatusCode::NOT_FOUND, "no such media").into_response(),
        Err(e) => ledger_failed(&e),
    }
}

fn media_type(kind: MediaKind) -> &'static str {
    crate::media::mime_type(kind, "")
}

async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "private, max-age=300"),
        ],
        pages::SCRIPT,
    )
        .into_response()
}

async fn style() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "private, max-age=300"),
        ],
        pages::STYLE,
    )
        .into_response()
}

async fn login_form(headers: HeaderMap) -> Response {
    let token = session::cookie(&headers, LOGIN_COOKIE)
        .filter(|t| t.len() == 64)
        .unwrap_or_else(session::token);
    let mut response = html(StatusCode::OK, pages::login(&token, None));
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(LOGIN_COOKIE, &token, Some(3600)),
    );
    response
}

async fn login(
    State(desk): State<Arc<Desk>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let expected = session::cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    let token = if expected.len() == 64 {
        expected.clone()
    } else {
        session::token()
    };
    let again = |status: StatusCode, problem: &str| {
        let mut response = html(status, pages::login(&token, Some(problem)));
        response.headers_mut().append(
            header::SET_COOKIE,
            set_cookie(LOGIN_COOKIE, &token, Some(3600)),
        );
        response
    };
    if expected.len() != 64 || !csrf_matches(&expected, form.get("csrf").map(String::as_str)) {
        return again(
            StatusCode::FORBIDDEN,
            "This form did not come from this page: try again.",
        );
    }
    let name = form.get("name").map(|n| n.trim()).unwrap_or_default();
    if name.is_empty() || name.chars().count() > 80 {
        return again(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Give your name (up to 80 characters): it is recorded with your changes.",
        );
    }
    let given = form.get("password").map(String::as_str).unwrap_or_default();
    if !desk.gate.password_matches(given) {
        tracing::warn!("desk: a login with a wrong password was refused");
        // Slows down guessing.
        tokio::time::sleep(Duration::from_millis(400)).await;
        return again(StatusCode::UNAUTHORIZED, "Wrong password.");
    }
    let id = desk.gate.open(name);
    tracing::info!(name, "desk: logged in");
    let mut response = Redirect::to("/").into_response();
    let h = response.headers_mut();
    h.append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, &id, None));
    h.append(header::SET_COOKIE, set_cookie(LOGIN_COOKIE, "", Some(0)));
    response
}

async fn logout(
    State(desk): State<Arc<Desk>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Err(refused) = form_session(&desk, &headers, &form) {
        return *refused;
    }
    desk.gate.close(&headers);
    let mut response = Redirect::to("/login").into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, set_cookie(SESSION_COOKIE, "", Some(0)));
    response
}
