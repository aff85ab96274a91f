//! `#[pipeline(key = value, ...)]`.

use super::*;

/// Parses `key = value, ...` for a function that builds `target`, recording each bad option
/// and going on with the next.
pub(crate) fn parse_options(
    args: TokenStream,
    target: Target,
    diag: &mut Diagnostics,
) -> Vec<OptionValue> {
    let parser = |input: ParseStream| {
        let mut options = Vec::new();
        while !input.is_empty() {
            match parse_option(input, target) {
                Ok(option)
                    if options
                        .iter()
                        .any(|o: &OptionValue| o.syntax.name == option.syntax.name) =>
                {
                    diag.error(
                        option.key.span(),
                        format!("`{}` is given twice", option.syntax.name),
                    );
                }
                Ok(option) => options.push(option),
                Err(e) => {
                    diag.push(e);
                    skip_past_comma(input);
                    continue;
                }
            }
            if !input.is_empty() {
                if let Err(e) = input.parse::<Token![,]>() {
                    diag.push(e);
                    skip_past_comma(input);
                }
            }
        }
        Ok(options)
    };
    match parser.parse2(args) {
        Ok(options) => options,
        Err(e) => {
            diag.push(e);
            Vec::new()
        }
    }
}

fn parse_option(input: ParseStream, target: Target) -> syn::Result<OptionValue> {
    let key = Ident::parse_any(input)?;
    let name = key.unraw().to_string();
    let names = syntax::option_names(target);
    let syntax = syntax::option(&name)
        .filter(|o| o.targets.contains(&target))
        .ok_or_else(|| {
            let message = match syntax::option(&name) {
                Some(other) => format!(
                    "`{name}` is {} option; a {} takes {}{}",
                    other
                        .targets
                        .iter()
                        .map(|t| format!("a {}", t.name()))
                        .collect::<Vec<_>>()
                        .join(" or "),
                    target.name(),
                    list(&names),
                    if target == Target::LaneGraph && name == "capacity" {
                        format!(
                            "; a lane's capacity is set on its connection: `{}`",
                            syntax::LANE_EXAMPLE
                        )
                    } else {
                        String::new()
                    }
                ),
                None => no_such("option", "options", &name, &names),
            };
            syn::Error::new(key.span(), message)
        })?;
    if !input.peek(Token![=]) {
        return Err(syn::Error::new(
            key.span(),
            format!("`{name}` needs a value: `{}`", syntax.example),
        ));
    }
    input.parse::<Token![=]>()?;
    let value = match &syntax.value {
        ValueShape::Str => Value::Str(input.parse().map_err(|e| {
            syn::Error::new(e.span(), format!("expected a string: `{}`", syntax.example))
        })?),
        ValueShape::Int => {
            let lit: LitInt = input.parse().map_err(|e| {
                syn::Error::new(
                    e.span(),
                    format!("expected an integer: `{}`", syntax.example),
                )
            })?;
            let value = lit.base10_parse::<u64>()?;
            let value = u32::try_from(value).map_err(|_| {
                syn::Error::new(
                    lit.span(),
                    format!("`{name}` must fit in 32 bits; {value} does not"),
                )
            })?;
            Value::Int(lit, value)
        }
        ValueShape::Choice(set) => {
            let (text, span) = if input.peek(LitStr) {
                let lit: LitStr = input.parse()?;
                (lit.value(), lit.span())
            } else if input.peek(Ident::peek_any) {
                let ident = Ident::parse_any(input)?;
                (ident.unraw().to_string(), ident.span())
            } else {
                return Err(input.error(format!("expected a name: `{}`", syntax.example)));
            };
            let choice = set.find(&text).ok_or_else(|| {
                let names: Vec<&str> = set.all().into_iter().map(Choice::name).collect();
                let (noun, plural) = set.nouns();
                syn::Error::new(span, no_such(noun, plural, &text, &names))
            })?;
            Value::Choice(choice, span)
        }
        ValueShape::Expr => Value::Expr(Box::new(input.parse()?)),
    };
    Ok(OptionValue { syntax, key, value })
}

/// Skips tokens up to and including the next top-level `,`.
fn skip_past_comma(input: ParseStream) {
    let _ = input.step(|cursor| {
        let mut rest = *cursor;
        while let Some((tt, next)) = rest.token_tree() {
            rest = next;
            if matches!(&tt, TokenTree::Punct(p) if p.as_char() == ',') {
                break;
            }
        }
        Ok(((), rest))
    });
}
