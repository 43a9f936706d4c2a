//! T13, traffic analysis: what an observer on the link learns without any key, from the bytes
//! a scheme sends in clear and from frame lengths. Three real attempts, each judged by how
//! often the observer is right:
//!
//! - **kind** (the main check): from the first half of a stream of status reports and
//!   commands, learn which clear header bytes and lengths go with which kind, then predict the
//!   kind of the second half. Reports are padded to the length of a command frame, so that the
//!   question is what the header gives away (a signed command is otherwise 64 bytes longer,
//!   which no header format hides);
//! - **linkability**: three devices send readings of one length, interleaved; the observer
//!   says, for pairs of frames, whether one device sent both (balanced over pairs of the same
//!   and of different devices);
//! - **counting**: the observer sees two frames of the sensor and says whether it sent
//!   others in between (none or seven), from the visible sequence numbers.
//!
//! A check is broken when the observer is right at least nine times in ten.

use std::collections::BTreeMap;

use rand_chacha::rand_core::RngCore;
use rand_chacha::ChaCha20Rng;

use crate::attacks::{broken, check, held, Check, Found};
use crate::scheme::{Class, Scheme, CONTROLLER, LAMP, SENSOR};

/// Sub-check: frames linked to their senders.
pub const LINKABILITY: &str = "linkability";
/// Sub-check: a sender's unseen frames counted.
pub const COUNTING: &str = "counting";

/// What the observer can read of a frame: the clear header bytes other than the counter, the
/// clear sender id, and the length.
fn feature(s: &dyn Scheme, f: &[u8]) -> Option<(Option<u32>, Vec<u8>, usize)> {
    let d = s.dissect(f)?;
    let clear = f[d.header.clone()]
        .iter()
        .enumerate()
        .filter(|(i, _)| !d.counter.contains(i))
        .map(|(_, b)| *b)
        .collect();
    Some((d.sender, clear, f.len()))
}

/// A reading payload whose frame is as long as a command frame with `command` (in steady
/// traffic: the shortest of a few, as a first or periodic frame may carry a longer number).
fn padded_reading(s: &mut dyn Scheme, command: &[u8]) -> Result<Vec<u8>, String> {
    let mut target = usize::MAX;
    for _ in 0..3 {
        target = target.min(s.seal(CONTROLLER, command, Class::Command)?.len());
    }
    for len in 0..=256 {
        let probe = vec![b'r'; len];
        if s.seal(CONTROLLER, &probe, Class::Reading)?.len() >= target {
            return Ok(probe);
        }
    }
    Err("no reading as long as a command".into())
}

/// Runs the three checks: the kind check is the result, linkability and counting go to
/// `subs`.
pub(crate) fn t13(
    s: &mut dyn Scheme,
    rng: &mut ChaCha20Rng,
    log: &mut Vec<String>,
    subs: &mut Vec<Check>,
) -> Found {
    subs.push(check(LINKABILITY, linkability(s, rng, log)));
    subs.push(check(COUNTING, counting(s, rng, log)));
    kind(s, rng, log)
}

fn kind(s: &mut dyn Scheme, rng: &mut ChaCha20Rng, log: &mut Vec<String>) -> Found {
    const PAIRS: usize = 16;
    let command: &[u8] = b"lamp on";
    let reading = padded_reading(s, command)?;
    let mut frames = Vec::new();
    for _ in 0..PAIRS {
        let mut pair = [Class::Reading, Class::Command];
        if rng.next_u32() & 1 == 1 {
            pair.swap(0, 1);
        }
        for class in pair {
            let payload = match class {
                Class::Reading => &reading[..],
                Class::Command => command,
            };
            frames.push((class, s.seal(CONTROLLER, payload, class)?));
        }
    }
    let half = frames.len() / 2;
    let mut model: BTreeMap<(Option<u32>, Vec<u8>, usize), [usize; 2]> = BTreeMap::new();
    for (class, f) in &frames[..half] {
        let k = feature(s, f).ok_or("frame could not be dissected")?;
        model.entry(k).or_default()[usize::from(*class == Class::Command)] += 1;
    }
    let mut right = 0;
    for (class, f) in &frames[half..] {
        let k = feature(s, f).ok_or("frame could not be dissected")?;
        let guess = match model.get(&k) {
            Some([r, c]) if c > r => Class::Command,
            Some([r, c]) if r > c => Class::Reading,
            // Unseen or tied: the observer has nothing to go on.
            _ => Class::Reading,
        };
        right += usize::from(guess == *class);
    }
    let tested = frames.len() - half;
    let lengths: std::collections::BTreeSet<usize> = frames.iter().map(|(_, f)| f.len()).collect();
    let visible = s
        .dissect(&frames[0].1)
        .map(|d| {
            format!(
                "{} clear header bytes ({} of them counter), sender id {}",
                d.header.len(),
                d.counter.len(),
                d.sender.map_or("not readable".into(), |v| v.to_string())
            )
        })
        .unwrap_or_default();
    log.push(format!(
        "kind: visible per frame: {visible}; frame lengths seen: {lengths:?}"
    ));
    log.push(format!(
        "kind: {} patterns of header and length learned; kind predicted right for {right} of {tested}",
        model.len()
    ));
    if right * 10 >= tested * 9 {
        return broken(format!(
            "from clear header bytes and lengths the observer told commands from status reports of the same length in {right} of {tested} frames"
        ));
    }
    held(format!(
        "headers and lengths told commands from status reports of the same length in {right} of {tested} frames (chance: {}); visible: {visible}",
        tested / 2
    ))
}

