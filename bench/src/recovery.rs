//! The recovery measurement of issue 13: a client that missed `--missed`
//! messages (1,000 by default) comes back, joins with its session and the id
//! of the last message it saw, and this module times how long it takes from
//! sending that `join` to reading the last replayed message. The bar is
//! 100 ms. It speaks step 10's protocol only (`session` and `last_id` in the
//! join); `cargo run --release -p bench --bin recovery -- --help`.
//!
//! One measurement, in three parts, all bounded by [`STEP_TIMEOUT`]:
//!
//! 1. a writer and a reader join the room `recovery`; the writer sends one
//!    marker message, and the reader notes its id (the last one it saw) and
//!    the session its join's answer gave it;
//! 2. each repeat: the reader leaves (a clean close), the writer sends the
//!    missed messages, flat out with [`WRITER_IN_FLIGHT`] unanswered, and
//!    waits for every acknowledgement (each one means "committed"), noting
//!    the newest id;
//! 3. the reader connects again and joins with its session and last id; the
//!    clock runs from that `join` until the message with the newest id
//!    arrives. Every message after the last id must come, once, in order;
//!    a `skipped` notice (the server's `REPLAY_CAP` is below `--missed`)
//!    stops the measurement with the reason.
//!
//! The reconnection is a new TCP connection and WebSocket handshake, as a
//! page's would be; they are not in the time (they happen before the join).

use std::fmt;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::client::Client;
use crate::config::{ConfigError, LoadConfig};
use crate::protocol;

/// Longest one part of a repeat may take (writing the missed messages, or
/// the replay): far beyond the 100 ms bar, so a slow server is measured, and
/// a server that never finishes ends the run.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(30);
/// Messages the writer keeps unacknowledged while it writes the missed ones.
pub const WRITER_IN_FLIGHT: u32 = 64;
/// The room of the measurement, and its two members.
const ROOM: &str = "recovery";
const WRITER: &str = "rc-writer";
const READER: &str = "rc-reader";

const USAGE: &str = "\
recovery: how long a client that missed messages takes to get them back (step 10).

USAGE:
  recovery --url ws://127.0.0.1:PORT[/ws] [options]

  --missed N              messages the client misses while away        [1000]
  --repeats R             times it leaves and comes back                 [5]
  --json PATH             write the result as JSON (report reads it)
  --scenario ID           label stored in the JSON                       [recovery]
  --scenario-title TEXT   human title stored in the JSON
  --server-name NAME      which server this is, stored in the JSON       [server]

The server must let the writer send flat out (step 10: MAX_MESSAGES_PER_SECOND
and MAX_BYTES_PER_SECOND above what it can commit, as compare.sh sets them) and
replay at least N messages (REPLAY_CAP >= N).";

/// What a recovery measurement needs to know.
#[derive(Debug, Clone, PartialEq)]
pub struct RecoveryConfig {
    /// How to connect: the URL, step 10's rooms protocol, client offsets.
    pub connect: LoadConfig,
    pub missed: u32,
    pub repeats: u32,
    pub json: Option<std::path::PathBuf>,
    pub scenario: String,
    pub scenario_title: String,
    pub server_name: String,
}

impl RecoveryConfig {
    /// Parses the arguments after the program name.
    pub fn from_args<I: IntoIterator<Item = String>>(
        args: I,
    ) -> Result<RecoveryConfig, ConfigError> {
        let invalid = |why: String| ConfigError::Invalid(why);
        let (mut url, mut missed, mut repeats) = (None, 1000u32, 5u32);
        let (mut json, mut scenario, mut title, mut server_name) =
            (None, String::from("recovery"), None, String::from("server"));
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            if flag == "--help" || flag == "-h" {
                return Err(ConfigError::Help);
            }
            let value = args
                .next()
                .ok_or_else(|| invalid(format!("{flag} needs a value")))?;
            let count = |value: &str| {
                value
                    .parse::<u32>()
                    .ok()
                    .filter(|count| (1..=100_000).contains(count))
                    .ok_or_else(|| {
                        invalid(format!("{flag} must be from 1 to 100000, got {value:?}"))
                    })
            };
            match flag.as_str() {
                "--url" => url = Some(value),
                "--missed" => missed = count(&value)?,
                "--repeats" => repeats = count(&value)?,
                "--json" => json = Some(std::path::PathBuf::from(value)),
                "--scenario" => scenario = value,
                "--scenario-title" => title = Some(value),
                "--server-name" => server_name = value,
                _ => return Err(invalid(format!("unknown option {flag}"))),
            }
        }
        let url = url.ok_or_else(|| invalid("--url is required".to_owned()))?;
        let connect = LoadConfig::from_args(
            ["--url", &url, "--protocol", "rooms", "--client-offsets"].map(String::from),
        )?;
        Ok(RecoveryConfig {
            connect,
            missed,
            repeats,
            json,
            scenario_title: title
                .unwrap_or_else(|| format!("recovery: {missed} missed messages after a reconnect")),
            scenario,
            server_name,
        })
    }

    /// The option list, for `--help`.
    pub fn usage() -> &'static str {
        USAGE
    }
}

