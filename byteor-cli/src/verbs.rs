//! The plan verbs: each reads its file, lowers or validates it, and prints.

use std::io::Write;
use std::path::Path;

use serde_json::json;

use crate::input::{load, lowered, Input, InputError};
use crate::{exit, json, Format};

/// `validate`: valid (exit 0) or every violation (exit 1), as text or JSON.
pub(crate) fn validate(path: &Path, format: Format, out: &mut dyn Write) -> Result<u8, InputError> {
    // What the file is, when it parses: its name and target even when it breaks rules.
    let header = match load(path) {
        Ok(Input::Plan(plan)) => Some((plan.name.clone(), plan.target.as_str())),
        Ok(Input::Spec(spec)) => Some((spec.name.clone(), spec.target().as_str())),
        Err(e @ InputError::Io { .. }) => return Err(e),
        Err(_) => None,
    };
    let result = lowered(path);
    if let Err(e @ (InputError::Io { .. } | InputError::Output(_))) = result {
        return Err(e);
    }
    let file = path.display().to_string();
    match format {
        Format::Json => {
            let (valid, fingerprint, violations) = match &result {
                Ok(l) => (true, Some(l.spec.fingerprint().to_string()), Vec::new()),
                Err(e) => (false, None, e.messages()),
            };
            let object = json!({
                "schema": json::VALIDATE_SCHEMA,
                "file": file,
                "valid": valid,
                "pipeline": header.as_ref().map(|h| h.0.clone()),
                "target": header.as_ref().map(|h| h.1),
                "fingerprint": fingerprint,
                "violations": violations,
            });
            writeln!(out, "{object}")?;
        }
        Format::Text => match &result {
            Ok(l) => writeln!(
                out,
                "{file}: valid {} `{}`, fingerprint {}",
                l.spec.target().as_str(),
                l.spec.name,
                l.spec.fingerprint()
            )?,
            Err(e) => {
                let messages = e.messages();
                let what = match &header {
                    Some((name, target)) => format!("{target} `{name}`"),
                    None => "input".to_owned(),
                };
                writeln!(
                    out,
                    "{file}: invalid {what}: {} problem{}",
                    messages.len(),
                    if messages.len() == 1 { "" } else { "s" }
                )?;
                for m in messages {
                    let mut lines = m.lines();
                    if let Some(first) = lines.next() {
                        writeln!(out, "  - {first}")?;
                    }
                    for line in lines {
                        writeln!(out, "    {line}")?;
                    }
                }
            }
        },
    }
    Ok(if result.is_ok() {
        exit::OK
    } else {
        exit::INVALID
    })
}

/// `describe`: the lowered pipeline.
pub(crate) fn describe(path: &Path, format: Format, out: &mut dyn Write) -> Result<u8, InputError> {
    let l = lowered(path)?;
    match format {
        Format::Text => write!(out, "{}", byteor::spec::describe(&l.spec))?,
        Format::Json => writeln!(out, "{}", json::describe(&l.spec))?,
    }
    Ok(exit::OK)
}

/// `dot`: the lowered pipeline as a Graphviz digraph.
pub(crate) fn dot(path: &Path, out: &mut dyn Write) -> Result<u8, InputError> {
    let l = lowered(path)?;
    write!(out, "{}", byteor::spec::dot(&l.spec))?;
    Ok(exit::OK)
}

/// `lower`: the canonical spec in kv text.
pub(crate) fn lower(path: &Path, out: &mut dyn Write) -> Result<u8, InputError> {
    let l = lowered(path)?;
    write!(out, "{}", l.spec.to_kv())?;
    Ok(exit::OK)
}

/// `fingerprint`: the spec fingerprint.
pub(crate) fn fingerprint(
    path: &Path,
    format: Format,
    out: &mut dyn Write,
) -> Result<u8, InputError> {
    let l = lowered(path)?;
    let fingerprint = l.spec.fingerprint().to_string();
    match format {
        Format::Text => writeln!(out, "{fingerprint}")?,
        Format::Json => writeln!(
            out,
            "{}",
            json!({
                "schema": json::FINGERPRINT_SCHEMA,
                "pipeline": l.spec.name,
                "fingerprint": fingerprint,
            })
        )?,
    }
    Ok(exit::OK)
}
