//! `birdbridge auth --target NAME` for an X target (`docs/x-target.md`, "Credentials"):
//! the account's user-context credentials, obtained out of band and written 0600.
//!
//! - **OAuth 1.0a** (the target names `consumer_key*` and `consumer_secret*`, and files for
//!   `access_token_file` and `access_token_secret_file`): the PIN flow. A request token
//!   (`POST /oauth/request_token`, `oauth_callback=oob`), the authorisation page
//!   (`/oauth/authorize`) printed, the PIN X shows read from stdin, the access token
//!   (`POST /oauth/access_token` with `oauth_verifier`). These tokens do not expire.
//! - **OAuth 2.0** (`oauth2_token_file`, `client_id`, optional `client_secret*`):
//!   authorisation code with PKCE (S256). The authorisation address is printed; X sends the
//!   person to `redirect_uri` with the code, and the person pastes that address (or the
//!   code) back; the code is exchanged at `POST /2/oauth2/token` at once (X allows 30 s).
//!   Scopes: `tweet.read tweet.write users.read media.write offline.access` (the last for a
//!   refresh token, which the target then rotates and writes back).
//!
//! The credentials are checked with `GET /2/users/me` before anything is written. Request
//! tokens, PINs, codes, verifiers and tokens are [`Secret`]s: no message shows them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use chrono::Utc;
use reqwest::Client;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::io::AsyncBufRead;
use url::Url;

use super::{read_code, write_token, AuthError, AuthOptions, AuthReport};
use crate::clock::Clock;
use crate::config::{Secret, SecretSource, XCredentials, XTargetSettings};
use crate::targets::x::oauth1::{OAuth1Keys, Signer};
use crate::targets::x::oauth2::{write_token_file, TokenSet};
use crate::targets::x::{Credentials, XApi};

/// The OAuth 2.0 scopes birdbridge asks for.
pub const SCOPES: &str = "tweet.read tweet.write users.read media.write offline.access";

/// What OAuth 1.0a user tokens allow: what the app was given (read and write).
const OAUTH1_SCOPES: &str = "the app's permissions (OAuth 1.0a; read and write needed)";

/// How long one request of the flow may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Why X's `auth` stopped; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum XAuthError {
    /// OAuth 1.0a needs somewhere to write the two access keys.
    #[error(
        "target `{0}` needs files for the access token: set `access_token_file` and \
         `access_token_secret_file` in [targets.{0}] (instead of the inline or _env forms)"
    )]
    NoAccessFiles(String),
    /// `--token-file` names one file; OAuth 1.0a writes two.
    #[error("--token-file is for OAuth 2.0 targets; target `{0}` uses OAuth 1.0a, whose two files its configuration names")]
    OneFileForTwo(String),
    /// The consumer key or secret cannot be read.
    #[error("{0}")]
    Consumer(String),
    /// The pasted address carries another `state` than the one sent: not this request's.
    #[error("the address pasted back is not the answer to this authorisation (its state differs); run auth again")]
    State,
}

