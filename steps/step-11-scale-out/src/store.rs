//! The chat's memory: every room message and private message in SQLite,
//! committed before anyone hears of it.
//!
//! One thread owns the database, and every database call runs there, never
//! on the async worker threads: a write waits for the disk (an `fsync`),
//! and a worker thread that waits for the disk serves nobody meanwhile.
//! Connections send the thread [`Job`]s over a channel and wait for the
//! answer on a oneshot channel, which is an ordinary `.await`.
//!
//! The thread takes every job that is waiting at once, and writes all the
//! waiting messages in **one transaction**: one `fsync` for the batch,
//! however many messages are in it. That is what keeps throughput up when
//! many clients send at once; one transaction per message would be one
//! `fsync` per message (see `notes/10-delivery.md` for the measured
//! difference).
//!
//! After the commit, and only then, the thread hands each new message to
//! its delivery (the room's channel, or the recipient's inbox), in the
//! order of their ids. So a message is on disk before anyone receives it,
//! and everyone receives a room's messages in the order of their ids.

use std::{collections::HashMap, fmt, path::Path, sync::mpsc, thread};

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use tokio::sync::oneshot;
use tracing::{debug, warn};

/// At most this many jobs are taken into one batch (one transaction), unless
/// [`Store::limit_batches`] says fewer. A cap, so that a flood of messages
/// still lets a waiting history read in.
const MAX_BATCH: usize = 512;

/// A message to store.
#[derive(Clone, Debug)]
pub struct NewMessage {
    /// The room, for a room message; `None` for a private message.
    pub room: Option<String>,
    /// The writer's nickname, and its key (lower case).
    pub from: String,
    pub from_key: String,
    /// The recipient's nickname and key, for a private message.
    pub to: Option<(String, String)>,
    pub text: String,
    /// The writer's own name for this message, so that a retry of it is
    /// recognised (at most 64 characters).
    pub client_offset: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub at: u64,
}

/// A message as it is stored, with its id (its row id).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredMessage {
    pub id: i64,
    pub room: Option<String>,
    pub from: String,
    pub to: Option<String>,
    pub text: String,
    pub at: u64,
}

/// What saving a message gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Saved {
    pub id: i64,
    pub at: u64,
    /// The writer had sent this message before (same `client_offset`): this
    /// is the original's id, and it was not delivered again.
    pub duplicate: bool,
}

/// What to do with a message once it is committed: put it in a room's
/// channel or a recipient's inbox. Called on the database thread, in id
/// order; it must not block.
pub type Delivery = Box<dyn FnOnce(&StoredMessage) + Send>;

/// Which messages a reader wants, oldest first.
#[derive(Clone, Debug)]
pub enum Query {
    /// The room's latest `limit` messages: what a new member sees first.
    Latest { room: String, limit: usize },
    /// The room's messages after `after` (their ids), at most `cap`.
    RoomAfter {
        room: String,
        after: i64,
        cap: usize,
    },
    /// The private messages to `to_key` after `after`, at most `cap`.
    PrivateAfter {
        to_key: String,
        after: i64,
        cap: usize,
    },
}

/// The answer to a [`Query`]: the messages, oldest first, and how many
/// older ones were left out to stay within the cap.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Found {
    pub messages: Vec<StoredMessage>,
    pub skipped: u64,
}

/// The database failed; its `Display` is the sentence a client or an
/// operator gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreError(String);

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreError {}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        StoreError(format!("the database refused it ({error})"))
    }
}

/// What the database thread is asked to do.
enum Job {
    Save {
        message: NewMessage,
        deliver: Delivery,
        reply: oneshot::Sender<Result<Saved, StoreError>>,
    },
    Find {
        query: Query,
        reply: oneshot::Sender<Result<Found, StoreError>>,
    },
    /// For tests and drills: refuse every write as if the disk were full
    /// (`true`), or stop (`false`).
    SimulateFull(bool),
    /// From now on, at most this many jobs per batch.
    LimitBatches(usize),
}

