//! A request body must arrive within `server.body_timeout_ms`: without a
//! deadline a client that sends headers and then trickles (or stops) holds
//! its connection and a worker's attention indefinitely. The body stream is
//! wrapped so that reading past the deadline fails (`408`); WebSocket
//! upgrades, whose "body" is the session itself, are left alone.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::MessageBody;
use std::future::Future;

use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes};
use actix_web::HttpMessage;
use futures_util::Stream;
use tokio::time::Sleep;

use crate::state::AppState;

pub async fn body_deadline(
    mut request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let upgrade = request.headers().contains_key(header::UPGRADE);
    let has_body = request.headers().contains_key(header::CONTENT_LENGTH)
        || request.headers().contains_key(header::TRANSFER_ENCODING);
    let timeout = request
        .app_data::<web::Data<AppState>>()
        .map(|state| Duration::from_millis(state.settings.server.body_timeout_ms));
    if let (false, true, Some(timeout)) = (upgrade, has_body, timeout) {
        let body = request.take_payload();
        let bounded: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>> = Box::pin(Deadline {
            body,
            deadline: Box::pin(tokio::time::sleep(timeout)),
        });
        request.set_payload(Payload::from(bounded));
    }
    next.call(request).await
}

/// The body, failing once the deadline passes.
struct Deadline {
    body: Payload,
    deadline: Pin<Box<Sleep>>,
}

impl Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Poll::Ready(item) = Pin::new(&mut self.body).poll_next(cx) {
            return Poll::Ready(item);
        }
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the request body did not arrive in time",
            ))))),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Whether a body error is this deadline passing.
pub fn timed_out(error: &PayloadError) -> bool {
    matches!(error, PayloadError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut)
}
