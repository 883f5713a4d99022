//! What a run reports: [`RunResult`], printed for people and saved as JSON for
//! the report writer (`report.rs`), which reads many of them back.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::config::Traffic;
use crate::latency::LatencySummary;
use crate::protocol::Protocol;
use crate::redis_admin::{KillRecord, RedisUsage};
use crate::server_process::ProcessSample;
use crate::two_nodes::{SideFigures, TwoNodeFigures};

/// The traffic shape as stored in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TrafficShape {
    Rate { messages_per_second: f64 },
    FlatOut { in_flight_per_sender: u32 },
    Idle,
}

impl From<Traffic> for TrafficShape {
    fn from(traffic: Traffic) -> Self {
        match traffic {
            Traffic::Rate(messages_per_second) => TrafficShape::Rate {
                messages_per_second,
            },
            Traffic::FlatOut { in_flight } => TrafficShape::FlatOut {
                in_flight_per_sender: in_flight,
            },
            Traffic::Idle => TrafficShape::Idle,
        }
    }
}

/// CPU seconds per million deliveries, the unit every CPU figure of the
/// report uses; `None` when nothing was delivered.
pub fn per_million_deliveries(cpu_seconds: f64, deliveries: u64) -> Option<f64> {
    (deliveries > 0).then(|| cpu_seconds / (deliveries as f64 / 1e6))
}

/// What the server process spent, read from /proc.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ServerUsage {
    /// CPU seconds (user + system, all threads) during the measured window.
    pub cpu_seconds: f64,
    /// The same, per million deliveries that arrived in the window.
    pub cpu_seconds_per_million_deliveries: Option<f64>,
    /// Resident memory before the first client connected.
    pub rss_before_bytes: u64,
    /// Highest resident memory seen while the clients were connected.
    pub rss_peak_bytes: u64,
    /// The kernel's own peak (VmHWM) after the drain, including the connect phase.
    pub vm_hwm_bytes: u64,
    /// (rss_peak − rss_before) / clients connected: memory per connection,
    /// meaningful for idle runs.
    pub rss_growth_per_connection_bytes: f64,
}

impl ServerUsage {
    pub fn from_samples(
        before: ProcessSample,
        window_start: ProcessSample,
        window_end: ProcessSample,
        rss_peak_bytes: u64,
        vm_hwm_bytes: u64,
        connections: u64,
        deliveries: u64,
    ) -> ServerUsage {
        let cpu_seconds = (window_end.cpu_seconds - window_start.cpu_seconds).max(0.0);
        ServerUsage {
            cpu_seconds,
            cpu_seconds_per_million_deliveries: per_million_deliveries(cpu_seconds, deliveries),
            rss_before_bytes: before.rss_bytes,
            rss_peak_bytes,
            vm_hwm_bytes,
            rss_growth_per_connection_bytes: rss_peak_bytes.saturating_sub(before.rss_bytes) as f64
                / connections.max(1) as f64,
        }
    }
}

/// Everything one run measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    pub scenario: String,
    pub scenario_title: String,
    pub server_name: String,
    pub protocol: Protocol,
    pub url: String,
    pub clients_requested: u32,
    pub clients_connected: u64,
    pub connect_failures: u64,
    pub first_connect_error: Option<String>,
    pub connect_seconds: f64,
    /// Clients the server closed (or that failed) before the run ended.
    pub clients_ended_early: u64,
    pub first_early_end_reason: Option<String>,
    pub senders: u64,
    pub traffic: TrafficShape,
    pub warmup_seconds: f64,
    pub measured_seconds: f64,
    pub messages_sent_total: u64,
    /// Messages sent inside the measured window; only these are counted below.
    pub messages_sent_measured: u64,
    /// What the measured messages should have delivered: each one to every
    /// client (steps 07/08, socket.io: the sender too), or to the others in
    /// its sender's room (step 09).
    pub deliveries_expected: u64,
    /// deliveries_expected / messages_sent_measured: 1,000 for a 1,000-client
    /// chat that echoes to the sender, 999 in one step 09 room of 1,000, 9 in
    /// rooms of 10. `None` in results written before it was recorded.
    #[serde(default)]
    pub deliveries_per_message: Option<f64>,
    /// Step 09's rooms protocol: the rooms, the acks and the typing notices.
    #[serde(default)]
    pub rooms: Option<RoomsFigures>,
    /// Whether messages carried client offsets (`--client-offsets`, as step
    /// 10's page and the socket.io tutorial's step 8 send them).
    #[serde(default)]
    pub client_offsets: bool,
    /// The acknowledgements of our messages, when the protocol asks for them
    /// (rooms, or `--client-offsets`); `None` otherwise.
    #[serde(default)]
    pub acks: Option<AckFigures>,
    /// Messages from before this run that the server sent as history (step
    /// 10 on a join, the Node SQLite server on connect): never measured.
    #[serde(default)]
    pub history_received: u64,
    pub deliveries_received: u64,
    pub deliveries_lost: u64,
    /// Deliveries (of any message) that arrived during the measured window.
    pub deliveries_in_window: u64,
    /// deliveries_in_window / measured_seconds: the throughput achieved.
    pub deliveries_per_second: f64,
    /// `error` events (or socket.io connect errors) the server sent.
    pub server_errors: u64,
    /// Every measured delivery's latency (both nodes' clients together in
    /// a two-node run).
    pub latency: Option<LatencySummary>,
    /// Two-node runs (`--url-far`): what the clients of each node saw.
    /// Absent from the JSON of one-node runs, as are the three below when
    /// they have nothing to say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub two_nodes: Option<TwoNodeFigures>,
    /// Redis's CPU in the window (`--redis-pid`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis: Option<RedisUsage>,
    /// The Redis connections killed in the window (`--kill-redis-clients`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redis_kills: Vec<KillRecord>,
    /// Refusals with `"retry": true`, after each of which the message was
    /// sent again (step 11 while a node had lost Redis).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub messages_retried: u64,
    /// The server's CPU and memory: both processes added up in a two-node run.
    pub server: Option<ServerUsage>,
    pub generator_threads: usize,
    /// The load generator's own CPU seconds (user + system) in the measured
    /// window: what measuring cost, on the same cores as the server.
    #[serde(default)]
    pub generator_cpu_seconds: Option<f64>,
    /// The same, per million deliveries that arrived in the window.
    #[serde(default)]
    pub generator_cpu_seconds_per_million_deliveries: Option<f64>,
}

