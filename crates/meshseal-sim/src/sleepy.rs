//! Sleepy receivers and repeated commands: a controller seals each command once with
//! [`meshseal::Seal::repeated`] and transmits the same bytes `copies` times; receivers
//! wake periodically, listen briefly, and open every copy they hear with the real
//! [`meshseal::Recipient`], which accepts one and refuses the others as `duplicate`.
//!
//! - Each receiver wakes every [`SleepyLink::wake`] at its own random phase; each wake-up is
//!   off its nominal time by an error uniform over [`SleepyLink::jitter`] (drawn once per
//!   wake-up, so two copies in one listen window see the same one).
//! - A synchronised controller aims the first copy at the middle of the receiver's next listen
//!   window after the command is issued (it knows the nominal schedule, not the error); an
//!   unsynchronised one transmits the first copy when the command is issued. Later copies
//!   follow at the configured spacing (by default spread evenly over the window, as
//!   `meshseal seal --repeat` schedules them).
//! - A copy is heard when its whole airtime lies inside a listen window and the link does not
//!   lose it (probability [`SleepyLink::loss`], independent per copy).
//! - The controller seals with the core's default sender configuration unless
//!   [`SleepyConfig::full_sequence`] is set; its repeated frames carry the full sequence number
//!   either way (`Seal::repeated`), so receivers that missed any number of its frames
//!   still open them.
//! - With a clock tolerance, frames carry the window's start (T) and receivers keep a coarse
//!   clock in seconds; receivers open with [`TrafficClass::Actuation`] either way.
//!
//! The simulation only observes the core's verdicts; it checks them against the ground truth
//! (each command acted on at most once; duplicates equal to copies heard after the first).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use meshseal::counter::MemoryStore;
use meshseal::replay::PeerTable;
use meshseal::{
    Error, OrderPolicy, Recipient, RecipientConfig, Repeat, Sender, SenderConfig, TrafficClass,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::plan::{airtime, copy_rx_uj, copy_tx_uj, frame_sizes, full_sequence_config, SleepyLink};
use crate::queue::Micros;
use crate::{ConfigError, EnergyModel, WakeSchedule, MAX_PAYLOAD};
use meshseal::Open;
use meshseal::Seal;

const MICROS: f64 = 1e6;
const CONTROLLER: u32 = 1;
/// z of a two-sided 99 % normal interval.
const Z99: f64 = 2.575_829_303_548_901;

/// A run of repeated commands to sleepy receivers.
#[derive(Debug, Clone, PartialEq)]
pub struct SleepyConfig {
    /// Receivers (commands go to them in turn).
    pub receivers: u32,
    /// Commands the controller issues.
    pub commands: u32,
    /// Copies of each command (announced in the frame).
    pub copies: u8,
    /// Announced transmit window, in seconds.
    pub window_s: u8,
    /// Time between two copies; `None`: the window spread evenly over the copies.
    pub spacing: Option<Micros>,
    /// The receivers' duty cycle and the link.
    pub link: SleepyLink,
    /// The controller knows the receivers' wake schedules and aims at their listen windows.
    pub synchronized: bool,
    /// Frames carry the window's start and receivers keep a clock with this tolerance (s).
    pub clock_tolerance_s: Option<u16>,
    /// The controller writes its full sequence number into every frame (needed when a
    /// receiver may miss more than 127 of the controller's frames in a row).
    pub full_sequence: bool,
    /// Command payload in bytes.
    pub payload: usize,
    /// Seed of every random choice.
    pub seed: u64,
    /// Radio energy figures.
    pub energy: EnergyModel,
}

impl SleepyConfig {
    /// Time between two copies.
    pub fn spacing(&self) -> Micros {
        self.spacing.unwrap_or_else(|| {
            let gaps = u64::from(self.copies.saturating_sub(1)).max(1);
            u64::from(self.window_s) * 1_000_000 / gaps
        })
    }

    fn check(&self) -> Result<(), ConfigError> {
        self.link.check()?;
        if self.receivers == 0 || self.receivers > 10_000 {
            return Err(ConfigError("receivers must be 1..=10000"));
        }
        if self.commands == 0 || self.commands > 10_000_000 {
            return Err(ConfigError("commands must be 1..=10000000"));
        }
        if self.copies == 0 {
            return Err(ConfigError("repeat must be at least 1"));
        }
        if self.payload > MAX_PAYLOAD {
            return Err(ConfigError("payload too large for the simulator (max 96)"));
        }
        let span = u64::from(self.copies - 1) * self.spacing();
        if span > u64::from(self.window_s) * 1_000_000 {
            return Err(ConfigError(
                "the copies do not fit the announced window (spacing × (repeat − 1) > window)",
            ));
        }
        Ok(())
    }
}

/// What a run of repeated commands gave; identical for identical configurations.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SleepyReport {
    /// Receivers.
    pub receivers: u32,
    /// Commands issued.
    pub commands: u32,
    /// Copies per command.
    pub copies: u8,
    /// Announced window, in s.
    pub window_s: u8,
    /// Time between copies, in s.
    pub spacing_s: f64,
    /// Seed.
    pub seed: u64,
    /// Copies transmitted.
    pub copies_sent: u64,
    /// Copies that fell inside a listen window.
    pub copies_in_window: u64,
    /// Copies heard (inside a listen window and not lost) and opened by the core.
    pub copies_heard: u64,
    /// Commands acted on exactly once.
    pub delivered: u64,
    /// `delivered / commands`.
    pub delivery_probability: f64,
    /// Two-sided 99 % Wilson interval of the delivery probability.
    pub delivery_ci99: [f64; 2],
    /// Commands acted on more than once (must be 0).
    pub acted_twice: u64,
    /// Copies refused as `duplicate` by the receivers' statistics.
    pub duplicates: u64,
    /// Copies heard after the copy their command was acted on (ground truth); equal to
    /// `duplicates` when the core reports every expected repeat as such.
    pub heard_after_first: u64,
    /// Refusals by reason, as the receivers counted them (only reasons that occurred).
    pub refusals: BTreeMap<String, u64>,
    /// Mean time from a delivered command's issue to the action, in s.
    pub mean_latency_s: f64,
    /// Longest such time, in s.
    pub max_latency_s: f64,
    /// Bytes of the command frames (mean over commands).
    pub frame_bytes: f64,
    /// Bytes on air per command, link framing included.
    pub bytes_on_air_per_command: f64,
    /// Controller energy per command (seal and transmissions), in µJ.
    pub controller_uj_per_command: f64,
    /// Receiver energy per command (heard copies received and opened), in µJ.
    pub receiver_uj_per_command: f64,
    /// Controller energy per delivered command, in µJ.
    pub controller_uj_per_delivered: f64,
    /// Receiver energy per delivered command, in µJ.
    pub receiver_uj_per_delivered: f64,
}

