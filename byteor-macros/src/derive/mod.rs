//! The derive macros on user types.

pub(crate) mod shm_event;
pub(crate) mod stage_descriptor;

use quote::ToTokens;

/// `RiskCheck` -> `risk_check`, `HTTPGateway` -> `http_gateway`, `Stage2` -> `stage2`.
pub(crate) fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev = i.checked_sub(1).map(|p| chars[p]);
            let next = chars.get(i + 1).copied();
            let after_lower = prev.is_some_and(|p| p.is_lowercase() || p.is_ascii_digit());
            let ends_acronym =
                prev.is_some_and(char::is_uppercase) && next.is_some_and(char::is_lowercase);
            if (after_lower || ends_acronym) && !out.ends_with('_') {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Source text of tokens as a person would write it: `Vec<String>`, `[u8; 4]`, `Some(3)`.
///
/// `TokenStream::to_string` puts a space between every token; this keeps a space only between
/// two word-like tokens (`dyn Trait`) and after `,` / `;`.
pub(crate) fn normalize_tokens(tokens: impl ToTokens) -> String {
    let raw = tokens.to_token_stream().to_string();
    let chars: Vec<char> = raw.chars().collect();
    let wordy = |c: char| c.is_alphanumeric() || c == '_' || c == '"' || c == '\'';
    let mut out = String::with_capacity(raw.len());
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' {
            let prev = out.chars().last();
            let next = chars.get(i + 1).copied();
            let keep = match (prev, next) {
                (Some(p), Some(n)) => (wordy(p) && wordy(n)) || p == ',' || p == ';',
                _ => false,
            };
            if keep {
                out.push(' ');
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_handles_acronyms_and_digits() {
        assert_eq!(snake_case("RiskCheck"), "risk_check");
        assert_eq!(snake_case("HTTPGateway"), "http_gateway");
        assert_eq!(snake_case("Parse"), "parse");
        assert_eq!(snake_case("Stage2Writer"), "stage2_writer");
        assert_eq!(snake_case("already_snake"), "already_snake");
    }

    #[test]
    fn normalized_tokens_read_like_source() {
        let ty: syn::Type = syn::parse_str("Option < Vec < String > >").unwrap();
        assert_eq!(normalize_tokens(&ty), "Option<Vec<String>>");
        let ty: syn::Type = syn::parse_str("[u8; 4]").unwrap();
        assert_eq!(normalize_tokens(&ty), "[u8; 4]");
        let ty: syn::Type = syn::parse_str("std::collections::BTreeMap<String, u32>").unwrap();
        assert_eq!(
            normalize_tokens(&ty),
            "std::collections::BTreeMap<String, u32>"
        );
        let e: syn::Expr = syn::parse_str("Some(\"x\".to_owned())").unwrap();
        assert_eq!(normalize_tokens(&e), "Some(\"x\".to_owned())");
    }
}
