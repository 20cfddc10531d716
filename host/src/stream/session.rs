//! One stream's connection loop: plan the connection with a fresh plugin instance, open it,
//! send `on-open`, hand every message to `on-message`, act on the events (bars to the write
//! path, replies back on the wire, trades and quotes to the aggregator), and reconnect with
//! jittered exponential backoff when it ends, opening the circuit after repeated failures.
//! Between messages it keeps watch: a heartbeat line, stale symbols, bars due on the clock.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::aggregate::Aggregator;
use super::recover::Gap;
use super::transport::{Connection, Connector, Incoming};
use super::writer::Item;
use crate::config::StreamConfig;
use crate::domain::{Adjustment, ClassSet, ProviderError, RawBar, StreamEvent};
use crate::metrics::Metrics;
use crate::net::breaker::{self, BreakerPolicy, Circuit};
use crate::reload::Registry;
use crate::runtime::PluginInstance;
use crate::runtime::capabilities::PluginCaps;
use crate::runtime::capabilities::stream::WirePlan;
use crate::store::Source;
use crate::validate::{EventKind, QualityEvent, Rejected, Validator};

/// What the sessions of all streams share.
#[derive(Clone)]
pub struct StreamContext {
    pub registry: Arc<Registry>,
    pub connector: Arc<Connector>,
    pub metrics: Arc<Metrics>,
    /// Each stream's connection state, as `/readyz` reports it.
    pub health: Arc<HealthBoard>,
}

/// One stream's connection state, updated by its session every tick.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StreamHealth {
    pub name: String,
    pub connected: bool,
    /// Seconds since the last message, if one came.
    pub last_message_age_s: Option<u64>,
    /// `[[streams]] required`: while it is down the service is not ready.
    pub required: bool,
}

/// The connection state of every running stream.
#[derive(Debug, Default)]
pub struct HealthBoard(parking_lot::Mutex<std::collections::BTreeMap<String, StreamHealth>>);

impl HealthBoard {
    fn set(&self, h: StreamHealth) {
        self.0.lock().insert(h.name.clone(), h);
    }

    /// Every running stream, by name.
    pub fn all(&self) -> Vec<StreamHealth> {
        self.0.lock().values().cloned().collect()
    }
}

/// Why a connection ended (or never opened).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ended {
    /// The host is stopping the stream.
    Stopped,
    /// The connection closed or broke; reconnect.
    Dropped(String),
    /// The plugin or the host's rules refused to go on (a trap, a denial, no plugin).
    Failed(String),
    Unauthorized(String),
    RateLimited(Option<u32>),
    /// The provider's request quota is spent (until then, if known).
    QuotaExhausted(Option<DateTime<Utc>>),
    /// Nothing arrived for this long: the connection is alive only in name.
    Stalled(Duration),
}

impl std::fmt::Display for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ended::Stopped => f.write_str("stopped"),
            Ended::Dropped(m) => write!(f, "connection lost: {m}"),
            Ended::Failed(m) => write!(f, "failed: {m}"),
            Ended::Unauthorized(m) => write!(f, "unauthorized: {m}"),
            Ended::RateLimited(Some(s)) => write!(f, "rate limited (retry in {s} s)"),
            Ended::RateLimited(None) => f.write_str("rate limited"),
            Ended::QuotaExhausted(Some(t)) => {
                write!(f, "quota exhausted until {}", t.to_rfc3339())
            }
            Ended::QuotaExhausted(None) => f.write_str("quota exhausted"),
            Ended::Stalled(d) => write!(
                f,
                "no message for {}s (idle_timeout); closed the silent connection",
                d.as_secs()
            ),
        }
    }
}

impl Ended {
    fn outcome(&self) -> &'static str {
        match self {
            Ended::Unauthorized(_) => "unauthorized",
            _ => "failed",
        }
    }
}

/// An open connection with the instance that parses it.
struct Open {
    instance: PluginInstance,
    wire: WirePlan,
    conn: Connection,
    source: Source,
    classes: ClassSet,
}

/// Message counts since the last report.
#[derive(Debug, Default)]
struct Counts {
    messages: u64,
    bad: u64,
    bars: u64,
    dropped_late: u64,
}

/// How often stale symbols, clock-closed bars and counters are looked at.
const TICK: Duration = Duration::from_secs(1);

