//! `meshseal oscore group`: a Group OSCORE (RFC 10021) member over UDP, interoperable with
//! aiocoap's `SimpleGroupContext`. `new` writes the context files of a whole group, `server`
//! answers requests in group mode or pairwise mode (in pairwise mode, as aiocoap's servers do,
//! or with `--group-responses` in group mode, signed), `client` sends one request, in group mode
//! or (`--to`) in pairwise mode to one member, and verifies the response in either mode.
//!
//! A member's context file (TOML, as sensitive as its keys; `group new` writes one per member):
//!
//! ```toml
//! gid = "a3b2c1d0e5f60718"                        # Group Identifier (the ID Context)
//! master_secret = "000102030405060708090a0b0c0d0e0f"
//! master_salt = "9e7ca92223786340"
//! sender_id = "01"
//! private_key = "..."                             # this member's Ed25519 private key (seed)
//! state = "member-01-state"                       # directory, relative to this file
//!
//! [[peers]]
//! sender_id = "02"
//! public_key = "..."                              # Ed25519 public key
//! ```
//!
//! The profile is fixed (the one meshseal implements): AES-CCM-16-64-128 for the group and
//! pairwise modes, HKDF SHA-256, EdDSA with Ed25519, ECDH-SS + HKDF-256 over the Ed25519 keys.
//! Each member's authentication credential is the CWT Claims Set of its public key
//! ([`meshseal::oscore::group::ccs_credential`]), built alike by every member.
//!
//! The state directory holds the member's sequence counter (`sender.counter`, reserved before a
//! number is used) and the server's replay windows (`replay.json`, one per peer, rewritten
//! atomically after every verified request and before it is acted on). A state directory that
//! exists without `sender.counter` is refused for sending (going on would reuse nonces). A
//! server without a peer's window (`replay.json` lost, or a peer added later) answers that
//! peer's authentic requests with a 4.01 and an Echo option, under its own sequence number,
//! until a request returns the Echo value (RFC 10021 §10, RFC 9175); the client repeats its
//! request with it once.
//!
//! Key generations (RFC 10021 §3.2, §12.2): `group rekey` gives every member file a new Gid,
//! master secret and salt (the members and their keys stay). The state directory records which
//! generation it holds (`generation.json`: the Gid and the Common IV, which depends on all
//! three). A member started with a new generation discards the old generation's counter and
//! windows and starts its numbers again at 0, as the RFC requires (new keys, new nonces); a
//! member started with a generation it already left is refused, since its numbers under those
//! keys may be in use.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Subcommand;
use meshseal::counter::Counter;
use meshseal::counter::{write_atomic, FileStore};
use meshseal::oscore::coap::{code, number, CoapOption, MessageType, Packet};
use meshseal::oscore::group::{
    ccs_credential, pairwise_keys, shared_secret, GroupParams, Side, CCS_CREDENTIAL_LEN,
};
use meshseal::oscore::group_endpoint::{
    ClientKeys, GroupClient, GroupServer, GroupVerified, Member,
};
use meshseal::oscore::{Error as OscoreError, Outer, Plain, ECHO_LEN};
use meshseal::replay::ReplayWindow;
use meshseal::source::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::json;
use zeroize::Zeroizing;

use super::{
    code_name, error_response, exchange, log, method_code, method_name, open_state, pad8,
    parse_uri, random, request_options, sealed_reply, serve_coap, unhex, Resources, WindowFile,
    MAX_DATAGRAM,
};
use crate::cli_util::{CliError, Outcome};

/// Most peers one member's context names.
pub const MAX_PEERS: usize = 64;

