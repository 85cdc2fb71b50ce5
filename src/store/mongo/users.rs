//! The `users` collection: accounts with their password hash. `email` is
//! unique (index `email_unique`).

use async_trait::async_trait;
use mongodb::bson::doc;

use super::mapping::{collect, delete_by_id, map_error, map_write_error, UserDocument};
use super::MongoBackend;
use crate::domain::{Email, Id, StoredUser, User};
use crate::store::{StoreError, UniqueField, UserCollection};

#[async_trait]
impl UserCollection for MongoBackend {
    async fn create_user(&self, stored: StoredUser) -> Result<User, StoreError> {
        self.ensure_indexes().await?;
        let user = stored.user.clone();
        self.users
            .insert_one(UserDocument::from(stored))
            .await
            .map_err(|e| map_write_error(e, UniqueField::UserEmail(&user.email)))?;
        Ok(user)
    }

    async fn find_user_by_email(&self, email: &Email) -> Result<Option<StoredUser>, StoreError> {
        let found = self
            .users
            .find_one(doc! { "email": email.as_str() })
            .await
            .map_err(map_error)?;
        Ok(found.map(StoredUser::from))
    }

    async fn get_user(&self, id: Id) -> Result<User, StoreError> {
        self.users
            .find_one(doc! { "_id": id })
            .await
            .map_err(map_error)?
            .map(|d| StoredUser::from(d).user)
            .ok_or(StoreError::NotFound("user"))
    }

    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let users: Vec<UserDocument> =
            collect(self.users.find(doc! {}).sort(doc! { "_id": 1 }).await).await?;
        Ok(users.into_iter().map(|d| StoredUser::from(d).user).collect())
    }

    async fn delete_user(&self, id: Id) -> Result<(), StoreError> {
        delete_by_id(&self.users, id, "user").await
    }

    async fn any_admin(&self) -> Result<bool, StoreError> {
        let admin = self
            .users
            .find_one(doc! { "role": "admin" })
            .await
            .map_err(map_error)?;
        Ok(admin.is_some())
    }

    async fn any_users(&self) -> Result<bool, StoreError> {
        Ok(self.users.find_one(doc! {}).await.map_err(map_error)?.is_some())
    }
}
