//! Live measurements behind `meshseal compare --measure`: DTLS 1.2 PSK with OpenSSL through the
//! project's relay, OSCORE with aiocoap, and meshseal frames sealed by the core. The results are
//! written as JSON (with the date and tool versions) so `compare` without `--measure` reads them
//! offline.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use meshseal::counter::MemoryStore;
use meshseal::{GroupKeys, Sender, SenderConfig, SenderIdMode};
use serde::{Deserialize, Serialize};

use crate::relay::{Datagram, Dir, Relay, Totals, ALERT, APPLICATION_DATA, HELLO_VERIFY_REQUEST};
use crate::CostError;

/// Payload sizes measured for every scheme.
pub const SIZES: [usize; 5] = [1, 4, 16, 64, 128];

/// Payload sizes of the DTLS 1.3 measurement: [`SIZES`] and 7, the smallest payload whose
/// CCM_8 ciphertext (payload, content type, 8-byte tag) reaches the 16 bytes RFC 9147 §4.2.3
/// samples for record number encryption.
pub const DTLS13_SIZES: [usize; 6] = [1, 4, 7, 16, 64, 128];

/// A handshake (or other stretch of traffic) as seen by the relay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Phase {
    /// Totals per direction.
    pub totals: Totals,
    /// Whether a HelloVerifyRequest (cookie exchange) was part of it.
    pub cookie_exchange: bool,
    /// Every datagram, in order.
    pub datagrams: Vec<Datagram>,
}

impl Phase {
    pub(crate) fn of(datagrams: Vec<Datagram>) -> Self {
        Phase {
            totals: Totals::of(&datagrams),
            cookie_exchange: datagrams.iter().any(|d| {
                d.records
                    .iter()
                    .any(|r| r.handshake_type == Some(HELLO_VERIFY_REQUEST))
            }),
            datagrams,
        }
    }

    /// Client-to-server datagram lengths.
    pub fn c2s(&self) -> impl Iterator<Item = usize> + '_ {
        self.datagrams
            .iter()
            .filter(|d| d.dir == Dir::C2s)
            .map(|d| d.len)
    }

    /// Server-to-client datagram lengths.
    pub fn s2c(&self) -> impl Iterator<Item = usize> + '_ {
        self.datagrams
            .iter()
            .filter(|d| d.dir == Dir::S2c)
            .map(|d| d.len)
    }
}

/// One application-data record for one payload size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordRow {
    /// Application bytes written.
    pub payload: usize,
    /// UDP payload of the datagram that carried them.
    pub datagram_bytes: usize,
    /// `datagram_bytes - payload`.
    pub overhead: usize,
}

/// DTLS measurement of one implementation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DtlsResult {
    /// Implementation.
    pub tool: String,
    /// Its version string.
    pub version: String,
    /// Measurement date (UTC).
    pub date: String,
    /// Protocol version.
    pub protocol: String,
    /// Cipher suite.
    pub cipher: String,
    /// How the peers were run.
    pub method: String,
    /// Full handshake including the cookie exchange.
    pub full_handshake: Phase,
    /// Abbreviated handshake resuming the first session (when measured).
    #[serde(default)]
    pub resumed_handshake: Option<Phase>,
    /// Application records per payload size.
    pub records: Vec<RecordRow>,
    /// Closing the session (close_notify alerts).
    pub close: Phase,
    /// Payload sizes the implementation refused to send (wolfSSL's DTLS 1.3 with CCM_8 below
    /// a 16-byte ciphertext).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused_payloads: Vec<usize>,
}

impl DtlsResult {
    /// Record overhead for `payload` bytes: the row of that size, else the nearest measured
    /// size (the overhead of an AEAD record does not depend on the payload length).
    pub fn overhead(&self, payload: usize) -> Option<usize> {
        self.records
            .iter()
            .min_by_key(|r| r.payload.abs_diff(payload))
            .map(|r| r.overhead)
    }
}

/// One row of the OSCORE measurement (`bench/oscore_sizes.py`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OscoreRow {
    /// Payload bytes.
    pub payload: usize,
    /// Plain CoAP request.
    pub coap_request: usize,
    /// OSCORE-protected request on the wire.
    pub oscore_request: usize,
    /// Bytes OSCORE adds to the request.
    pub request_overhead: usize,
    /// Plain CoAP response.
    pub coap_response: usize,
    /// OSCORE-protected response on the wire.
    pub oscore_response: usize,
    /// Bytes OSCORE adds to the response.
    pub response_overhead: usize,
}