#[derive(Subcommand)]
pub enum GroupCmd {
    /// Write the context files of a new group: `member-XX.toml` for Sender IDs 01..N, with a
    /// fresh Gid (8 bytes), master secret (16) and salt (8), and an Ed25519 key per member.
    /// Files are 0600.
    New {
        /// Members in the group (2 to 64).
        #[arg(long)]
        members: usize,
        /// Directory to write the files into (created if missing).
        #[arg(long)]
        out_dir: PathBuf,
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
    },
    /// Move the group in DIR to a new key generation: every member file gets a new Gid,
    /// master secret and salt; members, Sender IDs and signing keys stay. Each member discards
    /// its old state when it next starts.
    Rekey {
        /// The directory `group new` wrote.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Answer requests to /temp (GET), /lamp (GET, PUT) and /echo (POST), in group mode or
    /// pairwise mode, in pairwise mode.
    Server {
        /// This member's context file.
        #[arg(long)]
        context: PathBuf,
        /// Address to listen on, e.g. 127.0.0.1:5683.
        #[arg(long)]
        bind: String,
        /// Answer group-mode requests in group mode (signed: every member can verify who
        /// answered) instead of pairwise mode.
        #[arg(long)]
        group_responses: bool,
    },
    /// Send one request (in group mode, or with --to in pairwise mode) and print the verified
    /// pairwise-mode response.
    Client {
        /// This member's context file.
        #[arg(long)]
        context: PathBuf,
        #[arg(long, default_value = "GET", value_parser = ["GET", "PUT", "POST", "DELETE"])]
        method: String,
        /// Request payload as hex.
        #[arg(long = "hex", default_value = "")]
        payload: String,
        /// Print {"status":..,"code":..,"responder":HEX,"payload":HEX} instead of the payload.
        #[arg(long)]
        json: bool,
        /// Seconds to wait for a response (the request is retransmitted meanwhile).
        #[arg(long, default_value_t = 10)]
        timeout: u64,
        /// Send in pairwise mode to the member with this Sender ID (hex): sealed under the
        /// pairwise key only the two share, no countersignature.
        #[arg(long, value_name = "SENDER_ID")]
        to: Option<String>,
        /// coap://HOST:PORT/path of a member of the group (unicast).
        uri: String,
    },
}

pub fn run(cmd: GroupCmd) -> Result<Outcome, CliError> {
    match cmd {
        GroupCmd::New {
            members,
            out_dir,
            force,
        } => new(members, &out_dir, force),
        GroupCmd::Rekey { dir } => rekey(&dir),
        GroupCmd::Server {
            context,
            bind,
            group_responses,
        } => server(&context, &bind, group_responses),
        GroupCmd::Client {
            context,
            method,
            payload,
            json,
            timeout,
            to,
            uri,
        } => client(
            &context,
            &method,
            &payload,
            json,
            timeout,
            to.as_deref(),
            &uri,
        ),
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PeerFile {
    sender_id: String,
    public_key: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ContextFile {
    gid: String,
    master_secret: String,
    #[serde(default)]
    master_salt: String,
    sender_id: String,
    private_key: String,
    state: PathBuf,
    peers: Vec<PeerFile>,
}

impl Drop for ContextFile {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.master_secret.zeroize();
        self.private_key.zeroize();
    }
}

fn new(members: usize, dir: &Path, force: bool) -> Result<Outcome, CliError> {
    if !(2..=MAX_PEERS).contains(&members) {
        return Err(CliError::usage(format!(
            "--members must be 2 to {MAX_PEERS}"
        )));
    }
    let ids: Vec<String> = (1..=members).map(|i| format!("{i:02x}")).collect();
    let paths: Vec<PathBuf> = ids
        .iter()
        .map(|id| dir.join(format!("member-{id}.toml")))
        .collect();
    if let Some(p) = paths.iter().find(|p| p.exists() && !force) {
        return Err(CliError::usage(format!(
            "{} exists (use --force to overwrite)",
            p.display()
        )));
    }
    fs::create_dir_all(dir)
        .map_err(|e| CliError::io(format!("cannot create {}", dir.display()), e))?;
    let gid = hex::encode(random::<8>()?);
    let secret = Zeroizing::new(hex::encode(random::<16>()?));
    let salt = hex::encode(random::<8>()?);
    let seeds: Vec<Zeroizing<[u8; 32]>> = (0..members)
        .map(|_| random::<32>().map(Zeroizing::new))
        .collect::<Result<_, _>>()?;
    let publics: Vec<String> = seeds
        .iter()
        .map(|s| hex::encode(SigningKey::from_bytes(s).verifying_key().as_bytes()))
        .collect();
    for (i, path) in paths.iter().enumerate() {
        let f = ContextFile {
            gid: gid.clone(),
            master_secret: secret.to_string(),
            master_salt: salt.clone(),
            sender_id: ids[i].clone(),
            private_key: hex::encode(&seeds[i][..]),
            state: PathBuf::from(format!("member-{}-state", ids[i])),
            peers: (0..members)
                .filter(|&j| j != i)
                .map(|j| PeerFile {
                    sender_id: ids[j].clone(),
                    public_key: publics[j].clone(),
                })
                .collect(),
        };
        let body = Zeroizing::new(
            toml::to_string(&f).map_err(|e| CliError::usage(format!("cannot encode: {e}")))?,
        );
        let text = Zeroizing::new(format!(
            "# Group OSCORE context of member {} (RFC 10021); as sensitive as its keys. Written by \
             `meshseal oscore group new`.\n# AES-CCM-16-64-128, HKDF SHA-256, EdDSA Ed25519, \
             ECDH-SS + HKDF-256.\n{}",
            ids[i],
            body.as_str()
        ));
        crate::keys::write_secret_file(path, &text)?;
    }
    eprintln!(
        "wrote {} context files of group {gid} in {}",
        members,
        dir.display()
    );
    Ok(Outcome::Done)
}

/// `group rekey`: a new Gid, master secret and salt in every member file of `dir`.
fn rekey(dir: &Path) -> Result<Outcome, CliError> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| CliError::io(format!("cannot read {}", dir.display()), e))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("member-") && n.ends_with(".toml"))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(CliError::usage(format!(
            "no member-*.toml in {}",
            dir.display()
        )));
    }
    let gid = hex::encode(random::<8>()?);
    let secret = Zeroizing::new(hex::encode(random::<16>()?));
    let salt = hex::encode(random::<8>()?);
    // Every file read and checked before any is written: a group is never left half moved.
    let mut parsed = Vec::with_capacity(files.len());
    for path in &files {
        let text = Zeroizing::new(
            fs::read_to_string(path)
                .map_err(|e| CliError::io(format!("cannot read {}", path.display()), e))?,
        );
        let mut f: ContextFile = toml::from_str(&text)
            .map_err(|e| CliError::usage(format!("{}: {e}", path.display())))?;
        f.gid = gid.clone();
        f.master_secret = secret.to_string();
        f.master_salt = salt.clone();
        parsed.push((path, f));
    }
    for (path, f) in &parsed {
        let body = Zeroizing::new(
            toml::to_string(f).map_err(|e| CliError::usage(format!("cannot encode: {e}")))?,
        );
        let text = Zeroizing::new(format!(
            "# Group OSCORE context of member {} (RFC 10021); as sensitive as its keys. Written by \
             `meshseal oscore group rekey`.\n# AES-CCM-16-64-128, HKDF SHA-256, EdDSA Ed25519, \
             ECDH-SS + HKDF-256.\n{}",
            f.sender_id,
            body.as_str()
        ));
        crate::keys::write_secret_file(path, &text)?;
    }
    eprintln!(
        "moved {} member files in {} to group {gid}",
        parsed.len(),
        dir.display()
    );
    Ok(Outcome::Done)
}

