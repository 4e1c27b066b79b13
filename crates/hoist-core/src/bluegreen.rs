//! Blue-green decisions, kept pure: which colour is live, which comes next, what a deploy and a
//! rollback do step by step, and how each failure unwinds. The engine is the source of truth: a
//! colour is the `io.hoist.color` label on a service's containers, and the live colour is the one
//! the proxy routes to.
//!
//! The order follows the book's chapter 13 and kamal's boot: the new colour starts beside the
//! live one; traffic moves only after it is healthy and passed its test; the old colour stops
//! (it is not removed, so a rollback is a start) only after traffic moved and a drain period
//! passed. Any failure leaves a colour serving: before the switch the live one never stopped;
//! after it, the route goes back first.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::observed::{Observed, ObservedContainer};
use crate::spec::labels;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Color {
    Blue,
    Green,
}

impl Color {
    pub fn other(self) -> Color {
        match self {
            Color::Blue => Color::Green,
            Color::Green => Color::Blue,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Color::Blue => "blue",
            Color::Green => "green",
        }
    }

    pub fn parse(s: &str) -> Option<Color> {
        match s {
            "blue" => Some(Color::Blue),
            "green" => Some(Color::Green),
            _ => None,
        }
    }
}

impl fmt::Display for Color {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The next colour, as the book's `getNextColor`: green after blue, blue otherwise (also when
/// nothing is live yet).
pub fn next_color(live: Option<Color>) -> Color {
    match live {
        Some(Color::Blue) => Color::Green,
        _ => Color::Blue,
    }
}

/// The colour of a container, from its label.
pub fn color_of(container: &ObservedContainer) -> Option<Color> {
    container
        .labels
        .get(labels::COLOR)
        .and_then(|c| Color::parse(c))
}

/// A service's containers of one colour.
pub fn colored<'a>(
    observed: &'a Observed,
    service: &'a str,
    color: Color,
) -> impl Iterator<Item = &'a ObservedContainer> + 'a {
    observed
        .containers
        .iter()
        .filter(move |c| c.service == service && !c.oneoff && color_of(c) == Some(color))
}

/// What a colour's containers are doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReleaseState {
    /// Routed to by the proxy.
    Live,
    /// Running, not routed to (mid-deploy, or left by a failure).
    Idle,
    /// Stopped: what a rollback starts again.
    Stopped,
    /// Its last deploy failed and it was stopped (known from the run history).
    Failed,
}

/// The live colour: the one the proxy routes to when its containers run; otherwise, when exactly
/// one colour runs, that one.
pub fn live_color(observed: &Observed, service: &str, routed: Option<Color>) -> Option<Color> {
    let running = |color: Color| colored(observed, service, color).any(|c| c.state.is_running());
    if let Some(color) = routed
        && running(color)
    {
        return Some(color);
    }
    match (running(Color::Blue), running(Color::Green)) {
        (true, false) => Some(Color::Blue),
        (false, true) => Some(Color::Green),
        _ => None,
    }
}

/// One step of a deploy or a rollback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// Remove the stopped containers of `color` left by an older release.
    RemoveStale {
        color: Color,
    },
    /// Create and start `color` with `image`.
    StartNew {
        color: Color,
        image: String,
    },
    /// Start the stopped containers of `color` again (rollback).
    StartStopped {
        color: Color,
    },
    WaitHealthy {
        color: Color,
    },
    /// The pre-integration test, against the colour directly.
    TestDirect {
        color: Color,
    },
    /// Point the proxy route at `color`.
    Switch {
        to: Color,
    },
    /// The post-integration test, through the proxy.
    TestThroughProxy,
    /// Let in-flight requests finish on the old colour.
    Drain,
    Stop {
        color: Color,
    },
    /// Stop the service's uncoloured containers (from `up` or a recreate deploy) once the
    /// first colour took over from them.
    StopPlain,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::RemoveStale { color } => write!(f, "remove the old {color} containers"),
            Step::StartNew { color, image } => write!(f, "start {color} with {image}"),
            Step::StartStopped { color } => write!(f, "start the stopped {color} release"),
            Step::WaitHealthy { color } => write!(f, "wait until {color} is healthy"),
            Step::TestDirect { color } => write!(f, "pre-integration test against {color}"),
            Step::Switch { to } => write!(f, "switch the proxy to {to}"),
            Step::TestThroughProxy => write!(f, "post-integration test through the proxy"),
            Step::Drain => write!(f, "drain in-flight requests"),
            Step::Stop { color } => write!(f, "stop {color}"),
            Step::StopPlain => f.write_str("stop the uncoloured containers"),
        }
    }
}

