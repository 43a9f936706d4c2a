//! Group OSCORE requests: a member protecting them ([`GroupClient`]) in group mode (RFC 10021
//! §8.1) or in pairwise mode to one member (§9.2), and a server verifying both ([`GroupServer`],
//! §8.2 and §9.4). For a group-mode request the server checks the OSCORE option with the Group
//! Flag and the group's Gid, the sender found by its kid among the members this server knows,
//! the countersignature verified under that member's public key, the replay window of that
//! member, then the AEAD under its group-mode key. A pairwise-mode request (no Group Flag, the
//! Gid as kid context) carries no countersignature: it is verified under the pairwise key the
//! two members share, which only they can derive, against the same replay window (a member has
//! one sequence number space for both modes).
//!
//! Nothing is released before both the countersignature and the tag verify, and the window
//! judges only an authentic request (a forged one cannot move it). The signature is checked
//! first: it covers the ciphertext, so a request another member rewrote with the group key it
//! also holds is refused as `bad_signature` before any decryption. Memory is fixed: up to `N`
//! members, and the caller lends the scratch buffer the signature's input is built in.

use ed25519_dalek::{SigningKey, VerifyingKey};
use zeroize::Zeroize;

use super::coap::{code, number, CoapOption, Inner, Packet};
use super::context::{Id, IdContext};
use super::cose::{self, PartialIv};
use super::endpoint::{
    map_core, open_parts, oscore_value, parse_or_wipe, seal_parts, Outer, Plain, RequestId,
};
use super::group::{
    countersign, encrypt0, keystream, to_be_signed, verify_countersignature, ExternalAad,
    GroupCommon, SIGNATURE_LEN,
};
use super::option::{self, OscoreOption};
use super::Error;
use super::ECHO_LEN;
use crate::counter::{Counter, CounterStore};
use crate::crypto::{AeadBackend, RustCryptoCcm};
use crate::replay::{OrderPolicy, ReplayWindow};
use crate::TAG_LEN;

/// Longest authentication credential held per member.
pub const MAX_CREDENTIAL_LEN: usize = 128;
/// Longest external AAD: the fixed fields, the ids, the Gid, the option and a credential.
const MAX_EXTERNAL_AAD: usize = 64 + MAX_CREDENTIAL_LEN;

/// A member this server accepts requests from.
pub struct Member<A: AeadBackend = RustCryptoCcm> {
    kid: Id,
    key: A,
    /// The server's pairwise Sender Key towards this member, for responses.
    response_key: Option<A>,
    /// The server's pairwise Recipient Key for this member, for its pairwise-mode requests.
    pairwise_key: Option<A>,
    /// The latest verified request not answered yet: the only one a response may reuse the
    /// nonce of, once.
    unanswered: Option<u64>,
    /// Whether `window` is this member's (false after the server lost it: its requests are
    /// answered with an Echo challenge until one returns it).
    known: bool,
    /// The Echo value of the latest challenge sent to this member.
    echo: Option<[u8; ECHO_LEN]>,
    credential: heapless::Vec<u8, MAX_CREDENTIAL_LEN>,
    verifying_key: VerifyingKey,
    window: ReplayWindow<1>,
}

impl<A: AeadBackend> core::fmt::Debug for Member<A> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Member")
            .field("kid", &self.kid)
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

impl Member<RustCryptoCcm> {
    /// A member with Sender ID `kid`, its group-mode Sender Key, its authentication
    /// credential and the public key in it, and a window for a member that has sent nothing
    /// yet (provisioned at group creation).
    pub fn new(
        kid: &[u8],
        group_key: &[u8; crate::KEY_LEN],
        credential: &[u8],
        verifying_key: VerifyingKey,
    ) -> Result<Self, Error> {
        Member::with_backend(
            kid,
            RustCryptoCcm::new(group_key),
            credential,
            verifying_key,
        )
    }

    /// Answers this member's requests in pairwise mode with `key`: the server's pairwise
    /// Sender Key towards it ([`super::group::pairwise_keys`], the server as `own`).
    pub fn answered_with(mut self, key: &[u8; crate::KEY_LEN]) -> Self {
        self.response_key = Some(RustCryptoCcm::new(key));
        self
    }

    /// Both pairwise keys the server holds with this member ([`super::group::pairwise_keys`],
    /// the server as `own`): its responses are sealed with `keys.sender_key`, and the member's
    /// pairwise-mode requests are verified with `keys.recipient_key`.
    pub fn pairwise(self, keys: &super::group::PairwiseKeys) -> Self {
        self.pairwise_with(
            RustCryptoCcm::new(&keys.sender_key),
            RustCryptoCcm::new(&keys.recipient_key),
        )
    }
}

impl<A: AeadBackend> Member<A> {
    /// [`Member::new`] with the AEAD under the member's group-mode Sender Key given as any
    /// [`AeadBackend`] (a platform's CCM engine, or a key held in a secure element).
    pub fn with_backend(
        kid: &[u8],
        group_key: A,
        credential: &[u8],
        verifying_key: VerifyingKey,
    ) -> Result<Self, Error> {
        Ok(Member {
            kid: Id::from_slice(kid).map_err(|_| Error::InvalidConfig)?,
            key: group_key,
            response_key: None,
            pairwise_key: None,
            unanswered: None,
            known: true,
            echo: None,
            credential: heapless::Vec::from_slice(credential).map_err(|_| Error::InvalidConfig)?,
            verifying_key,
            window: ReplayWindow::provisioned(),
        })
    }

