//! Load generator: real sealed frames from N simulated senders, sent over loopback UDP at a
//! paced rate, bounded in time and count, with replays, tampered frames and garbage mixed in.
//!
//! Each simulated sender is a core [`Sender`] with the group's settings, so frame sizes follow
//! the real length rule (a full number every `full_every` frames). The frames are sealed under
//! the group's real key and member ids, so their sequence numbers must never repeat one used
//! before, by an earlier run or by a real device: the caller hands in one counter store per
//! simulated sender, each holding a durable record, and every sender starts with
//! [`Sender::new`], which refuses a store without one. There is no in-memory counter starting
//! at 0. (`meshseal loadgen` keeps these records in the group manager's state, reserved before
//! the first frame, and never seals as a member provisioned to a device.) Only loopback targets
//! are accepted: this tool floods.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use meshseal::counter::CounterStore;
use meshseal::{AeadBackend, GroupKeys, Sender, SenderConfig};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::{GatewayError, GroupSetup};

/// Longest garbage datagram sent (longer than the gateway's default largest frame).
pub const GARBAGE_MAX: usize = 1600;

/// Load settings.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Where to send; must be a loopback address.
    pub target: SocketAddr,
    /// Datagrams per second over all senders; 0 sends as fast as possible.
    pub rate: u64,
    /// Longest run.
    pub duration: Duration,
    /// Most datagrams sent, if set.
    pub count: Option<u64>,
    /// Fraction of datagrams that repeat an earlier frame.
    pub replays: f64,
    /// Fraction that are fresh frames with one bit flipped.
    pub tamper: f64,
    /// Fraction that are random bytes of random length (0 to [`GARBAGE_MAX`]).
    pub garbage: f64,
    /// Payload bytes per frame.
    pub payload: usize,
    /// Seed of the random choices (for reproducible mixes).
    pub seed: u64,
}

/// What a run sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Authentic frames never sent before.
    pub fresh: u64,
    /// Repeats of earlier frames.
    pub replays: u64,
    /// Fresh frames with a flipped bit.
    pub tampered: u64,
    /// Random datagrams.
    pub garbage: u64,
    /// Sends that failed (e.g. buffer full).
    pub send_errors: u64,
    /// Wall time of the run in microseconds.
    pub elapsed_us: u64,
}

impl LoadReport {
    /// Datagrams sent.
    pub fn sent(&self) -> u64 {
        self.fresh + self.replays + self.tampered + self.garbage
    }

    /// The report as JSON.
    pub fn to_json(&self) -> Value {
        let secs = self.elapsed_us as f64 / 1e6;
        json!({
            "sent": self.sent(),
            "fresh": self.fresh,
            "replays": self.replays,
            "tampered": self.tampered,
            "garbage": self.garbage,
            "send_errors": self.send_errors,
            "elapsed_s": secs,
            "rate": if secs > 0.0 { self.sent() as f64 / secs } else { 0.0 },
        })
    }
}

fn check(cfg: &LoadConfig, setup: &GroupSetup, senders: &[u32]) -> Result<(), GatewayError> {
    if !cfg.target.ip().is_loopback() {
        return Err(GatewayError::Config(format!(
            "refusing to send to {}: the load generator targets loopback addresses only",
            cfg.target
        )));
    }
    if senders.is_empty() {
        return Err(GatewayError::Config("no simulated sender".into()));
    }
    for (i, id) in senders.iter().enumerate() {
        if !setup.members.contains(id) || senders[..i].contains(id) {
            return Err(GatewayError::Config(format!(
                "simulated sender {id} is not a member of the group, or appears twice"
            )));
        }
    }
    for (name, p) in [
        ("--replays", cfg.replays),
        ("--tamper", cfg.tamper),
        ("--garbage", cfg.garbage),
    ] {
        if !(0.0..=1.0).contains(&p) {
            return Err(GatewayError::Config(format!("{name} must be within 0..=1")));
        }
    }
    if cfg.replays + cfg.tamper + cfg.garbage > 1.0 {
        return Err(GatewayError::Config(
            "--replays + --tamper + --garbage must not exceed 1".into(),
        ));
    }
    if cfg.payload > 1024 {
        return Err(GatewayError::Config(
            "--payload must be at most 1024".into(),
        ));
    }
    Ok(())
}

