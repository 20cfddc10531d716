//! `mdhost run`: the long-running service. Plugins hot-reload, jobs run on their
//! schedules, the admin API answers, and SIGTERM or SIGINT shuts it all down in order.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::service::Host;
use super::store::StoreArg;
use crate::admin::{self, AdminState};
use crate::alerts::Alerting;
use crate::cluster::{Cluster, duty::Duty, work::WorkQueue};
use crate::jobs::dispatch::Queue;
use crate::jobs::{JobContext, JobControl};
use crate::reload::Watcher;
use crate::stream::{Connector, StreamContext};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The configuration file; without it `./plugins.toml` is used if present. It is
    /// watched: a valid edit applies at once, an invalid one is refused and reported.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArg,
    /// Where the admin API listens (overrides `[host] admin_addr`).
    #[arg(long, value_name = "ADDR")]
    pub admin_addr: Option<SocketAddr>,
    /// How long running jobs get to finish their page at shutdown.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration)]
    pub grace: Duration,
}

pub async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let host = Host::service(args.config.as_ref(), &args.store).await?;
    let config = host.registry.config();
    let watcher = Arc::new(
        Watcher::start(host.registry.clone(), host.config_file.clone())
            .context("cannot watch for plugin and configuration changes")?,
    );
    let jobs = host.job_context();
    let breakers = jobs.breakers.clone();
    let connector = Connector::new(config.host.connect_to.clone(), config.host.ca_pem())
        .context("cannot set up the stream transports")?;
    // In a cluster: join it, open its work queue, and take a part of every provider's
    // limit from now on.
    let joined = match &config.host.cluster {
        None => None,
        Some(c) => {
            let (Some(pg), Some(fence)) = (&host.pg, &host.fence) else {
                anyhow::bail!("[cluster] needs a Postgres store");
            };
            let cluster = Cluster::join(c, pg.clone(), fence.clone()).await?;
            let queue = WorkQueue::open(cluster.jetstream().clone(), c).await?;
            Some((c, cluster, queue))
        }
    };
    let duty = Duty::new(
        jobs.clone(),
        StreamContext {
            registry: host.registry.clone(),
            connector: Arc::new(connector),
            metrics: host.metrics.clone(),
            health: Default::default(),
        },
        host.store.clone(),
        joined.as_ref().map(|(_, _, q)| q.clone() as Arc<dyn Queue>),
    );
    // Alone, this host runs the jobs and streams; in a cluster, only while it leads, and
    // every host runs the work items of poll jobs.
    let stop_follow = tokio_util::sync::CancellationToken::new();
    let stop_lease = tokio_util::sync::CancellationToken::new();
    let stop_work = tokio_util::sync::CancellationToken::new();
    let cluster = match joined {
        None => {
            duty.start();
            None
        }
        Some((c, cluster, queue)) => {
            tracing::info!(cluster = %c.name, host = %cluster.id(), lease = ?c.lease, "joined the cluster; its leader schedules, every host runs work items");
            let follow = tokio::spawn(duty.clone().follow(
                cluster.role(),
                args.grace,
                stop_follow.clone(),
            ));
            let lease = tokio::spawn(cluster.clone().run(stop_lease.clone()));
            // No request to any provider until this host knows its part of the limits.
            let now = tokio::time::Instant::now();
            let closed = crate::net::Window {
                from: now,
                until: now,
            };
            host.registry
                .set_rate_share(crate::net::Share::WHOLE, Some(closed));
            cluster.announce().await;
            let mut share = cluster.share();
            let registry = host.registry.clone();
            tokio::spawn(async move {
                loop {
                    if let Some((part, window)) = *share.borrow_and_update() {
                        registry.set_rate_share(part, Some(window));
                    }
                    if share.changed().await.is_err() {
                        return;
                    }
                }
            });
            let work = JobContext {
                store: super::store::open_for_work(&host.store_url).await?,
                ..jobs.clone()
            };
            let worker = tokio::spawn(queue.work(work, stop_work.clone()));
            Some((follow, lease, cluster, worker))
        }
    };
    let addr = args.admin_addr.unwrap_or(config.host.admin_addr);
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
        format!("cannot listen on {addr} (set [host] admin_addr or --admin-addr)")
    })?;
    let bound = listener.local_addr()?;
    let alerting = Arc::new(Alerting::new(
        host.registry.clone(),
        host.store.clone(),
        breakers,
        {
            let duty = duty.clone();
            Arc::new(move || duty.health())
        },
        format!("http://{bound}"),
    )?);
    let stop_alerts = tokio_util::sync::CancellationToken::new();
    let alert_task = {
        let duty = duty.clone();
        alerting
            .clone()
            .start(stop_alerts.clone(), move || duty.active())
    };
    let errors = watcher.clone();
    let state = AdminState {
        registry: host.registry.clone(),
        store: host.store.clone(),
        metrics: host.metrics.clone(),
        jobs: duty.clone() as Arc<dyn JobControl>,
        config_error: Arc::new(move || errors.config_error()),
        streams: {
            let duty = duty.clone();
            Arc::new(move || duty.health())
        },
        alerts: {
            let alerting = alerting.clone();
            Arc::new(move || alerting.alerts())
        },
        cluster: cluster.as_ref().map(|(_, _, c, _)| c.clone()),
    };
    let stop_admin = tokio_util::sync::CancellationToken::new();
    let relay = crate::publish::Relay::start(
        host.outbox.as_ref(),
        config.host.publish.as_ref(),
        &host.metrics,
    )
    .await?;
    // The read API, when `[host] api_addr` turns it on, on its own listener.
    let api = match config.host.api_addr {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
                format!("cannot listen on {addr} for the read API ([host] api_addr)")
            })?;
            tracing::info!(api = %listener.local_addr()?, "read API listening");
            Some(tokio::spawn(crate::api::serve(
                listener,
                crate::api::ApiState::new(host.store.clone()),
                stop_admin.clone().cancelled_owned(),
            )))
        }
        None => None,
    };
    let server = tokio::spawn(admin::serve(
        listener,
        state,
        stop_admin.clone().cancelled_owned(),
    ));
    tracing::info!(
        admin = %bound,
        store = %host.store_url.redacted(),
        plugins = host.registry.status().iter().filter(|s| s.state != "failed").count(),
        jobs = config.jobs.len(),
        streams = config.streams.len(),
        "mdhost is running"
    );

    let signal = shutdown_signal().await?;
    tracing::info!(signal, grace = ?args.grace, "shutting down: no new runs; running jobs finish their page; streams close and flush");
    let (jobs_clean, streams_clean) = match cluster {
        // The lead is given up once the jobs and streams stopped, not before: a successor
        // must not start them while this host still runs them.
        Some((follow, lease, _, worker)) => {
            // The item in hand finishes its page; an unfinished one goes to another host.
            stop_work.cancel();
            if tokio::time::timeout(args.grace, worker).await.is_err() {
                tracing::warn!(
                    "the work item in hand did not finish its page within the grace period"
                );
            }
            stop_follow.cancel();
            let _ = follow.await;
            let stopped = duty.stop(args.grace).await;
            stop_lease.cancel();
            let _ = lease.await;
            stopped
        }
        None => duty.stop(args.grace).await,
    };
    let clean = jobs_clean && streams_clean;
    // What the last pages wrote is published before the process ends, if NATS allows.
    if let Some(relay) = relay {
        match relay.finish(Duration::from_secs(5)).await {
            Ok(0) => {}
            Ok(left) => tracing::warn!(
                left,
                "outbox entries left unpublished; the next start publishes them"
            ),
            Err(e) => tracing::warn!(error = %e, "outbox not drained; the next start publishes it"),
        }
    }
    stop_alerts.cancel();
    let _ = alert_task.await;
    // The admin API answers until the jobs are done, so /jobs shows the shutdown.
    stop_admin.cancel();
    if let Some(api) = api {
        let _ = api.await;
    }
    match server.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "admin API stopped with an error"),
        Err(e) => tracing::warn!(error = %e, "admin API task failed"),
    }
    drop(watcher);
    if clean {
        tracing::info!("stopped cleanly");
    } else {
        tracing::warn!("stopped after the grace period; unfinished pages will be fetched again");
    }
    Ok(ExitCode::SUCCESS)
}

/// Waits for SIGTERM or SIGINT (Ctrl-C); returns its name.
async fn shutdown_signal() -> anyhow::Result<&'static str> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
        let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
        Ok(tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        })
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c()
            .await
            .context("cannot handle Ctrl-C")?;
        Ok("Ctrl-C")
    }
}
