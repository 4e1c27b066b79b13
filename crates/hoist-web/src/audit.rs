//! The audit log around every dashboard action: the action is recorded (who, when, what) before
//! anything is asked of an engine, and its outcome is filled in afterwards. Recording first makes
//! the log fail closed: when the store cannot be written the action is refused (503) and the
//! engine is never called, so nothing happens from the dashboard that the log does not show.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::auth::Identity;
use crate::history::ActionRecord;

/// An action recorded as requested, waiting for its outcome.
pub(crate) struct Pending {
    id: i64,
    what: String,
}

/// The audit log cannot be written, so the action is not carried out (503 with the reason).
pub(crate) struct Refused(String);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        (StatusCode::SERVICE_UNAVAILABLE, self.0).into_response()
    }
}

/// Records `action` on `target` as requested. `Err` is the refusal to send: the audit log
/// cannot be written, so the action must not be carried out.
pub(crate) fn begin(
    state: &AppState,
    who: &Identity,
    engine: &str,
    action: &str,
    target: &str,
) -> Result<Pending, Refused> {
    let record = ActionRecord {
        at_ms: now_ms(),
        who: who.who.clone(),
        engine: engine.to_string(),
        action: action.to_string(),
        target: target.to_string(),
        outcome: "requested".into(),
    };
    match state.history.record_action(&record) {
        Ok(id) => Ok(Pending {
            id,
            what: format!("{action} of {target} on {engine}"),
        }),
        Err(err) => {
            tracing::error!("refusing {action} of {target} on {engine}: {err}");
            Err(Refused(format!(
                "the audit log cannot be written ({err}); {action} of {target} was not carried \
                 out\n"
            )))
        }
    }
}

impl Pending {
    /// Fills in the outcome. The action has happened by now, so a failure here can only be
    /// reported; the record still says it was requested.
    pub(crate) fn finish(self, state: &AppState, outcome: &str) {
        if let Err(err) = state.history.record_outcome(self.id, outcome) {
            tracing::error!("recording the outcome of {}: {err}", self.what);
        }
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