/// One time the reader left and came back.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RecoveryRepeat {
    /// From sending the `join` to reading its answer.
    pub answer_ms: f64,
    /// From sending the `join` to reading the last missed message: the figure
    /// the bar is about.
    pub replay_ms: f64,
    /// Missed messages that arrived (all of them, or the run stops).
    pub replayed: u64,
    /// Whether the join's answer said the session was taken back.
    pub recovered: bool,
    /// How long the writer took to have all the missed messages committed.
    pub write_seconds: f64,
}

/// Everything a recovery measurement found; `report` reads it back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecoveryResult {
    pub scenario: String,
    pub scenario_title: String,
    pub server_name: String,
    pub url: String,
    pub missed_messages: u32,
    pub repeats: Vec<RecoveryRepeat>,
    /// The median and the slowest of the repeats' `replay_ms`.
    pub replay_ms_median: f64,
    pub replay_ms_max: f64,
}

impl fmt::Display for RecoveryResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} against {} ({})",
            self.scenario_title, self.server_name, self.url
        )?;
        for (number, repeat) in self.repeats.iter().enumerate() {
            writeln!(
                f,
                "  repeat {}: {} missed messages written in {:.2} s; answer after {:.1} ms, \
                 the last of {} replayed after {:.1} ms{}",
                number + 1,
                self.missed_messages,
                repeat.write_seconds,
                repeat.answer_ms,
                repeat.replayed,
                repeat.replay_ms,
                if repeat.recovered {
                    " (session taken back)"
                } else {
                    " (session NOT taken back)"
                }
            )?;
        }
        writeln!(
            f,
            "  replay of {} missed messages: median {:.1} ms, slowest {:.1} ms",
            self.missed_messages, self.replay_ms_median, self.replay_ms_max
        )
    }
}

/// The reader between two repeats: the session to bring back and the id of
/// the last message it saw.
struct Away {
    session: String,
    last_id: i64,
}

/// Runs the whole measurement.
pub async fn measure(config: &RecoveryConfig) -> Result<RecoveryResult, String> {
    let connect = &config.connect;
    let mut writer = within("the writer's join", open_and_join(connect, 0, WRITER)).await?;
    let mut away = within(
        "the reader's first visit",
        first_visit(connect, &mut writer),
    )
    .await?;
    let mut repeats = Vec::with_capacity(config.repeats as usize);
    for repeat in 0..config.repeats {
        let written = Instant::now();
        let newest = within("writing the missed messages", async {
            write_messages(&mut writer, config.missed, &format!("r{repeat}")).await
        })
        .await?;
        let write_seconds = written.elapsed().as_secs_f64();
        let index = repeat + 2;
        let (repeat, reader) = within("the replay", async {
            come_back(connect, index, &away, newest, config.missed).await
        })
        .await?;
        repeats.push(RecoveryRepeat {
            write_seconds,
            ..repeat
        });
        reader.leave().await;
        away.last_id = newest;
    }
    writer.leave().await;
    let mut times: Vec<f64> = repeats.iter().map(|repeat| repeat.replay_ms).collect();
    times.sort_by(f64::total_cmp);
    Ok(RecoveryResult {
        scenario: config.scenario.clone(),
        scenario_title: config.scenario_title.clone(),
        server_name: config.server_name.clone(),
        url: format!("ws://{}{}", connect.server, connect.path),
        missed_messages: config.missed,
        replay_ms_median: crate::report::median(&times).unwrap_or_default(),
        replay_ms_max: times.last().copied().unwrap_or_default(),
        repeats,
    })
}

/// `future`, or an error naming `what` after [`STEP_TIMEOUT`].
async fn within<T>(
    what: &str,
    future: impl Future<Output = Result<T, String>>,
) -> Result<T, String> {
    tokio::time::timeout(STEP_TIMEOUT, future)
        .await
        .unwrap_or_else(|_| Err(format!("{what} did not finish within {STEP_TIMEOUT:?}")))
}

/// Connects client `index` and joins the room as `nickname`.
async fn open_and_join(connect: &LoadConfig, index: u32, nickname: &str) -> Result<Client, String> {
    let mut client = Client::open(index, connect)
        .await
        .map_err(|error| format!("{nickname} could not connect: {error}"))?;
    client
        .join(nickname, ROOM)
        .await
        .map_err(|error| format!("{nickname} could not join: {error}"))?;
    Ok(client)
}

