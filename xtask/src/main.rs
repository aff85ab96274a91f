//! Project tasks: `cargo xtask gen-header [--check]`.
//!
//! `gen-header` writes the C headers generated from Rust layouts:
//! `byteor/include/byteor.h` (the shared-memory region layout, from `byteor::abi`) and
//! `examples/c/tick.h` (the C example's event type, `examples::ticks::Tick`). With `--check` it
//! writes nothing and exits 1 when a checked-in header differs from what the code generates.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use byteor::abi::ShmEvent;

/// Every generated header: its path from the workspace root and its text.
fn headers() -> Vec<(&'static str, String)> {
    vec![
        ("byteor/include/byteor.h", byteor::abi::c::region_c_header()),
        (
            "examples/c/tick.h",
            byteor::abi::c::events_c_header(
                "BYTEOR_EXAMPLE_TICK_H",
                &[&examples::ticks::Tick::LAYOUT],
            ),
        ),
    ]
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// The headers whose checked-in text differs from the generated one.
fn stale() -> Vec<&'static str> {
    headers()
        .into_iter()
        .filter(|(path, text)| {
            std::fs::read_to_string(root().join(path)).ok().as_ref() != Some(text)
        })
        .map(|(path, _)| path)
        .collect()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["gen-header"] => {
            for (path, text) in headers() {
                let path = root().join(path);
                if let Some(dir) = path.parent() {
                    if let Err(e) = std::fs::create_dir_all(dir) {
                        eprintln!("cannot create {}: {e}", dir.display());
                        return ExitCode::FAILURE;
                    }
                }
                if let Err(e) = std::fs::write(&path, text) {
                    eprintln!("cannot write {}: {e}", path.display());
                    return ExitCode::FAILURE;
                }
                println!("wrote {}", path.display());
            }
            ExitCode::SUCCESS
        }
        ["gen-header", "--check"] => {
            let stale = stale();
            if stale.is_empty() {
                println!("C headers are up to date");
                ExitCode::SUCCESS
            } else {
                for path in stale {
                    eprintln!("{path} is stale: run `cargo xtask gen-header`");
                }
                ExitCode::FAILURE
            }
        }
        _ => {
            eprintln!("usage: cargo xtask gen-header [--check]");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn checked_in_c_headers_match_the_rust_layouts() {
        let stale = super::stale();
        assert!(
            stale.is_empty(),
            "stale C headers {stale:?}: run `cargo xtask gen-header`"
        );
    }
}
