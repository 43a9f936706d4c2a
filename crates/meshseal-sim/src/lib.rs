//! meshseal-sim: a discrete-event simulation of a multi-hop mesh of sleepy nodes that seal their
//! readings with the real meshseal core and forward them to a gateway, with an active attacker
//! on some links.
//!
//! - Time advances through a binary-heap event queue ([`queue`]); every random choice comes from
//!   one ChaCha8 generator seeded by [`Config::seed`], so a run is a pure function of its
//!   configuration (same seed, identical [`Report`]).
//! - Nodes sit on a grid around the gateway ([`topology`]); each forwards towards the gateway on
//!   a fixed tree, so frames of one origin travel one FIFO path.
//! - Sleepy receivers: every node checks the channel once per [`Config::wake_period_ms`]
//!   (receiver duty cycling in the style of 802.15.4 CSL); a sender transmits at the next hop's
//!   next check. Links lose each attempt with probability [`Config::loss`]; a lost attempt is
//!   retried at the following check, up to [`Config::max_retries`] times. The gateway is mains
//!   powered and always listening. A node's schedule is a [`WakeSchedule`] so that receivers
//!   with repeated command windows can later plug in their own.
//! - Every seal is [`meshseal::Sender::seal`] and every open at the gateway is
//!   [`meshseal::Recipient::open`] (strict order: each origin has a single FIFO route), or, for
//!   the deliberately weakened receiver [`ReceiverKind::TagOnly`], a tag check without replay
//!   state, which shows that the attack counters detect what a broken receiver lets through.
//! - The gateway knows the ground truth of every packet (origin, number, what the attacker did
//!   to it) and counts an attack as accepted when a frame is accepted whose plaintext is not
//!   what the origin sealed under that number, that was accepted before, or whose number is
//!   below one already accepted from the same origin (a withheld frame delivered late).
//!
//! The simulator never decides acceptance itself: it only observes the core's verdicts.
//!
//! Beside the mesh, [`sleepy`] simulates a controller repeating commands to sleepy receivers
//! (sealed once with `Seal::repeated`, acted on once) and [`plan`] is the analytic model that
//! recommends the number of copies and the window.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod attack;
pub mod plan;
pub mod queue;
pub mod sleepy;
pub mod topology;

use std::collections::BTreeMap;

use meshseal::context::open_stateless;
use meshseal::counter::MemoryStore;
use meshseal::privacy::{unmask, HeaderPrivacy, Private};
use meshseal::replay::{Lane, ReplayStore, ReplayWindow, WindowKey};
use meshseal::{
    GroupKeys, OrderPolicy, Recipient, RecipientConfig, RustCryptoCcm, Sender, SenderConfig,
    SenderIdMode,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

pub use attack::{Attack, Provenance, UnknownAttack};
use queue::{Kind, Micros, Queue};
pub use topology::{Topology, GATEWAY};

/// Largest payload a simulated reading may have.
pub const MAX_PAYLOAD: usize = 96;
/// Frame buffer size (payload plus the longest compact header and tag).
const MAX_FRAME: usize = MAX_PAYLOAD + 32;
const MICROS_PER_SECOND: f64 = 1e6;

/// Energy and timing of one radio, per byte and per event; the command line derives it from
/// the radio profile data files, so the simulator holds no datasheet figures of its own.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EnergyModel {
    /// Link-layer data rate in bit/s (airtime of a frame).
    pub bitrate_bps: f64,
    /// Link-layer bytes added to every frame on air (preamble, headers, checksum).
    pub frame_overhead_bytes: u32,
    /// Energy to transmit one byte, in µJ.
    pub tx_uj_per_byte: f64,
    /// Energy to receive one byte, in µJ.
    pub rx_uj_per_byte: f64,
    /// Fixed energy of one transmission attempt (wake-up, turnaround, acknowledgement), in µJ.
    pub tx_attempt_uj: f64,
    /// Fixed energy of one reception (turnaround, sending the acknowledgement), in µJ.
    pub rx_attempt_uj: f64,
    /// Energy of one periodic channel check of a sleepy receiver, in µJ.
    pub check_uj: f64,
    /// Sleep power, in µW.
    pub sleep_uw: f64,
    /// Energy of sealing one frame (CPU), in µJ.
    pub seal_uj: f64,
    /// Energy of opening one frame (CPU), in µJ.
    pub open_uj: f64,
    /// Supply voltage, to report average current.
    pub supply_v: f64,
}

