//! `meshseal`: provision groups, seal and open compact frames, inspect them.
//!
//! This file holds the command line's shape and dispatches each command to its module,
//! `cmd::<name>::run`; what the commands share (errors, exit codes, hex and stdin input,
//! durations, JSON field names) is `cli_util`, a member's sender and recipient state is `member`.
//! No command module uses another.
//!
//! Exit codes (a contract for scripts): 0 success; 1 usage, configuration, I/O or malformed
//! input (hex, group file, state); 2 a frame refused by the protocol, with its reason on stderr
//! and, with `--json`, as `{"status":"refused","reason":"<name>"}` on stdout.

#[macro_use]
mod out;
mod cli_util;
mod cmd;
#[cfg(test)]
mod doc_commands;
mod group;
mod keys;
mod member;
mod registry;
mod state;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

// `cmd::attack_lab` names these at the crate root.
pub(crate) use cli_util::{CliError, Outcome};

#[derive(Parser)]
#[command(
    name = "meshseal",
    version,
    about = "Compact authenticated frames for group traffic of sleepy mesh devices"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Group files.
    Group {
        #[command(subcommand)]
        cmd: cmd::group::GroupCmd,
    },
    /// Create a member's state directory, bound to it: its counter record and verified (fresh)
    /// replay state for every other member. Each member identity is handed out once; a member
    /// that lost its counter re-joins (`group rekey --rejoin`) and is provisioned in the new epoch.
    Provision(cmd::provision::ProvisionArgs),
    /// Seal a payload (from --hex, or raw bytes on stdin) and print the frame as hex.
    Seal(cmd::seal::SealArgs),
    /// Open a frame and print the plaintext as hex; a refused frame exits 2.
    Open(cmd::open::OpenArgs),
    /// Show a frame's header; with --group, verify it and show the plaintext (no replay state).
    Inspect(cmd::inspect::InspectArgs),
    /// A short demonstration: provision a group, seal, open, and refuse a replay and a forgery.
    Demo(cmd::demo::DemoArgs),
    /// OSCORE (RFC 8613) CoAP server and client.
    Oscore {
        #[command(subcommand)]
        cmd: cmd::oscore::OscoreCmd,
    },
    /// Run every threat (T1–T15) as an attack against naive direct-AES schemes and meshseal.
    AttackLab(cmd::attack_lab::AttackLabArgs),
    /// Cost per message and months of battery: DTLS 1.2/1.3, OSCORE and meshseal compared.
    Compare(cmd::compare::CompareArgs),
    /// Simulate a multi-hop mesh of sleepy nodes with an active attacker.
    Simulate(cmd::simulate::SimulateArgs),
    /// Verify frames arriving over UDP with durable or shared replay state (see docs/gateway.md).
    Gateway(cmd::gateway::GatewayArgs),
    /// Send sealed frames from simulated senders to a gateway on loopback.
    Loadgen(cmd::gateway::LoadgenArgs),
    /// Recommend repeats and window for commands to sleepy receivers (see docs/sleepy-receivers.md).
    Plan(cmd::plan::PlanArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    cli_util::exit_code(run(cli.cmd))
}

fn run(command: Cmd) -> Result<Outcome, CliError> {
    match command {
        Cmd::Group { cmd } => cmd::group::run(cmd),
        Cmd::Provision(a) => cmd::provision::run(a),
        Cmd::Seal(a) => cmd::seal::run(a),
        Cmd::Open(a) => cmd::open::run(a),
        Cmd::Inspect(a) => cmd::inspect::run(a),
        Cmd::Demo(a) => cmd::demo::run(a),
        Cmd::Oscore { cmd } => cmd::oscore::run(cmd),
        Cmd::AttackLab(a) => cmd::attack_lab::attack_lab(a),
        Cmd::Compare(a) => cmd::compare::run(a),
        Cmd::Simulate(a) => cmd::simulate::run(a),
        Cmd::Gateway(a) => cmd::gateway::run(a),
        Cmd::Loadgen(a) => cmd::gateway::run_loadgen(a),
        Cmd::Plan(a) => cmd::plan::run(a),
    }
}
