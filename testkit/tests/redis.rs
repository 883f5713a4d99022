//! [`RedisServer`]'s promises, against the real `redis-server`: it answers
//! once started, a restart keeps its port (and, with AOF, its data), its
//! named connections can be killed one node at a time, and nothing is left
//! running or on disk after it.
//!
//! Without `redis-server` each test prints one `SKIP:` line and passes
//! (fails with `REDIS_REQUIRED=1`). Run with `cargo test -p testkit --test redis`.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    panic::{AssertUnwindSafe, catch_unwind},
    time::Duration,
};

use testkit::{
    DEADLINE,
    redis::{RedisOptions, RedisServer, RespValue, free_port},
};

fn text(value: RespValue) -> String {
    value
        .as_text()
        .unwrap_or_else(|| panic!("a text answer, not {value:?}"))
        .to_owned()
}

fn get(redis: &RedisServer, key: &str) -> RespValue {
    redis.command(&["GET", key]).expect("GET answers")
}

#[test]
fn a_started_redis_answers_on_its_own_port() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    assert_eq!(redis.url(), format!("redis://127.0.0.1:{}", redis.port()));
    assert_ne!(redis.port(), 6379, "never the system Redis's port");
    assert_eq!(
        text(redis.command(&["PING"]).expect("PING answers")),
        "PONG"
    );
    redis
        .command(&["SET", "k", "a value"])
        .expect("SET answers");
    assert_eq!(text(get(&redis, "k")), "a value");
    assert_eq!(get(&redis, "missing"), RespValue::Nil);
    let dir = text(
        redis
            .command(&["CONFIG", "GET", "dir"])
            .map(|answer| answer.as_array().expect("CONFIG GET gives pairs")[1].clone())
            .expect("CONFIG GET answers"),
    );
    assert_eq!(std::path::Path::new(&dir), redis.dir());
    let save = redis
        .command(&["CONFIG", "GET", "save"])
        .expect("CONFIG GET answers");
    assert_eq!(
        save.as_array().map(|pair| pair[1].clone()),
        Some(RespValue::Bulk(Vec::new()))
    );
}

#[test]
fn an_error_answer_is_an_err_with_redis_sentence() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let error = redis
        .command(&["NO-SUCH-COMMAND"])
        .expect_err("Redis refuses it");
    assert!(error.contains("ERR unknown command"), "{error}");
}

#[test]
fn a_restart_with_aof_keeps_every_key_and_the_port() {
    let Some(mut redis) = RedisServer::start_with(RedisOptions::with_aof()) else {
        return;
    };
    let port = redis.port();
    redis.command(&["SET", "kept", "yes"]).expect("SET answers");
    redis.restart();
    assert_eq!(redis.port(), port);
    assert_eq!(text(get(&redis, "kept")), "yes");
    // A crash, too: every write was fsynced before Redis acknowledged it.
    redis
        .command(&["SET", "after-crash", "still here"])
        .expect("SET answers");
    redis.kill();
    assert!(!redis.is_running());
    redis.restart();
    assert_eq!(text(get(&redis, "after-crash")), "still here");
}

#[test]
fn a_restart_without_aof_starts_empty() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    redis.command(&["SET", "lost", "yes"]).expect("SET answers");
    redis.restart();
    assert_eq!(get(&redis, "lost"), RespValue::Nil);
}

#[test]
fn a_stopped_redis_refuses_connections_until_restarted() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let pid = redis.pid().expect("a running Redis has a pid");
    redis.stop();
    assert!(!redis.is_running());
    assert_eq!(redis.pid(), None);
    let error = redis
        .command(&["PING"])
        .expect_err("nothing listens any more");
    assert!(error.contains("cannot connect"), "{error}");
    redis.restart();
    assert_ne!(redis.pid(), Some(pid), "a new process");
    assert_eq!(
        text(redis.command(&["PING"]).expect("PING answers")),
        "PONG"
    );
}

#[test]
fn a_redis_set_up_stopped_starts_on_the_port_it_was_given() {
    let port = free_port();
    let options = RedisOptions {
        port: Some(port),
        ..RedisOptions::default()
    };
    let Some(mut redis) = RedisServer::stopped(options) else {
        return;
    };
    assert_eq!(redis.url(), format!("redis://127.0.0.1:{port}"));
    assert!(!redis.is_running());
    assert!(redis.command(&["PING"]).is_err(), "not started yet");
    redis.restart();
    assert_eq!(redis.port(), port);
    assert_eq!(
        text(redis.command(&["PING"]).expect("PING answers")),
        "PONG"
    );
}

#[test]
fn a_port_someone_else_holds_fails_with_the_log_in_the_message() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port to hold");
    let port = holder
        .local_addr()
        .expect("a bound socket has an address")
        .port();
    let options = RedisOptions {
        port: Some(port),
        ..RedisOptions::default()
    };
    let Some(mut redis) = RedisServer::stopped(options) else {
        return;
    };
    let failed = catch_unwind(AssertUnwindSafe(|| redis.restart()));
    let message = failed.expect_err("Redis cannot listen on a held port");
    let message = message
        .downcast_ref::<String>()
        .expect("the panic says why in a sentence");
    assert!(
        message.contains(&format!("port {port} did not start")),
        "{message}"
    );
    assert!(message.contains("Address already in use"), "{message}");
    assert!(!redis.is_running());
}

/// A connection named `name`, as a node names each of its own.
fn named_connection(redis: &RedisServer, name: &str) -> BufReader<TcpStream> {
    let mut stream =
        TcpStream::connect(("127.0.0.1", redis.port())).expect("connect to the test's Redis");
    stream
        .set_read_timeout(Some(DEADLINE))
        .expect("bound the reads");
    let command = format!(
        "*3\r\n$6\r\nCLIENT\r\n$7\r\nSETNAME\r\n${}\r\n{name}\r\n",
        name.len()
    );
    stream
        .write_all(command.as_bytes())
        .expect("send CLIENT SETNAME");
    let mut reader = BufReader::new(stream);
    let mut answer = String::new();
    reader
        .read_line(&mut answer)
        .expect("CLIENT SETNAME answers");
    assert_eq!(answer, "+OK\r\n");
    reader
}

#[test]
fn killing_one_nodes_clients_leaves_the_others_connected() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mut reader_a = named_connection(&redis, "realtime-a-reader");
    let _commands_a = named_connection(&redis, "realtime-a-commands");
    let _reader_b = named_connection(&redis, "realtime-b-reader");
    let mut names = redis.client_names();
    names.sort();
    assert_eq!(
        names,
        [
            "realtime-a-commands",
            "realtime-a-reader",
            "realtime-b-reader"
        ]
    );

    assert_eq!(redis.kill_clients_named("realtime-a-"), 2);
    let mut rest = Vec::new();
    let read = reader_a.read_to_end(&mut rest);
    assert!(
        matches!(read, Ok(0)),
        "a killed connection is closed by Redis, got {read:?}"
    );
    assert_eq!(redis.client_names(), ["realtime-b-reader"]);
    assert_eq!(redis.kill_clients_named("realtime-a-"), 0, "none left");
}

#[test]
fn dropping_it_ends_the_process_and_removes_its_folder() {
    let Some(redis) = RedisServer::start_with(RedisOptions::with_aof()) else {
        return;
    };
    let port = redis.port();
    let dir = redis.dir().to_owned();
    assert!(
        dir.join("redis.log").is_file(),
        "Redis logs into its folder"
    );
    drop(redis);
    assert!(!dir.exists(), "{} is removed", dir.display());
    let refused = TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_secs(1),
    );
    assert!(refused.is_err(), "nothing listens on {port} any more");
}