/// Two-sided Wilson score interval at 99 % for `k` successes out of `n`.
pub fn wilson99(k: u64, n: u64) -> [f64; 2] {
    if n == 0 {
        return [0.0, 1.0];
    }
    let (k, n) = (k as f64, n as f64);
    let p = k / n;
    let z2 = Z99 * Z99;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z99 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / (1.0 + z2 / n);
    [(centre - half).max(0.0), (centre + half).min(1.0)]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    /// The controller issues command `cmd` and seals it.
    Issue { cmd: u32 },
    /// Copy `copy` of command `cmd` is transmitted.
    Copy { cmd: u32, copy: u8 },
}

type Rx = Recipient<PeerTable<4>, core::ops::RangeInclusive<u32>, crate::Ccm>;

struct Command {
    issued: Micros,
    frame: Vec<u8>,
    acted: u32,
}

struct Sim<'a> {
    cfg: &'a SleepyConfig,
    rng: ChaCha8Rng,
    queue: BinaryHeap<Reverse<(Micros, u64, Event)>>,
    order: u64,
    controller: Sender<MemoryStore, crate::Ccm>,
    receivers: Vec<Rx>,
    schedules: Vec<WakeSchedule>,
    /// Error of wake-up k of receiver r, drawn on first use.
    wake_error: BTreeMap<(u32, u64), i64>,
    commands: Vec<Command>,
    copies_sent: u64,
    copies_in_window: u64,
    copies_heard: u64,
    heard_after_action: u64,
    latency_sum: f64,
    latency_max: f64,
    controller_uj: f64,
    receiver_uj: f64,
    bytes_on_air: u64,
    frame_bytes: u64,
    /// Airtime of a command frame in steady traffic, to aim at the middle of a listen window.
    aim_airtime: Micros,
}

