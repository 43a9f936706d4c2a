//! The repeat planner: how many copies of a command, and over which window, a controller must
//! transmit so that a sleepy receiver acts on it with a target probability.
//!
//! The model (documented with its assumptions in `docs/sleepy-receivers.md`):
//! - the receiver wakes every `wake` and listens for `listen`; the controller knows its wake
//!   schedule (as an 802.15.4 CSL or BLE friend sender does) up to an error uniform over an
//!   interval of width `jitter`, and aims each copy at the middle of one listen window;
//! - copies go to distinct, consecutive listen windows (one copy per wake-up, spaced `wake`
//!   apart), so that losses of different copies are independent draws of the link's loss
//!   (copies packed into one listen window would share its fading and interference);
//! - a copy is heard when its whole airtime falls inside the listen window and the link does not
//!   lose it: `h = min(1, (listen − airtime) / jitter) · (1 − loss)` (the first factor is 1 with
//!   `jitter = 0` and `listen ≥ airtime`);
//! - delivery is `1 − (1 − h)^copies`; the planner returns the smallest number of copies that
//!   meets the target, and the window `(copies − 1) · wake` rounded up to whole seconds, which
//!   must fit the frame's one-byte window (255 s).
//!
//! The model is pure arithmetic; it never seals. The frame sizes it reports come from the core
//! ([`frame_sizes`]), so they are measured, not assumed.

use meshseal::counter::MemoryStore;
use meshseal::{Repeat, Sender, SenderConfig};
use serde::Serialize;

use crate::queue::Micros;
use crate::{ConfigError, EnergyModel};
use meshseal::Seal;

/// Largest number of copies the frame can announce (one byte).
pub const MAX_COPIES: u8 = u8::MAX;
/// Largest transmit window the frame can announce, in seconds (one byte of the group's time
/// unit, which the command line takes to be one second).
pub const MAX_WINDOW_S: u8 = u8::MAX;
const MICROS: f64 = 1e6;

/// The receiver's duty cycle and the link, as the planner and the simulator see them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SleepyLink {
    /// Time between two wake-ups of the receiver, in µs.
    pub wake: Micros,
    /// How long the receiver listens after each wake-up, in µs.
    pub listen: Micros,
    /// Probability that the link loses one transmitted copy.
    pub loss: f64,
    /// Width of the uniform error of the controller's estimate of a wake-up time, in µs
    /// (clock drift since the last synchronisation); 0: the controller knows it exactly.
    pub jitter: Micros,
}

impl SleepyLink {
    /// Refuses links the model cannot describe.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.wake == 0 || self.listen == 0 {
            return Err(ConfigError(
                "wake interval and listen time must be positive",
            ));
        }
        if self.listen >= self.wake {
            return Err(ConfigError(
                "listen time must be shorter than the wake interval",
            ));
        }
        if self.jitter >= self.wake / 2 {
            return Err(ConfigError("jitter must be below half the wake interval"));
        }
        if !(0.0..1.0).contains(&self.loss) {
            return Err(ConfigError("loss must be in [0, 1)"));
        }
        Ok(())
    }

    /// Probability that a copy aimed at the middle of a listen window lies wholly inside it
    /// (timing alone, before the link's loss).
    pub fn in_window_probability(&self, airtime: Micros) -> f64 {
        if self.listen < airtime {
            return 0.0;
        }
        let slack = (self.listen - airtime) as f64;
        if self.jitter == 0 {
            1.0
        } else {
            (slack / self.jitter as f64).min(1.0)
        }
    }

    /// Probability that one aimed copy is heard: inside the listen window and not lost.
    pub fn hear_probability(&self, airtime: Micros) -> f64 {
        self.in_window_probability(airtime) * (1.0 - self.loss)
    }
}

/// Probability that at least one of `copies` independent copies is heard.
pub fn delivery_probability(hear: f64, copies: u32) -> f64 {
    1.0 - (1.0 - hear).powi(copies as i32)
}

/// Expected index (from 0) of the first heard copy, given that one of `copies` is heard.
fn mean_first_heard(hear: f64, copies: u32) -> f64 {
    let d = delivery_probability(hear, copies);
    if d <= 0.0 {
        return 0.0;
    }
    (0..copies)
        .map(|j| f64::from(j) * hear * (1.0 - hear).powi(j as i32))
        .sum::<f64>()
        / d
}

