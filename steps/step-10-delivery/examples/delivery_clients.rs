//! Two chat tabs in one program, to watch step 10 without a browser: the
//! history a new member gets, and a retry that is delivered once.
//!
//! Start the server in one terminal (`DATABASE_PATH=:memory: cargo run -p
//! step-10-delivery`, so that every run starts from an empty chat), then run
//! `cargo run -q -p step-10-delivery --example delivery_clients` in another
//! (both read `PORT`, default 3000). Alice joins `general` and says one thing
//! with a `client_offset`; Bob joins and gets it as history, right after his
//! join's answer; he replies; Alice sends her first message again with the
//! same `client_offset`, as a tab does whose answer was lost, and is answered
//! with the original id while Bob gets nothing new; Bob sends Alice a private
//! message, then a message that is not text; both hang up. Every frame is
//! printed: `->` sent, `<-` received. (Step 09's `chat_room_clients`, for
//! step 10: example names are unique in the workspace.) See
//! `notes/10-delivery.md`.

use std::{io::Write, time::Duration};

use futures::{SinkExt, StreamExt};
use tokio::{net::TcpStream, time::timeout};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async, tungstenite::Message};

type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;
type Failure = Box<dyn std::error::Error>;

/// How long to wait for the server before giving up.
const PATIENCE: Duration = Duration::from_secs(5);

#[tokio::main]
async fn main() -> Result<(), Failure> {
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".to_owned());
    run(&format!("ws://127.0.0.1:{port}/ws"), &mut std::io::stdout()).await
}

/// The whole session against the server at `url`, printed to `out`.
pub async fn run(url: &str, out: &mut impl Write) -> Result<(), Failure> {
    let alice_joins = r#"{"event":"join","data":{"nickname":"alice","room":"general"},"ack":1}"#;
    let mut alice = connect("alice", url, out).await?;
    say("alice", &mut alice, alice_joins, out).await?;
    hear("alice", &mut alice, out).await?; // the answer: who is in the room, the session

    // Stored before it is answered; `client_offset` names it, for a retry.
    let hello = r#"{"event":"message","data":{"text":"hello from alice","client_offset":"alice-tab:1"},"ack":2}"#;
    say("alice", &mut alice, hello, out).await?;
    hear("alice", &mut alice, out).await?; // the answer: its id and time

    let bob_joins = r#"{"event":"join","data":{"nickname":"bob"},"ack":1}"#;
    let mut bob = connect("bob", url, out).await?;
    say("bob", &mut bob, bob_joins, out).await?;
    hear("bob", &mut bob, out).await?; // the answer: alice and bob
    hear("bob", &mut bob, out).await?; // the history: alice's message
    hear("alice", &mut alice, out).await?; // bob joined

    let reply =
        r#"{"event":"message","data":{"text":"hi alice!","client_offset":"bob-tab:1"},"ack":2}"#;
    say("bob", &mut bob, reply, out).await?;
    hear("bob", &mut bob, out).await?;
    hear("alice", &mut alice, out).await?;

    // The same message again, as after a lost answer: the original id, and
    // nothing new for Bob.
    let retry = r#"{"event":"message","data":{"text":"hello from alice","client_offset":"alice-tab:1"},"ack":3}"#;
    say("alice", &mut alice, retry, out).await?;
    hear("alice", &mut alice, out).await?;

    // A private message: only Alice gets it, whatever room she is in.
    let private = r#"{"event":"private","data":{"to":"alice","text":"psst, alice"},"ack":3}"#;
    say("bob", &mut bob, private, out).await?;
    hear("bob", &mut bob, out).await?;
    hear("alice", &mut alice, out).await?;

    // Not text, and no ack to answer on: an `error` event, to Bob only.
    say("bob", &mut bob, r#"{"event":"message","data":42}"#, out).await?;
    hear("bob", &mut bob, out).await?;

    for (name, mut client) in [("bob", bob), ("alice", alice)] {
        timeout(PATIENCE, client.close(None)).await??;
        writeln!(out, "{name} closed the connection")?;
    }
    Ok(())
}

/// Connects and prints the server's greeting.
async fn connect(name: &str, url: &str, out: &mut impl Write) -> Result<Client, Failure> {
    let (mut client, _response) = timeout(PATIENCE, connect_async(url)).await.map_err(|_| {
        format!("no answer from {url} within {PATIENCE:?}: is the server running?")
    })??;
    writeln!(out, "{name} connected to {url}")?;
    hear(name, &mut client, out).await?;
    Ok(client)
}

/// Sends one text frame and prints it.
async fn say(
    name: &str,
    client: &mut Client,
    frame: &str,
    out: &mut impl Write,
) -> Result<(), Failure> {
    writeln!(out, "{name} -> {frame}")?;
    timeout(PATIENCE, client.send(Message::text(frame))).await??;
    Ok(())
}

/// Waits for one frame and prints it.
async fn hear(name: &str, client: &mut Client, out: &mut impl Write) -> Result<(), Failure> {
    let frame = timeout(PATIENCE, client.next())
        .await?
        .ok_or("the server closed the connection")??;
    writeln!(out, "{name} <- {frame}")?;
    Ok(())
}
