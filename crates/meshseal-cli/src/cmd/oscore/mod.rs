//! `meshseal oscore`: an OSCORE (RFC 8613) CoAP server and client over UDP, and (`group`) a
//! Group OSCORE member.
//!
//! The context file (TOML, as sensitive as the key):
//!
//! ```toml
//! master_secret = "0102030405060708090a0b0c0d0e0f10"
//! master_salt = "9e7ca92223786340"   # optional (also accepted as `salt`)
//! sender_id = "01"
//! recipient_id = ""
//! id_context = "37cbf321"            # optional
//! state = "server-state"             # directory, relative to this file
//! ```
//!
//! The state directory holds the sender counter (`sender.counter`, reserved before a number
//! is used) and the replay window (`replay.json`, rewritten atomically after every accepted
//! request, before the request is acted on). A state directory that exists without
//! `replay.json` is a server that lost its window: it answers requests with a protected 4.01
//! and an Echo option until one returns it (RFC 8613 Appendix B.1.2). A missing directory is a
//! new context; one that exists without `sender.counter` is refused (its counter was lost, and
//! starting again at 0 would repeat nonces).
//!
//! The server serves `/temp` (GET), `/lamp` (GET, PUT) and `/echo` (POST returns the payload)
//! and prints one JSON line per request on stdout. Refused requests get the unprotected
//! errors of RFC 8613 §8.2 (4.01 "Replay detected", 4.00 "Decryption failed", ...).

use std::collections::VecDeque;
use std::fs::{self, File};
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Subcommand;
use meshseal::counter::{write_atomic, FileStore};
use meshseal::oscore::coap::{self, code, number, CoapOption, MessageType, Packet};
use meshseal::oscore::{
    Endpoint, Error as OscoreError, Outer, Params, Plain, SecurityContext, Verified, ECHO_LEN,
};
use meshseal::replay::ReplayWindow;
use serde::{Deserialize, Serialize};
use serde_json::json;
use zeroize::Zeroizing;

use crate::cli_util::{CliError, Outcome};

mod group;

#[derive(Subcommand)]
pub enum OscoreCmd {
    /// Serve /temp (GET), /lamp (GET, PUT) and /echo (POST) over OSCORE.
    Server {
        /// The OSCORE security context file (TOML; `meshseal oscore context new` writes a pair).
        #[arg(long)]
        context: PathBuf,
        /// Address to listen on, e.g. 127.0.0.1:5683.
        #[arg(long)]
        bind: String,
    },
    /// Security context files.
    Context {
        #[command(subcommand)]
        cmd: ContextCmd,
    },
    /// Group OSCORE (RFC 10021): context files for a group, a member serving group-mode
    /// requests, a member sending them.
    Group {
        #[command(subcommand)]
        cmd: group::GroupCmd,
    },
    /// Send one OSCORE request and print the verified response.
    Client {
        /// The OSCORE security context file (TOML; `meshseal oscore context new` writes a pair).
        #[arg(long)]
        context: PathBuf,
        #[arg(long, default_value = "GET", value_parser = ["GET", "PUT", "POST", "DELETE"])]
        method: String,
        /// Request payload as hex (named like `seal --hex`; `--payload` is kept as an alias).
        #[arg(long = "hex", alias = "payload", default_value = "")]
        payload: String,
        /// Print {"status":..,"code":..,"payload":HEX} instead of the payload.
        #[arg(long)]
        json: bool,
        /// Seconds to wait for a response (the request is retransmitted meanwhile).
        #[arg(long, default_value_t = 10)]
        timeout: u64,
        /// coap://HOST:PORT/path
        uri: String,
    },
}

pub fn run(cmd: OscoreCmd) -> Result<Outcome, CliError> {
    match cmd {
        OscoreCmd::Server { context, bind } => server(&context, &bind),
        OscoreCmd::Group { cmd } => group::run(cmd),
        OscoreCmd::Context {
            cmd:
                ContextCmd::New {
                    out_dir,
                    id_context,
                    force,
                },
        } => context_new(&out_dir, id_context.as_deref(), force),
        OscoreCmd::Client {
            context,
            method,
            payload,
            json,
            timeout,
            uri,
        } => client(&context, &method, &payload, json, timeout, &uri),
    }
}