/// Sizes of a command's frame as the core seals it, in steady traffic (after the sender's
/// first, full-number frame).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FrameSizes {
    /// An ordinary frame of the payload.
    pub plain: usize,
    /// The repeated frame (extension W).
    pub repeated: usize,
    /// The repeated frame with the window's start as a timestamp (W and T).
    pub repeated_timed: usize,
    /// The repeated frame from a sender that writes its full sequence number into every frame
    /// (`full_every = 1`); equal to `repeated`, since repeated frames always carry it.
    pub repeated_full: usize,
}

impl FrameSizes {
    /// Bytes W adds to an ordinary frame.
    pub fn w_added(&self) -> usize {
        self.repeated - self.plain
    }

    /// Bytes W and the timestamp add to an ordinary frame.
    pub fn w_timed_added(&self) -> usize {
        self.repeated_timed - self.plain
    }
}

/// Seals an ordinary and a repeated frame of `payload` bytes with the core and measures them.
pub fn frame_sizes(payload: usize, repeat: Repeat) -> Result<FrameSizes, ConfigError> {
    if payload > crate::MAX_PAYLOAD {
        return Err(ConfigError("payload too large for the simulator (max 96)"));
    }
    let refused = |_| ConfigError("the core refused to seal the command");
    let keys = crate::keys(false)?;
    let mut tx =
        Sender::provision(keys, SenderConfig::new(1), MemoryStore::default()).map_err(refused)?;
    let body = [0u8; crate::MAX_PAYLOAD];
    let mut out = [0u8; crate::MAX_PAYLOAD + 32];
    // The first frame of a sender carries its full number; measure steady traffic.
    tx.seal(&body[..payload], &mut out).map_err(refused)?;
    let plain = tx.seal(&body[..payload], &mut out).map_err(refused)?;
    let repeated = tx
        .seal_with(
            &body[..payload],
            &Seal::default().repeated(repeat),
            &mut out,
        )
        .map_err(refused)?;
    let repeated_timed = tx
        .seal_with(
            &body[..payload],
            &Seal {
                time: Some(0),
                ..Seal::default().repeated(repeat)
            },
            &mut out,
        )
        .map_err(refused)?;
    let mut full = Sender::provision(
        crate::keys(false)?,
        full_sequence_config(1),
        MemoryStore::default(),
    )
    .map_err(refused)?;
    full.seal(&body[..payload], &mut out).map_err(refused)?;
    let repeated_full = full
        .seal_with(
            &body[..payload],
            &Seal::default().repeated(repeat),
            &mut out,
        )
        .map_err(refused)?;
    Ok(FrameSizes {
        plain,
        repeated,
        repeated_timed,
        repeated_full,
    })
}

/// A sender that writes its full sequence number into every frame.
pub fn full_sequence_config(id: u32) -> SenderConfig {
    SenderConfig {
        full_every: 1,
        ..SenderConfig::new(id)
    }
}

/// What the planner is asked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlanRequest {
    /// The receiver and the link.
    pub link: SleepyLink,
    /// Delivery probability to reach, in (0, 1).
    pub target: f64,
    /// Command payload in bytes.
    pub payload: usize,
    /// Frames carry the window's start (T) for receivers with a coarse clock.
    pub timed: bool,
    /// The controller writes its full sequence number into every frame.
    pub full_sequence: bool,
    /// The receiver's clock tolerance in seconds (`max_age`), for the lateness bound.
    pub clock_tolerance_s: u16,
    /// Radio energy figures.
    pub energy: EnergyModel,
}