impl<'a> Sim<'a> {
    fn new(cfg: &'a SleepyConfig) -> Result<Self, ConfigError> {
        cfg.check()?;
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let announced = Repeat {
            copies: cfg.copies,
            window: cfg.window_s,
        };
        let sizes = frame_sizes(cfg.payload, announced)?;
        let aim_len = match (cfg.full_sequence, cfg.clock_tolerance_s.is_some()) {
            (true, timed) => sizes.repeated_full + if timed { 2 } else { 0 },
            (false, true) => sizes.repeated_timed,
            (false, false) => sizes.repeated,
        };
        let refused = |_| ConfigError("the core refused the configuration");
        let sender_cfg = if cfg.full_sequence {
            full_sequence_config(CONTROLLER)
        } else {
            SenderConfig::new(CONTROLLER)
        };
        let controller = Sender::provision(crate::keys(false)?, sender_cfg, MemoryStore::default())
            .map_err(refused)?;
        let mut receivers = Vec::new();
        let mut schedules = Vec::new();
        for r in 0..cfg.receivers {
            let mut rx = Recipient::new(
                crate::keys(false)?,
                RecipientConfig {
                    own_id: Some(CONTROLLER + 1 + r),
                    order: OrderPolicy::Strict,
                },
                CONTROLLER..=CONTROLLER,
                PeerTable::default(),
            );
            rx.provision(CONTROLLER);
            receivers.push(rx);
            schedules.push(WakeSchedule {
                period: cfg.link.wake,
                phase: rng.gen_range(0..cfg.link.wake),
            });
        }
        // Commands follow each other with room for every copy and a wake period on either
        // side, each at a random point of that wake period.
        let span = u64::from(cfg.copies - 1) * cfg.spacing();
        let gap = span + 2 * cfg.link.wake + cfg.link.listen;
        let mut queue = BinaryHeap::new();
        let mut order = 0;
        for cmd in 0..cfg.commands {
            let at = u64::from(cmd) * gap + rng.gen_range(0..cfg.link.wake);
            queue.push(Reverse((at, order, Event::Issue { cmd })));
            order += 1;
        }
        Ok(Sim {
            cfg,
            rng,
            queue,
            order,
            controller,
            receivers,
            schedules,
            wake_error: BTreeMap::new(),
            commands: Vec::with_capacity(cfg.commands as usize),
            copies_sent: 0,
            copies_in_window: 0,
            copies_heard: 0,
            heard_after_action: 0,
            latency_sum: 0.0,
            latency_max: 0.0,
            controller_uj: 0.0,
            receiver_uj: 0.0,
            bytes_on_air: 0,
            frame_bytes: 0,
            aim_airtime: airtime(&cfg.energy, aim_len),
        })
    }

    fn push(&mut self, at: Micros, ev: Event) {
        self.queue.push(Reverse((at, self.order, ev)));
        self.order += 1;
    }

    fn target(&self, cmd: u32) -> u32 {
        cmd % self.cfg.receivers
    }

    fn issue(&mut self, now: Micros, cmd: u32) -> Result<(), ConfigError> {
        let cfg = self.cfg;
        let mut payload = [0u8; MAX_PAYLOAD];
        for (i, b) in payload[..cfg.payload].iter_mut().enumerate() {
            *b = (cmd as usize).wrapping_add(i) as u8;
        }
        let first = if cfg.synchronized {
            let r = self.target(cmd) as usize;
            let slack = cfg.link.listen.saturating_sub(self.aim_airtime);
            self.schedules[r].next_listen(now) + slack / 2
        } else {
            now
        };
        let time = cfg
            .clock_tolerance_s
            .map(|_| ((first / 1_000_000) % 65_536) as u16);
        let mut out = [0u8; MAX_PAYLOAD + 32];
        let n = self
            .controller
            .seal_with(
                &payload[..cfg.payload],
                &Seal {
                    time,
                    ..Seal::default().repeated(Repeat {
                        copies: cfg.copies,
                        window: cfg.window_s,
                    })
                },
                &mut out,
            )
            .map_err(|_| ConfigError("the core refused to seal a command"))?;
        self.controller_uj += cfg.energy.seal_uj;
        self.frame_bytes += n as u64;
        self.commands.push(Command {
            issued: now,
            frame: out[..n].to_vec(),
            acted: 0,
        });
        let spacing = cfg.spacing();
        for copy in 0..cfg.copies {
            self.push(first + u64::from(copy) * spacing, Event::Copy { cmd, copy });
        }
        Ok(())
    }

    /// Actual start of wake-up `k` of receiver `r` (nominal time plus its error).
    fn wake_start(&mut self, r: u32, k: u64) -> i64 {
        let s = self.schedules[r as usize];
        let j = self.cfg.link.jitter as i64;
        let rng = &mut self.rng;
        let err = *self.wake_error.entry((r, k)).or_insert_with(|| {
            if j == 0 {
                0
            } else {
                rng.gen_range(-j / 2..=j / 2)
            }
        });
        (s.phase + k * s.period) as i64 + err
    }

    fn in_listen_window(&mut self, r: u32, start: Micros, air: Micros) -> bool {
        let s = self.schedules[r as usize];
        if start < s.phase {
            // Before the first wake-up only wake-up 0 (with a negative error) can cover it.
            return self.covers(r, 0, start, air);
        }
        let k = (start - s.phase + s.period / 2) / s.period;
        (k.saturating_sub(1)..=k + 1).any(|k| self.covers(r, k, start, air))
    }