/// The key generation a state directory holds, and the ones it left.
#[derive(Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct GenerationFile {
    current: String,
    #[serde(default)]
    retired: Vec<String>,
}

const GENERATION_FILE: &str = "generation.json";

/// Puts `state` in the generation `id`: a new directory records it; one of an older generation
/// has its counter and windows discarded (returns true: start as new); one that already left
/// `id` is refused.
fn enter_generation(state: &Path, id: &str) -> Result<bool, CliError> {
    let path = state.join(GENERATION_FILE);
    let mut g: GenerationFile = match fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b)
            .map_err(|e| CliError::usage(format!("corrupt {}: {e}", path.display())))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => GenerationFile {
            current: id.to_owned(),
            retired: Vec::new(),
        },
        Err(e) => return Err(CliError::io("cannot read the key generation".into(), e)),
    };
    if g.retired.iter().any(|r| r == id) {
        return Err(CliError::usage(format!(
            "{} left this key generation (Gid and keys of an older `group rekey`): its numbers \
             under those keys may be in use; use the member's current context file",
            state.display()
        )));
    }
    let moved = g.current != id;
    if moved {
        // RFC 10021 §3.2: the old generation's sequence numbers and replay windows go with
        // its keys.
        for f in ["sender.counter", WINDOWS_FILE] {
            match fs::remove_file(state.join(f)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(CliError::io(format!("cannot discard {f}"), e))
                }
                _ => {}
            }
        }
        let old = std::mem::replace(&mut g.current, id.to_owned());
        g.retired.push(old);
    }
    let text = serde_json::to_vec(&g)
        .map_err(|e| CliError::usage(format!("cannot encode the key generation: {e}")))?;
    write_atomic(&path, &text)
        .map_err(|e| CliError::io("cannot write the key generation".into(), e))?;
    Ok(moved)
}

