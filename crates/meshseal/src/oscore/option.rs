//! The OSCORE option (RFC 8613 §6.1): a zero-copy view and its `Repr`.
//!
//! ```text
//!  0 1 2 3 4 5 6 7
//! +-+-+-+-+-+-+-+-+------------+---------+-------------------+-------------+
//! |0 0 0|h|k|  n  | Partial IV | s (if h)| kid context (if h)| kid (if k)  |
//! +-+-+-+-+-+-+-+-+------------+---------+-------------------+-------------+
//! ```
//!
//! `n` is the Partial IV length (0–5; 6 and 7 are reserved), `k` says a kid follows (it runs
//! to the end of the value), `h` says a one-byte length `s` and a kid context follow. The
//! three high bits are reserved for RFC 8613; Group OSCORE (RFC 10021 §4.2) uses the lowest of
//! them (0x20) as its Group Flag: set for a message in group mode, which
//! [`OscoreOption::new_checked_group`] accepts and [`OscoreOption::new_checked`] refuses. An
//! all-zero flag byte is sent as an empty value. Parsing holds no keys and no state.

use super::Error;

/// Longest Partial IV (40-bit sequence numbers).
pub const MAX_PIV_LEN: usize = 5;

mod flag {
    pub const N_MASK: u8 = 0x07;
    pub const K: u8 = 0x08;
    pub const H: u8 = 0x10;
    pub const GROUP: u8 = 0x20;
    pub const RESERVED: u8 = 0xe0;
}

/// A checked view of an OSCORE option value.
#[derive(Debug, Clone)]
pub struct OscoreOption<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> OscoreOption<T> {
    /// Checks the flag byte and that every announced field is present (RFC 8613: every
    /// reserved bit clear).
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        Self::check(buffer, flag::RESERVED)
    }

    /// As [`OscoreOption::new_checked`], for a Group OSCORE endpoint: the Group Flag may be set.
    pub fn new_checked_group(buffer: T) -> Result<Self, Error> {
        Self::check(buffer, flag::RESERVED & !flag::GROUP)
    }

    fn check(buffer: T, reserved: u8) -> Result<Self, Error> {
        let b = buffer.as_ref();
        let Some(&flags) = b.first() else {
            return Ok(OscoreOption { buffer });
        };
        if flags == 0 || flags & reserved != 0 {
            return Err(Error::MalformedOption);
        }
        let n = usize::from(flags & flag::N_MASK);
        if n > MAX_PIV_LEN {
            return Err(Error::MalformedOption);
        }
        let mut pos = 1 + n;
        if b.len() < pos {
            return Err(Error::MalformedOption);
        }
        if flags & flag::H != 0 {
            let s = usize::from(*b.get(pos).ok_or(Error::MalformedOption)?);
            pos += 1 + s;
            if b.len() < pos {
                return Err(Error::MalformedOption);
            }
        }
        if flags & flag::K == 0 && b.len() != pos {
            return Err(Error::MalformedOption);
        }
        Ok(OscoreOption { buffer })
    }

    fn bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// The flag byte (0 for an empty value).
    pub fn flags(&self) -> u8 {
        self.bytes().first().copied().unwrap_or(0)
    }

    fn piv_end(&self) -> usize {
        if self.bytes().is_empty() {
            0
        } else {
            1 + usize::from(self.flags() & flag::N_MASK)
        }
    }

    /// Whether the Group Flag is set (a Group OSCORE message in group mode).
    pub fn group_flag(&self) -> bool {
        self.flags() & flag::GROUP != 0
    }

    /// The Partial IV, if present.
    pub fn partial_iv(&self) -> Option<&[u8]> {
        let end = self.piv_end();
        (end > 1).then(|| &self.bytes()[1..end])
    }

    fn kid_context_range(&self) -> Option<core::ops::Range<usize>> {
        if self.flags() & flag::H == 0 {
            return None;
        }
        let at = self.piv_end();
        let s = usize::from(self.bytes()[at]);
        Some(at + 1..at + 1 + s)
    }

    /// The kid context, if present.
    pub fn kid_context(&self) -> Option<&[u8]> {
        self.kid_context_range().map(|r| &self.bytes()[r])
    }

    /// The kid, if present (possibly empty).
    pub fn kid(&self) -> Option<&[u8]> {
        if self.flags() & flag::K == 0 {
            return None;
        }
        let start = self.kid_context_range().map_or(self.piv_end(), |r| r.end);
        Some(&self.bytes()[start..])
    }
}

/// The meaning of an OSCORE option value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Repr<'a> {
    /// Partial IV (1–5 bytes), if sent.
    pub partial_iv: Option<&'a [u8]>,
    /// kid context (at most 255 bytes), if sent.
    pub kid_context: Option<&'a [u8]>,
    /// kid (the sender id), if sent.
    pub kid: Option<&'a [u8]>,
}

