// A derived `StageDescriptor` reads its parameters, applies defaults, and names the stage and
// the parameter in every error.
use std::collections::BTreeMap;

use byteor::exec::{ParamError, StageDescriptor};
use byteor::plan::ParamValue;

#[derive(Debug, StageDescriptor)]
#[stage(side_effects)]
struct VenueGateway {
    endpoint: String,
    #[param(default = 3)]
    retries: u8,
    #[param(default)]
    verbose: bool,
    timeout_ms: Option<u64>,
    #[param(rename = "symbols")]
    allowed: Vec<String>,
    #[param(skip)]
    sent: u64,
    #[param(skip, default = 16)]
    batch: usize,
}

#[derive(StageDescriptor)]
struct Publish;

fn main() {
    assert_eq!(VenueGateway::NAME, "venue_gateway");
    assert!(VenueGateway::SIDE_EFFECTS);
    let specs: Vec<(&str, &str, bool, Option<&str>)> = VenueGateway::PARAMS
        .iter()
        .map(|p| (p.name, p.ty, p.required, p.default))
        .collect();
    assert_eq!(
        specs,
        [
            ("endpoint", "String", true, None),
            ("retries", "u8", false, Some("3")),
            ("verbose", "bool", false, Some("Default::default()")),
            ("timeout_ms", "Option<u64>", false, None),
            ("symbols", "Vec<String>", true, None),
        ]
    );

    let mut params = BTreeMap::new();
    params.insert("endpoint".to_owned(), ParamValue::from("tcp://venue:9000"));
    params.insert("symbols".to_owned(), ParamValue::Array(vec!["ABC".into(), "XYZ".into()]));
    let gw = VenueGateway::from_params(&params).unwrap();
    assert_eq!(gw.endpoint, "tcp://venue:9000");
    assert_eq!((gw.retries, gw.verbose, gw.timeout_ms), (3, false, None));
    assert_eq!(gw.allowed, ["ABC", "XYZ"]);
    assert_eq!((gw.sent, gw.batch), (0, 16));

    params.insert("retries".to_owned(), ParamValue::Int(300));
    params.insert("endpont".to_owned(), ParamValue::from("x"));
    params.remove("endpoint");
    let err = VenueGateway::from_params(&params).unwrap_err();
    let all: Vec<String> = err.iter().map(ToString::to_string).collect();
    assert_eq!(
        all,
        [
            "kind `venue_gateway`: unknown parameter `endpont`; the parameters are \
             `endpoint`, `retries`, `verbose`, `timeout_ms`, `symbols`",
            "kind `venue_gateway`: missing required parameter `endpoint` (String)",
            "kind `venue_gateway`: parameter `retries` = 300 is out of range for `u8`",
        ]
    );
    assert!(matches!(err, ParamError::Several(ref e) if e.len() == 3));

    assert!(Publish::PARAMS.is_empty());
    assert!(Publish::from_params(&BTreeMap::new()).is_ok());
    assert_eq!(Publish::decl().name, "publish");
    assert!(!Publish::decl().side_effects);
}
