//! The load generator: `cargo run --release -p bench --bin loadgen -- --help`.
//!
//! Example, 1,000 clients of which 10 publish 100 messages a second in total:
//! `loadgen --url ws://127.0.0.1:3000/ws --clients 1000 --senders 10 --rate 100`.
//! See `bench/src/config.rs` for every option and `bench/compare.sh` for the
//! scenarios of the README.

use std::process::ExitCode;

use bench::config::{ConfigError, LoadConfig};

fn main() -> ExitCode {
    let config = match LoadConfig::from_args(std::env::args().skip(1)) {
        Ok(config) => config,
        Err(ConfigError::Help) => {
            println!("{}", ConfigError::Help);
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("Error: {error}");
            return ExitCode::from(2);
        }
    };
    // One worker thread by default: the generator shares the machine with the
    // server, and a single thread keeps it from taking more than one core.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.threads)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("Error: could not start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    // The overall deadline: whatever happens, the run ends. Beyond the
    // traffic, it covers the longest connect phase (120 s), join phase
    // (120 s, rooms only) and stop (10 s) of run.rs, with room to spare.
    let limit =
        config.warmup + config.duration + config.drain + std::time::Duration::from_secs(300);
    let outcome = runtime.block_on(async {
        tokio::time::timeout(limit, bench::run::run(&config))
            .await
            .unwrap_or_else(|_| Err(format!("the run did not finish within {limit:?}; stopped")))
    });
    let result = match outcome {
        Ok(result) => result,
        Err(error) => {
            eprintln!("Error: {error}");
            return ExitCode::FAILURE;
        }
    };
    print!("{result}");
    if let Some(path) = &config.json {
        let json = match serde_json::to_string_pretty(&result) {
            Ok(json) => json,
            Err(error) => {
                eprintln!("Error: could not encode the result: {error}");
                return ExitCode::FAILURE;
            }
        };
        if let Err(error) = std::fs::write(path, json + "\n") {
            eprintln!("Error: could not write {}: {error}", path.display());
            return ExitCode::FAILURE;
        }
    }
    // Exit without waiting for client tasks' sockets to close one by one.
    runtime.shutdown_background();
    // A kill that found nothing to kill means the scenario did not happen
    // (no such node was connected to Redis): the figures are not what they
    // claim to be.
    if let Some(kill) = result
        .redis_kills
        .iter()
        .find(|kill| kill.killed.is_empty() || kill.error.is_some())
    {
        eprintln!(
            "Error: --kill-redis-clients {}: {}",
            kill.name_prefix,
            kill.error
                .as_deref()
                .unwrap_or("no Redis connection had a name starting so; nothing was killed")
        );
        return ExitCode::FAILURE;
    }
    let lost_anything = result.deliveries_lost > 0
        || result.clients_ended_early > 0
        || result.clients_connected < u64::from(result.clients_requested);
    if config.fail_on_loss && lost_anything {
        eprintln!(
            "Error: --fail-on-loss: {} deliveries lost, {} clients cut off, {} of {} clients connected",
            result.deliveries_lost,
            result.clients_ended_early,
            result.clients_connected,
            result.clients_requested
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
