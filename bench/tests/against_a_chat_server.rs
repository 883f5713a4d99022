//! End-to-end checks of the load generator against a small chat server that
//! lives in this test: one axum app speaking both protocols, this project's
//! (`/ws`) and socket.io's Engine.IO handshake (`/socket.io/`). They prove that
//! the hand-written WebSocket client interoperates with a real server
//! implementation, that every delivery is counted, and that pings are answered.
//!
//! The last two check the bench's own bare server (`bench::bare_server`, the
//! measuring stick of `compare.sh`): it must lose nothing, or its figures
//! would not be a fair floor for step 08's.
//!
//! Run: `cargo test -p bench --test against_a_chat_server`.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use bench::config::LoadConfig;
use bench::result::RunResult;
use futures::{SinkExt, StreamExt};
use tokio::sync::broadcast;

/// What the test server shares between connections.
#[derive(Clone)]
struct ChatState {
    realtime: broadcast::Sender<Utf8Bytes>,
    socket_io: broadcast::Sender<Utf8Bytes>,
    next_id: Arc<AtomicU64>,
    /// Connections that answered at least one Engine.IO ping (`2`) with a
    /// pong (`3`): proves every client of the generator answers pings.
    clients_that_ponged: Arc<AtomicU64>,
}

async fn spawn_chat_server() -> (SocketAddr, ChatState) {
    let state = ChatState {
        realtime: broadcast::channel(4096).0,
        socket_io: broadcast::channel(4096).0,
        next_id: Arc::new(AtomicU64::new(1)),
        clients_that_ponged: Arc::new(AtomicU64::new(0)),
    };
    let app = Router::new()
        .route("/ws", get(realtime_upgrade))
        .route("/socket.io/", get(socket_io_upgrade))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (address, state)
}

async fn realtime_upgrade(upgrade: WebSocketUpgrade, State(state): State<ChatState>) -> Response {
    upgrade.on_upgrade(move |socket| async move {
        let id = format!("rt{}", state.next_id.fetch_add(1, Ordering::Relaxed));
        let greeting = serde_json::json!({"event": "connect", "data": {"id": id}}).to_string();
        relay(socket, state.realtime.clone(), greeting, None, move |text| {
            let frame: serde_json::Value = serde_json::from_str(text).ok()?;
            let published = frame["data"].as_str()?;
            Some(serde_json::json!({"event": "message", "data": {"from": id, "text": published}}).to_string())
        })
        .await
    })
}

