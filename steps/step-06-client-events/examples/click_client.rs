//! The client of note 06's session, to watch step 06 without a browser: it "clicks" twice as
//! soon as it is connected, clicks once more after the first tick, sends a typo
//! (`fromclient`), clicks once after the `error` comes back, and closes after the second tick.
//! Each line starts with the time since the client started.
//!
//! Start the server (`TICK_MS=1000 cargo run -p step-06-client-events`), then in a second
//! terminal `cargo run -q -p step-06-client-events --example click_client` (it reads `PORT`,
//! default 3000), and watch the server log four `message received from client <id>` lines.
//! `<-` is a frame from the server, `->` one sent. See `notes/06-client-events.md`, "Run it".

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

/// What the page's button sends, and the same with a typo.
const CLICK: &str = r#"{"event":"fromClient"}"#;
const TYPO: &str = r#"{"event":"fromclient"}"#;

#[tokio::main]
async fn main() -> Result<(), Failure> {
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".to_owned());
    run(&format!("ws://127.0.0.1:{port}/ws"), &mut std::io::stdout()).await
}

/// The whole session against the server at `url`, printed to `out`.
pub async fn run(url: &str, out: &mut impl Write) -> Result<(), Failure> {
    let start = Instant::now();
    let (client, _response) = timeout(PATIENCE, connect_async(url)).await.map_err(|_| {
        format!("no answer from {url} within {PATIENCE:?}: is the server running?")
    })??;
    let mut session = Session { client, start, out };
    session.hear().await?; // connect
    session.say(CLICK).await?;
    session.say(CLICK).await?;
    session.hear().await?; // the first tick
    session.say(CLICK).await?;
    session.say(TYPO).await?;
    session.hear().await?; // the error
    session.say(CLICK).await?;
    session.hear().await?; // the second tick
    timeout(PATIENCE, session.client.close(None)).await??;
    session.stamp("closed the connection")?;
    Ok(())
}

struct Session<'a, W> {
    client: Client,
    start: Instant,
    out: &'a mut W,
}

impl<W: Write> Session<'_, W> {
    /// Sends one text frame and prints it.
    async fn say(&mut self, frame: &str) -> Result<(), Failure> {
        self.stamp(&format!("-> {frame}"))?;
        timeout(PATIENCE, self.client.send(Message::text(frame))).await??;
        Ok(())
    }

    /// Waits for one frame and prints it.
    async fn hear(&mut self) -> Result<(), Failure> {
        let frame = timeout(PATIENCE, self.client.next())
            .await?
            .ok_or("the server closed the connection")??;
        self.stamp(&format!("<- {frame}"))
    }

    fn stamp(&mut self, what: &str) -> Result<(), Failure> {
        writeln!(
            self.out,
            "{:>5} ms  {what}",
            self.start.elapsed().as_millis()
        )?;
        Ok(())
    }
}