/// Which receiver the gateway runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiverKind {
    /// The meshseal recipient: replay window, strict order, tag.
    #[default]
    Meshseal,
    /// A deliberately weakened receiver: checks the tag, keeps no replay state.
    TagOnly,
}

/// A simulation run's parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Sensor nodes (the gateway comes in addition).
    pub nodes: u32,
    /// Simulated hours.
    pub hours: f64,
    /// Probability that one transmission attempt over a link is lost.
    pub loss: f64,
    /// Seed of every random choice.
    pub seed: u64,
    /// What the attacker does on the links it controls (none: no attacker).
    pub attacks: Vec<Attack>,
    /// Share of links (node → next hop) the attacker controls, chosen by the seed.
    pub attacked_share: f64,
    /// Probability that the attacker applies each capability to a frame on a controlled link.
    pub attack_rate: f64,
    /// Seconds between two readings of a node.
    pub interval_s: f64,
    /// Bytes per reading.
    pub payload: usize,
    /// Milliseconds between two channel checks of a sleepy node.
    pub wake_period_ms: u32,
    /// Retries of a lost transmission before the frame is dropped.
    pub max_retries: u8,
    /// The gateway's receiver.
    pub receiver: ReceiverKind,
    /// Header privacy (spec §20): every frame's header masked. No byte more on air.
    pub privacy: bool,
    /// Radio energy figures.
    pub energy: EnergyModel,
}

impl Config {
    /// A configuration with the documented defaults for everything but the four essentials.
    pub fn new(nodes: u32, hours: f64, loss: f64, seed: u64, energy: EnergyModel) -> Self {
        Config {
            nodes,
            hours,
            loss,
            seed,
            attacks: Vec::new(),
            attacked_share: 0.25,
            attack_rate: 0.05,
            interval_s: 60.0,
            payload: 4,
            wake_period_ms: 500,
            max_retries: 3,
            receiver: ReceiverKind::Meshseal,
            privacy: false,
            energy,
        }
    }

    fn check(&self) -> Result<(), ConfigError> {
        let unit = |x: f64| (0.0..=1.0).contains(&x);
        if self.nodes == 0 || self.nodes > 100_000 {
            return Err(ConfigError("nodes must be 1..=100000"));
        }
        if !(self.hours > 0.0 && self.hours.is_finite()) {
            return Err(ConfigError("hours must be positive"));
        }
        if !unit(self.loss) || self.loss >= 1.0 {
            return Err(ConfigError("loss must be in [0, 1)"));
        }
        if !unit(self.attacked_share) || !unit(self.attack_rate) {
            return Err(ConfigError("attack share and rate must be in [0, 1]"));
        }
        if !(self.interval_s >= 0.001 && self.interval_s.is_finite()) {
            return Err(ConfigError("interval must be at least 1 ms"));
        }
        if self.payload > MAX_PAYLOAD {
            return Err(ConfigError("payload too large for the simulator (max 96)"));
        }
        if self.wake_period_ms == 0 {
            return Err(ConfigError("wake period must be positive"));
        }
        Ok(())
    }
}

/// A configuration the simulator refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub &'static str);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for ConfigError {}

/// When a node listens: the periodic channel checks of a sleepy receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WakeSchedule {
    /// Period of the checks (0: always listening, e.g. the mains-powered gateway).
    pub period: Micros,
    /// Offset of the first check.
    pub phase: Micros,
}

impl WakeSchedule {
    /// The first instant at or after `t` at which the node listens.
    pub fn next_listen(&self, t: Micros) -> Micros {
        if self.period == 0 || t <= self.phase {
            return t.max(self.phase);
        }
        let k = (t - self.phase).div_ceil(self.period);
        self.phase + k * self.period
    }
}

/// Per-node traffic and energy.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NodeReport {
    /// Node id (0 is the gateway).
    pub id: u32,
    /// Hops to the gateway.
    pub hops: u32,
    /// Readings sealed.
    pub sealed: u64,
    /// Frames forwarded for other nodes.
    pub forwarded: u64,
    /// Transmission attempts.
    pub tx_frames: u64,
    /// Frames received.
    pub rx_frames: u64,
    /// Bytes sent on air (link framing included).
    pub tx_bytes: u64,
    /// Bytes received on air (link framing included).
    pub rx_bytes: u64,
    /// Energy over the run, in mJ.
    pub energy_mj: f64,
    /// Average current over the run, in µA.
    pub avg_current_ua: f64,
}

