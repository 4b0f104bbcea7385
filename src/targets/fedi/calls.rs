//! Budgeted calls: the [`Api`] with the account's rate-limit budget, waits and retries on
//! top. Every call first takes its share of the account's [`Budget`], waiting when the
//! window is used up (delivery waits for budget instead of calling and failing); the
//! answer's rate-limit headers correct the budget; a 429 pauses its family and a 503 the
//! whole account until the time the server gave. Network failures and server errors are
//! retried with backoff where a repeat is safe. What a failure means for the part is the
//! [`TargetError`] variant.
//!
//! Every wait ends at once when the run is asked to stop ([`TargetError::Interrupted`]).

use std::future::Future;

use chrono::Duration;
use reqwest::header::HeaderMap;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::answer::Answer;
use super::client::{Api, Transport};
use crate::backoff::Backoff;
use crate::budget::{Family, RateHeaders, Seed};
use crate::clock::Clock;
use crate::targets::account::Account;
use crate::targets::{Delivered, Pace, RepliesTo, Retracted, Retraction, TargetError};

/// Times a call waits out a 429 or 503 before the part is given back to the engine.
pub(super) const MAX_RATE_WAITS: u32 = 6;
/// Retries of a call after a network failure or a server error, within one delivery.
pub(super) const MAX_TRANSIENT_RETRIES: u32 = 3;
/// The pause before retrying a call (a network failure, a server error, media not
/// processed yet): 4 s after the first failure, doubling, at most about a minute.
pub(super) const RETRY: Backoff = Backoff::new(Duration::seconds(2), Duration::seconds(64));

/// One account's calls. See the module docs.
#[derive(Debug)]
pub struct Calls {
    api: Api,
    account: Account,
    /// The server counts all calls in one window (`GoToSocial`).
    one_counter: bool,
}

impl Calls {
    /// Calls for target `target` through `api`, budgeted from `seeds` until the server
    /// says more, at backfill priority with `share` until told otherwise.
    pub fn new(
        api: Api,
        target: &str,
        seeds: &[Seed],
        clock: Clock,
        cancel: CancellationToken,
        share: f64,
    ) -> Self {
        Self {
            api,
            account: Account::new(target, seeds, clock, cancel, share),
            one_counter: false,
        }
    }

    /// The HTTP calls underneath.
    pub fn api(&self) -> &Api {
        &self.api
    }

    /// The account: its name, the run's clock and stop request, its budget.
    pub fn account(&self) -> &Account {
        &self.account
    }

    /// The account, to share its budget or set its priority.
    pub fn account_mut(&mut self) -> &mut Account {
        &mut self.account
    }

    /// Counts every call in one window (`requests`), as the server does.
    pub fn set_one_counter(&mut self, one_counter: bool) {
        self.one_counter = one_counter;
    }

    /// Takes one call of `family` from the budget (in `requests` on a server that counts
    /// every call in one window), waiting for the window when it is used up.
    pub async fn take(&self, family: Family) -> Result<(), TargetError> {
        self.account.take(self.counted_as(family)).await
    }

    /// The pause before retry number `retry` (from 1) of a failed call.
    pub async fn retry_pause(&self, retry: u32) -> Result<(), TargetError> {
        self.account.pause(RETRY.jittered(retry)).await
    }

    /// The family a call of `family` is counted in: its own, or `requests` on a server
    /// that counts every call in one window.
    fn counted_as(&self, family: Family) -> Family {
        if self.one_counter {
            Family::Requests
        } else {
            family
        }
    }

    /// Corrects the budget from an answer's rate-limit headers.
    pub fn observe(&self, family: Family, headers: &HeaderMap) {
        let family = self.counted_as(family);
        let now = self.account.now();
        let h = RateHeaders::parse(headers, now);
        self.account.budget().budget.observe(family, &h, now);
    }

    /// A 429 pauses the family; a 503 pauses the account, until the time the server gave
    /// (or a guess).
    pub fn back_off_rate(&self, family: Family, answer: &Answer) {
        let family = self.counted_as(family);
        let now = self.account.now();
        let h = RateHeaders::parse(&answer.headers, now);
        if answer.status == 503 {
            let until = h
                .retry_at
                .filter(|t| *t > now)
                .unwrap_or_else(|| now + Duration::seconds(30));
            self.account.budget().budget.pause_all(until);
            warn!(target = %self.account.target(), until = %until, "server unavailable (503): pausing");
        } else {
            let until = self.account.budget().budget.rate_limited(family, &h, now);
            warn!(target = %self.account.target(), %family, until = %until, "rate limited (429): pausing");
        }
    }

