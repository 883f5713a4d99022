#!/usr/bin/env bash
# bench/compare.sh: how fast is the Rust chat compared with the Node original?
#
# One command, run from anywhere in the repository:
#
#     bench/compare.sh
#
# It builds the load generator and the Rust chat steps in release mode,
# installs the Node baseline (bench/node-socketio, `npm ci`), then for every
# round, every scenario and every server: starts that server fresh on a free
# 127.0.0.1 port, runs `loadgen` against it (passing the server's pid so its
# CPU and memory are measured), and stops it. Servers are interleaved
# (scenario-major, server-minor, round after round) so that noise on the
# machine hits all of them alike. At the end `report` writes
# bench/results/results.md (a table of medians) and bench/results/chart.svg.
#
# Scenarios (issue 5):
#   1. 100 clients, 10 senders, 200 messages/s in total      (20,000 deliveries/s)
#   2. 1,000 clients, 10 senders, 100 messages/s in total    (100,000 deliveries/s)
#   3. 1,000 clients flat out: 10 senders, 4 messages in flight each
#   4. 10,000 idle connections: server memory per connection
#
# Settings (environment variables):
#   BENCH_SECONDS=10       measured seconds per traffic run
#   BENCH_WARMUP=2         warm-up seconds before measuring
#   BENCH_ROUNDS=3         rounds; the table shows medians
#   BENCH_IDLE_CLIENTS=10000, BENCH_IDLE_SECONDS=3   the idle scenario
#   BENCH_SCENARIOS="1 2 3 4"   which scenarios to run
#   BENCH_SERVERS="node step-07 step-08 bare"   which servers to run
#     (bare: `bare-server`, the least a server can do per delivery, a
#     measuring stick for the machine; see bench/src/bare_server.rs. It has a
#     thread per connection, so it skips the idle scenario.)
#   BENCH_BASELINES="before=/tmp/step-08-before"   also run these binaries of an older
#     step 08 (space-separated NAME=PATH, NAME without spaces), each with step 08's settings,
#     interleaved with the servers above: a before/after comparison of a change in one run.
#     Build a "before" first, e.g. `git worktree add /tmp/before <commit>`, then
#     `cargo build --release -p step-08-production` in /tmp/before, and copy its binary.
#   BENCH_OUT=bench/results     where runs/, results.md and chart.svg go
#   BENCH_FAIL_ON_LOSS=1        fail if any run lost a delivery (CI's smoke run sets it)
# A quick look: BENCH_SECONDS=2 BENCH_WARMUP=1 BENCH_ROUNDS=1 BENCH_IDLE_CLIENTS=2000 bench/compare.sh
# The default full run takes about 10 minutes on 2 cores (9 min 13 s for the run in
# bench/results/), plus the first build.
#
# All traffic stays on 127.0.0.1, every run is bounded in time, and every
# server this script starts is stopped when it exits, however it exits.
set -euo pipefail

BENCH_SECONDS=${BENCH_SECONDS:-10}
BENCH_WARMUP=${BENCH_WARMUP:-2}
BENCH_ROUNDS=${BENCH_ROUNDS:-3}
BENCH_IDLE_CLIENTS=${BENCH_IDLE_CLIENTS:-10000}
BENCH_IDLE_SECONDS=${BENCH_IDLE_SECONDS:-3}
BENCH_SCENARIOS=${BENCH_SCENARIOS:-"1 2 3 4"}
BENCH_SERVERS=${BENCH_SERVERS:-"node step-07 step-08 bare"}
BENCH_FAIL_ON_LOSS=${BENCH_FAIL_ON_LOSS:-0}

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
out=${BENCH_OUT:-bench/results}
runs="$out/runs"
logs=$(mktemp -d "${TMPDIR:-/tmp}/realtime-rs-bench.XXXXXX")
target_dir=${CARGO_TARGET_DIR:-$repo/target}
started_at=$(date +%s)

# --- every server we start is stopped on exit -----------------------------
server_pid=""
stop_server() {
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        # Graceful shutdown is bounded; after 5 s, insist.
        for _ in $(seq 50); do
            kill -0 "$server_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    server_pid=""
}
trap 'stop_server' EXIT
trap 'echo "interrupted"; exit 130' INT TERM

