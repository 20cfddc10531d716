//! Pure market-data types shared by the host and the plugin SDK, so that symbols, asset
//! classes, timeframes and decimals are read by one set of rules on both sides of the WIT boundary.

pub mod asset;
pub mod raw_decimal;
pub mod scaled;
pub mod symbol;
pub mod timeframe;

pub use asset::{AssetClass, ClassSet};
pub use raw_decimal::RawDecimal;
pub use timeframe::{ParseTimeframeError, TimeUnit, Timeframe};
