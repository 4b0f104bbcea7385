//! OAuth 2.0 user tokens with refresh (`docs/x-target.md`, "Credentials"). X's access
//! tokens last two hours; a refresh token (granted with `offline.access`) gets a new one and
//! is itself replaced on every refresh. A refresh token used twice may revoke the whole
//! grant, so the newest one must never be lost:
//!
//! - the token file is replaced atomically (a temporary file next to it, mode 0600, synced,
//!   then renamed over it), so a crash leaves either the old file or the new one;
//! - it is written only after X answered the refresh, so a refresh that fails leaves the old
//!   file as it was;
//! - before refreshing, the file is read again: another process sharing it (a `once` run
//!   next to the daemon) may have refreshed already, and its tokens are used instead.
//!
//! The file is JSON: `{"refresh_token": …, "access_token": …, "expires_at": …}`; a file
//! holding only a refresh token (one line) is read too.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::Secret;

/// An access token this close to its expiry is refreshed first.
const EXPIRY_MARGIN: Duration = Duration::seconds(60);
/// X's documented access-token lifetime, when the answer does not say.
const DEFAULT_LIFETIME: Duration = Duration::hours(2);

/// Why OAuth 2.0 credentials could not be used. Never contains a token.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// The token file cannot be read.
    #[error("cannot read the X token file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// The token file holds no usable token.
    #[error("the X token file {path} holds no refresh token ({problem}): run `auth` again")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// The refreshed tokens could not be written back. They are kept in memory for this
    /// run, but the file's refresh token is spent: fix the file's folder, else the next run
    /// needs `auth` again.
    #[error("cannot write the refreshed X token to {path}: {source}; the file's refresh token is now spent, fix this before the process stops")]
    Write {
        /// The file.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// X refused the refresh token (revoked, expired, already used): authorise again.
    #[error("X refused to refresh the access token ({message}): run `auth` again")]
    RefreshRefused {
        /// X's message.
        message: String,
    },
    /// The refresh could not be done now (no answer, a server error): try again later; the
    /// token file is unchanged.
    #[error("cannot refresh the X access token now: {message}")]
    RefreshFailed {
        /// What failed.
        message: String,
    },
}

/// The app's OAuth 2.0 client, as registered with X.
#[derive(Debug, Clone)]
pub struct OAuth2Client {
    /// The token endpoint (`https://api.x.com/2/oauth2/token`).
    pub token_url: String,
    /// The app's client id.
    pub client_id: String,
    /// The client secret of a confidential client (sent as HTTP Basic auth); `None` for a
    /// public client.
    pub client_secret: Option<Secret>,
}

/// The tokens of one grant, as the token file holds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSet {
    /// The refresh token (replaced at every refresh).
    pub refresh_token: Secret,
    /// The current access token, when one was obtained.
    pub access_token: Option<Secret>,
    /// When the access token expires.
    pub expires_at: Option<DateTime<Utc>>,
}

impl TokenSet {
    /// The access token, when it is still good at `now`.
    fn valid_access(&self, now: DateTime<Utc>) -> Option<&Secret> {
        self.access_token
            .as_ref()
            .filter(|_| self.expires_at.is_some_and(|e| e - EXPIRY_MARGIN > now))
    }
}

/// The file's JSON shape.
#[derive(Serialize, Deserialize)]
struct FileShape {
    refresh_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    access_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<DateTime<Utc>>,
}

/// Reads a token file: JSON, or one line holding a refresh token.
///
/// # Errors
/// [`CredentialError::Read`], [`CredentialError::Malformed`].
pub fn read_token_file(path: &Path) -> Result<TokenSet, CredentialError> {
    let text = std::fs::read_to_string(path).map_err(|source| CredentialError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let malformed = |problem: &str| CredentialError::Malformed {
        path: path.to_path_buf(),
        problem: problem.to_owned(),
    };
    let text = text.trim();
    if text.starts_with('{') {
        let shape: FileShape = serde_json::from_str(text)
            .map_err(|e| malformed(&format!("not the expected JSON: {}", e.classify_name())))?;
        if shape.refresh_token.trim().is_empty() {
            return Err(malformed("empty `refresh_token`"));
        }
        return Ok(TokenSet {
            refresh_token: Secret::new(shape.refresh_token),
            access_token: shape.access_token.map(Secret::new),
            expires_at: shape.expires_at,
        });
    }
    if text.is_empty() || text.contains(char::is_whitespace) {
        return Err(malformed("expected JSON or one refresh token"));
    }
    Ok(TokenSet {
        refresh_token: Secret::new(text),
        access_token: None,
        expires_at: None,
    })
}

/// `serde_json`'s error category, without the input it quotes (which could be a token).
trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "unreadable",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "missing or mistyped field",
            serde_json::error::Category::Eof => "truncated",
        }
    }
}

