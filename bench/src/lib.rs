//! The benchmark of issue 5: how fast is the Rust chat compared with the Node
//! socket.io original? Three binaries share this library:
//!
//! - `loadgen` opens many WebSocket chat clients against one server on
//!   127.0.0.1, speaking this project's protocol, step 09's rooms or
//!   socket.io's, and measures deliveries per second, latency percentiles,
//!   losses, and the server's CPU and memory (`cargo run --release -p bench
//!   --bin loadgen -- --help`);
//! - `report` turns a folder of loadgen JSON results into a Markdown table and
//!   an SVG chart;
//! - `bare-server` is the measuring stick: the least a chat server can do per
//!   delivery ([`bare_server`]).
//!
//! `bench/compare.sh` starts step 07, step 08, step 09, Node and
//! `bare-server` in turn, runs `loadgen` against each, and ends with
//! `report`; the README's "How fast is it?" section shows its output.
//!
//! Layers, bottom up: `websocket` (frames), `protocol` (the three chat
//! protocols), `rooms` (who hears whom), `client` (one simulated user), `run`
//! (a whole run), `result` and `report` (numbers out). Step 11's two-node
//! mode adds `two_nodes` (the split of clients over two nodes, and what each
//! side saw), `redis_admin` (Redis's CPU, and killing one node's Redis
//! connections mid-run) and `two_node_report` (the report's second table).

pub mod bare_server;
pub mod client;
pub mod config;
pub mod latency;
pub mod protocol;
pub mod recovery;
pub mod redis_admin;
pub mod report;
pub mod result;
pub mod rooms;
pub mod run;
pub mod server_process;
pub mod two_node_report;
pub mod two_nodes;
pub mod websocket;
