#!/usr/bin/env bash
# bench/compare.sh: how fast is the Rust chat compared with the Node original?
#
# One command, run from anywhere in the repository:
#
#     bench/compare.sh
#
# It builds the load generator and the Rust chat steps in release mode,
# installs the Node baselines (bench/node-socketio and bench/node-sqlite,
# `npm ci`), then for every
# round, every scenario and every server: starts that server fresh on a free
# 127.0.0.1 port, runs `loadgen` against it (passing the server's pid so its
# CPU and memory are measured), and stops it. Servers are interleaved
# (scenario-major, server-minor, round after round) so that noise on the
# machine hits all of them alike. At the end `report` writes
# bench/results/results.md (a table of medians) and bench/results/chart.svg.
#
# Scenarios (issues 5, 12 and 13):
#   1. 100 clients, 10 senders, 200 messages/s in total      (20,000 deliveries/s)
#   2. 1,000 clients, 10 senders, 100 messages/s in total    (100,000 deliveries/s)
#   3. 1,000 clients flat out: 10 senders, 4 messages in flight each
#   4. 10,000 idle connections: server memory per connection
#   5. 100 rooms x 10 clients: 1,000 clients, every one a sender, 11,100 messages/s
#      in total; each reaches the 9 others of its room (99,900 deliveries/s, as
#      step 09 makes in scenario 2)                                   step 09 only
#   6. scenario 2 with every client also sending `typing` twice a second
#      (compare its p99 with scenario 2's)                            step 09 only
#   7. write-heavy: 100 clients in one room, every one sending flat out (4
#      unacknowledged each); the figure is acked messages/s, which for step 10
#      and Node + SQLite (both ack once the message is committed) is committed
#      messages/s                     step 09 (no database, for reference),
#                                     step 10, Node + SQLite
#   8. recovery: a client that missed 1,000 messages comes back with its
#      session and last id; the time from its join to the last replayed
#      message (bench/src/recovery.rs), 5 times per round         step 10 only
# The two-node mode (issue 14): scenarios 9-11 run only the servers that
# share a chat through Redis, and those run only there:
#   step-11        step 11 as one node, REDIS_URL set: one process + Redis
#   step-11x2      two step 11 processes (NODE_NAME a and b) on one Redis
#   node-redis-x2  two Node processes with @socket.io/redis-adapter
#                  (bench/node-redis, `npm ci`)
# This script starts its own redis-server for them (a free loopback port,
# --save "" --appendonly no, its own folder, stopped by its PID at the end)
# and FLUSHALLs it before every run. In a two-node run loadgen splits the
# clients half and half (--url-far), the senders all on node a, so every
# delivery to a client of node b crosses Redis; near and far latencies are
# reported apart, on the one clock, and Redis's CPU per million deliveries
# (from /proc/<redis pid>/stat) beside the servers' (both processes added).
#   9. two nodes: 100 clients, 10 senders (all on node a), 200 msg/s; the
#      bar: far p50 within +0.5 ms of near p50
#  10. 1,000 clients flat out (10 senders, 4 in flight each): one step 11
#      node vs two vs the Node pair, deliveries/s (bars: two-node step 11
#      >= 0.7x one node, >= 10x the Node pair)
#  11. scenario 9's traffic while one node loses Redis: every Redis
#      connection of node b, then of node a (BENCH_KILL_NODES), is killed
#      (CLIENT KILL ID, found by name, realtime-<node>-*) at 1/3 and 2/3 of
#      the window; zero loss required. Step 11 refuses messages with
#      "retry": true meanwhile, and loadgen sends them again (same client
#      offset). A one-node run kills node a's only.
# Step 09 speaks its rooms protocol (loadgen --protocol rooms): every client
# joins before traffic starts, and senders run their flat-out loop on acks.
# In scenarios 1-3 and 6 all its clients are in one room, so its figures
# compare with step 08's (999 deliveries per message where step 08, which
# echoes to the sender too, makes 1,000). In scenario 4 its idle clients join
# rooms of BENCH_IDLE_ROOM_SIZE: each join into a room of N sends N - 1
# `joined` notices and an ack listing N users, so 10,000 joining one room
# would cost 50 million notices before anything is measured. Servers that do
# not speak rooms are not run in 5 and 6; the table says so.
# Step 10 speaks step 09's protocol plus client offsets (loadgen
# --client-offsets, as its page sends messages) in every scenario, and Node +
# SQLite (bench/node-sqlite, the socket.io tutorial's steps 7-8) socket.io's
# with offsets and acks; Node + SQLite runs in scenario 7 only. Both get a
# fresh database file (DATABASE_PATH) under this run's temporary folder for
# every run, deleted when the server stops; step 10's other settings
# (RETENTION_PER_ROOM, HISTORY_SIZE, REPLAY_CAP, RECOVERY_SECONDS) keep
# their defaults.
#
# Settings (environment variables):
#   BENCH_SECONDS=10       measured seconds per traffic run
#   BENCH_WARMUP=2         warm-up seconds before measuring
#   BENCH_ROUNDS=3         rounds; the table shows medians
#   BENCH_IDLE_CLIENTS=10000, BENCH_IDLE_SECONDS=3   the idle scenario
#   BENCH_IDLE_ROOM_SIZE=10     step 09's idle clients per room in scenario 4
#     (set it to BENCH_IDLE_CLIENTS for one room)
#   BENCH_SCENARIOS="1 2 3 4 5 6 7 8 9 10 11"   which scenarios to run
#   BENCH_SERVERS="node node-sqlite step-07 step-08 step-09 step-10 bare step-11 step-11x2 node-redis-x2"
#     which servers to run (step-09, step-10 and step-11 are skipped with a
#     message while their crate does not exist; the last three need
#     redis-server and redis-cli on PATH)
#   BENCH_KILL_NODES="b a"   scenario 11: whose Redis connections are killed, in turn
#     (bare: `bare-server`, the least a server can do per delivery, a
#     measuring stick for the machine; see bench/src/bare_server.rs. It has a
#     thread per connection, so it skips the idle scenario.)
#   BENCH_BASELINES="before=/tmp/step-08-before"   also run these binaries of an older
#     step 08 (space-separated NAME=PATH, NAME without spaces), each with step 08's settings,
#     interleaved with the servers above: a before/after comparison of a change in one run.
#     Build a "before" first, e.g. `git worktree add /tmp/before <commit>`, then
#     `cargo build --release -p step-08-production` in /tmp/before, and copy its binary.
#   BENCH_BASELINES_ROOMS="before=/tmp/step-09-before"   the same for older step 09
#     binaries: step 09's settings and rooms protocol, every scenario step 09 runs.
#   BENCH_OUT=bench/results     where runs/, results.md and chart.svg go
#   BENCH_FAIL_ON_LOSS=1        fail if any run lost a delivery (CI's smoke run sets it)
# A quick look: BENCH_SECONDS=2 BENCH_WARMUP=1 BENCH_ROUNDS=1 BENCH_IDLE_CLIENTS=2000 bench/compare.sh
# The two-node mode alone:
#   BENCH_SCENARIOS="9 10 11" BENCH_SERVERS="step-11 step-11x2 node-redis-x2" bench/compare.sh
# The default full run took 9 min 13 s on 2 cores with four servers and
# scenarios 1-4 (the run in bench/results/ before step 09); step 09 and its two
# scenarios add about a third, so about 13 minutes; step 10 (every scenario,
# as long as step 09's) and scenarios 7 and 8 add about 6 more, plus the
# first build and sqlite3's (about a minute). The two-node mode (scenarios
# 9-11, three servers) adds about 8 more: 27 runs of some 17 s each.
#
# All traffic stays on 127.0.0.1, every run is bounded in time, and every
# server this script starts is stopped when it exits, however it exits.
set -euo pipefail

