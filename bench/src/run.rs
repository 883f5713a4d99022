//! One load-generator run from start to finish, in six phases, each a
//! function below:
//!
//! 1. `prepare`: raise the open-file limit, sample the server (baseline
//!    memory);
//! 2. `connect`: open all clients, a bounded number of handshakes at a time;
//! 3. `join_rooms` (step 09's rooms protocol only): every client joins its
//!    room and waits for the acknowledgement, all before any traffic;
//! 4. `warm_up_and_measure`: warm up, then measure for `--duration` (senders
//!    publish, everyone receives), sampling the server's CPU at both edges of
//!    the window and its memory throughout;
//! 5. `drain`: wait until every measured message reached every client, or
//!    `--drain` runs out (what is still missing then counts as lost);
//! 6. `stop_and_merge`: stop every client and merge what they saw into a
//!    [`RunResult`].
//!
//! Every phase has a deadline, so a run always ends by itself.
//!
//! In a two-node run (`--url-far`) the clients of the far half connect to
//! the second node, the servers' figures add both processes up, and the
//! result says what each side saw ([`crate::two_nodes`]). `--redis-pid`
//! adds Redis's CPU over the same window, and `--kill-redis-clients` cuts
//! one node's Redis connections at chosen moments of it
//! ([`crate::redis_admin`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};

use crate::client::{Client, ClientOutcome, ClientPlan, RunShared};
use crate::config::{LoadConfig, Traffic};
use crate::latency::{Clock, LatencyHistogram};
use crate::protocol::Protocol;
use crate::redis_admin::{self, KillRecord, RedisUsage};
use crate::result::{AckFigures, RoomsFigures, RunResult, ServerUsage, per_million_deliveries};
use crate::rooms::{self, Audience, RoomLayout};
use crate::server_process::{self, ProcessSample};
use crate::two_nodes::{Side, SideFigures, Split, TwoNodeFigures};

/// Longest a single client may take to connect and greet.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest the whole connect phase may take, however many clients.
const CONNECT_PHASE_TIMEOUT: Duration = Duration::from_secs(120);
/// Longest the join phase may take, however many clients: every join into a
/// room of N sends N − 1 `joined` notices, so joining grows with the square
/// of the room's size (1,000 clients in one room: half a million notices).
const JOIN_PHASE_TIMEOUT: Duration = Duration::from_secs(120);
/// How often the server's memory is sampled for its peak.
const MEMORY_SAMPLE_EVERY: Duration = Duration::from_millis(100);
/// Pause between connecting and sending, so the server settles (and, in idle
/// mode, so its memory reflects the connections, not the handshakes).
const SETTLE: Duration = Duration::from_millis(500);
/// Longest the clients may take to stop once told to.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Raises this process's open-file soft limit to the hard limit and returns
/// the new soft limit: every client is a socket, and the usual soft limit of
/// 1024 would stop a 10,000-client run early.
pub fn raise_open_file_limit() -> std::io::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
}

/// Performs one run as configured: the six phases, in order.
pub async fn run(config: &LoadConfig) -> Result<RunResult, String> {
    let server_before = prepare(config)?;
    let Connected {
        clients,
        failures,
        seconds: connect_seconds,
        split,
    } = connect(config).await?;
    let (clients, join_seconds) = if config.protocol == Protocol::Rooms {
        let joining = Instant::now();
        let clients = join_rooms(config, clients).await?;
        (clients, Some(joining.elapsed().as_secs_f64()))
    } else {
        (clients, None)
    };
    let mut measured = warm_up_and_measure(config, clients, split).await;
    let drained = drain(config, &mut measured).await;
    stop_and_merge(
        config,
        Started {
            server_before,
            failures,
            connect_seconds,
            join_seconds,
        },
        measured,
        drained,
    )
    .await
}

/// What phases 1 and 2 leave for the result: the server's baseline sample
/// and how connecting went.
struct Started {
    server_before: Option<ProcessSample>,
    failures: ConnectFailures,
    connect_seconds: f64,
    /// How long joining took (rooms protocol only).
    join_seconds: Option<f64>,
}

