//! Units compose re-renders: Go durations (`120s` → `2m0s`), byte sizes (`128m` → 134217728),
//! and shell-style splitting of `command`/`entrypoint` strings.

/// Parses a Go duration (`1h2m3.5s`, `300ms`, `-1s`) into nanoseconds.
pub fn parse_duration(s: &str) -> Option<i128> {
    let (neg, mut rest) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_end == 0 {
            return None;
        }
        let num: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_end];
        rest = &rest[unit_end..];
        let mult: f64 = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += num * mult;
    }
    let ns = total.round() as i128;
    Some(if neg { -ns } else { ns })
}

/// Renders nanoseconds as Go's `time.Duration.String()`.
pub fn format_duration(ns: i128) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let neg = ns < 0;
    let u = ns.unsigned_abs();
    let mut out = String::new();
    if u < 1_000_000_000 {
        // Sub-second values use the largest unit that keeps an integer part.
        let (unit, div) = if u < 1_000 {
            ("ns", 1u128)
        } else if u < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        out.push_str(&frac(u, div));
        out.push_str(unit);
    } else {
        let h = u / 3_600_000_000_000;
        let rem = u % 3_600_000_000_000;
        let m = rem / 60_000_000_000;
        let s = rem % 60_000_000_000;
        if h > 0 {
            out.push_str(&format!("{h}h"));
        }
        if h > 0 || m > 0 {
            out.push_str(&format!("{m}m"));
        }
        out.push_str(&frac(s, 1_000_000_000));
        out.push('s');
    }
    if neg { format!("-{out}") } else { out }
}

fn frac(v: u128, div: u128) -> String {
    let whole = v / div;
    let mut f = v % div;
    if f == 0 {
        return whole.to_string();
    }
    let mut digits = div.to_string().len() - 1;
    let mut s = String::new();
    while f.is_multiple_of(10) {
        f /= 10;
        digits -= 1;
    }
    s.push_str(&format!("{whole}.{f:0digits$}"));
    s
}

/// Parses a byte size the way docker's `units.RAMInBytes` does: binary multiples.
pub fn parse_ram(s: &str) -> Option<i64> {
    let t = s.trim();
    let num_end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    if num_end == 0 {
        return None;
    }
    let num: f64 = t[..num_end].parse().ok()?;
    let suffix = t[num_end..].trim_start_matches(' ').to_ascii_lowercase();
    let mult: f64 = match suffix.as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" | "ki" => 1024.0,
        "m" | "mb" | "mib" | "mi" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" | "gi" => 1024.0_f64.powi(3),
        "t" | "tb" | "tib" | "ti" => 1024.0_f64.powi(4),
        "p" | "pb" | "pib" | "pi" => 1024.0_f64.powi(5),
        _ => return None,
    };
    Some((num * mult) as i64)
}

/// Splits a command line as go-shellwords does (quotes, backslash escapes, whitespace).
pub fn shell_split(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut have = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                    have = true;
                }
            }
            '\'' => {
                have = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(x) => cur.push(x),
                        None => return Err(format!("invalid command line string: {s:?}")),
                    }
                }
            }
            '"' => {
                have = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.peek().copied() {
                            Some(n @ ('"' | '\\' | '$' | '`')) => {
                                cur.push(n);
                                chars.next();
                            }
                            Some('\n') => {
                                chars.next();
                            }
                            _ => cur.push('\\'),
                        },
                        Some(x) => cur.push(x),
                        None => return Err(format!("invalid command line string: {s:?}")),
                    }
                }
            }
            c if c == ' ' || c == '\t' || c == '\n' || c == '\r' => {
                if have {
                    out.push(std::mem::take(&mut cur));
                    have = false;
                }
            }
            c => {
                cur.push(c);
                have = true;
            }
        }
    }
    if have {
        out.push(cur);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_render_like_go() {
        let r = |s: &str| format_duration(parse_duration(s).unwrap());
        assert_eq!(r("2h"), "2h0m0s");
        assert_eq!(r("120s"), "2m0s");
        assert_eq!(r("1m30s"), "1m30s");
        assert_eq!(r("10s"), "10s");
        assert_eq!(r("500ms"), "500ms");
        assert_eq!(r("1.5s"), "1.5s");
        assert_eq!(r("0"), "0s");
        assert!(parse_duration("10").is_none());
    }

    #[test]
    fn sizes_and_words() {
        assert_eq!(parse_ram("128m"), Some(134_217_728));
        assert_eq!(parse_ram("1gb"), Some(1_073_741_824));
        assert_eq!(parse_ram("512"), Some(512));
        assert_eq!(
            shell_split(r#"sh -c "echo 'a b' \"q\"" x\ y"#).unwrap(),
            vec!["sh", "-c", "echo 'a b' \"q\"", "x y"]
        );
        assert_eq!(shell_split("").unwrap(), Vec::<String>::new());
    }
}
