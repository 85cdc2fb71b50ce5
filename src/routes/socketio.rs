//! `/socket.io/`: the Engine.IO endpoint socket.io-client talks to: the
//! handshake, long-polling GETs and POSTs, and WebSocket connections (an
//! upgrade of a polling session, or a session of their own). And
//! `/socket.io/socket.io.js`, the client bundle, as a Socket.IO server
//! serves it.

use std::net::IpAddr;
use std::sync::Arc;

use actix::prelude::*;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use actix_web_actors::ws::WsResponseBuilder;
use serde::Deserialize;

use super::body_deadline;
use super::extractors::{ChatIdentity, Viewer};
use super::security::{client_address, listed_foreign_origin};
use super::ApiError;
use crate::realtime::engine::packet as engine_packet;
use crate::realtime::engine::{ClientPackets, EngineSocket, Poll};
use crate::realtime::socketio::{PollingSession, SocketIoDeps, SocketIoIdentity, WebSocketSession};
use crate::state::{AppState, Endpoints};

/// The client bundle: socket.io-client's `dist/socket.io.min.js`, vendored
/// (assets/vendor/socket.io/README.md), compiled in.
const CLIENT_BUNDLE: &str = include_str!("../../assets/vendor/socket.io/socket.io.min.js");

#[derive(Deserialize)]
pub struct EngineQuery {
    #[serde(rename = "EIO")]
    version: Option<String>,
    transport: Option<String>,
    sid: Option<String>,
}

enum Transport {
    Polling,
    WebSocket,
}

impl EngineQuery {
    fn transport(&self) -> Result<Transport, ApiError> {
        if self.version.as_deref() != Some("4") {
            return Err(ApiError::BadRequest(
                "unsupported protocol: this server speaks Engine.IO 4 (EIO=4, socket.io-client 4.x)"
                    .to_owned(),
            ));
        }
        match self.transport.as_deref() {
            Some("polling") => Ok(Transport::Polling),
            Some("websocket") => Ok(Transport::WebSocket),
            _ => Err(ApiError::BadRequest(
                "unknown transport: use transport=polling or transport=websocket".to_owned(),
            )),
        }
    }
}

/// `GET /socket.io/`: a handshake (no `sid`), a long poll, or a WebSocket.
pub async fn get(
    request: HttpRequest,
    stream: web::Payload,
    state: web::Data<AppState>,
    query: web::Query<EngineQuery>,
) -> Result<HttpResponse, actix_web::Error> {
    let transport = query.transport()?;
    let max_frame = state.settings.websocket.socketio_max_payload;
    let queue = state.settings.websocket.outbound_queue;
    match (transport, &query.sid) {
        (Transport::Polling, None) => {
            // No session yet: one is started by the first request that
            // names this sid (see `find`).
            let address = client_address(&request, &state.settings.server.trusted_proxies);
            state.socketio.forget_expired();
            let slot = state
                .session_limits
                .admit_handshake(address)
                .map_err(ApiError::from)?;
            let identity = identity(&request, address).await?;
            let sid = state.socketio.open_pending(identity, slot);
            Ok(packets(
                &request,
                engine_packet::open(&sid, true, &state.settings.websocket),
            ))
        }
        (Transport::Polling, Some(sid)) => {
            let session = find(&request, &state, sid)?;
            let body = session.send(Poll).await.map_err(gone)?.map_err(ApiError::from)?;
            Ok(packets(&request, body))
        }
        (Transport::WebSocket, None) => {
            // One actor: the session is its WebSocket's.
            let address = client_address(&request, &state.settings.server.trusted_proxies);
            let slot = state.session_limits.admit(address).map_err(ApiError::from)?;
            let session =
                WebSocketSession::websocket(deps(&request)?, identity(&request, address).await?, slot);
            WsResponseBuilder::new(session, &request, stream)
                .frame_size(max_frame)
                .start()
        }
        (Transport::WebSocket, Some(sid)) => {
            let session = find(&request, &state, sid)?;
            WsResponseBuilder::new(EngineSocket::upgrade(session, queue), &request, stream)
                .frame_size(max_frame)
                .start()
        }
    }
}

