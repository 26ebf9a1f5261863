//! The text of an error, as data: its English wording (what the APIs
//! answer and the logs keep, unchanged for the clients that match it) and,
//! for the messages a person meets on a page, a stable code with the values
//! it names. Core stays in one language; the web layer words a coded
//! message in the visitor's (`web/src/i18n/errors.rs`), by code.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    code: Option<&'static str>,
    template: &'static str,
    params: Vec<(&'static str, String)>,
    text: String,
}

impl Message {
    /// A message with a stable `code`; `english` names its values as
    /// `{name}`, each given by [`Message::with`].
    pub fn coded(code: &'static str, english: &'static str) -> Message {
        Message {
            code: Some(code),
            template: english,
            params: Vec::new(),
            text: english.to_owned(),
        }
    }

    /// Gives the value of `{name}`.
    #[must_use]
    pub fn with(mut self, name: &'static str, value: impl fmt::Display) -> Message {
        self.params.push((name, value.to_string()));
        self.text = fill(self.template, &self.params);
        self
    }

    /// The stable code, if the message has one (free text has none).
    pub fn code(&self) -> Option<&'static str> {
        self.code
    }

    /// The named values, in the order given.
    pub fn params(&self) -> &[(&'static str, String)] {
        &self.params
    }

    /// The English text.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// `template` with each `{name}` replaced by its value, in one pass (so a
/// value that itself contains `{…}` is never filled again); unknown names
/// stay as written.
pub fn fill(template: &str, params: &[(&str, String)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let value = after.find('}').and_then(|close| {
            let name = &after[..close];
            params
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (v, close))
        });
        match value {
            Some((v, close)) => {
                out.push_str(v);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// As its English text (the APIs' JSON bodies).
impl serde::Serialize for Message {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl std::ops::Deref for Message {
    type Target = str;
    fn deref(&self) -> &str {
        &self.text
    }
}

/// Free text: no code, shown as written in every language.
impl From<String> for Message {
    fn from(text: String) -> Message {
        Message {
            code: None,
            template: "",
            params: Vec::new(),
            text,
        }
    }
}

impl From<&str> for Message {
    fn from(text: &str) -> Message {
        Message::from(text.to_owned())
    }
}

impl PartialEq<str> for Message {
    fn eq(&self, other: &str) -> bool {
        self.text == other
    }
}

impl PartialEq<&str> for Message {
    fn eq(&self, other: &&str) -> bool {
        self.text == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_filled_once_and_kept_apart() {
        let m = Message::coded("x", "the name '{name}' is {what}")
            .with("name", "{what}")
            .with("what", "taken");
        assert_eq!(m.as_str(), "the name '{what}' is taken");
        assert_eq!(m.code(), Some("x"));
        assert_eq!(m.params()[0], ("name", "{what}".to_owned()));
        assert_eq!(fill("{a} {b", &[("a", "1".into())]), "1 {b");
        assert_eq!(Message::from("free").code(), None);
    }
}
