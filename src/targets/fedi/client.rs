//! The project's own HTTP calls to a fediverse server (ARCHITECTURE.md "The fediverse client"):
//! `POST /api/v1/statuses` with an `Idempotency-Key` and real JSON booleans (megalodon sends
//! `sensitive` as the string `"true"`, which `GoToSocial` refuses, and cannot send custom
//! headers), edits (`PUT`), boosts (`/reblog`), media uploads streamed from a file and their
//! processing polls, `verify_credentials` and the account's statuses (megalodon's strict
//! entities refuse answers with missing fields or odd types), the instance documents
//! (megalodon drops the media limits), nodeinfo for `kind = "auto"`, and deletes
//! (`GoToSocial` and Friendica reply with bodies megalodon misreads). Calls return the raw
//! answer ([`super::answer`]); the caller reads it leniently ([`super::lenient`]).
//!
//! One pair of HTTP clients ([`Clients`]) is shared by every target: one connection pool,
//! one user agent, one connect timeout; each request carries its target's request timeout.
//! What an answer means is decided by the caller, which knows the budget.
//!
//! Connections: idle pooled connections are dropped after [`POOL_IDLE`], before servers and
//! proxies typically drop them (Apache and Node.js after 5 s, nginx after 75 s), so a request
//! rarely meets a connection the server has already closed. Some servers (snac) close after
//! every answer without saying so; a `GET` that fails on a reused connection before any
//! answer is sent once more on a fresh one, and from then on this server gets a fresh
//! connection for every request ([`Api::closes_after_answer`], reported by `check`). The same
//! holds for what is safe to repeat: an edit (`PUT`, idempotent) and a media upload (an
//! unattached upload is dropped by the server). A status post or a boost is never resent
//! here: its outcome is unknown and the caller reconciles it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use reqwest::multipart::{Form, Part};
use reqwest::{Body, Client, RequestBuilder};
use serde_json::Value;

use super::answer::Answer;
use crate::config::Secret;

/// How long connecting may take before the server counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an idle pooled connection is kept: below the shortest common server and proxy
/// keep-alive timeouts (5 s), so the client closes first.
pub const POOL_IDLE: Duration = Duration::from_secs(4);

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

/// The process-wide HTTP clients: one that pools connections, one that never reuses one.
///
/// # Errors
/// When the TLS backend cannot be set up (then nothing can be delivered at all).
pub fn shared() -> Result<Clients, String> {
    static CLIENTS: OnceLock<Result<Clients, String>> = OnceLock::new();
    CLIENTS
        .get_or_init(|| {
            let build = |pooled: bool| {
                let builder = Client::builder()
                    .user_agent(user_agent())
                    .connect_timeout(CONNECT_TIMEOUT)
                    .pool_idle_timeout(POOL_IDLE);
                let builder = if pooled {
                    builder
                } else {
                    builder.pool_max_idle_per_host(0)
                };
                builder
                    .build()
                    .map_err(|e| format!("cannot set up the HTTP client: {e}"))
            };
            Ok(Clients {
                pooled: build(true)?,
                fresh: build(false)?,
            })
        })
        .clone()
}

/// The shared clients (see [`shared`]).
#[derive(Debug, Clone)]
pub struct Clients {
    /// Reuses idle connections for [`POOL_IDLE`].
    pub pooled: Client,
    /// Opens a new connection for every request.
    pub fresh: Client,
}

/// What an upload sends: the bytes every target's upload takes.
pub use crate::targets::ready::MediaBody as UploadBody;

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

/// How a call failed before any answer came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// No connection: the server never saw the request.
    Connect(String),
    /// The request timed out: the server may or may not have acted on it.
    Timeout,
    /// The connection failed after the request was sent: as unknown as a timeout.
    Broken(String),
    /// The server closed the connection before any answer (typically a reused connection
    /// it had already given up): for a write, as unknown as a timeout.
    Closed(String),
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Transport::Connect(m) => write!(f, "cannot connect: {m}"),
            Transport::Timeout => f.write_str("timed out"),
            Transport::Broken(m) => write!(f, "connection failed: {m}"),
            Transport::Closed(m) => write!(f, "connection closed before any answer: {m}"),
        }
    }
}