/// The OSCORE measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OscoreResult {
    /// Implementation.
    pub tool: String,
    /// aiocoap version.
    pub aiocoap: String,
    /// Measurement date (UTC).
    #[serde(default)]
    pub date: String,
    /// AEAD algorithm.
    pub algorithm: String,
    /// How messages were carried.
    pub transport: String,
    /// Per payload size.
    pub rows: Vec<OscoreRow>,
}

impl OscoreResult {
    /// The row nearest to `payload`; the request's CoAP framing and OSCORE overhead are
    /// independent of the payload length.
    pub fn row(&self, payload: usize) -> Option<&OscoreRow> {
        self.rows.iter().min_by_key(|r| r.payload.abs_diff(payload))
    }
}

/// One row of the Group OSCORE measurement (`bench/group_oscore_sizes.py`): a CoAP request
/// in group mode and in pairwise mode, and the pairwise-mode response to each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupOscoreRow {
    /// Payload bytes.
    pub payload: usize,
    /// Plain CoAP request.
    pub coap_request: usize,
    /// Group-mode request on the wire.
    pub group_request: usize,
    /// Bytes group mode adds to the request (countersignature included).
    pub group_request_overhead: usize,
    /// Pairwise-mode request on the wire.
    pub pairwise_request: usize,
    /// Bytes pairwise mode adds to the request.
    pub pairwise_request_overhead: usize,
    /// Plain CoAP response.
    pub coap_response: usize,
    /// The (pairwise-mode) response to the group-mode request.
    pub response_to_group: usize,
    /// Bytes it adds.
    pub response_to_group_overhead: usize,
    /// The response to the pairwise-mode request.
    pub response_to_pairwise: usize,
    /// Bytes it adds.
    pub response_to_pairwise_overhead: usize,
}

/// The Group OSCORE measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupOscoreResult {
    /// Implementation.
    pub tool: String,
    /// aiocoap version.
    pub aiocoap: String,
    /// Measurement date (UTC).
    #[serde(default)]
    pub date: String,
    /// Algorithms.
    pub algorithm: String,
    /// Length of the Group Identifier.
    pub gid_len: usize,
    /// How messages were carried.
    pub transport: String,
    /// Per payload size.
    pub rows: Vec<GroupOscoreRow>,
}

impl GroupOscoreResult {
    /// The row nearest to `payload` (the overheads do not depend on the payload length).
    pub fn row(&self, payload: usize) -> Option<&GroupOscoreRow> {
        self.rows.iter().min_by_key(|r| r.payload.abs_diff(payload))
    }
}

/// Compact frames sealed by the core.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeshsealRow {
    /// Payload bytes.
    pub payload: usize,
    /// Sender id carried in the frame (explicit) or supplied by the link (implicit).
    pub mode: String,
    /// Length of the first frame after boot (full sequence number).
    pub first: usize,
    /// Shortest steady-state frame.
    pub steady_min: usize,
    /// Mean frame length over whole periods of the full-length rule, in steady traffic.
    pub steady_mean: f64,
    /// The frame lengths of one period of the full-length rule in steady traffic.
    pub period: Vec<usize>,
    /// A response frame to a request (bound to its sender and number), in steady traffic.
    #[serde(default)]
    pub response: usize,
}

