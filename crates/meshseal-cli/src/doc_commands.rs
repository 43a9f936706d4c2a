//! Every `meshseal` command line in the README and `docs/*.md` names a subcommand and flags
//! that exist: lines of code blocks (`$ meshseal ...`, `cargo run ... -- ...`, continuation
//! lines joined) and inline code spans that start with `meshseal `. Optional parts in brackets
//! (`[--json]`) are checked too. Values are not parsed: placeholders (`N`, `FILE`) stand where
//! a document means "yours"; blocks that run as written are the README test's job.

use std::path::Path;

use clap::CommandFactory;

/// Command lines of one Markdown text.
fn command_lines(md: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_block = false;
    // In a shell block every command line counts; in others (output, TOML) only `$ ` prompts.
    let mut shell = false;
    let mut pending = String::new();
    for line in md.lines() {
        if let Some(lang) = line.trim_start().strip_prefix("```") {
            in_block = !in_block;
            shell = in_block && ["sh", "bash", "shell", "console"].contains(&lang.trim());
            continue;
        }
        if in_block {
            let l = line.trim();
            let prompted = l.strip_prefix("$ ");
            if pending.is_empty() && !shell && prompted.is_none() {
                continue;
            }
            let l = prompted.unwrap_or(l);
            let (body, continued) = match l.strip_suffix('\\') {
                Some(b) => (b, true),
                None => (l, false),
            };
            if pending.is_empty() && !starts_command(body) {
                continue;
            }
            pending.push_str(body.trim_end());
            if continued {
                pending.push(' ');
            } else {
                out.push(std::mem::take(&mut pending));
            }
        } else {
            // Inline code spans.
            for (k, span) in line.split('`').enumerate() {
                if k % 2 == 1 && starts_command(span) {
                    out.push(span.to_owned());
                }
            }
        }
    }
    out
}

const CARGO: [&str; 2] = [
    "cargo run --release -p meshseal-cli -- ",
    "cargo run -p meshseal-cli -- ",
];

/// `meshseal` followed by a word (not `meshseal = { ... }` in a manifest).
fn starts_command(l: &str) -> bool {
    let rest = CARGO
        .iter()
        .find_map(|c| l.strip_prefix(c))
        .or_else(|| l.strip_prefix("meshseal "));
    rest.is_some_and(|r| r.starts_with(|c: char| c.is_ascii_lowercase() || c == '-'))
}

/// The words of a command line: `meshseal` and what follows, up to a comment, pipe,
/// redirection or annotation; brackets of optional parts removed; quoted words kept whole.
fn words(line: &str) -> Vec<String> {
    let mut l = line.to_owned();
    for c in CARGO {
        if let Some(rest) = l.strip_prefix(c) {
            l = format!("meshseal {rest}");
        }
    }
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote = None;
    for ch in l.chars() {
        match (quote, ch) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => quote = Some(ch),
            (None, c) if c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            (None, c) => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    let end = out
        .iter()
        .position(|w| {
            ["#", "|", ">", "2>", "&&", "||", ";", "<"].contains(&w.as_str()) || w.starts_with('(')
        })
        .unwrap_or(out.len());
    out.truncate(end);
    out.into_iter()
        .map(|w| w.replace(['[', ']'], ""))
        .filter(|w| !w.is_empty() && w != "...")
        .collect()
}

/// What is wrong with `words` (`meshseal` first), if anything.
fn check(words: &[String]) -> Option<String> {
    let mut cmd = crate::Cli::command();
    cmd.build();
    let mut cur = &cmd;
    let mut path = vec!["meshseal".to_owned()];
    let mut rest = words.iter().skip(1).peekable();
    // Subcommands first.
    while let Some(w) = rest.peek() {
        if w.starts_with('-') {
            break;
        }
        match cur.find_subcommand(w.as_str()) {
            Some(sub) => {
                path.push((*w).clone());
                cur = sub;
                rest.next();
            }
            None if cur.has_subcommands() => {
                return Some(format!("{}: no subcommand {w:?}", path.join(" ")));
            }
            None => break,
        }
    }
    for w in rest {
        let Some(flag) = w.strip_prefix("--") else {
            continue;
        };
        let name = flag.split('=').next().unwrap_or(flag);
        if name.is_empty() || name == "help" {
            continue;
        }
        let known = cur.get_arguments().any(|a| {
            a.get_long() == Some(name) || a.get_all_aliases().is_some_and(|v| v.contains(&name))
        });
        if !known {
            return Some(format!("{}: no flag --{name}", path.join(" ")));
        }
    }
    None
}

#[test]
fn every_documented_command_line_names_real_subcommands_and_flags() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = vec![root.join("README.md")];
    let mut docs: Vec<_> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    let mut checked = 0;
    let mut wrong = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        for line in command_lines(&text) {
            let w = words(&line);
            if w.len() < 2 {
                continue;
            }
            checked += 1;
            if let Some(why) = check(&w) {
                wrong.push(format!(
                    "{}: {line}\n    {why}",
                    f.strip_prefix(&root).unwrap_or(f).display()
                ));
            }
        }
    }
    eprintln!("{checked} command lines checked");
    assert!(checked >= 60, "only {checked} command lines found");
    assert!(
        wrong.is_empty(),
        "{} wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn the_checker_catches_what_it_is_for() {
    let w = |s: &str| words(s);
    assert_eq!(
        check(&w("meshseal seal --group g.toml --sender 1 --hex 01")),
        None
    );
    assert_eq!(
        check(&w("meshseal compare [--receivers N [--repeat K]] [--json]")),
        None
    );
    // Hidden aliases stay documented-valid.
    assert_eq!(check(&w("meshseal simulate --wake-period-ms 250")), None);
    assert!(check(&w("meshseal seal --no-such-flag")).is_some());
    assert!(!starts_command("meshseal = { features = [\"oscore\"] }"));
    assert!(check(&w("meshseal sael --group g.toml")).is_some());
    assert!(check(&w("meshseal oscore sever --context c.json")).is_some());
    assert_eq!(
        w("cargo run --release -p meshseal-cli -- attack-lab --json     # for machines"),
        ["meshseal", "attack-lab", "--json"]
    );
    let md = "text `meshseal open --clock NOW --max-age N` text\n```sh\n$ meshseal loadgen --group g \\\n  --rate 5\n```\n```text\nmeshseal attack lab: 15 threats\n```\n";
    assert_eq!(
        command_lines(md),
        [
            "meshseal open --clock NOW --max-age N",
            "meshseal loadgen --group g --rate 5"
        ]
    );
}
