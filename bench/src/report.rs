//! Turns a folder of loadgen JSON results (several rounds of several
//! scenarios against several servers) into the two artefacts the README shows:
//! a Markdown table ([`markdown_table`]) and an SVG bar chart ([`svg_chart`]).
//!
//! Each figure is the **median over rounds**, which shrugs off one noisy round
//! on a shared machine; losses are the **worst** round, because "lose nothing"
//! must hold every time, not on average. A scenario `compare.sh` skipped for
//! a server (step 09's room scenarios, for servers without rooms) is a row
//! that says so. The SVG is written by hand: a few rectangles and labels do
//! not need a plotting library.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::recovery::{RecoveryRepeat, RecoveryResult};
use crate::result::{RunRecord, RunResult, SkippedRun, TrafficShape};

/// The medians of one server in one scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerFigures {
    pub server_name: String,
    pub rounds: usize,
    pub clients_requested: u32,
    pub clients_connected: f64,
    /// How many clients each message reached (the room size − 1 in step 09).
    pub deliveries_per_message: Option<f64>,
    pub deliveries_per_second: Option<f64>,
    /// Acknowledged messages per second, for runs whose messages ask for
    /// acks: committed messages, for step 10 and the Node SQLite server.
    pub acked_per_second: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub lost_worst: u64,
    pub server_errors_worst: u64,
    /// Clients the server closed before the run ended, in the worst round.
    pub ended_early_worst: u64,
    pub cpu_seconds_per_million: Option<f64>,
    /// The load generator's CPU per million deliveries, beside the server's.
    pub generator_cpu_seconds_per_million: Option<f64>,
    pub memory_per_connection_bytes: Option<f64>,
    /// Why this server was not run in this scenario, if it was not.
    pub skipped: Option<String>,
}

/// One scenario with every server measured in it.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioFigures {
    pub scenario: String,
    pub title: String,
    pub idle: bool,
    /// Senders publish as fast as they are answered: then acknowledged
    /// messages per second measure how fast a server commits.
    pub flat_out: bool,
    pub servers: Vec<ServerFigures>,
}

/// The median of `values` (mean of the middle two for an even count).
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    Some(if sorted.len() % 2 == 1 {
        sorted[middle]
    } else {
        (sorted[middle - 1] + sorted[middle]) / 2.0
    })
}

/// Where scenario `id` goes in a table: by its leading number (`9-...`
/// before `10-...`), then by the id itself.
pub fn scenario_order(id: &str) -> (u64, &str) {
    let digits = id.bytes().take_while(u8::is_ascii_digit).count();
    (id[..digits].parse().unwrap_or(u64::MAX), id)
}

/// Groups runs by scenario (in [`scenario_order`]) and server (sorted by
/// name), and reduces each group's rounds to medians. A skip note counts only
/// where that server has no measured run in that scenario.
pub fn summarize(records: &[RunRecord]) -> Vec<ScenarioFigures> {
    let mut groups: BTreeMap<(u64, &str), BTreeMap<&str, Vec<&RunResult>>> = BTreeMap::new();
    let mut skips: BTreeMap<&str, Vec<&SkippedRun>> = BTreeMap::new();
    for record in records {
        match record {
            RunRecord::Measured(run) => groups
                .entry(scenario_order(&run.scenario))
                .or_default()
                .entry(&run.server_name)
                .or_default()
                .push(run),
            RunRecord::Skipped(skip) => skips.entry(&skip.scenario).or_default().push(skip),
            // Its own table: see `recovery_table`.
            RunRecord::Recovery(_) => {}
        }
    }
    for (scenario, skipped) in &skips {
        let servers = groups.entry(scenario_order(scenario)).or_default();
        for skip in skipped {
            servers.entry(&skip.server_name).or_default();
        }
    }
    groups
        .into_iter()
        .map(|((_, scenario), servers)| {
            let first = servers.values().flatten().next().copied();
            let skipped = skips.get(scenario).map(Vec::as_slice).unwrap_or_default();
            ScenarioFigures {
                scenario: scenario.to_owned(),
                title: first
                    .map(|run| run.scenario_title.clone())
                    .or_else(|| skipped.first().map(|skip| skip.scenario_title.clone()))
                    .unwrap_or_default(),
                idle: first.is_some_and(|run| run.traffic == TrafficShape::Idle),
                flat_out: first
                    .is_some_and(|run| matches!(run.traffic, TrafficShape::FlatOut { .. })),
                servers: servers
                    .into_iter()
                    .map(|(name, rounds)| match rounds.is_empty() {
                        false => server_figures(name, &rounds),
                        true => skipped_figures(name, skipped),
                    })
                    .collect(),
            }
        })
        .collect()
}

