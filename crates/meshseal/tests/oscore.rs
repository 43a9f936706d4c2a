//! OSCORE (RFC 8613): the Appendix C test vectors, and the refusals of the endpoint.
#![cfg(feature = "oscore")]

use meshseal::counter::MemoryStore;
use meshseal::oscore::coap::{code, number, CoapOption, MessageType, Packet};
use meshseal::oscore::cose::{nonce, PartialIv};
use meshseal::oscore::{Endpoint, Error, Outer, Params, Plain, SecurityContext, Verified};
use meshseal::replay::ReplayWindow;
use serde_json::Value;

fn vectors() -> Value {
    serde_json::from_str(include_str!("vectors/oscore-rfc8613.json")).unwrap()
}

fn h(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

struct Ctx {
    secret: Vec<u8>,
    salt: Vec<u8>,
    id_context: Option<Vec<u8>>,
    client: Vec<u8>,
    server: Vec<u8>,
}

impl Ctx {
    fn from(v: &Value) -> Ctx {
        Ctx {
            secret: h(&v["master_secret"]),
            salt: h(&v["master_salt"]),
            id_context: v["id_context"].as_str().map(|s| hex::decode(s).unwrap()),
            client: h(&v["client_id"]),
            server: h(&v["server_id"]),
        }
    }
    fn params<'a>(&'a self, me: &'a [u8], peer: &'a [u8]) -> Params<'a> {
        Params {
            master_secret: &self.secret,
            master_salt: &self.salt,
            sender_id: me,
            recipient_id: peer,
            id_context: self.id_context.as_deref(),
        }
    }
    fn client(&self, next_seq: u64) -> Endpoint<MemoryStore> {
        let ctx = SecurityContext::derive(&self.params(&self.client, &self.server)).unwrap();
        let store = MemoryStore {
            limit: Some(next_seq),
            writes: 0,
        };
        Endpoint::new(ctx, store, 1, Some(ReplayWindow::provisioned())).unwrap()
    }
    fn server(&self, next_seq: u64, window: Option<ReplayWindow<1>>) -> Endpoint<MemoryStore> {
        let ctx = SecurityContext::derive(&self.params(&self.server, &self.client)).unwrap();
        let store = MemoryStore {
            limit: Some(next_seq),
            writes: 0,
        };
        Endpoint::new(ctx, store, 1, window).unwrap()
    }
}

fn context(name: &str) -> Ctx {
    let v = vectors();
    let c = v["contexts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap()
        .clone();
    Ctx::from(&c)
}

/// The parts of an unprotected message from the vectors.
struct Msg {
    options: Vec<(u16, Vec<u8>)>,
    code: u8,
    mid: u16,
    token: Vec<u8>,
    ty: MessageType,
    payload: Vec<u8>,
}

impl Msg {
    fn parse(msg: &[u8]) -> Msg {
        let p = Packet::new_checked(msg).unwrap();
        Msg {
            options: p.options().map(|o| (o.number, o.value.to_vec())).collect(),
            code: p.code(),
            mid: p.message_id(),
            token: p.token().to_vec(),
            ty: p.msg_type(),
            payload: p.payload().to_vec(),
        }
    }
    fn coap_options(&self) -> Vec<CoapOption<'_>> {
        self.options
            .iter()
            .map(|(n, v)| CoapOption::new(*n, v))
            .collect()
    }
    fn outer(&self) -> Outer<'_> {
        Outer {
            msg_type: self.ty,
            message_id: self.mid,
            token: &self.token,
        }
    }
}

