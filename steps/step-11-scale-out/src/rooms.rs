//! Who is where: the rooms, the nicknames, and each member's inbox.
//!
//! This is the state every connection shares. It is a small struct behind a
//! `std::sync::Mutex`, the shape mini-redis gives its `Db`: every method
//! locks, does a few map operations, and unlocks, and none of them is
//! `async`, so the lock can never be held across an `.await`. (A task that
//! owns the state and answers messages would work too, but every join would
//! then cost two channel hops and a task switch, for no gain at this size.)
//!
//! Each room has two broadcast channels: one for what must arrive (messages,
//! `joined`, `left`) and one for what may be dropped (`typing`). A frame
//! carries the [`Seat`] of its sender, so a member skips its own frames
//! without a second serialisation or a copy per client. See
//! `notes/09-chat-room.md`.
//!
//! Step 11: with several nodes, this directory still holds only this
//! node's members. What they say that other nodes must hear goes out
//! through a [`Relayed`] channel (to Redis, see `shared/`), and what other
//! nodes' members say comes in through [`Rooms::deliver_to_room`],
//! [`Rooms::deliver_private`] and [`Rooms::notice_from_elsewhere`].

use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicU64, Ordering},
    },
    time::Instant,
};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::{broadcast, mpsc};

use crate::{
    inbox::Inbox,
    names::{Nickname, RoomName},
    protocol::ServerEvent,
    rate_limit::{TokenBucket, Verdict},
};

/// How many `typing` notices a room keeps for members that have not taken
/// them yet. Few: a member that falls behind loses old notices, which is
/// what notices are for.
const TYPING_CAPACITY: usize = 16;

/// How many members of one room may be announced as "started typing" per
/// second (and in one burst), all of them together. Typing notices are the
/// first thing dropped under load: past a few typists a page can only say
/// "several people are typing" anyway, and a room of a thousand typists
/// would otherwise cost each member a thousand notices a second.
pub const TYPING_PER_ROOM_PER_SECOND: u32 = 5;

/// Which connection a frame came from, so its sender can skip it: a number
/// per connection, for the life of the process.
pub type Seat = u64;

/// One frame for a room (or an inbox), who sent it, and the id of the
/// message it carries (0 for a notice, which has none).
#[derive(Clone, Debug)]
pub struct RoomFrame {
    pub from: Seat,
    pub id: i64,
    pub frame: Utf8Bytes,
}

/// The shared directory of rooms and nicknames; cloning gives another handle
/// to the same one.
#[derive(Clone, Debug)]
pub struct Rooms {
    directory: Arc<Mutex<Directory>>,
    /// How many messages a room keeps for members that have not taken them
    /// (`QUEUE_CAPACITY`).
    capacity: usize,
    /// Where what other nodes must hear goes (step 11); `None` on one node.
    relay: Option<mpsc::UnboundedSender<Relayed>>,
}

/// What this node's members do that the other nodes must hear of (step
/// 11): sent to Redis by the node's relay task, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Relayed {
    /// A member started or stopped typing.
    Typing {
        room: String,
        nickname: String,
        typing: bool,
    },
    /// A member's connection ended: its nickname is free again (if it still
    /// held it; a session taken over elsewhere no longer does).
    Left { key: String, seat: Seat },
}

/// What the lock protects.
#[derive(Debug, Default)]
struct Directory {
    /// Every nickname online, by its key (lower case), on the whole server.
    people: HashMap<String, Person>,
    /// Every room with at least one member. A room is created by its first
    /// join and removed with its last member, so nothing grows with the
    /// number of rooms ever used.
    rooms: HashMap<RoomName, Room>,
}

#[derive(Debug)]
struct Person {
    nickname: Nickname,
    seat: Seat,
    room: RoomName,
    inbox: Arc<Inbox>,
}

#[derive(Debug)]
struct Room {
    /// Members by seat: seats are handed out in order, so this is the order
    /// they joined in.
    members: BTreeMap<Seat, Nickname>,
    channels: RoomChannels,
}

/// The two channels of one room.
#[derive(Clone, Debug)]
pub struct RoomChannels {
    messages: broadcast::Sender<RoomFrame>,
    typing: broadcast::Sender<RoomFrame>,
    /// At most [`TYPING_PER_ROOM_PER_SECOND`] "started typing" notices for
    /// the whole room.
    typing_budget: Arc<Mutex<TokenBucket>>,
}

