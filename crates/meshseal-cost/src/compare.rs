//! The comparison itself: baselines loaded from recorded files (built in, or a directory) or
//! measured again, meshseal frames sealed by the core, every scheme costed under one radio,
//! battery and crypto profile, and the human-readable table.

use std::path::{Path, PathBuf};

use meshseal::SenderIdMode;
use serde::Serialize;
use serde_json::json;

use crate::measure::{
    self, DtlsResult, GroupOscoreResult, HostCrypto, OscoreResult, Recorded, DTLS13_SIZES, SIZES,
};
use crate::model::{self, Baselines, Battery, Crypto, Model, Radio, SchemeCost, Traffic};
use crate::plot;
use crate::CostError;

const RECORDED_DTLS12: &str = include_str!("../../../bench/results/dtls12-openssl.json");
const RECORDED_OSCORE: &str = include_str!("../../../bench/results/oscore-aiocoap.json");
const RECORDED_MBEDTLS: &str = include_str!("../../../bench/results/dtls12-mbedtls.json");
const RECORDED_DTLS13: &str = include_str!("../../../bench/results/dtls13-wolfssl.json");
const RECORDED_HOST: &str = include_str!("../../../bench/results/host-crypto.json");
const RECORDED_GROUP_OSCORE: &str =
    include_str!("../../../bench/results/group-oscore-aiocoap.json");

fn parse_json<T: serde::de::DeserializeOwned>(name: &str, text: &str) -> Result<T, CostError> {
    serde_json::from_str(text)
        .map_err(|e| CostError::Results(format!("recorded baseline {name}: {e}")))
}

fn read_recorded(dir: Option<&Path>, name: &str, builtin: &str) -> Result<String, CostError> {
    match dir {
        Some(d) => std::fs::read_to_string(d.join(name))
            .map_err(|e| CostError::io(format!("reading {}", d.join(name).display()), e)),
        None => Ok(builtin.to_string()),
    }
}

/// The baselines a comparison rests on.
pub struct Loaded {
    /// DTLS 1.2 PSK between OpenSSL peers.
    pub dtls12: DtlsResult,
    /// DTLS 1.2 PSK between Mbed TLS peers, when measured.
    pub mbedtls: Option<DtlsResult>,
    /// DTLS 1.3 PSK CCM_8 between wolfSSL peers, when measured (else the model stands in).
    pub dtls13: Option<DtlsResult>,
    /// OSCORE with aiocoap.
    pub oscore: OscoreResult,
    /// Group OSCORE with aiocoap, when measured.
    pub group_oscore: Option<GroupOscoreResult>,
    /// HMAC-SHA256 timing of the host.
    pub host: HostCrypto,
}