async fn socket_io_upgrade(upgrade: WebSocketUpgrade, State(state): State<ChatState>) -> Response {
    upgrade.on_upgrade(move |mut socket| async move {
        let sid = format!("io{}", state.next_id.fetch_add(1, Ordering::Relaxed));
        let open = r#"0{"sid":"eio","upgrades":[],"pingInterval":200,"pingTimeout":5000,"maxPayload":1000000}"#;
        if socket.send(Message::Text(open.into())).await.is_err() {
            return;
        }
        // The client must join the namespace before anything else.
        match socket.recv().await {
            Some(Ok(Message::Text(text))) if text.as_str() == "40" => {}
            _ => return,
        }
        let ack = format!(r#"40{{"sid":"{sid}"}}"#);
        relay(socket, state.socket_io.clone(), ack, Some(state.clients_that_ponged.clone()), move |text| {
            let event: serde_json::Value = serde_json::from_str(text.strip_prefix("42")?).ok()?;
            let published = event.get(1)?.as_str()?;
            Some(format!("42{}", serde_json::json!(["message", {"from": sid, "text": published}])))
        })
        .await
    })
}

/// Sends `greeting`, then rebroadcasts what `republish` makes of each text
/// frame to every client; with `ponged`, also pings every 200 ms (Engine.IO)
/// and counts this connection in `ponged` at its first pong.
async fn relay(
    socket: WebSocket,
    hub: broadcast::Sender<Utf8Bytes>,
    greeting: String,
    ponged: Option<Arc<AtomicU64>>,
    republish: impl Fn(&str) -> Option<String> + Send + 'static,
) {
    let mut feed = hub.subscribe();
    let (mut sink, mut stream) = socket.split();
    if sink.send(Message::Text(greeting.into())).await.is_err() {
        return;
    }
    let pinging = ponged.is_some();
    let mut answered_a_ping = false;
    let writer = tokio::spawn(async move {
        let mut ping = tokio::time::interval(Duration::from_millis(200));
        loop {
            tokio::select! {
                message = feed.recv() => match message {
                    Ok(text) => if sink.send(Message::Text(text)).await.is_err() { return },
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = ping.tick(), if pinging => if sink.send(Message::Text("2".into())).await.is_err() { return },
            }
        }
    });
    while let Some(Ok(Message::Text(text))) = stream.next().await {
        if text.as_str() == "3" {
            if let Some(ponged) = ponged.as_ref().filter(|_| !answered_a_ping) {
                answered_a_ping = true;
                ponged.fetch_add(1, Ordering::Relaxed);
            }
        } else if let Some(out) = republish(text.as_str()) {
            let _ = hub.send(out.into());
        }
    }
    writer.abort();
}

async fn load(address: SocketAddr, extra: &str) -> RunResult {
    let args = format!("--url ws://{address} --warmup 0.2 --duration 1 --drain 5 {extra}");
    let config = LoadConfig::from_args(args.split_whitespace().map(String::from)).unwrap();
    tokio::time::timeout(Duration::from_secs(30), bench::run::run(&config))
        .await
        .expect("the run ends by itself")
        .expect("the run succeeds")
}

/// Every measured message reached each of the run's `clients` exactly once,
/// and no client was cut off.
fn assert_every_delivery_arrived(result: &RunResult, clients: u64) {
    assert_eq!(result.clients_connected, clients, "{result}");
    assert_eq!(
        result.deliveries_received,
        result.messages_sent_measured * clients,
        "{result}"
    );
    assert_eq!(result.deliveries_lost, 0, "{result}");
    assert_eq!(result.clients_ended_early, 0, "{result}");
}

/// At a fixed rate in this project's protocol, every message reaches every client once, and latencies are measured.
#[tokio::test]
async fn realtime_paced_run_counts_every_delivery() {
    let (address, _state) = spawn_chat_server().await;

    let result = load(
        address,
        "--protocol realtime --clients 20 --senders 4 --rate 100",
    )
    .await;

    assert!(result.messages_sent_measured >= 80, "{result}");
    assert_eq!(
        result.deliveries_expected,
        result.messages_sent_measured * 20
    );
    assert_every_delivery_arrived(&result, 20);
    assert!(result.latency.is_some_and(|latency| latency.p50_ms > 0.0));
}

/// Flat out, each sender keeps its messages in flight and the loop runs at the server's pace, losing nothing.
#[tokio::test]
async fn realtime_flat_out_run_keeps_the_pipeline_full() {
    let (address, _state) = spawn_chat_server().await;

    let result = load(
        address,
        "--protocol realtime --clients 10 --senders 2 --flat-out --in-flight 3",
    )
    .await;

    // 2 senders × 3 in flight is all that could be sent without echoes coming
    // back; anything more proves each echo let another message go. (No
    // speed is asserted: that is the benchmark's job, not a test's.)
    assert!(result.messages_sent_measured > 2 * 3, "{result}");
    assert_every_delivery_arrived(&result, 10);
}

/// Over socket.io the Engine.IO handshake completes, messages fan out, and pings get pongs.
#[tokio::test]
async fn socket_io_run_handshakes_and_answers_pings() {
    let (address, state) = spawn_chat_server().await;

    let result = load(
        address,
        "--protocol socketio --clients 10 --senders 2 --rate 50",
    )
    .await;

    assert_every_delivery_arrived(&result, 10);
    assert_eq!(
        state.clients_that_ponged.load(Ordering::Relaxed),
        10,
        "every client answered at least one ping"
    );
}

/// Idle mode connects everyone and sends nothing.
#[tokio::test]
async fn idle_run_only_connects() {
    let (address, _state) = spawn_chat_server().await;

    let result = load(address, "--protocol realtime --clients 50 --idle").await;

    assert_eq!(result.clients_connected, 50);
    assert_eq!(result.messages_sent_total, 0);
    assert_eq!(result.clients_ended_early, 0);
}

/// Starts the bench's bare server on a free loopback port. Its accept loop
/// runs on a plain thread until the test process exits.
fn spawn_bare_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || bench::bare_server::serve(listener));
    address
}

/// The bare server, at a fixed rate: every message reaches every client once.
#[tokio::test]
async fn bare_server_paced_run_loses_nothing() {
    let address = spawn_bare_server();

    let result = load(address, "--clients 20 --senders 4 --rate 100").await;

    assert!(result.messages_sent_measured >= 80, "{result}");
    assert_every_delivery_arrived(&result, 20);
}

/// The bare server, flat out: its one fan-out thread keeps up and loses nothing.
#[tokio::test]
async fn bare_server_flat_out_run_loses_nothing() {
    let address = spawn_bare_server();

    let result = load(address, "--clients 50 --senders 5 --flat-out --in-flight 4").await;

    // Without echoes coming back, no more than 5 × 4 could ever be sent.
    assert!(result.messages_sent_measured > 5 * 4, "{result}");
    assert_every_delivery_arrived(&result, 50);
}
