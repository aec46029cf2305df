//! Man pages (section 1) of `shmring`, of each visible `shmring` command
//! (`shmring-create.1` and so on, the way git and cargo split theirs),
//! and of `shmringd`.
//!
//! clap_mangen renders what the command line knows (name, synopsis,
//! description, options, commands); the sections it has no source for
//! (EXIT STATUS, ENVIRONMENT, FILES, SIGNALS, SEE ALSO) are written here
//! in roff, after the ones it renders and before VERSION, in the order
//! man-pages(7) gives.
//!
//! | page             | sections added here                                      |
//! |------------------|----------------------------------------------------------|
//! | `shmring.1`      | EXIT STATUS, ENVIRONMENT, FILES, VERSION, SEE ALSO       |
//! | `shmring-CMD.1`  | EXIT STATUS, VERSION, SEE ALSO                           |
//! | `shmringd.1`     | EXIT STATUS, SIGNALS, ENVIRONMENT, FILES, VERSION, SEE ALSO |

use crate::Output;
use clap::{Command, CommandFactory};
use clap_mangen::Man;
use clap_mangen::roff::{Roff, bold, italic, roman};
use shmring_broker::cli::args::Args;
use shmring_broker::daemon::args::DaemonArgs;
use std::fmt;
use std::path::PathBuf;

/// Why the man pages could not be rendered.
#[derive(Debug)]
pub enum ManError {
    /// `shmring`'s long help no longer lists its exit codes in the form
    /// they are read from.
    NoExitCodes,
    /// `$SOURCE_DATE_EPOCH` is set but is not a number of seconds.
    BadSourceDateEpoch(String),
}

impl fmt::Display for ManError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoExitCodes => f.write_str(
                "the long about of shmring (broker/src/cli/args.rs) no longer says \
                 \"Exit codes: 0 success, 1 error, ...\", which the EXIT STATUS section \
                 of its man pages is made from (packaging/dist/src/man.rs)",
            ),
            Self::BadSourceDateEpoch(value) => {
                write!(f, "SOURCE_DATE_EPOCH={value:?} is not a number of seconds")
            }
        }
    }
}

impl std::error::Error for ManError {}

/// Every man page, `shmring` first.
pub fn pages() -> Result<Vec<Output>, ManError> {
    let shmring = built(Args::command());
    let shmringd = built(DaemonArgs::command());
    let exit_codes = exit_codes(&shmring)?;
    let date = date()?;
    let commands = visible_descendants(&shmring);

    let mut see_also = vec![page_ref(&shmringd)];
    see_also.extend(commands.iter().map(|c| page_ref(c)));
    let extra = Roff::from_iter([
        exit_status(&exit_codes),
        shmring_environment(),
        shmring_files(),
    ]);
    let mut pages = vec![page(&shmring, &date, &extra, &see_also)];

    let see_also = [page_ref(&shmring), page_ref(&shmringd)];
    for command in commands {
        pages.push(page(command, &date, &exit_status(&exit_codes), &see_also));
    }

    let see_also = [
        page_ref(&shmring),
        "sd_listen_fds(3)".to_owned(),
        "sd_notify(3)".to_owned(),
        "systemd.socket(5)".to_owned(),
    ];
    let extra = Roff::from_iter([
        shmringd_exit_status(),
        shmringd_signals(),
        shmringd_environment(),
        shmringd_files(),
    ]);
    pages.push(page(&shmringd, &date, &extra, &see_also));
    Ok(pages)
}

/// `cmd` built, so that each subcommand knows its page name
/// (`shmring-create`) and its synopsis name (`shmring create`).
fn built(cmd: Command) -> Command {
    // clap's `help` command has no page of its own (`shmring help X`
    // prints what `man shmring-X` shows), as git's and cargo's have none.
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    cmd
}

/// The subcommands that get a page: not the hidden ones (`demo-peer` is
/// one process of `demo`, not for users), at any depth.
fn visible_descendants(cmd: &Command) -> Vec<&Command> {
    let mut found = Vec::new();
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        found.push(sub);
        found.extend(visible_descendants(sub));
    }
    found
}

/// The page's name: `shmring`, `shmring-create`.
fn page_name(cmd: &Command) -> &str {
    cmd.get_display_name().unwrap_or_else(|| cmd.get_name())
}

/// How other pages cite it: `shmring-create(1)`.
fn page_ref(cmd: &Command) -> String {
    format!("{}(1)", page_name(cmd))
}