pub struct Session {
    cfg: Arc<StreamConfig>,
    ctx: Arc<StreamContext>,
    writer: mpsc::Sender<Item>,
    gaps: mpsc::UnboundedSender<Gap>,
    validator: Validator,
    symbols: HashSet<String>,
    /// Newest complete bar start per symbol: the next one should follow it.
    last_bar: HashMap<String, DateTime<Utc>>,
    /// The answer (message or clock tick) whose bars are being delivered.
    answer: u64,
    /// When the last "falling behind" warning was logged.
    queue_warned: Option<Instant>,
    /// When each symbol last had data (any bar, trade or quote).
    last_data: HashMap<String, (Instant, DateTime<Utc>)>,
    stale: HashSet<String>,
    started: (Instant, DateTime<Utc>),
    aggregator: Aggregator,
    counts: Counts,
    /// Counts since the last heartbeat line.
    beat: Counts,
    last_beat: Instant,
    last_message: Option<Instant>,
    bad_logged: (u32, Option<Instant>),
    connected: bool,
    /// The classes the plugin declares (`Policies::class_of` reads each symbol by them).
    classes: ClassSet,
    source: Option<Source>,
    on_message_time: prometheus_client::metrics::histogram::Histogram,
    /// After a reconnect: the symbols that have had no bar since, with their last bar
    /// before the outage, and when the connection opened.
    after_reconnect: Option<(Instant, HashMap<String, DateTime<Utc>>)>,
}

/// Delays between reconnects: doubling from `min`, jittered at every step, capped below
/// `max`. backon adds up to 100% of the current delay as jitter, so the cap it is given is
/// half of `max`: at the cap delays still spread over `[max/2, max)` instead of all being
/// `max`, and a fleet of hosts does not reconnect in lockstep.
fn reconnect_backoff(min: Duration, max: Duration) -> backon::ExponentialBackoff {
    ExponentialBuilder::default()
        .with_min_delay(min)
        .with_max_delay(max / 2)
        .with_jitter()
        .without_max_times()
        .build()
}

/// A reconnect recovers the outage only for series whose last bar is this recent: older
/// ones are history (a backfill's job), not an outage.
pub(super) const RECONNECT_RECOVERY_HORIZON: chrono::Duration = chrono::Duration::days(1);

impl Session {
    pub fn new(
        cfg: Arc<StreamConfig>,
        ctx: Arc<StreamContext>,
        validator: Validator,
        writer: mpsc::Sender<Item>,
        gaps: mpsc::UnboundedSender<Gap>,
    ) -> Self {
        let on_message_time = ctx.metrics.stream_on_message(&cfg.name);
        Session {
            symbols: cfg.symbols.iter().cloned().collect(),
            aggregator: Aggregator::new(cfg.timeframe, cfg.late_grace),
            cfg,
            ctx,
            writer,
            gaps,
            validator,
            last_bar: HashMap::new(),
            answer: 0,
            queue_warned: None,
            last_data: HashMap::new(),
            stale: HashSet::new(),
            started: (Instant::now(), Utc::now()),
            counts: Counts::default(),
            beat: Counts::default(),
            last_beat: Instant::now(),
            last_message: None,
            bad_logged: (0, None),
            connected: false,
            classes: ClassSet::EMPTY,
            source: None,
            on_message_time,
            after_reconnect: None,
        }
    }

    /// Starts from the newest stored bar of each symbol, as if the stream had delivered it:
    /// the first connection then recovers what closed since, as any reconnect does.
    pub fn resuming_after(mut self, last_bars: HashMap<String, DateTime<Utc>>) -> Self {
        self.last_bar = last_bars;
        self
    }