/// What a run in step 09's rooms protocol adds to [`RunResult`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RoomsFigures {
    /// How many rooms the clients were spread over (`--rooms`).
    pub rooms: u32,
    /// How long it took every client to join, acknowledgements included.
    pub join_seconds: f64,
    /// Acknowledgements of our messages, refusals included: with nothing
    /// refused, one per message sent.
    pub acks_received: u64,
    /// `--typing-per-second`, what was sent, and the notices of others'
    /// typing that reached the clients (each typing frame goes to everyone
    /// else in the room; step 09 may drop them under load).
    pub typing_per_second: f64,
    pub typing_sent: u64,
    pub typing_notices_received: u64,
}

/// What the acknowledgements of a run add up to. Step 10 and the Node SQLite
/// server acknowledge a message only once it is committed to their database,
/// so for them `per_second` is committed messages per second.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AckFigures {
    /// Every acknowledgement received, refusals included.
    pub received: u64,
    /// Acknowledgements (not refusals) that arrived in the measured window.
    pub in_window: u64,
    /// `in_window` / measured seconds: acknowledged messages per second.
    pub per_second: f64,
}

/// A scenario `compare.sh` did not run against a server, and why (step 09's
/// room scenarios against a server without rooms); the report shows it as a
/// row saying so, so that a missing figure is never a mystery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkippedRun {
    pub scenario: String,
    pub scenario_title: String,
    pub server_name: String,
    /// A few words, shown in the table: "speaks no rooms".
    pub skipped: String,
}

/// One file of a runs folder: a measured run, a note that one was skipped,
/// or a recovery measurement (`recovery`, step 10).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RunRecord {
    Skipped(SkippedRun),
    Recovery(Box<crate::recovery::RecoveryResult>),
    Measured(Box<RunResult>),
}

fn is_zero(count: &u64) -> bool {
    *count == 0
}

const KIB: f64 = 1024.0;
const MIB: f64 = 1024.0 * 1024.0;

impl fmt::Display for RunResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} against {} ({}, {})",
            self.scenario_title, self.server_name, self.protocol, self.url
        )?;
        writeln!(
            f,
            "  clients connected   {} of {} in {:.1} s{}",
            self.clients_connected,
            self.clients_requested,
            self.connect_seconds,
            match &self.first_connect_error {
                Some(error) => format!(" ({} failed, e.g. {error})", self.connect_failures),
                None => String::new(),
            }
        )?;
        if self.clients_ended_early > 0 {
            writeln!(
                f,
                "  ended early         {} ({})",
                self.clients_ended_early,
                self.first_early_end_reason.as_deref().unwrap_or("?")
            )?;
        }
        if self.traffic != TrafficShape::Idle {
            self.write_traffic(f)?;
        }
        if let Some(rooms) = self.rooms {
            write_rooms(f, &rooms, self.messages_sent_total)?;
        }
        self.write_acks_and_history(f)?;
        self.write_two_nodes_and_redis(f)?;
        if let Some(server) = self.server {
            if let Some(per_million) = server.cpu_seconds_per_million_deliveries {
                writeln!(
                    f,
                    "  server CPU          {:.2} s in the window, {:.3} s per million deliveries",
                    server.cpu_seconds, per_million
                )?;
            } else {
                writeln!(
                    f,
                    "  server CPU          {:.2} s in the window",
                    server.cpu_seconds
                )?;
            }
            if let (Some(seconds), Some(per_million)) = (
                self.generator_cpu_seconds,
                self.generator_cpu_seconds_per_million_deliveries,
            ) {
                writeln!(
                    f,
                    "  generator CPU       {seconds:.2} s in the window, {per_million:.3} s per million deliveries (same cores)"
                )?;
            }
            writeln!(
                f,
                "  server memory       {:.1} MiB before, {:.1} MiB peak (VmHWM {:.1} MiB), {:.1} KiB per connection",
                server.rss_before_bytes as f64 / MIB,
                server.rss_peak_bytes as f64 / MIB,
                server.vm_hwm_bytes as f64 / MIB,
                server.rss_growth_per_connection_bytes / KIB
            )?;
        }
        Ok(())
    }
}

