//! Messages refused with `"retry": true` are sent again, unchanged, until
//! they are accepted, and count as neither lost nor refused: what the load
//! generator does when step 11's node has lost Redis.
//!
//! Step 11 refuses only while Redis is away, for a moment that a test
//! cannot place exactly; this small rooms-protocol server (axum, in the
//! test) refuses *every* message's first try instead, and takes the second
//! (recognised by its client offset), so every message goes through the
//! retry path.
//!
//! Run: `cargo test -p bench --test retries`.

mod common;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use bench::config::LoadConfig;
use common::assert_nothing_lost;
use serde_json::{Value, json};
use tokio::sync::broadcast;

/// Longest the run may take.
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// What the test server's connections share.
#[derive(Clone)]
struct Shared {
    /// Accepted messages: (the sender's connection, the frame to send).
    room: broadcast::Sender<(u64, String)>,
    /// Client offsets seen once (refused) so far.
    seen: Arc<Mutex<HashSet<String>>>,
    next_connection: Arc<AtomicU64>,
    /// First tries refused.
    refused: Arc<AtomicU64>,
}

async fn spawn_refusing_server() -> (SocketAddr, Shared) {
    let shared = Shared {
        room: broadcast::channel(4096).0,
        seen: Arc::default(),
        next_connection: Arc::default(),
        refused: Arc::default(),
    };
    let app = Router::new()
        .route("/ws", get(upgrade))
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free loopback port");
    let address = listener.local_addr().expect("a bound address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (address, shared)
}

async fn upgrade(upgrade: WebSocketUpgrade, State(shared): State<Shared>) -> Response {
    upgrade.on_upgrade(move |socket| connection(socket, shared))
}

/// One client: the greeting, then its frames and the room's messages.
async fn connection(mut socket: WebSocket, shared: Shared) {
    let id = shared.next_connection.fetch_add(1, Ordering::Relaxed);
    let mut room = shared.room.subscribe();
    let greeting = json!({"event": "connect", "data": {"id": format!("c{id}")}});
    if socket
        .send(Message::Text(greeting.to_string().into()))
        .await
        .is_err()
    {
        return;
    }
    loop {
        let outgoing = tokio::select! {
            frame = socket.recv() => match frame {
                Some(Ok(Message::Text(text))) => answer(&text, id, &shared),
                Some(Ok(_)) => None,
                _ => return,
            },
            published = room.recv() => match published {
                Ok((sender, frame)) if sender != id => Some(frame),
                Ok(_) => None,
                Err(_) => return,
            },
        };
        if let Some(frame) = outgoing
            && socket.send(Message::Text(frame.into())).await.is_err()
        {
            return;
        }
    }
}

/// The answer to one client frame: a join is welcomed; a message's first
/// try is refused with `"retry": true`, its second published and acked.
fn answer(text: &str, id: u64, shared: &Shared) -> Option<String> {
    let frame: Value = serde_json::from_str(text).ok()?;
    let ack = frame["ack"].as_u64()?;
    let data = &frame["data"];
    match frame["event"].as_str()? {
        "join" => Some(
            json!({"ack": ack, "data": {"nickname": data["nickname"], "room": data["room"], "users": []}})
                .to_string(),
        ),
        "message" => {
            let offset = data["client_offset"].as_str()?.to_owned();
            let first_try = shared
                .seen
                .lock()
                .expect("the set of offsets is not poisoned")
                .insert(offset);
            if first_try {
                shared.refused.fetch_add(1, Ordering::Relaxed);
                return Some(
                    json!({"ack": ack, "error": {"message": "this node cannot reach Redis; send it again", "retry": true}})
                        .to_string(),
                );
            }
            let message = json!({"event": "message", "data": {
                "id": "1", "room": "lg-0", "from": format!("c{id}"), "text": data["text"], "at": 0}});
            let _ = shared.room.send((id, message.to_string()));
            Some(json!({"ack": ack, "data": {"id": "1", "at": 0}}).to_string())
        }
        _ => None,
    }
}

/// Every message is refused once and accepted the second time: each is
/// counted as sent again, none as refused or lost, and each reaches the
/// other 9 clients once.
#[tokio::test]
async fn refused_messages_are_sent_again_until_accepted() {
    let (address, shared) = spawn_refusing_server().await;
    let args = format!(
        "--url ws://{address}/ws --protocol rooms --client-offsets --clients 10 --senders 5 \
         --rate 100 --warmup 0.2 --duration 1 --drain 5"
    );
    let config = LoadConfig::from_args(args.split_whitespace().map(String::from))
        .expect("valid loadgen arguments");

    let result = tokio::time::timeout(RUN_LIMIT, bench::run::run(&config))
        .await
        .expect("the run ends in time")
        .expect("the run succeeds");

    assert!(result.messages_sent_measured >= 50, "{result}");
    assert_eq!(
        result.messages_retried, result.messages_sent_total,
        "{result}"
    );
    assert_eq!(
        shared.refused.load(Ordering::Relaxed),
        result.messages_sent_total,
        "{result}"
    );
    assert_nothing_lost(&result, 9);
    let latency = result.latency.expect("measured deliveries");
    assert!(
        latency.p50_ms >= bench::client::RETRY_AFTER.as_secs_f64() * 1000.0,
        "latency counts from the first try: {result}"
    );
}
