//! Runs `shmring-dist` as the packaging Makefile does and checks what it
//! wrote: every file, the man pages' structure (and their rendering, where
//! `man` is installed), and the bash completions (where bash is).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_shmring-dist");

/// The visible commands of `shmring`, each with a page of its own.
const COMMANDS: [&str; 8] = ["create", "ls", "stat", "top", "rm", "send", "recv", "demo"];

/// A scratch directory unique to this process and test, removed when the
/// test ends (pass or fail).
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("shmring-dist-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(args: &[&str], dir: &Path) -> Output {
    Command::new(BIN)
        .args(args)
        .arg(dir)
        .output()
        .expect("run shmring-dist")
}

/// Runs it and insists on success in silence.
fn run_ok(args: &[&str], dir: &Path) {
    let out = run(args, dir);
    assert!(out.status.success(), "{args:?} failed: {out:?}");
    assert!(out.stdout.is_empty(), "stdout: {out:?}");
    assert!(out.stderr.is_empty(), "stderr: {out:?}");
}

fn read(path: &Path) -> String {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    assert!(!text.trim().is_empty(), "{} is empty", path.display());
    text
}

fn has(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Where `man` is installed: the page renders, exit status 0, some text.
fn renders(page: &Path) {
    if !has("man") {
        return;
    }
    let out = Command::new("man")
        .arg("-l")
        .arg(page)
        .env("MANWIDTH", "80")
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .output()
        .expect("run man");
    assert!(out.status.success(), "man -l {}: {out:?}", page.display());
    assert!(
        !String::from_utf8_lossy(&out.stdout).trim().is_empty(),
        "man -l {} printed nothing",
        page.display()
    );
}

/// The `.SH` headings of a page, in order.
fn sections(page: &str) -> Vec<String> {
    page.lines()
        .filter_map(|l| l.strip_prefix(".SH "))
        .map(|h| h.trim_matches('"').to_owned())
        .collect()
}

#[test]
fn man_pages() {
    let scratch = Scratch::new("man");
    // A directory that does not exist yet, two levels down.
    let dir = scratch.0.join("share/man1");
    run_ok(&["man"], &dir);

    let shmring = read(&dir.join("shmring.1"));
    assert!(shmring.contains(".TH SHMRING 1 "), "{shmring}");
    assert!(shmring.contains("\nshmring \\- "), "NAME line: {shmring}");
    assert!(
        shmring.contains(&format!("v{}", env!("CARGO_PKG_VERSION"))),
        "version: {shmring}"
    );
    assert_eq!(
        sections(&shmring),
        [
            "NAME",
            "SYNOPSIS",
            "DESCRIPTION",
            "OPTIONS",
            "SUBCOMMANDS",
            "EXIT STATUS",
            "ENVIRONMENT",
            "FILES",
            "VERSION",
            "SEE ALSO"
        ]
    );
    for code in 0..=6 {
        assert!(
            shmring.contains(&format!(".TP\n\\fB{code}\\fR\n")),
            "code {code}"
        );
    }
    for var in ["SHMRING_SOCKET", "XDG_RUNTIME_DIR"] {
        assert!(shmring.contains(&format!("\\fB{var}\\fR")), "{var}");
    }
    assert!(shmring.contains("broker.sock"));
    let see_also = shmring.split(".SH \"SEE ALSO\"").nth(1).unwrap();
    assert!(see_also.contains("shmringd(1)"));
    for command in COMMANDS {
        assert!(
            see_also.contains(&format!("shmring\\-{command}(1)")),
            "{command} in SEE ALSO"
        );
        let page = read(&dir.join(format!("shmring-{command}.1")));
        let title = format!(".TH SHMRING-{} 1 ", command.to_uppercase());
        assert!(page.contains(&title), "{title}: {page}");
        assert!(
            page.contains(&format!("\\fBshmring {command}\\fR")),
            "synopsis"
        );
        assert!(page.contains(".SH \"EXIT STATUS\""), "{command}");
        assert!(page.contains(".SH VERSION"), "{command}");
        renders(&dir.join(format!("shmring-{command}.1")));
    }
    // Hidden and clap's own commands get no page, and are not mentioned.
    assert!(!dir.join("shmring-demo-peer.1").exists());
    assert!(!dir.join("shmring-help.1").exists());
    assert!(!shmring.contains("demo\\-peer"));
    assert!(!shmring.contains("shmring\\-help"));

    let shmringd = read(&dir.join("shmringd.1"));
    assert!(shmringd.contains(".TH SHMRINGD 1 "), "{shmringd}");
    assert!(
        shmringd.contains("\nshmringd \\- "),
        "NAME line: {shmringd}"
    );
    let sections = sections(&shmringd);
    for heading in ["NAME", "SYNOPSIS", "OPTIONS", "EXIT STATUS", "ENVIRONMENT"] {
        assert!(sections.iter().any(|s| s == heading), "{heading}");
    }
    for var in [
        "SHMRING_SOCKET",
        "XDG_RUNTIME_DIR",
        "RUST_LOG",
        "LISTEN_PID, LISTEN_FDS",
        "NOTIFY_SOCKET",
    ] {
        assert!(shmringd.contains(&format!("\\fB{var}\\fR")), "{var}");
    }
    assert!(shmringd.contains("shmring(1)"));

    // Exactly the pages asked for, nothing else.
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let mut expected: Vec<_> = COMMANDS
        .iter()
        .map(|c| format!("shmring-{c}.1"))
        .chain(["shmring.1".into(), "shmringd.1".into()])
        .collect();
    expected.sort();
    assert_eq!(names, expected);

    renders(&dir.join("shmring.1"));
    renders(&dir.join("shmringd.1"));
}

#[test]
fn man_pages_are_reproducible() {
    let scratch = Scratch::new("reproducible");
    let page = |sub: &str| {
        let dir = scratch.0.join(sub);
        let out = Command::new(BIN)
            .args(["man"])
            .arg(&dir)
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        read(&dir.join("shmring.1"))
    };
    let first = page("a");
    assert!(first.contains(".TH SHMRING 1 2023-11-14 "), "{first}");
    assert_eq!(first, page("b"));

    let out = Command::new(BIN)
        .args(["man"])
        .arg(scratch.0.join("c"))
        .env("SOURCE_DATE_EPOCH", "yesterday")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("SOURCE_DATE_EPOCH"));
}

