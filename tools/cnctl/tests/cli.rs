//! The built binary's command line: help, version and usage errors, with their streams and exit
//! codes (nothing here opens a socket).

use std::process::{Command, Output};

/// Runs cnctl with `args`.
fn cnctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cnctl"))
        .args(args)
        .output()
        .expect("cnctl runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("UTF-8 output")
}

/// Asserts that `args` is a usage error: exit code 64, nothing on stdout, one line on stderr
/// that starts with `cnctl: ` and points to the help of `command`. Returns that line.
fn usage_error(args: &[&str], command: &str) -> String {
    let out = cnctl(args);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{args:?}: {err}");
    assert!(
        out.stdout.is_empty(),
        "{args:?}: stdout {:?}",
        text(&out.stdout)
    );
    assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    assert!(err.starts_with("cnctl: "), "{args:?}: {err}");
    let see = if command.is_empty() {
        "(see 'cnctl --help')".to_string()
    } else {
        format!("(see 'cnctl {command} --help')")
    };
    assert!(err.trim_end().ends_with(&see), "{args:?}: {err}");
    err
}

#[test]
fn help_goes_to_stdout_with_exit_code_0() {
    let commands = [
        "",
        "listen",
        "send",
        "raw",
        "flood",
        "bind",
        "notify",
        "proc",
        "fuzz",
        "insmod",
        "rmmod",
        "bench",
        "bench send",
        "bench rtt",
        "bench bcast",
        "bench adddel",
        "bench percb",
    ];
    for command in commands {
        for flag in ["--help", "-h"] {
            let mut args: Vec<&str> = command.split_whitespace().collect();
            args.push(flag);
            let out = cnctl(&args);
            assert_eq!(out.status.code(), Some(0), "{args:?}");
            assert!(out.stderr.is_empty(), "{args:?}");
            let help = text(&out.stdout);
            assert!(help.contains("Usage: cnctl"), "{args:?}: {help}");
            assert!(help.contains("Examples:"), "{args:?}: {help}");
        }
    }
    let top = text(&cnctl(&["--help"]).stdout);
    assert!(top.contains("Exit status:"), "{top}");
    let proc_help = text(&cnctl(&["help", "proc"]).stdout);
    assert!(proc_help.contains("--filter <EVENTS>"), "{proc_help}");
    let flood = text(&cnctl(&["flood", "--help"]).stdout);
    assert!(flood.contains("--reply"), "{flood}");
}

#[test]
fn version_goes_to_stdout_with_exit_code_0() {
    for flag in ["--version", "-V"] {
        let out = cnctl(&[flag]);
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(
            text(&out.stdout),
            format!("cnctl {}\n", env!("CARGO_PKG_VERSION"))
        );
        assert!(out.stderr.is_empty());
    }
}

#[test]
fn usage_errors_are_one_line_with_exit_code_64() {
    usage_error(&[], "");
    usage_error(&["frobnicate"], "");
    usage_error(&["listen"], "listen");
    usage_error(&["listen", "--group", "1", "--bogus"], "listen");
    usage_error(&["listen", "--group", "0x100000000"], "listen");
    usage_error(
        &["--as-uid", "5", "listen", "--group", "1", "--as-uid=6"],
        "listen",
    );
    usage_error(
        &[
            "send", "--idx", "1", "--val", "2", "--hex", "01", "--data", "x",
        ],
        "send",
    );
    usage_error(&["notify", "--idx", "1:1"], "notify");
    usage_error(&["notify", "--remove", "--listen-ms", "5"], "notify");
    usage_error(&["proc", "--legacy", "--filter", "fork"], "proc");
    usage_error(&["insmod", "--fail-nth", "0", "x.ko"], "insmod");
    usage_error(&["rmmod", "a", "b"], "rmmod");
    usage_error(&["bench"], "bench");
    usage_error(
        &["bench", "send", "--size", "1", "--count", "0"],
        "bench send",
    );
    usage_error(&["listen", "--group", "1", "--timestamps", "utc"], "listen");
}

#[test]
fn bad_filter_names_are_usage_errors() {
    for filter in ["forks", "fork,", "exit,bogus", "Fork", "0x100000000"] {
        let err = usage_error(&["proc", "--filter", filter], "proc");
        assert!(err.contains("--filter"), "{err}");
    }
    let err = usage_error(&["proc", "--filter=fork,forks"], "proc");
    assert!(err.contains("unknown event 'forks'"), "{err}");
    assert!(err.contains("nonzero-exit"), "{err}");
}

#[test]
fn missing_required_options_are_named() {
    for (args, command, what) in [
        (&["listen"][..], "listen", "missing required option --group"),
        (
            &["send"][..],
            "send",
            "missing required options --idx, --val",
        ),
        (
            &["send", "--idx", "1"][..],
            "send",
            "missing required option --val",
        ),
        (
            &["notify"][..],
            "notify",
            "missing required option --add|--remove",
        ),
        (
            &["insmod"][..],
            "insmod",
            "missing required argument <FILE.ko>",
        ),
        (
            &["bench", "send", "--size", "1"][..],
            "bench send",
            "missing required option --count",
        ),
    ] {
        let err = usage_error(args, command);
        assert_eq!(
            err.trim_end(),
            format!("cnctl: {what} (see 'cnctl {command} --help')"),
            "{args:?}"
        );
    }
}
