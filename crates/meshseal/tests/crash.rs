//! Crash injection: power is lost at random points of counter writes (torn writes), writes
//! fail, and the device reboots; over more than 100 000 crash points no sequence number is
//! ever handed out twice.

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;

use meshseal::counter::{Counter, SlotFlash, TwoSlotStore, RECORD_LEN};
use meshseal::{Error, GroupKeys, Sender, SenderConfig};
use rand::{Rng, SeedableRng};

/// Two record slots that survive reboots, with a fault plan for the next write.
#[derive(Default)]
struct Medium {
    slots: [[u8; RECORD_LEN]; 2],
    /// Power fails after this many more bytes are written (None: no power loss planned).
    power_loss_after: Option<usize>,
    /// The next write fails cleanly, leaving the slot as it was (reported as an error).
    fail_next: bool,
    dead: bool,
    writes: u64,
}

#[derive(Clone, Default)]
struct Flash(Rc<RefCell<Medium>>);

#[derive(Debug)]
enum Fault {
    PowerLoss,
    WriteFailed,
}

impl SlotFlash for Flash {
    type Error = Fault;
    fn read(&mut self, slot: usize, out: &mut [u8; RECORD_LEN]) -> Result<(), Fault> {
        *out = self.0.borrow().slots[slot];
        Ok(())
    }
    fn write(&mut self, slot: usize, record: &[u8; RECORD_LEN]) -> Result<(), Fault> {
        let mut m = self.0.borrow_mut();
        if m.dead {
            return Err(Fault::PowerLoss);
        }
        if std::mem::take(&mut m.fail_next) {
            return Err(Fault::WriteFailed);
        }
        m.writes += 1;
        // Flash-like: the page is erased first, then programmed byte by byte.
        let budget = m.power_loss_after.unwrap_or(usize::MAX);
        m.slots[slot] = [0xff; RECORD_LEN];
        for (i, b) in record.iter().enumerate() {
            if i >= budget {
                m.dead = true;
                return Err(Fault::PowerLoss);
            }
            m.slots[slot][i] = *b;
        }
        if budget == RECORD_LEN {
            // Power lost right after the write completed, before the caller learns of it.
            m.dead = true;
            return Err(Fault::PowerLoss);
        }
        m.power_loss_after = None;
        Ok(())
    }
}

fn run(
    seed: u64,
    crash_points: usize,
    mut use_number: impl FnMut(&mut Counter<TwoSlotStore<Flash>>) -> Result<u64, Error>,
) -> (usize, usize) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let flash = Flash::default();
    flash.0.borrow_mut().slots = [[0xff; RECORD_LEN]; 2];
    TwoSlotStore::new(flash.clone()).format().unwrap();
    let mut used = HashSet::new();
    let mut crashes = 0;
    while crashes < crash_points {
        {
            let mut m = flash.0.borrow_mut();
            m.dead = false;
            m.power_loss_after = None;
        }
        let block = rng.gen_range(1..=6);
        let mut c = match Counter::boot(TwoSlotStore::new(flash.clone()), block) {
            Ok(c) => c,
            Err(e) => panic!("boot failed: {e:?}"),
        };
        // Plan this boot's crash: after some number of writes, at a random byte (0..=16).
        let frames_before_crash = rng.gen_range(0..40);
        for i in 0.. {
            if i == frames_before_crash {
                // Power fails during the next write, or between writes.
                if rng.gen_bool(0.8) {
                    flash.0.borrow_mut().power_loss_after = Some(rng.gen_range(0..=RECORD_LEN));
                } else {
                    crashes += 1;
                    break;
                }
            }
            if rng.gen_bool(0.02) {
                flash.0.borrow_mut().fail_next = true;
            }
            match use_number(&mut c) {
                Ok(n) => assert!(
                    used.insert(n),
                    "sequence number {n} used twice (seed {seed})"
                ),
                Err(Error::CounterStore) => {} // clean failure or power loss: nothing handed out
                Err(e) => panic!("unexpected {e:?}"),
            }
            if flash.0.borrow().dead {
                crashes += 1;
                break;
            }
        }
    }
    (crashes, used.len())
}

#[test]
fn no_number_reused_over_100k_crash_points() {
    let (crashes, used) = run(0x5eed, 100_000, |c| c.take());
    assert!(crashes >= 100_000);
    assert!(used > 100_000, "the run must use many numbers, used {used}");
}

#[test]
fn sealing_sender_never_reuses_a_nonce_across_crashes() {
    // The same fault plan through the whole sender: seal real frames, collect their numbers.
    let keys = || GroupKeys::derive(&[0x42; 32], b"", 7, 0).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0xc0ffee);
    let mut seen = HashSet::new();
    let flash = Flash::default();
    flash.0.borrow_mut().slots = [[0xff; RECORD_LEN]; 2];
    TwoSlotStore::new(flash.clone()).format().unwrap();
    let mut out = [0u8; 64];
    for _ in 0..3_000 {
        {
            let mut m = flash.0.borrow_mut();
            m.dead = false;
            m.power_loss_after = None;
        }
        let mut cfg = SenderConfig::new(1);
        cfg.reservation_block = rng.gen_range(1..5);
        let mut tx = Sender::new(keys(), cfg, TwoSlotStore::new(flash.clone())).unwrap();
        let arm_at = rng.gen_range(0..12);
        for i in 0.. {
            if i == arm_at {
                flash.0.borrow_mut().power_loss_after = Some(rng.gen_range(0..=RECORD_LEN));
            }
            let seq = tx.next_seq();
            match tx.seal(b"t", &mut out) {
                Ok(_) => assert!(seen.insert(seq), "nonce reuse at seq {seq}"),
                Err(Error::CounterStore) => {}
                Err(e) => panic!("{e:?}"),
            }
            if flash.0.borrow().dead {
                break;
            }
        }
    }
    assert!(seen.len() > 3_000);
}
