//! Stage descriptors: what a stage type tells the rest of byteor about itself — its registered
//! kind name, whether it has side effects, and how to build it from a plan document's `params`
//! table.
//!
//! Derive [`StageDescriptor`] with `#[derive(StageDescriptor)]`:
//!
//! ```
//! use std::collections::BTreeMap;
//! use byteor::exec::{ParamError, StageDescriptor};
//! use byteor::plan::ParamValue;
//!
//! #[derive(Debug, StageDescriptor)]
//! #[stage(name = "risk_check", side_effects)]
//! struct RiskCheck {
//!     max_qty: u32,                       // required
//!     #[param(default = 100)]
//!     max_orders_per_sec: u32,            // optional, defaults to 100
//!     venue: Option<String>,              // optional, `None` when absent
//!     #[param(rename = "symbols")]
//!     allowed: Vec<String>,
//! }
//!
//! let mut params = BTreeMap::new();
//! params.insert("max_qty".to_owned(), ParamValue::Int(1000));
//! params.insert("symbols".to_owned(), ParamValue::Array(vec!["ABC".into()]));
//! let risk = RiskCheck::from_params(&params)?;
//! assert_eq!((risk.max_qty, risk.max_orders_per_sec), (1000, 100));
//! assert_eq!(RiskCheck::NAME, "risk_check");
//! assert!(RiskCheck::decl().side_effects);
//!
//! params.insert("max_qyt".to_owned(), ParamValue::Int(5));
//! let err = RiskCheck::from_params(&params).unwrap_err();
//! assert!(matches!(err, ParamError::Unknown { ref param, .. } if param == "max_qyt"));
//! # Ok::<(), ParamError>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;

use crate::plan::{ParamValue, StageDecl};

pub use byteor_macros::StageDescriptor;

/// A stage type that can be named in a plan and built from the plan's parameters.
///
/// Usually derived: `#[derive(StageDescriptor)]` with `#[stage(name = "...", side_effects)]` on
/// the struct and `#[param(default | default = expr | skip | rename = "...")]` on its fields.
pub trait StageDescriptor: Sized {
    /// The registered stage kind: the name plan documents use to pick this implementation.
    const NAME: &'static str;
    /// Whether the stage acts on the outside world (approval and replay policy look at it).
    const SIDE_EFFECTS: bool;
    /// Every parameter the stage reads, in declaration order.
    const PARAMS: &'static [ParamSpec];

    /// Builds the stage from a plan's `params` table.
    ///
    /// Every problem is reported: one error is returned as itself, several as
    /// [`ParamError::Several`]. A key that is not in [`Self::PARAMS`] is an error.
    fn from_params(params: &BTreeMap<String, ParamValue>) -> Result<Self, ParamError>;

    /// A stage declaration named after the kind, carrying the side-effect flag.
    fn decl() -> StageDecl {
        StageDecl::new(Self::NAME).side_effects(Self::SIDE_EFFECTS)
    }
}

/// One parameter of a stage, as declared by its [`StageDescriptor`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamSpec {
    /// The key in the plan's `params` table.
    pub name: &'static str,
    /// The Rust type the value is converted to, as written (`u32`, `Vec<String>`).
    pub ty: &'static str,
    /// Whether the plan must set it (no default and not an `Option`).
    pub required: bool,
    /// The source text of the default value, if there is one.
    pub default: Option<&'static str>,
}

