//! The README's controller walkthrough, run as written: the commands are read from the README
//! itself (so the test and the text cannot drift apart), and every service must end Ready.

mod support;

use std::process::Stdio;
use std::time::{Duration, Instant};

use support::Tug;

/// The `$ tug ...` lines of the README's console block that runs `tug controller --cloud sim`,
/// as argument lists (comments after `#` dropped).
fn walkthrough() -> Vec<Vec<String>> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    let blocks: Vec<&str> = readme.split("```").collect();
    let block = blocks
        .iter()
        .skip(1)
        .step_by(2)
        .find(|b| b.contains("$ tug controller --cloud sim"))
        .expect("the README has a controller walkthrough");
    block
        .lines()
        .filter_map(|l| l.trim().strip_prefix("$ tug "))
        .map(|l| {
            l.split('#')
                .next()
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned)
                .collect()
        })
        .collect()
}

/// Polls `probe` every 200 ms for at most `limit` (a bound on waiting, not a timing assertion).
fn eventually(limit: Duration, mut probe: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if probe() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

#[test]
fn the_readme_controller_walkthrough_ends_with_every_service_ready() {
    let tug = Tug::new();
    let steps = walkthrough();
    assert!(
        steps
            .iter()
            .any(|s| s.first().map(String::as_str) == Some("controller")),
        "{steps:?}"
    );
    let mut controller = None;
    for step in &steps {
        let mut args: Vec<&str> = step.iter().map(String::as_str).collect();
        if args.first() == Some(&"controller") {
            // As written, except on a free port: the test may share the machine.
            if let Some(at) = args.iter().position(|a| *a == "--listen") {
                args[at + 1] = "127.0.0.1:0";
            }
            let child = tug
                .command()
                .args(&args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("the controller starts");
            controller = Some(child);
            // What the walkthrough promises: every service of the examples becomes Ready.
            let ready = eventually(Duration::from_secs(90), || {
                let run = tug.run(&["get", "services", "-o", "json"]);
                let Ok(list) = serde_json::from_str::<serde_json::Value>(&run.stdout) else {
                    return false;
                };
                let items = list["items"].as_array().cloned().unwrap_or_default();
                items.len() == 6 && items.iter().all(|s| s["state"] == "Ready")
            });
            let services = tug.run(&["get", "services"]);
            assert!(
                ready,
                "not every service became Ready:\n{}",
                services.stdout
            );
            continue;
        }
        let run = tug.run(&args);
        assert_eq!(
            run.code,
            0,
            "`tug {}` failed:\n{}{}",
            args.join(" "),
            run.stdout,
            run.stderr
        );
    }
    let mut controller = controller.expect("the walkthrough runs the controller");
    let pid = controller.id().to_string();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status();
    let mut status = None;
    assert!(eventually(Duration::from_secs(30), || {
        status = controller.try_wait().ok().flatten();
        status.is_some()
    }));
    assert_eq!(status.and_then(|s| s.code()), Some(0));
}

/// The console block of "Using tug", command by command: the outputs it shows are the real ones
/// (an AGE column's value aside), so the README cannot drift from the program.
#[test]
fn the_readme_console_example_prints_what_tug_prints() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    let section = readme
        .split("## Using tug")
        .nth(1)
        .expect("a Using tug section");
    let block = section
        .split("```console")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a console block");
    let mut steps: Vec<(String, Vec<String>)> = Vec::new();
    for line in block.lines().filter(|l| !l.is_empty()) {
        match line.strip_prefix("$ tug ") {
            Some(command) => steps.push((command.to_owned(), Vec::new())),
            None => steps
                .last_mut()
                .expect("output follows a command")
                .1
                .push(line.to_owned()),
        }
    }
    assert!(steps.len() >= 4, "{steps:?}");
    // An age (`12s`, `3m`) as the last column says when, not what.
    let normal = |line: &str| -> String {
        let trimmed = line.trim_end();
        match trimmed.rsplit_once(' ') {
            Some((head, age))
                if age.len() > 1
                    && age[..age.len() - 1].bytes().all(|b| b.is_ascii_digit())
                    && age.ends_with(['s', 'm', 'h', 'd']) =>
            {
                format!("{head} AGE")
            }
            _ => trimmed.to_owned(),
        }
    };
    let tug = Tug::new();
    for (command, shown) in &steps {
        let args: Vec<&str> = command.split_whitespace().collect();
        let run = tug.run(&args);
        let printed: Vec<String> = run
            .stdout
            .lines()
            .chain(run.stderr.lines())
            .map(normal)
            .collect();
        let shown: Vec<String> = shown.iter().map(|l| normal(l)).collect();
        assert_eq!(
            printed, shown,
            "`tug {command}` prints otherwise than the README says"
        );
    }
}

/// Every verb `tug --help` lists has a row in the README's command table, and every verb the
/// table names exists.
#[test]
fn the_readme_command_table_names_every_verb_and_only_real_ones() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    let table: Vec<String> = readme
        .lines()
        .filter(|l| l.starts_with("| `tug "))
        .map(|l| {
            l.trim_start_matches("| `tug ")
                .split([' ', '`'])
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    let tug = Tug::new();
    let help = tug.run(&["--help"]).stdout;
    let verbs: Vec<String> = help
        .split("Commands:")
        .nth(1)
        .and_then(|c| c.split("Options:").next())
        .expect("a command list")
        .lines()
        // A verb's line starts two spaces in; a wrapped description, further.
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|v| *v != "help" && l_is_verb(v))
        .map(str::to_owned)
        .collect();
    for verb in &verbs {
        assert!(
            table.contains(verb),
            "`tug {verb}` has no row in the README's table"
        );
    }
    for verb in &table {
        assert!(
            verbs.contains(verb),
            "the README's table names `tug {verb}`, which does not exist"
        );
    }
}

/// A word of the command list that is a verb (not a wrapped description's continuation).
fn l_is_verb(word: &str) -> bool {
    word.bytes().all(|b| b.is_ascii_lowercase())
}
