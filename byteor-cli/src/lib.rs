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

pub mod doctor;
pub mod exit;
mod incident;
mod input;
pub mod json;
mod run;
mod signals;
mod snapshot;
mod supervise;
mod verbs;

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use byteor::exec::lane_graph::GraphRegistry;
use byteor::exec::StageRegistry;
use byteor::ops::builtin::{builtin_kinds, BuiltinEvent};
use byteor::ops::policy::Environment;
use byteor::ops::profile::TuningProfile;
use byteor::transport::shm::DEFAULT_SHM_DIR;

pub use input::{load, Input, InputError, Lowered};
pub use snapshot::SnapshotFormat;

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
    /// Run a plan with the built-in generator: one shot (--sp), long-running until SIGINT or
    /// SIGTERM, one role over shared memory (--role), or one process per role (--mp).
    #[command(
        after_help = "Exit codes: 0 every stage processed everything; 1 a stage failed, a \
                  role died, events were left unprocessed, or the plan is invalid; 2 usage, I/O \
                  or shared-memory error."
    )]
    Run(RunCommand),
    /// Check this host's readiness for a tuning profile (and a plan's needs).
    Doctor(doctor::DoctorArgs),
    /// Make an incident bundle from a capture directory, or `verify` one.
    #[command(
        args_conflicts_with_subcommands = true,
        after_help = "Exit codes: 0 written (verify: intact); 1 verify: an entry is missing, extra \
                      or altered (each named); 2 usage or I/O error."
    )]
    IncidentBundle(BundleCommand),
    /// Re-run a bundle's captured inputs through its spec: a dry run unless --promote.
    #[command(
        after_help = "Exit codes: 0 replayed and every captured output matched; 1 outputs \
                  differ, a stage failed, or the bundle was refused (tampered, fingerprint \
                  mismatch, missing stage kinds, --promote not allowed); 2 usage or I/O error."
    )]
    Replay {
        /// The bundle.
        file: PathBuf,
        /// Run side-effecting stages for real (needs approvals in staging and prod).
        #[arg(long)]
        promote: bool,
        /// dev, staging or prod (default: BYTEOR_ENV, else dev).
        #[arg(long, value_parser = parse_env)]
        env: Option<Environment>,
        /// Approvals file (default: BYTEOR_APPROVALS).
        #[arg(long, value_name = "FILE")]
        approvals: Option<PathBuf>,
        /// Report format.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Show every shared-memory region of a directory (or one region file), read-only.
    #[command(
        after_help = "Exit codes: 0 every region read; 1 some file is not a readable \
                  region (listed); 2 I/O error, or --clean without confirmation."
    )]
    Snapshot {
        /// A directory of regions, or one region file.
        #[arg(default_value = DEFAULT_SHM_DIR)]
        path: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: SnapshotFormat,
        /// Same as --format json.
        #[arg(long, conflicts_with = "format")]
        json: bool,
        /// Print again every SECS seconds until SIGINT or SIGTERM.
        #[arg(long, value_name = "SECS")]
        watch: Option<f64>,
        /// Remove regions whose owners are dead (and only those), after confirmation.
        #[arg(long)]
        clean: bool,
        /// Do not ask before --clean removes.
        #[arg(long, requires = "clean")]
        yes: bool,
        /// A peer whose heartbeat is older than this is stale.
        #[arg(long, value_name = "MS", default_value_t = 2000)]
        heartbeat_timeout_ms: u64,
    },
}

/// `byteor incident-bundle`'s arguments.
#[derive(Debug, clap::Args)]
struct BundleCommand {
    #[command(subcommand)]
    verify: Option<BundleVerb>,
    /// The capture directory (`run --capture DIR`).
    #[arg(long, value_name = "DIR")]
    from: Option<PathBuf>,
    /// The archive to write.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Only events captured within this long before the last one (e.g. 60s, 5m).
    #[arg(long, value_parser = incident::parse_duration, conflicts_with = "from_seq")]
    last: Option<std::time::Duration>,
    /// Only inputs from this sequence number on (and outputs from then).
    #[arg(long, value_name = "SEQ")]
    from_seq: Option<u64>,
    /// Add a snapshot of the regions in this directory.
    #[arg(long, value_name = "DIR")]
    shm_dir: Option<PathBuf>,
    /// Leave the host report out (it changes from run to run; without it two bundles of one
    /// capture are byte-identical).
    #[arg(long)]
    no_doctor: bool,
}

