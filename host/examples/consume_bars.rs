//! A consumer of what `[publish]` sends: a durable JetStream consumer that prints every
//! bar of the `mdhost.bars.>` subjects and acknowledges it, resuming where it stopped.
//!
//! ```sh
//! cargo run -p mdhost --example consume_bars -- nats://127.0.0.1:4222 desk
//! ```

use async_nats::jetstream::{self, consumer};
use futures_util::StreamExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "nats://127.0.0.1:4222".into());
    let name = args.next().unwrap_or_else(|| "bars-example".into());
    let js = jetstream::new(async_nats::connect(&url).await?);
    let stream = js.get_stream("MDHOST").await?;
    // Durable: the server remembers what this consumer acknowledged.
    let consumer = stream
        .get_or_create_consumer(
            &name,
            consumer::pull::Config {
                durable_name: Some(name.clone()),
                filter_subject: "mdhost.bars.>".into(),
                ack_policy: consumer::AckPolicy::Explicit,
                ..Default::default()
            },
        )
        .await?;
    let mut messages = consumer.messages().await?;
    while let Some(message) = messages.next().await {
        let message = message?;
        // Prices are strings holding exact decimals: parse them into a decimal type,
        // never a float.
        let bar: serde_json::Value = serde_json::from_slice(&message.payload)?;
        println!(
            "{} {} {} close={} source={}",
            bar["symbol"].as_str().unwrap_or("?"),
            bar["timeframe"].as_str().unwrap_or("?"),
            bar["start"].as_str().unwrap_or("?"),
            bar["close"].as_str().unwrap_or("?"),
            bar["source"].as_str().unwrap_or("?"),
        );
        message.ack().await?;
    }
    Ok(())
}