#[test]
fn completions() {
    let scratch = Scratch::new("completions");
    let dir = scratch.0.join("completions");
    run_ok(&["completions"], &dir);
    for file in [
        "bash/shmring",
        "bash/shmringd",
        "zsh/_shmring",
        "zsh/_shmringd",
        "fish/shmring.fish",
        "fish/shmringd.fish",
    ] {
        let text = read(&dir.join(file));
        let name = if file.contains("shmringd") {
            "shmringd"
        } else {
            "shmring"
        };
        assert!(text.contains(name), "{file}");
        // The package's own name must not leak into what users type.
        assert!(!text.contains("shmring-broker"), "{file}");
    }
    let bash = read(&dir.join("bash/shmring"));
    for command in COMMANDS {
        assert!(bash.contains(command), "{command} in bash completion");
    }

    if !has("bash") {
        return;
    }
    for name in ["shmring", "shmringd"] {
        let file = dir.join("bash").join(name);
        let out = Command::new("bash").arg("-n").arg(&file).output().unwrap();
        assert!(out.status.success(), "bash -n {name}: {out:?}");
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!("source \"$1\" && complete -p {name}"))
            .arg("bash")
            .arg(&file)
            .output()
            .unwrap();
        assert!(out.status.success(), "complete -p {name}: {out:?}");
        let listed = String::from_utf8_lossy(&out.stdout);
        assert!(
            listed.trim_end().ends_with(&format!(" {name}")),
            "complete -p {name}: {listed}"
        );
    }
}

#[test]
fn verbose_names_each_file() {
    let scratch = Scratch::new("verbose");
    let out = Command::new(BIN)
        .args(["completions", "-v"])
        .arg(&scratch.0)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<_> = stdout.lines().collect();
    assert_eq!(lines.len(), 6, "{stdout}");
    for line in lines {
        assert!(Path::new(line).is_file(), "{line}");
    }
}

#[test]
fn an_unwritable_directory_is_a_clear_error() {
    let scratch = Scratch::new("unwritable");
    std::fs::create_dir_all(&scratch.0).unwrap();
    // A regular file where a directory should be: refused even for root,
    // which a read-only mode would not stop.
    let file = scratch.0.join("not-a-dir");
    std::fs::write(&file, "").unwrap();
    for what in ["man", "completions"] {
        let out = run(&[what], &file.join("out"));
        assert_eq!(out.status.code(), Some(1), "{what}: {out:?}");
        assert!(out.stdout.is_empty(), "{what}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.starts_with("shmring-dist: cannot "), "{stderr}");
        assert!(stderr.contains("not-a-dir"), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
}
