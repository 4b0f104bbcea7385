//! The project's own HTTP calls to a fediverse server (DESIGN.md "The fediverse client"):
//! `POST /api/v1/statuses` with an `Idempotency-Key` and real JSON booleans (megalodon sends
//! `sensitive` as the string `"true"`, which `GoToSocial` refuses, and cannot send custom
//! headers), edits (`PUT`), boosts (`/reblog`), media uploads streamed from a file and their
//! processing polls (megalodon reads the whole file into memory and decodes answers
//! strictly), the instance documents (megalodon drops the media limits), nodeinfo for
//! `kind = "auto"`, and deletes on `GoToSocial` and Friendica (whose replies megalodon
//! misreads). Answers are JSON values read leniently by the caller ([`id_of`],
//! [`media_ready`]): ids as strings or numbers, fields missing or `null`.
//!
//! One HTTP client is shared by every target: one connection pool, one user agent, one
//! connect timeout; each request carries its target's request timeout. Calls return the
//! raw answer; what an answer means is decided by the caller, which knows the budget.

use std::sync::OnceLock;
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::multipart::{Form, Part};
use reqwest::{Body, Client, RequestBuilder};
use serde_json::Value;

use crate::config::Secret;

/// How long connecting may take before the server counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// `birdbridge/<version> (+<repository>)`: servers (`GoToSocial` answers 418 to a request
/// without one) and their admins see who is calling and where to read about it.
pub fn user_agent() -> String {
    let repo = env!("CARGO_PKG_REPOSITORY");
    let home = if repo.is_empty() {
        "https://crates.io/crates/birdbridge"
    } else {
        repo
    };
    format!("birdbridge/{} (+{home})", env!("CARGO_PKG_VERSION"))
}

/// The process-wide HTTP client.
///
/// # Errors
/// When the TLS backend cannot be set up (then nothing can be delivered at all).
pub fn shared() -> Result<Client, String> {
    static CLIENT: OnceLock<Result<Client, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            Client::builder()
                .user_agent(user_agent())
                .connect_timeout(CONNECT_TIMEOUT)
                .build()
                .map_err(|e| format!("cannot set up the HTTP client: {e}"))
        })
        .clone()
}

/// A server's answer, whatever its status.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Headers (rate limits).
    pub headers: HeaderMap,
    /// The body, read leniently: not JSON gives `Value::String` of the text.
    pub body: Value,
}

impl Answer {
    /// The server's own message, for errors: Mastodon's `error` field, else the text.
    pub fn message(&self) -> String {
        let text = match &self.body {
            Value::Object(o) => o
                .get("error")
                .and_then(Value::as_str)
                .map_or_else(|| self.body.to_string(), str::to_owned),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let text = text.trim();
        // Error pages can be whole HTML documents; a message is a line.
        let cut: String = text.chars().take(300).collect();
        if cut.is_empty() {
            format!("HTTP {}", self.status)
        } else {
            cut
        }
    }
}

/// What an upload sends.
#[derive(Debug, Clone, Copy)]
pub enum UploadBody<'a> {
    /// Bytes in memory (archive media read from a zip).
    Bytes(&'a [u8]),
    /// A file streamed from disk (downloaded media), of `size` bytes.
    File {
        /// Where it is.
        path: &'a std::path::Path,
        /// Its size.
        size: u64,
    },
}

/// One media upload.
#[derive(Debug, Clone, Copy)]
pub struct Upload<'a> {
    /// The content.
    pub body: UploadBody<'a>,
    /// A name with the right extension (servers guess the type from it).
    pub file_name: &'a str,
    /// The MIME type.
    pub mime: &'a str,
    /// The alt text.
    pub description: Option<&'a str>,
}

/// An id as servers send them: a string (Mastodon), or a number (some smaller servers).
pub fn id_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Whether a media attachment is processed: it has a `url` (`null` or missing while the
/// server works on it).
pub fn media_ready(v: &Value) -> bool {
    v["url"].as_str().is_some_and(|u| !u.is_empty())
}

/// How a call failed before any answer came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// No connection: the server never saw the request.
    Connect(String),
    /// The request timed out: the server may or may not have acted on it.
    Timeout,
    /// The connection failed after the request was sent: as unknown as a timeout.
    Broken(String),
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Transport::Connect(m) => write!(f, "cannot connect: {m}"),
            Transport::Timeout => f.write_str("timed out"),
            Transport::Broken(m) => write!(f, "connection failed: {m}"),
        }
    }
}

