//! Minimal CoAP (RFC 7252) message view and emitter: header, token, options and payload.
//!
//! Only what OSCORE needs: [`Packet`] checks a whole message once (header, token length,
//! every option, the payload marker) so that its accessors cannot fail, and [`Repr`] emits a
//! message from sorted options. No state, no keys, no retransmission logic: that belongs to
//! the caller's transport. [`option_class`] says which options OSCORE encrypts (class E) and
//! which stay readable for proxies (class U), as in RFC 8613 §4.1.

use super::Error;

/// The only CoAP version.
pub const VERSION: u8 = 1;
/// Marks the start of the payload.
pub const PAYLOAD_MARKER: u8 = 0xff;
/// Longest token (RFC 7252 §3).
pub const MAX_TOKEN_LEN: usize = 8;

/// Request and response codes used here (class.detail packed as `c << 5 | dd`).
pub mod code {
    /// 0.00, an empty message.
    pub const EMPTY: u8 = 0x00;
    /// 0.01 GET.
    pub const GET: u8 = 0x01;
    /// 0.02 POST.
    pub const POST: u8 = 0x02;
    /// 0.03 PUT.
    pub const PUT: u8 = 0x03;
    /// 0.04 DELETE.
    pub const DELETE: u8 = 0x04;
    /// 0.05 FETCH.
    pub const FETCH: u8 = 0x05;
    /// 2.04 Changed.
    pub const CHANGED: u8 = 0x44;
    /// 2.05 Content.
    pub const CONTENT: u8 = 0x45;
    /// 4.00 Bad Request.
    pub const BAD_REQUEST: u8 = 0x80;
    /// 4.01 Unauthorized.
    pub const UNAUTHORIZED: u8 = 0x81;
    /// 4.02 Bad Option.
    pub const BAD_OPTION: u8 = 0x82;
    /// 4.04 Not Found.
    pub const NOT_FOUND: u8 = 0x84;
    /// 4.05 Method Not Allowed.
    pub const METHOD_NOT_ALLOWED: u8 = 0x85;
    /// 5.00 Internal Server Error.
    pub const INTERNAL_SERVER_ERROR: u8 = 0xa0;

    /// Whether `c` is a request method code (class 0, detail > 0).
    pub const fn is_request(c: u8) -> bool {
        c >> 5 == 0 && c != EMPTY
    }

    /// `c` as `"c.dd"` digits: class and detail.
    pub const fn split(c: u8) -> (u8, u8) {
        (c >> 5, c & 0x1f)
    }
}

/// Option numbers used here.
pub mod number {
    /// Uri-Host.
    pub const URI_HOST: u16 = 3;
    /// Observe.
    pub const OBSERVE: u16 = 6;
    /// Uri-Port.
    pub const URI_PORT: u16 = 7;
    /// OSCORE (RFC 8613 §2).
    pub const OSCORE: u16 = 9;
    /// Uri-Path.
    pub const URI_PATH: u16 = 11;
    /// Content-Format.
    pub const CONTENT_FORMAT: u16 = 12;
    /// Max-Age.
    pub const MAX_AGE: u16 = 14;
    /// Uri-Query.
    pub const URI_QUERY: u16 = 15;
    /// Proxy-Uri.
    pub const PROXY_URI: u16 = 35;
    /// Proxy-Scheme.
    pub const PROXY_SCHEME: u16 = 39;
    /// Echo (RFC 9175).
    pub const ECHO: u16 = 252;
}

/// CoAP message type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    /// CON: acknowledged and retransmitted.
    Confirmable,
    /// NON.
    NonConfirmable,
    /// ACK.
    Acknowledgement,
    /// RST.
    Reset,
}

impl MessageType {
    fn from_bits(b: u8) -> Self {
        match b & 3 {
            0 => MessageType::Confirmable,
            1 => MessageType::NonConfirmable,
            2 => MessageType::Acknowledgement,
            _ => MessageType::Reset,
        }
    }

    fn bits(self) -> u8 {
        match self {
            MessageType::Confirmable => 0,
            MessageType::NonConfirmable => 1,
            MessageType::Acknowledgement => 2,
            MessageType::Reset => 3,
        }
    }
}

/// Where OSCORE puts an option (RFC 8613 §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionClass {
    /// Class E: encrypted and integrity protected, inside the plaintext.
    Inner,
    /// Class U: left in the outer message for proxies (Uri-Host, Uri-Port, Proxy-Scheme).
    Outer,
    /// Needs processing this implementation does not do (Proxy-Uri decomposition, Observe,
    /// the OSCORE option itself inside a plaintext).
    Unsupported,
}

