//! The fake server's OAuth endpoints, for `birdbridge auth`: `POST /api/v1/apps`,
//! `GET /oauth/authorize` (the page a person sees after approving an out-of-band app) and
//! `POST /oauth/token`, for every personality:
//!
//! - `Mastodon`: granular and top-level scopes (an unknown scope is a 422, as Mastodon's
//!   validation answers), the app's `scopes` echoed as a list, the code on an HTML page,
//!   `invalid_grant` / `invalid_client` / `invalid_scope` errors as Doorkeeper words them;
//! - `GoToSocial` (0.17, as the personality announces): only `read`, `write`, `admin` (the
//!   scopes its documentation of that time lists; anything else is refused), a JSON or form
//!   body, a `User-Agent` required as everywhere on this personality;
//! - `Akkoma` and `Iceshrimp`: as `Mastodon` (they take its granular scopes); `Pixelfed` and
//!   `Friendica`: the top-level scopes only;
//! - `Minimal` and `Snac` (as snac does): the scopes are ignored, the app is answered with the bare
//!   fields, the code is the page's whole text, and `client_secret` plus `redirect_uri` are
//!   required at the token step.
//!
//! The token issued is the one [`super::TOKEN`] the fake accepts, so the account can be
//! verified with it. Codes are single-use and bound to their app and scopes.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::{Personality, Shared, TOKEN};

const OOB: &str = "urn:ietf:wg:oauth:2.0:oob";

/// What the fake remembers of OAuth.
#[derive(Debug, Default)]
pub struct OAuthState {
    /// Registered apps by client id.
    pub apps: HashMap<String, App>,
    /// Codes shown and not yet exchanged: code → (client id, scopes).
    codes: HashMap<String, (String, String)>,
    /// Tokens issued, with the scopes granted.
    pub tokens_issued: Vec<String>,
    next: u32,
}

/// A registered application.
#[derive(Debug, Clone)]
pub struct App {
    pub name: String,
    pub redirect_uri: String,
    pub scopes: String,
    pub secret: String,
}

/// The OAuth routes, to merge into the fake's router.
pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/api/v1/apps", post(register))
        .route("/oauth/authorize", get(authorize))
        .route("/oauth/token", post(token))
}

/// A request body as key → value, from JSON or a form.
fn fields(headers: &HeaderMap, body: &Bytes) -> HashMap<String, String> {
    let json = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json"));
    if json {
        let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        value
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    } else {
        url::form_urlencoded::parse(body).into_owned().collect()
    }
}

/// Whether the personality knows every scope in `scopes`.
fn known_scopes(personality: Personality, scopes: &str) -> bool {
    const TOP: [&str; 4] = ["read", "write", "follow", "push"];
    scopes.split_whitespace().all(|s| match personality {
        Personality::Mastodon => {
            TOP.contains(&s)
                || s.strip_prefix("read:")
                    .or_else(|| s.strip_prefix("write:"))
                    .is_some_and(|r| {
                        [
                            "accounts",
                            "statuses",
                            "media",
                            "favourites",
                            "follows",
                            "lists",
                            "notifications",
                        ]
                        .contains(&r)
                    })
        }
        // Akkoma (Pleroma's scopes) and Iceshrimp.NET take Mastodon's granular scopes.
        Personality::Akkoma | Personality::Iceshrimp => known_scopes(Personality::Mastodon, s),
        // Pixelfed (Laravel Passport) and Friendica know the top-level scopes only.
        Personality::Pixelfed | Personality::Friendica | Personality::Takahe => TOP.contains(&s),
        Personality::GoToSocial => ["read", "write", "admin"].contains(&s),
        Personality::Minimal | Personality::Snac => true,
    })
}

fn error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

async fn register(State(s): State<Shared>, h: HeaderMap, body: Bytes) -> Response {
    let mut st = s.lock().unwrap();
    if let Err(r) = st.admit(&h, false, &[]) {
        return super::refuse(&mut st, "POST", "/api/v1/apps", &h, r);
    }
    let form = fields(&h, &body);
    let personality = st.personality;
    let (Some(name), Some(redirect)) = (form.get("client_name"), form.get("redirect_uris")) else {
        let r = error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Validation failed: Name can't be blank",
            "",
        );
        return super::refuse(&mut st, "POST", "/api/v1/apps", &h, r);
    };
    // snac reads `scope`, the others `scopes`; a missing one means `read`.
    let scopes = form
        .get("scopes")
        .or_else(|| form.get("scope"))
        .cloned()
        .unwrap_or_else(|| "read".to_owned());
    if !known_scopes(personality, &scopes) {
        let r = match personality {
            Personality::GoToSocial => error(
                StatusCode::BAD_REQUEST,
                "Bad Request: scope not recognised",
                "",
            ),
            _ => error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Validation failed: Scopes are invalid",
                "",
            ),
        };
        return super::refuse(&mut st, "POST", "/api/v1/apps", &h, r);
    }
    st.oauth.next += 1;
    let number = st.oauth.next;
    let client_id = format!("client-{number}");
    let secret = format!("secret-{number}-s3cr3t");
    st.oauth.apps.insert(
        client_id.clone(),
        App {
            name: name.clone(),
            redirect_uri: redirect.clone(),
            scopes: scopes.clone(),
            secret: secret.clone(),
        },
    );
    let body = match personality {
        Personality::Mastodon
        | Personality::Akkoma
        | Personality::Pixelfed
        | Personality::Friendica
        | Personality::Iceshrimp
        | Personality::Takahe => json!({
            "id": number.to_string(), "name": name, "website": form.get("website"),
            "scopes": scopes.split_whitespace().collect::<Vec<_>>(),
            "redirect_uri": redirect, "redirect_uris": [redirect],
            "client_id": client_id, "client_secret": secret, "vapid_key": "BCk"
        }),
        Personality::GoToSocial => json!({
            "id": format!("01J{number}"), "name": name, "website": form.get("website"),
            "redirect_uri": redirect, "client_id": client_id, "client_secret": secret,
            "vapid_key": ""
        }),
        Personality::Minimal | Personality::Snac => json!({
            "name": name, "redirect_uri": redirect, "client_id": client_id,
            "client_secret": secret, "vapid_key": "x", "id": number.to_string()
        }),
    };
    super::respond(
        &mut st,
        "POST",
        "/api/v1/apps",
        &h,
        HeaderMap::new(),
        StatusCode::OK,
        body,
    )
}