/// Why a stage could not be built from its parameters. Every variant names the stage kind and
/// the parameter.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParamError {
    /// A required parameter is absent.
    #[error("kind `{kind}`: missing required parameter `{param}` ({ty})")]
    Missing {
        /// The stage kind (the registered name, not a stage of a plan).
        kind: String,
        /// The parameter.
        param: String,
        /// The Rust type the parameter needs.
        ty: String,
    },
    /// A parameter has a value of the wrong kind.
    #[error("kind `{kind}`: parameter `{param}` must be {expected}, found {found}")]
    WrongType {
        /// The stage kind (the registered name, not a stage of a plan).
        kind: String,
        /// The parameter (with an `[index]` suffix for an array element).
        param: String,
        /// What the parameter accepts (`an integer`, `a string`, ...).
        expected: &'static str,
        /// What the plan gave (`a string "abc"`, ...).
        found: String,
    },
    /// A number does not fit the parameter's type.
    #[error("kind `{kind}`: parameter `{param}` = {value} is out of range for `{ty}`")]
    OutOfRange {
        /// The stage kind (the registered name, not a stage of a plan).
        kind: String,
        /// The parameter (with an `[index]` suffix for an array element).
        param: String,
        /// The value as written in the plan.
        value: String,
        /// The Rust type it had to fit.
        ty: &'static str,
    },
    /// The plan sets a parameter the stage does not have.
    #[error(
        "kind `{kind}`: unknown parameter `{param}`; the parameters are {}",
        list(known)
    )]
    Unknown {
        /// The stage kind (the registered name, not a stage of a plan).
        kind: String,
        /// The unknown key.
        param: String,
        /// Every parameter the stage has.
        known: Vec<String>,
    },
    /// More than one of the above; one per line.
    #[error("{}", lines(.0))]
    Several(Vec<ParamError>),
}

fn list(known: &[String]) -> String {
    if known.is_empty() {
        return "none".to_owned();
    }
    known
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn lines(errors: &[ParamError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

impl ParamError {
    /// Folds the errors found while reading one stage's parameters: `Ok(())` for none, the
    /// error itself for one, [`ParamError::Several`] for more.
    pub fn collect(errors: Vec<ParamError>) -> Result<(), ParamError> {
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ParamError::from_errors(errors))
        }
    }

    /// One error as itself, several as [`ParamError::Several`] (an empty list gives an empty
    /// `Several`; derived code only calls this with at least one error).
    pub fn from_errors(mut errors: Vec<ParamError>) -> ParamError {
        if errors.len() == 1 {
            errors.remove(0)
        } else {
            ParamError::Several(errors)
        }
    }

    /// The individual errors (one, or each of [`ParamError::Several`]).
    pub fn iter(&self) -> impl Iterator<Item = &ParamError> {
        match self {
            ParamError::Several(all) => all.iter(),
            single => std::slice::from_ref(single).iter(),
        }
    }
}

/// Why one value could not be converted: the part of a [`ParamError`] a [`FromParam`]
/// implementation knows (it does not know the stage or the parameter name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueError {
    /// The value has the wrong kind.
    WrongType {
        /// What was expected.
        expected: &'static str,
        /// What was found.
        found: String,
        /// Array index path to the offending element, outermost first.
        path: Vec<usize>,
    },
    /// The number does not fit.
    OutOfRange {
        /// The value as written.
        value: String,
        /// The Rust type it had to fit.
        ty: &'static str,
        /// Array index path to the offending element, outermost first.
        path: Vec<usize>,
    },
}

impl ValueError {
    fn wrong_type(expected: &'static str, found: &ParamValue) -> Self {
        ValueError::WrongType {
            expected,
            found: describe(found),
            path: Vec::new(),
        }
    }

    fn out_of_range(value: impl fmt::Display, ty: &'static str) -> Self {
        ValueError::OutOfRange {
            value: value.to_string(),
            ty,
            path: Vec::new(),
        }
    }

    fn at_index(mut self, index: usize) -> Self {
        match &mut self {
            ValueError::WrongType { path, .. } | ValueError::OutOfRange { path, .. } => {
                path.insert(0, index)
            }
        }
        self
    }

    /// Attaches the stage kind and parameter names.
    pub fn into_param_error(self, kind: &str, param: &str) -> ParamError {
        let name = |path: &[usize]| {
            let mut name = param.to_owned();
            for i in path {
                name.push_str(&format!("[{i}]"));
            }
            name
        };
        match self {
            ValueError::WrongType {
                expected,
                found,
                path,
            } => ParamError::WrongType {
                kind: kind.to_owned(),
                param: name(&path),
                expected,
                found,
            },
            ValueError::OutOfRange { value, ty, path } => ParamError::OutOfRange {
                kind: kind.to_owned(),
                param: name(&path),
                value,
                ty,
            },
        }
    }
}

