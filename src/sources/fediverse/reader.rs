//! megalodon, as the fediverse source uses it: one client per source for the server's kind
//! (given, or detected from nodeinfo), every call under the source's timeout and the run's
//! cancellation token (megalodon has neither: its client cannot be given a timeout, and its
//! detector waited forever on a server whose nodeinfo pointed at an unreachable address),
//! and megalodon's errors sorted by what the source does about them.

use std::future::Future;
use std::time::Duration;

use megalodon::entities::{Account, Status};
use megalodon::error::{Error as MgError, Kind};
use megalodon::megalodon::GetAccountStatusesInputOptions;
use megalodon::{Megalodon, SNS};
use tokio_util::sync::CancellationToken;

use crate::config::{Secret, ServerKind};
use crate::store::StoreError;

/// The longest part of a server's answer quoted in an error.
const DETAIL_CHARS: usize = 200;

/// What went wrong reading a fediverse account; [`FediSourceError::is_fatal`] says whether
/// the source stops.
#[derive(Debug, thiserror::Error)]
pub enum FediSourceError {
    /// megalodon cannot decode what the server answers (snac's account has no `fields`):
    /// asking again cannot help.
    #[error(
        "megalodon cannot read {server} at {url}: the answer to {call} cannot be decoded \
         ({detail}); this server cannot be a fediverse source"
    )]
    Unreadable {
        /// The server kind megalodon read it as.
        server: String,
        /// The server.
        url: String,
        /// The megalodon call.
        call: &'static str,
        /// What megalodon said.
        detail: String,
    },
    /// The server's software is one megalodon does not know (snac), or `server = "snac"` or
    /// `"takahe"`.
    #[error("megalodon cannot read the server at {url} ({call}: {detail}); it reads mastodon, pleroma, gotosocial, friendica, firefish and pixelfed servers")]
    Unsupported {
        /// The server.
        url: String,
        /// The megalodon call (`detector`, or the setting).
        call: &'static str,
        /// Why.
        detail: String,
    },
    /// 401 or 403: the token is wrong, revoked or lacks the read scope.
    #[error("{server} at {url} refused the token ({call}, HTTP {status}): {detail}")]
    Auth {
        /// The server kind.
        server: String,
        /// The server.
        url: String,
        /// The megalodon call.
        call: &'static str,
        /// 401 or 403.
        status: u16,
        /// The server's message.
        detail: String,
    },
    /// No answer within the source's `timeout_seconds`: tried again at the next tick.
    #[error("{call} to {url} did not answer within {secs} s")]
    Timeout {
        /// The server.
        url: String,
        /// The megalodon call.
        call: &'static str,
        /// The timeout.
        secs: u64,
    },
    /// The network or the server failed: tried again at the next tick.
    #[error("{call} to {server} at {url} failed: {detail}")]
    Failed {
        /// The server kind.
        server: String,
        /// The server.
        url: String,
        /// The megalodon call.
        call: &'static str,
        /// What failed.
        detail: String,
    },
    /// The ledger failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Shutdown was asked for.
    #[error("stopped on request")]
    Cancelled,
}

impl FediSourceError {
    /// Whether the source stops until the configuration is fixed and birdbridge restarted.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            Self::Unreadable { .. } | Self::Unsupported { .. } | Self::Auth { .. } | Self::Store(_)
        )
    }
}

