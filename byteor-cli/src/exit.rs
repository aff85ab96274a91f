//! The exit codes of every verb.

/// Success: the input is valid and the verb printed what it was asked for.
pub const OK: u8 = 0;

/// Invalid input: a plan or spec that breaks a rule, or a document that does not parse. The
/// violations are printed (all of them).
pub const INVALID: u8 = 1;

/// Usage or I/O error: unknown verb or option, a file that cannot be read, output that cannot
/// be written.
pub const USAGE: u8 = 2;
