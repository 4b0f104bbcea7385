//! What X's answers mean for the caller (`docs/x-target.md`, "Answers"): every failure is
//! one [`XError`] variant, named after what the caller does next, and every answer's
//! rate-limit headers come back as [`RateLimits`] in the budget's own form
//! ([`crate::budget::RateHeaders`]), so the caller feeds them to the same `budget` as the
//! fediverse target's.
//!
//! X words its errors two ways: RFC 7807 problems (`type`, `title`, `detail`, `status`, at
//! the top level or in an `errors` list) and the older `{"errors":[{"code","message"}]}`.
//! Both are read here, field by field.

use chrono::{DateTime, TimeZone, Utc};
use reqwest::header::HeaderMap;
use serde_json::Value;

use super::oauth2::CredentialError;
use crate::budget::RateHeaders;

/// The rate-limit headers of one answer: the endpoint's window (`x-rate-limit-*`, 15
/// minutes on most write endpoints) and the 24-hour windows X also sends on posts
/// (`x-user-limit-24hour-*`, `x-app-limit-24hour-*`; seen in practice, not documented).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateLimits {
    /// The endpoint's window.
    pub window: RateHeaders,
    /// The account's 24-hour window, when sent.
    pub user_day: Option<RateHeaders>,
    /// The app's 24-hour window, when sent.
    pub app_day: Option<RateHeaders>,
}

impl RateLimits {
    /// Reads the headers leniently (a missing or unreadable header is `None`). X's resets
    /// are epoch seconds; `Retry-After`, when a proxy sends one, is read against `now`.
    pub fn parse(headers: &HeaderMap, now: DateTime<Utc>) -> Self {
        let read = |prefix: &str| {
            let number = |name: &str| {
                headers
                    .get(format!("{prefix}-{name}"))
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<i64>().ok())
            };
            RateHeaders {
                limit: number("limit").and_then(|n| u32::try_from(n).ok()),
                remaining: number("remaining").and_then(|n| u32::try_from(n).ok()),
                reset_at: number("reset").and_then(|s| Utc.timestamp_opt(s, 0).single()),
                retry_at: None,
            }
        };
        let mut window = read("x-rate-limit");
        window.retry_at = headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u32>().ok())
            .map(|s| now + chrono::Duration::seconds(i64::from(s)));
        let day = |prefix: &str| Some(read(prefix)).filter(RateHeaders::any);
        Self {
            window,
            user_day: day("x-user-limit-24hour"),
            app_day: day("x-app-limit-24hour"),
        }
    }

    /// After a 429: when calls may resume. The latest reset among the windows that are
    /// used up (a spent 24-hour window outlasts the 15-minute one), else `Retry-After`,
    /// else the endpoint window's reset; `None` when X named no time.
    pub fn resume_at(&self) -> Option<DateTime<Utc>> {
        let spent = [
            Some(&self.window),
            self.user_day.as_ref(),
            self.app_day.as_ref(),
        ]
        .into_iter()
        .flatten()
        .filter(|w| w.remaining == Some(0))
        .filter_map(|w| w.reset_at)
        .max();
        spent.or(self.window.retry_at).or(self.window.reset_at)
    }
}

/// A call's success, with the answer's rate limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answered<T> {
    /// What X answered.
    pub value: T,
    /// The answer's rate-limit headers.
    pub limits: RateLimits,
}

/// A call's failure, with the answer's rate limits when there was an answer (empty
/// otherwise).
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct Failed {
    /// What went wrong, as what to do next.
    pub error: XError,
    /// The answer's rate-limit headers (boxed: a failure is passed around by value).
    pub limits: Box<RateLimits>,
}

impl From<XError> for Failed {
    fn from(error: XError) -> Self {
        Self {
            error,
            limits: Box::default(),
        }
    }
}