    /// [`Member::pairwise`] with the two pairwise keys as backends: `response` under the
    /// server's pairwise Sender Key, `request` under its pairwise Recipient Key.
    pub fn pairwise_with(mut self, response: A, request: A) -> Self {
        self.response_key = Some(response);
        self.pairwise_key = Some(request);
        self
    }

    /// This member's replay window as a server restored it (from what
    /// [`GroupServer::windows`] gave before a restart) instead of a provisioned one.
    pub fn with_window(mut self, window: ReplayWindow<1>) -> Self {
        self.window = window;
        self.known = true;
        self
    }

    /// This member as a server that lost its replay window sees it (a restart without its
    /// saved windows): its authentic requests are not acted on but answered with an Echo
    /// challenge ([`GroupServer::protect_echo_challenge`]) until a request returns the Echo
    /// value (RFC 10021 §10, RFC 9175); that request sets the window.
    pub fn with_lost_window(mut self) -> Self {
        self.known = false;
        self
    }
}

/// The result of verifying a request.
#[derive(Debug)]
pub enum GroupVerified<'b> {
    /// Authentic and fresh: act on it and answer with [`GroupServer::protect_response`].
    Fresh(Request<'b>),
    /// Authentic, but the server holds no replay window for its sender: do not act; answer
    /// with [`GroupServer::protect_echo_challenge`]. The plaintext has been wiped.
    EchoRequired {
        /// Who sent it.
        sender: Id,
        /// What the challenge must be bound to.
        id: RequestId,
    },
}

impl<'b> GroupVerified<'b> {
    /// The request, when fresh.
    pub fn fresh(self) -> Option<Request<'b>> {
        match self {
            GroupVerified::Fresh(r) => Some(r),
            GroupVerified::EchoRequired { .. } => None,
        }
    }
}

/// A verified request.
#[derive(Debug)]
pub struct Request<'b> {
    /// Who sent it.
    pub sender: Id,
    /// Whether it came in pairwise mode (to this member alone) rather than group mode.
    pub pairwise: bool,
    /// The decrypted request.
    pub inner: Inner<'b>,
    /// What a response is bound to.
    pub id: RequestId,
}

/// The members a server verifies group-mode requests from, and the group's common keys.
pub struct GroupServer<const N: usize, A: AeadBackend = RustCryptoCcm> {
    gid: IdContext,
    common: GroupCommon,
    members: heapless::Vec<Member<A>, N>,
    /// This server's own Sender ID and credential, for its responses.
    own: Option<(Id, heapless::Vec<u8, MAX_CREDENTIAL_LEN>)>,
    /// This server's group-mode Sender Key and signing key, for group-mode responses.
    signing: Option<(A, SigningKey)>,
}

impl<const N: usize, A: AeadBackend> core::fmt::Debug for GroupServer<N, A> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("GroupServer")
            .field("members", &self.members)
            .finish_non_exhaustive()
    }
}

impl<const N: usize> GroupServer<N, RustCryptoCcm> {
    /// Makes this server able to answer in group mode too
    /// ([`GroupServer::protect_group_response`]): its own group-mode Sender Key
    /// ([`super::group::GroupParams::member_key`] of its kid) and its signing key (the one in
    /// its credential).
    pub fn signing_responses(self, group_key: &[u8; crate::KEY_LEN], signing: SigningKey) -> Self {
        self.signing_responses_with(RustCryptoCcm::new(group_key), signing)
    }
}

impl<const N: usize, A: AeadBackend> GroupServer<N, A> {
    /// A server of group `gid` with its common keys and no members yet.
    pub fn new(gid: &[u8], common: GroupCommon) -> Result<Self, Error> {
        Ok(GroupServer {
            gid: IdContext::from_slice(gid).map_err(|_| Error::InvalidConfig)?,
            common,
            members: heapless::Vec::new(),
            own: None,
            signing: None,
        })
    }

    /// Makes this server answer (in pairwise mode) as the member with Sender ID `kid` and
    /// authentication credential `credential`.
    pub fn answering_as(mut self, kid: &[u8], credential: &[u8]) -> Result<Self, Error> {
        self.own = Some((
            Id::from_slice(kid).map_err(|_| Error::InvalidConfig)?,
            heapless::Vec::from_slice(credential).map_err(|_| Error::InvalidConfig)?,
        ));
        Ok(self)
    }

    /// [`GroupServer::signing_responses`] with the AEAD under this server's group-mode Sender
    /// Key given as any [`AeadBackend`].
    pub fn signing_responses_with(mut self, group_key: A, signing: SigningKey) -> Self {
        self.signing = Some((group_key, signing));
        self
    }

