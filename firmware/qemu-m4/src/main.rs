//! Runs the frozen vectors and a seal/open round trip on a Cortex-M4 under QEMU; the exit
//! status (semihosting) is success only if every check passed.
#![no_std]
#![no_main]

use core::mem::size_of;

use cortex_m_rt::entry;
use cortex_m_semihosting::hprintln;
use meshseal::context::{open_stateless, LengthState};
use meshseal::counter::MemoryStore;
use meshseal::replay::PeerTable;
use meshseal::Seal;
use meshseal::{
    Error, Fragment, FrameId, GroupKeys, LengthMode, Recipient, RecipientConfig, Sender,
    SenderConfig, SenderIdMode,
};
use meshseal_qemu_m4::{exit, Group, Kind, Vector, GROUPS};

/// Seals `v` with a sender booted at its number and checks the bytes; opens it again and
/// checks every single-bit change is refused.
fn check_vector(g: &Group, v: &Vector) -> Result<(), &'static str> {
    let d =
        meshseal::crypto::derive(g.secret, g.salt, g.group_id, g.epoch).map_err(|_| "derive")?;
    if d.key[..] != *g.key || d.iv[..] != *g.iv {
        return Err("key schedule");
    }
    let mode = if v.implicit {
        SenderIdMode::Implicit
    } else {
        SenderIdMode::Explicit
    };
    let mut cfg = SenderConfig::new(v.sender);
    cfg.sender_id_mode = mode;
    cfg.length_mode = LengthMode::Confirmed;
    cfg.full_every = 1000;
    let store = MemoryStore {
        limit: Some(v.seq),
        writes: 0,
    };
    let mut tx = Sender::new(GroupKeys::from_derived(&d, g.group_id, g.epoch), cfg, store)
        .map_err(|_| "sender")?;
    tx.restore_length_state(LengthState {
        reference: v.reference,
        since_full: 0,
        full_run: 0,
    });
    let mut out = [0u8; 128];
    let id = |sender, seq| FrameId { sender, seq };
    let (sealed, bound) = match v.kind {
        Kind::Plain => (tx.seal(v.payload, &mut out), None),
        Kind::Timed(t) => (
            tx.seal_with(v.payload, &Seal::default().timed(t), &mut out),
            None,
        ),
        Kind::Fragment(index, count) => {
            let f = Fragment { index, count };
            (tx.seal_fragment(v.payload, f, &mut out), None)
        }
        Kind::Response(s, n) => (
            tx.seal_with(v.payload, &Seal::default().response(id(s, n)), &mut out),
            Some(id(s, n)),
        ),
        Kind::Challenge(s, n) => (
            tx.seal_challenge(id(s, n), &mut out).map(|(n, _)| n),
            Some(id(s, n)),
        ),
        Kind::Echo(s, n) => (
            tx.seal_with(v.payload, &Seal::default().echo(id(s, n)), &mut out),
            Some(id(s, n)),
        ),
    };
    let n = sealed.map_err(|_| "seal failed")?;
    if out[..n] != *v.frame {
        return Err("sealed frame differs");
    }

    let keys = GroupKeys::from_derived(&d, g.group_id, g.epoch);
    let near = v.reference.map_or(0, |r| r + 1);
    let link = v.implicit.then_some(v.sender);
    let mut buf = [0u8; 128];
    let frame = &mut buf[..v.frame.len()];
    frame.copy_from_slice(v.frame);
    let o = open_stateless(&keys, frame, mode, link, near, bound).map_err(|_| "open failed")?;
    if (o.sender, o.seq, o.payload) != (v.sender, v.seq, v.payload) {
        return Err("opened frame differs");
    }
    for bit in 0..v.frame.len() * 8 {
        let frame = &mut buf[..v.frame.len()];
        frame.copy_from_slice(v.frame);
        frame[bit / 8] ^= 1 << (bit % 8);
        if open_stateless(&keys, frame, mode, link, near, bound).is_ok() {
            return Err("a changed bit was accepted");
        }
    }
    Ok(())
}

