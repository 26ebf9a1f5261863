//! Query strings and form bodies as the Hugging Face client sends them:
//! lists as repeated keys (`filter=a&filter=b`, `paths=x&paths=y`), booleans
//! as `true`/`false` (older clients: `1`/`0`).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use hub_core::Error;

use crate::errors::ApiError;

/// Decoded `key=value` pairs, in order, repeated keys kept.
#[derive(Debug, Clone, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Parses `application/x-www-form-urlencoded` text (a query string or a form body).
    pub fn parse(text: &[u8]) -> Params {
        Params(form_urlencoded::parse(text).into_owned().collect())
    }

    /// Every value of `key`, in order.
    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every pair, in order.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A boolean; `None` when absent.
    pub fn flag(&self, key: &str) -> Result<Option<bool>, Error> {
        self.get(key)
            .map(|v| match v.to_ascii_lowercase().as_str() {
                "true" | "1" | "" => Ok(true),
                "false" | "0" => Ok(false),
                _ => Err(Error::invalid(format!(
                    "{key} must be true or false, not '{v}'"
                ))),
            })
            .transpose()
    }

    /// A number; `None` when absent.
    pub fn number<T: std::str::FromStr>(&self, key: &str) -> Result<Option<T>, Error> {
        self.get(key)
            .map(|v| {
                v.parse()
                    .map_err(|_| Error::invalid(format!("{key} must be a number, not '{v}'")))
            })
            .transpose()
    }
}

/// The query string of a request.
impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Params::parse(parts.uri.query().unwrap_or("").as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_keys_and_flags() {
        let p = Params::parse(b"filter=a&filter=b%20c&recursive=true&expand=0&limit=5&x=maybe");
        assert_eq!(p.all("filter").collect::<Vec<_>>(), ["a", "b c"]);
        assert_eq!(p.flag("recursive").unwrap(), Some(true));
        assert_eq!(p.flag("expand").unwrap(), Some(false));
        assert_eq!(p.flag("missing").unwrap(), None);
        assert!(p.flag("x").is_err());
        assert_eq!(p.number::<usize>("limit").unwrap(), Some(5));
        assert!(p.number::<usize>("filter").is_err());
    }
}
