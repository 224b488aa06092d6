//! Docker's (go-units) human sizes and durations.

/// Go's `%.{prec}g`: `prec` significant digits, trailing zeros removed, exponent form when
/// the exponent is < -4 or >= prec.
fn go_g(v: f64, prec: usize) -> String {
    if v == 0.0 {
        return "0".into();
    }
    // Round to prec significant digits first: the exponent is the rounded one's.
    let sci = format!("{:.*e}", prec - 1, v);
    let (mant, exp) = sci.split_once('e').unwrap();
    let exp: i32 = exp.parse().unwrap();
    if exp < -4 || exp >= prec as i32 {
        let mant = trim_zeros(mant);
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mant}e{sign}{:02}", exp.abs());
    }
    let decimals = (prec as i32 - 1 - exp).max(0) as usize;
    trim_zeros(&format!("{v:.decimals$}")).to_string()
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// `units.HumanSizeWithPrecision`: decimal units, e.g. 4857344 → "4.86MB" (precision 3).
pub fn human_size_prec(size: f64, prec: usize) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut s = size;
    let mut i = 0;
    while s >= 1000.0 && i < UNITS.len() - 1 {
        s /= 1000.0;
        i += 1;
    }
    format!("{}{}", go_g(s, prec), UNITS[i])
}

/// `units.HumanSize` (precision 4).
pub fn human_size(size: u64) -> String {
    human_size_prec(size as f64, 4)
}

/// `units.HumanDuration`.
pub fn human_duration(secs: i64) -> String {
    let s = secs;
    if s < 1 {
        return "Less than a second".into();
    }
    if s == 1 {
        return "1 second".into();
    }
    if s < 60 {
        return format!("{s} seconds");
    }
    let minutes = s / 60;
    if minutes == 1 {
        return "About a minute".into();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    let hours = (s as f64 / 3600.0).round() as i64;
    if hours == 1 {
        return "About an hour".into();
    }
    if hours < 48 {
        return format!("{hours} hours");
    }
    if hours < 24 * 7 * 2 {
        return format!("{} days", hours / 24);
    }
    if hours < 24 * 30 * 2 {
        return format!("{} weeks", hours / 24 / 7);
    }
    if hours < 24 * 365 * 2 {
        return format!("{} months", hours / 24 / 30);
    }
    format!("{} years", s / 3600 / 24 / 365)
}

/// "2 hours ago" from a unix time.
pub fn since(unix: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    format!("{} ago", human_duration(now - unix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(human_size_prec(4857344.0, 3), "4.86MB");
        assert_eq!(human_size_prec(0.0, 3), "0B");
        assert_eq!(human_size_prec(999.0, 3), "999B");
        assert_eq!(human_size_prec(1000.0, 3), "1kB");
        assert_eq!(human_size_prec(12_345_678.0, 3), "12.3MB");
        assert_eq!(human_size_prec(123_456_789.0, 3), "123MB");
        assert_eq!(human_size_prec(1_234_567_890.0, 3), "1.23GB");
        assert_eq!(human_size_prec(999_999.0, 3), "1e+03kB");
        assert_eq!(human_size(4857344), "4.857MB");
        assert_eq!(human_size(1_500), "1.5kB");
    }

    #[test]
    fn durations() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(1), "1 second");
        assert_eq!(human_duration(59), "59 seconds");
        assert_eq!(human_duration(60), "About a minute");
        assert_eq!(human_duration(119), "About a minute");
        assert_eq!(human_duration(120), "2 minutes");
        assert_eq!(human_duration(3599), "59 minutes");
        assert_eq!(human_duration(3600), "About an hour");
        assert_eq!(human_duration(2 * 3600), "2 hours");
        assert_eq!(human_duration(47 * 3600), "47 hours");
        assert_eq!(human_duration(48 * 3600), "2 days");
        assert_eq!(human_duration(14 * 24 * 3600), "2 weeks");
        assert_eq!(human_duration(60 * 24 * 3600), "2 months");
        assert_eq!(human_duration(3 * 365 * 24 * 3600), "3 years");
    }
}