    /// Protects the answer to a verified request `req` in group mode (RFC 10021 §8.3) into
    /// `out`: sealed under this server's group-mode Sender Key with the request's nonce,
    /// countersigned with its signing key, the signature encrypted with the response
    /// keystream; the option carries the Group Flag and this server's kid. Every member that
    /// knows this server's credential can verify it. Only the member's latest verified request
    /// can be answered, and only once (with either mode). `scratch` (the ciphertext's length
    /// plus 320 bytes) holds the signature's input. Needs [`GroupServer::answering_as`] and
    /// [`GroupServer::signing_responses`].
    pub fn protect_group_response(
        &mut self,
        req: RequestId,
        outer: Outer<'_>,
        plain: &Plain<'_>,
        out: &mut [u8],
        scratch: &mut [u8],
    ) -> Result<usize, Error> {
        if code::is_request(plain.code) || !req.may_reuse_nonce() {
            return Err(Error::InvalidConfig);
        }
        let at = self.member_at(req.kid())?;
        let piv = PartialIv::from_bytes(req.partial_iv())?;
        if self.members[at].unanswered != Some(piv.seq()) {
            return Err(Error::InvalidConfig);
        }
        let (own_kid, own_cred) = self.own.as_ref().ok_or(Error::InvalidConfig)?;
        let (key, signing) = self.signing.as_ref().ok_or(Error::InvalidConfig)?;
        let repr = option::Repr {
            partial_iv: None,
            kid_context: None,
            kid: Some(own_kid),
        };
        let mut value = [0u8; 64];
        let vlen = repr.emit(&mut value)?;
        value[0] |= GROUP_FLAG;
        let option_value = &value[..vlen];
        let aad = Aad::of(&ExternalAad {
            request_kid: req.kid(),
            request_piv: req.partial_iv(),
            gid: &self.gid,
            oscore_option: option_value,
            sender_credential: own_cred,
        })?;
        let nonce = cose::nonce(&self.common.common_iv, req.kid(), &piv)?;
        let sealed = Signed::seal(
            key,
            &nonce,
            option_value,
            &aad,
            outer,
            code::CHANGED,
            plain,
            out,
            scratch,
        )?;
        // The Partial IV is the request's, generated by its sender.
        let ks = keystream(&self.common, req.kid(), req.partial_iv(), &self.gid, false)?;
        let n = sealed.sign(signing, &ks, out, scratch);
        self.members[at].unanswered = None;
        Ok(n)
    }

