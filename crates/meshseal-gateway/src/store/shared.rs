//! Replay state shared by several gateways in Redis: one atomic check-and-set per frame, one
//! script call per batch.
//!
//! Keys (one hash slot per group and epoch, so a Redis Cluster keeps them together):
//! - `meshseal:{G.E}:meta`: hash with `token` (random, chosen by the gateway that created the
//!   state) and `provisioned` (1 if created with verified state for every member);
//! - `meshseal:{G.E}:h:S`: the highest number accepted from sender S, by any gateway;
//! - `meshseal:{G.E}:b:S`: a ring of [`WINDOW`] bits, bit `n mod WINDOW` set when number `n` in
//!   `(highest - WINDOW, highest]` was accepted.
//!
//! A gateway verifies tags locally first (only authentic frames reach Redis), then sends the
//! batch's `(sender, number)` pairs to [`SCRIPT`], which Redis runs atomically: for each pair in
//! order it refuses a number already set or older than the window (and, under the strict order
//! policy, any number below the highest) and sets the others. Two
//! gateways that receive the same frame therefore never both deliver it: whichever script runs
//! first sets the bit, the other sees it. The script first checks the `token`: if Redis lost
//! its data (restarted without persistence), every frame is refused until an operator acts,
//! instead of an empty state accepting replays.

use std::collections::HashMap;
use std::time::Duration;

use meshseal::replay::ReplayWindow;
use meshseal::Error;
use rand::RngCore;

use super::{window_below, Candidate, ReplayBackend};
use crate::windows::Windows;
use crate::{GatewayError, GroupSetup};

/// Numbers each shared window judges below the highest (inclusive).
pub const WINDOW: u64 = 64;

/// Check-and-set of a batch: KEYS = meta, then (highest, ring) per frame; ARGV = token, window
/// size, strict order (1 or 0), then one number per frame. Returns per frame 0 (accepted),
/// 1 (replay), 2 (too old), 3 (out of order: below the highest under strict order).
pub const SCRIPT: &str = r#"
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then
  return redis.error_reply('MESHSEAL_STATE_LOST replay state missing or replaced')