/// One server, with the account's token.
#[derive(Clone)]
pub struct Api {
    http: Client,
    base: String,
    token: Secret,
    timeout: Duration,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("base", &self.base)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Api {
    /// Calls to `base` (no trailing slash) with `token`, each request bounded by `timeout`.
    pub fn new(http: Client, base: &str, token: Secret, timeout: Duration) -> Self {
        Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token,
            timeout,
        }
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The request timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// `GET` a path (or an absolute URL, for nodeinfo links), with the token when `auth`.
    pub async fn get(&self, path_or_url: &str, auth: bool) -> Result<Answer, Transport> {
        let url = if path_or_url.starts_with("http://") || path_or_url.starts_with("https://") {
            path_or_url.to_owned()
        } else {
            format!("{}{path_or_url}", self.base)
        };
        let mut req = self.http.get(url);
        if auth {
            req = req.bearer_auth(self.token.expose());
        }
        self.send(req).await
    }

    /// `POST /api/v1/statuses` with a JSON body and the idempotency key.
    pub async fn post_status(
        &self,
        body: &Value,
        idempotency_key: &str,
    ) -> Result<Answer, Transport> {
        let req = self
            .http
            .post(format!("{}/api/v1/statuses", self.base))
            .bearer_auth(self.token.expose())
            .header("Idempotency-Key", idempotency_key)
            .json(body);
        self.send(req).await
    }

    /// `PUT /api/v1/statuses/:id` (an edit) with a JSON body.
    pub async fn put_status(&self, id: &str, body: &Value) -> Result<Answer, Transport> {
        let req = self
            .http
            .put(format!("{}/api/v1/statuses/{id}", self.base))
            .bearer_auth(self.token.expose())
            .json(body);
        self.send(req).await
    }

    /// `POST /api/v1/statuses/:id/reblog` (a boost) with the idempotency key and a JSON
    /// body (the boost's `visibility`).
    pub async fn reblog(
        &self,
        id: &str,
        body: &Value,
        idempotency_key: &str,
    ) -> Result<Answer, Transport> {
        let req = self
            .http
            .post(format!("{}/api/v1/statuses/{id}/reblog", self.base))
            .bearer_auth(self.token.expose())
            .header("Idempotency-Key", idempotency_key)
            .json(body);
        self.send(req).await
    }

    /// `POST /api/v2/media`: one file as multipart, with its description. A file on disk is
    /// streamed from it (never read whole into memory). `timeout` bounds the whole upload.
    pub async fn upload_media(
        &self,
        upload: &Upload<'_>,
        timeout: Duration,
    ) -> Result<Answer, Transport> {
        let file = match upload.body {
            UploadBody::Bytes(bytes) => Part::bytes(bytes.to_vec()),
            UploadBody::File { path, size } => {
                let file = tokio::fs::File::open(path).await.map_err(|e| {
                    Transport::Connect(format!("cannot read {}: {e}", path.display()))
                })?;
                let stream = tokio_util::io::ReaderStream::with_capacity(file, 64 * 1024);
                Part::stream_with_length(Body::wrap_stream(stream), size)
            }
        };
        let file = file
            .file_name(upload.file_name.to_owned())
            .mime_str(upload.mime)
            .map_err(|e| Transport::Connect(format!("bad media type {}: {e}", upload.mime)))?;
        let mut form = Form::new().part("file", file);
        if let Some(d) = upload.description {
            form = form.text("description", d.to_owned());
        }
        let req = self
            .http
            .post(format!("{}/api/v2/media", self.base))
            .bearer_auth(self.token.expose())
            .multipart(form)
            .timeout(timeout);
        self.send_with(req).await
    }

    /// `GET /api/v1/media/:id` (processing state of an upload).
    pub async fn get_media(&self, id: &str) -> Result<Answer, Transport> {
        self.get(&format!("/api/v1/media/{id}"), true).await
    }

    /// `DELETE /api/v1/statuses/:id`, read as a plain answer (`GoToSocial` and Friendica
    /// reply with bodies megalodon cannot parse).
    pub async fn delete_status(&self, id: &str) -> Result<Answer, Transport> {
        let req = self
            .http
            .delete(format!("{}/api/v1/statuses/{id}", self.base))
            .bearer_auth(self.token.expose());
        self.send(req).await
    }

    async fn send(&self, req: RequestBuilder) -> Result<Answer, Transport> {
        self.send_with(req.timeout(self.timeout)).await
    }

    /// Sends a request whose timeout is already set.
    async fn send_with(&self, req: RequestBuilder) -> Result<Answer, Transport> {
        let res = req.send().await.map_err(|e| transport(&e))?;
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.map_err(|e| transport(&e))?;
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok(Answer {
            status,
            headers,
            body,
        })
    }
}

fn transport(e: &reqwest::Error) -> Transport {
    if e.is_timeout() {
        Transport::Timeout
    } else if e.is_connect() {
        Transport::Connect(without_url(e))
    } else {
        Transport::Broken(without_url(e))
    }
}

/// The error without its URL (no secrets are in URLs, but they are long and repeat the
/// target's name).
fn without_url(e: &reqwest::Error) -> String {
    let mut msg = e.to_string();
    if let Some(url) = e.url() {
        msg = msg.replace(&format!(" for url ({url})"), "");
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_user_agent_names_the_project_and_version() {
        let ua = user_agent();
        assert!(
            ua.starts_with(&format!("birdbridge/{} (+", env!("CARGO_PKG_VERSION"))),
            "{ua}"
        );
    }

    #[test]
    fn ids_and_media_states_are_read_leniently() {
        assert_eq!(id_of(&json!("109")), Some("109".to_owned()));
        assert_eq!(id_of(&json!(109)), Some("109".to_owned()));
        assert_eq!(id_of(&json!(null)), None);
        assert_eq!(id_of(&json!("")), None);
        assert!(media_ready(&json!({"id": 1, "url": "https://x/m.png"})));
        assert!(!media_ready(&json!({"id": 1, "url": null})));
        assert!(!media_ready(&json!({"id": 1})));
        assert!(!media_ready(&json!({"id": 1, "url": ""})));
    }

    #[test]
    fn messages_come_from_the_error_field_and_are_cut() {
        let a = Answer {
            status: 422,
            headers: HeaderMap::new(),
            body: json!({"error": "Validation failed: Text character limit of 500 exceeded"}),
        };
        assert_eq!(
            a.message(),
            "Validation failed: Text character limit of 500 exceeded"
        );
        let long = Answer {
            body: Value::String("x".repeat(1000)),
            ..a.clone()
        };
        assert_eq!(long.message().len(), 300);
        let empty = Answer {
            body: Value::String(String::new()),
            ..a
        };
        assert_eq!(empty.message(), "HTTP 422");
    }
}
