//! One live plugin instance and the containment of its calls: every call is armed with the
//! plugin's deadline, and a trap, deadline hit or memory-cap hit fails that call only and
//! retires the instance (its state can no longer be trusted).

use std::sync::Arc;
use std::time::Duration;

use wasmtime::{Store, Trap, UpdateDeadline};

use super::Shared;
use super::capabilities::PluginCaps;
use super::contract::{Bound, ContractError, Pre};
use super::state::CallState;
use mdhost_core::domain::{
    ActionsPage, ActionsRequest, BarsPage, BarsRequest, InstrumentsPage, InstrumentsRequest,
    ProviderError, ProviderInfo, SeriesPage, SeriesRequest, StreamEvent, StreamPlan, Timeframe,
};

/// A call that failed in the host's sandbox rather than with a plugin-classified error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("deadline of {0:?} exceeded")]
    Deadline(Duration),
    #[error("memory cap of {cap} bytes exceeded (the plugin asked for {requested} bytes)")]
    MemoryCap { cap: usize, requested: usize },
    #[error(
        "the plugin tried to pass more than {cap} bytes to the host in one call (its answer, or one request); raise max_result_mb if the provider's pages are that large"
    )]
    DataCap { cap: usize },
    #[error("plugin trapped: {0}")]
    Trap(String),
    #[error("could not instantiate plugin: {0}")]
    Instantiate(String),
    #[error(transparent)]
    Contract(#[from] ContractError),
    #[error("instance is unusable after an earlier failure ({0}); create a new one")]
    Poisoned(String),
}

impl CallError {
    /// Stable kind name for metrics and reports.
    pub fn kind(&self) -> &'static str {
        match self {
            CallError::Deadline(_) => "deadline",
            CallError::MemoryCap { .. } => "memory-cap",
            CallError::DataCap { .. } => "data-cap",
            CallError::Trap(_) => "trap",
            CallError::Instantiate(_) => "instantiate",
            CallError::Contract(_) => "contract",
            CallError::Poisoned(_) => "poisoned",
        }
    }
}

/// Extra time after the deadline before the host abandons a call whose guest code is
/// not running (it is stuck in a host await); the epoch interrupt handles guest code.
const BACKSTOP_GRACE: Duration = Duration::from_secs(1);

pub struct PluginInstance {
    store: Store<CallState>,
    bound: Bound,
    poisoned: Option<String>,
}

