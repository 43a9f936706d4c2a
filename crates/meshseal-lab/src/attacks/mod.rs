//! The attacks: one function per threat, written once against [`Scheme`].
//!
//! Each attack plays the scenario of its threat, acts as an attacker on the link would (record,
//! modify, withhold, replay, splice, relabel, use an insider's keys) and judges the outcome by
//! what the receivers actually did: a verdict is never fixed in advance. `Broken` means the
//! attack reached its goal (a forged or replayed command acted on, a plaintext recovered, a
//! drop unnoticed, ...); `Held` means it was carried out and failed; `NotApplicable` means the
//! scheme has nothing the attack targets, as found on its frames (for example no nonce field).
//! The lab knows the true plaintexts only to judge whether a recovery succeeded.
//!
//! Some threats also run sub-checks aimed at one idea a scheme relies on (a counter-reset
//! command, one stored number for all senders, fragments bound only by their numbers): each is a
//! [`Check`] of its own, skipped where the scheme lacks what it targets, and the cell is broken
//! when any of its checks is.

use std::collections::BTreeMap;

mod integrity;
mod keys;
mod nonce;
mod order;
mod state;

use integrity::*;
use keys::*;
use nonce::*;
use order::*;
use state::*;
pub use state::{sender_state_loss, AFTER_REMOVAL};

use rand_chacha::ChaCha20Rng;

use crate::scheme::{
    show, Class, Delivery, DeviceId, Scheme, SenderLoss, Threat, Verdict, CONTROLLER, GUEST, LAMP,
    LOCK, MEMBERS, SENSOR,
};

/// Name of the threat's main scenario among a cell's checks.
pub const MAIN: &str = "main";
/// T4 sub-check: a counter-reset command makes senders count through used nonces again.
pub const RESET_NONCE: &str = "reset-nonce";
/// T5 sub-check: after a reset, genuine or replayed, recorded frames are accepted again.
pub const RESET_REPLAY: &str = "reset-replay";
/// T6 sub-check: one sender's higher number makes another sender's frames look old.
pub const LOCKOUT: &str = "lockout";
/// T8 sub-check: any key holder sends the reset command and the receiver forgets its numbers.
pub const RESET_BY_MEMBER: &str = "reset-by-member";
/// T9 sub-check: fragments of two senders whose numbers coincide are spliced.
pub const CROSS_SENDER_SPLICE: &str = "cross-sender-splice";
/// T14 sub-check: a device's counter record is put back from an older backup.
pub const RESTORED_BACKUP: &str = "restored-backup";
/// Not run by the lab: a device's complete image (counter record and every log) is put back
/// from an older backup, which nothing on the device can tell (see [`sender_state_loss`]).
pub const IMAGE_RESTORE: &str = "image-restore";
/// T15 sub-check: once the insider is removed, not one frame of the member it claimed is
/// refused any more.
pub const AFTER_REKEY: &str = "after-rekey";
/// T15 sub-check: a member removed by a rekey with a grace period forges old-epoch frames.
pub const GRACE_PERIOD: &str = "grace-period";
/// Seconds of the grace period in the [`GRACE_PERIOD`] sub-check.
pub const GRACE: u64 = 600;
/// Seconds between the insider's forged frame and the rekey that removes it (T15), in three
/// equal steps with one plain frame of the claimed sender each.
pub const LOCKOUT_SPAN: u64 = 1800;

/// One check within an attack: the threat's main scenario ([`MAIN`]) or a sub-check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// [`MAIN`] or the sub-check's name.
    pub name: &'static str,
    /// What it found.
    pub verdict: Verdict,
    /// One line of evidence, computed from what happened.
    pub evidence: String,
}

/// What one attack found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The result: broken if any check is, held if any check held, else not applicable.
    pub verdict: Verdict,
    /// One line of evidence: the main check's, then each sub-check's as `[name] …`.
    pub evidence: String,
    /// The steps in full, for the report.
    pub details: Vec<String>,
    /// Every check that ran, the main one first.
    pub checks: Vec<Check>,
}

