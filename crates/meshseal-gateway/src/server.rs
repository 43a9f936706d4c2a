//! The UDP receive loop: blocks for one datagram, drains whatever else is queued (up to a
//! batch), hands the batch to the [`Verifier`], flushes the output, and repeats until asked to
//! stop. Signals only set flags ([`Control`]); the loop polls them at least every
//! [`POLL`], so it neither dies inside a store write nor stalls when traffic stops.

use std::io::{ErrorKind, Write};
use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use meshseal::AeadBackend;

use crate::store::ReplayBackend;
use crate::verifier::{Batch, Verifier};
use crate::GatewayError;

/// Longest time the loop waits for a datagram before looking at its flags again.
pub const POLL: Duration = Duration::from_millis(50);

/// Default datagrams per batch.
///
/// One durable commit serves a batch, and a batch takes only what is queued when it is
/// received, so batches stay small at light load and grow with it: a commit's fixed cost is
/// shared by up to this many frames (`docs/gateway.md` has the figures). The cost is the crash
/// window:
/// a batch committed but not yet written out at a `kill -9` is lost (refused if sent again).
pub const DEFAULT_BATCH: usize = 1024;

/// Default socket receive buffer requested (`SO_RCVBUF`): room for the datagrams that arrive
/// while a batch is committed (an fsync of a millisecond or two at several hundred thousand
/// datagrams a second). The kernel caps it at `net.core.rmem_max`.
pub const DEFAULT_RECV_BUFFER: usize = 4 << 20;

/// Asks for a socket receive buffer of `bytes` (`SO_RCVBUF`) and returns what the kernel
/// granted (Linux reports twice the usable size and caps the request at
/// `net.core.rmem_max`). Elsewhere a no-op returning 0.
pub fn set_receive_buffer(socket: &UdpSocket, bytes: usize) -> Result<usize, GatewayError> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use nix::sys::socket::{getsockopt, setsockopt, sockopt};
        setsockopt(socket, sockopt::RcvBuf, &bytes).map_err(|e| {
            GatewayError::io("cannot set the receive buffer", std::io::Error::from(e))
        })?;
        getsockopt(socket, sockopt::RcvBuf).map_err(|e| {
            GatewayError::io("cannot read the receive buffer", std::io::Error::from(e))
        })
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let _ = (socket, bytes);
        Ok(0)
    }
}

/// Flags set from signal handlers or other threads.
#[derive(Debug, Clone, Default)]
pub struct Control {
    /// Stop after the current batch, flush state and return.
    pub stop: Arc<AtomicBool>,
    /// Print the counters once.
    pub dump: Arc<AtomicBool>,
}

impl Control {
    /// Flags wired to SIGTERM and SIGINT (stop) and SIGUSR1 (print counters).
    ///
    /// The signals are blocked in the calling thread, and so in every thread it spawns
    /// afterwards, and one thread receives them with `sigwait`. No handler ever runs, so no
    /// system call is interrupted: a socket with a timeout (the Redis connection, the UDP
    /// socket) returns `EINTR` on a handled signal even under `SA_RESTART`, and an interrupted
    /// Redis reply would refuse a whole batch. Call this before any other thread is spawned:
    /// a thread that started earlier would still take these signals with their default action.
    pub fn with_signals() -> Result<Control, GatewayError> {
        use nix::sys::signal::{SigSet, Signal};
        let c = Control::default();
        let mut set = SigSet::empty();
        for sig in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGUSR1] {
            set.add(sig);
        }
        set.thread_block().map_err(|e| {
            GatewayError::io("cannot block the control signals", std::io::Error::from(e))
        })?;
        let flags = c.clone();
        std::thread::Builder::new()
            .name("meshseal-signals".into())
            .spawn(move || loop {
                match set.wait() {
                    Ok(Signal::SIGUSR1) => flags.dump.store(true, Ordering::SeqCst),
                    Ok(_) => flags.stop.store(true, Ordering::SeqCst),
                    // sigwait fails only on an invalid set; nothing to wait for then.
                    Err(_) => return,
                }
            })
            .map_err(|e| GatewayError::io("cannot start the signal thread", e))?;
        Ok(c)
    }
}

/// Loop settings.
#[derive(Debug, Clone, Copy)]
pub struct ServeConfig {
    /// Datagrams per batch.
    pub batch: usize,
    /// Largest datagram treated as a frame.
    pub max_datagram: usize,
    /// Print the counters this often (to `stats_out`), if set.
    pub stats_every: Option<Duration>,
    /// Socket receive buffer to ask for, bytes (0: the system default).
    pub recv_buffer: usize,
}

/// Serves `socket` until `control.stop` is set, then flushes the replay state. Counters are
/// written as one JSON line to `stats_out` on every dump request and periodically.
pub fn serve<B: ReplayBackend, A: AeadBackend>(
    socket: &UdpSocket,
    v: &mut Verifier<B, A>,
    out: &mut dyn Write,
    stats_out: &mut dyn Write,
    control: &Control,
    cfg: ServeConfig,
) -> Result<(), GatewayError> {
    socket
        .set_read_timeout(Some(POLL))
        .map_err(|e| GatewayError::io("cannot set socket timeout", e))?;
    if cfg.recv_buffer > 0 {
        let granted = set_receive_buffer(socket, cfg.recv_buffer)?;
        tracing::info!(
            requested = cfg.recv_buffer,
            granted,
            "socket receive buffer"
        );
    }
    let mut batch = Batch::new(cfg.batch, cfg.max_datagram);
    let mut receiver = Receiver::new(cfg.batch.min(MAX_BATCH));
    let mut last_stats = Instant::now();
    let result = loop {
        if control.stop.load(Ordering::Relaxed) {
            break Ok(());
        }
        let due = cfg
            .stats_every
            .is_some_and(|every| last_stats.elapsed() >= every);
        if control.dump.swap(false, Ordering::Relaxed) || due {
            last_stats = Instant::now();
            print_stats(v, stats_out);
        }
        if let Err(e) = receiver.receive(socket, &mut batch) {
            break Err(e);
        }
        if batch.is_empty() {
            continue;
        }
        if let Err(e) = v.process(&mut batch, out).and_then(|()| out.flush()) {
            break Err(GatewayError::io("cannot write messages", e));
        }
    };
    let flushed = v.shutdown();
    let _ = out.flush();
    result.and(flushed)
}