/// A short description of a value for error messages: `an integer 7`, `a string "x"`.
fn describe(value: &ParamValue) -> String {
    match value {
        ParamValue::Bool(b) => format!("a boolean {b}"),
        ParamValue::Int(i) => format!("an integer {i}"),
        ParamValue::Float(f) => format!("a float {f}"),
        ParamValue::Str(s) => format!("a string {s:?}"),
        ParamValue::Array(a) => format!("an array of {} values", a.len()),
        ParamValue::Table(_) => "a table".to_owned(),
    }
}

/// A Rust type a stage parameter can be read into from a [`ParamValue`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be read from a plan parameter",
    label = "not a parameter type",
    note = "parameter types are i8..i64, u8..u64, usize, f32, f64, bool, String, and Vec<T> or \
            Option<T> of these; mark other fields `#[param(skip)]` to build them with `Default`"
)]
pub trait FromParam: Sized {
    /// What the parameter accepts, for error messages (`an integer`, `a string`).
    const EXPECTED: &'static str;
    /// Whether an absent parameter is acceptable (true for `Option<T>`).
    const OPTIONAL: bool = false;

    /// Converts a value.
    fn from_param(value: &ParamValue) -> Result<Self, ValueError>;

    /// The value of an absent parameter, if absence is acceptable (`Some(None)` for
    /// `Option<T>`); `None` makes the parameter required.
    fn absent() -> Option<Self> {
        None
    }
}

macro_rules! integer_params {
    ($($ty:ty),* $(,)?) => {$(
        impl FromParam for $ty {
            const EXPECTED: &'static str = "an integer";
            fn from_param(value: &ParamValue) -> Result<Self, ValueError> {
                match value {
                    ParamValue::Int(i) => <$ty>::try_from(*i)
                        .map_err(|_| ValueError::out_of_range(i, stringify!($ty))),
                    other => Err(ValueError::wrong_type(Self::EXPECTED, other)),
                }
            }
        }
    )*};
}

integer_params!(i64, i32, i16, i8, u64, u32, u16, u8, usize);

/// Integers with magnitude up to 2^53 convert to `f64` exactly; beyond that a plan that wrote
/// an integer would silently get a different number.
const F64_EXACT_INT: i64 = 1 << 53;

impl FromParam for f64 {
    const EXPECTED: &'static str = "a number";
    fn from_param(value: &ParamValue) -> Result<Self, ValueError> {
        match value {
            ParamValue::Float(f) => Ok(*f),
            ParamValue::Int(i) if (-F64_EXACT_INT..=F64_EXACT_INT).contains(i) => Ok(*i as f64),
            ParamValue::Int(i) => Err(ValueError::out_of_range(i, "f64")),
            other => Err(ValueError::wrong_type(Self::EXPECTED, other)),
        }
    }
}

impl FromParam for f32 {
    const EXPECTED: &'static str = "a number";
    fn from_param(value: &ParamValue) -> Result<Self, ValueError> {
        let wide = f64::from_param(value).map_err(|e| match e {
            ValueError::OutOfRange { value, .. } => ValueError::out_of_range(value, "f32"),
            other => other,
        })?;
        if wide.is_finite() && wide.abs() > f64::from(f32::MAX) {
            return Err(ValueError::out_of_range(wide, "f32"));
        }
        // Narrowing to the nearest f32 is the documented meaning of an f32 parameter.
        Ok(wide as f32)
    }
}

impl FromParam for bool {
    const EXPECTED: &'static str = "a boolean";
    fn from_param(value: &ParamValue) -> Result<Self, ValueError> {
        match value {
            ParamValue::Bool(b) => Ok(*b),
            other => Err(ValueError::wrong_type(Self::EXPECTED, other)),
        }
    }
}

