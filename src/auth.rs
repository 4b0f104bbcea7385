//! `birdbridge auth --target NAME`: obtains an access token for a fediverse target by OAuth
//! with an out-of-band code, and writes it to the target's `token_file`.
//!
//! The steps, each one request to the target's server:
//! 1. learn the software (nodeinfo, for `kind = "auto"`) and its version (the instance
//!    document), to pick the scopes it understands;
//! 2. register an application (`POST /api/v1/apps`, redirect `urn:ietf:wg:oauth:2.0:oob`);
//! 3. print the authorisation address; the person opens it logged in as the account, approves,
//!    and types the code the server shows;
//! 4. exchange the code (`POST /oauth/token`);
//! 5. verify the token (`verify_credentials`), then write it with mode 0600.
//!
//! Scopes are the narrowest birdbridge needs: `read:accounts` (verify the account),
//! `read:statuses` (find an interrupted post among the account's statuses), `write:statuses`
//! (post, edit and delete statuses) and `write:media` (upload media, poll its processing).
//! Servers that know no granular scopes get `read write`: `GoToSocial` before 0.19 (its docs
//! list only `read`, `write`, `admin`), snac (which ignores scopes), and the others whose
//! support is unknown.
//!
//! The client secret, the code and the token are [`Secret`]s: no message, log line or
//! error shows them.
//!
//! An X target's credentials are obtained by [`x`] (OAuth 1.0a PIN, or OAuth 2.0 with PKCE).
//! A server that answers 429 (its window is used up, say by a backfill on the same account)
//! is waited out: `auth` says how long and asks again when the server's window resets
//! ([`wait_out_rate_limit`]).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::Client;
use serde_json::Value;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

use crate::budget::{human_duration, RateHeaders};
use crate::config::{
    FediverseTargetSettings, Secret, SecretSource, ServerKind, Settings, TargetSettings,
};
use crate::targets::fedi::client;
use crate::targets::fedi::quirks::kind_from_software;

pub mod x;

/// The out-of-band redirect: the server shows the code instead of redirecting.
pub const OOB: &str = "urn:ietf:wg:oauth:2.0:oob";

/// What birdbridge needs, on servers that know granular scopes.
pub const GRANULAR_SCOPES: &str = "read:accounts read:statuses write:statuses write:media";

/// What birdbridge needs, on servers that know only the top-level scopes.
pub const COARSE_SCOPES: &str = "read write";

