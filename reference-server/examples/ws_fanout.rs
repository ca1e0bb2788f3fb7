//! WebSocket fan-out benchmark: connects N clients to a running server's live feed and reports
//! the vehicle updates per second delivered to all of them together.
//!
//! Run with:
//!
//! ```text
//! cargo run --release --example ws_fanout -- http://127.0.0.1:8000 1000 30
//! #                                           server              clients seconds
//! ```
//!
//! It logs in as the demo operator, opens the clients on `fleet-001`, waits until all are
//! connected, counts frames for the given time, and prints one summary line.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let base = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:8000".into());
    let clients: usize = args.next().map_or(Ok(1000), |s| s.parse())?;
    let seconds: u64 = args.next().map_or(Ok(30), |s| s.parse())?;
    let fleet = std::env::var("FLEET").unwrap_or_else(|_| "fleet-001".into());

    let login: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({"email": "operator@vehicleops.io", "password": "Operator123!"}))
        .send()
        .await?
        .json()
        .await?;
    let token = login["access_token"]
        .as_str()
        .ok_or("login failed")?
        .to_owned();
    let ws_url = format!(
        "{}/ws/fleet/{fleet}?token={token}",
        base.replacen("http", "ws", 1)
    );

    let updates = Arc::new(AtomicU64::new(0));
    let counting = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::with_capacity(clients);
    let connect_started = Instant::now();
    for _ in 0..clients {
        let (ws, _) = connect_async(&ws_url).await?;
        let (updates, counting) = (updates.clone(), counting.clone());
        tasks.push(tokio::spawn(async move {
            let (_tx, mut rx) = ws.split();
            while let Some(Ok(msg)) = rx.next().await {
                if let Message::Text(t) = msg {
                    // Vehicle updates are the bare objects (no "type").
                    if counting.load(Ordering::Relaxed) && !t.starts_with("{\"type\"") {
                        updates.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    let connect_secs = connect_started.elapsed().as_secs_f64();
    counting.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let delivered = updates.load(Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "clients={clients} connect_time={connect_secs:.1}s window={elapsed:.1}s \
         updates_delivered={delivered} rate={:.0}/s per_client={:.1}/s",
        delivered as f64 / elapsed,
        delivered as f64 / elapsed / clients as f64
    );
    for t in tasks {
        t.abort();
    }
    Ok(())
}
