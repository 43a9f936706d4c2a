//! `meshseal compare`: what each way of protecting a sensor's messages costs on air, in energy
//! and in months of battery: DTLS 1.2 PSK (session kept, or a new handshake after each sleep),
//! DTLS 1.3 (model), OSCORE, and meshseal compact frames (explicit or implicit sender).
//!
//! Baselines come from recorded measurement files (`bench/results/*.json`, built into the
//! binary, or `--results DIR`); `--measure` measures them again on loopback (OpenSSL through
//! the project's relay, aiocoap) and writes the files. meshseal frames are always sealed by the
//! core at the time of the comparison. Radio, battery and crypto figures are data files
//! (`data/`) with their datasheet sources.

mod measure;
mod model;
mod plot;
mod relay;

use std::path::{Path, PathBuf};

use meshseal::SenderIdMode;
use serde::Serialize;
use serde_json::json;

use crate::CliError;
use measure::{DtlsResult, HostCrypto, OscoreResult, Recorded, SIZES};
use model::{Baselines, Model, SchemeCost};
pub use model::{Battery, Crypto, Radio};

/// `meshseal compare` options.
#[derive(clap::Args, Debug)]
pub struct CompareArgs {
    /// Application payload bytes per message.
    #[arg(long, default_value_t = 4)]
    pub payload: usize,
    /// Time between messages (e.g. 60s, 5m, 1h; a bare number is seconds).
    #[arg(long, default_value = "60s", value_parser = parse_interval)]
    pub interval: f64,
    /// Radio profile: a name from data/radios (ieee802154, ble, lora) or a TOML file.
    #[arg(long, default_value = "ieee802154")]
    pub radio: String,
    /// Battery profile: a name from data/batteries (cr2032, aa-lithium-2) or a TOML file.
    #[arg(long, default_value = "cr2032")]
    pub battery: String,
    /// Print the table as JSON.
    #[arg(long)]
    pub json: bool,
    /// Draw battery months against message interval for every scheme (SVG).
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Measure the baselines again on loopback (needs openssl and python3 with aiocoap) and
    /// write them to --results.
    #[arg(long)]
    pub measure: bool,
    /// Directory of recorded baselines: read instead of the built-in copy, or written by
    /// --measure (default bench/results).
    #[arg(long)]
    pub results: Option<PathBuf>,
    /// Directory holding the measurement scripts (oscore_sizes.py).
    #[arg(long, default_value = "bench")]
    pub bench_dir: PathBuf,
}

/// Parses `60s`, `5m`, `1h`, `2d`, `500ms` or a bare number of seconds.
pub fn parse_interval(s: &str) -> Result<f64, String> {
    let s = s.trim();
    let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("bad interval {s:?} (e.g. 60s, 5m, 1h)"))?;
    let scale = match unit {
        "" | "s" => 1.0,
        "ms" => 0.001,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        _ => return Err(format!("bad interval unit {unit:?} (ms, s, m, h, d)")),
    };
    let v = n * scale;
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(format!("interval must be positive, found {s:?}"))
    }
}

const RADIOS: [(&str, &str); 3] = [
    (
        "ieee802154",
        include_str!("../../../data/radios/ieee802154.toml"),
    ),
    ("ble", include_str!("../../../data/radios/ble.toml")),
    ("lora", include_str!("../../../data/radios/lora.toml")),
];
const BATTERIES: [(&str, &str); 2] = [
    (
        "cr2032",
        include_str!("../../../data/batteries/cr2032.toml"),
    ),
    (
        "aa-lithium-2",
        include_str!("../../../data/batteries/aa-lithium-2.toml"),
    ),
];
const CRYPTO: &str = include_str!("../../../data/crypto.toml");
const RECORDED_DTLS12: &str = include_str!("../../../bench/results/dtls12-openssl.json");
const RECORDED_OSCORE: &str = include_str!("../../../bench/results/oscore-aiocoap.json");
const RECORDED_MBEDTLS: &str = include_str!("../../../bench/results/dtls12-mbedtls.json");
const RECORDED_HOST: &str = include_str!("../../../bench/results/host-crypto.json");

