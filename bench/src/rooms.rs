//! Who hears whom in a run: everyone (steps 07/08 and socket.io rebroadcast
//! every message to every client, the sender included), or only the others
//! in the sender's room (step 09, `--protocol rooms`).
//!
//! In step 09's protocol every client first `join`s a room under a nickname
//! of its own; [`RoomLayout`] says which ones. Clients are dealt out over the
//! rooms like cards (client `i` goes to room `i % rooms`), so the rooms differ
//! in size by one at most, and the senders (the first K clients) are dealt
//! out the same way: with at least as many senders as rooms, every room has
//! one.
//!
//! What the run needs from this is how many deliveries each message should
//! make ([`Audience::receivers_of`]): that is what "lost" is counted against,
//! and what the report's "deliveries per message" column shows.

use crate::protocol::Protocol;
use crate::two_nodes::Split;

/// Which clients receive a message, for counting what should arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Every connected client, its sender included (one hub, one broadcast).
    Everyone { clients: u64 },
    /// The other members of the sender's room (step 09: never the sender).
    Rooms(RoomLayout),
}

impl Audience {
    /// The audience of a run of `clients` clients in `protocol`: rooms for
    /// step 09's, everyone for the others.
    pub fn for_run(protocol: Protocol, clients: u64, rooms: u32) -> Audience {
        match protocol {
            Protocol::Rooms => Audience::Rooms(RoomLayout::new(
                u32::try_from(clients).unwrap_or(u32::MAX),
                rooms,
            )),
            Protocol::Realtime | Protocol::SocketIo => Audience::Everyone { clients },
        }
    }

    /// How many deliveries one message makes on average when the first
    /// `senders` clients send equally often; `None` without senders (an idle
    /// run). The report shows this for runs that sent nothing measured.
    pub fn average_receivers(&self, senders: u64) -> Option<f64> {
        let senders = u32::try_from(senders).unwrap_or(u32::MAX);
        let total: u64 = (0..senders).map(|sender| self.receivers_of(sender)).sum();
        (senders > 0).then(|| total as f64 / f64::from(senders))
    }

    /// How many deliveries one message of client `sender` should make.
    pub fn receivers_of(&self, sender: u32) -> u64 {
        match self {
            Audience::Everyone { clients } => *clients,
            Audience::Rooms(layout) => layout.members(layout.room_of(sender)).saturating_sub(1),
        }
    }

    /// Of [`Audience::receivers_of`], how many are clients of the far node
    /// when the clients are split as `split` says (the far ones are the last
    /// `split.far`; the sender is never one of them).
    pub fn far_receivers_of(&self, sender: u32, split: Split) -> u64 {
        match self {
            Audience::Everyone { clients } => (*clients).min(u64::from(split.far)),
            Audience::Rooms(layout) => {
                let room = layout.room_of(sender);
                layout.members(room) - layout.members_below(room, split.near)
            }
        }
    }
}

/// How `clients` connected clients are spread over `rooms` rooms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomLayout {
    clients: u32,
    rooms: u32,
}

impl RoomLayout {
    /// A layout of `clients` over `rooms` rooms; `rooms` of 0 counts as 1,
    /// so no client is ever without a room.
    pub fn new(clients: u32, rooms: u32) -> RoomLayout {
        RoomLayout {
            clients,
            rooms: rooms.max(1),
        }
    }

    /// The room of client `index`, from 0.
    pub fn room_of(&self, index: u32) -> u32 {
        index % self.rooms
    }

    /// How many clients are in room `room`: the first `clients % rooms`
    /// rooms get one more than the others.
    pub fn members(&self, room: u32) -> u64 {
        let even_share = u64::from(self.clients / self.rooms);
        even_share + u64::from(room < self.clients % self.rooms)
    }

    /// How many of the clients `0..end` are in room `room`.
    pub fn members_below(&self, room: u32, end: u32) -> u64 {
        let end = end.min(self.clients);
        u64::from(end / self.rooms) + u64::from(room < end % self.rooms)
    }