/// The row of a server that was not run in a scenario: no figures, a reason.
fn skipped_figures(name: &str, skipped: &[&SkippedRun]) -> ServerFigures {
    ServerFigures {
        server_name: name.to_owned(),
        rounds: 0,
        clients_requested: 0,
        clients_connected: 0.0,
        deliveries_per_message: None,
        deliveries_per_second: None,
        acked_per_second: None,
        p50_ms: None,
        p99_ms: None,
        lost_worst: 0,
        server_errors_worst: 0,
        ended_early_worst: 0,
        cpu_seconds_per_million: None,
        generator_cpu_seconds_per_million: None,
        memory_per_connection_bytes: None,
        skipped: skipped
            .iter()
            .find(|skip| skip.server_name == name)
            .map(|skip| skip.skipped.clone()),
    }
}

/// How many deliveries one message of `run` made: as recorded, or for
/// results from before it was recorded, expected deliveries per measured
/// message.
fn deliveries_per_message(run: &RunResult) -> Option<f64> {
    run.deliveries_per_message.or_else(|| {
        (run.messages_sent_measured > 0)
            .then(|| run.deliveries_expected as f64 / run.messages_sent_measured as f64)
    })
}

fn server_figures(name: &str, rounds: &[&RunResult]) -> ServerFigures {
    let of = |pick: &dyn Fn(&RunResult) -> Option<f64>| -> Option<f64> {
        median(
            &rounds
                .iter()
                .filter_map(|run| pick(run))
                .collect::<Vec<_>>(),
        )
    };
    let idle = rounds.iter().all(|run| run.traffic == TrafficShape::Idle);
    let traffic = |pick: &dyn Fn(&RunResult) -> Option<f64>| if idle { None } else { of(pick) };
    ServerFigures {
        server_name: name.to_owned(),
        rounds: rounds.len(),
        clients_requested: rounds
            .iter()
            .map(|run| run.clients_requested)
            .max()
            .unwrap_or(0),
        clients_connected: of(&|run| Some(run.clients_connected as f64)).unwrap_or(0.0),
        deliveries_per_message: traffic(&deliveries_per_message),
        deliveries_per_second: traffic(&|run| Some(run.deliveries_per_second)),
        acked_per_second: traffic(&|run| run.acks.map(|acks| acks.per_second)),
        p50_ms: traffic(&|run| run.latency.map(|latency| latency.p50_ms)),
        p99_ms: traffic(&|run| run.latency.map(|latency| latency.p99_ms)),
        lost_worst: rounds
            .iter()
            .map(|run| run.deliveries_lost)
            .max()
            .unwrap_or(0),
        server_errors_worst: rounds
            .iter()
            .map(|run| run.server_errors)
            .max()
            .unwrap_or(0),
        ended_early_worst: rounds
            .iter()
            .map(|run| run.clients_ended_early)
            .max()
            .unwrap_or(0),
        cpu_seconds_per_million: traffic(&|run| {
            run.server
                .and_then(|server| server.cpu_seconds_per_million_deliveries)
        }),
        generator_cpu_seconds_per_million: traffic(&|run| {
            run.generator_cpu_seconds_per_million_deliveries
        }),
        memory_per_connection_bytes: if idle {
            of(&|run| {
                run.server
                    .map(|server| server.rss_growth_per_connection_bytes)
            })
        } else {
            None
        },
        skipped: None,
    }
}

/// `1234567.8` → `1,234,568`.
pub fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.abs());
    let mut grouped = String::new();
    for (position, digit) in digits.chars().enumerate() {
        if position > 0 && (digits.len() - position) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    if value < 0.0 {
        format!("-{grouped}")
    } else {
        grouped
    }
}

