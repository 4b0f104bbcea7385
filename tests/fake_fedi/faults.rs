//! A fault layer in front of the fake server's routes, for the fault matrix: the n-th call
//! of a kind (status post, media upload, status edit, status delete) gets a planned fault
//! instead of, or on top of, the normal answer. Faults "after the write" let the fake store
//! the status first, so the client cannot know whether it went through.
//!
//! A connection reset is a real one: the connection's task unwinds (`resume_unwind`, which
//! prints nothing), hyper drops the socket, and the client sees the connection closed
//! before any answer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// Which calls a fault is counted among.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Call {
    /// `POST /api/v1/statuses`.
    StatusPost,
    /// `POST /api/v2/media`.
    MediaUpload,
    /// `PUT /api/v1/statuses/:id` (an edit).
    StatusEdit,
    /// `DELETE /api/v1/statuses/:id`.
    StatusDelete,
}

impl Call {
    fn of(method: &Method, path: &str) -> Option<Self> {
        match (method.as_str(), path) {
            ("POST", "/api/v1/statuses") => Some(Call::StatusPost),
            ("POST", "/api/v2/media" | "/api/v1/media") => Some(Call::MediaUpload),
            ("PUT", p) if p.starts_with("/api/v1/statuses/") => Some(Call::StatusEdit),
            ("DELETE", p) if p.starts_with("/api/v1/statuses/") => Some(Call::StatusDelete),
            _ => None,
        }
    }
}

/// What goes wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 429, with `Retry-After` seconds or without.
    TooMany { retry_after: Option<u64> },
    /// 503, with `Retry-After` seconds or without.
    Unavailable { retry_after: Option<u64> },
    /// 500 before anything is stored.
    ServerError,
    /// The status is stored, then 500.
    ServerErrorAfterWrite,
    /// The connection is reset before the server stores anything.
    ResetBeforeWrite,
    /// The server stores the status, then the connection is reset.
    ResetAfterWrite,
    /// The server stores the status and answers only after this real delay.
    SlowAfterWrite(Duration),
    /// The server stores the status and answers 200 with a broken JSON body.
    MalformedOk,
    /// 422 "not finished processing", as Mastodon answers while media are processed.
    StillProcessing,
    /// 413, as servers answer for a file over their limit.
    TooLarge,
}

impl Fault {
    /// Whether the normal handler runs (the server stores the write) before the fault.
    fn after_write(&self) -> bool {
        matches!(
            self,
            Fault::ServerErrorAfterWrite
                | Fault::ResetAfterWrite
                | Fault::SlowAfterWrite(_)
                | Fault::MalformedOk
        )
    }
}

#[derive(Debug, Default)]
struct Plan {
    planned: HashMap<(Call, usize), Fault>,
    seen: HashMap<Call, usize>,
    injected: Vec<(Call, usize, Fault)>,
}

/// Something a test runs when a call of a kind arrives, before the server handles it.
type Hook = Arc<dyn Fn() + Send + Sync>;

/// The planned faults of one server, shared with its layer.
#[derive(Clone, Default)]
pub struct Faults {
    plan: Arc<Mutex<Plan>>,
    hooks: Arc<Mutex<HashMap<Call, Hook>>>,
}

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Faults")
            .field("plan", &self.plan)
            .finish_non_exhaustive()
    }
}

impl Faults {
    /// Plans `fault` for the `nth` (1-based) call of `call`.
    pub fn plan(&self, call: Call, nth: usize, fault: Fault) {
        self.plan.lock().unwrap().planned.insert((call, nth), fault);
    }

    /// Runs `hook` whenever a call of `call` arrives, before the server handles it (the
    /// event-loop test stalls the ledger at that instant).
    pub fn on_call(&self, call: Call, hook: impl Fn() + Send + Sync + 'static) {
        self.hooks.lock().unwrap().insert(call, Arc::new(hook));
    }

    /// The faults injected so far, in order.
    pub fn injected(&self) -> Vec<(Call, usize, Fault)> {
        self.plan.lock().unwrap().injected.clone()
    }

    fn next(&self, call: Call) -> Option<Fault> {
        let mut plan = self.plan.lock().unwrap();
        let nth = {
            let seen = plan.seen.entry(call).or_default();
            *seen += 1;
            *seen
        };
        let fault = plan.planned.remove(&(call, nth))?;
        plan.injected.push((call, nth, fault.clone()));
        Some(fault)
    }
}

/// The layer: `axum::middleware::from_fn_with_state(faults, faults::layer)`.
pub async fn layer(State(faults): State<Faults>, req: Request, next: Next) -> Response {
    let Some(call) = Call::of(req.method(), req.uri().path()) else {
        return next.run(req).await;
    };
    let hook = faults.hooks.lock().unwrap().get(&call).cloned();
    if let Some(hook) = hook {
        hook();
    }
    let Some(fault) = faults.next(call) else {
        return next.run(req).await;
    };
    let stored = if fault.after_write() {
        Some(next.run(req).await)
    } else {
        if !matches!(fault, Fault::ResetBeforeWrite) {
            // A real server reads the request before it answers an error (nginx's lingering
            // close for its 413, Rails for everything): answering with the body unread would
            // close the connection on a client still sending it, which then sees a reset
            // instead of the answer, depending on timing.
            let _ = axum::body::to_bytes(req.into_body(), usize::MAX).await;
        }
        None
    };
    match fault {
        Fault::TooMany { retry_after } => with_retry_after(
            StatusCode::TOO_MANY_REQUESTS,
            retry_after,
            json!({"error": "Too many requests"}),
        ),
        Fault::Unavailable { retry_after } => with_retry_after(
            StatusCode::SERVICE_UNAVAILABLE,
            retry_after,
            json!({"error": "Service Unavailable"}),
        ),
        Fault::ServerError | Fault::ServerErrorAfterWrite => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": "We're sorry, but something went wrong on our end."})),
        )
            .into_response(),
        Fault::ResetBeforeWrite | Fault::ResetAfterWrite => {
            drop(stored);
            std::panic::resume_unwind(Box::new("fault layer: connection reset"))
        }
        Fault::SlowAfterWrite(delay) => {
            tokio::time::sleep(delay).await;
            stored.unwrap_or_else(|| StatusCode::OK.into_response())
        }
        Fault::MalformedOk => Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "application/json")
            .body(Body::from("{\"id\": \"1234"))
            .unwrap(),
        Fault::StillProcessing => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"error": "Cannot attach files that have not finished processing. Try again in a moment!"})),
        )
            .into_response(),
        Fault::TooLarge => (
            StatusCode::PAYLOAD_TOO_LARGE,
            Json(json!({"error": "File is too large"})),
        )
            .into_response(),
    }
}

fn with_retry_after(
    status: StatusCode,
    retry_after: Option<u64>,
    body: serde_json::Value,
) -> Response {
    let mut response = (status, Json(body)).into_response();
    if let Some(secs) = retry_after {
        response
            .headers_mut()
            .insert("retry-after", HeaderValue::from(secs));
    }
    response
}