/// Why a call failed; the variant says what the caller does. Messages are X's own (cut to
/// a line) and never contain a credential.
#[derive(Debug, thiserror::Error)]
pub enum XError {
    /// 401: X refused the credentials. Stop writing to this account until they are renewed
    /// (an OAuth 2.0 token was already refreshed once).
    #[error("X refused the credentials (HTTP 401): {message}")]
    Unauthorized {
        /// X's message.
        message: String,
    },
    /// The credentials could not be used or renewed (OAuth 2.0 refresh, token file).
    #[error(transparent)]
    Credentials(#[from] CredentialError),
    /// 403 "duplicate content": X has a post with this text. It may be ours from an attempt
    /// whose answer was lost, or an older post: count it as posted only once reading the
    /// account's recent posts finds it, else treat it as refused.
    #[error("X refused a duplicate of an existing post (HTTP 403): {message}")]
    DuplicateContent {
        /// X's message.
        message: String,
    },
    /// 403 on a reply or quote: X allows an app's replies and quotes only where the parent's
    /// author summoned the account. A thread falls back to a post that replies to nothing.
    #[error("X refused the reply or quote (HTTP 403): {message}")]
    ReplyRefused {
        /// X's message.
        message: String,
    },
    /// Another 403: the app or token lacks a permission (read-only app, tokens minted before
    /// write access, a plan without this feature). Nothing will work until an operator acts.
    #[error("X forbids this call (HTTP 403{}): {message}", problem.as_deref().map(|p| format!(", {p}")).unwrap_or_default())]
    Forbidden {
        /// X's message.
        message: String,
        /// The problem `type`, when X named one.
        problem: Option<String>,
    },
    /// 402, or a 429 saying the usage cap is reached: the account cannot be billed. Hold
    /// writes until an operator adds credits or raises the cap.
    #[error("X cannot bill this call (HTTP {status}): {message}")]
    Billing {
        /// HTTP status.
        status: u16,
        /// X's message.
        message: String,
    },
    /// 400 and other 4xx: X refused this request as it is (too long, bad media id, ...).
    /// Sending it again unchanged will fail again.
    #[error("X refused the request (HTTP {status}{}): {message}", problem.as_deref().map(|p| format!(", {p}")).unwrap_or_default())]
    Rejected {
        /// HTTP status.
        status: u16,
        /// X's message.
        message: String,
        /// The problem `type`, when X named one.
        problem: Option<String>,
    },
    /// 429: wait until `resume_at` (the answer's limits say which window ran out).
    #[error("rate limited by X{}", resume_at.map(|t| format!(" until {t}")).unwrap_or_default())]
    RateLimited {
        /// When calls may resume, when X said.
        resume_at: Option<DateTime<Utc>>,
    },
    /// No connection could be made: X never saw the request.
    #[error("cannot reach X: {message}")]
    Unreachable {
        /// What failed.
        message: String,
    },
    /// A server error or a network failure on a call that is safe to repeat: retry later.
    #[error("temporary failure at X{}: {message}", status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
    Transient {
        /// HTTP status, when X answered.
        status: Option<u16>,
        /// What failed.
        message: String,
    },
    /// A post or repost whose outcome is unknown (timed out, the connection broke after
    /// sending, a 5xx, or a success whose body could not be read). X has no idempotency key:
    /// read the account's recent posts before sending it again.
    #[error("outcome at X unknown: {message}")]
    UnknownOutcome {
        /// What happened.
        message: String,
    },
    /// Refused before sending: the request breaks one of X's documented limits (media size,
    /// alt text length, attachments per post).
    #[error("not sent to X: {message}")]
    Invalid {
        /// Which limit.
        message: String,
    },
    /// X could not process an uploaded media file (`processing_info.state = failed`), or
    /// did not finish within the wait allowed.
    #[error("X could not process the media: {message}")]
    MediaFailed {
        /// X's reason, when it gave one.
        message: String,
    },
    /// The run was cancelled while waiting (for media processing): nothing more was sent.
    #[error("stopped while waiting for X")]
    Interrupted,
}

/// What kind of call an answer belongs to, which decides some classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CallKind {
    /// A new post or a repost: billed, not idempotent.
    Write {
        /// It replies to or quotes a post (a 403 may be X's reply rule).
        reply_or_quote: bool,
    },
    /// Anything safe to repeat (reads, media, metadata, deletes).
    Repeatable,
}

/// X's problem, read from either error shape.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Problem {
    /// RFC 7807 `type`.
    pub kind: Option<String>,
    /// `title`.
    pub title: Option<String>,
    /// `detail`, or the legacy `message`.
    pub detail: Option<String>,
    /// The legacy numeric `code`.
    pub code: Option<i64>,
}

