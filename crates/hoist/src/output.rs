//! Terminal output of progress events, in the shapes Docker Compose prints: ` Container x  Started`
//! lines (plain), JSON lines (`--progress json`), or nothing (`quiet`).

use std::io::Write;

use hoist_core::events::{Event, EventSink, Phase};

use crate::cli::Progress;

/// Prints events to stderr, as Compose does.
pub struct Printer {
    mode: Progress,
}

impl Printer {
    pub fn new(mode: Progress) -> Printer {
        Printer { mode }
    }
}

impl EventSink for Printer {
    fn emit(&self, event: Event) {
        let mut err = std::io::stderr().lock();
        match self.mode {
            Progress::Quiet => {}
            Progress::Json => {
                let line = serde_json::json!({
                    "id": format!("{} {}", event.kind, event.name),
                    "status": event.text,
                    "phase": event.phase,
                });
                let _ = writeln!(err, "{line}");
            }
            Progress::Auto | Progress::Tty | Progress::Plain => {
                let text = match event.phase {
                    Phase::Failed => format!("Error {}", event.text),
                    _ => event.text.clone(),
                };
                let _ = writeln!(err, " {} {}  {}", event.kind, event.name, text);
            }
        }
    }
}