/// The steps of `deploy`: `live` is the serving colour, `stale` whether the next colour has old
/// containers to clear first.
pub fn deploy_steps(live: Option<Color>, stale: bool, image: &str, pre_test: bool) -> Vec<Step> {
    let next = next_color(live);
    let mut steps = Vec::new();
    if stale {
        steps.push(Step::RemoveStale { color: next });
    }
    steps.push(Step::StartNew {
        color: next,
        image: image.to_string(),
    });
    steps.push(Step::WaitHealthy { color: next });
    if pre_test {
        steps.push(Step::TestDirect { color: next });
    }
    steps.push(Step::Switch { to: next });
    steps.push(Step::TestThroughProxy);
    if let Some(old) = live {
        steps.push(Step::Drain);
        steps.push(Step::Stop { color: old });
    }
    steps
}

/// The colour a deploy would start next, as the engine has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextColour {
    /// No containers of that colour.
    Absent,
    /// Stopped containers: an older release, the rollback target.
    Stopped,
    /// Running but not routed to: a deploy stopped midway, before or after the switch.
    Running,
}

/// What a deploy of `image` does, given the `live` colour and the `image` it carries, the next
/// colour's state and whether uncoloured containers run.
///
/// One case is not a new release: the live colour already carries `image` while the other one
/// still runs. That is a release interrupted (hoist killed) between the switch and the stop of
/// the old colour; deploying again would remove the old colour, the only way back. The deploy
/// finishes the interrupted release instead: drain, then stop the old colour, which stays as
/// the rollback target.
pub fn plan_deploy(
    live: Option<Color>,
    live_image: Option<&str>,
    next: NextColour,
    plain_running: bool,
    image: &str,
    pre_test: bool,
) -> Vec<Step> {
    if let Some(live) = live
        && live_image == Some(image)
        && next == NextColour::Running
    {
        return vec![
            Step::Drain,
            Step::Stop {
                color: live.other(),
            },
        ];
    }
    let stale = next != NextColour::Absent;
    retire_plain(
        deploy_steps(live, stale, image, pre_test),
        live,
        plain_running,
    )
}

/// The first colour of a service that ran without colours: after the release, the uncoloured
/// containers (which the route pointed at before) get the drain and stop as an old colour
/// would. `plain_running` says whether any runs; with a live colour there is nothing to add.
pub fn retire_plain(mut steps: Vec<Step>, live: Option<Color>, plain_running: bool) -> Vec<Step> {
    if live.is_none() && plain_running {
        steps.push(Step::Drain);
        steps.push(Step::StopPlain);
    }
    steps
}

/// A service's running containers without a colour (one-offs left out).
pub fn plain_running(observed: &Observed, service: &str) -> bool {
    observed
        .containers
        .iter()
        .any(|c| c.service == service && !c.oneoff && color_of(c).is_none() && c.state.is_running())
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RollbackError {
    #[error(
        "nothing to roll back to: {service} has no stopped previous release (deploy twice first)"
    )]
    NothingToRollBackTo { service: String },
    #[error("{service} has no live release to roll back from")]
    NothingLive { service: String },
}

/// The steps of `rollback`: start the stopped previous colour, wait, switch, stop the current.
pub fn rollback_steps(
    observed: &Observed,
    service: &str,
    live: Option<Color>,
) -> Result<Vec<Step>, RollbackError> {
    let Some(live) = live else {
        return Err(RollbackError::NothingLive {
            service: service.to_string(),
        });
    };
    let previous = live.other();
    let containers: Vec<&ObservedContainer> = colored(observed, service, previous).collect();
    if containers.is_empty() {
        return Err(RollbackError::NothingToRollBackTo {
            service: service.to_string(),
        });
    }
    let mut steps = Vec::new();
    if containers.iter().any(|c| !c.state.is_running()) {
        steps.push(Step::StartStopped { color: previous });
    }
    steps.push(Step::WaitHealthy { color: previous });
    steps.push(Step::Switch { to: previous });
    steps.push(Step::TestThroughProxy);
    steps.push(Step::Drain);
    steps.push(Step::Stop { color: live });
    Ok(steps)
}

