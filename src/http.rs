//! The HTTP side (axum, HTTP/1): `GET /metrics`, `GET /healthz`, `GET /readyz`, and the JSON
//! control API with which a SIP proxy or B2BUA anchors chat sessions here (RFC 7701 §5.2: the
//! focus answers the participant's SDP offer).
//!
//! | Route | Does |
//! |---|---|
//! | `POST /v1/rooms/{room}/participants` | `{"participant": URI, "sdp": offer}` → 201 `{"id", "room", "sdp": answer, "path"}` |
//! | `DELETE /v1/participants/{id}` | removes the session → 204 |
//! | `GET /v1/rooms` | `{"rooms": [names]}` |
//! | `GET /v1/rooms/{room}` | `{"name", "uri", "participants": [{"uri", "nickname"}], "sessions"}` |
//! | `POST /v1/rooms` | `{"name", policy keys...}` → 201 |
//! | `DELETE /v1/rooms/{room}` | removes the room and its sessions → 204 |
//!
//! The control API needs `Authorization: Bearer <http.token>` (401 otherwise). Every error is
//! JSON: `{"error": reason}`, and for a refused join also the SIP status a focus would answer
//! (`"sip_status"`: 404, 486, 488, ...).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use msrp_mixer::server::{JoinFailure, MixerHandle};
use prometheus::Registry;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::config::{Config, RoomEntry, valid_room_name};
use crate::metrics::DaemonMetrics;

/// What the handlers share.
#[derive(Clone)]
pub struct Api {
    /// The chat rooms.
    pub mixer: MixerHandle,
    /// Everything `/metrics` shows.
    pub registry: Registry,
    /// The daemon's counters.
    pub metrics: Arc<DaemonMetrics>,
    /// The configuration (the token, room defaults).
    pub config: Arc<Config>,
    /// `false` once shutdown has begun: `/readyz` answers 503.
    pub ready: Arc<AtomicBool>,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api").finish_non_exhaustive()
    }
}

/// Serves `app` on `listener` (HTTP/1.1) until `stop` turns true. A client must send each
/// request's header block within `header_timeout`, on a new connection as on a kept-alive one,
/// or its connection is closed (`axum::serve` sets no such limit). On stop the listener
/// closes, idle connections close, and requests in progress finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    header_timeout: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let (closing_tx, closing_rx) = tokio::sync::watch::channel(false);
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.wait_for(|s| *s) => break,
        };
        let Ok((stream, _)) = accepted else {
            // EMFILE and the like: wait a little instead of spinning.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let mut closing = closing_rx.clone();
        conns.spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(header_timeout);
            let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => return,
                _ = closing.wait_for(|c| *c) => conn.as_mut().graceful_shutdown(),
            }
            let _ = conn.await;
        });
        while conns.try_join_next().is_some() {}
    }
    drop(listener);
    let _ = closing_tx.send(true);
    while conns.join_next().await.is_some() {}
}

/// The router.
pub fn router(api: Api) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/v1/rooms", get(list_rooms).post(create_room))
        .route("/v1/rooms/{room}", get(show_room).delete(delete_room))
        .route("/v1/rooms/{room}/participants", post(join))
        .route("/v1/participants/{id}", delete(leave))
        .fallback(not_found)
        .with_state(api)
}

/// An error answer: its status, its reason, and for a refused join the SIP status a focus
/// would answer. Written as `{"error": reason[, "sip_status": n]}`; a 401 also carries
/// `WWW-Authenticate: Bearer`.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    reason: String,
    sip_status: Option<u16>,
}

impl ApiError {
    fn new(status: StatusCode, reason: impl Into<String>) -> ApiError {
        ApiError {
            status,
            reason: reason.into(),
            sip_status: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = match self.sip_status {
            Some(sip) => json!({ "error": self.reason, "sip_status": sip }),
            None => json!({ "error": self.reason }),
        };
        let mut r = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"msrpd\""),
            );
        }
        r
    }
}

/// A handler's outcome.
type Outcome = Result<Response, ApiError>;

/// Counts and returns a response.
fn done(api: &Api, route: &str, r: impl IntoResponse) -> Response {
    let r = r.into_response();
    api.metrics.http(route, r.status().as_u16());
    r
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such route")
}

async fn metrics(State(api): State<Api>) -> Response {
    let body = crate::metrics::encode(&api.registry);
    let r = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        body,
    )
        .into_response();
    done(&api, "/metrics", r)
}

async fn healthz(State(api): State<Api>) -> Response {
    done(&api, "/healthz", (StatusCode::OK, "ok\n").into_response())
}

async fn readyz(State(api): State<Api>) -> Response {
    let r = if api.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response()
    };
    done(&api, "/readyz", r)
}

/// Checks the bearer token.
fn authorize(api: &Api, headers: &HeaderMap) -> Result<(), ApiError> {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        Some(t) if constant_time_eq(t.as_bytes(), api.config.http.token.as_bytes()) => Ok(()),
        _ => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing or wrong bearer token (Authorization: Bearer <http.token>)",
        )),
    }
}