/// The OSCORE class of option `number`. Options that RFC 8613 lists as both E and U (Max-Age,
/// Block1/2, Size1/2, No-Response) are kept inner only: this implementation does no outer
/// block-wise transfer or proxy caching. Unknown options are class E, as §4.1 requires.
pub const fn option_class(number: u16) -> OptionClass {
    match number {
        number::URI_HOST | number::URI_PORT | number::PROXY_SCHEME => OptionClass::Outer,
        number::OSCORE | number::PROXY_URI | number::OBSERVE => OptionClass::Unsupported,
        _ => OptionClass::Inner,
    }
}

/// One option: its number and value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoapOption<'a> {
    /// Option number.
    pub number: u16,
    /// Option value (opaque bytes).
    pub value: &'a [u8],
}

impl<'a> CoapOption<'a> {
    /// An option with `number` and `value`.
    pub const fn new(number: u16, value: &'a [u8]) -> Self {
        CoapOption { number, value }
    }
}

/// Reads one option at the start of `data`; `None` at the end or at the payload marker.
/// Returns the option and the bytes it used.
fn read_option(data: &[u8], prev: u16) -> Result<Option<(CoapOption<'_>, usize)>, Error> {
    let Some(&first) = data.first() else {
        return Ok(None);
    };
    if first == PAYLOAD_MARKER {
        return Ok(None);
    }
    let mut pos = 1;
    let mut ext = |nibble: u8| -> Result<u32, Error> {
        match nibble {
            0..=12 => Ok(u32::from(nibble)),
            13 => {
                let b = *data.get(pos).ok_or(Error::Malformed)?;
                pos += 1;
                Ok(13 + u32::from(b))
            }
            14 => {
                let b = data.get(pos..pos + 2).ok_or(Error::Malformed)?;
                pos += 2;
                Ok(269 + u32::from(u16::from_be_bytes([b[0], b[1]])))
            }
            _ => Err(Error::Malformed),
        }
    };
    let delta = ext(first >> 4)?;
    let len = ext(first & 0x0f)? as usize;
    let number = u32::from(prev) + delta;
    let number = u16::try_from(number).map_err(|_| Error::Malformed)?;
    let value = data.get(pos..pos + len).ok_or(Error::Malformed)?;
    Ok(Some((CoapOption { number, value }, pos + len)))
}

/// Checks a run of options (and an optional payload after the marker); returns where the
/// options end (the marker's index, or `data.len()`).
fn check_options(data: &[u8]) -> Result<usize, Error> {
    let mut pos = 0;
    let mut prev = 0;
    while let Some((opt, used)) = read_option(&data[pos..], prev)? {
        prev = opt.number;
        pos += used;
    }
    if pos < data.len() && pos + 1 == data.len() {
        // A marker with nothing after it (RFC 7252 §3: a message format error).
        return Err(Error::Malformed);
    }
    Ok(pos)
}

/// Iterator over options already checked by [`Packet::new_checked`] or [`Inner::parse`].
#[derive(Debug, Clone)]
pub struct Options<'a> {
    data: &'a [u8],
    prev: u16,
}

impl<'a> Options<'a> {
    /// Options from bytes already checked; stops early (never panics) if they are not.
    pub(crate) fn checked(data: &'a [u8]) -> Self {
        Options { data, prev: 0 }
    }
}

impl<'a> Iterator for Options<'a> {
    type Item = CoapOption<'a>;
    fn next(&mut self) -> Option<CoapOption<'a>> {
        match read_option(self.data, self.prev) {
            Ok(Some((opt, used))) => {
                self.prev = opt.number;
                self.data = &self.data[used..];
                Some(opt)
            }
            _ => None,
        }
    }
}

mod field {
    pub const VER_T_TKL: usize = 0;
    pub const CODE: usize = 1;
    pub const MID: core::ops::Range<usize> = 2..4;
    pub const TOKEN: usize = 4;
}

/// Length of the fixed header.
pub const HEADER_LEN: usize = 4;

