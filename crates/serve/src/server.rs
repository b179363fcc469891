//! The HTTP side: routes, request bounds, error answers, metrics and graceful shutdown.
//!
//! | route | answer |
//! |---|---|
//! | `POST /predict` | one result per input, each equal to `evaluate predict`'s line for it |
//! | `GET /health` | `{"status": "ok"}` while the model thread runs and no batch has run past the request timeout; else 503 `stuck` / `down` |
//! | `GET /info` | checkpoint, artifacts, task, labels, thresholds, rejection rule, limits |
//! | `GET /metrics` | Prometheus text format |
//! | `GET /` | a small page to try the model |
//!
//! Errors are JSON `{"error": "…"}`: 400 (not UTF-8), 413 (body over the limit), 422 (not
//! the expected JSON), 503 with `Retry-After` (queue full), 504 (timeout), 404, 405.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::config::{Limits, ModelSpec};
use crate::error::{Result, ServeError};
use crate::info::info;
use crate::prometheus::Metrics;
use crate::request::{Accepts, Input, parse};
use crate::worker::{Health, Job, Liveness, Loaded, Submitter, Worker};

/// The page served at `/`.
const PAGE: &str = include_str!("page.html");

/// How long [`Server::run`] waits for the model worker to finish after the last connection.
const WORKER_STOP_WAIT: Duration = Duration::from_secs(60);

/// The routes metrics are kept for; anything else counts as `other`.
const ROUTES: &[&str] = &["/", "/predict", "/health", "/info", "/metrics"];

struct AppState {
    submitter: Submitter,
    liveness: Arc<Liveness>,
    loaded: Loaded,
    limits: Limits,
    info: Value,
    metrics: Arc<Metrics>,
}

/// A loaded model bound to a socket, ready to [`run`](Server::run).
pub struct Server {
    listener: TcpListener,
    state: Arc<AppState>,
    worker: Worker,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.listener.local_addr().ok())
            .field("limits", &self.state.limits)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Loads the model (on its worker thread) and binds `addr` (port 0: any free port).
    pub async fn bind(spec: &ModelSpec, limits: Limits, addr: SocketAddr) -> Result<Self> {
        if limits.max_body_bytes == 0 || limits.max_batch_tokens == 0 || limits.queue == 0 {
            return Err(ServeError::Config(
                "--max-body-bytes, --max-batch-tokens and --queue must be at least 1".into(),
            ));
        }
        let metrics = Arc::new(Metrics::default());
        let (worker, loaded) = {
            let spec = spec.clone();
            let metrics = Arc::clone(&metrics);
            tokio::task::spawn_blocking(move || Worker::start(&spec, limits, metrics))
                .await
                .map_err(|e| ServeError::Predict(format!("loading the model: {e}")))??
        };
        let listener = TcpListener::bind(addr).await?;
        let state = Arc::new(AppState {
            submitter: worker.submitter(),
            liveness: worker.liveness(),
            info: info(spec, &loaded, &limits),
            loaded,
            limits,
            metrics,
        });
        Ok(Self {
            listener,
            state,
            worker,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// Serves until `shutdown` completes, then stops accepting, finishes the requests in
    /// flight (the model answers what is queued) and returns.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<()> {
        let Self {
            listener,
            state,
            worker,
        } = self;
        let app = router(Arc::clone(&state));
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await?;
        tracing::info!("connections closed; stopping the model worker");
        drop(state);
        let stopped = tokio::task::spawn_blocking(move || worker.stop());
        if tokio::time::timeout(WORKER_STOP_WAIT, stopped)
            .await
            .is_err()
        {
            tracing::warn!("the model worker did not stop within {WORKER_STOP_WAIT:?}");
        }
        Ok(())
    }
}

fn router(state: Arc<AppState>) -> Router {
    let max_body = state.limits.max_body_bytes;
    Router::new()
        .route("/", get(page))
        .route("/predict", post(predict))
        .route("/health", get(health))
        .route("/info", get(info_route))
        .route("/metrics", get(metrics_route))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn_with_state(Arc::clone(&state), count))
        .with_state(state)
}

