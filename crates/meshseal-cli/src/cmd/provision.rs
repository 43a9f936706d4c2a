//! `meshseal provision`: creates a member's state directory, bound to it (group, member,
//! epoch): its first counter record, fresh replay windows for every other member, its identity.
//! The group manager's registry records each device before its directory can seal, so an
//! identity is handed out once (a member that lost its counter re-joins in a new epoch).

use std::path::PathBuf;

use meshseal::replay::{ReplayWindow, WindowKey};

use crate::cli_util::{now_secs, CliError, Outcome};
use crate::group::Group;
use crate::state::{self, StateDir};
use crate::{keys, registry};

/// `meshseal provision` options.
#[derive(clap::Args)]
pub struct ProvisionArgs {
    /// The group file (from `meshseal group new`).
    #[arg(long)]
    group: PathBuf,
    /// The member to provision (its sender id).
    #[arg(long)]
    member: u32,
    /// The state directory to create for it.
    #[arg(long)]
    state: PathBuf,
    /// The member's identity file (private keys); default: the one `group new` wrote
    /// beside the group file, if any.
    #[arg(long)]
    identity: Option<PathBuf>,
}

/// Runs `meshseal provision`.
pub fn run(a: ProvisionArgs) -> Result<Outcome, CliError> {
    let (path, member, dir) = (a.group.as_path(), a.member, a.state.as_path());
    let identity = a.identity.as_deref();
    let g = Group::load(path)?;
    g.require_member(member, "member")?;
    let mut reg = registry::Registry::open(path, g.file.group_id, "provision")?;
    if g.file.epoch < reg.data.epoch {
        return Err(CliError::usage(format!(
            "{} is at epoch {}, but the group manager issued epoch {} (group rekey): provision \
             with the newest group file. A member provisioned in an older epoch would hold fresh \
             replay windows for it while the group may still accept it: recorded frames of that \
             epoch would be accepted again",
            path.display(),
            g.file.epoch,
            reg.data.epoch
        )));
    }
    // A device follows the group into later epochs through its rekey messages, so an identity
    // handed out once is never handed out again, unless the member re-joined since.
    let since = reg
        .rejoined(member)
        .max(g.member(member).and_then(|m| m.rejoined));
    if let Some(d) = reg
        .devices_of(member)
        .find(|d| since.is_none_or(|s| d.epoch >= s))
    {
        return Err(CliError::usage(format!(
            "member {member} was already provisioned (epoch {}, state directory {}): that device, \
             or any copy of its state, seals with its own counter in this epoch and the ones its \
             rekey messages take it to, and a new directory would start again at 0 and repeat \
             its nonces. A member that lost its counter (factory reset, replaced device, restored \
             backup) re-joins in a new epoch: `meshseal group rekey --group {} --rejoin {member} \
             --out NEW.toml`, apply the printed rekey messages at the other members with \
             `meshseal open`, then `meshseal provision --group NEW.toml --member {member} --state \
             NEWDIR`",
            d.epoch,
            d.state,
            path.display()
        )));
    }
    let mut st = StateDir::create(dir)?;
    // Recorded before the directory can seal: a crash from here on leaves the identity used.
    let floor = reg.loadgen_floor(member);
    let at = now_secs();
    reg.data.devices.push(registry::Device {
        member,
        epoch: g.file.epoch,
        state: std::path::absolute(dir)
            .unwrap_or_else(|_| dir.to_owned())
            .display()
            .to_string(),
        at,
    });
    reg.save()?;
    let mut store = state::MapStore::default();
    let fresh = ReplayWindow::provisioned().in_epoch(g.file.epoch);
    for id in g.member_ids().into_iter().filter(|&id| id != member) {
        store.0.insert(WindowKey::group(id), fresh);
        store.0.insert(WindowKey::source(id), fresh);
    }
    st.save_replay(member, g.file.group_id, g.file.epoch, &store)?;
    // The first counter record: 0, or above the numbers the load generator used as this member.
    use meshseal::counter::CounterStore;
    st.counter(member)
        .reserve(floor)
        .map_err(|e| CliError::io("cannot write counter".into(), e))?;
    if g.file.epoch > 0 {
        // Provisioned after a rekey (a re-join): receivers may hold a window of this id from an
        // earlier epoch, so its first frames carry the full number, as after `Sender::rekey`.
        let run = meshseal::context::LengthState {
            full_run: g.sender_config(member, 1).full_every,
            ..Default::default()
        };
        st.save_length(member, g.file.epoch, run, &[])?;
    }
    let with_identity = keys::install_identity(path, &g, member, identity, &st)?;
    st.bind(state::Binding {
        version: 1,
        group_id: g.file.group_id,
        member,
        epoch: g.file.epoch,
        created: at,
    })?;
    eprintln!(
        "provisioned member {member} of group {} (epoch {}) in {}{}{}",
        g.file.group_id,
        g.file.epoch,
        dir.display(),
        if with_identity {
            " with its identity"
        } else {
            ""
        },
        if floor > 0 {
            format!("; its counter starts at {floor}, above the load generator's numbers")
        } else {
            String::new()
        }
    );
    Ok(Outcome::Done)
}