/// Seals `rounds` frames of `payload` bytes and measures their lengths.
pub fn meshseal_frames(payload: usize, mode: SenderIdMode) -> Result<MeshsealRow, CostError> {
    let keys = GroupKeys::derive(&[0x42; 32], b"", 7, 0)
        .map_err(|e| CostError::Core("key derivation", e))?;
    let mut cfg = SenderConfig::new(5);
    cfg.sender_id_mode = mode;
    let period = cfg.full_every as usize;
    let mut tx = Sender::provision(keys, cfg, MemoryStore::default())
        .map_err(|e| CostError::Core("sender", e))?;
    let data = vec![0xa5u8; payload];
    let mut buf = vec![0u8; payload + 64];
    let mut lens = Vec::new();
    // The first frame, then whole periods of the full-length rule.
    for _ in 0..=period * 8 {
        let n = tx
            .seal(&data, &mut buf)
            .map_err(|e| CostError::Core("seal", e))?;
        lens.push(n);
    }
    let steady = &lens[1..];
    let answer = meshseal::Seal::default().response(meshseal::FrameId {
        sender: 9,
        seq: 1000,
    });
    let response = tx
        .seal_with(&data, &answer, &mut buf)
        .map_err(|e| CostError::Core("seal", e))?;
    Ok(MeshsealRow {
        payload,
        mode: match mode {
            SenderIdMode::Explicit => "explicit".into(),
            SenderIdMode::Implicit => "implicit".into(),
        },
        first: lens[0],
        steady_min: steady.iter().copied().min().unwrap_or(lens[0]),
        steady_mean: steady.iter().sum::<usize>() as f64 / steady.len() as f64,
        period: steady[..period].to_vec(),
        response,
    })
}

/// Host timing of HMAC-SHA256 over one 64-byte block (the DTLS 1.2 PRF's unit of work).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostCrypto {
    /// Measurement date (UTC).
    pub date: String,
    /// How it was measured.
    pub method: String,
    /// Nanoseconds per HMAC-SHA256 of 64 bytes.
    pub hmac_sha256_64b_ns: f64,
}

/// Times HMAC-SHA256 on this host.
pub fn host_crypto() -> HostCrypto {
    use hmac::{Hmac, Mac};
    type H = Hmac<sha2::Sha256>;
    let msg = [0x36u8; 64];
    let rounds = 200_000u32;
    let mut best = f64::INFINITY;
    let mut sink = 0u8;
    for _ in 0..5 {
        let t = Instant::now();
        for i in 0..rounds {
            // HMAC takes keys of any length; the error arm cannot occur.
            let Ok(mut m) = <H as Mac>::new_from_slice(&i.to_be_bytes()) else {
                continue;
            };
            m.update(&msg);
            sink ^= m.finalize().into_bytes()[0];
        }
        best = best.min(t.elapsed().as_nanos() as f64 / f64::from(rounds));
    }
    std::hint::black_box(sink);
    HostCrypto {
        date: today(),
        method: "hmac 0.12 + sha2 0.10 (force-soft: no SHA extensions), release build, best of 5 × 200000 HMACs over 64 bytes".into(),
        hmac_sha256_64b_ns: best,
    }
}

/// Today's date (UTC) as YYYY-MM-DD.
pub fn today() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Gregorian date of a day count since 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

const PSK: &str = "000102030405060708090a0b0c0d0e0f";
const PSK_IDENTITY: &str = "meshseal-client";
const WAIT: Duration = Duration::from_secs(10);
pub(crate) const SETTLE: Duration = Duration::from_millis(300);

pub(crate) fn io(ctx: &str) -> impl FnOnce(std::io::Error) -> CostError + '_ {
    move |e| CostError::io(ctx, e)
}

/// Lines of a child's stdout, read on a thread.
pub(crate) fn lines_of(child: &mut Child) -> Receiver<String> {
    let (tx, rx) = channel();
    if let Some(out) = child.stdout.take() {
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    rx
}

/// Waits for a line matching `want`; returns it.
pub(crate) fn wait_line(
    rx: &Receiver<String>,
    want: impl Fn(&str) -> bool,
    what: &str,
) -> Result<String, CostError> {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) if want(&l) => return Ok(l),
            Ok(_) => {}
            Err(RecvTimeoutError::Timeout) => {
                return Err(CostError::Measure(format!("timed out waiting for {what}")))
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Err(CostError::Measure(format!("peer exited before {what}")))
            }
        }
    }
}

pub(crate) fn free_udp_port() -> Result<SocketAddr, CostError> {
    let s = UdpSocket::bind("127.0.0.1:0").map_err(io("bind"))?;
    s.local_addr().map_err(io("local address"))
}

