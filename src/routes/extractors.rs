//! Who is asking, as extractors: a handler names what it needs in its
//! signature — `Viewer` (anyone, maybe logged in), `SignedIn`, `Admin`,
//! `ProductEditor`, `CartAccess` — and the request is refused with the
//! right status before the handler runs. REST, pages and WebSocket upgrades
//! use the same ones. `PageViewer` is `Viewer` for pages: a store failure
//! shows the page logged out instead of failing it.

use std::future::Future;
use std::pin::Pin;

use actix_session::SessionExt;
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};

use crate::auth::{self, AuthError};
use crate::domain::{parse_id, Email, Id, User};
use crate::routes::ApiError;
use crate::state::AppState;

type Extraction<T> = Pin<Box<dyn Future<Output = Result<T, ApiError>>>>;

const LOG_IN_FIRST: &str = "log in first (POST /api/sessions/login)";

fn app_state(request: &HttpRequest) -> Result<web::Data<AppState>, ApiError> {
    request
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::Internal("AppState is not registered".to_owned()))
}

/// The logged-in user read from the session, if any.
async fn session_user(request: &HttpRequest, state: &AppState) -> Result<Option<User>, ApiError> {
    Ok(auth::current_user(&request.get_session(), &state.store).await?)
}

/// Implements `FromRequest` with an async body over the request and state.
macro_rules! extractor {
    ($name:ident, |$request:ident, $state:ident| $body:expr) => {
        impl FromRequest for $name {
            type Error = ApiError;
            type Future = Extraction<Self>;

            fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
                let $request = request.clone();
                Box::pin(async move {
                    let $state = app_state(&$request)?;
                    $body
                })
            }
        }
    };
}

/// Whoever is asking: `Some` user when logged in. Fails (503) only when the
/// store cannot say who the session's user is.
pub struct Viewer(pub Option<User>);

extractor!(Viewer, |request, state| Ok(Viewer(
    session_user(&request, &state).await?
)));

/// Who speaks in the chat: the logged-in user's e-mail, taken from the
/// session without a store call, so chat upgrades keep working while the
/// store is down.
pub struct ChatIdentity(pub Option<Email>);

extractor!(ChatIdentity, |request, state| {
    let identity = auth::chat_identity(&request.get_session(), &state.store).await?;
    Ok(ChatIdentity(identity))
});

/// The viewer of a page: never fails; a store failure is logged and the page
/// is shown as to a visitor.
pub struct PageViewer(pub Option<User>);

extractor!(PageViewer, |request, state| {
    let viewer = session_user(&request, &state).await.unwrap_or_else(|error| {
        log::warn!("could not read the session's user: {}", error.client_message());
        None
    });
    Ok(PageViewer(viewer))
});

/// A logged-in user (401 otherwise).
pub struct SignedIn(pub User);

extractor!(SignedIn, |request, state| {
    let user = session_user(&request, &state).await?;
    Ok(SignedIn(user.ok_or(AuthError::LoginRequired(LOG_IN_FIRST))?))
});

/// A logged-in admin (401 anonymous, 403 others).
pub struct Admin(pub User);

extractor!(Admin, |request, state| {
    let user = session_user(&request, &state).await?;
    let user = user.ok_or(AuthError::LoginRequired(LOG_IN_FIRST))?;
    auth::require_admin(&state.accounts, &user)?;
    Ok(Admin(user))
});

/// Someone who may change products: anyone until an account exists, then
/// an admin (401/403). The session is not read while there are no accounts.
pub struct ProductEditor;

extractor!(ProductEditor, |request, state| {
    if state.accounts.exist() {
        let viewer = session_user(&request, &state).await?;
        auth::may_write_products(&state.accounts, viewer.as_ref())?;
    }
    Ok(ProductEditor)
});

/// The cart named by the path's `{cid}`, which the viewer may read and
/// change (`auth::authorize_cart`): 400 for a bad id, 401/403 otherwise.
pub struct CartAccess {
    pub cart: Id,
    pub viewer: Option<User>,
}

extractor!(CartAccess, |request, state| {
    let cart = parse_id("cid", request.match_info().get("cid").unwrap_or_default())?;
    let viewer = if state.accounts.exist() {
        session_user(&request, &state).await?
    } else {
        None
    };
    auth::authorize_cart(&state.store, &state.accounts, viewer.as_ref(), cart).await?;
    Ok(CartAccess { cart, viewer })
});
