//! CronJob schedules, checked as `cron.ParseStandard` (robfig/cron v3) does, with its messages.

/// `cron.ParseStandard`: five fields, or a `@descriptor`, optionally after `TZ=`/`CRON_TZ=`.
pub fn parse_standard(spec: &str) -> Result<(), String> {
    if spec.is_empty() {
        return Err("empty spec string".into());
    }
    let mut spec = spec;
    if spec.starts_with("TZ=") || spec.starts_with("CRON_TZ=") {
        // The zone itself is checked by the caller's time-zone rule; only the shape is ours.
        match spec.split_once(' ') {
            Some((_, rest)) => spec = rest.trim(),
            None => {
                return Err(format!(
                    "provided bad location {}: unknown time zone",
                    spec.split_once('=').map_or("", |x| x.1)
                ));
            }
        }
    }
    if let Some(desc) = spec.strip_prefix('@') {
        return match desc {
            "yearly" | "annually" | "monthly" | "weekly" | "daily" | "midnight" | "hourly" => {
                Ok(())
            }
            d if d.starts_with("every ") => go_duration(d.trim_start_matches("every ").trim())
                .map_err(|e| format!("failed to parse duration {spec}: {e}")),
            _ => Err(format!("unrecognized descriptor: {spec}")),
        };
    }
    let fields: Vec<&str> = spec.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!(
            "expected exactly 5 fields, found {}: [{}]",
            fields.len(),
            fields.join(" ")
        ));
    }
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
    let bounds: [(u32, u32, &[&str], u32); 5] = [
        (0, 59, &[], 0),
        (0, 23, &[], 0),
        (1, 31, &[], 0),
        (1, 12, &MONTHS, 1),
        (0, 6, &DAYS, 0),
    ];
    for (field, (min, max, names, name_base)) in fields.iter().zip(bounds) {
        for expr in field.split(',') {
            parse_range(expr, min, max, names, name_base)?;
        }
    }
    Ok(())
}

/// `getRange`: `*`, `?`, `n`, `a-b`, each optionally `/step`.
fn parse_range(
    expr: &str,
    min: u32,
    max: u32,
    names: &[&str],
    name_base: u32,
) -> Result<(), String> {
    let range_and_step: Vec<&str> = expr.split('/').collect();
    let low_and_high: Vec<&str> = range_and_step[0].split('-').collect();
    let single = low_and_high.len() == 1;
    let (start, mut end) = if low_and_high[0] == "*" || low_and_high[0] == "?" {
        (min, max)
    } else {
        let start = int_or_name(low_and_high[0], names, name_base)?;
        let end = match low_and_high.len() {
            1 => start,
            2 => int_or_name(low_and_high[1], names, name_base)?,
            _ => return Err(format!("too many hyphens: {expr}")),
        };
        (start, end)
    };
    match range_and_step.len() {
        1 => {}
        2 => {
            let step = must_parse_int(range_and_step[1])?;
            if step == 0 {
                return Err(format!("step of range should be a positive number: {expr}"));
            }
            // `N/step` means `N-max/step`.
            if single {
                end = max;
            }
        }
        _ => return Err(format!("too many slashes: {expr}")),
    }
    if start < min {
        return Err(format!(
            "beginning of range ({start}) below minimum ({min}): {expr}"
        ));
    }
    if end > max {
        return Err(format!(
            "end of range ({end}) above maximum ({max}): {expr}"
        ));
    }
    if start > end {
        return Err(format!(
            "beginning of range ({start}) beyond end of range ({end}): {expr}"
        ));
    }
    Ok(())
}

fn int_or_name(expr: &str, names: &[&str], base: u32) -> Result<u32, String> {
    let lower = expr.to_lowercase();
    match names.iter().position(|n| *n == lower) {
        Some(i) => Ok(i as u32 + base),
        None => must_parse_int(expr),
    }
}

/// `mustParseInt` with Go's `strconv.Atoi` message.
fn must_parse_int(expr: &str) -> Result<u32, String> {
    match expr.parse::<i64>() {
        Ok(n) if n < 0 => Err(format!("negative number ({n}) not allowed: {expr}")),
        Ok(n) => Ok(u32::try_from(n).unwrap_or(u32::MAX)),
        Err(_) => Err(format!(
            "failed to parse int from {expr}: strconv.Atoi: parsing \"{expr}\": invalid syntax"
        )),
    }
}

/// Go's `time.ParseDuration`, as far as telling valid from invalid.
fn go_duration(s: &str) -> Result<(), String> {
    let invalid = || format!("time: invalid duration \"{s}\"");
    let mut rest = s.strip_prefix(['+', '-']).unwrap_or(s);
    if rest == "0" {
        return Ok(());
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    while !rest.is_empty() {
        let num_len = rest
            .bytes()
            .take_while(|c| c.is_ascii_digit() || *c == b'.')
            .count();
        if num_len == 0 {
            return Err(invalid());
        }
        rest = &rest[num_len..];
        let unit_len = rest
            .bytes()
            .take_while(|c| !c.is_ascii_digit() && *c != b'.')
            .count();
        let unit = &rest[..unit_len];
        if !["ns", "us", "µs", "μs", "ms", "s", "m", "h"].contains(&unit) {
            return Err(if unit.is_empty() {
                format!("time: missing unit in duration \"{s}\"")
            } else {
                format!("time: unknown unit \"{unit}\" in duration \"{s}\"")
            });
        }
        rest = &rest[unit_len..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_schedules() {
        for s in [
            "*/5 * * * *",
            "0 0 * * *",
            "@hourly",
            "@every 1h30m",
            "0 9 * * mon-fri",
            "15 2 1,15 jan-jun ?",
            "TZ=UTC 0 * * * *",
            "5/10 * * * *",
        ] {
            assert_eq!(parse_standard(s), Ok(()), "{s}");
        }
    }

    #[test]
    fn invalid_schedules_read_like_robfig() {
        let table = [
            ("foo", "expected exactly 5 fields, found 1: [foo]"),
            ("* * * *", "expected exactly 5 fields, found 4: [* * * *]"),
            ("61 * * * *", "end of range (61) above maximum (59): 61"),
            ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
            (
                "5-1 * * * *",
                "beginning of range (5) beyond end of range (1): 5-1",
            ),
            (
                "*/0 * * * *",
                "step of range should be a positive number: */0",
            ),
            (
                "x * * * *",
                "failed to parse int from x: strconv.Atoi: parsing \"x\": invalid syntax",
            ),
            ("@often", "unrecognized descriptor: @often"),
            ("1-2-3 * * * *", "too many hyphens: 1-2-3"),
            // `N/step` runs from N to the maximum.
            (
                "70/5 * * * *",
                "beginning of range (70) beyond end of range (59): 70/5",
            ),
        ];
        for (s, want) in table {
            assert_eq!(parse_standard(s), Err(want.to_string()), "{s}");
        }
    }
}