/// A connection's place in a room, and how it speaks there. When it is
/// dropped, the connection leaves the room (its nickname is given up and the
/// others hear `left`): no way out of a connection can forget to.
#[derive(Debug)]
pub struct Membership {
    pub seat: Seat,
    pub nickname: Nickname,
    pub room: RoomName,
    /// Whether this member's last `typing` said `true`; leaving says
    /// `false` for them.
    pub is_typing: bool,
    channels: RoomChannels,
    /// `None` once the membership has been handed over to a new join.
    rooms: Option<Rooms>,
}

/// What a join gives: the room's members, and what the new member hears from
/// the moment of the join on.
#[derive(Debug)]
pub struct JoinedRoom {
    /// Every nickname in the room, this one included, in the order they
    /// joined.
    pub users: Vec<String>,
    /// Messages, `joined` and `left` of this room.
    pub messages: broadcast::Receiver<RoomFrame>,
    /// `typing` notices of this room.
    pub typing: broadcast::Receiver<RoomFrame>,
}

/// Why a join was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum JoinRefused {
    NicknameTaken { nickname: String },
}

/// Whom a private message is for.
#[derive(Clone, Debug)]
pub struct Recipient {
    pub nickname: String,
    pub key: String,
    pub inbox: Arc<Inbox>,
}

/// A private message could not be delivered.
#[derive(Debug, PartialEq, Eq)]
pub enum PrivateRefused {
    NobodyCalled { nickname: String },
    ToYourself,
    NotKeepingUp { nickname: String },
}

impl Rooms {
    /// An empty directory whose rooms keep `capacity` messages each.
    pub fn new(capacity: usize) -> Rooms {
        Rooms {
            directory: Arc::new(Mutex::new(Directory::default())),
            capacity,
            relay: None,
        }
    }

    /// The same, telling `relay` what other nodes must hear (step 11).
    pub fn relayed(capacity: usize, relay: mpsc::UnboundedSender<Relayed>) -> Rooms {
        Rooms {
            relay: Some(relay),
            ..Rooms::new(capacity)
        }
    }

    /// Sends `what` to the other nodes, if there are any.
    fn relay(&self, what: Relayed) {
        if let Some(relay) = &self.relay {
            // Fails only once the relay task has stopped (the server is
            // shutting down); then nobody is left to tell.
            let _ = relay.send(what);
        }
    }

    /// A new seat, for a new connection.
    pub fn next_seat() -> Seat {
        static SEATS: AtomicU64 = AtomicU64::new(1);
        SEATS.fetch_add(1, Ordering::Relaxed)
    }

    /// Joins `room` as `nickname`, leaving the room of `member` (if any) in
    /// the same step; on success `member` is the new membership, and the
    /// answer is every nickname in the room, this one included. On a refusal
    /// nothing changes.
    ///
    /// All of it happens under the one lock, and so do the `joined` and
    /// `left` notices: the list returned and the notices the new member
    /// receives from then on tell one consistent story. A notice sent before
    /// this join is already reflected in the list; one sent after comes
    /// through `messages`, which was subscribed inside the lock.
    ///
    /// `taking_over` is the seat of a connection whose session this join
    /// takes back: the nickname may be taken from it (step 10).
    pub fn join(
        &self,
        seat: Seat,
        nickname: Nickname,
        room: RoomName,
        inbox: &Arc<Inbox>,
        member: &mut Option<Membership>,
        taking_over: Option<Seat>,
    ) -> Result<JoinedRoom, JoinRefused> {
        let mut directory = self.lock();
        let holder = directory.people.get(&nickname.key()).map(|p| p.seat);
        if holder.is_some_and(|holder| holder != seat && Some(holder) != taking_over) {
            let nickname = nickname.as_str().to_owned();
            return Err(JoinRefused::NicknameTaken { nickname });
        }
        if let Some(previous) = member.as_mut() {
            directory.leave(seat, &previous.room, previous.is_typing);
            // The seat has left; the old membership must not leave again.
            previous.rooms = None;
        }
        if let Some(old) = taking_over {
            directory.hand_over(&nickname, old);
        }
        let (joined, channels) = directory.enter(seat, &nickname, &room, self.capacity);
        let person = Person {
            nickname: nickname.clone(),
            seat,
            room: room.clone(),
            inbox: inbox.clone(),
        };
        directory.people.insert(nickname.key(), person);
        drop(directory);
        *member = Some(Membership {
            seat,
            nickname,
            room,
            is_typing: false,
            channels,
            rooms: Some(self.clone()),
        });
        Ok(joined)
    }

