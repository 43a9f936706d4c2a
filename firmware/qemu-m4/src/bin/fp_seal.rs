//! Footprint: seal only (sender, counter, AES-CCM encryption), keys derived on the host.
#![no_std]
#![no_main]

use core::hint::black_box;
use core::mem::size_of_val;
use cortex_m_rt::entry;
use meshseal::counter::MemoryStore;
use meshseal::crypto::DerivedKeys;
use meshseal::{GroupKeys, Sender, SenderConfig};
use meshseal_qemu_m4 as fw;

fn sender() -> Option<Sender<MemoryStore>> {
    let d = DerivedKeys {
        key: black_box(fw::FP_KEY),
        iv: black_box(fw::FP_IV),
    };
    let keys = GroupKeys::from_derived(&d, fw::FP_GROUP.0, fw::FP_GROUP.1);
    Sender::provision(keys, SenderConfig::new(1), MemoryStore::default()).ok()
}

#[entry]
fn main() -> ! {
    let Some(mut p) = cortex_m::Peripherals::take() else {
        fw::exit(false)
    };
    fw::start_timer(&mut p.SYST);
    let mut ok = true;
    let stack = fw::stack_high_water(|| {
        let mut out = [0u8; 64];
        ok &= sender().is_some_and(|mut tx| tx.seal(black_box(&fw::FP_PAYLOAD), &mut out).is_ok());
        black_box(out);
    });
    let Some(mut tx) = sender() else {
        fw::exit(false)
    };
    let mut out = [0u8; 64];
    // The first frame carries the full number; time the steady frames after it.
    ok &= tx.seal(&fw::FP_PAYLOAD, &mut out).is_ok();
    let (seal, seal_stack) = fw::timed(|| {
        for _ in 0..fw::RUNS {
            ok &= tx.seal(black_box(&fw::FP_PAYLOAD), &mut out).is_ok();
            black_box(&out);
        }
    });
    fw::report("seal", stack, size_of_val(&tx), seal_stack, seal, 0);
    fw::exit(ok)
}
