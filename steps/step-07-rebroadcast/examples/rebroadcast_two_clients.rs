//! Two chat clients in one program, to watch step 07 without a browser.
//!
//! Start the server in one terminal (`cargo run -p step-07-rebroadcast`),
//! then run `cargo run -p step-07-rebroadcast --example rebroadcast_two_clients` in
//! another (both read `PORT`, default 3000). Alice and Bob connect, each says
//! one thing, Bob sends a message that is not text, and both hang up. Every
//! frame is printed: `->` sent, `<-` received. See `notes/07-rebroadcast.md`.

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
    let mut alice = join("alice", url, out).await?;
    let mut bob = join("bob", url, out).await?;

    say(
        "alice",
        &mut alice,
        r#"{"event":"message","data":"hello from alice"}"#,
        out,
    )
    .await?;
    hear("alice", &mut alice, out).await?;
    hear("bob", &mut bob, out).await?;

    say(
        "bob",
        &mut bob,
        r#"{"event":"message","data":"hi alice!"}"#,
        out,
    )
    .await?;
    hear("alice", &mut alice, out).await?;
    hear("bob", &mut bob, out).await?;

    say("bob", &mut bob, r#"{"event":"message","data":42}"#, out).await?;
    hear("bob", &mut bob, out).await?;

    for (name, mut client) in [("alice", alice), ("bob", bob)] {
        timeout(PATIENCE, client.close(None)).await??;
        writeln!(out, "{name} closed the connection")?;
    }
    Ok(())
}

/// Connects and prints the server's greeting.
async fn join(name: &str, url: &str, out: &mut impl Write) -> Result<Client, Failure> {
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
