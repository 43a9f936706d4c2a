//! Renders a [`LabRun`]: a terminal table, JSON for machines, and a Markdown report.
//!
//! When the run includes the customer's first proposal ([`crate::customer`]), the table and the
//! report also judge each idea of that proposal ([`CUSTOMER_IDEAS`]) from the checks that test
//! it: the verdict is computed from the run, only the explanations are fixed text.
//!
//! Output depends only on the run (no clocks, no paths), so equal seeds give equal bytes.

use std::fmt::Write;

use serde::Serialize;

use crate::attacks::{
    Check, CROSS_SENDER_SPLICE, LOCKOUT, MAIN, RESET_BY_MEMBER, RESET_NONCE, RESET_REPLAY,
    RESTORED_BACKUP,
};
use crate::customer;
use crate::scheme::{Threat, Verdict};
use crate::{Finding, LabRun};

/// Short column label of a scheme.
pub fn label(id: &str) -> &str {
    match id {
        "aes-ecb" => "ECB",
        "aes-cbc-fixed-iv" => "CBC-fixIV",
        "aes-cbc-random-iv" => "CBC-rndIV",
        "aes-ctr-boot-counter" => "CTR-boot",
        "aes-ccm-no-sender-id" => "CCM-noSID",
        "aes-ccm-no-replay-window" => "CCM-noRW",
        "meshseal-strong" => "ms-strong",
        "meshseal-private" => "ms-private",
        "customer" => "customer",
        other => other,
    }
}

fn cell(f: &Finding) -> String {
    let v = match f.result {
        Verdict::Broken => "BROKEN",
        Verdict::Held => "held",
        Verdict::NotApplicable => "n/a",
    };
    match (f.matches(), f.result) {
        // Broken by the scheme's own design, as its column predicts.
        (true, Verdict::Broken) => format!("{v}*"),
        (true, _) => v.to_string(),
        (false, _) => format!("{v}!"),
    }
}

/// What each column is, for the screen's legend.
fn legend(id: &str) -> &'static str {
    match id {
        "aes-ecb" => "AES-ECB",
        "aes-cbc-fixed-iv" => "AES-CBC, fixed IV",
        "aes-cbc-random-iv" => "AES-CBC, random IV",
        "aes-ctr-boot-counter" => "AES-CTR, counter from boot",
        "aes-ccm-no-sender-id" => "AES-CCM, nonce without sender id",
        "aes-ccm-no-replay-window" => "AES-CCM, no replay window",
        "customer" => "the customer's first proposal",
        "meshseal" => "meshseal, plain group mode",
        "meshseal-strong" => "meshseal, signed commands + rekey on removal",
        "meshseal-private" => "meshseal, recommended profile: ms-strong + header privacy",
        _ => "",
    }
}

/// Longest evidence line on screen; `--report` keeps the whole text.
const EVIDENCE_WIDTH: usize = 200;

fn shorten(s: &str) -> String {
    if s.chars().count() <= EVIDENCE_WIDTH {
        return s.to_string();
    }
    let cut: String = s.chars().take(EVIDENCE_WIDTH - 1).collect();
    format!("{cut}…")
}

fn trim_end(s: &mut String) {
    let keep = s.trim_end_matches(' ').len();
    s.truncate(keep);
}

/// Counts per verdict and mismatches.
fn counts(run: &LabRun) -> (usize, usize, usize, usize) {
    let n = |v: Verdict| run.findings.iter().filter(|f| f.result == v).count();
    let off = run.findings.iter().filter(|f| !f.matches()).count();
    (
        n(Verdict::Broken),
        n(Verdict::Held),
        n(Verdict::NotApplicable),
        off,
    )
}

fn summary_line(run: &LabRun) -> String {
    let (b, h, na, off) = counts(run);
    let total = run.findings.len();
    if off == 0 {
        format!(
            "{total} results, all as expected: {b} broken, {h} held, {na} not applicable (seed {})",
            run.seed
        )
    } else {
        format!(
            "{total} results, {off} NOT as expected (marked !): {b} broken, {h} held, {na} not applicable (seed {})",
            run.seed
        )
    }
}

