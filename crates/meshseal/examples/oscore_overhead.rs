//! Measures the bytes OSCORE adds to CoAP messages, beside the compact frame.
//!
//! ```sh
//! cargo run -p meshseal --features oscore --example oscore_overhead
//! ```
//!
//! Every figure is the length of a message actually protected by this build, minus the length
//! of the same message unprotected (OSCORE) or minus the payload (compact frame).

#[cfg(feature = "oscore")]
fn main() {
    use meshseal::counter::MemoryStore;
    use meshseal::oscore::coap::{self, code, number, CoapOption, MessageType};
    use meshseal::oscore::{Endpoint, Outer, Params, Plain, SecurityContext, Verified};
    use meshseal::replay::ReplayWindow;
    use meshseal::{GroupKeys, Sender, SenderConfig};

    let secret = [0x42u8; 16];
    let params = |me: &'static [u8], peer: &'static [u8]| Params {
        master_secret: &secret,
        master_salt: &[],
        sender_id: me,
        recipient_id: peer,
        id_context: None,
    };
    let endpoint = |me: &'static [u8], peer: &'static [u8], next: u64| {
        let ctx = SecurityContext::derive(&params(me, peer)).expect("context");
        let store = MemoryStore {
            limit: Some(next),
            writes: 0,
        };
        Endpoint::new(ctx, store, 1, Some(ReplayWindow::provisioned())).expect("endpoint")
    };
    let token = [0xa5u8; 2];
    let path = [CoapOption::new(number::URI_PATH, b"lamp")];
    let plain_len = |ty, c, opts: &[CoapOption<'_>], payload: &[u8]| {
        coap::Repr {
            msg_type: ty,
            code: c,
            message_id: 1,
            token: &token,
            options: opts,
            payload,
        }
        .buffer_len()
        .expect("plain length")
    };

    // Compact frames in steady traffic: seal a run, report the usual (most common) overhead.
    let compact = |len: usize| {
        let keys = GroupKeys::derive(&secret, b"", 7, 0).expect("keys");
        let mut tx =
            Sender::provision(keys, SenderConfig::new(1), MemoryStore::default()).expect("sender");
        let payload = vec![0u8; len];
        let mut counts = std::collections::BTreeMap::new();
        let mut out = [0u8; 256];
        for _ in 0..256 {
            let n = tx.seal(&payload, &mut out).expect("seal");
            *counts.entry(n - len).or_insert(0u32) += 1;
        }
        let usual = counts
            .iter()
            .max_by_key(|(_, c)| **c)
            .map(|(o, _)| *o)
            .unwrap_or(0);
        let max = counts.keys().max().copied().unwrap_or(0);
        (usual, max)
    };

    println!("| payload | CoAP request | OSCORE request (Partial IV 1 B / 2 B / 3 B) | added | CoAP response | OSCORE response (nonce reused / own Partial IV) | added | compact frame (usual / periodic full) |");
    println!("|---|---|---|---|---|---|---|---|");
    for len in [1usize, 4, 16, 64] {
        let payload = vec![0x11u8; len];
        let req_plain = plain_len(MessageType::Confirmable, code::PUT, &path, &payload);
        let mut req_sizes = Vec::new();
        let mut last = None;
        for next in [100u64, 10_000, 1_000_000] {
            let mut client = endpoint(&[0x01], &[0x02], next);
            let mut out = [0u8; 512];
            let (n, id) = client
                .protect_request(
                    Outer {
                        msg_type: MessageType::Confirmable,
                        message_id: 1,
                        token: &token,
                    },
                    &Plain {
                        code: code::PUT,
                        options: &path,
                        payload: &payload,
                    },
                    &mut out,
                )
                .expect("protect");
            req_sizes.push(n);
            last = Some((out[..n].to_vec(), id));
        }
        // Responses to the last request, from a server that verified it.
        let (mut wire, _) = last.expect("request");
        let mut server = endpoint(&[0x02], &[0x01], 0);
        let Ok(Verified::Fresh { id, .. }) = server.unprotect_request(&mut wire) else {
            panic!("request not verified")
        };
        let resp_plain = plain_len(MessageType::Acknowledgement, code::CONTENT, &[], &payload);
        let mut resp_sizes = Vec::new();
        for own_piv in [false, true] {
            let mut out = [0u8; 512];
            let n = server
                .protect_response(
                    &id,
                    Outer {
                        msg_type: MessageType::Acknowledgement,
                        message_id: 1,
                        token: &token,
                    },
                    &Plain {
                        code: code::CONTENT,
                        options: &[],
                        payload: &payload,
                    },
                    own_piv,
                    &mut out,
                )
                .expect("protect response");
            resp_sizes.push(n);
        }
        let (usual, max) = compact(len);
        println!(
            "| {len} | {req_plain} | {} / {} / {} | +{} / +{} / +{} | {resp_plain} | {} / {} | +{} / +{} | +{usual} / +{max} |",
            req_sizes[0],
            req_sizes[1],
            req_sizes[2],
            req_sizes[0] - req_plain,
            req_sizes[1] - req_plain,
            req_sizes[2] - req_plain,
            resp_sizes[0],
            resp_sizes[1],
            resp_sizes[0] - resp_plain,
            resp_sizes[1] - resp_plain,
        );
    }
}

#[cfg(not(feature = "oscore"))]
fn main() {
    eprintln!("build with --features oscore");
}
