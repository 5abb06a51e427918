//! Resource quantities (`k8s.io/apimachinery/pkg/api/resource`): parse, compare, canonical form.
//!
//! k8s-openapi keeps a `Quantity` as its string and kube-core has no parser, so this is the
//! small fixed-point version the API server needs: values are held in nano-units
//! (`1` = 1_000_000_000), which covers every suffix from `n` to `E`/`Ei` in an `i128`.
//!
//! Canonical form, as upstream serializes: no fractional digits, the largest suffix that keeps
//! the value exact, in the suffix family the user wrote. Worked examples:
//! `0.5` → `500m`, `1.5Gi` → `1536Mi`, `2000m` → `2`, `1e3` → `1e3`, `1024Mi` → `1Gi`.

use std::cmp::Ordering;

/// Upstream's `ErrFormatWrong`: what a client sees for a quantity that does not parse.
pub const FORMAT_ERROR: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
const SUFFIX_ERROR: &str = "unable to parse quantity's suffix";
const NUMERIC_ERROR: &str = "unable to parse numeric part of quantity";

const NANO: i128 = 1_000_000_000;

/// How a quantity was written, which decides how it is written back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    DecimalSI,
    BinarySI,
    DecimalExponent,
}

/// A parsed quantity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quantity {
    /// The value in nano-units, rounded up (away from zero) past nano precision.
    nanos: i128,
    pub format: Format,
}

impl Quantity {
    pub fn zero() -> Self {
        Quantity {
            nanos: 0,
            format: Format::DecimalSI,
        }
    }

    /// Parses a quantity string; the error is upstream's message.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err(FORMAT_ERROR.into());
        }
        let bytes = s.as_bytes();
        let mut i = 0;
        let mut negative = false;
        if let Some(&c) = bytes.first()
            && (c == b'+' || c == b'-')
        {
            negative = c == b'-';
            i = 1;
        }
        let num_start = i;
        while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
            i += 1;
        }
        let number = &s[num_start..i];
        let suffix = &s[i..];
        if number.is_empty() || number.bytes().filter(|&c| c == b'.').count() > 1 || number == "." {
            return Err(if number.is_empty() {
                FORMAT_ERROR.into()
            } else {
                NUMERIC_ERROR.into()
            });
        }
        // The regex upstream checks first: the suffix is letters then an optional signed integer.
        let suffix_ok = {
            let letters = suffix.trim_end_matches(|c: char| c.is_ascii_digit());
            let letters = letters.strip_suffix(['+', '-']).unwrap_or(letters);
            letters.chars().all(|c| "eEinumkKMGTP".contains(c))
        };
        if !suffix_ok {
            return Err(FORMAT_ERROR.into());
        }
        let (base, exp, format): (i128, i32, Format) = match suffix {
            "" => (10, 0, Format::DecimalSI),
            "n" => (10, -9, Format::DecimalSI),
            "u" => (10, -6, Format::DecimalSI),
            "m" => (10, -3, Format::DecimalSI),
            "k" => (10, 3, Format::DecimalSI),
            "M" => (10, 6, Format::DecimalSI),
            "G" => (10, 9, Format::DecimalSI),
            "T" => (10, 12, Format::DecimalSI),
            "P" => (10, 15, Format::DecimalSI),
            "E" => (10, 18, Format::DecimalSI),
            "Ki" => (2, 10, Format::BinarySI),
            "Mi" => (2, 20, Format::BinarySI),
            "Gi" => (2, 30, Format::BinarySI),
            "Ti" => (2, 40, Format::BinarySI),
            "Pi" => (2, 50, Format::BinarySI),
            "Ei" => (2, 60, Format::BinarySI),
            other => {
                let rest = other
                    .strip_prefix(['e', 'E'])
                    .ok_or_else(|| SUFFIX_ERROR.to_string())?;
                let e: i32 = rest.parse().map_err(|_| SUFFIX_ERROR.to_string())?;
                (10, e, Format::DecimalExponent)
            }
        };
        let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
        // Digits as one big integer with a decimal scale: value = digits * 10^-scale.
        let digits = format!("{int_part}{frac_part}");
        let scale = frac_part.len() as i32;
        let mut mantissa: i128 = 0;
        let mut extra_scale = 0i32;
        for d in digits.bytes() {
            match mantissa
                .checked_mul(10)
                .and_then(|m| m.checked_add(i128::from(d - b'0')))
            {
                Some(m) => mantissa = m,
                // Too many digits to hold: drop the tail and keep the magnitude.
                None => extra_scale += 1,
            }
        }
        let nanos = if base == 10 {
            scale_pow10(mantissa, exp + 9 - scale + extra_scale)
        } else {
            let mult = 1i128.checked_shl(exp as u32).unwrap_or(i128::MAX);
            scale_pow10(mantissa.saturating_mul(mult), 9 - scale + extra_scale)
        };
        Ok(Quantity {
            nanos: if negative { -nanos } else { nanos },
            format,
        })
    }

    /// The value in thousandths rounded up, as `Quantity.MilliValue()`.
    pub fn milli_value(&self) -> i128 {
        div_ceil(self.nanos, 1_000_000)
    }

    pub fn is_negative(&self) -> bool {
        self.nanos < 0
    }

    /// Rounds up to milli precision, as `SetDefaults_ResourceList` does for resource lists.
    pub fn round_up_milli(mut self) -> Self {
        self.nanos = div_ceil(self.nanos, 1_000_000).saturating_mul(1_000_000);
        self
    }

    pub fn add(&self, other: &Quantity) -> Quantity {
        Quantity {
            nanos: self.nanos.saturating_add(other.nanos),
            format: self.format,
        }
    }

    /// The canonical string, as upstream's `Quantity.String()`.
    pub fn canonical(&self) -> String {
        if self.nanos == 0 {
            return "0".into();
        }
        let sign = if self.nanos < 0 { "-" } else { "" };
        let abs = self.nanos.unsigned_abs();
        let mut format = self.format;
        // Binary suffixes only for whole numbers of at least 1024; smaller ones print decimal.
        if format == Format::BinarySI
            && (!abs.is_multiple_of(NANO as u128) || abs < 1024 * NANO as u128)
        {
            format = Format::DecimalSI;
        }
        if format == Format::BinarySI {
            let mut v = abs / NANO as u128;
            let mut k = 0;
            while k < 6 && v.is_multiple_of(1024) {
                v /= 1024;
                k += 1;
            }
            let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][k];
            return format!("{sign}{v}{suffix}");
        }
        // Decimal: the largest exponent (a multiple of 3) that keeps the mantissa whole.
        let mut v = abs;
        let mut exp = -9i32;
        while v.is_multiple_of(1000) && (format == Format::DecimalExponent || exp < 18) {
            v /= 1000;
            exp += 3;
        }
        if format == Format::DecimalExponent {
            return if exp == 0 {
                format!("{sign}{v}")
            } else {
                format!("{sign}{v}e{exp}")
            };
        }
        let suffix = match exp {
            -9 => "n",
            -6 => "u",
            -3 => "m",
            0 => "",
            3 => "k",
            6 => "M",
            9 => "G",
            12 => "T",
            15 => "P",
            _ => "E",
        };
        format!("{sign}{v}{suffix}")
    }
}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> Ordering {
        self.nanos.cmp(&other.nanos)
    }
}