/// A profile by built-in name or from a TOML file.
fn profile<T: serde::de::DeserializeOwned>(
    what: &str,
    arg: &str,
    builtin: &[(&str, &str)],
) -> Result<T, CliError> {
    let text = match builtin.iter().find(|(n, _)| *n == arg) {
        Some((_, t)) => (*t).to_string(),
        None if Path::new(arg).is_file() => {
            std::fs::read_to_string(arg).map_err(|e| CliError::io(format!("reading {arg}"), e))?
        }
        None => {
            let names: Vec<_> = builtin.iter().map(|(n, _)| *n).collect();
            return Err(CliError::usage(format!(
                "unknown {what} {arg:?}: use one of {} or a TOML file",
                names.join(", ")
            )));
        }
    };
    toml::from_str(&text).map_err(|e| CliError(format!("{what} profile {arg}: {e}")))
}

fn parse_json<T: serde::de::DeserializeOwned>(name: &str, text: &str) -> Result<T, CliError> {
    serde_json::from_str(text).map_err(|e| CliError(format!("recorded baseline {name}: {e}")))
}

fn read_recorded(dir: Option<&Path>, name: &str, builtin: &str) -> Result<String, CliError> {
    match dir {
        Some(d) => std::fs::read_to_string(d.join(name))
            .map_err(|e| CliError::io(format!("reading {}", d.join(name).display()), e)),
        None => Ok(builtin.to_string()),
    }
}

struct Loaded {
    dtls12: DtlsResult,
    mbedtls: Option<DtlsResult>,
    oscore: OscoreResult,
    host: HostCrypto,
}

fn measure_all(args: &CompareArgs) -> Result<Loaded, CliError> {
    let out = Recorded {
        dir: args
            .results
            .clone()
            .unwrap_or_else(|| PathBuf::from("bench/results")),
    };
    let scratch = std::env::temp_dir().join(format!("meshseal-measure-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).map_err(|e| CliError::io("scratch directory".into(), e))?;
    eprintln!("measuring DTLS 1.2 PSK-AES128-CCM8 with openssl through the relay …");
    let dtls12 = measure::openssl_dtls12(&SIZES, &scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    let dtls12 = dtls12?;
    eprintln!("measuring DTLS 1.2 PSK CCM_8 between Mbed TLS peers (python-mbedtls) …");
    let mbedtls = match measure::mbedtls_dtls12(&args.bench_dir, &SIZES) {
        Ok(m) => {
            let path = out.write("dtls12-mbedtls.json", &m)?;
            eprintln!("wrote dtls12-mbedtls.json: {}", path.display());
            Some(m)
        }
        Err(e) => {
            eprintln!("Mbed TLS measurement skipped: {}", e.0);
            None
        }
    };
    eprintln!("measuring OSCORE with aiocoap …");
    let (oscore, oscore_raw) = measure::oscore(&args.bench_dir)?;
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
        oscore,
        host,
    })
}

fn load_recorded(dir: Option<&Path>) -> Result<Loaded, CliError> {
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
        oscore: parse_json(
            "oscore-aiocoap.json",
            &read_recorded(dir, "oscore-aiocoap.json", RECORDED_OSCORE)?,
        )?,
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
}

fn compute(
    args: &CompareArgs,
    loaded: &Loaded,
    radio: Radio,
    battery: Battery,
    crypto: Crypto,
) -> Result<(Comparison, Vec<Vec<model::Traffic>>), CliError> {
    if args.payload == 0 || args.payload > meshseal::context::MAX_PAYLOAD {
        return Err(CliError::usage("--payload must be 1..=65535".into()));
    }
    let explicit = measure::meshseal_frames(args.payload, SenderIdMode::Explicit)?;
    let implicit = measure::meshseal_frames(args.payload, SenderIdMode::Implicit)?;
    let b = Baselines {
        dtls12: &loaded.dtls12,
        mbedtls: loaded.mbedtls.as_ref(),
        oscore: &loaded.oscore,
        host: &loaded.host,
    };
    let traffic = model::schemes(args.payload, &b, &crypto, &explicit, &implicit);
    let m = Model {
        radio: &radio,
        battery: &battery,
        crypto: &crypto,
    };
    let schemes = traffic
        .iter()
        .map(|v| m.cost(args.payload, args.interval, v))
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
        "oscore": {"tool": loaded.oscore.tool, "version": loaded.oscore.aiocoap, "date": loaded.oscore.date,
                   "rows": loaded.oscore.rows},
        "host_crypto": loaded.host,
    });
    Ok((
        Comparison {
            payload: args.payload,
            interval_s: args.interval,
            radio,
            battery,
            crypto,
            baselines,
            schemes,
        },
        traffic,
    ))
}

