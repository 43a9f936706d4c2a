//! The one interface every scheme under attack implements, so each attack is written once.
//!
//! A [`Scheme`] is a whole group of devices sharing keys: it seals as any device, delivers a
//! frame to any device's receiving side, reboots devices, loses their state, removes members
//! and lets an insider act with the key material it holds. The attacker sits on the link: it
//! sees every frame a scheme returns and decides what to deliver, when, and to whom. It knows
//! the wire format ([`Scheme::dissect`], [`Scheme::relabel`]) but never a key.
//!
//! A new mode (for example source-authenticated or rekeyed meshseal) joins the lab by
//! implementing this trait and declaring its expectations; no attack changes.

use core::ops::Range;

use serde::Serialize;

/// A device in the lab's group; rogue devices created by [`Scheme::impersonate`] get ids
/// from [`ROGUE_BASE`] on.
pub type DeviceId = u32;

/// The controller: sends commands and status reports.
pub const CONTROLLER: DeviceId = 1;
/// A lamp: receives "lamp on" / "lamp off" and configuration messages.
pub const LAMP: DeviceId = 2;
/// A door lock: receives "unlock".
pub const LOCK: DeviceId = 3;
/// A temperature sensor: reports readings to the controller.
pub const SENSOR: DeviceId = 4;
/// A guest device: a member that leaves the group (T11) or turns rogue (T12).
pub const GUEST: DeviceId = 5;
/// Every member at provisioning.
pub const MEMBERS: [DeviceId; 5] = [CONTROLLER, LAMP, LOCK, SENSOR, GUEST];
/// First id of a rogue device an insider sets up.
pub const ROGUE_BASE: DeviceId = 100;

/// The kind of traffic a frame carries; receivers may judge each kind differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Readings, status reports and configuration: delivered even when their age is unknown.
    Reading,
    /// Commands that make something happen (unlock, lamp on).
    Command,
}

/// What a receiver can say about the order of an accepted frame (T6). `None`: the receiver
/// keeps no such information.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OrderSignal {
    /// Frames the sender sent that this receiver has not seen before this one.
    pub gap: Option<u64>,
    /// This frame arrived after a later one.
    pub late: Option<bool>,
    /// The receiver can vouch that the frame is recent.
    pub fresh: Option<bool>,
}

/// What happened when a frame was delivered to a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The application received `payload`, attributed to `from`.
    Accepted {
        /// The sender the receiver believes sent it.
        from: DeviceId,
        /// The plaintext handed to the application.
        payload: Vec<u8>,
        /// Order and freshness information the receiver reports with it.
        signal: OrderSignal,
    },
    /// A fragment was taken in; nothing is delivered until its message is complete.
    Buffered,
    /// The protocol answered with a frame for device `to` (a challenge or an echo) and
    /// delivered nothing to the application.
    Answered {
        /// Who the answer is for.
        to: DeviceId,
        /// The answer on air.
        frame: Vec<u8>,
    },
    /// The frame was refused; `reason` is what the receiver says (an attacker hears it too).
    Refused(String),
}

impl Delivery {
    /// The payload if the application received one.
    pub fn payload(&self) -> Option<&[u8]> {
        match self {
            Delivery::Accepted { payload, .. } => Some(payload),
            _ => None,
        }
    }

    /// A short text for evidence strings.
    pub fn describe(&self) -> String {
        match self {
            Delivery::Accepted { from, payload, .. } => {
                format!("accepted {} from {from}", show(payload))
            }
            Delivery::Buffered => "buffered".into(),
            Delivery::Answered { to, .. } => format!("answered with a frame to {to}"),
            Delivery::Refused(r) => format!("refused {r}"),
        }
    }
}

/// Where the parts of a frame sit, as anyone who knows the wire format can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dissected {
    /// The sender id in the clear, if the frame carries one.
    pub sender: Option<DeviceId>,
    /// Everything sent in the clear before the ciphertext.
    pub header: Range<usize>,
    /// The visible counter, sequence number or IV (inside `header`; empty if none).
    pub counter: Range<usize>,
    /// The ciphertext.
    pub body: Range<usize>,
    /// The authentication tag (empty if none).
    pub tag: Range<usize>,
    /// Cipher block size when the body is a padded block-cipher output (ECB, CBC).
    pub block: Option<usize>,
}

/// How a device loses its sender state (T14).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SenderLoss {
    /// Factory reset, or the device replaced by a new one under the same identity: every
    /// persistent record (counter, logs, keys it was given) is gone.
    FactoryReset,
    /// The counter record is put back from the backup [`Scheme::back_up`] took (an operator
    /// restoring a device's settings, a state file copied back); the device's other records,
    /// such as a log of the numbers it sealed where it keeps one, are current.
    RestoredBackup,
    /// The complete image [`Scheme::back_up`] took is put back, counter record and every log
    /// with it, so nothing on the device can tell. meshseal does not cover this case
    /// (`docs/THREATS.md`); the lab's attacks never use it, a test shows what happens.
    ImageRestore,
}