BENCH_SECONDS=${BENCH_SECONDS:-10}
BENCH_WARMUP=${BENCH_WARMUP:-2}
BENCH_ROUNDS=${BENCH_ROUNDS:-3}
BENCH_IDLE_CLIENTS=${BENCH_IDLE_CLIENTS:-10000}
BENCH_IDLE_SECONDS=${BENCH_IDLE_SECONDS:-3}
BENCH_IDLE_ROOM_SIZE=${BENCH_IDLE_ROOM_SIZE:-10}
BENCH_SCENARIOS=${BENCH_SCENARIOS:-"1 2 3 4 5 6 7 8 9 10 11"}
BENCH_SERVERS=${BENCH_SERVERS:-"node node-sqlite step-07 step-08 step-09 step-10 bare step-11 step-11x2 node-redis-x2"}
BENCH_KILL_NODES=${BENCH_KILL_NODES:-"b a"}
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
# The second node of a two-node server (step-11x2, node-redis-x2), if any.
far_server_pid=""
# The database file of the server running now (step 10, Node + SQLite), if any.
server_database=""
# The run's own Redis (started below if a server needs one).
redis_pid=""
redis_port=""
# stop_process PID: SIGTERM, then SIGKILL if it is still there after 5 s.
stop_process() {
    local pid=$1
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        # Graceful shutdown is bounded; after 5 s, insist.
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
}
stop_server() {
    stop_process "$server_pid"
    stop_process "$far_server_pid"
    server_pid=""
    far_server_pid=""
    # The next run starts from an empty database: delete this one, with
    # SQLite's side files (write-ahead log, shared memory, rollback journal).
    if [[ -n "$server_database" ]]; then
        local database
        for database in "$server_database" "${server_database%.db}-b.db"; do
            rm -f "$database" "$database-wal" "$database-shm" "$database-journal"
        done
    fi
    server_database=""
}
trap 'stop_server; stop_process "$redis_pid"' EXIT
trap 'echo "interrupted"; exit 130' INT TERM

