//! The Lua scripts that change the chat's shared state in Redis.
//!
//! Redis runs a script as one step: no other command, from any node, runs
//! in the middle of it. That is what makes "is this nickname free? then it
//! is mine" or "have I stored this `client_offset` before? if not, store
//! the message" safe with many nodes: two nodes asking at once are simply
//! answered one after the other. (`MULTI`/`EXEC` cannot do it: a
//! transaction cannot look at a value and decide what to write.)
//!
//! The keys, all starting with `chat:`:
//!
//! ```text
//! chat:next_id              the counter every message id comes from
//! chat:room:<room>          a room's messages: a stream, entry id "<id>-0"
//! chat:private:<key>        private messages to one nickname: a stream
//! chat:offset:<key>:<off>   "<id> <at>" of a message already stored (a day)
//! chat:nick:<key>           who holds a nickname: node, seat, session, room
//! chat:users:<room>         who is in a room, in the order they joined (zset)
//! chat:session:<secret>     the nickname a session may take back
//! chat:node:<node>          "this node is alive" (expires: NODE_LIVENESS_MS)
//! chat:nodes                every node that has users (a set)
//! chat:node-users:<node>    the nicknames held on that node (a set)
//! chat:wake:<node>          pokes the node's blocked reader (see reader.rs)
//! ```
//!
//! Presence notices (`joined`, `left`) are published on the channel
//! `chat:notices` by the same script that changes the lists, so the change
//! and its notice cannot be separated. Each notice names the node whose own
//! members were already told (`skip`), so they do not hear it twice.
//!
//! The scripts build key names from their arguments instead of taking
//! them as `KEYS`: fine on one Redis, and the first thing to change for a
//! Redis Cluster (see `notes/11-scale-out.md`).

use std::sync::LazyLock;

use redis::Script;

/// Stores a message once: answers `{"<id> <at>", 0}` for a new one, or
/// `{"<id> <at>", 1}` with the original's id for a `client_offset` seen
/// before (which is then not stored or delivered again).
///
/// ARGV: stream, offset key (`""`: none), retention, at, offset lifetime
/// (seconds), then the entry's field/value pairs.
pub static SAVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local offset_key = ARGV[2]
if offset_key ~= '' then
  local seen = redis.call('GET', offset_key)
  if seen then return {seen, 1} end
end
local id = redis.call('INCR', 'chat:next_id')
local entry = {'XADD', ARGV[1], 'MAXLEN', '~', ARGV[3], id .. '-0'}
for i = 6, #ARGV do entry[#entry + 1] = ARGV[i] end
redis.call(unpack(entry))
local saved = id .. ' ' .. ARGV[4]
if offset_key ~= '' then redis.call('SET', offset_key, saved, 'EX', ARGV[5]) end
return {saved, 0}
",
    )
});

/// The part of every script that takes a nickname's holder out of its
/// room, and tells the room (`skip`: the node already told).
const TAKE_OUT: &str = r"
local function take_out(key, holder, skip, recovery_ms)
  -- holder: {node, seat, session, room, nickname}
  redis.call('DEL', 'chat:nick:' .. key)
  redis.call('SREM', 'chat:node-users:' .. holder[1], key)
  redis.call('ZREM', 'chat:users:' .. holder[4], holder[5])
  if holder[3] and recovery_ms then
    redis.call('PEXPIRE', 'chat:session:' .. holder[3], recovery_ms)
  end
  redis.call('PUBLISH', 'chat:notices', cjson.encode({
    kind = 'left', skip = skip, room = holder[4], nickname = holder[5],
    node = holder[1], seat = holder[2]}))
end
local function holder_of(key)
  return redis.call('HMGET', 'chat:nick:' .. key, 'node', 'seat', 'session', 'room', 'nickname')
end
";

/// Claims a nickname and a place in a room for a connection, leaving its
/// previous room (or name) in the same step. Answers `{"taken"}`, or
/// `{"ok", recovered, session, holder node, holder seat, users...}`.
///
/// ARGV: node, seat, nickname, key, room, own session (`""` on a first
/// join), brought session (`""`: none), fresh session, previous key
/// (`""`: none), liveness (ms: a node that claims is alive, even before
/// its first beat), and `1` if nobody on this node holds the nickname (so
/// a claim of this node's is a connection that has just ended, whose
/// LEAVE is still on its way), recovery (ms: how long a session taken
/// out here may still be taken back).
pub static JOIN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{TAKE_OUT}{}",
        r"
local node, seat, nickname, key, room = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local own, brought, fresh, previous = ARGV[6], ARGV[7], ARGV[8], ARGV[9]
redis.call('SET', 'chat:node:' .. node, '1', 'PX', ARGV[10], 'NX')
local holder = holder_of(key)
local mine = holder[1] == node and holder[2] == seat
local session, recovered = fresh, 0
if own ~= '' then
  session = own
elseif brought ~= '' and redis.call('GET', 'chat:session:' .. brought) == key then
  session, recovered = brought, 1
end
local taken_from = {'', ''}
if holder[1] and not mine then
  local alive = redis.call('EXISTS', 'chat:node:' .. holder[1]) == 1
  local ended_here = holder[1] == node and ARGV[11] == '1'
  if alive and not ended_here and not (recovered == 1 and holder[3] == session) then
    return {'taken'}
  end
  -- Its own node told its members already when it is this node.
  local skip = ''
  if holder[1] == node then skip = node end
  take_out(key, holder, skip, ARGV[12])
  if alive then taken_from = {holder[1], holder[2]} end
