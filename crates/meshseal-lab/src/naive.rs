//! INSECURE. "Direct AES" schemes a team could plausibly ship, kept only as attack targets.
//!
//! Nothing in this module may be used to protect anything. Every type here is named
//! `InsecureAes…` and exists so the lab can show, by running real attacks, what goes wrong when
//! AES is used directly instead of an authenticated, nonce-disciplined construction. The
//! primitives are RustCrypto's (`aes`, `ecb`, `cbc`, `ctr`, `ccm`); the flaws are in how they
//! are put together, which is the point.
//!
//! Common frame layout of every insecure scheme (all fields in the clear, none authenticated):
//!
//! ```text
//! sender id (1) | port (1) | fragment (1) | nonce, IV or counter (0..16) | ciphertext | tag (0 or 8)
//! ```
//!
//! The port byte tells readings (1) from commands (2) so gateways can route without the key,
//! as many home-grown formats do. The fragment byte carries index (high nibble) and the index
//! of the last fragment (low nibble); each fragment is sealed on its own. Receivers check the
//! content (printable ASCII) and say why they refused a frame, as firmware logs and error
//! replies usually do: `bad_padding`, `bad_content`, `bad_tag`, `replay`, `unknown_sender`.

use std::collections::{BTreeMap, BTreeSet};

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyInit, KeyIvInit, StreamCipher};
use aes::Aes128;
use ccm::aead::AeadInPlace;
use ccm::consts::{U13, U8};
use rand_chacha::rand_core::RngCore;
use rand_chacha::ChaCha20Rng;

use crate::scheme::{
    Class, Delivery, DeviceId, Dissected, OrderSignal, Scheme, SenderLoss, Threat, Verdict,
    MEMBERS, ROGUE_BASE,
};

type Ccm8 = ccm::Ccm<Aes128, U8, U13>;

/// Length of the clear header before the nonce field: sender, port, fragment.
const PREFIX: usize = 3;
/// Counter a rogue device starts at: far ahead of any real member.
const ROGUE_COUNTER: u32 = 1 << 20;