/// Phase 2's outcome: the clients that connected, numbered 0..N in order.
struct Connected {
    clients: Vec<Client>,
    failures: ConnectFailures,
    /// How long connecting took, in seconds.
    seconds: f64,
    /// How many of them are on each node (all near in a one-node run).
    split: Split,
}

/// Phase 3's outcome: the clients, still running, and what was sampled at
/// the edges of the measured window.
struct Measured {
    shared: Arc<RunShared>,
    tasks: JoinSet<ClientOutcome>,
    /// Sending `true` tells every client to stop.
    stop_clients: watch::Sender<bool>,
    /// `None` when the server's pid is not known.
    memory: Option<MemoryWatch>,
    connected: u64,
    senders: u64,
    audience: Audience,
    split: Split,
    window: WindowSamples,
    /// The `--kill-redis-clients` of the window, done or to be done.
    kills: Option<JoinHandle<Vec<KillRecord>>>,
}

/// CPU samples at both edges of the measured window: the server's (when its
/// pid is known and could be read) and the generator's own.
struct WindowSamples {
    server_at_start: Option<ProcessSample>,
    server_at_end: Option<ProcessSample>,
    generator_at_start: Option<ProcessSample>,
    generator_at_end: Option<ProcessSample>,
    redis_at_start: Option<ProcessSample>,
    redis_at_end: Option<ProcessSample>,
}

/// The background task that samples the server's memory, and its off switch.
struct MemoryWatch {
    stop: watch::Sender<bool>,
    peak: JoinHandle<u64>,
}

/// Phase 4's outcome: the server's memory, read before the clients hang up.
struct Drained {
    peak_rss: Option<u64>,
    server_at_drain_end: Option<ProcessSample>,
}

/// What every client saw, summed, once they have all stopped.
struct Outcomes {
    totals: ClientOutcome,
    /// The same for the far node's clients only (two-node runs).
    far_totals: ClientOutcome,
    ended_early: u64,
    first_early_reason: Option<String>,
}

/// Phase 1: makes room for every client's socket and samples the server
/// before any client connects.
fn prepare(config: &LoadConfig) -> Result<Option<ProcessSample>, String> {
    let file_limit = raise_open_file_limit()
        .map_err(|error| format!("could not raise the open-file limit: {error}"))?;
    // Each client needs one descriptor; keep a margin for the runtime itself.
    if u64::from(config.clients) + 64 > file_limit {
        return Err(format!(
            "{} clients need more open files than this process may have ({file_limit}); raise the hard limit \
             (ulimit -Hn) or use fewer clients",
            config.clients
        ));
    }
    if let Some(pid) = config.redis_pid {
        server_process::sample(pid)
            .map_err(|error| format!("cannot read the Redis server's pid {pid}: {error}"))?;
    }
    let pids = config.server_pids();
    if pids.is_empty() {
        return Ok(None);
    }
    server_process::sample_all(&pids)
        .map(Some)
        .map_err(|error| format!("cannot read server pid(s) {pids:?}: {error}"))
}

/// Phase 2: opens every client; an error only if none could connect.
async fn connect(config: &LoadConfig) -> Result<Connected, String> {
    let connect_started = Instant::now();
    let (mut clients, failures) = connect_all(config).await;
    let seconds = connect_started.elapsed().as_secs_f64();
    if clients.is_empty() {
        return Err(format!(
            "no client could connect to {}{}: {}",
            config.server,
            config.path,
            failures.first_error.unwrap_or_default()
        ));
    }
    // Senders are the first `senders` clients that connected: renumber them
    // 0..N so that "the first K" holds even if some failed.
    clients.sort_by_key(|client| client.index);
    // Near clients had the lower numbers, so they stay first: the split
    // holds for the new numbers too.
    let clients: Vec<Client> = clients
        .into_iter()
        .enumerate()
        .map(|(position, client)| client.renumbered(position as u32))
        .collect();
    let near = clients
        .iter()
        .filter(|client| client.side == Side::Near)
        .count() as u32;
    if config.far.is_some() && near < config.senders {
        return Err(format!(
            "only {near} clients could connect to the near node {}, fewer than the {} senders: {}",
            config.server,
            config.senders,
            failures.first_error.unwrap_or_default()
        ));
    }
    let split = Split {
        near,
        far: clients.len() as u32 - near,
    };
    Ok(Connected {
        clients,
        failures,
        seconds,
        split,
    })
}

