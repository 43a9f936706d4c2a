//! Rekey messages: how a group manager moves the remaining members to a new key epoch.
//!
//! Each member holds an individual secret, provisioned when it joined and known only to it and
//! the manager. To rekey (the sequence budget runs low, or a member left or was compromised),
//! the manager draws a new master secret and sends every remaining member its own rekey message:
//! the next epoch's secret, salt, grace period and the ids removed from the group, sealed with
//! AES-CCM under a key derived from that member's secret. A removed member receives nothing it
//! can open, so it cannot follow the group into the new epoch.
//!
//! ```text
//! +------+-------------+-----------+-------------+------------+---------+
//! | 0x81 | member id   | epoch u16 | counter u40 | ciphertext | tag (8) |
//! |      | LEB128 1..5 | BE        | BE          |            |         |
//! +------+-------------+-----------+-------------+------------+---------+
//! plaintext: grace u32 ‖ secret len u8 ‖ secret ‖ salt len u8 ‖ salt ‖ removed count u8 ‖
//!            removed ids u32 BE each
//! ```
//!
//! The type byte sets bit 7, so a frame parser refuses a rekey message as an unsupported
//! version and the two can never be confused. The nonce is the member IV XOR (type ‖ 0 ‖ epoch
//! ‖ member ‖ counter), where the counter is the manager's own, never repeated per member key;
//! the whole header is associated data. A member accepts only an epoch newer than the one it
//! holds ([`crate::context::epoch_is_newer`]), so a replayed rekey message is refused as
//! [`Error::Replay`]. As everywhere, nothing is released before the tag verifies.

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::context::epoch_is_newer;
use crate::crypto::{
    AeadBackend, GroupKeys, RustCryptoCcm, IV_LEN, MASTER_SECRET_MAX, MASTER_SECRET_MIN,
};
use crate::frame::{get_varint, put_varint, varint_len, WireError, SEQ_MAX};
use crate::{Error, KEY_LEN, NONCE_LEN, TAG_LEN};

/// First byte of a rekey message.
pub const REKEY_TYPE: u8 = 0x81;
/// Length of a member's individual secret.
pub const MEMBER_SECRET_LEN: usize = 32;
/// Most member ids one rekey message can name as removed.
pub const MAX_REMOVED: usize = 16;
/// Longest salt a rekey message carries.
pub const MAX_SALT: usize = 64;
/// HKDF `info` label of a member's rekey key.
pub const LABEL_MEMBER_KEY: u8 = 0x03;
/// HKDF `info` label of a member's rekey IV.
pub const LABEL_MEMBER_IV: u8 = 0x04;
/// Longest rekey message.
pub const MAX_REKEY_LEN: usize =
    1 + 5 + 2 + 5 + 4 + 1 + MASTER_SECRET_MAX + 1 + MAX_SALT + 1 + 4 * MAX_REMOVED + TAG_LEN;

/// A member's individual rekey key, derived from its secret. Zeroized on drop.
pub struct MemberKey {
    aead: RustCryptoCcm,
    iv: [u8; IV_LEN],
    group_id: u32,
    member: u32,
}

impl Drop for MemberKey {
    fn drop(&mut self) {
        self.iv.zeroize();
    }
}

impl core::fmt::Debug for MemberKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MemberKey")
            .field("group_id", &self.group_id)
            .field("member", &self.member)
            .finish_non_exhaustive()
    }
}

/// The HKDF `info` of a member key: prefix, label, group id (u32 BE), member id (u32 BE),
/// output length.
fn member_info(label: u8, group_id: u32, member: u32, len: u8) -> [u8; 21] {
    let mut info = [0u8; 21];
    info[..11].copy_from_slice(crate::crypto::INFO_PREFIX);
    info[11] = label;
    info[12..16].copy_from_slice(&group_id.to_be_bytes());
    info[16..20].copy_from_slice(&member.to_be_bytes());
    info[20] = len;
    info
}