/// What the attacker tried and what got through.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AttackReport {
    /// Links the attacker controls.
    pub links: u64,
    /// Actions taken, per capability.
    pub attempted: BTreeMap<String, u64>,
    /// Frames accepted by the gateway that carry an attack's effect, per capability.
    pub accepted: BTreeMap<String, u64>,
    /// Sum of `accepted`.
    pub accepted_total: u64,
}

/// The result of a run; identical for identical configurations.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Sensor nodes.
    pub nodes: u32,
    /// Simulated hours.
    pub hours: f64,
    /// Link loss probability per attempt.
    pub loss: f64,
    /// Seed.
    pub seed: u64,
    /// The gateway's receiver.
    pub receiver: ReceiverKind,
    /// Readings sealed by all nodes.
    pub generated: u64,
    /// Distinct readings accepted by the gateway with the plaintext their origin sealed.
    pub delivered: u64,
    /// `delivered / generated`.
    pub delivery_ratio: f64,
    /// Frames delivered over a link (each hop counts), the simulator's unit of work.
    pub hop_deliveries: u64,
    /// Transmission attempts lost on links.
    pub link_losses: u64,
    /// Frames dropped after the last retry.
    pub retries_exhausted: u64,
    /// Frames the gateway accepted.
    pub accepted: u64,
    /// Frames the gateway refused, by reason (only reasons that occurred).
    pub refusals: BTreeMap<String, u64>,
    /// The attacker's record.
    pub attacks: AttackReport,
    /// Deepest node, in hops.
    pub max_hops: u32,
    /// Mean average current of the sensor nodes, in µA.
    pub mean_node_current_ua: f64,
    /// Highest average current of a sensor node, in µA.
    pub max_node_current_ua: f64,
    /// Per node, the gateway first.
    pub per_node: Vec<NodeReport>,
}

/// Replay windows indexed by sender id (the gateway knows every member).
#[derive(Debug, Clone)]
struct DenseWindows(Vec<Option<ReplayWindow>>);

/// Plain group frames only: the simulated gateway holds no source keys, so it never accepts a
/// pairwise or signed frame and keeps no source lane.
impl ReplayStore<1> for DenseWindows {
    fn get(&mut self, key: WindowKey) -> Option<&mut ReplayWindow> {
        match key.lane {
            Lane::Group => self.0.get_mut(key.sender as usize)?.as_mut(),
            Lane::Source => None,
        }
    }

    fn insert(&mut self, key: WindowKey, window: ReplayWindow) -> Option<WindowKey> {
        match (key.lane, self.0.get_mut(key.sender as usize)) {
            (Lane::Group, Some(slot)) => {
                *slot = Some(window);
                None
            }
            _ => Some(key),
        }
    }
}

/// The simulated network's AEAD backend, with header privacy where the run asks for it.
type Ccm = Private<RustCryptoCcm>;
type Gateway = Recipient<DenseWindows, core::ops::RangeInclusive<u32>, Ccm>;

#[derive(Debug, Clone, Copy)]
struct Packet {
    buf: [u8; MAX_FRAME],
    len: u16,
    attempts: u8,
    prov: Provenance,
}

/// Group secret of the simulated network (any fixed value: the simulation is about behaviour,
/// not secrecy).
const SIM_SECRET: [u8; 32] = [0x5a; 32];
const SIM_GROUP: u32 = 0x51;

/// The plaintext origin `origin` seals as reading `seq`: derived from both, so the gateway can
/// tell a tampered plaintext from the original.
fn reading(origin: u32, seq: u64, len: usize, out: &mut [u8]) {
    let mut x = (u64::from(origin) << 40) ^ seq ^ 0x9e37_79b9_7f4a_7c15;
    for b in out[..len].iter_mut() {
        x = x.rotate_left(8).wrapping_mul(0x100_0000_01b3);
        *b = (x >> 56) as u8;
    }
}