/// One page: clap_mangen's sections, then `extra`, then VERSION and SEE
/// ALSO.
fn page(cmd: &Command, date: &str, extra: &Roff, see_also: &[String]) -> Output {
    let name = page_name(cmd).to_owned();
    // A subcommand has no version of its own; every page carries the
    // release it documents, in the footer and in VERSION.
    let version = version();
    let man = Man::new(cmd.clone())
        .title(name.to_uppercase())
        .date(date)
        .source(format!("shmring {version}"))
        .manual("shmring manual");

    let mut tail = Roff::new();
    tail.control("SH", ["VERSION"])
        .text([roman(format!("v{version}"))]);
    tail.control("SH", ["SEE ALSO"]);
    let refs: Vec<_> = see_also
        .iter()
        .enumerate()
        .flat_map(|(i, r)| {
            let sep = if i + 1 == see_also.len() { "" } else { ", " };
            [bold(r.as_str()), roman(sep)]
        })
        .collect();
    tail.text(refs);

    let mut contents = Vec::new();
    let rendered = (|| {
        let out = &mut contents;
        man.render_title(out)?;
        man.render_name_section(out)?;
        man.render_synopsis_section(out)?;
        man.render_description_section(out)?;
        // The same conditions as `Man::render`, which cannot take extra
        // sections in the middle.
        if cmd.get_arguments().any(|a| !a.is_hide_set()) {
            man.render_options_section(out)?;
        }
        if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
            man.render_subcommands_section(out)?;
        }
        if cmd.get_after_long_help().is_some() || cmd.get_after_help().is_some() {
            man.render_extra_section(out)?;
        }
        extra.to_writer(out)?;
        tail.to_writer(out)
    })();
    rendered.expect("rendering into a Vec cannot fail");
    Output {
        path: PathBuf::from(format!("{name}.1")),
        contents: once_preamble(contents),
    }
}

/// The definitions roff (the crate) writes before every piece it
/// renders, so that an apostrophe prints as one.
const APOSTROPHE_PREAMBLE: &str = ".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n";

/// `page` with the apostrophe definitions kept only at the top: each
/// section clap_mangen renders on its own repeats them.
fn once_preamble(page: Vec<u8>) -> Vec<u8> {
    let page = String::from_utf8(page).expect("roff renders UTF-8 from UTF-8");
    let body = page.replace(APOSTROPHE_PREAMBLE, "");
    let top = if body.len() == page.len() {
        ""
    } else {
        APOSTROPHE_PREAMBLE
    };
    format!("{top}{body}").into_bytes()
}

/// The date in the footer, `YYYY-MM-DD`: `$SOURCE_DATE_EPOCH` when set,
/// so that a package build is reproducible
/// (<https://reproducible-builds.org/specs/source-date-epoch/>), else
/// today. (clap_mangen's default, no date, shifts the `.TH` arguments:
/// an empty argument is not quoted and so vanishes.)
fn date() -> Result<String, ManError> {
    let seconds = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(value) => value
            .trim()
            .parse::<i64>()
            .map_err(|_| ManError::BadSourceDateEpoch(value))?,
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64),
    };
    let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
    Ok(format!("{year:04}-{month:02}-{day:02}"))
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, <https://howardhinnant.github.io/date_algorithms.html>).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of the 400-year era
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // from March 1st
    let mp = (5 * doy + 2) / 153; // month, March = 0
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The release, the same for both binaries (one workspace version).
fn version() -> String {
    Args::command()
        .get_version()
        .unwrap_or(env!("CARGO_PKG_VERSION"))
        .to_owned()
}

/// A section of `.TP` entries: a bold term, then its text.
fn entries(heading: &str, items: &[(&str, &str)]) -> Roff {
    let mut roff = Roff::new();
    roff.control("SH", [heading]);
    for (term, text) in items {
        roff.control("TP", [])
            .text([bold(*term)])
            .text([roman(*text)]);
    }
    roff
}

/// The exit codes of `shmring`, as (code, meaning), read from the one
/// list of them there is, in `shmring --help`:
/// `Exit codes: 0 success, 1 error, …, 6 recv timed out.`
fn exit_codes(shmring: &Command) -> Result<Vec<(String, String)>, ManError> {
    let about = shmring
        .get_long_about()
        .ok_or(ManError::NoExitCodes)?
        .to_string();
    let (_, list) = about
        .split_once("Exit codes:")
        .ok_or(ManError::NoExitCodes)?;
    // The list ends with its paragraph; clap may have kept the doc
    // comment's line breaks inside it.
    let list = list.split("\n\n").next().unwrap_or_default();
    let list = list.replace('\n', " ");
    list.trim()
        .trim_end_matches('.')
        .split(',')
        .map(|item| {
            let (code, meaning) = item.trim().split_once(' ')?;
            code.parse::<u8>().ok()?;
            Some((code.to_owned(), meaning.trim().to_owned()))
        })
        .collect::<Option<Vec<_>>>()
        .filter(|codes| !codes.is_empty())
        .ok_or(ManError::NoExitCodes)
}

