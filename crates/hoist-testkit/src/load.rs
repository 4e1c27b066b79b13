//! A bounded load generator for zero-downtime tests and benchmarks: sends GET requests at a fixed
//! rate from a few worker threads until stopped (or a hard deadline), and records every outcome:
//! status, the release that answered (a response header) and when. Targets are the test
//! environment's own addresses only.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::http::request;

/// One request's outcome.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Since the start of the load.
    pub at: Duration,
    /// HTTP status, or `None` when the request failed outright (refused, reset, timeout).
    pub status: Option<u16>,
    /// The value of the version header, when present.
    pub version: Option<String>,
    pub error: Option<String>,
}

impl Sample {
    pub fn ok(&self) -> bool {
        matches!(self.status, Some(s) if (200..300).contains(&s))
    }
}

/// What a load run saw.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub samples: Vec<Sample>,
    pub elapsed: Duration,
}

impl Report {
    pub fn total(&self) -> usize {
        self.samples.len()
    }

    /// Requests that failed outright or answered outside 2xx.
    pub fn failures(&self) -> Vec<&Sample> {
        self.samples.iter().filter(|s| !s.ok()).collect()
    }

    pub fn rate(&self) -> f64 {
        self.total() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The longest time without a successful response.
    pub fn longest_gap(&self) -> Duration {
        let mut ok: Vec<Duration> = self
            .samples
            .iter()
            .filter(|s| s.ok())
            .map(|s| s.at)
            .collect();
        ok.sort();
        let mut gap = Duration::ZERO;
        let mut last = Duration::ZERO;
        for at in ok {
            gap = gap.max(at.saturating_sub(last));
            last = at;
        }
        gap.max(self.elapsed.saturating_sub(last))
    }

    /// When the first response from `version` arrived, if any did.
    pub fn first_seen(&self, version: &str) -> Option<Duration> {
        self.samples
            .iter()
            .filter(|s| s.ok() && s.version.as_deref() == Some(version))
            .map(|s| s.at)
            .min()
    }

    /// When the last response from anything but `version` arrived.
    pub fn last_other_than(&self, version: &str) -> Option<Duration> {
        self.samples
            .iter()
            .filter(|s| s.ok() && s.version.as_deref() != Some(version))
            .map(|s| s.at)
            .max()
    }

    pub fn summary(&self) -> String {
        let failures = self.failures();
        let mut text = format!(
            "{} requests in {:.1}s ({:.0}/s), {} failed, longest gap {} ms",
            self.total(),
            self.elapsed.as_secs_f64(),
            self.rate(),
            failures.len(),
            self.longest_gap().as_millis()
        );
        for f in failures.iter().take(5) {
            text.push_str(&format!(
                "\n  at {} ms: status {:?} {}",
                f.at.as_millis(),
                f.status,
                f.error.clone().unwrap_or_default()
            ));
        }
        text
    }
}

/// A running load; `stop` ends it and returns the report.
pub struct Load {
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
    results: mpsc::Receiver<Sample>,
    started: Instant,
}

/// Starts `rate` requests per second to `url` spread over `workers` threads, reading the
/// response header `version_header`. Stops by itself after `max` whatever happens.
pub fn start(url: &str, rate: u32, workers: u32, version_header: &str, max: Duration) -> Load {
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let started = Instant::now();
    let interval = Duration::from_secs_f64(workers as f64 / rate as f64);
    let handles = (0..workers)
        .map(|w| {
            let stop = stop.clone();
            let tx = tx.clone();
            let url = url.to_string();
            let header = version_header.to_string();
            std::thread::spawn(move || {
                // Stagger the workers so that requests are spread evenly.
                let mut next = started + interval.mul_f64(w as f64 / workers as f64);
                while !stop.load(Ordering::Relaxed) && started.elapsed() < max {
                    let now = Instant::now();
                    if next > now {
                        std::thread::sleep(next - now);
                    }
                    next += interval;
                    let at = started.elapsed();
                    let sample = match request("GET", &url, None) {
                        Ok(r) => Sample {
                            at,
                            status: Some(r.status),
                            version: r.header(&header).map(String::from),
                            error: (!(200..300).contains(&r.status))
                                .then(|| r.body.chars().take(200).collect()),
                        },
                        Err(e) => Sample {
                            at,
                            status: None,
                            version: None,
                            error: Some(e.to_string()),
                        },
                    };
                    if tx.send(sample).is_err() {
                        break;
                    }
                }
            })
        })
        .collect();
    Load {
        stop,
        workers: handles,
        results: rx,
        started,
    }
}

impl Load {
    pub fn stop(self) -> Report {
        self.stop.store(true, Ordering::Relaxed);
        let elapsed = self.started.elapsed();
        for w in self.workers {
            let _ = w.join();
        }
        let mut samples: Vec<Sample> = self.results.try_iter().collect();
        samples.sort_by_key(|s| s.at);
        Report { samples, elapsed }
    }
}
