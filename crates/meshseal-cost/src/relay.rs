//! A UDP relay on loopback that forwards datagrams between one client and a server and records
//! every datagram (direction, length, and the DTLS records it carries), so handshake and record
//! sizes are counted on the wire rather than taken from the peers' own reports.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Which way a datagram went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dir {
    /// Client to server.
    C2s,
    /// Server to client.
    S2c,
}

/// DTLS record content types (RFC 6347 §4.1, RFC 5246 §6.2.1).
pub const CHANGE_CIPHER_SPEC: u8 = 20;
/// Alert record.
pub const ALERT: u8 = 21;
/// Handshake record.
pub const HANDSHAKE: u8 = 22;
/// Application data record.
pub const APPLICATION_DATA: u8 = 23;
/// DTLS 1.2 record header: type 1, version 2, epoch 2, sequence number 6, length 2.
pub const DTLS12_HEADER: usize = 13;
/// Handshake message type of HelloVerifyRequest (the cookie exchange, RFC 6347 §4.2.1).
pub const HELLO_VERIFY_REQUEST: u8 = 3;

/// One DTLS 1.2 record inside a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Content type.
    pub content_type: u8,
    /// Epoch (0 before ChangeCipherSpec, encrypted from 1 on).
    pub epoch: u16,
    /// Length of the record's fragment (after the 13-byte header).
    pub len: u16,
    /// For a plaintext handshake record, the handshake message type.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub handshake_type: Option<u8>,
}

/// One datagram seen by the relay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Datagram {
    /// Direction.
    pub dir: Dir,
    /// UDP payload length.
    pub len: usize,
    /// The DTLS records it holds (empty when it is not DTLS 1.2).
    pub records: Vec<Record>,
}

/// Splits a datagram into DTLS 1.2 records; stops at the first record that does not fit
/// (whatever cannot be parsed is simply not listed).
pub fn parse_records(mut d: &[u8]) -> Vec<Record> {
    let mut out = Vec::new();
    while d.len() >= DTLS12_HEADER {
        let content_type = d[0];
        if !(CHANGE_CIPHER_SPEC..=APPLICATION_DATA).contains(&content_type) || d[1] != 0xfe {
            break;
        }
        let epoch = u16::from_be_bytes([d[3], d[4]]);
        let len = u16::from_be_bytes([d[11], d[12]]);
        let end = DTLS12_HEADER + usize::from(len);
        if d.len() < end {
            break;
        }
        let handshake_type =
            (content_type == HANDSHAKE && epoch == 0 && len > 0).then(|| d[DTLS12_HEADER]);
        out.push(Record {
            content_type,
            epoch,
            len,
            handshake_type,
        });
        d = &d[end..];
    }
    out
}

/// Totals of a stretch of the log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Client-to-server datagrams.
    pub c2s_datagrams: usize,
    /// Client-to-server bytes (UDP payload).
    pub c2s_bytes: usize,
    /// Server-to-client datagrams.
    pub s2c_datagrams: usize,
    /// Server-to-client bytes (UDP payload).
    pub s2c_bytes: usize,
    /// Flights: runs of datagrams in one direction.
    pub flights: usize,
}

impl Totals {
    /// Counts `log`.
    pub fn of(log: &[Datagram]) -> Self {
        let mut t = Totals::default();
        let mut last = None;
        for d in log {
            match d.dir {
                Dir::C2s => {
                    t.c2s_datagrams += 1;
                    t.c2s_bytes += d.len;
                }
                Dir::S2c => {
                    t.s2c_datagrams += 1;
                    t.s2c_bytes += d.len;
                }
            }
            if last != Some(d.dir) {
                t.flights += 1;
                last = Some(d.dir);
            }
        }
        t
    }
}

