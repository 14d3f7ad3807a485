//! `Retry-After` parsing: delay-seconds or an HTTP-date (IMF-fixdate, RFC 850, asctime).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Longest delay accepted from an ACS (a week); anything larger is clamped.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(7 * 24 * 3600);

/// Parses a `Retry-After` value relative to `now`. A date in the past gives zero.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        let secs = value.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER));
    }
    let when = parse_http_date(value)?;
    let now = now.duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(when.saturating_sub(now)).min(MAX_RETRY_AFTER))
}

/// Seconds since the epoch of an HTTP-date.
pub(crate) fn parse_http_date(value: &str) -> Option<u64> {
    let tokens: Vec<&str> = value
        .split([' ', ',', '-'])
        .filter(|t| !t.is_empty())
        .collect();
    let mut month = None;
    let mut time = None;
    let mut numbers = Vec::new();
    for t in tokens {
        if t.contains(':') {
            time = Some(t);
        } else if t.bytes().all(|b| b.is_ascii_digit()) {
            numbers.push(t);
        } else if let Some(m) = month_number(t) {
            month = Some(m);
        } else if !(is_weekday(t) || t.eq_ignore_ascii_case("GMT") || t == "UTC") {
            return None;
        }
    }
    let month = month?;
    let [day, year] = numbers.as_slice() else {
        return None;
    };
    let day: u32 = day.parse().ok()?;
    let mut year: i64 = year.parse().ok()?;
    if year < 100 {
        year += if year < 70 { 2000 } else { 1900 };
    }
    let mut hms = time?.split(':');
    let h: u64 = hms.next()?.parse().ok()?;
    let m: u64 = hms.next()?.parse().ok()?;
    let s: u64 = hms.next()?.parse().ok()?;
    if hms.next().is_some() || !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    if days < 0 {
        return None;
    }
    Some(days as u64 * 86400 + h * 3600 + m * 60 + s)
}

fn month_number(t: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    MONTHS
        .iter()
        .position(|m| t.eq_ignore_ascii_case(m))
        .map(|i| i as u32 + 1)
}

fn is_weekday(t: &str) -> bool {
    const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    t.len() >= 3
        && t.is_char_boundary(3)
        && DAYS.iter().any(|d| t[..3].eq_ignore_ascii_case(d))
        && t.bytes().all(|b| b.is_ascii_alphabetic())
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds() {
        assert_eq!(
            parse_retry_after("120", SystemTime::now()),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("99999999999999999999999", SystemTime::now()),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(parse_retry_after("-5", SystemTime::now()), None);
        assert_eq!(parse_retry_after("", SystemTime::now()), None);
    }

    #[test]
    fn http_dates_in_all_three_formats() {
        let expect = 784111777; // 1994-11-06T08:49:37Z
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(expect)
        );
        assert_eq!(
            parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"),
            Some(expect)
        );
        assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994"), Some(expect));
        assert_eq!(parse_http_date("garbage"), None);
        assert_eq!(parse_http_date("Sun, 06 Foo 1994 08:49:37 GMT"), None);
    }

    #[test]
    fn date_relative_to_now() {
        let now = UNIX_EPOCH + Duration::from_secs(784111777 - 90);
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::from_secs(90))
        );
        let later = UNIX_EPOCH + Duration::from_secs(784111777 + 90);
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", later),
            Some(Duration::ZERO)
        );
    }
}