    /// Whoever is called `to`, for a private message from `from`: not
    /// `from` itself, and someone whose inbox has room.
    pub fn recipient(&self, from: Seat, to: &str) -> Result<Recipient, PrivateRefused> {
        let directory = self.lock();
        let key = to.trim().to_lowercase();
        let Some(person) = directory.people.get(&key) else {
            return Err(PrivateRefused::NobodyCalled {
                nickname: to.to_owned(),
            });
        };
        if person.seat == from {
            return Err(PrivateRefused::ToYourself);
        }
        let nickname = person.nickname.as_str().to_owned();
        if person.inbox.is_full() {
            return Err(PrivateRefused::NotKeepingUp { nickname });
        }
        Ok(Recipient {
            nickname,
            key,
            inbox: person.inbox.clone(),
        })
    }

    /// How many rooms exist right now (for tests and the log).
    pub fn room_count(&self) -> usize {
        self.lock().rooms.len()
    }

    /// The members of `room`, in the order they joined; empty if it does not
    /// exist.
    pub fn members(&self, room: &str) -> Vec<String> {
        let directory = self.lock();
        let Ok(room) = RoomName::parse(Some(room)) else {
            return Vec::new();
        };
        directory.rooms.get(&room).map_or_else(Vec::new, |room| {
            room.members
                .values()
                .map(|n| n.as_str().to_owned())
                .collect()
        })
    }

    /// A room message read from Redis (step 11), for this node's members
    /// of `room`; `from` is the writer's seat when the writer is on this
    /// node (so it skips its own copy), 0 otherwise. Returns how many
    /// members got it; 0 when none of them is here.
    pub fn deliver_to_room(&self, room: &str, from: Seat, id: i64, frame: Utf8Bytes) -> usize {
        let directory = self.lock();
        match directory.room_named(room) {
            Some(room) => room.channels.send_message(from, id, frame),
            None => 0,
        }
    }

    /// A private message read from Redis (step 11), for the inbox of
    /// whoever holds `key` on this node. Whether it was taken: a full inbox
    /// or nobody here drops it (it stays in Redis for their next join).
    pub fn deliver_private(&self, key: &str, frame: RoomFrame) -> bool {
        let inbox = self.lock().people.get(key).map(|p| p.inbox.clone());
        inbox.is_some_and(|inbox| inbox.push(frame).is_ok())
    }

    /// A `joined`, `left` (`must_arrive`) or `typing` notice about another
    /// node's member (step 11), for this node's members of `room`.
    pub fn notice_from_elsewhere(&self, room: &str, frame: Utf8Bytes, must_arrive: bool) {
        let directory = self.lock();
        if let Some(room) = directory.room_named(room) {
            if must_arrive {
                room.channels.send_message(0, 0, frame);
            } else {
                let _ = room.channels.typing.send(RoomFrame {
                    from: 0,
                    id: 0,
                    frame,
                });
            }
        }
    }

    /// Takes `seat` out of its room without a `left` notice: its session
    /// has been taken over on another node, whose script told the room
    /// already (step 11). Its membership, dropped later, then finds it gone.
    pub fn leave_quietly(&self, seat: Seat) {
        let mut directory = self.lock();
        let Some((key, room)) = directory
            .people
            .iter()
            .find(|(_, person)| person.seat == seat)
            .map(|(key, person)| (key.clone(), person.room.clone()))
        else {
            return;
        };
        directory.people.remove(&key);
        if let Some(room_state) = directory.rooms.get_mut(&room) {
            room_state.members.remove(&seat);
            if room_state.members.is_empty() {
                directory.rooms.remove(&room);
            }
        }
    }

    /// Whether `room` has a member on this node.
    pub fn has_room(&self, room: &str) -> bool {
        self.lock().room_named(room).is_some()
    }

    /// Whether someone on this node holds the nickname `key`.
    pub fn has_person(&self, key: &str) -> bool {
        self.lock().people.contains_key(key)
    }

    /// The nickname key, seat and room of everyone on this node (for a node
    /// that must claim its users again, step 11).
    pub fn everyone(&self) -> Vec<(Nickname, Seat, RoomName)> {
        self.lock()
            .people
            .values()
            .map(|p| (p.nickname.clone(), p.seat, p.room.clone()))
            .collect()
    }

