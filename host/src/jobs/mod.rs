//! Jobs (DESIGN §7): what a `[[jobs]]` entry does when it runs, the scheduler that runs it,
//! and the view of it the admin API shows.

pub mod status;

pub use status::{JobControl, JobStatus, RunSummary, TriggerError};
