//! The report writer: reads every loadgen `*.json` result in a folder and
//! writes the Markdown table and the SVG chart of the README's "How fast is
//! it?" section.
//!
//! `cargo run --release -p bench --bin report -- --runs bench/results/runs --out bench/results`
//! (`bench/compare.sh` runs it for you at the end).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bench::report::{ScenarioFigures, markdown_table, recovery_table, summarize, svg_chart};
use bench::result::{RunRecord, RunResult};
use bench::two_node_report::two_node_table;

const USAGE: &str = "\
report: summarize loadgen results into results.md and chart.svg

USAGE:
  report --runs DIR --out DIR [--heading TEXT]

  --runs DIR      folder of loadgen --json files (one per scenario, server and round)
  --out DIR       where results.md and chart.svg are written
  --heading TEXT  a paragraph put above the table (machine, date, command)";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("Error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let mut runs_dir = None;
    let mut out_dir = None;
    let mut heading = String::new();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            println!("{USAGE}");
            return Ok(());
        }
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n\n{USAGE}"))?;
        match flag.as_str() {
            "--runs" => runs_dir = Some(PathBuf::from(value)),
            "--out" => out_dir = Some(PathBuf::from(value)),
            "--heading" => heading = value,
            _ => return Err(format!("unknown option {flag}\n\n{USAGE}")),
        }
    }
    let runs_dir = runs_dir.ok_or_else(|| format!("--runs is required\n\n{USAGE}"))?;
    let out_dir = out_dir.ok_or_else(|| format!("--out is required\n\n{USAGE}"))?;

    let runs = read_records(&runs_dir)?;

    let scenarios = summarize(&runs);
    let markdown = results_markdown(&heading, &scenarios, &runs);
    std::fs::create_dir_all(&out_dir)
        .map_err(|error| format!("cannot create {}: {error}", out_dir.display()))?;
    let table_path = out_dir.join("results.md");
    let chart_path = out_dir.join("chart.svg");
    std::fs::write(&table_path, &markdown)
        .map_err(|error| format!("cannot write {}: {error}", table_path.display()))?;
    std::fs::write(&chart_path, svg_chart(&scenarios))
        .map_err(|error| format!("cannot write {}: {error}", chart_path.display()))?;
    println!("{markdown}");
    println!(
        "wrote {} and {} from {} runs",
        table_path.display(),
        chart_path.display(),
        runs.len()
    );
    Ok(())
}

/// results.md: the heading, the table with what its columns mean, the
/// chart, and the recovery table if the runs have recovery measurements.
fn results_markdown(heading: &str, scenarios: &[ScenarioFigures], runs: &[RunRecord]) -> String {
    let mut markdown = String::new();
    if !heading.is_empty() {
        markdown.push_str(heading);
        markdown.push_str("\n\n");
    }
    markdown.push_str(&markdown_table(scenarios));
    markdown.push_str(
        "\nMedians over rounds; \"lost\" is the worst round. Deliveries/s counts every copy a client \
         received (one message to 1,000 clients is 1,000 deliveries); deliveries per message is how \
         many clients each message reached (steps 07/08 and Node send it to everyone, the sender \
         too; step 09 to everyone else in the sender's room). Acked messages/s counts the \
         acknowledgements of runs whose messages ask for them (step 09 and 10, and the Node \
         SQLite server); step 10 and Node + SQLite acknowledge a message only once it is \
         committed to their database, so theirs are committed messages per second. Server CPU and memory are read \
         from /proc for the server process only (both processes of a two-node server, added up); \
         the load generator shares the same cores.\n\n\
         ![deliveries/s and p99 latency per scenario and server](chart.svg)\n",
    );
    if let Some(two_nodes) = two_node_table(runs) {
        markdown.push('\n');
        markdown.push_str(&two_nodes);
        markdown.push_str(
            "\nThe runs on Redis (step 11 as one node or two, the Node original with \
             `@socket.io/redis-adapter` on two processes), with the clients split half and half over \
             the two nodes and the senders all on the near one, so every delivery to a far client \
             crossed Redis. Near and far latencies are measured on the one clock of the load \
             generator; far − near p50 is what crossing Redis adds (the bar of issue 14: at most \
             +0.5 ms at 100 clients and 200 msg/s). Server CPU adds both processes up; Redis CPU is \
             the redis-server process's, per million deliveries of the window. \"Sent again\" \
             counts refusals with `\"retry\": true` (a node without Redis), each followed by the \
             message sent again with the same client offset, in the worst round; the killed \
             connections are those of the first round (CLIENT KILL, found by name).\n",
        );
    }
    if let Some(recovery) = recovery_table(runs) {
        markdown.push('\n');
        markdown.push_str(&recovery);
        markdown.push_str(
            "\nFrom the reconnected client's `join` (with its session and the id of the last \
             message it saw) to the last missed message read; the bar is 100 ms. Over every \
             repeat of every round.\n",
        );
    }
    markdown
}

/// Every loadgen result (and skip note) in `runs_dir`, in file-name order;
/// an error if there is none.
fn read_records(runs_dir: &Path) -> Result<Vec<RunRecord>, String> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(runs_dir)
        .map_err(|error| format!("cannot read {}: {error}", runs_dir.display()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    paths.sort();
    let mut runs = Vec::with_capacity(paths.len());
    for path in &paths {
        let text = std::fs::read_to_string(path)
            .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
        // A measured run, or compare.sh's note that a scenario was skipped.
        // If it is neither, the error of reading it as a run says what is wrong.
        let run: RunRecord = serde_json::from_str(&text).map_err(|_| {
            let why = serde_json::from_str::<RunResult>(&text)
                .err()
                .map_or_else(|| "unreadable".to_owned(), |error| error.to_string());
            format!("{} is not a loadgen result: {why}", path.display())
        })?;
        runs.push(run);
    }
    if runs.is_empty() {
        return Err(format!(
            "no loadgen results (*.json) in {}",
            runs_dir.display()
        ));
    }
    Ok(runs)
}