/// The cryptographic part of an insecure scheme: how a payload becomes ciphertext.
pub trait InsecureCipher {
    /// Short id (table column).
    const ID: &'static str;
    /// Name in reports.
    const NAME: &'static str;
    /// Creates the shared group key material.
    fn new(rng: &mut ChaCha20Rng) -> Self;
    /// Bytes of nonce, IV or counter in each frame.
    fn nonce_len(&self) -> usize;
    /// Bytes of tag in each frame.
    fn tag_len(&self) -> usize {
        0
    }
    /// Block size when the ciphertext is padded block-cipher output.
    fn block(&self) -> Option<usize> {
        None
    }
    /// Whether the nonce field is a per-sender counter.
    fn counter(&self) -> bool {
        false
    }
    /// Whether the counter survives a reboot (written to flash).
    fn counter_persists(&self) -> bool {
        false
    }
    /// Whether receivers refuse a counter not above the last one seen from that sender id.
    fn replay_check(&self) -> bool {
        false
    }
    /// The nonce field of a frame sealed by `sender` with counter value `counter`.
    fn nonce(&self, sender: u8, counter: u32, rng: &mut ChaCha20Rng) -> Vec<u8>;
    /// Ciphertext and tag of `payload`.
    fn encrypt(&self, sender: u8, nonce: &[u8], payload: &[u8]) -> Vec<u8>;
    /// Plaintext, or the receiver's reason for refusing.
    fn decrypt(&self, sender: u8, nonce: &[u8], sealed: &[u8]) -> Result<Vec<u8>, &'static str>;
    /// The expected result of each attack, from the scheme's design.
    fn expected(threat: Threat) -> (Verdict, &'static str);
}

/// The receiver logic shared by every scheme without a nonce discipline of its own.
fn common_expectation(threat: Threat) -> (Verdict, &'static str) {
    use Verdict::*;
    match threat {
        Threat::T5 => (
            Broken,
            "no replay state: a recorded frame is accepted again",
        ),
        Threat::T6 => (
            Broken,
            "no sequence numbers reported: drops and reorders unseen",
        ),
        Threat::T7 => (Broken, "nothing bounds a frame's age"),
        Threat::T8 => (Broken, "no state to lose: replays pass before and after"),
        Threat::T9 => (
            Broken,
            "fragments sealed one by one, fragment byte unauthenticated",
        ),
        Threat::T11 => (
            Broken,
            "one shared key: a departed member seals as another id",
        ),
        Threat::T12 => (Broken, "one shared key: any member seals as any other"),
        Threat::T13 => (Broken, "clear port byte tells commands from readings"),
        Threat::T15 => (
            NotApplicable,
            "no replay state: nothing for a forged number to push forward (recorded frames are simply accepted again: T5)",
        ),
        _ => (Held, ""),
    }
}

/// INSECURE: AES-ECB with PKCS#7 padding, no IV, no MAC.
pub struct InsecureAesEcb {
    key: [u8; 16],
}

impl InsecureCipher for InsecureAesEcb {
    const ID: &'static str = "aes-ecb";
    const NAME: &'static str = "AES-ECB (insecure)";
    fn new(rng: &mut ChaCha20Rng) -> Self {
        let mut key = [0; 16];
        rng.fill_bytes(&mut key);
        InsecureAesEcb { key }
    }
    fn nonce_len(&self) -> usize {
        0
    }
    fn block(&self) -> Option<usize> {
        Some(16)
    }
    fn nonce(&self, _: u8, _: u32, _: &mut ChaCha20Rng) -> Vec<u8> {
        Vec::new()
    }
    fn encrypt(&self, _: u8, _: &[u8], payload: &[u8]) -> Vec<u8> {
        ecb::Encryptor::<Aes128>::new(&self.key.into()).encrypt_padded_vec_mut::<Pkcs7>(payload)
    }
    fn decrypt(&self, _: u8, _: &[u8], sealed: &[u8]) -> Result<Vec<u8>, &'static str> {
        if sealed.is_empty() || sealed.len() % 16 != 0 {
            return Err("malformed");
        }
        ecb::Decryptor::<Aes128>::new(&self.key.into())
            .decrypt_padded_vec_mut::<Pkcs7>(sealed)
            .map_err(|_| "bad_padding")
    }
    fn expected(threat: Threat) -> (Verdict, &'static str) {
        match threat {
            Threat::T1 => (
                Verdict::Broken,
                "no MAC: blocks of two frames cut and pasted",
            ),
            Threat::T2 => (
                Verdict::Broken,
                "deterministic: equal plaintexts, equal blocks",
            ),
            Threat::T3 | Threat::T4 | Threat::T10 | Threat::T14 => {
                (Verdict::NotApplicable, "no nonce or counter at all")
            }
            t => common_expectation(t),
        }
    }
}

/// INSECURE: AES-CBC with one fixed IV for every frame, PKCS#7 padding, no MAC.
pub struct InsecureAesCbcFixedIv {
    key: [u8; 16],
    iv: [u8; 16],
}

impl InsecureCipher for InsecureAesCbcFixedIv {
    const ID: &'static str = "aes-cbc-fixed-iv";
    const NAME: &'static str = "AES-CBC, fixed IV, no MAC (insecure)";
    fn new(rng: &mut ChaCha20Rng) -> Self {
        let (mut key, mut iv) = ([0; 16], [0; 16]);
        rng.fill_bytes(&mut key);
        rng.fill_bytes(&mut iv);
        InsecureAesCbcFixedIv { key, iv }
    }
    fn nonce_len(&self) -> usize {
        0
    }
    fn block(&self) -> Option<usize> {
        Some(16)
    }
    fn nonce(&self, _: u8, _: u32, _: &mut ChaCha20Rng) -> Vec<u8> {
        Vec::new()
    }
    fn encrypt(&self, _: u8, _: &[u8], payload: &[u8]) -> Vec<u8> {
        cbc::Encryptor::<Aes128>::new(&self.key.into(), &self.iv.into())
            .encrypt_padded_vec_mut::<Pkcs7>(payload)
    }
    fn decrypt(&self, _: u8, _: &[u8], sealed: &[u8]) -> Result<Vec<u8>, &'static str> {
        if sealed.is_empty() || sealed.len() % 16 != 0 {
            return Err("malformed");
        }
        cbc::Decryptor::<Aes128>::new(&self.key.into(), &self.iv.into())
            .decrypt_padded_vec_mut::<Pkcs7>(sealed)
            .map_err(|_| "bad_padding")
    }
    fn expected(threat: Threat) -> (Verdict, &'static str) {
        match threat {
            Threat::T1 => (
                Verdict::Broken,
                "no MAC: the padding answers decrypt frames",
            ),
            Threat::T2 => (
                Verdict::Broken,
                "fixed IV: equal plaintexts, equal ciphertexts",
            ),
            Threat::T3 | Threat::T4 | Threat::T10 | Threat::T14 => {
                (Verdict::NotApplicable, "no nonce or counter at all")
            }
            t => common_expectation(t),
        }
    }
}