/// Phase 3, in the rooms protocol only: every client joins its room (see
/// [`rooms`] for which), and keeps reading while the others join. It ends
/// when the last join is acknowledged. Any refusal, a client cut off, or a
/// join not answered within [`JOIN_PHASE_TIMEOUT`] ends the run with the
/// reason: what counts as lost depends on who is in which room, so a run
/// with a client missing from its room would count wrong.
async fn join_rooms(config: &LoadConfig, clients: Vec<Client>) -> Result<Vec<Client>, String> {
    let count = clients.len();
    let layout = RoomLayout::new(count as u32, config.rooms);
    let (release, held) = watch::channel(false);
    let (report, mut reports) = mpsc::unbounded_channel::<Result<(), String>>();
    let mut tasks = JoinSet::new();
    for mut client in clients {
        let (nickname, room) = (
            rooms::nickname(client.index),
            layout.room_name_of(client.index),
        );
        let (held, report) = (held.clone(), report.clone());
        tasks.spawn(async move {
            let joined = client.join(&nickname, &room).await;
            let failed = joined
                .as_ref()
                .err()
                .map(|error| format!("{nickname} joining {room}: {error}"));
            let _ = report.send(failed.clone().map_or(Ok(()), Err));
            if let Some(reason) = failed {
                return Err(reason);
            }
            match client.hold_until(held).await {
                Ok(()) => Ok(client),
                Err(error) => Err(format!("{nickname}, while the others joined: {error}")),
            }
        });
    }
    let deadline = tokio::time::Instant::now() + JOIN_PHASE_TIMEOUT;
    for answered in 0..count {
        match tokio::time::timeout_at(deadline, reports.recv()).await {
            Ok(Some(Ok(()))) => {}
            Ok(Some(Err(reason))) => return Err(format!("a client could not join: {reason}")),
            Ok(None) => return Err("the joining clients stopped without an answer".into()),
            Err(_) => {
                return Err(format!(
                    "only {answered} of {count} clients had their join acknowledged within {} s",
                    JOIN_PHASE_TIMEOUT.as_secs()
                ));
            }
        }
    }
    // Everyone is in: stop holding, and take the clients back.
    let _ = release.send(true);
    let mut joined = Vec::with_capacity(count);
    let collected = tokio::time::timeout(STOP_TIMEOUT, async {
        while let Some(task) = tasks.join_next().await {
            joined.push(task.map_err(|error| error.to_string())??);
        }
        Ok::<(), String>(())
    });
    collected
        .await
        .map_err(|_| format!("joined clients did not stop holding within {STOP_TIMEOUT:?}"))??;
    joined.sort_by_key(|client| client.index);
    Ok(joined)
}

