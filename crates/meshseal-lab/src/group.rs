//! meshseal in its default group mode, as a [`Scheme`] the attacks run against.
//!
//! Every member holds the group keys (HKDF from one master secret), seals with its own
//! [`Sender`] (counter in a [`Flash`] that survives reboots, as flash does) and opens
//! with its own [`Recipient`] (provisioned, verified replay state for every other member, a
//! shared membership list, the default `Window` order policy). Readings are opened as
//! [`TrafficClass::Telemetry`]; commands as [`TrafficClass::Challenged`]: a command frame is
//! answered with a freshness challenge and acted on only when its sender echoes it. Devices
//! answer challenges to their own requests automatically while a request is outstanding
//! ([`REQUEST_LIFETIME`]), and receivers forget unanswered challenges after
//! [`CHALLENGE_LIFETIME`]. Multi-fragment messages go through [`Reassembler`].
//!
//! This mode has no source authentication (T12) and no rekey (T11): the lab reports both as
//! broken here. A source-authenticated or rekeyed mode is another `Scheme` beside this one.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use meshseal::context::Membership;
use meshseal::counter::{CounterStore, MemoryStore};
use meshseal::fragment::Reassembler;
use meshseal::frame::{varint_len, Binding, Frame, Repr, SeqForm, SEQ_MAX};
use meshseal::replay::PeerTable;
use meshseal::{
    Error, FrameId, Freshness, GroupKeys, Recipient, RecipientConfig, Sender, SenderConfig,
    SenderIdMode, TrafficClass, TAG_LEN,
};
use rand_chacha::rand_core::RngCore;
use rand_chacha::ChaCha20Rng;

use crate::scheme::{
    Class, Delivery, DeviceId, Dissected, OrderSignal, Scheme, Threat, Verdict, MEMBERS, ROGUE_BASE,
};

/// Seconds a receiver keeps a challenge open for its echo.
pub const CHALLENGE_LIFETIME: u64 = 30;
/// Seconds a device keeps a command outstanding (answers challenges to it).
pub const REQUEST_LIFETIME: u64 = 30;
/// Seconds an incomplete multi-fragment message is kept.
pub const REASSEMBLY_TIMEOUT: u64 = 60;
/// First number a rogue device uses: far ahead of any real member.
const ROGUE_START: u64 = 1 << 32;

/// The membership list every receiver of the group shares.
#[derive(Debug, Clone, Default)]
pub struct Roster(Rc<RefCell<BTreeSet<u32>>>);

impl Membership for Roster {
    fn contains(&self, sender: u32) -> bool {
        self.0.borrow().contains(&sender)
    }
}

/// A member's counter flash: shared between the running sender and the device, so it
/// survives when the sender is rebuilt at a reboot.
#[derive(Debug, Clone, Default)]
pub struct Flash(Rc<RefCell<MemoryStore>>);

impl CounterStore for Flash {
    type Error = core::convert::Infallible;
    fn load(&mut self) -> Result<Option<u64>, Self::Error> {
        self.0.borrow_mut().load()
    }
    fn reserve(&mut self, limit: u64) -> Result<(), Self::Error> {
        self.0.borrow_mut().reserve(limit)
    }
}

type Rx = Recipient<PeerTable<16>, Roster>;

struct Request {
    id: FrameId,
    payload: Vec<u8>,
    at: u64,
}

struct Member {
    /// The sender id this device seals under (a rogue device's is the id it claims).
    id: u32,
    flash: Flash,
    tx: Sender<Flash>,
    rx: Rx,
    reassembly: Reassembler<4, 256>,
    requests: Vec<Request>,
}

/// meshseal, default group mode: one group key, per-sender nonces and replay windows,
/// challenged commands.
pub struct MeshsealGroup {
    secret: [u8; 32],
    group_id: u32,
    roster: Roster,
    members: BTreeMap<DeviceId, Member>,
    now: u64,
    next_rogue: DeviceId,
}

impl MeshsealGroup {
    /// Provisions the lab's members with a fresh master secret.
    pub fn new(mut rng: ChaCha20Rng) -> Result<Self, Error> {
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        let group_id = rng.next_u32();
        let roster = Roster::default();
        roster.0.borrow_mut().extend(MEMBERS);
        let mut g = MeshsealGroup {
            secret,
            group_id,
            roster,
            members: BTreeMap::new(),
            now: 0,
            next_rogue: ROGUE_BASE,
        };
        for id in MEMBERS {
            let m = g.member(id, MemoryStore::default())?;
            g.members.insert(id, m);
        }
        Ok(g)
    }

    fn keys(&self) -> Result<GroupKeys, Error> {
        GroupKeys::derive(&self.secret, b"", self.group_id, 0)
    }

    fn recipient(&self, id: u32, provisioned: bool) -> Result<Rx, Error> {
        let cfg = RecipientConfig {
            own_id: Some(id),
            ..RecipientConfig::default()
        };
        let mut rx = Recipient::new(self.keys()?, cfg, self.roster.clone(), PeerTable::new());
        if provisioned {
            for other in MEMBERS.into_iter().filter(|&o| o != id) {
                rx.provision(other);
            }
        }
        Ok(rx)
    }

