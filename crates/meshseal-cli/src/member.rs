//! A provisioned member at work: its sender resumed from a verified counter record, and its
//! recipient with the replay state, repeats and challenges of its state directory. `seal` and
//! `open` both use them (a receiver answers a stale request with a challenge it seals).

use meshseal::{Error, FrameId, Recipient, RecipientConfig, Sender};

use crate::cli_util::CliError;
use crate::group::{Ccm, Group};
use crate::state::{self, StateDir};

/// How a member that lost its counter comes back, for the error messages.
fn rejoin_hint(id: u32) -> String {
    format!(
        "if the counter is lost, member {id} must not seal with this directory again: re-join \
         it in a new epoch with `meshseal group rekey --group GROUP.toml --rejoin {id} --out \
         GROUP2.toml` (at the group manager), apply the printed rekey messages at the other \
         members with `meshseal open`, and `meshseal provision --group GROUP2.toml --member {id} \
         --state NEWDIR`"
    )
}

/// Checks the member's counter record: a missing or unreadable record, or one below the
/// numbers the directory lists as sealed, is refused (sealing would repeat nonces). Returns the
/// record's store and the length rule's state with the numbers sealed last.
pub fn verify_counter(
    g: &Group,
    st: &StateDir,
    id: u32,
) -> Result<(state::CounterFile, meshseal::context::LengthState, Vec<u64>), CliError> {
    use meshseal::counter::CounterStore;
    let full_every = g.sender_config(id, 1).full_every;
    let (len, recent) = st.load_length(id, g.file.epoch, full_every)?;
    let sealed = recent.iter().copied().chain(len.reference).max();
    let mut store = st.counter(id);
    let dir = st.dir().display();
    match store.load() {
        Err(e) => {
            return Err(CliError::usage(format!(
                "the counter record of member {id} in {dir} is unreadable ({e}); {}",
                rejoin_hint(id)
            )))
        }
        Ok(None) => {
            let evidence = match sealed {
                Some(n) => format!(" although the directory lists number {n} as sealed"),
                None => String::new(),
            };
            return Err(CliError::usage(format!(
                "{dir} has no counter record for member {id} ({}){evidence}: provisioning always \
                 writes one, so it was lost or deleted, and starting again at 0 would repeat \
                 nonces; {}",
                store.path().display(),
                rejoin_hint(id)
            )));
        }
        Ok(Some(limit)) => {
            if let Some(n) = sealed.filter(|&n| n >= limit) {
                return Err(CliError::usage(format!(
                    "the counter record of member {id} in {dir} was rolled back: it allows \
                     number {limit} next, but the directory lists number {n} as sealed (a \
                     restored backup or a copied file); {}",
                    rejoin_hint(id)
                )));
            }
        }
    }
    Ok((store, len, recent))
}

/// A copy of `frame` whose header can be read: unmasked under `keys` in a group with header
/// privacy (a header that does not unmask is left as it is; opening will refuse it).
pub fn readable<A: meshseal::AeadBackend>(
    keys: &meshseal::GroupKeys<A>,
    mode: meshseal::SenderIdMode,
    frame: &[u8],
) -> Vec<u8> {
    let mut copy = frame.to_vec();
    if keys.header_privacy() {
        let _ = meshseal::privacy::unmask(keys, &mut copy, mode);
    }
    copy
}

/// The member's sender, resumed from its verified counter record.
pub fn start_sender(
    g: &Group,
    id: u32,
    st: &StateDir,
) -> Result<(Sender<state::CounterFile, Ccm>, Vec<u64>), CliError> {
    let (store, len, recent) = verify_counter(g, st, id)?;
    let dir = st.dir().display();
    let mut tx = match Sender::new(g.keys()?, g.sender_config(id, 1), store) {
        Ok(tx) => tx,
        Err(e @ (Error::CounterStore | Error::NoCounterRecord)) => {
            return Err(CliError::usage(format!(
                "counter of member {id} in {dir}: {e}; {}",
                rejoin_hint(id)
            )))
        }
        Err(e) => return Err(CliError::usage(format!("cannot start sender: {e}"))),
    };
    tx.restore_length_state(len);
    Ok((tx, recent))
}

/// The member's recipient: its replay windows, tracked repeats and open challenges, in the
/// group's epoch (and the previous one through a rekey's grace period).
pub fn recipient_for<'m>(
    g: &Group,
    id: u32,
    st: &StateDir,
    members: &'m [u32],
) -> Result<Recipient<state::MapStore, &'m [u32], Ccm>, CliError> {
    let store = st.load_replay(id, g.file.group_id, g.file.epoch)?;
    let cfg = RecipientConfig {
        own_id: Some(id),
        order: g.order(),
    };
    let mut rx = match g.previous_keys()? {
        // Through the grace period after a rekey, the previous epoch is accepted too.
        Some((previous, until)) => {
            let mut rx = Recipient::new(previous, cfg, members, store);
            rx.install_epoch(g.keys()?, Some(until))
                .map_err(|e| CliError::usage(format!("cannot install the current epoch: {e}")))?;
            rx
        }
        None => Recipient::new(g.keys()?, cfg, members, store),
    };
    for r in st.load_repeats(id)? {
        rx.restore_repeat(
            FrameId {
                sender: r.sender,
                seq: r.seq,
            },
            r.left,
            r.end,
        );
    }
    for c in st.load_challenges(id)? {
        rx.restore_challenge(
            c.requester,
            FrameId {
                sender: c.sender,
                seq: c.seq,
            },
            c.issued,
        );
    }
    Ok(rx)
}

/// Saves what [`recipient_for`] loaded, as the recipient left it.
pub fn save_recipient(
    g: &Group,
    id: u32,
    st: &StateDir,
    rx: &Recipient<state::MapStore, &[u32], Ccm>,
) -> Result<(), CliError> {
    st.save_replay(id, g.file.group_id, g.file.epoch, rx.replay_store())?;
    let r: Vec<state::RepeatFile> = rx
        .tracked_repeats()
        .map(|(f, left, end)| state::RepeatFile {
            sender: f.sender,
            seq: f.seq,
            left,
            end,
        })
        .collect();
    st.save_repeats(id, &r)?;
    let c: Vec<state::ChallengeFile> = rx
        .challenges()
        .map(|(requester, c, issued)| state::ChallengeFile {
            requester,
            sender: c.sender,
            seq: c.seq,
            issued,
        })
        .collect();
    st.save_challenges(id, &c)
}
