//! Contract 0.1.0 (`wit/0.1.0`, frozen): its bindings, its imports served by the host's
//! capabilities, and its types converted to and from the domain's. Nothing outside this
//! module knows the 0.1 generated types.

use wasmtime::Store;
use wasmtime::component::{HasSelf, Linker};

use super::Answer;
use super::check::{ContractError, instant};
use crate::state::CallState;
use mdhost_core::domain::{BarsPage, ProviderError, ProviderInfo, RawBar, StreamEvent, Timeframe};

wasmtime::component::bindgen!({
    path: "../wit/0.1.0",
    world: "provider-plugin",
    imports: { default: async },
    exports: { default: async },
});

use exports::mdhost::provider::provider as wit;
use exports::mdhost::provider::streaming as ws;
use mdhost::provider::types as wt;

super::glue::shared_glue!();

pub async fn on_message(
    b: &ProviderPlugin,
    store: &mut Store<CallState>,
    message: &[u8],
) -> wasmtime::Result<Answer<Vec<StreamEvent>>> {
    let events = b
        .mdhost_provider_streaming()
        .call_on_message(store, message)
        .await?;
    Ok(Ok(events
        .map(|list| list.into_iter().map(event).collect())
        .map_err(error)))
}

fn error(e: wt::ProviderError) -> ProviderError {
    match e {
        wt::ProviderError::RateLimited(s) => ProviderError::RateLimited(s),
        wt::ProviderError::Unauthorized(m) => ProviderError::Unauthorized(m),
        wt::ProviderError::UnknownSymbol(s) => ProviderError::UnknownSymbol(s),
        wt::ProviderError::Unsupported(m) => ProviderError::Unsupported(m),
        wt::ProviderError::BadResponse(m) => ProviderError::BadResponse(m),
        wt::ProviderError::Transient(m) => ProviderError::Transient(m),
    }
}

/// A 0.1 plugin serves bars only and declares neither quotas nor options.
/// 0.1 has bars only: any other kind is answered for the plugin, without a call.
pub fn bars_only<T>() -> super::Answer<T> {
    Ok(Err(ProviderError::Unsupported(
        "a plugin built against contract 0.1 serves bars only".into(),
    )))
}

fn info(i: wit::Info) -> Result<ProviderInfo, ContractError> {
    Ok(super::glue::info_fields!(i))
}

fn bar(b: wt::Bar) -> RawBar {
    RawBar {
        symbol: b.symbol,
        // A zero count is a data error the validator reports; keep it visible as 0.
        timeframe: Timeframe::new(unit(b.timeframe.unit), b.timeframe.count),
        start: instant(b.start),
        open: b.open.into(),
        high: b.high.into(),
        low: b.low.into(),
        close: b.close.into(),
        volume: b.volume.map(Into::into),
        vwap: b.vwap.map(Into::into),
        trades: b.trades,
        complete: b.complete,
    }
}

fn page_of(p: wit::BarsPage) -> Result<BarsPage, ContractError> {
    Ok(BarsPage {
        bars: p.bars.into_iter().map(bar).collect(),
        next_cursor: p.next_cursor,
        // 0.1 cannot say what a provider restated; its bars are taken as traded.
        adjusted: Default::default(),
    })
}

fn event(e: ws::Event) -> StreamEvent {
    match e {
        ws::Event::Bar(b) => StreamEvent::Bar(bar(b)),
        ws::Event::Quote(q) => StreamEvent::Quote(quote(q)),
        ws::Event::Trade(t) => StreamEvent::Trade(trade(t)),
        ws::Event::Reply(text) => StreamEvent::Reply(text),
        ws::Event::Heartbeat => StreamEvent::Heartbeat,
        ws::Event::Status(text) => StreamEvent::Status(text),
        ws::Event::Error(e) => StreamEvent::Error(error(e)),
    }
}
