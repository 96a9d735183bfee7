//! `tug demo` in a real pseudo-terminal (util-linux's `script`, sized with `stty`), at 80x24 and
//! 200x50: every frame fits the terminal (no line wider than it, never more rows than it has, so
//! nothing scrolls), the title and the service table are on every frame, the decisions under them
//! are whole (wrapped, never cut), and the closing hint fits too.

use std::process::Command;

/// Strips ANSI escape sequences and carriage returns.
fn plain(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for d in chars.by_ref() {
                    if d.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        if c != '\r' {
            out.push(c);
        }
    }
    out
}

/// The demo's output on a `columns` x `rows` terminal.
fn demo_on(columns: usize, rows: usize) -> String {
    let dir = tempfile::tempdir().expect("temporary directory");
    let typescript = dir.path().join("typescript");
    let command = format!(
        "stty cols {columns} rows {rows}; {} demo --speed 3600 --duration 90m",
        env!("CARGO_BIN_EXE_tug")
    );
    let status = Command::new("script")
        .args(["-qec", &command])
        .arg(&typescript)
        .env("TERM", "xterm")
        .output()
        .expect("util-linux's `script` runs (it gives the demo a pseudo-terminal)");
    assert!(status.status.success(), "{status:?}");
    String::from_utf8_lossy(&std::fs::read(&typescript).expect("typescript")).into_owned()
}

fn check(columns: usize, rows: usize) {
    let raw = demo_on(columns, rows);
    let chunks: Vec<&str> = raw.split("\x1b[H\x1b[2J").skip(1).collect();
    assert!(
        chunks.len() >= 3,
        "a live view was drawn: {} frames",
        chunks.len()
    );
    let services = [
        "appService",
        "test1Service",
        "helloWorldService",
        "todoMain",
        "todoFiles",
    ];
    for (i, chunk) in chunks.iter().enumerate() {
        let text = plain(chunk);
        // The last chunk carries the closing summary after its frame.
        let frame = if i + 1 == chunks.len() {
            text.split("\nDone after")
                .next()
                .unwrap_or_default()
                .to_owned()
        } else {
            text.clone()
        };
        let lines: Vec<&str> = frame.lines().collect();
        assert!(
            lines.len() < rows,
            "{columns}x{rows} frame {i}: {} rows\n{frame}",
            lines.len()
        );
        for line in text.lines() {
            assert!(
                line.chars().count() <= columns,
                "{columns}x{rows} frame {i}: {} wide: {line}",
                line.chars().count()
            );
        }
        assert!(lines[0].starts_with("tug demo"), "title: {frame}");
        assert!(lines[2].starts_with("SERVICE "), "table header: {frame}");
        for service in services {
            assert!(
                lines.iter().any(|l| l.starts_with(service)),
                "{service} on screen: {frame}"
            );
        }
        assert!(lines.iter().any(|l| l.contains("SCALING")), "{frame}");
    }
    let last = plain(chunks.last().expect("frames"));
    assert!(last.contains("Done after"), "{last}");
    // The rollback's reason is whole somewhere on a frame: its words joined back across the wrap.
    let seen: String = chunks
        .iter()
        .map(|c| plain(c).split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join(" ");
    assert!(seen.contains("Rollback: rolling"), "a rollback was shown");
}

#[test]
fn the_demo_fits_an_80x24_terminal() {
    check(80, 24);
}

#[test]
fn the_demo_fits_a_200x50_terminal() {
    check(200, 50);
}