#[test]
fn c1_c3_key_derivation() {
    for c in vectors()["contexts"].as_array().unwrap() {
        let ctx = Ctx::from(c);
        let client = ctx.params(&ctx.client, &ctx.server).derive().unwrap();
        let server = ctx.params(&ctx.server, &ctx.client).derive().unwrap();
        assert_eq!(
            client.sender_key.to_vec(),
            h(&c["client_key"]),
            "{}",
            c["name"]
        );
        assert_eq!(client.recipient_key.to_vec(), h(&c["server_key"]));
        assert_eq!(server.sender_key.to_vec(), h(&c["server_key"]));
        assert_eq!(server.recipient_key.to_vec(), h(&c["client_key"]));
        assert_eq!(client.common_iv.to_vec(), h(&c["common_iv"]));
        assert_eq!(server.common_iv, client.common_iv);
        let zero = PartialIv::from_seq(0).unwrap();
        let iv = client.common_iv;
        assert_eq!(
            nonce(&iv, &ctx.client, &zero).unwrap().to_vec(),
            h(&c["client_nonce_0"])
        );
        assert_eq!(
            nonce(&iv, &ctx.server, &zero).unwrap().to_vec(),
            h(&c["server_nonce_0"])
        );
    }
}

#[test]
fn c4_c6_requests_protect_and_verify() {
    for r in vectors()["requests"].as_array().unwrap() {
        let ctx = context(r["context"].as_str().unwrap());
        let seq = r["seq"].as_u64().unwrap();
        let mut client = ctx.client(seq);
        let m = Msg::parse(&h(&r["unprotected"]));
        let mut out = [0u8; 128];
        let (n, id) = client
            .protect_request(
                m.outer(),
                &Plain {
                    code: m.code,
                    options: &m.coap_options(),
                    payload: &m.payload,
                },
                &mut out,
            )
            .unwrap();
        assert_eq!(
            hex::encode(&out[..n]),
            r["protected"].as_str().unwrap(),
            "{}",
            r["name"]
        );
        assert_eq!(id.partial_iv(), [seq as u8]);
        let iv = *client.context().common_iv();
        assert_eq!(
            nonce(&iv, &ctx.client, &PartialIv::from_seq(seq).unwrap())
                .unwrap()
                .to_vec(),
            h(&r["nonce"])
        );

        let mut server = ctx.server(0, Some(ReplayWindow::provisioned()));
        let mut wire = h(&r["protected"]);
        match server.unprotect_request(&mut wire).unwrap() {
            Verified::Fresh { request, id } => {
                assert_eq!(request.code, code::GET);
                assert_eq!(request.option(number::URI_PATH), Some(&b"tv1"[..]));
                assert_eq!(request.payload, b"");
                assert_eq!(id.kid(), &ctx.client[..]);
                assert!(id.may_reuse_nonce());
            }
            other => panic!("{other:?}"),
        }
        // The same bytes again are a replay.
        let mut again = h(&r["protected"]);
        assert_eq!(
            server.unprotect_request(&mut again).err(),
            Some(Error::Replay)
        );
        // The same Partial IV under another key (here: a changed tag) is a decryption
        // failure, not a replay: the window speaks only of requests whose tag verified.
        let mut other = h(&r["protected"]);
        *other.last_mut().unwrap() ^= 1;
        assert_eq!(
            server.unprotect_request(&mut other).err(),
            Some(Error::DecryptFailed)
        );
    }
}

#[test]
fn c7_c8_responses_protect_and_verify() {
    let v = vectors();
    let request = &v["requests"][0];
    let ctx = context("C.1");
    for r in v["responses"].as_array().unwrap() {
        let mut client = ctx.client(20);
        let mut server = ctx.server(
            r["seq"].as_u64().unwrap(),
            Some(ReplayWindow::provisioned()),
        );
        let mut wire = h(&request["protected"]);
        let Verified::Fresh { id, .. } = server.unprotect_request(&mut wire).unwrap() else {
            panic!("not fresh");
        };
        let m = Msg::parse(&h(&r["unprotected"]));
        assert!(m.options.is_empty());
        let mut out = [0u8; 128];
        let n = server
            .protect_response(
                &id,
                m.outer(),
                &Plain {
                    code: m.code,
                    options: &[],
                    payload: &m.payload,
                },
                r["own_piv"].as_bool().unwrap(),
                &mut out,
            )
            .unwrap();
        assert_eq!(
            hex::encode(&out[..n]),
            r["protected"].as_str().unwrap(),
            "{}",
            r["name"]
        );

        // The client's side: its own request (same sequence number) binds the response.
        let rm = Msg::parse(&h(&request["unprotected"]));
        let mut req_out = [0u8; 128];
        let (_, cid) = client
            .protect_request(
                rm.outer(),
                &Plain {
                    code: rm.code,
                    options: &rm.coap_options(),
                    payload: &rm.payload,
                },
                &mut req_out,
            )
            .unwrap();
        let mut resp = h(&r["protected"]);
        let inner = client.unprotect_response(&cid, &mut resp).unwrap();
        assert_eq!(inner.code, code::CONTENT);
        assert_eq!(inner.payload, b"Hello World!");
    }
}

