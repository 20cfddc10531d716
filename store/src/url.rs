//! Which store to open: `--store`, else `MDHOST_DATABASE_URL`, else the SQLite file
//! `data/mdhost.db`, so that a first run needs no server.

use std::path::Path;

use super::StoreError;

pub const ENV_URL: &str = "MDHOST_DATABASE_URL";
pub const DEFAULT_URL: &str = "sqlite://data/mdhost.db";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    Postgres(String),
    /// A sqlx SQLite URL (`sqlite://path`).
    Sqlite(String),
}

impl StoreUrl {
    /// `explicit` (the `--store` value) wins, then `$MDHOST_DATABASE_URL`, then
    /// `configured` (`[host] store`), then the SQLite default. An empty value counts as unset.
    pub fn resolve(
        explicit: Option<&str>,
        configured: Option<&StoreUrl>,
    ) -> Result<Self, StoreError> {
        let env = std::env::var(ENV_URL).ok().filter(|v| !v.is_empty());
        match explicit
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .or(env)
        {
            Some(url) => Self::parse(&url),
            None => Ok(configured
                .cloned()
                .unwrap_or_else(|| Self::parse(DEFAULT_URL).expect("valid default"))),
        }
    }

    pub fn parse(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(StoreUrl::Postgres(url.to_owned()));
        }
        if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            if path.is_empty() {
                return Err(StoreError::BadUrl(url.to_owned()));
            }
            return Ok(StoreUrl::Sqlite(format!("sqlite://{path}")));
        }
        if url.contains("://") || url.is_empty() {
            return Err(StoreError::BadUrl(url.to_owned()));
        }
        Ok(StoreUrl::Sqlite(format!("sqlite://{url}")))
    }

    /// The URL with any password replaced, for messages and logs.
    pub fn redacted(&self) -> String {
        match self {
            StoreUrl::Sqlite(u) => u.clone(),
            StoreUrl::Postgres(u) => match url::Url::parse(u) {
                Ok(mut parsed) if parsed.password().is_some() => {
                    let _ = parsed.set_password(Some("***"));
                    parsed.to_string()
                }
                _ => u.clone(),
            },
        }
    }

    /// The SQLite file path, for creating its directory.
    pub(super) fn sqlite_path(url: &str) -> Option<&Path> {
        let path = url.strip_prefix("sqlite://")?;
        let path = path.split('?').next()?;
        (path != ":memory:").then(|| Path::new(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: Option<StoreUrl>) {
        assert_eq!(StoreUrl::parse(input).ok(), expected, "{input:?}");
    }

    #[test]
    fn urls_and_paths_name_a_backend() {
        use StoreUrl::*;
        check(
            "postgres://postgres@127.0.0.1/db",
            Some(Postgres("postgres://postgres@127.0.0.1/db".into())),
        );
        check(
            "postgresql://h/db",
            Some(Postgres("postgresql://h/db".into())),
        );
        check(
            "sqlite://data/mdhost.db",
            Some(Sqlite("sqlite://data/mdhost.db".into())),
        );
        check(
            "sqlite:data/x.db",
            Some(Sqlite("sqlite://data/x.db".into())),
        );
        check(
            "/var/lib/mdhost.db",
            Some(Sqlite("sqlite:///var/lib/mdhost.db".into())),
        );
        check("mysql://h/db", None);
        check("", None);
        assert_eq!(
            StoreUrl::parse("postgres://u:secret@h/db")
                .unwrap()
                .redacted(),
            "postgres://u:***@h/db"
        );
    }
}
