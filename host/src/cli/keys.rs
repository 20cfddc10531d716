//! `mdhost keys create|list|revoke`: the read API's keys. A key is printed once, when it is
//! created; the store keeps only its hash.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use chrono::Utc;
use clap::{Args, Subcommand};

use super::store::StoreArg;
use crate::api::keys::{self, Scope};
use crate::store::ApiKey;

#[derive(Debug, Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub command: KeysCommand,
    /// Settings file, for its `[host] store` when neither --store nor $MDHOST_DATABASE_URL
    /// is given. Default: ./plugins.toml, when it exists.
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// Store URL: postgres://user@host/db, sqlite:path, or a file path for SQLite.
    /// Default: $MDHOST_DATABASE_URL, else `[host] store` of the configuration, else
    /// sqlite://data/mdhost.db.
    #[arg(long = "store", value_name = "URL", global = true)]
    pub store: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it (once: only its hash is stored).
    Create {
        /// A name to list and revoke it by.
        #[arg(long)]
        name: String,
        /// `admin`, or `read:` and symbol patterns: `read:AAPL,MSFT`, `read:BTC/*`, `read:*`.
        #[arg(long)]
        scope: String,
        /// Requests it may make per minute.
        #[arg(long, default_value_t = 60)]
        per_minute: u32,
    },
    /// List the keys (names, scopes, rates, when created and revoked; never the keys).
    List,
    /// Revoke a key: requests with it are refused from then on.
    Revoke {
        /// The key's name.
        name: String,
    },
}

pub async fn run(args: KeysArgs) -> anyhow::Result<ExitCode> {
    let store_arg = StoreArg { url: args.store };
    let (_, store) = store_arg.open(args.config.as_ref()).await?;
    match args.command {
        KeysCommand::Create {
            name,
            scope,
            per_minute,
        } => {
            Scope::parse(&scope).map_err(anyhow::Error::msg)?;
            if per_minute == 0 {
                bail!("--per-minute must be at least 1");
            }
            let key = keys::new_key()?;
            store
                .create_api_key(&ApiKey {
                    name: name.clone(),
                    hash: keys::hash(&key),
                    scope,
                    per_minute,
                    created_at: Utc::now(),
                    revoked_at: None,
                })
                .await?;
            eprintln!("created key {name:?}; it is shown this once, keep it:");
            println!("{key}");
        }
        KeysCommand::List => {
            for k in store.api_keys().await? {
                let state = k.revoked_at.map_or("active".to_owned(), |t| {
                    format!("revoked {}", t.to_rfc3339())
                });
                println!(
                    "{}\t{}\t{}/min\tcreated {}\t{state}",
                    k.name,
                    k.scope,
                    k.per_minute,
                    k.created_at.to_rfc3339()
                );
            }
        }
        KeysCommand::Revoke { name } => {
            if !store.revoke_api_key(&name, Utc::now()).await? {
                bail!("no active key is named {name:?} (`mdhost keys list` shows them)");
            }
            println!("revoked {name:?}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