/// The planner's recommendation and what the model predicts for it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// Copies to transmit (the frame's announced count).
    pub copies: u8,
    /// Announced transmit window, in seconds.
    pub window_s: u8,
    /// Time between two copies, in seconds (the wake interval: one copy per wake-up).
    pub spacing_s: f64,
    /// Transmit offsets of the copies from the first, in ms.
    pub schedule_ms: Vec<u64>,
    /// Probability that an aimed copy lies inside the listen window.
    pub in_window_probability: f64,
    /// Probability that one copy is heard.
    pub hear_probability: f64,
    /// Predicted share of commands acted on (exactly once).
    pub predicted_delivery: f64,
    /// The target asked for.
    pub target: f64,
    /// Expected latency from the command's issue to the action, for a delivered command, in s.
    pub mean_latency_s: f64,
    /// Longest latency of a delivered command, in s.
    pub max_latency_s: f64,
    /// Expected copies the receiver hears per command (all but the first refused as duplicates).
    pub expected_copies_heard: f64,
    /// Measured frame sizes.
    pub frame: FrameSizes,
    /// Bytes of the command's frame as sent (timed or not).
    pub frame_bytes: usize,
    /// Bytes one copy takes on air, link framing included.
    pub on_air_bytes_per_copy: u64,
    /// Bytes all copies of one command take on air.
    pub bytes_on_air: u64,
    /// Airtime of one copy, in µs.
    pub airtime_us: u64,
    /// Controller energy per command (one seal, every copy transmitted), in µJ.
    pub controller_uj: f64,
    /// Receiver energy per command (every heard copy received and opened), in µJ.
    pub receiver_uj: f64,
    /// Controller energy per delivered command, in µJ.
    pub controller_uj_per_delivered: f64,
    /// Receiver energy per delivered command, in µJ.
    pub receiver_uj_per_delivered: f64,
    /// What the receiver spends on one wake-up and listen whether or not a command comes, µJ.
    pub receiver_listen_uj_per_wake: f64,
    /// With a receiver clock: how long after the window's start a copy can still act, in s.
    pub lateness_bound_with_clock_s: u32,
}

/// Why the planner has no recommendation.
#[derive(Debug, Clone, PartialEq)]
pub enum PlanError {
    /// The request itself is invalid.
    Config(ConfigError),
    /// No copy can be heard (listen window shorter than a frame's airtime, or the jitter
    /// larger than the model allows).
    Unhearable,
    /// The target needs more copies or a longer window than the frame can announce.
    Infeasible {
        /// Copies the target needs.
        copies_needed: u32,
        /// Window those copies need, in seconds.
        window_needed_s: f64,
        /// Best delivery within the frame's limits.
        best_delivery: f64,
        /// Copies of that best plan.
        best_copies: u8,
    },
}

impl std::fmt::Display for PlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlanError::Config(e) => write!(f, "{e}"),
            PlanError::Unhearable => f.write_str(
                "no copy can be heard: the listen time is shorter than a frame's airtime",
            ),
            PlanError::Infeasible {
                copies_needed,
                window_needed_s,
                best_delivery,
                best_copies,
            } => write!(
                f,
                "the target needs {copies_needed} copies over {window_needed_s:.0} s, more than \
                 the frame can announce ({MAX_COPIES} copies, {MAX_WINDOW_S} s); the best within \
                 the limits is {best_copies} copies, delivery {best_delivery:.6}"
            ),
        }
    }
}

impl std::error::Error for PlanError {}

impl From<ConfigError> for PlanError {
    fn from(e: ConfigError) -> Self {
        PlanError::Config(e)
    }
}

/// Airtime of a frame of `len` bytes with the link's framing.
pub fn airtime(energy: &EnergyModel, len: usize) -> Micros {
    let bits = (len as f64 + f64::from(energy.frame_overhead_bytes)) * 8.0;
    (bits / energy.bitrate_bps * MICROS).ceil() as Micros
}

/// Energy of one wake-up with a listen of `listen` µs: the channel check plus receive current
/// for the listen time.
pub fn listen_uj(energy: &EnergyModel, listen: Micros) -> f64 {
    let rx_uj_per_us = energy.rx_uj_per_byte * energy.bitrate_bps / 8.0 / MICROS;
    energy.check_uj + rx_uj_per_us * listen as f64
}

/// Controller energy of one transmitted copy of `on_air` bytes, in µJ.
pub fn copy_tx_uj(energy: &EnergyModel, on_air: u64) -> f64 {
    energy.tx_attempt_uj + energy.tx_uj_per_byte * on_air as f64
}

/// Receiver energy of one heard copy of `on_air` bytes (received and opened), in µJ.
pub fn copy_rx_uj(energy: &EnergyModel, on_air: u64) -> f64 {
    energy.rx_attempt_uj + energy.rx_uj_per_byte * on_air as f64 + energy.open_uj
}

