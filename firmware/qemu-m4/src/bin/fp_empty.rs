//! Footprint baseline: runtime, stack painting and reporting, no meshseal code.
#![no_std]
#![no_main]

use core::hint::black_box;
use cortex_m_rt::entry;
use meshseal_qemu_m4 as fw;

#[entry]
fn main() -> ! {
    let Some(mut p) = cortex_m::Peripherals::take() else {
        fw::exit(false)
    };
    fw::start_timer(&mut p.SYST);
    let stack = fw::stack_high_water(|| {
        black_box([0u8; 16]);
    });
    let (_, op_stack) = fw::timed(|| {
        black_box([0u8; 16]);
    });
    fw::report("empty", stack, 0, op_stack, 0, 0);
    fw::exit(true)
}
