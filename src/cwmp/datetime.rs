//! `xsd:dateTime` as CWMP uses it (TR-106 §3.2.1): UTC with `Z` preferred, an optional fraction,
//! an optional `±hh:mm` offset, and the *Unknown Time* `0001-01-01T00:00:00Z` for "no absolute
//! time known" (and for a queued Download's StartTime/CompleteTime).

use std::fmt;
use std::str::FromStr;

/// A point in time as carried on the wire.
///
/// Keeps the offset it was written with so a value read from the ACS is echoed unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DateTime {
    /// Seconds since the Unix epoch of the instant (UTC).
    unix_seconds: i64,
    /// Sub-second part, 0..1_000_000_000.
    nanos: u32,
    /// Offset from UTC in minutes as written; `None` when the value had no zone designator
    /// (TR-106: a local time of unknown zone).
    offset_minutes: Option<i16>,
}

/// Why a dateTime string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid dateTime {value:?}: {reason}")]
pub struct DateTimeError {
    pub value: String,
    pub reason: &'static str,
}

const UNKNOWN_UNIX_SECONDS: i64 = -62_135_596_800; // 0001-01-01T00:00:00Z

impl DateTime {
    /// TR-106's Unknown Time, `0001-01-01T00:00:00Z`.
    pub const UNKNOWN: DateTime = DateTime {
        unix_seconds: UNKNOWN_UNIX_SECONDS,
        nanos: 0,
        offset_minutes: Some(0),
    };

    /// A UTC instant from Unix seconds and nanoseconds (nanos are clamped below one second).
    pub fn from_unix(unix_seconds: i64, nanos: u32) -> DateTime {
        DateTime {
            unix_seconds,
            nanos: nanos.min(999_999_999),
            offset_minutes: Some(0),
        }
    }

    /// A UTC instant from Unix milliseconds.
    pub fn from_unix_millis(ms: i64) -> DateTime {
        DateTime::from_unix(
            ms.div_euclid(1000),
            (ms.rem_euclid(1000) as u32) * 1_000_000,
        )
    }

    /// The same instant written with another offset (minutes east of UTC), if representable.
    pub fn with_offset(self, offset_minutes: Option<i16>) -> Option<DateTime> {
        let dt = DateTime {
            offset_minutes: offset_minutes.filter(|m| m.unsigned_abs() < 24 * 60),
            ..self
        };
        (dt.offset_minutes == offset_minutes && dt.local_year_in_range()).then_some(dt)
    }

    pub fn unix_seconds(&self) -> i64 {
        self.unix_seconds
    }

    pub fn nanos(&self) -> u32 {
        self.nanos
    }

    pub fn unix_millis(&self) -> i64 {
        self.unix_seconds
            .saturating_mul(1000)
            .saturating_add(i64::from(self.nanos / 1_000_000))
    }

    pub fn offset_minutes(&self) -> Option<i16> {
        self.offset_minutes
    }

    /// Whether this is the Unknown Time (any instant in year 1 counts, as TR-106 allows
    /// "0001-01-01T00:00:00" plus an uptime for relative times).
    pub fn is_unknown(&self) -> bool {
        self.unix_seconds < UNKNOWN_UNIX_SECONDS + 365 * 86_400
    }

    fn local_seconds(&self) -> i64 {
        self.unix_seconds + i64::from(self.offset_minutes.unwrap_or(0)) * 60
    }

    fn local_year_in_range(&self) -> bool {
        let (y, _, _) = civil_from_days(self.local_seconds().div_euclid(86_400));
        (1..=9999).contains(&y)
    }