/// INSECURE: AES-CBC with a random IV per frame (sent in the clear), PKCS#7, no MAC.
pub struct InsecureAesCbcRandomIv {
    key: [u8; 16],
}

impl InsecureCipher for InsecureAesCbcRandomIv {
    const ID: &'static str = "aes-cbc-random-iv";
    const NAME: &'static str = "AES-CBC, random IV, no MAC (insecure)";
    fn new(rng: &mut ChaCha20Rng) -> Self {
        let mut key = [0; 16];
        rng.fill_bytes(&mut key);
        InsecureAesCbcRandomIv { key }
    }
    fn nonce_len(&self) -> usize {
        16
    }
    fn block(&self) -> Option<usize> {
        Some(16)
    }
    fn nonce(&self, _: u8, _: u32, rng: &mut ChaCha20Rng) -> Vec<u8> {
        let mut iv = vec![0; 16];
        rng.fill_bytes(&mut iv);
        iv
    }
    fn encrypt(&self, _: u8, nonce: &[u8], payload: &[u8]) -> Vec<u8> {
        let iv: [u8; 16] = nonce.try_into().unwrap_or([0; 16]);
        cbc::Encryptor::<Aes128>::new(&self.key.into(), &iv.into())
            .encrypt_padded_vec_mut::<Pkcs7>(payload)
    }
    fn decrypt(&self, _: u8, nonce: &[u8], sealed: &[u8]) -> Result<Vec<u8>, &'static str> {
        let iv: [u8; 16] = nonce.try_into().map_err(|_| "malformed")?;
        if sealed.is_empty() || sealed.len() % 16 != 0 {
            return Err("malformed");
        }
        cbc::Decryptor::<Aes128>::new(&self.key.into(), &iv.into())
            .decrypt_padded_vec_mut::<Pkcs7>(sealed)
            .map_err(|_| "bad_padding")
    }
    fn expected(threat: Threat) -> (Verdict, &'static str) {
        match threat {
            Threat::T1 => (Verdict::Broken, "no MAC: IV bit flips; padding oracle"),
            Threat::T2 => (Verdict::Held, "random IV per frame"),
            Threat::T3 => (Verdict::Held, "random IVs do not repeat across devices"),
            Threat::T4 => (Verdict::Held, "random IVs do not repeat after reboot"),
            Threat::T14 => (
                Verdict::Held,
                "random IVs depend on no stored state: nothing to lose or roll back",
            ),
            Threat::T10 => (Verdict::NotApplicable, "no counter"),
            t => common_expectation(t),
        }
    }
}

/// INSECURE: AES-CTR; the nonce is a 32-bit message counter kept in RAM (restarts at 0 at
/// every boot) and not tied to the sender; no MAC.
pub struct InsecureAesCtrBootCounter {
    key: [u8; 16],
}

impl InsecureCipher for InsecureAesCtrBootCounter {
    const ID: &'static str = "aes-ctr-boot-counter";
    const NAME: &'static str = "AES-CTR, counter restarts at boot (insecure)";
    fn new(rng: &mut ChaCha20Rng) -> Self {
        let mut key = [0; 16];
        rng.fill_bytes(&mut key);
        InsecureAesCtrBootCounter { key }
    }
    fn nonce_len(&self) -> usize {
        4
    }
    fn counter(&self) -> bool {
        true
    }
    fn nonce(&self, _: u8, counter: u32, _: &mut ChaCha20Rng) -> Vec<u8> {
        counter.to_be_bytes().to_vec()
    }
    fn encrypt(&self, _: u8, nonce: &[u8], payload: &[u8]) -> Vec<u8> {
        let mut buf = payload.to_vec();
        self.keystream(nonce, &mut buf);
        buf
    }
    fn decrypt(&self, _: u8, nonce: &[u8], sealed: &[u8]) -> Result<Vec<u8>, &'static str> {
        let mut buf = sealed.to_vec();
        self.keystream(nonce, &mut buf);
        Ok(buf)
    }
    fn expected(threat: Threat) -> (Verdict, &'static str) {
        match threat {
            Threat::T1 => (Verdict::Broken, "no MAC: a bit flip is a plaintext flip"),
            Threat::T2 => (Verdict::Held, "the counter differs from frame to frame"),
            Threat::T3 => (Verdict::Broken, "every device counts from 0 under one key"),
            Threat::T4 => (Verdict::Broken, "counter restarts at 0 at boot"),
            Threat::T14 => (
                Verdict::Broken,
                "a reset or restored device counts from 0 again under the same key",
            ),
            Threat::T10 => (Verdict::Broken, "32-bit counter wraps silently"),
            t => common_expectation(t),
        }
    }
}