    fn covers(&mut self, r: u32, k: u64, start: Micros, air: Micros) -> bool {
        let w = self.wake_start(r, k);
        let (a, b) = (start as i64, (start + air) as i64);
        w <= a && b <= w + self.cfg.link.listen as i64
    }

    fn copy(&mut self, now: Micros, cmd: u32) {
        let cfg = self.cfg;
        let c = cmd as usize;
        let len = self.commands[c].frame.len();
        let on_air = len as u64 + u64::from(cfg.energy.frame_overhead_bytes);
        let air = airtime(&cfg.energy, len);
        self.copies_sent += 1;
        self.bytes_on_air += on_air;
        self.controller_uj += copy_tx_uj(&cfg.energy, on_air);
        let r = self.target(cmd);
        if !self.in_listen_window(r, now, air) {
            return;
        }
        self.copies_in_window += 1;
        if self.rng.gen_bool(cfg.link.loss) {
            return;
        }
        self.copies_heard += 1;
        self.receiver_uj += copy_rx_uj(&cfg.energy, on_air);
        let arrived = now + air;
        let rx = &mut self.receivers[r as usize];
        if let Some(tol) = cfg.clock_tolerance_s {
            rx.set_clock(((arrived / 1_000_000) % 65_536) as u16, tol);
        }
        let command = &mut self.commands[c];
        if command.acted > 0 {
            self.heard_after_action += 1;
        }
        let mut frame = command.frame.clone();
        if rx
            .open_with(&mut frame, &Open::default().class(TrafficClass::Actuation))
            .is_ok()
        {
            command.acted += 1;
            if command.acted == 1 {
                let latency = (arrived - command.issued) as f64 / MICROS;
                self.latency_sum += latency;
                self.latency_max = self.latency_max.max(latency);
            }
        }
    }

    fn run(mut self) -> Result<SleepyReport, ConfigError> {
        while let Some(Reverse((now, _, ev))) = self.queue.pop() {
            match ev {
                Event::Issue { cmd } => self.issue(now, cmd)?,
                Event::Copy { cmd, .. } => self.copy(now, cmd),
            }
            // Wake-up errors of the past are never needed again.
            if self.wake_error.len() > 4096 {
                let horizon = now.saturating_sub(4 * self.cfg.link.wake);
                let period = self.cfg.link.wake;
                self.wake_error.retain(|&(_, k), _| k * period >= horizon);
            }
        }
        Ok(self.report())
    }

    fn report(self) -> SleepyReport {
        let cfg = self.cfg;
        let n = f64::from(cfg.commands);
        let delivered = self.commands.iter().filter(|c| c.acted == 1).count() as u64;
        let acted_twice = self.commands.iter().filter(|c| c.acted > 1).count() as u64;
        let mut refusals = BTreeMap::new();
        for rx in &self.receivers {
            for (reason, k) in rx.stats().iter().filter(|(_, k)| *k > 0) {
                *refusals.entry(reason.to_string()).or_insert(0) += k;
            }
        }
        let duplicates = self
            .receivers
            .iter()
            .map(|rx| rx.stats().refused(Error::Duplicate))
            .sum();
        let d = delivered as f64;
        let per_delivered = |uj: f64| if delivered == 0 { 0.0 } else { uj / d };
        SleepyReport {
            receivers: cfg.receivers,
            commands: cfg.commands,
            copies: cfg.copies,
            window_s: cfg.window_s,
            spacing_s: cfg.spacing() as f64 / MICROS,
            seed: cfg.seed,
            copies_sent: self.copies_sent,
            copies_in_window: self.copies_in_window,
            copies_heard: self.copies_heard,
            delivered,
            delivery_probability: d / n,
            delivery_ci99: wilson99(delivered, u64::from(cfg.commands)),
            acted_twice,
            duplicates,
            heard_after_first: self.heard_after_action,
            refusals,
            mean_latency_s: if delivered == 0 {
                0.0
            } else {
                self.latency_sum / d
            },
            max_latency_s: self.latency_max,
            frame_bytes: self.frame_bytes as f64 / n,
            bytes_on_air_per_command: self.bytes_on_air as f64 / n,
            controller_uj_per_command: self.controller_uj / n,
            receiver_uj_per_command: self.receiver_uj / n,
            controller_uj_per_delivered: per_delivered(self.controller_uj),
            receiver_uj_per_delivered: per_delivered(self.receiver_uj),
        }
    }
}

/// Runs the repeated-command simulation to the end.
pub fn run_sleepy(cfg: &SleepyConfig) -> Result<SleepyReport, ConfigError> {
    Sim::new(cfg)?.run()
}