/// A seen-set of sequence numbers per origin (the ground truth of what was accepted).
#[derive(Debug, Default, Clone)]
struct Seen {
    bits: Vec<u64>,
    highest: Option<u64>,
}

impl Seen {
    /// Records `seq`; returns whether it was already recorded.
    fn insert(&mut self, seq: u64) -> bool {
        let (w, b) = ((seq / 64) as usize, seq % 64);
        if w >= self.bits.len() {
            self.bits.resize(w + 1, 0);
        }
        let was = self.bits[w] & (1 << b) != 0;
        self.bits[w] |= 1 << b;
        self.highest = Some(self.highest.map_or(seq, |h| h.max(seq)));
        was
    }
}

struct Sim<'a> {
    cfg: &'a Config,
    rng: ChaCha8Rng,
    topo: Topology,
    queue: Queue,
    packets: Vec<Packet>,
    free: Vec<u32>,
    senders: Vec<Sender<MemoryStore, Ccm>>,
    gateway: Gateway,
    weak_keys: GroupKeys<Ccm>,
    schedules: Vec<WakeSchedule>,
    attacked: Vec<bool>,
    seen: Vec<Seen>,
    nodes: Vec<NodeReport>,
    energy_uj: Vec<f64>,
    interval: Micros,
    end: Micros,
    generated: u64,
    delivered: u64,
    hop_deliveries: u64,
    link_losses: u64,
    retries_exhausted: u64,
    accepted: u64,
    weak_refusals: BTreeMap<String, u64>,
    attacks: AttackReport,
}

fn keys(privacy: bool) -> Result<GroupKeys<Ccm>, ConfigError> {
    let privacy = if privacy {
        HeaderPrivacy::On
    } else {
        HeaderPrivacy::Off
    };
    GroupKeys::derive_with(&SIM_SECRET, b"", SIM_GROUP, 0, privacy)
        .map_err(|_| ConfigError("group key derivation refused by the core"))
}

impl<'a> Sim<'a> {
    fn new(cfg: &'a Config) -> Result<Self, ConfigError> {
        cfg.check()?;
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let topo = Topology::grid(cfg.nodes);
        let total = topo.len();
        let period = u64::from(cfg.wake_period_ms) * 1000;
        let mut schedules = Vec::with_capacity(total);
        schedules.push(WakeSchedule {
            period: 0,
            phase: 0,
        });
        for _ in 1..total {
            schedules.push(WakeSchedule {
                period,
                phase: rng.gen_range(0..period),
            });
        }
        let mut attacked = vec![false; total];
        if !cfg.attacks.is_empty() {
            for a in attacked.iter_mut().skip(1) {
                *a = rng.gen_bool(cfg.attacked_share);
            }
        }
        let mut senders = Vec::with_capacity(total);
        for id in 0..total as u32 {
            let sc = SenderConfig::new(id);
            senders.push(
                Sender::provision(keys(cfg.privacy)?, sc, MemoryStore::default())
                    .map_err(|_| ConfigError("sender configuration refused by the core"))?,
            );
        }
        let mut gateway = Recipient::new(
            keys(cfg.privacy)?,
            RecipientConfig {
                own_id: Some(GATEWAY),
                order: OrderPolicy::Strict,
            },
            1..=cfg.nodes,
            DenseWindows(vec![None; total]),
        );
        for id in 1..=cfg.nodes {
            gateway.provision(id);
        }
        let interval = (cfg.interval_s * MICROS_PER_SECOND) as Micros;
        let end = (cfg.hours * 3600.0 * MICROS_PER_SECOND) as Micros;
        let mut queue = Queue::default();
        for node in 1..=cfg.nodes {
            queue.push(rng.gen_range(0..interval.max(1)), Kind::Generate { node });
        }
        let nodes = (0..total)
            .map(|i| NodeReport {
                id: i as u32,
                hops: topo.hops[i],
                ..NodeReport::default()
            })
            .collect();
        let attacks = AttackReport {
            links: attacked.iter().filter(|a| **a).count() as u64,
            attempted: cfg
                .attacks
                .iter()
                .map(|a| (a.name().to_string(), 0))
                .collect(),
            accepted: cfg
                .attacks
                .iter()
                .map(|a| (a.name().to_string(), 0))
                .collect(),
            accepted_total: 0,
        };
        Ok(Sim {
            cfg,
            rng,
            queue,
            packets: Vec::new(),
            free: Vec::new(),
            senders,
            gateway,
            weak_keys: keys(cfg.privacy)?,
            schedules,
            attacked,
            seen: vec![Seen::default(); total],
            nodes,
            energy_uj: vec![0.0; total],
            interval,
            end,
            generated: 0,
            delivered: 0,
            hop_deliveries: 0,
            link_losses: 0,
            retries_exhausted: 0,
            accepted: 0,
            weak_refusals: BTreeMap::new(),
            attacks,
            topo,
        })
    }

