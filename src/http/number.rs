//! A JSON number kept as the text the client wrote, so quantities and prices are read exactly
//! (see [`crate::domain::number`]) instead of through `f64`.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

/// A JSON number token, unparsed. Anything else (a string, `true`, an object) is refused while
/// the body is read, so it answers 422 like any other body that does not fit the schema.
#[derive(Debug)]
pub struct ExactNumber(Box<RawValue>);

impl ExactNumber {
    /// The number exactly as written.
    pub fn text(&self) -> &str {
        self.0.get()
    }
}

impl<'de> Deserialize<'de> for ExactNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        match raw.get().as_bytes().first() {
            Some(b'-' | b'0'..=b'9') => Ok(ExactNumber(raw)),
            _ => Err(D::Error::custom(format!("expected a number, found {}", raw.get()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Body {
        quantity: ExactNumber,
    }

    #[test]
    fn the_number_keeps_every_digit_as_written() {
        let body: Body = serde_json::from_str(r#"{"quantity": 0.10000000000000000001}"#).unwrap();
        assert_eq!(body.quantity.text(), "0.10000000000000000001");
        let body: Body = serde_json::from_str(r#"{"quantity":1E-6}"#).unwrap();
        assert_eq!(body.quantity.text(), "1E-6");
    }

    #[test]
    fn anything_but_a_number_is_refused() {
        for text in [r#"{"quantity": "2"}"#, r#"{"quantity": true}"#, r#"{"quantity": null}"#, r#"{"quantity": [1]}"#] {
            assert!(serde_json::from_str::<Body>(text).is_err(), "{text}");
        }
    }
}