# 10,000 connections need 10,000 file descriptors in the server too; the
# servers inherit this shell's limit. (loadgen raises its own.)
ulimit -n "$(ulimit -Hn)"
if (( $(ulimit -n) < BENCH_IDLE_CLIENTS + 100 )); then
    echo "warning: the open-file limit is $(ulimit -n); the idle scenario with $BENCH_IDLE_CLIENTS clients may fail" >&2
fi

# --- build ----------------------------------------------------------------
declare -A step_package=([step-07]=step-07-rebroadcast [step-08]=step-08-production [step-09]=step-09-chat-room
    [step-10]=step-10-delivery [step-11]=step-11-scale-out [step-11x2]=step-11-scale-out)
declare -A server_title=([node]="Node socket.io" [node-sqlite]="Node + SQLite" [step-07]="step 07" [step-08]="step 08"
    [step-09]="step 09" [step-10]="step 10" [bare]="bare threads" [step-11]="step 11, one node + Redis"
    [step-11x2]="step 11, two nodes + Redis" [node-redis-x2]="Node + Redis adapter, two processes")
declare -A baseline_binary=()
# Which chat protocol loadgen speaks to each server (baselines are added below).
declare -A server_protocol=([node]=socketio [node-sqlite]=socketio [step-07]=realtime [step-08]=realtime
    [step-09]=rooms [step-10]=rooms [bare]=realtime [step-11]=rooms [step-11x2]=rooms [node-redis-x2]=socketio)
# Servers that keep messages: they get a fresh DATABASE_PATH per run, and
# loadgen sends them messages with client offsets (acknowledged once committed).
# (Step 11 in Redis mode keeps them in Redis; its DATABASE_PATH goes unused.)
declare -A server_stores=([node-sqlite]=1 [step-10]=1 [step-11]=1 [step-11x2]=1)
# Servers that share their chat through the run's Redis (scenarios 9-11 only),
# and of them those that run as two processes, nodes a and b.
declare -A server_redis=([step-11]=1 [step-11x2]=1 [node-redis-x2]=1)
declare -A server_two_nodes=([step-11x2]=1 [node-redis-x2]=1)
servers=()
build_args=(-p bench)
for server in $BENCH_SERVERS; do
    case "$server" in
        node | node-sqlite | bare | node-redis-x2)
            servers+=("$server")
            ;;
        step-07 | step-08 | step-09 | step-10 | step-11 | step-11x2)
            package=${step_package[$server]}
            if [[ -f "steps/$package/Cargo.toml" ]]; then
                servers+=("$server")
                [[ " ${build_args[*]} " == *" $package "* ]] || build_args+=(-p "$package")
            else
                echo "skipping $server: steps/$package does not exist yet"
            fi
            ;;
        *)
            echo "unknown server '$server' in BENCH_SERVERS (expected node, node-sqlite, step-07, step-08, step-09, step-10, bare, step-11, step-11x2, node-redis-x2)" >&2
            exit 2
            ;;
    esac