fn get(
    client: &mut Endpoint<MemoryStore>,
    payload: &[u8],
    extra: &[CoapOption<'_>],
) -> (Vec<u8>, meshseal::oscore::RequestId) {
    let mut options = vec![CoapOption::new(number::URI_PATH, b"lamp")];
    options.extend_from_slice(extra);
    let mut out = [0u8; 2048];
    let (n, id) = client
        .protect_request(
            Outer {
                msg_type: MessageType::Confirmable,
                message_id: 7,
                token: b"tk",
            },
            &Plain {
                code: code::PUT,
                options: &options,
                payload,
            },
            &mut out,
        )
        .unwrap();
    (out[..n].to_vec(), id)
}

#[test]
fn tampering_any_byte_after_the_header_is_refused() {
    let ctx = context("C.2");
    let mut client = ctx.client(0);
    let (wire, _) = get(&mut client, b"on", &[]);
    let p = Packet::new_checked(&wire[..]).unwrap();
    let from = p.payload_range().start;
    for i in from..wire.len() {
        let mut server = ctx.server(0, Some(ReplayWindow::provisioned()));
        let mut bad = wire.clone();
        bad[i] ^= 0x01;
        assert_eq!(
            server.unprotect_request(&mut bad).err(),
            Some(Error::DecryptFailed),
            "byte {i}"
        );
        assert!(bad[from..wire.len() - 8].iter().all(|&b| b == 0), "wiped");
        // The untouched request still passes: the forgery did not move the window.
        let mut good = wire.clone();
        assert!(matches!(
            server.unprotect_request(&mut good),
            Ok(Verified::Fresh { .. })
        ));
    }
    // The kid and Partial IV in the OSCORE option are authenticated too.
    let mut server = ctx.server(0, Some(ReplayWindow::provisioned()));
    let mut bad = wire.clone();
    let at = wire
        .windows(3)
        .position(|w| w == [0x09, 0x00, 0x00])
        .unwrap();
    bad[at + 1] = 0x05; // Partial IV 0 -> 5
    assert_eq!(
        server.unprotect_request(&mut bad).err(),
        Some(Error::DecryptFailed)
    );
}

#[test]
fn wrong_kid_context_and_unprotected_are_refused() {
    let ctx = context("C.3");
    let mut client = ctx.client(0);
    let (wire, _) = get(&mut client, b"", &[]);
    let mut other = context("C.3");
    other.id_context = Some(vec![1, 2, 3]);
    let mut server = other.server(0, Some(ReplayWindow::provisioned()));
    assert_eq!(
        server.unprotect_request(&mut wire.clone()).err(),
        Some(Error::UnknownKidContext)
    );
    let mut stranger = context("C.3");
    stranger.client = vec![0x42];
    let mut server = stranger.server(0, Some(ReplayWindow::provisioned()));
    assert_eq!(
        server.unprotect_request(&mut wire.clone()).err(),
        Some(Error::UnknownKid)
    );
    let mut plain = hex::decode("44015d1f00003974396c6f63616c686f737483747631").unwrap();
    assert_eq!(
        server.unprotect_request(&mut plain).err(),
        Some(Error::NotProtected)
    );
    // Observe and Proxy-Uri are refused rather than protected wrongly.
    assert_eq!(
        client
            .protect_request(
                Outer {
                    msg_type: MessageType::Confirmable,
                    message_id: 1,
                    token: b""
                },
                &Plain {
                    code: code::GET,
                    options: &[CoapOption::new(number::OBSERVE, b"")],
                    payload: b""
                },
                &mut [0u8; 64],
            )
            .err(),
        Some(Error::UnsupportedOption)
    );
}

#[test]
fn responses_are_bound_to_their_request() {
    let ctx = context("C.1");
    let mut client = ctx.client(0);
    let mut server = ctx.server(0, Some(ReplayWindow::provisioned()));
    let (mut a, ida) = get(&mut client, b"a", &[]);
    let (_b, idb) = get(&mut client, b"b", &[]);
    let Verified::Fresh { id, .. } = server.unprotect_request(&mut a).unwrap() else {
        panic!()
    };
    let mut out = [0u8; 64];
    let outer = Outer {
        msg_type: MessageType::Acknowledgement,
        message_id: 7,
        token: b"tk",
    };
    let plain = Plain {
        code: code::CHANGED,
        options: &[],
        payload: b"ok",
    };
    for own_piv in [false, true] {
        let n = server
            .protect_response(&id, outer, &plain, own_piv, &mut out)
            .unwrap();
        assert_eq!(
            client
                .unprotect_response(&idb, &mut out[..n].to_vec())
                .err(),
            Some(Error::DecryptFailed),
            "own_piv {own_piv}"
        );
        let mut ok = out[..n].to_vec();
        assert_eq!(
            client.unprotect_response(&ida, &mut ok).unwrap().payload,
            b"ok"
        );
    }
}

#[test]
fn lost_window_recovers_through_echo() {
    let ctx = context("C.2");
    let mut client = ctx.client(100);
    // A request recorded by an attacker before the server lost its state.
    let (old, _) = get(&mut client, b"on", &[]);
    let mut server = ctx.server(0, None);
    // A new request: authentic, but the server cannot know it is fresh.
    let (mut first, _) = get(&mut client, b"off", &[]);
    let Verified::EchoRequired { id } = server.unprotect_request(&mut first).unwrap() else {
        panic!("acted without a window")
    };
    assert!(!id.may_reuse_nonce());
    let echo = [9u8; 8];
    let mut out = [0u8; 64];
    let outer = Outer {
        msg_type: MessageType::Acknowledgement,
        message_id: 7,
        token: b"tk",
    };
    let n = server
        .protect_echo_challenge(&id, outer, echo, &mut out)
        .unwrap();
    // The challenge carries the server's own Partial IV, never the request's nonce.
    let opt = Packet::new_checked(&out[..n])
        .unwrap()
        .option(number::OSCORE)
        .unwrap()
        .to_vec();
    assert_eq!(opt, [0x01, 0x00]);
    // The client reads the Echo value from the protected 4.01 ...
    let (_, cid) = {
        // Rebuild the binding of `first` on the client: it was the client's number 101.
        let mut c2 = ctx.client(101);
        get(&mut c2, b"off", &[])
    };
    let mut challenge = out[..n].to_vec();
    let inner = client.unprotect_response(&cid, &mut challenge).unwrap();
    assert_eq!(inner.code, code::UNAUTHORIZED);
    let got = inner.option(number::ECHO).unwrap().to_vec();
    assert_eq!(got, echo);
    // ... and repeats the request with it: now the server acts.
    let (mut second, _) = get(&mut client, b"off", &[CoapOption::new(number::ECHO, &got)]);
    assert!(matches!(
        server.unprotect_request(&mut second),
        Ok(Verified::Fresh { .. })
    ));
    // The old recording is now below the window's start: never fresh.
    let mut old = old;
    assert!(matches!(
        server.unprotect_request(&mut old).err(),
        Some(Error::Replay) | Some(Error::TooOld)
    ));
    // A wrong Echo value does not initialise anything.
    let mut fresh = ctx.server(0, None);
    let (mut wrong, _) = get(&mut client, b"x", &[CoapOption::new(number::ECHO, &[1; 8])]);
    assert!(matches!(
        fresh.unprotect_request(&mut wrong),
        Ok(Verified::EchoRequired { .. })
    ));
    assert!(fresh.window().is_none());
}

#[test]
fn payloads_up_to_1k_round_trip() {
    let ctx = context("C.1");
    let mut client = ctx.client(0);
    let mut server = ctx.server(0, Some(ReplayWindow::provisioned()));
    for len in [0usize, 1, 4, 16, 64, 255, 256, 512, 1000] {
        let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let (mut wire, _) = get(&mut client, &payload, &[]);
        let Verified::Fresh { request, .. } = server.unprotect_request(&mut wire).unwrap() else {
            panic!()
        };
        assert_eq!(request.payload, &payload[..]);
        assert_eq!(request.code, code::PUT);
    }
}

mod parsers_are_total {
    use super::*;
    use meshseal::oscore::option::OscoreOption;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = Packet::new_checked(&bytes[..]).map(|p| (p.options().count(), p.payload().len()));
            let _ = OscoreOption::new_checked(&bytes[..])
                .map(|o| (o.partial_iv().map(<[u8]>::len), o.kid().map(<[u8]>::len), o.kid_context().map(<[u8]>::len)));
            let _ = meshseal::oscore::coap::Inner::parse(&bytes).map(|i| i.options().count());
            let ctx = context("C.3");
            let mut server = ctx.server(0, None);
            let mut copy = bytes.clone();
            let _ = server.unprotect_request(&mut copy);
        }

        #[test]
        fn protected_requests_with_one_flipped_bit_are_refused(
            payload in proptest::collection::vec(any::<u8>(), 0..64),
            at in any::<prop::sample::Index>(),
            bit in 0u8..8,
        ) {
            let ctx = context("C.1");
            let mut client = ctx.client(3);
            let (wire, _) = get(&mut client, &payload, &[]);
            let mut server = ctx.server(0, Some(ReplayWindow::provisioned()));
            let mut bad = wire.clone();
            let i = at.index(bad.len());
            bad[i] ^= 1 << bit;
            // Header bytes (type, message id, token) are not protected; everything OSCORE
            // covers must be refused.
            if let Ok(Verified::Fresh { request, .. }) = server.unprotect_request(&mut bad) {
                prop_assert!(i < 8, "accepted a change at byte {}", i);
                prop_assert_eq!(request.payload, &payload[..]);
            }
        }
    }
}

