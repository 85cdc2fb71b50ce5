//! `/api/messages`: the chat history, and posting a message exactly as the
//! WebSocket does (stored, then broadcast by the `ChatRoom`).

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::{success, Success};
use crate::configuration::ChatSettings;
use crate::domain::{parse_id, ChatMessage, Email, Id, NewMessage, ValidationError};
use crate::realtime::chat::PostMessage;
use crate::routes::error::ErrorResponse;
use crate::routes::extractors::{SignedIn, Viewer};
use crate::routes::ApiError;
use crate::state::AppState;
use crate::store::{ask_store, DirectMessages, PublicMessagesAfter, RecentMessages};

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
    cfg.service(web::resource("/messages").get(list).post(create))
        .service(web::resource("/messages/direct").get(direct));
}

#[derive(Debug, Deserialize)]
struct HistoryParams {
    limit: Option<String>,
    before: Option<String>,
    after: Option<String>,
}

/// Where a page of messages starts.
enum Window {
    Newest,
    Before(Id),
    After(Id),
}

impl HistoryParams {
    fn limit(&self, chat: &ChatSettings) -> Result<u32, ValidationError> {
        match self.limit.as_deref().map(str::trim).filter(|l| !l.is_empty()) {
            None => Ok(chat.history_size),
            Some(raw) => raw
                .parse::<u32>()
                .ok()
                .filter(|n| *n >= 1)
                .map(|n| n.min(chat.max_page_size))
                .ok_or_else(|| ValidationError::new("limit", "limit must be a positive integer")),
        }
    }

    fn window(&self) -> Result<Window, ValidationError> {
        let id =
            |field: &str, raw: &Option<String>| match raw.as_deref().map(str::trim).filter(|b| !b.is_empty())
            {
                None => Ok(None),
                Some(raw) => parse_id(field, raw).map(Some),
            };
        match (id("before", &self.before)?, id("after", &self.after)?) {
            (None, None) => Ok(Window::Newest),
            (Some(before), None) => Ok(Window::Before(before)),
            (None, Some(after)) => Ok(Window::After(after)),
            (Some(_), Some(_)) => Err(ValidationError::new("after", "give before or after, not both")),
        }
    }
}

/// `GET /api/messages?limit=50&before=<id>|after=<id>`: public messages,
/// oldest first. `before` pages back through history (pass the first
/// one's `_id`); `after` catches up (pass the last one seen).
#[utoipa::path(get, path = "/api/messages", tag = "messages",
    params(("limit" = Option<u32>, Query, description = "Default 50, at most 100"),
        ("before" = Option<String>, Query, description = "Only messages older than this id (the newest of those)"),
        ("after" = Option<String>, Query, description = "Only messages newer than this id (the oldest of those)")),
    responses((status = 200, body = Success<Vec<ChatMessage>>), (status = 400, body = ErrorResponse)))]
async fn list(
    state: web::Data<AppState>,
    params: web::Query<HistoryParams>,
) -> Result<HttpResponse, ApiError> {
    let limit = params.limit(&state.settings.chat)?;
    let messages = match params.window()? {
        Window::After(after) => ask_store(&state.store, PublicMessagesAfter { after, limit }).await?,
        window => {
            let before = match window {
                Window::Before(before) => Some(before),
                _ => None,
            };
            let mut newest_first = ask_store(&state.store, RecentMessages { limit, before }).await?;
            newest_first.reverse();
            newest_first
        }
    };
    Ok(HttpResponse::Ok().json(success(messages)))
}

/// `GET /api/messages/direct?after=<id>&limit=50`: the logged-in user's
/// direct messages, sent and received, oldest first: those after `after`,
/// or the newest.
#[utoipa::path(get, path = "/api/messages/direct", tag = "messages",
    params(("limit" = Option<u32>, Query, description = "Default 50, at most 100"),
        ("after" = Option<String>, Query, description = "Only messages newer than this id")),
    responses((status = 200, body = Success<Vec<ChatMessage>>), (status = 400, body = ErrorResponse),
        (status = 401, body = ErrorResponse)))]
async fn direct(
    state: web::Data<AppState>,
    SignedIn(user): SignedIn,
    params: web::Query<HistoryParams>,
) -> Result<HttpResponse, ApiError> {
    let limit = params.limit(&state.settings.chat)?;
    let after = match params.window()? {
        Window::Newest => None,
        Window::After(after) => Some(after),
        Window::Before(_) => {
            return Err(ValidationError::new("before", "direct messages page with after").into())
        }
    };
    let messages = ask_store(
        &state.store,
        DirectMessages {
            user: user.email,
            after,
            limit,
        },
    )
    .await?;
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