/// A read-only view of a checked CoAP message.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
    options_end: usize,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Checks the whole message: version 1, token length at most 8, every option well formed,
    /// and a payload marker only if a payload follows.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::Malformed);
        }
        if b[field::VER_T_TKL] >> 6 != VERSION {
            return Err(Error::Malformed);
        }
        let tkl = usize::from(b[field::VER_T_TKL] & 0x0f);
        if tkl > MAX_TOKEN_LEN || b.len() < HEADER_LEN + tkl {
            return Err(Error::Malformed);
        }
        let start = HEADER_LEN + tkl;
        let options_end = start + check_options(&b[start..])?;
        Ok(Packet {
            buffer,
            options_end,
        })
    }

    fn bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Message type.
    pub fn msg_type(&self) -> MessageType {
        MessageType::from_bits(self.bytes()[field::VER_T_TKL] >> 4)
    }

    /// Code byte (`class << 5 | detail`).
    pub fn code(&self) -> u8 {
        self.bytes()[field::CODE]
    }

    /// Message id.
    pub fn message_id(&self) -> u16 {
        let b = &self.bytes()[field::MID];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// Token.
    pub fn token(&self) -> &[u8] {
        let tkl = usize::from(self.bytes()[field::VER_T_TKL] & 0x0f);
        &self.bytes()[field::TOKEN..field::TOKEN + tkl]
    }

    /// The options, in order.
    pub fn options(&self) -> Options<'_> {
        let start = field::TOKEN + self.token().len();
        Options::checked(&self.bytes()[start..self.options_end])
    }

    /// The first option with `number`.
    pub fn option(&self, number: u16) -> Option<&[u8]> {
        self.options().find(|o| o.number == number).map(|o| o.value)
    }

    /// Where the payload lies in the buffer (empty when there is none).
    pub fn payload_range(&self) -> core::ops::Range<usize> {
        let len = self.bytes().len();
        if self.options_end < len {
            self.options_end + 1..len
        } else {
            len..len
        }
    }

    /// The payload.
    pub fn payload(&self) -> &[u8] {
        &self.bytes()[self.payload_range()]
    }

    /// Gives back the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
}

/// Encoded length of one option's delta or length nibble extension.
const fn ext_len(v: usize) -> usize {
    if v < 13 {
        0
    } else if v < 269 {
        1
    } else {
        2
    }
}

const MAX_OPTION_FIELD: usize = 269 + u16::MAX as usize;

/// Encoded length of `options` (which must be sorted by number).
pub fn options_len<'a>(options: impl IntoIterator<Item = CoapOption<'a>>) -> Result<usize, Error> {
    let mut prev = 0u16;
    let mut len = 0usize;
    for o in options {
        let delta = o.number.checked_sub(prev).ok_or(Error::UnsortedOptions)?;
        if o.value.len() > MAX_OPTION_FIELD {
            return Err(Error::Malformed);
        }
        len += 1 + ext_len(usize::from(delta)) + ext_len(o.value.len()) + o.value.len();
        prev = o.number;
    }
    Ok(len)
}

fn nibble(v: usize, out: &mut [u8]) -> (u8, usize) {
    if v < 13 {
        (v as u8, 0)
    } else if v < 269 {
        out[0] = (v - 13) as u8;
        (13, 1)
    } else {
        out[..2].copy_from_slice(&((v - 269) as u16).to_be_bytes());
        (14, 2)
    }
}

/// Writes `options` (sorted by number) at the start of `out`; returns the bytes written.
/// Takes any iterator, so callers can filter and merge option lists without copying them.
pub fn emit_options<'a>(
    options: impl IntoIterator<Item = CoapOption<'a>>,
    out: &mut [u8],
) -> Result<usize, Error> {
    let mut pos = 0;
    let mut prev = 0u16;
    for o in options {
        let delta = o.number.checked_sub(prev).ok_or(Error::UnsortedOptions)?;
        if o.value.len() > MAX_OPTION_FIELD {
            return Err(Error::Malformed);
        }
        let mut ext = [0u8; 4];
        let (d, dl) = nibble(usize::from(delta), &mut ext[..2]);
        let (l, ll) = nibble(o.value.len(), &mut ext[2..]);
        let need = 1 + dl + ll + o.value.len();
        let dst = out.get_mut(pos..pos + need).ok_or(Error::BufferTooSmall)?;
        dst[0] = d << 4 | l;
        dst[1..1 + dl].copy_from_slice(&ext[..dl]);
        dst[1 + dl..1 + dl + ll].copy_from_slice(&ext[2..2 + ll]);
        dst[1 + dl + ll..].copy_from_slice(o.value);
        pos += need;
        prev = o.number;
    }
    Ok(pos)
}