/// Prints the counters as one JSON line.
pub fn print_stats<B: ReplayBackend, A: AeadBackend>(v: &Verifier<B, A>, w: &mut dyn Write) {
    let mut line = v.stats().to_json(v.backend_name());
    if let Some(c) = v.mqtt_counters() {
        let n = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        line["mqtt"] = serde_json::json!({
            "published": n(&c.published),
            "acked": n(&c.acked),
            "pending": c.pending(),
            "abandoned": n(&c.abandoned),
            "errors": n(&c.errors),
        });
    }
    let _ = writeln!(w, "{line}");
    let _ = w.flush();
    tracing::info!(
        received = v.stats().received,
        accepted = v.stats().accepted,
        refused = v.stats().refused_total(),
        "counters"
    );
}

/// Receives a batch: waits up to [`POLL`] for one datagram and takes whatever else is queued
/// with it. On Linux that is one `recvmmsg` with `MSG_WAITFORONE` into the batch's buffers,
/// with its message headers allocated once; elsewhere `recv` and then non-blocking `recv`s.
pub struct Receiver {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    headers: nix::sys::socket::MultiHeaders<nix::sys::socket::SockaddrStorage>,
}

impl Receiver {
    /// A receiver for batches of up to `capacity` datagrams.
    pub fn new(capacity: usize) -> Receiver {
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        let _ = capacity;
        Receiver {
            #[cfg(any(target_os = "linux", target_os = "android"))]
            headers: nix::sys::socket::MultiHeaders::preallocate(capacity.max(1), None),
        }
    }

    /// Fills `batch` (empty) with what arrives within [`POLL`]: it waits for the first datagram
    /// and takes what is queued behind it, up to the batch's capacity.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub fn receive(&mut self, socket: &UdpSocket, batch: &mut Batch) -> Result<(), GatewayError> {
        use nix::sys::socket::{recvmmsg, MsgFlags};
        use std::io::IoSliceMut;
        use std::os::fd::AsRawFd;

        let mut lens = [0usize; MAX_BATCH];
        let mut count = 0;
        let result = {
            let mut slices: Vec<[IoSliceMut<'_>; 1]> = batch
                .free_bufs()
                .iter_mut()
                .take(MAX_BATCH)
                .map(|b| [IoSliceMut::new(b)])
                .collect();
            // Blocks (up to the socket's read timeout, POLL) for the first datagram only.
            recvmmsg(
                socket.as_raw_fd(),
                &mut self.headers,
                slices.iter_mut(),
                MsgFlags::MSG_WAITFORONE,
                None,
            )
            .map(|results| {
                for r in results {
                    lens[count] = r.bytes;
                    count += 1;
                }
            })
            .map_err(std::io::Error::from)
        };
        match result {
            Ok(()) => {
                let now = Instant::now();
                for &len in &lens[..count] {
                    batch.commit(len, now);
                }
                Ok(())
            }
            Err(e) if transient(&e) => Ok(()),
            Err(e) => Err(GatewayError::io("receive failed", e)),
        }
    }

    /// Fills `batch` (empty) with what arrives within [`POLL`]: it waits for the first datagram
    /// and takes what is queued behind it, up to the batch's capacity.
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    pub fn receive(&mut self, socket: &UdpSocket, batch: &mut Batch) -> Result<(), GatewayError> {
        let Some(buf) = batch.next_buf() else {
            return Ok(());
        };
        match socket.recv(buf) {
            Ok(n) => batch.commit(n, Instant::now()),
            Err(e) if transient(&e) => return Ok(()),
            Err(e) => return Err(GatewayError::io("receive failed", e)),
        }
        socket
            .set_nonblocking(true)
            .map_err(|e| GatewayError::io("cannot set socket mode", e))?;
        while let Some(buf) = batch.next_buf() {
            match socket.recv(buf) {
                Ok(n) => batch.commit(n, Instant::now()),
                Err(e) if transient(&e) => break,
                Err(e) => {
                    let _ = socket.set_nonblocking(false);
                    return Err(GatewayError::io("receive failed", e));
                }
            }
        }
        socket
            .set_nonblocking(false)
            .map_err(|e| GatewayError::io("cannot set socket mode", e))
    }
}

/// Most datagrams one receive call takes (larger batches are received in several calls).
pub const MAX_BATCH: usize = 1024;

/// Errors after which the loop just carries on: nothing queued, a signal, or an ICMP error
/// reported for an earlier datagram.
fn transient(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::WouldBlock
            | ErrorKind::TimedOut
            | ErrorKind::Interrupted
            | ErrorKind::ConnectionRefused
            | ErrorKind::ConnectionReset
    )
}