/// A handle to the database thread; cloning gives another handle to the
/// same thread.
#[derive(Clone, Debug)]
pub struct Store {
    jobs: mpsc::Sender<Job>,
}

impl Store {
    /// Opens (or creates) the database at `path` (`:memory:` for one that
    /// lives only as long as the process), checks that it is a database
    /// this server can use, and starts its thread. Keeps at most
    /// `retention` messages per room (and per recipient of private ones).
    pub fn open(path: &Path, retention: usize) -> Result<Store, StoreError> {
        let connection = open_connection(path)?;
        let (jobs, waiting) = mpsc::channel();
        thread::Builder::new()
            .name("database".to_owned())
            .spawn(move || Writer::new(connection, retention).run(&waiting))
            .map_err(|error| StoreError(format!("cannot start the database thread ({error})")))?;
        Ok(Store { jobs })
    }

    /// Saves `message`, then (if it is new) hands it to `deliver`. The
    /// answer comes once it is committed.
    pub async fn save(&self, message: NewMessage, deliver: Delivery) -> Result<Saved, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.send(Job::Save {
            message,
            deliver,
            reply,
        })?;
        answer.await.map_err(|_| gone())?
    }

    /// Finds the messages `query` asks for.
    pub async fn find(&self, query: Query) -> Result<Found, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.send(Job::Find { query, reply })?;
        answer.await.map_err(|_| gone())?
    }

    /// Takes at most `jobs` jobs into one batch. A batch's messages reach
    /// their room all at once, so a batch bigger than a room's queue
    /// (`QUEUE_CAPACITY`) would put every member that far behind in one go,
    /// and the slow-consumer policy would cut them all off: `AppState::new`
    /// keeps batches to half the queue.
    pub fn limit_batches(&self, jobs: usize) {
        let _ = self.send(Job::LimitBatches(jobs.clamp(1, MAX_BATCH)));
    }

    /// For tests and drills: makes every write fail as a full disk does
    /// (`true`), or ends that (`false`).
    pub fn simulate_full_disk(&self, full: bool) {
        let _ = self.send(Job::SimulateFull(full));
    }

    fn send(&self, job: Job) -> Result<(), StoreError> {
        self.jobs.send(job).map_err(|_| gone())
    }
}

/// A save job as a [`Pending`] save, answered "not stored" until its
/// batch commits.
fn pending_save(job: Job) -> Option<Pending> {
    let Job::Save {
        message,
        deliver,
        reply,
    } = job
    else {
        return None;
    };
    Some(Pending {
        message,
        result: Err(StoreError("not stored".to_owned())),
        stored: None,
        deliver,
        reply,
    })
}

/// The database thread stopped (it only does if it panicked).
fn gone() -> StoreError {
    StoreError("the database is not running".to_owned())
}

/// Opens `path`, in WAL mode, with the schema in place; an error that says
/// what is wrong with the file.
fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let shown = path.display();
    // The default file is in a folder of its own (`data/`), which a fresh
    // clone does not have yet.
    if let Some(folder) = path
        .parent()
        .filter(|folder| !folder.as_os_str().is_empty())
        && !folder.exists()
    {
        std::fs::create_dir_all(folder).map_err(|error| {
            StoreError(format!(
                "cannot make the folder {} for the database ({error})",
                folder.display()
            ))
        })?;
    }
    let connection = Connection::open(path)
        .map_err(|error| StoreError(format!("cannot open the database {shown} ({error})")))?;
    // WAL: readers never wait for the writer, and a commit is one append
    // to the log. `synchronous = FULL`: every commit is on the disk (one
    // `fsync`) before it returns, so an acknowledged message survives even
    // a power cut, not only `kill -9`.
    let setup = "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;";
    connection.execute_batch(setup).map_err(|error| {
        StoreError(format!(
            "{shown} is not a SQLite database this server can use ({error})"
        ))
    })?;
    connection
        .execute_batch(SCHEMA)
        .map_err(|error| StoreError(format!("cannot create the tables in {shown} ({error})")))?;
    Ok(connection)
}