    /// Protects the answer to a verified request `req` in pairwise mode (RFC 10021 §9.3)
    /// into `out`: the option carries this server's kid, the nonce is the request's under the
    /// pairwise key, the outer code is 2.04. Only the member's latest verified request can be
    /// answered, and only once (the nonce is never used twice under that key); anything else
    /// is refused as `invalid_config` without output. Needs [`GroupServer::answering_as`] and
    /// the member's [`Member::answered_with`] key.
    pub fn protect_response(
        &mut self,
        req: RequestId,
        outer: Outer<'_>,
        plain: &Plain<'_>,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        if code::is_request(plain.code) || !req.may_reuse_nonce() {
            return Err(Error::InvalidConfig);
        }
        let at = self.member_at(req.kid())?;
        let piv = PartialIv::from_bytes(req.partial_iv())?;
        if self.members[at].unanswered != Some(piv.seq()) {
            return Err(Error::InvalidConfig);
        }
        let n = self.seal_response(at, &req, None, outer, plain, out)?;
        self.members[at].unanswered = None;
        Ok(n)
    }

    /// Answers a request verified as [`GroupVerified::EchoRequired`] with a 4.01 Unauthorized
    /// carrying `echo` (fresh random bytes from the caller), in pairwise mode under this
    /// server's own Partial IV, drawn from `counter` (its sender counter: the request may be
    /// a recording, so its nonce is never reused). The next request of that member that
    /// returns `echo` sets its replay window.
    pub fn protect_echo_challenge<S: CounterStore>(
        &mut self,
        req: &RequestId,
        outer: Outer<'_>,
        echo: [u8; ECHO_LEN],
        counter: &mut Counter<S>,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let at = self.member_at(req.kid())?;
        if self.members[at].known {
            return Err(Error::InvalidConfig);
        }
        let own = PartialIv::from_seq(counter.peek())?;
        let opts = [CoapOption::new(number::ECHO, &echo)];
        let plain = Plain {
            code: code::UNAUTHORIZED,
            options: &opts,
            payload: &[],
        };
        // Sealed first, the number taken before anything leaves: a short buffer costs none.
        let n = self.seal_response(at, req, Some(&own), outer, &plain, out)?;
        match counter.take() {
            Ok(seq) => debug_assert_eq!(seq, own.seq()),
            Err(e) => {
                out[..n].zeroize();
                return Err(map_core(e));
            }
        }
        self.members[at].echo = Some(echo);
        Ok(n)
    }

    fn member_at(&self, kid: &[u8]) -> Result<usize, Error> {
        self.members
            .iter()
            .position(|m| m.kid[..] == *kid)
            .ok_or(Error::UnknownKid)
    }

    /// Seals a pairwise-mode response to `req` for member `at`: with the request's nonce, or
    /// with this server's own Partial IV `own` (then carried in the option).
    fn seal_response(
        &self,
        at: usize,
        req: &RequestId,
        own: Option<&PartialIv>,
        outer: Outer<'_>,
        plain: &Plain<'_>,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let (own_kid, own_cred) = self.own.as_ref().ok_or(Error::InvalidConfig)?;
        let key = self.members[at]
            .response_key
            .as_ref()
            .ok_or(Error::InvalidConfig)?;
        let repr = option::Repr {
            partial_iv: own.map(PartialIv::as_bytes),
            kid_context: None,
            kid: Some(own_kid),
        };
        let mut value = [0u8; 64];
        let vlen = repr.emit(&mut value)?;
        let aad = Aad::of(&ExternalAad {
            request_kid: req.kid(),
            request_piv: req.partial_iv(),
            gid: &self.gid,
            oscore_option: &value[..vlen],
            sender_credential: own_cred,
        })?;
        let nonce = match own {
            Some(p) => cose::nonce(&self.common.common_iv, own_kid, p)?,
            None => cose::nonce(
                &self.common.common_iv,
                req.kid(),
                &PartialIv::from_bytes(req.partial_iv())?,
            )?,
        };
        seal_parts(
            key,
            &nonce,
            &value[..vlen],
            aad.encrypt0(),
            outer,
            code::CHANGED,
            plain,
            out,
        )
    }

    /// Every member's Sender ID and replay window, to be kept durably: a server restarted with
    /// them ([`Member::with_window`]) refuses every request it verified before.
    pub fn windows(&self) -> impl Iterator<Item = (&[u8], &ReplayWindow<1>)> {
        self.members
            .iter()
            .filter(|m| m.known)
            .map(|m| (&m.kid[..], &m.window))
    }

    /// Adds a member; refused when full or when its kid is taken.
    pub fn add(&mut self, m: Member<A>) -> Result<(), Error> {
        if self.members.iter().any(|x| x.kid == m.kid) {
            return Err(Error::InvalidConfig);
        }
        self.members.push(m).map_err(|_| Error::InvalidConfig)
    }

    /// Verifies the request in `buf` in place, in group mode or in pairwise mode; `scratch`
    /// (at least the payload's length plus 320 bytes) holds a countersignature's input. On any
    /// refusal the decrypted bytes, if any, are wiped.
    pub fn unprotect_request<'b>(
        &mut self,
        buf: &'b mut [u8],
        scratch: &mut [u8],
    ) -> Result<GroupVerified<'b>, Error> {
        let p = Packet::new_checked(&buf[..])?;
        let mut option = heapless::Vec::<u8, 64>::from_slice(oscore_value(&p)?)
            .map_err(|_| Error::MalformedOption)?;
        let opt = OscoreOption::new_checked_group(&option[..])?;
        let pairwise = !opt.group_flag();
        if opt.kid_context() != Some(&self.gid[..]) {
            return Err(Error::UnknownKidContext);
        }
        let kid = opt.kid().ok_or(Error::UnknownKid)?;
        let piv = PartialIv::from_bytes(opt.partial_iv().ok_or(Error::MissingPartialIv)?)?;
        let payload = p.payload_range();
        let at = self
            .members
            .iter()
            .position(|m| m.kid[..] == *kid)
            .ok_or(Error::UnknownKid)?;
        let m = &self.members[at];
        let aad = Aad::of(&ExternalAad {
            request_kid: &m.kid,
            request_piv: piv.as_bytes(),
            gid: &self.gid,
            oscore_option: &option,
            sender_credential: &m.credential,
        })?;
        let (key, ct_end) = if pairwise {
            // Only this member and the server can derive the pairwise key: the AEAD alone
            // authenticates the sender.
            let key = m.pairwise_key.as_ref().ok_or(Error::UnknownKid)?;
            if payload.len() < 1 + TAG_LEN {
                return Err(Error::Malformed);
            }
            (key, payload.end)
        } else {
            let ks = keystream(&self.common, &m.kid, piv.as_bytes(), &self.gid, true)?;
            let ct_end = check_signature(
                &buf[..],
                payload.clone(),
                &aad,
                &m.verifying_key,
                &ks,
                scratch,
            )?;
            (&m.key, ct_end)
        };
        option.clear();
        // Authentic once the AEAD verifies: only then may the window judge it (a lost window
        // judges nothing).
        let seq = piv.seq();
        let replayed = m
            .known
            .then(|| m.window.check(seq, OrderPolicy::Window).err())
            .flatten();
        let nonce = cose::nonce(&self.common.common_iv, &m.kid, &piv)?;
        let region: &'b mut [u8] = &mut buf[payload.start..ct_end];
        let body = open_parts(key, &nonce, aad.encrypt0(), region)?;
        if let Some(e) = replayed {
            body.fill(0);
            return Err(match e {
                crate::Error::Replay => Error::Replay,
                _ => Error::TooOld,
            });
        }
        let sender = m.kid.clone();
        if !m.known {
            let echoed = match (m.echo, Inner::parse(&*body)) {
                (Some(ours), Ok(i)) => i.option(number::ECHO) == Some(&ours[..]),
                _ => false,
            };
            if !echoed {
                // Maybe a recording: not acted on, and never answered with its nonce.
                body.fill(0);
                return Ok(GroupVerified::EchoRequired {
                    id: RequestId::unconfirmed(sender.clone(), piv),
                    sender,
                });
            }
        }
        let inner = parse_or_wipe(body)?;
        let m = &mut self.members[at];
        if !m.known {
            // The Echo value came back: this request is new, and everything before it may be
            // a recording.
            let mut w = ReplayWindow::unverified_at(seq);
            w.verify_from_here();
            m.window = w;
            m.known = true;
            m.echo = None;
        } else {
            m.window.accept(seq);
        }
        m.unanswered = Some(seq);
        let id = RequestId::fresh(sender.clone(), piv);
        Ok(GroupVerified::Fresh(Request {
            sender,
            pairwise,
            inner,
            id,
        }))
    }
}

