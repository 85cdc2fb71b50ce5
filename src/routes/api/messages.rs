//! `/api/messages`: the chat history, and posting a message exactly as the
//! WebSocket does (stored, then broadcast by the `ChatRoom`).

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::{success, Success};
use crate::domain::{parse_id, ChatMessage, Email, NewMessage, ValidationError};
use crate::realtime::chat_room::PostMessage;
use crate::routes::error::ErrorResponse;
use crate::routes::extractors::Viewer;
use crate::routes::ApiError;
use crate::state::AppState;
use crate::store::{ask_store, RecentMessages};

/// `POST /api/messages`: a message as the chat would send it.
#[derive(Serialize, ToSchema)]
pub struct MessageBody {
    /// The sender's e-mail: optional when logged in (it must then be the
    /// account's own); required from visitors, and must belong to no account.
    user: Option<String>,
    /// 1 to `chat.max_message_chars` (1000) characters.
    message: String,
    /// A recipient's e-mail for a direct message; null or absent for everyone.
    to: Option<String>,
}

/// Who sends a posted message, and whether they are logged in as it: the
/// logged-in user (naming anyone else is 403), or, when anonymous chat is
/// on, the e-mail a visitor names (the room refuses it, 403, if it belongs
/// to an account).
fn sender(
    state: &AppState,
    logged_in: Option<Email>,
    named: Option<Email>,
) -> Result<(Email, bool), ApiError> {
    if let Some(identity) = logged_in {
        return match named {
            Some(other) if other != identity => Err(ApiError::Forbidden(format!(
                "you are logged in as {identity}: you cannot post as {other}"
            ))),
            _ => Ok((identity, true)),
        };
    }
    if !state.settings.chat.allow_anonymous {
        return Err(ApiError::Unauthorized(
            "log in to post messages (POST /api/sessions/login)".to_owned(),
        ));
    }
    match named {
        Some(named) => Ok((named, false)),
        None => Err(ValidationError::new("user", "user (the sender's e-mail) is required").into()),
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/messages").get(list).post(create));
}

#[derive(Debug, Deserialize)]
struct HistoryParams {
    limit: Option<String>,
    before: Option<String>,
}

/// `GET /api/messages?limit=50&before=<id>`: public messages, oldest first;
/// pass the first one's `_id` as `before` for the page before it.
#[utoipa::path(get, path = "/api/messages", tag = "messages",
    params(("limit" = Option<u32>, Query, description = "Default 50, at most 100"),
        ("before" = Option<String>, Query, description = "Only messages older than this id")),
    responses((status = 200, body = Success<Vec<ChatMessage>>), (status = 400, body = ErrorResponse)))]
async fn list(
    state: web::Data<AppState>,
    params: web::Query<HistoryParams>,
) -> Result<HttpResponse, ApiError> {
    let chat = &state.settings.chat;
    let limit = match params.limit.as_deref().map(str::trim).filter(|l| !l.is_empty()) {
        None => chat.history_size,
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| ValidationError::new("limit", "limit must be a positive integer"))?
            .min(chat.max_page_size),
    };
    let before = match params.before.as_deref().map(str::trim).filter(|b| !b.is_empty()) {
        None => None,
        Some(raw) => Some(parse_id("before", raw)?),
    };
    let mut messages = ask_store(&state.store, RecentMessages { limit, before }).await?;
    messages.reverse();
    Ok(HttpResponse::Ok().json(success(messages)))
}

/// `POST /api/messages` `{user, message, to}`: 201 with the stored message.
/// Stores the message, then broadcasts it on `/ws/chat` like a socket message.
#[utoipa::path(post, path = "/api/messages", tag = "messages", request_body = MessageBody,
    responses((status = 201, body = Success<ChatMessage>), (status = 400, body = ErrorResponse),
        (status = 401, body = ErrorResponse, description = "Anonymous posting is off"),
        (status = 403, body = ErrorResponse, description = "Posting as someone else, or as an account without its login")))]
async fn create(
    state: web::Data<AppState>,
    Viewer(viewer): Viewer,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let named = match body.get("user") {
        None | Some(Value::Null) => None,
        Some(Value::String(raw)) => Some(Email::parse("user", raw)?),
        Some(_) => return Err(ValidationError::new("user", "user must be an e-mail address").into()),
    };
    let (user, verified) = sender(&state, viewer.map(|user| user.email), named)?;
    let message = NewMessage::parse(user, &body, state.settings.chat.max_message_chars)?;
    let stored = state.chat_room.send(PostMessage { message, verified }).await??;
    Ok(HttpResponse::Created().json(success(stored)))
}
