//! DTLS 1.3 measured, not modelled: two wolfSSL peers (`bench/wolfssl/dtls13_psk.c`, built
//! by `bench/wolfssl/build.sh` from Debian's wolfSSL source with DTLS 1.3) run an external-PSK
//! handshake with TLS_AES_128_CCM_8_SHA256 through the counting relay, then send one record
//! per payload size. The client is driven line by line on stdin, so each phase's datagrams are
//! exactly what the relay saw between two steps: DTLS 1.3 encrypts its record headers, and
//! the content type that splits a DTLS 1.2 session is not visible on the wire.
//!
//! wolfSSL 5.7 refuses to send a CCM_8 record whose ciphertext is under 16 bytes (RFC 9147
//! §4.2.3 needs a 16-byte sample for record number encryption and asks senders to pad; wolfSSL
//! does not): payloads under 7 bytes are refused, and the result lists them.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::measure::{
    finish, free_udp_port, io, lines_of, today, wait_line, DtlsResult, Phase, RecordRow, SETTLE,
};
use crate::relay::{Dir, Relay};
use crate::CostError;

/// Handshake type of a ClientHello (RFC 8446 §4).
const CLIENT_HELLO: u8 = 1;

/// Builds the wolfSSL peer (`bench/wolfssl/build.sh`) and returns its path.
fn build(bench: &Path) -> Result<std::path::PathBuf, CostError> {
    let script = bench.join("wolfssl/build.sh");
    let out = Command::new("bash")
        .arg(&script)
        .stderr(Stdio::null())
        .output()
        .map_err(io("bash"))?;
    let path = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or("")
        .to_owned();
    if !out.status.success() || path.is_empty() {
        return Err(CostError::Measure(format!(
            "{} failed (needs cmake, a C compiler and Debian's source archive)",
            script.display()
        )));
    }
    Ok(path.into())
}

