//! Footprint baseline: the runtime and the measuring code every member binary runs (stack
//! painting, timing, reporting, [`fw::measure_member`]) around a "member" that only copies its
//! payload, so no meshseal code is linked. What a member binary adds to it is meshseal's code
//! and the code that builds and calls its contexts.
#![no_std]
#![no_main]

use core::hint::black_box;
use cortex_m_rt::entry;
use meshseal_qemu_m4 as fw;

/// The stand-in for sealing: the payload as the frame, copied byte by byte (`black_box` keeps
/// the loop from becoming a `memcpy` call).
fn copy(p: &[u8], out: &mut [u8]) -> Option<usize> {
    let frame = out.get_mut(..p.len())?;
    for (o, i) in frame.iter_mut().zip(p) {
        *o = black_box(*i);
    }
    Some(frame.len())
}

#[entry]
fn main() -> ! {
    let Some(mut p) = cortex_m::Peripherals::take() else {
        fw::exit(false)
    };
    fw::start_timer(&mut p.SYST);
    let (stack, ok) = fw::setup_stack(|out| copy(&fw::FP_PAYLOAD, out).is_some());
    fw::measure_member("empty", stack, 0, ok, copy, |f| {
        black_box(&*f) == fw::FP_PAYLOAD
    })
}
