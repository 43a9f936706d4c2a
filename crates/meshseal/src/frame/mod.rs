//! Compact frame v1: the bytes on air, and nothing else.
//!
//! ```text
//! +--------+-------------+-----------+-----------+----------+------------+---------+
//! | header | sender id   | seq bytes | extension | fragment | ciphertext | tag (8) |
//! | 1 byte | varint 0..5 | 0..5, BE  | 0 or 1    | 0 or 1   |            |         |
//! +--------+-------------+-----------+-----------+----------+------------+---------+
//!
//! header:  bit 7     V  version, 0 = v1 (1 is refused as unsupported)
//!          bits 6-5  E  key epoch modulo 4
//!          bit 4     L  0 = short form, 1 = long form
//!   short: bits 3-0     low 4 bits of the sequence number; no seq bytes follow
//!   long:  bit 3     X  an extension byte follows the seq bytes
//!          bits 2-0     number of seq bytes, 1..=5 (0, 6, 7 reserved)
//!
//! extension: bit 7  F  fragment: a fragment byte follows
//!            bit 6  R  response: bound to a request (sender id, sequence number)
//!            bit 5  E  echo: bound to a freshness challenge the receiver issued
//!            bit 4  C  challenge: a response asking the requester for proof of freshness
//!            bit 3  T  time: a 2-byte coarse timestamp follows (after the fragment byte)
//!            bit 2  P  pairwise: sealed under the key of the sender and one recipient
//!            bit 1  S  signed: the plaintext ends with the sender's Ed25519 signature
//!            bit 0  W  repeat: the frame is sent several times for sleepy receivers; 2 bytes
//!                      follow (after the timestamp): number of copies, window length
//! ```
//!
//! At most one of R, E, C is set; C excludes F; P excludes S; an extension byte of 0 is refused (a frame
//! without extensions clears X). What the R, E, C and F bits refer to is authenticated as
//! associated data (see `docs/wire-format.md`), not sent.
//!
//! The sender id is an unsigned LEB128 varint (canonical, at most 5 bytes, at most `u32::MAX`),
//! or absent when the link layer supplies it ([`SenderIdMode::Implicit`]). The fragment byte
//! carries the fragment index (high nibble) and the index of the last fragment (low nibble).
//!
//! Like smoltcp's `wire` module this layer holds no keys and no state: [`Frame`] is a checked,
//! zero-copy view over a byte slice and [`Repr`] is its validated meaning. [`Frame::new_checked`]
//! is total: every input gives a frame or a [`WireError`], never a panic, and no accessor of a
//! checked frame can go out of bounds.

use core::fmt;

use crate::TAG_LEN;

/// Largest sequence number a frame can carry (40 bits).
pub const SEQ_MAX: u64 = (1 << 40) - 1;
/// Longest encoding of a sender id.
pub const MAX_SENDER_LEN: usize = 5;
/// Longest header: header byte, 5-byte sender id, 5 seq bytes, extension and fragment bytes,
/// coarse timestamp, repeat announcement.
pub const MAX_HEADER_LEN: usize = 1 + MAX_SENDER_LEN + 5 + 2 + 2 + 2;
/// Most fragments one message may have (4-bit index).
pub const MAX_FRAGMENTS: u8 = 16;

const VERSION_BIT: u8 = 0x80;
const EPOCH_SHIFT: u8 = 5;
const EPOCH_MASK: u8 = 0x60;
const LONG_BIT: u8 = 0x10;
const EXT_BIT: u8 = 0x08;
const X_FRAGMENT: u8 = 0x80;
const X_RESPONSE: u8 = 0x40;
const X_ECHO: u8 = 0x20;
const X_CHALLENGE: u8 = 0x10;
const X_TIME: u8 = 0x08;
const X_PAIRWISE: u8 = 0x04;
const X_SIGNED: u8 = 0x02;
const X_REPEAT: u8 = 0x01;
const LEN_MASK: u8 = 0x07;
const SHORT_MASK: u8 = 0x0f;

