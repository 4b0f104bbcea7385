//! The HTTP endpoint of `[metrics] listen`: `GET /metrics` (`OpenMetrics` text, which
//! Prometheus scrapes) and `GET /healthz` (200 `ok`, or 503 with one problem per line).
//! Served on its own task until the daemon's cancellation token fires.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Metrics;
use crate::store::Ledger;

/// The content type of `OpenMetrics` text.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone)]
struct Served {
    metrics: Metrics,
    ledger: Arc<Ledger>,
}

/// Serves `metrics` (with the counts of `ledger`) on `listener` until `cancel` fires.
pub fn spawn(
    listener: TcpListener,
    metrics: Metrics,
    ledger: Arc<Ledger>,
    cancel: CancellationToken,
) -> JoinHandle<()> {
    let app = Router::new()
        .route("/metrics", get(scrape))
        .route("/healthz", get(health))
        .with_state(Served { metrics, ledger });
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { cancel.cancelled().await })
            .await;
        if let Err(err) = served {
            tracing::error!(error = %err, "the metrics endpoint stopped");
        }
    })
}

async fn scrape(State(s): State<Served>) -> Response {
    // Reading the ledger blocks: not on the event loop.
    let rendered = tokio::task::spawn_blocking(move || s.metrics.render(&s.ledger)).await;
    match rendered {
        Ok(Ok(text)) => ([(header::CONTENT_TYPE, OPENMETRICS)], text).into_response(),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "metrics: cannot read the ledger");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot read the ledger: {err}\n"),
            )
                .into_response()
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn health(State(s): State<Served>) -> Response {
    let (healthy, problems) = s.metrics.health();
    if healthy {
        (StatusCode::OK, "ok\n").into_response()
    } else {
        let mut text = problems.join("\n");
        text.push('\n');
        (StatusCode::SERVICE_UNAVAILABLE, text).into_response()
    }
}
