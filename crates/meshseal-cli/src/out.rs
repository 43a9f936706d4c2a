//! Standard output that ends the command quietly when its reader goes away.
//!
//! `println!` panics (exit 101, a backtrace) when stdout is a pipe whose reader closed early
//! (`meshseal attack-lab --json | head -c100`). Every command prints through [`outln!`] and
//! [`out!`] instead: a closed pipe ends the process at once with exit status 0 and no message
//! (whatever the command changed on disk before printing, such as `seal`'s counter record, is
//! already consistent: state is written before output); any other write error is reported and
//! exits 1.

use std::fmt;
use std::io::{self, Write};

/// Writes `args` (and a newline when `newline`) to stdout; see the module documentation.
pub fn write(args: fmt::Arguments<'_>, newline: bool) {
    let mut out = io::stdout().lock();
    let r = out
        .write_fmt(args)
        .and_then(|()| {
            if newline {
                out.write_all(b"\n")
            } else {
                Ok(())
            }
        })
        .and_then(|()| out.flush());
    finish(r);
}

/// Raw bytes to stdout (an opened payload), with the same closed-pipe rule.
pub fn write_bytes(bytes: &[u8]) {
    let mut out = io::stdout().lock();
    finish(out.write_all(bytes).and_then(|()| out.flush()));
}

/// Ends the process on a write error: quietly (0) for a closed pipe, else reported (1).
fn finish(r: io::Result<()>) {
    if let Err(e) = r {
        if e.kind() == io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        let _ = writeln!(io::stderr(), "error: writing to stdout: {e}");
        std::process::exit(1);
    }
}

/// `println!` for commands: a closed pipe ends the command quietly.
macro_rules! outln {
    () => {
        $crate::out::write(format_args!(""), true)
    };
    ($($arg:tt)*) => {
        $crate::out::write(format_args!($($arg)*), true)
    };
}

/// `print!` for commands: a closed pipe ends the command quietly.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::out::write(format_args!($($arg)*), false)
    };
}