/// Stops a child we started (if it has not exited on its own) and reaps it.
pub(crate) fn finish(mut child: Child) {
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

struct ClientRun {
    handshake: Vec<Datagram>,
    data: Vec<Datagram>,
    close: Vec<Datagram>,
    reused: bool,
}

fn is_app_data_c2s(d: &Datagram) -> bool {
    d.dir == Dir::C2s && d.records.iter().any(|r| r.content_type == APPLICATION_DATA)
}

fn is_alert(d: &Datagram) -> bool {
    d.records.iter().any(|r| r.content_type == ALERT)
}

fn openssl_client(
    relay: &Relay,
    session: (&str, &Path),
    sizes: &[usize],
) -> Result<ClientRun, CostError> {
    let start = relay.len();
    let mut child = Command::new("openssl")
        .args(["s_client", "-dtls1_2", "-connect"])
        .arg(relay.addr().to_string())
        .args([
            "-psk",
            PSK,
            "-psk_identity",
            PSK_IDENTITY,
            "-cipher",
            "PSK-AES128-CCM8",
        ])
        .arg(session.0)
        .arg(session.1)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(io("openssl s_client"))?;
    let lines = lines_of(&mut child);
    let done = wait_line(
        &lines,
        |l| l.starts_with("New, ") || l.starts_with("Reused, "),
        "the DTLS handshake",
    );
    let done = match done {
        Ok(l) => l,
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
    };
    std::thread::sleep(SETTLE);
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| CostError::Measure("s_client stdin".into()))?;
    for &n in sizes {
        // 'x' is no s_client command letter; one write is one read is one record.
        stdin
            .write_all(&vec![b'x'; n])
            .and_then(|()| stdin.flush())
            .map_err(io("writing to s_client"))?;
        std::thread::sleep(SETTLE);
    }
    drop(stdin);
    finish(child);
    std::thread::sleep(SETTLE);
    // The handshake ends where application data or the closing alerts begin.
    let (handshake, data, close) = split_session(&relay.since(start));
    Ok(ClientRun {
        handshake,
        data,
        close,
        reused: done.starts_with("Reused, "),
    })
}

