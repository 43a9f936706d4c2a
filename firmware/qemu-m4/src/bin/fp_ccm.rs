//! Footprint reference: RustCrypto AES-128-CCM (8-byte tag) alone, as the core uses it, on a
//! 16-byte payload with a 13-byte nonce and no associated data.
#![no_std]
#![no_main]

use core::hint::black_box;
use core::mem::size_of_val;
use cortex_m_rt::entry;
use meshseal::{AeadBackend, RustCryptoCcm};
use meshseal_qemu_m4 as fw;

#[entry]
fn main() -> ! {
    let Some(mut p) = cortex_m::Peripherals::take() else {
        fw::exit(false)
    };
    fw::start_timer(&mut p.SYST);
    let mut ok = true;
    let nonce = black_box(fw::FP_IV);
    let stack = fw::stack_high_water(|| {
        let ccm = RustCryptoCcm::new(&black_box(fw::FP_KEY));
        let mut buf = fw::FP_PAYLOAD;
        ok &= ccm
            .seal_in_place(&nonce, &[], &mut buf)
            .is_ok_and(|tag| ccm.open_in_place(&nonce, &[], &mut buf, &tag).is_ok());
        black_box(buf);
    });
    let ccm = RustCryptoCcm::new(&black_box(fw::FP_KEY));
    let mut bufs = [fw::FP_PAYLOAD; fw::RUNS as usize];
    let mut tags = [[0u8; 8]; fw::RUNS as usize];
    let (seal, seal_stack) = fw::timed(|| {
        for (b, t) in bufs.iter_mut().zip(tags.iter_mut()) {
            match ccm.seal_in_place(&nonce, &[], black_box(b)) {
                Ok(tag) => *t = tag,
                Err(_) => ok = false,
            }
        }
    });
    let (open, open_stack) = fw::timed(|| {
        for (b, t) in bufs.iter_mut().zip(tags.iter()) {
            ok &= ccm.open_in_place(&nonce, &[], black_box(b), t).is_ok();
        }
    });
    ok &= bufs.iter().all(|b| *b == fw::FP_PAYLOAD);
    fw::report(
        "raw_ccm",
        stack,
        size_of_val(&ccm),
        seal_stack.max(open_stack),
        seal,
        open,
    );
    fw::exit(ok)
}