#[derive(Debug, serde::Deserialize)]
struct AuthorizeQuery {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    scope: Option<String>,
}

/// The page a person sees after logging in and approving (the fake has one account, always
/// logged in, always approving).
async fn authorize(
    State(s): State<Shared>,
    h: HeaderMap,
    Query(q): Query<AuthorizeQuery>,
) -> Response {
    let mut st = s.lock().unwrap();
    let path = "/oauth/authorize";
    let app = q
        .client_id
        .as_ref()
        .and_then(|id| st.oauth.apps.get(id))
        .cloned();
    let Some(app) = app else {
        let r = (
            StatusCode::BAD_REQUEST,
            Html("Client authentication failed: unknown client".to_owned()),
        )
            .into_response();
        return super::refuse(&mut st, "GET", path, &h, r);
    };
    let scopes = q.scope.clone().unwrap_or_else(|| "read".to_owned());
    let scope_ok = scopes
        .split_whitespace()
        .all(|s| app.scopes.split_whitespace().any(|a| a == s));
    if q.response_type.as_deref() != Some("code")
        || q.redirect_uri.as_deref() != Some(app.redirect_uri.as_str())
        || app.redirect_uri != OOB
        || !scope_ok
    {
        let r = (
            StatusCode::BAD_REQUEST,
            Html("The request is missing a parameter or is malformed".to_owned()),
        )
            .into_response();
        return super::refuse(&mut st, "GET", path, &h, r);
    }
    st.oauth.next += 1;
    let code = format!(
        "oob-code-{}-{}",
        st.oauth.next,
        q.client_id.clone().unwrap_or_default()
    );
    st.oauth.codes.insert(
        code.clone(),
        (q.client_id.clone().unwrap_or_default(), scopes.clone()),
    );
    st.log("GET", path, StatusCode::OK, &h);
    match st.personality {
        Personality::Mastodon
        | Personality::Akkoma
        | Personality::Pixelfed
        | Personality::Friendica
        | Personality::Iceshrimp
        | Personality::Takahe => Html(format!(
            "<!DOCTYPE html><html><body><h1>Authorization code</h1>\
             <p>Copy this authorization code and paste it to the application.</p>\
             <input class=\"oauth-code\" readonly type=\"text\" value=\"{code}\"></body></html>"
        ))
        .into_response(),
        Personality::GoToSocial => Html(format!(
            "<html><body><p>Here's your out-of-band token with scope \"{scopes}\", use it wisely:</p>\
             <code>{code}</code></body></html>"
        ))
        .into_response(),
        Personality::Minimal | Personality::Snac => code.into_response(),
    }
}

async fn token(State(s): State<Shared>, h: HeaderMap, body: Bytes) -> Response {
    let mut st = s.lock().unwrap();
    let path = "/oauth/token";
    if let Err(r) = st.admit(&h, false, &[]) {
        return super::refuse(&mut st, "POST", path, &h, r);
    }
    let f = fields(&h, &body);
    let get = |k: &str| f.get(k).map(String::as_str);
    if matches!(st.personality, Personality::Minimal | Personality::Snac)
        && (get("client_secret").is_none() || get("redirect_uri").is_none())
    {
        let r = StatusCode::BAD_REQUEST.into_response();
        return super::refuse(&mut st, "POST", path, &h, r);
    }
    let app = get("client_id")
        .and_then(|id| st.oauth.apps.get(id))
        .cloned();
    let Some(app) = app.filter(|a| get("client_secret") == Some(a.secret.as_str())) else {
        let r = error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method.",
        );
        return super::refuse(&mut st, "POST", path, &h, r);
    };
    let code = get("code").and_then(|c| st.oauth.codes.remove(c));
    let granted = match code {
        Some((client, scopes))
            if get("grant_type") == Some("authorization_code")
                && Some(client.as_str()) == get("client_id")
                && get("redirect_uri") == Some(app.redirect_uri.as_str()) =>
        {
            scopes
        }
        _ => {
            let r = error(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client.",
            );
            return super::refuse(&mut st, "POST", path, &h, r);
        }
    };
    if let Some(asked) = get("scope") {
        if st.personality != Personality::Minimal
            && asked.split_whitespace().collect::<Vec<_>>()
                != granted.split_whitespace().collect::<Vec<_>>()
        {
            let r = error(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                "The requested scope is invalid, unknown, or malformed.",
            );
            return super::refuse(&mut st, "POST", path, &h, r);
        }
    }
    st.oauth.tokens_issued.push(granted.clone());
    let body = json!({
        "access_token": TOKEN, "token_type": "Bearer", "scope": granted,
        "created_at": st.now().timestamp()
    });
    super::respond(
        &mut st,
        "POST",
        path,
        &h,
        HeaderMap::new(),
        StatusCode::OK,
        body,
    )
}
