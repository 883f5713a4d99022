//! The report's two-node table (issue 14): for every run on Redis (step 11
//! as one node or two, the Node pair with its Redis adapter), what the
//! clients of each node saw, and what Redis cost.
//!
//! One row per scenario and server, each figure the median over rounds and
//! loss the worst round, as in the main table ([`crate::report`]). The
//! columns are the ones the bars of issue 14 are read from: the far
//! node's p50 against the near node's (what crossing Redis adds),
//! deliveries per second (two step 11 nodes against one, and against the
//! Node pair), Redis's CPU per million deliveries, and loss, with how many
//! refused messages were sent again while a node had lost Redis.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::report::{DASH, median, millis, scenario_order, thousands};
use crate::result::{RunRecord, RunResult};

/// The medians of one server's rounds in one two-node scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct TwoNodeRow {
    pub scenario_title: String,
    pub server_name: String,
    /// Clients per node: `(near, far)`; far is 0 for one node.
    pub clients: (u64, u64),
    pub deliveries_per_second: Option<f64>,
    /// Near is every client for one node.
    pub near_p50_ms: Option<f64>,
    pub near_p99_ms: Option<f64>,
    pub far_p50_ms: Option<f64>,
    pub far_p99_ms: Option<f64>,
    /// Median over rounds of (far p50 − near p50) in each round.
    pub far_minus_near_p50_ms: Option<f64>,
    pub lost_worst: u64,
    pub retried_worst: u64,
    /// Redis connections killed in the window, in the first round.
    pub kills: usize,
    pub server_cpu_seconds_per_million: Option<f64>,
    pub redis_cpu_seconds_per_million: Option<f64>,
}

/// Whether a run was on Redis (or split over two nodes), so belongs here.
fn is_on_redis(run: &RunResult) -> bool {
    run.redis.is_some() || run.two_nodes.is_some()
}

/// The rows of every run on Redis, by scenario (in [`scenario_order`]) and
/// server name.
pub fn two_node_rows(records: &[RunRecord]) -> Vec<TwoNodeRow> {
    let mut groups: BTreeMap<(u64, &str), BTreeMap<&str, Vec<&RunResult>>> = BTreeMap::new();
    for record in records {
        if let RunRecord::Measured(run) = record
            && is_on_redis(run)
        {
            groups
                .entry(scenario_order(&run.scenario))
                .or_default()
                .entry(&run.server_name)
                .or_default()
                .push(run);
        }
    }
    groups
        .into_values()
        .flat_map(BTreeMap::into_iter)
        .map(|(server, rounds)| row(server, &rounds))
        .collect()
}

/// One server's rounds of one scenario, reduced.
fn row(server: &str, rounds: &[&RunResult]) -> TwoNodeRow {
    let of = |pick: &dyn Fn(&RunResult) -> Option<f64>| {
        median(
            &rounds
                .iter()
                .filter_map(|run| pick(run))
                .collect::<Vec<_>>(),
        )
    };
    let first = rounds[0];
    let near_latency = |run: &RunResult| match &run.two_nodes {
        Some(two) => two.near.latency,
        None => run.latency,
    };
    let far_latency = |run: &RunResult| run.two_nodes.as_ref().and_then(|two| two.far.latency);
    TwoNodeRow {
        scenario_title: first.scenario_title.clone(),
        server_name: server.to_owned(),
        clients: match &first.two_nodes {
            Some(two) => (two.near.clients, two.far.clients),
            None => (first.clients_connected, 0),
        },
        deliveries_per_second: of(&|run| Some(run.deliveries_per_second)),
        near_p50_ms: of(&|run| near_latency(run).map(|latency| latency.p50_ms)),
        near_p99_ms: of(&|run| near_latency(run).map(|latency| latency.p99_ms)),
        far_p50_ms: of(&|run| far_latency(run).map(|latency| latency.p50_ms)),
        far_p99_ms: of(&|run| far_latency(run).map(|latency| latency.p99_ms)),
        far_minus_near_p50_ms: of(&|run| run.two_nodes.as_ref()?.far_minus_near_p50_ms()),
        lost_worst: rounds
            .iter()
            .map(|run| run.deliveries_lost)
            .max()
            .unwrap_or(0),
        retried_worst: rounds
            .iter()
            .map(|run| run.messages_retried)
            .max()
            .unwrap_or(0),
        kills: first.redis_kills.iter().map(|kill| kill.killed.len()).sum(),
        server_cpu_seconds_per_million: of(&|run| run.server?.cpu_seconds_per_million_deliveries),
        redis_cpu_seconds_per_million: of(&|run| run.redis?.cpu_seconds_per_million_deliveries),
    }
}

/// The two-node table in Markdown, or `None` when no run was on Redis.
pub fn two_node_table(records: &[RunRecord]) -> Option<String> {
    let rows = two_node_rows(records);
    if rows.is_empty() {
        return None;
    }
    let mut out = String::from(
        "| two nodes | server | clients (near + far) | deliveries/s | near p50 ms | near p99 ms | \
         far p50 ms | far p99 ms | far − near p50 ms | lost (worst round) | \
         sent again after a refusal | Redis connections killed | \
         server CPU-s per million deliveries | Redis CPU-s per million deliveries |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for row in &rows {
        let _ = writeln!(out, "| {} |", row_cells(row).join(" | "));
    }
    Some(out)
}

/// A difference in milliseconds with its sign, as precise as [`millis`]
/// would show the number: +0.412, -8.61, +444.
fn signed_millis(gap: f64) -> String {
    let sign = if gap < 0.0 { "-" } else { "+" };
    format!("{sign}{}", millis(gap.abs()))
}

