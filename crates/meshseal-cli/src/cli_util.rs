//! What every command shares: the error and outcome types behind the exit codes, hex and stdin
//! input, durations (`30s`, `2m`, `500ms`, plain seconds), the names frames' fields have in the
//! JSON output, and printing an outcome.
//!
//! Exit codes (a contract for scripts): 0 success; 1 usage, configuration, I/O or malformed
//! input; 2 a frame refused by the protocol, with its reason on stderr and, with `--json`, as
//! `{"status":"refused","reason":"<name>"}` on stdout.

use std::io::Read;
use std::process::ExitCode;

use meshseal::frame::SeqForm;
use meshseal::Error;
use meshseal_sim::plan::MAX_WINDOW_S;
use serde_json::json;

/// A failure that is not a protocol refusal: exit code 1.
#[derive(Debug)]
pub struct CliError(pub String);

impl CliError {
    pub fn usage(msg: String) -> Self {
        CliError(msg)
    }
    pub fn io(ctx: String, e: std::io::Error) -> Self {
        CliError(format!("{ctx}: {e}"))
    }
}

impl From<meshseal_cost::CostError> for CliError {
    fn from(e: meshseal_cost::CostError) -> Self {
        CliError(e.to_string())
    }
}

/// How a command ended, when it did not fail.
pub enum Outcome {
    Done,
    /// A frame refused by the protocol (with `--json` or not): exit 2.
    Refused(Error, bool),
    /// Refused as stale and answered with a challenge (already printed): exit 2.
    Challenged,
    /// A frame shown by `inspect` whose tag did not verify (fields already printed): exit 2.
    Inspected,
}

/// What a user can do about a refusal that is not an attack.
fn hint(e: Error) -> Option<&'static str> {
    match e {
        Error::Unsynchronized => Some(
            "this receiver holds no replay state for the sender, so a frame with a truncated \
             sequence number cannot be placed; the sender's next full-length frame synchronizes \
             it (every sender sends one at least once per `full_every` frames of the group's \
             policy, 16 by default; after a rekey its first 16 frames are all full-length)",
        ),
        Error::Stale => Some(
            "authentic, but its freshness is unknown where the traffic class demands it: \
             answer with a challenge and act on its echo (`open --class actuation` does so)",
        ),
        _ => None,
    }
}

/// Reports a command's result and turns it into the exit code.
pub fn exit_code(result: Result<Outcome, CliError>) -> ExitCode {
    match result {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::Challenged | Outcome::Inspected) => ExitCode::from(2),
        Ok(Outcome::Refused(e, json)) => {
            // An expected copy of a repeated frame is refused like a replay, but is no attack.
            let status = if e == Error::Duplicate {
                "duplicate"
            } else {
                "refused"
            };
            let hint = hint(e);
            if json {
                let mut v = json!({"status": status, "reason": e.reason()});
                if let Some(h) = hint {
                    v["hint"] = json!(h);
                }
                outln!("{v}");
            }
            eprintln!("refused: {} ({e})", e.reason());
            if let Some(h) = hint {
                eprintln!("hint: {h}");
            }
            ExitCode::from(2)
        }
        Err(CliError(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(1)
        }
    }
}

/// Hex bytes, whitespace allowed anywhere; `what` names the input in the error.
pub fn parse_hex(what: &str, s: &str) -> Result<Vec<u8>, CliError> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    hex::decode(&s).map_err(|e| CliError::usage(format!("{what} is not valid hex: {e}")))
}

/// A payload given as `--hex`, or else the raw bytes on stdin.
pub fn read_payload(
    hex: Option<&str>,
    file: Option<&std::path::Path>,
) -> Result<Vec<u8>, CliError> {
    match (hex, file) {
        (Some(_), Some(_)) => Err(CliError::usage(
            "give the payload as --hex or --in, not both".into(),
        )),
        (Some("-"), None) | (None, None) => read_bounded_payload(std::io::stdin().lock(), "stdin"),
        (Some(h), None) => parse_hex("--hex payload", h),
        (None, Some(path)) => {
            let f = std::fs::File::open(path)
                .map_err(|e| CliError::io(format!("cannot read {}", path.display()), e))?;
            read_bounded_payload(f, &path.display().to_string())
        }
    }
}

/// Largest payload a command reads: one frame's (a message sent as fragments is smaller still).
pub const MAX_PAYLOAD_INPUT: usize = 65_535;