/// What to do when `failed` failed, given the steps that completed before it: before the switch,
/// stop the new colour (the live one never stopped); after it, switch back first, then stop it.
pub fn unwind(done: &[Step], failed: &Step, previous: Option<Color>) -> Vec<Step> {
    let new = done
        .iter()
        .chain(std::iter::once(failed))
        .find_map(|s| match s {
            Step::StartNew { color, .. } | Step::StartStopped { color } => Some(*color),
            _ => None,
        });
    let switched = done.iter().any(|s| matches!(s, Step::Switch { .. }));
    let mut steps = Vec::new();
    if let Some(new) = new {
        if matches!(failed, Step::Stop { .. } | Step::StopPlain | Step::Drain) {
            // The new colour serves and passed its tests: only the old one's stop failed.
            return steps;
        }
        if (switched || matches!(failed, Step::Switch { .. }))
            && let Some(previous) = previous
        {
            steps.push(Step::Switch { to: previous });
        }
        steps.push(Step::Stop { color: new });
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observed::RunState;
    use std::collections::BTreeMap;

    fn container(color: Color, state: RunState) -> ObservedContainer {
        ObservedContainer {
            id: format!("id-{color}"),
            image: "books-ms".into(),
            state,
            labels: BTreeMap::from([(labels::COLOR.to_string(), color.to_string())]),
            ..ObservedContainer::running("app", 1, &format!("books-ms-app-{color}-1"))
        }
    }

    fn observed(containers: Vec<ObservedContainer>) -> Observed {
        Observed {
            containers,
            ..Default::default()
        }
    }

    #[test]
    fn next_colour_follows_the_book() {
        assert_eq!(next_color(None), Color::Blue);
        assert_eq!(next_color(Some(Color::Blue)), Color::Green);
        assert_eq!(next_color(Some(Color::Green)), Color::Blue);
    }

    #[test]
    fn the_routed_running_colour_is_live() {
        let both = observed(vec![
            container(Color::Blue, RunState::Running),
            container(Color::Green, RunState::Running),
        ]);
        assert_eq!(
            live_color(&both, "app", Some(Color::Green)),
            Some(Color::Green)
        );
        assert_eq!(live_color(&both, "app", None), None);
        let blue = observed(vec![
            container(Color::Blue, RunState::Running),
            container(Color::Green, RunState::Exited),
        ]);
        assert_eq!(live_color(&blue, "app", None), Some(Color::Blue));
        assert_eq!(
            live_color(&blue, "app", Some(Color::Green)),
            Some(Color::Blue)
        );
    }

    #[test]
    fn a_first_deploy_has_nothing_to_stop_and_a_second_stops_the_old_colour_last() {
        let first: Vec<String> = deploy_steps(None, false, "books-ms:v1", true)
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            first,
            [
                "start blue with books-ms:v1",
                "wait until blue is healthy",
                "pre-integration test against blue",
                "switch the proxy to blue",
                "post-integration test through the proxy",
            ]
        );
        let second = deploy_steps(Some(Color::Blue), true, "books-ms:v2", false);
        assert_eq!(
            second.first(),
            Some(&Step::RemoveStale {
                color: Color::Green
            })
        );
        assert_eq!(second.last(), Some(&Step::Stop { color: Color::Blue }));
        let switch = second
            .iter()
            .position(|s| matches!(s, Step::Switch { .. }))
            .unwrap();
        let healthy = second
            .iter()
            .position(|s| matches!(s, Step::WaitHealthy { .. }))
            .unwrap();
        assert!(healthy < switch, "traffic moves only after health");
    }

    #[test]
    fn failures_before_the_switch_stop_the_new_colour_only() {
        let steps = deploy_steps(Some(Color::Blue), false, "v2", true);
        let failed = &steps[1]; // wait healthy
        assert_eq!(
            unwind(&steps[..1], failed, Some(Color::Blue)),
            vec![Step::Stop {
                color: Color::Green
            }]
        );
    }

    #[test]
    fn failures_after_the_switch_switch_back_first() {
        let steps = deploy_steps(Some(Color::Blue), false, "v2", true);
        let post = steps
            .iter()
            .position(|s| *s == Step::TestThroughProxy)
            .unwrap();
        assert_eq!(
            unwind(&steps[..post], &steps[post], Some(Color::Blue)),
            vec![
                Step::Switch { to: Color::Blue },
                Step::Stop {
                    color: Color::Green
                }
            ]
        );
    }

    #[test]
    fn the_first_colour_retires_the_uncoloured_containers_last() {
        let steps = retire_plain(deploy_steps(None, false, "v1", true), None, true);
        let tail: Vec<String> = steps.iter().rev().take(3).map(|s| s.to_string()).collect();
        assert_eq!(
            tail,
            [
                "stop the uncoloured containers",
                "drain in-flight requests",
                "post-integration test through the proxy"
            ]
        );
        // Nothing running without a colour, or a colour live: nothing added.
        assert_eq!(
            retire_plain(deploy_steps(None, false, "v1", true), None, false).len(),
            5
        );
        let second = deploy_steps(Some(Color::Blue), false, "v2", true);
        assert_eq!(
            retire_plain(second.clone(), Some(Color::Blue), true),
            second
        );
        // Its failure leaves blue serving: nothing to undo.
        let failed = steps.last().unwrap();
        assert!(unwind(&steps[..steps.len() - 1], failed, None).is_empty());
    }

    #[test]
    fn a_release_killed_after_its_switch_is_finished_and_keeps_the_old_colour() {
        // Green took traffic with v2, blue (v1) still runs: the rerun drains and stops blue.
        let resumed = plan_deploy(
            Some(Color::Green),
            Some("v2"),
            NextColour::Running,
            false,
            "v2",
            true,
        );
        assert_eq!(
            resumed,
            vec![Step::Drain, Step::Stop { color: Color::Blue }]
        );
        assert!(
            !resumed
                .iter()
                .any(|s| matches!(s, Step::RemoveStale { .. } | Step::StartNew { .. })),
            "the way back is kept"
        );
    }

    #[test]
    fn everything_else_is_a_new_release() {
        // Killed before its switch: blue (v1) serves, green (v2) runs unrouted; v2 again
        // replaces green.
        let before_switch = plan_deploy(
            Some(Color::Blue),
            Some("v1"),
            NextColour::Running,
            false,
            "v2",
            false,
        );
        assert_eq!(
            before_switch.first(),
            Some(&Step::RemoveStale {
                color: Color::Green
            })
        );
        assert_eq!(
            before_switch.last(),
            Some(&Step::Stop { color: Color::Blue })
        );
        // The same image again with the old colour stopped: a release as before (a moving tag
        // such as `latest` may carry new content).
        assert_eq!(
            plan_deploy(
                Some(Color::Green),
                Some("v2"),
                NextColour::Stopped,
                false,
                "v2",
                false
            ),
            deploy_steps(Some(Color::Green), true, "v2", false)
        );
        // A first release, with uncoloured containers to retire.
        assert_eq!(
            plan_deploy(None, None, NextColour::Absent, true, "v1", true),
            retire_plain(deploy_steps(None, false, "v1", true), None, true)
        );
    }

    #[test]
    fn rollback_needs_a_previous_release() {
        let only_blue = observed(vec![container(Color::Blue, RunState::Running)]);
        assert!(matches!(
            rollback_steps(&only_blue, "app", Some(Color::Blue)),
            Err(RollbackError::NothingToRollBackTo { .. })
        ));
        let both = observed(vec![
            container(Color::Blue, RunState::Exited),
            container(Color::Green, RunState::Running),
        ]);
        let steps = rollback_steps(&both, "app", Some(Color::Green)).unwrap();
        assert_eq!(
            steps.first(),
            Some(&Step::StartStopped { color: Color::Blue })
        );
        assert_eq!(
            steps.last(),
            Some(&Step::Stop {
                color: Color::Green
            })
        );
    }
}
