//! Store errors, split by what the caller should do about them: wait and retry (the store
//! is unreachable), or stop (anything else).

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0:?} is not a store URL: use postgres://… or sqlite:…, or a file path for SQLite")]
    BadUrl(String),
    // Not marked as sources: sqlx's messages already include their causes, and a one-line
    // CLI error that joins the chain would repeat them.
    #[error("database: {0}")]
    Database(sqlx::Error),
    #[error("migration: {0}")]
    Migrate(sqlx::migrate::MigrateError),
    /// A stored value does not read back as its type: the database was edited by hand or
    /// by a newer mdhost.
    #[error("stored value {value:?} in {column} is not valid: {reason}")]
    Corrupt {
        column: &'static str,
        value: String,
        reason: String,
    },
    #[error("spool {path}: {source}")]
    Spool {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Database(e)
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        StoreError::Migrate(e)
    }
}

impl StoreError {
    /// True when the store could not be reached, so waiting and retrying (or spooling) is
    /// right; false for errors that would only repeat.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Database(e)
            | StoreError::Migrate(sqlx::migrate::MigrateError::Execute(e)) => {
                match e {
                    sqlx::Error::Io(_)
                    | sqlx::Error::Tls(_)
                    | sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::WorkerCrashed
                    | sqlx::Error::Protocol(_) => true,
                    // Postgres says it is shutting down, starting up, or out of connections.
                    sqlx::Error::Database(d) => d.code().is_some_and(|c| {
                        c.starts_with("57P") || c.starts_with("08") || c == "53300"
                    }),
                    _ => false,
                }
            }
            _ => false,
        }
    }

    pub(crate) fn corrupt(
        column: &'static str,
        value: impl Into<String>,
        reason: impl ToString,
    ) -> Self {
        StoreError::Corrupt {
            column,
            value: value.into(),
            reason: reason.to_string(),
        }
    }
}