/// Runs the attack for `threat` against `scheme`.
pub fn run(threat: Threat, scheme: &mut dyn Scheme, rng: &mut ChaCha20Rng) -> Outcome {
    let mut log = Vec::new();
    let mut subs = Vec::new();
    let result = match threat {
        Threat::T1 => t1_integrity(scheme, &mut log),
        Threat::T2 => t2_equal_plaintexts(scheme, &mut log),
        Threat::T3 => t3_cross_device_nonce(scheme, &mut log),
        Threat::T4 => t4_reboot_nonce(scheme, &mut log, &mut subs),
        Threat::T5 => t5_replay(scheme, &mut log, &mut subs),
        Threat::T6 => t6_reorder_drop(scheme, &mut log, &mut subs),
        Threat::T7 => t7_withheld(scheme, &mut log),
        Threat::T8 => t8_state_loss(scheme, &mut log, &mut subs),
        Threat::T9 => t9_splice(scheme, &mut log, &mut subs),
        Threat::T10 => t10_exhaustion(scheme, &mut log),
        Threat::T11 => t11_departed_member(scheme, &mut log),
        Threat::T12 => t12_insider(scheme, &mut log),
        Threat::T13 => crate::traffic::t13(scheme, rng, &mut log, &mut subs),
        Threat::T14 => t14_sender_state_loss(scheme, &mut log, &mut subs),
        Threat::T15 => t15_insider_lockout(scheme, &mut log, &mut subs),
    };
    let mut checks = vec![check(MAIN, result)];
    checks.extend(subs);
    let verdict = if checks.iter().any(|c| c.verdict == Verdict::Broken) {
        Verdict::Broken
    } else if checks.iter().any(|c| c.verdict == Verdict::Held) {
        Verdict::Held
    } else {
        Verdict::NotApplicable
    };
    let evidence = checks
        .iter()
        .map(|c| {
            if c.name == MAIN {
                c.evidence.clone()
            } else {
                format!("[{}] {}", c.name, c.evidence)
            }
        })
        .collect::<Vec<_>>()
        .join("; ");
    Outcome {
        verdict,
        evidence,
        details: log,
        checks,
    }
}

/// A scenario's result as a check. A step the scheme could not perform is reported, never
/// hidden: it cannot match any expectation but `not_applicable`, and the evidence says why.
pub(crate) fn check(name: &'static str, result: Found) -> Check {
    match result {
        Ok((verdict, evidence)) => Check {
            name,
            verdict,
            evidence,
        },
        Err(e) => Check {
            name,
            verdict: Verdict::NotApplicable,
            evidence: format!("scenario could not run: {e}"),
        },
    }
}

pub(crate) type Found = Result<(Verdict, String), String>;

pub(crate) fn broken(evidence: String) -> Found {
    Ok((Verdict::Broken, evidence))
}

pub(crate) fn held(evidence: String) -> Found {
    Ok((Verdict::Held, evidence))
}

/// Counts refusal reasons and other outcomes for evidence lines.
#[derive(Default)]
pub(super) struct Tally(pub(super) BTreeMap<String, usize>);

impl Tally {
    fn add(&mut self, d: &Delivery) {
        let key = match d {
            Delivery::Refused(r) => r.clone(),
            Delivery::Accepted { .. } => "accepted".into(),
            Delivery::Buffered => "buffered".into(),
            Delivery::Answered { .. } => "answered".into(),
        };
        *self.0.entry(key).or_default() += 1;
    }

    fn total(&self) -> usize {
        self.0.values().sum()
    }

    fn summary(&self) -> String {
        if self.0.is_empty() {
            return "nothing delivered".into();
        }
        let parts: Vec<String> = self.0.iter().map(|(k, n)| format!("{k}×{n}")).collect();
        parts.join(", ")
    }
}

/// Delivers `frame` to `to` and carries every protocol answer (challenge, echo) to the device
/// it is for, as the link would; `route` maps an addressee to the device that actually
/// receives it (an attacker's rogue device listening for its claimed id). Every frame on air
/// is appended to `air` with its addressee.
pub(super) fn relay(
    s: &mut dyn Scheme,
    to: DeviceId,
    frame: &[u8],
    class: Class,
    route: &dyn Fn(DeviceId) -> DeviceId,
    air: &mut Vec<(DeviceId, Vec<u8>)>,
) -> Delivery {
    let mut to = to;
    let mut frame = frame.to_vec();
    for _ in 0..6 {
        match s.deliver(to, &frame, class) {
            Delivery::Answered { to: next, frame: f } => {
                air.push((next, f.clone()));
                to = route(next);
                frame = f;
            }
            other => return other,
        }
    }
    Delivery::Refused("exchange did not end".into())
}

pub(super) fn direct(d: DeviceId) -> DeviceId {
    d
}

/// `from` sends a command to `to` through the scheme's own protocol, every frame recorded.
pub(super) fn command(
    s: &mut dyn Scheme,
    from: DeviceId,
    to: DeviceId,
    payload: &[u8],
    air: &mut Vec<(DeviceId, Vec<u8>)>,
) -> Result<Delivery, String> {
    let f = s.seal(from, payload, Class::Command)?;
    air.push((to, f.clone()));
    Ok(relay(s, to, &f, Class::Command, &direct, air))
}

pub(super) fn accepted(d: &Delivery, want: &[u8]) -> bool {
    d.payload() == Some(want)
}

/// Replays recorded frames to `to` (answers routed as sent); whether `want` was acted on, and
/// what happened to each.
pub(super) fn replay_until(
    s: &mut dyn Scheme,
    to: DeviceId,
    frames: &[Vec<u8>],
    want: &[u8],
) -> (bool, Tally) {
    let mut tally = Tally::default();
    for f in frames {
        let d = relay(s, to, f, Class::Command, &direct, &mut Vec::new());
        tally.add(&d);
        if accepted(&d, want) {
            return (true, tally);
        }
    }
    (false, tally)
}