done
# add_baseline VARIABLE PROTOCOL NAME=PATH: one older binary to run beside the rest.
add_baseline() {
    local variable=$1 protocol=$2 entry=$3
    local name=${entry%%=*} binary=${entry#*=}
    if [[ "$name" == "$entry" || ! -x "$binary" ]]; then
        echo "$variable: '$entry' is not NAME=PATH with an executable at PATH" >&2
        exit 2
    fi
    servers+=("baseline-$name")
    server_title[baseline-$name]=$name
    baseline_binary[baseline-$name]=$binary
    server_protocol[baseline-$name]=$protocol
}
for entry in ${BENCH_BASELINES:-}; do
    add_baseline BENCH_BASELINES realtime "$entry"
done
for entry in ${BENCH_BASELINES_ROOMS:-}; do
    add_baseline BENCH_BASELINES_ROOMS rooms "$entry"
done
if (( ${#servers[@]} == 0 )); then
    echo "no server to measure" >&2
    exit 2
fi
if ! [[ "$BENCH_IDLE_ROOM_SIZE" =~ ^[1-9][0-9]*$ ]]; then
    echo "BENCH_IDLE_ROOM_SIZE must be a whole number of clients, at least 1 (got '$BENCH_IDLE_ROOM_SIZE')" >&2
    exit 2
fi
# Whether any server speaks step 09's rooms protocol (scenario 4's title says how it joins).
some_server_has_rooms=0
for server in "${servers[@]}"; do
    [[ "${server_protocol[$server]}" == rooms ]] && some_server_has_rooms=1
done

echo "building in release mode: cargo build --release ${build_args[*]}"
cargo build --release "${build_args[@]}"
loadgen="$target_dir/release/loadgen"
recovery="$target_dir/release/recovery"
report="$target_dir/release/report"

if [[ " ${servers[*]} " == *" node "* ]]; then
    echo "installing the Node baseline: npm ci (bench/node-socketio)"
    (cd bench/node-socketio && npm ci --no-audit --no-fund --loglevel=error)
fi
if [[ " ${servers[*]} " == *" node-redis-x2 "* ]]; then
    echo "installing the Node two-process baseline: npm ci (bench/node-redis)"
    (cd bench/node-redis && npm ci --no-audit --no-fund --loglevel=error)
fi
if [[ " ${servers[*]} " == *" node-sqlite "* ]]; then
    # sqlite3 has no prebuilt binary it may download here: npm builds it from
    # source (about a minute; bench/node-sqlite/.npmrc says where Node's headers are).
    echo "installing the Node SQLite baseline: npm ci (bench/node-sqlite)"
    (cd bench/node-sqlite && npm ci --no-audit --no-fund --loglevel=error)
fi

# --- Redis (for step-11, step-11x2, node-redis-x2) --------------------------
# start_redis: a redis-server of this run's own, on a free loopback port
# (tried at random until one is free: redis-server cannot pick its own),
# keeping nothing on disk, in a folder of its own under the run's logs.
start_redis() {
    local command
    for command in redis-server redis-cli; do
        if ! command -v "$command" >/dev/null; then
            echo "the two-node servers (step-11, step-11x2, node-redis-x2) need $command on PATH" \
                "(Debian: apt-get install redis-server), or leave them out of BENCH_SERVERS" >&2
            exit 2
        fi
    done
    local folder="$logs/redis" port attempt
    mkdir -p "$folder"
    for attempt in $(seq 20); do
        port=$((20000 + RANDOM % 40000))
        redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$folder" \
            >"$folder/redis.log" 2>&1 &
        redis_pid=$!
        for _ in $(seq 50); do
            grep -q 'Ready to accept connections' "$folder/redis.log" && break
            kill -0 "$redis_pid" 2>/dev/null || break
            sleep 0.1
        done
        if grep -q 'Ready to accept connections' "$folder/redis.log"; then
            redis_port=$port
            redis_url="redis://127.0.0.1:$port"
            echo "Redis for the two-node servers: $redis_url (pid $redis_pid)"
            return 0
        fi
        # Most likely the port was taken: try another.
        stop_process "$redis_pid"
        redis_pid=""
    done
    echo "could not start redis-server on a free port in 20 tries; its last log:" >&2
    cat "$folder/redis.log" >&2
    exit 1
}
# Only if a server on Redis is to run, and a scenario of theirs (9-11).
if [[ " $BENCH_SCENARIOS " =~ \ (9|10|11)\  ]]; then
    for server in "${servers[@]}"; do
        if [[ -n "${server_redis[$server]:-}" ]]; then
            start_redis
            break
        fi
    done
fi

# --- servers --------------------------------------------------------------
# launch NAME LOG NODE: starts one process of server NAME on a free port
# (PORT=0: it picks one and logs "listening on http://127.0.0.1:<port>"),
# as node NODE when it shares its chat through Redis; sets launched_pid.
launch() {
    local name=$1 log=$2 node=$3
    : >"$log"
    case "$name" in
        node)
            PORT=0 node bench/node-socketio/server.js >"$log" 2>&1 &
            ;;
        node-sqlite)
            PORT=0 DATABASE_PATH="$server_database" node bench/node-sqlite/server.js >"$log" 2>&1 &
            ;;
        node-redis-x2)
            PORT=0 REDIS_URL="$redis_url" NODE_NAME="$node" node bench/node-redis/server.js >"$log" 2>&1 &
            ;;
        bare)
            PORT=0 "$target_dir/release/bare-server" >"$log" 2>&1 &
            ;;
        step-07 | step-08 | step-09 | step-10 | step-11 | step-11x2 | baseline-*)
            local binary=${baseline_binary[$name]:-$target_dir/release/${step_package[$name]:-}}
            # The bench measures fan-out, not step 08's protective limits:
            # raise them far above what the scenarios need (the byte budgets
            # to their largest allowed value: by default 64 KiB per client
            # and 1 MiB a second from everyone together would refuse most of
            # a flat-out run). (Flat out, a receiver the scheduler runs late
            # can fall more than the default 256 messages behind, and step 08
            # would rightly cut it off.)
            # Step 09 has the same settings and needs no others: its typing
            # limit (4 a second per client) is above scenario 6's 2. Step 10
            # adds its database; an empty DATABASE_PATH is its default file.
            # Step 11 adds Redis (REDIS_URL empty: it is step 10).
            local shared=()
            if [[ -n "${server_redis[$name]:-}" ]]; then
                shared=(REDIS_URL="$redis_url" NODE_NAME="$node")
            fi
            # Two nodes share this machine's cores, where in production each
            # would have its own: each gets one Tokio worker thread, so the
            # two together have the cores one node has (measured on 2 cores,
            # scenario 10: 1.08 million deliveries/s with two threads each,
            # the four fighting over two cores; 1.52 million with one each).
            if [[ -n "${server_two_nodes[$name]:-}" ]]; then
                shared+=(TOKIO_WORKER_THREADS="$(( $(nproc) / 2 > 0 ? $(nproc) / 2 : 1 ))")
            fi
            env PORT=0 NO_COLOR=1 MAX_CONNECTIONS=100000 MAX_MESSAGES_PER_SECOND=1000000 \
                QUEUE_CAPACITY="$queue_capacity" \
                MAX_BYTES_PER_SECOND=1000000000 MAX_PUBLISHED_BYTES_PER_SECOND=1000000000 \
                DATABASE_PATH="$server_database" "${shared[@]}" "$binary" >"$log" 2>&1 &
            ;;
    esac
    launched_pid=$!
}