/// DTLS 1.2 PSK-AES128-CCM8 between `openssl s_server` and `s_client` through the relay:
/// a full handshake (the server always runs the cookie exchange on DTLS), records of each
/// size in `sizes`, and a resumed handshake from the saved session.
pub fn openssl_dtls12(sizes: &[usize], scratch: &Path) -> Result<DtlsResult, CostError> {
    let version = Command::new("openssl")
        .arg("version")
        .output()
        .map_err(io("openssl version"))?;
    let version = String::from_utf8_lossy(&version.stdout).trim().to_string();
    let server_addr = free_udp_port()?;
    let mut server = Command::new("openssl")
        .args(["s_server", "-dtls1_2", "-accept"])
        .arg(server_addr.to_string())
        .args(["-nocert", "-psk", PSK, "-psk_identity", PSK_IDENTITY])
        .args(["-cipher", "PSK-AES128-CCM8", "-no_ticket", "-naccept", "2"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(io("openssl s_server"))?;
    let server_lines = lines_of(&mut server);
    let result = (|| {
        wait_line(
            &server_lines,
            |l| l.contains("ACCEPT"),
            "s_server to listen",
        )?;
        let relay = Relay::start(server_addr).map_err(io("relay"))?;
        let session = scratch.join("dtls12-session.pem");
        let full = openssl_client(&relay, ("-sess_out", &session), sizes)?;
        let resumed = openssl_client(&relay, ("-sess_in", &session), &[])?;
        if !resumed.reused {
            return Err(CostError::Measure(
                "s_client did not resume the session".into(),
            ));
        }
        let records = record_rows(sizes, &full.data)?;
        Ok(DtlsResult {
            tool: "openssl s_server/s_client".into(),
            version,
            date: today(),
            protocol: "DTLS 1.2".into(),
            cipher: "PSK-AES128-CCM8 (TLS_PSK_WITH_AES_128_CCM_8)".into(),
            method: format!(
                "openssl s_server -dtls1_2 -nocert -psk … -cipher PSK-AES128-CCM8 -no_ticket; s_client -dtls1_2 -psk … -sess_out/-sess_in, through the meshseal relay on loopback; payloads {sizes:?} written one per record"
            ),
            full_handshake: Phase::of(full.handshake),
            resumed_handshake: Some(Phase::of(resumed.handshake)),
            records,
            close: Phase::of(full.close),
            refused_payloads: Vec::new(),
        })
    })();
    finish_server(server);
    result
}

/// Splits a relay log of one client session into handshake, application records and close.
fn split_session(all: &[Datagram]) -> (Vec<Datagram>, Vec<Datagram>, Vec<Datagram>) {
    let first_data = all
        .iter()
        .position(|d| is_app_data_c2s(d) || is_alert(d))
        .unwrap_or(all.len());
    let last_data = all
        .iter()
        .rposition(is_app_data_c2s)
        .map_or(first_data, |i| i + 1);
    (
        all[..first_data].to_vec(),
        all[first_data..last_data]
            .iter()
            .filter(|d| is_app_data_c2s(d))
            .cloned()
            .collect(),
        all[last_data..]
            .iter()
            .filter(|d| is_alert(d))
            .cloned()
            .collect(),
    )
}

fn record_rows(sizes: &[usize], data: &[Datagram]) -> Result<Vec<RecordRow>, CostError> {
    if data.len() != sizes.len() {
        return Err(CostError::Measure(format!(
            "expected {} application records, the relay saw {}",
            sizes.len(),
            data.len()
        )));
    }
    Ok(sizes
        .iter()
        .zip(data)
        .map(|(&payload, d)| RecordRow {
            payload,
            datagram_bytes: d.len,
            overhead: d.len.saturating_sub(payload),
        })
        .collect())
}

/// DTLS 1.2 PSK CCM_8 between two Mbed TLS peers (python-mbedtls, `bench/mbedtls_dtls_psk.py`)
/// through the relay: full handshake with cookie exchange and one record per size.
pub fn mbedtls_dtls12(bench: &Path, sizes: &[usize]) -> Result<DtlsResult, CostError> {
    let script = bench.join("mbedtls_dtls_psk.py");
    let server_addr = free_udp_port()?;
    let relay = Relay::start(server_addr).map_err(io("relay"))?;
    let out = Command::new("python3")
        .arg(&script)
        .arg(server_addr.port().to_string())
        .arg(relay.addr().port().to_string())
        .args(sizes.iter().map(|s| s.to_string()))
        .stderr(Stdio::null())
        .output()
        .map_err(io("python3"))?;
    if !out.status.success() {
        return Err(CostError::Measure(format!(
            "{} failed (is python-mbedtls installed? pip install python-mbedtls)",
            script.display()
        )));
    }
    std::thread::sleep(SETTLE);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| CostError::Measure(format!("{}: {e}", script.display())))?;
    let (handshake, data, close) = split_session(&relay.since(0));
    Ok(DtlsResult {
        tool: "python-mbedtls client and server".into(),
        version: v["version"].as_str().unwrap_or("unknown").to_string(),
        date: today(),
        protocol: "DTLS 1.2".into(),
        cipher: "TLS-PSK-WITH-AES-128-CCM-8".into(),
        method: format!(
            "bench/mbedtls_dtls_psk.py: Mbed TLS server with cookie exchange and Mbed TLS client, through the meshseal relay on loopback; payloads {sizes:?} one per record"
        ),
        full_handshake: Phase::of(handshake),
        resumed_handshake: None,
        records: record_rows(sizes, &data)?,
        close: Phase::of(close),
        refused_payloads: Vec::new(),
    })
}

fn finish_server(mut server: Child) {
    // s_server exits after -naccept connections; stop it if a failure left it waiting.
    drop(server.stdin.take());
    finish(server);
}

/// Runs `bench/oscore_sizes.py` (aiocoap) and adds the date.
pub fn oscore(bench: &Path) -> Result<(OscoreResult, serde_json::Value), CostError> {
    aiocoap_script(bench, "oscore_sizes.py")
}

/// Runs `bench/group_oscore_sizes.py` (aiocoap's Group OSCORE) and adds the date.
pub fn group_oscore(bench: &Path) -> Result<(GroupOscoreResult, serde_json::Value), CostError> {
    aiocoap_script(bench, "group_oscore_sizes.py")
}

fn aiocoap_script<T: serde::de::DeserializeOwned>(
    bench: &Path,
    name: &str,
) -> Result<(T, serde_json::Value), CostError> {
    let script = bench.join(name);
    let out = Command::new("python3")
        .arg(&script)
        .args(SIZES.iter().map(|s| s.to_string()))
        .stderr(Stdio::null())
        .output()
        .map_err(io("python3"))?;
    if !out.status.success() {
        return Err(CostError::Measure(format!(
            "{} failed (is aiocoap installed? pip install 'aiocoap[oscore]')",
            script.display()
        )));
    }
    let mut v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| CostError::Measure(format!("{}: {e}", script.display())))?;
    v["date"] = today().into();
    let r = serde_json::from_value(v.clone())
        .map_err(|e| CostError::Measure(format!("{}: {e}", script.display())))?;
    Ok((r, v))
}

