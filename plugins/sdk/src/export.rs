//! The plugin author's traits and their binding to the contract's exports: every
//! function has a default answering `unsupported`, so a plugin writes only what its
//! provider serves, and bars go out as columns whatever shape the plugin built them in.

use std::marker::PhantomData;

use crate::bindings::exports::mdhost::provider::{provider as wit, streaming as ws};
use crate::{
    ActionsPage, ActionsRequest, Adjustment, BarsPage, BarsRequest, Event, Info, InstrumentsPage,
    InstrumentsRequest, Plan, ProviderError, SeriesPage, SeriesRequest, Timeframe, columns,
};

fn unsupported<T>(what: &str) -> Result<T, ProviderError> {
    Err(ProviderError::Unsupported(format!(
        "this plugin does not serve {what}"
    )))
}

/// What a provider plugin serves. Only `describe` is required; `describe().kinds` must
/// list the kinds implemented here.
pub trait Provider {
    fn describe() -> Info;

    /// One page of bars.
    fn fetch_bars(_req: BarsRequest) -> Result<BarsPage, ProviderError> {
        unsupported("bars")
    }

    /// What the provider's prices in an answer to `req` are adjusted for (sent with every
    /// series). Default: as traded.
    fn adjustment(_req: &BarsRequest) -> Adjustment {
        Adjustment::Raw
    }

    /// One page of splits and dividends.
    fn fetch_actions(_req: ActionsRequest) -> Result<ActionsPage, ProviderError> {
        unsupported("corporate actions")
    }

    /// One page of an economic series' observations.
    fn fetch_series(_req: SeriesRequest) -> Result<SeriesPage, ProviderError> {
        unsupported("economic series")
    }

    /// One page of the provider's instruments.
    fn fetch_instruments(_req: InstrumentsRequest) -> Result<InstrumentsPage, ProviderError> {
        unsupported("instruments")
    }
}

/// Real-time data: the plan of a connection and the reading of its messages.
pub trait Stream {
    fn connect(_symbols: Vec<String>, _timeframe: Timeframe) -> Result<Plan, ProviderError> {
        unsupported("streams")
    }

    fn on_message(_message: Vec<u8>) -> Result<Vec<Event>, ProviderError> {
        unsupported("streams")
    }
}

/// A plugin as the contract's exports (see [`crate::export`]).
pub struct Adapter<T>(PhantomData<T>);

impl<T: Provider + 'static> wit::Guest for Adapter<T> {
    fn describe() -> Info {
        T::describe()
    }

    fn fetch_bars(req: BarsRequest) -> Result<wit::BarsPage, ProviderError> {
        let adjustment = T::adjustment(&req);
        let page = T::fetch_bars(req)?;
        let mut series = columns::series(page.bars);
        for s in &mut series {
            s.adjustment = adjustment;
        }
        Ok(wit::BarsPage {
            series,
            next_cursor: page.next_cursor,
        })
    }

    fn fetch_actions(req: ActionsRequest) -> Result<ActionsPage, ProviderError> {
        T::fetch_actions(req)
    }

    fn fetch_series(req: SeriesRequest) -> Result<SeriesPage, ProviderError> {
        T::fetch_series(req)
    }

    fn fetch_instruments(req: InstrumentsRequest) -> Result<InstrumentsPage, ProviderError> {
        T::fetch_instruments(req)
    }
}

impl<T: Stream + 'static> ws::Guest for Adapter<T> {
    fn connect(symbols: Vec<String>, timeframe: Timeframe) -> Result<Plan, ProviderError> {
        T::connect(symbols, timeframe)
    }

    fn on_message(message: Vec<u8>) -> Result<Vec<ws::Event>, ProviderError> {
        Ok(columns::events(T::on_message(message)?))
    }
}