/// Phase 4: starts every client, watches the server's memory in the
/// background, and samples CPU at the start and the end of the measured
/// window. Returns at the window's end, with the clients still running.
async fn warm_up_and_measure(config: &LoadConfig, clients: Vec<Client>, split: Split) -> Measured {
    let connected = clients.len() as u64;
    let senders = u64::from(config.senders).min(connected);

    let clock = Clock::start();
    let traffic_start = Instant::now() + SETTLE;
    let measure_start = traffic_start + config.warmup;
    let measure_end = measure_start + config.duration;
    let shared = Arc::new(RunShared {
        clock,
        traffic_start,
        measure_start_ns: clock.ns_at(measure_start),
        measure_end_ns: clock.ns_at(measure_end),
        measured_sent: AtomicU64::new(0),
        measured_expected: AtomicU64::new(0),
        measured_received: AtomicU64::new(0),
        latencies: Mutex::new(LatencyHistogram::default()),
        far_latencies: Mutex::new(LatencyHistogram::default()),
    });

    let audience = Audience::for_run(config.protocol, connected, config.rooms);
    let (stop_clients, stop) = watch::channel(false);
    let mut tasks = JoinSet::new();
    for client in clients {
        let plan = ClientPlan::for_client(client.index, config, traffic_start, &audience, split);
        tasks.spawn(client.run(plan, Arc::clone(&shared), stop.clone()));
    }

    // Watch the server's memory for the whole run, in the background.
    let pids = config.server_pids();
    let memory = (!pids.is_empty()).then(|| {
        let (stop, watched) = watch::channel(false);
        MemoryWatch {
            stop,
            peak: tokio::spawn(track_peak_rss(pids, watched)),
        }
    });
    let kills = config
        .redis
        .filter(|_| !config.redis_kills.is_empty())
        .map(|redis| {
            tokio::spawn(kill_redis_clients(
                redis,
                config.redis_kills.clone(),
                measure_start,
                config.duration,
            ))
        });

    let window = sample_window(config, measure_start, measure_end).await;
    Measured {
        shared,
        tasks,
        stop_clients,
        memory,
        connected,
        senders,
        audience,
        split,
        window,
        kills,
    }
}

/// Kills the Redis connections of every `--kill-redis-clients`, each at its
/// moment of the measured window, and says what each did.
async fn kill_redis_clients(
    redis: std::net::SocketAddr,
    mut kills: Vec<crate::config::RedisKill>,
    measure_start: Instant,
    duration: Duration,
) -> Vec<KillRecord> {
    kills.sort_by(|a, b| a.at_fraction.total_cmp(&b.at_fraction));
    let mut records = Vec::with_capacity(kills.len());
    for kill in kills {
        tokio::time::sleep_until((measure_start + duration.mul_f64(kill.at_fraction)).into()).await;
        let at_seconds = measure_start.elapsed().as_secs_f64();
        let (killed, error) = match redis_admin::kill_clients_named(redis, &kill.name_prefix).await
        {
            Ok(killed) => (killed, None),
            Err(error) => (Vec::new(), Some(error.to_string())),
        };
        records.push(KillRecord {
            name_prefix: kill.name_prefix,
            at_seconds,
            killed,
            error,
        });
    }
    records
}

/// Waits for the measured window to open and to close, sampling CPU at each
/// edge. The generator's own CPU is read at the same edges as the server's:
/// it shares the cores, so what it spends is what the server could not.
async fn sample_window(
    config: &LoadConfig,
    measure_start: Instant,
    measure_end: Instant,
) -> WindowSamples {
    let generator_pid = std::process::id();
    let pids = config.server_pids();
    let servers = || server_process::sample_all(&pids).ok();
    let redis = || {
        config
            .redis_pid
            .and_then(|pid| server_process::sample(pid).ok())
    };
    tokio::time::sleep_until(measure_start.into()).await;
    let server_at_start = servers();
    let generator_at_start = server_process::sample(generator_pid).ok();
    let redis_at_start = redis();
    tokio::time::sleep_until(measure_end.into()).await;
    let server_at_end = servers();
    let generator_at_end = server_process::sample(generator_pid).ok();
    let redis_at_end = redis();
    WindowSamples {
        server_at_start,
        server_at_end,
        generator_at_start,
        generator_at_end,
        redis_at_start,
        redis_at_end,
    }
}