impl FromParam for String {
    const EXPECTED: &'static str = "a string";
    fn from_param(value: &ParamValue) -> Result<Self, ValueError> {
        match value {
            ParamValue::Str(s) => Ok(s.clone()),
            other => Err(ValueError::wrong_type(Self::EXPECTED, other)),
        }
    }
}

impl<T: FromParam> FromParam for Vec<T> {
    const EXPECTED: &'static str = "an array";
    fn from_param(value: &ParamValue) -> Result<Self, ValueError> {
        match value {
            ParamValue::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| T::from_param(item).map_err(|e| e.at_index(i)))
                .collect(),
            other => Err(ValueError::wrong_type(Self::EXPECTED, other)),
        }
    }
}

impl<T: FromParam> FromParam for Option<T> {
    const EXPECTED: &'static str = T::EXPECTED;
    const OPTIONAL: bool = true;
    fn from_param(value: &ParamValue) -> Result<Self, ValueError> {
        T::from_param(value).map(Some)
    }
    fn absent() -> Option<Self> {
        Some(None)
    }
}

/// Reads one parameter for a derived [`StageDescriptor::from_params`]: converts the value if
/// present, else takes `default`, else the type's [`FromParam::absent`] value, else records
/// [`ParamError::Missing`]. Errors are pushed to `errors`; `None` is returned when one was.
///
/// The conversion functions are passed in (rather than bound by `T: FromParam`) so that a field
/// type that is not a parameter type is reported once, on the field, by the derive.
#[doc(hidden)]
#[allow(clippy::too_many_arguments)]
pub fn read_param<T>(
    params: &BTreeMap<String, ParamValue>,
    kind: &str,
    param: &str,
    ty: &str,
    default: Option<fn() -> T>,
    convert: fn(&ParamValue) -> Result<T, ValueError>,
    absent: fn() -> Option<T>,
    errors: &mut Vec<ParamError>,
) -> Option<T> {
    match params.get(param) {
        Some(value) => match convert(value) {
            Ok(v) => Some(v),
            Err(e) => {
                errors.push(e.into_param_error(kind, param));
                None
            }
        },
        None => match default.map(|f| f()).or_else(absent) {
            Some(v) => Some(v),
            None => {
                errors.push(ParamError::Missing {
                    kind: kind.to_owned(),
                    param: param.to_owned(),
                    ty: ty.to_owned(),
                });
                None
            }
        },
    }
}

