//! mdhost-core: what the host knows about market data before any I/O. Bars, provider
//! answers and errors as the host sees them ([`domain`]); the hard and soft rules every
//! bar passes before the store ([`validate`]); untrusted text cut to size ([`text`]).

pub mod adjust;
pub mod domain;
pub mod text;
pub mod validate;

/// Decimals as mantissa and scale, read and written by the model's rules (the SDK's too).
pub use mdhost_model::scaled;
