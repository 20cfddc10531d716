//! The one wasmtime `Engine`: compilation settings, the pooling allocator where the machine
//! allows it, and the epoch ticker that drives per-call deadlines.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::state;

/// How often the epoch advances; a deadline is noticed within one tick.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// The largest linear memory any plugin may be configured with; the pooling allocator
/// reserves slots of this size.
pub const MAX_MEMORY_CAP: usize = 1 << 30;

/// Wasm stack one call may use.
pub const MAX_WASM_STACK: usize = 1 << 20;

fn base_config() -> Config {
    let mut c = Config::new();
    c.wasm_component_model(true);
    c.epoch_interruption(true);
    // Deep recursion in a plugin traps instead of overflowing the host's stack.
    c.max_wasm_stack(MAX_WASM_STACK);
    c.async_stack_size(2 << 20);
    c
}

fn pooling_config() -> PoolingAllocationConfig {
    let mut p = PoolingAllocationConfig::default();
    // Enough for many concurrent calls; a Rust wasip2 component has a handful of core
    // instances (its module plus adapter shims) and one or two memories.
    p.total_component_instances(256);
    p.total_core_instances(2048);
    p.total_memories(512);
    p.total_tables(1024);
    p.total_stacks(256);
    p.max_memories_per_component(state::MAX_MEMORIES as u32);
    p.max_tables_per_component(state::MAX_TABLES as u32);
    p.max_core_instances_per_component(state::MAX_INSTANCES as u32);
    p.max_memory_size(MAX_MEMORY_CAP);
    // Every call runs in a fresh instance, so a slot's memory is handed back after each
    // one. Returned to the kernel (the default), the next call page-faults it all in
    // again: a 50,000-bar page touches tens of MiB. Zeroing the first part in place
    // instead keeps it resident; only the part a call grew into is zeroed.
    p.linear_memory_keep_resident(KEEP_RESIDENT);
    p
}

/// Bytes of each memory slot kept resident between instances (see `pooling_config`).
/// Only slots that calls actually used stay resident, so the cost is this much per call
/// in flight at the busiest moment. 4 MiB made no measurable difference on a 50,000-bar
/// page; 32 MiB cut its time by 14% (BENCHMARKS.md).
pub const KEEP_RESIDENT: usize = 32 << 20;

/// Builds the engine: with the pooling allocator when it can reserve its address space,
/// on-demand allocation otherwise. Returns the engine and whether pooling is in use.
pub fn build_engine(want_pooling: bool) -> Result<(Engine, bool), wasmtime::Error> {
    if want_pooling {
        let mut c = base_config();
        c.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling_config()));
        match Engine::new(&c) {
            Ok(e) => return Ok((e, true)),
            Err(e) => {
                tracing::warn!(error = %e, "pooling allocator unavailable; using on-demand allocation")
            }
        }
    }
    Ok((Engine::new(&base_config())?, false))
}

/// Advances the engine's epoch every [`EPOCH_TICK`] on a background thread until dropped.
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl EpochTicker {
    pub fn start(engine: &Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (engine, flag) = (engine.clone(), stop.clone());
        std::thread::Builder::new()
            .name("mdhost-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .expect("spawn epoch thread");
        EpochTicker { stop }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
