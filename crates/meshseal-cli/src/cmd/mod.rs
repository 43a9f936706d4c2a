//! One module per command of the `meshseal` binary; each has a `run` that `main` calls with the
//! command's parsed options. Command modules share only `crate::cli_util`, `crate::member` and
//! the state, group and key modules, never each other.

pub mod attack_lab;
pub mod compare;
pub mod demo;
pub mod gateway;
pub mod group;
pub mod inspect;
pub mod open;
pub mod oscore;
pub mod plan;
pub mod provision;
pub mod seal;
pub mod simulate;
