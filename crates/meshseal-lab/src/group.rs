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
//! The default mode has no source authentication (T12) and does not rekey when a member is
//! removed (T11): the lab reports both as broken for it, and the insider lockout (T15) with
//! them. [`MeshsealGroup::strong`] is the same group with the stronger modes on: commands are
//! signed by their sender (Ed25519, `Seal::signed`) and accepted only signed
//! (`Open::require_source`), and removing a member rekeys the others through rekey messages under
//! their individual keys, with no grace period for the old epoch
//! ([`Scheme::remove_with_grace`] gives one).
//!
//! Sender state loss (T14) follows meshseal's procedure in both modes. A device boots its
//! sender with `Sender::new`, which refuses a store without a counter record
//! (`no_counter_record`). The device also keeps a log of the highest number it sealed, apart
//! from the counter record (as the CLI's state directory keeps its last sealed numbers): a
//! record that is not above a number the log shows sealed was restored from a backup, and the
//! device discards it, treating the restore as a loss. A device that lost its record re-joins: the group manager rekeys the
//! others to a new epoch and provisions the device with that epoch's keys
//! (`Sender::provision`), so its counter starts again only under keys it never used. A
//! complete image restore (record and log together) is not detected: see
//! [`SenderLoss::ImageRestore`].

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use meshseal::context::{LengthState, Membership};
use meshseal::counter::{CounterStore, MemoryStore};
use meshseal::fragment::Reassembler;
use meshseal::frame::{varint_len, Binding, Frame, Repr, SeqForm, SEQ_MAX};
use meshseal::privacy::{unmask, HeaderPrivacy, Private};
use meshseal::rekey::{open_rekey, seal_rekey, MemberKey, Rekey, MAX_REKEY_LEN};
use meshseal::replay::PeerTable;
use meshseal::source::{SigningKey, SourceKeys, VerifyingKey};
use meshseal::{
    Error, FrameId, Freshness, GroupKeys, Open, Recipient, RecipientConfig, RustCryptoCcm, Seal,
    Sender, SenderConfig, SenderIdMode, TrafficClass, TAG_LEN,
};
use rand_chacha::rand_core::RngCore;
use rand_chacha::ChaCha20Rng;

