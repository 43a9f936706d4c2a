//! Protection and verification of requests and responses (RFC 8613 §8), with the endpoint's
//! mutable state: the sender sequence number and the replay window.
//!
//! Sequence numbers come from the core's [`Counter`] over any [`CounterStore`], so a number is
//! durably reserved before its nonce is used and never repeats across power loss (Appendix
//! B.1.1). Requests are checked against the core's [`ReplayWindow`]; the window is advanced only
//! after the tag verified. A server without a trustworthy window (state lost, Appendix B.1.2)
//! does not act on any request: it answers with a protected 4.01 carrying an Echo option
//! (RFC 9175) and initialises the window only from a request that returns that Echo value,
//! treating every earlier number as seen.
//!
//! Nothing is released before the tag verifies, and a failed decryption leaves the buffer
//! zeroed.

use super::coap::{self, code, number, CoapOption, Inner, MessageType, OptionClass, Packet};
use super::context::{Id, SecurityContext};
use super::cose::{self, PartialIv, MAX_AAD_LEN};
use super::option::{self, OscoreOption};
use super::Error;
use crate::counter::{Counter, CounterStore};
use crate::crypto::{AeadBackend, RustCryptoCcm};
use crate::replay::{OrderPolicy, ReplayWindow};
use crate::TAG_LEN;

/// Length of the Echo values this endpoint issues.
pub const ECHO_LEN: usize = 8;
/// Room for the OSCORE option value (flags, Partial IV, kid context, kid).
const MAX_OPTION_VALUE: usize =
    1 + option::MAX_PIV_LEN + 1 + super::MAX_ID_CONTEXT_LEN + super::MAX_ID_LEN;

/// What binds a response to its request: the request's kid and Partial IV (§7.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId {
    kid: Id,
    piv: PartialIv,
    reuse_nonce: bool,
}

impl RequestId {
    /// A request verified fresh: `kid` and Partial IV `piv`.
    #[cfg(feature = "group-oscore")]
    pub(crate) fn fresh(kid: Id, piv: PartialIv) -> Self {
        RequestId {
            kid,
            piv,
            reuse_nonce: true,
        }
    }

    /// An authentic request whose freshness is unknown: an answer takes its own Partial IV.
    #[cfg(feature = "group-oscore")]
    pub(crate) fn unconfirmed(kid: Id, piv: PartialIv) -> Self {
        RequestId {
            kid,
            piv,
            reuse_nonce: false,
        }
    }

    /// The kid of the request's sender.
    pub fn kid(&self) -> &[u8] {
        &self.kid
    }

    /// The request's Partial IV.
    pub fn partial_iv(&self) -> &[u8] {
        self.piv.as_bytes()
    }

    /// Whether a response may reuse the request's nonce (only when the request was verified
    /// fresh, so that nonce has protected nothing else under the server's key).
    pub fn may_reuse_nonce(&self) -> bool {
        self.reuse_nonce
    }
}

/// Header fields of the outer message (not protected; the transport's business).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outer<'a> {
    /// Message type.
    pub msg_type: MessageType,
    /// Message id.
    pub message_id: u16,
    /// Token.
    pub token: &'a [u8],
}

/// A message to protect: the real code, its options (sorted by number) and payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plain<'a> {
    /// Request method or response code.
    pub code: u8,
    /// Options, sorted by number; class U ones go outer, class E ones inner.
    pub options: &'a [CoapOption<'a>],
    /// Payload.
    pub payload: &'a [u8],
}

/// The result of verifying a request.
#[derive(Debug)]
pub enum Verified<'a> {
    /// Authentic and fresh: act on it and answer with [`Endpoint::protect_response`].
    Fresh {
        /// The decrypted request (code, inner options, payload).
        request: Inner<'a>,
        /// What the response must be bound to.
        id: RequestId,
    },
    /// Authentic, but the server holds no trustworthy replay window: do not act; answer with
    /// [`Endpoint::protect_echo_challenge`]. The plaintext has been wiped.
    EchoRequired {
        /// What the challenge must be bound to.
        id: RequestId,
    },
}