/// One server, with the account's token.
#[derive(Clone)]
pub struct Api {
    clients: Clients,
    /// Set once the server was seen closing a connection after an answer: every request
    /// then goes on a fresh connection.
    closes: Arc<AtomicBool>,
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
    pub fn new(clients: Clients, base: &str, token: Secret, timeout: Duration) -> Self {
        Self {
            clients,
            closes: Arc::new(AtomicBool::new(false)),
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

    /// Whether the server was seen closing a reused connection before answering (it closes
    /// after every answer without saying so).
    pub fn closes_after_answer(&self) -> bool {
        self.closes.load(Ordering::Relaxed)
    }

    /// Sends every request from now on over a fresh connection: the server kind is known to
    /// close connections after one answer.
    pub fn assume_closes_after_answer(&self) {
        self.closes.store(true, Ordering::Relaxed);
    }

    fn http(&self) -> &Client {
        if self.closes_after_answer() {
            &self.clients.fresh
        } else {
            &self.clients.pooled
        }
    }

    /// The address a path on this server (or an absolute URL, as a nodeinfo link is) names:
    /// what [`Api::get`] fetches, and what an error about it names.
    pub fn url(&self, path_or_url: &str) -> String {
        if path_or_url.starts_with("http://") || path_or_url.starts_with("https://") {
            path_or_url.to_owned()
        } else {
            format!("{}{path_or_url}", self.base)
        }
    }

    /// `GET` a path (or an absolute URL, for nodeinfo links), with the token when `auth`.
    pub async fn get(&self, path_or_url: &str, auth: bool) -> Result<Answer, Transport> {
        let url = self.url(path_or_url);
        self.send_repeatable(|http| {
            let req = http.get(&url);
            if auth {
                req.bearer_auth(self.token.expose())
            } else {
                req
            }
        })
        .await
    }

    /// Sends a request that is safe to repeat. On a reused connection the server had
    /// closed before answering, it goes once more on a fresh one; when that works, the
    /// server is taken to close after every answer and gets fresh connections from then on.
    async fn send_repeatable(
        &self,
        request: impl Fn(&Client) -> RequestBuilder,
    ) -> Result<Answer, Transport> {
        match self.send(request(self.http())).await {
            Err(Transport::Closed(first)) if !self.closes_after_answer() => {
                let again = self.send(request(&self.clients.fresh)).await;
                self.note_fresh_worked(&again, &first);
                again
            }
            other => other,
        }
    }

    /// Sends a write that must not be repeated blindly (a new status, a boost): its outcome
    /// after a closed connection is for reconciliation to find out. A reused connection
    /// closed before any answer still says how the server behaves, so every later request
    /// goes on a fresh connection; otherwise each write after the first would meet the same
    /// closed connection and wait for reconciliation in turn.
    async fn send_once(&self, req: RequestBuilder) -> Result<Answer, Transport> {
        let sent = self.send(req).await;
        if let Err(Transport::Closed(first)) = &sent {
            if !self.closes.swap(true, Ordering::Relaxed) {
                tracing::warn!(server = %self.base, error = %first, "the server closed a connection before answering; using a new connection for each request");
            }
        }
        sent
    }

    /// After a request failed on a reused connection and was sent again on a fresh one:
    /// when the fresh one answered, every later request goes on a fresh connection.
    fn note_fresh_worked(&self, again: &Result<Answer, Transport>, first: &str) {
        if again.is_ok() {
            tracing::warn!(server = %self.base, error = %first, "the server closes connections after every answer; using a new connection for each request");
            self.closes.store(true, Ordering::Relaxed);
        }
    }

    /// `POST /api/v1/statuses` with a JSON body and the idempotency key.
    pub async fn post_status(
        &self,
        body: &Value,
        idempotency_key: &str,
    ) -> Result<Answer, Transport> {
        let req = self
            .http()
            .post(format!("{}/api/v1/statuses", self.base))
            .bearer_auth(self.token.expose())
            .header("Idempotency-Key", idempotency_key)
            .json(body);
        self.send_once(req).await
    }

    /// `PUT /api/v1/statuses/:id` (an edit) with a JSON body; idempotent, so repeated on a
    /// fresh connection like a `GET`.
    pub async fn put_status(&self, id: &str, body: &Value) -> Result<Answer, Transport> {
        let url = format!("{}/api/v1/statuses/{id}", self.base);
        self.send_repeatable(|http| http.put(&url).bearer_auth(self.token.expose()).json(body))
            .await
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
            .http()
            .post(format!("{}/api/v1/statuses/{id}/reblog", self.base))
            .bearer_auth(self.token.expose())
            .header("Idempotency-Key", idempotency_key)
            .json(body);
        self.send_once(req).await
    }

    /// `POST /api/v2/media`: one file as multipart, with its description. A file on disk is
    /// streamed from it (never read whole into memory). `timeout` bounds the whole upload.
    /// Repeated once on a fresh connection like a `GET`: an upload the server did get and
    /// that no status uses is dropped by the server.
    pub async fn upload_media(
        &self,
        upload: &Upload<'_>,
        timeout: Duration,
    ) -> Result<Answer, Transport> {
        let first = self.upload_request(self.http(), upload, timeout).await?;
        match self.send_with(first).await {
            Err(Transport::Closed(first)) if !self.closes_after_answer() => {
                let req = self
                    .upload_request(&self.clients.fresh, upload, timeout)
                    .await?;
                let again = self.send_with(req).await;
                self.note_fresh_worked(&again, &first);
                again
            }
            other => other,
        }
    }

    /// The multipart request of an upload (a stream is read once, so each attempt builds
    /// its own).
    async fn upload_request(
        &self,
        http: &Client,
        upload: &Upload<'_>,
        timeout: Duration,
    ) -> Result<RequestBuilder, Transport> {
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
        Ok(http
            .post(format!("{}/api/v2/media", self.base))
            .bearer_auth(self.token.expose())
            .multipart(form)
            .timeout(timeout))
    }

    /// `GET /api/v1/media/:id` (processing state of an upload).
    pub async fn get_media(&self, id: &str) -> Result<Answer, Transport> {
        self.get(&format!("/api/v1/media/{id}"), true).await
    }

    /// `POST /api/v1/statuses/:id/unreblog`: undoes the account's boost of status `id`
    /// (the original, whatever id the boost's answer carried). Safe to repeat: undoing a
    /// boost that is not there changes nothing.
    pub async fn unreblog(&self, id: &str) -> Result<Answer, Transport> {
        let url = format!("{}/api/v1/statuses/{id}/unreblog", self.base);
        self.send_repeatable(|http| http.post(&url).bearer_auth(self.token.expose()))
            .await
    }

    /// `DELETE /api/v1/statuses/:id`, read as a plain answer (`GoToSocial` and Friendica
    /// reply with odd bodies).
    pub async fn delete_status(&self, id: &str) -> Result<Answer, Transport> {
        let req = self
            .http()
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
        Transport::Connect(crate::http::error_text(e))
    } else if closed_unanswered(e) {
        Transport::Closed(crate::http::error_text(e))
    } else {
        Transport::Broken(crate::http::error_text(e))
    }
}

/// Whether the connection closed (or was reset) with no answer received: hyper's
/// "connection closed before message completed", or a reset / broken pipe.
fn closed_unanswered(e: &reqwest::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(h) = s.downcast_ref::<hyper::Error>() {
            if h.is_incomplete_message() {
                return true;
            }
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::ConnectionAborted
            ) {
                return true;
            }
        }
        source = s.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_agent_names_the_project_and_version() {
        let ua = user_agent();
        assert!(
            ua.starts_with(&format!("birdbridge/{} (+", env!("CARGO_PKG_VERSION"))),
            "{ua}"
        );
    }
}