/// Records [`ParamError::Unknown`] for every key of `params` that is not a parameter in
/// `specs`. Used by derived [`StageDescriptor::from_params`].
#[doc(hidden)]
pub fn reject_unknown_params(
    params: &BTreeMap<String, ParamValue>,
    kind: &str,
    specs: &[ParamSpec],
    errors: &mut Vec<ParamError>,
) {
    for key in params.keys() {
        if !specs.iter().any(|s| s.name == key) {
            errors.push(ParamError::Unknown {
                kind: kind.to_owned(),
                param: key.clone(),
                known: specs.iter().map(|s| s.name.to_owned()).collect(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value<T: FromParam>(v: ParamValue) -> Result<T, ParamError> {
        T::from_param(&v).map_err(|e| e.into_param_error("s", "p"))
    }

    #[test]
    fn integers_check_their_range() {
        assert_eq!(value::<u8>(ParamValue::Int(255)), Ok(255));
        assert_eq!(
            value::<u8>(ParamValue::Int(256)),
            Err(ParamError::OutOfRange {
                kind: "s".into(),
                param: "p".into(),
                value: "256".into(),
                ty: "u8"
            })
        );
        assert!(value::<u64>(ParamValue::Int(-1)).is_err());
        assert_eq!(value::<i8>(ParamValue::Int(-128)), Ok(-128));
        assert_eq!(value::<usize>(ParamValue::Int(4096)), Ok(4096));
    }

    #[test]
    fn wrong_kinds_name_what_was_expected_and_found() {
        let err = value::<u32>(ParamValue::Str("ten".into())).unwrap_err();
        assert_eq!(
            err.to_string(),
            "kind `s`: parameter `p` must be an integer, found a string \"ten\""
        );
        assert!(value::<bool>(ParamValue::Int(1)).is_err());
        assert!(value::<String>(ParamValue::Bool(true)).is_err());
    }

    #[test]
    fn floats_accept_exact_integers() {
        assert_eq!(value::<f64>(ParamValue::Int(3)), Ok(3.0));
        assert_eq!(value::<f64>(ParamValue::Float(0.25)), Ok(0.25));
        assert!(value::<f64>(ParamValue::Int(F64_EXACT_INT + 1)).is_err());
        assert_eq!(value::<f32>(ParamValue::Float(1.5)), Ok(1.5));
        let err = value::<f32>(ParamValue::Float(1e300)).unwrap_err();
        assert!(
            matches!(err, ParamError::OutOfRange { ty: "f32", .. }),
            "{err}"
        );
    }

    #[test]
    fn array_element_errors_carry_their_index() {
        let v = ParamValue::Array(vec![ParamValue::Int(1), ParamValue::Int(-2)]);
        let err = value::<Vec<u16>>(v).unwrap_err();
        assert_eq!(
            err.to_string(),
            "kind `s`: parameter `p[1]` = -2 is out of range for `u16`"
        );
        let nested = ParamValue::Array(vec![ParamValue::Array(vec![ParamValue::Bool(true)])]);
        let err = value::<Vec<Vec<String>>>(nested).unwrap_err();
        assert!(matches!(err, ParamError::WrongType { ref param, .. } if param == "p[0][0]"));
    }

    #[test]
    fn options_are_absent_or_converted() {
        assert_eq!(<Option<u32>>::absent(), Some(None));
        assert_eq!(<u32>::absent(), None);
        const { assert!(<Option<u32> as FromParam>::OPTIONAL) };
        assert_eq!(value::<Option<u32>>(ParamValue::Int(7)), Ok(Some(7)));
    }

    #[test]
    fn read_param_falls_back_to_default_then_absent_then_missing() {
        let mut params = BTreeMap::new();
        params.insert("given".to_owned(), ParamValue::Int(5));
        let mut errors = Vec::new();
        let r = |name, default: Option<fn() -> u32>, errors: &mut Vec<ParamError>| {
            read_param(
                &params,
                "k",
                name,
                "u32",
                default,
                u32::from_param,
                u32::absent,
                errors,
            )
        };
        assert_eq!(r("given", Some(|| 9), &mut errors), Some(5));
        assert_eq!(r("other", Some(|| 9), &mut errors), Some(9));
        assert!(errors.is_empty());
        assert_eq!(r("other", None, &mut errors), None);
        assert_eq!(
            errors,
            [ParamError::Missing {
                kind: "k".into(),
                param: "other".into(),
                ty: "u32".into()
            }]
        );
        let opt = read_param(
            &params,
            "k",
            "other",
            "Option<u8>",
            None,
            <Option<u8>>::from_param,
            <Option<u8>>::absent,
            &mut errors,
        );
        assert_eq!(opt, Some(None));
    }

    #[test]
    fn unknown_params_list_the_known_ones_and_several_errors_are_all_kept() {
        let specs = [ParamSpec {
            name: "max_qty",
            ty: "u32",
            required: true,
            default: None,
        }];
        let mut params = BTreeMap::new();
        params.insert("max_qyt".to_owned(), ParamValue::Int(1));
        params.insert("venue".to_owned(), ParamValue::Int(1));
        let mut errors = Vec::new();
        reject_unknown_params(&params, "risk", &specs, &mut errors);
        assert_eq!(errors.len(), 2);
        assert_eq!(
            errors[0].to_string(),
            "kind `risk`: unknown parameter `max_qyt`; the parameters are `max_qty`"
        );
        let all = ParamError::collect(errors).unwrap_err();
        assert_eq!(all.iter().count(), 2);
        assert_eq!(all.to_string().lines().count(), 2);
        assert_eq!(ParamError::collect(Vec::new()), Ok(()));
    }
}