impl InsecureAesCtrBootCounter {
    fn keystream(&self, nonce: &[u8], buf: &mut [u8]) {
        let mut iv = [0u8; 16];
        iv[..nonce.len().min(4)].copy_from_slice(&nonce[..nonce.len().min(4)]);
        ctr::Ctr32BE::<Aes128>::new(&self.key.into(), &iv.into()).apply_keystream(buf);
    }
}

/// INSECURE: AES-CCM (8-byte tag) with the shared key and a persisted per-device 32-bit
/// counter as the nonce, but no sender id in the nonce; receivers keep the highest counter
/// per sender id.
pub struct InsecureAesCcmNoSenderId {
    aead: Ccm8,
}

impl InsecureCipher for InsecureAesCcmNoSenderId {
    const ID: &'static str = "aes-ccm-no-sender-id";
    const NAME: &'static str = "AES-CCM, per-device counter, no sender id in nonce (insecure)";
    fn new(rng: &mut ChaCha20Rng) -> Self {
        let mut key = [0; 16];
        rng.fill_bytes(&mut key);
        InsecureAesCcmNoSenderId {
            aead: Ccm8::new(&key.into()),
        }
    }
    fn nonce_len(&self) -> usize {
        4
    }
    fn tag_len(&self) -> usize {
        8
    }
    fn counter(&self) -> bool {
        true
    }
    fn counter_persists(&self) -> bool {
        true
    }
    fn replay_check(&self) -> bool {
        true
    }
    fn nonce(&self, _: u8, counter: u32, _: &mut ChaCha20Rng) -> Vec<u8> {
        counter.to_be_bytes().to_vec()
    }
    fn encrypt(&self, _: u8, nonce: &[u8], payload: &[u8]) -> Vec<u8> {
        ccm_seal(&self.aead, &ccm_nonce(None, nonce), payload)
    }
    fn decrypt(&self, _: u8, nonce: &[u8], sealed: &[u8]) -> Result<Vec<u8>, &'static str> {
        ccm_open(&self.aead, &ccm_nonce(None, nonce), sealed)
    }
    fn expected(threat: Threat) -> (Verdict, &'static str) {
        match threat {
            Threat::T1 => (Verdict::Held, "CCM tag"),
            Threat::T2 => (Verdict::Held, "the counter differs from frame to frame"),
            Threat::T3 => (
                Verdict::Broken,
                "devices' counters collide: same nonce, same key",
            ),
            Threat::T4 => (Verdict::Held, "counter persisted on every frame"),
            Threat::T5 => (
                Verdict::Broken,
                "sender id unauthenticated: replay relabelled",
            ),
            Threat::T6 => (
                Verdict::Broken,
                "strict counter refuses reorders, drops unseen",
            ),
            Threat::T10 => (Verdict::Broken, "32-bit counter wraps silently"),
            Threat::T14 => (
                Verdict::Broken,
                "the persisted counter, wiped or rolled back, counts through used nonces again",
            ),
            Threat::T15 => (
                Verdict::Broken,
                "highest counter per unauthenticated sender id: a forged 2^32 - 1 refuses the claimed sender for good",
            ),
            t => common_expectation(t),
        }
    }
}

/// INSECURE: AES-CCM (8-byte tag) with a sound nonce (sender id and a persisted counter) but
/// no replay window: receivers accept any frame whose tag verifies.
pub struct InsecureAesCcmNoReplayWindow {
    aead: Ccm8,
}