impl RunResult {
    /// The traffic lines of a run's printout: what was sent and delivered,
    /// and how fast.
    fn write_traffic(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "  messages sent       {} in the {:.1} s window ({} with warm-up), {} senders",
            self.messages_sent_measured,
            self.measured_seconds,
            self.messages_sent_total,
            self.senders
        )?;
        writeln!(
            f,
            "  deliveries          {} expected ({:.1} per message), {} received, {} lost",
            self.deliveries_expected,
            self.deliveries_per_message.unwrap_or(0.0),
            self.deliveries_received,
            self.deliveries_lost
        )?;
        if self.deliveries_received > self.deliveries_expected {
            writeln!(
                f,
                "  warning             more deliveries than expected: the server sent some twice, or to their sender"
            )?;
        }
        writeln!(f, "  deliveries/s        {:.0}", self.deliveries_per_second)?;
        if let Some(latency) = self.latency {
            writeln!(
                f,
                "  latency ms          p50 {:.3}  p90 {:.3}  p99 {:.3}  max {:.3}",
                latency.p50_ms, latency.p90_ms, latency.p99_ms, latency.max_ms
            )?;
        }
        if self.server_errors > 0 {
            writeln!(f, "  server errors       {}", self.server_errors)?;
        }
        Ok(())
    }
}

impl RunResult {
    /// The printout's lines on acknowledgements and history, when there are any.
    fn write_acks_and_history(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(acks) = self.acks {
            writeln!(
                f,
                "  acked messages/s    {:.0} ({} acks in the window{}; committed, for a server that stores first)",
                acks.per_second,
                acks.in_window,
                if self.client_offsets {
                    ", messages with client offsets"
                } else {
                    ""
                }
            )?;
        }
        if self.history_received > 0 {
            writeln!(
                f,
                "  history             {} messages of earlier runs received, not measured",
                self.history_received
            )?;
        }
        Ok(())
    }
}

impl RunResult {
    /// The printout's lines on each node's side, Redis, its killed
    /// connections and the messages sent again, when there are any.
    fn write_two_nodes_and_redis(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(two) = &self.two_nodes {
            write_side(f, "near node", &two.near_url, &two.near)?;
            write_side(f, "far node", &two.far_url, &two.far)?;
            if let Some(gap) = two.far_minus_near_p50_ms() {
                writeln!(
                    f,
                    "  far - near p50      {gap:+.3} ms (what crossing Redis adds)"
                )?;
            }
        }
        if let Some(redis) = self.redis {
            let per_million = redis
                .cpu_seconds_per_million_deliveries
                .map_or(String::new(), |cpu| {
                    format!(", {cpu:.3} s per million deliveries")
                });
            writeln!(
                f,
                "  Redis CPU           {:.2} s in the window{per_million}",
                redis.cpu_seconds
            )?;
        }
        for kill in &self.redis_kills {
            let what = match (&kill.error, kill.killed.is_empty()) {
                (Some(error), _) => format!("failed: {error}"),
                (None, true) => "no such connection".to_owned(),
                (None, false) => kill.killed.join(", "),
            };
            writeln!(
                f,
                "  Redis kill          {}* at {:.2} s into the window: {what}",
                kill.name_prefix, kill.at_seconds
            )?;
        }
        if self.messages_retried > 0 {
            writeln!(
                f,
                "  sent again          {} refusals with \"retry\": true, each message sent again",
                self.messages_retried
            )?;
        }
        Ok(())
    }
}

/// One node's line of a two-node run's printout.
fn write_side(
    f: &mut fmt::Formatter<'_>,
    which: &str,
    url: &str,
    side: &SideFigures,
) -> fmt::Result {
    let latency = side.latency.map_or("no latency".to_owned(), |latency| {
        format!("p50 {:.3}  p99 {:.3} ms", latency.p50_ms, latency.p99_ms)
    });
    writeln!(
        f,
        "  {which:<19} {} clients ({url}): {latency}, {} of {} deliveries, {:.0}/s",
        side.clients,
        side.deliveries_received,
        side.deliveries_expected,
        side.deliveries_per_second
    )
}

/// The rooms lines of a run's printout.
fn write_rooms(f: &mut fmt::Formatter<'_>, rooms: &RoomsFigures, sent: u64) -> fmt::Result {
    writeln!(
        f,
        "  rooms               {} (everyone joined in {:.1} s); {} acks for {} messages",
        rooms.rooms, rooms.join_seconds, rooms.acks_received, sent
    )?;
    if rooms.typing_per_second > 0.0 {
        writeln!(
            f,
            "  typing              {}/s per client: {} sent, {} notices received",
            rooms.typing_per_second, rooms.typing_sent, rooms.typing_notices_received
        )?;
    }
    Ok(())
}