/// Why `auth` stopped. Nothing was written to the token file in any case.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No target of that name in the configuration.
    #[error("no target `{0}` in the configuration")]
    UnknownTarget(String),
    /// `auth` obtains fediverse tokens only.
    #[error("target `{0}` is not a fediverse target: it needs no token")]
    NotFediverse(String),
    /// The token has nowhere to go.
    #[error(
        "target `{0}` does not read its token from a file: set `token_file = \"PATH\"` in \
         [targets.{0}] (instead of token_env or token), or give --token-file PATH"
    )]
    NoTokenFile(String),
    /// The token file is there already.
    #[error("{0} exists already: pass --force to replace the token it holds")]
    Exists(PathBuf),
    /// The server could not be reached or answered out of turn.
    #[error("{step}: {problem}")]
    Server { step: &'static str, problem: String },
    /// No code was typed.
    #[error("no code was entered")]
    NoCode,
    /// Interrupted while waiting for the code.
    #[error("interrupted while waiting for the code")]
    Interrupted,
    /// Interrupted while waiting for the server's rate limit.
    #[error("interrupted while waiting for the server's rate limit")]
    InterruptedWait,
    /// Reading the code failed.
    #[error("cannot read the code from standard input")]
    Stdin(#[source] std::io::Error),
    /// An X target's authorisation could not go on.
    #[error(transparent)]
    X(#[from] x::XAuthError),
    /// Writing the token file failed.
    #[error("cannot write the token to {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What `auth` did.
#[derive(Debug)]
pub struct AuthReport {
    /// The account the token acts as (`acct` or `username`).
    pub account: String,
    /// The scopes asked for.
    pub scopes: &'static str,
    /// The file written.
    pub token_file: PathBuf,
}

/// What `auth` is asked to do.
#[derive(Debug, Clone, Copy)]
pub struct AuthOptions<'a> {
    /// The target's name.
    pub target: &'a str,
    /// Replace an existing token file.
    pub force: bool,
    /// Where to write the token instead of the target's `token_file`.
    pub token_file: Option<&'a Path>,
}

/// Runs `auth`: prompts on `out`, reads the code from `input`.
///
/// # Errors
/// See [`AuthError`]; the token file is untouched when one is returned.
pub async fn run(
    settings: &Settings,
    options: &AuthOptions<'_>,
    input: &mut (impl AsyncBufRead + Unpin),
    out: &mut impl std::io::Write,
) -> Result<AuthReport, AuthError> {
    let (name, force) = (options.target, options.force);
    let target = match settings.targets.get(name) {
        None => return Err(AuthError::UnknownTarget(name.to_owned())),
        Some(TargetSettings::Fediverse(f)) => f,
        Some(TargetSettings::X(t)) => return x::run(name, t, options, input, out).await,
        Some(_) => return Err(AuthError::NotFediverse(name.to_owned())),
    };
    let path = match (options.token_file, &target.token) {
        (Some(path), _) => path.to_path_buf(),
        (None, SecretSource::File(path)) => path.clone(),
        (None, _) => return Err(AuthError::NoTokenFile(name.to_owned())),
    };
    let path = &path;
    if path.exists() && !force {
        return Err(AuthError::Exists(path.clone()));
    }
    let server = Server::new(target)?;
    let scopes = server.scopes().await?;
    let app = server.register(scopes).await?;
    let _ = writeln!(
        out,
        "Open this address in a browser where you are logged in as the account birdbridge \
         posts as, and approve the access:\n\n  {}\n\nThen enter the code the server shows:",
        server.authorize_url(&app.client_id, scopes)
    );
    let _ = out.flush();
    let code = read_code(input).await?;
    let token = server.exchange(&app, &code, scopes).await?;
    let account = server.verify(&token).await?;
    write_token(path, &token, force)?;
    Ok(AuthReport {
        account,
        scopes,
        token_file: path.clone(),
    })
}

/// A registered application.
#[derive(Debug)]
struct App {
    client_id: String,
    client_secret: Secret,
}

/// One target's server.
struct Server<'a> {
    http: Client,
    base: &'a str,
    kind: ServerKind,
    timeout: Duration,
}

impl<'a> Server<'a> {
    fn new(target: &'a FediverseTargetSettings) -> Result<Self, AuthError> {
        // A handful of requests, once: a fresh connection each avoids the servers (snac)
        // that close a connection after every answer without saying so.
        let http = client::shared()
            .map_err(|problem| AuthError::Server {
                step: "setting up HTTP",
                problem,
            })?
            .fresh;
        Ok(Self {
            http,
            base: target.url.trim_end_matches('/'),
            kind: target.kind,
            timeout: target.request_timeout,
        })
    }

    /// The scopes this server understands (see the module docs).
    async fn scopes(&self) -> Result<&'static str, AuthError> {
        let kind = match self.kind {
            ServerKind::Auto => self.software().await?,
            kind => Some(kind),
        };
        Ok(match kind {
            Some(ServerKind::Mastodon | ServerKind::Pleroma) => GRANULAR_SCOPES,
            Some(ServerKind::GoToSocial) => {
                let version = self.version().await;
                if version.is_some_and(|(major, minor)| major > 0 || minor >= 19) {
                    GRANULAR_SCOPES
                } else {
                    COARSE_SCOPES
                }
            }
            _ => COARSE_SCOPES,
        })
    }

    /// The software nodeinfo names, when birdbridge knows it.
    async fn software(&self) -> Result<Option<ServerKind>, AuthError> {
        const STEP: &str = "reading the server's nodeinfo";
        let index = self
            .get(STEP, &format!("{}/.well-known/nodeinfo", self.base), None)
            .await?;
        let Some(href) = index["links"].as_array().and_then(|links| {
            links.iter().find_map(|l| {
                l["rel"]
                    .as_str()
                    .is_some_and(|r| r.contains("nodeinfo.diaspora.software/ns/schema/2"))
                    .then(|| l["href"].as_str())
                    .flatten()
            })
        }) else {
            return Ok(None);
        };
        let doc = self.get(STEP, href, None).await?;
        Ok(doc["software"]["name"]
            .as_str()
            .and_then(kind_from_software))
    }

    /// The server's own version (`GoToSocial` puts it first in the instance's `version`),
    /// as (major, minor); `None` when it does not say.
    async fn version(&self) -> Option<(u32, u32)> {
        for path in ["/api/v2/instance", "/api/v1/instance"] {
            let Ok(doc) = self
                .get(
                    "reading the instance",
                    &format!("{}{path}", self.base),
                    None,
                )
                .await
            else {
                continue;
            };
            if let Some(v) = doc["version"].as_str().and_then(major_minor) {
                return Some(v);
            }
        }
        None
    }

    async fn register(&self, scopes: &str) -> Result<App, AuthError> {
        const STEP: &str = "registering birdbridge with the server (POST /api/v1/apps)";
        let website = env!("CARGO_PKG_REPOSITORY");
        let mut form = vec![
            ("client_name", "birdbridge"),
            ("redirect_uris", OOB),
            ("scopes", scopes),
        ];
        if !website.is_empty() {
            form.push(("website", website));
        }
        let req = self
            .http
            .post(format!("{}/api/v1/apps", self.base))
            .form(&form);
        let body = self.send(STEP, req).await?;
        let text = |key: &str| {
            body[key]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| AuthError::Server {
                    step: STEP,
                    problem: format!("the answer has no `{key}`"),
                })
        };
        Ok(App {
            client_id: text("client_id")?,
            client_secret: Secret::new(text("client_secret")?),
        })
    }

    fn authorize_url(&self, client_id: &str, scopes: &str) -> String {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", OOB)
            .append_pair("scope", scopes)
            .finish();
        format!("{}/oauth/authorize?{query}", self.base)
    }

    async fn exchange(&self, app: &App, code: &Secret, scopes: &str) -> Result<Secret, AuthError> {
        const STEP: &str = "exchanging the code for a token (POST /oauth/token)";
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.expose()),
            ("client_id", app.client_id.as_str()),
            ("client_secret", app.client_secret.expose()),
            ("redirect_uri", OOB),
            ("scope", scopes),
        ];
        let req = self
            .http
            .post(format!("{}/oauth/token", self.base))
            .form(&form);
        let body = self.send(STEP, req).await?;
        body["access_token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .map(Secret::new)
            .ok_or_else(|| AuthError::Server {
                step: STEP,
                problem: "the answer has no `access_token`".to_owned(),
            })
    }

    async fn verify(&self, token: &Secret) -> Result<String, AuthError> {
        const STEP: &str = "verifying the new token (GET /api/v1/accounts/verify_credentials)";
        let body = self
            .get(
                STEP,
                &format!("{}/api/v1/accounts/verify_credentials", self.base),
                Some(token),
            )
            .await?;
        ["acct", "username"]
            .iter()
            .find_map(|k| body[*k].as_str().filter(|s| !s.is_empty()))
            .map(|s| format!("@{s}"))
            .ok_or_else(|| AuthError::Server {
                step: STEP,
                problem: "the answer names no account".to_owned(),
            })
    }

    async fn get(
        &self,
        step: &'static str,
        url: &str,
        token: Option<&Secret>,
    ) -> Result<Value, AuthError> {
        let mut req = self.http.get(url);
        if let Some(token) = token {
            req = req.bearer_auth(token.expose());
        }
        self.send(step, req).await
    }

    /// Sends `req`; a 2xx answer's JSON body, or an error naming the step and the server's
    /// message.
    async fn send(
        &self,
        step: &'static str,
        req: reqwest::RequestBuilder,
    ) -> Result<Value, AuthError> {
        let fail = |problem: String| AuthError::Server { step, problem };
        let mut waits = 0;
        let res = loop {
            let attempt = req
                .try_clone()
                .ok_or_else(|| fail("the request cannot be repeated".to_owned()))?;
            let res = attempt.timeout(self.timeout).send().await.map_err(|e| {
                fail(format!(
                    "cannot reach {}: {}",
                    self.base,
                    crate::http::error_text(&e)
                ))
            })?;
            if res.status() != reqwest::StatusCode::TOO_MANY_REQUESTS || waits >= MAX_RATE_WAITS {
                break res;
            }
            waits += 1;
            wait_out_rate_limit(step, res.headers()).await?;
        };
        let status = res.status();
        let text = res
            .text()
            .await
            .map_err(|e| fail(crate::http::error_text(&e)))?;
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if !status.is_success() {
            let message = match &body {
                Value::Object(o) => o
                    .get("error_description")
                    .or_else(|| o.get("error"))
                    .and_then(Value::as_str)
                    .map_or_else(|| body.to_string(), str::to_owned),
                Value::String(s) => crate::targets::fedi::answer::readable(s),
                other => other.to_string(),
            };
            return Err(fail(format!(
                "the server answered {status}: {}",
                message.trim()
            )));
        }
        Ok(body)
    }
}