    /// The name client `index` joins: `lg-<room>`, which fits step 09's rule
    /// for room names (1 to 32 of `a-z`, `0-9` and `-`).
    pub fn room_name_of(&self, index: u32) -> String {
        format!("lg-{}", self.room_of(index))
    }
}

/// Client `index`'s nickname, `lg<index>`: unique on the server, as step 09
/// requires, and short, because every join acknowledgement lists the
/// nicknames of everyone in the room (a 1,000-client room's last ack lists
/// all 1,000).
pub fn nickname(index: u32) -> String {
    format!("lg{index}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 1,000 clients in 100 rooms: ten in each, so nine deliveries per message.
    #[test]
    fn spreads_clients_evenly() {
        let layout = RoomLayout::new(1000, 100);

        let sizes: Vec<u64> = (0..100).map(|room| layout.members(room)).collect();

        assert!(sizes.iter().all(|&size| size == 10), "{sizes:?}");
        assert_eq!(Audience::Rooms(layout).receivers_of(57), 9);
    }

    /// When the clients do not divide evenly, rooms differ by one at most,
    /// and every client is counted exactly once.
    #[test]
    fn uneven_rooms_differ_by_one_at_most() {
        let layout = RoomLayout::new(23, 5);

        let sizes: Vec<u64> = (0..5).map(|room| layout.members(room)).collect();
        let counted = (0..23).filter(|&index| layout.room_of(index) == 2).count();

        assert_eq!(sizes, [5, 5, 5, 4, 4]);
        assert_eq!(sizes.iter().sum::<u64>(), 23);
        assert_eq!(counted as u64, layout.members(2));
    }

    /// Senders are the first clients, so ten senders over ten rooms means
    /// one sender in every room.
    #[test]
    fn the_first_clients_land_in_different_rooms() {
        let layout = RoomLayout::new(1000, 10);

        let mut rooms: Vec<u32> = (0..10).map(|sender| layout.room_of(sender)).collect();
        rooms.sort_unstable();
        rooms.dedup();

        assert_eq!(rooms.len(), 10);
    }

    /// One room is the whole chat: everyone but the sender hears it, one
    /// delivery fewer than a server that echoes to the sender.
    #[test]
    fn one_room_reaches_everyone_but_the_sender() {
        assert_eq!(
            Audience::Rooms(RoomLayout::new(1000, 1)).receivers_of(3),
            999
        );
        assert_eq!(Audience::Everyone { clients: 1000 }.receivers_of(3), 1000);
    }

    /// Split over two nodes, a message reaches the far half of its room:
    /// everyone far in one room, the far members of the sender's room
    /// otherwise, counted client by client.
    #[test]
    fn far_receivers_are_the_far_members_of_the_room() {
        let split = Split::halves(23);
        let one_room = Audience::Rooms(RoomLayout::new(23, 1));
        let layout = RoomLayout::new(23, 5);
        let rooms = Audience::Rooms(layout);

        let counted = |sender: u32| {
            (split.near..23)
                .filter(|&index| layout.room_of(index) == layout.room_of(sender))
                .count() as u64
        };

        assert_eq!(one_room.far_receivers_of(0, split), 11);
        assert_eq!(one_room.receivers_of(0), 22);
        for sender in 0..split.near {
            assert_eq!(
                rooms.far_receivers_of(sender, split),
                counted(sender),
                "{sender}"
            );
        }
        assert_eq!(
            Audience::Everyone { clients: 100 }.far_receivers_of(3, Split::halves(100)),
            50
        );
        assert_eq!(
            Audience::Everyone { clients: 100 }.far_receivers_of(3, Split::single(100)),
            0
        );
    }

    /// Names follow step 09's rules: nicknames of at most 24 characters,
    /// rooms of 1 to 32 lowercase letters, digits and `-`.
    #[test]
    fn names_fit_step_09s_rules() {
        let layout = RoomLayout::new(u32::MAX, u32::MAX);
        let room = layout.room_name_of(u32::MAX - 1);
        let longest_nickname = nickname(u32::MAX);

        assert!(longest_nickname.chars().count() <= 24, "{longest_nickname}");
        assert!((1..=32).contains(&room.len()), "{room}");
        assert!(
            room.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "{room}"
        );
    }
}