    /// What an unexpected answer means. Takahē refuses a bad token on every call with a 400
    /// "Invalid Bearer token" (its `api/middleware.py`), which is the token too, not the part.
    pub fn answer_error(&self, answer: &Answer) -> TargetError {
        match answer.status {
            401 | 403 => TargetError::Auth {
                target: self.account.target().to_owned(),
                message: answer.message(),
            },
            400 if answer.is_bad_token() => TargetError::Auth {
                target: self.account.target().to_owned(),
                message: answer.message(),
            },
            // Still refused after the waits: the part is due again when the server said
            // (`Retry-After`, else the reset that answer announces), else in a minute.
            429 | 503 => {
                let now = self.account.now();
                let said = RateHeaders::parse(&answer.headers, now);
                TargetError::RateLimited {
                    retry_after: said
                        .retry_at
                        .or(said.reset_at)
                        .filter(|t| *t > now)
                        .unwrap_or_else(|| now + Duration::minutes(1)),
                }
            }
            400..=499 => TargetError::Rejected {
                status: Some(answer.status),
                message: answer.message(),
            },
            _ => TargetError::Transient {
                message: format!("HTTP {}: {}", answer.status, answer.message()),
            },
        }
    }

    /// One call of `family`: takes its share of the budget (waiting for it), sends it,
    /// corrects the budget from the answer's headers, and waits out a 429 or a 503 while
    /// `waits` (counted over the whole call, retries included) is under
    /// [`MAX_RATE_WAITS`]. Any other answer, or how sending failed, is the caller's to read.
    pub async fn send<F>(
        &self,
        family: Family,
        waits: &mut u32,
        request: impl Fn() -> F,
    ) -> Result<Result<Answer, Transport>, TargetError>
    where
        F: Future<Output = Result<Answer, Transport>>,
    {
        loop {
            self.take(family).await?;
            let sent = request().await;
            if let Ok(answer) = &sent {
                self.observe(family, &answer.headers);
                if matches!(answer.status, 429 | 503) && *waits < MAX_RATE_WAITS {
                    *waits += 1;
                    self.back_off_rate(family, answer);
                    continue;
                }
            }
            return Ok(sent);
        }
    }

    /// `GET` with budget, rate-limit and transient handling; the answer is 2xx or an error.
    /// The token goes only with `auth` (never to a URL another document named).
    pub async fn get_ok(&self, path: &str, auth: bool) -> Result<Answer, TargetError> {
        let (mut waits, mut retries) = (0, 0);
        loop {
            match self
                .send(Family::Requests, &mut waits, move || {
                    self.api.get(path, auth)
                })
                .await?
            {
                Ok(answer) => match answer.status {
                    200..=299 => return Ok(answer),
                    500..=599 if retries < MAX_TRANSIENT_RETRIES => {
                        retries += 1;
                        self.retry_pause(retries).await?;
                    }
                    _ => return Err(self.answer_error(&answer)),
                },
                // No connection at all: the server is down. Retrying here would only hold up
                // the run; the engine reconnects the target later, with backoff.
                Err(Transport::Connect(m)) => {
                    return Err(TargetError::Unreachable {
                        message: format!("{}: {m}", self.api.url(path)),
                    })
                }
                Err(t) if retries < MAX_TRANSIENT_RETRIES => {
                    retries += 1;
                    warn!(target = %self.account.target(), path, error = %t, "request failed; retrying");
                    self.retry_pause(retries).await?;
                }
                Err(t) => {
                    return Err(TargetError::Transient {
                        message: format!("{}: {t}", self.api.url(path)),
                    })
                }
            }
        }
    }

    /// `GET` once: budgeted, a 429 waited out, but no retry after any other failure, for a
    /// look-up that has another way to learn the same thing (a nodeinfo link, which may name
    /// another scheme, host or port than the server's). The token goes only with `auth`.
    /// The error does not repeat the address; the caller names it.
    pub async fn get_once(&self, path_or_url: &str, auth: bool) -> Result<Answer, TargetError> {
        let get = move || self.api.get(path_or_url, auth);
        match self.send(Family::Requests, &mut 0, get).await? {
            Ok(answer) if (200..=299).contains(&answer.status) => Ok(answer),
            Ok(answer) => Err(self.answer_error(&answer)),
            Err(Transport::Connect(message)) => Err(TargetError::Unreachable { message }),
            Err(t) => Err(TargetError::Transient {
                message: t.to_string(),
            }),
        }
    }