/// Writes the fixed header and the token; returns the bytes written.
pub fn emit_header(
    msg_type: MessageType,
    code: u8,
    message_id: u16,
    token: &[u8],
    out: &mut [u8],
) -> Result<usize, Error> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(Error::Malformed);
    }
    let len = HEADER_LEN + token.len();
    let dst = out.get_mut(..len).ok_or(Error::BufferTooSmall)?;
    dst[field::VER_T_TKL] = VERSION << 6 | msg_type.bits() << 4 | token.len() as u8;
    dst[field::CODE] = code;
    dst[field::MID].copy_from_slice(&message_id.to_be_bytes());
    dst[field::TOKEN..].copy_from_slice(token);
    Ok(len)
}

/// A CoAP message to emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr<'a> {
    /// Message type.
    pub msg_type: MessageType,
    /// Code byte.
    pub code: u8,
    /// Message id.
    pub message_id: u16,
    /// Token (at most 8 bytes).
    pub token: &'a [u8],
    /// Options, sorted by number (equal numbers keep their order).
    pub options: &'a [CoapOption<'a>],
    /// Payload.
    pub payload: &'a [u8],
}

impl Repr<'_> {
    /// Length of the header, token and options (and the payload marker if a payload follows).
    pub fn head_len(&self) -> Result<usize, Error> {
        if self.token.len() > MAX_TOKEN_LEN {
            return Err(Error::Malformed);
        }
        let marker = usize::from(!self.payload.is_empty());
        Ok(HEADER_LEN + self.token.len() + options_len(self.options.iter().copied())? + marker)
    }

    /// Length of the emitted message.
    pub fn buffer_len(&self) -> Result<usize, Error> {
        Ok(self.head_len()? + self.payload.len())
    }

    /// Writes the header, token, options and (if there is a payload) the payload marker;
    /// returns the bytes written. The payload itself is left to the caller, so that it can
    /// be produced in place (e.g. encrypted).
    pub fn emit_head(&self, out: &mut [u8]) -> Result<usize, Error> {
        let head = self.head_len()?;
        if out.len() < head {
            return Err(Error::BufferTooSmall);
        }
        let mut pos = emit_header(self.msg_type, self.code, self.message_id, self.token, out)?;
        pos += emit_options(self.options.iter().copied(), &mut out[pos..])?;
        if !self.payload.is_empty() {
            out[pos] = PAYLOAD_MARKER;
            pos += 1;
        }
        Ok(pos)
    }

    /// Writes the whole message; returns its length.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, Error> {
        let total = self.buffer_len()?;
        if out.len() < total {
            return Err(Error::BufferTooSmall);
        }
        let head = self.emit_head(out)?;
        out[head..total].copy_from_slice(self.payload);
        Ok(total)
    }
}

/// The plaintext of an OSCORE message (RFC 8613 §5.3): code, class E options, payload.
#[derive(Debug, Clone)]
pub struct Inner<'a> {
    /// The real request method or response code.
    pub code: u8,
    options: &'a [u8],
    /// The payload (empty if none).
    pub payload: &'a [u8],
}

impl<'a> Inner<'a> {
    /// Checks a decrypted plaintext.
    pub fn parse(plaintext: &'a [u8]) -> Result<Self, Error> {
        let (&code, rest) = plaintext.split_first().ok_or(Error::Malformed)?;
        let end = check_options(rest)?;
        let payload = if end < rest.len() {
            &rest[end + 1..]
        } else {
            &[]
        };
        Ok(Inner {
            code,
            options: &rest[..end],
            payload,
        })
    }