/// A count that may be fractional (deliveries per message over rooms of
/// different sizes): whole numbers with thousands separators, others with
/// one decimal.
pub fn count(value: f64) -> String {
    if (value - value.round()).abs() < 0.05 {
        thousands(value)
    } else {
        format!("{value:.1}")
    }
}

/// Milliseconds with precision that suits their size: 0.412, 8.61, 31.2, 460.
pub fn millis(value: f64) -> String {
    match value {
        v if v < 1.0 => format!("{v:.3}"),
        v if v < 10.0 => format!("{v:.2}"),
        v if v < 100.0 => format!("{v:.1}"),
        v => format!("{v:.0}"),
    }
}

/// What a table shows where there is no figure.
pub const DASH: &str = "–";

/// The Markdown table: one row per scenario and server.
pub fn markdown_table(scenarios: &[ScenarioFigures]) -> String {
    let mut out = String::new();
    out.push_str(
        "| scenario | server | clients | deliveries per message | deliveries/s | \
         acked messages/s | p50 ms | p99 ms | \
         lost (worst round) | server CPU-s per million deliveries | \
         generator CPU-s per million deliveries | server memory per idle connection |\n",
    );
    out.push_str("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for scenario in scenarios {
        for server in &scenario.servers {
            let cells = match &server.skipped {
                // The reason where the client count would be, dashes after it.
                Some(reason) => [format!("not run: {reason}")]
                    .into_iter()
                    .chain(std::iter::repeat_n(DASH.to_owned(), 9))
                    .collect(),
                None => figure_cells(scenario, server),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                scenario.title,
                server.server_name,
                cells.join(" | ")
            );
        }
    }
    out
}

/// A measured row's cells, after the scenario and the server.
fn figure_cells(scenario: &ScenarioFigures, server: &ServerFigures) -> Vec<String> {
    let clients = if server.clients_connected < f64::from(server.clients_requested) {
        format!(
            "{} of {}",
            thousands(server.clients_connected),
            thousands(f64::from(server.clients_requested))
        )
    } else {
        thousands(f64::from(server.clients_requested))
    };
    let cpu = |cpu: Option<f64>| cpu.map_or(DASH.to_owned(), |cpu| format!("{cpu:.2}"));
    vec![
        clients,
        server.deliveries_per_message.map_or(DASH.to_owned(), count),
        server
            .deliveries_per_second
            .map_or(DASH.to_owned(), thousands),
        server.acked_per_second.map_or(DASH.to_owned(), thousands),
        server.p50_ms.map_or(DASH.to_owned(), millis),
        server.p99_ms.map_or(DASH.to_owned(), millis),
        lost_cell(scenario, server),
        cpu(server.cpu_seconds_per_million),
        cpu(server.generator_cpu_seconds_per_million),
        server
            .memory_per_connection_bytes
            .map_or(DASH.to_owned(), |bytes| {
                format!("{:.1} KiB", bytes / 1024.0)
            }),
    ]
}

/// Loss, with what explains it: error events, or clients the server cut off.
fn lost_cell(scenario: &ScenarioFigures, server: &ServerFigures) -> String {
    let mut lost = if scenario.idle {
        DASH.to_owned()
    } else {
        thousands(server.lost_worst as f64)
    };
    if server.server_errors_worst > 0 {
        let _ = write!(
            lost,
            " ({} error events)",
            thousands(server.server_errors_worst as f64)
        );
    }
    if server.ended_early_worst > 0 {
        let _ = write!(
            lost,
            " ({} clients cut off)",
            thousands(server.ended_early_worst as f64)
        );
    }
    lost
}

