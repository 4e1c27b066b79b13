//! Terminal output of progress events, in the shapes Docker Compose prints: on a terminal a block
//! of per-resource lines redrawn in place (`[+] Running 2/2` then ` ✔ Container x  Started  0.4s`),
//! plain ` Container x  Started` lines otherwise, JSON lines with `--progress json`, or nothing
//! (`quiet`).

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Instant;

use hoist_core::events::{Event, EventSink, Phase};

use crate::cli::Progress;

/// One resource's line in the live block.
struct Line {
    id: String,
    text: String,
    phase: Phase,
    started: Instant,
    finished: Option<Instant>,
}

/// Prints events to stderr, as Compose does.
pub struct Printer {
    mode: Progress,
    live: Mutex<Vec<Line>>,
    drawn: Mutex<usize>,
}

impl Printer {
    pub fn new(mode: Progress) -> Printer {
        let mode = match mode {
            Progress::Auto if std::io::stderr().is_terminal() => Progress::Tty,
            Progress::Auto => Progress::Plain,
            other => other,
        };
        Printer {
            mode,
            live: Mutex::new(Vec::new()),
            drawn: Mutex::new(0),
        }
    }

    fn redraw(&self, lines: &[Line]) {
        let mut drawn = self.drawn.lock().expect("printer");
        let mut out = String::new();
        if *drawn > 0 {
            // Back to the top of the block, then rewrite it.
            out.push_str(&format!("\x1b[{}A", *drawn));
        }
        out.push_str(&render_block(lines, Instant::now()));
        *drawn = lines.len() + 1;
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(out.as_bytes());
        let _ = err.flush();
    }
}

/// The live block: a header and one line per resource, each cleared to the end of the line.
fn render_block(lines: &[Line], now: Instant) -> String {
    let done = lines
        .iter()
        .filter(|l| matches!(l.phase, Phase::Done | Phase::Info))
        .count();
    let width = lines
        .iter()
        .map(|l| l.id.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = format!("[+] Running {done}/{}\x1b[K\n", lines.len());
    for l in lines {
        let mark = match l.phase {
            Phase::Working => "⠿",
            Phase::Done | Phase::Info => "✔",
            Phase::Failed => "✘",
        };
        let elapsed = l.finished.unwrap_or(now).duration_since(l.started);
        out.push_str(&format!(
            " {mark} {:width$}  {}  {:.1}s\x1b[K\n",
            l.id,
            l.text,
            elapsed.as_secs_f64()
        ));
    }
    out
}

impl EventSink for Printer {
    fn emit(&self, mut event: Event) {
        // A name or message can carry a value interpolated from a target's secret.
        event.name = hoist_core::mask::scrub_declared(&event.name).into_owned();
        event.text = hoist_core::mask::scrub_declared(&event.text).into_owned();
        match self.mode {
            Progress::Quiet => {}
            Progress::Json => {
                let line = serde_json::json!({
                    "id": format!("{} {}", event.kind, event.name),
                    "status": event.text,
                    "phase": event.phase,
                });
                let _ = writeln!(std::io::stderr().lock(), "{line}");
            }
            Progress::Tty => {
                let mut lines = self.live.lock().expect("printer");
                let id = format!("{} {}", event.kind, event.name);
                let now = Instant::now();
                let finished =
                    matches!(event.phase, Phase::Done | Phase::Info | Phase::Failed).then_some(now);
                match lines.iter_mut().find(|l| l.id == id) {
                    Some(line) => {
                        line.text = event.text;
                        line.phase = event.phase;
                        line.finished = finished;
                    }
                    None => lines.push(Line {
                        id,
                        text: event.text,
                        phase: event.phase,
                        started: now,
                        finished,
                    }),
                }
                self.redraw(&lines);
            }
            Progress::Auto | Progress::Plain => {
                let text = match event.phase {
                    Phase::Failed => format!("Error {}", event.text),
                    _ => event.text.clone(),
                };
                let _ = writeln!(
                    std::io::stderr().lock(),
                    " {} {}  {}",
                    event.kind,
                    event.name,
                    text
                );
            }
        }
    }
}

/// `2026-11-27 14:23:45` from Unix seconds (UTC; civil-from-days, no time-zone database).
pub fn utc(seconds: f64) -> String {
    let secs = seconds as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// docker's `units.HumanSizeWithPrecision(size, 3)`: decimal units, three significant digits.
pub fn decimal_size(bytes: u64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1000.0 && unit < UNITS.len() - 1 {
        size /= 1000.0;
        unit += 1;
    }
    format!("{}{}", significant(size, 3), UNITS[unit])
}

/// `%.{digits}g` as Go prints it for values from 0 to 1000: no trailing zeros.
fn significant(value: f64, digits: usize) -> String {
    if value == 0.0 {
        return "0".into();
    }
    let magnitude = value.abs().log10().floor() as i32;
    let decimals = (digits as i32 - 1 - magnitude).max(0) as usize;
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// Compose 1.x's `human_readable_file_size`: decimal units with a space, four significant
/// digits (`73.09 MB`, `0 B`).
pub fn legacy_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let order = if bytes == 0 {
        0
    } else {
        ((bytes as f64).log(1000.0).floor() as usize).min(UNITS.len() - 1)
    };
    let value = bytes as f64 / 1000f64.powi(order as i32);
    format!("{} {}", significant(value, 4), UNITS[order])
}

/// Compose 1.x's tables (Python's `texttable` with only the header rule): every cell padded to
/// its column's width, headers centred, cells to the left, columns three spaces apart, a rule
/// of dashes under the header. Ends with a line break.
pub fn legacy_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| cells.join("   ") + "\n";
    let mut out = line(
        headers
            .iter()
            .zip(&widths)
            .map(|(h, w)| {
                let fill = w - h.chars().count();
                format!("{}{h}{}", " ".repeat(fill / 2), " ".repeat(fill - fill / 2))
            })
            .collect(),
    );
    out.push_str(&"-".repeat(widths.iter().sum::<usize>() + 3 * widths.len().saturating_sub(1)));
    out.push('\n');
    for row in rows {
        out.push_str(&line(
            row.iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell}{}", " ".repeat(w - cell.chars().count())))
                .collect(),
        ));
    }
    out
}