/// A member sending requests to the whole group in group mode (RFC 10021 §8.1): sealed with
/// its group-mode Sender Key, countersigned with its Ed25519 key, the signature encrypted
/// with the keystream. Its sequence numbers come from a [`Counter`] over a durable store, as
/// for every sender of this crate: a store without a counter record is refused.
pub struct GroupClient<S: CounterStore> {
    gid: IdContext,
    common: GroupCommon,
    kid: Id,
    key: RustCryptoCcm,
    credential: heapless::Vec<u8, MAX_CREDENTIAL_LEN>,
    signing: SigningKey,
    counter: Counter<S>,
    /// Members whose pairwise responses this client verifies (and to which it may send
    /// pairwise-mode requests).
    responders: heapless::Vec<Responder, 8>,
}

/// A member this client talks to in pairwise mode.
struct Responder {
    kid: Id,
    /// The client's pairwise Recipient Key for it: verifies its responses.
    recipient: RustCryptoCcm,
    /// The client's pairwise Sender Key towards it: protects pairwise-mode requests.
    sender: Option<RustCryptoCcm>,
    credential: heapless::Vec<u8, MAX_CREDENTIAL_LEN>,
    /// Its group-mode Sender Key and public key: verify its group-mode responses.
    group: Option<(RustCryptoCcm, VerifyingKey)>,
}

impl<S: CounterStore> core::fmt::Debug for GroupClient<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("GroupClient")
            .field("kid", &self.kid)
            .field("next_seq", &self.counter.peek())
            .finish_non_exhaustive()
    }
}

/// What a member needs to send in a group: its group's Gid and common keys, its Sender ID,
/// its group-mode Sender Key, its credential and signing key.
#[derive(Debug)]
pub struct ClientKeys<'a> {
    /// The group's Gid.
    pub gid: &'a [u8],
    /// Common IV and Signature Encryption Key.
    pub common: GroupCommon,
    /// This member's Sender ID.
    pub kid: &'a [u8],
    /// This member's group-mode Sender Key.
    pub group_key: &'a [u8; crate::KEY_LEN],
    /// This member's authentication credential, as the group distributes it.
    pub credential: &'a [u8],
    /// This member's signing key (the one in its credential).
    pub signing: SigningKey,
}

impl<S: CounterStore> GroupClient<S> {
    fn with(keys: ClientKeys<'_>, counter: Counter<S>) -> Result<Self, Error> {
        Ok(GroupClient {
            gid: IdContext::from_slice(keys.gid).map_err(|_| Error::InvalidConfig)?,
            kid: Id::from_slice(keys.kid).map_err(|_| Error::InvalidConfig)?,
            key: RustCryptoCcm::new(keys.group_key),
            credential: heapless::Vec::from_slice(keys.credential)
                .map_err(|_| Error::InvalidConfig)?,
            common: keys.common,
            signing: keys.signing,
            counter,
            responders: heapless::Vec::new(),
        })
    }

    /// Accepts pairwise responses from the member with Sender ID `kid`, verified with
    /// `key` (this client's pairwise Recipient Key for it, [`super::group::pairwise_keys`]
    /// with this client as `own`) and bound to its `credential`. Up to 8 responders.
    pub fn add_responder(
        &mut self,
        kid: &[u8],
        key: &[u8; crate::KEY_LEN],
        credential: &[u8],
    ) -> Result<(), Error> {
        self.push_responder(kid, RustCryptoCcm::new(key), None, credential)
    }

    /// Talks to the member with Sender ID `kid` in pairwise mode both ways: `keys` are the
    /// pairwise keys this client holds with it ([`super::group::pairwise_keys`], this client
    /// as `own`); its responses are verified, and [`GroupClient::protect_request_to`] sends
    /// it pairwise-mode requests. Up to 8 peers.
    pub fn add_peer(
        &mut self,
        kid: &[u8],
        keys: &super::group::PairwiseKeys,
        credential: &[u8],
    ) -> Result<(), Error> {
        self.push_responder(
            kid,
            RustCryptoCcm::new(&keys.recipient_key),
            Some(RustCryptoCcm::new(&keys.sender_key)),
            credential,
        )
    }