# await_port NAME PID LOG: waits (15 s at most) for the process to log its
# port, and for a server on Redis to log that it is connected; sets
# launched_port.
await_port() {
    local name=$1 pid=$2 log=$3
    launched_port=""
    for _ in $(seq 150); do
        launched_port=$(grep -o 'listening on http://127\.0\.0\.1:[0-9]*' "$log" | head -n1 | grep -o '[0-9]*$' || true)
        if [[ -n "$launched_port" && -n "${server_redis[$name]:-}" ]] && ! grep -q 'connected to Redis' "$log"; then
            launched_port=""
        fi
        [[ -n "$launched_port" ]] && return 0
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "$name exited before listening:" >&2
            cat "$log" >&2
            return 1
        fi
        sleep 0.1
    done
    echo "$name did not log 'listening on http://127.0.0.1:<port>'${server_redis[$name]:+ and 'connected to Redis'} within 15 s:" >&2
    cat "$log" >&2
    return 1
}

# ws_url NAME PORT: the WebSocket URL loadgen connects to.
ws_url() {
    case "$1" in
        node | node-sqlite | node-redis-x2) echo "ws://127.0.0.1:$2/socket.io/?EIO=4&transport=websocket" ;;
        *) echo "ws://127.0.0.1:$2/ws" ;;
    esac
}

