use std::collections::BTreeMap;

use super::keys::{classify, Key, Table};
use super::values::{parse_param, unescape};
use super::*;
use crate::spec::ParamValue;

#[test]
fn escaping_round_trips_awkward_strings() {
    for s in [
        "",
        "plain",
        " lead",
        "trail ",
        " ",
        "  ",
        "a=b",
        "quote\"back\\slash",
        "line\nbreak\r\ttab",
        "nul\0bell\u{7}del\u{7f}",
        "caf\u{e9} \u{1f980}",
        "\\u{41}",
    ] {
        let escaped = escape(s);
        assert!(
            escaped.bytes().all(|b| (0x20..=0x7e).contains(&b)),
            "{escaped:?}"
        );
        assert!(!escaped.contains('='), "{escaped:?}");
        assert!(!escaped.starts_with(' ') && !escaped.ends_with(' '));
        assert_eq!(unescape(&escaped).as_deref(), Ok(s));
    }
    assert_eq!(escape("a=b c "), "a\\u{3d}b c\\u{20}");
    assert_eq!(escape("\u{e9}"), "\\u{e9}");
}

#[test]
fn unescape_rejects_malformed_escapes() {
    for bad in [
        "\\",
        "\\q",
        "\\u",
        "\\u{",
        "\\u{}",
        "\\u{1234567}",
        "\\u{d800}",
        "\\u{110000}",
        "\\u{zz}",
        "a=b",
        "tab\there",
    ] {
        assert!(unescape(bad).is_err(), "{bad:?} should be rejected");
    }
    assert_eq!(unescape("\\u{41}").as_deref(), Ok("A"));
    assert_eq!(unescape("caf\u{e9}").as_deref(), Ok("caf\u{e9}"));
}

#[test]
fn params_round_trip_exactly() {
    let mut table = BTreeMap::new();
    table.insert("b".to_owned(), ParamValue::Int(-3));
    table.insert("a=\"x\"".to_owned(), ParamValue::Str("[1,2]".to_owned()));
    table.insert("".to_owned(), ParamValue::Array(vec![]));
    let values = [
        ParamValue::Bool(true),
        ParamValue::Int(i64::MIN),
        ParamValue::Int(i64::MAX),
        ParamValue::Float(0.1),
        ParamValue::Float(-0.0),
        ParamValue::Float(1e300),
        ParamValue::Float(5e-324),
        ParamValue::Float(f64::INFINITY),
        ParamValue::Float(f64::NEG_INFINITY),
        ParamValue::Float(3.0),
        ParamValue::Str("a,b]c}".to_owned()),
        ParamValue::Array(vec![
            ParamValue::Table(table.clone()),
            ParamValue::Array(vec![ParamValue::Float(2.5)]),
        ]),
        ParamValue::Table(table),
    ];
    for v in values {
        let mut text = String::new();
        write_param(&mut text, &v);
        let back = parse_param(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(back, v, "{text}");
        if let (ParamValue::Float(a), ParamValue::Float(b)) = (&back, &v) {
            assert_eq!(a.to_bits(), b.to_bits(), "{text}");
        }
    }
}

#[test]
fn nan_keeps_its_bits() {
    for bits in [
        0x7ff8_0000_0000_0000u64,
        0xfff8_0000_0000_0001,
        0x7ff0_0000_0000_0001,
    ] {
        let v = ParamValue::Float(f64::from_bits(bits));
        let mut text = String::new();
        write_param(&mut text, &v);
        assert_eq!(text, format!("nan(0x{bits:016x})"));
        match parse_param(&text) {
            Ok(ParamValue::Float(f)) => assert_eq!(f.to_bits(), bits),
            other => panic!("{text}: {other:?}"),
        }
    }
    // The bit form must name a NaN.
    assert!(parse_param("nan(0x3ff0000000000000)").is_err());
    assert!(parse_param("nan(0x7ff8)").is_err());
}

#[test]
fn integers_and_floats_are_told_apart() {
    assert_eq!(parse_param("1"), Ok(ParamValue::Int(1)));
    assert_eq!(parse_param("1.0"), Ok(ParamValue::Float(1.0)));
    assert_eq!(parse_param("1e3"), Ok(ParamValue::Float(1000.0)));
    assert_eq!(parse_param("-7"), Ok(ParamValue::Int(-7)));
    assert!(parse_param("9223372036854775808").is_err());
    assert!(parse_param("abc").is_err());
    assert!(parse_param("").is_err());
    assert!(parse_param("[1,]").is_err());
    assert!(parse_param("[1 ,2]").is_err());
    assert!(parse_param("{\"a\":1,\"a\":2}").is_err());
    assert!(parse_param("{a:1}").is_err());
    assert!(parse_param("\"open").is_err());
    assert!(parse_param("[1]x").is_err());
}

#[test]
fn nesting_stops_at_the_one_limit() {
    // `[]` nested PARAM_V1_MAX_DEPTH times has that depth; one more level is refused.
    let nested = |levels: usize| "[".repeat(levels) + &"]".repeat(levels);
    let ok = parse_param(&nested(PARAM_V1_MAX_DEPTH)).expect("at the limit");
    assert_eq!(ok.depth(), PARAM_V1_MAX_DEPTH);
    let err = parse_param(&nested(PARAM_V1_MAX_DEPTH + 1)).unwrap_err();
    assert!(err.contains("deeper than 32 levels"), "{err}");
    // A scalar counts as a level.
    let scalar = |levels: usize| "[".repeat(levels) + "1" + &"]".repeat(levels);
    assert!(parse_param(&scalar(PARAM_V1_MAX_DEPTH - 1)).is_ok());
    assert!(parse_param(&scalar(PARAM_V1_MAX_DEPTH)).is_err());
    // Tables count like arrays.
    let tables = |levels: usize| "{\"a\":".repeat(levels) + "1" + &"}".repeat(levels);
    assert!(parse_param(&tables(PARAM_V1_MAX_DEPTH - 1)).is_ok());
    assert!(parse_param(&tables(PARAM_V1_MAX_DEPTH)).is_err());
    // A megabyte of brackets is refused without deep recursion.
    assert!(parse_param(&"[".repeat(1 << 20)).is_err());
    #[allow(deprecated)]
    let alias = KV_MAX_PARAM_DEPTH;
    assert_eq!(alias, PARAM_V1_MAX_DEPTH);
}

#[test]
fn keys_are_recognised_by_shape() {
    assert_eq!(classify("name"), Ok(Some(Key::Fixed("name"))));
    assert_eq!(
        classify("stage.12.kind"),
        Ok(Some(Key::Indexed(Table::Stage, 12, "kind")))
    );
    assert_eq!(
        classify("stage.0.param.a.b"),
        Ok(Some(Key::Param(0, "a.b".to_owned())))
    );
    assert_eq!(
        classify("stage.0.param.\\u{3d}"),
        Ok(Some(Key::Param(0, "=".to_owned())))
    );
    for unknown in [
        "stage.01.kind",
        "stage.x.kind",
        "stage.0",
        "lane.0.colour",
        "stagez",
    ] {
        assert_eq!(classify(unknown), Ok(None), "{unknown}");
    }
    assert!(classify("stage.0.param.\\q").is_err());
}
