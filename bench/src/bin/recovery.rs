//! The recovery measurement: `cargo run --release -p bench --bin recovery --
//! --url ws://127.0.0.1:3000/ws`. A client that missed 1,000 messages comes
//! back with its session and last id; this prints how long the server took
//! to send them all (bar: 100 ms). See `bench/src/recovery.rs` and
//! `bench/README.md`; `bench/compare.sh` runs it against step 10.

use std::process::ExitCode;

use bench::config::ConfigError;
use bench::recovery::{RecoveryConfig, measure};

fn main() -> ExitCode {
    let config = match RecoveryConfig::from_args(std::env::args().skip(1)) {
        Ok(config) => config,
        Err(ConfigError::Help) => {
            println!("{}", RecoveryConfig::usage());
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("Error: {error}");
            return ExitCode::from(2);
        }
    };
    // One thread is plenty for two clients, and leaves the cores to the server.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("Error: could not start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = match runtime.block_on(measure(&config)) {
        Ok(result) => result,
        Err(error) => {
            eprintln!("Error: {error}");
            return ExitCode::FAILURE;
        }
    };
    print!("{result}");
    if let Some(path) = &config.json {
        let written = serde_json::to_string_pretty(&result)
            .map_err(|error| error.to_string())
            .and_then(|json| std::fs::write(path, json + "\n").map_err(|error| error.to_string()));
        if let Err(error) = written {
            eprintln!("Error: could not write {}: {error}", path.display());
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
