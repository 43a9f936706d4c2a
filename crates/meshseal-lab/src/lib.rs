//! The attack lab: the threat model of meshseal made executable.
//!
//! The question the lab answers is "what goes wrong if we use AES directly instead of DTLS-PSK,
//! and does meshseal stop it?". It runs every threat of the design (T1–T15) as a real attack
//! ([`attacks`]) against naive direct-AES schemes ([`naive`], insecure by construction and used
//! only here), against the scheme a customer first proposed ([`customer`], insecure too, with
//! sub-checks aimed at each of its ideas) and against meshseal's group mode ([`group`]), all
//! behind one interface ([`scheme::Scheme`]). Each result is judged from what the receivers did
//! and compared with what the scheme's design predicts; a mismatch is a finding, in either
//! direction.
//!
//! Runs are deterministic for a seed: keys, IVs and scenario choices come from ChaCha20 seeded
//! per (scheme, threat) cell, so one cell can be re-run alone with the same result.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod attacks;
pub mod customer;
pub mod group;
pub mod naive;
pub mod report;
pub mod scheme;
pub mod traffic;

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

use crate::scheme::{Scheme, Threat, Verdict};

/// Builds a freshly provisioned group of one scheme from its own random stream.
pub type Build = fn(ChaCha20Rng) -> Result<Box<dyn Scheme>, String>;

/// A scheme the lab can run.
#[derive(Debug, Clone, Copy)]
pub struct SchemeSpec {
    /// Its id, as [`Scheme::id`] returns it.
    pub id: &'static str,
    /// How to build it.
    pub build: Build,
}

fn naive<C: naive::InsecureCipher + 'static>(rng: ChaCha20Rng) -> Result<Box<dyn Scheme>, String> {
    Ok(Box::new(naive::InsecureGroup::<C>::new(rng)))
}

fn customer(rng: ChaCha20Rng) -> Result<Box<dyn Scheme>, String> {
    Ok(Box::new(customer::InsecureCustomerScheme::new(rng)))
}

fn meshseal_group(rng: ChaCha20Rng) -> Result<Box<dyn Scheme>, String> {
    group::MeshsealGroup::new(rng)
        .map(|g| Box::new(g) as Box<dyn Scheme>)
        .map_err(|e| e.reason().to_string())
}

fn meshseal_strong(rng: ChaCha20Rng) -> Result<Box<dyn Scheme>, String> {
    group::MeshsealGroup::strong(rng)
        .map(|g| Box::new(g) as Box<dyn Scheme>)
        .map_err(|e| e.reason().to_string())
}

fn meshseal_private(rng: ChaCha20Rng) -> Result<Box<dyn Scheme>, String> {
    group::MeshsealGroup::recommended(rng)
        .map(|g| Box::new(g) as Box<dyn Scheme>)
        .map_err(|e| e.reason().to_string())
}

/// Every scheme, the insecure ones first. A new mode is one more entry here.
pub fn schemes() -> Vec<SchemeSpec> {
    use naive::InsecureCipher as C;
    vec![
        SchemeSpec {
            id: naive::InsecureAesEcb::ID,
            build: naive::<naive::InsecureAesEcb>,
        },
        SchemeSpec {
            id: naive::InsecureAesCbcFixedIv::ID,
            build: naive::<naive::InsecureAesCbcFixedIv>,
        },
        SchemeSpec {
            id: naive::InsecureAesCbcRandomIv::ID,
            build: naive::<naive::InsecureAesCbcRandomIv>,
        },
        SchemeSpec {
            id: naive::InsecureAesCtrBootCounter::ID,
            build: naive::<naive::InsecureAesCtrBootCounter>,
        },
        SchemeSpec {
            id: naive::InsecureAesCcmNoSenderId::ID,
            build: naive::<naive::InsecureAesCcmNoSenderId>,
        },
        SchemeSpec {
            id: naive::InsecureAesCcmNoReplayWindow::ID,
            build: naive::<naive::InsecureAesCcmNoReplayWindow>,
        },
        SchemeSpec {
            id: customer::ID,
            build: customer,
        },
        SchemeSpec {
            id: "meshseal",
            build: meshseal_group,
        },
        SchemeSpec {
            id: "meshseal-strong",
            build: meshseal_strong,
        },
        SchemeSpec {
            id: "meshseal-private",
            build: meshseal_private,
        },
    ]
}

