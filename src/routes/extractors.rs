//! Who is asking, as extractors: a handler names what it needs in its
//! signature — `Viewer` (anyone, maybe logged in), `SignedIn`, `Admin`,
//! `ProductEditor` — and the request is refused with the right status
//! before the handler runs. REST, pages and WebSocket upgrades use the same
//! ones. `PageViewer` is `Viewer` for pages: a store failure shows the page
//! logged out instead of failing it.

use std::future::Future;
use std::pin::Pin;

use actix_session::SessionExt;
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};

use crate::auth::{self, AuthError};
use crate::domain::User;
use crate::routes::ApiError;
use crate::state::AppState;

type Extraction<T> = Pin<Box<dyn Future<Output = Result<T, ApiError>>>>;

/// The logged-in user read from the session, if any.
async fn session_user(request: HttpRequest) -> Result<Option<User>, ApiError> {
    let state = request
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::Internal("AppState is not registered".to_owned()))?;
    Ok(auth::current_user(&request.get_session(), &state.store).await?)
}

/// Implements `FromRequest` by mapping the session's user.
macro_rules! user_extractor {
    ($name:ident, |$user:ident| $body:expr) => {
        impl FromRequest for $name {
            type Error = ApiError;
            type Future = Extraction<Self>;

            fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
                let request = request.clone();
                Box::pin(async move {
                    let $user = session_user(request).await;
                    $body
                })
            }
        }
    };
}

/// Whoever is asking: `Some` user when logged in. Fails (503) only when the
/// store cannot say who the session's user is.
pub struct Viewer(pub Option<User>);

user_extractor!(Viewer, |user| Ok(Viewer(user?)));

/// The viewer of a page: never fails; a store failure is logged and the page
/// is shown as to a visitor.
pub struct PageViewer(pub Option<User>);

user_extractor!(PageViewer, |user| Ok(PageViewer(user.unwrap_or_else(|error| {
    log::warn!("could not read the session's user: {}", error.client_message());
    None
}))));

/// A logged-in user (401 otherwise).
pub struct SignedIn(pub User);

user_extractor!(SignedIn, |user| user?.map(SignedIn).ok_or_else(|| {
    AuthError::LoginRequired("log in first (POST /api/sessions/login)").into()
}));

/// A logged-in admin (401 anonymous, 403 others).
pub struct Admin(pub User);

user_extractor!(Admin, |user| {
    let user = user?.ok_or(AuthError::LoginRequired(
        "log in first (POST /api/sessions/login)",
    ))?;
    auth::require_admin(&user)?;
    Ok(Admin(user))
});

/// Someone who may change products: anyone until an account exists, then
/// an admin (401/403). The session is not read while there are no accounts.
pub struct ProductEditor;

impl FromRequest for ProductEditor {
    type Error = ApiError;
    type Future = Extraction<Self>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let request = request.clone();
        Box::pin(async move {
            let accounts = request
                .app_data::<web::Data<AppState>>()
                .map(|state| state.accounts.clone())
                .ok_or_else(|| ApiError::Internal("AppState is not registered".to_owned()))?;
            if !accounts.exist() {
                return Ok(ProductEditor);
            }
            let viewer = session_user(request).await?;
            auth::may_write_products(&accounts, viewer.as_ref())?;
            Ok(ProductEditor)
        })
    }
}