/// A running relay; stops (and joins its threads) on drop.
pub struct Relay {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<Datagram>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

const POLL: Duration = Duration::from_millis(20);
const MAX_DATAGRAM: usize = 65_535;

impl Relay {
    /// Listens on an ephemeral loopback port and forwards to `server`.
    pub fn start(server: SocketAddr) -> std::io::Result<Relay> {
        let front = UdpSocket::bind("127.0.0.1:0")?;
        let back = UdpSocket::bind("127.0.0.1:0")?;
        back.connect(server)?;
        front.set_read_timeout(Some(POLL))?;
        back.set_read_timeout(Some(POLL))?;
        let addr = front.local_addr()?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let client: Arc<Mutex<Option<SocketAddr>>> = Arc::new(Mutex::new(None));
        let front = Arc::new(front);
        let back = Arc::new(back);
        let mut threads = Vec::new();
        {
            let (front, back, log, stop, client) = (
                front.clone(),
                back.clone(),
                log.clone(),
                stop.clone(),
                client.clone(),
            );
            threads.push(std::thread::spawn(move || {
                let mut buf = vec![0u8; MAX_DATAGRAM];
                while !stop.load(Ordering::Relaxed) {
                    let Ok((n, from)) = front.recv_from(&mut buf) else {
                        continue;
                    };
                    if let Ok(mut c) = client.lock() {
                        *c = Some(from);
                    }
                    record(&log, Dir::C2s, &buf[..n]);
                    let _ = back.send(&buf[..n]);
                }
            }));
        }
        {
            let (log, stop) = (log.clone(), stop.clone());
            threads.push(std::thread::spawn(move || {
                let mut buf = vec![0u8; MAX_DATAGRAM];
                while !stop.load(Ordering::Relaxed) {
                    let Ok(n) = back.recv(&mut buf) else {
                        continue;
                    };
                    let to = client.lock().ok().and_then(|c| *c);
                    if let Some(to) = to {
                        record(&log, Dir::S2c, &buf[..n]);
                        let _ = front.send_to(&buf[..n], to);
                    }
                }
            }));
        }
        Ok(Relay {
            addr,
            log,
            stop,
            threads,
        })
    }

    /// Where clients send.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Datagrams seen so far.
    pub fn len(&self) -> usize {
        self.log.lock().map(|l| l.len()).unwrap_or(0)
    }

    /// No datagram seen yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy of the log from index `from`.
    pub fn since(&self, from: usize) -> Vec<Datagram> {
        self.log
            .lock()
            .map(|l| l.get(from..).map(<[_]>::to_vec).unwrap_or_default())
            .unwrap_or_default()
    }
}

fn record(log: &Mutex<Vec<Datagram>>, dir: Dir, d: &[u8]) {
    if let Ok(mut l) = log.lock() {
        l.push(Datagram {
            dir,
            len: d.len(),
            records: parse_records(d),
        });
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dtls_record(ct: u8, epoch: u16, body: &[u8]) -> Vec<u8> {
        let mut r = vec![ct, 0xfe, 0xfd];
        r.extend_from_slice(&epoch.to_be_bytes());
        r.extend_from_slice(&[0, 0, 0, 0, 0, 7]);
        r.extend_from_slice(&(body.len() as u16).to_be_bytes());
        r.extend_from_slice(body);
        r
    }

    #[test]
    fn parses_records_of_a_datagram() {
        let mut d = dtls_record(HANDSHAKE, 0, &[HELLO_VERIFY_REQUEST, 0, 0, 3]);
        d.extend(dtls_record(APPLICATION_DATA, 1, &[0xaa; 17]));
        d.extend_from_slice(&[23, 0xfe]); // a truncated trailer is ignored
        let r = parse_records(&d);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].handshake_type, Some(HELLO_VERIFY_REQUEST));
        assert_eq!((r[1].content_type, r[1].epoch, r[1].len), (23, 1, 17));
        assert_eq!(r[1].handshake_type, None);
        assert!(parse_records(b"not dtls at all").is_empty());
        assert!(parse_records(&[]).is_empty());
    }

    #[test]
    fn counts_datagrams_and_bytes_per_direction() {
        // An echo server behind the relay that answers every datagram with twice its bytes.
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let server_addr = server.local_addr().unwrap();
        let echo = std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            for _ in 0..3 {
                let (n, from) = server.recv_from(&mut buf).unwrap();
                let mut reply = buf[..n].to_vec();
                reply.extend_from_slice(&buf[..n]);
                server.send_to(&reply, from).unwrap();
            }
        });
        let relay = Relay::start(server_addr).unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0u8; 2048];
        let hello = dtls_record(HANDSHAKE, 0, &[1, 0, 0, 0]);
        for payload in [&hello[..], &[7u8; 10][..], &[9u8; 100][..]] {
            client.send_to(payload, relay.addr()).unwrap();
            let n = client.recv(&mut buf).unwrap();
            assert_eq!(
                n,
                2 * payload.len(),
                "the reply came back through the relay"
            );
        }
        echo.join().unwrap();
        let log = relay.since(0);
        assert_eq!(log.len(), 6);
        let t = Totals::of(&log);
        let sent = hello.len() + 10 + 100;
        assert_eq!(
            t,
            Totals {
                c2s_datagrams: 3,
                c2s_bytes: sent,
                s2c_datagrams: 3,
                s2c_bytes: 2 * sent,
                flights: 6,
            }
        );
        assert_eq!(log[0].records.len(), 1);
        // The doubled hello is two records in one datagram.
        assert_eq!(log[1].records.len(), 2);
        assert_eq!(relay.since(4).len(), 2);
    }
}