    fn member(&self, id: u32, store: MemoryStore) -> Result<Member, Error> {
        let flash = Flash(Rc::new(RefCell::new(store)));
        Ok(Member {
            id,
            tx: Sender::new(self.keys()?, SenderConfig::new(id), flash.clone())?,
            flash,
            rx: self.recipient(id, true)?,
            reassembly: Reassembler::new(REASSEMBLY_TIMEOUT),
            requests: Vec::new(),
        })
    }

    /// Boots `device`'s sender again from its flash, as after power loss.
    fn boot(&mut self, device: DeviceId) -> Result<(), Error> {
        let keys = self.keys()?;
        if let Some(m) = self.members.get_mut(&device) {
            m.tx = Sender::new(keys, *m.tx.config(), m.flash.clone())?;
        }
        Ok(())
    }
}

fn seal_err(e: Error) -> String {
    e.reason().to_string()
}

impl Scheme for MeshsealGroup {
    fn id(&self) -> &'static str {
        "meshseal"
    }

    fn name(&self) -> &'static str {
        "meshseal (group mode)"
    }

    fn expected(&self, threat: Threat) -> (Verdict, &'static str) {
        match threat {
            Threat::T11 => (
                Verdict::Broken,
                "group mode has no rekey: a departed member still holds the group key",
            ),
            Threat::T12 => (
                Verdict::Broken,
                "group mode has no source authentication: any key holder seals as any member",
            ),
            Threat::T1 => (
                Verdict::Held,
                "AES-CCM tag verified before anything is used",
            ),
            Threat::T2 => (Verdict::Held, "unique nonce per frame"),
            Threat::T3 => (Verdict::Held, "sender id in the nonce"),
            Threat::T4 => (Verdict::Held, "counter reservations persisted before use"),
            Threat::T5 => (Verdict::Held, "per-sender replay window"),
            Threat::T6 => (Verdict::Held, "gaps and late frames reported"),
            Threat::T7 => (Verdict::Held, "commands challenged; challenges expire"),
            Threat::T8 => (Verdict::Held, "no state means not fresh: challenge first"),
            Threat::T9 => (Verdict::Held, "fragments bound to their message in the AAD"),
            Threat::T10 => (
                Verdict::Held,
                "sender refuses at the end of the 40-bit space",
            ),
            Threat::T13 => (Verdict::Held, "header holds only what the receiver needs"),
        }
    }

    fn seal(&mut self, from: DeviceId, payload: &[u8], class: Class) -> Result<Vec<u8>, String> {
        let now = self.now;
        let m = self
            .members
            .get_mut(&from)
            .ok_or_else(|| format!("no device {from}"))?;
        let id = FrameId {
            sender: m.id,
            seq: m.tx.next_seq(),
        };
        let frame = m.tx.seal_to_vec(payload).map_err(seal_err)?;
        if class == Class::Command {
            m.requests.push(Request {
                id,
                payload: payload.to_vec(),
                at: now,
            });
        }
        Ok(frame)
    }

    fn seal_message(
        &mut self,
        from: DeviceId,
        message: &[u8],
        mtu: usize,
    ) -> Result<Vec<Vec<u8>>, String> {
        let m = self
            .members
            .get_mut(&from)
            .ok_or_else(|| format!("no device {from}"))?;
        let mut scratch = vec![0u8; mtu];
        let mut frames = Vec::new();
        m.tx.seal_message(message, mtu, &mut scratch, |f| frames.push(f.to_vec()))
            .map_err(seal_err)?;
        Ok(frames)
    }

    fn deliver(&mut self, to: DeviceId, frame: &[u8], class: Class) -> Delivery {
        let now = self.now;
        let Some(m) = self.members.get_mut(&to) else {
            return Delivery::Refused("no_such_device".into());
        };
        m.rx.expire_challenges(now, CHALLENGE_LIFETIME);
        m.requests
            .retain(|r| now.saturating_sub(r.at) <= REQUEST_LIFETIME);
        let binding = Frame::new_checked(frame, SenderIdMode::Explicit).map(|f| f.binding());
        if binding == Ok(Binding::Challenge) {
            return answer_challenge(m, frame);
        }
        let tc = match class {
            Class::Reading => TrafficClass::Telemetry,
            Class::Command => TrafficClass::Challenged,
        };
        let mut buf = frame.to_vec();
        match m.rx.open_class(&mut buf, tc) {
            Ok(o) => {
                let signal = OrderSignal {
                    gap: Some(o.gap),
                    late: Some(o.late),
                    fresh: Some(o.freshness == Freshness::Fresh),
                };
                if o.fragment.is_none() {
                    return Delivery::Accepted {
                        from: o.sender,
                        payload: o.payload.to_vec(),
                        signal,
                    };
                }
                match m.reassembly.push(&o, now) {
                    Ok(Some(msg)) => Delivery::Accepted {
                        from: msg.sender,
                        payload: msg.payload.to_vec(),
                        signal: OrderSignal {
                            fresh: Some(msg.freshness == Freshness::Fresh),
                            ..signal
                        },
                    },
                    Ok(None) => Delivery::Buffered,
                    Err(e) => Delivery::Refused(e.reason().into()),
                }
            }
            Err(Error::Stale) => {
                let Some(request) = m.rx.last_stale() else {
                    return Delivery::Refused(Error::Stale.reason().into());
                };
                let mut out = [0u8; 64];
                match m.rx.issue_challenge(&mut m.tx, request, now, &mut out) {
                    Ok(n) => Delivery::Answered {
                        to: request.sender,
                        frame: out[..n].to_vec(),
                    },
                    Err(e) => Delivery::Refused(e.reason().into()),
                }
            }
            Err(e) => Delivery::Refused(e.reason().into()),
        }
    }

    fn advance(&mut self, secs: u64) {
        self.now += secs;
    }

    fn reboot(&mut self, device: DeviceId) {
        // The counter flash survives power loss; RAM (outstanding requests) does not.
        if let Some(m) = self.members.get_mut(&device) {
            m.requests.clear();
        }
        // Booting a valid configuration from a memory-backed store cannot fail.
        let _ = self.boot(device);
    }

    fn lose_state(&mut self, device: DeviceId) {
        let Ok(rx) = self.recipient(device, false) else {
            return;
        };
        if let Some(m) = self.members.get_mut(&device) {
            m.rx = rx;
            m.reassembly = Reassembler::new(REASSEMBLY_TIMEOUT);
        }
    }

    fn exhaust(&mut self, device: DeviceId) -> Option<String> {
        let store = MemoryStore {
            limit: Some(SEQ_MAX - 2),
            writes: 0,
        };
        *self.members.get(&device)?.flash.0.borrow_mut() = store;
        self.boot(device).ok()?;
        Some(format!("device {device}'s counter store moved to 2^40 - 3"))
    }

    fn remove_member(&mut self, member: DeviceId) -> String {
        self.roster.0.borrow_mut().remove(&member);
        format!(
            "receivers drop member {member} from the membership list; the group key stays (this mode has no rekey)"
        )
    }

    fn impersonate(&mut self, insider: DeviceId, claimed: DeviceId) -> Result<DeviceId, String> {
        if !self.members.contains_key(&insider) {
            return Err(format!("no device {insider}"));
        }
        // The insider holds the group keys (like every member) and nothing else.
        let store = MemoryStore {
            limit: Some(ROGUE_START),
            writes: 0,
        };
        let rogue = self.member(claimed, store).map_err(seal_err)?;
        let id = self.next_rogue;
        self.next_rogue += 1;
        self.members.insert(id, rogue);
        Ok(id)
    }

    fn dissect(&self, frame: &[u8]) -> Option<Dissected> {
        let f = Frame::new_checked(frame, SenderIdMode::Explicit).ok()?;
        let sender = f.sender_id()?;
        let t = f.truncated_seq();
        let counter = match t.form {
            SeqForm::Short => 0..1,
            SeqForm::Bytes(n) => {
                let at = 1 + varint_len(sender);
                at..at + usize::from(n)
            }
        };
        let hl = f.header_len();
        Some(Dissected {
            sender: Some(sender),
            header: 0..hl,
            counter,
            body: hl..frame.len() - TAG_LEN,
            tag: frame.len() - TAG_LEN..frame.len(),
            block: None,
        })
    }

    fn relabel(&self, frame: &[u8], sender: DeviceId) -> Option<Vec<u8>> {
        let f = Frame::new_checked(frame, SenderIdMode::Explicit).ok()?;
        let mut repr = Repr::parse(&f);
        repr.sender = Some(sender);
        let mut out = vec![0u8; repr.buffer_len()];
        let hl = repr.emit_header(&mut out).ok()?;
        out.truncate(hl);
        out.extend_from_slice(&frame[f.header_len()..]);
        Some(out)
    }
}

/// A device receives a challenge: if it answers one of its outstanding commands, the device
/// repeats that command as an echo of it.
fn answer_challenge(m: &mut Member, frame: &[u8]) -> Delivery {
    let mut last = "unsolicited";
    for i in 0..m.requests.len() {
        let mut buf = frame.to_vec();
        match m.rx.open_response(&mut buf, m.requests[i].id) {
            Ok(o) if o.binding == Binding::Challenge => {
                let (challenge, challenger) = (o.id(), o.sender);
                let req = m.requests.remove(i);
                let mut out = vec![0u8; req.payload.len() + 32];
                return match m.tx.seal_echo(&req.payload, challenge, &mut out) {
                    Ok(n) => {
                        out.truncate(n);
                        Delivery::Answered {
                            to: challenger,
                            frame: out,
                        }
                    }
                    Err(e) => Delivery::Refused(e.reason().into()),
                };
            }
            Ok(_) => last = "unsolicited",
            Err(e) => last = e.reason(),
        }
    }
    Delivery::Refused(if m.requests.is_empty() {
        "no_outstanding_request".into()
    } else {
        last.into()
    })
}