/// One idea of the customer's first proposal, the lab checks that test it, and what meshseal
/// does instead.
#[derive(Debug, Clone, Copy)]
pub struct Idea {
    /// The idea, short.
    pub title: &'static str,
    /// What it is meant to achieve.
    pub meant: &'static str,
    /// The checks that test it: (threat, [`MAIN`] or a sub-check name).
    pub checks: &'static [(Threat, &'static str)],
    /// How it holds and where it breaks, as the checks show.
    pub why: &'static str,
    /// What meshseal does instead, with its code paths.
    pub instead: &'static str,
}

/// The ideas of the customer's first proposal, in the order the customer gave them.
pub const CUSTOMER_IDEAS: [Idea; 6] = [
    Idea {
        title: "AES with the shared group key",
        meant: "keep messages secret and unforgeable",
        checks: &[
            (Threat::T1, MAIN),
            (Threat::T2, MAIN),
            (Threat::T11, MAIN),
            (Threat::T12, MAIN),
        ],
        why: "AES-CCM itself holds: every forged or modified frame failed its tag and equal \
              commands look different. But one key held by every member authenticates the \
              group, not the sender: any member, and a member that left (the key cannot change \
              without re-flashing every device), seals as any other.",
        instead: "the same AES-CCM-16-64-128 (`crates/meshseal/src/crypto.rs`: `AeadBackend`, \
                  `RustCryptoCcm`) under keys derived per group and epoch by HKDF \
                  (`GroupKeys::derive`); removing a member rekeys the others under their \
                  individual keys (`rekey.rs`: `seal_rekey`, `open_rekey`; \
                  `Recipient::install_epoch`); critical commands signed with Ed25519 or sent \
                  under pairwise keys (`source.rs`; `Seal::signed`, `Seal::pairwise`, \
                  `Open::require_source`).",
    },
    Idea {
        title: "a message counter carried in each packet, as the nonce",
        meant: "give every packet a unique nonce the receiver can see",
        checks: &[
            (Threat::T2, MAIN),
            (Threat::T3, MAIN),
            (Threat::T4, MAIN),
            (Threat::T4, RESET_NONCE),
            (Threat::T10, MAIN),
            (Threat::T14, MAIN),
            (Threat::T14, RESTORED_BACKUP),
        ],
        why: "a counter kept in flash varies the ciphertext and survives reboots. But a nonce \
              built from the counter alone is the same for every device at the same count under \
              the one key, and again after a reset command, a factory reset, a restored backup \
              or when the 32-bit counter starts over: CCM then reuses its keystream, and one \
              known message reveals the other.",
        instead: "nonce = common IV XOR (sender id, sequence number, epoch) (`crypto.rs`: \
                  `NonceInput::nonce`), sender ids unique per group and checked when a group \
                  file is loaded (`crates/meshseal-cli/src/group.rs`); a 40-bit number reserved \
                  in flash before use (`counter.rs`: `Counter`, `TwoSlotStore`) that never goes \
                  back; at the end of its space the sender refuses (`Counter::take`, \
                  `counter_exhausted`) and `Sender::rekey_due` asks for a new key epoch first. \
                  A sender never starts without its counter record (`Sender::new`: \
                  `no_counter_record`); a device that lost it, or whose record was rolled back, \
                  re-joins under a new epoch's keys (`Sender::provision`).",
    },
    Idea {
        title: "the first packet of a message carries its first and last number",
        meant: "bind the packets of a multi-packet message together",
        checks: &[(Threat::T9, MAIN), (Threat::T9, CROSS_SENDER_SPLICE)],
        why: "for one sender whose numbers never repeat it binds: packets of its other messages \
              carry numbers outside the announced range and are refused. But numbers repeat \
              across senders (and across resets), and the link address that tells senders apart \
              is not authenticated: another sender's later packets, relabelled, complete the \
              message.",
        instead: "each fragment is an AEAD frame whose associated data carries the message's \
                  first sequence number, the fragment count and index, and whose nonce carries \
                  the sender id (`context/message.rs`: `Sender::seal_message`; `context/shared.rs`: \
                  `associated_data`); \
                  reassembly is all-or-nothing (`fragment.rs`: `Reassembler`).",
    },
    Idea {
        title: "the receiver stores the last valid number; later messages must start above it",
        meant: "refuse replays",
        checks: &[
            (Threat::T5, MAIN),
            (Threat::T6, LOCKOUT),
            (Threat::T7, MAIN),
            (Threat::T8, MAIN),
            (Threat::T15, MAIN),
        ],
        why: "plain replays are refused. But one number for all senders lets any sender that is \
              ahead (a busy sensor, its recorded frame delivered elsewhere, an insider choosing a \
              high number) make every other sender's frames look old; the number says nothing \
              about age, so a withheld command with nothing newer is acted on; and a receiver \
              that loses the number accepts everything again.",
        instead: "a sliding window per sender (64 numbers, 24 bytes per window, a second one \
                  for signed and pairwise frames; \
                  `replay.rs`: `ReplayWindow`, `PeerTable`), moved only after the tag verifies, \
                  with the sender id in the nonce so a relabelled frame fails; commands that act \
                  need proof of freshness (`TrafficClass::Challenged`: \
                  `Recipient::issue_challenge`, `expire_challenges`, `Seal::echo`); no \
                  state for a sender means not fresh until a challenge is answered (`replay.rs`: \
                  `unverified_at`, `verify_from_here`). In the group mode any key holder can \
                  still move another member's plain-frame window (T15 falls on `meshseal` too, \
                  by design); signed and pairwise frames are judged by a window of their own \
                  that no plain frame moves (`replay.rs`: `Lane`, `WindowKey`), and a window \
                  holds one key epoch, so the rekey that removes the insider undoes what it \
                  forged (`docs/THREATS.md`, T15).",
    },
    Idea {
        title: "gaps signal drops",
        meant: "tell the application that messages were lost",
        checks: &[(Threat::T6, MAIN), (Threat::T6, LOCKOUT)],
        why: "for one sender the gap is right: the dropped reading was counted missing and the \
              reordered one refused. With one number for all, another sender's frame shows up as \
              a gap and is followed by refusals of genuine frames, so a gap no longer says what \
              was lost, and a refusal no longer says it was an attack.",
        instead: "`gap` and `late` per accepted frame, per sender (`replay.rs`: `OrderPolicy`, \
                  `Accepted`; `context/recipient.rs`: `Opened::gap`, `Opened::late`), totals in `Stats` \
                  (`error.rs`: `missing()`).",
    },
    Idea {
        title: "a special command resets the counters to zero",
        meant: "bring senders and receivers back in step",
        checks: &[
            (Threat::T4, RESET_NONCE),
            (Threat::T5, RESET_REPLAY),
            (Threat::T8, RESET_BY_MEMBER),
        ],
        why: "the reset switches the replay rule off on demand: after it every recorded frame is \
              above the number again; the reset itself can be recorded and replayed (whether or \
              not it is checked against the number, right after a reset it is above it), and any \
              key holder can send it from the controller's unauthenticated link address. It also \
              makes every sender count again through nonces already used under the same key.",
        instead: "no reset: numbers never go back (`counter.rs`). A receiver that lost its state \
                  recovers through a challenge, never by trusting the next frame \
                  (`Recipient::issue_challenge`, `replay.rs`: `verify_from_here`); a receiver \
                  that missed 2^16 or more frames resynchronises from the full sequence number \
                  a sender can always send (`seq.rs`, `frame.rs`: `SeqForm`); fresh counters \
                  come only with fresh keys, a new key epoch (`Sender::rekey`, \
                  `Recipient::install_epoch`, `rekey.rs`).",
    },
];

