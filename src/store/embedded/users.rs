//! The `users` table: accounts with their password hash.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};

use super::mapping::{delete_by_id, map_error, map_write_error, stored_user_from_row, USER_COLUMNS};
use super::EmbeddedBackend;
use crate::domain::{Email, Id, StoredUser, User};
use crate::store::{StoreError, UniqueField, UserCollection};

#[async_trait]
impl UserCollection for EmbeddedBackend {
    async fn create_user(&self, stored: StoredUser) -> Result<User, StoreError> {
        self.run(move |c| {
            let user = &stored.user;
            c.execute(
                &format!("INSERT INTO users ({USER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
                params![
                    user.id.to_hex(),
                    user.first_name,
                    user.last_name,
                    user.email.as_str(),
                    user.age,
                    user.role.as_str(),
                    user.cart.to_hex(),
                    stored.password_hash,
                ],
            )
            .map_err(|e| map_write_error(e, UniqueField::UserEmail(&user.email)))?;
            Ok(stored.user)
        })
        .await
    }

    async fn find_user_by_email(&self, email: &Email) -> Result<Option<StoredUser>, StoreError> {
        let email = email.as_str().to_owned();
        self.run(move |c| {
            c.query_row(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE email = ?1"),
                [email],
                stored_user_from_row,
            )
            .optional()
            .map_err(map_error)
        })
        .await
    }

    async fn get_user(&self, id: Id) -> Result<User, StoreError> {
        self.run(move |c| {
            c.query_row(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"),
                [id.to_hex()],
                stored_user_from_row,
            )
            .optional()
            .map_err(map_error)?
            .map(|stored| stored.user)
            .ok_or(StoreError::NotFound("user"))
        })
        .await
    }

    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        self.run(|c| {
            let mut statement = c
                .prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY id"))
                .map_err(map_error)?;
            statement
                .query_map([], |row| stored_user_from_row(row).map(|stored| stored.user))
                .and_then(Iterator::collect)
                .map_err(map_error)
        })
        .await
    }

    async fn delete_user(&self, id: Id) -> Result<(), StoreError> {
        self.run(move |c| delete_by_id(c, "users", id, "user")).await
    }

    async fn any_admin(&self) -> Result<bool, StoreError> {
        self.run(|c| {
            c.query_row(
                "SELECT EXISTS (SELECT 1 FROM users WHERE role = 'admin')",
                [],
                |row| row.get(0),
            )
            .map_err(map_error)
        })
        .await
    }

    async fn any_users(&self) -> Result<bool, StoreError> {
        self.run(|c| {
            c.query_row("SELECT EXISTS (SELECT 1 FROM users)", [], |row| row.get(0))
                .map_err(map_error)
        })
        .await
    }
}