impl InsecureCipher for InsecureAesCcmNoReplayWindow {
    const ID: &'static str = "aes-ccm-no-replay-window";
    const NAME: &'static str = "AES-CCM, sound nonce, no replay window (insecure)";
    fn new(rng: &mut ChaCha20Rng) -> Self {
        let mut key = [0; 16];
        rng.fill_bytes(&mut key);
        InsecureAesCcmNoReplayWindow {
            aead: Ccm8::new(&key.into()),
        }
    }
    fn nonce_len(&self) -> usize {
        4
    }
    fn tag_len(&self) -> usize {
        8
    }
    fn counter(&self) -> bool {
        true
    }
    fn counter_persists(&self) -> bool {
        true
    }
    fn nonce(&self, _: u8, counter: u32, _: &mut ChaCha20Rng) -> Vec<u8> {
        counter.to_be_bytes().to_vec()
    }
    fn encrypt(&self, sender: u8, nonce: &[u8], payload: &[u8]) -> Vec<u8> {
        ccm_seal(&self.aead, &ccm_nonce(Some(sender), nonce), payload)
    }
    fn decrypt(&self, sender: u8, nonce: &[u8], sealed: &[u8]) -> Result<Vec<u8>, &'static str> {
        ccm_open(&self.aead, &ccm_nonce(Some(sender), nonce), sealed)
    }
    fn expected(threat: Threat) -> (Verdict, &'static str) {
        match threat {
            Threat::T1 => (Verdict::Held, "CCM tag"),
            Threat::T2 => (Verdict::Held, "the counter differs from frame to frame"),
            Threat::T3 => (Verdict::Held, "sender id in the nonce"),
            Threat::T4 => (Verdict::Held, "counter persisted on every frame"),
            Threat::T10 => (Verdict::Broken, "32-bit counter wraps silently"),
            Threat::T14 => (
                Verdict::Broken,
                "the persisted counter, wiped or rolled back, repeats the device's own nonces",
            ),
            t => common_expectation(t),
        }
    }
}

/// CCM nonce: optional sender byte, zeros, 4-byte counter at the end.
fn ccm_nonce(sender: Option<u8>, counter: &[u8]) -> [u8; 13] {
    let mut n = [0u8; 13];
    if let Some(s) = sender {
        n[0] = s;
    }
    let c = counter.len().min(4);
    n[13 - c..].copy_from_slice(&counter[..c]);
    n
}

fn ccm_seal(aead: &Ccm8, nonce: &[u8; 13], payload: &[u8]) -> Vec<u8> {
    let mut buf = payload.to_vec();
    match aead.encrypt_in_place_detached(nonce.into(), b"", &mut buf) {
        Ok(tag) => buf.extend_from_slice(&tag),
        // Payloads in the lab are far below CCM's length limit.
        Err(_) => buf.clear(),
    }
    buf
}

fn ccm_open(aead: &Ccm8, nonce: &[u8; 13], sealed: &[u8]) -> Result<Vec<u8>, &'static str> {
    let split = sealed.len().checked_sub(8).ok_or("malformed")?;
    let (body, tag) = sealed.split_at(split);
    let mut buf = body.to_vec();
    aead.decrypt_in_place_detached(nonce.into(), b"", &mut buf, tag.into())
        .map_err(|_| "bad_tag")?;
    Ok(buf)
}

/// One device of an insecure group.
#[derive(Debug, Default)]
struct Device {
    /// The sender id it writes (a rogue device writes the id it claims).
    claims: u8,
    /// Next counter value (RAM).
    counter: u32,
    /// Counter value in flash, for schemes that persist it.
    stored: u32,
    /// The counter value in the last backup of the device's flash.
    backup: u32,
    /// Receiver: highest counter accepted per sender id.
    seen: BTreeMap<u8, u32>,
    /// Receiver: fragments per sender id: (count, index → data).
    parts: BTreeMap<u8, (u8, BTreeMap<u8, Vec<u8>>)>,
}

/// INSECURE: a group of devices sharing one key under cipher `C`.
pub struct InsecureGroup<C: InsecureCipher> {
    cipher: C,
    rng: ChaCha20Rng,
    devices: BTreeMap<DeviceId, Device>,
    removed: BTreeSet<u8>,
    next_rogue: DeviceId,
}