/// One peer as this member knows it.
struct Peer {
    kid: Vec<u8>,
    verifying: VerifyingKey,
    credential: Vec<u8>,
}

/// A loaded member: its group, its own keys, its peers and where its state lives.
struct Loaded {
    gid: Vec<u8>,
    secret: Zeroizing<Vec<u8>>,
    salt: Vec<u8>,
    kid: Vec<u8>,
    signing: SigningKey,
    credential: Vec<u8>,
    peers: Vec<Peer>,
    state: PathBuf,
    is_new: bool,
    _lock: File,
}

fn credential_of(vk: &VerifyingKey) -> Result<Vec<u8>, CliError> {
    let mut out = [0u8; CCS_CREDENTIAL_LEN];
    let n = ccs_credential(vk, &mut out).map_err(|e| CliError::usage(e.to_string()))?;
    Ok(out[..n].to_vec())
}

fn key32(field: &str, s: &str) -> Result<Zeroizing<[u8; 32]>, CliError> {
    let v = Zeroizing::new(unhex(field, s)?);
    let mut out = Zeroizing::new([0u8; 32]);
    if v.len() != 32 {
        return Err(CliError::usage(format!("{field} must be 32 bytes")));
    }
    out.copy_from_slice(&v);
    Ok(out)
}

fn load(path: &Path) -> Result<Loaded, CliError> {
    let text = Zeroizing::new(
        fs::read_to_string(path)
            .map_err(|e| CliError::io(format!("cannot read {}", path.display()), e))?,
    );
    let bad = |e: String| CliError::usage(format!("{}: {e}", path.display()));
    let f: ContextFile = toml::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let signing = SigningKey::from_bytes(&*key32("private_key", &f.private_key)?);
    let credential = credential_of(&signing.verifying_key())?;
    if f.peers.len() > MAX_PEERS {
        return Err(bad(format!("more than {MAX_PEERS} peers")));
    }
    let mut peers: Vec<Peer> = Vec::with_capacity(f.peers.len());
    let kid = unhex("sender_id", &f.sender_id)?;
    for p in &f.peers {
        let pk = key32("public_key", &p.public_key)?;
        let verifying = VerifyingKey::from_bytes(&pk)
            .map_err(|_| bad(format!("peer {}: not an Ed25519 public key", p.sender_id)))?;
        let pkid = unhex("peers.sender_id", &p.sender_id)?;
        if pkid == kid || peers.iter().any(|q| q.kid == pkid) {
            return Err(bad(format!("Sender ID {} given twice", p.sender_id)));
        }
        peers.push(Peer {
            credential: credential_of(&verifying)?,
            kid: pkid,
            verifying,
        });
    }
    let state = path
        .parent()
        .unwrap_or_else(|| Path::new("."))
        .join(&f.state);
    let (mut is_new, lock) = open_state(&state)?;
    let gid = unhex("gid", &f.gid)?;
    let secret = Zeroizing::new(unhex("master_secret", &f.master_secret)?);
    let salt = unhex("master_salt", &f.master_salt)?;
    let common = GroupParams {
        master_secret: &secret,
        master_salt: &salt,
        gid: &gid,
    }
    .common()
    .map_err(|e| bad(e.to_string()))?;
    let generation = format!("{}-{}", hex::encode(&gid), hex::encode(common.common_iv));
    if enter_generation(&state, &generation)? {
        eprintln!(
            "{}: new key generation (group {}); the old generation's state is discarded",
            state.display(),
            hex::encode(&gid)
        );
        is_new = true;
    }
    let l = Loaded {
        gid,
        secret,
        salt,
        kid,
        signing,
        credential,
        peers,
        state,
        is_new,
        _lock: lock,
    };
    Ok(l)
}