/// Why bytes are not a well-formed frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WireError {
    /// Fewer bytes than the header announces plus the tag.
    Truncated,
    /// The version bit is set: a later format this build does not speak.
    UnsupportedVersion,
    /// A reserved sequence-length code (0, 6 or 7 in the long form).
    ReservedLength,
    /// The sender id varint is not in its shortest form.
    NonCanonicalSender,
    /// The sender id varint is longer than 5 bytes or exceeds `u32::MAX`.
    SenderOverflow,
    /// The fragment byte names an index past the last fragment.
    FragmentIndex,
    /// The extension byte is 0, sets a reserved bit, or combines bits that exclude each other.
    BadExtension,
    /// A value given to [`Repr::emit_header`] does not fit its field.
    FieldRange,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WireError::Truncated => "truncated",
            WireError::UnsupportedVersion => "unsupported version",
            WireError::ReservedLength => "reserved sequence-length code",
            WireError::NonCanonicalSender => "non-canonical sender id encoding",
            WireError::SenderOverflow => "sender id too large",
            WireError::FragmentIndex => "fragment index past the last fragment",
            WireError::BadExtension => "invalid extension byte",
            WireError::FieldRange => "field value out of range",
        })
    }
}

#[cfg(feature = "std")]
impl std::error::Error for WireError {}

/// Whether the sender id travels in the frame or comes from the link layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SenderIdMode {
    /// The sender id is encoded after the header byte.
    #[default]
    Explicit,
    /// The link layer (e.g. an 802.15.4 short address) tells the receiver who sent the frame.
    Implicit,
}

/// How many bits of the sequence number a frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeqForm {
    /// 4 bits inside the header byte.
    Short,
    /// 1 to 5 bytes after the sender id; 5 bytes is the full number.
    Bytes(u8),
}

impl SeqForm {
    /// The full-length form, needing no reconstruction.
    pub const FULL: SeqForm = SeqForm::Bytes(5);
    /// Every form, shortest first.
    pub const ALL: [SeqForm; 6] = [
        SeqForm::Short,
        SeqForm::Bytes(1),
        SeqForm::Bytes(2),
        SeqForm::Bytes(3),
        SeqForm::Bytes(4),
        SeqForm::Bytes(5),
    ];

    /// Number of sequence bits carried.
    pub const fn bits(self) -> u32 {
        match self {
            SeqForm::Short => 4,
            SeqForm::Bytes(n) => 8 * n as u32,
        }
    }

    /// Bytes this form adds after the sender id.
    pub const fn wire_len(self) -> usize {
        match self {
            SeqForm::Short => 0,
            SeqForm::Bytes(n) => n as usize,
        }
    }

    /// Whether the form carries the whole 40-bit number.
    pub const fn is_full(self) -> bool {
        matches!(self, SeqForm::Bytes(5))
    }

    const fn is_valid(self) -> bool {
        match self {
            SeqForm::Short => true,
            SeqForm::Bytes(n) => n >= 1 && n <= 5,
        }
    }
}

/// The low bits of a sequence number as carried by a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TruncatedSeq {
    /// The carried bits (`< 2^form.bits()`).
    pub value: u64,
    /// How many bits were carried.
    pub form: SeqForm,
}

impl TruncatedSeq {
    /// Truncates a full sequence number to `form`.
    pub const fn of(seq: u64, form: SeqForm) -> Self {
        let bits = form.bits();
        let value = if bits >= 64 {
            seq
        } else {
            seq & ((1u64 << bits) - 1)
        };
        TruncatedSeq { value, form }
    }

    /// Whether the form is one the wire has and the value fits it (`value < 2^bits`, counted
    /// in leading zeros: no 64-bit shift by a variable).
    #[inline(always)]
    pub(crate) const fn fits(self) -> bool {
        self.form.is_valid() && self.value.leading_zeros() >= 64 - self.form.bits()
    }
}

/// Position of a frame inside a multi-fragment message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fragment {
    /// Index of this fragment, from 0.
    pub index: u8,
    /// Number of fragments of the message, 1..=16.
    pub count: u8,
}

impl Fragment {
    /// The fragment byte: index in the high nibble, last index in the low nibble.
    pub const fn to_byte(self) -> u8 {
        ((self.index & 0x0f) << 4) | (self.count.saturating_sub(1) & 0x0f)
    }

    const fn from_byte(b: u8) -> Result<Self, WireError> {
        let index = b >> 4;
        let last = b & 0x0f;
        if index > last {
            return Err(WireError::FragmentIndex);
        }
        Ok(Fragment {
            index,
            count: last + 1,
        })
    }

    const fn is_valid(self) -> bool {
        self.count >= 1 && self.count <= MAX_FRAGMENTS && self.index < self.count
    }
}