/// `mantissa * 10^exp`, rounding a negative exponent's remainder up.
fn scale_pow10(mantissa: i128, exp: i32) -> i128 {
    if exp >= 0 {
        let mut v = mantissa;
        for _ in 0..exp {
            v = v.saturating_mul(10);
        }
        v
    } else {
        let mut v = mantissa;
        let mut rem = false;
        for _ in 0..(-exp) {
            if v == 0 {
                break;
            }
            rem |= v % 10 != 0;
            v /= 10;
        }
        if rem { v + 1 } else { v }
    }
}

fn div_ceil(a: i128, b: i128) -> i128 {
    let q = a / b;
    if a % b != 0 && a > 0 { q + 1 } else { q }
}

/// Parses, rounds to milli precision and returns the canonical string of a resource-list value.
pub fn canonical_resource(s: &str) -> Result<String, String> {
    Ok(Quantity::parse(s)?.round_up_milli().canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_forms() {
        let table = [
            ("0.5", "500m"),
            ("1.5", "1500m"),
            ("2000m", "2"),
            ("100m", "100m"),
            ("1.5Gi", "1536Mi"),
            ("1024Mi", "1Gi"),
            ("128Mi", "128Mi"),
            ("1000", "1k"),
            ("1500", "1500"),
            ("1e3", "1e3"),
            ("0", "0"),
            ("512", "512"),
            ("0.5Ki", "512"),
            ("1000M", "1G"),
            ("-1", "-1"),
            ("10Gi", "10Gi"),
            ("1", "1"),
            ("250m", "250m"),
        ];
        for (input, want) in table {
            assert_eq!(
                Quantity::parse(input).map(|q| q.canonical()),
                Ok(want.to_string()),
                "{input}"
            );
        }
    }

    #[test]
    fn rounding_to_milli_for_resource_lists() {
        assert_eq!(canonical_resource("0.1m"), Ok("1m".to_string()));
        assert_eq!(canonical_resource("1.0001"), Ok("1001m".to_string()));
    }

    #[test]
    fn parse_errors_are_upstreams() {
        for bad in ["", "abc", "1x", "1.2.3", "Gi"] {
            assert!(Quantity::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Quantity::parse("abc"), Err(FORMAT_ERROR.to_string()));
        assert_eq!(Quantity::parse("1Gb"), Err(FORMAT_ERROR.to_string()));
    }

    #[test]
    fn compare_and_values() {
        let a = Quantity::parse("500m").unwrap_or(Quantity::zero());
        let b = Quantity::parse("0.5").unwrap_or(Quantity::zero());
        let c = Quantity::parse("1").unwrap_or(Quantity::zero());
        assert_eq!(a.cmp(&b), Ordering::Equal);
        assert!(a < c);
        assert_eq!(
            Quantity::parse("1Ki").map(|q| q.milli_value()),
            Ok(1_024_000)
        );
        assert_eq!(Quantity::parse("1500m").map(|q| q.milli_value()), Ok(1500));
    }
}