impl MemberKey {
    /// Derives member `member`'s rekey key and IV from its individual secret (HKDF-SHA256, no
    /// salt).
    pub fn derive(secret: &[u8; MEMBER_SECRET_LEN], group_id: u32, member: u32) -> Self {
        let hk = hkdf::Hkdf::<sha2::Sha256>::new(None, secret);
        let mut key = [0u8; KEY_LEN];
        let mut iv = [0u8; IV_LEN];
        // Lengths of 16 and 13 bytes are far below HKDF-SHA256's limit of 8160.
        let _ = hk.expand(
            &member_info(LABEL_MEMBER_KEY, group_id, member, KEY_LEN as u8),
            &mut key,
        );
        let _ = hk.expand(
            &member_info(LABEL_MEMBER_IV, group_id, member, IV_LEN as u8),
            &mut iv,
        );
        let aead = RustCryptoCcm::new(&key);
        key.zeroize();
        MemberKey {
            aead,
            iv,
            group_id,
            member,
        }
    }

    /// The member this key belongs to.
    pub fn member(&self) -> u32 {
        self.member
    }

    fn nonce(&self, epoch: u16, counter: u64) -> [u8; NONCE_LEN] {
        let mut n = [0u8; NONCE_LEN];
        n[0] = REKEY_TYPE;
        n[2..4].copy_from_slice(&epoch.to_be_bytes());
        n[4..8].copy_from_slice(&self.member.to_be_bytes());
        n[8..13].copy_from_slice(&counter.to_be_bytes()[3..]);
        for (b, i) in n.iter_mut().zip(&self.iv) {
            *b ^= i;
        }
        n
    }
}

/// What a rekey message tells a member. The secret is zeroized on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Rekey {
    /// The new key epoch.
    #[zeroize(skip)]
    pub epoch: u16,
    /// How long (in the group's time unit, e.g. seconds) the previous epoch stays accepted.
    #[zeroize(skip)]
    pub grace: u32,
    secret: [u8; MASTER_SECRET_MAX],
    secret_len: u8,
    salt: [u8; MAX_SALT],
    salt_len: u8,
    #[zeroize(skip)]
    removed: heapless::Vec<u32, MAX_REMOVED>,
}

impl core::fmt::Debug for Rekey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Rekey")
            .field("epoch", &self.epoch)
            .field("grace", &self.grace)
            .field("removed", &self.removed.as_slice())
            .finish_non_exhaustive()
    }
}

impl Rekey {
    /// A rekey to `epoch` with a new master `secret` (16–64 bytes) and `salt` (≤ 64 bytes),
    /// keeping the previous epoch for `grace`, and removing the members in `removed`.
    pub fn new(
        epoch: u16,
        secret: &[u8],
        salt: &[u8],
        grace: u32,
        removed: &[u32],
    ) -> Result<Self, Error> {
        if !(MASTER_SECRET_MIN..=MASTER_SECRET_MAX).contains(&secret.len()) || salt.len() > MAX_SALT
        {
            return Err(Error::InvalidConfig);
        }
        let mut r = Rekey {
            epoch,
            grace,
            secret: [0; MASTER_SECRET_MAX],
            secret_len: secret.len() as u8,
            salt: [0; MAX_SALT],
            salt_len: salt.len() as u8,
            removed: heapless::Vec::from_slice(removed).map_err(|_| Error::InvalidConfig)?,
        };
        r.secret[..secret.len()].copy_from_slice(secret);
        r.salt[..salt.len()].copy_from_slice(salt);
        Ok(r)
    }

    /// The new master secret.
    pub fn secret(&self) -> &[u8] {
        &self.secret[..usize::from(self.secret_len)]
    }

    /// The new salt.
    pub fn salt(&self) -> &[u8] {
        &self.salt[..usize::from(self.salt_len)]
    }

    /// Members removed from the group by this rekey.
    pub fn removed(&self) -> &[u32] {
        &self.removed
    }

    /// The new epoch's group keys.
    pub fn group_keys(&self, group_id: u32) -> Result<GroupKeys, Error> {
        GroupKeys::derive(self.secret(), self.salt(), group_id, self.epoch)
    }

    fn plaintext_len(&self) -> usize {
        4 + 1 + self.secret().len() + 1 + self.salt().len() + 1 + 4 * self.removed.len()
    }
}