/// docker's `units.BytesSize`: binary units, four significant digits (`504KiB`, `23.54GiB`).
pub fn binary_size(bytes: u64) -> String {
    const UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1024.0 && unit < UNITS.len() - 1 {
        size /= 1024.0;
        unit += 1;
    }
    format!("{}{}", significant(size, 4), UNITS[unit])
}

#[cfg(test)]
mod tests {

    #[test]
    fn legacy_tables_and_sizes_read_as_compose_1_29_prints_them() {
        let rows = vec![
            vec!["v1a_db_1".to_string(), "debian".into(), "73.09 MB".into()],
            vec!["v1a_web_1".to_string(), "debian".into(), "73.09 MB".into()],
        ];
        assert_eq!(
            legacy_table(&["Container", "Repository", "Size"], &rows),
            "Container   Repository     Size  \n\
             ---------------------------------\n\
             v1a_db_1    debian       73.09 MB\n\
             v1a_web_1   debian       73.09 MB\n"
        );
        assert_eq!(legacy_size(73_087_521), "73.09 MB");
        assert_eq!(legacy_size(5_000_000), "5 MB");
        assert_eq!(legacy_size(999), "999 B");
        assert_eq!(legacy_size(0), "0 B");
        assert_eq!(legacy_size(1_985_447), "1.985 MB");
    }
    #[test]
    fn sizes_read_as_dockers() {
        for (bytes, want) in [
            (0, "0B"),
            (999, "999B"),
            (1_985_447, "1.99MB"),
            (74_600_000, "74.6MB"),
            (123_456_789, "123MB"),
            (1_000_000, "1MB"),
            (5_300_000_000, "5.3GB"),
        ] {
            assert_eq!(decimal_size(bytes), want, "{bytes}");
        }
    }

    #[test]
    fn binary_sizes_read_as_dockers() {
        for (bytes, want) in [
            (0, "0B"),
            (516_096, "504KiB"),
            (25_275_000_000, "23.54GiB"),
            (1_572_864, "1.5MiB"),
        ] {
            assert_eq!(binary_size(bytes), want, "{bytes}");
        }
    }

    use super::*;
    use std::time::Duration;

    #[test]
    fn the_live_block_counts_finished_resources_and_marks_each_line() {
        let t0 = Instant::now();
        let lines = vec![
            Line {
                id: "Network p_default".into(),
                text: "Created".into(),
                phase: Phase::Done,
                started: t0,
                finished: Some(t0 + Duration::from_millis(100)),
            },
            Line {
                id: "Container p-web-1".into(),
                text: "Starting".into(),
                phase: Phase::Working,
                started: t0,
                finished: None,
            },
        ];
        let block = render_block(&lines, t0 + Duration::from_millis(400));
        let rows: Vec<&str> = block.lines().collect();
        assert_eq!(rows[0], "[+] Running 1/2\x1b[K");
        assert_eq!(rows[1], " ✔ Network p_default  Created  0.1s\x1b[K");
        assert_eq!(rows[2], " ⠿ Container p-web-1  Starting  0.4s\x1b[K");
    }

    #[test]
    fn utc_dates() {
        assert_eq!(super::utc(0.0), "1970-01-01 00:00:00");
        assert_eq!(super::utc(1_795_789_425.0), "2026-11-27 14:23:45");
    }
}