/// The recovery measurements' table (step 10: how long a client that missed
/// messages waits for them after it comes back), one row per server, or
/// `None` when the folder has none. Times are over every repeat of every
/// round: the median, and the slowest, which is what the 100 ms bar is held
/// to.
pub fn recovery_table(records: &[RunRecord]) -> Option<String> {
    let mut servers: BTreeMap<&str, Vec<&RecoveryResult>> = BTreeMap::new();
    for record in records {
        if let RunRecord::Recovery(result) = record {
            servers.entry(&result.server_name).or_default().push(result);
        }
    }
    if servers.is_empty() {
        return None;
    }
    let mut out = String::from(
        "| recovery | server | missed messages | repeats | answer to the join, ms (median) | \
         last missed message, ms: median | slowest | session taken back |\n\
         |---|---|---:|---:|---:|---:|---:|---|\n",
    );
    for (server, rounds) in servers {
        let repeats: Vec<_> = rounds.iter().flat_map(|round| &round.repeats).collect();
        let pick = |of: fn(&RecoveryRepeat) -> f64| {
            median(&repeats.iter().map(|repeat| of(repeat)).collect::<Vec<_>>())
        };
        let slowest = repeats
            .iter()
            .map(|repeat| repeat.replay_ms)
            .fold(f64::NAN, f64::max);
        let recovered = repeats.iter().filter(|repeat| repeat.recovered).count();
        let _ = writeln!(
            out,
            "| {} | {server} | {} | {} | {} | {} | {} | {recovered} of {} |",
            rounds[0].scenario_title,
            thousands(f64::from(rounds[0].missed_messages)),
            repeats.len(),
            pick(|repeat| repeat.answer_ms).map_or(DASH.to_owned(), millis),
            pick(|repeat| repeat.replay_ms).map_or(DASH.to_owned(), millis),
            if slowest.is_nan() {
                DASH.to_owned()
            } else {
                millis(slowest)
            },
            repeats.len(),
        );
    }
    Some(out)
}

/// Bar colours, one per server in name order; chosen to stay distinct for
/// colour-blind readers (Okabe–Ito palette).
const COLOURS: [&str; 6] = [
    "#E69F00", "#0072B2", "#009E73", "#CC79A7", "#56B4E9", "#D55E00",
];

const PANEL_WIDTH: f64 = 300.0;
const PANEL_HEIGHT: f64 = 210.0;
const GAP: f64 = 30.0;
const MARGIN: f64 = 20.0;
const LEGEND_HEIGHT: f64 = 40.0;

/// One small bar chart: a title and one value per server.
struct Panel {
    title: String,
    unit: &'static str,
    bars: Vec<(usize, Option<f64>)>,
    format: fn(f64) -> String,
}

/// One row of the chart: which scenarios get a panel in it, and what the
/// panel shows of each server.
struct ChartRow {
    shown_for: fn(&ScenarioFigures) -> bool,
    unit: &'static str,
    pick: fn(&ServerFigures) -> Option<f64>,
    format: fn(f64) -> String,
}

/// The chart's rows, top to bottom (see [`svg_chart`]).
const CHART_ROWS: [ChartRow; 4] = [
    ChartRow {
        shown_for: |scenario| !scenario.idle,
        unit: "deliveries/s",
        pick: |figures| figures.deliveries_per_second,
        format: thousands,
    },
    ChartRow {
        shown_for: |scenario| !scenario.idle,
        unit: "p99 latency, ms",
        pick: |figures| figures.p99_ms,
        format: millis,
    },
    ChartRow {
        shown_for: |scenario| scenario.idle,
        unit: "server memory per connection, KiB",
        pick: |figures| {
            figures
                .memory_per_connection_bytes
                .map(|bytes| bytes / 1024.0)
        },
        format: |kib| format!("{kib:.1}"),
    },
    ChartRow {
        shown_for: is_a_commit_race,
        unit: "acked (committed) messages/s",
        pick: |figures| figures.acked_per_second,
        format: thousands,
    },
];