    fn alloc(&mut self, p: Packet) -> u32 {
        match self.free.pop() {
            Some(i) => {
                self.packets[i as usize] = p;
                i
            }
            None => {
                self.packets.push(p);
                (self.packets.len() - 1) as u32
            }
        }
    }

    fn release(&mut self, pkt: u32) {
        self.free.push(pkt);
    }

    fn airtime(&self, len: usize) -> Micros {
        let bits = (len as f64 + f64::from(self.cfg.energy.frame_overhead_bytes)) * 8.0;
        (bits / self.cfg.energy.bitrate_bps * MICROS_PER_SECOND).ceil() as Micros
    }

    fn send_later(&mut self, now: Micros, pkt: u32, from: u32) {
        let to = self.topo.parent[from as usize];
        let at = self.schedules[to as usize].next_listen(now);
        self.queue.push(at, Kind::Transmit { pkt, from, to });
    }

    fn generate(&mut self, now: Micros, node: u32) {
        let n = node as usize;
        let seq = self.senders[n].next_seq();
        let mut payload = [0u8; MAX_PAYLOAD];
        reading(node, seq, self.cfg.payload, &mut payload);
        let mut buf = [0u8; MAX_FRAME];
        match self.senders[n].seal(&payload[..self.cfg.payload], &mut buf) {
            Ok(len) => {
                self.generated += 1;
                self.nodes[n].sealed += 1;
                self.energy_uj[n] += self.cfg.energy.seal_uj;
                let pkt = self.alloc(Packet {
                    buf,
                    len: len as u16,
                    attempts: 0,
                    prov: Provenance::Honest,
                });
                self.send_later(now, pkt, node);
            }
            Err(_) => {
                // A sender that cannot seal (counter exhausted) stops reporting.
                return;
            }
        }
        let next = now + self.interval;
        if next < self.end {
            self.queue.push(next, Kind::Generate { node });
        }
    }

    fn transmit(&mut self, now: Micros, pkt: u32, from: u32, to: u32) {
        let len = usize::from(self.packets[pkt as usize].len);
        let on_air = len as u64 + u64::from(self.cfg.energy.frame_overhead_bytes);
        let e = self.cfg.energy;
        let (f, t) = (from as usize, to as usize);
        self.nodes[f].tx_frames += 1;
        self.nodes[f].tx_bytes += on_air;
        self.energy_uj[f] += e.tx_attempt_uj + e.tx_uj_per_byte * on_air as f64;
        if self.rng.gen_bool(self.cfg.loss) {
            self.link_losses += 1;
            let p = &mut self.packets[pkt as usize];
            if p.attempts < self.cfg.max_retries {
                p.attempts += 1;
                // Retry at the receiver's next check.
                self.send_later(now + 1, pkt, from);
            } else {
                self.retries_exhausted += 1;
                self.release(pkt);
            }
            return;
        }
        self.hop_deliveries += 1;
        self.nodes[t].rx_frames += 1;
        self.nodes[t].rx_bytes += on_air;
        self.energy_uj[t] += e.rx_attempt_uj + e.rx_uj_per_byte * on_air as f64;
        let arrive = now + self.airtime(len);
        if self.attacked[f] && self.packets[pkt as usize].prov == Provenance::Honest {
            if let Some(delayed_to) = self.attack(now, arrive, pkt, to) {
                if delayed_to != Micros::MAX {
                    self.queue.push(delayed_to, Kind::Arrive { pkt, at: to });
                }
                return;
            }
        }
        self.queue.push(arrive, Kind::Arrive { pkt, at: to });
    }

