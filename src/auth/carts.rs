//! Who may read and change a cart: once any account exists, its owner (the
//! user it was created for) and admins; with no account at all, anyone.

use actix::Addr;

use super::{Accounts, AuthError};
use crate::domain::{Id, User};
use crate::store::{ask_store, CartOwner, MongoStore};

/// The one rule for carts, for REST, pages and `cart:watch` alike.
pub async fn authorize_cart(
    store: &Addr<MongoStore>,
    accounts: &Accounts,
    viewer: Option<&User>,
    cart: Id,
) -> Result<(), AuthError> {
    if !accounts.exist() {
        return Ok(());
    }
    let Some(user) = viewer else {
        return Err(AuthError::LoginRequired(
            "carts belong to their owners: log in first (POST /api/sessions/login)",
        ));
    };
    if user.is_admin() || user.cart == cart {
        return Ok(());
    }
    match ask_store(store, CartOwner { id: cart }).await? {
        Some(owner) if owner == user.id => Ok(()),
        _ => Err(AuthError::Forbidden(
            "this cart belongs to someone else".to_owned(),
        )),
    }
}