    /// Runs until `stop` is cancelled: connect, serve, reconnect.
    pub async fn run(mut self, stop: CancellationToken) {
        let name = self.cfg.name.clone();
        let mut backoff = self.backoff();
        let mut circuit = Circuit::default();
        let policy = BreakerPolicy {
            threshold: self.cfg.breaker_after,
            cooldown: self.cfg.breaker_cooldown,
        };
        loop {
            if stop.is_cancelled() {
                break;
            }
            let (ended, healthy) = match self.open().await {
                Ok(open) => {
                    let (ended, healthy) = self.serve(open, &stop).await;
                    // A connection counts as `ok` once it delivers data (see `serve`); one
                    // that never did failed, refused credentials included.
                    if !healthy && ended != Ended::Stopped {
                        self.ctx.metrics.stream_connect(&name, ended.outcome());
                    }
                    (ended, healthy)
                }
                Err(e) => {
                    self.ctx.metrics.stream_connect(&name, e.outcome());
                    (e, false)
                }
            };
            if ended == Ended::Stopped {
                break;
            }
            if healthy {
                backoff = self.backoff();
                circuit.success();
            } else {
                circuit.failure(policy);
            }
            let mut delay = backoff
                .next()
                .unwrap_or(self.cfg.reconnect_max)
                .min(self.cfg.reconnect_max);
            match ended {
                Ended::RateLimited(Some(s)) => {
                    delay = delay.max(Duration::from_secs(u64::from(s)));
                }
                // Not before the quota renews: reconnecting sooner only spends requests
                // the host would refuse.
                Ended::QuotaExhausted(Some(until)) => {
                    let left = (until - Utc::now()).to_std().unwrap_or_default();
                    delay = delay.max(left);
                }
                _ => {}
            }
            // Open, the circuit's cool-down replaces the backoff; the connection after it
            // is the trial.
            if let Err(breaker::Open(cooldown)) = circuit.allow() {
                delay = cooldown;
                tracing::error!(stream = %name, failures = circuit.failures(), cooldown = ?delay, reason = %ended, "stream circuit open: repeated connection failures; trying again after the cooldown");
            } else {
                tracing::warn!(stream = %name, reason = %ended, retry_in = ?delay, "stream connection ended; reconnecting");
            }
            if !self.wait(delay, &stop).await {
                break;
            }
        }
        self.report();
        tracing::info!(stream = %name, "stream stopped");
    }

    fn backoff(&self) -> backon::ExponentialBackoff {
        reconnect_backoff(self.cfg.reconnect_min, self.cfg.reconnect_max)
    }