impl Loaded {
    fn params(&self) -> GroupParams<'_> {
        GroupParams {
            master_secret: &self.secret,
            master_salt: &self.salt,
            gid: &self.gid,
        }
    }

    /// The pairwise keys this member holds with `peer`.
    fn pairwise(&self, peer: &Peer) -> Result<meshseal::oscore::group::PairwiseKeys, CliError> {
        let g = self.params();
        let err = |e: OscoreError| CliError::usage(format!("pairwise keys: {e}"));
        let own_key = g.member_key(&self.kid).map_err(err)?;
        let peer_key = g.member_key(&peer.kid).map_err(err)?;
        let shared = shared_secret(&self.signing, &peer.verifying);
        pairwise_keys(
            &self.gid,
            &Side {
                id: &self.kid,
                group_key: &own_key,
                credential: &self.credential,
            },
            &Side {
                id: &peer.kid,
                group_key: &peer_key,
                credential: &peer.credential,
            },
            &shared,
        )
        .map_err(err)
    }
}

// ---------------------------------------------------------------------------------------------
// Server

const WINDOWS_FILE: &str = "replay.json";

fn save_windows(state: &Path, server: &GroupServer<MAX_PEERS>) -> Result<(), CliError> {
    let map: BTreeMap<String, WindowFile> = server
        .windows()
        .map(|(kid, w)| {
            let (highest, verified, [bitmap]) = w.to_parts();
            (
                hex::encode(kid),
                WindowFile {
                    highest,
                    verified,
                    bitmap,
                },
            )
        })
        .collect();
    let text = serde_json::to_vec(&map)
        .map_err(|e| CliError::usage(format!("cannot encode windows: {e}")))?;
    write_atomic(&state.join(WINDOWS_FILE), &text)
        .map_err(|e| CliError::io("cannot write replay windows".into(), e))
}

