//! Users: registration input, the stored account and what clients see.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::{Email, Id, ValidationError};

const NAME_MAX: usize = 100;
const PASSWORD_MIN: usize = 8;
const PASSWORD_MAX: usize = 128;
const FIELDS: &[&str] = &["first_name", "last_name", "email", "age", "password"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }

    pub fn from_stored(role: &str) -> Role {
        if role == "admin" {
            Role::Admin
        } else {
            Role::User
        }
    }
}

/// A user as every response shows it: never with the password hash.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct User {
    #[serde(rename = "_id", with = "super::id::hex")]
    #[schema(value_type = String, example = "65f0a0a0a0a0a0a0a0a0a0a0")]
    pub id: Id,
    pub first_name: String,
    pub last_name: String,
    #[schema(value_type = String, example = "ana@example.com")]
    pub email: Email,
    pub age: u8,
    pub role: Role,
    /// The user's own cart, created at registration.
    #[serde(with = "super::id::hex")]
    #[schema(value_type = String)]
    pub cart: Id,
}

impl User {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

/// A user with the argon2 hash of their password, as stored.
#[derive(Clone, PartialEq)]
pub struct StoredUser {
    pub user: User,
    pub password_hash: String,
}

impl std::fmt::Debug for StoredUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredUser")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// A password as typed: 8 to 128 characters. Never logged or shown.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn parse(raw: &str) -> Result<Password, ValidationError> {
        let length = raw.chars().count();
        if !(PASSWORD_MIN..=PASSWORD_MAX).contains(&length) {
            return Err(ValidationError::new(
                "password",
                format!("password must be {PASSWORD_MIN} to {PASSWORD_MAX} characters"),
            ));
        }
        Ok(Password(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(..)")
    }
}

/// A valid registration (`POST /api/users`); the role cannot be chosen.
#[derive(Debug, Clone, PartialEq, ToSchema)]
pub struct NewUser {
    pub first_name: String,
    pub last_name: String,
    #[schema(value_type = String, example = "ana@example.com")]
    pub email: Email,
    #[schema(maximum = 150)]
    pub age: u8,
    /// 8 to 128 characters.
    #[schema(value_type = String)]
    pub password: Password,
}

impl NewUser {
    /// Parses `{first_name, last_name, email, age, password}`; `role` cannot
    /// be chosen by whoever registers.
    pub fn parse(body: &Value) -> Result<NewUser, ValidationError> {
        let Value::Object(fields) = body else {
            return Err(ValidationError::new("body", "the body must be a JSON object"));
        };
        if let Some(name) = fields.keys().find(|name| !FIELDS.contains(&name.as_str())) {
            let message = if name == "role" {
                "role cannot be chosen at registration".to_owned()
            } else {
                format!("unknown field {name:?}; user fields are: {}", FIELDS.join(", "))
            };
            return Err(ValidationError::new(name.as_str(), message));
        }
        Ok(NewUser {
            first_name: name(fields, "first_name")?,
            last_name: name(fields, "last_name")?,
            email: Email::parse("email", string(fields, "email")?)?,
            age: age(fields.get("age"))?,
            password: Password::parse(string(fields, "password")?)?,
        })
    }
}

fn string<'a>(fields: &'a Map<String, Value>, name: &str) -> Result<&'a str, ValidationError> {
    fields
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| ValidationError::new(name, format!("{name} is required (a string)")))
}

fn name(fields: &Map<String, Value>, field: &str) -> Result<String, ValidationError> {
    let value = string(fields, field)?.trim();
    if value.is_empty() || value.chars().count() > NAME_MAX {
        return Err(ValidationError::new(
            field,
            format!("{field} must be 1 to {NAME_MAX} characters"),
        ));
    }
    Ok(value.to_owned())
}

/// Age: an integer from 0 to 150; numeric strings from HTML forms count.
fn age(value: Option<&Value>) -> Result<u8, ValidationError> {
    let parsed = match value {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    parsed
        .filter(|age| *age <= 150)
        .and_then(|age| u8::try_from(age).ok())
        .ok_or_else(|| ValidationError::new("age", "age must be an integer from 0 to 150"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn valid() -> Value {
        json!({"first_name": "Ana", "last_name": "López", "email": "Ana@Example.com", "age": 31, "password": "correct horse"})
    }

    #[test]
    fn parses_a_registration() {
        let user = NewUser::parse(&valid()).unwrap();
        assert_eq!(user.email.as_str(), "ana@example.com");
        assert_eq!(format!("{:?}", user.password), "Password(..)");
    }

    #[test]
    fn names_the_field_at_fault() {
        for (field, value) in [
            ("first_name", json!("")),
            ("email", json!("nope")),
            ("age", json!(-1)),
            ("age", json!(151)),
            ("password", json!("short")),
            ("role", json!("admin")),
        ] {
            let mut body = valid();
            body[field] = value;
            assert_eq!(NewUser::parse(&body).unwrap_err().field, field);
        }
    }
}
