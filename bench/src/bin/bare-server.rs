//! `bare-server`: the measuring stick `bench/compare.sh` runs beside step 08
//! (see [`bench::bare_server`] for what it is and why).
//!
//! `PORT=0 cargo run --release -p bench --bin bare-server` listens on
//! 127.0.0.1 (port 0 or unset: any free port) and prints
//! `listening on http://127.0.0.1:<port>`, as the steps do.

use std::net::TcpListener;
use std::process::ExitCode;

fn main() -> ExitCode {
    let port = match std::env::var("PORT") {
        Err(_) => 0,
        Ok(text) => match text.parse::<u16>() {
            Ok(port) => port,
            Err(_) => {
                eprintln!("Error: PORT={text:?} is not a port number (0 to 65535)");
                return ExitCode::FAILURE;
            }
        },
    };
    let listener = match TcpListener::bind(("127.0.0.1", port)) {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("Error: cannot listen on 127.0.0.1:{port}: {error}");
            return ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        Ok(address) => println!("listening on http://{address}"),
        Err(error) => {
            eprintln!("Error: cannot read the listening address: {error}");
            return ExitCode::FAILURE;
        }
    }
    match bench::bare_server::serve(listener) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("Error: stopped accepting clients: {error}");
            ExitCode::FAILURE
        }
    }
}