    /// Waits `delay` while keeping watch; false when the stream is being stopped.
    async fn wait(&mut self, delay: Duration, stop: &CancellationToken) -> bool {
        let until = tokio::time::Instant::now() + delay;
        let mut tick = tokio::time::interval(TICK);
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(until) => return true,
                () = stop.cancelled() => return false,
                _ = tick.tick() => self.housekeeping().await,
            }
        }
    }

    async fn open(&mut self) -> Result<Open, Ended> {
        let plugin = self.ctx.registry.get(&self.cfg.provider).ok_or_else(|| {
            Ended::Failed(format!("plugin {:?} is not loaded", self.cfg.provider))
        })?;
        if !plugin.info().streaming {
            return Err(Ended::Failed(format!(
                "plugin {:?} does not stream",
                plugin.name()
            )));
        }
        let mut instance = plugin
            .instance()
            .await
            .map_err(|e| Ended::Failed(e.to_string()))?;
        let symbols: Vec<String> = self.cfg.symbols.clone();
        let plan = match instance.connect(&symbols, self.cfg.timeframe).await {
            Err(e) => return Err(Ended::Failed(format!("connect: {e}"))),
            Ok(Err(ProviderError::Unauthorized(m))) => return Err(Ended::Unauthorized(m)),
            Ok(Err(ProviderError::QuotaExhausted(t))) => return Err(Ended::QuotaExhausted(t)),
            Ok(Err(e)) => return Err(Ended::Failed(format!("connect: {e}"))),
            Ok(Ok(plan)) => plan,
        };
        let wire = instance
            .capabilities()
            .stream_plan(&plan)
            .map_err(|d| Ended::Failed(format!("stream denied: {d}")))?;
        let conn = self.ctx.connector.open(&wire).await.map_err(|e| {
            if e.is_unauthorized() {
                Ended::Unauthorized(e.to_string())
            } else {
                Ended::Dropped(e.to_string())
            }
        })?;
        let classes = plugin.info().classes();
        let source = Source {
            provider: plugin.name().to_owned(),
            version: plugin.version().to_owned(),
        };
        Ok(Open {
            instance,
            wire,
            conn,
            source,
            classes,
        })
    }

    /// Serves one open connection until it ends; `healthy` tells whether it delivered data
    /// (then the next reconnect starts from the shortest delay again).
    async fn serve(&mut self, open: Open, stop: &CancellationToken) -> (Ended, bool) {
        let Open {
            mut instance,
            wire,
            mut conn,
            source,
            classes,
        } = open;
        self.classes = classes;
        self.source = Some(source.clone());
        let name = self.cfg.name.clone();
        tracing::info!(stream = %name, provider = %source.provider, version = %source.version, url = %wire.shown_url, "stream connected");
        self.connected = true;
        self.publish_health();
        let now = Utc::now();
        let recent: HashMap<String, DateTime<Utc>> = self
            .last_bar
            .iter()
            .filter(|(_, last)| now - **last < RECONNECT_RECOVERY_HORIZON)
            .map(|(s, last)| (s.clone(), *last))
            .collect();
        self.after_reconnect = (!recent.is_empty()).then(|| (Instant::now(), recent));
        self.ctx.metrics.stream_connected(&name, true);
        let mut healthy = false;
        let ended = 'conn: {
            for m in &wire.on_open {
                if let Err(e) = conn.send(m.clone()).await {
                    break 'conn Ended::Dropped(format!("sending on-open message: {e}"));
                }
            }
            let mut tick = tokio::time::interval(TICK);
            // A tick missed under load is not made up in a burst.
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let opened = Instant::now();
            let mut pinged = opened;
            loop {
                tokio::select! {
                    biased;
                    () = stop.cancelled() => {
                        conn.close("mdhost is shutting down").await;
                        self.set_disconnected();
                        return (Ended::Stopped, healthy);
                    }
                    // Before messages: under a flood the next message is always ready, and
                    // the clock's work (heartbeat, stale checks, closing bars, the idle
                    // timeout) must still run once a tick.
                    _ = tick.tick() => {
                        self.housekeeping().await;
                        let heard = self.last_message.filter(|t| *t > opened).unwrap_or(opened);
                        if heard.elapsed() >= self.cfg.idle_timeout {
                            self.ctx.metrics.stream_stall(&name);
                            break 'conn Ended::Stalled(heard.elapsed());
                        }
                        if pinged.elapsed() >= self.cfg.ping_interval {
                            pinged = Instant::now();
                            if let Err(e) = conn.ping().await {
                                break 'conn Ended::Dropped(format!("ping: {e}"));
                            }
                        }
                    }
                    r = conn.next() => match r {
                        Ok(Incoming::Message(bytes)) => {
                            let received = Instant::now();
                            self.counts.messages += 1;
                            self.last_message = Some(received);
                            self.answer = super::writer::answer_id();
                            let parsed = instance.on_message(&bytes).await;
                            self.on_message_time.observe(received.elapsed().as_secs_f64()); // float-ok: a latency
                            let events = match parsed {
                                Err(e) => break 'conn Ended::Failed(format!("on-message: {e}")),
                                Ok(Err(e)) => {
                                    self.bad_message(&bytes, &e.to_string());
                                    continue;
                                }
                                Ok(Ok(events)) => events,
                            };
                            for ev in events {
                                let data = matches!(ev, StreamEvent::Bar(_) | StreamEvent::Quote(_) | StreamEvent::Trade(_) | StreamEvent::Heartbeat);
                                if data && !healthy {
                                    healthy = true;
                                    self.ctx.metrics.stream_connect(&name, "ok");
                                }
                                if let Some(end) = self.event(ev, received, &mut conn, &wire, instance.capabilities(), &source).await {
                                    break 'conn end;
                                }
                            }
                        }
                        Ok(Incoming::Closed { code, reason }) => {
                            let code = code.map_or("no code".to_owned(), |c| c.to_string());
                            break 'conn Ended::Dropped(format!("the server closed the connection ({code}): {reason}"));
                        }
                        Err(e) => break 'conn Ended::Dropped(e.to_string()),
                    },
                }
            }
        };
        conn.close("mdhost is reconnecting").await;
        self.set_disconnected();
        (ended, healthy)
    }

    fn set_disconnected(&mut self) {
        self.connected = false;
        self.ctx.metrics.stream_connected(&self.cfg.name, false);
        self.publish_health();
    }

    fn publish_health(&self) {
        self.ctx.health.set(StreamHealth {
            name: self.cfg.name.clone(),
            connected: self.connected,
            last_message_age_s: self.last_message.map(|t| t.elapsed().as_secs()),
            required: self.cfg.required,
        });
    }

    /// Acts on one event; `Some` ends the connection.
    async fn event(
        &mut self,
        ev: StreamEvent,
        received: Instant,
        conn: &mut Connection,
        wire: &WirePlan,
        caps: &PluginCaps,
        source: &Source,
    ) -> Option<Ended> {
        match ev {
            StreamEvent::Bar(bar) => self.bar(bar, Some(received), source).await,
            StreamEvent::Quote(q) => {
                if self.known(&q.symbol) {
                    self.note_data(&q.symbol);
                    let r = self.aggregator.quote(&q);
                    self.aggregated(r, received, source).await;
                }
            }
            StreamEvent::Trade(t) => {
                if self.known(&t.symbol) {
                    self.note_data(&t.symbol);
                    let r = self.aggregator.trade(&t);
                    self.aggregated(r, received, source).await;
                }
            }
            StreamEvent::Reply(text) => {
                let wire_text = match caps.stream_reply(&wire.host, &text) {
                    Ok(t) => t,
                    Err(d) => return Some(Ended::Failed(format!("reply denied: {d}"))),
                };
                if let Err(e) = conn.send(wire_text).await {
                    return Some(Ended::Dropped(format!("sending a reply: {e}")));
                }
            }
            StreamEvent::Heartbeat => {}
            StreamEvent::Status(text) => {
                tracing::info!(stream = %self.cfg.name, status = %text, "provider status");
            }
            StreamEvent::Error(e) => match e {
                ProviderError::Unauthorized(m) => return Some(Ended::Unauthorized(m)),
                ProviderError::RateLimited(s) => return Some(Ended::RateLimited(s)),
                // A spent quota ends the connection until it renews.
                ProviderError::QuotaExhausted(t) => return Some(Ended::QuotaExhausted(t)),
                ProviderError::Transient(m) => return Some(Ended::Dropped(m)),
                // One message of the frame the plugin could not read; the rest counts.
                ProviderError::BadResponse(m) => self.bad_message(&[], &m),
                other => {
                    tracing::warn!(stream = %self.cfg.name, error = %other, "provider reported an error on the stream");
                }
            },
        }
        None
    }

    fn known(&mut self, symbol: &str) -> bool {
        if self.symbols.contains(symbol) {
            return true;
        }
        self.bad_message(
            symbol.as_bytes(),
            "data for a symbol the stream did not subscribe to",
        );
        false
    }

    async fn aggregated(
        &mut self,
        r: Result<super::aggregate::Aggregated, String>,
        received: Instant,
        source: &Source,
    ) {
        match r {
            Ok(a) => {
                self.counts.dropped_late += u64::from(a.dropped_late);
                for bar in a.bars {
                    self.deliver(bar, Some(received), source.clone()).await;
                }
            }
            Err(m) => self.bad_message(&[], &m),
        }
    }

    /// A bar from the wire: closed bars are written; a gap before it is recovered.
    async fn bar(&mut self, bar: RawBar, received: Option<Instant>, source: &Source) {
        if !self.known(&bar.symbol) {
            return;
        }
        self.note_data(&bar.symbol);
        // The open bar's updates (Binance's `x: false`) are data, not yet a bar.
        if !bar.complete {
            return;
        }
        if let Some(rejected) = self.validator.reject_alone(&bar, self.classes, Utc::now()) {
            // Not a bar the stream delivered: the next one finds its interval missing and
            // recovers it from REST. The broken one is quarantined, and the event says so.
            self.rejected(rejected, source).await;
            return;
        }
        if let Some((_, waiting)) = &mut self.after_reconnect {
            // Its first bar since the reconnect shows the outage's extent (below).
            waiting.remove(&bar.symbol);
        }
        if let Some(&last) = self.last_bar.get(&bar.symbol) {
            let expected = self.cfg.timeframe.end_of(last);
            if self.cfg.recover
                && bar.start > expected
                && self.market_open(&bar.symbol, expected, bar.start)
            {
                let gap = Gap {
                    symbol: bar.symbol.clone(),
                    start: expected,
                    end: bar.start,
                };
                tracing::info!(stream = %self.cfg.name, symbol = %gap.symbol, from = %gap.start, to = %gap.end, "gap in the stream; recovering");
                let _ = self.gaps.send(gap);
            }
        }
        let newest = self.last_bar.entry(bar.symbol.clone()).or_insert(bar.start);
        *newest = (*newest).max(bar.start);
        self.deliver(bar, received, source.clone()).await;
    }

    /// Whether `symbol`'s market was open at some instant of `[from, to)`; unknown
    /// calendars count as open, so a gap is recovered rather than ignored.
    fn market_open(&self, symbol: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
        let calendar = self.validator.policy(symbol, self.classes).calendar;
        calendar.open_between(from, to) != Some(false)
    }

    async fn rejected(&mut self, rejected: Rejected, source: &Source) {
        let codes: Vec<&str> = rejected.reasons.iter().map(|r| r.code.as_str()).collect();
        let event = QualityEvent {
            kind: EventKind::StreamRejected,
            symbol: rejected.raw.symbol.clone(),
            timeframe: rejected.raw.timeframe,
            start: Some(rejected.raw.start),
            end: None,
            detail: format!(
                "the stream's bar broke {}; the interval is recovered from the provider's REST endpoint instead",
                codes.join(", ")
            ),
        };
        for item in [
            Item::Rejected {
                rejected,
                source: source.clone(),
                classes: self.classes,
            },
            Item::Event {
                event,
                source: source.clone(),
                classes: self.classes,
            },
        ] {
            let _ = self.writer.send(item).await;
        }
    }

    async fn deliver(&mut self, bar: RawBar, received: Option<Instant>, source: Source) {
        self.counts.bars += 1;
        let item = Item::Bar {
            bar,
            source,
            classes: self.classes,
            received,
            answer: self.answer,
            // Live bars are as traded (`contract::v0_2` keeps no basis for stream events).
            adjustment: Adjustment::Raw,
        };
        // Waits when the store is behind: backpressure rather than unbounded memory.
        let _ = self.writer.send(item).await;
    }

    fn note_data(&mut self, symbol: &str) {
        self.last_data
            .insert(symbol.to_owned(), (Instant::now(), Utc::now()));
        if self.stale.remove(symbol) {
            tracing::info!(stream = %self.cfg.name, symbol, "data resumed");
        }
    }

    fn bad_message(&mut self, bytes: &[u8], why: &str) {
        self.counts.bad += 1;
        // The first few in full, then one line a minute: a broken feed must not flood the log.
        let (n, last) = self.bad_logged;
        if n < 5 || last.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
            self.bad_logged = (n + 1, Some(Instant::now()));
            let text = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
            tracing::warn!(stream = %self.cfg.name, error = %why, message = %text, bad_so_far = self.counts.bad + self.beat.bad, "stream message skipped");
        }
    }

    /// Once a tick: bars due on the clock, stale symbols, counters, the heartbeat line.
    async fn housekeeping(&mut self) {
        let now = Utc::now();
        let due = self.aggregator.close_due(now);
        self.answer = super::writer::answer_id();
        if let Some(source) = self.source.clone() {
            for bar in due {
                self.deliver(bar, None, source.clone()).await;
            }
        }
        self.check_stale(now).await;
        self.recover_after_reconnect(now);
        self.report();
        self.watch_queue();
        self.publish_health();
        if self.last_beat.elapsed() >= self.cfg.heartbeat {
            self.heartbeat();
        }
    }

    /// Publishes the write path's queue depth, and warns (at most once a minute) while it
    /// is over half full: the store is not keeping up and the stream will soon wait for it.
    fn watch_queue(&mut self) {
        let depth = super::writer::QUEUE.saturating_sub(self.writer.capacity());
        self.ctx.metrics.stream_queue(&self.cfg.name, depth);
        let behind = depth >= super::writer::QUEUE / 2;
        if behind
            && self
                .queue_warned
                .is_none_or(|t| t.elapsed() >= Duration::from_secs(60))
        {
            self.queue_warned = Some(Instant::now());
            tracing::warn!(stream = %self.cfg.name, queued = depth, capacity = super::writer::QUEUE, "the stream's write path is falling behind; the stream will wait for the store when the queue is full");
        }
    }

    /// A symbol that has had no bar `late_grace` after a reconnect: what closed during the
    /// outage is fetched now, rather than when (if ever) its next bar arrives.
    fn recover_after_reconnect(&mut self, now: DateTime<Utc>) {
        let Some((since, _)) = &self.after_reconnect else {
            return;
        };
        if since.elapsed() < self.cfg.late_grace {
            return;
        }
        let (_, waiting) = self.after_reconnect.take().expect("checked above");
        let Some(current) = self.cfg.timeframe.interval_start(now) else {
            return;
        };
        for (symbol, last) in waiting {
            let start = self.cfg.timeframe.end_of(last);
            if !self.cfg.recover || start >= current || !self.market_open(&symbol, start, current) {
                continue;
            }
            tracing::info!(stream = %self.cfg.name, symbol = %symbol, from = %start, to = %current, "no bar since the reconnect; recovering the outage");
            // The recovered bars count as received: the stream's next bar is compared with
            // the last of them, so the interval is not fetched twice.
            let newest = current - (start - last);
            self.last_bar.insert(symbol.clone(), newest.max(last));
            let _ = self.gaps.send(Gap {
                symbol,
                start,
                end: current,
            });
        }
    }

    async fn check_stale(&mut self, now: DateTime<Utc>) {
        let mut symbols: Vec<String> = self.cfg.symbols.clone();
        symbols.retain(|s| !self.stale.contains(s));
        for symbol in symbols {
            let (since, since_at) = self.last_data.get(&symbol).copied().unwrap_or(self.started);
            let silent = since.elapsed();
            if silent < self.cfg.stale_after {
                continue;
            }
            let calendar = self.validator.policy(&symbol, self.classes).calendar;
            if calendar.open_between(since_at, now) != Some(true) {
                continue;
            }
            self.stale.insert(symbol.clone());
            tracing::warn!(stream = %self.cfg.name, symbol = %symbol, silent_for = ?silent, connected = self.connected, "stale: no data from the stream during the session");
            self.ctx.metrics.stream_stale(&self.cfg.name, &symbol);
            let event = QualityEvent {
                kind: EventKind::Stale,
                symbol: symbol.clone(),
                timeframe: self.cfg.timeframe,
                start: Some(since_at),
                end: Some(now),
                detail: format!(
                    "stream {}: no data for {} s during the session",
                    self.cfg.name,
                    silent.as_secs()
                ),
            };
            let source = self.source.clone().unwrap_or_else(|| Source {
                provider: self.cfg.provider.clone(),
                version: String::new(),
            });
            let _ = self
                .writer
                .send(Item::Event {
                    event,
                    source,
                    classes: self.classes,
                })
                .await;
        }
    }

    /// Moves the counts into the metrics and the heartbeat tally.
    fn report(&mut self) {
        let c = std::mem::take(&mut self.counts);
        if c.messages > 0 || c.bad > 0 {
            self.ctx
                .metrics
                .stream_messages(&self.cfg.name, c.messages, c.bad);
        }
        self.beat.messages += c.messages;
        self.beat.bad += c.bad;
        self.beat.bars += c.bars;
        self.beat.dropped_late += c.dropped_late;
    }

    fn heartbeat(&mut self) {
        let b = std::mem::take(&mut self.beat);
        self.last_beat = Instant::now();
        let age = self.last_message.map(|t| format!("{:.1?}", t.elapsed()));
        tracing::info!(
            stream = %self.cfg.name,
            connected = self.connected,
            symbols = self.symbols.len(),
            stale = self.stale.len(),
            messages = b.messages,
            bars = b.bars,
            bad = b.bad,
            late_dropped = b.dropped_late,
            last_message_age = age.as_deref().unwrap_or("never"),
            "stream heartbeat"
        );
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::reconnect_backoff;

    #[test]
    fn reconnect_delays_are_jittered_at_the_cap_too() {
        let (min, max) = (Duration::from_secs(1), Duration::from_secs(60));
        let delays: Vec<Duration> = reconnect_backoff(min, max).take(60).collect();
        assert!(delays[0] >= min && delays[0] < 2 * min, "{:?}", delays[0]);
        let capped = &delays[20..];
        assert!(
            capped.iter().all(|d| *d >= max / 2 && *d < max),
            "{capped:?}"
        );
        let spread = capped
            .iter()
            .max()
            .unwrap()
            .saturating_sub(*capped.iter().min().unwrap());
        assert!(spread >= Duration::from_secs(5), "{capped:?}");
    }
}
