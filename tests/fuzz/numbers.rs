//! JSON numbers as an upstream may write them: ordinary, extreme, and past what f64 and i64 hold.

use proptest::prelude::*;

/// A JSON number's text: any f64 (finite), the limits of f64 and i64, and numbers beyond them.
pub fn json_number() -> impl Strategy<Value = String> {
    let edges = [
        "0",
        "-0",
        "-0.0",
        "1e308",
        "1.7976931348623157e308",
        "1e309",
        "-1e400",
        "5e-324",
        "1e-400",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775808",
        "-9223372036854775809",
        "18446744073709551616",
        "253402300800",
        "1e19",
        "0.5",
    ];
    prop_oneof![
        proptest::sample::select(edges.to_vec()).prop_map(str::to_owned),
        any::<f64>()
            .prop_filter("JSON has no NaN or Inf", |v| v.is_finite())
            .prop_map(|v| format!("{v:e}")),
        any::<i64>().prop_map(|v| v.to_string()),
        (1.0f64..1e4).prop_map(|v| v.to_string()),
    ]
}

/// A JSON value that is not a number.
pub fn json_other() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("[]".to_owned()),
        Just("{}".to_owned()),
        any::<String>().prop_map(|s| serde_json::Value::String(s).to_string()),
    ]
}
