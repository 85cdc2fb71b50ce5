//! WebSocket upgrades: each connection becomes a session actor. The session
//! cookie, if any, says who opened it (`Viewer`); `?since=<offset>` resumes
//! the feed or the chat from the last event the client saw.

use actix_web::{web, HttpRequest, HttpResponse};
use actix_web_actors::ws::WsResponseBuilder;
use serde::Deserialize;

use crate::realtime::chat::ChatClient;
use crate::realtime::limits::SessionSlot;
use crate::realtime::products::ProductClient;
use crate::realtime::{ChatSession, ProductSession};
use crate::routes::extractors::{ChatIdentity, Viewer};
use crate::routes::security::client_address;
use crate::routes::ApiError;
use crate::state::{AppState, Endpoints};

/// `?since=<offset>`: where a reconnecting client resumes.
#[derive(Deserialize)]
pub struct Resume {
    since: Option<String>,
}

/// `GET /ws/products`: the realtime product feed. The viewer decides who may
/// write products from it.
pub async fn products(
    request: HttpRequest,
    stream: web::Payload,
    state: web::Data<AppState>,
    Viewer(viewer): Viewer,
    resume: web::Query<Resume>,
) -> Result<HttpResponse, actix_web::Error> {
    let slot = take_slot(&request, &state)?;
    let settings = &state.settings.websocket;
    let endpoints = endpoints(&request)?;
    let endpoint =
        ProductClient::new(endpoints.products.clone(), viewer).resuming_from(resume.into_inner().since);
    let session = ProductSession::new(settings, endpoint, state.sessions.products.clone(), slot);
    WsResponseBuilder::new(session, &request, stream)
        .frame_size(settings.max_frame_bytes)
        .start()
}

/// `GET /ws/chat`: the chat room. A logged-in user chats as their e-mail
/// (from the session: no store call, so the chat works while it is down).
pub async fn chat(
    request: HttpRequest,
    stream: web::Payload,
    state: web::Data<AppState>,
    ChatIdentity(identity): ChatIdentity,
    resume: web::Query<Resume>,
) -> Result<HttpResponse, actix_web::Error> {
    let address = client_address(&request, &state.settings.server.trusted_proxies);
    let slot = state.session_limits.admit(address).map_err(ApiError::from)?;
    let settings = &state.settings;
    let endpoint = ChatClient::new(endpoints(&request)?.chat.clone(), identity)
        .resuming_from(resume.into_inner().since)
        .from_address(address);
    let session = ChatSession::new(&settings.websocket, endpoint, state.sessions.chat.clone(), slot);
    WsResponseBuilder::new(session, &request, stream)
        .frame_size(settings.websocket.max_frame_bytes)
        .start()
}

/// This worker's room endpoints.
fn endpoints(request: &HttpRequest) -> Result<&web::Data<Endpoints>, ApiError> {
    request
        .app_data::<web::Data<Endpoints>>()
        .ok_or_else(|| ApiError::Internal("the realtime endpoints are not configured".to_owned()))
}

/// A place under the session limits for this upgrade (503 / 429 when full).
fn take_slot(request: &HttpRequest, state: &AppState) -> Result<SessionSlot, ApiError> {
    let address = client_address(request, &state.settings.server.trusted_proxies);
    Ok(state.session_limits.admit(address)?)
}