    fn lock(&self) -> MutexGuard<'_, Directory> {
        // A poisoned lock means a thread panicked inside one of these short
        // methods; the maps are still maps, so carry on with them.
        self.directory
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Directory {
    /// The room called `name` (as written on the wire), if it has members.
    fn room_named(&self, name: &str) -> Option<&Room> {
        let name = RoomName::parse(Some(name)).ok()?;
        self.rooms.get(&name)
    }

    /// A session taken back: its old connection `old` leaves now, in the
    /// same step as the new one joins, so the room hears `left` for it
    /// before `joined` for the new one (when the old connection closes, it
    /// finds itself gone already).
    fn hand_over(&mut self, nickname: &Nickname, old: Seat) {
        let room = match self.people.get(&nickname.key()) {
            Some(person) if person.seat == old => person.room.clone(),
            _ => return,
        };
        self.leave(old, &room, false);
    }

    /// Puts `seat` into `room` (made if it does not exist): subscribed
    /// first, then its `joined` told, then the list of members taken — all
    /// under the caller's lock.
    fn enter(
        &mut self,
        seat: Seat,
        nickname: &Nickname,
        room: &RoomName,
        capacity: usize,
    ) -> (JoinedRoom, RoomChannels) {
        let room_state = self.rooms.entry(room.clone()).or_insert_with(|| Room {
            members: BTreeMap::new(),
            channels: RoomChannels::new(capacity),
        });
        let messages = room_state.channels.messages.subscribe();
        let typing = room_state.channels.typing.subscribe();
        let notice = ServerEvent::Joined {
            nickname: nickname.as_str().to_owned(),
            room: room.as_str().to_owned(),
        };
        room_state
            .channels
            .send_message(seat, 0, notice.to_json().into());
        room_state.members.insert(seat, nickname.clone());
        let users = room_state
            .members
            .values()
            .map(|n| n.as_str().to_owned())
            .collect();
        let joined = JoinedRoom {
            users,
            messages,
            typing,
        };
        (joined, room_state.channels.clone())
    }

    /// Takes `seat` out of `room`: a `typing: false` if it was typing, a
    /// `left` notice, its nickname given up, and the room removed if it is
    /// now empty.
    fn leave(&mut self, seat: Seat, room: &RoomName, was_typing: bool) {
        let Some(room_state) = self.rooms.get_mut(room) else {
            return;
        };
        let Some(nickname) = room_state.members.remove(&seat) else {
            return;
        };
        if was_typing {
            room_state.channels.send_typing(seat, &nickname, false);
        }
        let left = ServerEvent::Left {
            nickname: nickname.as_str().to_owned(),
            room: room.as_str().to_owned(),
        };
        room_state
            .channels
            .send_message(seat, 0, left.to_json().into());
        if room_state.members.is_empty() {
            self.rooms.remove(room);
        }
        if self
            .people
            .get(&nickname.key())
            .is_some_and(|p| p.seat == seat)
        {
            self.people.remove(&nickname.key());
        }
    }
}

impl RoomChannels {
    fn new(capacity: usize) -> RoomChannels {
        RoomChannels {
            messages: broadcast::channel(capacity).0,
            typing: broadcast::channel(TYPING_CAPACITY).0,
            typing_budget: Arc::new(Mutex::new(TokenBucket::new(
                TYPING_PER_ROOM_PER_SECOND,
                Instant::now(),
            ))),
        }
    }

    /// Sends a frame that must arrive (message `id`, or 0 for a notice);
    /// returns how many members got it (the sender's own copy, which it
    /// skips, included).
    pub fn send_message(&self, from: Seat, id: i64, frame: Utf8Bytes) -> usize {
        // `send` fails only when nobody is subscribed, and then there is
        // nobody to tell.
        self.messages
            .send(RoomFrame { from, id, frame })
            .unwrap_or(0)
    }

    /// Whether the room's budget of "started typing" notices has one left.
    fn may_announce_typing(&self) -> bool {
        // A poisoned lock only means another thread panicked while counting.
        let mut budget = self
            .typing_budget
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        matches!(budget.check(Instant::now()), Verdict::Allow)
    }

    fn send_typing(&self, from: Seat, nickname: &Nickname, typing: bool) {
        let notice = ServerEvent::Typing {
            nickname: nickname.as_str().to_owned(),
            typing,
        };
        let _ = self.typing.send(RoomFrame {
            from,
            id: 0,
            frame: notice.to_json().into(),
        });
    }
}

impl Membership {
    /// The room's channels, for a message to be sent into once it is
    /// stored.
    pub fn channels(&self) -> RoomChannels {
        self.channels.clone()
    }