# 10,000 connections need 10,000 file descriptors in the server too; the
# servers inherit this shell's limit. (loadgen raises its own.)
ulimit -n "$(ulimit -Hn)"
if (( $(ulimit -n) < BENCH_IDLE_CLIENTS + 100 )); then
    echo "warning: the open-file limit is $(ulimit -n); the idle scenario with $BENCH_IDLE_CLIENTS clients may fail" >&2
fi

# --- build ----------------------------------------------------------------
declare -A step_package=([step-07]=step-07-rebroadcast [step-08]=step-08-production)
declare -A server_title=([node]="Node socket.io" [step-07]="step 07" [step-08]="step 08" [bare]="bare threads")
declare -A baseline_binary=()
servers=()
build_args=(-p bench)
for server in $BENCH_SERVERS; do
    case "$server" in
        node | bare)
            servers+=("$server")
            ;;
        step-07 | step-08)
            package=${step_package[$server]}
            if [[ -f "steps/$package/Cargo.toml" ]]; then
                servers+=("$server")
                build_args+=(-p "$package")
            else
                echo "skipping $server: steps/$package does not exist yet"
            fi
            ;;
        *)
            echo "unknown server '$server' in BENCH_SERVERS (expected node, step-07, step-08, bare)" >&2
            exit 2
            ;;
    esac
done
for entry in ${BENCH_BASELINES:-}; do
    name=${entry%%=*} binary=${entry#*=}
    if [[ "$name" == "$entry" || ! -x "$binary" ]]; then
        echo "BENCH_BASELINES: '$entry' is not NAME=PATH with an executable at PATH" >&2
        exit 2
    fi
    servers+=("baseline-$name")
    server_title[baseline-$name]=$name
    baseline_binary[baseline-$name]=$binary
done
if (( ${#servers[@]} == 0 )); then
    echo "no server to measure" >&2
    exit 2
fi

echo "building in release mode: cargo build --release ${build_args[*]}"
cargo build --release "${build_args[@]}"
loadgen="$target_dir/release/loadgen"
report="$target_dir/release/report"

if [[ " ${servers[*]} " == *" node "* ]]; then
    echo "installing the Node baseline: npm ci (bench/node-socketio)"
    (cd bench/node-socketio && npm ci --no-audit --no-fund --loglevel=error)
fi

# --- servers --------------------------------------------------------------
# start_server NAME LOG: starts it on a free port (PORT=0: the server picks one and
# logs "listening on http://127.0.0.1:<port>"), sets server_pid and server_url.
start_server() {
    local name=$1 log=$2
    : >"$log"
    case "$name" in
        node)
            PORT=0 node bench/node-socketio/server.js >"$log" 2>&1 &
            ;;
        bare)
            PORT=0 "$target_dir/release/bare-server" >"$log" 2>&1 &
            ;;
        step-07 | step-08 | baseline-*)
            local binary=${baseline_binary[$name]:-$target_dir/release/${step_package[$name]:-}}
            # The bench measures fan-out, not step 08's protective limits:
            # raise them far above what the scenarios need. (Flat out, a
            # receiver the scheduler runs late can fall more than the default
            # 256 messages behind, and step 08 would rightly cut it off.)
            PORT=0 NO_COLOR=1 MAX_CONNECTIONS=100000 MAX_MESSAGES_PER_SECOND=1000000 QUEUE_CAPACITY=4096 \
                "$binary" >"$log" 2>&1 &
            ;;
    esac
    server_pid=$!
    local port=""
    for _ in $(seq 150); do
        port=$(grep -o 'listening on http://127\.0\.0\.1:[0-9]*' "$log" | head -n1 | grep -o '[0-9]*$' || true)
        [[ -n "$port" ]] && break
        if ! kill -0 "$server_pid" 2>/dev/null; then
            echo "$name exited before listening:" >&2
            cat "$log" >&2
            return 1
        fi
        sleep 0.1
    done
    if [[ -z "$port" ]]; then
        echo "$name did not log 'listening on http://127.0.0.1:<port>' within 15 s:" >&2
        cat "$log" >&2
        return 1
    fi
    case "$name" in
        node) server_url="ws://127.0.0.1:$port/socket.io/?EIO=4&transport=websocket" protocol=socketio ;;
        *) server_url="ws://127.0.0.1:$port/ws" protocol=realtime ;;
    esac
}

