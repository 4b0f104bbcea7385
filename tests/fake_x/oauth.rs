//! The fake X's authorisation endpoints, from X's documentation (`docs/x-target.md`,
//! "Credentials"), for `auth --target NAME`:
//!
//! - OAuth 1.0a PIN flow: `POST /oauth/request_token` (signed with the consumer keys alone,
//!   `oauth_callback=oob`), the authorisation page (a test approves with [`FakeX::approve_pin`]
//!   instead of a browser, which yields the PIN), `POST /oauth/access_token` (signed with the
//!   request token, `oauth_verifier` = the PIN; each request token and PIN works once). The
//!   access tokens it issues are accepted by the write side from then on.
//! - OAuth 2.0 authorisation code with PKCE: a test approves the printed authorisation
//!   address with [`FakeX::approve_code`] (checking `client_id`, the scopes, S256), which
//!   yields the code; `POST /2/oauth2/token` with `grant_type=authorization_code` checks the
//!   code (once, within 30 s), `redirect_uri` and `code_verifier` against the challenge,
//!   then starts a grant like the refresh grant's.
//!
//! OAuth 1.0a signatures are verified here on their own (RFC 5849), for the write side too.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac as _};
use serde_json::json;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::write::{CLIENT_ID, CONSUMER_KEY, CONSUMER_SECRET, WRITER_ID, WRITER_NAME};
use super::FakeX;

/// What the authorisation endpoints remember.
#[derive(Debug, Default)]
pub struct Grants {
    /// Request tokens and their secrets, until exchanged.
    request_tokens: BTreeMap<String, String>,
    /// PINs approved, by request token.
    pins: BTreeMap<String, String>,
    /// Access tokens issued by the PIN flow, and their secrets.
    pub(super) access_tokens: BTreeMap<String, String>,
    /// Authorisation codes approved: the PKCE challenge, the redirect URI and when.
    codes: BTreeMap<String, (String, String, DateTime<Utc>)>,
    issued: u64,
}

/// RFC 3986 unreserved characters stay; everything else is `%XX` in upper case.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Verifies an `Authorization: OAuth ...` header (RFC 5849 §3.4, HMAC-SHA1) with the fake's
/// consumer keys and the secret `secret_of` gives for its `oauth_token` (`None` asks for
/// the no-token case). Returns its `oauth_*` parameters when the signature is right.
pub(super) fn verify(
    base_url: &str,
    method: &Method,
    uri: &Uri,
    header: &str,
    secret_of: impl Fn(Option<&str>) -> Option<String>,
) -> Option<BTreeMap<String, String>> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .map(std::borrow::Cow::into_owned)
            .ok()
    };
    let mut oauth = BTreeMap::new();
    for field in header.split(',') {
        let (k, v) = field.trim().split_once('=')?;
        oauth.insert(k.to_owned(), decode(v.trim_matches('"'))?);
    }
    if oauth.get("oauth_consumer_key").map(String::as_str) != Some(CONSUMER_KEY)
        || oauth.get("oauth_signature_method").map(String::as_str) != Some("HMAC-SHA1")
    {
        return None;
    }
    let token_secret = secret_of(oauth.get("oauth_token").map(String::as_str))?;
    let signature = oauth.get("oauth_signature")?.clone();
    let mut params: Vec<(String, String)> = oauth
        .iter()
        .filter(|(k, _)| k.as_str() != "oauth_signature" && k.as_str() != "realm")
        .map(|(k, v)| (enc(k), enc(v)))
        .collect();
    if let Some(q) = uri.query() {
        for (k, v) in url::form_urlencoded::parse(q.as_bytes()) {
            params.push((enc(&k), enc(&v)));
        }
    }
    params.sort();
    let param_string = params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let base = format!(
        "{}&{}&{}",
        method.as_str(),
        enc(&format!("{base_url}{}", uri.path())),
        enc(&param_string)
    );
    let key = format!("{}&{}", enc(CONSUMER_SECRET), enc(&token_secret));
    let mut mac = Hmac::<Sha1>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(base.as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    (expected == signature).then_some(oauth)
}

fn unauthorized(detail: &str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"errors": [{"code": 32, "message": detail}]})),
    )
        .into_response()
}

impl FakeX {
    /// The person approves request token `request_token` on X's page: the PIN X shows.
    pub fn approve_pin(&self, request_token: &str) -> String {
        let mut inner = self.lock();
        let g = &mut inner.grants;
        assert!(
            g.request_tokens.contains_key(request_token),
            "unknown request token"
        );
        g.issued += 1;
        let pin = format!("{:07}", 1_234_500 + g.issued);
        g.pins.insert(request_token.to_owned(), pin.clone());
        pin
    }