/// One OSCORE endpoint: a security context, its sender counter and its replay window.
pub struct Endpoint<S: CounterStore, A: AeadBackend = RustCryptoCcm> {
    ctx: SecurityContext<A>,
    counter: Counter<S>,
    window: Option<ReplayWindow<1>>,
    echo: Option<[u8; ECHO_LEN]>,
}

impl<S: CounterStore, A: AeadBackend> core::fmt::Debug for Endpoint<S, A> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Endpoint")
            .field("ctx", &self.ctx)
            .field("next_seq", &self.counter.peek())
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

pub(super) fn map_core(e: crate::Error) -> Error {
    match e {
        crate::Error::Replay => Error::Replay,
        crate::Error::TooOld | crate::Error::OutOfOrder => Error::TooOld,
        crate::Error::CounterExhausted => Error::CounterExhausted,
        crate::Error::CounterStore => Error::CounterStore,
        crate::Error::NoCounterRecord => Error::NoCounterRecord,
        crate::Error::BufferTooSmall => Error::BufferTooSmall,
        _ => Error::InvalidConfig,
    }
}

/// What a received OSCORE option said, copied out of the message.
struct Received {
    piv: Option<PartialIv>,
    kid: Option<Id>,
    kid_len_ok: bool,
    kid_context_ok: bool,
    payload: core::ops::Range<usize>,
}

/// The value of the message's one OSCORE option (two are malformed, none is not protected).
pub(super) fn oscore_value<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<&[u8], Error> {
    let mut found = None;
    for o in p.options() {
        if o.number == number::OSCORE {
            if found.is_some() {
                return Err(Error::MalformedOption);
            }
            found = Some(o.value);
        }
    }
    found.ok_or(Error::NotProtected)
}

fn read_oscore(buf: &[u8], id_context: Option<&[u8]>) -> Result<Received, Error> {
    let p = Packet::new_checked(buf)?;
    let value = oscore_value(&p)?;
    let opt = OscoreOption::new_checked(value)?;
    let piv = opt.partial_iv().map(PartialIv::from_bytes).transpose()?;
    let kid = opt.kid();
    Ok(Received {
        piv,
        kid: kid.and_then(|k| Id::from_slice(k).ok()),
        kid_len_ok: kid.map_or(true, |k| k.len() <= super::MAX_ID_LEN),
        kid_context_ok: match (opt.kid_context(), id_context) {
            (None, _) => true,
            (Some(got), Some(ours)) => got == ours,
            (Some(_), None) => false,
        },
        payload: p.payload_range(),
    })
}

impl<S: CounterStore, A: AeadBackend> Endpoint<S, A> {
    /// An endpoint over `ctx`, resuming its counter from `store` (reserving `block` numbers
    /// per write) with replay window `window`: a persisted window, or `None` when the window
    /// was lost. Without a verified window, requests need an Echo round trip before they are
    /// acted on. A store without a counter record is refused: see [`Endpoint::provision`].
    pub fn new(
        ctx: SecurityContext<A>,
        store: S,
        block: u64,
        window: Option<ReplayWindow<1>>,
    ) -> Result<Self, Error> {
        Ok(Endpoint {
            ctx,
            counter: Counter::boot(store, block).map_err(map_core)?,
            window,
            echo: None,
        })
    }

    /// An endpoint over a security context that was just created (its Sender ID never sealed
    /// under this Master Secret): the counter starts at 0 and the replay window is fresh.
    pub fn provision(ctx: SecurityContext<A>, store: S, block: u64) -> Result<Self, Error> {
        Ok(Endpoint {
            ctx,
            counter: Counter::provision(store, block).map_err(map_core)?,
            window: Some(ReplayWindow::provisioned()),
            echo: None,
        })
    }

    /// The security context.
    pub fn context(&self) -> &SecurityContext<A> {
        &self.ctx
    }

    /// The replay window, for persistence (`None` while it is not established).
    pub fn window(&self) -> Option<&ReplayWindow<1>> {
        self.window.as_ref()
    }

    /// The next sender sequence number.
    pub fn next_seq(&self) -> u64 {
        self.counter.peek()
    }

