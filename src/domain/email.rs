//! E-mail addresses: the chat identity and the login of an account.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::ValidationError;

/// Longest address SMTP allows.
const MAX_LEN: usize = 254;

/// A syntactically valid address, lower-cased so that `Ana@X.com` and
/// `ana@x.com` are one person.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Email(#[serde(deserialize_with = "parse_email")] String);

/// Deserializing parses too, so no invalid address gets in that way.
fn parse_email<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let raw = String::deserialize(deserializer)?;
    Email::parse("email", &raw)
        .map(|email| email.0)
        .map_err(serde::de::Error::custom)
}

impl Email {
    pub fn parse(field: &str, raw: &str) -> Result<Email, ValidationError> {
        let invalid = || ValidationError::new(field, format!("{field} must be a valid e-mail address"));
        let address = raw.trim();
        let (local, domain) = address.rsplit_once('@').ok_or_else(invalid)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
        let domain_ok = domain.contains('.')
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if address.len() > MAX_LEN || !local_ok || !domain_ok {
            return Err(invalid());
        }
        Ok(Email(address.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// For values read back from the store, which were valid when written.
    pub fn from_stored(address: String) -> Email {
        Email(address)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::Email;

    #[test]
    fn accepts_ordinary_addresses_and_lowercases_them() {
        assert_eq!(
            Email::parse("user", " Ana.Lopez+shop@Example.COM ")
                .unwrap()
                .as_str(),
            "ana.lopez+shop@example.com"
        );
    }

    #[test]
    fn refuses_what_is_not_an_address() {
        for raw in [
            "",
            "ana",
            "ana@",
            "@x.com",
            "ana@x",
            "a b@x.com",
            "ana@x..com",
            "<script>@x.com",
            "ana@-x.com",
        ] {
            assert!(Email::parse("user", raw).is_err(), "{raw}");
        }
    }
}