#[derive(Debug, Subcommand)]
enum BundleVerb {
    /// Check every entry against the manifest; name each missing, extra or altered one.
    Verify {
        /// The bundle.
        file: PathBuf,
    },
}

fn parse_env(s: &str) -> Result<Environment, String> {
    s.parse()
        .map_err(|e: byteor::ops::policy::UnknownEnvironment| e.to_string())
}

/// `byteor run`'s arguments.
#[derive(Debug, clap::Args)]
struct RunCommand {
    /// A plan document (.toml).
    plan: PathBuf,
    /// One-shot bring-up: every role in this process, run to the end of the generated input
    /// (--events, default 1000000), report, exit 0 only if every stage processed everything.
    #[arg(long, conflicts_with_all = ["roles", "mp"])]
    sp: bool,
    /// Events to publish into each ingress (default: until SIGINT or SIGTERM; --sp: 1000000).
    #[arg(long)]
    events: Option<u64>,
    /// Events per second per ingress (default: as fast as the pipeline takes them).
    #[arg(long)]
    rate: Option<f64>,
    /// Tuning profile: default, low-latency, isolated-core.
    #[arg(long, default_value = "default", value_parser = parse_profile)]
    profile: TuningProfile,
    /// Put the rings (SingleRing) or the lanes between processes (LaneGraph with --role) in
    /// shared memory in this directory, where `snapshot` and other processes see them (with
    /// --role and --mp default /dev/shm/byteor).
    #[arg(long, value_name = "DIR")]
    shm_dir: Option<PathBuf>,
    /// Run only this role (repeatable): SingleRing, the ingress's name (the producer) or a
    /// stage's; LaneGraph, an ingress's, a stage's or an egress's.
    #[arg(long = "role", value_name = "NAME")]
    roles: Vec<String>,
    /// Supervise one child process per role; stop them all and name the culprit when one dies.
    #[arg(long, conflicts_with = "roles")]
    mp: bool,
    /// Where Journal lanes keep their files.
    #[arg(long, value_name = "DIR")]
    journal_dir: Option<PathBuf>,
    /// Record every ingress event (and every LaneGraph egress event) into journals here, for
    /// `incident-bundle`.
    #[arg(long, value_name = "DIR")]
    capture: Option<PathBuf>,
    /// Bytes each capture journal keeps (oldest segments go first).
    #[arg(long, value_name = "BYTES", default_value_t = 256 << 20)]
    capture_retain_bytes: u64,
    /// dev, staging or prod (default: BYTEOR_ENV, else dev). In staging and prod every
    /// side-effecting stage needs an approval for this spec.
    #[arg(long, value_parser = parse_env)]
    env: Option<Environment>,
    /// Approvals file (default: BYTEOR_APPROVALS).
    #[arg(long, value_name = "FILE")]
    approvals: Option<PathBuf>,
    /// No progress line, no start-up line.
    #[arg(long)]
    quiet: bool,
    /// Report format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    /// A peer process whose heartbeat is older than this is dead.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    heartbeat_timeout_ms: u64,
}

fn parse_profile(s: &str) -> Result<TuningProfile, String> {
    s.parse()
        .map_err(|e: byteor::ops::profile::UnknownProfile| e.to_string())
}

/// The command line: parse the arguments, run the verb, report.
#[derive(Debug)]
pub struct Cli {
    single: StageRegistry<BuiltinEvent>,
    graph: GraphRegistry,
    product: (String, String),
}

impl Default for Cli {
    fn default() -> Self {
        Cli::new()
    }
}

impl Cli {
    /// The stock command line: the built-in stage kinds
    /// ([`byteor::ops::builtin`]) resolve the plans `run` runs.
    pub fn new() -> Self {
        let (single, graph) = builtin_kinds();
        Cli::with_kinds(single, graph)
    }