/// What the run says about one idea.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdeaVerdict {
    /// Every check of the idea held.
    Sound,
    /// Some checks held, some broke: sound only as far as the held ones reach.
    PartlySound,
    /// Every check of the idea broke.
    Unsound,
    /// None of its checks ran (filtered out).
    NotRun,
}

impl IdeaVerdict {
    /// Words for reports.
    pub const fn name(self) -> &'static str {
        match self {
            IdeaVerdict::Sound => "sound",
            IdeaVerdict::PartlySound => "partly sound",
            IdeaVerdict::Unsound => "unsound",
            IdeaVerdict::NotRun => "not tested in this run",
        }
    }
}

/// One idea judged from a run.
#[derive(Debug, Clone)]
pub struct IdeaResult<'a> {
    /// The idea.
    pub idea: &'static Idea,
    /// The verdict, computed from `held` and `broken`.
    pub verdict: IdeaVerdict,
    /// Its checks that held.
    pub held: Vec<(Threat, &'a Check)>,
    /// Its checks that broke.
    pub broken: Vec<(Threat, &'a Check)>,
    /// Its checks that did not run (filtered out, or not applicable).
    pub not_run: usize,
}

/// Judges each idea of the customer's proposal from the customer column of `run`; empty when
/// the run does not include that scheme.
pub fn customer_ideas(run: &LabRun) -> Vec<IdeaResult<'_>> {
    if !run.schemes.iter().any(|(id, _)| *id == customer::ID) {
        return Vec::new();
    }
    CUSTOMER_IDEAS
        .iter()
        .map(|idea| {
            let mut held = Vec::new();
            let mut broken = Vec::new();
            let mut not_run = 0;
            for &(t, name) in idea.checks {
                let Some(c) = run.get(customer::ID, t).and_then(|f| f.check(name)) else {
                    not_run += 1;
                    continue;
                };
                match c.verdict {
                    Verdict::Held => held.push((t, c)),
                    Verdict::Broken => broken.push((t, c)),
                    Verdict::NotApplicable => not_run += 1,
                }
            }
            let verdict = match (held.is_empty(), broken.is_empty()) {
                (false, true) => IdeaVerdict::Sound,
                (false, false) => IdeaVerdict::PartlySound,
                (true, false) => IdeaVerdict::Unsound,
                (true, true) => IdeaVerdict::NotRun,
            };
            IdeaResult {
                idea,
                verdict,
                held,
                broken,
                not_run,
            }
        })
        .collect()
}