/// DTLS 1.3 PSK CCM_8 between two wolfSSL peers through the relay: the full handshake
/// (HelloRetryRequest cookie included), one record per size, and the close.
pub fn wolfssl_dtls13(bench: &Path, sizes: &[usize]) -> Result<DtlsResult, CostError> {
    let peer = build(bench)?;
    let server_addr = free_udp_port()?;
    let mut server = Command::new(&peer)
        .args(["server", &server_addr.port().to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(io("wolfSSL server"))?;
    let server_lines = lines_of(&mut server);
    let result = (|| {
        wait_line(&server_lines, |l| l == "listening", "the wolfSSL server")?;
        let relay = Relay::start(server_addr).map_err(io("relay"))?;
        let mut client = Command::new(&peer)
            .args(["client", &relay.addr().port().to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(io("wolfSSL client"))?;
        let lines = lines_of(&mut client);
        let run = (|| {
            let version = wait_line(&lines, |l| l.starts_with("version "), "wolfSSL's version")?;
            let done = wait_line(&lines, |l| l.starts_with("handshake done"), "the handshake")?;
            if !done.contains("TLS_AES_128_CCM_8_SHA256") || !done.contains("DTLSv1.3") {
                return Err(CostError::Measure(format!("unexpected session: {done}")));
            }
            std::thread::sleep(SETTLE);
            let handshake = relay.since(0);
            let mut records = Vec::new();
            let mut refused = Vec::new();
            let Some(stdin) = client.stdin.as_mut() else {
                return Err(CostError::Measure("no stdin for the wolfSSL client".into()));
            };
            for &n in sizes {
                let before = relay.len();
                writeln!(stdin, "{n}").map_err(io("wolfSSL client"))?;
                let answer = wait_line(
                    &lines,
                    |l| l.starts_with("sent ") || l.starts_with("refused "),
                    "a record",
                )?;
                std::thread::sleep(SETTLE);
                let seen = relay.since(before);
                if answer.starts_with("refused ") {
                    if !seen.is_empty() {
                        return Err(CostError::Measure(format!(
                            "wolfSSL refused {n} bytes but {} datagrams crossed",
                            seen.len()
                        )));
                    }
                    refused.push(n);
                    continue;
                }
                let [d] = seen.as_slice() else {
                    return Err(CostError::Measure(format!(
                        "one record of {n} bytes crossed as {} datagrams",
                        seen.len()
                    )));
                };
                if d.dir != Dir::C2s {
                    return Err(CostError::Measure("a record went the wrong way".into()));
                }
                records.push(RecordRow {
                    payload: n,
                    datagram_bytes: d.len,
                    overhead: d.len.saturating_sub(n),
                });
            }
            let before = relay.len();
            drop(client.stdin.take());
            let closed = wait_line(&lines, |l| l.starts_with("closed "), "the close")?;
            std::thread::sleep(SETTLE);
            let close = relay.since(before);
            // "closed R E": wolfSSL_shutdown's return and error (1 0 when close_notify went).
            let close_note = if closed == "closed 1 0" {
                String::new()
            } else {
                format!(
                    "; close_notify not sent (wolfSSL_shutdown: {}; a 2-byte alert is under the 16-byte ciphertext minimum too)",
                    closed.trim_start_matches("closed ")
                )
            };
            let mut full_handshake = Phase::of(handshake);
            // The cookie exchange of DTLS 1.3 is a HelloRetryRequest: two ClientHellos.
            full_handshake.cookie_exchange = full_handshake
                .datagrams
                .iter()
                .filter(|d| d.dir == Dir::C2s)
                .flat_map(|d| &d.records)
                .filter(|r| r.handshake_type == Some(CLIENT_HELLO))
                .count()
                >= 2;
            Ok(DtlsResult {
                tool: "wolfSSL client and server (bench/wolfssl/dtls13_psk.c)".into(),
                version: format!("wolfSSL {}", version.trim_start_matches("version ")),
                date: today(),
                protocol: "DTLS 1.3".into(),
                cipher: "TLS_AES_128_CCM_8_SHA256, external PSK, psk_ke (no ECDHE)".into(),
                method: format!(
                    "bench/wolfssl/dtls13_psk.c built by bench/wolfssl/build.sh (Debian source, DTLS 1.3, PSK, AES-CCM), server with wolfSSL's default HelloRetryRequest cookie and no session ticket, client without key shares; through the meshseal relay on loopback; payloads {sizes:?} written one per record{close_note}"
                ),
                full_handshake,
                resumed_handshake: None,
                records,
                close: Phase::of(close),
                refused_payloads: refused,
            })
        })();
        finish(client);
        run
    })();
    finish(server);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A live measurement, when `MESHSEAL_REQUIRE_WOLFSSL=1` (CI, after `bench/wolfssl/build.sh`):
    /// building wolfSSL fetches Debian's source, which a plain `cargo test` should not do.
    /// It also holds the recorded `bench/results/dtls13-wolfssl.json` to what a run gives now.
    #[test]
    fn live_wolfssl_dtls13_through_the_relay() {
        if std::env::var("MESHSEAL_REQUIRE_WOLFSSL").as_deref() != Ok("1") {
            eprintln!("MESHSEAL_REQUIRE_WOLFSSL=1 not set: skipped");
            return;
        }
        let bench = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench");
        let r = wolfssl_dtls13(&bench, &[1, 4, 7, 16, 64]).unwrap();
        assert!(r.version.starts_with("wolfSSL 5.7"), "{}", r.version);
        assert!(
            r.full_handshake.cookie_exchange,
            "HelloRetryRequest cookie seen"
        );
        assert_eq!(r.refused_payloads, [1, 4]);
        assert_eq!(r.records.len(), 3);
        for row in &r.records {
            // Unified header 1 + sequence number 2 + length 2 + content type 1 + tag 8.
            assert_eq!(row.overhead, 14, "{row:?}");
        }
        let recorded: DtlsResult =
            serde_json::from_str(include_str!("../../../bench/results/dtls13-wolfssl.json"))
                .unwrap();
        assert_eq!(r.full_handshake.totals, recorded.full_handshake.totals);
        assert_eq!(recorded.refused_payloads, [1, 4]);
        assert!(recorded.records.iter().all(|row| row.overhead == 14));
    }
}
