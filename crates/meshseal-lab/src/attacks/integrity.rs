//! T1: forgery by bit flips, cut and paste, and a padding oracle.

use super::*;

// ---------------------------------------------------------------------------------------------
// T1: bit flips, cut and paste, padding oracle.

pub(super) fn t1_integrity(s: &mut dyn Scheme, log: &mut Vec<String>) -> Found {
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
pub(super) fn padding_oracle_decrypt(
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
pub(super) fn oracle_block(
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
