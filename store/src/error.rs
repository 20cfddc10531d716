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
    /// Opening the store failed: `target` names it (no password), `failure` says why in
    /// words an operator acts on, and the message ends with sqlx's own chain of causes.
    #[error("cannot connect to {target}: {failure}: {}", chain(.error))]
    Connect {
        target: String,
        failure: ConnectFailure,
        error: sqlx::Error,
    },
    #[error("migration: {0}")]
    Migrate(sqlx::migrate::MigrateError),
    /// The write would replace something that must stay (a key's name).
    #[error("{0}")]
    Conflict(String),
    /// A stored value does not read back as its type: the database was edited by hand or
    /// by a newer mdhost.
    #[error("stored value {value:?} in {column} is not valid: {reason}")]
    Corrupt {
        column: &'static str,
        value: String,
        reason: String,
    },
    /// A series batch holds an observation of another series: the caller's bug, refused
    /// before anything is written.
    #[error("a batch of series {expected:?} holds an observation of {found:?}")]
    MixedBatch { expected: String, found: String },
    /// A host of a cluster wrote under a term a newer leader has replaced: it no longer
    /// leads, and the write is refused (not retried, not spooled).
    #[error(
        "fenced: this host writes as leader of cluster {cluster:?} in term {term}, but term {newest} has begun; it no longer leads"
    )]
    Fenced {
        cluster: String,
        term: u64,
        newest: u64,
    },
    #[error("spool {path}: {source}")]
    Spool {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Why a store could not be opened, as far as the error says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectFailure {
    Refused,
    Dns,
    TimedOut,
    Authentication,
    Tls,
    NoDatabase,
    /// Anything else (a bad URL, a file that cannot be created, a protocol error).
    Other,
}

impl std::fmt::Display for ConnectFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ConnectFailure::Refused => {
                "connection refused (is the server running and listening on that host and port?)"
            }
            ConnectFailure::Dns => "the host name does not resolve (DNS)",
            ConnectFailure::TimedOut => "no connection within the timeout",
            ConnectFailure::Authentication => {
                "authentication failed (check the user and password in the URL)"
            }
            ConnectFailure::Tls => {
                "TLS failed (sslmode=verify-full needs the server's CA: add &sslrootcert=FILE)"
            }
            ConnectFailure::NoDatabase => "the database does not exist",
            ConnectFailure::Other => "failed",
        })
    }
}

impl ConnectFailure {
    /// Reads the failure off sqlx's error and the chain of its sources.
    pub fn of(error: &sqlx::Error) -> Self {
        match error {
            sqlx::Error::Io(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                ConnectFailure::Refused
            }
            sqlx::Error::Io(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                ConnectFailure::TimedOut
            }
            // The standard library reports a failed lookup with an uncategorised kind;
            // its message is the only sign.
            sqlx::Error::Io(e) if e.to_string().contains("lookup address") => ConnectFailure::Dns,
            sqlx::Error::PoolTimedOut => ConnectFailure::TimedOut,
            sqlx::Error::Tls(_) => ConnectFailure::Tls,
            // rustls reports a certificate it cannot verify through the connection's I/O.
            sqlx::Error::Io(e) if e.to_string().contains("peer certificate") => ConnectFailure::Tls,
            // SQLSTATE class 28: invalid authorization (bad password, unknown role).
            sqlx::Error::Database(d) if d.code().is_some_and(|c| c.starts_with("28")) => {
                ConnectFailure::Authentication
            }
            sqlx::Error::Database(d) if d.code().as_deref() == Some("3D000") => {
                ConnectFailure::NoDatabase
            }
            _ => ConnectFailure::Other,
        }
    }
}

/// `error` and its sources, each once: sqlx's messages often repeat their source's text.
fn chain(error: &sqlx::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        source = s.source();
    }
    text
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
            StoreError::Connect { failure, .. } => matches!(
                failure,
                ConnectFailure::Refused | ConnectFailure::Dns | ConnectFailure::TimedOut
            ),
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

    /// A failure to open the store `target`.
    pub(crate) fn connect(target: impl Into<String>, error: sqlx::Error) -> Self {
        StoreError::Connect {
            target: target.into(),
            failure: ConnectFailure::of(&error),
            error,
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