    /// Protects a request (§8.1) into `out`; returns its length and what the response will be
    /// bound to. The outer code is POST; Uri-Host, Uri-Port and Proxy-Scheme stay outer.
    pub fn protect_request(
        &mut self,
        outer: Outer<'_>,
        plain: &Plain<'_>,
        out: &mut [u8],
    ) -> Result<(usize, RequestId), Error> {
        if !code::is_request(plain.code) {
            return Err(Error::InvalidConfig);
        }
        let piv = PartialIv::from_seq(self.counter.take().map_err(map_core)?)?;
        let id = RequestId {
            kid: self.ctx.sender_id.clone(),
            piv,
            reuse_nonce: true,
        };
        let repr = option::Repr {
            partial_iv: Some(piv.as_bytes()),
            kid_context: self.ctx.id_context.as_deref(),
            kid: Some(&self.ctx.sender_id),
        };
        let nonce = cose::nonce(&self.ctx.common_iv, &self.ctx.sender_id, &piv)?;
        let n = seal(
            &self.ctx.sender,
            &nonce,
            &id,
            &repr,
            outer,
            code::POST,
            plain,
            out,
        )?;
        Ok((n, id))
    }

    /// Verifies a response to the request `req` (§8.4) in place and returns its plaintext.
    /// The response is bound to the request through the AAD; it may carry its own Partial IV.
    pub fn unprotect_response<'b>(
        &self,
        req: &RequestId,
        buf: &'b mut [u8],
    ) -> Result<Inner<'b>, Error> {
        let r = read_oscore(buf, self.ctx.id_context.as_deref())?;
        if !r.kid_len_ok || r.kid.as_ref().is_some_and(|k| *k != self.ctx.recipient_id) {
            return Err(Error::UnknownKid);
        }
        if !r.kid_context_ok {
            return Err(Error::UnknownKidContext);
        }
        let nonce = match &r.piv {
            Some(piv) => cose::nonce(&self.ctx.common_iv, &self.ctx.recipient_id, piv)?,
            None => cose::nonce(&self.ctx.common_iv, &req.kid, &req.piv)?,
        };
        let pt = open(&self.ctx.recipient, &nonce, req, &mut buf[r.payload])?;
        Inner::parse(pt)
    }

    /// Verifies a request (§8.2) in place: kid and kid context must match the context, the
    /// tag must verify, the Partial IV must pass the replay window (judged after the tag, so a
    /// request under another key is refused as a decryption failure). The window is advanced
    /// only then.
    pub fn unprotect_request<'b>(&mut self, buf: &'b mut [u8]) -> Result<Verified<'b>, Error> {
        let r = read_oscore(buf, self.ctx.id_context.as_deref())?;
        match &r.kid {
            Some(k) if *k == self.ctx.recipient_id => {}
            _ => return Err(Error::UnknownKid),
        }
        if !r.kid_context_ok {
            return Err(Error::UnknownKidContext);
        }
        let piv = r.piv.ok_or(Error::MissingPartialIv)?;
        let seq = piv.seq();
        // Only a verified window vouches for freshness (a window rebuilt from persisted parts
        // may say it is not).
        let trusted = self.window.as_ref().is_some_and(ReplayWindow::is_verified);
        // The window's verdict is given only for a request whose tag verifies: a request under
        // another key is "Decryption failed" whatever its Partial IV, not "Replay detected",
        // which would send its sender looking for a state problem it does not have.
        let replayed = self
            .window
            .as_ref()
            .and_then(|w| w.check(seq, OrderPolicy::Window).err());
        let mut id = RequestId {
            kid: self.ctx.recipient_id.clone(),
            piv,
            reuse_nonce: true,
        };
        let nonce = cose::nonce(&self.ctx.common_iv, &self.ctx.recipient_id, &piv)?;
        let pt = open(&self.ctx.recipient, &nonce, &id, &mut buf[r.payload])?;
        if let Some(e) = replayed {
            pt.fill(0);
            return Err(map_core(e));
        }
        let fresh = match Inner::parse(pt) {
            Err(e) => {
                pt.fill(0);
                return Err(e);
            }
            Ok(request) => match (trusted, self.echo, request.option(number::ECHO)) {
                (true, _, _) => true,
                (false, Some(ours), Some(theirs)) => ours[..] == *theirs,
                (false, _, _) => false,
            },
        };
        if !fresh {
            // Not acted on: wipe what was decrypted.
            pt.fill(0);
            id.reuse_nonce = false;
            return Ok(Verified::EchoRequired { id });
        }
        match &mut self.window {
            Some(w) => {
                w.accept(seq);
                if !trusted {
                    // Everything up to here may be a recording: never fresh from now on.
                    w.verify_from_here();
                    self.echo = None;
                }
            }
            None => {
                let mut w = ReplayWindow::unverified_at(seq);
                w.verify_from_here();
                self.window = Some(w);
                self.echo = None;
            }
        }
        let pt: &'b [u8] = pt;
        Ok(Verified::Fresh {
            request: Inner::parse(pt)?,
            id,
        })
    }

    /// Protects a response (§8.3) to request `req`. It reuses the request's nonce (no Partial
    /// IV sent) unless `own_piv` is set or the request was not verified fresh, in which case it
    /// takes a new sequence number. The outer code is 2.04 Changed.
    pub fn protect_response(
        &mut self,
        req: &RequestId,
        outer: Outer<'_>,
        plain: &Plain<'_>,
        own_piv: bool,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        if code::is_request(plain.code) {
            return Err(Error::InvalidConfig);
        }
        let fresh;
        let (nonce, repr) = if own_piv || !req.reuse_nonce {
            fresh = PartialIv::from_seq(self.counter.take().map_err(map_core)?)?;
            (
                cose::nonce(&self.ctx.common_iv, &self.ctx.sender_id, &fresh)?,
                option::Repr {
                    partial_iv: Some(fresh.as_bytes()),
                    ..option::Repr::default()
                },
            )
        } else {
            (
                cose::nonce(&self.ctx.common_iv, &req.kid, &req.piv)?,
                option::Repr::default(),
            )
        };
        seal(
            &self.ctx.sender,
            &nonce,
            req,
            &repr,
            outer,
            code::CHANGED,
            plain,
            out,
        )
    }

    /// Answers a request that could not be verified fresh (Appendix B.1.2): a protected 4.01
    /// Unauthorized carrying `echo` (fresh random bytes from the caller), under a new Partial
    /// IV. The next request that returns `echo` initialises the replay window.
    pub fn protect_echo_challenge(
        &mut self,
        req: &RequestId,
        outer: Outer<'_>,
        echo: [u8; ECHO_LEN],
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let opts = [CoapOption::new(number::ECHO, &echo)];
        let plain = Plain {
            code: code::UNAUTHORIZED,
            options: &opts,
            payload: &[],
        };
        let n = self.protect_response(req, outer, &plain, true, out)?;
        self.echo = Some(echo);
        Ok(n)
    }
}