/// A radio profile by built-in name or TOML file.
pub fn radio_profile(arg: &str) -> Result<Radio, CliError> {
    profile("radio", arg, &RADIOS)
}

/// The crypto timing profile.
pub fn crypto_profile() -> Result<Crypto, CliError> {
    toml::from_str(CRYPTO).map_err(|e| CliError(format!("data/crypto.toml: {e}")))
}

/// Host ns to seal `payload` bytes (recorded benchmark, interpolated).
pub fn seal_ns(c: &Crypto, payload: usize) -> f64 {
    model::interpolate(&c.seal_ns, payload)
}

/// Host ns to open a frame of `payload` bytes (recorded benchmark, interpolated).
pub fn open_ns(c: &Crypto, payload: usize) -> f64 {
    model::interpolate(&c.open_ns, payload)
}

/// Runs `meshseal compare`.
pub fn run(args: CompareArgs) -> Result<(), CliError> {
    let radio = radio_profile(&args.radio)?;
    let battery: Battery = profile("battery", &args.battery, &BATTERIES)?;
    let crypto = crypto_profile()?;
    let loaded = if args.measure {
        measure_all(&args)?
    } else {
        load_recorded(args.results.as_deref())?
    };
    let (cmp, traffic) = compute(&args, &loaded, radio, battery, crypto)?;
    if let Some(path) = &args.plot {
        let m = Model {
            radio: &cmp.radio,
            battery: &cmp.battery,
            crypto: &cmp.crypto,
        };
        let curves: Vec<plot::Curve> = traffic
            .iter()
            .map(|v| plot::Curve {
                name: v[0].name.to_string(),
                points: plot::intervals()
                    .into_iter()
                    .map(|i| (i, m.cost(args.payload, i, v).battery_months))
                    .collect(),
            })
            .collect();
        let title = format!(
            "{}-byte payload, {}, {}",
            args.payload, cmp.radio.title, cmp.battery.title
        );
        plot::draw(path, &title, &curves)?;
        if !args.json {
            eprintln!("plot written to {}", path.display());
        }
    }
    if args.json {
        let v = serde_json::to_value(&cmp).map_err(|e| CliError(e.to_string()))?;
        println!("{v:#}");
    } else {
        print!("{}", table(&cmp));
    }
    Ok(())
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
    let _ = writeln!(s, "sources:");
    for r in &c.schemes {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_parse() {
        assert_eq!(parse_interval("60s"), Ok(60.0));
        assert_eq!(parse_interval("60"), Ok(60.0));
        assert_eq!(parse_interval("5m"), Ok(300.0));
        assert_eq!(parse_interval("1h"), Ok(3600.0));
        assert_eq!(parse_interval("500ms"), Ok(0.5));
        assert!(parse_interval("0s").is_err());
        assert!(parse_interval("5 parsecs").is_err());
        assert!(parse_interval("").is_err());
    }

    #[test]
    fn every_builtin_profile_parses() {
        for (n, t) in RADIOS {
            let r: Radio = toml::from_str(t).unwrap_or_else(|e| panic!("{n}: {e}"));
            assert_eq!(r.name, n);
            assert!(!r.sources.is_empty());
        }
        for (n, t) in BATTERIES {
            let b: Battery = toml::from_str(t).unwrap_or_else(|e| panic!("{n}: {e}"));
            assert_eq!(b.name, n);
            assert!(!b.sources.is_empty());
        }
        let _: Crypto = toml::from_str(CRYPTO).unwrap();
    }
}