/// "held: …; broken: …", and how many of the idea's checks did not run.
fn idea_summary(r: &IdeaResult<'_>) -> String {
    let mut parts = Vec::new();
    if !r.held.is_empty() {
        parts.push(format!("held: {}", check_list(&r.held)));
    }
    if !r.broken.is_empty() {
        parts.push(format!("broken: {}", check_list(&r.broken)));
    }
    if r.not_run > 0 {
        parts.push(format!(
            "{} of its {} checks not in this run",
            r.not_run,
            r.idea.checks.len()
        ));
    }
    parts.join("; ")
}

fn check_ref(t: Threat, c: &Check) -> String {
    if c.name == MAIN {
        t.id().to_string()
    } else {
        format!("{} {}", t.id(), c.name)
    }
}

fn check_list(checks: &[(Threat, &Check)]) -> String {
    checks
        .iter()
        .map(|(t, c)| check_ref(*t, c))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The matrix (threat rows, scheme columns) followed by one evidence line per cell.
pub fn table(run: &LabRun) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "meshseal attack lab: {} threats x {} schemes, seed {}\n",
        run.threats.len(),
        run.schemes.len(),
        run.seed
    );
    let w = run
        .threats
        .iter()
        .map(|t| t.title().len() + 4)
        .max()
        .unwrap_or(0);
    let _ = write!(out, "{:<w$}", "threat");
    for (id, _) in &run.schemes {
        let _ = write!(out, " {:<10}", label(id));
    }
    trim_end(&mut out);
    let _ = writeln!(out);
    for &t in &run.threats {
        let _ = write!(out, "{:<w$}", format!("{:<4}{}", t.id(), t.title()));
        for (id, _) in &run.schemes {
            let c = run.get(id, t).map(cell).unwrap_or_default();
            let _ = write!(out, " {c:<10}");
        }
        trim_end(&mut out);
        let _ = writeln!(out);
    }
    let _ = writeln!(
        out,
        "\n* broken by the scheme's own design, as its column predicts; ! a result that differs \
         from the prediction (a failure)"
    );
    let _ = writeln!(out, "columns:");
    for (id, _) in &run.schemes {
        let _ = writeln!(out, "  {:<10} {}", label(id), legend(id));
    }
    let _ = writeln!(out, "\n{}", summary_line(run));
    let _ = writeln!(
        out,
        "\nevidence (lines shortened to {EVIDENCE_WIDTH} characters; --report FILE.md keeps them whole):"
    );
    for &t in &run.threats {
        let _ = writeln!(out, "{} {}", t.id(), t.title());
        for (id, _) in &run.schemes {
            if let Some(f) = run.get(id, t) {
                let _ = writeln!(
                    out,
                    "  {:<10} {:<7} {}",
                    label(id),
                    cell(f),
                    shorten(&f.evidence)
                );
            }
        }
    }
    let ideas = customer_ideas(run);
    if !ideas.is_empty() {
        let _ = writeln!(out, "\nthe customer's first proposal, idea by idea:");
        for r in &ideas {
            let _ = writeln!(out, "  {:<13} {}", r.verdict.name(), r.idea.title);
            let _ = writeln!(out, "  {:<13}   {}", "", idea_summary(r));
        }
    }
    out
}

