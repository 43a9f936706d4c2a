//! The bare receiver `scripts/gateway-ratio.sh` holds the gateway against: the gateway's own
//! receive path ([`Receiver`] into a reused [`Batch`], one `recvmmsg` with `MSG_WAITFORONE` per
//! batch, the same socket receive buffer) and nothing after it: no parsing, verification, store or output. It counts what it
//! takes until SIGTERM, then prints `{"received":N,"bytes":B}` on stderr.
//!
//! Usage: `cargo run --release -p meshseal-gateway --example bare_recv -- 127.0.0.1:0`

use std::io::Write;
use std::net::UdpSocket;
use std::sync::atomic::Ordering;

use meshseal_gateway::server::{
    set_receive_buffer, Control, Receiver, DEFAULT_BATCH, DEFAULT_RECV_BUFFER, POLL,
};
use meshseal_gateway::verifier::Batch;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let control = Control::with_signals()?;
    let bind = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into());
    let socket = UdpSocket::bind(&bind)?;
    socket.set_read_timeout(Some(POLL))?;
    // The gateway's default socket setup.
    set_receive_buffer(&socket, DEFAULT_RECV_BUFFER)?;
    let mut err = std::io::stderr();
    writeln!(
        err,
        "{{\"status\":\"listening\",\"bind\":\"{}\"}}",
        socket.local_addr()?
    )?;
    let mut batch = Batch::new(DEFAULT_BATCH, 1280);
    let mut receiver = Receiver::new(DEFAULT_BATCH);
    let (mut received, mut bytes) = (0u64, 0u64);
    while !control.stop.load(Ordering::Relaxed) {
        receiver.receive(&socket, &mut batch)?;
        received += batch.len() as u64;
        bytes += batch.lens().iter().sum::<usize>() as u64;
        batch.clear();
    }
    writeln!(err, "{{\"received\":{received},\"bytes\":{bytes}}}")?;
    Ok(())
}
