//! What `git receive-pack` hands its hooks: the ref updates of a push and
//! the quarantine its new objects wait in. The rules a push must pass are
//! in `crate::commits::push`.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The id git writes for "no object" (a created or deleted ref).
pub const ZERO: &str = "0000000000000000000000000000000000000000";

/// One line of a hook's stdin: `<old> <new> <ref>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefUpdate {
    pub old: String,
    pub new: String,
    pub name: String,
}

impl RefUpdate {
    pub fn parse_line(line: &str) -> Result<RefUpdate> {
        let mut parts = line.split_whitespace();
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(old), Some(new), Some(name), None) => Ok(RefUpdate {
                old: old.into(),
                new: new.into(),
                name: name.into(),
            }),
            _ => Err(Error::invalid(format!(
                "malformed ref update line {line:?}"
            ))),
        }
    }

    pub fn is_delete(&self) -> bool {
        self.new == ZERO
    }

    pub fn is_create(&self) -> bool {
        self.old == ZERO
    }
}

/// The quarantine git gives a pre-receive hook: new objects live there
/// until the push is accepted.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Quarantine {
    pub object_directory: Option<String>,
    pub alternate_object_directories: Option<String>,
    pub quarantine_path: Option<String>,
}