end
if previous ~= '' then
  local before = holder_of(previous)
  if before[1] == node and before[2] == seat then take_out(previous, before, node, ARGV[12]) end
end
redis.call('HSET', 'chat:nick:' .. key, 'node', node, 'seat', seat, 'session', session,
  'room', room, 'nickname', nickname)
redis.call('SADD', 'chat:nodes', node)
redis.call('SADD', 'chat:node-users:' .. node, key)
redis.call('SET', 'chat:session:' .. session, key)
redis.call('ZADD', 'chat:users:' .. room, redis.call('INCR', 'chat:join_seq'), nickname)
redis.call('PUBLISH', 'chat:notices', cjson.encode({
  kind = 'joined', skip = node, room = room, nickname = nickname, node = node, seat = seat}))
if taken_from[1] ~= '' and taken_from[1] ~= node then
  redis.call('PUBLISH', 'chat:notices', cjson.encode({
    kind = 'taken_over', skip = '', node = taken_from[1], seat = taken_from[2], session = session}))
end
local answer = {'ok', recovered, session, taken_from[1], taken_from[2]}
for _, user in ipairs(redis.call('ZRANGE', 'chat:users:' .. room, 0, -1)) do
  answer[#answer + 1] = user
end
return answer
"
    ))
});

/// A connection has ended: gives up its nickname, if it still holds it,
/// and keeps its session for the recovery period. Answers 1 if it did.
///
/// ARGV: node, seat, key, recovery (ms).
pub static LEAVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{TAKE_OUT}{}",
        r"
local holder = holder_of(ARGV[3])
if holder[1] ~= ARGV[1] or holder[2] ~= ARGV[2] then return 0 end
take_out(ARGV[3], holder, ARGV[1], ARGV[4])
return 1
"
    ))
});

/// Says this node is alive for the next `liveness` ms. Answers 1 if it was
/// still counted as alive, 0 if it had expired (and may have been swept).
///
/// ARGV: node, liveness (ms).
pub static ALIVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local was = redis.call('EXISTS', 'chat:node:' .. ARGV[1])
redis.call('SET', 'chat:node:' .. ARGV[1], '1', 'PX', ARGV[2])
return was
",
    )
});

/// Claims again, after an outage, a nickname this node's connection still
/// uses: unless someone on a live node took it meanwhile. Answers 1 if it
/// is this connection's again (the room hears `joined` if it had been
/// swept), 0 if not.
///
/// ARGV: node, seat, nickname, key, room, session.
pub static RECLAIM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local node, seat, nickname, key, room, session = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local holder = redis.call('HMGET', 'chat:nick:' .. key, 'node', 'seat')
if holder[1] == node and holder[2] == seat then return 1 end
if holder[1] and redis.call('EXISTS', 'chat:node:' .. holder[1]) == 1 then return 0 end
redis.call('HSET', 'chat:nick:' .. key, 'node', node, 'seat', seat, 'session', session,
  'room', room, 'nickname', nickname)
redis.call('SADD', 'chat:nodes', node)
redis.call('SADD', 'chat:node-users:' .. node, key)
if session ~= '' then redis.call('SET', 'chat:session:' .. session, key) end
redis.call('ZADD', 'chat:users:' .. room, redis.call('INCR', 'chat:join_seq'), nickname)
redis.call('PUBLISH', 'chat:notices', cjson.encode({
  kind = 'joined', skip = node, room = room, nickname = nickname, node = node, seat = seat}))
return 1
",
    )
});

/// Takes every user of every node that stopped saying it is alive out of
/// its room (one `left` each). Any node may run it; the first to do so
/// does the work. Answers how many users left.
///
/// ARGV: recovery (ms).
pub static SWEEP: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{TAKE_OUT}{}",
        r"
local swept = 0
for _, node in ipairs(redis.call('SMEMBERS', 'chat:nodes')) do
  if redis.call('EXISTS', 'chat:node:' .. node) == 0 then
    for _, key in ipairs(redis.call('SMEMBERS', 'chat:node-users:' .. node)) do
      local holder = holder_of(key)
      if holder[1] == node then
        take_out(key, holder, '', ARGV[1])
        swept = swept + 1
      end
    end
    redis.call('DEL', 'chat:node-users:' .. node)
    redis.call('SREM', 'chat:nodes', node)
  end
end
return swept
"
    ))
});

/// Who holds a nickname, if its node is alive: answers the nickname as
/// they wrote it, or nil.
///
/// ARGV: key.
pub static WHO: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local holder = redis.call('HMGET', 'chat:nick:' .. ARGV[1], 'node', 'nickname')
if not holder[1] or redis.call('EXISTS', 'chat:node:' .. holder[1]) == 0 then return false end
return holder[2]
",
    )
});

/// A stream's entries after an id, at most `cap` of them (the newest), and
/// how many older ones were left out: `{skipped, {entry...}}`. Bounded by the
/// stream's length, which `MAXLEN` keeps to the retention.
///
/// ARGV: stream, after (a message id), cap.
pub static AFTER: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local all = redis.call('XRANGE', ARGV[1], '(' .. ARGV[2] .. '-0', '+')
local cap = tonumber(ARGV[3])
local skipped = math.max(#all - cap, 0)
local kept = {}
for i = skipped + 1, #all do kept[#kept + 1] = all[i] end
return {skipped, kept}
",
    )
});
