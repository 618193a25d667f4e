//! Units people type and read: byte sizes (`10G`, `512M`, `1T`, binary
//! multiples), wall-clock timestamps (milliseconds since the Unix epoch,
//! shown as RFC 3339 UTC) and durations (`0.84s`, `46.2s`, `2m05s`).

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
const TIB: u64 = 1 << 40;
const PIB: u64 = 1 << 50;

/// Parses a size: plain bytes (`1048576`) or a whole number with a binary
/// unit (`512M`, `10G`, `1T`; `Gi`, `GiB` and lower case are accepted too).
pub fn parse_size(input: &str) -> Result<u64, String> {
    let text = input.trim();
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(digits_end);
    if digits.is_empty() {
        return Err(format!(
            "{input:?} is not a size; use a whole number of bytes or a whole number with K, M, G, T or P (KiB, MiB, GiB, TiB, PiB), e.g. 10G or 512M"
        ));
    }
    let multiplier = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "ki" | "kib" => KIB,
        "m" | "mi" | "mib" => MIB,
        "g" | "gi" | "gib" => GIB,
        "t" | "ti" | "tib" => TIB,
        "p" | "pi" | "pib" => PIB,
        _ => {
            return Err(format!(
                "{input:?} has an unknown unit {:?}; use a whole number of bytes or a whole number with K, M, G, T or P (KiB, MiB, GiB, TiB, PiB), e.g. 10G or 512M",
                unit.trim()
            ));
        }
    };
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("{input:?} is too large for a size"))?;
    let bytes = number
        .checked_mul(multiplier)
        .ok_or_else(|| format!("{input:?} is too large for a size"))?;
    if bytes == 0 {
        return Err(format!("{input:?} is zero; a size must be at least 1 byte"));
    }
    Ok(bytes)
}

/// Formats a byte count for tables: exact binary multiples as `10 GiB`,
/// other values with one decimal (`1.5 GiB`), small values in bytes.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [(u64, &str); 5] = [
        (PIB, "PiB"),
        (TIB, "TiB"),
        (GIB, "GiB"),
        (MIB, "MiB"),
        (KIB, "KiB"),
    ];
    for (size, name) in UNITS {
        if bytes >= size {
            if bytes.is_multiple_of(size) {
                return format!("{} {name}", bytes / size);
            }
            // Tenths of the unit, rounded down: precise enough for a table.
            let tenths = u128::from(bytes) * 10 / u128::from(size);
            return format!("{}.{} {name}", tenths / 10, tenths % 10);
        }
    }
    format!("{bytes} B")
}

