//! Guest-side helpers for mdhost provider plugins: the WIT bindings plus the small pieces
//! every REST adapter needs (URLs with secret placeholders, HTTP with classified errors,
//! exact decimal text, UTC time parsing), so that an adapter is mostly its parsing code.
//!
//! A plugin implements [`Provider`] (and, if it streams, [`Stream`]) and exports itself:
//!
//! ```ignore
//! struct Yahoo;
//! impl mdhost_sdk::Provider for Yahoo { /* describe, fetch_bars */ }
//! impl mdhost_sdk::Stream for Yahoo { /* or use mdhost_sdk::no_stream!() */ }
//! mdhost_sdk::export!(Yahoo);
//! ```

pub mod bindings {
    //! Generated bindings of the `mdhost:provider@0.1.0` world, re-exported for plugins.
    wit_bindgen::generate!({
        path: "../../wit/0.1.0",
        world: "provider-plugin",
        pub_export_macro: true,
        export_macro_name: "export",
        default_bindings_module: "mdhost_sdk::bindings",
        additional_derives: [PartialEq],
    });
}

// Every plugin built on the SDK allocates through talc (see Cargo.toml). Each call runs in
// a fresh instance, so the heap only ever lives for one call or one stream connection.
#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
#[global_allocator]
static TALC: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

pub mod decimal;
pub mod http;
pub mod log;
pub mod page;
pub mod stream;
pub mod time;
pub mod url;

/// Canonical symbols, read by the same rules as the host reads them.
pub use mdhost_model::symbol;

pub use bindings::export;
pub use bindings::exports::mdhost::provider::provider::{
    BarsPage, BarsRequest, Guest as Provider, Info, RateLimit,
};
pub use bindings::exports::mdhost::provider::streaming::{Event, Guest as Stream, Plan, Transport};
pub use bindings::mdhost::provider::types::{
    AssetClass, Bar, ProviderError, Quote, TimeUnit, Timeframe, Timestamp, Trade,
};
pub use decimal::Dec;

/// Implements [`Stream`] for a plugin that does not stream: both hooks answer `unsupported`.
#[macro_export]
macro_rules! no_stream {
    ($plugin:ty) => {
        impl $crate::Stream for $plugin {
            fn connect(
                _symbols: ::std::vec::Vec<::std::string::String>,
                _timeframe: $crate::Timeframe,
            ) -> ::std::result::Result<$crate::Plan, $crate::ProviderError> {
                ::std::result::Result::Err($crate::ProviderError::Unsupported(
                    "this plugin does not stream".into(),
                ))
            }
            fn on_message(
                _message: ::std::vec::Vec<u8>,
            ) -> ::std::result::Result<::std::vec::Vec<$crate::Event>, $crate::ProviderError> {
                ::std::result::Result::Err($crate::ProviderError::Unsupported(
                    "this plugin does not stream".into(),
                ))
            }
        }
    };
}

impl Timeframe {
    /// Shorthand constructor: `Timeframe::of(TimeUnit::Minute, 5)`.
    pub const fn of(unit: TimeUnit, count: u32) -> Self {
        Timeframe { unit, count }
    }

    /// Length of the interval in nanoseconds for fixed-length units; `None` for months,
    /// whose length depends on the month.
    pub fn nanos(&self) -> Option<i64> {
        mdhost_model::Timeframe::from(*self)
            .seconds()
            .map(|s| s * 1_000_000_000)
    }

    /// The end of the interval that starts at `start` (months by calendar).
    pub fn end_of(&self, start: Timestamp) -> Timestamp {
        match self.nanos() {
            Some(n) => start.saturating_add(n),
            None => time::add_months(start, self.count),
        }
    }
}

/// The WIT timeframe as the model's, whose rules (length, spelling) both sides share.
impl From<Timeframe> for mdhost_model::Timeframe {
    fn from(tf: Timeframe) -> Self {
        use mdhost_model::TimeUnit as U;
        let unit = match tf.unit {
            TimeUnit::Second => U::Second,
            TimeUnit::Minute => U::Minute,
            TimeUnit::Hour => U::Hour,
            TimeUnit::Day => U::Day,
            TimeUnit::Week => U::Week,
            TimeUnit::Month => U::Month,
        };
        mdhost_model::Timeframe::new(unit, tf.count)
    }
}

impl std::fmt::Display for Timeframe {
    /// `1m`, `5m`, `1h`, `1d`, `1w`, `1mo`, `30s` — the spelling the host's CLI uses.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        mdhost_model::Timeframe::from(*self).fmt(f)
    }
}

/// Decodes a JSON body into `T`, classifying a failure as `bad-response` with serde's
/// message (which names the line, column and the expected shape).
pub fn decode_json<'a, T: serde::Deserialize<'a>>(body: &'a [u8]) -> Result<T, ProviderError> {
    serde_json::from_slice(body)
        .map_err(|e| ProviderError::BadResponse(format!("could not decode JSON body: {e}")))
}
