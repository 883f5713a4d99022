//! A chat tab that stops answering pings, to watch step 10's heartbeat drop
//! it and its room hear it leave (its session, in the join's answer, can
//! then be taken back for `RECOVERY_SECONDS`). It joins `general` as
//! `sleepy` (or `NICKNAME`), reads for two pings (tokio-tungstenite answers
//! each with a pong by itself), then stops reading for `SILENT_MS`
//! milliseconds (default 5000), like a laptop whose lid closed, and then
//! reports what the server did meanwhile.
//!
//! A browser cannot be made to do this: it answers pings below JavaScript,
//! and Chromium from a separate network process, so neither pausing the tab
//! nor `kill -STOP` of the browser's main process stops the pongs. A client
//! of our own stops them by not reading the socket.
//!
//! Start the server with a quick heartbeat:
//! `HEARTBEAT_INTERVAL_MS=2000 HEARTBEAT_TIMEOUT_MS=1000 cargo run -p step-10-delivery`,
//! open <http://localhost:3000> and join `general` to watch, then run
//! `cargo run -q -p step-10-delivery --example silent_tab` (it reads
//! `PORT`, default 3000). The server logs `dropping <id>: no answer to a
//! ping within 1000 ms`, and the page shows `sleepy` leave. (Step 09's
//! `silent_member`, against step 10: example names are unique in the
//! workspace.)

use std::{io::Write, time::Duration};

use futures::{SinkExt, StreamExt};
use tokio::{
    net::TcpStream,
    time::{Instant, sleep, timeout},
};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async, tungstenite::Message};

type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;
type Failure = Box<dyn std::error::Error>;

/// How long to wait for any one frame: the default heartbeat pings every 25 s.
const PATIENCE: Duration = Duration::from_secs(30);

#[tokio::main]
async fn main() -> Result<(), Failure> {
    let port = std::env::var("PORT").unwrap_or_else(|_| "3000".to_owned());
    let nickname = std::env::var("NICKNAME").unwrap_or_else(|_| "sleepy".to_owned());
    let silent_ms = match std::env::var("SILENT_MS") {
        Ok(text) => text
            .parse()
            .map_err(|_| format!("SILENT_MS={text:?} is not a number of milliseconds"))?,
        Err(_) => 5000,
    };
    let url = format!("ws://127.0.0.1:{port}/ws");
    let silence = Duration::from_millis(silent_ms);
    run(&url, &nickname, silence, &mut std::io::stdout()).await
}

/// Connects to `url`, joins `general` as `nickname`, answers two pings, goes
/// silent for `silence`, then reads what is left; printed to `out` with the
/// time since the start.
pub async fn run(
    url: &str,
    nickname: &str,
    silence: Duration,
    out: &mut impl Write,
) -> Result<(), Failure> {
    let start = Instant::now();
    let (mut client, _response) = timeout(PATIENCE, connect_async(url)).await.map_err(|_| {
        format!("no answer from {url} within {PATIENCE:?}: is the server running?")
    })??;
    let Some(greeting) = next(&mut client).await? else {
        return Err("the server closed the connection before its greeting".into());
    };
    stamp(out, start, &format!("<- {greeting}"))?;
    let join = format!(
        r#"{{"event":"join","data":{{"nickname":{}}},"ack":1}}"#,
        serde_json::Value::from(nickname)
    );
    stamp(out, start, &format!("-> {join}"))?;
    timeout(PATIENCE, client.send(Message::text(join))).await??;
    answer_two_pings(&mut client, start, out).await?;

    let stops = format!(
        "stops reading for {} ms: no more pongs",
        silence.as_millis()
    );
    stamp(out, start, &stops)?;
    // Not a wait for anything: the silence is the experiment.
    sleep(silence).await;

    stamp(out, start, "reads again")?;
    // What the server sent meanwhile is still in our buffers; then the
    // connection ends.
    while let Some(frame) = next(&mut client).await? {
        let what = if frame.is_ping() {
            "ping".to_owned()
        } else {
            frame.to_string()
        };
        stamp(
            out,
            start,
            &format!("<- {what} (sent while we were silent)"),
        )?;
    }
    stamp(out, start, "the server has dropped the connection")?;
    Ok(())
}

/// Reads until two pings have come (printing every other frame: the join's
/// answer, who else joins), answering each ping at once.
async fn answer_two_pings(
    client: &mut Client,
    start: Instant,
    out: &mut impl Write,
) -> Result<(), Failure> {
    let mut pings = 0;
    while pings < 2 {
        let Some(frame) = next(client).await? else {
            return Err("the server closed the connection before its second ping".into());
        };
        if frame.is_ping() {
            pings += 1;
            // Reading the ping queued the pong; it goes out with the next
            // read or write, or now, with a flush. Without this, the last
            // pong before the silence would wait for the silence to end.
            timeout(PATIENCE, client.flush()).await??;
            stamp(out, start, "<- ping, answered with a pong")?;
        } else {
            stamp(out, start, &format!("<- {frame}"))?;
        }
    }
    Ok(())
}

/// The next frame, or `None` once the connection has ended (closed, reset or cut).
async fn next(client: &mut Client) -> Result<Option<Message>, Failure> {
    match timeout(PATIENCE, client.next()).await? {
        Some(Ok(frame)) => Ok(Some(frame)),
        Some(Err(_)) | None => Ok(None),
    }
}

/// Prints `what` after the milliseconds since `start`.
fn stamp(out: &mut impl Write, start: Instant, what: &str) -> Result<(), Failure> {
    writeln!(out, "{:>5} ms  {what}", start.elapsed().as_millis())?;
    Ok(())
}