#[test]
fn unverified_window_needs_echo_and_keeps_what_it_saw() {
    let ctx = context("C.2");
    let mut client = ctx.client(0);
    let recorded: Vec<Vec<u8>> = (0..5).map(|_| get(&mut client, b"x", &[]).0).collect();
    // A window that saw numbers 0..=4 but does not vouch for freshness.
    let mut w = ReplayWindow::unverified_at(0);
    for s in 1..=4 {
        w.accept(s);
    }
    let mut server = ctx.server(0, Some(w));
    let (mut req, _) = get(&mut client, b"y", &[]);
    let Verified::EchoRequired { id } = server.unprotect_request(&mut req).unwrap() else {
        panic!("acted on an unverified window")
    };
    let outer = Outer {
        msg_type: MessageType::Acknowledgement,
        message_id: 1,
        token: b"",
    };
    server
        .protect_echo_challenge(&id, outer, [5; 8], &mut [0u8; 64])
        .unwrap();
    let (mut echoed, _) = get(&mut client, b"y", &[CoapOption::new(number::ECHO, &[5; 8])]);
    assert!(matches!(
        server.unprotect_request(&mut echoed),
        Ok(Verified::Fresh { .. })
    ));
    assert!(server.window().unwrap().is_verified());
    for mut old in recorded {
        assert!(server.unprotect_request(&mut old).is_err());
    }
}