/// A row's cells, the scenario and server first.
fn row_cells(row: &TwoNodeRow) -> Vec<String> {
    let ms = |value: Option<f64>| value.map_or(DASH.to_owned(), millis);
    let cpu = |value: Option<f64>| value.map_or(DASH.to_owned(), |cpu| format!("{cpu:.2}"));
    let clients = match row.clients {
        (near, 0) => format!("{} (one node)", thousands(near as f64)),
        (near, far) => format!("{} + {}", thousands(near as f64), thousands(far as f64)),
    };
    vec![
        row.scenario_title.clone(),
        row.server_name.clone(),
        clients,
        row.deliveries_per_second.map_or(DASH.to_owned(), thousands),
        ms(row.near_p50_ms),
        ms(row.near_p99_ms),
        ms(row.far_p50_ms),
        ms(row.far_p99_ms),
        row.far_minus_near_p50_ms
            .map_or(DASH.to_owned(), signed_millis),
        thousands(row.lost_worst as f64),
        thousands(row.retried_worst as f64),
        thousands(row.kills as f64),
        cpu(row.server_cpu_seconds_per_million),
        cpu(row.redis_cpu_seconds_per_million),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latency::LatencySummary;
    use crate::redis_admin::{KillRecord, RedisUsage};
    use crate::report::tests::run;
    use crate::two_nodes::{SideFigures, TwoNodeFigures};

    fn latency(p50_ms: f64) -> Option<LatencySummary> {
        Some(LatencySummary {
            p50_ms,
            p90_ms: p50_ms * 2.0,
            p99_ms: p50_ms * 4.0,
            max_ms: p50_ms * 8.0,
        })
    }

    fn side(clients: u64, p50_ms: f64) -> SideFigures {
        SideFigures {
            clients,
            deliveries_expected: 10_000,
            deliveries_received: 10_000,
            deliveries_in_window: 10_000,
            deliveries_per_second: 5_000.0,
            latency: latency(p50_ms),
        }
    }

    /// A two-node round: near and far p50 as given, Redis's CPU, retries.
    fn two_node_run(scenario: &str, near_p50: f64, far_p50: f64, retried: u64) -> RunResult {
        let mut run = run(scenario, "step 11, two nodes", 20_000.0, 2.0, 0);
        run.two_nodes = Some(TwoNodeFigures {
            near_url: "ws://127.0.0.1:1/ws".into(),
            far_url: "ws://127.0.0.1:2/ws".into(),
            near: side(50, near_p50),
            far: side(50, far_p50),
        });
        run.redis = Some(RedisUsage {
            cpu_seconds: 0.2,
            cpu_seconds_per_million_deliveries: Some(1.25),
        });
        run.messages_retried = retried;
        run
    }

    fn measured(runs: Vec<RunResult>) -> Vec<RunRecord> {
        runs.into_iter()
            .map(|run| RunRecord::Measured(Box::new(run)))
            .collect()
    }

    /// Each side's latencies are reported apart, as medians over rounds,
    /// with the far side's lead over the near side's p50; the worst round's
    /// retries and the Redis CPU come along.
    #[test]
    fn near_and_far_sides_are_reported_apart() {
        let records = measured(vec![
            two_node_run("9-two", 1.0, 1.2, 0),
            two_node_run("9-two", 1.0, 1.6, 7),
            two_node_run("9-two", 1.0, 1.4, 0),
        ]);

        let rows = two_node_rows(&records);
        let table = two_node_table(&records).expect("a table");

        assert_eq!(rows.len(), 1);
        let row = &rows[0];
        assert_eq!(row.clients, (50, 50));
        assert_eq!((row.near_p50_ms, row.far_p50_ms), (Some(1.0), Some(1.4)));
        assert_eq!(row.far_p99_ms, Some(5.6));
        assert!(
            (row.far_minus_near_p50_ms.unwrap() - 0.4).abs() < 1e-9,
            "{row:?}"
        );
        assert_eq!(row.retried_worst, 7);
        assert!(
            table.contains(
                "| title of 9-two | step 11, two nodes | 50 + 50 | 20,000 | 1.00 | 4.00 | 1.40 | 5.60 | +0.400 | 0 | 7 | 0 | 0.50 | 1.25 |"
            ),
            "{table}"
        );
    }

    /// One node on Redis is a row with all its clients near and no far
    /// figures; its kills are counted; runs not on Redis have no table.
    #[test]
    fn one_node_rows_and_runs_without_redis() {
        let mut one_node = run("11-killed", "step 11, one node + Redis", 20_000.0, 2.0, 0);
        one_node.redis = Some(RedisUsage {
            cpu_seconds: 0.1,
            cpu_seconds_per_million_deliveries: Some(0.5),
        });
        one_node.redis_kills = vec![KillRecord {
            name_prefix: "realtime-a-".into(),
            at_seconds: 1.0,
            killed: vec!["realtime-a-commands".into(), "realtime-a-pubsub".into()],
            error: None,
        }];
        let records = measured(vec![one_node, two_node_run("9-two", 1.0, 1.1, 0)]);

        let table = two_node_table(&records).expect("a table");

        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4, "{table}");
        assert!(
            lines[2].starts_with("| title of 9-two |"),
            "9 before 11: {table}"
        );
        assert!(
            lines[3].starts_with(
                "| title of 11-killed | step 11, one node + Redis | 100 (one node) | 20,000 | 0.500 | 2.00 | – | – | – | 0 | 0 | 2 |"
            ),
            "{table}"
        );
        assert_eq!(
            two_node_table(&measured(vec![run("1-a", "step 10", 1.0, 1.0, 0)])),
            None
        );
    }
}