/// The announced window, in whole seconds, for `copies` copies spaced `spacing` apart.
pub fn window_for(copies: u32, spacing: Micros) -> f64 {
    (f64::from(copies.saturating_sub(1)) * spacing as f64 / MICROS).ceil()
}

/// Recommends the fewest copies (one per wake-up) that reach the target under the model.
pub fn plan(req: &PlanRequest) -> Result<Plan, PlanError> {
    req.link.check()?;
    if !(req.target > 0.0 && req.target < 1.0) {
        return Err(ConfigError("target must be in (0, 1)").into());
    }
    // Measure with a representative announcement; the sizes do not depend on its values.
    let sizes = frame_sizes(
        req.payload,
        Repeat {
            copies: 1,
            window: 0,
        },
    )?;
    let frame_bytes = match (req.full_sequence, req.timed) {
        (true, timed) => sizes.repeated_full + if timed { 2 } else { 0 },
        (false, true) => sizes.repeated_timed,
        (false, false) => sizes.repeated,
    };
    let e = &req.energy;
    let air = airtime(e, frame_bytes);
    let h = req.link.hear_probability(air);
    if h <= 0.0 {
        return Err(PlanError::Unhearable);
    }
    let spacing = req.link.wake;
    let fits =
        |k: u32| k <= u32::from(MAX_COPIES) && window_for(k, spacing) <= f64::from(MAX_WINDOW_S);
    let needed = if h >= 1.0 {
        1
    } else {
        // Smallest k with 1 - (1-h)^k >= target; checked below against float rounding.
        let k = ((1.0 - req.target).ln() / (1.0 - h).ln()).ceil().max(1.0);
        let mut k = if k.is_finite() { k.min(1e9) as u32 } else { 1 };
        while k > 1 && delivery_probability(h, k - 1) >= req.target {
            k -= 1;
        }
        while delivery_probability(h, k) < req.target {
            k += 1;
        }
        k
    };
    if !fits(needed) {
        let best = (1..=u32::from(MAX_COPIES))
            .take_while(|&k| fits(k))
            .last()
            .unwrap_or(1);
        return Err(PlanError::Infeasible {
            copies_needed: needed,
            window_needed_s: window_for(needed, spacing),
            best_delivery: delivery_probability(h, best),
            best_copies: best as u8,
        });
    }
    let copies = needed;
    let delivery = delivery_probability(h, copies);
    let on_air = frame_bytes as u64 + u64::from(e.frame_overhead_bytes);
    let controller_uj = e.seal_uj + f64::from(copies) * copy_tx_uj(e, on_air);
    let heard = f64::from(copies) * h;
    let receiver_uj = heard * copy_rx_uj(e, on_air);
    let wake_s = spacing as f64 / MICROS;
    // The issue falls uniformly within a wake period; the copy is aimed at the middle of the
    // listen window and acts when its last bit is received.
    let into_window_s = ((req.link.listen.saturating_sub(air)) as f64 / 2.0 + air as f64) / MICROS;
    let mean_latency_s = wake_s / 2.0 + into_window_s + wake_s * mean_first_heard(h, copies);
    let max_latency_s =
        wake_s * f64::from(copies) + (req.link.jitter as f64 / 2.0) / MICROS + into_window_s;
    let window_s = window_for(copies, spacing) as u8;
    Ok(Plan {
        copies: copies as u8,
        window_s,
        spacing_s: wake_s,
        schedule_ms: (0..u64::from(copies)).map(|i| i * spacing / 1000).collect(),
        in_window_probability: req.link.in_window_probability(air),
        hear_probability: h,
        predicted_delivery: delivery,
        target: req.target,
        mean_latency_s,
        max_latency_s,
        expected_copies_heard: heard,
        frame: sizes,
        frame_bytes,
        on_air_bytes_per_copy: on_air,
        bytes_on_air: on_air * u64::from(copies),
        airtime_us: air,
        controller_uj,
        receiver_uj,
        controller_uj_per_delivered: controller_uj / delivery,
        receiver_uj_per_delivered: receiver_uj / delivery,
        receiver_listen_uj_per_wake: listen_uj(e, req.link.listen),
        lateness_bound_with_clock_s: u32::from(window_s) + u32::from(req.clock_tolerance_s) + 1,
    })
}