/// Runs `auth` for X target `name`: prompts on `out`, reads the PIN or code from `input`.
///
/// # Errors
/// See [`AuthError`]; nothing is written when one is returned.
pub async fn run(
    name: &str,
    x: &XTargetSettings,
    options: &AuthOptions<'_>,
    input: &mut (impl AsyncBufRead + Unpin),
    out: &mut impl std::io::Write,
) -> Result<AuthReport, AuthError> {
    let http = Client::builder()
        .timeout(TIMEOUT)
        .user_agent(crate::http::USER_AGENT)
        .build()
        .map_err(|e| server("set up the HTTP client", &e))?;
    match &x.credentials {
        XCredentials::OAuth1 {
            consumer_key,
            consumer_secret,
            access_token,
            access_token_secret,
        } => {
            if options.token_file.is_some() {
                return Err(XAuthError::OneFileForTwo(name.to_owned()).into());
            }
            let (SecretSource::File(token_path), SecretSource::File(secret_path)) =
                (access_token, access_token_secret)
            else {
                return Err(XAuthError::NoAccessFiles(name.to_owned()).into());
            };
            for path in [token_path, secret_path] {
                if path.exists() && !options.force {
                    return Err(AuthError::Exists(path.clone()));
                }
            }
            let key = format!("targets.{name}");
            let load = |s: &SecretSource| {
                s.load(&key)
                    .map_err(|e| AuthError::from(XAuthError::Consumer(e.to_string())))
            };
            let consumer = (load(consumer_key)?, load(consumer_secret)?);
            let flow = OAuth1Flow {
                http: &http,
                api: &x.api_url,
                consumer_key: &consumer.0,
                consumer_secret: &consumer.1,
            };
            let (token, secret) = flow.authorise(input, out).await?;
            let account = verify_oauth1(&http, x, &consumer, &token, &secret).await?;
            write_token(token_path, &token, options.force)?;
            write_token(secret_path, &secret, options.force)?;
            Ok(AuthReport {
                account,
                scopes: OAUTH1_SCOPES,
                token_file: token_path.clone(),
            })
        }
        XCredentials::OAuth2 {
            token_file,
            client_id,
            client_secret,
        } => {
            let path = options.token_file.unwrap_or(token_file);
            if path.exists() && !options.force {
                return Err(AuthError::Exists(path.to_path_buf()));
            }
            let key = format!("targets.{name}");
            let secret = client_secret
                .as_ref()
                .map(|s| s.load(&key))
                .transpose()
                .map_err(|e| AuthError::from(XAuthError::Consumer(e.to_string())))?;
            let flow = OAuth2Flow {
                http: &http,
                x,
                client_id,
                client_secret: secret.as_ref(),
            };
            let tokens = flow.authorise(input, out).await?;
            let access = tokens
                .access_token
                .clone()
                .unwrap_or_else(|| unreachable!("an exchanged code carries an access token"));
            let account = verify_bearer(&http, &x.api_url, &access).await?;
            write_new_token_file(path, &tokens)?;
            Ok(AuthReport {
                account,
                scopes: SCOPES,
                token_file: path.to_path_buf(),
            })
        }
    }
}

fn server(step: &'static str, e: &dyn std::fmt::Display) -> AuthError {
    AuthError::Server {
        step,
        problem: e.to_string(),
    }
}

/// The OAuth 1.0a PIN flow.
struct OAuth1Flow<'a> {
    http: &'a Client,
    api: &'a str,
    consumer_key: &'a Secret,
    consumer_secret: &'a Secret,
}

impl OAuth1Flow<'_> {
    async fn authorise(
        &self,
        input: &mut (impl AsyncBufRead + Unpin),
        out: &mut impl std::io::Write,
    ) -> Result<(Secret, Secret), AuthError> {
        const REQUEST: &str = "POST /oauth/request_token";
        const ACCESS: &str = "POST /oauth/access_token";
        let request = self
            .post(
                REQUEST,
                "/oauth/request_token",
                None,
                &[("oauth_callback", "oob")],
            )
            .await?;
        let (Some(req_token), Some(req_secret)) = (
            request.get("oauth_token").cloned(),
            request.get("oauth_token_secret").cloned(),
        ) else {
            return Err(server(REQUEST, &"the answer has no request token"));
        };
        let mut page = Url::parse(&format!("{}/oauth/authorize", self.api))
            .map_err(|e| server(REQUEST, &e))?;
        page.query_pairs_mut()
            .append_pair("oauth_token", req_token.expose());
        let _ = writeln!(
            out,
            "Open this address in a browser where you are logged in to X as the account \
             birdbridge posts as, and authorise the app:\n\n  {page}\n\nThen enter the PIN X shows:"
        );
        let _ = out.flush();
        let pin = read_code(input).await?;
        let access = self
            .post(
                ACCESS,
                "/oauth/access_token",
                Some((&req_token, &req_secret)),
                &[("oauth_verifier", pin.expose())],
            )
            .await?;
        match (access.get("oauth_token"), access.get("oauth_token_secret")) {
            (Some(t), Some(s)) => Ok((t.clone(), s.clone())),
            _ => Err(server(ACCESS, &"the answer has no access token")),
        }
    }

    /// A signed `POST` of the flow; its form-encoded answer, every value a secret.
    async fn post(
        &self,
        step: &'static str,
        path: &str,
        token: Option<(&Secret, &Secret)>,
        extra: &[(&str, &str)],
    ) -> Result<std::collections::HashMap<String, Secret>, AuthError> {
        let url = Url::parse(&format!("{}{path}", self.api)).map_err(|e| server(step, &e))?;
        let signer = Signer {
            consumer_key: self.consumer_key,
            consumer_secret: self.consumer_secret,
            token,
            extra,
        };
        let header = signer.authorization("POST", &url, Utc::now().timestamp());
        let request = self
            .http
            .post(url)
            .header(reqwest::header::AUTHORIZATION, header.expose());
        let text = answer_text(step, request).await?;
        Ok(url::form_urlencoded::parse(text.trim().as_bytes())
            .map(|(k, v)| (k.into_owned(), Secret::new(v.into_owned())))
            .collect())
    }
}