/// Measures every baseline again on loopback (OpenSSL through the relay, Mbed TLS when
/// python-mbedtls is installed, aiocoap, the host's HMAC timing, meshseal frames) and writes
/// the result files to `results` (default `bench/results`); progress goes to stderr.
pub fn measure_all(results: Option<&Path>, bench_dir: &Path) -> Result<Loaded, CostError> {
    let out = Recorded {
        dir: results
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("bench/results")),
    };
    let scratch = std::env::temp_dir().join(format!("meshseal-measure-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).map_err(|e| CostError::io("scratch directory", e))?;
    eprintln!("measuring DTLS 1.2 PSK-AES128-CCM8 with openssl through the relay …");
    let dtls12 = measure::openssl_dtls12(&SIZES, &scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    let dtls12 = dtls12?;
    eprintln!("measuring DTLS 1.2 PSK CCM_8 between Mbed TLS peers (python-mbedtls) …");
    let mbedtls = match measure::mbedtls_dtls12(bench_dir, &SIZES) {
        Ok(m) => {
            let path = out.write("dtls12-mbedtls.json", &m)?;
            eprintln!("wrote dtls12-mbedtls.json: {}", path.display());
            Some(m)
        }
        Err(e) => {
            eprintln!("Mbed TLS measurement skipped: {e}");
            None
        }
    };
    eprintln!("measuring DTLS 1.3 PSK CCM_8 between wolfSSL peers (bench/wolfssl) …");
    let dtls13 = match crate::dtls13::wolfssl_dtls13(bench_dir, &DTLS13_SIZES) {
        Ok(m) => {
            let path = out.write("dtls13-wolfssl.json", &m)?;
            eprintln!("wrote dtls13-wolfssl.json: {}", path.display());
            Some(m)
        }
        Err(e) => {
            eprintln!("wolfSSL measurement skipped: {e}");
            None
        }
    };
    eprintln!("measuring OSCORE with aiocoap …");
    let (oscore, oscore_raw) = measure::oscore(bench_dir)?;
    eprintln!("measuring Group OSCORE with aiocoap …");
    let (group_oscore, group_raw) = measure::group_oscore(bench_dir)?;
    eprintln!("timing HMAC-SHA256 on this host …");
    let host = measure::host_crypto();
    let mut frames = Vec::new();
    for &p in &SIZES {
        for mode in [SenderIdMode::Explicit, SenderIdMode::Implicit] {
            frames.push(measure::meshseal_frames(p, mode)?);
        }
    }
    let meshseal = json!({
        "tool": "meshseal core",
        "version": env!("CARGO_PKG_VERSION"),
        "date": measure::today(),
        "method": "Sender::seal with the default SenderConfig (steady length mode, a full 40-bit number every 16 frames); 129 frames per row",
        "rows": frames,
    });
    for (name, path) in [
        (
            "dtls12-openssl.json",
            out.write("dtls12-openssl.json", &dtls12)?,
        ),
        (
            "oscore-aiocoap.json",
            out.write("oscore-aiocoap.json", &oscore_raw)?,
        ),
        (
            "group-oscore-aiocoap.json",
            out.write("group-oscore-aiocoap.json", &group_raw)?,
        ),
        ("host-crypto.json", out.write("host-crypto.json", &host)?),
        (
            "meshseal-frames.json",
            out.write("meshseal-frames.json", &meshseal)?,
        ),
    ] {
        eprintln!("wrote {name}: {}", path.display());
    }
    Ok(Loaded {
        dtls12,
        mbedtls,
        dtls13,
        oscore,
        group_oscore: Some(group_oscore),
        host,
    })
}

/// The recorded baselines: from `dir`, or the copy built into the binary.
pub fn load_recorded(dir: Option<&Path>) -> Result<Loaded, CostError> {
    Ok(Loaded {
        dtls12: parse_json(
            "dtls12-openssl.json",
            &read_recorded(dir, "dtls12-openssl.json", RECORDED_DTLS12)?,
        )?,
        // Optional: a results directory measured without python-mbedtls has no such file.
        mbedtls: match read_recorded(dir, "dtls12-mbedtls.json", RECORDED_MBEDTLS) {
            Ok(text) => Some(parse_json("dtls12-mbedtls.json", &text)?),
            Err(_) => None,
        },
        dtls13: match read_recorded(dir, "dtls13-wolfssl.json", RECORDED_DTLS13) {
            Ok(text) => Some(parse_json("dtls13-wolfssl.json", &text)?),
            Err(_) => None,
        },
        oscore: parse_json(
            "oscore-aiocoap.json",
            &read_recorded(dir, "oscore-aiocoap.json", RECORDED_OSCORE)?,
        )?,
        group_oscore: match read_recorded(dir, "group-oscore-aiocoap.json", RECORDED_GROUP_OSCORE) {
            Ok(text) => Some(parse_json("group-oscore-aiocoap.json", &text)?),
            Err(_) => None,
        },
        host: parse_json(
            "host-crypto.json",
            &read_recorded(dir, "host-crypto.json", RECORDED_HOST)?,
        )?,
    })
}

/// The whole comparison for one set of options.
#[derive(Debug, Serialize)]
pub struct Comparison {
    /// Payload bytes.
    pub payload: usize,
    /// Seconds between messages.
    pub interval_s: f64,
    /// Radio profile.
    pub radio: Radio,
    /// Battery profile.
    pub battery: Battery,
    /// Crypto timing.
    pub crypto: Crypto,
    /// Where the baselines come from.
    pub baselines: serde_json::Value,
    /// One row per scheme.
    pub schemes: Vec<SchemeCost>,
    /// Bytes each protection adds to one CoAP-sized request and to its response.
    pub message_overhead: Vec<OverheadRow>,
}

/// Bytes a protection adds to a request and to its response.
#[derive(Debug, Clone, Serialize)]
pub struct OverheadRow {
    /// Short name.
    pub key: &'static str,
    /// What is compared.
    pub name: &'static str,
    /// Bytes added to the request (the frame over the payload for meshseal; the protected
    /// over the plain CoAP message for OSCORE).
    pub request_added: usize,
    /// Bytes added to the response.
    pub response_added: usize,
    /// Where the figures come from.
    pub source: String,
}

/// The overhead rows: the compact frame (sealed now), RFC 8613 OSCORE and Group OSCORE in
/// both modes (measured with aiocoap).
fn overhead_rows(
    payload: usize,
    explicit: &measure::MeshsealRow,
    loaded: &Loaded,
) -> Vec<OverheadRow> {
    let mut rows = vec![OverheadRow {
        key: "meshseal",
        name: "meshseal compact frame (steady traffic, explicit sender id)",
        request_added: explicit.steady_min - payload,
        response_added: explicit.response - payload,
        source: "sealed by the core now (a response frame binds the request)".into(),
    }];
    if let Some(r) = loaded.oscore.row(payload) {
        rows.push(OverheadRow {
            key: "oscore",
            name: "OSCORE (RFC 8613)",
            request_added: r.request_overhead,
            response_added: r.response_overhead,
            source: format!(
                "measured: {} {}, {}",
                loaded.oscore.tool, loaded.oscore.aiocoap, loaded.oscore.date
            ),
        });
    }
    if let Some(g) = &loaded.group_oscore {
        if let Some(r) = g.row(payload) {
            let src = format!(
                "measured: {} {}, {} ({}-byte Gid)",
                g.tool, g.aiocoap, g.date, g.gid_len
            );
            rows.push(OverheadRow {
                key: "group_oscore_group",
                name: "Group OSCORE, group mode (signed request, pairwise response)",
                request_added: r.group_request_overhead,
                response_added: r.response_to_group_overhead,
                source: src.clone(),
            });
            rows.push(OverheadRow {
                key: "group_oscore_pairwise",
                name: "Group OSCORE, pairwise mode",
                request_added: r.pairwise_request_overhead,
                response_added: r.response_to_pairwise_overhead,
                source: src,
            });
        }
    }
    rows
}

impl Comparison {
    /// The model over this comparison's radio, battery and crypto profiles.
    pub fn model(&self) -> Model<'_> {
        Model {
            radio: &self.radio,
            battery: &self.battery,
            crypto: &self.crypto,
        }
    }
}

/// Costs every scheme for `payload` bytes every `interval` seconds; also returns each
/// scheme's traffic, for [`curves`].
pub fn compute(
    payload: usize,
    interval: f64,
    loaded: &Loaded,
    radio: Radio,
    battery: Battery,
    crypto: Crypto,
) -> Result<(Comparison, Vec<Vec<Traffic>>), CostError> {
    if payload == 0 || payload > meshseal::context::MAX_PAYLOAD {
        return Err(CostError::Usage("--payload must be 1..=65535".into()));
    }
    let explicit = measure::meshseal_frames(payload, SenderIdMode::Explicit)?;
    let implicit = measure::meshseal_frames(payload, SenderIdMode::Implicit)?;
    let b = Baselines {
        dtls12: &loaded.dtls12,
        mbedtls: loaded.mbedtls.as_ref(),
        dtls13: loaded.dtls13.as_ref(),
        oscore: &loaded.oscore,
        host: &loaded.host,
    };
    let traffic = model::schemes(payload, &b, &crypto, &explicit, &implicit);
    let m = Model {
        radio: &radio,
        battery: &battery,
        crypto: &crypto,
    };
    let schemes = traffic
        .iter()
        .map(|v| m.cost(payload, interval, v))
        .collect();
    let baselines = json!({
        "dtls12": {"tool": loaded.dtls12.tool, "version": loaded.dtls12.version, "date": loaded.dtls12.date,
                   "full_handshake": loaded.dtls12.full_handshake.totals,
                   "resumed_handshake": loaded.dtls12.resumed_handshake.as_ref().map(|p| p.totals),
                   "cookie_exchange": loaded.dtls12.full_handshake.cookie_exchange,
                   "records": loaded.dtls12.records},
        "dtls12_mbedtls": loaded.mbedtls.as_ref().map(|m| json!({
                   "tool": m.tool, "version": m.version, "date": m.date,
                   "full_handshake": m.full_handshake.totals,
                   "cookie_exchange": m.full_handshake.cookie_exchange,
                   "records": m.records})),
        "dtls13": {"model": "RFC 9147 §4 unified header (1) + 16-bit sequence number (2) + length (2) + inner content type (1) + CCM_8 tag (8)",
                   "overhead": model::DTLS13_MODEL_OVERHEAD},
        "dtls13_wolfssl": loaded.dtls13.as_ref().map(|m| json!({
                   "tool": m.tool, "version": m.version, "date": m.date,
                   "full_handshake": m.full_handshake.totals,
                   "records": m.records, "refused_payloads": m.refused_payloads})),
        "oscore": {"tool": loaded.oscore.tool, "version": loaded.oscore.aiocoap, "date": loaded.oscore.date,
                   "rows": loaded.oscore.rows},
        "group_oscore": loaded.group_oscore.as_ref().map(|g| json!({
                   "tool": g.tool, "version": g.aiocoap, "date": g.date, "gid_len": g.gid_len,
                   "rows": g.rows})),
        "host_crypto": loaded.host,
    });
    Ok((
        Comparison {
            payload,
            interval_s: interval,
            radio,
            battery,
            crypto,
            baselines,
            schemes,
            message_overhead: overhead_rows(payload, &explicit, loaded),
        },
        traffic,
    ))
}

/// Receiver counts the fan-out panel plots.
const PLOTTED_RECEIVERS: [usize; 12] = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64];

