//! Runs every case under `tests/ui`: `pass/*.rs` must compile and run, `fail/*.rs` must fail
//! to compile with exactly the checked-in `.stderr`. See `README.md` for re-blessing.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
}
