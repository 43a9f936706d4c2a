//! Footprint: a Group OSCORE member (RFC 10021) that protects group-mode requests and verifies
//! them: on-device HKDF of the group keys, AES-CCM-16-64-128, an Ed25519 countersignature per
//! request and its keystream. "seal" is `GroupClient::protect_request` of a 16-byte POST,
//! "open" is `GroupServer::unprotect_request` of it.
#![no_std]
#![no_main]

use core::hint::black_box;
use core::mem::size_of_val;
use cortex_m_rt::entry;
use meshseal::counter::MemoryStore;
use meshseal::oscore::coap::{CoapOption, MessageType};
use meshseal::oscore::group::{ccs_credential, GroupParams, CCS_CREDENTIAL_LEN};
use meshseal::oscore::group_endpoint::{
    ClientKeys, GroupClient, GroupServer, GroupVerified, Member,
};
use meshseal::oscore::{Outer, Plain};
use meshseal::source::SigningKey;
use meshseal_qemu_m4 as fw;

const SECRET: [u8; 16] = *b"meshseal-gr-sec!";
const GID: [u8; 8] = *b"gid-fp-8";
const KID: [u8; 1] = [0x25];
const SEED: [u8; 32] = [0x41; 32];
/// Room for one protected request (payload, option, tag, 64-byte signature, CoAP framing).
const MSG: usize = 128;

type Client = GroupClient<MemoryStore>;

/// The member as a client and as the server that verifies it.
fn contexts() -> Option<(Client, GroupServer<2>)> {
    let g = GroupParams {
        master_secret: black_box(&SECRET),
        master_salt: &[],
        gid: &GID,
    };
    let signing = SigningKey::from_bytes(black_box(&SEED));
    let mut cred = [0u8; CCS_CREDENTIAL_LEN];
    let n = ccs_credential(&signing.verifying_key(), &mut cred).ok()?;
    let key = g.member_key(&KID).ok()?;
    let client = GroupClient::provision(
        ClientKeys {
            gid: &GID,
            common: g.common().ok()?,
            kid: &KID,
            group_key: &key,
            credential: &cred[..n],
            signing: signing.clone(),
        },
        MemoryStore::default(),
        1024,
    )
    .ok()?;
    let mut server = GroupServer::new(&GID, g.common().ok()?).ok()?;
    server
        .add(Member::new(&KID, &key, &cred[..n], signing.verifying_key()).ok()?)
        .ok()?;
    Some((client, server))
}

fn protect(c: &mut Client, out: &mut [u8], scratch: &mut [u8]) -> Option<usize> {
    let path = [CoapOption::new(11, b"t")];
    let plain = Plain {
        code: 0x02,
        options: &path,
        payload: black_box(&fw::FP_PAYLOAD),
    };
    let outer = Outer {
        msg_type: MessageType::NonConfirmable,
        message_id: 1,
        token: &[1],
    };
    c.protect_request(outer, &plain, out, scratch)
        .ok()
        .map(|(n, _)| n)
}

fn verify(s: &mut GroupServer<2>, msg: &mut [u8], scratch: &mut [u8]) -> bool {
    s.unprotect_request(msg, scratch)
        .ok()
        .and_then(GroupVerified::fresh)
        .is_some_and(|r| r.inner.payload == fw::FP_PAYLOAD)
}

#[entry]
fn main() -> ! {
    let Some(mut p) = cortex_m::Peripherals::take() else {
        fw::exit(false)
    };
    fw::start_timer(&mut p.SYST);
    let mut ok = false;
    let setup = fw::stack_high_water(|| {
        let mut scratch = [0u8; MSG + 320];
        let mut out = [0u8; MSG];
        ok = contexts().is_some_and(|(mut c, mut s)| {
            protect(&mut c, &mut out, &mut scratch)
                .is_some_and(|n| verify(&mut s, &mut out[..n], &mut scratch))
        });
        black_box(out);
    });
    let Some((mut client, mut server)) = contexts() else {
        fw::exit(false)
    };
    let contexts = size_of_val(&client) + size_of_val(&server);
    let mut msgs = [([0u8; MSG], 0usize); fw::RUNS as usize];
    let mut scratch = [0u8; MSG + 320];
    let (sealed, seal_stack) = fw::timed(|| {
        for (m, n) in msgs.iter_mut() {
            match protect(&mut client, m, &mut scratch) {
                Some(len) => *n = len,
                None => ok = false,
            }
        }
    });
    let (opened, open_stack) = fw::timed(|| {
        for (m, n) in msgs.iter_mut() {
            ok &= verify(&mut server, &mut m[..*n], &mut scratch);
        }
    });
    fw::report(
        "group_oscore",
        setup,
        contexts,
        seal_stack.max(open_stack),
        sealed,
        opened,
    );
    fw::exit(ok)
}
