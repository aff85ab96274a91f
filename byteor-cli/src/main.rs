//! The stock `byteor` binary: see the `byteor_cli` library docs for its verbs and exit codes.

fn main() -> std::process::ExitCode {
    byteor_cli::Cli::new().run()
}
