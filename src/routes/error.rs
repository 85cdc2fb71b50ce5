//! The one place errors become HTTP responses:
//! `{"status":"error","error":"<message>","details":...}`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::auth::AuthError;
use crate::domain::ValidationError;
use crate::realtime::chat::PostError;
use crate::realtime::limits::LimitError;
use crate::store::StoreError;

/// The body of every failure.
#[derive(Serialize, ToSchema)]
pub struct ErrorResponse {
    #[schema(example = "error")]
    status: &'static str,
    /// What went wrong, for a person to read.
    error: String,
    /// For validation errors: `{"field": "<name>"}`; otherwise null.
    details: Value,
}

impl ErrorResponse {
    /// A failure body with structured `details`.
    pub fn new(error: impl Into<String>, details: &impl Serialize) -> Self {
        ErrorResponse {
            status: "error",
            error: error.into(),
            details: serde_json::to_value(details).unwrap_or(Value::Null),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Validation(#[from] ValidationError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    TooManyRequests(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The request body did not arrive in time (408).
    #[error("{0}")]
    Timeout(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A server-side failure outside the store (e.g. writing an upload);
    /// the detail is logged, the client sees a generic message.
    #[error("{0}")]
    Internal(String),
    /// The server is at capacity for this kind of work right now.
    #[error("{0}")]
    Busy(String),
    /// An actor the request needed is gone (shutting down).
    #[error("the server is shutting down")]
    Stopped(#[from] actix::MailboxError),
}

/// A chat message refused or not stored.
impl From<crate::realtime::engine::EngineError> for ApiError {
    fn from(error: crate::realtime::engine::EngineError) -> Self {
        ApiError::BadRequest(error.to_string())
    }
}

impl From<PostError> for ApiError {
    fn from(error: PostError) -> Self {
        match error {
            PostError::AccountEmail(_) => ApiError::Forbidden(error.to_string()),
            PostError::Store(error) => ApiError::Store(error),
        }
    }
}

/// A WebSocket upgrade or a Socket.IO handshake over the session limits.
impl From<LimitError> for ApiError {
    fn from(error: LimitError) -> Self {
        match error {
            LimitError::Full(_) | LimitError::HandshakesFull(_) => ApiError::Busy(error.to_string()),
            LimitError::AddressFull(_) | LimitError::AddressHandshakesFull(_) => {
                ApiError::TooManyRequests(error.to_string())
            }
        }
    }
}

/// Each refusal of the account rules gets its status here.
impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::LoginRequired(message) => ApiError::Unauthorized(message.to_owned()),
            AuthError::WrongCredentials => ApiError::Unauthorized(error.to_string()),
            AuthError::Forbidden(message) => ApiError::Forbidden(message.to_owned()),
            AuthError::TooManyAttempts | AuthError::TooManyRegistrations => {
                ApiError::TooManyRequests(error.to_string())
            }
            AuthError::Busy => ApiError::Busy(error.to_string()),
            AuthError::Invalid(error) => ApiError::Validation(error),
            AuthError::Store(error) => ApiError::Store(error),
            AuthError::Internal(detail) => ApiError::Internal(detail),
        }
    }
}

impl ApiError {
    /// The message a client sees; internal details are logged instead.
    pub fn client_message(&self) -> String {
        match self {
            ApiError::Store(error) => error.client_message(),
            ApiError::Stopped(_) => "the server is shutting down; try again shortly".to_owned(),
            ApiError::Internal(detail) => {
                log::error!("internal error: {detail}");
                "internal server error".to_owned()
            }
            other => other.to_string(),
        }
    }

    fn details(&self) -> Value {
        match self {
            ApiError::Validation(error) => json!({ "field": error.field }),
            _ => Value::Null,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Validation(_) | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) | ApiError::Store(StoreError::NotFound(_)) => StatusCode::NOT_FOUND,
            ApiError::Store(StoreError::Conflict(_)) => StatusCode::CONFLICT,
            ApiError::Store(StoreError::Unavailable(_)) | ApiError::Stopped(_) | ApiError::Busy(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Store(StoreError::Internal(_)) | ApiError::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code()).json(ErrorResponse {
            status: "error",
            error: self.client_message(),
            details: self.details(),
        })
    }
}

/// JSON body errors (malformed JSON, wrong content type, too large).
pub fn json_error(error: actix_web::error::JsonPayloadError, _: &actix_web::HttpRequest) -> actix_web::Error {
    use actix_web::error::JsonPayloadError;
    let api_error = match &error {
        JsonPayloadError::ContentType => ApiError::UnsupportedMediaType(
            "send the body as JSON (Content-Type: application/json)".to_owned(),
        ),
        JsonPayloadError::Overflow { limit } | JsonPayloadError::OverflowKnownLength { limit, .. } => {
            ApiError::PayloadTooLarge(format!("the JSON body is larger than {limit} bytes"))
        }
        JsonPayloadError::Payload(payload) if super::body_deadline::timed_out(payload) => {
            ApiError::Timeout("the request body did not arrive in time".to_owned())
        }
        other => ApiError::BadRequest(format!("invalid JSON body: {other}")),
    };
    api_error.into()
}

/// Query string errors.
pub fn query_error(
    error: actix_web::error::QueryPayloadError,
    _: &actix_web::HttpRequest,
) -> actix_web::Error {
    ApiError::BadRequest(format!("invalid query string: {error}")).into()
}

/// Unmatched routes under /api answer in JSON too.
pub async fn api_not_found(request: actix_web::HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound(format!(
        "no route for {} {}",
        request.method(),
        request.path()
    )))
}