/// Part 1: the reader's first join, and a marker message from the writer,
/// whose id becomes the last one the reader saw; then the reader leaves.
async fn first_visit(connect: &LoadConfig, writer: &mut Client) -> Result<Away, String> {
    let mut reader = Client::open(1, connect)
        .await
        .map_err(|error| format!("{READER} could not connect: {error}"))?;
    let reply = reader
        .join(READER, ROOM)
        .await
        .map_err(|error| format!("{READER} could not join: {error}"))?;
    let session = reply.session.ok_or(
        "the join's answer has no session: is this step 10 (a server that keeps history)?",
    )?;
    let marker = within("the marker message", write_messages(writer, 1, "marker")).await?;
    within("the marker's delivery", async {
        // The history of earlier messages comes first; the marker is newer.
        while read_message_id(&mut reader).await? != Some(marker) {}
        Ok(())
    })
    .await?;
    reader.leave().await;
    Ok(Away {
        session,
        last_id: marker,
    })
}

/// Part 2: the writer sends `count` messages, keeping [`WRITER_IN_FLIGHT`]
/// unacknowledged, and returns the newest id among their acknowledgements.
/// `round` tells their texts and client offsets apart from other rounds'.
async fn write_messages(writer: &mut Client, count: u32, round: &str) -> Result<i64, String> {
    let (mut sent, mut acked, mut newest) = (0u32, 0u32, 0i64);
    while acked < count {
        while sent < count && sent - acked < WRITER_IN_FLIGHT {
            let frame = serde_json::json!({
                "event": "message",
                "data": {
                    "text": format!("missed message {sent} of round {round}"),
                    "client_offset": format!("{}-{round}-{sent}", writer.server_id),
                },
                // Ack numbers from 2: the join's answer was 1.
                "ack": u64::from(sent) + 2,
            });
            writer.queue_text(frame.to_string().as_bytes());
            sent += 1;
        }
        writer.flush().await.map_err(|error| error.to_string())?;
        let text = writer
            .next_text()
            .await
            .map_err(|error| error.to_string())?;
        if text.starts_with(br#"{"ack":"#) {
            let id = protocol::parse_message_id(&text).ok_or_else(|| {
                format!(
                    "a missed message was refused: {}",
                    String::from_utf8_lossy(&text)
                )
            })?;
            newest = newest.max(id);
            acked += 1;
        }
    }
    Ok(newest)
}

/// Part 3: the reader comes back as client `index`, joins with its session
/// and last id, and reads until the message `newest` arrives; every message
/// in between must come once, in order.
async fn come_back(
    connect: &LoadConfig,
    index: u32,
    away: &Away,
    newest: i64,
    missed: u32,
) -> Result<(RecoveryRepeat, Client), String> {
    let mut reader = Client::open(index, connect)
        .await
        .map_err(|error| format!("{READER} could not reconnect: {error}"))?;
    let rejoin = protocol::encode_rejoin(READER, ROOM, &away.session, away.last_id);
    let joined = Instant::now();
    let reply = reader
        .send_join(&rejoin, ROOM)
        .await
        .map_err(|error| format!("{READER} could not join again: {error}"))?;
    let answer_ms = joined.elapsed().as_secs_f64() * 1e3;
    let (mut replayed, mut previous) = (0u64, away.last_id);
    while previous < newest {
        let Some(id) = read_message_id(&mut reader).await? else {
            continue;
        };
        if id <= previous {
            return Err(format!(
                "message {id} came after {previous}: replayed twice or out of order"
            ));
        }
        previous = id;
        replayed += 1;
    }
    let replay_ms = joined.elapsed().as_secs_f64() * 1e3;
    if replayed != u64::from(missed) {
        return Err(format!(
            "{replayed} messages came back, but the reader missed {missed}"
        ));
    }
    let repeat = RecoveryRepeat {
        answer_ms,
        replay_ms,
        replayed,
        recovered: reply.recovered,
        write_seconds: 0.0,
    };
    Ok((repeat, reader))
}

/// The id of the next frame if it is a chat message, `None` for any other
/// frame (a `joined` notice); an error for a `skipped` notice or a lost
/// connection.
async fn read_message_id(client: &mut Client) -> Result<Option<i64>, String> {
    let text = client
        .next_text()
        .await
        .map_err(|error| error.to_string())?;
    if protocol::is_skipped_notice(&text) {
        return Err(format!(
            "the server skipped some missed messages ({}): raise its REPLAY_CAP to at least --missed",
            String::from_utf8_lossy(&text)
        ));
    }
    Ok(protocol::parse_message_id(&text).filter(|_| text.starts_with(br#"{"event":"message""#)))
}