/// 429s waited out in one step before `auth` gives up.
const MAX_RATE_WAITS: u32 = 3;

/// The longest wait for a rate limit `auth` sits through; a longer one is an error saying
/// when to run it again.
const LONGEST_RATE_WAIT: chrono::Duration = chrono::Duration::minutes(15);

/// A 429 on one of `auth`'s requests: the account's window is used up. Waits for the time
/// the server names (`Retry-After`, else the reset it announces, read as the delivery
/// budgets read it), or a few seconds when it names none, saying how long; Ctrl-C ends the
/// wait.
async fn wait_out_rate_limit(
    step: &'static str,
    headers: &reqwest::header::HeaderMap,
) -> Result<(), AuthError> {
    let now = chrono::Utc::now();
    let announced = RateHeaders::parse(headers, now);
    let until = announced
        .retry_at
        .or(announced.reset_at)
        .filter(|t| *t > now)
        .unwrap_or(now + chrono::Duration::seconds(5));
    let wait = until - now;
    let at = until.format("%H:%M:%S UTC");
    if wait > LONGEST_RATE_WAIT {
        return Err(AuthError::Server {
            step,
            problem: format!(
                "the server's rate limit is reached until {at}; run `auth` again after that"
            ),
        });
    }
    // Rounded up: a person waits at least as long as they are told.
    let seconds = (wait.num_milliseconds() + 999) / 1000;
    tracing::warn!(
        "{step}: the server's rate limit is reached (another client of this account, such as a \
         running backfill, may be using it); waiting {} until {at}, then asking again",
        human_duration(chrono::Duration::seconds(seconds))
    );
    tokio::select! {
        () = tokio::time::sleep(wait.to_std().unwrap_or_default()) => Ok(()),
        _ = tokio::signal::ctrl_c() => Err(AuthError::InterruptedWait),
    }
}