    /// Sends an edit or a boost, waiting out rate limits and retrying failures: both are safe
    /// to repeat (an edit sent twice is the same edit; the server returns the existing boost
    /// of a status boosted already), so unlike a new status they need no reconciliation.
    pub async fn repeatable_write(&self, write: Repeatable<'_>) -> Result<Delivered, TargetError> {
        let send = move || async move {
            match write {
                Repeatable::Edit { remote_id, body } => self.api.put_status(remote_id, body).await,
                Repeatable::Boost {
                    original,
                    body,
                    key,
                } => self.api.reblog(original, body, key).await,
            }
        };
        let settled = |answer: &Answer| {
            (200..=299)
                .contains(&answer.status)
                .then(|| write.delivered(answer))
        };
        self.repeat(Family::Statuses, write.name(), send, settled)
            .await
    }

    /// Takes a status back: deletes it, or undoes the account's boost of an original
    /// (both on the deletes budget, as Mastodon counts them). Safe to repeat, so a server
    /// error or a broken connection is retried; a status the server no longer has counts as
    /// taken back ([`Retracted::AlreadyGone`]). Only the status code is read (servers
    /// answer a delete with odd bodies).
    pub async fn retract(&self, what: Retraction<'_>) -> Result<Retracted, TargetError> {
        let send = move || async move {
            match what {
                Retraction::Status(id) => self.api.delete_status(id).await,
                Retraction::Boost { original } => self.api.unreblog(original).await,
            }
        };
        let settled = |answer: &Answer| match answer.status {
            200..=299 => Some(Ok(Retracted::Done)),
            404 | 410 => Some(Ok(Retracted::AlreadyGone)),
            _ => None,
        };
        self.repeat(Family::Deletes, "taking a status back", send, settled)
            .await
    }

    /// Sends a call of `family` that is safe to repeat until it settles: rate limits are
    /// waited out ([`Calls::send`]); a server error or a broken connection is retried up to
    /// [`MAX_TRANSIENT_RETRIES`] times. `settled` reads the answers that end the call
    /// (`None` for any other: a server error is retried, the rest read by
    /// [`Calls::answer_error`]); `what` names the call in the log.
    async fn repeat<F, T>(
        &self,
        family: Family,
        what: &str,
        request: impl Fn() -> F,
        settled: impl Fn(&Answer) -> Option<Result<T, TargetError>>,
    ) -> Result<T, TargetError>
    where
        F: Future<Output = Result<Answer, Transport>>,
    {
        let (mut waits, mut retries) = (0, 0);
        loop {
            let failure = match self.send(family, &mut waits, &request).await? {
                Ok(answer) => {
                    if let Some(done) = settled(&answer) {
                        return done;
                    }
                    if !(500..=599).contains(&answer.status) {
                        return Err(self.answer_error(&answer));
                    }
                    format!("HTTP {}: {}", answer.status, answer.message())
                }
                // Never reached the server, again and again: it is down; the engine
                // keeps the part waiting and reconnects later.
                Err(Transport::Connect(m)) if retries >= MAX_TRANSIENT_RETRIES => {
                    return Err(TargetError::Unreachable { message: m })
                }
                Err(t) => t.to_string(),
            };
            if retries >= MAX_TRANSIENT_RETRIES {
                return Err(TargetError::Transient { message: failure });
            }
            retries += 1;
            warn!(target = %self.account.target(), error = %failure, "{what} failed; retrying");
            self.retry_pause(retries).await?;
        }
    }
    /// The window deletes are paced by (every request's, on a server that counts them
    /// together), as the budget has it now.
    pub fn deletes_pace(&self) -> Option<Pace> {
        Pace::of(
            self.account.budget().budget.windows(),
            self.counted_as(Family::Deletes),
        )
    }
}

/// A write that is safe to send again as it is (see [`Calls::repeatable_write`]).
#[derive(Debug, Clone, Copy)]
pub enum Repeatable<'a> {
    /// `PUT /api/v1/statuses/:id`.
    Edit {
        /// The status edited.
        remote_id: &'a str,
        /// The whole new version.
        body: &'a Value,
    },
    /// `POST /api/v1/statuses/:id/reblog`.
    Boost {
        /// The status boosted.
        original: &'a str,
        /// The boost's visibility.
        body: &'a Value,
        /// The idempotency key.
        key: &'a str,
    },
}

impl Repeatable<'_> {
    fn name(self) -> &'static str {
        match self {
            Self::Edit { .. } => "edit",
            Self::Boost { .. } => "boost",
        }
    }

    /// The status the server answered with. Some servers give an edited status a new id,
    /// and the answer says which; an edit answered without one keeps the old id.
    fn delivered(self, answer: &Answer) -> Result<Delivered, TargetError> {
        match self {
            Self::Edit { remote_id, .. } => Ok(answer.delivered().unwrap_or(Delivered {
                remote_id: remote_id.to_owned(),
                url: None,
                replies_to: RepliesTo::Unsaid,
            })),
            Self::Boost { .. } => answer.delivered(),
        }
    }
}