/// One cell in JSON.
#[derive(Debug, Serialize)]
pub struct JsonResult<'a> {
    /// Scheme id.
    pub scheme: &'a str,
    /// "T1" … "T15".
    pub threat: &'a str,
    /// Threat title.
    pub title: &'a str,
    /// `broken`, `held` or `not_applicable`.
    pub result: Verdict,
    /// The predicted result.
    pub expected: Verdict,
    /// Whether they agree.
    pub matches: bool,
    /// One line of evidence.
    pub evidence: &'a str,
    /// The attack's steps.
    pub details: &'a [String],
}

/// A scheme in JSON.
#[derive(Debug, Serialize)]
pub struct JsonScheme<'a> {
    /// Id.
    pub id: &'a str,
    /// Name.
    pub name: &'a str,
}

/// Totals in JSON.
#[derive(Debug, Serialize)]
pub struct JsonSummary {
    /// Results that were `broken`.
    pub broken: usize,
    /// Results that were `held`.
    pub held: usize,
    /// Results that were `not_applicable`.
    pub not_applicable: usize,
    /// Results that differ from their expectation.
    pub mismatches: usize,
    /// No mismatches (the command's exit code is 0 exactly then).
    pub all_match: bool,
}

/// The whole run in JSON.
#[derive(Debug, Serialize)]
pub struct JsonRun<'a> {
    /// The seed.
    pub seed: u64,
    /// Schemes in column order.
    pub schemes: Vec<JsonScheme<'a>>,
    /// Every cell, threat-major.
    pub results: Vec<JsonResult<'a>>,
    /// Totals.
    pub summary: JsonSummary,
}

/// The run as a serializable value.
pub fn json(run: &LabRun) -> JsonRun<'_> {
    let (broken, held, not_applicable, mismatches) = counts(run);
    JsonRun {
        seed: run.seed,
        schemes: run
            .schemes
            .iter()
            .map(|(id, name)| JsonScheme { id, name })
            .collect(),
        results: run
            .findings
            .iter()
            .map(|f| JsonResult {
                scheme: f.scheme,
                threat: f.threat.id(),
                title: f.threat.title(),
                result: f.result,
                expected: f.expected,
                matches: f.matches(),
                evidence: &f.evidence,
                details: &f.details,
            })
            .collect(),
        summary: JsonSummary {
            broken,
            held,
            not_applicable,
            mismatches,
            all_match: mismatches == 0,
        },
    }
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|")
}

