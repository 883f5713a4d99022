//! The clients of note 05's session, to watch step 05's ticks without a browser: the first
//! reads three ticks and closes politely, the second reads two and leaves without a close
//! frame. Each line starts with the time since that client started.
//!
//! Start the server (`TICK_MS=500 cargo run -p step-05-server-ticks`), then in a second
//! terminal `cargo run -q -p step-05-server-ticks --example tick_clients` (it reads `PORT`,
//! default 3000). `<-` is a frame from the server, `->` one sent. See
//! `notes/05-server-ticks.md`, "Run it".

use std::{io::Write, time::Duration};

use futures::{SinkExt, StreamExt};
use tokio::{
    net::TcpStream,
    time::{Instant, timeout},
};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async, tungstenite::Message};

type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;
type Failure = Box<dyn std::error::Error>;

/// How long to wait for any one frame: the default tick is 2 s.
const PATIENCE: Duration = Duration::from_secs(10);

#[tokio::main]
async fn main() -> Result<(), Failure> {
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".to_owned());
    run(&format!("ws://127.0.0.1:{port}/ws"), &mut std::io::stdout()).await
}

/// Both clients, one after the other, against the server at `url`; printed to `out`.
pub async fn run(url: &str, out: &mut impl Write) -> Result<(), Failure> {
    let start = Instant::now();
    let mut polite = join(url).await?;
    for _ in 0..4 {
        hear(&mut polite, start, out).await?; // connect, then three ticks
    }
    timeout(PATIENCE, polite.send(Message::Close(None))).await??;
    stamp(out, start, "-> close frame (no status code)")?;
    // The server answers with its own close frame; after that the stream ends.
    while let Some(frame) = timeout(PATIENCE, polite.next()).await? {
        match frame {
            Ok(Message::Close(_)) => stamp(out, start, "<- close frame (the reply): closed")?,
            // A tick already on its way when we said goodbye.
            Ok(frame) => stamp(out, start, &format!("<- {frame}"))?,
            Err(_) => break,
        }
    }

    writeln!(out)?;
    let start = Instant::now();
    let mut abrupt = join(url).await?;
    for _ in 0..3 {
        hear(&mut abrupt, start, out).await?; // connect, then two ticks
    }
    // Dropping the client closes the TCP connection with no close frame first.
    drop(abrupt);
    stamp(out, start, "dropped the connection without a close frame")?;
    Ok(())
}

async fn join(url: &str) -> Result<Client, Failure> {
    let (client, _response) = timeout(PATIENCE, connect_async(url)).await.map_err(|_| {
        format!("no answer from {url} within {PATIENCE:?}: is the server running?")
    })??;
    Ok(client)
}

/// Waits for one frame and prints it with the time since `start`.
async fn hear(client: &mut Client, start: Instant, out: &mut impl Write) -> Result<(), Failure> {
    let frame = timeout(PATIENCE, client.next())
        .await?
        .ok_or("the server closed the connection")??;
    stamp(out, start, &format!("<- {frame}"))
}

fn stamp(out: &mut impl Write, start: Instant, what: &str) -> Result<(), Failure> {
    writeln!(out, "{:>5} ms  {what}", start.elapsed().as_millis())?;
    Ok(())
}
