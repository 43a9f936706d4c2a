//! Replay state shared by several gateways in Redis: one atomic check-and-set per frame, one
//! script call per batch.
//!
//! Keys (one hash slot per group and epoch, so a Redis Cluster keeps them together):
//! - `meshseal:{G.E}:meta`: hash with `token` (random, chosen by the gateway that created the
//!   state), `provisioned` (1 if created with verified state for every member) and `layout`
//!   (2: the windows below);
//! - `meshseal:{G.E}:w`: hash with one field per sender S (16 bytes, see [`SCRIPT`]): the
//!   highest number accepted from S by any gateway, and a ring of [`WINDOW`] bits as two 32-bit
//!   halves, bit `n mod WINDOW` set when number `n` in `(H - WINDOW, H]` was accepted.
//!
//! A gateway verifies tags locally first (only authentic frames reach Redis), then sends the
//! batch's `(sender, number)` pairs to [`SCRIPT`], which Redis runs atomically: it reads the
//! windows of the batch's senders with one `HMGET`, judges each pair in order (it refuses a
//! number already set or older than the window and, under the strict order policy, any number
//! below the highest; it sets the others) and writes the changed windows back with one `HSET`.
//! Two gateways that receive the same frame therefore never both deliver it: whichever script
//! runs first sets the bit, the other sees it. The script first checks the `token`: if Redis
//! lost its data (restarted without persistence), every frame is refused until an operator
//! acts, instead of an empty state accepting replays.
//!
//! Key epochs: each epoch has its own keys (`{G.E}`), and a frame is checked in the keys of
//! the epoch it was sealed under, so through a grace period a batch may touch two epochs (one
//! script call each). A gateway attaches to an epoch's keys when it enters the epoch (after
//! its rekey was made durable) or when the first frame of it arrives; whichever gateway comes
//! first creates them, the others read the same token. At start a gateway restores each
//! member's window from the current epoch's keys, or else from the previous epoch's while its
//! grace period lasts.
//!
//! Layout 1 (a key per sender for the highest number and one for the bitmap, four Redis calls
//! per frame) is migrated once, atomically, by [`MIGRATE`] when a gateway of this version
//! attaches; gateways of the older version must be stopped first.

use std::time::Duration;

use meshseal::replay::ReplayWindow;
use meshseal::Error;
use rand::RngCore;

use super::{window_below, Candidate, ReplayBackend};
use crate::windows::Windows;
use crate::{GatewayError, GroupSetup};

/// Numbers each shared window judges below the highest (inclusive).
pub const WINDOW: u64 = 64;

/// Fields per `HMGET`/`HSET` call: Lua's `unpack` is limited to about 8000 values.
const CHUNK: usize = 1000;

/// Check-and-set of a batch: KEYS = meta, windows; ARGV = token, strict order (1 or 0), and
/// the frames packed as 12 bytes each (sender as a little-endian u32, number as a
/// little-endian f64, exact below 2^53). Returns per frame 0 (accepted), 1 (replay), 2 (too
/// old), 3 (out of order: below the highest under strict order). A window is stored as 16
/// bytes: the highest number (f64) and the ring's two halves (i32), all little-endian.
pub const SCRIPT: &str = r#"
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then
  return redis.error_reply('MESHSEAL_STATE_LOST replay state missing or replaced')
