//! `meshseal group new|show|rekey|export`: group files. `new` writes the group file, the group
//! manager's registry and the member identities; `show` summarises a group file (never its
//! secret); `rekey` and `export` are the key management of [`crate::keys`].

use std::path::{Path, PathBuf};

use clap::Subcommand;
use serde_json::{json, Value};

use crate::cli_util::{CliError, Outcome};
use crate::group::{self, Group};
use crate::keys::write_group_file;
use crate::{keys, registry};

#[derive(Subcommand)]
pub enum GroupCmd {
    /// Create a group file with fresh secrets and members 1..=N.
    New {
        /// Number of members, given ids 1..=N.
        #[arg(long)]
        members: u32,
        /// File to write (the group file, or the member's exported file).
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value = "meshseal-group")]
        name: String,
        /// Group id (default: random).
        #[arg(long)]
        group_id: Option<u32>,
        #[arg(long, default_value_t = 0)]
        epoch: u16,
        /// Header privacy: every frame's header masked under the group's privacy key (spec
        /// §20), at no extra byte; recommended. Members must all use it.
        #[arg(long)]
        privacy: bool,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Validate a group file and print a summary (never the secret).
    Show {
        /// The group file (from `meshseal group new`).
        #[arg(long)]
        group: PathBuf,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Move the group to its next key epoch: a new master secret, without the removed members;
    /// prints one rekey message (hex) per remaining member, which `open` applies.
    Rekey {
        /// The group file (from `meshseal group new`).
        #[arg(long)]
        group: PathBuf,
        /// A member to remove (repeatable).
        #[arg(long)]
        remove: Vec<u32>,
        /// A member that lost its counter (factory reset, replaced device, restored backup) and
        /// re-joins in the new epoch: it gets a new individual key and no rekey message; provision
        /// its new state directory with the new group file (repeatable).
        #[arg(long)]
        rejoin: Vec<u32>,
        /// File to write (the group file, or the member's exported file).
        #[arg(long)]
        out: PathBuf,
        /// How long the previous epoch stays accepted after a member switched: 3600 or 1h,
        /// 600s, 10m (a bare number is seconds).
        #[arg(long, default_value = "3600", value_parser = parse_grace)]
        grace: u32,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Write the group file for one member's device: without the other members' individual
    /// secrets.
    Export {
        /// The group file (from `meshseal group new`).
        #[arg(long)]
        group: PathBuf,
        /// The member's sender id.
        #[arg(long)]
        member: u32,
        /// File to write (the group file, or the member's exported file).
        #[arg(long)]
        out: PathBuf,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
}

/// Runs `meshseal group …`.
pub fn run(cmd: GroupCmd) -> Result<Outcome, CliError> {
    match cmd {
        GroupCmd::New {
            members,
            out,
            name,
            group_id,
            epoch,
            privacy,
            force,
        } => new(members, &out, &name, (group_id, epoch), privacy, force),
        GroupCmd::Show { group, json } => show(&group, json),
        GroupCmd::Rekey {
            group,
            remove,
            rejoin,
            out,
            grace,
            force,
            json,
        } => keys::group_rekey(keys::RekeyArgs {
            path: &group,
            remove: &remove,
            rejoin: &rejoin,
            out: &out,
            grace,
            force,
            json_out: json,
        }),
        GroupCmd::Export {
            group,
            member,
            out,
            force,
        } => keys::group_export(&group, member, &out, force),
    }
}

fn new(
    members: u32,
    out: &Path,
    name: &str,
    (gid, epoch): (Option<u32>, u16),
    privacy: bool,
    force: bool,
) -> Result<Outcome, CliError> {
    if members == 0 {
        return Err(CliError::usage("--members must be at least 1".into()));
    }
    if out.exists() && !force {
        return Err(CliError::usage(format!(
            "{} exists (use --force to overwrite)",
            out.display()
        )));
    }
    let mut file = group::new_group(name, members, gid, epoch)?;
    file.policy.privacy = privacy;
    // The manager's record of the identities it hands out, before any of them exists.
    registry::Registry::create(out, file.group_id, epoch)?;
    keys::generate_identities(&mut file, out)?;
    write_group_file(&file, out)?;
    eprintln!(
        "wrote {} (group id {}, {} members) and member identities in {}",
        out.display(),
        file.group_id,
        members,
        keys::identity_path(out, 1)
            .parent()
            .map_or_else(String::new, |p| p.display().to_string())
    );
    Ok(Outcome::Done)
}

fn show(path: &Path, json_out: bool) -> Result<Outcome, CliError> {
    let g = Group::load(path)?;
    let v = json!({
        "status": "ok",
        "name": g.file.name,
        "group_id": g.file.group_id,
        "epoch": g.file.epoch,
        "members": g.file.members.iter().map(|m| json!({"id": m.id, "name": m.name})).collect::<Vec<_>>(),
        "policy": serde_json::to_value(&g.file.policy).unwrap_or(Value::Null),
    });
    if json_out {
        outln!("{v}");
    } else {
        outln!(
            "group {:?}: id {}, epoch {}, {} members{}",
            g.file.name,
            g.file.group_id,
            g.file.epoch,
            g.file.members.len(),
            if g.file.policy.privacy {
                ", header privacy on"
            } else {
                ""
            }
        );
        for m in &g.file.members {
            outln!("  {:>10}  {}", m.id, m.name);
        }
    }
    Ok(Outcome::Done)
}

/// A grace period in whole seconds: a bare number (seconds, as before) or with a unit.
fn parse_grace(s: &str) -> Result<u32, String> {
    let v = crate::cli_util::parse_duration_or_zero(s)?;
    if v.fract() != 0.0 || v > f64::from(u32::MAX) {
        return Err(format!("grace must be whole seconds, found {s:?}"));
    }
    Ok(v as u32)
}