use crate::scheme::{
    Class, Delivery, DeviceId, Dissected, OrderSignal, Scheme, SenderLoss, Threat, Verdict,
    MEMBERS, ROGUE_BASE,
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

/// Every member's signature verifying key, as receivers in the strong mode hold them.
#[derive(Debug, Clone, Default)]
pub struct Keyring(BTreeMap<u32, VerifyingKey>);

impl SourceKeys<Ccm> for Keyring {
    fn verifying_key(&self, sender: u32) -> Option<&VerifyingKey> {
        self.0.get(&sender)
    }
}

/// The lab's AEAD backend: RustCrypto's, with header privacy where the mode has it.
type Ccm = Private<RustCryptoCcm>;
type Keys = GroupKeys<Ccm>;
type Rx = Recipient<PeerTable<16>, Roster, Ccm>;

impl Member {
    fn tx(&mut self) -> Result<&mut Sender<Flash, Ccm>, Error> {
        self.tx.as_mut().map_err(|e| *e)
    }

    /// Records in the sealing log that the sender just sealed.
    fn log_sealed(&mut self) {
        if let Some(last) = self
            .tx
            .as_ref()
            .ok()
            .and_then(|t| t.next_seq().checked_sub(1))
        {
            self.sealed_high = Some(self.sealed_high.map_or(last, |h| h.max(last)));
        }
    }
}

struct Request {
    id: FrameId,
    payload: Vec<u8>,
    at: u64,
}

struct Member {
    /// The sender id this device seals under (a rogue device's is the id it claims).
    id: u32,
    /// The key epoch whose keys this device holds.
    epoch: u16,
    /// Its signing key (a rogue device's is the insider's).
    sk: SigningKey,
    /// Its individual secret, under which it receives rekey messages.
    member_secret: [u8; 32],
    flash: Flash,
    /// Its sender, or why it could not boot one.
    tx: Result<Sender<Flash, Ccm>, Error>,
    /// The log of the highest number it sealed, kept apart from the counter record.
    sealed_high: Option<u64>,
    /// The last backup of its flash: counter record and sealing log.
    backup: Option<(MemoryStore, Option<u64>)>,
    rx: Rx,
    reassembly: Reassembler<4, 256>,
    requests: Vec<Request>,
}

/// meshseal, default group mode: one group key, per-sender nonces and replay windows,
/// challenged commands.
pub struct MeshsealGroup {
    /// Master secret of every epoch so far (a device derives the keys of the epoch it holds).
    secrets: BTreeMap<u16, [u8; 32]>,
    epoch: u16,
    group_id: u32,
    roster: Roster,
    members: BTreeMap<DeviceId, Member>,
    now: u64,
    next_rogue: DeviceId,
    /// Signed commands and rekeying on.
    strong: bool,
    /// Header privacy on.
    private: bool,
    keyring: Keyring,
    rng: ChaCha20Rng,
    rekeys: u64,
}

impl MeshsealGroup {
    /// Provisions the lab's members with a fresh master secret, in the default group mode.
    pub fn new(rng: ChaCha20Rng) -> Result<Self, Error> {
        Self::provision(rng, false, false)
    }

    /// The same group with signed commands and rekeying on member removal.
    pub fn strong(rng: ChaCha20Rng) -> Result<Self, Error> {
        Self::provision(rng, true, false)
    }

    /// The recommended profile: the strong mode with header privacy (spec §20).
    pub fn recommended(rng: ChaCha20Rng) -> Result<Self, Error> {
        Self::provision(rng, true, true)
    }

    fn provision(mut rng: ChaCha20Rng, strong: bool, private: bool) -> Result<Self, Error> {
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        let group_id = rng.next_u32();
        let roster = Roster::default();
        roster.0.borrow_mut().extend(MEMBERS);
        let mut g = MeshsealGroup {
            secrets: BTreeMap::from([(0, secret)]),
            epoch: 0,
            group_id,
            roster,
            members: BTreeMap::new(),
            now: 0,
            next_rogue: ROGUE_BASE,
            strong,
            private,
            keyring: Keyring::default(),
            rng,
            rekeys: 0,
        };
        for id in MEMBERS {
            let mut sk = [0u8; 32];
            let mut member_secret = [0u8; 32];
            g.rng.fill_bytes(&mut sk);
            g.rng.fill_bytes(&mut member_secret);
            let sk = SigningKey::from_bytes(&sk);
            g.keyring.0.insert(id, sk.verifying_key());
            let m = g.member(id, MemoryStore::default(), 0, sk, member_secret)?;
            g.members.insert(id, m);
        }
        Ok(g)
    }

    fn privacy(&self) -> HeaderPrivacy {
        if self.private {
            HeaderPrivacy::On
        } else {
            HeaderPrivacy::Off
        }
    }

    fn keys_at(&self, epoch: u16) -> Result<Keys, Error> {
        let secret = self.secrets.get(&epoch).ok_or(Error::InvalidConfig)?;
        GroupKeys::derive_with(secret, b"", self.group_id, epoch, self.privacy())
    }

    fn keys(&self) -> Result<Keys, Error> {
        self.keys_at(self.epoch)
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

    fn member(
        &self,
        id: u32,
        store: MemoryStore,
        epoch: u16,
        sk: SigningKey,
        member_secret: [u8; 32],
    ) -> Result<Member, Error> {
        let flash = Flash(Rc::new(RefCell::new(store)));
        Ok(Member {
            id,
            epoch,
            sk,
            member_secret,
            tx: Ok(Sender::provision(
                self.keys_at(epoch)?,
                SenderConfig::new(id),
                flash.clone(),
            )?),
            flash,
            sealed_high: None,
            backup: None,
            rx: self.recipient(id, true)?,
            reassembly: Reassembler::new(REASSEMBLY_TIMEOUT),
            requests: Vec::new(),
        })
    }

    /// Boots `device`'s sender again from its flash, as after power loss; returns what it did.
    /// A counter record that is not above a number the sealing log shows sealed was restored
    /// from a backup: the device discards it (a restore is a loss), and `Sender::new` refuses
    /// the empty store.
    fn boot(&mut self, device: DeviceId) -> Result<String, Error> {
        let Some(epoch) = self.members.get(&device).map(|m| m.epoch) else {
            return Err(Error::InvalidConfig);
        };
        let keys = self.keys_at(epoch)?;
        let Some(m) = self.members.get_mut(&device) else {
            return Err(Error::InvalidConfig);
        };
        let mut what = String::new();
        let record = m.flash.0.borrow().limit;
        if let (Some(limit), Some(high)) = (record, m.sealed_high) {
            if limit <= high {
                *m.flash.0.borrow_mut() = MemoryStore::default();
                what = format!(
                    "its counter record (limit {limit}) is not above number {high}, which its sealing log shows sealed: a restored record, discarded; "
                );
            }
        }
        m.tx = Sender::new(keys, SenderConfig::new(m.id), m.flash.clone());
        Ok(match &m.tx {
            Ok(tx) => format!("{what}Sender::new resumed at number {}", tx.next_seq()),
            Err(e) => format!("{what}Sender::new refused: {}", e.reason()),
        })
    }

    /// The group manager moves every member but `removed` and `rejoining` to a new epoch with
    /// a rekey message under its individual key; receivers keep the old epoch for `grace`
    /// seconds (`None`: they drop it at once).
    fn rekey(
        &mut self,
        removed: Option<DeviceId>,
        rejoining: Option<DeviceId>,
        grace: Option<u64>,
    ) -> Result<String, Error> {
        let mut secret = [0u8; 32];
        self.rng.fill_bytes(&mut secret);
        let epoch = self.epoch.wrapping_add(1);
        let grace_secs = grace
            .map_or(Ok(0), u32::try_from)
            .map_err(|_| Error::InvalidConfig)?;
        let removed_ids: Vec<u32> = removed.into_iter().collect();
        let rekey = Rekey::new(epoch, &secret, b"", grace_secs, &removed_ids)?;
        self.rekeys += 1;
        if let Some(r) = removed {
            self.roster.0.borrow_mut().remove(&r);
        }
        let (now, group_id, counter) = (self.now, self.group_id, self.rekeys);
        let privacy = self.privacy();
        let keys_of = |got: &Rekey| {
            GroupKeys::derive_with(got.secret(), got.salt(), group_id, got.epoch, privacy)
        };
        let roster = self.roster.clone();
        let mut sent = 0;
        for (&device, m) in self.members.iter_mut() {
            // Members removed now or before, the device re-joining (provisioned apart) and
            // rogue devices get no rekey message.
            if !roster.contains(m.id) || Some(device) == rejoining || device >= ROGUE_BASE {
                continue;
            }
            let key = MemberKey::derive(&m.member_secret, group_id, m.id);
            let mut buf = [0u8; MAX_REKEY_LEN];
            let n = seal_rekey(&key, counter, &rekey, &mut buf)?;
            sent += 1;
            // The member opens its own message and switches.
            let got = open_rekey(&key, m.epoch, &mut buf[..n])?;
            if let Ok(tx) = m.tx.as_mut() {
                tx.rekey(keys_of(&got)?)?;
            }
            let until = (got.grace > 0).then(|| now + u64::from(got.grace));
            m.rx.install_epoch(keys_of(&got)?, until)?;
            m.epoch = got.epoch;
        }
        self.secrets.insert(epoch, secret);
        self.epoch = epoch;
        Ok(format!(
            "group manager rekeyed to epoch {epoch}: {sent} rekey messages under individual keys, {}{}",
            match grace {
                Some(g) => format!("old epoch accepted for {g} s"),
                None => "no grace period".into(),
            },
            removed.map_or(String::new(), |r| format!("; member {r} got none"))
        ))
    }
}

fn seal_err(e: Error) -> String {
    e.reason().to_string()
}

impl Scheme for MeshsealGroup {
    fn id(&self) -> &'static str {
        match (self.strong, self.private) {
            (true, true) => "meshseal-private",
            (true, false) => "meshseal-strong",
            _ => "meshseal",
        }
    }

    fn name(&self) -> &'static str {
        match (self.strong, self.private) {
            (true, true) => {
                "meshseal (recommended: header privacy, signed commands, rekey on removal)"
            }
            (true, false) => "meshseal (signed commands, rekey on removal)",
            _ => "meshseal (group mode)",
        }
    }

    fn expected(&self, threat: Threat) -> (Verdict, &'static str) {
        match threat {
            Threat::T13 if self.private => (
                Verdict::Held,
                "headers masked under the privacy key: no sender id, number or frame kind in clear; lengths and timing remain",
            ),
            Threat::T11 if self.strong => (
                Verdict::Held,
                "removal rekeys the others under individual keys; the old epoch is refused",
            ),
            Threat::T12 if self.strong => (
                Verdict::Held,
                "commands carry the sender's Ed25519 signature; other members cannot make it",
            ),
            Threat::T13 if self.strong => (
                Verdict::Broken,
                "headers in clear: sender ids link frames to senders, numbers count them, the S bit shows signed commands",
            ),
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
            Threat::T13 => (
                Verdict::Broken,
                "by design without header privacy: sender ids link frames to their senders and numbers count each sender's frames",
            ),
            Threat::T14 => (
                Verdict::Held,
                "no sender starts without its counter record; a device that lost it (or whose record was rolled back) re-joins under a new epoch's keys",
            ),
            Threat::T15 if self.strong => (
                Verdict::Held,
                "signed commands are judged by a window plain frames cannot move; the rekey ends the plain lockout, and the sender's first full_every frames of the new epoch carry the full number, so a receiver that missed some of them is in step at the next one ([after-rekey])",
            ),
            Threat::T15 => (
                Verdict::Broken,
                "by design: any key holder can seal a plain frame in a member's name and move its plain-frame window; this mode does not rekey the insider out",
            ),
        }
    }

    fn seal(&mut self, from: DeviceId, payload: &[u8], class: Class) -> Result<Vec<u8>, String> {
        let now = self.now;
        let m = self
            .members
            .get_mut(&from)
            .ok_or_else(|| format!("no device {from}"))?;
        let sk = m.sk.clone();
        let tx = m.tx().map_err(seal_err)?;
        let id = FrameId {
            sender: tx.id(),
            seq: tx.next_seq(),
        };
        let frame = if self.strong && class == Class::Command {
            let mut out = vec![0u8; tx.frame_len_as(payload.len(), meshseal::Source::Signed)];
            let n = tx
                .seal_with(payload, &Seal::default().signed(&sk), &mut out)
                .map_err(seal_err)?;
            out.truncate(n);
            out
        } else {
            tx.seal_to_vec(payload).map_err(seal_err)?
        };
        m.log_sealed();
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
        m.tx()
            .map_err(seal_err)?
            .seal_message(message, mtu, &mut scratch, |f| frames.push(f.to_vec()))
            .map_err(seal_err)?;
        m.log_sealed();
        Ok(frames)
    }

    fn deliver(&mut self, to: DeviceId, frame: &[u8], class: Class) -> Delivery {
        let now = self.now;
        let Some(m) = self.members.get_mut(&to) else {
            return Delivery::Refused("no_such_device".into());
        };
        m.rx.expire_challenges(now, CHALLENGE_LIFETIME);
        m.rx.expire_epoch(now);
        m.requests
            .retain(|r| now.saturating_sub(r.at) <= REQUEST_LIFETIME);
        // The device reads the header (unmasked with its keys in a private group) to route a
        // challenge to its outstanding commands.
        let mut header = frame.to_vec();
        if self.private {
            let _ = unmask(m.rx.keys(), &mut header, SenderIdMode::Explicit);
        }
        let binding = Frame::new_checked(&header[..], SenderIdMode::Explicit).map(|f| f.binding());
        if binding == Ok(Binding::Challenge) {
            return answer_challenge(m, frame, self.strong);
        }
        let tc = match class {
            Class::Reading => TrafficClass::Telemetry,
            Class::Command => TrafficClass::Challenged,
        };
        let mut buf = frame.to_vec();
        let opened = if self.strong && class == Class::Command {
            m.rx.open_with(
                &mut buf,
                &Open::default()
                    .class(tc)
                    .keys(&self.keyring)
                    .require_source(),
            )
        } else {
            m.rx.open_with(&mut buf, &Open::default().class(tc))
        };
        match opened {
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
                let issued = match m.tx.as_mut() {
                    Ok(tx) => m.rx.issue_challenge(tx, request, now, &mut out),
                    Err(e) => Err(*e),
                };
                match issued {
                    Ok(n) => {
                        m.log_sealed();
                        Delivery::Answered {
                            to: request.sender,
                            frame: out[..n].to_vec(),
                        }
                    }
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
        self.members.get(&device)?.tx.as_ref().ok()?;
        Some(format!("device {device}'s counter store moved to 2^40 - 3"))
    }

    fn remove_member(&mut self, member: DeviceId) -> String {
        self.roster.0.borrow_mut().remove(&member);
        if self.strong {
            return match self.rekey(Some(member), None, None) {
                Ok(what) => format!("receivers drop member {member}; {what}"),
                Err(e) => format!("rekey failed: {}", e.reason()),
            };
        }
        format!(
            "receivers drop member {member} from the membership list; the group key stays (this mode does not rekey on removal)"
        )
    }

    fn remove_with_grace(&mut self, member: DeviceId, grace: u64) -> Option<String> {
        if !self.strong {
            return None;
        }
        self.roster.0.borrow_mut().remove(&member);
        Some(match self.rekey(Some(member), None, Some(grace)) {
            Ok(what) => format!("receivers drop member {member}; {what}"),
            Err(e) => format!("rekey failed: {}", e.reason()),
        })
    }

    fn back_up(&mut self, device: DeviceId) {
        if let Some(m) = self.members.get_mut(&device) {
            m.backup = Some((m.flash.0.borrow().clone(), m.sealed_high));
        }
    }

    fn lose_sender_state(&mut self, device: DeviceId, loss: SenderLoss) -> Result<String, String> {
        let fresh_rx = self.recipient(device, false).map_err(seal_err)?;
        let m = self
            .members
            .get_mut(&device)
            .ok_or_else(|| format!("no device {device}"))?;
        m.requests.clear();
        match loss {
            SenderLoss::FactoryReset => {
                *m.flash.0.borrow_mut() = MemoryStore::default();
                m.sealed_high = None;
                m.rx = fresh_rx;
                m.reassembly = Reassembler::new(REASSEMBLY_TIMEOUT);
            }
            SenderLoss::RestoredBackup => {
                let (record, _) = m.backup.clone().ok_or("no backup was taken")?;
                *m.flash.0.borrow_mut() = record;
            }
            SenderLoss::ImageRestore => {
                let (record, log) = m.backup.clone().ok_or("no backup was taken")?;
                *m.flash.0.borrow_mut() = record;
                m.sealed_high = log;
            }
        }
        let booted = self.boot(device).map_err(seal_err)?;
        Ok(format!("device {device}: {}; {booted}", loss.describe()))
    }

    fn rejoin(&mut self, device: DeviceId) -> Option<Result<String, String>> {
        let (id, down) = {
            let m = self.members.get(&device)?;
            (m.id, m.tx.is_err())
        };
        if !down {
            return Some(Err(format!(
                "device {device} still has its counter: nothing to re-join"
            )));
        }
        let mut run = || -> Result<String, Error> {
            let what = self.rekey(None, Some(device), None)?;
            // The device is provisioned anew, as at commissioning: new individual secret and
            // signing key, the new epoch's keys, a counter record written before its first
            // number (Sender::provision: this identity never sealed under these keys).
            let mut sk = [0u8; 32];
            let mut member_secret = [0u8; 32];
            self.rng.fill_bytes(&mut sk);
            self.rng.fill_bytes(&mut member_secret);
            let sk = SigningKey::from_bytes(&sk);
            self.keyring.0.insert(id, sk.verifying_key());
            let mut m = self.member(id, MemoryStore::default(), self.epoch, sk, member_secret)?;
            // Its numbers start again at 0 under keys the receivers hold no window of yet,
            // while their windows of the old epoch hold its old numbers (or one an insider
            // forged): as after `Sender::rekey`, its first `full_every` frames carry the full
            // number, so a receiver that missed some of them never rebuilds a short number
            // against the old window.
            let full_run = SenderConfig::new(id).full_every;
            if let Ok(tx) = m.tx.as_mut() {
                let state = tx.length_state();
                tx.restore_length_state(LengthState { full_run, ..state });
            }
            self.members.insert(device, m);
            Ok(format!(
                "{what}; device {device} provisioned anew with epoch {}'s keys (Sender::provision), its first {full_run} frames with the full number",
                self.epoch
            ))
        };
        Some(run().map_err(seal_err))
    }

    fn forge_plain(
        &mut self,
        insider: DeviceId,
        claimed: DeviceId,
        payload: &[u8],
    ) -> Result<(Vec<u8>, String), String> {
        // The insider holds the group keys of its epoch and nothing of `claimed`'s: it seals a
        // plain frame, the only kind those keys make, at the last number.
        let epoch = self
            .members
            .get(&insider)
            .map(|m| m.epoch)
            .ok_or_else(|| format!("no device {insider}"))?;
        let keys = self.keys_at(epoch).map_err(seal_err)?;
        let store = MemoryStore {
            limit: Some(SEQ_MAX),
            writes: 0,
        };
        let mut tx = Sender::new(keys, SenderConfig::new(claimed), store).map_err(seal_err)?;
        let frame = tx.seal_to_vec(payload).map_err(seal_err)?;
        Ok((
            frame,
            format!("sequence number 2^40 - 1 under epoch {epoch}'s keys"),
        ))
    }

    fn impersonate(&mut self, insider: DeviceId, claimed: DeviceId) -> Result<DeviceId, String> {
        if !self.members.contains_key(&insider) {
            return Err(format!("no device {insider}"));
        }
        // The insider holds the group keys of its epoch (like every member), its own signing key
        // and individual secret, and nothing else.
        let store = MemoryStore {
            limit: Some(ROGUE_START),
            writes: 0,
        };
        let (epoch, sk, member_secret) = self
            .members
            .get(&insider)
            .map(|m| (m.epoch, m.sk.clone(), m.member_secret))
            .ok_or_else(|| format!("no device {insider}"))?;
        let rogue = self
            .member(claimed, store, epoch, sk, member_secret)
            .map_err(seal_err)?;
        let id = self.next_rogue;
        self.next_rogue += 1;
        self.members.insert(id, rogue);
        Ok(id)
    }

    fn dissect(&self, frame: &[u8]) -> Option<Dissected> {
        if self.private {
            // Without the privacy key only the header byte's version and epoch bits are
            // readable; where the header ends is not.
            if frame.len() < 1 + TAG_LEN {
                return None;
            }
            return Some(Dissected {
                sender: None,
                header: 0..1,
                counter: 0..0,
                body: 1..frame.len() - TAG_LEN,
                tag: frame.len() - TAG_LEN..frame.len(),
                block: None,
            });
        }
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

    fn hides_counter(&self) -> bool {
        self.private
    }

    fn visible_seq(&self, frame: &[u8]) -> Option<(u64, u32)> {
        if self.private {
            return None;
        }
        let t = Frame::new_checked(frame, SenderIdMode::Explicit)
            .ok()?
            .truncated_seq();
        Some((t.value, t.form.bits()))
    }

    fn relabel(&self, frame: &[u8], sender: DeviceId) -> Option<Vec<u8>> {
        if self.private {
            // The sender id is masked: an attacker cannot find it, let alone rewrite it.
            return None;
        }
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
fn answer_challenge(m: &mut Member, frame: &[u8], signed: bool) -> Delivery {
    let mut last = "unsolicited";
    for i in 0..m.requests.len() {
        let mut buf = frame.to_vec();
        match m
            .rx
            .open_with(&mut buf, &Open::default().answering(m.requests[i].id))
        {
            Ok(o) if o.binding == Binding::Challenge => {
                let (challenge, challenger) = (o.id(), o.sender);
                let req = m.requests.remove(i);
                let mut out = vec![0u8; req.payload.len() + 32 + meshseal::source::SIGNATURE_LEN];
                let sk = m.sk.clone();
                let sealed = match m.tx() {
                    Ok(tx) if signed => {
                        let how = Seal::default().echo(challenge).signed(&sk);
                        tx.seal_with(&req.payload, &how, &mut out)
                    }
                    Ok(tx) => {
                        tx.seal_with(&req.payload, &Seal::default().echo(challenge), &mut out)
                    }
                    Err(e) => Err(e),
                };
                return match sealed {
                    Ok(n) => {
                        m.log_sealed();
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