    /// The person approves the OAuth 2.0 authorisation address `url` on X's page (checked
    /// like X does: response type, client, scopes, S256 challenge): the code X sends to the
    /// redirect address.
    pub fn approve_code(&self, url: &str) -> (String, String) {
        let url = url::Url::parse(url).unwrap();
        let q: BTreeMap<String, String> = url.query_pairs().into_owned().collect();
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["client_id"], CLIENT_ID);
        assert_eq!(q["code_challenge_method"], "S256");
        for scope in ["tweet.read", "tweet.write", "users.read", "offline.access"] {
            assert!(
                q["scope"].split(' ').any(|s| s == scope),
                "{scope} not asked"
            );
        }
        let now = self.clock.now();
        let mut inner = self.lock();
        let g = &mut inner.grants;
        g.issued += 1;
        let code = format!("fake-code-{}", g.issued);
        g.codes.insert(
            code.clone(),
            (q["code_challenge"].clone(), q["redirect_uri"].clone(), now),
        );
        (code, q["state"].clone())
    }

    /// Whether OAuth 1.0a access token `token` was issued by the PIN flow (its secret).
    pub(super) fn issued_secret(&self, token: &str) -> Option<String> {
        self.lock().grants.access_tokens.get(token).cloned()
    }
}

/// `POST /oauth/request_token`: signed with the consumer keys alone, `oauth_callback=oob`.
pub(super) async fn request_token(
    State(fake): State<FakeX>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let header = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("OAuth "))
        .unwrap_or_default();
    let Some(oauth) = verify(&fake.url(), &method, &uri, header, |token| {
        token.is_none().then(String::new)
    }) else {
        return unauthorized("Could not authenticate you.");
    };
    if oauth.get("oauth_callback").map(String::as_str) != Some("oob") {
        return (
            StatusCode::FORBIDDEN,
            "<errors><error code=\"415\">Callback URL not approved for this client application.</error></errors>",
        )
            .into_response();
    }
    let mut inner = fake.lock();
    let g = &mut inner.grants;
    g.issued += 1;
    let (token, secret) = (
        format!("fake-request-{}", g.issued),
        format!("fake-request-secret-{}", g.issued),
    );
    g.request_tokens.insert(token.clone(), secret.clone());
    format!("oauth_token={token}&oauth_token_secret={secret}&oauth_callback_confirmed=true")
        .into_response()
}

/// `POST /oauth/access_token`: signed with the approved request token, `oauth_verifier` =
/// its PIN; both work once.
pub(super) async fn access_token(
    State(fake): State<FakeX>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let header = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("OAuth "))
        .unwrap_or_default();
    let secrets = fake.lock().grants.request_tokens.clone();
    let Some(oauth) = verify(&fake.url(), &method, &uri, header, |token| {
        token.and_then(|t| secrets.get(t).cloned())
    }) else {
        return unauthorized("Invalid request token.");
    };
    let request = oauth["oauth_token"].clone();
    let mut inner = fake.lock();
    let g = &mut inner.grants;
    let pin_ok =
        g.pins.contains_key(&request) && g.pins.get(&request) == oauth.get("oauth_verifier");
    if !pin_ok {
        return unauthorized("Invalid oauth_verifier parameter");
    }
    g.request_tokens.remove(&request);
    g.pins.remove(&request);
    g.issued += 1;
    let (token, secret) = (
        format!("{WRITER_ID}-fake-issued-{}", g.issued),
        format!("fake-issued-secret-{}", g.issued),
    );
    g.access_tokens.insert(token.clone(), secret.clone());
    format!(
        "oauth_token={token}&oauth_token_secret={secret}&user_id={WRITER_ID}&screen_name={WRITER_NAME}"
    )
    .into_response()
}

/// The authorisation code grant of `POST /2/oauth2/token`; `Err` is the refusal. On
/// success, the tokens to issue come from `issue` (the refresh grant's own).
pub(super) fn exchange_code(
    fake: &FakeX,
    form: &BTreeMap<String, String>,
) -> Result<(), &'static str> {
    let now = fake.clock.now();
    let mut inner = fake.lock();
    let g = &mut inner.grants;
    let code = form.get("code").cloned().unwrap_or_default();
    // A code works once.
    let Some((challenge, redirect, at)) = g.codes.remove(&code) else {
        return Err("Value passed for the authorization code was invalid.");
    };
    if now - at > Duration::seconds(30) {
        return Err("The authorization code has expired.");
    }
    if form.get("redirect_uri") != Some(&redirect) {
        return Err(
            "Value passed for the redirect uri did not match the uri of the authorization code.",
        );
    }
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    if computed != challenge {
        return Err("Value passed for the code verifier did not match the code challenge.");
    }
    Ok(())
}
