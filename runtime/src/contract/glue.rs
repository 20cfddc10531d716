//! What every contract version binds the same way, written once and expanded inside each
//! version's module (`v0_1`, `v0_2`) against that version's generated types: the `http`,
//! `log` and `types` imports served by the capabilities, the calls whose shape has not
//! changed (`describe`, `fetch-bars`, `connect`), and the conversions of the types that
//! have not either (time units, timeframes, asset classes, stream plans, quotes, trades).

/// Expands, inside a version module that has run `bindgen!` and imported `wit`
/// (provider), `wt` (types) and `ws` (streaming), the glue both versions share. The
/// module supplies what differs: `info`, `page_of`, `error` and `on_message`.
macro_rules! shared_glue {
    () => {
        pub fn add_to_linker(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
            ProviderPlugin::add_to_linker::<_, HasSelf<_>>(linker, |s| s)
        }

        impl wt::Host for CallState {}

        impl mdhost::provider::http::Host for CallState {
            async fn send(
                &mut self,
                r: mdhost::provider::http::Request,
            ) -> Result<mdhost::provider::http::Response, mdhost::provider::http::HttpError> {
                use mdhost::provider::http::{HttpError, Response};
                let req = crate::net::HttpRequest {
                    method: r.method,
                    url: r.url,
                    headers: r.headers,
                    body: r.body,
                };
                match self.http_send(req).await {
                    Ok(r) => Ok(Response {
                        status: r.status,
                        headers: r.headers,
                        body: r.body,
                    }),
                    Err(crate::capabilities::HttpFailure::Denied(m)) => Err(HttpError::Denied(m)),
                    Err(crate::capabilities::HttpFailure::Timeout) => Err(HttpError::Timeout),
                    Err(crate::capabilities::HttpFailure::TooLarge) => Err(HttpError::TooLarge),
                    Err(crate::capabilities::HttpFailure::Transport(m)) => {
                        Err(HttpError::Transport(m))
                    }
                    // Both versions' `denied` covers it; the host overrides the call's
                    // answer with a spent quota anyway (CallState::quota_exhausted).
                    Err(crate::capabilities::HttpFailure::QuotaExhausted(t)) => Err(
                        HttpError::Denied(crate::capabilities::HttpFailure::quota_message(t)),
                    ),
                }
            }
        }

        impl mdhost::provider::log::Host for CallState {
            async fn log(&mut self, level: mdhost::provider::log::Level, message: String) {
                use mdhost::provider::log::Level as L;
                let level = match level {
                    L::Trace => tracing::Level::TRACE,
                    L::Debug => tracing::Level::DEBUG,
                    L::Info => tracing::Level::INFO,
                    L::Warn => tracing::Level::WARN,
                    L::Error => tracing::Level::ERROR,
                };
                self.plugin_line(level, "log", &message);
            }
        }

        fn unit(u: wt::TimeUnit) -> mdhost_core::domain::TimeUnit {
            use mdhost_core::domain::TimeUnit as T;
            match u {
                wt::TimeUnit::Second => T::Second,
                wt::TimeUnit::Minute => T::Minute,
                wt::TimeUnit::Hour => T::Hour,
                wt::TimeUnit::Day => T::Day,
                wt::TimeUnit::Week => T::Week,
                wt::TimeUnit::Month => T::Month,
            }
        }

        fn wire_timeframe(t: mdhost_core::domain::Timeframe) -> wt::Timeframe {
            use mdhost_core::domain::TimeUnit as T;
            wt::Timeframe {
                unit: match t.unit {
                    T::Second => wt::TimeUnit::Second,
                    T::Minute => wt::TimeUnit::Minute,
                    T::Hour => wt::TimeUnit::Hour,
                    T::Day => wt::TimeUnit::Day,
                    T::Week => wt::TimeUnit::Week,
                    T::Month => wt::TimeUnit::Month,
                },
                count: t.count,
            }
        }

        fn timeframe(
            t: wt::Timeframe,
        ) -> Result<mdhost_core::domain::Timeframe, super::ContractError> {
            if t.count == 0 {
                return Err(super::ContractError("timeframe count is 0".into()));
            }
            Ok(mdhost_core::domain::Timeframe::new(unit(t.unit), t.count))
        }

        fn asset_class(a: wt::AssetClass) -> mdhost_core::domain::AssetClass {
            use mdhost_core::domain::AssetClass as A;
            match a {
                wt::AssetClass::Equity => A::Equity,
                wt::AssetClass::Etf => A::Etf,
                wt::AssetClass::Index => A::Index,
                wt::AssetClass::Forex => A::Forex,
                wt::AssetClass::Crypto => A::Crypto,
                wt::AssetClass::Commodity => A::Commodity,
                wt::AssetClass::Economic => A::Economic,
            }
        }

        fn plan_of(p: ws::Plan) -> mdhost_core::domain::StreamPlan {
            use mdhost_core::domain::StreamTransport as T;
            mdhost_core::domain::StreamPlan {
                transport: match p.transport {
                    ws::Transport::Websocket => T::Websocket,
                    ws::Transport::HttpLines => T::HttpLines,
                },
                url: p.url,
                headers: p.headers,
                on_open: p.on_open,
            }
        }

        fn quote(q: wt::Quote) -> mdhost_core::domain::RawQuote {
            mdhost_core::domain::RawQuote {
                symbol: q.symbol,
                time: super::check::instant(q.time),
                bid: q.bid,
                ask: q.ask,
                bid_size: q.bid_size,
                ask_size: q.ask_size,
            }
        }

        fn trade(t: wt::Trade) -> mdhost_core::domain::RawTrade {
            mdhost_core::domain::RawTrade {
                symbol: t.symbol,
                time: super::check::instant(t.time),
                price: t.price,
                size: t.size,
            }
        }

        pub async fn describe(
            b: &ProviderPlugin,
            store: &mut Store<CallState>,
        ) -> wasmtime::Result<Result<mdhost_core::domain::ProviderInfo, super::ContractError>> {
            let i = b.mdhost_provider_provider().call_describe(store).await?;
            Ok(info(i).and_then(super::check::info))
        }

        fn request(
            r: &mdhost_core::domain::BarsRequest,
        ) -> Result<wit::BarsRequest, super::ContractError> {
            Ok(wit::BarsRequest {
                symbols: r.symbols.clone(),
                timeframe: wire_timeframe(r.timeframe),
                start: super::check::nanos(r.start)?,
                end: super::check::nanos(r.end)?,
                cursor: r.cursor.clone(),
            })
        }

        pub async fn fetch_bars(
            b: &ProviderPlugin,
            store: &mut Store<CallState>,
            req: &mdhost_core::domain::BarsRequest,
        ) -> wasmtime::Result<super::Answer<mdhost_core::domain::BarsPage>> {
            let req = match request(req) {
                Ok(r) => r,
                Err(e) => return Ok(Err(e)),
            };
            let page = b
                .mdhost_provider_provider()
                .call_fetch_bars(store, &req)
                .await?;
            Ok(match page {
                Ok(p) => page_of(p).map(Ok),
                Err(e) => Ok(Err(error(e))),
            })
        }

        pub async fn connect(
            b: &ProviderPlugin,
            store: &mut Store<CallState>,
            symbols: &[String],
            timeframe: mdhost_core::domain::Timeframe,
        ) -> wasmtime::Result<super::Answer<mdhost_core::domain::StreamPlan>> {
            let plan = b
                .mdhost_provider_streaming()
                .call_connect(store, symbols, wire_timeframe(timeframe))
                .await?;
            Ok(Ok(plan.map(plan_of).map_err(error)))
        }
    };
}

/// The `ProviderInfo` of a version's `info` record `$i` from the fields every version
/// has, with a 0.1 plugin's kinds (bars), quotas and options (none); a later version
/// takes its own out of `$i` first and sets them on the result.
macro_rules! info_fields {
    ($i:ident) => {
        mdhost_core::domain::ProviderInfo {
            name: $i.name,
            version: $i.version,
            description: $i.description,
            asset_classes: $i.asset_classes.into_iter().map(asset_class).collect(),
            timeframes: $i
                .timeframes
                .into_iter()
                .map(timeframe)
                .collect::<Result<_, _>>()?,
            allowed_hosts: $i.allowed_hosts,
            secrets: $i.secrets,
            default_rate_limit: mdhost_core::domain::RateLimit {
                requests: $i.default_rate_limit.requests,
                per_seconds: $i.default_rate_limit.per_seconds,
            },
            max_symbols_per_request: $i.max_symbols_per_request,
            streaming: $i.streaming,
            kinds: vec![mdhost_core::domain::DataKind::Bars],
            default_quotas: vec![],
            options: vec![],
        }
    };
}

pub(super) use {info_fields, shared_glue};