/// Decrypts `ct ‖ tag` in place with the RFC 8613 AAD bound to `req`; returns the plaintext
/// part. Wipes it on failure.
fn open<'b, A: AeadBackend>(
    aead: &A,
    nonce: &[u8; crate::NONCE_LEN],
    req: &RequestId,
    ct: &'b mut [u8],
) -> Result<&'b mut [u8], Error> {
    let mut aad = [0u8; MAX_AAD_LEN];
    let n = cose::aad(&req.kid, req.piv.as_bytes(), &mut aad)?;
    open_parts(aead, nonce, &aad[..n], ct)
}

/// Decrypts `ct ‖ tag` in place with the associated data `aad` as given (Group OSCORE builds
/// its own); returns the plaintext part. Wipes it on failure.
pub(super) fn open_parts<'b, A: AeadBackend>(
    aead: &A,
    nonce: &[u8; crate::NONCE_LEN],
    aad: &[u8],
    ct: &'b mut [u8],
) -> Result<&'b mut [u8], Error> {
    if ct.len() < TAG_LEN + 1 {
        return Err(Error::Malformed);
    }
    let split = ct.len() - TAG_LEN;
    let (body, tag) = ct.split_at_mut(split);
    let mut t = [0u8; TAG_LEN];
    t.copy_from_slice(tag);
    if aead.open_in_place(nonce, aad, body, &t).is_err() {
        body.fill(0);
        return Err(Error::DecryptFailed);
    }
    Ok(body)
}

