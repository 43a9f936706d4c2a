//! Support for the QEMU firmware: the frozen vectors, the footprint key, stack painting,
//! instruction counting and the semihosting exit.
//!
//! Instruction counts: QEMU runs with `-icount shift=0`, so virtual time advances by one
//! nanosecond per instruction executed, and the SysTick counter (core clock) advances with
//! virtual time. [`insns_per_tick`] calibrates the ratio against a loop of a known number of
//! instructions, so every count reported is instructions executed, measured (QEMU does not
//! model pipeline stalls or wait states, so these are not cycles).
#![no_std]

use core::ptr::{read_volatile, write_volatile};

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::SYST;
use cortex_m_semihosting::debug;

pub mod member;

include!(concat!(env!("OUT_DIR"), "/vectors.rs"));
include!(concat!(env!("OUT_DIR"), "/sealed.rs"));

/// The group key of the footprint binaries (the frames in [`SEALED`] are sealed under it).
pub const FP_KEY: [u8; 16] = *b"meshseal-fp-key!";
/// The common IV of the footprint binaries.
pub const FP_IV: [u8; 13] = *b"meshseal-iv-\x01";
/// The 16-byte payload sealed and opened by the footprint binaries.
pub const FP_PAYLOAD: [u8; 16] = *b"0123456789abcdef";
/// Group id and epoch of the footprint key.
pub const FP_GROUP: (u32, u16) = (7, 0);

/// One group of the frozen vectors.
pub struct Group {
    /// Master secret.
    pub secret: &'static [u8],
    /// Salt (empty for none).
    pub salt: &'static [u8],
    /// Group id.
    pub group_id: u32,
    /// Key epoch.
    pub epoch: u16,
    /// Expected derived key.
    pub key: &'static [u8],
    /// Expected derived common IV.
    pub iv: &'static [u8],
    /// The frames.
    pub frames: &'static [Vector],
}

/// One frozen frame.
pub struct Vector {
    /// Its description.
    pub name: &'static str,
    /// Sender id.
    pub sender: u32,
    /// Whether the link layer supplies the sender id.
    pub implicit: bool,
    /// Full sequence number.
    pub seq: u64,
    /// The sender's length reference.
    pub reference: Option<u64>,
    /// What the frame carries beyond the payload.
    pub kind: Kind,
    /// Plaintext.
    pub payload: &'static [u8],
    /// Expected frame.
    pub frame: &'static [u8],
}

/// What a frozen frame carries beyond its payload.
pub enum Kind {
    /// Nothing.
    Plain,
    /// A coarse timestamp.
    Timed(u16),
    /// A fragment (index, count).
    Fragment(u8, u8),
    /// A response to (sender, seq).
    Response(u32, u64),
    /// A challenge to (sender, seq).
    Challenge(u32, u64),
    /// An echo of the challenge (sender, seq).
    Echo(u32, u64),
}

/// Bytes of stack painted below the caller's frame.
const PAINT: usize = 128 * 1024;
const PATTERN: u32 = 0x5aa5_c33c;

/// Runs `f` on a painted stack and returns the most stack it used, in bytes, measured from
/// this function's stack pointer down to the lowest word `f` (or anything it called) wrote.
/// Resolution: usage below 64 bytes reads as 64.
#[inline(never)]
pub fn stack_high_water(f: impl FnOnce()) -> usize {
    let (sp, bottom) = paint();
    run(f);
    let mut a = bottom;
    while a < sp {
        // SAFETY: `a` is 4-byte aligned, inside RAM, in the range `paint` wrote, below every
        // live frame of this function.
        let w = unsafe { read_volatile(a as *const u32) };
        if w != PATTERN {
            break;
        }
        a += 4;
    }
    sp - a
}

/// The stack of building a member's contexts and using them once: `use_once` gets a 64-byte
/// frame buffer and says whether one seal and open went through. Returns the peak stack and
/// that answer.
pub fn setup_stack(use_once: impl FnOnce(&mut [u8; 64]) -> bool) -> (usize, bool) {
    let mut ok = false;
    let stack = stack_high_water(|| {
        let mut out = [0u8; 64];
        ok = use_once(&mut out);
        core::hint::black_box(&mut out);
    });
    (stack, ok)
}