impl Problem {
    /// Reads a problem from an error body: top-level RFC 7807 fields, else the first entry
    /// of `errors` (either shape).
    pub fn read(body: &Value) -> Self {
        let text = |v: &Value, k: &str| {
            v[k].as_str()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let from = |v: &Value| Problem {
            kind: text(v, "type"),
            title: text(v, "title"),
            detail: text(v, "detail").or_else(|| text(v, "message")),
            code: v["code"].as_i64(),
        };
        let first = body["errors"].as_array().and_then(|e| e.first()).map(from);
        let mut top = from(body);
        if top.kind.is_none() && top.detail.is_none() {
            return first.unwrap_or(top);
        }
        // X's invalid-request problem says what was wrong in its `errors` list.
        if let Some(specific) = first.and_then(|f| f.detail) {
            if top.detail.as_deref() != Some(specific.as_str()) {
                top.detail = Some(match top.detail {
                    Some(general) => format!("{general} ({specific})"),
                    None => specific,
                });
            }
        }
        top
    }

    /// The message for a person: `detail`, else `title`, else the body itself, as one line
    /// of at most 300 characters.
    fn message(&self, body: &Value, status: u16) -> String {
        let text = self
            .detail
            .clone()
            .or_else(|| self.title.clone())
            .unwrap_or_else(|| match body {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            });
        let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let cut: String = line.chars().take(300).collect();
        if cut.is_empty() {
            format!("HTTP {status}")
        } else {
            cut
        }
    }

    fn says(&self, needle: &str) -> bool {
        [&self.detail, &self.title]
            .into_iter()
            .flatten()
            .any(|t| t.to_lowercase().contains(needle))
    }
}

/// Legacy code of "Status is a duplicate".
const DUPLICATE_CODE: i64 = 187;
/// Wordings X uses when its reply rule refuses a reply (third-party reports, 2026).
const REPLY_RULE: [&str; 4] = [
    "only reply to or quote posts where you are mentioned",
    "reply to this conversation is not allowed",
    "not been mentioned or otherwise engaged",
    "restricted who can reply",
];

/// The error for a non-success answer of a call of `kind`.
pub(super) fn classify(kind: CallKind, status: u16, body: &Value, limits: &RateLimits) -> XError {
    let problem = Problem::read(body);
    let message = problem.message(body, status);
    let write = matches!(kind, CallKind::Write { .. });
    match status {
        401 => XError::Unauthorized { message },
        402 => XError::Billing { status, message },
        403 if problem.says("duplicate") || problem.code == Some(DUPLICATE_CODE) => {
            XError::DuplicateContent { message }
        }
        403 if matches!(
            kind,
            CallKind::Write {
                reply_or_quote: true
            }
        ) && (REPLY_RULE.iter().any(|w| problem.says(w))
            || problem
                .kind
                .as_deref()
                .is_some_and(|k| k.ends_with("/not-authorized-for-resource"))) =>
        {
            XError::ReplyRefused { message }
        }
        403 => XError::Forbidden {
            message,
            problem: problem.kind,
        },
        429 if problem
            .kind
            .as_deref()
            .is_some_and(|k| k.ends_with("/usage-capped")) =>
        {
            XError::Billing { status, message }
        }
        429 => XError::RateLimited {
            resume_at: limits.resume_at(),
        },
        500..=599 if write => XError::UnknownOutcome {
            message: format!("HTTP {status}: {message}"),
        },
        500..=599 => XError::Transient {
            status: Some(status),
            message,
        },
        _ => XError::Rejected {
            status,
            message,
            problem: problem.kind,
        },
    }
}

/// The error for a call that got no answer.
pub(super) fn transport(kind: CallKind, e: &reqwest::Error) -> XError {
    let message = crate::http::error_text(e);
    if e.is_connect() {
        return XError::Unreachable { message };
    }
    let message = if e.is_timeout() {
        "timed out".to_owned()
    } else {
        message
    };
    match kind {
        CallKind::Write { .. } => XError::UnknownOutcome { message },
        CallKind::Repeatable => XError::Transient {
            status: None,
            message,
        },
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;
    use rstest::rstest;
    use serde_json::json;

    use super::*;

    const CREATE: CallKind = CallKind::Write {
        reply_or_quote: false,
    };
    const REPLY: CallKind = CallKind::Write {
        reply_or_quote: true,
    };

    fn class(kind: CallKind, status: u16, body: &Value) -> XError {
        classify(kind, status, body, &RateLimits::default())
    }

    #[test]
    fn duplicate_content_has_its_own_class_in_both_shapes() {
        let v2 = json!({"type": "about:blank", "title": "Forbidden", "status": 403,
            "detail": "You are not allowed to create a Tweet with duplicate content."});
        assert!(matches!(
            class(CREATE, 403, &v2),
            XError::DuplicateContent { .. }
        ));
        let legacy = json!({"errors": [{"code": 187, "message": "Status is a duplicate."}]});
        assert!(matches!(
            class(CREATE, 403, &legacy),
            XError::DuplicateContent { .. }
        ));
    }

    #[test]
    fn a_refused_reply_is_told_from_a_missing_permission() {
        let rule = json!({"type": "https://api.x.com/2/problems/not-authorized-for-resource",
            "title": "Forbidden", "status": 403,
            "detail": "You can only reply to or quote posts where you are mentioned or are the author."});
        assert!(matches!(
            class(REPLY, 403, &rule),
            XError::ReplyRefused { .. }
        ));
        // The same answer to a post that replies to nothing is a permission problem.
        assert!(matches!(
            class(CREATE, 403, &rule),
            XError::Forbidden { .. }
        ));
        let perms = json!({"type": "https://api.x.com/2/problems/oauth1-permissions",
            "title": "Forbidden", "detail": "Your client app is not configured with the appropriate oauth1 app permissions for this endpoint."});
        match class(REPLY, 403, &perms) {
            XError::Forbidden { problem, message } => {
                assert_eq!(
                    problem.as_deref(),
                    Some("https://api.x.com/2/problems/oauth1-permissions")
                );
                assert!(message.starts_with("Your client app"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[rstest]
    #[case(401, "Unauthorized")]
    #[case(402, "Billing")]
    #[case(400, "Rejected")]
    #[case(404, "Rejected")]
    #[case(503, "UnknownOutcome")]
    fn statuses_of_a_write(#[case] status: u16, #[case] expected: &str) {
        let body = json!({"title": "x", "detail": "y", "type": "about:blank", "status": status});
        let got = format!("{:?}", class(CREATE, status, &body));
        assert!(got.starts_with(expected), "{got}");
    }

    #[test]
    fn a_server_error_on_a_read_is_transient() {
        let e = class(CallKind::Repeatable, 503, &json!("Service Unavailable"));
        assert!(
            matches!(
                e,
                XError::Transient {
                    status: Some(503),
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn the_usage_cap_is_a_billing_matter_not_a_rate_limit() {
        let body = json!({"title": "UsageCapExceeded", "detail": "Usage cap exceeded: Monthly product cap",
            "type": "https://api.twitter.com/2/problems/usage-capped"});
        assert!(matches!(
            class(CREATE, 429, &body),
            XError::Billing { status: 429, .. }
        ));
    }

    #[test]
    fn a_bad_request_keeps_x_message() {
        let body = json!({"errors": [{"message": "Your Tweet text is too long."}],
            "title": "Invalid Request", "detail": "One or more parameters to your request was invalid.",
            "type": "https://api.twitter.com/2/problems/invalid-request"});
        match class(CREATE, 400, &body) {
            XError::Rejected {
                status: 400,
                message,
                problem,
            } => {
                assert_eq!(
                    message,
                    "One or more parameters to your request was invalid. (Your Tweet text is too long.)"
                );
                assert!(problem.unwrap().ends_with("invalid-request"));
            }
            other => panic!("{other:?}"),
        }
        let legacy =
            json!({"errors": [{"code": 186, "message": "Tweet needs to be a bit shorter."}]});
        match class(CREATE, 403, &legacy) {
            XError::Forbidden { message, .. } => {
                assert_eq!(message, "Tweet needs to be a bit shorter.");
            }
            other => panic!("{other:?}"),
        }
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn a_429_resumes_at_the_latest_spent_window() {
        let now = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let h = headers(&[
            ("x-rate-limit-limit", "100"),
            ("x-rate-limit-remaining", "0"),
            ("x-rate-limit-reset", "1800000900"),
            ("x-user-limit-24hour-limit", "3000"),
            ("x-user-limit-24hour-remaining", "0"),
            ("x-user-limit-24hour-reset", "1800050000"),
        ]);
        let limits = RateLimits::parse(&h, now);
        assert_eq!(limits.window.limit, Some(100));
        assert_eq!(
            limits.window.reset_at,
            Utc.timestamp_opt(1_800_000_900, 0).single()
        );
        assert!(limits.app_day.is_none());
        assert_eq!(
            limits.resume_at(),
            Utc.timestamp_opt(1_800_050_000, 0).single()
        );
        match classify(CREATE, 429, &json!({"title": "Too Many Requests"}), &limits) {
            XError::RateLimited { resume_at } => assert_eq!(resume_at, limits.resume_at()),
            other => panic!("{other:?}"),
        }
        // Only the endpoint window spent: its reset.
        let h = headers(&[
            ("x-rate-limit-remaining", "0"),
            ("x-rate-limit-reset", "1800000900"),
        ]);
        assert_eq!(
            RateLimits::parse(&h, now).resume_at(),
            Utc.timestamp_opt(1_800_000_900, 0).single()
        );
        // Nothing said: no time.
        assert_eq!(RateLimits::parse(&HeaderMap::new(), now).resume_at(), None);
    }

    #[test]
    fn long_messages_become_one_short_line() {
        let body = json!({"detail": format!("first\nsecond {}", "x".repeat(400))});
        let XError::Rejected { message, .. } = class(CREATE, 400, &body) else {
            panic!()
        };
        assert!(message.starts_with("first second"));
        assert_eq!(message.chars().count(), 300);
    }
}