/// What a frame is bound to besides its own sender and number (extension bits R, E, C).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Binding {
    /// An ordinary frame.
    #[default]
    None,
    /// A response, bound to the request it answers.
    Response,
    /// A request repeated with proof of freshness, bound to the receiver's challenge.
    Echo,
    /// A challenge: a response to a request whose freshness the receiver could not establish.
    Challenge,
}

impl Binding {
    const fn bits(self) -> u8 {
        match self {
            Binding::None => 0,
            Binding::Response => X_RESPONSE,
            Binding::Echo => X_ECHO,
            Binding::Challenge => X_CHALLENGE,
        }
    }
}

/// A frame sent several times in a row for receivers that wake up once in a while (extension
/// bit W): the receiver acts on one copy and reports the others as duplicates, not replays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repeat {
    /// How many copies the sender transmits (at least 1).
    pub copies: u8,
    /// Length of the transmit window, in the group's time unit, from the frame's timestamp when
    /// it carries one.
    pub window: u8,
}

/// Who can have sealed a frame (extension bits P, S).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Source {
    /// Any holder of the group key: the sender id is a claim other members could forge.
    #[default]
    Group,
    /// Sealed under the pairwise key of the sender and the recipient: only the two of them
    /// hold it.
    Pairwise,
    /// Group-sealed, with the sender's Ed25519 signature inside the ciphertext.
    Signed,
}

impl Source {
    const fn bits(self) -> u8 {
        match self {
            Source::Group => 0,
            Source::Pairwise => X_PAIRWISE,
            Source::Signed => X_SIGNED,
        }
    }

    /// Stable snake_case name, for JSON output.
    pub const fn name(self) -> &'static str {
        match self {
            Source::Group => "group",
            Source::Pairwise => "pairwise",
            Source::Signed => "signed",
        }
    }
}

/// Decodes and validates an extension byte: `(has fragment byte, binding)`.
const fn parse_ext(x: u8) -> Result<(bool, Binding), WireError> {
    if x == 0 || x & (X_PAIRWISE | X_SIGNED) == (X_PAIRWISE | X_SIGNED) {
        return Err(WireError::BadExtension);
    }
    let fragment = x & X_FRAGMENT != 0;
    let binding = match x & (X_RESPONSE | X_ECHO | X_CHALLENGE) {
        0 => Binding::None,
        X_RESPONSE => Binding::Response,
        X_ECHO => Binding::Echo,
        X_CHALLENGE if !fragment => Binding::Challenge,
        _ => return Err(WireError::BadExtension),
    };
    Ok((fragment, binding))
}

/// Encodes `v` as a canonical LEB128 varint into `out`; returns its length.
#[cfg_attr(not(feature = "hkdf"), allow(dead_code))] // rekey messages use it
pub(crate) fn put_varint(mut v: u32, out: &mut [u8]) -> Result<usize, WireError> {
    let mut i = 0;
    loop {
        let slot = out.get_mut(i).ok_or(WireError::FieldRange)?;
        let low = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            *slot = low;
            return Ok(i + 1);
        }
        *slot = low | 0x80;
        i += 1;
    }
}

/// Length of the canonical varint encoding of `v`: seven bits per byte, from the count of
/// significant bits (one count instruction instead of a chain of range tests).
// `(x + 6) / 7` rather than `div_ceil(7)`, whose remainder test is 20 B more on a Cortex-M4.
#[allow(clippy::manual_div_ceil)]
pub const fn varint_len(v: u32) -> usize {
    ((32 - (v | 1).leading_zeros() + 6) / 7) as usize
}

/// Decodes a canonical LEB128 varint at the start of `bytes`: `(value, length)`.
pub(crate) fn get_varint(bytes: &[u8]) -> Result<(u32, usize), WireError> {
    let mut v: u32 = 0;
    for (i, &b) in bytes.iter().enumerate().take(MAX_SENDER_LEN) {
        let low = u32::from(b & 0x7f);
        // The fifth byte holds the id's top 4 bits; anything above overflows 32 bits. (A u32
        // throughout: no 64-bit shifts on a 32-bit core.)
        if i == MAX_SENDER_LEN - 1 && low > 0x0f {
            return Err(WireError::SenderOverflow);
        }
        v |= low << (7 * i);
        if b & 0x80 == 0 {
            if i > 0 && b == 0 {
                return Err(WireError::NonCanonicalSender);
            }
            return Ok((v, i + 1));
        }
    }
    if bytes.len() < MAX_SENDER_LEN {
        Err(WireError::Truncated)
    } else {
        Err(WireError::SenderOverflow)
    }
}