    /// The inner options, in order.
    pub fn options(&self) -> Options<'a> {
        Options::checked(self.options)
    }

    /// The first inner option with `number`.
    pub fn option(&self, number: u16) -> Option<&'a [u8]> {
        self.options().find(|o| o.number == number).map(|o| o.value)
    }

    /// Encoded length of a plaintext with `code`, `options` and `payload`.
    pub fn encoded_len<'o>(
        options: impl IntoIterator<Item = CoapOption<'o>>,
        payload: &[u8],
    ) -> Result<usize, Error> {
        Ok(1 + options_len(options)? + usize::from(!payload.is_empty()) + payload.len())
    }

    /// Writes a plaintext; returns its length.
    pub fn emit<'o>(
        code: u8,
        options: impl IntoIterator<Item = CoapOption<'o>>,
        payload: &[u8],
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let (first, rest) = out.split_first_mut().ok_or(Error::BufferTooSmall)?;
        *first = code;
        let mut pos = emit_options(options, rest)?;
        if !payload.is_empty() {
            let dst = rest
                .get_mut(pos..pos + 1 + payload.len())
                .ok_or(Error::BufferTooSmall)?;
            dst[0] = PAYLOAD_MARKER;
            dst[1..].copy_from_slice(payload);
            pos += 1 + payload.len();
        }
        Ok(1 + pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 8613 C.4's unprotected request: CON GET, Uri-Host "localhost", Uri-Path "tv1".
    static REQUEST: [u8; 22] = [
        0x44, 0x01, 0x5d, 0x1f, 0x00, 0x00, 0x39, 0x74, 0x39, 0x6c, 0x6f, 0x63, 0x61, 0x6c, 0x68,
        0x6f, 0x73, 0x74, 0x83, 0x74, 0x76, 0x31,
    ];

    #[test]
    fn test_deconstruct() {
        let p = Packet::new_checked(&REQUEST[..]).unwrap();
        assert_eq!(p.msg_type(), MessageType::Confirmable);
        assert_eq!(p.code(), code::GET);
        assert_eq!(p.message_id(), 0x5d1f);
        assert_eq!(p.token(), [0, 0, 0x39, 0x74]);
        let opts: heapless::Vec<CoapOption<'_>, 4> = p.options().collect();
        assert_eq!(
            opts.as_slice(),
            [
                CoapOption::new(number::URI_HOST, b"localhost"),
                CoapOption::new(number::URI_PATH, b"tv1")
            ]
        );
        assert_eq!(p.payload(), b"");
    }

    #[test]
    fn test_construct() {
        let opts = [
            CoapOption::new(number::URI_HOST, b"localhost"),
            CoapOption::new(number::URI_PATH, b"tv1"),
        ];
        let repr = Repr {
            msg_type: MessageType::Confirmable,
            code: code::GET,
            message_id: 0x5d1f,
            token: &[0, 0, 0x39, 0x74],
            options: &opts,
            payload: b"",
        };
        let mut buf = [0u8; 32];
        let n = repr.emit(&mut buf).unwrap();
        assert_eq!(&buf[..n], &REQUEST[..]);
        assert_eq!(repr.buffer_len(), Ok(REQUEST.len()));
    }

    #[test]
    fn long_options_and_payload_round_trip() {
        let big = [7u8; 300];
        let opts = [
            CoapOption::new(number::URI_PATH, b"a"),
            CoapOption::new(number::URI_PATH, &big[..20]),
            CoapOption::new(number::ECHO, &big[..8]),
            CoapOption::new(2000, &big),
        ];
        let repr = Repr {
            msg_type: MessageType::NonConfirmable,
            code: code::POST,
            message_id: 9,
            token: b"tok",
            options: &opts,
            payload: b"hello",
        };
        let mut buf = [0u8; 512];
        let n = repr.emit(&mut buf).unwrap();
        let p = Packet::new_checked(&buf[..n]).unwrap();
        assert!(p.options().eq(opts.iter().copied()));
        assert_eq!(p.payload(), b"hello");
        assert_eq!(p.msg_type(), MessageType::NonConfirmable);
    }

    #[test]
    fn refuses_malformed() {
        for bad in [
            &[0x44u8, 1, 0][..],                // short header
            &[0x84, 1, 0, 0, 1, 2, 3, 4],       // version 2
            &[0x49, 1, 0, 0, 0, 0, 0, 0, 0, 0], // token length 9
            &[0x40, 1, 0, 0, 0xff],             // marker without payload
            &[0x40, 1, 0, 0, 0x13, 1],          // option value cut short
            &[0x40, 1, 0, 0, 0xf1, 1],          // delta nibble 15
            &[0x40, 1, 0, 0, 0xd0],             // extended delta missing
        ] {
            assert_eq!(
                Packet::new_checked(bad).err(),
                Some(Error::Malformed),
                "{bad:x?}"
            );
        }
        assert_eq!(
            options_len([CoapOption::new(11, b""), CoapOption::new(3, b"")]),
            Err(Error::UnsortedOptions)
        );
    }

    #[test]
    fn inner_parse_and_emit() {
        let opts = [CoapOption::new(number::URI_PATH, b"tv1")];
        let mut buf = [0u8; 16];
        let n = Inner::emit(code::GET, opts, b"", &mut buf).unwrap();
        assert_eq!(&buf[..n], [0x01, 0xb3, 0x74, 0x76, 0x31]);
        let i = Inner::parse(&buf[..n]).unwrap();
        assert_eq!(i.code, code::GET);
        assert_eq!(i.option(number::URI_PATH), Some(&b"tv1"[..]));
        assert_eq!(Inner::parse(&[]).err(), Some(Error::Malformed));
        assert_eq!(Inner::parse(&[0x45, 0xff]).err(), Some(Error::Malformed));
    }
}