    /// Parses the TR-106 form; lenient about fraction length and lower-case `t`/`z`.
    pub fn parse(s: &str) -> Result<DateTime, DateTimeError> {
        let err = |reason| DateTimeError {
            value: s.to_owned(),
            reason,
        };
        let b = s.trim().as_bytes();
        if b.len() < 19 {
            return Err(err("too short"));
        }
        let num = |range: std::ops::Range<usize>| -> Result<i64, DateTimeError> {
            let part = &b[range];
            if part.iter().all(u8::is_ascii_digit) {
                Ok(part
                    .iter()
                    .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0')))
            } else {
                Err(err("expected digits"))
            }
        };
        if b[4] != b'-'
            || b[7] != b'-'
            || !matches!(b[10], b'T' | b't')
            || b[13] != b':'
            || b[16] != b':'
        {
            return Err(err("expected YYYY-MM-DDThh:mm:ss"));
        }
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if year < 1 || !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
            return Err(err("date out of range"));
        }
        if hour > 23 || minute > 59 || second > 59 {
            return Err(err("time out of range"));
        }
        let mut rest = &b[19..];
        let mut nanos = 0u32;
        if let Some(frac) = rest.strip_prefix(b".") {
            let digits = frac.iter().take_while(|c| c.is_ascii_digit()).count();
            if digits == 0 {
                return Err(err("empty fraction"));
            }
            for (i, d) in frac[..digits].iter().enumerate().take(9) {
                nanos += u32::from(d - b'0') * 10u32.pow(8 - i as u32);
            }
            rest = &frac[digits..];
        }
        let offset_minutes = match rest {
            [] => None,
            [b'Z' | b'z'] => Some(0),
            [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
                let digits = [*h1, *h2, *m1, *m2];
                if !digits.iter().all(u8::is_ascii_digit) {
                    return Err(err("bad offset"));
                }
                let h = i16::from(h1 - b'0') * 10 + i16::from(h2 - b'0');
                let m = i16::from(m1 - b'0') * 10 + i16::from(m2 - b'0');
                if h > 23 || m > 59 {
                    return Err(err("offset out of range"));
                }
                let total = h * 60 + m;
                Some(if *sign == b'-' { -total } else { total })
            }
            _ => return Err(err("bad zone designator")),
        };
        let days = days_from_civil(year, month, day);
        let local = days * 86_400 + hour * 3600 + minute * 60 + second;
        Ok(DateTime {
            unix_seconds: local - i64::from(offset_minutes.unwrap_or(0)) * 60,
            nanos,
            offset_minutes,
        })
    }
}

impl FromStr for DateTime {
    type Err = DateTimeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DateTime::parse(s)
    }
}

impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let local = self.local_seconds();
        let (y, m, d) = civil_from_days(local.div_euclid(86_400));
        let secs = local.rem_euclid(86_400);
        match u16::try_from(y).ok().filter(|y| *y <= 9999) {
            // Every Inform and TransferComplete carries dateTimes, and `write!`'s padded
            // integers were ≈ 16 k instructions of each core flow (BENCHMARKS.md, "dateTimes
            // and the reader's stacks"); digits written by hand cost a small part of that.
            Some(year) => {
                let mut out = *b"0000-00-00T00:00:00";
                let two = |out: &mut [u8; 19], at: usize, v: i64| {
                    // m, d < 32 and hours, minutes, seconds < 60: two digits each.
                    let v = v.unsigned_abs() % 100;
                    out[at] = b'0' + (v / 10) as u8;
                    out[at + 1] = b'0' + (v % 10) as u8;
                };
                two(&mut out, 0, i64::from(year / 100));
                two(&mut out, 2, i64::from(year % 100));
                two(&mut out, 5, m);
                two(&mut out, 8, d);
                two(&mut out, 11, secs / 3600);
                two(&mut out, 14, secs % 3600 / 60);
                two(&mut out, 17, secs % 60);
                // Only ASCII digits and separators were written.
                f.write_str(std::str::from_utf8(&out).map_err(|_| fmt::Error)?)?;
            }
            None => write!(
                f,
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                y,
                m,
                d,
                secs / 3600,
                secs % 3600 / 60,
                secs % 60
            )?,
        }
        if self.nanos != 0 {
            if self.nanos % 1_000_000 == 0 {
                write!(f, ".{:03}", self.nanos / 1_000_000)?;
            } else if self.nanos % 1_000 == 0 {
                write!(f, ".{:06}", self.nanos / 1_000)?;
            } else {
                write!(f, ".{:09}", self.nanos)?;
            }
        }
        match self.offset_minutes {
            None => Ok(()),
            Some(0) => f.write_str("Z"),
            Some(m) => {
                let sign = if m < 0 { '-' } else { '+' };
                let m = m.unsigned_abs();
                write!(f, "{sign}{:02}:{:02}", m / 60, m % 60)
            }
        }
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