/// A checked frame's header, decoded once by [`Frame::new_checked`] so that the receiver's
/// checks read fields, not bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Layout {
    header: u8,
    ext: u8,
    sender: Option<u32>,
    seq: TruncatedSeq,
    fragment: Option<Fragment>,
    time: Option<u16>,
    repeat: Option<Repeat>,
    payload_at: usize,
}

/// The part every frame starts with: header byte, sender id and sequence bytes, checked.
struct Base {
    header: u8,
    sender: Option<u32>,
    seq: TruncatedSeq,
    /// Where what follows the sequence bytes starts.
    at: usize,
}

impl Base {
    #[inline]
    fn check(b: &[u8], mode: SenderIdMode) -> Result<Base, WireError> {
        let &h = b.first().ok_or(WireError::Truncated)?;
        if h & VERSION_BIT != 0 {
            return Err(WireError::UnsupportedVersion);
        }
        let form = form_of(h)?;
        let mut at = 1;
        let sender = match mode {
            // Most groups have fewer than 128 members: one byte.
            SenderIdMode::Explicit => match b.get(1) {
                Some(&id) if id < 0x80 => {
                    at += 1;
                    Some(u32::from(id))
                }
                _ => {
                    let (id, n) = get_varint(&b[at..])?;
                    at += n;
                    Some(id)
                }
            },
            SenderIdMode::Implicit => None,
        };
        let seq = match form {
            SeqForm::Short => TruncatedSeq {
                value: u64::from(h & SHORT_MASK),
                form,
            },
            SeqForm::Bytes(n) => {
                let bytes = b.get(at..at + n as usize).ok_or(WireError::Truncated)?;
                TruncatedSeq {
                    value: bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)),
                    form,
                }
            }
        };
        at += form.wire_len();
        Ok(Base {
            header: h,
            sender,
            seq,
            at,
        })
    }
}

/// A frame with its sender id and no extension byte (every plain group frame), read in one
/// pass: a receiver's hot path. It accepts and refuses exactly what [`Frame::new_checked`]
/// does for such frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlainFrame {
    /// The header byte.
    pub header: u8,
    /// The sender id.
    pub sender: u32,
    /// The carried sequence bits.
    pub seq: TruncatedSeq,
    /// Length of the header (where the ciphertext starts).
    pub header_len: usize,
}

impl PlainFrame {
    /// Reads `b` if it is such a frame: `None` if it is not (a frame with an extension byte,
    /// or none at all), to be read with [`Frame::new_checked`].
    #[inline]
    pub fn check(b: &[u8]) -> Option<Result<PlainFrame, WireError>> {
        let &h = b.first()?;
        if h & (LONG_BIT | EXT_BIT) == LONG_BIT | EXT_BIT {
            return None;
        }
        Some(Base::check(b, SenderIdMode::Explicit).and_then(|base| {
            if b.len() < base.at + TAG_LEN {
                return Err(WireError::Truncated);
            }
            Ok(PlainFrame {
                header: base.header,
                // An explicit read always yields the id.
                sender: base.sender.unwrap_or_default(),
                seq: base.seq,
                header_len: base.at,
            })
        }))
    }

    /// The key epoch modulo 4.
    pub fn epoch_bits(&self) -> u8 {
        (self.header & EPOCH_MASK) >> EPOCH_SHIFT
    }
}

