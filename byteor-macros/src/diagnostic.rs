//! Error collection shared by every macro: errors are gathered, never thrown, so one expansion
//! reports every mistake in the input, each spanned on the token that causes it.

use std::fmt::Display;

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;

/// Every error found so far, in the order found.
#[derive(Debug, Default)]
pub(crate) struct Diagnostics {
    errors: Vec<syn::Error>,
}

impl Diagnostics {
    /// An empty collection.
    pub(crate) fn new() -> Self {
        Diagnostics::default()
    }

    /// Records an error at `span`.
    pub(crate) fn error(&mut self, span: Span, message: impl Display) {
        self.errors.push(syn::Error::new(span, message));
    }

    /// Records an error covering the tokens of `tokens` (first to last token).
    pub(crate) fn error_spanned(&mut self, tokens: impl ToTokens, message: impl Display) {
        self.errors.push(syn::Error::new_spanned(tokens, message));
    }

    /// Records an already built error (its combined parts stay separate messages).
    pub(crate) fn push(&mut self, error: syn::Error) {
        self.errors.push(error);
    }

    /// Whether nothing was recorded.
    pub(crate) fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// The messages, one per error, in order; for tests.
    #[cfg(test)]
    pub(crate) fn messages(&self) -> Vec<String> {
        self.errors
            .iter()
            .flat_map(|e| e.clone().into_iter().map(|e| e.to_string()))
            .collect()
    }

    /// `compile_error!` invocations for every error (empty when there are none).
    pub(crate) fn to_compile_errors(&self) -> TokenStream {
        self.errors
            .iter()
            .map(syn::Error::to_compile_error)
            .collect()
    }
}

/// Formats names as a list for messages: `` `a`, `b` and `c` ``.
pub(crate) fn list<S: AsRef<str>>(names: &[S]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{}`", n.as_ref())).collect();
    match quoted.as_slice() {
        [] => "none".to_owned(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {}", init.join(", "), last),
    }
}

/// The candidate closest to `name`, if it is close enough to be a likely typo: byteor-model's
/// one "did you mean" ([`byteor_model::diagnostics::did_you_mean`]), so the macro suggests
/// exactly what plan validation would.
pub(crate) fn closest<'a, I>(name: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    byteor_model::diagnostics::did_you_mean(name, candidates)
}

/// " Did you mean `x`?" when a close candidate exists, else "".
pub(crate) fn did_you_mean<'a, I>(name: &str, candidates: I) -> String
where
    I: IntoIterator<Item = &'a str>,
{
    closest(name, candidates)
        .map(|c| format!(" Did you mean `{c}`?"))
        .unwrap_or_default()
}

/// "No such option `x`. The options are `a`, `b` and `c`." (plus a suggestion when close).
pub(crate) fn no_such(what: &str, what_plural: &str, name: &str, valid: &[&str]) -> String {
    format!(
        "No such {what} `{name}`. The {what_plural} are {}.{}",
        list(valid),
        did_you_mean(name, valid.iter().copied())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_read_as_english() {
        assert_eq!(list::<&str>(&[]), "none");
        assert_eq!(list(&["a"]), "`a`");
        assert_eq!(list(&["a", "b", "c"]), "`a`, `b` and `c`");
    }

    #[test]
    fn suggestions_only_for_close_names() {
        let names = ["parse", "risk", "audit", "publish"];
        assert_eq!(closest("pasre", names), Some("parse"));
        assert_eq!(closest("rsik", names), Some("risk"));
        assert_eq!(closest("settlement", names), None);
        assert_eq!(
            closest("parse", names),
            None,
            "an exact match is not a suggestion"
        );
        // Three edits apart is too far for a six-letter name; a swap is one edit.
        assert_eq!(closest("kitten", ["sitting"]), None);
        assert_eq!(closest("pasre", ["parse"]), Some("parse"));
    }

    #[test]
    fn no_such_lists_the_valid_names() {
        assert_eq!(
            no_such("option", "options", "capacty", &["name", "capacity"]),
            "No such option `capacty`. The options are `name` and `capacity`. \
             Did you mean `capacity`?"
        );
    }

    #[test]
    fn errors_are_all_kept() {
        let mut d = Diagnostics::new();
        assert!(d.is_empty() && d.to_compile_errors().is_empty());
        d.error(Span::call_site(), "first");
        d.error(Span::call_site(), "second");
        assert_eq!(d.messages(), ["first", "second"]);
        assert_eq!(
            d.to_compile_errors()
                .to_string()
                .matches("compile_error")
                .count(),
            2
        );
    }
}