/// The chart: deliveries/s (top row) and p99 latency (second row) for each
/// traffic scenario, memory per connection for the idle scenario(s) (third
/// row), and acknowledged (committed) messages per second for the flat-out
/// scenarios in which every server acknowledges (the write-heavy one; last
/// row). Every panel has its own linear scale starting at zero, and every
/// bar is labelled with its value, so no panel can mislead.
pub fn svg_chart(scenarios: &[ScenarioFigures]) -> String {
    let mut server_names: Vec<&str> = scenarios
        .iter()
        .flat_map(|scenario| {
            scenario
                .servers
                .iter()
                .map(|server| server.server_name.as_str())
        })
        .collect();
    server_names.sort_unstable();
    server_names.dedup();
    let colour_of = |name: &str| {
        server_names
            .iter()
            .position(|known| *known == name)
            .unwrap_or(0)
    };

    let rows: Vec<Vec<Panel>> = CHART_ROWS
        .iter()
        .map(|row| {
            scenarios
                .iter()
                .filter(|scenario| (row.shown_for)(scenario))
                .map(|scenario| Panel {
                    title: scenario.title.clone(),
                    unit: row.unit,
                    bars: scenario
                        .servers
                        .iter()
                        .map(|server| (colour_of(&server.server_name), (row.pick)(server)))
                        .collect(),
                    format: row.format,
                })
                .collect()
        })
        .filter(|row: &Vec<Panel>| !row.is_empty())
        .collect();

    let columns = rows.iter().map(Vec::len).max().unwrap_or(1).max(1) as f64;
    let width = MARGIN * 2.0 + columns * PANEL_WIDTH + (columns - 1.0) * GAP;
    let height = MARGIN * 2.0 + LEGEND_HEIGHT + rows.len() as f64 * (PANEL_HEIGHT + GAP);

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    draw_legend(&mut svg, &server_names);
    for (row_index, row) in rows.iter().enumerate() {
        for (column_index, panel) in row.iter().enumerate() {
            let left = MARGIN + column_index as f64 * (PANEL_WIDTH + GAP);
            let top = MARGIN + LEGEND_HEIGHT + row_index as f64 * (PANEL_HEIGHT + GAP);
            draw_panel(&mut svg, panel, left, top);
        }
    }
    svg.push_str("</svg>\n");
    svg
}

/// The legend: a swatch and a name per server, in colour order.
fn draw_legend(svg: &mut String, server_names: &[&str]) {
    let mut x = MARGIN;
    for (index, name) in server_names.iter().enumerate() {
        let _ = writeln!(
            svg,
            r#"<rect x="{x}" y="{y}" width="14" height="14" fill="{colour}"/><text x="{tx}" y="{ty}">{label}</text>"#,
            y = MARGIN,
            colour = COLOURS[index % COLOURS.len()],
            tx = x + 20.0,
            ty = MARGIN + 12.0,
            label = escape(name),
        );
        x += 40.0 + 8.0 * name.chars().count() as f64;
    }
}

/// Whether a scenario measures how fast servers commit: flat out, and every
/// server measured in it acknowledges its messages (a paced run's acks only
/// echo the rate; a server without acks has nothing to compare).
fn is_a_commit_race(scenario: &ScenarioFigures) -> bool {
    let mut measured = scenario
        .servers
        .iter()
        .filter(|server| server.skipped.is_none())
        .peekable();
    scenario.flat_out
        && measured.peek().is_some()
        && measured.all(|server| server.acked_per_second.is_some())
}

/// A "nice" axis maximum (1, 2 or 5 times a power of ten) at or above `max`.
fn nice_ceiling(max: f64) -> f64 {
    // Also catches NaN: nothing sensible to scale to.
    if max.is_nan() || max <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|step| step * magnitude)
        .find(|candidate| *candidate >= max)
        .unwrap_or(10.0 * magnitude)
}

fn draw_panel(svg: &mut String, panel: &Panel, left: f64, top: f64) {
    let plot_left = left + 10.0;
    // Room above the tallest bar for its value label, below the titles.
    let plot_top = top + 60.0;
    let plot_width = PANEL_WIDTH - 20.0;
    let plot_height = PANEL_HEIGHT - 75.0;
    let axis_max = nice_ceiling(
        panel
            .bars
            .iter()
            .filter_map(|(_, value)| *value)
            .fold(0.0, f64::max),
    );

    let _ = writeln!(
        svg,
        r##"<text x="{x}" y="{y}" font-weight="bold">{title}</text><text x="{x}" y="{y2}" fill="#555">{unit} (axis 0 to {max})</text>"##,
        x = left,
        y = top + 14.0,
        y2 = top + 30.0,
        title = escape(&panel.title),
        unit = escape(panel.unit),
        max = escape(&(panel.format)(axis_max)),
    );
    let baseline = plot_top + plot_height;
    let _ = writeln!(
        svg,
        r##"<line x1="{plot_left}" y1="{baseline}" x2="{x2}" y2="{baseline}" stroke="#333"/>"##,
        x2 = plot_left + plot_width
    );
    let slot = plot_width / panel.bars.len().max(1) as f64;
    let bar_width = slot * 0.6;
    for (position, (colour, value)) in panel.bars.iter().enumerate() {
        let x = plot_left + position as f64 * slot + (slot - bar_width) / 2.0;
        let centre = x + bar_width / 2.0;
        match value {
            Some(value) => {
                let bar_height = (value / axis_max * plot_height).max(1.0);
                let _ = writeln!(
                    svg,
                    r#"<rect x="{x:.1}" y="{y:.1}" width="{bar_width:.1}" height="{bar_height:.1}" fill="{fill}"/><text x="{centre:.1}" y="{ty:.1}" text-anchor="middle">{label}</text>"#,
                    y = baseline - bar_height,
                    fill = COLOURS[colour % COLOURS.len()],
                    ty = baseline - bar_height - 4.0,
                    label = escape(&(panel.format)(*value)),
                );
            }
            None => {
                let _ = writeln!(
                    svg,
                    r##"<text x="{centre:.1}" y="{ty:.1}" text-anchor="middle" fill="#555">n/a</text>"##,
                    ty = baseline - 4.0,
                );
            }
        }
    }
}