impl SenderLoss {
    /// Words for evidence lines.
    pub const fn describe(self) -> &'static str {
        match self {
            SenderLoss::FactoryReset => "factory reset",
            SenderLoss::RestoredBackup => "counter record restored from a backup",
            SenderLoss::ImageRestore => "complete image restored from a backup",
        }
    }
}

/// A result of one attack against one scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The attack achieved its goal.
    Broken,
    /// The attack was carried out and failed.
    Held,
    /// The scheme has nothing the attack could target (e.g. no nonce to reuse).
    NotApplicable,
}

impl Verdict {
    /// Stable snake_case name.
    pub const fn name(self) -> &'static str {
        match self {
            Verdict::Broken => "broken",
            Verdict::Held => "held",
            Verdict::NotApplicable => "not_applicable",
        }
    }
}

/// The threats of the design (T1–T15), each run as an attack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Threat {
    /// No integrity: bit flips, forged frames, padding oracles.
    T1,
    /// Deterministic or fixed IV: equal plaintexts visible.
    T2,
    /// Nonce reuse across devices sharing the key.
    T3,
    /// Nonce reuse after a reboot.
    T4,
    /// Replay.
    T5,
    /// Reordering and dropping go unnoticed.
    T6,
    /// Delayed delivery of a withheld frame.
    T7,
    /// The receiver lost its replay state.
    T8,
    /// Spliced or truncated multi-fragment messages.
    T9,
    /// Counter exhaustion and long-lived keys.
    T10,
    /// A departed member keeps the key.
    T11,
    /// Impersonation by another key holder.
    T12,
    /// Traffic analysis of headers.
    T13,
    /// A sender lost its counter state (factory reset, replaced device, restored backup).
    T14,
    /// Insider lockout: a key holder pushes another member's replay state forward.
    T15,
}

impl Threat {
    /// All threats in order.
    pub const ALL: [Threat; 15] = [
        Threat::T1,
        Threat::T2,
        Threat::T3,
        Threat::T4,
        Threat::T5,
        Threat::T6,
        Threat::T7,
        Threat::T8,
        Threat::T9,
        Threat::T10,
        Threat::T11,
        Threat::T12,
        Threat::T13,
        Threat::T14,
        Threat::T15,
    ];

    /// "T1" … "T15".
    pub const fn id(self) -> &'static str {
        match self {
            Threat::T1 => "T1",
            Threat::T2 => "T2",
            Threat::T3 => "T3",
            Threat::T4 => "T4",
            Threat::T5 => "T5",
            Threat::T6 => "T6",
            Threat::T7 => "T7",
            Threat::T8 => "T8",
            Threat::T9 => "T9",
            Threat::T10 => "T10",
            Threat::T11 => "T11",
            Threat::T12 => "T12",
            Threat::T13 => "T13",
            Threat::T14 => "T14",
            Threat::T15 => "T15",
        }
    }

    /// Short title.
    pub const fn title(self) -> &'static str {
        match self {
            Threat::T1 => "forgery: bit flips, splices, padding oracle",
            Threat::T2 => "equal plaintexts visible",
            Threat::T3 => "nonce reuse across devices",
            Threat::T4 => "nonce reuse after reboot",
            Threat::T5 => "replay",
            Threat::T6 => "reordering and dropping unnoticed",
            Threat::T7 => "withheld frame delivered late",
            Threat::T8 => "receiver lost its replay state",
            Threat::T9 => "spliced fragments",
            Threat::T10 => "counter exhaustion, long-lived keys",
            Threat::T11 => "departed member keeps the key",
            Threat::T12 => "insider impersonation",
            Threat::T13 => "traffic analysis of headers",
            Threat::T14 => "sender state loss",
            Threat::T15 => "insider lockout",
        }
    }

    /// Parses "T5" or "t5".
    pub fn parse(s: &str) -> Option<Threat> {
        Threat::ALL
            .into_iter()
            .find(|t| t.id().eq_ignore_ascii_case(s.trim()))
    }
}

/// A group of devices under one scheme, as the attacker and the lab drive it.
pub trait Scheme {
    /// Short stable id (column key, `--scheme` filter).
    fn id(&self) -> &'static str;

    /// Human-readable name.
    fn name(&self) -> &'static str;