fn linkability(s: &mut dyn Scheme, rng: &mut ChaCha20Rng, log: &mut Vec<String>) -> Found {
    const EACH: usize = 12;
    let devices = [CONTROLLER, LAMP, SENSOR];
    let mut order: Vec<u32> = devices.iter().flat_map(|&d| [d; EACH]).collect();
    for i in (1..order.len()).rev() {
        let j = (rng.next_u32() as usize) % (i + 1);
        order.swap(i, j);
    }
    let mut frames = Vec::new();
    for (n, &from) in order.iter().enumerate() {
        let payload = [b'0' + (n % 10) as u8; 6];
        let f = s.seal(from, &payload, Class::Reading)?;
        // A clear sender id says it all; without one, the observer compares what it can read.
        let k = match feature(s, &f).ok_or("frame could not be dissected")? {
            (Some(id), _, _) => (Some(id), Vec::new(), 0),
            other => other,
        };
        frames.push((from, k));
    }
    // Every pair: the observer says "same device" when what it reads is equal.
    let (mut same, mut same_right, mut diff, mut diff_right) = (0usize, 0usize, 0usize, 0usize);
    for i in 0..frames.len() {
        for j in i + 1..frames.len() {
            let truth = frames[i].0 == frames[j].0;
            let guess = frames[i].1 == frames[j].1;
            if truth {
                same += 1;
                same_right += usize::from(guess);
            } else {
                diff += 1;
                diff_right += usize::from(!guess);
            }
        }
    }
    // Balanced: as many pairs of one device as of two devices count.
    let score = (same_right * 1000 / same + diff_right * 1000 / diff) / 2;
    log.push(format!(
        "linkability: {} frames from 3 devices; pairs of one device recognised {same_right} of {same}, pairs of two devices told apart {diff_right} of {diff}",
        frames.len()
    ));
    let line = format!(
        "pairs of frames attributed right {}.{}% of the time (balanced; chance 50%)",
        score / 10,
        score % 10
    );
    if score >= 900 {
        broken(format!(
            "the observer linked frames to their senders: {line}"
        ))
    } else {
        held(line)
    }
}

fn counting(s: &mut dyn Scheme, rng: &mut ChaCha20Rng, log: &mut Vec<String>) -> Found {
    const TRIALS: usize = 12;
    const UNSEEN: usize = 7;
    let mut right = 0;
    let mut readable = 0;
    for t in 0..TRIALS {
        let skipped = if rng.next_u32() & 1 == 1 { UNSEEN } else { 0 };
        let first = s.seal(SENSOR, b"21.5C", Class::Reading)?;
        for _ in 0..skipped {
            s.seal(SENSOR, b"21.5C", Class::Reading)?;
        }
        let second = s.seal(SENSOR, b"21.5C", Class::Reading)?;
        let seqs = s.visible_seq(&first).zip(s.visible_seq(&second));
        // The observer reads the numbers' difference (in the bits both carry) where it can;
        // otherwise it guesses.
        let guess = match seqs {
            Some(((a, wa), (b, wb))) => {
                readable += 1;
                let w = wa.min(wb);
                let span = if w >= 64 { u64::MAX } else { (1u64 << w) - 1 };
                if b.wrapping_sub(a) & span == 1 {
                    0
                } else {
                    UNSEEN
                }
            }
            _ => {
                if t % 2 == 0 {
                    0
                } else {
                    UNSEEN
                }
            }
        };
        right += usize::from(guess == skipped);
    }
    log.push(format!(
        "counting: {readable} of {TRIALS} frame pairs had comparable clear numbers; the observer said right {right} of {TRIALS} times whether the sensor sent {UNSEEN} unseen frames in between"
    ));
    let line = format!(
        "whether the sensor sent {UNSEEN} frames unseen in between, said right {right} of {TRIALS} times"
    );
    if right * 10 >= TRIALS * 9 {
        broken(format!("the observer counted a sender's frames: {line}"))
    } else {
        held(line)
    }
}
