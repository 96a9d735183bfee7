//! The daemon's HTTP endpoints: `/metrics` (Prometheus text), `/healthz` (the process is alive),
//! `/readyz` (the first round of reconciles is done and the store answers).
//!
//! The server takes its listener and its shutdown future as arguments, so tests bind
//! `127.0.0.1:0` and stop it at will.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::controller::daemon::Readiness;
use crate::controller::metrics::Metrics;

#[derive(Clone)]
struct Shared {
    metrics: Metrics,
    readiness: Arc<Readiness>,
}

/// Serves the endpoints on `listener` until `shutdown` completes.
///
/// # Errors
/// The server failed to accept connections.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Metrics,
    readiness: Arc<Readiness>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .with_state(Shared { metrics, readiness });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

async fn metrics_text(State(shared): State<Shared>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        shared.metrics.render(),
    )
}

async fn ready(State(shared): State<Shared>) -> impl IntoResponse {
    if shared.readiness.is_ready() {
        (StatusCode::OK, "ready\n".to_owned())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {}\n", shared.readiness.why_not()),
        )
    }
}
