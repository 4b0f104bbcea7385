//! Budgeted calls to X: the [`XApi`] with the account's rate-limit budget, waits and
//! retries on top, as the fediverse target's `Calls` does for its servers. Every call first
//! takes its share of the account's [`Budget`] (waiting when the window is used up); every
//! answer's `x-rate-limit-*` headers correct the window of its family (posts, reposts,
//! deletes, media: each one endpoint or one kind of upload call at X); a 429 pauses the
//! family until the time X named (the latest reset of the windows used up, a 24-hour one
//! included) and the call waits for it, a few times. A call safe to repeat is retried
//! after a server error or a broken connection. What is left is the caller's to read, as
//! an [`XError`]; [`target_error`] says what it means for a part.
//!
//! Every wait ends at once when the run is asked to stop.

use std::future::Future;

use chrono::{DateTime, Duration, Utc};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use super::answer::{Answered, Failed, RateLimits, XError};
use super::client::XApi;
use super::oauth2::CredentialError;
use crate::backoff::Backoff;
use crate::budget::{Family, RateHeaders, Seed};
use crate::clock::Clock;
use crate::targets::account::Account;
use crate::targets::TargetError;

/// Times a call waits out a 429 before the part is given back to the engine.
const MAX_RATE_WAITS: u32 = 4;
/// Retries of a call safe to repeat after a server error or a broken connection.
const MAX_RETRIES: u32 = 3;
/// The pause before such a retry: 4 s after the first failure, doubling, at most a minute.
const RETRY: Backoff = Backoff::new(Duration::seconds(2), Duration::seconds(64));
/// The pause after a 429 that names no time.
const BLIND_PAUSE: Duration = Duration::minutes(1);

/// X's documented per-user limits (`docs/x-target.md`, "Rate limits"): guesses until the
/// headers of a first answer say otherwise.
pub fn seeds() -> Vec<Seed> {
    let window = Duration::minutes(15);
    [
        (Family::Statuses, 100),
        (Family::Reposts, 50),
        (Family::Deletes, 50),
        (Family::Media, 1875),
    ]
    .into_iter()
    .map(|(family, limit)| Seed {
        family,
        limit,
        period: window,
    })
    .collect()
}

/// One X account's calls. See the module docs.
#[derive(Debug)]
pub struct XCalls {
    api: XApi,
    account: Account,
}

impl XCalls {
    /// Calls for target `target` through `api`, budgeted from X's known limits, at
    /// backfill priority with `share` until told otherwise.
    pub fn new(
        api: XApi,
        target: &str,
        clock: Clock,
        cancel: CancellationToken,
        share: f64,
    ) -> Self {
        Self {
            api,
            account: Account::new(target, &seeds(), clock, cancel, share),
        }
    }