    /// Tells everyone else in the room whether this member is typing.
    ///
    /// "Started" is said only while the room's budget lasts
    /// ([`TYPING_PER_ROOM_PER_SECOND`]), so a room of a thousand typists
    /// does not spend its members' time on a million notices a second;
    /// "stopped" is said exactly when "started" was, so no indicator hangs.
    pub fn say_typing(&mut self, typing: bool) {
        if typing == self.is_typing || (typing && !self.channels.may_announce_typing()) {
            return;
        }
        self.is_typing = typing;
        self.channels.send_typing(self.seat, &self.nickname, typing);
        if let Some(rooms) = &self.rooms {
            rooms.relay(Relayed::Typing {
                room: self.room.as_str().to_owned(),
                nickname: self.nickname.as_str().to_owned(),
                typing,
            });
        }
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        if let Some(rooms) = self.rooms.take() {
            rooms.lock().leave(self.seat, &self.room, self.is_typing);
            if self.is_typing {
                rooms.relay(Relayed::Typing {
                    room: self.room.as_str().to_owned(),
                    nickname: self.nickname.as_str().to_owned(),
                    typing: false,
                });
            }
            rooms.relay(Relayed::Left {
                key: self.nickname.key(),
                seat: self.seat,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn join(rooms: &Rooms, nickname: &str, room: &str) -> (Membership, JoinedRoom) {
        let nickname = Nickname::parse(nickname).expect("a valid nickname");
        let room = RoomName::parse(Some(room)).expect("a valid room");
        let mut member = None;
        let joined = rooms
            .join(
                Rooms::next_seat(),
                nickname,
                room,
                &Inbox::new(8),
                &mut member,
                None,
            )
            .expect("the join is accepted");
        (member.expect("a membership"), joined)
    }

    /// Rooms exist while someone is in them, and no longer.
    #[test]
    fn a_room_lives_as_long_as_its_members() {
        let rooms = Rooms::new(16);
        let (alice, joined) = join(&rooms, "Alice", "general");
        assert_eq!(joined.users, ["Alice"]);
        let (bob, joined) = join(&rooms, "bob", "general");
        assert_eq!(joined.users, ["Alice", "bob"]);
        assert_eq!(rooms.room_count(), 1);
        drop(alice);
        assert_eq!(rooms.members("general"), ["bob"]);
        drop(bob);
        assert_eq!(rooms.room_count(), 0);
    }

    /// A nickname is taken on the whole server, whatever its case, until
    /// its holder leaves.
    #[test]
    fn a_nickname_is_unique_ignoring_case() {
        let rooms = Rooms::new(16);
        let (alice, _) = join(&rooms, "Alice", "general");
        let mut member = None;
        let taken = rooms.join(
            Rooms::next_seat(),
            Nickname::parse("ALICE").expect("valid"),
            RoomName::parse(Some("random")).expect("valid"),
            &Inbox::new(8),
            &mut member,
            None,
        );
        assert!(matches!(taken, Err(JoinRefused::NicknameTaken { .. })));
        assert!(member.is_none());
        drop(alice);
        join(&rooms, "ALICE", "random");
    }

    /// Moving to another room is one step: the old room hears `left`, the
    /// new one `joined`, and the nickname is never free in between.
    #[test]
    fn moving_rooms_keeps_the_nickname() {
        let rooms = Rooms::new(16);
        let (_carol, mut carol_hears) = join(&rooms, "carol", "random");
        let (alice, _) = join(&rooms, "alice", "general");
        let (seat, nickname) = (alice.seat, alice.nickname.clone());
        let mut member = Some(alice);
        let moved = rooms
            .join(
                seat,
                nickname,
                RoomName::parse(Some("random")).expect("valid"),
                &Inbox::new(8),
                &mut member,
                None,
            )
            .expect("the move is accepted");
        assert_eq!(moved.users, ["carol", "alice"]);
        assert_eq!(
            rooms.room_count(),
            1,
            "general is gone with its last member"
        );
        // Carol's feed starts with her own `joined` (which her connection
        // skips), then Alice's.
        let _own = carol_hears.messages.try_recv().expect("her own notice");
        let joined = carol_hears.messages.try_recv().expect("a notice");
        assert!(joined.frame.as_str().contains(r#""event":"joined""#));
        assert_eq!(joined.from, seat);
        drop(member);
        assert_eq!(rooms.members("random"), ["carol"]);
    }
}