/// Length of the rekey message for `member` carrying `rekey`.
pub fn rekey_len(member: u32, rekey: &Rekey) -> usize {
    1 + varint_len(member) + 2 + 5 + rekey.plaintext_len() + TAG_LEN
}

/// Seals `rekey` for the member of `key` into `out`; `counter` is the manager's message
/// counter for this member key (at most 2^40 - 1), which must never repeat. Returns the length.
pub fn seal_rekey(
    key: &MemberKey,
    counter: u64,
    rekey: &Rekey,
    out: &mut [u8],
) -> Result<usize, Error> {
    if counter > SEQ_MAX {
        return Err(Error::CounterExhausted);
    }
    let total = rekey_len(key.member, rekey);
    if out.len() < total {
        return Err(Error::BufferTooSmall);
    }
    out[0] = REKEY_TYPE;
    let mut at = 1 + put_varint(key.member, &mut out[1..])?;
    out[at..at + 2].copy_from_slice(&rekey.epoch.to_be_bytes());
    out[at + 2..at + 7].copy_from_slice(&counter.to_be_bytes()[3..]);
    at += 7;
    let (header, rest) = out[..total].split_at_mut(at);
    let (body, tag_out) = rest.split_at_mut(rest.len() - TAG_LEN);
    body[..4].copy_from_slice(&rekey.grace.to_be_bytes());
    let mut p = 4;
    for field in [rekey.secret(), rekey.salt()] {
        body[p] = field.len() as u8;
        body[p + 1..p + 1 + field.len()].copy_from_slice(field);
        p += 1 + field.len();
    }
    body[p] = rekey.removed.len() as u8;
    p += 1;
    for id in &rekey.removed {
        body[p..p + 4].copy_from_slice(&id.to_be_bytes());
        p += 4;
    }
    let nonce = key.nonce(rekey.epoch, counter);
    match key.aead.seal_in_place(&nonce, header, body) {
        Ok(tag) => {
            tag_out.copy_from_slice(&tag);
            Ok(total)
        }
        Err(e) => {
            body.fill(0);
            Err(e)
        }
    }
}

/// Whether `bytes` starts like a rekey message (not a frame).
pub fn is_rekey(bytes: &[u8]) -> bool {
    bytes.first() == Some(&REKEY_TYPE)
}