impl<C: InsecureCipher> InsecureGroup<C> {
    /// Provisions the lab's members with a fresh shared key.
    pub fn new(mut rng: ChaCha20Rng) -> Self {
        let cipher = C::new(&mut rng);
        let devices = MEMBERS
            .iter()
            .map(|&id| {
                (
                    id,
                    Device {
                        claims: id as u8,
                        ..Device::default()
                    },
                )
            })
            .collect();
        InsecureGroup {
            cipher,
            rng,
            devices,
            removed: BTreeSet::new(),
            next_rogue: ROGUE_BASE,
        }
    }

    fn seal_part(
        &mut self,
        from: DeviceId,
        payload: &[u8],
        class: Class,
        fragment: u8,
    ) -> Result<Vec<u8>, String> {
        let dev = self
            .devices
            .get_mut(&from)
            .ok_or_else(|| format!("no device {from}"))?;
        let nonce = self.cipher.nonce(dev.claims, dev.counter, &mut self.rng);
        if self.cipher.counter() {
            dev.counter = dev.counter.wrapping_add(1);
            if self.cipher.counter_persists() {
                dev.stored = dev.counter;
            }
        }
        let port = match class {
            Class::Reading => 1,
            Class::Command => 2,
        };
        let mut frame = vec![dev.claims, port, fragment];
        frame.extend_from_slice(&nonce);
        frame.extend_from_slice(&self.cipher.encrypt(dev.claims, &nonce, payload));
        Ok(frame)
    }
}

fn printable(p: &[u8]) -> bool {
    !p.is_empty() && p.iter().all(|b| (0x20..0x7f).contains(b))
}