/// Counts every answered request by route and status, with its latency.
async fn count(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let t0 = Instant::now();
    let path = req.uri().path();
    let route = ROUTES
        .iter()
        .find(|r| **r == path)
        .copied()
        .unwrap_or("other");
    let method = req.method().clone();
    let response = next.run(req).await;
    let status = response.status().as_u16();
    let seconds = t0.elapsed().as_secs_f64();
    state.metrics.request(route, status, seconds);
    tracing::debug!(%method, route, status, ms = seconds * 1e3, "request");
    response
}

fn error_response(err: &ServeError) -> Response {
    let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status.is_server_error() && !matches!(err, ServeError::Busy { .. }) {
        tracing::warn!(status = status.as_u16(), "{err}");
    }
    let mut response = (
        status,
        json_response(&serde_json::json!({ "error": err.to_string() })),
    )
        .into_response();
    if matches!(err, ServeError::Busy { .. }) {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

fn json_response(value: &Value) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

async fn predict(
    State(state): State<Arc<AppState>>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Response {
    match answer(&state, body).await {
        Ok(value) => json_response(&value),
        Err(err) => error_response(&err),
    }
}

async fn answer(
    state: &Arc<AppState>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Value> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ServeError::TooLarge {
                limit: state.limits.max_body_bytes,
            }
        } else {
            ServeError::BadRequest(format!(
                "the request body could not be read: {}",
                rejection.body_text()
            ))
        }
    })?;
    let accepts = Accepts {
        task: state.loaded.task,
        ranking: state.loaded.ranking,
    };
    let request = parse(&body, accepts)?;
    drop(body);
    let single = request.single;
    let limits = state.limits;
    let work = async {
        let counting = Arc::clone(state);
        let (inputs, tokens) = tokio::task::spawn_blocking(move || {
            let l = &counting.loaded;
            let tokens = request
                .inputs
                .iter()
                .map(|i: &Input| i.tokens(&l.encoder, l.task))
                .sum::<usize>();
            (request.inputs, tokens)
        })
        .await
        .map_err(|e| ServeError::Predict(format!("counting sub-words: {e}")))?;
        let (reply, results) = oneshot::channel();
        state.submitter.submit(Job {
            inputs,
            tokens,
            reply,
        })?;
        results.await.map_err(|_| ServeError::WorkerGone)?
    };
    let results = tokio::time::timeout(limits.timeout(), work)
        .await
        .map_err(|_| ServeError::Timeout {
            ms: limits.timeout_ms,
        })??;
    Ok(if single {
        results.into_iter().next().unwrap_or(Value::Null)
    } else {
        Value::Array(results)
    })
}

async fn page() -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE).into_response()
}

/// 200 while the model answers; 503 when its thread has ended or one batch has run longer
/// than a request may wait (a load balancer should then route elsewhere).
async fn health(State(state): State<Arc<AppState>>) -> Response {
    let health = state
        .liveness
        .check_at(Instant::now(), state.limits.timeout());
    let (status, body) = match health {
        Health::Ok { busy } => (
            StatusCode::OK,
            serde_json::json!({ "status": "ok", "batch_seconds": busy.as_secs_f64() }),
        ),
        Health::Stuck { busy } => (
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({
                "status": "stuck",
                "batch_seconds": busy.as_secs_f64(),
                "error": format!("the model has been on one batch for {:.1} s, longer than the {} ms request timeout", busy.as_secs_f64(), state.limits.timeout_ms),
            }),
        ),
        Health::Down => (
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({ "status": "down", "error": "the model thread has ended" }),
        ),
    };
    let mut response = json_response(&body);
    *response.status_mut() = status;
    response
}

async fn info_route(State(state): State<Arc<AppState>>) -> Response {
    json_response(&state.info)
}

async fn metrics_route(State(state): State<Arc<AppState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

async fn not_found(req: Request<Body>) -> Response {
    error_response(&ServeError::NotFound(req.uri().path().to_string()))
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C: draining"),
        () = term => tracing::info!("SIGTERM: draining"),
    }
}