/// What to run.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Seed of every random choice.
    pub seed: u64,
    /// Threats to run; empty means all.
    pub threats: Vec<Threat>,
    /// Scheme ids to run; empty means all.
    pub schemes: Vec<String>,
}

/// One cell of the table: one attack against one scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Scheme id.
    pub scheme: &'static str,
    /// Scheme name.
    pub scheme_name: &'static str,
    /// The threat.
    pub threat: Threat,
    /// What the attack found.
    pub result: Verdict,
    /// What the scheme's design predicts.
    pub expected: Verdict,
    /// Why it is predicted.
    pub expected_why: &'static str,
    /// One line of evidence from the run.
    pub evidence: String,
    /// The attack's steps.
    pub details: Vec<String>,
    /// Each check that ran (the threat's main scenario first, then sub-checks).
    pub checks: Vec<attacks::Check>,
}

impl Finding {
    /// Whether the result is the predicted one.
    pub fn matches(&self) -> bool {
        self.result == self.expected
    }

    /// The check named `name` ([`attacks::MAIN`] or a sub-check), if it ran.
    pub fn check(&self, name: &str) -> Option<&attacks::Check> {
        self.checks.iter().find(|c| c.name == name)
    }
}

/// A whole run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabRun {
    /// The seed used.
    pub seed: u64,
    /// Schemes run, in order: (id, name).
    pub schemes: Vec<(&'static str, &'static str)>,
    /// Threats run, in order.
    pub threats: Vec<Threat>,
    /// Every cell, threat-major.
    pub findings: Vec<Finding>,
}

impl LabRun {
    /// Whether every result matches its expectation.
    pub fn all_match(&self) -> bool {
        self.findings.iter().all(Finding::matches)
    }

    /// The cell for (scheme, threat).
    pub fn get(&self, scheme: &str, threat: Threat) -> Option<&Finding> {
        self.findings
            .iter()
            .find(|f| f.scheme == scheme && f.threat == threat)
    }
}

/// The random stream of one cell: independent of which other cells run.
fn cell_rng(seed: u64, scheme: usize, threat: Threat, stream: u64) -> ChaCha20Rng {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    rng.set_stream(((scheme as u64) << 16) | ((threat as u64) << 4) | stream);
    rng
}

/// Runs the selected attacks.
pub fn run(cfg: &Config) -> Result<LabRun, String> {
    let all = schemes();
    for id in &cfg.schemes {
        if !all.iter().any(|s| s.id == id) {
            let known: Vec<&str> = all.iter().map(|s| s.id).collect();
            return Err(format!("unknown scheme {id} (known: {})", known.join(", ")));
        }
    }
    let threats: Vec<Threat> = if cfg.threats.is_empty() {
        Threat::ALL.to_vec()
    } else {
        Threat::ALL
            .into_iter()
            .filter(|t| cfg.threats.contains(t))
            .collect()
    };
    let chosen: Vec<(usize, &SchemeSpec)> = all
        .iter()
        .enumerate()
        .filter(|(_, s)| cfg.schemes.is_empty() || cfg.schemes.iter().any(|id| id == s.id))
        .collect();
    let mut run = LabRun {
        seed: cfg.seed,
        schemes: Vec::new(),
        threats: threats.clone(),
        findings: Vec::new(),
    };
    for &threat in &threats {
        for &(i, spec) in &chosen {
            let mut scheme = (spec.build)(cell_rng(cfg.seed, i, threat, 0))?;
            let mut rng = cell_rng(cfg.seed, i, threat, 1);
            let outcome = attacks::run(threat, scheme.as_mut(), &mut rng);
            let (expected, expected_why) = scheme.expected(threat);
            if !run.schemes.iter().any(|(id, _)| *id == scheme.id()) {
                run.schemes.push((scheme.id(), scheme.name()));
            }
            run.findings.push(Finding {
                scheme: scheme.id(),
                scheme_name: scheme.name(),
                threat,
                result: outcome.verdict,
                expected,
                expected_why,
                evidence: outcome.evidence,
                details: outcome.details,
                checks: outcome.checks,
            });
        }
    }
    Ok(run)
}