end
local w = tonumber(ARGV[2])
local strict = ARGV[3] == '1'
local out = {}
for i = 4, #ARGV do
  local hk = KEYS[2 * i - 6]
  local bk = KEYS[2 * i - 5]
  local seq = tonumber(ARGV[i])
  local h = tonumber(redis.call('GET', hk))
  local r = 0
  if h == nil or seq > h then
    if h == nil or seq - h >= w then
      redis.call('DEL', bk)
    else
      for n = h + 1, seq - 1 do
        redis.call('SETBIT', bk, n % w, 0)
      end
    end
    redis.call('SETBIT', bk, seq % w, 1)
    redis.call('SET', hk, ARGV[i])
  elseif h - seq >= w then
    r = 2
  elseif redis.call('GETBIT', bk, seq % w) == 1 then
    r = 1
  elseif strict then
    r = 3
  else
    redis.call('SETBIT', bk, seq % w, 1)
  end
  out[#out + 1] = r
end
return out
"#;

/// Creates the meta hash unless present; returns token, provisioned flag, and 1 if created.
const INIT: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {redis.call('HGET', KEYS[1], 'token'), redis.call('HGET', KEYS[1], 'provisioned'), 0}
end
redis.call('HSET', KEYS[1], 'token', ARGV[1], 'provisioned', ARGV[2])
return {ARGV[1], ARGV[2], 1}
"#;

const TIMEOUT: Duration = Duration::from_secs(2);

fn rerr(e: redis::RedisError) -> GatewayError {
    GatewayError::Redis(e.to_string())
}

/// The Redis backend.
pub struct Shared {
    client: redis::Client,
    conn: Option<redis::Connection>,
    script: redis::Script,
    prefix: String,
    token: String,
    strict: bool,
    keys: HashMap<u32, (String, String)>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn connect(client: &redis::Client) -> Result<redis::Connection, redis::RedisError> {
    let conn = client.get_connection_with_timeout(TIMEOUT)?;
    conn.set_read_timeout(Some(TIMEOUT))?;
    conn.set_write_timeout(Some(TIMEOUT))?;
    Ok(conn)
}

impl Shared {
    /// Connects to `url` (`redis://host:port`) and restores the windows of `setup`'s group and
    /// epoch. `provision` creates verified state for every member and is allowed only when
    /// Redis holds no state for them yet (at group creation).
    pub fn open(
        url: &str,
        setup: &GroupSetup,
        provision: bool,
    ) -> Result<(Shared, Windows), GatewayError> {
        let client = redis::Client::open(url).map_err(rerr)?;
        let mut conn = connect(&client).map_err(rerr)?;
        let prefix = format!("meshseal:{{{}.{}}}", setup.group_id, setup.epoch);
        let meta = format!("{prefix}:meta");
        let mut fresh = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut fresh);
        let (token, provisioned, created): (String, String, i64) = redis::Script::new(INIT)
            .key(&meta)
            .arg(hex::encode(fresh))
            .arg(if provision { "1" } else { "0" })
            .invoke(&mut conn)
            .map_err(rerr)?;
        if provision && created == 0 {
            return Err(GatewayError::Config(format!(
                "redis already holds replay state for group {} epoch {}; provisioning is only for new state",
                setup.group_id, setup.epoch
            )));
        }
        let provisioned = provisioned == "1";
        let mut s = Shared {
            client,
            conn: None,
            script: redis::Script::new(SCRIPT),
            prefix,
            token,
            strict: setup.order == meshseal::OrderPolicy::Strict,
            keys: HashMap::new(),
        };
        let mut windows = Windows(Default::default(), setup.epoch);
        for chunk in setup.members.chunks(1000) {
            let keys: Vec<String> = chunk.iter().map(|&m| s.key_pair(m).0).collect();
            let highs: Vec<Option<u64>> = redis::cmd("MGET")
                .arg(&keys)
                .query(&mut conn)
                .map_err(rerr)?;
            for (&m, h) in chunk.iter().zip(highs) {
                match h {
                    Some(h) => {
                        windows.0.insert(m, window_below(h, provisioned)?);
                    }
                    None if provisioned => {
                        windows.0.insert(m, ReplayWindow::provisioned());
                    }
                    None => {}
                }
            }
        }
        s.conn = Some(conn);
        tracing::info!(prefix = %s.prefix, provisioned, created = created == 1, "redis replay state attached");
        Ok((s, windows))
    }

    fn key_pair(&mut self, sender: u32) -> (String, String) {
        let p = &self.prefix;
        self.keys
            .entry(sender)
            .or_insert_with(|| (format!("{p}:h:{sender}"), format!("{p}:b:{sender}")))
            .clone()
    }

    fn run(&mut self, frames: &[Candidate]) -> Result<Vec<i64>, redis::RedisError> {
        if self.conn.is_none() {
            self.conn = Some(connect(&self.client)?);
        }
        let mut inv = self.script.prepare_invoke();
        inv.key(format!("{}:meta", self.prefix));
        inv.arg(&self.token)
            .arg(WINDOW)
            .arg(if self.strict { "1" } else { "0" });
        for f in frames {
            let p = &self.prefix;
            let (h, b) = self.keys.entry(f.id.sender).or_insert_with(|| {
                (
                    format!("{p}:h:{}", f.id.sender),
                    format!("{p}:b:{}", f.id.sender),
                )
            });
            inv.key(&*h).key(&*b).arg(f.id.seq);
        }
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
        if frames.is_empty() {
            return 0;
        }
        match self.run(frames) {
            Ok(codes) if codes.len() == frames.len() => {
                verdicts.extend(codes.into_iter().map(|c| match c {
                    0 => Ok(()),
                    1 => Err(Error::Replay),
                    2 => Err(Error::TooOld),
                    3 => Err(Error::OutOfOrder),
                    _ => Err(Error::CounterStore),
                }));
            }
            Ok(codes) => {
                tracing::error!(
                    got = codes.len(),
                    want = frames.len(),
                    "redis script answered the wrong number of verdicts"
                );
                verdicts.extend(frames.iter().map(|_| Err(Error::CounterStore)));
            }
            Err(e) => {
                tracing::error!(error = %e, "redis replay check failed; refusing the batch");
                verdicts.extend(frames.iter().map(|_| Err(Error::CounterStore)));
            }
        }
        1
    }

    fn shutdown(&mut self, _windows: &Windows) -> Result<(), GatewayError> {
        // Every delivered frame was set in Redis before delivery: nothing is pending.
        Ok(())
    }
}