/// The megalodon client of one source.
pub(super) struct Reader {
    api: Box<dyn Megalodon + Send + Sync>,
    sns: SNS,
    url: String,
    timeout: Duration,
    cancel: CancellationToken,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("sns", &self.sns)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Reader {
    /// A client for `url` as `kind` says; `auto` asks the server's nodeinfo (megalodon's
    /// detector, under the timeout).
    pub(super) async fn connect(
        kind: ServerKind,
        url: &str,
        token: &Secret,
        timeout: Duration,
        cancel: CancellationToken,
    ) -> Result<Self, FediSourceError> {
        let sns = match kind {
            ServerKind::Mastodon => SNS::Mastodon,
            ServerKind::Pleroma => SNS::Pleroma,
            ServerKind::GoToSocial => SNS::Gotosocial,
            ServerKind::Friendica => SNS::Friendica,
            ServerKind::Firefish => SNS::Firefish,
            ServerKind::Pixelfed => SNS::Pixelfed,
            ServerKind::Snac => {
                return Err(FediSourceError::Unsupported {
                    url: url.to_owned(),
                    call: "server = \"snac\"",
                    detail: "megalodon has no client for snac, and snac's account lacks fields \
                             megalodon requires"
                        .to_owned(),
                })
            }
            ServerKind::Takahe => {
                return Err(FediSourceError::Unsupported {
                    url: url.to_owned(),
                    call: "server = \"takahe\"",
                    detail: "megalodon has no client for Takahē, and reading it as Mastodon is \
                             untested"
                        .to_owned(),
                })
            }
            ServerKind::Auto => detect(url, timeout, &cancel).await?,
        };
        let api = megalodon::generator(
            sns.clone(),
            url.to_owned(),
            Some(token.expose().to_owned()),
            Some(crate::http::USER_AGENT.to_owned()),
        )
        .map_err(|err| FediSourceError::Failed {
            server: sns.to_string(),
            url: url.to_owned(),
            call: "generator",
            detail: err.to_string(),
        })?;
        Ok(Self {
            api,
            sns,
            url: url.to_owned(),
            timeout,
            cancel,
        })
    }

    /// The server's kind as megalodon reads it.
    pub(super) fn sns(&self) -> &SNS {
        &self.sns
    }

    /// Whether the server has a Mastodon-style streaming connection birdbridge reads
    /// (Mastodon, Pleroma/Akkoma, `GoToSocial`; megalodon has none for Friendica and
    /// Pixelfed, and Firefish streams in Misskey's protocol).
    pub(super) fn streams(&self) -> bool {
        matches!(self.sns, SNS::Mastodon | SNS::Pleroma | SNS::Gotosocial)
    }

    /// `verify_account_credentials`: the token's account.
    pub(super) async fn account(&self) -> Result<Account, FediSourceError> {
        self.call(
            "verify_account_credentials",
            self.api.verify_account_credentials(),
        )
        .await
    }

    /// One page of the account's statuses, newest first.
    pub(super) async fn statuses(
        &self,
        account_id: &str,
        options: &GetAccountStatusesInputOptions,
    ) -> Result<Vec<Status>, FediSourceError> {
        self.call(
            "get_account_statuses",
            self.api
                .get_account_statuses(account_id.to_owned(), Some(options)),
        )
        .await
    }

    /// One status; `None` when the server no longer has it (404 or 410).
    pub(super) async fn status(&self, id: &str) -> Result<Option<Status>, FediSourceError> {
        match self
            .call("get_status", self.api.get_status(id.to_owned()))
            .await
        {
            Ok(status) => Ok(Some(status)),
            Err(FediSourceError::Failed { detail, .. }) if gone(&detail) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// The base URL of the server's streaming API (megalodon reads the instance's
    /// `urls.streaming_api`, else the server's own URL).
    pub(super) async fn streaming_url(&self) -> Result<String, FediSourceError> {
        match guarded(&self.cancel, self.timeout, self.api.streaming_url()).await {
            Guarded::Done(url) => Ok(url),
            Guarded::TimedOut => Err(FediSourceError::Timeout {
                url: self.url.clone(),
                call: "streaming_url",
                secs: self.timeout.as_secs(),
            }),
            Guarded::Cancelled => Err(FediSourceError::Cancelled),
        }
    }

    /// `call` under the timeout and the cancellation token, its error sorted.
    async fn call<T>(
        &self,
        call: &'static str,
        request: impl Future<Output = Result<megalodon::response::Response<T>, MgError>>,
    ) -> Result<T, FediSourceError> {
        match guarded(&self.cancel, self.timeout, request).await {
            Guarded::Done(Ok(answer)) => Ok(answer.json),
            Guarded::Done(Err(err)) => Err(self.sort(call, err)),
            Guarded::TimedOut => Err(FediSourceError::Timeout {
                url: self.url.clone(),
                call,
                secs: self.timeout.as_secs(),
            }),
            Guarded::Cancelled => Err(FediSourceError::Cancelled),
        }
    }

    /// What a megalodon error means for the source.
    fn sort(&self, call: &'static str, err: MgError) -> FediSourceError {
        let server = self.sns.to_string();
        let url = self.url.clone();
        match err {
            MgError::RequestError(e) if e.is_decode() => FediSourceError::Unreadable {
                server,
                url,
                call,
                detail: e.to_string(),
            },
            MgError::JsonError(e) => FediSourceError::Unreadable {
                server,
                url,
                call,
                detail: e.to_string(),
            },
            MgError::OwnError(own) => match own.status {
                Some(status @ (401 | 403)) => FediSourceError::Auth {
                    server,
                    url,
                    call,
                    status,
                    detail: short(&own.message),
                },
                // The account's own route missing: not a Mastodon-API server megalodon reads.
                Some(404) if call == "verify_account_credentials" => FediSourceError::Unreadable {
                    server,
                    url,
                    call,
                    detail: format!("HTTP 404: {}", short(&own.message)),
                },
                Some(status) => FediSourceError::Failed {
                    server,
                    url,
                    call,
                    detail: format!("HTTP {status}: {}", short(&own.message)),
                },
                None => FediSourceError::Failed {
                    server,
                    url,
                    call,
                    detail: short(&own.to_string()),
                },
            },
            other => FediSourceError::Failed {
                server,
                url,
                call,
                detail: short(&other.to_string()),
            },
        }
    }
}

/// The server's kind from its nodeinfo (megalodon's detector, under the timeout). A failed
/// request is tried twice more: the detector makes two requests on a fresh client, and a
/// server that closes every connection after its answer (snac) can fail the second.
async fn detect(
    url: &str,
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<SNS, FediSourceError> {
    let mut tries = 0;
    loop {
        tries += 1;
        return match guarded(cancel, timeout, megalodon::detector(url)).await {
            Guarded::Done(Ok(sns)) => Ok(sns),
            Guarded::Done(Err(MgError::RequestError(e))) if !e.is_decode() => {
                // The index answered, the document's request failed on the same client:
                // every time, it is the server closing each connection after its answer,
                // which megalodon's client does not survive.
                let second = e
                    .url()
                    .is_some_and(|u| !u.path().starts_with("/.well-known/"));
                if tries < 3 {
                    continue;
                }
                if second {
                    return Err(FediSourceError::Unsupported {
                        url: url.to_owned(),
                        call: "detector",
                        detail: format!(
                            "the server closes its connection after every answer (snac does), \
                             and megalodon's client fails the next request on it: {e}"
                        ),
                    });
                }
                Err(detect_error(url, MgError::RequestError(e)))
            }
            Guarded::Done(Err(err)) => Err(detect_error(url, err)),
            Guarded::TimedOut => Err(FediSourceError::Timeout {
                url: url.to_owned(),
                call: "detector",
                secs: timeout.as_secs(),
            }),
            Guarded::Cancelled => Err(FediSourceError::Cancelled),
        };
    }
}

/// What the detector's failure means: an unknown software stops the source; a network
/// failure is tried again.
fn detect_error(url: &str, err: MgError) -> FediSourceError {
    match err {
        MgError::OwnError(own)
            if matches!(own.kind, Kind::UnknownSNSError | Kind::NodeinfoError) =>
        {
            FediSourceError::Unsupported {
                url: url.to_owned(),
                call: "detector",
                detail: format!(
                    "{} (its nodeinfo names software megalodon does not know; snac is one)",
                    short(&own.message)
                ),
            }
        }
        MgError::RequestError(e) if e.is_decode() => FediSourceError::Unsupported {
            url: url.to_owned(),
            call: "detector",
            detail: format!("its nodeinfo cannot be decoded: {e}"),
        },
        other => FediSourceError::Failed {
            server: "auto".to_owned(),
            url: url.to_owned(),
            call: "detector",
            detail: short(&other.to_string()),
        },
    }
}

/// Whether a failure's detail is the server saying the status is gone.
fn gone(detail: &str) -> bool {
    detail.starts_with("HTTP 404") || detail.starts_with("HTTP 410")
}

/// The start of `text`, on one line.
fn short(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(DETAIL_CHARS) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line,
    }
}

/// How a guarded call ended.
enum Guarded<T> {
    Done(T),
    TimedOut,
    Cancelled,
}

/// `work` under `timeout` and `cancel`.
async fn guarded<T>(
    cancel: &CancellationToken,
    timeout: Duration,
    work: impl Future<Output = T>,
) -> Guarded<T> {
    tokio::select! {
        () = cancel.cancelled() => Guarded::Cancelled,
        done = tokio::time::timeout(timeout, work) => match done {
            Ok(value) => Guarded::Done(value),
            Err(_) => Guarded::TimedOut,
        },
    }
}