/// The saved windows, or `None` when they were lost (an existing state without the file).
fn load_windows(l: &Loaded) -> Result<Option<BTreeMap<String, WindowFile>>, CliError> {
    let path = l.state.join(WINDOWS_FILE);
    match fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| CliError::usage(format!("corrupt {}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && l.is_new => Ok(Some(BTreeMap::new())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CliError::io("cannot read replay windows".into(), e)),
    }
}

/// The server and how many peers' windows it lost.
fn group_server(l: &Loaded) -> Result<(GroupServer<MAX_PEERS>, usize), CliError> {
    let g = l.params();
    let err = |e: OscoreError| CliError::usage(format!("group context: {e}"));
    let windows = load_windows(l)?;
    let mut lost = 0;
    let mut server = GroupServer::new(&l.gid, g.common().map_err(err)?)
        .map_err(err)?
        .answering_as(&l.kid, &l.credential)
        .map_err(err)?;
    for p in &l.peers {
        let key = g.member_key(&p.kid).map_err(err)?;
        let pairwise = l.pairwise(p)?;
        let mut m = Member::new(&p.kid, &key, &p.credential, p.verifying)
            .map_err(err)?
            .pairwise(&pairwise);
        match windows.as_ref().and_then(|w| w.get(&hex::encode(&p.kid))) {
            Some(w) => {
                let w = ReplayWindow::from_parts(w.highest, w.verified, [w.bitmap])
                    .map_err(|e| CliError::usage(format!("replay window: {e}")))?;
                m = m.with_window(w);
            }
            // Only a new state knows that a peer has sent nothing yet; otherwise its window
            // is unknown (the file was lost, or the peer was added later): Echo recovery.
            None if l.is_new => {}
            None => {
                m = m.with_lost_window();
                lost += 1;
            }
        }
        server.add(m).map_err(err)?;
    }
    if l.is_new {
        save_windows(&l.state, &server)?;
    }
    Ok((server, lost))
}

fn server(context: &Path, bind: &str, group_responses: bool) -> Result<Outcome, CliError> {
    let l = load(context)?;
    let (mut server, lost) = group_server(&l)?;
    if group_responses {
        let key = l
            .params()
            .member_key(&l.kid)
            .map_err(|e| CliError::usage(format!("group context: {e}")))?;
        server = server.signing_responses(&key, l.signing.clone());
    }
    // The member's own numbers, for Echo challenges (which never reuse a request's nonce).
    let store = FileStore::new(l.state.join("sender.counter"));
    let mut counter = if l.is_new {
        Counter::provision(store, 16)
    } else {
        Counter::boot(store, 16)
    }
    .map_err(|e| {
        CliError::usage(format!(
            "counter of {}: {e} (a member whose counter was lost needs a new group context; \
             never delete sender.counter)",
            l.state.display()
        ))
    })?;
    let sock = std::net::UdpSocket::bind(bind)
        .map_err(|e| CliError::io(format!("cannot bind {bind}"), e))?;
    let addr = sock
        .local_addr()
        .map_err(|e| CliError::io("local address".into(), e))?;
    eprintln!(
        "group oscore server on {addr}, member {} of group {}, {}",
        hex::encode(&l.kid),
        hex::encode(&l.gid),
        if lost == 0 {
            "replay windows known".to_owned()
        } else {
            format!("{lost} replay window(s) lost (Echo recovery)")
        }
    );
    let mut res = Resources {
        lamp: b"off".to_vec(),
    };
    let mut scratch = vec![0u8; MAX_DATAGRAM + 512];
    serve_coap(&sock, |msg, outer| {
        let mut out = [0u8; MAX_DATAGRAM];
        let sealed = match server.unprotect_request(msg, &mut scratch) {
            Ok(GroupVerified::EchoRequired { sender, id }) => {
                log(json!({
                    "event": "echo_challenge", "sender": hex::encode(&sender[..]),
                    "seq": u64::from_be_bytes(pad8(id.partial_iv())),
                }));
                let echo: [u8; ECHO_LEN] = random()?;
                server.protect_echo_challenge(&id, outer, echo, &mut counter, &mut out)
            }
            Ok(GroupVerified::Fresh(r)) => {
                // Durable before acting: a crash cannot make this request acceptable again.
                save_windows(&l.state, &server)?;
                let a = res.answer(&r.inner);
                log(json!({
                    "event": "request", "mode": if r.pairwise { "pairwise" } else { "group" },
                    "sender": hex::encode(&r.sender[..]),
                    "method": method_name(r.inner.code), "path": format!("/{}", a.path),
                    "seq": u64::from_be_bytes(pad8(r.id.partial_iv())), "payload_len": r.inner.payload.len(),
                    "code": code_name(a.code),
                }));
                a.seal(|plain| {
                    if group_responses && !r.pairwise {
                        server.protect_group_response(r.id, outer, plain, &mut out, &mut scratch)
                    } else {
                        server.protect_response(r.id, outer, plain, &mut out)
                    }
                })
            }
            Err(e) => {
                log(json!({"event": "refused", "reason": e.reason()}));
                return error_response(outer, e).map(Some);
            }
        };
        Ok(sealed_reply(sealed, &out))
    })
}

// ---------------------------------------------------------------------------------------------
// Client

fn group_client(l: &Loaded) -> Result<GroupClient<FileStore>, CliError> {
    let g = l.params();
    let err = |e: OscoreError| CliError::usage(format!("group context: {e}"));
    let group_key = g.member_key(&l.kid).map_err(err)?;
    let keys = ClientKeys {
        gid: &l.gid,
        common: g.common().map_err(err)?,
        kid: &l.kid,
        group_key: &group_key,
        credential: &l.credential,
        signing: l.signing.clone(),
    };
    let store = FileStore::new(l.state.join("sender.counter"));
    let mut c = if l.is_new {
        GroupClient::provision(keys, store, 1)
    } else {
        // An existing state directory without its counter lost it: starting again at 0
        // under the same keys would repeat nonces.
        GroupClient::new(keys, store, 1)
    }
    .map_err(|e| {
        CliError::usage(format!(
            "counter of {}: {e} (a member whose counter was lost needs a new group context; \
             never delete sender.counter)",
            l.state.display()
        ))
    })?;
    for p in &l.peers {
        let pw = l.pairwise(p)?;
        c.add_peer(&p.kid, &pw, &p.credential).map_err(err)?;
        let key = g.member_key(&p.kid).map_err(err)?;
        c.accept_group_responses(&p.kid, &key, p.verifying)
            .map_err(err)?;
    }
    Ok(c)
}

fn client(
    context: &Path,
    method: &str,
    payload_hex: &str,
    json_out: bool,
    timeout: u64,
    to: Option<&str>,
    uri: &str,
) -> Result<Outcome, CliError> {
    let payload = unhex("--hex", payload_hex)?;
    let to = to.map(|t| unhex("--to", t)).transpose()?;
    let target = parse_uri(uri)?;
    let l = load(context)?;
    if l.peers.len() > 8 {
        // GroupClient verifies responses from up to 8 responders.
        return Err(CliError::usage(
            "the client verifies responses from at most 8 peers".into(),
        ));
    }
    let mut c = group_client(&l)?;
    let sock = std::net::UdpSocket::bind(if target.addr.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    })
    .map_err(|e| CliError::io("cannot bind".into(), e))?;
    sock.connect(target.addr)
        .map_err(|e| CliError::io(format!("cannot reach {}", target.addr), e))?;
    let deadline = Instant::now() + Duration::from_secs(timeout);
    if let Some(kid) = &to {
        if !l.peers.iter().any(|p| p.kid == *kid) {
            return Err(CliError::usage(format!(
                "--to {}: no member with that Sender ID in {}",
                hex::encode(kid),
                context.display()
            )));
        }
    }
    let mut echo: Option<Vec<u8>> = None;
    let mut out = [0u8; MAX_DATAGRAM];
    let mut scratch = vec![0u8; MAX_DATAGRAM + 512];
    // At most twice: once more when the server answers with an Echo challenge (it lost this
    // member's replay window), carrying the Echo value.
    let answer = loop {
        let mut opts = request_options(&target);
        if let Some(e) = &echo {
            opts.push(CoapOption::new(number::ECHO, e));
        }
        let token = random::<4>()?;
        let mid = u16::from_be_bytes(random::<2>()?);
        let outer = Outer {
            msg_type: MessageType::Confirmable,
            message_id: mid,
            token: &token,
        };
        let plain = Plain {
            code: method_code(method),
            options: &opts,
            payload: &payload,
        };
        let (n, id) = match &to {
            Some(kid) => c.protect_request_to(kid, outer, &plain, &mut out),
            None => c.protect_request(outer, &plain, &mut out, &mut scratch),
        }
        .map_err(|e| CliError::usage(format!("cannot protect: {e}")))?;
        let mut resp = exchange(&sock, &out[..n], mid, &token, deadline)?;
        let p = Packet::new_checked(&resp[..])
            .map_err(|_| CliError::usage("malformed response".into()))?;
        if p.option(number::OSCORE).is_none() {
            let (rc, diag) = (p.code(), String::from_utf8_lossy(p.payload()).into_owned());
            if json_out {
                outln!(
                    "{}",
                    json!({"status": "refused", "code": code_name(rc), "diagnostic": diag})
                );
            }
            eprintln!("refused by the server: {} {diag}", code_name(rc));
            return Ok(Outcome::Challenged);
        }
        let answer = c
            .verify_response(&id, &mut resp, &mut scratch)
            .map(|(r, inner)| {
                (
                    r.to_vec(),
                    inner.code,
                    inner.option(number::ECHO).map(<[u8]>::to_vec),
                    inner.payload.to_vec(),
                )
            });
        match answer {
            Ok((_, code::UNAUTHORIZED, Some(e), _)) if echo.is_none() => {
                eprintln!("the server asked for Echo; repeating the request");
                echo = Some(e);
            }
            other => break other,
        }
    };
    match answer {
        Ok((responder, rc, _, body)) => {
            let ok = code::split(rc).0 == 2;
            if json_out {
                outln!(
                    "{}",
                    json!({"status": if ok {"ok"} else {"error_response"}, "code": code_name(rc),
                           "responder": hex::encode(&responder), "payload": hex::encode(&body)})
                );
            } else {
                outln!("{}", hex::encode(&body));
                eprintln!("{} from {}", code_name(rc), hex::encode(&responder));
            }
            Ok(if ok {
                Outcome::Done
            } else {
                Outcome::Challenged
            })
        }
        Err(e) => {
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