# start_server NAME LOG: starts it (both its nodes, a and b, if it has two),
# sets server_pid and server_url (and far_server_pid, far_server_url). A
# server that keeps messages gets a new, empty database beside LOG
# (server_database; stop_server deletes it); one on Redis gets an empty
# Redis (FLUSHALL), so no run sees an earlier run's messages.
start_server() {
    local name=$1 log=$2
    if [[ -n "${server_stores[$name]:-}" ]]; then
        server_database="${log%.log}.db"
        rm -f "$server_database"
    fi
    if [[ -n "${server_redis[$name]:-}" ]]; then
        redis-cli -p "$redis_port" FLUSHALL >/dev/null
    fi
    launch "$name" "$log" a
    server_pid=$launched_pid
    await_port "$name" "$server_pid" "$log" || return 1
    server_url=$(ws_url "$name" "$launched_port")
    far_server_url=""
    if [[ -n "${server_two_nodes[$name]:-}" ]]; then
        # Node b has a database of its own; in Redis mode neither uses it.
        local database=$server_database
        [[ -n "$database" ]] && server_database="${database%.db}-b.db"
        launch "$name" "${log%.log}-b.log" b
        far_server_pid=$launched_pid
        server_database=$database
        await_port "$name" "$far_server_pid" "${log%.log}-b.log" || return 1
        far_server_url=$(ws_url "$name" "$launched_port")
    fi
}