    /// What this scheme is expected to do against `threat`, and why (one line), fixed by its
    /// design before any attack runs: the lab compares the measured result against it.
    fn expected(&self, threat: Threat) -> (Verdict, &'static str);

    /// Device `from` seals `payload` as a single frame.
    fn seal(&mut self, from: DeviceId, payload: &[u8], class: Class) -> Result<Vec<u8>, String>;

    /// Device `from` sends `message`, split into frames of at most `mtu` bytes if needed.
    fn seal_message(
        &mut self,
        from: DeviceId,
        message: &[u8],
        mtu: usize,
    ) -> Result<Vec<Vec<u8>>, String>;

    /// Delivers `frame` to device `to`, whose application treats it as `class`.
    fn deliver(&mut self, to: DeviceId, frame: &[u8], class: Class) -> Delivery;

    /// Lets `secs` seconds pass.
    fn advance(&mut self, secs: u64);

    /// Power-cycles `device`: whatever it persists survives, RAM does not.
    fn reboot(&mut self, device: DeviceId);

    /// `device`'s receiver loses its replay and freshness state (a reboot without persisted
    /// windows, or an eviction).
    fn lose_state(&mut self, device: DeviceId);

    /// Moves `device`'s counter to the end of its space, as after years of traffic. Returns
    /// what was done, or `None` when the scheme has no counter.
    fn exhaust(&mut self, device: DeviceId) -> Option<String>;

    /// Removes `member` from the group the way the scheme can; returns what was done.
    fn remove_member(&mut self, member: DeviceId) -> String;

    /// Sets up a rogue device that holds exactly the key material of `insider` and claims to
    /// be `claimed`; returns its id for [`Scheme::seal`] and [`Scheme::deliver`].
    fn impersonate(&mut self, insider: DeviceId, claimed: DeviceId) -> Result<DeviceId, String>;

    /// The frame's layout, from the public wire format.
    fn dissect(&self, frame: &[u8]) -> Option<Dissected>;

    /// Whether the scheme carries a counter or nonce it hides from the link (masked headers):
    /// nonce-reuse attacks then try every pair of frames blind.
    fn hides_counter(&self) -> bool {
        false
    }

    /// The sequence number (or counter) an observer reads in `frame` without a key, with its
    /// width in bits: by default the dissected counter bytes, big-endian.
    fn visible_seq(&self, frame: &[u8]) -> Option<(u64, u32)> {
        let d = self.dissect(frame)?;
        let bytes = frame.get(d.counter)?;
        if bytes.is_empty() || bytes.len() > 8 {
            return None;
        }
        let v = bytes.iter().fold(0u64, |a, &b| (a << 8) | u64::from(b));
        Some((v, 8 * bytes.len() as u32))
    }

    /// The frame with its clear sender id rewritten to `sender` (no key needed), if the
    /// format carries a sender id.
    fn relabel(&self, frame: &[u8], sender: DeviceId) -> Option<Vec<u8>>;

    /// Takes a backup of `device`'s persistent state (what a backup tool copies), for a later
    /// [`SenderLoss::RestoredBackup`] or [`SenderLoss::ImageRestore`].
    fn back_up(&mut self, device: DeviceId);

    /// `device` loses its sender state as `loss` says and boots again, the way the scheme's
    /// devices boot; returns what the device did at boot.
    fn lose_sender_state(&mut self, device: DeviceId, loss: SenderLoss) -> Result<String, String>;

    /// `device`, which lost its sender state, re-joins the group through the scheme's
    /// procedure; returns what was done. `None` when the scheme has no such procedure (its
    /// devices simply carry on).
    fn rejoin(&mut self, device: DeviceId) -> Option<Result<String, String>> {
        let _ = device;
        None
    }

    /// `insider` seals one plain frame (no signature, group keys only) carrying `payload` in
    /// `claimed`'s name, with the highest sequence number or counter the format allows and
    /// only the key material `insider` holds. Returns the frame and the number it carries.
    fn forge_plain(
        &mut self,
        insider: DeviceId,
        claimed: DeviceId,
        payload: &[u8],
    ) -> Result<(Vec<u8>, String), String>;

    /// Removes `member` by a rekey whose previous epoch receivers keep accepting for `grace`
    /// seconds (for members that have not received their rekey yet); returns what was done.
    /// `None` when the scheme does not rekey on removal.
    fn remove_with_grace(&mut self, member: DeviceId, grace: u64) -> Option<String> {
        let _ = (member, grace);
        None
    }

    /// Device `from` seals the scheme's command that sets every counter back to zero, and
    /// resets its own; `None` when the scheme has no such command (meshseal has none: its
    /// counters never go back).
    fn seal_reset(&mut self, from: DeviceId) -> Option<Result<Vec<u8>, String>> {
        let _ = from;
        None
    }
}

/// Bytes shown as text when printable, as hex otherwise.
pub fn show(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "\"\" (empty)".into();
    }
    if !bytes.is_empty() && bytes.iter().all(|b| (0x20..0x7f).contains(b)) {
        format!("\"{}\"", String::from_utf8_lossy(bytes))
    } else {
        format!("0x{}", hex::encode(bytes))
    }
}