/// EXIT STATUS of `shmring` and of each of its commands.
fn exit_status(codes: &[(String, String)]) -> Roff {
    let codes: Vec<_> = codes
        .iter()
        .map(|(c, m)| (c.as_str(), m.as_str()))
        .collect();
    entries("EXIT STATUS", &codes)
}

/// Where a client looks for the broker, and whom it trusts there
/// (`shmring::broker::default_socket_path`, docs/broker.md).
fn shmring_environment() -> Roff {
    entries(
        "ENVIRONMENT",
        &[
            (
                "SHMRING_SOCKET",
                "The broker's socket, when --socket is not given.",
            ),
            (
                "XDG_RUNTIME_DIR",
                "Without SHMRING_SOCKET, the socket is $XDG_RUNTIME_DIR/shmring/broker.sock.",
            ),
            (
                "SHMRING_DAEMON_UID",
                "A uid the broker may run as besides the user's own and root (a system-wide \
                 broker under its own user); shmring refuses to talk to a broker running as \
                 anyone else. A value that is not a number is an error.",
            ),
        ],
    )
}

fn shmring_files() -> Roff {
    let mut roff = default_sockets();
    roff.control("PP", []).text([roman(
        "For these default paths (not for SHMRING_SOCKET or --socket) the socket's \
         directory must be a real directory, not a symbolic link, owned by the user, \
         root or SHMRING_DAEMON_UID, and not writable by group or others; else shmring \
         refuses to connect.",
    )]);
    roff
}

/// FILES, opened with the default socket paths both binaries share.
fn default_sockets() -> Roff {
    entries(
        "FILES",
        &[
            (
                "$XDG_RUNTIME_DIR/shmring/broker.sock",
                "The default broker socket.",
            ),
            (
                "/tmp/shmring-$UID/broker.sock",
                "The default broker socket when XDG_RUNTIME_DIR is unset or empty.",
            ),
        ],
    )
}

/// From docs/broker.md, "Running it": the daemon's exit status is not in
/// its command line.
fn shmringd_exit_status() -> Roff {
    entries(
        "EXIT STATUS",
        &[
            ("0", "Stopped by SIGTERM or SIGINT."),
            (
                "1",
                "Start-up error: another daemon holds the lock, the socket directory is \
                 refused, or the socket cannot be bound.",
            ),
            ("2", "Bad command line or configuration file."),
        ],
    )
}

fn shmringd_signals() -> Roff {
    entries(
        "SIGNALS",
        &[
            (
                "SIGTERM, SIGINT",
                "Stop accepting, close every client, remove the socket and its lock file, \
                 exit 0. Rings already mapped keep working.",
            ),
            (
                "SIGHUP",
                "Reload the [limits] of the --config file; a bad file keeps the old limits.",
            ),
        ],
    )
}

fn shmringd_environment() -> Roff {
    let mut roff = entries(
        "ENVIRONMENT",
        &[
            (
                "SHMRING_SOCKET",
                "Where to listen, when --socket is not given.",
            ),
            (
                "XDG_RUNTIME_DIR",
                "Without SHMRING_SOCKET, the socket is $XDG_RUNTIME_DIR/shmring/broker.sock.",
            ),
            (
                "RUST_LOG",
                "Which log records to print on stderr, in tracing-subscriber's EnvFilter \
                 syntax (for example debug, or shmring=trace); without it, -v chooses.",
            ),
            (
                "LISTEN_PID, LISTEN_FDS",
                "Socket activation: when LISTEN_PID is the daemon's own pid, it serves the \
                 listening socket systemd passed it (from descriptor 3) instead of binding one.",
            ),
            (
                "NOTIFY_SOCKET",
                "Readiness notification: the daemon tells systemd when it is ready to serve \
                 (for Type=notify units).",
            ),
        ],
    );
    roff.control("PP", []).text([
        roman("The systemd variables are read as "),
        bold("sd_listen_fds"),
        roman("(3) and "),
        bold("sd_notify"),
        roman("(3) describe."),
    ]);
    roff
}

fn shmringd_files() -> Roff {
    let mut roff = default_sockets();
    roff.control("TP", [])
        .text([italic("socket"), bold(".lock")])
        .text([roman(
            "Locked while a daemon serves the socket: a second daemon on the same socket \
             exits with status 1, and the socket a killed daemon left behind is replaced.",
        )]);
    roff
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(20_089), (2025, 1, 1));
    }

    #[test]
    fn exit_codes_come_from_the_long_about() {
        let codes = exit_codes(&Args::command()).unwrap();
        let numbers: Vec<_> = codes.iter().map(|(c, _)| c.as_str()).collect();
        assert_eq!(numbers, ["0", "1", "2", "3", "4", "5", "6"]);
        assert_eq!(codes[6].1, "recv timed out");
    }
}
