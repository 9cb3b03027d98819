//! A source that comes back. When opening fails (a camera not plugged in, a missing device node)
//! or the source fails mid-stream (unplugged), it logs, counts a fault and reopens with
//! exponential backoff until it works again, the attempts run out, or `stop` is set.

use crate::source::Source;
use crate::{Frame, StreamError};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Opens (again) the source being wrapped.
pub type OpenSource = Box<dyn FnMut() -> Result<Box<dyn Source>, StreamError> + Send>;

/// Waits between attempts: `first`, doubled after each failure, at most `max`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
    /// Failed attempts in a row before giving up (`None`: never).
    pub attempts: Option<u32>,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { first: Duration::from_millis(250), max: Duration::from_secs(8), attempts: None }
    }
}

/// Wraps a source that may vanish; see the module doc.
pub struct ReopeningSource {
    name: String,
    open: OpenSource,
    current: Option<Box<dyn Source>>,
    backoff: Backoff,
    stop: Arc<AtomicBool>,
    failures_in_a_row: u32,
    faults: u64,
    /// Frames skipped by sources already closed.
    skipped_closed: u64,
}

impl ReopeningSource {
    /// `name` is used in logs; `stop` (the pipeline's) ends the waiting.
    pub fn new(name: &str, open: OpenSource, backoff: Backoff, stop: Arc<AtomicBool>) -> Self {
        ReopeningSource {
            name: name.to_string(),
            open,
            current: None,
            backoff,
            stop,
            failures_in_a_row: 0,
            faults: 0,
            skipped_closed: 0,
        }
    }

    /// Counts a failure and sleeps (in short steps, to notice `stop`) before the next attempt.
    /// Giving up is not counted here: the error returned ends the source and its caller counts it.
    fn fail(&mut self, what: &str, e: &StreamError) -> Result<(), StreamError> {
        self.failures_in_a_row += 1;
        if self.backoff.attempts.is_some_and(|n| self.failures_in_a_row >= n) {
            return Err(StreamError::Format(format!("{}: {what}: {e} (gave up after {} attempts)", self.name, self.failures_in_a_row)));
        }
        self.faults += 1;
        let k = (self.failures_in_a_row - 1).min(16);
        let wait = self.backoff.first.saturating_mul(1 << k).min(self.backoff.max);
        log::warn!("{}: {what}: {e}; retrying in {:.2} s (attempt {})", self.name, wait.as_secs_f64(), self.failures_in_a_row + 1);
        let step = Duration::from_millis(20);
        let mut waited = Duration::ZERO;
        while waited < wait && !self.stop.load(Ordering::Relaxed) {
            std::thread::sleep(step.min(wait - waited));
            waited += step;
        }
        Ok(())
    }
}

impl Source for ReopeningSource {
    fn next_frame(&mut self) -> Result<Option<Frame>, StreamError> {
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return Ok(None);
            }
            let Some(src) = self.current.as_mut() else {
                match (self.open)() {
                    Ok(s) => {
                        if self.faults > 0 {
                            log::info!("{}: open again", self.name);
                        }
                        self.current = Some(s);
                    }
                    Err(e) => self.fail("cannot open", &e)?,
                }
                continue;
            };
            match src.next_frame() {
                Ok(Some(f)) => {
                    self.failures_in_a_row = 0;
                    return Ok(Some(f));
                }
                Ok(None) => return Ok(None),
                Err(e) => {
                    self.skipped_closed += src.skipped();
                    self.current = None;
                    self.fail("lost", &e)?;
                }
            }
        }
    }

    fn skipped(&self) -> u64 {
        self.skipped_closed + self.current.as_ref().map_or(0, |s| s.skipped())
    }

    fn faults(&self) -> u64 {
        self.faults
    }
}
