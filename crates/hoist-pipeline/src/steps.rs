//! The nine steps with the book's names, their statuses, which of them a run executes (a pure
//! decision from the file and `--from`/`--only`), and the checklist they print as.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

/// One of the book's nine steps, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepId {
    Checkout,
    PreDeploymentTests,
    Package,
    Build,
    Push,
    Deploy,
    Integrate,
    PostDeploymentTests,
    PushTests,
}

impl StepId {
    pub const ALL: [StepId; 9] = [
        StepId::Checkout,
        StepId::PreDeploymentTests,
        StepId::Package,
        StepId::Build,
        StepId::Push,
        StepId::Deploy,
        StepId::Integrate,
        StepId::PostDeploymentTests,
        StepId::PushTests,
    ];

    /// 0-based position.
    pub fn index(self) -> usize {
        self as usize
    }

    /// 1-based, as the book numbers them.
    pub fn number(self) -> u32 {
        self.index() as u32 + 1
    }

    /// The key in `hoist.yml` and on the command line (`--from deploy`).
    pub fn key(self) -> &'static str {
        match self {
            StepId::Checkout => "checkout",
            StepId::PreDeploymentTests => "pre_deployment_tests",
            StepId::Package => "package",
            StepId::Build => "build",
            StepId::Push => "push",
            StepId::Deploy => "deploy",
            StepId::Integrate => "integrate",
            StepId::PostDeploymentTests => "post_deployment_tests",
            StepId::PushTests => "push_tests",
        }
    }

    /// The book's wording (chapters 5, 7 and 10).
    pub fn title(self) -> &'static str {
        match self {
            StepId::Checkout => "Check out the code",
            StepId::PreDeploymentTests => "Run pre-deployment tests",
            StepId::Package => "Compile and/or package the code",
            StepId::Build => "Build the container",
            StepId::Push => "Push the container to the registry",
            StepId::Deploy => "Deploy the container to the production server",
            StepId::Integrate => "Integrate the container",
            StepId::PostDeploymentTests => "Run post-deployment tests",
            StepId::PushTests => "Push the tests container to the registry",
        }
    }

    /// `6`, `deploy`, `deploy-the-container`... : a number or the key (`-` for `_`).
    pub fn parse(s: &str) -> Result<StepId, String> {
        if let Ok(n) = s.parse::<usize>()
            && (1..=9).contains(&n)
        {
            return Ok(StepId::ALL[n - 1]);
        }
        let key = s.replace('-', "_");
        StepId::ALL
            .iter()
            .copied()
            .find(|id| id.key() == key)
            .ok_or_else(|| {
                format!(
                    "unknown step {s:?}: use 1-9 or one of {}",
                    StepId::ALL.map(|s| s.key()).join(", ")
                )
            })
    }
}

/// Where a step stands in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Will run in this run, later.
    Pending,
    Running,
    Done,
    Failed,
    /// Not in `hoist.yml`.
    Skipped,
    /// Left out by `--from`/`--only`, or after a failure.
    NotRun,
    /// The run was stopped (Ctrl+C, killed) while this step ran.
    Interrupted,
}

impl StepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Pending => "pending",
            StepStatus::Running => "running",
            StepStatus::Done => "done",
            StepStatus::Failed => "failed",
            StepStatus::Skipped => "skipped",
            StepStatus::NotRun => "not run",
            StepStatus::Interrupted => "interrupted",
        }
    }

    pub fn parse(s: &str) -> StepStatus {
        match s {
            "running" => StepStatus::Running,
            "done" => StepStatus::Done,
            "failed" => StepStatus::Failed,
            "skipped" => StepStatus::Skipped,
            "not run" => StepStatus::NotRun,
            "interrupted" => StepStatus::Interrupted,
            _ => StepStatus::Pending,
        }
    }
}