    fn push_responder(
        &mut self,
        kid: &[u8],
        recipient: RustCryptoCcm,
        sender: Option<RustCryptoCcm>,
        credential: &[u8],
    ) -> Result<(), Error> {
        let kid = Id::from_slice(kid).map_err(|_| Error::InvalidConfig)?;
        if self.responders.iter().any(|r| r.kid == kid) {
            return Err(Error::InvalidConfig);
        }
        let credential = heapless::Vec::from_slice(credential).map_err(|_| Error::InvalidConfig)?;
        self.responders
            .push(Responder {
                kid,
                recipient,
                sender,
                credential,
                group: None,
            })
            .map_err(|_| Error::InvalidConfig)
    }

    /// Also verifies group-mode responses of the member with Sender ID `kid` (added before
    /// with [`GroupClient::add_responder`] or [`GroupClient::add_peer`]): its group-mode
    /// Sender Key and the public key of its credential.
    pub fn accept_group_responses(
        &mut self,
        kid: &[u8],
        group_key: &[u8; crate::KEY_LEN],
        verifying: VerifyingKey,
    ) -> Result<(), Error> {
        let r = self
            .responders
            .iter_mut()
            .find(|r| r.kid[..] == *kid)
            .ok_or(Error::UnknownKid)?;
        r.group = Some((RustCryptoCcm::new(group_key), verifying));
        Ok(())
    }