/// A sender without a counter record is refused unless provisioned; then seal and open
/// through contexts: delivered once, replay and tampering refused with their reasons, counted
/// in the statistics.
fn round_trip() -> Result<(), &'static str> {
    let keys = || GroupKeys::derive(&[0x42; 32], b"", 7, 0).map_err(|_| "derive");
    // An ordinary boot from a store with no record is refused; only provisioning starts at 0.
    let booted = Sender::new(keys()?, SenderConfig::new(1), MemoryStore::default());
    if !matches!(booted, Err(Error::NoCounterRecord)) {
        return Err("sender booted without a counter record");
    }
    let mut tx = Sender::provision(keys()?, SenderConfig::new(1), MemoryStore::default())
        .map_err(|_| "sender")?;
    let mut rx = Recipient::new(
        keys()?,
        RecipientConfig::default(),
        1..=10,
        PeerTable::<4>::new(),
    );
    rx.provision(1);
    let mut frame = [0u8; 64];
    for i in 0..100u8 {
        let payload = [i; 16];
        let n = tx.seal(&payload, &mut frame).map_err(|_| "seal")?;
        let copy = frame;
        let o = rx.open(&mut frame[..n]).map_err(|_| "open")?;
        if o.payload != payload || o.seq != u64::from(i) {
            return Err("round trip differs");
        }
        let mut replayed = copy;
        if rx.open(&mut replayed[..n]) != Err(Error::Replay) {
            return Err("replay not refused as replay");
        }
    }
    let n = tx.seal(b"lamp on", &mut frame).map_err(|_| "seal")?;
    frame[n - 1] ^= 0x40;
    if rx.open(&mut frame[..n]) != Err(Error::BadTag) {
        return Err("tampered frame not refused as bad_tag");
    }
    let s = rx.stats();
    if s.accepted != 100 || s.refused(Error::Replay) != 100 || s.refused(Error::BadTag) != 1 {
        return Err("statistics");
    }
    Ok(())
}

#[entry]
fn main() -> ! {
    let mut ok = true;
    let mut count = 0;
    for g in GROUPS {
        for v in g.frames {
            count += 1;
            if let Err(why) = check_vector(g, v) {
                ok = false;
                hprintln!("FAIL vector {}: {}", v.name, why);
            }
        }
    }
    hprintln!("vectors: {} checked on Cortex-M4", count);
    if count < 14 {
        ok = false;
        hprintln!("FAIL: vectors missing");
    }
    match round_trip() {
        Ok(()) => hprintln!("round trip: 100 frames delivered once, replay and tampering refused"),
        Err(why) => {
            ok = false;
            hprintln!("FAIL round trip: {}", why);
        }
    }
    hprintln!(
        "sizes: sender={} recipient(4 peers)={} recipient(16 peers)={} peer={} keys={}",
        size_of::<Sender<MemoryStore>>(),
        size_of::<Recipient<PeerTable<4>>>(),
        size_of::<Recipient<PeerTable<16>>>(),
        size_of::<meshseal::replay::Peer>(),
        size_of::<GroupKeys>()
    );
    type Shared<'k> = &'k meshseal::RustCryptoCcm;
    hprintln!(
        "sizes, one shared key schedule: schedule={} sender={} recipient(4 peers, no grace)={}",
        size_of::<meshseal::RustCryptoCcm>(),
        size_of::<Sender<MemoryStore, Shared>>(),
        size_of::<
            Recipient<PeerTable<4>, meshseal::context::AnySender, Shared, 1, meshseal::NoGrace>,
        >()
    );
    // Per-peer state a controller keeps for each receiver under unicast OSCORE (the fan-out
    // comparison's RAM column).
    #[cfg(feature = "oscore")]
    hprintln!(
        "sizes, unicast OSCORE: endpoint={}",
        size_of::<meshseal::oscore::Endpoint<MemoryStore>>()
    );
    hprintln!("{}", if ok { "PASS" } else { "FAIL" });
    exit(ok)
}