/// Which steps a run executes: those the file defines, from `from` on, or only `only`. The rest
/// start as `skipped` (not in the file) or `not run` (not selected).
pub fn select(
    defined: &[(StepId, bool)],
    from: Option<StepId>,
    only: Option<StepId>,
) -> Vec<(StepId, StepStatus)> {
    defined
        .iter()
        .map(|&(id, is_defined)| {
            let selected = match (only, from) {
                (Some(only), _) => id == only,
                (None, Some(from)) => id >= from,
                (None, None) => true,
            };
            let status = if !selected {
                StepStatus::NotRun
            } else if !is_defined {
                StepStatus::Skipped
            } else {
                StepStatus::Pending
            };
            (id, status)
        })
        .collect()
}

/// One line of the checklist.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepLine {
    pub step: StepId,
    pub status: StepStatus,
    /// Seconds, once the step ran.
    pub seconds: Option<f64>,
    /// The commit for step 1, nginx's message for a failed step 7, ...
    pub detail: String,
}

/// Width of the dotted title column: the longest title plus room for the dots.
const TITLE_WIDTH: usize = 50;

/// `1. Check out the code ............ done     0.3 s  3f2a1c9`
pub fn checklist_line(line: &StepLine) -> String {
    let mut title = format!("{}. {} ", line.step.number(), line.step.title());
    while title.chars().count() < TITLE_WIDTH {
        title.push('.');
    }
    let mut out = format!("{title} {:<8}", line.status.as_str());
    if let Some(s) = line.seconds {
        let _ = write!(out, "{s:>4.1} s");
    } else if !line.detail.is_empty() {
        out.push_str("      ");
    }
    if !line.detail.is_empty() {
        let _ = write!(out, "  {}", first_line(&line.detail));
    }
    out.trim_end().to_string()
}

/// The whole checklist.
pub fn checklist(lines: &[StepLine]) -> String {
    lines.iter().map(|l| checklist_line(l) + "\n").collect()
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_parse_by_number_and_key() {
        assert_eq!(StepId::parse("6"), Ok(StepId::Deploy));
        assert_eq!(
            StepId::parse("post-deployment-tests"),
            Ok(StepId::PostDeploymentTests)
        );
        assert!(StepId::parse("10").is_err());
        assert!(StepId::parse("deploy!").is_err());
        assert_eq!(StepId::PushTests.number(), 9);
    }

    fn defined(ids: &[StepId]) -> Vec<(StepId, bool)> {
        StepId::ALL.iter().map(|s| (*s, ids.contains(s))).collect()
    }

    #[test]
    fn left_out_steps_are_skipped_and_unselected_ones_not_run() {
        let all = defined(&StepId::ALL);
        let plan = select(&all, Some(StepId::Deploy), None);
        assert_eq!(plan[4].1, StepStatus::NotRun);
        assert_eq!(plan[5].1, StepStatus::Pending);
        assert_eq!(plan[8].1, StepStatus::Pending);
        let plan = select(&defined(&[StepId::Checkout]), None, None);
        assert_eq!(plan[0].1, StepStatus::Pending);
        assert_eq!(plan[1].1, StepStatus::Skipped);
        let plan = select(&all, None, Some(StepId::Integrate));
        let pending: Vec<_> = plan
            .iter()
            .filter(|(_, s)| *s == StepStatus::Pending)
            .collect();
        assert_eq!(pending, [&(StepId::Integrate, StepStatus::Pending)]);
    }

    #[test]
    fn the_checklist_reads_like_the_book() {
        let line = checklist_line(&StepLine {
            step: StepId::Checkout,
            status: StepStatus::Done,
            seconds: Some(0.3),
            detail: "3f2a1c9".into(),
        });
        assert_eq!(
            line,
            "1. Check out the code ............................ done     0.3 s  3f2a1c9"
        );
        let line = checklist_line(&StepLine {
            step: StepId::PostDeploymentTests,
            status: StepStatus::NotRun,
            seconds: None,
            detail: String::new(),
        });
        assert_eq!(
            line,
            "8. Run post-deployment tests ..................... not run"
        );
        let line = checklist_line(&StepLine {
            step: StepId::Integrate,
            status: StepStatus::Failed,
            seconds: Some(0.8),
            detail: "nginx: [emerg] unknown directive\nmore".into(),
        });
        assert!(
            line.ends_with("failed   0.8 s  nginx: [emerg] unknown directive"),
            "{line}"
        );
    }
}
