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
struct Tally(BTreeMap<String, usize>);

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
fn relay(
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

fn direct(d: DeviceId) -> DeviceId {
    d
}

/// `from` sends a command to `to` through the scheme's own protocol, every frame recorded.
fn command(
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

fn accepted(d: &Delivery, want: &[u8]) -> bool {
    d.payload() == Some(want)
}

/// Replays recorded frames to `to` (answers routed as sent); whether `want` was acted on, and
/// what happened to each.
fn replay_until(
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

/// The visible counter field and the ciphertext of a frame.
fn parts(s: &dyn Scheme, frame: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let d = s.dissect(frame)?;
    Some((frame[d.counter].to_vec(), frame[d.body].to_vec()))
}

/// Keystream reuse: XOR of two ciphertexts and one known plaintext gives the other plaintext
/// when both frames were encrypted under the same nonce and key. Returns the candidate and
/// whether it is the true plaintext (at least 4 bytes).
fn xor_recover(
    known_ct: &[u8],
    known_pt: &[u8],
    target_ct: &[u8],
    target_pt: &[u8],
) -> (Vec<u8>, bool) {
    let n = known_ct.len().min(known_pt.len()).min(target_ct.len());
    let cand: Vec<u8> = (0..n)
        .map(|i| known_ct[i] ^ target_ct[i] ^ known_pt[i])
        .collect();
    let ok = n >= 4 && target_pt.len() >= n && cand[..] == target_pt[..n];
    (cand, ok)
}

/// A frame with its plaintext, as the lab (not the attacker) knows it.
struct Sealed {
    frame: Vec<u8>,
    plain: Vec<u8>,
}

/// What a keystream-reuse attempt found.
#[derive(Default)]
struct Reuse {
    /// Evidence of a recovered plaintext.
    recovered: Option<String>,
    /// Frame pairs with equal counter fields that were tried.
    pairs: usize,
    /// Evidence of the first pair that gave no plaintext.
    failed: Option<String>,
}

/// Looks for frames of `known` and `secret` with the same visible counter and tries keystream
/// reuse on each such pair, stopping at the first recovered plaintext. A scheme that hides its
/// counters ([`Scheme::hides_counter`]) gets every pair tried blind.
fn nonce_reuse(
    s: &dyn Scheme,
    known: &[Sealed],
    secret: &[Sealed],
    log: &mut Vec<String>,
) -> Reuse {
    if s.hides_counter() {
        return blind_reuse(known, secret, log);
    }
    let mut r = Reuse::default();
    for k in known {
        let Some((kc, kb)) = parts(s, &k.frame) else {
            continue;
        };
        for t in secret {
            let Some((tc, tb)) = parts(s, &t.frame) else {
                continue;
            };
            if kc.is_empty() || kc != tc {
                continue;
            }
            r.pairs += 1;
            let (cand, ok) = xor_recover(&kb, &k.plain, &tb, &t.plain);
            log.push(format!(
                "counter field {} seen twice: ciphertext XOR with known {} gives {}",
                hex::encode(&kc),
                show(&k.plain),
                show(&cand)
            ));
            if ok {
                r.recovered = Some(format!(
                    "counter field {} used twice: XOR of the ciphertexts with known {} revealed {}",
                    hex::encode(&kc),
                    show(&k.plain),
                    show(&cand)
                ));
                return r;
            }
            r.failed.get_or_insert_with(|| {
                format!(
                    "counter field {} seen twice, but XOR with known {} gave {}, not the plaintext: the (key, nonce) pairs differ",
                    hex::encode(&kc),
                    show(&k.plain),
                    show(&cand)
                )
            });
        }
    }
    r
}

/// Tag length assumed by the blind keystream test (an 8-byte CCM tag, as meshseal's).
const BLIND_TAG: usize = 8;

/// Keystream reuse tried on every pair when no counter can be read: the attacker takes the
/// known frame's ciphertext as its last `plain + tag` bytes and the other frame's from the same
/// offset (equal header lengths, as a reused nonce under one format would give).
fn blind_reuse(known: &[Sealed], secret: &[Sealed], log: &mut Vec<String>) -> Reuse {
    let mut r = Reuse::default();
    for k in known {
        let Some(kh) = k.frame.len().checked_sub(k.plain.len() + BLIND_TAG) else {
            continue;
        };
        for t in secret {
            if t.frame.len() < kh + BLIND_TAG {
                continue;
            }
            r.pairs += 1;
            let kb = &k.frame[kh..k.frame.len() - BLIND_TAG];
            let tb = &t.frame[kh..t.frame.len() - BLIND_TAG];
            let (cand, ok) = xor_recover(kb, &k.plain, tb, &t.plain);
            if ok {
                r.recovered = Some(format!(
                    "counters hidden, but two frames shared a keystream: XOR with known {} revealed {}",
                    show(&k.plain),
                    show(&cand)
                ));
                return r;
            }
        }
    }
    log.push(format!(
        "no counter readable: {} pairs of frames tried blind for a shared keystream, none recovered a plaintext",
        r.pairs
    ));
    r.failed = Some(format!(
        "counters hidden; {} pairs of frames tried blind for a shared keystream: none revealed a plaintext",
        r.pairs
    ));
    r
}

fn seal_all(s: &mut dyn Scheme, from: DeviceId, plains: &[&[u8]]) -> Result<Vec<Sealed>, String> {
    plains
        .iter()
        .map(|p| {
            Ok(Sealed {
                frame: s.seal(from, p, Class::Reading)?,
                plain: p.to_vec(),
            })
        })
        .collect()
}

fn has_counter(s: &dyn Scheme, frames: &[&Sealed]) -> bool {
    s.hides_counter()
        || frames
            .iter()
            .any(|f| s.dissect(&f.frame).is_some_and(|d| !d.counter.is_empty()))
}

// ---------------------------------------------------------------------------------------------
// T1: bit flips, cut and paste, padding oracle.

fn t1_integrity(s: &mut dyn Scheme, log: &mut Vec<String>) -> Found {
    let mut tally = Tally::default();
    let mut wins = Vec::new();
    // (a) The sensor's reading is intercepted and flipped in transit.
    let (from_pt, to_pt) = (b"temp=21", b"temp=91");
    let orig = s.seal(SENSOR, from_pt, Class::Reading)?;
    let delta: Vec<u8> = from_pt.iter().zip(to_pt).map(|(a, b)| a ^ b).collect();
    let offsets = orig.len().saturating_sub(delta.len()) + 1;
    for off in 0..offsets {
        let mut f = orig.clone();
        for (i, d) in delta.iter().enumerate() {
            f[off + i] ^= d;
        }
        let d = s.deliver(CONTROLLER, &f, Class::Reading);
        if accepted(&d, to_pt) {
            log.push(format!("bit flip at frame byte {off}: {}", d.describe()));
            wins.push(format!(
                "a bit flip at frame byte {off} turned \"temp=21\" into \"temp=91\", accepted"
            ));
            break;
        }
        tally.add(&d);
    }
    log.push(format!(
        "bit flips \"temp=21\"→\"temp=91\" at {offsets} offsets: {}",
        tally.summary()
    ));

    // (b) Two recorded two-block commands, cut and pasted block-wise.
    let a: &[u8] = b"dst=lock-front  cmd=unlock";
    let b: &[u8] = b"dst=lock-back   cmd=lock";
    let fa = s.seal(CONTROLLER, a, Class::Command)?;
    let fb = s.seal(CONTROLLER, b, Class::Command)?;
    let mut splice_tally = Tally::default();
    for (x, y) in [(&fa, &fb), (&fb, &fa)] {
        let (Some(dx), Some(dy)) = (s.dissect(x), s.dissect(y)) else {
            continue;
        };
        if dx.body.len() < 17 || dy.body.len() < 16 {
            continue;
        }
        let mut f = x[..dx.body.start].to_vec();
        f.extend_from_slice(&y[dy.body.start..dy.body.start + 16]);
        f.extend_from_slice(&x[dx.body.start + 16..]);
        let d = s.deliver(LOCK, &f, Class::Command);
        if let Some(p) = d.payload() {
            if p != a && p != b {
                log.push(format!(
                    "first 16 ciphertext bytes swapped: {}",
                    d.describe()
                ));
                wins.push(format!(
                    "blocks of two recorded commands cut and pasted: the lock accepted {}, never sent",
                    show(p)
                ));
                break;
            }
        }
        splice_tally.add(&d);
        tally.add(&d);
    }
    log.push(format!(
        "cut and paste of the first block: {}",
        splice_tally.summary()
    ));

    // (c) Padding oracle: do refusals tell bad padding from bad content?
    let secret: &[u8] = b"code=4711";
    let fs = s.seal(CONTROLLER, secret, Class::Command)?;
    let fk = s.seal(CONTROLLER, b"lamp on", Class::Command)?;
    let mut probes = Tally::default();
    if let Some(d) = s.dissect(&fs) {
        for v in 1..=16u8 {
            let mut f = fs.clone();
            // The last ciphertext byte: it garbles the final block and its padding.
            let Some(at) = d.body.end.checked_sub(1).filter(|&a| a >= d.body.start) else {
                break;
            };
            f[at] ^= v;
            let r = s.deliver(LOCK, &f, Class::Command);
            probes.add(&r);
            tally.add(&r);
        }
    }
    log.push(format!("padding probes: {}", probes.summary()));
    let oracle = probes.0.contains_key("bad_padding");
    if oracle {
        let mut queries = 0;
        let got = padding_oracle_decrypt(s, &fs, &fk, b"lamp on", &mut queries, log);
        if got.as_deref() == Some(secret) {
            wins.push(format!(
                "padding oracle: {queries} forged frames, answered bad_padding or not, decrypted {}",
                show(secret)
            ));
        } else {
            log.push(format!(
                "padding oracle ran {queries} queries without result"
            ));
        }
    }
    if !wins.is_empty() {
        return broken(wins.join("; "));
    }
    held(format!(
        "{} forged frames (bit flips, cut and paste, padding probes) all refused: {}{}",
        tally.total(),
        tally.summary(),
        if oracle { "" } else { "; no padding oracle" }
    ))
}

/// The standard CBC padding-oracle attack. Decrypts the first block of `target`; when the IV
/// is not in the frame (fixed IV), first recovers it from a frame of known plaintext.
fn padding_oracle_decrypt(
    s: &mut dyn Scheme,
    target: &[u8],
    known: &[u8],
    known_plain: &[u8],
    queries: &mut usize,
    log: &mut Vec<String>,
) -> Option<Vec<u8>> {
    let dt = s.dissect(target)?;
    let block = dt.block?;
    if block != 16 || dt.body.len() < 16 {
        return None;
    }
    let c: [u8; 16] = target[dt.body.start..dt.body.start + 16].try_into().ok()?;
    let inter = oracle_block(s, target, &c, queries)?;
    let prev: [u8; 16] = if dt.counter.len() == 16 {
        target[dt.counter.clone()].try_into().ok()?
    } else {
        // Fixed IV: D(C) of a known-plaintext frame, XORed with its padded plaintext.
        let dk = s.dissect(known)?;
        let ck: [u8; 16] = known[dk.body.start..dk.body.start + 16].try_into().ok()?;
        let ik = oracle_block(s, known, &ck, queries)?;
        let mut padded = known_plain.to_vec();
        let pad = 16 - known_plain.len() % 16;
        padded.extend(std::iter::repeat(pad as u8).take(pad));
        let iv: Vec<u8> = ik.iter().zip(&padded).map(|(a, b)| a ^ b).collect();
        log.push(format!(
            "fixed IV recovered from known {}: {}",
            show(known_plain),
            hex::encode(&iv)
        ));
        iv.try_into().ok()?
    };
    let mut p: Vec<u8> = inter.iter().zip(prev).map(|(a, b)| a ^ b).collect();
    let pad = usize::from(*p.last()?);
    if (1..=16).contains(&pad) && dt.body.len() == 16 {
        p.truncate(16 - pad);
    }
    log.push(format!("decrypted by padding oracle: {}", show(&p)));
    Some(p)
}

/// D(c) for one block, learned from bad_padding answers only.
fn oracle_block(
    s: &mut dyn Scheme,
    template: &[u8],
    c: &[u8; 16],
    queries: &mut usize,
) -> Option<[u8; 16]> {
    let d = s.dissect(template)?;
    let iv_in_frame = d.counter.len() == 16;
    let build = |x: &[u8; 16]| -> Vec<u8> {
        let mut f = template[..d.body.start].to_vec();
        if iv_in_frame {
            f[d.counter.clone()].copy_from_slice(x);
        } else {
            f.extend_from_slice(x);
        }
        f.extend_from_slice(c);
        f.extend_from_slice(&template[d.tag.clone()]);
        f
    };
    let mut ask = |s: &mut dyn Scheme, f: &[u8]| -> bool {
        *queries += 1;
        !matches!(s.deliver(LOCK, f, Class::Command), Delivery::Refused(r) if r == "bad_padding")
    };
    let mut inter = [0u8; 16];
    for pos in (0..16).rev() {
        let pad = (16 - pos) as u8;
        let mut found = None;
        for g in 0..=255u8 {
            let mut x = [0u8; 16];
            for k in pos + 1..16 {
                x[k] = inter[k] ^ pad;
            }
            x[pos] = g;
            if !ask(s, &build(&x)) {
                continue;
            }
            if pos == 15 {
                // Rule out a longer valid padding that happened to end in this byte.
                let mut y = x;
                y[14] ^= 0xff;
                if !ask(s, &build(&y)) {
                    continue;
                }
            }
            found = Some(g);
            break;
        }
        inter[pos] = found? ^ pad;
    }
    Some(inter)
}

// ---------------------------------------------------------------------------------------------
// T2: equal plaintexts visible.

fn t2_equal_plaintexts(s: &mut dyn Scheme, log: &mut Vec<String>) -> Found {
    let f1 = s.seal(CONTROLLER, b"lamp on", Class::Command)?;
    let f2 = s.seal(CONTROLLER, b"lamp off", Class::Command)?;
    let f3 = s.seal(CONTROLLER, b"lamp on", Class::Command)?;
    let (Some((_, b1)), Some((_, b2)), Some((_, b3))) =
        (parts(s, &f1), parts(s, &f2), parts(s, &f3))
    else {
        return Err("frames could not be dissected".into());
    };
    log.push(format!(
        "\"lamp on\" → {}, \"lamp off\" → {}, \"lamp on\" → {}",
        hex::encode(&b1),
        hex::encode(&b2),
        hex::encode(&b3)
    ));
    if b1 == b3 && b1 != b2 {
        return broken(format!(
            "\"lamp on\" sent twice gives the same ciphertext {}…; \"lamp off\" differs: an observer sees which command repeats",
            &hex::encode(&b1)[..8]
        ));
    }
    let same = b1.iter().zip(&b3).filter(|(a, b)| a == b).count();
    held(format!(
        "the two \"lamp on\" frames share {same} of {} ciphertext bytes (chance level)",
        b1.len().min(b3.len())
    ))
}

// ---------------------------------------------------------------------------------------------
// T3: nonce reuse across devices.

fn t3_cross_device_nonce(s: &mut dyn Scheme, log: &mut Vec<String>) -> Found {
    let known = seal_all(s, SENSOR, &[b"temp=21;hum=40%", b"temp=22;hum=41%"])?;
    let secret = seal_all(s, GUEST, &[b"pin=4711", b"wifi=hunter2"])?;
    let all: Vec<&Sealed> = known.iter().chain(&secret).collect();
    if !has_counter(s, &all) {
        return Ok((
            Verdict::NotApplicable,
            "frames carry no nonce, IV or counter to reuse (their determinism is T2)".into(),
        ));
    }
    let r = nonce_reuse(s, &known, &secret, log);
    if let Some(e) = r.recovered {
        return broken(format!("devices {SENSOR} and {GUEST}: {e}"));
    }
    let pairs = r.pairs;
    held(match r.failed {
        Some(f) => format!("devices {SENSOR} and {GUEST}: {f}"),
        None => format!(
            "no nonce field repeated across devices {SENSOR} and {GUEST} ({} frames, {pairs} equal pairs)",
            all.len()
        ),
    })
}

// ---------------------------------------------------------------------------------------------
// T4: nonce reuse after reboot.

fn t4_reboot_nonce(s: &mut dyn Scheme, log: &mut Vec<String>, subs: &mut Vec<Check>) -> Found {
    let known = seal_all(s, SENSOR, &[b"temp=21;hum=40%", b"temp=22;hum=41%"])?;
    let main = t4_after_reboot(s, &known, log);
    if let Some(reset) = s.seal_reset(CONTROLLER) {
        subs.push(check(RESET_NONCE, reset_nonce(s, reset, &known, log)));
    }
    main
}

fn t4_after_reboot(s: &mut dyn Scheme, known: &[Sealed], log: &mut Vec<String>) -> Found {
    s.reboot(SENSOR);
    let secret = seal_all(s, SENSOR, &[b"pin=4711", b"alarm=off"])?;
    let all: Vec<&Sealed> = known.iter().chain(&secret).collect();
    if !has_counter(s, &all) {
        return Ok((
            Verdict::NotApplicable,
            "frames carry no nonce, IV or counter to reuse (their determinism is T2)".into(),
        ));
    }
    let before = parts(s, &known[0].frame).map(|p| hex::encode(p.0));
    let after = parts(s, &secret[0].frame).map(|p| hex::encode(p.0));
    log.push(format!(
        "first counter field before reboot {}, after {}",
        before.as_deref().unwrap_or("?"),
        after.as_deref().unwrap_or("?")
    ));
    let r = nonce_reuse(s, known, &secret, log);
    if let Some(e) = r.recovered {
        return broken(format!("after a reboot of device {SENSOR}: {e}"));
    }
    held(match r.failed {
        Some(f) => format!("after reboot: {f}"),
        None => format!(
            "counter field {} before the reboot, {} after: no nonce repeated",
            before.unwrap_or_default(),
            after.unwrap_or_default()
        ),
    })
}

/// The controller resets the counters; the sensor seals secrets afterwards and the attacker
/// looks for counter fields it saw before the reset.
fn reset_nonce(
    s: &mut dyn Scheme,
    reset: Result<Vec<u8>, String>,
    known: &[Sealed],
    log: &mut Vec<String>,
) -> Found {
    let reset = reset?;
    let d = s.deliver(SENSOR, &reset, Class::Command);
    log.push(format!(
        "[{RESET_NONCE}] the controller's reset command reaches the sensor: {}",
        d.describe()
    ));
    let secret = seal_all(s, SENSOR, &[b"code=0042", b"door=open"])?;
    let r = nonce_reuse(s, known, &secret, log);
    if let Some(e) = r.recovered {
        return broken(format!(
            "after the reset command device {SENSOR} counted from 0 again under the same key: {e}"
        ));
    }
    held(format!(
        "the reset command ({}) did not make the sensor repeat a nonce",
        d.describe()
    ))
}

// ---------------------------------------------------------------------------------------------
// T5: replay.

fn t5_replay(s: &mut dyn Scheme, log: &mut Vec<String>, subs: &mut Vec<Check>) -> Found {
    let mut air = Vec::new();
    let d = command(s, CONTROLLER, LOCK, b"unlock", &mut air)?;
    log.push(format!("controller → lock \"unlock\": {}", d.describe()));
    if !accepted(&d, b"unlock") {
        return Err(format!(
            "the genuine command was not accepted: {}",
            d.describe()
        ));
    }
    let to_lock: Vec<Vec<u8>> = air
        .iter()
        .filter(|(to, _)| *to == LOCK)
        .map(|(_, f)| f.clone())
        .collect();
    let main = t5_replay_recorded(s, &to_lock, log);
    if let Some(reset) = s.seal_reset(CONTROLLER) {
        subs.push(check(RESET_REPLAY, reset_replay(s, reset, &to_lock, log)));
    }
    main
}

fn t5_replay_recorded(s: &mut dyn Scheme, to_lock: &[Vec<u8>], log: &mut Vec<String>) -> Found {
    let mut tally = Tally::default();
    for f in to_lock {
        let d = relay(s, LOCK, f, Class::Command, &direct, &mut Vec::new());
        log.push(format!("replay as recorded: {}", d.describe()));
        if accepted(&d, b"unlock") {
            return broken("a recorded \"unlock\" replayed as is: the lock unlocked again".into());
        }
        tally.add(&d);
    }
    for f in to_lock {
        for other in MEMBERS
            .into_iter()
            .filter(|&m| m != CONTROLLER && m != LOCK)
        {
            let Some(g) = s.relabel(f, other) else {
                continue;
            };
            let d = relay(s, LOCK, &g, Class::Command, &direct, &mut Vec::new());
            if accepted(&d, b"unlock") {
                log.push(format!(
                    "replay relabelled as sender {other}: {}",
                    d.describe()
                ));
                return broken(format!(
                    "a recorded \"unlock\" replayed with its sender id rewritten to {other}: the lock unlocked again"
                ));
            }
            tally.add(&d);
        }
    }
    held(format!(
        "{} replays of the recorded \"unlock\" frames (as is and relabelled) refused: {}",
        tally.total(),
        tally.summary()
    ))
}

/// The operator's controller resets the counters (recorded by the attacker); the recorded
/// "unlock" is replayed after it, and again after the recorded reset is itself replayed.
fn reset_replay(
    s: &mut dyn Scheme,
    reset: Result<Vec<u8>, String>,
    to_lock: &[Vec<u8>],
    log: &mut Vec<String>,
) -> Found {
    let reset = reset?;
    let d = s.deliver(LOCK, &reset, Class::Command);
    log.push(format!(
        "[{RESET_REPLAY}] the controller resets the counters, the attacker records it: the lock {}",
        d.describe()
    ));
    let (after_genuine, t1) = replay_until(s, LOCK, to_lock, b"unlock");
    log.push(format!(
        "[{RESET_REPLAY}] recorded \"unlock\" replayed after the reset: {}",
        t1.summary()
    ));
    let (again, t2) = replay_until(s, LOCK, to_lock, b"unlock");
    log.push(format!(
        "[{RESET_REPLAY}] recorded \"unlock\" replayed once more: {}",
        t2.summary()
    ));
    let d2 = s.deliver(LOCK, &reset, Class::Command);
    log.push(format!(
        "[{RESET_REPLAY}] the recorded reset command replayed: the lock {}",
        d2.describe()
    ));
    let (after_replayed, t3) = replay_until(s, LOCK, to_lock, b"unlock");
    log.push(format!(
        "[{RESET_REPLAY}] recorded \"unlock\" replayed after that: {}",
        t3.summary()
    ));
    match (after_genuine, again, after_replayed) {
        (true, false, true) => broken(format!(
            "after the controller's genuine reset the recorded \"unlock\" unlocked the lock again; replayed once more it was refused ({}), but after the recorded reset command was replayed ({}) it unlocked once more: the attacker rewinds the lock at will",
            t2.summary(),
            d2.describe()
        )),
        (true, _, _) => broken(
            "after the controller's genuine reset the recorded \"unlock\" unlocked the lock again"
                .into(),
        ),
        (false, _, true) => broken(format!(
            "the recorded reset command, replayed ({}), made the lock take the recorded \"unlock\" again",
            d2.describe()
        )),
        (false, _, false) => held(format!(
            "the reset ({}) and its replay ({}) left the recorded \"unlock\" refused: {}; {}",
            d.describe(),
            d2.describe(),
            t1.summary(),
            t3.summary()
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// T6: reordering and dropping.

fn t6_reorder_drop(s: &mut dyn Scheme, log: &mut Vec<String>, subs: &mut Vec<Check>) -> Found {
    let plains: [&[u8]; 5] = [b"temp=20", b"temp=21", b"temp=22", b"temp=23", b"temp=24"];
    let frames = seal_all(s, SENSOR, &plains)?;
    let main = t6_drop_and_swap(s, &frames, &plains, log);
    subs.push(check(LOCKOUT, lockout(s, &frames[4].frame, log)));
    main
}

fn t6_drop_and_swap(
    s: &mut dyn Scheme,
    frames: &[Sealed],
    plains: &[&[u8]],
    log: &mut Vec<String>,
) -> Found {
    // Drop the second reading, swap the last two.
    let mut gap_seen = 0;
    let mut late = 0;
    let mut reorder_seen = false;
    let mut late_refused = None;
    let mut got = Vec::new();
    for i in [0usize, 2, 4, 3] {
        let d = s.deliver(CONTROLLER, &frames[i].frame, Class::Reading);
        log.push(format!("deliver {}: {}", show(plains[i]), d.describe()));
        match &d {
            Delivery::Accepted {
                payload, signal, ..
            } => {
                got.push(show(payload));
                gap_seen += signal.gap.unwrap_or(0);
                if signal.late == Some(true) {
                    late += 1;
                    reorder_seen |= i == 3;
                }
            }
            Delivery::Refused(r) if i == 3 => {
                reorder_seen = true;
                late_refused = Some(r.clone());
            }
            _ => {}
        }
    }
    let drop_seen = gap_seen > 0;
    if drop_seen && reorder_seen {
        let reorder = match late_refused {
            Some(r) => format!("refused ({r})"),
            None => "flagged late".into(),
        };
        return held(format!(
            "gaps of {gap_seen} reported, {late} filled late: the dropped \"temp=21\" counted missing, \"temp=23\" after \"temp=24\" {reorder}"
        ));
    }
    broken(format!(
        "controller got [{}] with {} and {}",
        got.join(", "),
        if drop_seen {
            "the drop reported"
        } else {
            "no report of the dropped \"temp=21\""
        },
        if reorder_seen {
            "the reorder noticed"
        } else {
            "the reorder unnoticed"
        }
    ))
}

/// The controller commands the lamp; the sensor's latest reading (recorded on its way to the
/// controller) is delivered to the lamp, as recorded and relabelled as the controller; after
/// each, the controller commands the lamp again.
fn lockout(s: &mut dyn Scheme, reading: &[u8], log: &mut Vec<String>) -> Found {
    let d = command(s, CONTROLLER, LAMP, b"lamp on", &mut Vec::new())?;
    log.push(format!(
        "[{LOCKOUT}] controller → lamp \"lamp on\": {}",
        d.describe()
    ));
    if !accepted(&d, b"lamp on") {
        return Err(format!(
            "the controller's genuine \"lamp on\" was not accepted: {}",
            d.describe()
        ));
    }
    let mut seen = Vec::new();
    for (how, frame, next) in [
        ("as recorded", Some(reading.to_vec()), &b"lamp off"[..]),
        (
            "relabelled as the controller",
            s.relabel(reading, CONTROLLER),
            &b"lamp on"[..],
        ),
    ] {
        let Some(frame) = frame else {
            continue;
        };
        let d = s.deliver(LAMP, &frame, Class::Reading);
        let gap = match &d {
            Delivery::Accepted { signal, .. } => signal.gap.filter(|&g| g > 0),
            _ => None,
        };
        let took = format!(
            "{}{}",
            d.describe(),
            gap.map(|g| format!(", reporting {g} missing"))
                .unwrap_or_default()
        );
        log.push(format!(
            "[{LOCKOUT}] the sensor's recorded \"temp=24\" delivered to the lamp {how}: {took}"
        ));
        let c = command(s, CONTROLLER, LAMP, next, &mut Vec::new())?;
        log.push(format!(
            "[{LOCKOUT}] controller → lamp {}: {}",
            show(next),
            c.describe()
        ));
        if !accepted(&c, next) {
            return broken(format!(
                "the sensor's recorded reading, delivered to the lamp {how} ({took}), made the lamp refuse the controller's genuine {} ({}): one sender's higher number locked another out",
                show(next),
                c.describe()
            ));
        }
        seen.push(format!("{how}: {took}"));
    }
    held(format!(
        "the sensor's recorded reading at the lamp ({}); the controller's commands after it were accepted",
        seen.join("; ")
    ))
}

// ---------------------------------------------------------------------------------------------
// T7: a withheld command delivered late.

fn t7_withheld(s: &mut dyn Scheme, log: &mut Vec<String>) -> Found {
    const DELAY: u64 = 3600;
    // (a) The command is jammed at the lock and recorded; the user walks away.
    let f = s.seal(CONTROLLER, b"unlock", Class::Command)?;
    s.advance(DELAY);
    let mut air = Vec::new();
    let d = relay(s, LOCK, &f, Class::Command, &direct, &mut air);
    log.push(format!(
        "\"unlock\" withheld {DELAY} s, then delivered: {}",
        d.describe()
    ));
    if accepted(&d, b"unlock") {
        return broken(format!(
            "\"unlock\" withheld for {DELAY} s, then delivered: the lock acted on it"
        ));
    }
    let first = if air.is_empty() {
        d.describe()
    } else {
        format!(
            "the lock challenged it and the controller, no longer waiting, {}",
            d.describe()
        )
    };
    // (b) Later, the user unlocks again: the exchange runs, but its last frame (the one that
    // acts) is withheld. (Later, so that nothing left open by (a) is still pending.)
    s.advance(DELAY);
    let f = s.seal(CONTROLLER, b"unlock", Class::Command)?;
    let mut last = f.clone();
    let mut hop = s.deliver(LOCK, &f, Class::Command);
    let mut to_lock = true;
    while let Delivery::Answered { to, frame } = &hop {
        to_lock = *to == LOCK;
        last = frame.clone();
        if to_lock {
            break;
        }
        hop = s.deliver(*to, &last, Class::Command);
    }
    if !to_lock || last == f {
        log.push(format!(
            "single-frame protocol: nothing else to withhold ({})",
            hop.describe()
        ));
        return held(format!("\"unlock\" withheld {DELAY} s: {first}"));
    }
    s.advance(DELAY);
    let d = s.deliver(LOCK, &last, Class::Command);
    log.push(format!(
        "final frame of the exchange withheld {DELAY} s, then delivered: {}",
        d.describe()
    ));
    if accepted(&d, b"unlock") {
        return broken(format!(
            "the exchange's final frame withheld {DELAY} s, then delivered: the lock acted on it"
        ));
    }
    held(format!(
        "\"unlock\" withheld {DELAY} s: {first}; its echo withheld {DELAY} s: {}",
        d.describe()
    ))
}

// ---------------------------------------------------------------------------------------------
// T8: the receiver lost its state.

fn t8_state_loss(s: &mut dyn Scheme, log: &mut Vec<String>, subs: &mut Vec<Check>) -> Found {
    let mut air = Vec::new();
    let d = command(s, CONTROLLER, LOCK, b"unlock", &mut air)?;
    if !accepted(&d, b"unlock") {
        return Err(format!(
            "the genuine command was not accepted: {}",
            d.describe()
        ));
    }
    let to_lock: Vec<Vec<u8>> = air
        .iter()
        .filter(|(to, _)| *to == LOCK)
        .map(|(_, f)| f.clone())
        .collect();
    let main = t8_after_loss(s, &to_lock, log);
    let rogue = s.impersonate(SENSOR, CONTROLLER);
    if let Some(reset) = rogue.as_ref().ok().and_then(|&r| s.seal_reset(r)) {
        subs.push(check(
            RESET_BY_MEMBER,
            reset_by_member(s, reset, &to_lock, log),
        ));
    }
    main
}

fn t8_after_loss(s: &mut dyn Scheme, to_lock: &[Vec<u8>], log: &mut Vec<String>) -> Found {
    let reading = s.seal(SENSOR, b"temp=21", Class::Reading)?;
    let d0 = s.deliver(LOCK, &reading, Class::Reading);
    log.push(format!("reading before the state loss: {}", d0.describe()));
    s.lose_state(LOCK);
    log.push("the lock lost its replay and freshness state".into());
    let mut tally = Tally::default();
    for f in to_lock {
        let d = relay(s, LOCK, f, Class::Command, &direct, &mut Vec::new());
        log.push(format!("recorded frame replayed: {}", d.describe()));
        if accepted(&d, b"unlock") {
            return broken(
                "after the lock lost its state, a recorded \"unlock\" replayed: the lock unlocked"
                    .into(),
            );
        }
        tally.add(&d);
    }
    let d1 = s.deliver(LOCK, &reading, Class::Reading);
    log.push(format!(
        "recorded reading replayed after the loss: {}{}",
        d1.describe(),
        match &d1 {
            Delivery::Accepted { signal, .. } if signal.fresh == Some(false) =>
                " (flagged: freshness unknown)",
            _ => "",
        }
    ));
    held(format!(
        "after the lock lost its state, replays of the recorded \"unlock\" refused: {}",
        tally.summary()
    ))
}

/// The sensor, a member holding the group key, sends the reset command from the controller's
/// address; the recorded "unlock" is replayed before and after.
fn reset_by_member(
    s: &mut dyn Scheme,
    reset: Result<Vec<u8>, String>,
    to_lock: &[Vec<u8>],
    log: &mut Vec<String>,
) -> Found {
    let reset = reset?;
    let (before, t0) = replay_until(s, LOCK, to_lock, b"unlock");
    log.push(format!(
        "[{RESET_BY_MEMBER}] recorded \"unlock\" replayed: {}",
        t0.summary()
    ));
    if before {
        return Err("the recorded \"unlock\" was taken even before the reset".into());
    }
    let d = s.deliver(LOCK, &reset, Class::Command);
    log.push(format!(
        "[{RESET_BY_MEMBER}] the sensor sends the reset command as the controller: the lock {}",
        d.describe()
    ));
    let (after, t1) = replay_until(s, LOCK, to_lock, b"unlock");
    log.push(format!(
        "[{RESET_BY_MEMBER}] recorded \"unlock\" replayed again: {}",
        t1.summary()
    ));
    if after {
        return broken(format!(
            "the sensor ({SENSOR}), holding the group key like every member, sent the reset command as the controller ({}); the recorded \"unlock\", refused just before ({}), unlocked the lock again",
            d.describe(),
            t0.summary()
        ));
    }
    held(format!(
        "a member's reset command ({}) left the recorded \"unlock\" refused: {}",
        d.describe(),
        t1.summary()
    ))
}

// ---------------------------------------------------------------------------------------------
// T9: spliced fragments.

fn t9_splice(s: &mut dyn Scheme, log: &mut Vec<String>, subs: &mut Vec<Check>) -> Found {
    let main = t9_one_sender(s, log);
    subs.push(check(CROSS_SENDER_SPLICE, cross_sender_splice(s, log)));
    main
}

fn t9_one_sender(s: &mut dyn Scheme, log: &mut Vec<String>) -> Found {
    let a: &[u8] = b"cfg:on=07:00;off=23:00;days=mon-fri;dim=080;scene=work";
    let b: &[u8] = b"cfg:on=09:30;off=01:00;days=sat-sun;dim=100;scene=play";
    const MTU: usize = 48;
    let fa = s.seal_message(CONTROLLER, a, MTU)?;
    let fb = s.seal_message(CONTROLLER, b, MTU)?;
    if fa.len() < 2 || fa.len() != fb.len() {
        return Err(format!(
            "messages did not split alike ({} and {} frames)",
            fa.len(),
            fb.len()
        ));
    }
    log.push(format!(
        "two configuration messages of {} fragments each",
        fa.len()
    ));
    let mut tally = Tally::default();
    for (x, y, name) in [(&fa, &fb, "A"), (&fb, &fa, "B")] {
        let spliced: Vec<&Vec<u8>> = x.iter().take(1).chain(y.iter().skip(1)).collect();
        for f in spliced {
            let d = s.deliver(LAMP, f, Class::Reading);
            if let Some(p) = d.payload() {
                log.push(format!("delivered: {}", show(p)));
                if p != a && p != b {
                    return broken(format!(
                        "first fragment of {name} spliced onto the rest of the other: the lamp took {}",
                        show(p)
                    ));
                }
            }
            tally.add(&d);
        }
    }
    held(format!(
        "no spliced message delivered ({}{})",
        tally.summary(),
        if tally.0.contains_key("accepted") {
            "; the accepted ones are the genuine messages, completed by their own fragments"
        } else {
            ""
        }
    ))
}

/// The lamp and the guest's app (both counting from where they are, here the start) each send
/// the controller a schedule in several fragments; the lamp's first fragment is delivered with
/// the guest's other fragments, as recorded and relabelled as the lamp.
fn cross_sender_splice(s: &mut dyn Scheme, log: &mut Vec<String>) -> Found {
    let a: &[u8] = b"cfg:lamp;on=07:00;off=23:00;days=mon-fri;dim=080;scene=work";
    let b: &[u8] = b"cfg:app;on=03:00;off=03:05;days=sat-sun;dim=100;scene=away!";
    const MTU: usize = 48;
    let fa = s.seal_message(LAMP, a, MTU)?;
    let fb = s.seal_message(GUEST, b, MTU)?;
    if fa.len() < 2 || fa.len() != fb.len() {
        return Err(format!(
            "messages did not split alike ({} and {} frames)",
            fa.len(),
            fb.len()
        ));
    }
    // Counter fields, shown when the frames carry short counters (not IVs).
    let numbers = |frames: &[Vec<u8>]| {
        frames
            .iter()
            .filter_map(|f| parts(s, f).map(|(c, _)| c))
            .filter(|c| !c.is_empty() && c.len() <= 8)
            .map(hex::encode)
            .collect::<Vec<_>>()
            .join(",")
    };
    let (na, nb) = (numbers(&fa), numbers(&fb[1..]));
    log.push(format!(
        "[{CROSS_SENDER_SPLICE}] the lamp's fragments carry counter fields {na}; the guest's later ones {nb}"
    ));
    let mut tally = Tally::default();
    let d = s.deliver(CONTROLLER, &fa[0], Class::Reading);
    tally.add(&d);
    for (how, relabel) in [("as recorded", false), ("relabelled as the lamp", true)] {
        for f in &fb[1..] {
            let f = if relabel {
                match s.relabel(f, LAMP) {
                    Some(g) => g,
                    None => continue,
                }
            } else {
                f.clone()
            };
            let d = s.deliver(CONTROLLER, &f, Class::Reading);
            if let Some(p) = d.payload() {
                log.push(format!("[{CROSS_SENDER_SPLICE}] delivered: {}", show(p)));
                if p != a && p != b {
                    return broken(format!(
                        "the lamp's first fragment followed by the guest's others {how}{}: the controller took {}",
                        if nb.is_empty() {
                            String::new()
                        } else {
                            format!(" (counter fields {nb}; the lamp's were {na})")
                        },
                        show(p)
                    ));
                }
            }
            tally.add(&d);
        }
    }
    held(format!(
        "the lamp's first fragment with the guest's others, as recorded and relabelled: no mixture delivered ({})",
        tally.summary()
    ))
}

// ---------------------------------------------------------------------------------------------
// T10: counter exhaustion.

fn t10_exhaustion(s: &mut dyn Scheme, log: &mut Vec<String>) -> Found {
    let known = seal_all(s, SENSOR, &[b"temp=21;hum=40%", b"temp=22;hum=41%"])?;
    let Some(what) = s.exhaust(SENSOR) else {
        return Ok((
            Verdict::NotApplicable,
            "no counter to exhaust (and nothing in the scheme ever replaces its key)".into(),
        ));
    };
    log.push(what.clone());
    let secrets: [&[u8]; 4] = [b"pin=4711", b"door=open", b"alarm=off", b"code=0042"];
    let mut sealed = Vec::new();
    let mut refused = None;
    for p in secrets {
        match s.seal(SENSOR, p, Class::Reading) {
            Ok(frame) => sealed.push(Sealed {
                frame,
                plain: p.to_vec(),
            }),
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    log.push(format!(
        "{} frames sealed at the end of the space{}",
        sealed.len(),
        refused
            .as_ref()
            .map(|e| format!(", then the sender refused: {e}"))
            .unwrap_or_default()
    ));
    if let Some(e) = nonce_reuse(s, &known, &sealed, log).recovered {
        return broken(format!("{what}; it wrapped: {e}"));
    }
    held(match refused {
        Some(e) => format!(
            "{what}: {} more frames, then the sender refused ({e}); no nonce repeated",
            sealed.len()
        ),
        None => format!("{what}: {} more frames, no nonce repeated", sealed.len()),
    })
}

// ---------------------------------------------------------------------------------------------
// T11 and T12: key holders who should not be trusted.

/// A rogue device holding `insider`'s key material sends "unlock" to the lock as `claimed`,
/// answering any challenge addressed to `claimed` itself (it listens on the air).
fn rogue_unlock(
    s: &mut dyn Scheme,
    insider: DeviceId,
    claimed: DeviceId,
    log: &mut Vec<String>,
) -> Result<Delivery, String> {
    let rogue = s.impersonate(insider, claimed)?;
    let f = s.seal(rogue, b"unlock", Class::Command)?;
    let route = move |to: DeviceId| if to == claimed { rogue } else { to };
    let d = relay(s, LOCK, &f, Class::Command, &route, &mut Vec::new());
    log.push(format!(
        "device {insider}'s keys, claiming to be {claimed}: \"unlock\" → {}",
        d.describe()
    ));
    Ok(d)
}

fn t11_departed_member(s: &mut dyn Scheme, log: &mut Vec<String>) -> Found {
    let what = s.remove_member(GUEST);
    log.push(what.clone());
    let own = rogue_unlock(s, GUEST, GUEST, log)?;
    if accepted(&own, b"unlock") {
        return broken(format!(
            "member {GUEST} removed ({what}), yet its \"unlock\" under its own id was accepted"
        ));
    }
    let other = rogue_unlock(s, GUEST, CONTROLLER, log)?;
    if accepted(&other, b"unlock") {
        return broken(format!(
            "removed member {GUEST} is {} as itself, but with the key it kept it sealed \"unlock\" as member {CONTROLLER}: accepted",
            own.describe()
        ));
    }
    held(format!(
        "removed member {GUEST}: as itself {}; as member {CONTROLLER} {}",
        own.describe(),
        other.describe()
    ))
}

fn t12_insider(s: &mut dyn Scheme, log: &mut Vec<String>) -> Found {
    let d = rogue_unlock(s, SENSOR, CONTROLLER, log)?;
    if accepted(&d, b"unlock") {
        return broken(format!(
            "the sensor ({SENSOR}) sealed \"unlock\" as the controller ({CONTROLLER}) with the key all members share and the lock accepted it: a shared group key gives no source authentication"
        ));
    }
    held(format!(
        "the sensor's \"unlock\" claiming to be the controller: {}",
        d.describe()
    ))
}

// ---------------------------------------------------------------------------------------------
// T14: a sender lost its state.

fn t14_sender_state_loss(
    s: &mut dyn Scheme,
    log: &mut Vec<String>,
    subs: &mut Vec<Check>,
) -> Found {
    // The lamp's flash is backed up at commissioning, before it sent anything.
    s.back_up(LAMP);
    let main = sender_loss(s, SENSOR, SenderLoss::FactoryReset, log);
    subs.push(check(
        RESTORED_BACKUP,
        sender_loss(s, LAMP, SenderLoss::RestoredBackup, log),
    ));
    main
}

/// One sender state loss, as a check of its own: `device` sends known readings to the
/// controller, loses its sender state as `loss` says (a restore puts back what
/// [`Scheme::back_up`] took, so take the backup first), and sends secrets, re-joining first
/// where the scheme does not let it seal; the attacker XORs every pair of frames whose counter
/// fields are equal. Held only if no plaintext was recovered and the controller accepted the
/// device's new frames. The check is named [`MAIN`], [`RESTORED_BACKUP`] or [`IMAGE_RESTORE`]
/// after `loss`; its steps are appended to `log`.
pub fn sender_state_loss(
    s: &mut dyn Scheme,
    device: DeviceId,
    loss: SenderLoss,
    log: &mut Vec<String>,
) -> Check {
    let name = match loss {
        SenderLoss::FactoryReset => MAIN,
        SenderLoss::RestoredBackup => RESTORED_BACKUP,
        SenderLoss::ImageRestore => IMAGE_RESTORE,
    };
    check(name, sender_loss(s, device, loss, log))
}

fn sender_loss(
    s: &mut dyn Scheme,
    device: DeviceId,
    loss: SenderLoss,
    log: &mut Vec<String>,
) -> Found {
    let p = match loss {
        SenderLoss::FactoryReset => String::new(),
        SenderLoss::RestoredBackup => format!("[{RESTORED_BACKUP}] "),
        SenderLoss::ImageRestore => format!("[{IMAGE_RESTORE}] "),
    };
    let known = seal_all(s, device, &[b"temp=21;hum=40%", b"temp=22;hum=41%"])?;
    let mut heard = Tally::default();
    for k in &known {
        heard.add(&s.deliver(CONTROLLER, &k.frame, Class::Reading));
    }
    log.push(format!(
        "{p}device {device} sends 2 known readings to the controller: {}",
        heard.summary()
    ));
    let what = s.lose_sender_state(device, loss)?;
    log.push(format!("{p}{what}"));
    let mut steps = vec![what];
    let plains: [&[u8]; 2] = [b"pin=4711", b"alarm=off"];
    let secret = match seal_all(s, device, &plains) {
        Ok(v) => v,
        Err(e) => {
            log.push(format!("{p}device {device} tries to seal: refused {e}"));
            steps.push(format!("sealing refused ({e})"));
            let how = s.rejoin(device).ok_or_else(|| {
                format!("device {device} cannot seal ({e}) and the scheme has no way back")
            })??;
            log.push(format!("{p}re-join: {how}"));
            steps.push(format!("it re-joined: {how}"));
            seal_all(s, device, &plains)?
        }
    };
    let all: Vec<&Sealed> = known.iter().chain(&secret).collect();
    if !has_counter(s, &all) {
        return Ok((
            Verdict::NotApplicable,
            "frames carry no nonce, IV or counter to reuse (their determinism is T2)".into(),
        ));
    }
    let field = |f: &Sealed| {
        parts(s, &f.frame)
            .map(|(c, _)| hex::encode(c))
            .unwrap_or_default()
    };
    let (before, after) = (field(&known[0]), field(&secret[0]));
    log.push(format!(
        "{p}first counter field before the loss {before}, after {after}"
    ));
    let r = nonce_reuse(s, &known, &secret, log);
    if let Some(e) = r.recovered {
        return broken(format!("{}; {e}", steps.join("; ")));
    }
    let mut tally = Tally::default();
    for f in &secret {
        let d = s.deliver(CONTROLLER, &f.frame, Class::Reading);
        log.push(format!(
            "{p}its new frame at the controller: {}",
            d.describe()
        ));
        if !accepted(&d, &f.plain) {
            return Err(format!(
                "{}; no nonce repeated, but the controller did not take the device's new frame: {}",
                steps.join("; "),
                d.describe()
            ));
        }
        tally.add(&d);
    }
    held(format!(
        "{}; {}; its {} new frames accepted by the controller",
        steps.join("; "),
        r.failed.unwrap_or_else(|| format!(
            "counter field {before} before, {after} after: none repeated"
        )),
        tally.total()
    ))
}

// ---------------------------------------------------------------------------------------------
// T15: a key holder pushes another member's replay state forward.

/// Readings the controller sends the lamp after the insider's removal, at most: more than
/// meshseal's default period of full-length numbers (16), so a receiver that lost track of
/// the sender's numbers is seen to resynchronise, or not.
pub const AFTER_REMOVAL: usize = 20;

fn t15_insider_lockout(s: &mut dyn Scheme, log: &mut Vec<String>, subs: &mut Vec<Check>) -> Found {
    let main = match insider_lockout(s, log) {
        Ok((main, after)) => {
            if let Some(after) = after {
                subs.push(check(AFTER_REKEY, after));
            }
            main
        }
        Err(e) => Err(e),
    };
    if let Some(what) = s.remove_with_grace(GUEST, GRACE) {
        log.push(format!("[{GRACE_PERIOD}] {what}"));
        subs.push(check(GRACE_PERIOD, grace_period(s, log)));
    }
    main
}

/// What a run of plain readings met at a receiver.
#[derive(Default)]
struct Readings {
    /// Refused before the first accepted one.
    refused_first: usize,
    /// Accepted.
    ok: usize,
    /// Bytes of the counter field of the first accepted one.
    first_ok_counter: Option<usize>,
    /// Bytes of the counter field of every reading sent, in order (when the format shows one).
    counters: Vec<usize>,
    tally: Tally,
}

impl Readings {
    /// The counter field lengths of the readings, run by run: "5 bytes×14, then 1 byte×6".
    fn counter_runs(&self) -> String {
        let mut runs: Vec<(usize, usize)> = Vec::new();
        for &n in &self.counters {
            match runs.last_mut() {
                Some((len, count)) if *len == n => *count += 1,
                _ => runs.push((n, 1)),
            }
        }
        runs.iter()
            .map(|(len, count)| format!("{len} byte{}×{count}", if *len == 1 { "" } else { "s" }))
            .collect::<Vec<_>>()
            .join(", then ")
    }
}

/// `from` sends `n` plain readings to `to`, `gap` seconds before each.
fn readings(
    s: &mut dyn Scheme,
    from: DeviceId,
    to: DeviceId,
    n: usize,
    gap: u64,
) -> Result<Readings, String> {
    let payload: &[u8] = b"status=ok";
    let mut r = Readings::default();
    for _ in 0..n {
        s.advance(gap);
        let f = s.seal(from, payload, Class::Reading)?;
        let counter = s.dissect(&f).map(|d| d.counter.len());
        r.counters.extend(counter);
        let d = s.deliver(to, &f, Class::Reading);
        r.tally.add(&d);
        if accepted(&d, payload) {
            if r.ok == 0 {
                r.first_ok_counter = counter;
            }
            r.ok += 1;
        } else if r.ok == 0 {
            r.refused_first += 1;
        }
    }
    Ok(r)
}

/// One plain frame the sensor forges in the controller's name at the highest number, delivered
/// to the lock and the lamp. Until the insider is removed ([`LOCKOUT_SPAN`] seconds): the
/// controller commands the lock, sends three readings to the lamp, and the lock sends the lamp a
/// reading. Then the sensor is removed, and the controller commands the lock and sends the lamp
/// [`AFTER_REMOVAL`] readings.
///
/// The main check is broken when the controller's commands are refused, another sender is
/// refused, or the lamp never hears the controller's readings again after the removal. When the
/// lamp does hear them again, the [`AFTER_REKEY`] check is broken if it still refused any of
/// them after the removal (the design's rule: one forged frame denies nothing beyond the next
/// rekey).
fn insider_lockout(
    s: &mut dyn Scheme,
    log: &mut Vec<String>,
) -> Result<(Found, Option<Found>), String> {
    let status: &[u8] = b"status=ok";
    let f0 = s.seal(CONTROLLER, status, Class::Reading)?;
    let d0 = s.deliver(LAMP, &f0, Class::Reading);
    if !accepted(&d0, status) {
        return Err(format!(
            "the controller's genuine reading was not accepted: {}",
            d0.describe()
        ));
    }
    let d1 = s.deliver(LAMP, &f0, Class::Reading);
    log.push(format!(
        "the controller's reading at the lamp: {}; replayed: {}",
        d0.describe(),
        d1.describe()
    ));
    if accepted(&d1, status) {
        let na = Ok((
            Verdict::NotApplicable,
            format!(
                "the lamp took a replay of the controller's reading ({}): it keeps no replay state for a forged number to push forward (its replays are T5)",
                d1.describe()
            ),
        ));
        return Ok((na, None));
    }
    let (forged, number) = s.forge_plain(SENSOR, CONTROLLER, b"")?;
    let at_lock = s.deliver(LOCK, &forged, Class::Reading);
    let at_lamp = s.deliver(LAMP, &forged, Class::Reading);
    let forgery = format!(
        "1 forged plain frame of {} bytes, sealed by the sensor ({SENSOR}) in the controller's ({CONTROLLER}) name at {number} (lock: {}; lamp: {})",
        forged.len(),
        at_lock.describe(),
        at_lamp.describe()
    );
    log.push(forgery.clone());

    // Until the insider is removed.
    let cmd_before = command(s, CONTROLLER, LOCK, b"lock", &mut Vec::new())?;
    log.push(format!(
        "controller → lock \"lock\": {}",
        cmd_before.describe()
    ));
    let before = readings(s, CONTROLLER, LAMP, 3, LOCKOUT_SPAN / 3)?;
    log.push(format!(
        "controller → lamp, 3 readings over {LOCKOUT_SPAN} s: {}",
        before.tally.summary()
    ));
    let other = s.seal(LOCK, b"door=closed", Class::Reading)?;
    let d_other = s.deliver(LAMP, &other, Class::Reading);
    log.push(format!(
        "lock → lamp \"door=closed\": {}",
        d_other.describe()
    ));

    // The insider is removed the way the scheme can.
    let what = s.remove_member(SENSOR);
    log.push(format!("the insider is removed: {what}"));
    let cmd_after = command(s, CONTROLLER, LOCK, b"unlock", &mut Vec::new())?;
    log.push(format!(
        "controller → lock \"unlock\": {}",
        cmd_after.describe()
    ));
    let after = readings(s, CONTROLLER, LAMP, AFTER_REMOVAL, 0)?;
    log.push(format!(
        "controller → lamp, {AFTER_REMOVAL} readings: {}",
        after.tally.summary()
    ));

    let mut lost = Vec::new();
    if !accepted(&cmd_before, b"lock") {
        lost.push(format!(
            "the controller's next command to the lock was {}",
            cmd_before.describe()
        ));
    }
    if !accepted(&d_other, b"door=closed") {
        lost.push(format!(
            "another member's reading at the lamp was {}",
            d_other.describe()
        ));
    }
    if !accepted(&cmd_after, b"unlock") {
        lost.push(format!(
            "after the removal its command to the lock was {}",
            cmd_after.describe()
        ));
    }
    if after.ok == 0 {
        lost.push(format!(
            "after the removal ({what}) the lamp refused all {AFTER_REMOVAL} of its readings ({})",
            after.tally.summary()
        ));
    }
    if !lost.is_empty() {
        return Ok((broken(format!("{forgery}: {}", lost.join("; "))), None));
    }
    let main = held(format!(
        "{forgery}: the controller's commands to the lock accepted before and after the removal; its plain readings at the lamp: {} of 3 accepted over the {LOCKOUT_SPAN} s until the removal ({}), heard again after it ({what}); the lock's reading at the lamp {}",
        before.ok,
        before.tally.summary(),
        d_other.describe()
    ));
    let full = after
        .first_ok_counter
        .map(|n| format!(", the first accepted one carrying a {n}-byte number"))
        .unwrap_or_default();
    let after_rekey = if after.ok < AFTER_REMOVAL {
        broken(format!(
            "after the removal the lamp still refused {} of the controller's {AFTER_REMOVAL} plain readings ({}), the first {} before it took one{full}: the forged number outlived the removal",
            AFTER_REMOVAL - after.ok,
            after.tally.summary(),
            after.refused_first
        ))
    } else {
        let numbers = if after.counters.is_empty() {
            String::new()
        } else {
            format!(" (number fields: {})", after.counter_runs())
        };
        held(format!(
            "after the removal the lamp took all {AFTER_REMOVAL} of the controller's plain readings{full}{numbers}"
        ))
    };
    Ok((main, Some(after_rekey)))
}

/// After a rekey that removes the guest with a grace period of [`GRACE`] seconds, the guest,
/// holding the old epoch's keys, forges plain frames: in the name of the controller, which
/// already sealed in the new epoch at the lamp; in the name of the lock, which has not; and,
/// after the grace period, in the lamp's name at the lock.
fn grace_period(s: &mut dyn Scheme, log: &mut Vec<String>) -> Found {
    let p = format!("[{GRACE_PERIOD}]");
    let status: &[u8] = b"status=ok";
    let door: &[u8] = b"door=closed";
    let f = s.seal(CONTROLLER, status, Class::Reading)?;
    let d = s.deliver(LAMP, &f, Class::Reading);
    log.push(format!(
        "{p} the controller's first new-epoch reading at the lamp: {}",
        d.describe()
    ));
    if !accepted(&d, status) {
        return Err(format!(
            "the controller's first new-epoch reading was not accepted: {}",
            d.describe()
        ));
    }
    let (f1, number) = s.forge_plain(GUEST, CONTROLLER, b"")?;
    let d1 = s.deliver(LAMP, &f1, Class::Reading);
    let f2 = s.seal(CONTROLLER, status, Class::Reading)?;
    let d2 = s.deliver(LAMP, &f2, Class::Reading);
    log.push(format!(
        "{p} the removed guest forges in the controller's name at {number}: the lamp {}; the controller's next reading: {}",
        d1.describe(),
        d2.describe()
    ));
    let (f3, _) = s.forge_plain(GUEST, LOCK, b"")?;
    let d3 = s.deliver(LAMP, &f3, Class::Reading);
    let f4 = s.seal(LOCK, door, Class::Reading)?;
    let d4 = s.deliver(LAMP, &f4, Class::Reading);
    log.push(format!(
        "{p} in the name of the lock, which has not sealed in the new epoch yet: the lamp {}; the lock's first new-epoch reading: {}",
        d3.describe(),
        d4.describe()
    ));
    s.advance(GRACE + 1);
    let (f5, _) = s.forge_plain(GUEST, LAMP, b"")?;
    let d5 = s.deliver(LOCK, &f5, Class::Reading);
    log.push(format!(
        "{p} {} s later, past the grace period, in the lamp's name at the lock: {}",
        GRACE + 1,
        d5.describe()
    ));
    let mut lost = Vec::new();
    if d1.payload().is_some() {
        lost.push(format!(
            "its forgery in the controller's name, which had sealed in the new epoch, was {}",
            d1.describe()
        ));
    }
    if !accepted(&d2, status) {
        lost.push(format!(
            "the controller's next reading was {}",
            d2.describe()
        ));
    }
    if !accepted(&d4, door) {
        lost.push(format!(
            "the lock's first new-epoch reading, after the forgery in its name, was {}",
            d4.describe()
        ));
    }
    if d5.payload().is_some() {
        lost.push(format!(
            "its forgery after the grace period was {}",
            d5.describe()
        ));
    }
    if !lost.is_empty() {
        return broken(format!(
            "member {GUEST} removed with a {GRACE} s grace period: {}",
            lost.join("; ")
        ));
    }
    held(format!(
        "member {GUEST} removed with a {GRACE} s grace period, forging old-epoch frames at {number}: in the name of the controller, which had sealed in the new epoch, {}, and the controller's next reading {}; in the name of the lock, which had not, {} (the grace period's exposure), until the lock's first new-epoch reading, {}; past the grace period {}",
        d1.describe(),
        d2.describe(),
        d3.describe(),
        d4.describe(),
        d5.describe()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The blind keystream test finds a reused keystream when two frames share one, and
    /// finds none when they do not.
    #[test]
    fn blind_reuse_finds_a_shared_keystream_and_only_that() {
        let stream: Vec<u8> = (0u8..40).map(|i| i.wrapping_mul(73) ^ 0x5c).collect();
        let frame = |header: &[u8], plain: &[u8], stream: &[u8]| {
            let mut f = header.to_vec();
            f.extend(plain.iter().zip(stream).map(|(p, k)| p ^ k));
            f.extend_from_slice(&[0xaa; BLIND_TAG]);
            Sealed {
                frame: f,
                plain: plain.to_vec(),
            }
        };
        let known = [frame(&[1, 2, 3], b"temp=21;hum=40%", &stream)];
        let reused = [frame(&[9, 8, 7], b"pin=4711", &stream)];
        let mut log = Vec::new();
        let r = blind_reuse(&known, &reused, &mut log);
        assert!(r.recovered.is_some_and(|e| e.contains("pin=4711")));
        let other: Vec<u8> = stream.iter().map(|b| b ^ 0x33).collect();
        let fresh = [frame(&[9, 8, 7], b"pin=4711", &other)];
        let r = blind_reuse(&known, &fresh, &mut log);
        assert!(r.recovered.is_none() && r.pairs == 1 && r.failed.is_some());
    }
}