/// `POST /socket.io/?sid=...`: packets from a long-polling client.
pub async fn post(
    request: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<EngineQuery>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let Transport::Polling = query.transport()? else {
        return Err(ApiError::BadRequest("POST is for transport=polling".to_owned()));
    };
    let sid = query
        .sid
        .as_deref()
        .ok_or_else(|| ApiError::BadRequest("POST needs the session id (sid)".to_owned()))?;
    // A forged sid, or a body announced too large, costs no body read.
    let session = find(&request, &state, sid)?;
    let limit = state.settings.websocket.socketio_max_payload;
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|length| length.to_str().ok()?.parse::<usize>().ok());
    if announced.is_some_and(|length| length > limit) {
        return Err(ApiError::PayloadTooLarge(format!(
            "packets larger than maxPayload ({limit} bytes)"
        )));
    }
    let body = read_body(body, limit).await?;
    let text = String::from_utf8(body.to_vec()).map_err(|_| {
        ApiError::BadRequest("packets must be UTF-8 text (binary is not supported)".to_owned())
    })?;
    session.send(ClientPackets(text)).await.map_err(gone)??;
    Ok(packets(&request, "ok".to_owned()))
}

/// A long-polling POST body: at most `limit` bytes (413, as socket.io's
/// `maxHttpBufferSize`), arriving within the body deadline (408).
async fn read_body(mut payload: web::Payload, limit: usize) -> Result<web::BytesMut, ApiError> {
    use futures_util::StreamExt;
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|error| {
            if body_deadline::timed_out(&error) {
                ApiError::Timeout("the request body did not arrive in time".to_owned())
            } else {
                ApiError::BadRequest(format!("the request body could not be read: {error}"))
            }
        })?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge(format!(
                "packets larger than maxPayload ({limit} bytes)"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// `OPTIONS /socket.io/`: the CORS preflight of a page from a site listed
/// in `server.allowed_origins` (others were refused by the Origin rule).
pub async fn preflight(request: HttpRequest) -> HttpResponse {
    let mut response = HttpResponse::NoContent();
    allow_listed_origin(&request, &mut response);
    response
        .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, "content-type"))
        .finish()
}

/// Lets a page from a listed site read the response (long-polling across
/// origins, as Socket.IO's `cors` option does), with its cookies.
fn allow_listed_origin(request: &HttpRequest, response: &mut actix_web::HttpResponseBuilder) {
    if let Some(origin) = listed_foreign_origin(request) {
        response
            .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin))
            .insert_header((header::ACCESS_CONTROL_ALLOW_CREDENTIALS, "true"))
            .insert_header((header::VARY, "Origin"));
    }
}

/// `GET /socket.io/socket.io.js`: the client bundle.
pub async fn client_bundle() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(CLIENT_BUNDLE)
}

/// Who the client is (the session cookie) and where from: what a
/// Socket.IO session acts as.
async fn identity(request: &HttpRequest, address: Option<IpAddr>) -> Result<SocketIoIdentity, ApiError> {
    let Viewer(viewer) = Viewer::extract(request).await?;
    let ChatIdentity(chat) = ChatIdentity::extract(request).await?;
    Ok(SocketIoIdentity {
        viewer,
        chat,
        address,
    })
}

/// What every Socket.IO session of this worker shares.
fn deps(request: &HttpRequest) -> Result<Arc<SocketIoDeps>, ApiError> {
    let endpoints = request
        .app_data::<web::Data<Endpoints>>()
        .ok_or_else(|| ApiError::Internal("the Socket.IO endpoints are not configured".to_owned()))?;
    Ok(endpoints.socketio.clone())
}

/// The polling session `sid` names. The first request after the handshake
/// starts it, in a place among the sessions (503 / 429 when full).
fn find(request: &HttpRequest, state: &AppState, sid: &str) -> Result<Addr<PollingSession>, ApiError> {
    let found = state.socketio.find(sid, |sid, identity| {
        let slot = state.session_limits.admit(identity.address)?;
        let session = PollingSession::polling(sid, deps(request)?, identity, slot);
        Ok::<_, ApiError>(session.start())
    })?;
    found.ok_or_else(|| {
        ApiError::BadRequest(
            "unknown session id: it closed, never existed, or was not used within the handshake grace; connect again"
                .to_owned(),
        )
    })
}

fn gone(_: MailboxError) -> ApiError {
    ApiError::BadRequest("the session closed; connect again".to_owned())
}

/// A long-polling response: packets separated by `\x1e`.
fn packets(request: &HttpRequest, body: String) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    allow_listed_origin(request, &mut response);
    response
        .content_type("text/plain; charset=UTF-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body)
}
