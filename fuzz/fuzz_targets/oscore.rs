//! `oscore`: the OSCORE parsers (CoAP message, OSCORE option, decrypted inner message) and a
//! server endpoint's request verification never panic on any input.
//!
//! Setup per input: a server endpoint derived from the RFC 8613 Appendix C.1 inputs (master
//! secret 0102..10, salt 9e7c..40, server id `01`, client id empty) with a provisioned replay
//! window. Input: arbitrary bytes, given to `Packet::new_checked`, `OscoreOption::new_checked`
//! (and its Group OSCORE variant), `Inner::parse`, `Endpoint::unprotect_request` and a Group
//! OSCORE server's `GroupServer::unprotect_request`. A request built from arbitrary bytes can only
//! verify if libFuzzer forged an AES-CCM tag, so acceptance is a failure.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meshseal::counter::MemoryStore;
use meshseal::oscore::coap::{Inner, Packet};
use meshseal::oscore::group::{GroupParams, PairwiseKeys};
use meshseal::oscore::group_endpoint::{GroupServer, Member};
use meshseal::oscore::option::OscoreOption;
use meshseal::oscore::{Endpoint, Params, SecurityContext, Verified};
use meshseal::source::SigningKey;

const SECRET: [u8; 16] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
const SALT: [u8; 8] = [0x9e, 0x7c, 0xa9, 0x22, 0x23, 0x78, 0x63, 0x40];

fuzz_target!(|data: &[u8]| {
    let _ = Packet::new_checked(data).map(|p| (p.options().count(), p.payload().len(), p.code()));
    let _ = OscoreOption::new_checked(data).map(|o| {
        (
            o.partial_iv().map(<[u8]>::len),
            o.kid().map(<[u8]>::len),
            o.kid_context().map(<[u8]>::len),
        )
    });
    // The Group OSCORE variant accepts the Group Flag; the accessors must stay in bounds.
    let _ = OscoreOption::new_checked_group(data).map(|o| {
        (
            o.group_flag(),
            o.partial_iv().map(<[u8]>::len),
            o.kid().map(<[u8]>::len),
            o.kid_context().map(<[u8]>::len),
        )
    });
    let _ = Inner::parse(data).map(|i| i.options().count());
    let ctx = SecurityContext::derive(&Params {
        master_secret: &SECRET,
        master_salt: &SALT,
        sender_id: &[1],
        recipient_id: &[],
        id_context: None,
    })
    .expect("RFC inputs derive");
    let mut server = Endpoint::provision(ctx, MemoryStore::default(), 1).expect("endpoint");
    let mut buf = data.to_vec();
    if let Ok(Verified::Fresh { .. } | Verified::EchoRequired { .. }) =
        server.unprotect_request(&mut buf)
    {
        panic!("arbitrary bytes verified as a protected request");
    }
    // A Group OSCORE server with one member (group and pairwise mode): arbitrary bytes never
    // verify as its request.
    let g = GroupParams {
        master_secret: &SECRET,
        master_salt: &SALT,
        gid: &[0x37, 0xcb],
    };
    let mut group =
        GroupServer::<2>::new(&[0x37, 0xcb], g.common().expect("group")).expect("server");
    let vk = SigningKey::from_bytes(&[0x42; 32]).verifying_key();
    let key = g.member_key(&[0x25]).expect("key");
    group
        .add(
            Member::new(&[0x25], &key, &[0xa1, 0x08], vk)
                .expect("member")
                .pairwise(&PairwiseKeys {
                    sender_key: [7; 16],
                    recipient_key: [9; 16],
                }),
        )
        .expect("add");
    let mut buf = data.to_vec();
    let mut scratch = [0u8; 2048];
    if group.unprotect_request(&mut buf, &mut scratch).is_ok() {
        panic!("arbitrary bytes verified as a group-mode or pairwise-mode request");
    }
});