impl<'a> Repr<'a> {
    /// Reads a checked option.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(opt: &'a OscoreOption<&'a T>) -> Self {
        Repr {
            partial_iv: opt.partial_iv(),
            kid_context: opt.kid_context(),
            kid: opt.kid(),
        }
    }

    fn check(&self) -> Result<(), Error> {
        if self
            .partial_iv
            .is_some_and(|p| p.is_empty() || p.len() > MAX_PIV_LEN)
            || self.kid_context.is_some_and(|c| c.len() > 255)
        {
            return Err(Error::MalformedOption);
        }
        Ok(())
    }

    /// Encoded length (0 when nothing is sent).
    pub fn buffer_len(&self) -> usize {
        let body = self.partial_iv.map_or(0, <[u8]>::len)
            + self.kid_context.map_or(0, |c| 1 + c.len())
            + self.kid.map_or(0, <[u8]>::len);
        if body == 0 && self.kid.is_none() {
            0
        } else {
            1 + body
        }
    }

    /// Writes the option value; returns its length.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, Error> {
        self.check()?;
        let len = self.buffer_len();
        if out.len() < len {
            return Err(Error::BufferTooSmall);
        }
        if len == 0 {
            return Ok(0);
        }
        let mut flags = 0u8;
        let mut pos = 1;
        if let Some(p) = self.partial_iv {
            flags |= p.len() as u8;
            out[pos..pos + p.len()].copy_from_slice(p);
            pos += p.len();
        }
        if let Some(c) = self.kid_context {
            flags |= flag::H;
            out[pos] = c.len() as u8;
            out[pos + 1..pos + 1 + c.len()].copy_from_slice(c);
            pos += 1 + c.len();
        }
        if let Some(k) = self.kid {
            flags |= flag::K;
            out[pos..pos + k.len()].copy_from_slice(k);
        }
        out[0] = flags;
        Ok(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 8613 C.6: Partial IV 0x14, kid context 0x37cbf3210017a2d3, empty kid.
    static C6: [u8; 11] = [
        0x19, 0x14, 0x08, 0x37, 0xcb, 0xf3, 0x21, 0x00, 0x17, 0xa2, 0xd3,
    ];
    static CTX: [u8; 8] = [0x37, 0xcb, 0xf3, 0x21, 0x00, 0x17, 0xa2, 0xd3];

    #[test]
    fn test_deconstruct() {
        let o = OscoreOption::new_checked(&C6[..]).unwrap();
        assert_eq!(o.flags(), 0x19);
        assert_eq!(o.partial_iv(), Some(&[0x14][..]));
        assert_eq!(o.kid_context(), Some(&CTX[..]));
        assert_eq!(o.kid(), Some(&[][..]));
    }

    #[test]
    fn test_parse_and_emit() {
        let o = OscoreOption::new_checked(&C6[..]).unwrap();
        let r = Repr::parse(&o);
        assert_eq!(
            r,
            Repr {
                partial_iv: Some(&[0x14]),
                kid_context: Some(&CTX),
                kid: Some(&[]),
            }
        );
        let mut out = [0u8; 16];
        assert_eq!(r.buffer_len(), C6.len());
        let n = r.emit(&mut out).unwrap();
        assert_eq!(&out[..n], &C6[..]);
    }

    #[test]
    fn empty_and_simple_values() {
        // C.7's response: nothing sent, an empty option.
        let r = Repr::default();
        assert_eq!(r.buffer_len(), 0);
        assert_eq!(r.emit(&mut []), Ok(0));
        let o = OscoreOption::new_checked(&[][..]).unwrap();
        assert_eq!(Repr::parse(&o), r);
        // C.5's request: Partial IV 0x14, kid 0x00.
        let o = OscoreOption::new_checked(&[0x09, 0x14, 0x00][..]).unwrap();
        assert_eq!(o.kid(), Some(&[0u8][..]));
        assert_eq!(o.kid_context(), None);
        // C.8's response: Partial IV 0x00 only.
        let o = OscoreOption::new_checked(&[0x01, 0x00][..]).unwrap();
        assert_eq!(o.partial_iv(), Some(&[0u8][..]));
        assert_eq!(o.kid(), None);
    }

    #[test]
    fn refuses_malformed() {
        for bad in [
            &[0x00u8][..],             // zero flags must be sent as an empty value
            &[0x20],                   // reserved bit (Group OSCORE)
            &[0x06, 1, 2, 3, 4, 5, 6], // n = 6 is reserved
            &[0x02, 0x01],             // Partial IV cut short
            &[0x11, 0x01],             // h without s
            &[0x11, 0x01, 0x03, 0xaa], // kid context cut short
            &[0x01, 0x01, 0x77],       // trailing bytes without k
        ] {
            assert_eq!(
                OscoreOption::new_checked(bad).err(),
                Some(Error::MalformedOption),
                "{bad:x?}"
            );
        }
        let too_long = Repr {
            partial_iv: Some(&[1, 2, 3, 4, 5, 6]),
            ..Repr::default()
        };
        assert_eq!(too_long.emit(&mut [0; 16]), Err(Error::MalformedOption));
    }

    #[test]
    fn the_group_flag_only_for_group_endpoints() {
        // aiocoap's group-mode request: Group Flag, h, k, one-byte Partial IV 0x14, the Gid
        // 37cbf3210017a2d3 as kid context, kid 0x25.
        let v = [
            0x39, 0x14, 0x08, 0x37, 0xcb, 0xf3, 0x21, 0x00, 0x17, 0xa2, 0xd3, 0x25,
        ];
        assert_eq!(
            OscoreOption::new_checked(&v[..]).err(),
            Some(Error::MalformedOption)
        );
        let o = OscoreOption::new_checked_group(&v[..]).unwrap();
        assert!(o.group_flag());
        assert_eq!(o.partial_iv(), Some(&[0x14u8][..]));
        assert_eq!(
            o.kid_context(),
            Some(&[0x37, 0xcb, 0xf3, 0x21, 0x00, 0x17, 0xa2, 0xd3][..])
        );
        assert_eq!(o.kid(), Some(&[0x25u8][..]));
        // The two top bits stay reserved; a pairwise-mode message has no Group Flag.
        for bad in [[0x49u8, 0x14], [0x89, 0x14]] {
            assert!(OscoreOption::new_checked_group(&bad[..]).is_err());
        }
        assert!(!OscoreOption::new_checked_group(&[0x09, 0x14, 0x25][..])
            .unwrap()
            .group_flag());
    }
}