impl PluginInstance {
    pub(crate) async fn new(
        shared: &Shared,
        pre: &Pre,
        caps: Arc<PluginCaps>,
    ) -> Result<Self, CallError> {
        let result_cap = caps.limits.max_result_bytes;
        let mut store = Store::new(&shared.engine, CallState::new(caps));
        store.limiter(|s| &mut s.limiter);
        // What one call may copy out of the guest (wasmtime's default is 128 MiB, twice
        // the default memory cap): the host's memory per call is bounded by the plugin's
        // settings, whatever the guest's answer aliases.
        store.set_hostcall_fuel(result_cap);
        // Checked on every epoch tick: interrupt once the call's wall-clock budget is
        // spent, otherwise yield so one looping plugin cannot hog an executor thread.
        store.epoch_deadline_callback(|ctx| {
            if std::time::Instant::now() >= ctx.data().cpu_deadline {
                Ok(UpdateDeadline::Interrupt)
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        store.data_mut().arm();
        store.set_epoch_deadline(1);
        match pre.instantiate(&mut store).await {
            Ok(bound) => Ok(PluginInstance {
                store,
                bound,
                poisoned: None,
            }),
            Err(e) => Err(match classify(&store, e) {
                CallError::Trap(m) => CallError::Instantiate(m),
                other => other,
            }),
        }
    }

    fn caps(&self) -> &PluginCaps {
        &self.store.data().caps
    }

    fn begin(&mut self) -> Result<(), CallError> {
        if let Some(why) = &self.poisoned {
            return Err(CallError::Poisoned(why.clone()));
        }
        self.store.data_mut().arm();
        self.store.set_epoch_deadline(1);
        Ok(())
    }

    fn backstop(&self) -> Duration {
        self.caps().limits.deadline + BACKSTOP_GRACE
    }

    fn finish<R>(
        &mut self,
        what: &str,
        outcome: Option<wasmtime::Result<R>>,
    ) -> Result<R, CallError> {
        self.store.data_mut().flush_stdio();
        let err = match outcome {
            Some(Ok(r)) => return Ok(r),
            Some(Err(e)) => classify(&self.store, e),
            None => CallError::Deadline(self.caps().limits.deadline),
        };
        let caps = self.caps();
        let err = caps.scrub_call_error(err);
        tracing::warn!(plugin = %caps.name, version = %caps.version, call = what, kind = err.kind(), error = %err, "plugin call failed; instance retired");
        self.poisoned = Some(err.to_string());
        Err(err)
    }

    /// The plugin's answer with the call's quota facts applied: a request the host refused
    /// for a spent quota makes any error the plugin made of it that quota's error, and a
    /// plugin that says its provider's quota is spent leaves the provider alone until it
    /// renews (in the ledger too, so a restart does not ask again).
    async fn settle<T>(&mut self, answer: Result<T, ProviderError>) -> Result<T, ProviderError> {
        let refused = self.store.data_mut().quota_exhausted.take();
        match answer {
            Err(_) if refused.is_some() => Err(ProviderError::QuotaExhausted(refused)),
            Err(ProviderError::QuotaExhausted(until)) => {
                let now = chrono::Utc::now();
                Err(ProviderError::QuotaExhausted(match &self.caps().quota {
                    Some(gate) => Some(gate.provider_exhausted(until, now).await),
                    // Quotas not kept (the replay harness): the plugin's answer as it is.
                    None => until,
                }))
            }
            other => other,
        }
    }

    /// Calls `describe` and checks its output against the contract.
    pub async fn describe(&mut self) -> Result<ProviderInfo, CallError> {
        self.begin()?;
        let backstop = self.backstop();
        let fut = self.bound.describe(&mut self.store);
        let outcome = tokio::time::timeout(backstop, fut).await.ok();
        Ok(self.finish("describe", outcome)??)
    }

    /// Calls `fetch-bars`. The outer error is the sandbox's; the inner one the plugin's.
    pub async fn fetch_bars(
        &mut self,
        req: &BarsRequest,
    ) -> Result<Result<BarsPage, ProviderError>, CallError> {
        self.begin()?;
        let backstop = self.backstop();
        let fut = self.bound.fetch_bars(&mut self.store, req);
        let outcome = tokio::time::timeout(backstop, fut).await.ok();
        let page = self.finish("fetch-bars", outcome)??;
        let page = self.settle(page).await;
        let caps = self.caps();
        Ok(match page {
            Ok(p) => caps.scrub_page(p),
            Err(e) => Err(caps.scrub_error(e)),
        })
    }
}

impl PluginInstance {
    /// Calls `fetch-actions` (a 0.1 plugin answers `unsupported` without a call).
    pub async fn fetch_actions(
        &mut self,
        req: &ActionsRequest,
    ) -> Result<Result<ActionsPage, ProviderError>, CallError> {
        self.begin()?;
        let backstop = self.backstop();
        let fut = self.bound.fetch_actions(&mut self.store, req);
        let outcome = tokio::time::timeout(backstop, fut).await.ok();
        let page = self.finish("fetch-actions", outcome)??;
        let page = self.settle(page).await;
        let caps = self.caps();
        Ok(match page {
            Ok(p) => caps.scrub_actions(p),
            Err(e) => Err(caps.scrub_error(e)),
        })
    }
}

impl PluginInstance {
    /// Calls `fetch-series` (a 0.1 plugin answers `unsupported` without a call).
    pub async fn fetch_series(
        &mut self,
        req: &SeriesRequest,
    ) -> Result<Result<SeriesPage, ProviderError>, CallError> {
        self.begin()?;
        let backstop = self.backstop();
        let fut = self.bound.fetch_series(&mut self.store, req);
        let outcome = tokio::time::timeout(backstop, fut).await.ok();
        let page = self.finish("fetch-series", outcome)??;
        let page = self.settle(page).await;
        let caps = self.caps();
        Ok(match page {
            Ok(p) => caps.scrub_series(p),
            Err(e) => Err(caps.scrub_error(e)),
        })
    }

    /// Calls `fetch-instruments` (a 0.1 plugin answers `unsupported` without a call).
    pub async fn fetch_instruments(
        &mut self,
        req: &InstrumentsRequest,
    ) -> Result<Result<InstrumentsPage, ProviderError>, CallError> {
        self.begin()?;
        let backstop = self.backstop();
        let fut = self.bound.fetch_instruments(&mut self.store, req);
        let outcome = tokio::time::timeout(backstop, fut).await.ok();
        let page = self.finish("fetch-instruments", outcome)??;
        let page = self.settle(page).await;
        let caps = self.caps();
        Ok(match page {
            Ok(p) => caps.scrub_instruments(p),
            Err(e) => Err(caps.scrub_error(e)),
        })
    }
}

impl PluginInstance {
    /// Calls `streaming.connect`: the plan of one connection. The instance then serves
    /// that connection's messages, so its state is the connection's state.
    pub async fn connect(
        &mut self,
        symbols: &[String],
        timeframe: Timeframe,
    ) -> Result<Result<StreamPlan, ProviderError>, CallError> {
        self.begin()?;
        let backstop = self.backstop();
        let fut = self.bound.connect(&mut self.store, symbols, timeframe);
        let outcome = tokio::time::timeout(backstop, fut).await.ok();
        let plan = self.finish("connect", outcome)??;
        let plan = self.settle(plan).await;
        let caps = self.caps();
        Ok(plan.map_err(|e| caps.scrub_error(e)))
    }

    /// Calls `streaming.on-message` with one frame or line, secret values redacted (a
    /// server may echo the auth message it was sent).
    pub async fn on_message(
        &mut self,
        message: &[u8],
    ) -> Result<Result<Vec<StreamEvent>, ProviderError>, CallError> {
        let redacted;
        let message = if self.caps().secrets.has_values() {
            redacted = self.caps().secrets.redact_bytes(message.to_vec());
            redacted.as_slice()
        } else {
            message
        };
        self.begin()?;
        let backstop = self.backstop();
        let fut = self.bound.on_message(&mut self.store, message);
        let outcome = tokio::time::timeout(backstop, fut).await.ok();
        let events = self.finish("on-message", outcome)??;
        let caps = self.caps();
        Ok(events
            .map(|list| list.into_iter().map(|e| caps.scrub_event(e)).collect())
            .map_err(|e| caps.scrub_error(e)))
    }

    /// The capabilities of the plugin this instance runs (its grant and secrets apply to
    /// the stream's URL, headers and replies too).
    pub fn capabilities(&self) -> &PluginCaps {
        self.caps()
    }
}

/// Names what stopped a call: the memory cap, the deadline, or another trap.
fn classify(store: &Store<CallState>, e: wasmtime::Error) -> CallError {
    let data = store.data();
    if let Some(requested) = data.limiter.memory_denied {
        return CallError::MemoryCap {
            cap: data.limiter.memory_cap,
            requested,
        };
    }
    let interrupted = matches!(e.downcast_ref::<Trap>(), Some(Trap::Interrupt));
    if interrupted || std::time::Instant::now() >= data.cpu_deadline {
        return CallError::Deadline(data.caps.limits.deadline);
    }
    // One line: what trapped and, for a Rust guest, its panic message. The wasm
    // backtrace goes to the debug log only.
    tracing::debug!(plugin = %data.caps.name, backtrace = %format!("{e:?}"), "plugin trap");
    if e.chain()
        .any(|c| c.to_string().contains("fuel allocated for hostcalls"))
    {
        return CallError::DataCap {
            cap: data.caps.limits.max_result_bytes,
        };
    }
    let what = match e.downcast_ref::<Trap>() {
        Some(Trap::StackOverflow) => format!(
            "{}: the plugin recursed deeper than the host's {} KiB wasm stack",
            Trap::StackOverflow,
            super::engine::MAX_WASM_STACK >> 10
        ),
        // A Rust guest keeps its own stack in linear memory, below its data: recursing
        // too deep runs off the bottom of it, which wasm reports as this.
        Some(Trap::MemoryOutOfBounds) => format!(
            "{}: a wild pointer, or the plugin overflowing its own stack (deep recursion)",
            Trap::MemoryOutOfBounds
        ),
        Some(t) => t.to_string(),
        None => e.root_cause().to_string(),
    };
    CallError::Trap(match data.panic_message() {
        Some(p) => format!("{what}; the plugin panicked {p}"),
        None => what,
    })
}