/// Parses a decrypted plaintext, wiping it if it is not a well-formed inner message.
#[cfg(feature = "group-oscore")]
pub(super) fn parse_or_wipe(body: &mut [u8]) -> Result<Inner<'_>, Error> {
    if let Err(e) = Inner::parse(body) {
        body.fill(0);
        return Err(e);
    }
    let body: &[u8] = body;
    Inner::parse(body)
}

/// Builds the outer message around the encrypted plaintext of `plain`, with the RFC 8613
/// OSCORE option `opt` and the AAD bound to the request `req`.
#[allow(clippy::too_many_arguments)]
fn seal<A: AeadBackend>(
    aead: &A,
    nonce: &[u8; crate::NONCE_LEN],
    req: &RequestId,
    opt: &option::Repr<'_>,
    outer: Outer<'_>,
    outer_code: u8,
    plain: &Plain<'_>,
    out: &mut [u8],
) -> Result<usize, Error> {
    let mut value = [0u8; MAX_OPTION_VALUE];
    let vlen = opt.emit(&mut value)?;
    let mut aad = [0u8; MAX_AAD_LEN];
    let n = cose::aad(&req.kid, req.piv.as_bytes(), &mut aad)?;
    seal_parts(
        aead,
        nonce,
        &value[..vlen],
        &aad[..n],
        outer,
        outer_code,
        plain,
        out,
    )
}

/// Builds the outer message around the encrypted plaintext of `plain`, with the OSCORE
/// option value `option_value` and the AEAD's associated data `aad` as given (Group OSCORE
/// builds both its own way). Returns the message's length; the ciphertext is its end.
#[allow(clippy::too_many_arguments)]
pub(super) fn seal_parts<A: AeadBackend>(
    aead: &A,
    nonce: &[u8; crate::NONCE_LEN],
    option_value: &[u8],
    aad: &[u8],
    outer: Outer<'_>,
    outer_code: u8,
    plain: &Plain<'_>,
    out: &mut [u8],
) -> Result<usize, Error> {
    if plain
        .options
        .iter()
        .any(|o| coap::option_class(o.number) == OptionClass::Unsupported)
    {
        return Err(Error::UnsupportedOption);
    }
    let oscore = CoapOption::new(number::OSCORE, option_value);
    // Views over the caller's sorted list: nothing is copied, and both stay sorted.
    let class = |c: OptionClass| move |o: &CoapOption<'_>| coap::option_class(o.number) == c;
    let inner = || {
        plain
            .options
            .iter()
            .copied()
            .filter(class(OptionClass::Inner))
    };
    let outer_opts = || {
        let all = plain
            .options
            .iter()
            .copied()
            .filter(class(OptionClass::Outer));
        all.clone()
            .filter(|o| o.number < number::OSCORE)
            .chain(core::iter::once(oscore))
            .chain(all.filter(|o| o.number > number::OSCORE))
    };

    let pt_len = Inner::encoded_len(inner(), plain.payload)?;
    let start = coap::HEADER_LEN + outer.token.len() + coap::options_len(outer_opts())? + 1;
    let total = start + pt_len + TAG_LEN;
    if out.len() < total {
        return Err(Error::BufferTooSmall);
    }
    let mut pos = coap::emit_header(
        outer.msg_type,
        outer_code,
        outer.message_id,
        outer.token,
        out,
    )?;
    pos += coap::emit_options(outer_opts(), &mut out[pos..])?;
    out[pos] = coap::PAYLOAD_MARKER;
    Inner::emit(
        plain.code,
        inner(),
        plain.payload,
        &mut out[start..start + pt_len],
    )?;
    let tag = aead
        .seal_in_place(nonce, aad, &mut out[start..start + pt_len])
        .map_err(|_| Error::BufferTooSmall)?;
    out[start + pt_len..total].copy_from_slice(&tag);
    Ok(total)
}