# --- scenarios ------------------------------------------------------------
# scenario_args N: sets scenario_id, scenario_title, traffic_args, and what
# a server needs to run it: needs_rooms (step 09's protocol), needs_acks
# (acknowledged messages: rooms, or Node + SQLite), is_recovery (the recovery
# measurement instead of loadgen: step 10 only), on_redis (the two-node
# scenarios: only the servers on Redis, which run nowhere else), kills_redis
# (scenario 11: kill BENCH_KILL_NODES's Redis connections in the window).
scenario_args() {
    needs_rooms=0
    needs_acks=0
    is_recovery=0
    on_redis=0
    kills_redis=0
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
            if [[ "$some_server_has_rooms" == 1 ]]; then
                scenario_title+=" (steps 09 and 10: joined, $BENCH_IDLE_ROOM_SIZE per room)"
            fi
            traffic_args=(--clients "$BENCH_IDLE_CLIENTS" --idle --warmup 0 --duration "$BENCH_IDLE_SECONDS")
            ;;
        5)
            scenario_id=5-rooms-100x10
            scenario_title="100 rooms × 10 clients, 1,000 senders, 11,100 msg/s"
            traffic_args=(--clients 1000 --rooms 100 --senders 1000 --rate 11100 --warmup "$BENCH_WARMUP" --duration "$BENCH_SECONDS")
            needs_rooms=1
            ;;
        6)
            scenario_id=6-typing-1000-clients
            scenario_title="1,000 clients, 10 senders, 100 msg/s, all typing twice a second"
            traffic_args=(--clients 1000 --senders 10 --rate 100 --typing-per-second 2 --warmup "$BENCH_WARMUP" --duration "$BENCH_SECONDS")
            needs_rooms=1
            ;;
        7)
            scenario_id=7-write-heavy-100-clients
            scenario_title="write-heavy: 100 clients in one room, all sending flat out (4 in flight each)"
            traffic_args=(--clients 100 --senders 100 --flat-out --in-flight 4 --warmup "$BENCH_WARMUP" --duration "$BENCH_SECONDS")
            needs_acks=1
            ;;
        8)
            scenario_id=8-recovery-1000-missed
            scenario_title="recovery: 1,000 missed messages after a reconnect"
            traffic_args=(--missed 1000 --repeats 5)
            is_recovery=1
            ;;
        9)
            scenario_id=9-two-nodes-100-clients
            scenario_title="on Redis: 100 clients, 10 senders, 200 msg/s (two nodes: the senders on node a)"
            traffic_args=(--clients 100 --senders 10 --rate 200 --warmup "$BENCH_WARMUP" --duration "$BENCH_SECONDS")
            on_redis=1
            ;;
        10)
            scenario_id=10-two-nodes-flat-out-1000-clients
            scenario_title="on Redis: 1,000 clients flat out (10 senders, 4 in flight each; two nodes: the senders on node a)"
            traffic_args=(--clients 1000 --senders 10 --flat-out --in-flight 4 --warmup "$BENCH_WARMUP" --duration "$BENCH_SECONDS")
            on_redis=1
            ;;
        11)
            scenario_id=11-two-nodes-redis-killed
            scenario_title="on Redis: scenario 9 while nodes lose their Redis connections (two nodes: ${BENCH_KILL_NODES// /, then }; one node: a)"
            traffic_args=(--clients 100 --senders 10 --rate 200 --warmup "$BENCH_WARMUP" --duration "$BENCH_SECONDS")
            on_redis=1
            kills_redis=1
            ;;
        *)
            echo "unknown scenario '$1' in BENCH_SCENARIOS (expected 1 to 11)" >&2
            exit 2
            ;;
    esac
}

loss_args=()
[[ "$BENCH_FAIL_ON_LOSS" == 1 ]] && loss_args=(--fail-on-loss)