/// Phase 5: waits until every measured message reached every client it
/// should (or `--drain` runs out), then stops watching the server's memory.
async fn drain(config: &LoadConfig, measured: &mut Measured) -> Drained {
    let shared = &measured.shared;
    let drain_deadline = Instant::now() + config.drain;
    let expected = || shared.measured_expected.load(Ordering::Relaxed);
    if config.traffic != Traffic::Idle {
        while shared.measured_received.load(Ordering::Relaxed) < expected()
            && Instant::now() < drain_deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    // Stop watching memory before the clients hang up: the server's work of
    // tearing thousands of connections down is not what we measure.
    let peak_rss = match measured.memory.take() {
        Some(memory) => {
            let _ = memory.stop.send(true);
            memory.peak.await.ok()
        }
        None => None,
    };
    let pids = config.server_pids();
    let server_at_drain_end = (!pids.is_empty())
        .then(|| server_process::sample_all(&pids).ok())
        .flatten();
    Drained {
        peak_rss,
        server_at_drain_end,
    }
}

/// Phase 6: tells every client to stop, sums what they saw, and merges it
/// with the samples of the earlier phases into the run's result.
async fn stop_and_merge(
    config: &LoadConfig,
    started: Started,
    measured: Measured,
    drained: Drained,
) -> Result<RunResult, String> {
    let _ = measured.stop_clients.send(true);
    let Outcomes {
        totals,
        far_totals,
        ended_early,
        first_early_reason,
    } = collect_outcomes(measured.tasks).await?;
    let redis_kills = match measured.kills {
        Some(kills) => kills
            .await
            .map_err(|error| format!("the Redis kills stopped: {error}"))?,
        None => Vec::new(),
    };

    let connected = measured.connected;
    let deliveries_expected = totals.expected_measured;
    let measured_seconds = config.duration.as_secs_f64();
    let window = &measured.window;
    let server = server_usage(&started, window, &drained, connected, &totals);
    let generator_cpu_seconds = generator_cpu_seconds(window);

    Ok(RunResult {
        scenario: config.scenario.clone(),
        scenario_title: config.scenario_title.clone(),
        server_name: config.server_name.clone(),
        protocol: config.protocol,
        url: format!("ws://{}{}", config.server, config.path),
        clients_requested: config.clients,
        clients_connected: connected,
        connect_failures: started.failures.count,
        first_connect_error: started.failures.first_error,
        connect_seconds: started.connect_seconds,
        clients_ended_early: ended_early,
        first_early_end_reason: first_early_reason,
        senders: measured.senders,
        traffic: config.traffic.into(),
        warmup_seconds: config.warmup.as_secs_f64(),
        measured_seconds,
        messages_sent_total: totals.sent_total,
        messages_sent_measured: totals.sent_measured,
        deliveries_expected,
        deliveries_per_message: deliveries_per_message(
            &totals,
            &measured.audience,
            measured.senders,
        ),
        rooms: rooms_figures(config, started.join_seconds, &totals),
        client_offsets: config.client_offsets,
        acks: ack_figures(config, &totals),
        history_received: totals.history_received,
        deliveries_received: totals.received_measured,
        deliveries_lost: deliveries_expected.saturating_sub(totals.received_measured),
        deliveries_in_window: totals.received_in_window,
        deliveries_per_second: totals.received_in_window as f64
            / measured_seconds.max(f64::EPSILON),
        server_errors: totals.server_errors,
        latency: total_latency(&measured.shared),
        two_nodes: two_node_figures(
            config,
            &measured.shared,
            measured.split,
            &totals,
            &far_totals,
        ),
        redis: redis_usage(window, totals.received_in_window),
        redis_kills,
        messages_retried: totals.retried,
        server,
        generator_threads: config.threads,
        generator_cpu_seconds,
        generator_cpu_seconds_per_million_deliveries: generator_cpu_seconds
            .and_then(|seconds| per_million_deliveries(seconds, totals.received_in_window)),
    })
}

/// Every delivery's latency, both sides together in a two-node run.
fn total_latency(shared: &RunShared) -> Option<crate::latency::LatencySummary> {
    let mut all = LatencyHistogram::default();
    all.merge(&shared.latencies_of(Side::Near));
    all.merge(&shared.latencies_of(Side::Far));
    all.summary()
}

/// What each node's clients saw, for a two-node run; `None` for the others.
/// The far clients' counts are their own; the near side's are the rest.
fn two_node_figures(
    config: &LoadConfig,
    shared: &RunShared,
    split: Split,
    totals: &ClientOutcome,
    far: &ClientOutcome,
) -> Option<TwoNodeFigures> {
    let far_node = config.far.as_ref()?;
    let per_second = |count: u64| count as f64 / config.duration.as_secs_f64().max(f64::EPSILON);
    let side =
        |clients: u32, expected: u64, received: u64, in_window: u64, side: Side| SideFigures {
            clients: u64::from(clients),
            deliveries_expected: expected,
            deliveries_received: received,
            deliveries_in_window: in_window,
            deliveries_per_second: per_second(in_window),
            latency: shared.latencies_of(side).summary(),
        };
    Some(TwoNodeFigures {
        near_url: format!("ws://{}{}", config.server, config.path),
        far_url: format!("ws://{}{}", far_node.server, far_node.path),
        near: side(
            split.near,
            totals.expected_measured - totals.expected_measured_far,
            totals.received_measured - far.received_measured,
            totals.received_in_window - far.received_in_window,
            Side::Near,
        ),
        far: side(
            split.far,
            totals.expected_measured_far,
            far.received_measured,
            far.received_in_window,
            Side::Far,
        ),
    })
}

/// Redis's CPU over the measured window, when `--redis-pid` was given and
/// both edges could be read.
fn redis_usage(window: &WindowSamples, deliveries: u64) -> Option<RedisUsage> {
    let (start, end) = (window.redis_at_start?, window.redis_at_end?);
    let cpu_seconds = (end.cpu_seconds - start.cpu_seconds).max(0.0);
    Some(RedisUsage {
        cpu_seconds,
        cpu_seconds_per_million_deliveries: per_million_deliveries(cpu_seconds, deliveries),
    })
}

/// The load generator's own CPU seconds in the measured window, when both
/// edges could be read.
fn generator_cpu_seconds(window: &WindowSamples) -> Option<f64> {
    match (window.generator_at_start, window.generator_at_end) {
        (Some(start), Some(end)) => Some((end.cpu_seconds - start.cpu_seconds).max(0.0)),
        _ => None,
    }
}

/// Deliveries per measured message, or for a run that measured none (idle),
/// what one message of theirs would make on average.
fn deliveries_per_message(
    totals: &ClientOutcome,
    audience: &Audience,
    senders: u64,
) -> Option<f64> {
    (totals.sent_measured > 0)
        .then(|| totals.expected_measured as f64 / totals.sent_measured as f64)
        .or_else(|| audience.average_receivers(senders))
}

/// What a run in the rooms protocol adds to the result; `None` for the others.
fn rooms_figures(
    config: &LoadConfig,
    join_seconds: Option<f64>,
    totals: &ClientOutcome,
) -> Option<RoomsFigures> {
    (config.protocol == Protocol::Rooms).then(|| RoomsFigures {
        rooms: config.rooms,
        join_seconds: join_seconds.unwrap_or_default(),
        acks_received: totals.acks_received,
        typing_per_second: config.typing_per_second,
        typing_sent: totals.typing_sent,
        typing_notices_received: totals.typing_received,
    })
}

/// The acknowledgements, for a run whose protocol asks for them (rooms, or
/// socket.io with `--client-offsets`); `None` for the others.
fn ack_figures(config: &LoadConfig, totals: &ClientOutcome) -> Option<AckFigures> {
    (config.protocol == Protocol::Rooms || config.client_offsets).then(|| AckFigures {
        received: totals.acks_received,
        in_window: totals.acks_in_window,
        per_second: totals.acks_in_window as f64 / config.duration.as_secs_f64().max(f64::EPSILON),
    })
}

/// Waits (at most [`STOP_TIMEOUT`]) for every client to stop, and sums what
/// they saw.
async fn collect_outcomes(mut tasks: JoinSet<ClientOutcome>) -> Result<Outcomes, String> {
    let mut outcomes = Outcomes {
        totals: ClientOutcome::default(),
        far_totals: ClientOutcome::default(),
        ended_early: 0,
        first_early_reason: None,
    };
    let collect = async {
        while let Some(joined) = tasks.join_next().await {
            let Ok(outcome) = joined else { continue };
            outcomes.totals.add(&outcome);
            if outcome.side == Side::Far {
                outcomes.far_totals.add(&outcome);
            }
            if let Some(reason) = outcome.ended_early {
                outcomes.ended_early += 1;
                outcomes.first_early_reason.get_or_insert(reason);
            }
        }
    };
    if tokio::time::timeout(STOP_TIMEOUT, collect).await.is_err() {
        return Err(format!(
            "clients did not stop within {} s of being told to",
            STOP_TIMEOUT.as_secs()
        ));
    }
    Ok(outcomes)
}

/// The server's CPU and memory over the run, when every sample of it could
/// be read.
fn server_usage(
    started: &Started,
    window: &WindowSamples,
    drained: &Drained,
    connected: u64,
    totals: &ClientOutcome,
) -> Option<ServerUsage> {
    match (
        started.server_before,
        window.server_at_start,
        window.server_at_end,
        drained.server_at_drain_end,
    ) {
        (Some(before), Some(start), Some(end), Some(last)) => Some(ServerUsage::from_samples(
            before,
            start,
            end,
            drained.peak_rss.unwrap_or(last.rss_bytes),
            last.peak_rss_bytes,
            connected,
            totals.received_in_window,
        )),
        _ => None,
    }
}

/// Connection attempts that failed, with the first reason as an example.
#[derive(Default)]
struct ConnectFailures {
    count: u64,
    first_error: Option<String>,
}

/// Opens all clients, at most `connect_concurrency` handshakes at a time (a
/// burst of thousands of SYNs would overflow the server's accept backlog and
/// measure the kernel's retry timer instead of the server).
async fn connect_all(config: &LoadConfig) -> (Vec<Client>, ConnectFailures) {
    let permits = Arc::new(Semaphore::new(config.connect_concurrency as usize));
    let config_shared = Arc::new(config.clone());
    let mut attempts = JoinSet::new();
    for index in 0..config.clients {
        let permits = Arc::clone(&permits);
        let config = Arc::clone(&config_shared);
        attempts.spawn(async move {
            let _permit = permits.acquire_owned().await;
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, Client::open(index, &config)).await {
                Ok(Ok(client)) => Ok(client),
                Ok(Err(error)) => Err(error.to_string()),
                Err(_) => Err(format!("no greeting within {HANDSHAKE_TIMEOUT:?}")),
            }
        });
    }
    let mut clients = Vec::with_capacity(config.clients as usize);
    let mut failures = ConnectFailures::default();
    let deadline = tokio::time::Instant::now() + CONNECT_PHASE_TIMEOUT;
    loop {
        match tokio::time::timeout_at(deadline, attempts.join_next()).await {
            Ok(Some(Ok(Ok(client)))) => clients.push(client),
            Ok(Some(Ok(Err(error)))) => {
                failures.count += 1;
                failures.first_error.get_or_insert(error);
            }
            Ok(Some(Err(join_error))) => {
                failures.count += 1;
                failures.first_error.get_or_insert(join_error.to_string());
            }
            Ok(None) => break,
            Err(_) => {
                failures.count += attempts.len() as u64;
                failures
                    .first_error
                    .get_or_insert(format!("connect phase took over {CONNECT_PHASE_TIMEOUT:?}"));
                attempts.abort_all();
                break;
            }
        }
    }
    (clients, failures)
}

/// Samples the servers' resident memory (added up) until told to stop;
/// returns the peak.
async fn track_peak_rss(pids: Vec<u32>, mut stop: watch::Receiver<bool>) -> u64 {
    let mut peak = 0;
    let mut every = tokio::time::interval(MEMORY_SAMPLE_EVERY);
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = every.tick() => {
                if let Ok(ProcessSample { rss_bytes, .. }) = server_process::sample_all(&pids) {
                    peak = peak.max(rss_bytes);
                }
            }
        }
    }
    if let Ok(last) = server_process::sample_all(&pids) {
        peak = peak.max(last.rss_bytes);
    }
    peak
}