/// The header of a rekey message: `(member, epoch, header length)`.
pub fn parse_header(bytes: &[u8]) -> Result<(u32, u16, usize), Error> {
    if !is_rekey(bytes) {
        return Err(Error::Malformed(WireError::UnsupportedVersion));
    }
    let (member, n) = get_varint(&bytes[1..])?;
    let at = 1 + n;
    let epoch = bytes
        .get(at..at + 2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
        .ok_or(WireError::Truncated)?;
    if bytes.len() < at + 7 + TAG_LEN {
        return Err(WireError::Truncated.into());
    }
    Ok((member, epoch, at + 7))
}

/// Verifies and opens a rekey message for the member of `key`, which holds `current_epoch`.
/// The buffer is decrypted in place and wiped afterwards (the content is returned), and wiped
/// too when anything fails.
///
/// Refusals: [`Error::UnknownSender`] for another member's message, [`Error::Replay`] for an
/// epoch not newer than `current_epoch`, [`Error::BadTag`], [`Error::Malformed`].
pub fn open_rekey(key: &MemberKey, current_epoch: u16, buf: &mut [u8]) -> Result<Rekey, Error> {
    let (member, epoch, hlen) = parse_header(buf)?;
    if member != key.member {
        return Err(Error::UnknownSender);
    }
    if !epoch_is_newer(epoch, current_epoch) {
        return Err(Error::Replay);
    }
    let mut counter = [0u8; 8];
    counter[3..].copy_from_slice(&buf[hlen - 5..hlen]);
    let nonce = key.nonce(epoch, u64::from_be_bytes(counter));
    let (header, rest) = buf.split_at_mut(hlen);
    let (body, tag) = rest.split_at_mut(rest.len() - TAG_LEN);
    let mut t = [0u8; TAG_LEN];
    t.copy_from_slice(tag);
    if key.aead.open_in_place(&nonce, header, body, &t).is_err() {
        body.fill(0);
        return Err(Error::BadTag);
    }
    let parsed = parse_body(epoch, body);
    body.fill(0);
    parsed
}

/// Decodes an authenticated plaintext; total.
fn parse_body(epoch: u16, body: &[u8]) -> Result<Rekey, Error> {
    let bad = Error::Malformed(WireError::Truncated);
    let grace = body
        .get(..4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or(bad)?;
    let mut at = 4;
    let field = |at: &mut usize| -> Result<&[u8], Error> {
        let len = usize::from(*body.get(*at).ok_or(bad)?);
        let f = body.get(*at + 1..*at + 1 + len).ok_or(bad)?;
        *at += 1 + len;
        Ok(f)
    };
    let secret = field(&mut at)?;
    let salt = field(&mut at)?;
    let count = usize::from(*body.get(at).ok_or(bad)?);
    at += 1;
    let ids = body.get(at..at + 4 * count).ok_or(bad)?;
    if at + 4 * count != body.len() || count > MAX_REMOVED {
        return Err(bad);
    }
    let mut removed = heapless::Vec::<u32, MAX_REMOVED>::new();
    for c in ids.chunks_exact(4) {
        removed
            .push(u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
            .map_err(|_| bad)?;
    }
    Rekey::new(epoch, secret, salt, grace, &removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Rekey {
        Rekey::new(5, &[9; 32], b"salt", 300, &[4, 1000]).unwrap()
    }

    #[test]
    fn round_trip_and_replay() {
        let k = MemberKey::derive(&[1; 32], 7, 2);
        let r = sample();
        let mut buf = [0u8; MAX_REKEY_LEN];
        let n = seal_rekey(&k, 1, &r, &mut buf).unwrap();
        assert_eq!(n, rekey_len(2, &r));
        let mut copy = buf;
        let got = open_rekey(&k, 4, &mut copy[..n]).unwrap();
        assert_eq!((got.epoch, got.grace), (5, 300));
        assert_eq!(got.secret(), &[9; 32]);
        assert_eq!(got.salt(), b"salt");
        assert_eq!(got.removed(), &[4, 1000]);
        // Once at epoch 5, the same message is a replay.
        let mut copy = buf;
        assert_eq!(open_rekey(&k, 5, &mut copy[..n]).err(), Some(Error::Replay));
    }

    #[test]
    fn other_member_and_wrong_key_refused() {
        let k2 = MemberKey::derive(&[1; 32], 7, 2);
        let r = sample();
        let mut buf = [0u8; MAX_REKEY_LEN];
        let n = seal_rekey(&k2, 1, &r, &mut buf).unwrap();
        let k3 = MemberKey::derive(&[3; 32], 7, 3);
        assert_eq!(
            open_rekey(&k3, 4, &mut { buf }[..n]).err(),
            Some(Error::UnknownSender)
        );
        // A member of the same id under another secret (a removed member guessing) fails the tag.
        let other = MemberKey::derive(&[2; 32], 7, 2);
        let mut copy = buf;
        assert_eq!(
            open_rekey(&other, 4, &mut copy[..n]).err(),
            Some(Error::BadTag)
        );
        assert!(copy[..n]
            .iter()
            .skip(n - TAG_LEN - r.plaintext_len())
            .take(r.plaintext_len())
            .all(|&b| b == 0));
    }

    #[test]
    fn every_bit_flip_refused_and_parse_total() {
        let k = MemberKey::derive(&[1; 32], 7, 2);
        let r = sample();
        let mut buf = [0u8; MAX_REKEY_LEN];
        let n = seal_rekey(&k, 1, &r, &mut buf).unwrap();
        for i in 0..n * 8 {
            let mut copy = buf;
            copy[i / 8] ^= 1 << (i % 8);
            assert!(open_rekey(&k, 4, &mut copy[..n]).is_err(), "bit {i}");
        }
        for len in 0..n {
            let mut copy = buf;
            assert!(open_rekey(&k, 4, &mut copy[..len]).is_err());
        }
    }
}