// Howard Hinnant's days_from_civil / civil_from_days (public domain algorithms).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn unknown_time() {
        let dt = DateTime::parse("0001-01-01T00:00:00Z").unwrap();
        assert_eq!(dt, DateTime::UNKNOWN);
        assert!(dt.is_unknown());
        assert_eq!(DateTime::UNKNOWN.to_string(), "0001-01-01T00:00:00Z");
    }

    #[test]
    fn known_values() {
        let dt = DateTime::parse("2026-11-22T01:00:00.123Z").unwrap();
        assert_eq!(dt.unix_seconds(), 1_795_309_200);
        assert_eq!(dt.nanos(), 123_000_000);
        assert_eq!(dt.to_string(), "2026-11-22T01:00:00.123Z");
        let dt = DateTime::parse("2026-11-22T02:30:00+01:30").unwrap();
        assert_eq!(dt.unix_seconds(), 1_795_309_200);
        assert_eq!(dt.to_string(), "2026-11-22T02:30:00+01:30");
        assert_eq!(
            DateTime::from_unix(0, 0).to_string(),
            "1970-01-01T00:00:00Z"
        );
        assert_eq!(
            DateTime::parse("9999-12-31T23:59:59Z").unwrap().to_string(),
            "9999-12-31T23:59:59Z"
        );
        let local = DateTime::parse("2024-02-29T12:00:00").unwrap();
        assert_eq!(local.offset_minutes(), None);
        assert_eq!(local.to_string(), "2024-02-29T12:00:00");
    }

    #[test]
    fn refuses_garbage() {
        for bad in [
            "",
            "2026-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2026-01-01 00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T00:00:00+25:00",
            "2026-01-01T00:00:00.Z",
            "0000-01-01T00:00:00Z",
            "２０２６-01-01T00:00:00Z",
        ] {
            assert!(DateTime::parse(bad).is_err(), "{bad}");
        }
    }

    pub(crate) fn arb_datetime() -> impl Strategy<Value = DateTime> {
        (
            UNKNOWN_UNIX_SECONDS + 86_400..253_402_214_400i64 - 86_400,
            prop_oneof![
                Just(0u32),
                (0u32..1000).prop_map(|ms| ms * 1_000_000),
                0u32..1_000_000_000
            ],
            prop_oneof![
                Just(None),
                Just(Some(0i16)),
                (-1439i16..1440).prop_map(Some)
            ],
        )
            .prop_map(|(s, n, o)| DateTime {
                unix_seconds: s,
                nanos: n,
                offset_minutes: o,
            })
    }

    /// The date and time as `write!`'s padded formatting writes them: what `Display` wrote
    /// before its hand-written digits.
    fn padded(dt: &DateTime) -> String {
        let local = dt.local_seconds();
        let (y, m, d) = civil_from_days(local.div_euclid(86_400));
        let secs = local.rem_euclid(86_400);
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            y,
            m,
            d,
            secs / 3600,
            secs % 3600 / 60,
            secs % 60
        )
    }

    proptest! {
        #[test]
        fn date_and_time_digits_are_what_padded_formatting_writes(
            unix_seconds in -200_000_000_000i64..400_000_000_000,
            offset_minutes in prop_oneof![Just(None), (-1439i16..1440).prop_map(Some)],
        ) {
            let dt = DateTime { unix_seconds, nanos: 0, offset_minutes };
            let text = dt.to_string();
            let expected = padded(&dt);
            prop_assert!(text.starts_with(&expected), "{} vs {}", text, expected);
            prop_assert!(text.len() == expected.len() || text[expected.len()..].starts_with(['Z', '+', '-']));
        }

        #[test]
        fn round_trips(dt in arb_datetime()) {
            let text = dt.to_string();
            prop_assert_eq!(DateTime::parse(&text).unwrap(), dt);
        }

        #[test]
        fn parse_never_panics(s in ".{0,40}") {
            let _ = DateTime::parse(&s);
        }
    }
}