end
local W = 64
local strict = ARGV[2] == '1'
local blob = ARGV[3]
local n = #blob / 12
local senders, seqs = {}, {}
local seen, distinct = {}, {}
local pos = 1
for i = 1, n do
  local s, q
  s, q, pos = struct.unpack('<I4d', blob, pos)
  senders[i], seqs[i] = s, q
  if not seen[s] then seen[s] = true; distinct[#distinct + 1] = s end
end
local state = {}
for c = 1, #distinct, 1000 do
  local part = {}
  for k = c, math.min(c + 999, #distinct) do part[#part + 1] = distinct[k] end
  local vals = redis.call('HMGET', KEYS[2], unpack(part))
  for k, v in ipairs(part) do
    local raw = vals[k]
    if raw and #raw == 16 then
      local h, lo, hi = struct.unpack('<dii', raw)
      state[v] = {h, lo, hi}
    elseif raw then
      return redis.error_reply('MESHSEAL_STATE_BAD malformed window for sender ' .. v)
    end
  end
end
local function bitof(q)
  local b = q % W
  if b < 32 then return 2, bit.lshift(1, b) end
  return 3, bit.lshift(1, b - 32)
end
local dirty, out = {}, {}
for i = 1, n do
  local s, seq = senders[i], seqs[i]
  local st = state[s]
  local r = 0
  if st == nil then
    st = {seq, 0, 0}
    local w, m = bitof(seq)
    st[w] = m
    state[s] = st
    dirty[s] = true
  elseif seq > st[1] then
    if seq - st[1] >= W then
      st[2], st[3] = 0, 0
    else
      for q = st[1] + 1, seq - 1 do
        local w, m = bitof(q)
        st[w] = bit.band(st[w], bit.bnot(m))
      end
    end
    local w, m = bitof(seq)
    st[w] = bit.bor(st[w], m)
    st[1] = seq
    dirty[s] = true
  elseif st[1] - seq >= W then
    r = 2
  else
    local w, m = bitof(seq)
    if bit.band(st[w], m) ~= 0 then
      r = 1
    elseif strict then
      r = 3
    else
      st[w] = bit.bor(st[w], m)
      dirty[s] = true
    end
  end
  out[i] = r
end
local args = {}
for _, s in ipairs(distinct) do
  if dirty[s] then
    local st = state[s]
    args[#args + 1] = s
    args[#args + 1] = struct.pack('<dii', st[1], st[2], st[3])
    if #args >= 2000 then redis.call('HSET', KEYS[2], unpack(args)); args = {} end
  end
end
if #args > 0 then redis.call('HSET', KEYS[2], unpack(args)) end
return out
"#;

/// Creates the meta hash unless present; returns token, provisioned flag, layout, and 1 if
/// created.
const INIT: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {redis.call('HGET', KEYS[1], 'token'), redis.call('HGET', KEYS[1], 'provisioned'),
          redis.call('HGET', KEYS[1], 'layout') or '1', 0}
end
redis.call('HSET', KEYS[1], 'token', ARGV[1], 'provisioned', ARGV[2], 'layout', '2')
return {ARGV[1], ARGV[2], '2', 1}
"#;

/// Moves layout 1 into layout 2, atomically and once: KEYS = meta, windows; ARGV = the key
/// prefix, then the members. For each member with a highest number, its bitmap string (bit 0
/// is the first byte's top bit, as `SETBIT` numbers them) becomes the two halves; the layout-1
/// keys are deleted and `layout` set to 2.
pub const MIGRATE: &str = r#"
if redis.call('HGET', KEYS[1], 'layout') == '2' then return 0 end
local p = ARGV[1]
local moved = 0
for i = 2, #ARGV do
  local m = ARGV[i]
  local h = redis.call('GET', p .. ':h:' .. m)
  if h then
    local lo, hi = 0, 0
    for n = 0, 63 do
      if redis.call('GETBIT', p .. ':b:' .. m, n) == 1 then
        if n < 32 then lo = bit.bor(lo, bit.lshift(1, n)) else hi = bit.bor(hi, bit.lshift(1, n - 32)) end
      end
    end
    redis.call('HSET', KEYS[2], m, struct.pack('<dii', tonumber(h), lo, hi))
    redis.call('DEL', p .. ':h:' .. m, p .. ':b:' .. m)
    moved = moved + 1
  end
end
redis.call('HSET', KEYS[1], 'layout', '2')
return moved
"#;

const TIMEOUT: Duration = Duration::from_secs(2);

fn rerr(e: redis::RedisError) -> GatewayError {
    GatewayError::Redis(e.to_string())
}

/// The keys of one epoch's shared state.
#[derive(Debug)]
struct EpochKeys {
    epoch: u16,
    meta: String,
    windows: String,
    token: String,
}

/// The Redis backend.
pub struct Shared {
    client: redis::Client,
    conn: Option<redis::Connection>,
    script: redis::Script,
    group_id: u32,
    provisioned: bool,
    strict: bool,
    /// The epochs attached to (the current one and, through a grace period, the previous).
    epochs: Vec<EpochKeys>,
    /// The frames of a batch, packed for [`SCRIPT`] (reused).
    blob: Vec<u8>,
    /// Positions in the batch of the frames packed (reused).
    picked: Vec<usize>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("group_id", &self.group_id)
            .field("epochs", &self.epochs)
            .finish_non_exhaustive()
    }
}

fn connect(client: &redis::Client) -> Result<redis::Connection, redis::RedisError> {
    let conn = client.get_connection_with_timeout(TIMEOUT)?;
    conn.set_read_timeout(Some(TIMEOUT))?;
    conn.set_write_timeout(Some(TIMEOUT))?;
    Ok(conn)
}

fn prefix(group_id: u32, epoch: u16) -> String {
    format!("meshseal:{{{group_id}.{epoch}}}")
}

/// Attaches to (or creates) the keys of `epoch`; returns them and whether this call created
/// them. Layout 1 is migrated here.
fn attach(
    conn: &mut redis::Connection,
    group_id: u32,
    epoch: u16,
    provision: bool,
    members: &[u32],
) -> Result<(EpochKeys, bool, bool), GatewayError> {
    let prefix = prefix(group_id, epoch);
    let meta = format!("{prefix}:meta");
    let mut fresh = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut fresh);
    let (token, provisioned, layout, created): (String, String, String, i64) =
        redis::Script::new(INIT)
            .key(&meta)
            .arg(hex::encode(fresh))
            .arg(if provision { "1" } else { "0" })
            .invoke(conn)
            .map_err(rerr)?;
    let windows = format!("{prefix}:w");
    if layout != "2" {
        let moved: i64 = redis::Script::new(MIGRATE)
            .key(&meta)
            .key(&windows)
            .arg(&prefix)
            .arg(members)
            .invoke(conn)
            .map_err(rerr)?;
        tracing::warn!(
            senders = moved,
            "redis replay state moved to layout 2 (one hash)"
        );
    }
    let keys = EpochKeys {
        epoch,
        meta,
        windows,
        token,
    };
    Ok((keys, provisioned == "1", created == 1))
}

/// The highest number of each of `members` found in `hash`.
fn highest_numbers(
    conn: &mut redis::Connection,
    hash: &str,
    members: &[u32],
) -> Result<Vec<(u32, u64)>, GatewayError> {
    let mut found = Vec::new();
    for chunk in members.chunks(CHUNK) {
        let values: Vec<Option<Vec<u8>>> = redis::cmd("HMGET")
            .arg(hash)
            .arg(chunk)
            .query(conn)
            .map_err(rerr)?;
        for (&m, v) in chunk.iter().zip(values) {
            let Some(v) = v else { continue };
            let h = v
                .get(..8)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(f64::from_le_bytes)
                .filter(|h| v.len() == 16 && h.fract() == 0.0 && *h >= 0.0)
                .ok_or_else(|| {
                    GatewayError::Config(format!(
                        "redis window of sender {m} is malformed ({} bytes)",
                        v.len()
                    ))
                })?;
            found.push((m, h as u64));
        }
    }
    Ok(found)
}

impl Shared {
    /// Connects to `url` (`redis://host:port`) and restores the windows of `setup`'s group:
    /// each member's from the current epoch, or else from the previous epoch
    /// (`setup.previous_epoch`, through its grace period). `provision` creates verified state
    /// for every member and is allowed only when Redis holds no state for the current epoch
    /// yet (at group creation).
    pub fn open(
        url: &str,
        setup: &GroupSetup,
        provision: bool,
    ) -> Result<(Shared, Windows), GatewayError> {
        let client = redis::Client::open(url).map_err(rerr)?;
        let mut conn = connect(&client).map_err(rerr)?;
        let (current, provisioned, created) = attach(
            &mut conn,
            setup.group_id,
            setup.epoch,
            provision,
            &setup.members,
        )?;
        if provision && !created {
            return Err(GatewayError::Config(format!(
                "redis already holds replay state for group {} epoch {}; provisioning is only for new state",
                setup.group_id, setup.epoch
            )));
        }
        let mut windows = Windows(Default::default(), setup.epoch);
        for (m, h) in highest_numbers(&mut conn, &current.windows, &setup.members)? {
            windows
                .0
                .insert(m, window_below(h, provisioned)?.in_epoch(setup.epoch));
        }
        let mut epochs = vec![current];
        if let Some(p) = setup.previous_epoch {
            let (previous, _, _) =
                attach(&mut conn, setup.group_id, p, provisioned, &setup.members)?;
            let missing: Vec<u32> = setup
                .members
                .iter()
                .copied()
                .filter(|m| !windows.0.contains_key(m))
                .collect();
            for (m, h) in highest_numbers(&mut conn, &previous.windows, &missing)? {
                windows
                    .0
                    .insert(m, window_below(h, provisioned)?.in_epoch(p));
            }
            epochs.push(previous);
        }
        if provisioned {
            for &m in &setup.members {
                windows
                    .0
                    .entry(m)
                    .or_insert_with(|| ReplayWindow::provisioned().in_epoch(setup.epoch));
            }
        }
        tracing::info!(
            group = setup.group_id,
            epoch = setup.epoch,
            provisioned,
            created,
            "redis replay state attached"
        );
        let s = Shared {
            client,
            conn: Some(conn),
            script: redis::Script::new(SCRIPT),
            group_id: setup.group_id,
            provisioned,
            strict: setup.order == meshseal::OrderPolicy::Strict,
            epochs,
            blob: Vec::new(),
            picked: Vec::new(),
        };
        Ok((s, windows))
    }

    fn conn(&mut self) -> Result<&mut redis::Connection, redis::RedisError> {
        if self.conn.is_none() {
            self.conn = Some(connect(&self.client)?);
        }
        self.conn
            .as_mut()
            .ok_or_else(|| redis::RedisError::from((redis::ErrorKind::IoError, "not connected")))
    }

    /// The index of `epoch`'s keys, attaching to them first if needed.
    fn epoch_keys(&mut self, epoch: u16) -> Result<usize, GatewayError> {
        if let Some(i) = self.epochs.iter().position(|k| k.epoch == epoch) {
            return Ok(i);
        }
        let (group_id, provisioned) = (self.group_id, self.provisioned);
        let conn = self.conn().map_err(rerr)?;
        let r = attach(conn, group_id, epoch, provisioned, &[]);
        if r.is_err() {
            self.conn = None;
        }
        let (keys, _, _) = r?;
        tracing::info!(epoch, "attached to the redis replay state of a new epoch");
        // Keep the newest two: the current epoch and the one in its grace period.
        if self.epochs.len() >= 2 {
            self.epochs.remove(0);
        }
        self.epochs.push(keys);
        Ok(self.epochs.len() - 1)
    }

    /// Runs [`SCRIPT`] on the frames at `self.picked`, all of the epoch at index `at`.
    fn run(&mut self, at: usize, frames: &[Candidate]) -> Result<Vec<i64>, redis::RedisError> {
        self.conn()?;
        let mut blob = std::mem::take(&mut self.blob);
        blob.clear();
        for &i in &self.picked {
            let f = &frames[i];
            blob.extend_from_slice(&f.id.sender.to_le_bytes());
            // Sequence numbers are below 2^40: exact as an f64, Lua's number.
            blob.extend_from_slice(&(f.id.seq as f64).to_le_bytes());
        }
        let mut inv = self.script.prepare_invoke();
        let keys = &self.epochs[at];
        inv.key(&keys.meta).key(&keys.windows);
        inv.arg(&keys.token)
            .arg(if self.strict { "1" } else { "0" })
            .arg(&blob[..]);
        self.blob = blob;
        let Some(conn) = self.conn.as_mut() else {
            return Err(redis::RedisError::from((
                redis::ErrorKind::IoError,
                "not connected",
            )));
        };
        let r = inv.invoke(conn);
        if r.is_err() {
            // Reconnect on the next batch; a half-read reply must not be mistaken for the next.
            self.conn = None;
        }
        r
    }
}

impl ReplayBackend for Shared {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn confirm(
        &mut self,
        frames: &[Candidate],
        _windows: &Windows,
        verdicts: &mut Vec<Result<(), Error>>,
    ) -> u64 {
        verdicts.clear();
        verdicts.resize(frames.len(), Err(Error::CounterStore));
        // One script call per epoch in the batch: almost always one, two in a grace period.
        let mut epochs: Vec<u16> = Vec::new();
        for f in frames {
            if !epochs.contains(&f.epoch) {
                epochs.push(f.epoch);
            }
        }
        let mut calls = 0;
        for epoch in epochs {
            let mut picked = std::mem::take(&mut self.picked);
            picked.clear();
            picked.extend(
                frames
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| f.epoch == epoch)
                    .map(|(i, _)| i),
            );
            self.picked = picked;
            let at = match self.epoch_keys(epoch) {
                Ok(at) => at,
                Err(e) => {
                    // Its frames stay refused (`counter_store`).
                    tracing::error!(error = %e, epoch, "cannot attach to the epoch's redis state; refusing its frames");
                    continue;
                }
            };
            calls += 1;
            match self.run(at, frames) {
                Ok(codes) if codes.len() == self.picked.len() => {
                    for (&i, c) in self.picked.iter().zip(codes) {
                        verdicts[i] = match c {
                            0 => Ok(()),
                            1 => Err(Error::Replay),
                            2 => Err(Error::TooOld),
                            3 => Err(Error::OutOfOrder),
                            _ => Err(Error::CounterStore),
                        };
                    }
                }
                Ok(codes) => tracing::error!(
                    got = codes.len(),
                    want = self.picked.len(),
                    "redis script answered the wrong number of verdicts"
                ),
                Err(e) => {
                    tracing::error!(error = %e, "redis replay check failed; refusing the batch")
                }
            }
        }
        calls
    }

    fn enter_epoch(&mut self, epoch: u16) -> Result<(), GatewayError> {
        self.epoch_keys(epoch).map(|_| ())
    }

    fn shutdown(&mut self, _windows: &Windows) -> Result<(), GatewayError> {
        // Every delivered frame was set in Redis before delivery: nothing is pending.
        Ok(())
    }
}