    /// Verifies a response to request `req` in place, in either mode: a pairwise-mode one as
    /// [`GroupClient::unprotect_response`] does, a group-mode one by its countersignature
    /// (under the responder's public key; `scratch`, the ciphertext's length plus 320 bytes,
    /// holds its input) and then the AEAD under the responder's group-mode key.
    pub fn verify_response<'b>(
        &self,
        req: &RequestId,
        buf: &'b mut [u8],
        scratch: &mut [u8],
    ) -> Result<(Id, Inner<'b>), Error> {
        let p = Packet::new_checked(&buf[..])?;
        let option = heapless::Vec::<u8, 64>::from_slice(oscore_value(&p)?)
            .map_err(|_| Error::MalformedOption)?;
        let opt = OscoreOption::new_checked_group(&option[..])?;
        if !opt.group_flag() {
            return self.unprotect_response(req, buf);
        }
        if opt.kid_context().is_some_and(|c| c != &self.gid[..]) {
            return Err(Error::UnknownKidContext);
        }
        let kid = opt.kid().ok_or(Error::UnknownKid)?;
        let r = self
            .responders
            .iter()
            .find(|r| r.kid[..] == *kid)
            .ok_or(Error::UnknownKid)?;
        let (key, verifying) = r.group.as_ref().ok_or(Error::UnknownKid)?;
        // With its own Partial IV, the responder generated it; otherwise it is the request's.
        let (piv_by, piv) = match opt.partial_iv() {
            Some(own) => (&r.kid[..], PartialIv::from_bytes(own)?),
            None => (req.kid(), PartialIv::from_bytes(req.partial_iv())?),
        };
        let payload = p.payload_range();
        let aad = Aad::of(&ExternalAad {
            request_kid: req.kid(),
            request_piv: req.partial_iv(),
            gid: &self.gid,
            oscore_option: &option,
            sender_credential: &r.credential,
        })?;
        let ks = keystream(&self.common, piv_by, piv.as_bytes(), &self.gid, false)?;
        let ct_end = check_signature(&buf[..], payload.clone(), &aad, verifying, &ks, scratch)?;
        let nonce = cose::nonce(&self.common.common_iv, piv_by, &piv)?;
        let region: &'b mut [u8] = &mut buf[payload.start..ct_end];
        let body = open_parts(key, &nonce, aad.encrypt0(), region)?;
        Ok((r.kid.clone(), parse_or_wipe(body)?))
    }

    /// Verifies a pairwise-mode response to request `req` in place; returns the responder's
    /// Sender ID and the decrypted response. A response with its own Partial IV uses its
    /// nonce; otherwise the request's.
    pub fn unprotect_response<'b>(
        &self,
        req: &RequestId,
        buf: &'b mut [u8],
    ) -> Result<(Id, Inner<'b>), Error> {
        let p = Packet::new_checked(&buf[..])?;
        let option = heapless::Vec::<u8, 64>::from_slice(oscore_value(&p)?)
            .map_err(|_| Error::MalformedOption)?;
        let opt = OscoreOption::new_checked_group(&option[..])?;
        if opt.group_flag() {
            // A group-mode (signed) response: not built yet.
            return Err(Error::MalformedOption);
        }
        if opt.kid_context().is_some_and(|c| c != &self.gid[..]) {
            return Err(Error::UnknownKidContext);
        }
        let kid = opt.kid().ok_or(Error::UnknownKid)?;
        let r = self
            .responders
            .iter()
            .find(|r| r.kid[..] == *kid)
            .ok_or(Error::UnknownKid)?;
        let (id, key, cred) = (&r.kid, &r.recipient, &r.credential);
        let req_piv = PartialIv::from_bytes(req.partial_iv())?;
        let nonce = match opt.partial_iv() {
            Some(own) => cose::nonce(&self.common.common_iv, id, &PartialIv::from_bytes(own)?)?,
            None => cose::nonce(&self.common.common_iv, req.kid(), &req_piv)?,
        };
        let aad = Aad::of(&ExternalAad {
            request_kid: req.kid(),
            request_piv: req.partial_iv(),
            gid: &self.gid,
            oscore_option: &option,
            sender_credential: cred,
        })?;
        let payload = p.payload_range();
        let region: &'b mut [u8] = &mut buf[payload];
        let body = open_parts(key, &nonce, aad.encrypt0(), region)?;
        Ok((id.clone(), parse_or_wipe(body)?))
    }

    /// A member resuming its counter from `store` (reserving `block` numbers per write).
    pub fn new(keys: ClientKeys<'_>, store: S, block: u64) -> Result<Self, Error> {
        Self::with(keys, Counter::boot(store, block).map_err(map_core)?)
    }

    /// A member whose Sender ID never sent under this group's keys: its counter starts at 0.
    pub fn provision(keys: ClientKeys<'_>, store: S, block: u64) -> Result<Self, Error> {
        Self::with(keys, Counter::provision(store, block).map_err(map_core)?)
    }

    /// The next sequence number.
    pub fn next_seq(&self) -> u64 {
        self.counter.peek()
    }

    /// Protects a request to the group into `out` (outer code POST, as for RFC 8613);
    /// `scratch` (the ciphertext's length plus 320 bytes) holds the countersignature's input.
    /// Returns the message's length and what responses are bound to. A number is consumed
    /// only when everything fits.
    pub fn protect_request(
        &mut self,
        outer: Outer<'_>,
        plain: &Plain<'_>,
        out: &mut [u8],
        scratch: &mut [u8],
    ) -> Result<(usize, RequestId), Error> {
        if !code::is_request(plain.code) {
            return Err(Error::InvalidConfig);
        }
        let piv = PartialIv::from_seq(self.counter.peek())?;
        let repr = option::Repr {
            partial_iv: Some(piv.as_bytes()),
            kid_context: Some(&self.gid),
            kid: Some(&self.kid),
        };
        let mut value = [0u8; 64];
        let vlen = repr.emit(&mut value)?;
        value[0] |= GROUP_FLAG;
        let option_value = &value[..vlen];
        let aad = Aad::of(&ExternalAad {
            request_kid: &self.kid,
            request_piv: piv.as_bytes(),
            gid: &self.gid,
            oscore_option: option_value,
            sender_credential: &self.credential,
        })?;
        let nonce = cose::nonce(&self.common.common_iv, &self.kid, &piv)?;
        // Sealed into `out` first without consuming the number, so that a short buffer costs
        // nothing; the number is taken before anything leaves this call.
        let sealed = Signed::seal(
            &self.key,
            &nonce,
            option_value,
            &aad,
            outer,
            code::POST,
            plain,
            out,
            scratch,
        )?;
        let seq = match self.counter.take() {
            Ok(s) => s,
            Err(e) => {
                sealed.wipe(out, scratch);
                return Err(map_core(e));
            }
        };
        debug_assert_eq!(seq, piv.seq());
        let ks = keystream(&self.common, &self.kid, piv.as_bytes(), &self.gid, true)?;
        let n = sealed.sign(&self.signing, &ks, out, scratch);
        Ok((n, RequestId::fresh(self.kid.clone(), piv)))
    }

    /// Protects a request to the one member with Sender ID `to` in pairwise mode (RFC 10021
    /// §9.2) into `out`: sealed under the pairwise Sender Key towards it ([`add_peer`]), no
    /// countersignature, the option without the Group Flag and with the Gid as kid context.
    /// Its number comes from the same counter as group-mode requests. A number is consumed
    /// only when everything fits.
    ///
    /// [`add_peer`]: GroupClient::add_peer
    pub fn protect_request_to(
        &mut self,
        to: &[u8],
        outer: Outer<'_>,
        plain: &Plain<'_>,
        out: &mut [u8],
    ) -> Result<(usize, RequestId), Error> {
        if !code::is_request(plain.code) {
            return Err(Error::InvalidConfig);
        }
        let key = self
            .responders
            .iter()
            .find(|r| r.kid[..] == *to)
            .and_then(|r| r.sender.as_ref())
            .ok_or(Error::UnknownKid)?;
        let piv = PartialIv::from_seq(self.counter.peek())?;
        let repr = option::Repr {
            partial_iv: Some(piv.as_bytes()),
            kid_context: Some(&self.gid),
            kid: Some(&self.kid),
        };
        let mut value = [0u8; 64];
        let vlen = repr.emit(&mut value)?;
        let option_value = &value[..vlen];
        let aad = Aad::of(&ExternalAad {
            request_kid: &self.kid,
            request_piv: piv.as_bytes(),
            gid: &self.gid,
            oscore_option: option_value,
            sender_credential: &self.credential,
        })?;
        let nonce = cose::nonce(&self.common.common_iv, &self.kid, &piv)?;
        let n = seal_parts(
            key,
            &nonce,
            option_value,
            aad.encrypt0(),
            outer,
            code::POST,
            plain,
            out,
        )?;
        match self.counter.take() {
            Ok(seq) => debug_assert_eq!(seq, piv.seq()),
            Err(e) => {
                out[..n].zeroize();
                return Err(map_core(e));
            }
        }
        Ok((n, RequestId::fresh(self.kid.clone(), piv)))
    }
}