#[derive(Subcommand)]
pub enum ContextCmd {
    /// Write a matching pair of context files, `server.toml` and `client.toml`, with a fresh
    /// random master secret (16 bytes) and salt (8 bytes), sender ids "01" (server) and ""
    /// (client), and state directories beside them (created on first use). Files are 0600.
    New {
        /// Directory to write the two files into (created if missing).
        #[arg(long)]
        out_dir: PathBuf,
        /// An ID Context (hex) both contexts carry, optional.
        #[arg(long)]
        id_context: Option<String>,
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
    },
}

/// Writes a matching server and client context pair.
fn context_new(dir: &Path, id_context: Option<&str>, force: bool) -> Result<Outcome, CliError> {
    if let Some(c) = id_context {
        unhex("--id-context", c)?;
    }
    let (server, client) = (dir.join("server.toml"), dir.join("client.toml"));
    for p in [&server, &client] {
        if p.exists() && !force {
            return Err(CliError::usage(format!(
                "{} exists (use --force to overwrite)",
                p.display()
            )));
        }
    }
    fs::create_dir_all(dir)
        .map_err(|e| CliError::io(format!("cannot create {}", dir.display()), e))?;
    let secret = Zeroizing::new(hex::encode(random::<16>()?));
    let salt = hex::encode(random::<8>()?);
    let id_line = id_context
        .map(|c| format!("id_context = \"{c}\"\n"))
        .unwrap_or_default();
    for (path, sender, recipient, state) in [
        (&server, "01", "", "server-state"),
        (&client, "", "01", "client-state"),
    ] {
        let text = Zeroizing::new(format!(
            "# OSCORE security context ({}); as sensitive as the key. Written by `meshseal \
             oscore context new`.\nmaster_secret = \"{}\"\nmaster_salt = \"{salt}\"\n\
             sender_id = \"{sender}\"\nrecipient_id = \"{recipient}\"\n{id_line}state = \"{state}\"\n",
            path.file_stem().and_then(|s| s.to_str()).unwrap_or("context"),
            secret.as_str(),
        ));
        crate::keys::write_secret_file(path, &text)?;
    }
    eprintln!("wrote {} and {}", server.display(), client.display());
    Ok(Outcome::Done)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ContextFile {
    master_secret: String,
    #[serde(default, alias = "salt")]
    master_salt: String,
    sender_id: String,
    recipient_id: String,
    #[serde(default)]
    id_context: Option<String>,
    state: PathBuf,
}

impl Drop for ContextFile {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.master_secret.zeroize();
    }
}

fn unhex(field: &str, s: &str) -> Result<Vec<u8>, CliError> {
    hex::decode(s).map_err(|e| CliError::usage(format!("{field}: not hex ({e})")))
}

