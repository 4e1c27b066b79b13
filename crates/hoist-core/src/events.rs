//! Progress is data: executors emit events, and the terminal, the history store and the
//! dashboard are sinks that render or record them.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Work has started (`Creating`, `Pulling`).
    Working,
    /// Work is done (`Created`, `Started`).
    Done,
    /// Work failed; the text says why.
    Failed,
    /// Nothing to do, said for completeness (`Running`).
    Info,
}

/// One progress event, as Compose prints them: `Container vagrant_db_1  Started`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// `Container`, `Network`, `Volume`, `Image`.
    pub kind: &'static str,
    pub name: String,
    pub phase: Phase,
    pub text: String,
}

impl Event {
    pub fn new(
        kind: &'static str,
        name: impl Into<String>,
        phase: Phase,
        text: impl Into<String>,
    ) -> Event {
        Event {
            kind,
            name: name.into(),
            phase,
            text: text.into(),
        }
    }
}

/// Where events go. Implemented by the terminal printer, the history recorder, test collectors.
pub trait EventSink: Send + Sync {
    fn emit(&self, event: Event);
}

/// Collects events in memory (tests, run records).
#[derive(Debug, Default)]
pub struct Collect(pub std::sync::Mutex<Vec<Event>>);

impl EventSink for Collect {
    fn emit(&self, event: Event) {
        self.0.lock().expect("event log").push(event);
    }
}

/// Discards events.
#[derive(Debug, Default)]
pub struct Discard;

impl EventSink for Discard {
    fn emit(&self, _event: Event) {}
}