/// A group message's external AAD and the AEAD's associated data built from it.
struct Aad {
    ext: [u8; MAX_EXTERNAL_AAD],
    ext_len: usize,
    enc: [u8; MAX_EXTERNAL_AAD + 16],
    enc_len: usize,
}

impl Aad {
    fn of(e: &ExternalAad<'_>) -> Result<Self, Error> {
        let mut a = Aad {
            ext: [0; MAX_EXTERNAL_AAD],
            ext_len: 0,
            enc: [0; MAX_EXTERNAL_AAD + 16],
            enc_len: 0,
        };
        a.ext_len = e.encode(&mut a.ext)?;
        a.enc_len = encrypt0(&a.ext[..a.ext_len], &mut a.enc)?;
        Ok(a)
    }

    /// The external AAD (what the countersignature also covers).
    fn external(&self) -> &[u8] {
        &self.ext[..self.ext_len]
    }

    /// `["Encrypt0", h'', external_aad]`.
    fn encrypt0(&self) -> &[u8] {
        &self.enc[..self.enc_len]
    }
}

/// A group-mode message sealed into the start of `out`, waiting for its countersignature,
/// whose input is in `scratch`.
struct Signed {
    /// Length of the sealed message.
    len: usize,
    /// Length of the signature's input.
    tbs: usize,
}

impl Signed {
    /// Seals `plain` into `out`, leaving room for the countersignature, and builds the
    /// signature's input (the external AAD and the ciphertext) in `scratch`. Wipes `out` when
    /// the input does not fit.
    #[allow(clippy::too_many_arguments)]
    fn seal<A: AeadBackend>(
        key: &A,
        nonce: &[u8; crate::NONCE_LEN],
        option_value: &[u8],
        aad: &Aad,
        outer: Outer<'_>,
        outer_code: u8,
        plain: &Plain<'_>,
        out: &mut [u8],
        scratch: &mut [u8],
    ) -> Result<Signed, Error> {
        let cap = out
            .len()
            .checked_sub(SIGNATURE_LEN)
            .ok_or(Error::BufferTooSmall)?;
        let n = seal_parts(
            key,
            nonce,
            option_value,
            aad.encrypt0(),
            outer,
            outer_code,
            plain,
            &mut out[..cap],
        )?;
        let ct_start = n - ciphertext_len(&out[..n])?;
        match to_be_signed(aad.external(), &out[ct_start..n], scratch) {
            Ok(tbs) => Ok(Signed { len: n, tbs }),
            Err(e) => {
                out[..n].zeroize();
                Err(e)
            }
        }
    }

    /// Wipes what [`Signed::seal`] wrote (nothing leaves).
    fn wipe(self, out: &mut [u8], scratch: &mut [u8]) {
        out[..self.len].zeroize();
        scratch[..self.tbs].zeroize();
    }

    /// Signs, encrypts the signature with `keystream`, appends it; returns the whole length.
    fn sign(
        self,
        signing: &SigningKey,
        keystream: &[u8; SIGNATURE_LEN],
        out: &mut [u8],
        scratch: &mut [u8],
    ) -> usize {
        let sig = countersign(signing, &scratch[..self.tbs], keystream);
        scratch[..self.tbs].zeroize();
        out[self.len..self.len + SIGNATURE_LEN].copy_from_slice(&sig);
        self.len + SIGNATURE_LEN
    }
}

/// Checks the encrypted countersignature that ends `payload` in `buf` (over the external AAD
/// of `aad` and the ciphertext before it) as `signer`'s; returns where the ciphertext ends.
fn check_signature(
    buf: &[u8],
    payload: core::ops::Range<usize>,
    aad: &Aad,
    signer: &VerifyingKey,
    keystream: &[u8; SIGNATURE_LEN],
    scratch: &mut [u8],
) -> Result<usize, Error> {
    if payload.len() < 1 + TAG_LEN + SIGNATURE_LEN {
        return Err(Error::Malformed);
    }
    let ct_end = payload.end - SIGNATURE_LEN;
    let tbs = to_be_signed(aad.external(), &buf[payload.start..ct_end], scratch)?;
    let mut encrypted = [0u8; SIGNATURE_LEN];
    encrypted.copy_from_slice(&buf[ct_end..payload.end]);
    let verified = verify_countersignature(signer, &scratch[..tbs], &encrypted, keystream);
    scratch[..tbs].zeroize();
    verified.map(|()| ct_end)
}

/// The Group Flag of the OSCORE option.
const GROUP_FLAG: u8 = 0x20;

/// Length of the ciphertext (inner message and tag) at the end of the sealed message `msg`:
/// everything after the payload marker.
fn ciphertext_len(msg: &[u8]) -> Result<usize, Error> {
    let p = Packet::new_checked(msg)?;
    Ok(p.payload_range().len())
}