/// A checked, zero-copy view of a compact frame.
#[derive(Debug, Clone)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
    layout: Layout,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Checks `buffer` and wraps it. Total: never panics, whatever the bytes.
    pub fn new_checked(buffer: T, mode: SenderIdMode) -> Result<Self, WireError> {
        let layout = Self::check(buffer.as_ref(), mode)?;
        Ok(Frame { buffer, layout })
    }

    fn check(b: &[u8], mode: SenderIdMode) -> Result<Layout, WireError> {
        let Base {
            header: h,
            sender,
            seq,
            mut at,
        } = Base::check(b, mode)?;
        let mut layout = Layout {
            header: h,
            ext: 0,
            sender,
            seq,
            fragment: None,
            time: None,
            repeat: None,
            payload_at: 0,
        };
        if h & LONG_BIT != 0 && h & EXT_BIT != 0 {
            let &x = b.get(at).ok_or(WireError::Truncated)?;
            layout.ext = x;
            at += 1;
            let (fragment, _) = parse_ext(x)?;
            if fragment {
                let &f = b.get(at).ok_or(WireError::Truncated)?;
                layout.fragment = Some(Fragment::from_byte(f)?);
                at += 1;
            }
            if x & X_TIME != 0 {
                let t = b.get(at..at + 2).ok_or(WireError::Truncated)?;
                layout.time = Some(u16::from_be_bytes([t[0], t[1]]));
                at += 2;
            }
            if x & X_REPEAT != 0 {
                let r = b.get(at..at + 2).ok_or(WireError::Truncated)?;
                if r[0] == 0 {
                    return Err(WireError::BadExtension);
                }
                layout.repeat = Some(Repeat {
                    copies: r[0],
                    window: r[1],
                });
                at += 2;
            }
        }
        if b.len() < at + TAG_LEN {
            return Err(WireError::Truncated);
        }
        layout.payload_at = at;
        Ok(layout)
    }

    /// The header byte.
    pub fn header(&self) -> u8 {
        self.layout.header
    }

    /// The key epoch modulo 4.
    pub fn epoch_bits(&self) -> u8 {
        (self.layout.header & EPOCH_MASK) >> EPOCH_SHIFT
    }

    /// The sender id carried by the frame (`None` in implicit mode).
    pub fn sender_id(&self) -> Option<u32> {
        self.layout.sender
    }

    /// The sequence-number bits carried by the frame.
    pub fn truncated_seq(&self) -> TruncatedSeq {
        self.layout.seq
    }

    /// The fragment position, if this frame is part of a multi-fragment message.
    pub fn fragment(&self) -> Option<Fragment> {
        self.layout.fragment
    }

    /// The fragment byte as sent, or 0 for a frame that is not a fragment.
    pub fn fragment_byte(&self) -> u8 {
        self.layout.fragment.map_or(0, Fragment::to_byte)
    }

    /// The coarse timestamp, if the frame carries one (extension bit T).
    pub fn time(&self) -> Option<u16> {
        self.layout.time
    }

    /// The repeat announcement, if the frame is sent several times (extension bit W).
    pub fn repeat(&self) -> Option<Repeat> {
        self.layout.repeat
    }

    /// The extension byte as sent, or 0 for a frame without one.
    pub fn ext_byte(&self) -> u8 {
        self.layout.ext
    }

    /// What the frame is bound to (response, echo, challenge), from the extension byte.
    pub fn binding(&self) -> Binding {
        match parse_ext(self.ext_byte()) {
            Ok((_, b)) => b,
            Err(_) => Binding::None,
        }
    }

    /// Who can have sealed the frame, from the extension byte.
    pub fn source(&self) -> Source {
        let x = self.ext_byte();
        if x & X_PAIRWISE != 0 {
            Source::Pairwise
        } else if x & X_SIGNED != 0 {
            Source::Signed
        } else {
            Source::Group
        }
    }

    /// Length of everything before the ciphertext.
    pub fn header_len(&self) -> usize {
        self.layout.payload_at
    }

    /// The ciphertext.
    pub fn payload(&self) -> &[u8] {
        let b = self.bytes();
        &b[self.layout.payload_at..b.len() - TAG_LEN]
    }

    /// The authentication tag.
    pub fn tag(&self) -> [u8; TAG_LEN] {
        let b = self.bytes();
        let mut t = [0u8; TAG_LEN];
        t.copy_from_slice(&b[b.len() - TAG_LEN..]);
        t
    }

    /// The whole frame.
    pub fn bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Unwraps the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    /// The ciphertext, writable (decryption happens in place).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let at = self.layout.payload_at;
        let b = self.buffer.as_mut();
        let end = b.len() - TAG_LEN;
        &mut b[at..end]
    }
}

fn form_of(h: u8) -> Result<SeqForm, WireError> {
    if h & LONG_BIT == 0 {
        return Ok(SeqForm::Short);
    }
    match h & LEN_MASK {
        n @ 1..=5 => Ok(SeqForm::Bytes(n)),
        _ => Err(WireError::ReservedLength),
    }
}

mod emit;
#[cfg(test)]
mod tests;

pub use emit::{PlainHeader, Repr};
