//! Reading a JSON number's text as an exact decimal.
//!
//! A JSON number read through `f64` loses everything past about 17 significant digits, so
//! `0.10000000000000000001` would become 0.1 and be accepted. Quantities and order prices are
//! read from the number's own text instead: the decimal places are counted on the digits as
//! written (trailing zeros do not count, an exponent does), and a number with more places than
//! allowed is refused rather than rounded.

use rust_decimal::Decimal;

/// Digits a `Decimal` holds at most.
const MAX_DIGITS: usize = 28;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    #[error("{0:?} is not a number")]
    NotANumber(String),
    #[error("{text} has {places} decimal places; at most {max} are allowed")]
    TooManyDecimals { text: String, places: i64, max: u32 },
    #[error("{0} is out of range")]
    OutOfRange(String),
}

/// The exact value of `text`, a JSON number (`-12.5`, `3`, `1e-6`, `2.50E+1`), with at most
/// `max_places` decimal places once trailing zeros are dropped.
pub fn parse_exact(text: &str, max_places: u32) -> Result<Decimal, NumberError> {
    let not_a_number = || NumberError::NotANumber(text.to_string());
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((m, e)) => {
            let e = e.strip_prefix('+').unwrap_or(e);
            let digits = e.strip_prefix('-').unwrap_or(e);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(not_a_number());
            }
            // Beyond this an exponent means "absurdly large" or "absurdly many places" alike.
            let e: i64 = e.parse().unwrap_or(if e.starts_with('-') { -10_000 } else { 10_000 });
            (m, e.clamp(-10_000, 10_000))
        }
        None => (unsigned, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty()
        || !all_digits(whole)
        || !all_digits(fraction)
        || (mantissa.contains('.') && fraction.is_empty())
    {
        return Err(not_a_number());
    }
    let mut digits: String = format!("{whole}{fraction}");
    let mut scale = fraction.len() as i64 - exponent;
    while scale > 0 && digits.ends_with('0') {
        digits.pop();
        scale -= 1;
    }
    if scale > i64::from(max_places) {
        return Err(NumberError::TooManyDecimals { text: text.to_string(), places: scale, max: max_places });
    }
    let significant = digits.trim_start_matches('0');
    if significant.is_empty() {
        return Ok(Decimal::ZERO);
    }
    let zeros = usize::try_from(-scale.min(0)).unwrap_or(usize::MAX);
    if significant.len().saturating_add(zeros) > MAX_DIGITS {
        return Err(NumberError::OutOfRange(text.to_string()));
    }
    let value: i128 = format!("{significant}{}", "0".repeat(zeros)).parse().map_err(|_| not_a_number())?;
    let value = Decimal::try_from_i128_with_scale(value, scale.max(0) as u32)
        .map_err(|_| NumberError::OutOfRange(text.to_string()))?;
    Ok(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn plain_and_scientific_numbers_read_exactly() {
        for (text, value) in [
            ("2", dec!(2)),
            ("0.5", dec!(0.5)),
            ("-12.25", dec!(-12.25)),
            ("1e-6", dec!(0.000001)),
            ("2.50E+1", dec!(25)),
            ("0.100000", dec!(0.1)),
            ("1500e-3", dec!(1.5)),
            ("0", dec!(0)),
            ("0.000", dec!(0)),
        ] {
            assert_eq!(parse_exact(text, 6), Ok(value), "{text}");
        }
    }

    #[test]
    fn digits_past_the_allowed_places_are_refused_not_rounded() {
        let refused = parse_exact("0.10000000000000000001", 6).unwrap_err();
        assert_eq!(refused, NumberError::TooManyDecimals { text: "0.10000000000000000001".into(), places: 20, max: 6 });
        assert!(matches!(parse_exact("0.0000001", 6), Err(NumberError::TooManyDecimals { places: 7, .. })));
        assert!(matches!(parse_exact("1e-7", 6), Err(NumberError::TooManyDecimals { places: 7, .. })));
        assert!(matches!(
            parse_exact("0.1000000000000000000000000000001", 6),
            Err(NumberError::TooManyDecimals { .. })
        ));
        assert!(matches!(parse_exact("1e-99999999999999999999", 6), Err(NumberError::TooManyDecimals { .. })));
        assert!(matches!(parse_exact("192.375", 2), Err(NumberError::TooManyDecimals { places: 3, .. })));
    }

    #[test]
    fn huge_numbers_and_non_numbers_are_refused() {
        assert!(matches!(parse_exact("1e400", 6), Err(NumberError::OutOfRange(_))));
        assert!(matches!(parse_exact("123456789012345678901234567890", 6), Err(NumberError::OutOfRange(_))));
        for text in ["", "-", "abc", "1.", ".5", "1e", "\"2\"", "1.2.3", "0x10", "1e+"] {
            assert!(matches!(parse_exact(text, 6), Err(NumberError::NotANumber(_))), "{text}");
        }
    }
}
