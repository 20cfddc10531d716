//! Jobs (docs/design.md §7): what a `[[jobs]]` entry does when it runs, the scheduler that runs it,
//! and the view of it the admin API shows.

pub mod account;
pub mod book;
pub mod dispatch;
pub mod gathered;
pub mod plan;
pub mod run;
pub mod scheduler;
pub mod select;
pub mod status;

pub use crate::net::breaker::{BreakerPolicy, Breakers};
pub use run::{JobContext, Progress, Quiet, Slots, run_job};
pub use scheduler::Scheduler;
pub use status::{JobControl, JobStatus, RunSummary, TriggerError};