/// Reads at most [`MAX_PAYLOAD_INPUT`] bytes, refusing more without reading them all.
fn read_bounded_payload(r: impl Read, what: &str) -> Result<Vec<u8>, CliError> {
    let mut b = Vec::new();
    r.take(MAX_PAYLOAD_INPUT as u64 + 1)
        .read_to_end(&mut b)
        .map_err(|e| CliError::io(format!("cannot read {what}"), e))?;
    if b.len() > MAX_PAYLOAD_INPUT {
        return Err(CliError::usage(format!(
            "the payload on {what} is over {MAX_PAYLOAD_INPUT} bytes, the most one frame carries"
        )));
    }
    Ok(b)
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
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

/// A duration that may be under a second (`20ms`, `1.5s`): a bare number is refused, since
/// `--listen 20` could mean 20 ms or 20 s.
pub fn parse_short_duration(s: &str) -> Result<f64, String> {
    let t = s.trim();
    if !t.is_empty() && t.parse::<f64>().is_ok() && t.parse::<f64>().ok() != Some(0.0) {
        return Err(format!("give a unit: {t}ms or {t}s"));
    }
    parse_duration_or_zero(s)
}

/// A duration like `parse_interval`, which also accepts zero.
pub fn parse_duration_or_zero(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let digits = t.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    if digits.parse::<f64>().is_ok_and(|v| v == 0.0) {
        return Ok(0.0);
    }
    parse_interval(s)
}

/// A window in whole seconds that fits the frame's byte (`30s`, `4m`).
pub fn parse_window_s(s: &str) -> Result<u8, String> {
    let v = parse_duration_or_zero(s)?;
    if v.fract() != 0.0 || v > f64::from(MAX_WINDOW_S) {
        return Err(format!(
            "window must be whole seconds, at most {MAX_WINDOW_S} s; found {s:?}"
        ));
    }
    Ok(v as u8)
}

/// Whole seconds with an optional unit (`90`, `90s`, `5m`, `2h`); zero allowed.
pub fn parse_whole_seconds(s: &str) -> Result<u64, String> {
    let v = parse_duration_or_zero(s)?;
    if v.fract() != 0.0 || v > 1e15 {
        return Err(format!(
            "expected whole seconds (e.g. 90s, 5m), found {s:?}"
        ));
    }
    Ok(v as u64)
}

/// A period of at least one millisecond that needs a unit (`500ms`, `2s`), in milliseconds.
pub fn parse_period_ms(s: &str) -> Result<u32, String> {
    let v = parse_short_duration(s)? * 1000.0;
    if v.fract() != 0.0 || !(1.0..=f64::from(u32::MAX)).contains(&v) {
        return Err(format!(
            "expected whole milliseconds, at least 1 ms (e.g. 500ms, 2s), found {s:?}"
        ));
    }
    Ok(v as u32)
}

/// Seconds as whole microseconds.
pub fn micros(seconds: f64) -> u64 {
    (seconds * 1e6).round() as u64
}

/// A sequence number form's name in the JSON output.
pub fn form_name(f: SeqForm) -> String {
    match f {
        SeqForm::Short => "short".into(),
        SeqForm::Bytes(n) => format!("{n}_byte"),
    }
}

/// A frame binding's name in the JSON output.
pub fn binding_name(b: meshseal::Binding) -> &'static str {
    match b {
        meshseal::Binding::Response => "response",
        meshseal::Binding::Echo => "echo",
        meshseal::Binding::Challenge => "challenge",
        _ => "none",
    }
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
    fn whole_seconds_and_periods_parse() {
        assert_eq!(parse_whole_seconds("90"), Ok(90));
        assert_eq!(parse_whole_seconds("2m"), Ok(120));
        assert_eq!(parse_whole_seconds("0"), Ok(0));
        assert!(parse_whole_seconds("1500ms").is_err());
        assert!(parse_whole_seconds("-3s").is_err());
        assert_eq!(parse_period_ms("500ms"), Ok(500));
        assert_eq!(parse_period_ms("2s"), Ok(2000));
        assert!(parse_period_ms("500").unwrap_err().contains("give a unit"));
        assert!(parse_period_ms("0ms").is_err());
        assert!(parse_period_ms("0.5ms").is_err());
        assert_eq!(parse_window_s("2m"), Ok(120));
        assert!(parse_window_s("5m").is_err());
    }
}