impl<C: InsecureCipher> Scheme for InsecureGroup<C> {
    fn id(&self) -> &'static str {
        C::ID
    }

    fn name(&self) -> &'static str {
        C::NAME
    }

    fn expected(&self, threat: Threat) -> (Verdict, &'static str) {
        C::expected(threat)
    }

    fn seal(&mut self, from: DeviceId, payload: &[u8], class: Class) -> Result<Vec<u8>, String> {
        self.seal_part(from, payload, class, 0)
    }

    fn seal_message(
        &mut self,
        from: DeviceId,
        message: &[u8],
        mtu: usize,
    ) -> Result<Vec<Vec<u8>>, String> {
        let overhead = PREFIX + self.cipher.nonce_len() + self.cipher.tag_len() + 16;
        let chunk = mtu.saturating_sub(overhead).max(1);
        let parts: Vec<&[u8]> = message.chunks(chunk).collect();
        if parts.len() > 16 {
            return Err("message too large".into());
        }
        let last = (parts.len() - 1) as u8;
        parts
            .iter()
            .enumerate()
            .map(|(i, p)| self.seal_part(from, p, Class::Reading, (i as u8) << 4 | last))
            .collect()
    }

    fn deliver(&mut self, to: DeviceId, frame: &[u8], _: Class) -> Delivery {
        let nl = self.cipher.nonce_len();
        if frame.len() < PREFIX + nl + self.cipher.tag_len() {
            return Delivery::Refused("malformed".into());
        }
        let (sender, fragment) = (frame[0], frame[2]);
        if self.removed.contains(&sender) || !MEMBERS.contains(&u32::from(sender)) {
            return Delivery::Refused("unknown_sender".into());
        }
        let (index, last) = (fragment >> 4, fragment & 0x0f);
        if index > last {
            return Delivery::Refused("malformed".into());
        }
        let nonce = &frame[PREFIX..PREFIX + nl];
        let plain = match self.cipher.decrypt(sender, nonce, &frame[PREFIX + nl..]) {
            Ok(p) => p,
            Err(reason) => return Delivery::Refused(reason.into()),
        };
        let Some(dev) = self.devices.get_mut(&to) else {
            return Delivery::Refused("no_such_device".into());
        };
        if self.cipher.replay_check() {
            let counter = u32::from_be_bytes(nonce.try_into().unwrap_or([0; 4]));
            if dev.seen.get(&sender).is_some_and(|&s| counter <= s) {
                return Delivery::Refused("replay".into());
            }
            dev.seen.insert(sender, counter);
        }
        let message = if last == 0 {
            plain
        } else {
            let slot = dev.parts.entry(sender).or_default();
            if slot.0 != last + 1 {
                *slot = (last + 1, BTreeMap::new());
            }
            slot.1.insert(index, plain);
            if slot.1.len() < usize::from(last) + 1 {
                return Delivery::Buffered;
            }
            let whole = slot.1.values().flatten().copied().collect();
            dev.parts.remove(&sender);
            whole
        };
        if !printable(&message) {
            return Delivery::Refused("bad_content".into());
        }
        Delivery::Accepted {
            from: u32::from(sender),
            payload: message,
            signal: OrderSignal::default(),
        }
    }

    fn advance(&mut self, _: u64) {}

    fn reboot(&mut self, device: DeviceId) {
        let persists = self.cipher.counter_persists();
        if let Some(d) = self.devices.get_mut(&device) {
            d.counter = if persists { d.stored } else { 0 };
        }
    }

    fn lose_state(&mut self, device: DeviceId) {
        if let Some(d) = self.devices.get_mut(&device) {
            d.seen.clear();
            d.parts.clear();
        }
    }

    fn exhaust(&mut self, device: DeviceId) -> Option<String> {
        if !self.cipher.counter() {
            return None;
        }
        let d = self.devices.get_mut(&device)?;
        d.counter = u32::MAX - 1;
        d.stored = d.counter;
        Some(format!(
            "device {device}'s 32-bit counter moved to 2^32 - 2"
        ))
    }

    fn remove_member(&mut self, member: DeviceId) -> String {
        self.removed.insert(member as u8);
        format!(
            "receivers deny-list sender id {member}; the shared key cannot change without re-flashing every device"
        )
    }

    fn back_up(&mut self, device: DeviceId) {
        if let Some(d) = self.devices.get_mut(&device) {
            d.backup = d.stored;
        }
    }

    fn lose_sender_state(&mut self, device: DeviceId, loss: SenderLoss) -> Result<String, String> {
        let persists = self.cipher.counter_persists();
        let d = self
            .devices
            .get_mut(&device)
            .ok_or_else(|| format!("no device {device}"))?;
        match loss {
            SenderLoss::FactoryReset => {
                d.stored = 0;
                d.seen.clear();
                d.parts.clear();
            }
            SenderLoss::RestoredBackup | SenderLoss::ImageRestore => d.stored = d.backup,
        }
        d.counter = if persists { d.stored } else { 0 };
        Ok(if self.cipher.counter() {
            format!(
                "device {device}: {}; it boots and counts on from {}",
                loss.describe(),
                d.counter
            )
        } else {
            format!("device {device}: {}; it has no counter", loss.describe())
        })
    }

    fn forge_plain(
        &mut self,
        insider: DeviceId,
        claimed: DeviceId,
        payload: &[u8],
    ) -> Result<(Vec<u8>, String), String> {
        if !self.devices.contains_key(&insider) {
            return Err(format!("no device {insider}"));
        }
        let id = self.next_rogue;
        self.next_rogue += 1;
        self.devices.insert(
            id,
            Device {
                claims: claimed as u8,
                counter: u32::MAX,
                stored: u32::MAX,
                ..Device::default()
            },
        );
        let frame = self.seal(id, payload, Class::Reading)?;
        self.devices.remove(&id);
        Ok((
            frame,
            if self.cipher.counter() {
                "counter 2^32 - 1".into()
            } else {
                "no number (the scheme has none)".into()
            },
        ))
    }

    fn impersonate(&mut self, insider: DeviceId, claimed: DeviceId) -> Result<DeviceId, String> {
        if !self.devices.contains_key(&insider) {
            return Err(format!("no device {insider}"));
        }
        let id = self.next_rogue;
        self.next_rogue += 1;
        self.devices.insert(
            id,
            Device {
                claims: claimed as u8,
                counter: ROGUE_COUNTER,
                stored: ROGUE_COUNTER,
                ..Device::default()
            },
        );
        Ok(id)
    }

    fn dissect(&self, frame: &[u8]) -> Option<Dissected> {
        let nl = self.cipher.nonce_len();
        let tl = self.cipher.tag_len();
        if frame.len() < PREFIX + nl + tl {
            return None;
        }
        Some(Dissected {
            sender: Some(u32::from(frame[0])),
            header: 0..PREFIX + nl,
            counter: PREFIX..PREFIX + nl,
            body: PREFIX + nl..frame.len() - tl,
            tag: frame.len() - tl..frame.len(),
            block: self.cipher.block(),
        })
    }

    fn relabel(&self, frame: &[u8], sender: DeviceId) -> Option<Vec<u8>> {
        let mut f = frame.to_vec();
        *f.first_mut()? = u8::try_from(sender).ok()?;
        Some(f)
    }
}