/// Formats milliseconds since the Unix epoch as `2025-06-01T12:00:00Z`;
/// `0` (unknown) becomes `-`.
pub fn format_time_ms(ms: u64) -> String {
    if ms == 0 {
        return "-".to_string();
    }
    let secs = ms / 1000;
    let (year, month, day) = civil_from_days(secs / 86_400);
    let rem = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Formats a duration in milliseconds for tables: `0.84s` below 10 s,
/// `46.2s` below 100 s, `2m05s` below an hour, `1h02m` above; `0` (not
/// reached) becomes `-`. Rounded to the nearest shown digit; anything
/// above zero shows at least `0.01s`.
pub fn format_duration_ms(ms: u64) -> String {
    if ms == 0 {
        return "-".to_string();
    }
    let hundredths = (ms.saturating_add(5) / 10).max(1);
    if hundredths < 1000 {
        return format!("{}.{:02}s", hundredths / 100, hundredths % 100);
    }
    let tenths = ms.saturating_add(50) / 100;
    if tenths < 1000 {
        return format!("{}.{}s", tenths / 10, tenths % 10);
    }
    let secs = ms.saturating_add(500) / 1000;
    if secs < 3600 {
        return format!("{}m{:02}s", secs / 60, secs % 60);
    }
    let minutes = ms.saturating_add(30_000) / 60_000;
    format!("{}h{:02}m", minutes / 60, minutes % 60)
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day), after
/// Howard Hinnant's `civil_from_days`, for non-negative day counts.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_accept_bytes_and_binary_suffixes() {
        assert_eq!(parse_size("1048576"), Ok(1_048_576));
        assert_eq!(parse_size("512B"), Ok(512));
        assert_eq!(parse_size("4K"), Ok(4096));
        assert_eq!(parse_size("512M"), Ok(512 * MIB));
        assert_eq!(parse_size("10G"), Ok(10 * GIB));
        assert_eq!(parse_size("10g"), Ok(10 * GIB));
        assert_eq!(parse_size("10Gi"), Ok(10 * GIB));
        assert_eq!(parse_size("10GiB"), Ok(10 * GIB));
        assert_eq!(parse_size(" 1T "), Ok(TIB));
        assert_eq!(parse_size("2P"), Ok(2 * PIB));
    }

    #[test]
    fn sizes_reject_garbage_with_a_hint() {
        let err = parse_size("12Q").unwrap_err();
        assert!(err.contains("unknown unit \"Q\""), "{err}");
        assert!(err.contains("10G"), "{err}");
        assert!(parse_size("").unwrap_err().contains("is not a size"));
        assert!(parse_size("G").unwrap_err().contains("is not a size"));
        assert!(parse_size("1.5G").unwrap_err().contains("unknown unit"));
        assert!(parse_size("-1G").unwrap_err().contains("is not a size"));
        assert!(parse_size("10GB").unwrap_err().contains("unknown unit"));
        assert!(parse_size("0").unwrap_err().contains("zero"));
        assert!(parse_size("0G").unwrap_err().contains("zero"));
        assert!(
            parse_size("99999999999999999999")
                .unwrap_err()
                .contains("too large")
        );
        assert!(parse_size("100000P").unwrap_err().contains("too large"));
    }

    #[test]
    fn sizes_format_for_people() {
        assert_eq!(format_size(0), "0 B");
        assert_eq!(format_size(512), "512 B");
        assert_eq!(format_size(4096), "4 KiB");
        assert_eq!(format_size(10 * GIB), "10 GiB");
        assert_eq!(format_size(GIB + GIB / 2), "1.5 GiB");
        assert_eq!(format_size(TIB), "1 TiB");
    }

    #[test]
    fn durations_format_for_people() {
        assert_eq!(format_duration_ms(0), "-");
        assert_eq!(format_duration_ms(1), "0.01s");
        assert_eq!(format_duration_ms(14), "0.01s");
        assert_eq!(format_duration_ms(15), "0.02s");
        assert_eq!(format_duration_ms(840), "0.84s");
        assert_eq!(format_duration_ms(3_210), "3.21s");
        assert_eq!(format_duration_ms(9_994), "9.99s");
        assert_eq!(format_duration_ms(9_995), "10.0s");
        assert_eq!(format_duration_ms(46_200), "46.2s");
        assert_eq!(format_duration_ms(46_249), "46.2s");
        assert_eq!(format_duration_ms(99_949), "99.9s");
        assert_eq!(format_duration_ms(99_950), "1m40s");
        assert_eq!(format_duration_ms(125_000), "2m05s");
        assert_eq!(format_duration_ms(3_599_499), "59m59s");
        assert_eq!(format_duration_ms(3_599_500), "1h00m");
        assert_eq!(format_duration_ms(3_720_000), "1h02m");
        assert_eq!(format_duration_ms(u64::MAX), "5124095576030h25m");
    }

    #[test]
    fn timestamps_format_as_rfc3339_utc() {
        assert_eq!(format_time_ms(0), "-");
        assert_eq!(format_time_ms(1), "1970-01-01T00:00:00Z");
        assert_eq!(format_time_ms(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(format_time_ms(1_748_779_200_123), "2025-06-01T12:00:00Z");
        assert_eq!(format_time_ms(1_767_225_599_000), "2025-12-31T23:59:59Z");
    }
}