/// Compares without stopping at the first difference (the token is a secret).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The body of a JSON request, or the 400 that says why it is not one.
fn body<T>(b: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    b.map(|Json(v)| v)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))
}

/// `POST /v1/rooms/{room}/participants`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JoinRequest {
    /// The participant's URI (`sip:alice@example.com`).
    participant: String,
    /// The SDP offer (RFC 4975 §8, RFC 7701 §5.2).
    sdp: String,
}

async fn join(
    State(api): State<Api>,
    Path(room): Path<String>,
    headers: HeaderMap,
    req: Result<Json<JoinRequest>, JsonRejection>,
) -> Response {
    let r = async {
        authorize(&api, &headers)?;
        let req = body(req)?;
        let j = api
            .mixer
            .join(&room, &req.participant, req.sdp.as_bytes())
            .await
            .map_err(|e| join_error(&e))?;
        tracing::info!(room = %j.room, id = %j.id, participant = %req.participant, "joined");
        let answer = json!({
            "id": j.id,
            "room": j.room,
            "sdp": String::from_utf8_lossy(&j.answer),
            "path": j.local.as_str(),
        });
        Outcome::Ok((StatusCode::CREATED, Json(answer)).into_response())
    }
    .await;
    done(&api, "/v1/rooms/{room}/participants", r)
}

/// The answer to a refused join or room creation: the HTTP status that fits, the reason, and
/// the SIP status.
fn join_error(e: &JoinFailure) -> ApiError {
    let status = match e {
        JoinFailure::UnknownRoom(_) => StatusCode::NOT_FOUND,
        JoinFailure::BadRoomName(_) | JoinFailure::BadParticipant(_) => StatusCode::BAD_REQUEST,
        JoinFailure::Full(_) | JoinFailure::RoomExists(_) => StatusCode::CONFLICT,
        JoinFailure::Offer(msrp_mixer::join::JoinError::Sdp(_)) => StatusCode::BAD_REQUEST,
        JoinFailure::Offer(_) => StatusCode::UNPROCESSABLE_ENTITY,
        JoinFailure::Closed => StatusCode::SERVICE_UNAVAILABLE,
    };
    ApiError {
        status,
        reason: e.to_string(),
        sip_status: Some(e.sip_status()),
    }
}

async fn leave(State(api): State<Api>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let r = async {
        authorize(&api, &headers)?;
        if !api.mixer.leave(&id).await {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no participant session {id:?}"),
            ));
        }
        tracing::info!(%id, "left");
        Outcome::Ok(StatusCode::NO_CONTENT.into_response())
    }
    .await;
    done(&api, "/v1/participants/{id}", r)
}

async fn list_rooms(State(api): State<Api>, headers: HeaderMap) -> Response {
    let r = authorize(&api, &headers)
        .map(|()| Json(json!({ "rooms": api.mixer.room_names() })).into_response());
    done(&api, "/v1/rooms", r)
}

async fn show_room(
    State(api): State<Api>,
    Path(room): Path<String>,
    headers: HeaderMap,
) -> Response {
    let r = async {
        authorize(&api, &headers)?;
        let info = api
            .mixer
            .room(&room)
            .await
            .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no room {room:?}")))?;
        let participants: Vec<Value> = info
            .participants
            .iter()
            .map(|(uri, nick)| json!({ "uri": uri, "nickname": nick }))
            .collect();
        let body = json!({
            "name": info.name,
            "uri": info.uri,
            "participants": participants,
            "sessions": info.sessions,
        });
        Outcome::Ok(Json(body).into_response())
    }
    .await;
    done(&api, "/v1/rooms/{room}", r)
}

async fn create_room(
    State(api): State<Api>,
    headers: HeaderMap,
    req: Result<Json<RoomEntry>, JsonRejection>,
) -> Response {
    let r = async {
        authorize(&api, &headers)?;
        let entry = body(req)?;
        if !valid_room_name(&entry.name) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("{:?} is not a room name", entry.name),
            ));
        }
        let policy = api.config.room_policy(&entry);
        api.mixer
            .create_room(&entry.name, policy)
            .map_err(|e| join_error(&e))?;
        tracing::info!(room = %entry.name, "room created");
        Outcome::Ok((StatusCode::CREATED, Json(json!({ "name": entry.name }))).into_response())
    }
    .await;
    done(&api, "/v1/rooms", r)
}

async fn delete_room(
    State(api): State<Api>,
    Path(room): Path<String>,
    headers: HeaderMap,
) -> Response {
    let r = async {
        authorize(&api, &headers)?;
        if !api.mixer.delete_room(&room).await {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no room {room:?}"),
            ));
        }
        tracing::info!(%room, "room deleted");
        Outcome::Ok(StatusCode::NO_CONTENT.into_response())
    }
    .await;
    done(&api, "/v1/rooms/{room}", r)
}