/// The OAuth 2.0 authorisation code flow with PKCE.
struct OAuth2Flow<'a> {
    http: &'a Client,
    x: &'a XTargetSettings,
    client_id: &'a str,
    client_secret: Option<&'a Secret>,
}

impl OAuth2Flow<'_> {
    async fn authorise(
        &self,
        input: &mut (impl AsyncBufRead + Unpin),
        out: &mut impl std::io::Write,
    ) -> Result<TokenSet, AuthError> {
        const STEP: &str = "POST /2/oauth2/token";
        let verifier = Secret::new(random(64));
        let state = random(32);
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(verifier.expose().as_bytes()));
        let mut page = Url::parse(&self.x.authorize_url).map_err(|e| server(STEP, &e))?;
        page.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", self.client_id)
            .append_pair("redirect_uri", &self.x.redirect_uri)
            .append_pair("scope", SCOPES)
            .append_pair("state", &state)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        let _ = writeln!(
            out,
            "Open this address in a browser where you are logged in to X as the account \
             birdbridge posts as, and authorise the app:\n\n  {page}\n\nX then sends the \
             browser to {} (nothing needs to answer there). Paste that whole address (or the \
             `code` in it):",
            self.x.redirect_uri
        );
        let _ = out.flush();
        let pasted = read_code(input).await?;
        let code = code_of(pasted.expose(), &state)?;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.expose()),
            ("redirect_uri", self.x.redirect_uri.as_str()),
            ("code_verifier", verifier.expose()),
            ("client_id", self.client_id),
        ];
        let mut req = self
            .http
            .post(format!("{}/2/oauth2/token", self.x.api_url))
            .form(&form);
        if let Some(secret) = self.client_secret {
            req = req.basic_auth(self.client_id, Some(secret.expose()));
        }
        let text = answer_text(STEP, req).await?;
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let token = |k: &str| body[k].as_str().filter(|t| !t.is_empty()).map(Secret::new);
        let (Some(access), Some(refresh)) = (token("access_token"), token("refresh_token")) else {
            return Err(server(
                STEP,
                &"the answer lacks an access or refresh token (is `offline.access` allowed for the app?)",
            ));
        };
        let lifetime = body["expires_in"]
            .as_i64()
            .filter(|s| *s > 0)
            .unwrap_or(7200);
        Ok(TokenSet {
            refresh_token: refresh,
            access_token: Some(access),
            expires_at: Some(Utc::now() + chrono::Duration::seconds(lifetime)),
        })
    }
}

/// The code in what the person pasted: the redirected address (its `state` must be ours),
/// or the bare code.
fn code_of(pasted: &str, state: &str) -> Result<Secret, AuthError> {
    let Ok(url) = Url::parse(pasted.trim()) else {
        return Ok(Secret::new(pasted.trim()));
    };
    let query: std::collections::HashMap<_, _> = url.query_pairs().collect();
    if let Some(error) = query.get("error") {
        return Err(server("authorisation", &format!("X answered {error}")));
    }
    if query.get("state").is_some_and(|s| s != state) {
        return Err(XAuthError::State.into());
    }
    match query.get("code") {
        Some(code) if !code.is_empty() => Ok(Secret::new(code.as_ref())),
        _ => Err(AuthError::NoCode),
    }
}