    /// Applies the attacker's capabilities to a frame crossing a controlled link. Returns
    /// `None` to let the (possibly altered) frame continue now, `Some(t)` when the attacker
    /// keeps it until `t` (or forever: `Micros::MAX`).
    fn attack(&mut self, now: Micros, arrive: Micros, pkt: u32, to: u32) -> Option<Micros> {
        let cfg = self.cfg;
        for &a in &cfg.attacks {
            if !self.rng.gen_bool(cfg.attack_rate) {
                continue;
            }
            *self
                .attacks
                .attempted
                .entry(a.name().to_string())
                .or_default() += 1;
            let original = self.packets[pkt as usize];
            match a {
                Attack::Drop => {
                    self.release(pkt);
                    return Some(Micros::MAX);
                }
                Attack::Tamper => {
                    let p = &mut self.packets[pkt as usize];
                    let bit = self.rng.gen_range(0..usize::from(p.len) * 8);
                    p.buf[bit / 8] ^= 1 << (bit % 8);
                    p.prov = Provenance::Attacked(Attack::Tamper);
                }
                Attack::Replay => {
                    let later = now + self.rng.gen_range(1..=10) * self.interval;
                    let copy = self.alloc(Packet {
                        attempts: 0,
                        prov: Provenance::Attacked(Attack::Replay),
                        ..original
                    });
                    self.queue.push(later, Kind::Arrive { pkt: copy, at: to });
                }
                Attack::Forge => {
                    let mut forged = Packet {
                        attempts: 0,
                        prov: Provenance::Attacked(Attack::Forge),
                        ..original
                    };
                    // Keep the header's first bytes (version, flags, sender) and randomise
                    // the rest: a frame that claims the origin and carries a made-up body.
                    let keep = 3.min(usize::from(forged.len));
                    self.rng
                        .fill(&mut forged.buf[keep..usize::from(forged.len)]);
                    let copy = self.alloc(forged);
                    self.queue.push(arrive, Kind::Arrive { pkt: copy, at: to });
                }
                Attack::Delay => {
                    self.packets[pkt as usize].prov = Provenance::Attacked(Attack::Delay);
                    return Some(now + self.rng.gen_range(2..=10) * self.interval);
                }
                Attack::Reorder => {
                    self.packets[pkt as usize].prov = Provenance::Attacked(Attack::Reorder);
                    return Some(now + self.interval + self.interval / 2);
                }
            }
        }
        None
    }

    fn arrive(&mut self, now: Micros, pkt: u32, at: u32) {
        if at != GATEWAY {
            self.nodes[at as usize].forwarded += 1;
            self.packets[pkt as usize].attempts = 0;
            self.send_later(now, pkt, at);
            return;
        }
        self.energy_uj[0] += self.cfg.energy.open_uj;
        let mut p = self.packets[pkt as usize];
        self.release(pkt);
        let len = usize::from(p.len);
        let verdict = match self.cfg.receiver {
            ReceiverKind::Meshseal => self
                .gateway
                .open(&mut p.buf[..len])
                .map(|o| (o.sender, o.seq, copy_payload(o.payload))),
            ReceiverKind::TagOnly => {
                let (keys, seen) = (&self.weak_keys, &self.seen);
                let expected = |s: u32| {
                    seen.get(s as usize)
                        .and_then(|x| x.highest)
                        .map_or(0, |h| h + 1)
                };
                // The sender id, read from a copy unmasked first in a private group.
                let mut header = p.buf;
                let _ = unmask(keys, &mut header[..len], SenderIdMode::Explicit);
                let hint =
                    meshseal::frame::Frame::new_checked(&header[..len], SenderIdMode::Explicit)
                        .ok()
                        .and_then(|f| f.sender_id())
                        .map_or(0, expected);
                open_stateless(
                    keys,
                    &mut p.buf[..len],
                    SenderIdMode::Explicit,
                    None,
                    hint,
                    None,
                )
                .map(|v| (v.sender, v.seq, copy_payload(v.payload)))
            }
        };
        match verdict {
            Ok((origin, seq, (payload, plen))) => {
                self.accepted += 1;
                let mut expect = [0u8; MAX_PAYLOAD];
                reading(origin, seq, self.cfg.payload, &mut expect);
                let genuine = plen == self.cfg.payload && payload[..plen] == expect[..plen];
                let Some(seen) = self.seen.get_mut(origin as usize) else {
                    self.count_accepted_attack(p.prov);
                    return;
                };
                let behind = seen.highest.is_some_and(|h| seq < h);
                let again = seen.insert(seq);
                if !genuine || again || behind {
                    self.count_accepted_attack(p.prov);
                } else {
                    self.delivered += 1;
                }
            }
            Err(e) => {
                if self.cfg.receiver == ReceiverKind::TagOnly {
                    *self
                        .weak_refusals
                        .entry(e.reason().to_string())
                        .or_default() += 1;
                }
            }
        }
    }