/// A loaded context: the endpoint and where its state lives.
struct Loaded {
    ep: Endpoint<FileStore>,
    state: PathBuf,
    _lock: File,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WindowFile {
    highest: Option<u64>,
    verified: bool,
    bitmap: u64,
}

const WINDOW_FILE: &str = "replay.json";

fn load(path: &Path, block: u64) -> Result<Loaded, CliError> {
    let text = Zeroizing::new(
        fs::read_to_string(path)
            .map_err(|e| CliError::io(format!("cannot read {}", path.display()), e))?,
    );
    let f: ContextFile =
        toml::from_str(&text).map_err(|e| CliError::usage(format!("{}: {e}", path.display())))?;
    let secret = Zeroizing::new(unhex("master_secret", &f.master_secret)?);
    let salt = unhex("master_salt", &f.master_salt)?;
    let sender = unhex("sender_id", &f.sender_id)?;
    let recipient = unhex("recipient_id", &f.recipient_id)?;
    let id_context = f
        .id_context
        .as_deref()
        .map(|c| unhex("id_context", c))
        .transpose()?;
    let params = Params {
        master_secret: &secret,
        master_salt: &salt,
        sender_id: &sender,
        recipient_id: &recipient,
        id_context: id_context.as_deref(),
    };
    let ctx = SecurityContext::derive(&params)
        .map_err(|e| CliError::usage(format!("{}: {e}", path.display())))?;
    let state = path
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .join(&f.state);
    let (is_new, lock) = open_state(&state)?;
    let window = if is_new {
        let w = ReplayWindow::provisioned();
        save_window(&state, &w)?;
        Some(w)
    } else {
        match fs::read(state.join(WINDOW_FILE)) {
            Ok(b) => {
                let w: WindowFile = serde_json::from_slice(&b).map_err(|e| {
                    CliError::usage(format!(
                        "corrupt {}: {e}",
                        state.join(WINDOW_FILE).display()
                    ))
                })?;
                Some(
                    ReplayWindow::from_parts(w.highest, w.verified, [w.bitmap])
                        .map_err(|e| CliError::usage(format!("replay window: {e}")))?,
                )
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(CliError::io("cannot read replay window".into(), e)),
        }
    };
    let store = FileStore::new(state.join("sender.counter"));
    let ep = if is_new {
        Endpoint::provision(ctx, store, block)
    } else {
        // An existing state directory without its counter lost it: starting again at 0
        // under the same Master Secret would repeat nonces.
        Endpoint::new(ctx, store, block, window)
    }
    .map_err(|e| {
        CliError::usage(format!(
            "counter of {}: {e} (a context whose counter was lost needs a new Master Secret \
             or ID Context; never delete sender.counter)",
            state.display()
        ))
    })?;
    Ok(Loaded {
        ep,
        state,
        _lock: lock,
    })
}

/// Opens (or creates) a state directory and locks it for this process; returns whether it is
/// new and the lock, held as long as the file is.
fn open_state(state: &Path) -> Result<(bool, File), CliError> {
    let is_new = !state.exists();
    fs::create_dir_all(state)
        .map_err(|e| CliError::io(format!("cannot create {}", state.display()), e))?;
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(state.join(".lock"))
        .map_err(|e| CliError::io("cannot open state lock".into(), e))?;
    lock.try_lock()
        .map_err(|e| CliError::usage(format!("state {} is in use: {e}", state.display())))?;
    Ok((is_new, lock))
}

fn save_window(state: &Path, w: &ReplayWindow<1>) -> Result<(), CliError> {
    let (highest, verified, [bitmap]) = w.to_parts();
    let text = serde_json::to_vec(&WindowFile {
        highest,
        verified,
        bitmap,
    })
    .map_err(|e| CliError::usage(format!("cannot encode window: {e}")))?;
    write_atomic(&state.join(WINDOW_FILE), &text)
        .map_err(|e| CliError::io("cannot write replay window".into(), e))
}

fn random<const N: usize>() -> Result<[u8; N], CliError> {
    let mut b = [0u8; N];
    getrandom::getrandom(&mut b).map_err(|e| CliError::usage(format!("no randomness: {e}")))?;
    Ok(b)
}

const MAX_DATAGRAM: usize = 2048;

// ---------------------------------------------------------------------------------------------
// Server

/// Answers already sent, so a retransmitted CON gets the same answer instead of a replay
/// refusal (CoAP deduplication, RFC 7252 §4.5).
struct Dedup(VecDeque<(SocketAddr, u16, Vec<u8>)>);

impl Dedup {
    fn get(&self, peer: SocketAddr, mid: u16) -> Option<&[u8]> {
        self.0
            .iter()
            .find(|(p, m, _)| *p == peer && *m == mid)
            .map(|(_, _, r)| r.as_slice())
    }
    fn put(&mut self, peer: SocketAddr, mid: u16, resp: &[u8]) {
        if self.0.len() == 64 {
            self.0.pop_front();
        }
        self.0.push_back((peer, mid, resp.to_vec()));
    }
}

struct Resources {
    lamp: Vec<u8>,
}

impl Resources {
    /// Handles a verified request: (code, content-format, payload).
    fn handle(&mut self, method: u8, path: &str, payload: &[u8]) -> (u8, Option<u8>, Vec<u8>) {
        match (path, method) {
            ("temp", code::GET) => (code::CONTENT, Some(0), b"21.5 C".to_vec()),
            ("lamp", code::GET) => (code::CONTENT, Some(42), self.lamp.clone()),
            ("lamp", code::PUT) => {
                self.lamp = payload.to_vec();
                (code::CHANGED, None, Vec::new())
            }
            ("echo", code::POST) => (code::CONTENT, Some(42), payload.to_vec()),
            ("temp" | "lamp" | "echo", _) => (code::METHOD_NOT_ALLOWED, None, Vec::new()),
            _ => (code::NOT_FOUND, None, Vec::new()),
        }
    }
}

/// A resource's answer to a verified request, and the path the request named.
struct Answered {
    path: String,
    code: u8,
    /// The Content-Format option's value, if any.
    content_format: Option<Vec<u8>>,
    body: Vec<u8>,
}

impl Answered {
    /// Seals this answer with `seal`, given its plain message.
    fn seal<R>(&self, seal: impl FnOnce(&Plain<'_>) -> R) -> R {
        let opts: Vec<CoapOption<'_>> = self
            .content_format
            .iter()
            .map(|v| CoapOption::new(number::CONTENT_FORMAT, v))
            .collect();
        seal(&Plain {
            code: self.code,
            options: &opts,
            payload: &self.body,
        })
    }
}

impl Resources {
    /// Acts on a verified request.
    fn answer(&mut self, request: &coap::Inner<'_>) -> Answered {
        let path = request
            .options()
            .filter(|o| o.number == number::URI_PATH)
            .map(|o| String::from_utf8_lossy(o.value).into_owned())
            .collect::<Vec<_>>()
            .join("/");
        let (code, cf, body) = self.handle(request.code, &path, request.payload);
        Answered {
            path,
            code,
            content_format: cf.map(|v| if v == 0 { Vec::new() } else { vec![v] }),
            body,
        }
    }
}

/// The CoAP message layer of the OSCORE servers: receives on `sock`, answers a ping with a
/// reset, sends a retransmitted CON the answer it already got, and hands every other request,
/// with the outer fields of its answer, to `handle`, which returns the answer to send (or
/// none).
fn serve_coap(
    sock: &UdpSocket,
    mut handle: impl FnMut(&mut [u8], Outer<'_>) -> Result<Option<Vec<u8>>, CliError>,
) -> Result<Outcome, CliError> {
    let mut dedup = Dedup(VecDeque::new());
    let mut buf = [0u8; MAX_DATAGRAM];
    loop {
        let (n, peer) = sock
            .recv_from(&mut buf)
            .map_err(|e| CliError::io("receive".into(), e))?;
        let mut msg = buf[..n].to_vec();
        let Ok(p) = Packet::new_checked(&msg[..]) else {
            log(json!({"event": "refused", "reason": OscoreError::Malformed.reason()}));
            continue;
        };
        let (ty, mid, c) = (p.msg_type(), p.message_id(), p.code());
        let token = p.token().to_vec();
        if !matches!(ty, MessageType::Confirmable | MessageType::NonConfirmable) {
            continue;
        }
        if c == code::EMPTY {
            // CoAP ping: answer with a reset.
            let rst = empty(MessageType::Reset, mid);
            let _ = sock.send_to(&rst, peer);
            continue;
        }
        if !code::is_request(c) {
            continue;
        }
        if ty == MessageType::Confirmable {
            if let Some(r) = dedup.get(peer, mid) {
                let _ = sock.send_to(r, peer);
                continue;
            }
        }
        let (resp_ty, resp_mid) = match ty {
            MessageType::Confirmable => (MessageType::Acknowledgement, mid),
            _ => (
                MessageType::NonConfirmable,
                u16::from_be_bytes(random::<2>()?),
            ),
        };
        let outer = Outer {
            msg_type: resp_ty,
            message_id: resp_mid,
            token: &token,
        };
        let Some(reply) = handle(&mut msg, outer)? else {
            continue;
        };
        if ty == MessageType::Confirmable {
            dedup.put(peer, mid, &reply);
        }
        let _ = sock.send_to(&reply, peer);
    }
}

fn method_name(c: u8) -> String {
    match c {
        code::GET => "GET".into(),
        code::POST => "POST".into(),
        code::PUT => "PUT".into(),
        code::DELETE => "DELETE".into(),
        other => code_name(other),
    }
}

fn code_name(c: u8) -> String {
    let (class, detail) = code::split(c);
    format!("{class}.{detail:02}")
}

fn server(context: &Path, bind: &str) -> Result<Outcome, CliError> {
    let mut l = load(context, 64)?;
    let sock = UdpSocket::bind(bind).map_err(|e| CliError::io(format!("cannot bind {bind}"), e))?;
    let addr = sock
        .local_addr()
        .map_err(|e| CliError::io("local address".into(), e))?;
    let window = if l.ep.window().is_some() {
        "known"
    } else {
        "lost (Echo recovery)"
    };
    eprintln!("oscore server on {addr}, replay window {window}");
    let mut res = Resources {
        lamp: b"off".to_vec(),
    };
    serve_coap(&sock, |msg, outer| {
        let mut out = [0u8; MAX_DATAGRAM];
        let sealed = match l.ep.unprotect_request(msg) {
            Ok(Verified::Fresh { request, id }) => {
                // Durable before acting: a crash cannot make this request acceptable again.
                if let Some(w) = l.ep.window() {
                    save_window(&l.state, w)?;
                }
                let a = res.answer(&request);
                log(json!({
                    "event": "request", "method": method_name(request.code), "path": format!("/{}", a.path),
                    "seq": u64::from_be_bytes(pad8(id.partial_iv())), "payload_len": request.payload.len(),
                    "code": code_name(a.code),
                }));
                a.seal(|plain| l.ep.protect_response(&id, outer, plain, false, &mut out))
            }
            Ok(Verified::EchoRequired { id }) => {
                log(
                    json!({"event": "echo_challenge", "seq": u64::from_be_bytes(pad8(id.partial_iv()))}),
                );
                let echo: [u8; ECHO_LEN] = random()?;
                l.ep.protect_echo_challenge(&id, outer, echo, &mut out)
            }
            Err(e) => {
                log(json!({"event": "refused", "reason": e.reason()}));
                return error_response(outer, e).map(Some);
            }
        };
        Ok(sealed_reply(sealed, &out))
    })
}

/// The first `n` bytes of `out` when sealing gave `Ok(n)`; otherwise the error is logged and
/// nothing is sent.
fn sealed_reply(sealed: Result<usize, OscoreError>, out: &[u8]) -> Option<Vec<u8>> {
    match sealed {
        Ok(n) => Some(out[..n].to_vec()),
        Err(e) => {
            log(json!({"event": "error", "reason": e.reason()}));
            None
        }
    }
}

fn pad8(b: &[u8]) -> [u8; 8] {
    let mut out = [0u8; 8];
    let n = b.len().min(8);
    out[8 - n..].copy_from_slice(&b[b.len() - n..]);
    out
}

fn log(v: serde_json::Value) {
    outln!("{v}");
}

fn empty(ty: MessageType, mid: u16) -> Vec<u8> {
    let repr = coap::Repr {
        msg_type: ty,
        code: code::EMPTY,
        message_id: mid,
        token: &[],
        options: &[],
        payload: &[],
    };
    let mut out = [0u8; 4];
    let n = repr.emit(&mut out).unwrap_or(0);
    out[..n].to_vec()
}

/// The unprotected error of RFC 8613 §8.2, with Max-Age 0 and a diagnostic payload.
fn error_response(outer: Outer<'_>, e: OscoreError) -> Result<Vec<u8>, CliError> {
    let diagnostic: &[u8] = match e {
        OscoreError::Replay | OscoreError::TooOld => b"Replay detected",
        OscoreError::DecryptFailed => b"Decryption failed",
        OscoreError::UnknownKid | OscoreError::UnknownKidContext => b"Security context not found",
        OscoreError::MalformedOption => b"Failed to decode COSE",
        OscoreError::NotProtected => b"OSCORE required",
        _ => b"",
    };
    let opts = [CoapOption::new(number::MAX_AGE, &[])];
    let repr = coap::Repr {
        msg_type: outer.msg_type,
        code: e.response_code(),
        message_id: outer.message_id,
        token: outer.token,
        options: &opts,
        payload: diagnostic,
    };
    let mut out = vec![
        0u8;
        repr.buffer_len()
            .map_err(|e| CliError::usage(e.to_string()))?
    ];
    repr.emit(&mut out)
        .map_err(|e| CliError::usage(e.to_string()))?;
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Client

struct Target {
    addr: SocketAddr,
    host: Option<String>,
    path: Vec<String>,
    query: Vec<String>,
}

fn parse_uri(uri: &str) -> Result<Target, CliError> {
    let bad = |why: &str| CliError::usage(format!("{uri}: {why}"));
    let rest = uri
        .strip_prefix("coap://")
        .ok_or_else(|| bad("only coap:// URIs"))?;
    let (authority, path_query) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, ""),
    };
    let (path, query) = match path_query.split_once('?') {
        Some((p, q)) => (p, q),
        None => (path_query, ""),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => {
            (h, p.parse::<u16>().map_err(|_| bad("bad port"))?)
        }
        _ => (authority, 5683),
    };
    let host_bare = host.trim_start_matches('[').trim_end_matches(']');
    let addr = (host_bare, port)
        .to_socket_addrs()
        .map_err(|e| bad(&format!("cannot resolve host: {e}")))?
        .next()
        .ok_or_else(|| bad("host has no address"))?;
    // Like other CoAP clients, no Uri-Host for an IP literal.
    let host = host_bare
        .parse::<std::net::IpAddr>()
        .is_err()
        .then(|| host_bare.to_owned());
    let split = |s: &str, sep: char| -> Vec<String> {
        s.split(sep)
            .filter(|x| !x.is_empty())
            .map(str::to_owned)
            .collect()
    };
    Ok(Target {
        addr,
        host,
        path: split(path, '/'),
        query: split(query, '&'),
    })
}

/// The request's Uri-Host, Uri-Path and Uri-Query options for `target`.
fn request_options(target: &Target) -> Vec<CoapOption<'_>> {
    let mut opts: Vec<CoapOption<'_>> = Vec::new();
    if let Some(h) = &target.host {
        opts.push(CoapOption::new(number::URI_HOST, h.as_bytes()));
    }
    for s in &target.path {
        opts.push(CoapOption::new(number::URI_PATH, s.as_bytes()));
    }
    for q in &target.query {
        opts.push(CoapOption::new(number::URI_QUERY, q.as_bytes()));
    }
    opts
}

fn method_code(m: &str) -> u8 {
    match m {
        "PUT" => code::PUT,
        "POST" => code::POST,
        "DELETE" => code::DELETE,
        _ => code::GET,
    }
}

/// What came back for one protected request.
enum Answer {
    /// A verified response: code, Echo option (if any), payload.
    Verified(u8, Option<Vec<u8>>, Vec<u8>),
    /// An unprotected error from the server (it refused the request).
    Refused(u8, Vec<u8>),
    /// A response that failed verification.
    Invalid(OscoreError),
}

fn client(
    context: &Path,
    method: &str,
    payload_hex: &str,
    json_out: bool,
    timeout: u64,
    uri: &str,
) -> Result<Outcome, CliError> {
    let payload = unhex("--payload", payload_hex)?;
    let target = parse_uri(uri)?;
    let mut l = load(context, 1)?;
    let sock = UdpSocket::bind(if target.addr.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    })
    .map_err(|e| CliError::io("cannot bind".into(), e))?;
    sock.connect(target.addr)
        .map_err(|e| CliError::io(format!("cannot reach {}", target.addr), e))?;
    let deadline = Instant::now() + Duration::from_secs(timeout);

    let mut echo: Option<Vec<u8>> = None;
    let mut echoed = false;
    let answer = loop {
        let mut opts = request_options(&target);
        if let Some(e) = &echo {
            opts.push(CoapOption::new(number::ECHO, e));
        }
        let token = random::<4>()?;
        let mid = u16::from_be_bytes(random::<2>()?);
        let mut out = [0u8; MAX_DATAGRAM];
        let (n, id) =
            l.ep.protect_request(
                Outer {
                    msg_type: MessageType::Confirmable,
                    message_id: mid,
                    token: &token,
                },
                &Plain {
                    code: method_code(method),
                    options: &opts,
                    payload: &payload,
                },
                &mut out,
            )
            .map_err(|e| CliError::usage(format!("cannot protect: {e}")))?;
        let mut resp = exchange(&sock, &out[..n], mid, &token, deadline)?;
        let p = Packet::new_checked(&resp[..])
            .map_err(|_| CliError::usage("malformed response".into()))?;
        let answer = if p.option(number::OSCORE).is_none() {
            Answer::Refused(p.code(), p.payload().to_vec())
        } else {
            match l.ep.unprotect_response(&id, &mut resp) {
                Ok(inner) => Answer::Verified(
                    inner.code,
                    inner.option(number::ECHO).map(<[u8]>::to_vec),
                    inner.payload.to_vec(),
                ),
                Err(e) => Answer::Invalid(e),
            }
        };
        match answer {
            // Appendix B.1.2: the server lost its replay window; repeat once with its Echo.
            Answer::Verified(code::UNAUTHORIZED, Some(e), _) if !echoed => {
                eprintln!("server asked for Echo; repeating the request");
                echo = Some(e);
                echoed = true;
            }
            other => break other,
        }
    };
    match answer {
        Answer::Verified(rc, _, body) => {
            let ok = code::split(rc).0 == 2;
            if json_out {
                outln!(
                    "{}",
                    json!({"status": if ok {"ok"} else {"error_response"}, "code": code_name(rc), "payload": hex::encode(&body)})
                );
            } else {
                outln!("{}", hex::encode(&body));
                eprintln!("{}", code_name(rc));
            }
            Ok(if ok {
                Outcome::Done
            } else {
                Outcome::Challenged
            })
        }
        Answer::Refused(rc, diag) => {
            let diag = String::from_utf8_lossy(&diag).into_owned();
            if json_out {
                outln!(
                    "{}",
                    json!({"status": "refused", "code": code_name(rc), "diagnostic": diag})
                );
            }
            eprintln!("refused by the server: {} {diag}", code_name(rc));
            // Exit 2, message already printed.
            Ok(Outcome::Challenged)
        }
        Answer::Invalid(e) => {
            if json_out {
                outln!(
                    "{}",
                    json!({"status": "invalid_response", "reason": e.reason()})
                );
            }
            eprintln!("response refused: {} ({e})", e.reason());
            Ok(Outcome::Challenged)
        }
    }
}

/// Sends a CON request and returns the matching response (piggybacked, or separate after an
/// empty ACK), retransmitting with exponential back-off (RFC 7252 §4.2).
fn exchange(
    sock: &UdpSocket,
    req: &[u8],
    mid: u16,
    token: &[u8],
    deadline: Instant,
) -> Result<Vec<u8>, CliError> {
    let mut wait = Duration::from_secs(2);
    let mut acked = false;
    let mut buf = [0u8; MAX_DATAGRAM];
    loop {
        if !acked {
            sock.send(req).map_err(|e| CliError::io("send".into(), e))?;
        }
        let resend_at = Instant::now() + wait;
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Err(CliError::usage("no response before the timeout".into()));
            }
            let until = if acked {
                deadline
            } else {
                resend_at.min(deadline)
            };
            if now >= until {
                break;
            }
            sock.set_read_timeout(Some(until - now))
                .map_err(|e| CliError::io("socket".into(), e))?;
            let n = match sock.recv(&mut buf) {
                Ok(n) => n,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    continue
                }
                Err(e) => return Err(CliError::io("receive".into(), e)),
            };
            let Ok(p) = Packet::new_checked(&buf[..n]) else {
                continue;
            };
            match p.msg_type() {
                MessageType::Reset if p.message_id() == mid => {
                    return Err(CliError::usage("the server reset the exchange".into()));
                }
                MessageType::Acknowledgement
                    if p.message_id() == mid && p.code() == code::EMPTY =>
                {
                    acked = true;
                }
                _ if p.token() == token && p.code() != code::EMPTY => {
                    if p.msg_type() == MessageType::Confirmable {
                        let _ = sock.send(&empty(MessageType::Acknowledgement, p.message_id()));
                    }
                    return Ok(buf[..n].to_vec());
                }
                _ => {}
            }
        }
        wait *= 2;
    }
}