    /// The calls underneath.
    pub fn api(&self) -> &XApi {
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

    /// Corrects `family`'s window from an answer's headers.
    fn observe(&self, family: Family, limits: &RateLimits) {
        let now = self.account.now();
        self.account
            .budget()
            .budget
            .observe(family, &limits.window, now);
    }

    /// After a 429: pauses `family` until X said calls resume.
    fn rate_limited(&self, family: Family, resume_at: Option<DateTime<Utc>>) {
        let now = self.account.now();
        let retry_at = resume_at.filter(|t| *t > now).unwrap_or(now + BLIND_PAUSE);
        let headers = RateHeaders {
            retry_at: Some(retry_at),
            ..RateHeaders::default()
        };
        let until = self
            .account
            .budget()
            .budget
            .rate_limited(family, &headers, now);
        warn!(target = %self.account.target(), %family, until = %until, "rate limited by X (429): pausing");
    }

    /// One call of `family`: takes the budget, sends, corrects the budget from the answer's
    /// headers; waits out a 429 (a few times); when `repeatable`, retries a server error
    /// or a broken connection. `family` `None` takes nothing (X limits such a call per
    /// endpoint, and it is rare next to the posts that need it: a read, an alt text).
    ///
    /// # Errors
    /// What X's answer means ([`XError`]); a 429 still there after the waits becomes
    /// [`XError::RateLimited`], a stop request [`XError::Interrupted`].
    pub async fn call<T, F>(
        &self,
        family: Option<Family>,
        repeatable: bool,
        request: impl Fn() -> F,
    ) -> Result<T, XError>
    where
        F: Future<Output = Result<Answered<T>, Failed>>,
    {
        let (mut waits, mut retries) = (0, 0);
        loop {
            if let Some(family) = family {
                self.account
                    .take(family)
                    .await
                    .map_err(|_| XError::Interrupted)?;
            }
            let failed = match request().await {
                Ok(answered) => {
                    if let Some(family) = family {
                        self.observe(family, &answered.limits);
                    }
                    return Ok(answered.value);
                }
                Err(failed) => failed,
            };
            if let Some(family) = family {
                self.observe(family, &failed.limits);
            }
            match failed.error {
                XError::RateLimited { resume_at } if waits < MAX_RATE_WAITS => {
                    waits += 1;
                    if let Some(family) = family {
                        // The family's window is paused: taking it again waits.
                        self.rate_limited(family, resume_at);
                    } else {
                        let now = self.account.now();
                        let until = resume_at.filter(|t| *t > now).unwrap_or(now + BLIND_PAUSE);
                        warn!(target = %self.account.target(), until = %until, "rate limited by X (429): waiting");
                        self.account
                            .wait_until(until)
                            .await
                            .map_err(|_| XError::Interrupted)?;
                    }
                }
                XError::Transient { .. }
                | XError::Credentials(CredentialError::RefreshFailed { .. })
                    if repeatable && retries < MAX_RETRIES =>
                {
                    retries += 1;
                    warn!(target = %self.account.target(), error = %failed.error, "X call failed; retrying");
                    self.account
                        .pause(RETRY.jittered(retries))
                        .await
                        .map_err(|_| XError::Interrupted)?;
                }
                error => return Err(error),
            }
        }
    }
}

/// What an error left after [`XCalls::call`] means for the part (`docs/x-target.md`,
/// "Answers"). The classes handled by the caller itself (a duplicate, a refused reply, an
/// unknown outcome) mean this when they reach here.
pub fn target_error(target: &str, now: DateTime<Utc>, error: XError) -> TargetError {
    let auth = |message: String| TargetError::Auth {
        target: target.to_owned(),
        message: format!(
            "{message}; renew the X credentials (`birdbridge auth --target {target}`)"
        ),
    };
    match error {
        XError::Unauthorized { .. } | XError::Forbidden { .. } => auth(error.to_string()),
        XError::Credentials(e) => match e {
            CredentialError::RefreshFailed { .. } | CredentialError::Write { .. } => {
                TargetError::Transient {
                    message: e.to_string(),
                }
            }
            CredentialError::RefreshRefused { .. }
            | CredentialError::Read { .. }
            | CredentialError::Malformed { .. } => auth(e.to_string()),
        },
        // The account cannot be billed: nothing goes until an operator adds credits; the
        // engine keeps the posts waiting and tries again later.
        XError::Billing { .. } => TargetError::Unreachable {
            message: format!("{error}; add credits to the X developer account"),
        },
        XError::RateLimited { resume_at } => TargetError::RateLimited {
            retry_after: resume_at
                .filter(|t| *t > now)
                .unwrap_or(now + Duration::minutes(15)),
        },
        XError::Unreachable { message } => TargetError::Unreachable { message },
        XError::Transient { .. } => TargetError::Transient {
            message: error.to_string(),
        },
        XError::UnknownOutcome { message } => TargetError::UnknownOutcome { message },
        XError::Rejected { status, .. } => TargetError::Rejected {
            status: Some(status),
            message: error.to_string(),
        },
        XError::DuplicateContent { .. } | XError::ReplyRefused { .. } => TargetError::Rejected {
            status: Some(403),
            message: error.to_string(),
        },
        XError::Invalid { .. } | XError::MediaFailed { .. } => TargetError::Rejected {
            status: None,
            message: error.to_string(),
        },
        XError::Interrupted => TargetError::Interrupted,
    }
}