    /// A product's command line: `run` resolves plans with these registries (start from
    /// [`builtin_kinds`] and register the product's own kinds over [`BuiltinEvent`]).
    ///
    /// ```no_run
    /// use byteor::ops::builtin::builtin_kinds;
    ///
    /// fn main() -> std::process::ExitCode {
    ///     let (single, graph) = builtin_kinds();
    ///     // single.register::<MyStage>()?; graph.register_plain::<MyStage, _, _>()?; ...
    ///     byteor_cli::Cli::with_kinds(single, graph).run()
    /// }
    /// ```
    pub fn with_kinds(single: StageRegistry<BuiltinEvent>, graph: GraphRegistry) -> Self {
        Cli {
            single,
            graph,
            product: ("byteor".into(), env!("CARGO_PKG_VERSION").into()),
        }
    }

    /// The product binary's name and version, recorded in incident bundles (default `byteor`
    /// and this crate's version).
    pub fn product(mut self, name: impl Into<String>, version: impl Into<String>) -> Self {
        self.product = (name.into(), version.into());
        self
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
            Verb::Doctor(args) => doctor::doctor_verb(&args, out),
            Verb::Run(r) => {
                let args = run::RunArgs {
                    plan: r.plan,
                    sp: r.sp,
                    events: r.events,
                    rate: r.rate,
                    profile: r.profile,
                    shm_dir: r.shm_dir.or_else(|| {
                        (r.mp || !r.roles.is_empty()).then(|| PathBuf::from(DEFAULT_SHM_DIR))
                    }),
                    roles: r.roles,
                    mp: r.mp,
                    journal_dir: r.journal_dir,
                    quiet: r.quiet,
                    format: r.format,
                    heartbeat_timeout: std::time::Duration::from_millis(r.heartbeat_timeout_ms),
                    capture: r.capture,
                    capture_retain_bytes: r.capture_retain_bytes,
                    env: r.env,
                    approvals: r.approvals,
                };
                return match run::run(&args, &self.single, &self.graph, out, err) {
                    Ok(code) => code,
                    Err(e) => {
                        let _ = writeln!(err, "byteor: {e}");
                        e.exit_code()
                    }
                };
            }
            Verb::IncidentBundle(b) => {
                let code = match (b.verify, b.from, b.out) {
                    (Some(BundleVerb::Verify { file }), _, _) => incident::verify(&file, out, err),
                    (None, Some(from), Some(out_file)) => incident::bundle(
                        &incident::BundleArgs {
                            from,
                            out: out_file,
                            last: b.last,
                            from_seq: b.from_seq,
                            shm_dir: b.shm_dir,
                            no_doctor: b.no_doctor,
                            product: self.product.clone(),
                        },
                        out,
                        err,
                    ),
                    _ => {
                        let _ = writeln!(
                            err,
                            "byteor: incident-bundle needs --from DIR and --out FILE (or `verify FILE`)"
                        );
                        return exit::USAGE;
                    }
                };
                return code.unwrap_or_else(|e| {
                    let _ = writeln!(err, "byteor: {e}");
                    exit::USAGE
                });
            }
            Verb::Replay {
                file,
                promote,
                env,
                approvals,
                format,
            } => {
                let args = incident::ReplayArgs {
                    file,
                    promote,
                    env,
                    approvals,
                    format,
                };
                return incident::replay_verb(&args, &self.single, &self.graph, out, err)
                    .unwrap_or_else(|e| {
                        let _ = writeln!(err, "byteor: {e}");
                        exit::USAGE
                    });
            }
            Verb::Snapshot {
                path,
                format,
                json,
                watch,
                clean,
                yes,
                heartbeat_timeout_ms,
            } => {
                let args = snapshot::SnapshotArgs {
                    path,
                    format: if json { SnapshotFormat::Json } else { format },
                    watch,
                    clean,
                    yes,
                    heartbeat_timeout: std::time::Duration::from_millis(heartbeat_timeout_ms),
                };
                return match snapshot::run(&args, out, err) {
                    Ok(code) => code,
                    Err(e) => {
                        let _ = writeln!(err, "byteor: {e}");
                        exit::USAGE
                    }
                };
            }
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