# --- scenarios ------------------------------------------------------------
# scenario_args N: sets scenario_id, scenario_title and traffic_args.
scenario_args() {
    case "$1" in
        1)
            scenario_id=1-chat-100-clients
            scenario_title="100 clients, 10 senders, 200 msg/s"
            traffic_args=(--clients 100 --senders 10 --rate 200 --warmup "$BENCH_WARMUP" --duration "$BENCH_SECONDS")
            ;;
        2)
            scenario_id=2-chat-1000-clients
            scenario_title="1,000 clients, 10 senders, 100 msg/s"
            traffic_args=(--clients 1000 --senders 10 --rate 100 --warmup "$BENCH_WARMUP" --duration "$BENCH_SECONDS")
            ;;
        3)
            scenario_id=3-flat-out-1000-clients
            scenario_title="1,000 clients flat out (10 senders, 4 in flight each)"
            traffic_args=(--clients 1000 --senders 10 --flat-out --in-flight 4 --warmup "$BENCH_WARMUP" --duration "$BENCH_SECONDS")
            ;;
        4)
            scenario_id=4-idle-connections
            # 10000 -> 10,000 for the title.
            scenario_title="$(sed ':a;s/\B[0-9]\{3\}\>/,&/;ta' <<<"$BENCH_IDLE_CLIENTS") idle connections"
            traffic_args=(--clients "$BENCH_IDLE_CLIENTS" --idle --warmup 0 --duration "$BENCH_IDLE_SECONDS")
            ;;
        *)
            echo "unknown scenario '$1' in BENCH_SCENARIOS (expected 1 2 3 4)" >&2
            exit 2
            ;;
    esac
}

loss_args=()
[[ "$BENCH_FAIL_ON_LOSS" == 1 ]] && loss_args=(--fail-on-loss)

rm -rf "$runs"
mkdir -p "$runs"
failures=0
for round in $(seq "$BENCH_ROUNDS"); do
    for scenario in $BENCH_SCENARIOS; do
        scenario_args "$scenario"
        for server in "${servers[@]}"; do
            # A thread per connection: its memory per idle connection would
            # measure thread stacks, which says nothing about chat servers.
            if [[ "$server" == bare && "$scenario" == 4 ]]; then
                continue
            fi
            echo
            echo "=== round $round/$BENCH_ROUNDS: $scenario_title, ${server_title[$server]}"
            server_log="$logs/$scenario_id--$server--round$round.log"
            if ! start_server "$server" "$server_log"; then
                failures=$((failures + 1))
                stop_server
                continue
            fi
            if ! "$loadgen" --url "$server_url" --protocol "$protocol" "${traffic_args[@]}" \
                --server-pid "$server_pid" --server-name "${server_title[$server]}" \
                --scenario "$scenario_id" --scenario-title "$scenario_title" "${loss_args[@]}" \
                --json "$runs/$scenario_id--$server--round$round.json"; then
                echo "loadgen failed against ${server_title[$server]}; server log: $server_log" >&2
                failures=$((failures + 1))
            fi
            stop_server
        done
    done
done

elapsed=$(($(date +%s) - started_at))
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//' || echo "unknown CPU")
heading="Measured $(date -u +%Y-%m-%d) with \`bench/compare.sh\` on $(nproc) cores ($cpu); \
$BENCH_ROUNDS rounds of ${BENCH_SECONDS} s per traffic run after ${BENCH_WARMUP} s of warm-up, \
servers interleaved; the whole run took $((elapsed / 60)) min $((elapsed % 60)) s. \
The load generator runs on the same cores as the server."
echo
"$report" --runs "$runs" --out "$out" --heading "$heading"
echo "server logs of every run: $logs"
if (( failures > 0 )); then
    echo "$failures run(s) failed; see the messages above" >&2
    exit 1
fi