/// The two panels of `compare --plot` and the notes under them: battery life relative to DTLS
/// 1.2 with a kept session against interval, and bytes on air per command against receivers
/// (`copies` copies of a meshseal frame; `receivers` marked when given).
pub fn plot_panels(
    cmp: &Comparison,
    traffic: &[Vec<Traffic>],
    receivers: Option<usize>,
    copies: u8,
    ram: &crate::fanout::SessionRam,
) -> Result<(plot::Panel, plot::Panel, Vec<String>), CostError> {
    let m = cmp.model();
    let base = traffic
        .iter()
        .find(|v| v[0].key == "dtls12")
        .ok_or_else(|| CostError::Results("no DTLS 1.2 baseline to compare with".into()))?;
    let months = |i: f64, v: &[Traffic]| m.cost(cmp.payload, i, v).battery_months;
    let relative = traffic
        .iter()
        .enumerate()
        .filter(|(_, v)| v[0].key != "dtls12")
        .map(|(style, v)| plot::Curve {
            style,
            name: v[0].name.to_string(),
            points: plot::intervals()
                .into_iter()
                .map(|i| (i, months(i, v) / months(i, base)))
                .collect(),
        })
        .collect();
    let left = plot::Panel {
        title: "battery life relative to DTLS 1.2 with a kept session".into(),
        x_desc: "message interval (s)".into(),
        y_desc: "battery life ÷ DTLS 1.2 session kept".into(),
        x_range: (1.0, 86_400.0),
        curves: relative,
        mark: Some((cmp.interval_s, format!("chosen: {} s", cmp.interval_s))),
        reference: Some((1.0, format!("= 1: {}", base[0].name))),
        legend: false,
    };
    let mut fan: Vec<plot::Curve> = traffic
        .iter()
        .enumerate()
        .map(|(style, v)| plot::Curve {
            style,
            name: v[0].name.to_string(),
            points: Vec::new(),
        })
        .collect();
    for n in PLOTTED_RECEIVERS {
        let f = crate::fanout::fanout(cmp, traffic, n, copies, ram)?;
        for (c, r) in fan.iter_mut().zip(&f.rows) {
            c.points.push((n as f64, r.air_bytes));
        }
    }
    let copies_text = if copies > 1 {
        format!(", meshseal {copies} copies")
    } else {
        String::new()
    };
    let right = plot::Panel {
        title: format!("one command to N receivers{copies_text}"),
        x_desc: "receivers".into(),
        y_desc: "bytes on air per command".into(),
        x_range: (1.0, 64.0),
        curves: fan,
        mark: receivers.map(|n| (n as f64, format!("chosen: {n}"))),
        reference: None,
        legend: true,
    };
    let at_day = months(86_400.0, base);
    let notes = vec![
        format!(
            "Left: at long intervals every curve tends to 1, because the sleep current, not the radio, then sets battery life (DTLS 1.2 with a kept session: {at_day:.1} months at one message a day)."
        ),
        "Right: meshseal sends one group frame (or K copies for sleepy receivers) whatever the number of receivers; unicast schemes send one record, request or handshake per receiver.".into(),
        format!(
            "{}-byte payload; radio and battery as in the table; per-message sizes measured (DTLS, OSCORE) or sealed now (meshseal){}.",
            cmp.payload,
            if traffic.iter().any(|v| v[0].key == "dtls13_handshake") {
                ""
            } else {
                "; DTLS 1.3 is a model"
            }
        ),
    ];
    Ok((left, right, notes))
}

