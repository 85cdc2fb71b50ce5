//! WebSocket upgrades: each connection becomes a session actor.

use actix_web::{web, HttpRequest, HttpResponse};
use actix_web_actors::ws::WsResponseBuilder;

use crate::realtime::{ChatSession, ProductSession};
use crate::startup::AppState;

/// `GET /ws/products`: the realtime product feed.
pub async fn products(
    request: HttpRequest,
    stream: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let settings = &state.settings.websocket;
    let session = ProductSession::new(settings, state.product_feed.clone(), state.store.clone());
    WsResponseBuilder::new(session, &request, stream)
        .frame_size(settings.max_frame_bytes)
        .start()
}

/// `GET /ws/chat`: the chat room.
pub async fn chat(
    request: HttpRequest,
    stream: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let settings = &state.settings;
    let session = ChatSession::new(&settings.websocket, &settings.chat, state.chat_room.clone());
    WsResponseBuilder::new(session, &request, stream)
        .frame_size(settings.websocket.max_frame_bytes)
        .start()
}
