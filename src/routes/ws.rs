//! WebSocket upgrades: each connection becomes a session actor.

use actix_session::Session;
use actix_web::{web, HttpRequest, HttpResponse};
use actix_web_actors::ws::WsResponseBuilder;

use crate::auth;
use crate::realtime::{ChatSession, ProductSession};
use crate::startup::AppState;

/// `GET /ws/products`: the realtime product feed.
/// The session cookie, if any, decides who may write products from it.
pub async fn products(
    request: HttpRequest,
    stream: web::Payload,
    state: web::Data<AppState>,
    cookie_session: Session,
) -> Result<HttpResponse, actix_web::Error> {
    let viewer = auth::current_user(&cookie_session, &state.store).await?;
    let settings = &state.settings.websocket;
    let session = ProductSession::new(
        settings,
        state.product_feed.clone(),
        state.store.clone(),
        state.accounts.clone(),
        viewer,
    );
    WsResponseBuilder::new(session, &request, stream)
        .frame_size(settings.max_frame_bytes)
        .start()
}

/// `GET /ws/chat`: the chat room. A logged-in user chats as their e-mail.
pub async fn chat(
    request: HttpRequest,
    stream: web::Payload,
    state: web::Data<AppState>,
    cookie_session: Session,
) -> Result<HttpResponse, actix_web::Error> {
    let identity = auth::current_user(&cookie_session, &state.store)
        .await?
        .map(|user| user.email);
    let settings = &state.settings;
    let session = ChatSession::new(
        &settings.websocket,
        &settings.chat,
        state.chat_room.clone(),
        identity,
    );
    WsResponseBuilder::new(session, &request, stream)
        .frame_size(settings.websocket.max_frame_bytes)
        .start()
}