/// The human-readable table.
pub fn table(c: &Comparison) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{}-byte payload every {} s over {}; battery {} ({} mAh)",
        c.payload, c.interval_s, c.radio.title, c.battery.title, c.battery.capacity_mah
    );
    let _ = writeln!(
        s,
        "{:<64} {:>7} {:>8} {:>9} {:>7} {:>8} {:>9} {:>9} {:>8} {:>8}",
        "scheme",
        "msg B",
        "added B",
        "handsh B",
        "frames",
        "air B",
        "airtime",
        "energy",
        "avg µA",
        "months"
    );
    for r in &c.schemes {
        let _ = writeln!(
            s,
            "{:<64} {:>7.1} {:>8.1} {:>9.0} {:>7.1} {:>8.1} {:>7.2}ms {:>7.1}µJ {:>8.2} {:>8.1}",
            r.name,
            r.message_bytes,
            r.overhead_bytes,
            r.handshake_bytes,
            r.frames_tx + r.frames_rx,
            r.air_bytes_tx + r.air_bytes_rx,
            r.airtime_ms,
            r.energy_uj.total,
            r.avg_current_ua,
            r.battery_months
        );
    }
    let _ = writeln!(s, "bytes added to one request and its response:");
    let _ = writeln!(
        s,
        "{:<64} {:>9} {:>10}",
        "protection", "request", "response"
    );
    for r in &c.message_overhead {
        let _ = writeln!(
            s,
            "{:<64} {:>9} {:>10}",
            r.name, r.request_added, r.response_added
        );
    }
    let _ = writeln!(s, "sources:");
    for r in &c.schemes {
        let _ = writeln!(s, "  {:<20} {}", r.key, r.source);
    }
    for r in &c.message_overhead {
        let _ = writeln!(s, "  {:<20} {}", r.key, r.source);
    }
    for (k, v) in &c.radio.sources {
        let _ = writeln!(s, "  radio {k}: {v}");
    }
    for (k, v) in &c.battery.sources {
        let _ = writeln!(s, "  battery {k}: {v}");
    }
    let _ = writeln!(
        s,
        "  crypto: {} × {} for {}",
        c.crypto.source, c.crypto.target.host_to_target, c.crypto.target.name
    );
    s
}