/// The Markdown report with the evidence in full.
pub fn markdown(run: &LabRun) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# meshseal attack lab report\n");
    let _ = writeln!(
        out,
        "Seed {}: `meshseal attack-lab --seed {}` reproduces this report. {}\n",
        run.seed,
        run.seed,
        summary_line(run)
    );
    let _ = writeln!(out, "## Schemes\n");
    for (id, name) in &run.schemes {
        let _ = writeln!(out, "- `{id}` ({}): {name}", label(id));
    }
    let _ = writeln!(out, "\n## Results\n");
    let _ = write!(out, "| threat |");
    for (id, _) in &run.schemes {
        let _ = write!(out, " {} |", label(id));
    }
    let _ = write!(out, "\n|---|");
    for _ in &run.schemes {
        let _ = write!(out, "---|");
    }
    let _ = writeln!(out);
    for &t in &run.threats {
        let _ = write!(out, "| {} {} |", t.id(), t.title());
        for (id, _) in &run.schemes {
            let c = run.get(id, t).map(cell).unwrap_or_default();
            let _ = write!(out, " {c} |");
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(
        out,
        "\n`BROKEN`: the attack reached its goal; `held`: it was carried out and failed; `n/a`: \
         the scheme has nothing the attack targets; `!`: not the result the scheme's design \
         predicts. A cell is broken when its main attack or any of its sub-checks (`[name]` in \
         the evidence) is."
    );
    write_ideas(&mut out, run);
    for &t in &run.threats {
        write_threat(&mut out, run, t);
    }
    out
}

fn write_ideas(out: &mut String, run: &LabRun) {
    let ideas = customer_ideas(run);
    if ideas.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n## The customer's first proposal, idea by idea\n");
    let _ = writeln!(
        out,
        "Column `{}`: AES-CCM under the shared group key with a nonce built from the message \
         counter only, the counter in each packet, first and last number in the first packet of \
         a message, one last valid number per receiver, gaps reported, and a reset command \
         (`crates/meshseal-lab/src/customer.rs`, insecure, lab only). Each idea is judged from \
         the lab checks that test it.\n",
        label(customer::ID)
    );
    for (i, r) in ideas.iter().enumerate() {
        let _ = writeln!(out, "### {}. {}\n", i + 1, r.idea.title);
        let _ = writeln!(
            out,
            "Meant to {}. **Verdict: {}** ({}).\n",
            r.idea.meant,
            r.verdict.name(),
            idea_summary(r)
        );
        let _ = writeln!(out, "How it fares: {}\n", r.idea.why);
        for (t, c) in r.held.iter().chain(&r.broken) {
            let _ = writeln!(
                out,
                "- {} {}: {}",
                check_ref(*t, c),
                c.verdict.name(),
                c.evidence.replace('\n', " ")
            );
        }
        let _ = writeln!(out, "\nmeshseal instead: {}\n", r.idea.instead);
    }
}

fn write_threat(out: &mut String, run: &LabRun, t: Threat) {
    let _ = writeln!(out, "\n## {} {}\n", t.id(), t.title());
    let _ = writeln!(
        out,
        "| scheme | result | expected | evidence |\n|---|---|---|---|"
    );
    for (id, _) in &run.schemes {
        if let Some(f) = run.get(id, t) {
            let _ = writeln!(
                out,
                "| {} | {} | {} ({}) | {} |",
                label(id),
                f.result.name(),
                f.expected.name(),
                md_escape(f.expected_why),
                md_escape(&f.evidence)
            );
        }
    }
    for (id, _) in &run.schemes {
        if let Some(f) = run.get(id, t) {
            if f.details.is_empty() {
                continue;
            }
            let _ = writeln!(out, "\n{} steps:\n", label(id));
            for d in &f.details {
                let _ = writeln!(out, "- {}", d.replace('\n', " "));
            }
        }
    }
}