/// One table for every message. `id` is the message's id everywhere: on
/// the wire, in `last_id`, in order. A room message has a `room`; a
/// private one a `to_key`. The unique index is what makes a retry of the
/// same message (same writer, same `client_offset`) one row.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS messages (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    room          TEXT,
    from_name     TEXT NOT NULL,
    from_key      TEXT NOT NULL,
    to_name       TEXT,
    to_key        TEXT,
    text          TEXT NOT NULL,
    at            INTEGER NOT NULL,
    client_offset TEXT
);
CREATE INDEX IF NOT EXISTS messages_by_room ON messages (room, id) WHERE room IS NOT NULL;
CREATE INDEX IF NOT EXISTS messages_by_recipient ON messages (to_key, id) WHERE to_key IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS messages_once
    ON messages (from_key, client_offset) WHERE client_offset IS NOT NULL;
";

/// The database thread's state.
struct Writer {
    connection: Connection,
    retention: usize,
    /// New messages per room (or recipient) since it was last trimmed.
    since_trim: HashMap<String, usize>,
    /// Set by [`Job::SimulateFull`].
    full: bool,
    /// Set by [`Job::LimitBatches`].
    max_batch: usize,
}

/// A save waiting for its batch's commit.
struct Pending {
    message: NewMessage,
    result: Result<Saved, StoreError>,
    stored: Option<StoredMessage>,
    deliver: Delivery,
    reply: oneshot::Sender<Result<Saved, StoreError>>,
}

impl Writer {
    fn new(connection: Connection, retention: usize) -> Writer {
        Writer {
            connection,
            retention,
            since_trim: HashMap::new(),
            full: false,
            max_batch: MAX_BATCH,
        }
    }

    /// Takes every job that is waiting and does them in order, each run of
    /// saves in one transaction; until every handle is gone.
    fn run(mut self, waiting: &mpsc::Receiver<Job>) {
        while let Ok(first) = waiting.recv() {
            let mut saves = Vec::new();
            let more = waiting.try_iter().take(self.max_batch - 1);
            for job in std::iter::once(first).chain(more) {
                if matches!(job, Job::Save { .. }) {
                    saves.push(job);
                } else {
                    self.save_all(std::mem::take(&mut saves));
                    self.answer(job);
                }
            }
            self.save_all(saves);
            self.trim_where_due();
        }
        debug!("the database thread stops: no connection is left to use it");
    }

    /// One transaction for every save of the batch; after the commit, each
    /// new message is delivered, in id order, and every writer answered. A
    /// batch that cannot be committed is refused whole, and nobody hears of
    /// any of it.
    fn save_all(&mut self, saves: Vec<Job>) {
        let mut pending: Vec<Pending> = saves.into_iter().filter_map(pending_save).collect();
        if pending.is_empty() {
            return;
        }
        let committed = if self.full {
            Err(StoreError("the disk is full".to_owned()))
        } else {
            self.insert_all(&mut pending)
        };
        if let Err(error) = committed {
            warn!("could not store {} messages: {error}", pending.len());
            for waiting in pending {
                let _ = waiting.reply.send(Err(error.clone()));
            }
            return;
        }
        for waiting in pending {
            if let Some(stored) = &waiting.stored {
                (waiting.deliver)(stored);
                *self.since_trim.entry(trim_key(stored)).or_default() += 1;
            }
            let _ = waiting.reply.send(waiting.result);
        }
    }

    /// Inserts every pending message in one transaction.
    fn insert_all(&mut self, pending: &mut [Pending]) -> Result<(), StoreError> {
        let transaction = self.connection.transaction()?;
        for waiting in pending.iter_mut() {
            match insert(&transaction, &waiting.message) {
                Ok((saved, stored)) => {
                    waiting.result = Ok(saved);
                    waiting.stored = stored;
                }
                Err(error) => waiting.result = Err(error),
            }
        }
        transaction.commit()?;
        Ok(())
    }