/// Escapes text for SVG (XML) content and attribute values.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::latency::LatencySummary;
    use crate::protocol::Protocol;
    use crate::result::ServerUsage;

    /// A measured run with the given figures (shared with the two-node
    /// table's tests).
    pub(crate) fn run(
        scenario: &str,
        server: &str,
        deliveries_per_second: f64,
        p99_ms: f64,
        lost: u64,
    ) -> RunResult {
        RunResult {
            scenario: scenario.into(),
            scenario_title: format!("title of {scenario}"),
            server_name: server.into(),
            protocol: Protocol::Realtime,
            url: "ws://127.0.0.1:1/ws".into(),
            clients_requested: 100,
            clients_connected: 100,
            connect_failures: 0,
            first_connect_error: None,
            connect_seconds: 0.1,
            clients_ended_early: 0,
            first_early_end_reason: None,
            senders: 10,
            traffic: TrafficShape::Rate {
                messages_per_second: 200.0,
            },
            warmup_seconds: 1.0,
            measured_seconds: 10.0,
            messages_sent_total: 2200,
            messages_sent_measured: 2000,
            deliveries_expected: 200_000,
            // Left out, as in results written before it was recorded: the
            // report works it out (200,000 / 2,000 = 100).
            deliveries_per_message: None,
            rooms: None,
            client_offsets: false,
            acks: None,
            history_received: 0,
            deliveries_received: 200_000 - lost,
            deliveries_lost: lost,
            deliveries_in_window: 200_000,
            deliveries_per_second,
            server_errors: 0,
            two_nodes: None,
            redis: None,
            redis_kills: Vec::new(),
            messages_retried: 0,
            latency: Some(LatencySummary {
                p50_ms: p99_ms / 4.0,
                p90_ms: p99_ms / 2.0,
                p99_ms,
                max_ms: p99_ms * 2.0,
            }),
            server: Some(ServerUsage {
                cpu_seconds: 1.0,
                cpu_seconds_per_million_deliveries: Some(0.5),
                rss_before_bytes: 1 << 20,
                rss_peak_bytes: 2 << 20,
                vm_hwm_bytes: 2 << 20,
                rss_growth_per_connection_bytes: 10_485.76,
            }),
            generator_threads: 1,
            generator_cpu_seconds: Some(1.2),
            generator_cpu_seconds_per_million_deliveries: Some(0.6),
        }
    }

    fn measured(runs: Vec<RunResult>) -> Vec<RunRecord> {
        runs.into_iter()
            .map(|run| RunRecord::Measured(Box::new(run)))
            .collect()
    }

    /// Medians of odd and even counts; non-finite values are ignored.
    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[f64::NAN, 7.0]), Some(7.0));
        assert_eq!(median(&[]), None);
    }

    /// Three rounds reduce to their medians, and the worst loss is kept.
    #[test]
    fn summarizes_rounds_per_scenario_and_server() {
        let runs = vec![
            run("1-a", "step 07", 100.0, 1.0, 0),
            run("1-a", "step 07", 300.0, 3.0, 5),
            run("1-a", "step 07", 200.0, 2.0, 0),
            run("1-a", "Node", 50.0, 9.0, 0),
        ];
        let summary = summarize(&measured(runs));
        assert_eq!(summary.len(), 1);
        let servers = &summary[0].servers;
        assert_eq!(
            servers
                .iter()
                .map(|s| s.server_name.as_str())
                .collect::<Vec<_>>(),
            ["Node", "step 07"]
        );
        assert_eq!(servers[1].rounds, 3);
        assert_eq!(servers[1].deliveries_per_second, Some(200.0));
        assert_eq!(servers[1].p99_ms, Some(2.0));
        assert_eq!(servers[1].lost_worst, 5);
        assert_eq!(servers[1].ended_early_worst, 0);
        assert_eq!(
            servers[1].memory_per_connection_bytes, None,
            "not an idle scenario"
        );
    }

    /// Idle scenarios report memory per connection and no traffic figures.
    #[test]
    fn idle_scenarios_report_memory_only() {
        let mut idle = run("4-idle", "step 08", 0.0, 0.0, 0);
        idle.traffic = TrafficShape::Idle;
        idle.latency = None;
        let summary = summarize(&measured(vec![idle]));
        let figures = &summary[0].servers[0];
        assert!(summary[0].idle);
        assert_eq!(figures.deliveries_per_second, None);
        assert_eq!(figures.memory_per_connection_bytes, Some(10_485.76));
        let table = markdown_table(&summary);
        assert!(
            table.contains(
                "| title of 4-idle | step 08 | 100 | – | – | – | – | – | – | – | – | 10.2 KiB |"
            ),
            "{table}"
        );
    }

    /// The table has a header, a separator and one row per scenario and server.
    #[test]
    fn markdown_rows() {
        let table = markdown_table(&summarize(&measured(vec![run(
            "1-a", "step 07", 20_000.0, 1.2, 0,
        )])));
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(
            lines[2],
            "| title of 1-a | step 07 | 100 | 100 | 20,000 | – | 0.300 | 1.20 | 0 | 0.50 | 0.60 | – |"
        );
    }

    /// A rooms run shows its recorded deliveries per message (rooms of 10:
    /// 9), and a server skipped in that scenario gets a row saying why.
    #[test]
    fn rooms_rows_and_skipped_servers() {
        let mut rooms = run("5-rooms", "step 09", 99_900.0, 2.0, 0);
        rooms.deliveries_per_message = Some(9.0);
        let skipped = RunRecord::Skipped(SkippedRun {
            scenario: "5-rooms".into(),
            scenario_title: "title of 5-rooms".into(),
            server_name: "step 08".into(),
            skipped: "speaks no rooms".into(),
        });

        let table = markdown_table(&summarize(&[RunRecord::Measured(Box::new(rooms)), skipped]));

        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4, "{table}");
        assert_eq!(
            lines[2],
            "| title of 5-rooms | step 08 | not run: speaks no rooms | – | – | – | – | – | – | – | – | – |"
        );
        assert!(
            lines[3].starts_with("| title of 5-rooms | step 09 | 100 | 9 | 99,900 |"),
            "{table}"
        );
    }

    /// The write-heavy scenario (flat out, every server acknowledging) shows
    /// acked messages per second in the table and gets a chart panel of
    /// them; a flat-out scenario with a server that does not ack gets none.
    #[test]
    fn committed_messages_per_second_in_a_write_heavy_scenario() {
        let flat_out = |scenario: &str, server: &str, acked: Option<f64>| {
            let mut run = run(scenario, server, 99_000.0, 3.0, 0);
            run.traffic = TrafficShape::FlatOut {
                in_flight_per_sender: 4,
            };
            run.acks = acked.map(|per_second| crate::result::AckFigures {
                received: 10_000,
                in_window: 10_000,
                per_second,
            });
            run
        };
        let runs = vec![
            flat_out("7-write", "step 10", Some(25_000.0)),
            flat_out("7-write", "step 10", Some(21_000.0)),
            flat_out("7-write", "Node + SQLite", Some(450.0)),
            flat_out("3-flat", "step 08", None),
            flat_out("3-flat", "step 10", Some(1_000.0)),
        ];

        let summary = summarize(&measured(runs));
        let table = markdown_table(&summary);
        let svg = svg_chart(&summary);

        assert!(
            table.contains("| title of 7-write | step 10 | 100 | 100 | 99,000 | 23,000 |"),
            "{table}"
        );
        assert!(
            table.contains("| title of 7-write | Node + SQLite | 100 | 100 | 99,000 | 450 |"),
            "{table}"
        );
        assert!(
            table.contains("| title of 3-flat | step 08 | 100 | 100 | 99,000 | – |"),
            "{table}"
        );
        assert_eq!(svg.matches("acked (committed) messages/s").count(), 1);
    }

    /// Recovery measurements get their own table: the median and the
    /// slowest replay over every repeat of every round, and a runs folder
    /// without them gets none.
    #[test]
    fn recovery_rows() {
        let repeat = |replay_ms: f64| RecoveryRepeat {
            answer_ms: 1.5,
            replay_ms,
            replayed: 1000,
            recovered: true,
            write_seconds: 0.2,
        };
        let round = |repeats: Vec<RecoveryRepeat>| {
            RunRecord::Recovery(Box::new(RecoveryResult {
                scenario: "8-recovery".into(),
                scenario_title: "1,000 missed".into(),
                server_name: "step 10".into(),
                url: "ws://127.0.0.1:1/ws".into(),
                missed_messages: 1000,
                replay_ms_median: 0.0,
                replay_ms_max: 0.0,
                repeats,
            }))
        };
        let records = vec![
            round(vec![repeat(12.0), repeat(30.0)]),
            round(vec![repeat(14.0)]),
        ];

        let table = recovery_table(&records).expect("a table");

        assert!(
            table.contains("| 1,000 missed | step 10 | 1,000 | 3 | 1.50 | 14.0 | 30.0 | 3 of 3 |"),
            "{table}"
        );
        assert!(summarize(&records).is_empty());
        assert_eq!(
            recovery_table(&measured(vec![run("1-a", "x", 1.0, 1.0, 0)])),
            None
        );
    }

    /// A skip note of a scenario nobody ran still names the scenario.
    #[test]
    fn a_scenario_with_only_skips_keeps_its_title() {
        let skipped = RunRecord::Skipped(SkippedRun {
            scenario: "6-typing".into(),
            scenario_title: "typing".into(),
            server_name: "Node socket.io".into(),
            skipped: "speaks no rooms".into(),
        });

        let summary = summarize(&[skipped]);

        assert_eq!(summary[0].title, "typing");
        assert_eq!(
            summary[0].servers[0].skipped.as_deref(),
            Some("speaks no rooms")
        );
    }

    /// The chart is one SVG with a bar per server and panel, and escapes its text.
    #[test]
    fn svg_has_bars_and_escaped_labels() {
        let runs = vec![
            run("1-a", "Node <socket.io>", 20_000.0, 2.0, 0),
            run("1-a", "step 07", 20_000.0, 1.0, 0),
        ];
        let svg = svg_chart(&summarize(&measured(runs)));
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("Node &lt;socket.io&gt;"));
        assert!(!svg.contains("<socket.io>"));
        // Two panels (deliveries/s and p99) × two servers, plus two legend swatches and the background.
        assert_eq!(svg.matches("<rect").count(), 4 + 2 + 1);
    }

    /// Scenarios are ordered by their number, not as strings: 9 before 10.
    #[test]
    fn scenarios_in_number_order() {
        let runs = ["10-b", "9-a", "1-c", "11-d"]
            .into_iter()
            .map(|scenario| run(scenario, "x", 1.0, 1.0, 0))
            .collect();

        let order: Vec<String> = summarize(&measured(runs))
            .into_iter()
            .map(|scenario| scenario.scenario)
            .collect();

        assert_eq!(order, ["1-c", "9-a", "10-b", "11-d"]);
    }

    /// Number formats used in the table and chart.
    #[test]
    fn formats_numbers() {
        assert_eq!(thousands(2_170_000.4), "2,170,000");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(millis(0.4123), "0.412");
        assert_eq!(millis(8.613), "8.61");
        assert_eq!(millis(460.2), "460");
        assert_eq!(count(999.0), "999");
        assert_eq!(count(9.5), "9.5");
        assert_eq!(nice_ceiling(2_170_000.0), 5_000_000.0);
        assert_eq!(nice_ceiling(1.2), 2.0);
        assert_eq!(nice_ceiling(0.0), 1.0);
    }
}
