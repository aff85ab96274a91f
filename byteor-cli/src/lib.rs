//! The `byteor` operator command line, as a library: the same verbs the stock `byteor` binary
//! runs, for product binaries to embed.
//!
//! Plan verbs — each takes a plan document (`.toml`) or a spec in canonical kv text (`.kv`;
//! other extensions: whichever of the two the file parses as):
//!
//! | verb | prints |
//! |---|---|
//! | `validate FILE` | whether it is valid, and every violation at once |
//! | `describe FILE` | the lowered pipeline: stages, ring or lanes and roles, fingerprint |
//! | `dot FILE` | the lowered pipeline as a Graphviz digraph |
//! | `lower FILE` | the canonical spec (kv text; `byteor lower plan.toml > plan.kv`) |
//! | `fingerprint FILE` | the spec fingerprint (16 hex digits) |
//!
//! `--format json` (on `validate`, `describe` and `fingerprint`) prints one JSON object with a
//! `schema` field naming its shape and version (`byteor.validate/1`, ...; see
//! [`json`] for every field). Exit codes ([`exit`]): 0 success, 1 invalid input
//! (a plan or spec that breaks a rule, or a document that does not parse), 2 usage or I/O
//! error.
//!
//! ```no_run
//! fn main() -> std::process::ExitCode {
//!     byteor_cli::Cli::new().run()
//! }
//! ```
#![deny(missing_docs)]

pub mod exit;
mod input;
pub mod json;
mod verbs;

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

pub use input::{load, Input, InputError, Lowered};

/// Output format of the verbs that have one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    /// Text for people.
    #[default]
    Text,
    /// One JSON object for tools (see [`json`]).
    Json,
}

#[derive(Debug, Parser)]
#[command(
    name = "byteor",
    version,
    about = "Validate, inspect and lower byteor pipeline plans and specs",
    after_help = "Exit codes: 0 success; 1 invalid input (a plan or spec that breaks a rule, or a \
                  document that does not parse); 2 usage or I/O error."
)]
struct Args {
    #[command(subcommand)]
    verb: Verb,
}

#[derive(Debug, Subcommand)]
enum Verb {
    /// Check a plan document or spec: every violation at once.
    Validate {
        /// A plan document (.toml) or a spec in kv text (.kv).
        file: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Describe the lowered pipeline: stages, ring or lanes and roles, fingerprint.
    Describe {
        /// A plan document (.toml) or a spec in kv text (.kv).
        file: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Print the lowered pipeline as a Graphviz digraph.
    Dot {
        /// A plan document (.toml) or a spec in kv text (.kv).
        file: PathBuf,
    },
    /// Print the canonical spec (kv text).
    Lower {
        /// A plan document (.toml) or a spec in kv text (.kv).
        file: PathBuf,
    },
    /// Print the spec fingerprint.
    Fingerprint {
        /// A plan document (.toml) or a spec in kv text (.kv).
        file: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
}

/// The command line: parse the arguments, run the verb, report.
#[derive(Debug, Default)]
pub struct Cli {
    _private: (),
}

impl Cli {
    /// The stock command line.
    pub fn new() -> Self {
        Cli::default()
    }

    /// Runs with the process's arguments, printing to stdout and stderr; returns the exit code.
    pub fn run(self) -> std::process::ExitCode {
        let code = self.run_with(
            std::env::args_os(),
            &mut std::io::stdout().lock(),
            &mut std::io::stderr().lock(),
        );
        std::process::ExitCode::from(code)
    }

    /// Runs with `args` (the first is the program name), writing to `out` and `err`; returns
    /// the exit code ([`exit`]).
    pub fn run_with<I, T>(self, args: I, out: &mut dyn Write, err: &mut dyn Write) -> u8
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let args = match Args::try_parse_from(args) {
            Ok(args) => args,
            Err(e) => {
                let code = if e.use_stderr() {
                    exit::USAGE
                } else {
                    exit::OK
                };
                let text = e.render().to_string();
                let _ = if e.use_stderr() {
                    err.write_all(text.as_bytes())
                } else {
                    out.write_all(text.as_bytes())
                };
                return code;
            }
        };
        let outcome = match args.verb {
            Verb::Validate { file, format } => verbs::validate(&file, format, out),
            Verb::Describe { file, format } => verbs::describe(&file, format, out),
            Verb::Dot { file } => verbs::dot(&file, out),
            Verb::Lower { file } => verbs::lower(&file, out),
            Verb::Fingerprint { file, format } => verbs::fingerprint(&file, format, out),
        };
        match outcome {
            Ok(code) => code,
            Err(e) => {
                let _ = writeln!(err, "byteor: {e}");
                e.exit_code()
            }
        }
    }
}