/// Measures a member that seals and opens (the contexts in place, `contexts` bytes): one first
/// frame (it carries the full number), then [`RUNS`] frames sealed, then opened, each batch
/// timed with its stack; reports as `what` with the setup stack `setup`, and exits with `ok`
/// and every check. `open` says whether the frame gave [`FP_PAYLOAD`].
pub fn measure_member(
    what: &str,
    setup: usize,
    contexts: usize,
    mut ok: bool,
    mut seal: impl FnMut(&[u8], &mut [u8]) -> Option<usize>,
    mut open: impl FnMut(&mut [u8]) -> bool,
) -> ! {
    let mut frames = [([0u8; 48], 0usize); RUNS as usize];
    let mut first = [0u8; 48];
    ok &= seal(&FP_PAYLOAD, &mut first).is_some_and(|n| open(&mut first[..n]));
    let (sealed, seal_stack) = timed(|| {
        for (f, n) in frames.iter_mut() {
            match seal(core::hint::black_box(&FP_PAYLOAD), f) {
                Some(len) => *n = len,
                None => ok = false,
            }
        }
    });
    let (opened, open_stack) = timed(|| {
        for (f, n) in frames.iter_mut() {
            ok &= open(core::hint::black_box(&mut f[..*n]));
        }
    });
    report(
        what,
        setup,
        contexts,
        seal_stack.max(open_stack),
        sealed,
        opened,
    );
    exit(ok)
}

/// Instructions-counting ticks of `f` (see [`ticks`]) and the peak stack it used, with the
/// contexts already in place: the stack a device needs per operation.
pub fn timed(f: impl FnOnce()) -> (u32, usize) {
    let mut t = 0;
    let stack = stack_high_water(|| t = ticks(f));
    (t, stack)
}

/// Calls `f` in a frame of its own, below the painted boundary: inlined into
/// [`stack_high_water`], the closure's locals (the contexts) would sit in that function's frame,
/// above the paint, and go uncounted.
#[inline(never)]
fn run(f: impl FnOnce()) {
    f();
}

/// Paints `PAINT` bytes of stack below this function's frame (leaving a 64-byte margin for
/// its own spills); returns its stack pointer and the lowest painted address.
#[inline(never)]
fn paint() -> (usize, usize) {
    let sp = cortex_m::register::msp::read() as usize;
    let top = (sp - 64) & !3;
    let bottom = top - PAINT;
    let mut a = bottom;
    while a < top {
        // SAFETY: below the current stack pointer, inside RAM (4 MiB, stack at its end, data
        // and bss at its start), not used by any live frame.
        unsafe { write_volatile(a as *mut u32, PATTERN) };
        a += 4;
    }
    (sp, bottom)
}

/// Starts SysTick free-running on the core clock.
pub fn start_timer(syst: &mut SYST) {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(0x00ff_ffff);
    syst.clear_current();
    syst.enable_counter();
}

/// SysTick ticks spent in `f` (the counter counts down and wraps at 2^24).
#[inline(never)]
pub fn ticks(f: impl FnOnce()) -> u32 {
    let start = SYST::get_current();
    f();
    let end = SYST::get_current();
    start.wrapping_sub(end) & 0x00ff_ffff
}

/// Instructions per SysTick tick, measured on a loop of two instructions per iteration.
pub fn insns_per_tick() -> u32 {
    const N: u32 = 1_000_000;
    let t = ticks(|| {
        // SAFETY: a register-only countdown loop; no memory is touched.
        unsafe {
            core::arch::asm!(
                "2:",
                "subs {0}, {0}, #1",
                "bne 2b",
                inout(reg) N => _,
                options(nomem, nostack)
            )
        }
    });
    (2 * N + t / 2) / t.max(1)
}

/// Ends the QEMU run with `ok` as its exit status.
pub fn exit(ok: bool) -> ! {
    debug::exit(if ok {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    #[allow(clippy::empty_loop)]
    loop {}
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    exit(false)
}

/// Operations timed per measurement (the count is divided by it).
pub const RUNS: u32 = 64;

/// Prints one footprint line: the stack high-water mark of setting up and using the contexts
/// once (`stack`), the contexts' size (`contexts`), the stack of one operation with the
/// contexts in place (`op_stack`), and instructions per operation.
/// Written without `core::fmt`, so the baseline binary links no formatting code that a
/// measured binary could link differently: what the core needs of `core::fmt` (nothing, if
/// its code is panic- and format-free) shows up in its own numbers.
pub fn report(
    what: &str,
    stack: usize,
    contexts: usize,
    op_stack: usize,
    seal_ticks: u32,
    open_ticks: u32,
) {
    let ipt = insns_per_tick();
    let per = |t: u32| (t.saturating_mul(ipt) + RUNS / 2) / RUNS;
    let Ok(mut out) = cortex_m_semihosting::hio::hstdout() else {
        return;
    };
    let fields = [
        (" stack=", stack as u32),
        (" contexts=", contexts as u32),
        (" op_stack=", op_stack as u32),
        (" seal_insns=", per(seal_ticks)),
        (" open_insns=", per(open_ticks)),
        (" insns_per_tick=", ipt),
    ];
    let _ = out.write_all(what.as_bytes());
    for (label, value) in fields {
        let _ = out.write_all(label.as_bytes());
        let _ = out.write_all(decimal(value, &mut [0; 10]));
    }
    let _ = out.write_all(b"\n");
}

/// `v` in decimal, written into the end of `buf`.
fn decimal(mut v: u32, buf: &mut [u8; 10]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            return &buf[i..];
        }
    }
}
