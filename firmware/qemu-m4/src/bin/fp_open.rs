//! Footprint: open only (recipient, replay window for 4 peers, AES-CCM decryption), keys
//! derived on the host; the frames were sealed at build time.
#![no_std]
#![no_main]

use core::hint::black_box;
use core::mem::size_of_val;
use cortex_m_rt::entry;
use meshseal::crypto::DerivedKeys;
use meshseal::replay::PeerTable;
use meshseal::{context::AnySender, GroupKeys, Recipient, RecipientConfig};
use meshseal_qemu_m4 as fw;

type Rx = Recipient<PeerTable<4>, AnySender, meshseal::RustCryptoCcm, 1, meshseal::NoGrace>;

fn recipient() -> Rx {
    let d = DerivedKeys {
        key: black_box(fw::FP_KEY),
        iv: black_box(fw::FP_IV),
    };
    let keys = GroupKeys::from_derived(&d, fw::FP_GROUP.0, fw::FP_GROUP.1);
    let mut rx = Recipient::new_without_grace(
        keys,
        RecipientConfig::default(),
        AnySender,
        PeerTable::new(),
    );
    rx.provision(1);
    rx
}

#[entry]
fn main() -> ! {
    let Some(mut p) = cortex_m::Peripherals::take() else {
        fw::exit(false)
    };
    fw::start_timer(&mut p.SYST);
    let mut ok = true;
    let mut frames = [[0u8; 48]; fw::RUNS as usize + 1];
    for (f, s) in frames.iter_mut().zip(fw::SEALED) {
        f[..s.len()].copy_from_slice(s);
    }
    let stack = fw::stack_high_water(|| {
        let mut rx = recipient();
        let mut buf = frames[0];
        ok &= rx.open(&mut buf[..fw::SEALED[0].len()]).is_ok();
        black_box(buf);
    });
    let mut rx = recipient();
    ok &= rx.open(&mut frames[0][..fw::SEALED[0].len()]).is_ok();
    let (open, open_stack) = fw::timed(|| {
        for (f, s) in frames[1..].iter_mut().zip(&fw::SEALED[1..]) {
            ok &= rx
                .open(black_box(&mut f[..s.len()]))
                .is_ok_and(|o| o.payload == fw::FP_PAYLOAD);
        }
    });
    ok &= rx.stats().accepted == u64::from(fw::RUNS) + 1;
    fw::report("open", stack, size_of_val(&rx), open_stack, 0, open);
    fw::exit(ok)
}
