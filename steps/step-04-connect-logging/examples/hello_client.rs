//! The client of note 04's session, to watch step 04 without a browser: it connects, prints
//! the server's `connect` greeting, sends an event step 04 does not know, prints the `error`
//! that comes back, and then leaves *without a close frame*, as a killed browser or a laptop
//! that loses its network would.
//!
//! Start the server (`cargo run -p step-04-connect-logging`), then in a second terminal
//! `cargo run -q -p step-04-connect-logging --example hello_client` (it reads `PORT`, default
//! 3000). The server logs `user disconnected <id> reason="connection ended without a close
//! frame"`. `<-` is a frame from the server, `->` one sent. See
//! `notes/04-connect-logging.md`, "Run it".

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
    let (mut client, _response) = timeout(PATIENCE, connect_async(url)).await.map_err(|_| {
        format!("no answer from {url} within {PATIENCE:?}: is the server running?")
    })??;
    hear(&mut client, out).await?;
    say(&mut client, r#"{"event":"hello","data":1}"#, out).await?;
    hear(&mut client, out).await?;
    // Dropping the client closes the TCP connection with no close frame first.
    drop(client);
    writeln!(out, "dropped the connection without a close frame")?;
    Ok(())
}

/// Sends one text frame and prints it.
async fn say(client: &mut Client, frame: &str, out: &mut impl Write) -> Result<(), Failure> {
    writeln!(out, "-> {frame}")?;
    timeout(PATIENCE, client.send(Message::text(frame))).await??;
    Ok(())
}

/// Waits for one frame and prints it.
async fn hear(client: &mut Client, out: &mut impl Write) -> Result<(), Failure> {
    let frame = timeout(PATIENCE, client.next())
        .await?
        .ok_or("the server closed the connection")??;
    writeln!(out, "<- {frame}")?;
    Ok(())
}