    fn answer(&mut self, job: Job) {
        match job {
            Job::Find { query, reply } => {
                let _ = reply.send(find(&self.connection, &query));
            }
            Job::SimulateFull(full) => self.full = full,
            Job::LimitBatches(jobs) => self.max_batch = jobs,
            Job::Save { .. } => {}
        }
    }

    /// Deletes the oldest messages of each room (or recipient) that has had
    /// a tenth of the retention's worth of new ones since its last trim.
    fn trim_where_due(&mut self) {
        let due = (self.retention / 10).max(1);
        let keys: Vec<String> = self
            .since_trim
            .iter()
            .filter(|&(_, &count)| count >= due)
            .map(|(key, _)| key.clone())
            .collect();
        for key in keys {
            self.since_trim.remove(&key);
            if let Err(error) = trim(&self.connection, &key, self.retention) {
                warn!("could not trim old messages ({error})");
            }
        }
    }
}

/// Inserts one message; a retry of one already stored (same writer, same
/// `client_offset`) is answered with the original and not stored again.
fn insert(
    transaction: &Transaction<'_>,
    message: &NewMessage,
) -> Result<(Saved, Option<StoredMessage>), StoreError> {
    let (to_name, to_key) = message.to.clone().unzip();
    let at = i64::try_from(message.at).unwrap_or(i64::MAX);
    let inserted: Option<i64> = transaction
        .prepare_cached(
            "INSERT INTO messages (room, from_name, from_key, to_name, to_key, text, at, client_offset)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT DO NOTHING RETURNING id",
        )?
        .query_row(
            params![
                message.room,
                message.from,
                message.from_key,
                to_name,
                to_key,
                message.text,
                at,
                message.client_offset
            ],
            |row| row.get(0),
        )
        .optional()?;
    if let Some(id) = inserted {
        let stored = StoredMessage {
            id,
            room: message.room.clone(),
            from: message.from.clone(),
            to: to_name,
            text: message.text.clone(),
            at: message.at,
        };
        let saved = Saved {
            id,
            at: message.at,
            duplicate: false,
        };
        return Ok((saved, Some(stored)));
    }
    let (id, at): (i64, i64) = transaction
        .prepare_cached("SELECT id, at FROM messages WHERE from_key = ?1 AND client_offset = ?2")?
        .query_row(params![message.from_key, message.client_offset], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?;
    let at = u64::try_from(at).unwrap_or(0);
    Ok((
        Saved {
            id,
            at,
            duplicate: true,
        },
        None,
    ))
}

/// The messages `query` asks for, oldest first.
fn find(connection: &Connection, query: &Query) -> Result<Found, StoreError> {
    let (filter, key, after, cap) = match query {
        Query::Latest { room, limit } => ("room", room, 0, *limit),
        Query::RoomAfter { room, after, cap } => ("room", room, *after, *cap),
        Query::PrivateAfter { to_key, after, cap } => ("to_key", to_key, *after, *cap),
    };
    let total: i64 = connection.query_row(
        &format!("SELECT COUNT(*) FROM messages WHERE {filter} = ?1 AND id > ?2"),
        params![key, after],
        |row| row.get(0),
    )?;
    let limit = i64::try_from(cap).unwrap_or(i64::MAX);
    let mut newest_first = connection.prepare_cached(&format!(
        "SELECT id, room, from_name, to_name, text, at FROM messages
         WHERE {filter} = ?1 AND id > ?2 ORDER BY id DESC LIMIT ?3"
    ))?;
    let mut messages = newest_first
        .query_map(params![key, after, limit], |row| {
            Ok(StoredMessage {
                id: row.get(0)?,
                room: row.get(1)?,
                from: row.get(2)?,
                to: row.get(3)?,
                text: row.get(4)?,
                at: u64::try_from(row.get::<_, i64>(5)?).unwrap_or(0),
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    messages.reverse();
    let skipped = match query {
        // The latest messages of a room are a taste of the past, not a
        // promise of everything: nothing counts as skipped.
        Query::Latest { .. } => 0,
        _ => u64::try_from(total)
            .unwrap_or(0)
            .saturating_sub(messages.len() as u64),
    };
    Ok(Found { messages, skipped })
}

/// What retention counts a message under: its room, or its recipient.
fn trim_key(stored: &StoredMessage) -> String {
    match (&stored.room, &stored.to) {
        (Some(room), _) => format!("room:{room}"),
        (None, to) => format!("to:{}", to.as_deref().unwrap_or_default().to_lowercase()),
    }
}

/// Keeps only the newest `retention` messages under `key`.
fn trim(connection: &Connection, key: &str, retention: usize) -> Result<(), StoreError> {
    let (column, value) = match key.split_once(':') {
        Some(("room", room)) => ("room", room),
        Some((_, to)) => ("to_key", to),
        None => return Ok(()),
    };
    let keep = i64::try_from(retention).unwrap_or(i64::MAX);
    let deleted = connection.execute(
        &format!(
            "DELETE FROM messages WHERE {column} = ?1 AND id <= (
                 SELECT id FROM messages WHERE {column} = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)"
        ),
        params![value, keep],
    )?;
    if deleted > 0 {
        debug!("retention: deleted {deleted} old messages of {key}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use futures::future::join_all;

    use super::*;

    fn message(room: &str, from: &str, text: &str, offset: Option<&str>) -> NewMessage {
        NewMessage {
            room: Some(room.to_owned()),
            from: from.to_owned(),
            from_key: from.to_lowercase(),
            to: None,
            text: text.to_owned(),
            client_offset: offset.map(str::to_owned),
            at: 1_700_000_000_000,
        }
    }

    fn nowhere() -> Delivery {
        Box::new(|_| {})
    }

    fn memory(retention: usize) -> Store {
        Store::open(Path::new(":memory:"), retention).expect("an in-memory database")
    }

    /// A saved message is found again, with the id its save answered.
    #[tokio::test]
    async fn a_saved_message_is_found_with_its_id() {
        let store = memory(100);
        let saved = store
            .save(message("general", "alice", "hi", None), nowhere())
            .await;
        let saved = saved.expect("saved");
        let found = store
            .find(Query::Latest {
                room: "general".to_owned(),
                limit: 50,
            })
            .await
            .expect("found");
        assert_eq!(found.messages.len(), 1);
        assert_eq!(found.messages[0].id, saved.id);
        assert_eq!(found.messages[0].text, "hi");
    }

    /// The same writer sending the same `client_offset` twice (a retry
    /// after a lost answer) is one row and one delivery, and the retry is
    /// answered with the original id.
    #[tokio::test]
    async fn a_retry_is_one_row_one_delivery_and_the_original_id() {
        let store = memory(100);
        let delivered = Arc::new(Mutex::new(0));
        let count = |delivered: &Arc<Mutex<i32>>| -> Delivery {
            let delivered = delivered.clone();
            Box::new(move |_| *delivered.lock().expect("not poisoned") += 1)
        };
        let first = message("general", "alice", "once", Some("tab-1:1"));
        let saved = store
            .save(first.clone(), count(&delivered))
            .await
            .expect("saved");
        let again = store
            .save(first, count(&delivered))
            .await
            .expect("answered");
        assert_eq!((again.id, again.duplicate), (saved.id, true));
        assert_eq!(*delivered.lock().expect("not poisoned"), 1);
        let others = message("general", "bob", "mine", Some("tab-1:1"));
        let bobs = store.save(others, nowhere()).await.expect("saved");
        assert!(!bobs.duplicate, "offsets are per writer");
    }

    /// Many messages at once: each is delivered after its commit, in the
    /// order of the ids, and each writer's answer has its id.
    #[tokio::test]
    async fn deliveries_follow_the_commits_in_id_order() {
        let store = memory(10_000);
        let delivered = Arc::new(Mutex::new(Vec::new()));
        let saves = (0..200).map(|index| {
            let delivered = delivered.clone();
            let deliver: Delivery =
                Box::new(move |stored| delivered.lock().expect("not poisoned").push(stored.id));
            store.save(
                message("general", "alice", &index.to_string(), None),
                deliver,
            )
        });
        let answers: Vec<i64> = join_all(saves)
            .await
            .into_iter()
            .map(|saved| saved.expect("saved").id)
            .collect();
        let delivered = delivered.lock().expect("not poisoned").clone();
        assert!(
            delivered.windows(2).all(|pair| pair[0] < pair[1]),
            "{delivered:?}"
        );
        let mut answered = answers.clone();
        answered.sort_unstable();
        assert_eq!(answered, delivered);
    }

    /// A write that fails (a full disk) is refused and delivered to nobody;
    /// the same message succeeds once the fault is gone.
    #[tokio::test]
    async fn a_failed_write_is_refused_undelivered_and_can_be_retried() {
        let store = memory(100);
        let delivered = Arc::new(Mutex::new(0));
        let deliver = |delivered: &Arc<Mutex<i32>>| -> Delivery {
            let delivered = delivered.clone();
            Box::new(move |_| *delivered.lock().expect("not poisoned") += 1)
        };
        store.simulate_full_disk(true);
        let attempt = message("general", "alice", "later", Some("t:1"));
        let refused = store.save(attempt.clone(), deliver(&delivered)).await;
        assert_eq!(refused, Err(StoreError("the disk is full".to_owned())));
        assert_eq!(*delivered.lock().expect("not poisoned"), 0);
        store.simulate_full_disk(false);
        let saved = store
            .save(attempt, deliver(&delivered))
            .await
            .expect("saved now");
        assert!(!saved.duplicate);
        assert_eq!(*delivered.lock().expect("not poisoned"), 1);
    }

    /// More than the cap behind: the newest `cap` come back, and the count
    /// of the older ones left out.
    #[tokio::test]
    async fn more_than_the_cap_behind_says_how_many_were_skipped() {
        let store = memory(10_000);
        let mut ids = Vec::new();
        for index in 0..30 {
            let saved = store.save(
                message("general", "alice", &index.to_string(), None),
                nowhere(),
            );
            ids.push(saved.await.expect("saved").id);
        }
        let found = store
            .find(Query::RoomAfter {
                room: "general".to_owned(),
                after: ids[4],
                cap: 10,
            })
            .await
            .expect("found");
        assert_eq!(found.skipped, 15);
        let texts: Vec<&str> = found.messages.iter().map(|m| m.text.as_str()).collect();
        assert_eq!(
            texts,
            ["20", "21", "22", "23", "24", "25", "26", "27", "28", "29"]
        );
    }

    /// Retention keeps the newest messages of a room and deletes the rest.
    #[tokio::test]
    async fn retention_keeps_the_newest_messages_of_a_room() {
        let store = memory(10);
        for index in 0..35 {
            let saved = store.save(
                message("general", "alice", &index.to_string(), None),
                nowhere(),
            );
            saved.await.expect("saved");
        }
        // A read after the last save: the trim that followed it is done.
        let found = store
            .find(Query::Latest {
                room: "general".to_owned(),
                limit: 100,
            })
            .await
            .expect("found");
        assert_eq!(found.messages.len(), 10);
        assert_eq!(found.messages[0].text, "25");
    }

    /// A file that is not a SQLite database is refused with a sentence
    /// naming it.
    #[test]
    fn a_file_that_is_not_a_database_is_refused() {
        let path = std::env::temp_dir().join(format!("not-a-database-{}.db", std::process::id()));
        std::fs::write(&path, "this is a text file, not a database\n".repeat(100))
            .expect("write a temp file");
        let refused = Store::open(&path, 100).expect_err("not a database");
        let _ = std::fs::remove_file(&path);
        let sentence = refused.to_string();
        assert!(
            sentence.contains("is not a SQLite database this server can use"),
            "{sentence}"
        );
    }
}