/// Replaces `path` with `tokens` atomically: a temporary file in the same folder, created
/// with mode 0600, written and synced, renamed over `path`, then the folder synced.
///
/// # Errors
/// [`CredentialError::Write`]; `path` is then unchanged.
pub fn write_token_file(path: &Path, tokens: &TokenSet) -> Result<(), CredentialError> {
    let fail = |source| CredentialError::Write {
        path: path.to_path_buf(),
        source,
    };
    let shape = FileShape {
        refresh_token: tokens.refresh_token.expose().to_owned(),
        access_token: tokens.access_token.as_ref().map(|t| t.expose().to_owned()),
        expires_at: tokens.expires_at,
    };
    let json = serde_json::to_vec_pretty(&shape).map_err(|e| fail(std::io::Error::other(e)))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    // tempfile creates the file with mode 0600 on Unix.
    let mut tmp = tempfile::Builder::new()
        .prefix(".birdbridge-token-")
        .tempfile_in(&dir)
        .map_err(fail)?;
    tmp.write_all(&json).map_err(fail)?;
    tmp.write_all(b"\n").map_err(fail)?;
    tmp.as_file().sync_all().map_err(fail)?;
    tmp.persist(path).map_err(|e| fail(e.error))?;
    std::fs::File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(fail)
}

/// An OAuth 2.0 user grant: the tokens of one token file, refreshed when needed and
/// written back.
#[derive(Debug)]
pub struct UserToken {
    client: OAuth2Client,
    file: PathBuf,
    tokens: tokio::sync::Mutex<TokenSet>,
}

impl UserToken {
    /// Reads the grant from its token file.
    ///
    /// # Errors
    /// See [`read_token_file`].
    pub fn load(client: OAuth2Client, file: &Path) -> Result<Self, CredentialError> {
        let tokens = read_token_file(file)?;
        Ok(Self {
            client,
            file: file.to_path_buf(),
            tokens: tokio::sync::Mutex::new(tokens),
        })
    }

    /// A good access token at `now`: the current one, else a refreshed one.
    ///
    /// # Errors
    /// See [`CredentialError`]; a [`CredentialError::Write`] still leaves the refreshed
    /// token in use for this run.
    pub async fn access(
        &self,
        http: &reqwest::Client,
        now: DateTime<Utc>,
        timeout: std::time::Duration,
    ) -> Result<Secret, CredentialError> {
        let mut tokens = self.tokens.lock().await;
        if let Some(token) = tokens.valid_access(now) {
            return Ok(token.clone());
        }
        self.refresh_locked(&mut tokens, http, now, timeout).await
    }

    /// After X refused `refused` with a 401: a new access token, unless another call has
    /// already replaced `refused`, whose replacement is returned.
    ///
    /// # Errors
    /// See [`UserToken::access`].
    pub async fn renew_after_refusal(
        &self,
        refused: &Secret,
        http: &reqwest::Client,
        now: DateTime<Utc>,
        timeout: std::time::Duration,
    ) -> Result<Secret, CredentialError> {
        let mut tokens = self.tokens.lock().await;
        if let Some(current) = tokens.access_token.as_ref().filter(|t| *t != refused) {
            return Ok(current.clone());
        }
        tokens.access_token = None;
        self.refresh_locked(&mut tokens, http, now, timeout).await
    }