/// `major.minor` at the start of a version string (`0.17.0 git-abc`, `4.3.1`).
fn major_minor(version: &str) -> Option<(u32, u32)> {
    let mut parts = version.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// Reads one line; Ctrl-C while waiting stops cleanly.
async fn read_code(input: &mut (impl AsyncBufRead + Unpin)) -> Result<Secret, AuthError> {
    let mut line = String::new();
    tokio::select! {
        read = input.read_line(&mut line) => { read.map_err(AuthError::Stdin)?; }
        _ = tokio::signal::ctrl_c() => return Err(AuthError::Interrupted),
    }
    let code = line.trim();
    if code.is_empty() {
        return Err(AuthError::NoCode);
    }
    Ok(Secret::new(code))
}

/// Writes the token (and a newline) readable by its owner only. Without `force`, the file
/// is created only if it does not exist (checked atomically); with it, a temporary file next
/// to it replaces it in one rename, so a reader never sees half a token.
fn write_token(path: &Path, token: &Secret, force: bool) -> Result<(), AuthError> {
    use std::fs::OpenOptions;
    use std::os::unix::fs::OpenOptionsExt as _;

    let fail = |source| AuthError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let write = |file: &Path| -> std::io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(file)?;
        f.write_all(token.expose().as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()
    };
    if !force {
        return write(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                AuthError::Exists(path.to_path_buf())
            } else {
                fail(e)
            }
        });
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".birdbridge-{}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let result = write(&tmp).and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_read_major_and_minor() {
        assert_eq!(major_minor("0.17.0 git-abc"), Some((0, 17)));
        assert_eq!(major_minor("4.3.1"), Some((4, 3)));
        assert_eq!(major_minor("0.19.0-rc1"), Some((0, 19)));
        assert_eq!(major_minor("unknown"), None);
    }

    #[test]
    fn a_token_file_is_private_and_not_overwritten_without_force() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("sub/token");
        write_token(&path, &Secret::new("t1"), false).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(matches!(
            write_token(&path, &Secret::new("t2"), false),
            Err(AuthError::Exists(_))
        ));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "t1\n");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_token(&path, &Secret::new("t2"), true).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "t2\n");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            std::fs::read_dir(dir.path().join("sub")).unwrap().count(),
            1
        );
    }
}