/// Where `--measure` writes, and the files it writes.
pub struct Recorded {
    /// Directory.
    pub dir: PathBuf,
}

impl Recorded {
    /// Writes `value` as pretty JSON to `name`.
    pub fn write(&self, name: &str, value: &impl Serialize) -> Result<PathBuf, CostError> {
        std::fs::create_dir_all(&self.dir).map_err(io("results directory"))?;
        let path = self.dir.join(name);
        let text = serde_json::to_string_pretty(value)
            .map_err(|e| CostError::Results(format!("{name}: {e}")))?;
        std::fs::write(&path, text + "\n").map_err(io("writing results"))?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_782), (2026, 11, 25));
    }

    #[test]
    fn meshseal_frames_are_measured() {
        let e = meshseal_frames(4, SenderIdMode::Explicit).unwrap();
        // First frame: header byte, sender id, full 5-byte number, payload, tag.
        assert_eq!(e.first, 1 + 1 + 5 + 4 + 8);
        assert_eq!(e.steady_min, 4 + 10);
        let i = meshseal_frames(4, SenderIdMode::Implicit).unwrap();
        assert_eq!(i.steady_min, 4 + 9);
        // One full frame in every 16: mean = (15 × short + 1 × full) / 16.
        assert!(
            (e.steady_mean - (15.0 * 14.0 + 19.0) / 16.0).abs() < 1e-9,
            "{}",
            e.steady_mean
        );
        assert_eq!(e.period.len(), 16);
        assert_eq!(e.period.iter().filter(|&&n| n == 19).count(), 1);
    }

    /// A live DTLS measurement, when Debian's openssl is installed.
    #[test]
    fn live_openssl_dtls12_through_the_relay() {
        if Command::new("openssl").arg("version").output().is_err() {
            eprintln!("openssl not installed: skipped");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let r = openssl_dtls12(&[4, 16], dir.path()).unwrap();
        assert!(r.full_handshake.cookie_exchange, "cookie exchange seen");
        // CCM_8 record: 13-byte header + 8-byte explicit nonce + 8-byte tag.
        for row in &r.records {
            assert_eq!(row.overhead, 13 + 8 + 8, "{row:?}");
        }
        let full = r.full_handshake.totals;
        let resumed = r.resumed_handshake.as_ref().unwrap().totals;
        // Cookie exchange, then ServerHello…ServerHelloDone, then Finished both ways.
        assert_eq!(full.flights, 6, "{full:?}");
        assert!(
            full.c2s_datagrams >= 3 && full.s2c_datagrams >= 3,
            "{full:?}"
        );
        // The abbreviated handshake ends with the client's Finished: one flight fewer.
        assert_eq!(resumed.flights, 5, "{resumed:?}");
        assert!(r.close.totals.c2s_datagrams >= 1, "close_notify seen");
        assert!(r
            .resumed_handshake
            .unwrap()
            .datagrams
            .iter()
            .all(|d| !is_alert(d)));
    }

    /// A live Mbed TLS measurement, when python-mbedtls is installed.
    #[test]
    fn live_mbedtls_dtls12_through_the_relay() {
        let have = Command::new("python3")
            .args(["-c", "import mbedtls"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !have {
            eprintln!("python-mbedtls not installed: skipped");
            return;
        }
        let bench = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench");
        let r = mbedtls_dtls12(&bench, &[4]).unwrap();
        assert!(r.full_handshake.cookie_exchange);
        assert_eq!(r.full_handshake.totals.flights, 6);
        assert_eq!(r.records[0].overhead, 29);
    }
}