/// `len` random letters and digits (a PKCE verifier takes 43 to 128 of them).
fn random(len: usize) -> String {
    std::iter::repeat_with(fastrand::alphanumeric)
        .take(len)
        .collect()
}

/// Whose OAuth 1.0a tokens these are: `@handle`.
async fn verify_oauth1(
    http: &Client,
    x: &XTargetSettings,
    consumer: &(Secret, Secret),
    token: &Secret,
    secret: &Secret,
) -> Result<String, AuthError> {
    let keys = OAuth1Keys {
        consumer_key: consumer.0.clone(),
        consumer_secret: consumer.1.clone(),
        token: token.clone(),
        token_secret: secret.clone(),
    };
    let api = XApi::new(
        http.clone(),
        &x.api_url,
        Credentials::OAuth1(keys),
        TIMEOUT,
        Clock::System,
    );
    let me = api
        .me()
        .await
        .map_err(|f| server("GET /2/users/me", &f.error))?;
    Ok(format!("@{}", me.value.username))
}

/// Whose OAuth 2.0 access token this is: `@handle`.
async fn verify_bearer(http: &Client, api: &str, access: &Secret) -> Result<String, AuthError> {
    const STEP: &str = "GET /2/users/me";
    let request = http
        .get(format!("{api}/2/users/me"))
        .bearer_auth(access.expose());
    let text = answer_text(STEP, request).await?;
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    body["data"]["username"]
        .as_str()
        .map(|u| format!("@{u}"))
        .ok_or_else(|| server(STEP, &"no account in the answer"))
}

/// Writes the grant as the target reads it (mode 0600, atomically), never over a file
/// that appeared meanwhile unless asked to.
fn write_new_token_file(path: &Path, tokens: &TokenSet) -> Result<(), AuthError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| AuthError::Write {
            path: path.to_path_buf(),
            source,
        })?;
    }
    write_token_file(path, tokens).map_err(|e| AuthError::Write {
        path: PathBuf::from(path),
        source: std::io::Error::other(e.to_string()),
    })
}

/// X's refusal, as a line: its message fields, else the status.
/// Sends one step's request and reads its answer's body; a refusal (any status outside
/// 2xx) or a failed connection is that step's error, the address left out of it.
async fn answer_text(
    step: &'static str,
    request: reqwest::RequestBuilder,
) -> Result<String, AuthError> {
    let res = request
        .send()
        .await
        .map_err(|e| server(step, &crate::http::error_text(&e)))?;
    let status = res.status().as_u16();
    let text = res
        .text()
        .await
        .map_err(|e| server(step, &crate::http::error_text(&e)))?;
    if !(200..300).contains(&status) {
        return Err(server(step, &refusal(status, &text)));
    }
    Ok(text)
}

fn refusal(status: u16, text: &str) -> String {
    let body: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let message = ["error_description", "detail", "title", "error"]
        .iter()
        .find_map(|k| body[*k].as_str())
        .or_else(|| body["errors"][0]["message"].as_str());
    match message {
        Some(m) => format!("HTTP {status}: {m}"),
        None => format!("HTTP {status}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_is_read_from_the_address_or_alone() {
        let url = "http://127.0.0.1:8723/callback?state=abc&code=the-code";
        assert_eq!(code_of(url, "abc").unwrap(), Secret::new("the-code"));
        assert_eq!(
            code_of(" the-code\n", "abc").unwrap(),
            Secret::new("the-code")
        );
        assert!(matches!(
            code_of(url, "other"),
            Err(AuthError::X(XAuthError::State))
        ));
        assert!(matches!(
            code_of(
                "http://127.0.0.1:8723/callback?state=abc&error=access_denied",
                "abc"
            ),
            Err(AuthError::Server { .. })
        ));
    }

    #[test]
    fn the_challenge_is_s256_of_the_verifier() {
        // RFC 7636 appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(verifier.as_bytes()));
        assert_eq!(challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }
}