# json_string TEXT: TEXT as a JSON string (our titles hold no control characters).
json_string() {
    local text=${1//\\/\\\\}
    printf '"%s"' "${text//\"/\\\"}"
}

# note_skipped SERVER REASON: a runs/ file that the report shows as a row
# "not run: REASON" (once, not per round).
note_skipped() {
    local server=$1 reason=$2
    printf '{"scenario": %s, "scenario_title": %s, "server_name": %s, "skipped": %s}\n' \
        "$(json_string "$scenario_id")" "$(json_string "$scenario_title")" \
        "$(json_string "${server_title[$server]}")" "$(json_string "$reason")" \
        >"$runs/$scenario_id--$server--skipped.json"
}

# kill_args SERVER: loadgen's --kill-redis-clients for scenario 11: each node
# of BENCH_KILL_NODES that SERVER has (one node: a only) in turn, evenly
# spread over the window (two nodes: at 1/3 and 2/3).
kill_args() {
    local server=$1 nodes=() node position=0
    for node in $BENCH_KILL_NODES; do
        if [[ "$node" == a || -n "${server_two_nodes[$server]:-}" ]]; then
            nodes+=("$node")
        fi
    done
    for node in "${nodes[@]}"; do
        position=$((position + 1))
        printf -- '--kill-redis-clients\nrealtime-%s-@%s\n' "$node" \
            "$(awk -v i="$position" -v n="${#nodes[@]}" 'BEGIN { printf "%.3f", i / (n + 1) }')"
    done
}

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
            protocol=${server_protocol[$server]}
            # The two-node scenarios run the servers on Redis, and those run
            # nowhere else (no skip notes: the table would be mostly notes).
            if [[ "$on_redis" == 1 && -z "${server_redis[$server]:-}" ]] \
                || [[ "$on_redis" == 0 && -n "${server_redis[$server]:-}" ]]; then
                continue
            fi
            # The recovery table has a row for step 10 only; no skip notes.
            if [[ "$is_recovery" == 1 && "$server" != step-10 ]]; then
                continue
            fi
            if [[ "$needs_rooms" == 1 && "$protocol" != rooms ]]; then
                [[ "$round" == 1 ]] && note_skipped "$server" "speaks no rooms (step 09 only)"
                continue
            fi
            if [[ "$needs_acks" == 1 && "$protocol" != rooms && "$server" != node-sqlite ]]; then
                [[ "$round" == 1 ]] && note_skipped "$server" "no acknowledgements (step 09, step 10, Node + SQLite)"
                continue
            fi
            if [[ "$server" == node-sqlite && "$needs_acks" != 1 ]]; then
                [[ "$round" == 1 ]] && note_skipped "$server" "measured in the write-heavy scenario only"
                continue
            fi
            protocol_args=(--protocol "$protocol")
            if [[ -n "${server_stores[$server]:-}" ]]; then
                # As step 10's page and the tutorial's step 8 send messages.
                protocol_args+=(--client-offsets)
            fi
            if [[ "$protocol" == rooms && "$scenario" == 4 ]]; then
                protocol_args+=(--rooms $(((BENCH_IDLE_CLIENTS + BENCH_IDLE_ROOM_SIZE - 1) / BENCH_IDLE_ROOM_SIZE)))
            fi
            echo
            echo "=== round $round/$BENCH_ROUNDS: $scenario_title, ${server_title[$server]}"
            server_log="$logs/$scenario_id--$server--round$round.log"
            # The idle scenario measures memory as a server runs by default:
            # with QUEUE_CAPACITY's default of 256. (From step 09 on, every
            # room has its own queue, allocated whole when the room is made:
            # at 4,096 slots, 1,000 rooms of 10 would hold about 260 MB of
            # empty slots, 26 KiB a connection, which no traffic needed.)
            queue_capacity=4096
            [[ "$scenario" == 4 ]] && queue_capacity=256
            if ! start_server "$server" "$server_log"; then
                failures=$((failures + 1))
                stop_server
                continue
            fi
            result_json="$runs/$scenario_id--$server--round$round.json"
            node_args=()
            if [[ -n "${server_redis[$server]:-}" ]]; then
                node_args+=(--redis-pid "$redis_pid" --redis-url "$redis_url")
            fi
            if [[ -n "$far_server_url" ]]; then
                node_args+=(--url-far "$far_server_url" --far-server-pid "$far_server_pid")
            fi
            if [[ "$kills_redis" == 1 ]]; then
                mapfile -t kills < <(kill_args "$server")
                node_args+=("${kills[@]}")
            fi
            if [[ "$is_recovery" == 1 ]]; then
                if ! "$recovery" --url "$server_url" "${traffic_args[@]}" \
                    --server-name "${server_title[$server]}" --scenario "$scenario_id" \
                    --scenario-title "$scenario_title" --json "$result_json"; then
                    echo "the recovery measurement failed against ${server_title[$server]}; server log: $server_log" >&2
                    failures=$((failures + 1))
                fi
            elif ! "$loadgen" --url "$server_url" "${protocol_args[@]}" "${traffic_args[@]}" "${node_args[@]}" \
                --server-pid "$server_pid" --server-name "${server_title[$server]}" \
                --scenario "$scenario_id" --scenario-title "$scenario_title" "${loss_args[@]}" \
                --json "$result_json"; then
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