    fn count_accepted_attack(&mut self, prov: Provenance) {
        let name = match prov {
            Provenance::Attacked(a) => a.name(),
            Provenance::Honest => "none",
        };
        *self.attacks.accepted.entry(name.to_string()).or_default() += 1;
        self.attacks.accepted_total += 1;
    }

    fn run(mut self, progress: &mut dyn FnMut(f64)) -> Report {
        let mut steps: u32 = 0;
        while let Some((now, kind)) = self.queue.pop() {
            match kind {
                Kind::Generate { node } => self.generate(now, node),
                Kind::Transmit { pkt, from, to } => self.transmit(now, pkt, from, to),
                Kind::Arrive { pkt, at } => self.arrive(now, pkt, at),
            }
            steps = steps.wrapping_add(1);
            if steps % (1 << 16) == 0 {
                progress((now as f64 / self.end.max(1) as f64).min(1.0));
            }
        }
        progress(1.0);
        self.report()
    }

    fn report(mut self) -> Report {
        let seconds = self.end as f64 / MICROS_PER_SECOND;
        let e = self.cfg.energy;
        let checks_per_node = if self.cfg.wake_period_ms == 0 {
            0.0
        } else {
            seconds * 1000.0 / f64::from(self.cfg.wake_period_ms)
        };
        for (i, n) in self.nodes.iter_mut().enumerate() {
            let mut uj = self.energy_uj[i];
            if i != GATEWAY as usize {
                uj += checks_per_node * e.check_uj + e.sleep_uw * seconds;
            }
            n.energy_mj = uj / 1000.0;
            n.avg_current_ua = uj / seconds / e.supply_v;
        }
        let sensors = &self.nodes[1..];
        let mean = sensors.iter().map(|n| n.avg_current_ua).sum::<f64>() / sensors.len() as f64;
        let max = sensors.iter().map(|n| n.avg_current_ua).fold(0.0, f64::max);
        let refusals: BTreeMap<String, u64> = match self.cfg.receiver {
            ReceiverKind::Meshseal => self
                .gateway
                .stats()
                .iter()
                .filter(|(_, n)| *n > 0)
                .map(|(r, n)| (r.to_string(), n))
                .collect(),
            ReceiverKind::TagOnly => std::mem::take(&mut self.weak_refusals),
        };
        Report {
            nodes: self.cfg.nodes,
            hours: self.cfg.hours,
            loss: self.cfg.loss,
            seed: self.cfg.seed,
            receiver: self.cfg.receiver,
            generated: self.generated,
            delivered: self.delivered,
            delivery_ratio: if self.generated == 0 {
                0.0
            } else {
                self.delivered as f64 / self.generated as f64
            },
            hop_deliveries: self.hop_deliveries,
            link_losses: self.link_losses,
            retries_exhausted: self.retries_exhausted,
            accepted: self.accepted,
            refusals,
            attacks: self.attacks,
            max_hops: self.topo.hops.iter().copied().max().unwrap_or(0),
            mean_node_current_ua: mean,
            max_node_current_ua: max,
            per_node: self.nodes,
        }
    }
}

fn copy_payload(p: &[u8]) -> ([u8; MAX_PAYLOAD], usize) {
    let mut out = [0u8; MAX_PAYLOAD];
    let n = p.len().min(MAX_PAYLOAD);
    out[..n].copy_from_slice(&p[..n]);
    (out, p.len())
}

/// Runs a simulation to the end.
pub fn run(cfg: &Config) -> Result<Report, ConfigError> {
    run_with_progress(cfg, &mut |_| {})
}

/// Runs a simulation, calling `progress` with the fraction of simulated time done from time
/// to time (for a progress bar).
pub fn run_with_progress(
    cfg: &Config,
    progress: &mut dyn FnMut(f64),
) -> Result<Report, ConfigError> {
    Ok(Sim::new(cfg)?.run(progress))
}
