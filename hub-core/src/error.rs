//! The one error type of the domain. Each API family in `web` maps it to what
//! its clients expect; core never decides HTTP details beyond the kind of failure.

use std::time::Duration;

mod message;

pub use message::{Message, fill};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed or breaks a rule (bad name, hostile path, ...).
    #[error("{0}")]
    InvalidInput(Message),
    /// No credentials were given where some are needed.
    #[error("authentication required")]
    Unauthenticated,
    /// Credentials were given and are wrong, expired or revoked.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// A path a commit may not write (`..`, `.git`, a backslash, ...): bad
    /// input like [`Error::InvalidInput`], told apart because Hugging Face's
    /// commit API answers it with 422 and its clients expect that.
    #[error("{0}")]
    RefusedPath(Message),
    /// The actor is known and may see the thing, but may not do this to it.
    #[error("{0}")]
    Forbidden(Message),
    /// A repo that does not exist or that the actor may not see: the two are
    /// indistinguishable on purpose. `anonymous` lets API families answer 401
    /// to anonymous callers (Hugging Face's rule) and 404 to signed-in ones.
    #[error("repository not found")]
    RepoNotFound { anonymous: bool },
    /// Worded as Hugging Face words it; clients and scripts match the text.
    #[error("Invalid rev id: {0}")]
    RevisionNotFound(String),
    #[error("entry not found: {0}")]
    EntryNotFound(String),
    #[error("{0}")]
    NotFound(Message),
    #[error("{0}")]
    Conflict(Message),
    /// An expected parent commit (or similar precondition) no longer holds.
    #[error("{0}")]
    PreconditionFailed(Message),
    #[error("{0}")]
    PayloadTooLarge(Message),
    /// A wallet holds too little for the hold or charge asked of it.
    #[error("{0}")]
    InsufficientCredits(Message),
    /// Something this hub relies on is out of reach (a mirror's upstream
    /// that is down, or an offline mirror asked for what it has not cached):
    /// the message names it.
    #[error("{0}")]
    Unavailable(Message),
    #[error("{message}")]
    TooManyRequests {
        message: String,
        retry_after: Duration,
    },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl Error {
    pub fn invalid(message: impl Into<Message>) -> Self {
        Error::InvalidInput(message.into())
    }

    pub fn forbidden(message: impl Into<Message>) -> Self {
        Error::Forbidden(message.into())
    }

    pub fn conflict(message: impl Into<Message>) -> Self {
        Error::Conflict(message.into())
    }

    pub fn not_found(message: impl Into<Message>) -> Self {
        Error::NotFound(message.into())
    }

    pub fn too_large(message: impl Into<Message>) -> Self {
        Error::PayloadTooLarge(message.into())
    }

    pub fn insufficient_credits(message: impl Into<Message>) -> Self {
        Error::InsufficientCredits(message.into())
    }

    pub fn unavailable(message: impl Into<Message>) -> Self {
        Error::Unavailable(message.into())
    }

    pub fn precondition(message: impl Into<Message>) -> Self {
        Error::PreconditionFailed(message.into())
    }

    /// The message of the kinds that carry one (what a page may word in
    /// the visitor's language, by its code).
    pub fn message(&self) -> Option<&Message> {
        match self {
            Error::InvalidInput(m)
            | Error::RefusedPath(m)
            | Error::Forbidden(m)
            | Error::NotFound(m)
            | Error::Conflict(m)
            | Error::PreconditionFailed(m)
            | Error::PayloadTooLarge(m)
            | Error::InsufficientCredits(m)
            | Error::Unavailable(m) => Some(m),
            _ => None,
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::Internal(e.into())
    }
}

impl From<git2::Error> for Error {
    fn from(e: git2::Error) -> Self {
        Error::Internal(e.into())
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Internal(e.into())
    }
}

impl From<object_store::Error> for Error {
    fn from(e: object_store::Error) -> Self {
        Error::Internal(e.into())
    }
}

impl From<tokio::task::JoinError> for Error {
    fn from(e: tokio::task::JoinError) -> Self {
        Error::Internal(e.into())
    }
}

/// True when a database error is a unique-constraint violation.
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}