/// Runs the load: `keys` derives the group keys (once per simulated sender), `sender_config`
/// gives each member's sender settings, `stores` is each simulated sender's id and counter
/// store (which must hold a record: a sender never starts from nothing).
pub fn run<S: CounterStore, A: AeadBackend>(
    setup: &GroupSetup,
    keys: &dyn Fn() -> Result<GroupKeys<A>, GatewayError>,
    sender_config: &dyn Fn(u32) -> SenderConfig,
    stores: Vec<(u32, S)>,
    cfg: &LoadConfig,
) -> Result<LoadReport, GatewayError> {
    let ids: Vec<u32> = stores.iter().map(|(id, _)| *id).collect();
    check(cfg, setup, &ids)?;
    let mut senders = Vec::with_capacity(stores.len());
    for (id, store) in stores {
        let tx = Sender::new(keys()?, sender_config(id), store).map_err(|e| {
            GatewayError::Config(format!("cannot start simulated sender {id}: {e}"))
        })?;
        senders.push(tx);
    }
    let bind: SocketAddr = if cfg.target.is_ipv4() {
        ([127, 0, 0, 1], 0).into()
    } else {
        (std::net::Ipv6Addr::LOCALHOST, 0).into()
    };
    let socket = UdpSocket::bind(bind).map_err(|e| GatewayError::io("cannot bind", e))?;
    let mut rng = SmallRng::seed_from_u64(cfg.seed);
    let mut recent: Vec<Vec<u8>> = Vec::with_capacity(1024);
    let mut payload = vec![0u8; cfg.payload];
    let mut frame = vec![0u8; cfg.payload + meshseal::frame::MAX_HEADER_LEN + meshseal::TAG_LEN];
    let mut garbage = vec![0u8; GARBAGE_MAX];
    let mut report = LoadReport::default();
    let start = Instant::now();
    let mut next = 0usize;
    let mut sent = 0u64;
    loop {
        if cfg.count.is_some_and(|c| sent >= c) || start.elapsed() >= cfg.duration {
            break;
        }
        if cfg.rate > 0 {
            // Pace in steps of at least half a millisecond, so sleeping stays cheap.
            let due = Duration::from_secs_f64(sent as f64 / cfg.rate as f64);
            let ahead = due.saturating_sub(start.elapsed());
            if ahead > Duration::from_micros(500) {
                std::thread::sleep(ahead.min(cfg.duration.saturating_sub(start.elapsed())));
                continue;
            }
        }
        let roll: f64 = rng.gen();
        let datagram: &[u8] = if roll < cfg.garbage {
            let n = rng.gen_range(0..=GARBAGE_MAX);
            rng.fill(&mut garbage[..n]);
            report.garbage += 1;
            &garbage[..n]
        } else if roll < cfg.garbage + cfg.replays && !recent.is_empty() {
            report.replays += 1;
            let i = rng.gen_range(0..recent.len());
            &recent[i]
        } else {
            let count = senders.len();
            let tx = &mut senders[next];
            next = (next + 1) % count;
            rng.fill(payload.as_mut_slice());
            let n = match tx.seal(&payload, &mut frame) {
                Ok(n) => n,
                Err(e) => {
                    return Err(GatewayError::Config(format!(
                        "sender {} cannot seal: {e}",
                        tx.id()
                    )))
                }
            };
            if roll < cfg.garbage + cfg.replays + cfg.tamper {
                let bit = rng.gen_range(0..n * 8);
                frame[bit / 8] ^= 1 << (bit % 8);
                report.tampered += 1;
            } else {
                if recent.len() < 1024 {
                    recent.push(frame[..n].to_vec());
                } else {
                    let i = rng.gen_range(0..recent.len());
                    recent[i].clear();
                    recent[i].extend_from_slice(&frame[..n]);
                }
                report.fresh += 1;
            }
            &frame[..n]
        };
        if socket.send_to(datagram, cfg.target).is_err() {
            report.send_errors += 1;
        }
        sent += 1;
    }
    report.elapsed_us = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
    Ok(report)
}