    async fn refresh_locked(
        &self,
        tokens: &mut TokenSet,
        http: &reqwest::Client,
        now: DateTime<Utc>,
        timeout: std::time::Duration,
    ) -> Result<Secret, CredentialError> {
        // Another process may have refreshed (and so spent our refresh token) already.
        if let Ok(on_disk) = read_token_file(&self.file) {
            if on_disk.refresh_token != tokens.refresh_token {
                *tokens = on_disk;
                if let Some(token) = tokens.valid_access(now) {
                    return Ok(token.clone());
                }
            }
        }
        let fresh = self.request_refresh(tokens, http, now, timeout).await?;
        let access = fresh
            .access_token
            .clone()
            .unwrap_or_else(|| unreachable!("a refresh always carries an access token"));
        *tokens = fresh;
        write_token_file(&self.file, tokens)?;
        Ok(access)
    }

    /// Asks X for new tokens; nothing is written.
    async fn request_refresh(
        &self,
        tokens: &TokenSet,
        http: &reqwest::Client,
        now: DateTime<Utc>,
        timeout: std::time::Duration,
    ) -> Result<TokenSet, CredentialError> {
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens.refresh_token.expose()),
            ("client_id", self.client.client_id.as_str()),
        ];
        let mut req = http
            .post(&self.client.token_url)
            .form(&form)
            .timeout(timeout);
        if let Some(secret) = &self.client.client_secret {
            req = req.basic_auth(&self.client.client_id, Some(secret.expose()));
        }
        let failed = |message: String| CredentialError::RefreshFailed { message };
        let res = req.send().await.map_err(|e| {
            failed(if e.is_timeout() {
                "timed out".to_owned()
            } else if e.is_connect() {
                "cannot connect".to_owned()
            } else {
                "the connection failed".to_owned()
            })
        })?;
        let status = res.status().as_u16();
        let text = res
            .text()
            .await
            .map_err(|_| failed("the answer could not be read".to_owned()))?;
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if !(200..300).contains(&status) {
            let message = ["error_description", "error", "detail", "title"]
                .iter()
                .find_map(|k| body[*k].as_str())
                .map_or_else(
                    || format!("HTTP {status}"),
                    |m| format!("HTTP {status}: {m}"),
                );
            return Err(if (400..500).contains(&status) {
                CredentialError::RefreshRefused { message }
            } else {
                failed(message)
            });
        }
        let access = body["access_token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| failed("the answer has no access token".to_owned()))?;
        let lifetime = body["expires_in"]
            .as_i64()
            .filter(|s| *s > 0)
            .map_or(DEFAULT_LIFETIME, Duration::seconds);
        // X rotates the refresh token; an answer without one leaves the old one in force.
        let refresh = body["refresh_token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .map_or_else(|| tokens.refresh_token.clone(), Secret::new);
        Ok(TokenSet {
            refresh_token: refresh,
            access_token: Some(Secret::new(access)),
            expires_at: Some(now + lifetime),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn a_written_file_reads_back_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.token");
        let tokens = TokenSet {
            refresh_token: Secret::new("r-1"),
            access_token: Some(Secret::new("a-1")),
            expires_at: Some(
                DateTime::parse_from_rfc3339("2026-05-01T12:00:00Z")
                    .unwrap()
                    .into(),
            ),
        };
        write_token_file(&path, &tokens).unwrap();
        assert_eq!(read_token_file(&path).unwrap(), tokens);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // Nothing else is left in the folder.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_bare_refresh_token_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.token");
        std::fs::write(&path, "bare-refresh\n").unwrap();
        let t = read_token_file(&path).unwrap();
        assert_eq!(t.refresh_token, Secret::new("bare-refresh"));
        assert!(t.access_token.is_none());
    }

    #[test]
    fn a_broken_file_is_named_and_its_content_is_not_shown() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.token");
        std::fs::write(
            &path,
            "{\"refresh_token\": 12, \"access_token\": \"leak-me\"}",
        )
        .unwrap();
        let e = read_token_file(&path).unwrap_err().to_string();
        assert!(e.contains("x.token") && !e.contains("leak-me"), "{e}");
        std::fs::write(&path, "two words").unwrap();
        assert!(matches!(
            read_token_file(&path),
            Err(CredentialError::Malformed { .. })
        ));
    }
}
