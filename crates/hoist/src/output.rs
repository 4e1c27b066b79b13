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
    fn emit(&self, event: Event) {
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

#[cfg(test)]
mod tests {
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
