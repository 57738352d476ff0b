//! Call bookkeeping shared by the protocols and the steps: the time left for a request
//! ([`Deadline`]), what happened per module ([`Report`], [`Outcome`]), each step's share of calls
//! in flight ([`Slot`]), and the checks and cleaning of what crosses the boundary.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::Kind;
use crate::error::{Error, Failure, FailureKind};
use crate::limits::{
    MAX_DEBUG_LINE, MAX_IN_FLIGHT_ADMISSION, MAX_IN_FLIGHT_AUTHENTICATION,
    MAX_IN_FLIGHT_AUTHORIZATION, MAX_INPUT, MAX_MESSAGE, sanitize,
};
use crate::log::{Level, LogLine, Redactor};

/// One module call's outcome, for metrics and logs.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    /// Module name.
    pub module: String,
    /// What happened (`authenticated`, `allowed`, `rejected`, `error`, ...).
    pub outcome: &'static str,
    /// Wall time of the call in nanoseconds.
    pub duration_nanos: u64,
    /// The failure's kind, when the call failed (also for `ignored`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<FailureKind>,
    /// The failure's message, when the call failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Outcomes and log lines gathered while serving one request.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// One entry per module called.
    pub outcomes: Vec<Outcome>,
    /// Log lines for the caller to log.
    pub logs: Vec<LogLine>,
}

impl Report {
    /// Adds a log line; its text is sanitised and cut (debug lines, which carry whole
    /// exchanges, to [`MAX_DEBUG_LINE`], others to [`MAX_MESSAGE`]).
    pub(crate) fn log(&mut self, level: Level, module: &str, message: String) {
        let max = if level == Level::Debug {
            MAX_DEBUG_LINE
        } else {
            MAX_MESSAGE
        };
        self.logs.push(LogLine {
            level,
            module: module.to_string(),
            message: sanitize(&message, max),
        });
    }

    /// Records a module call that answered.
    pub(crate) fn outcome(&mut self, module: &str, outcome: &'static str, duration: Duration) {
        self.outcomes.push(Outcome {
            module: module.to_string(),
            outcome,
            duration_nanos: duration.as_nanos() as u64,
            failure: None,
            error: None,
        });
    }

    /// Records a failed module call (outcome `error`, or `overloaded` when its step's share
    /// was full) and logs its message.
    pub(crate) fn failed(&mut self, module: &str, duration: Duration, failure: Failure) {
        let outcome = if failure.kind == FailureKind::Overloaded {
            OVERLOADED
        } else {
            "error"
        };
        self.failure(module, outcome, duration, failure);
    }

    /// Records a failed module call whose failure policy let the request continue (`ignored`)
    /// and logs its message.
    pub(crate) fn ignored(&mut self, module: &str, duration: Duration, failure: Failure) {
        self.failure(module, "ignored", duration, failure);
    }

    fn failure(&mut self, module: &str, outcome: &'static str, duration: Duration, f: Failure) {
        self.log(Level::Error, module, f.message.clone());
        self.outcomes.push(Outcome {
            module: module.to_string(),
            outcome,
            duration_nanos: duration.as_nanos() as u64,
            failure: Some(f.kind),
            error: Some(f.message),
        });
    }
}

/// The time left for a request, from the caller's bound.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline(Option<Instant>);

impl Deadline {
    /// A deadline `timeout_ns` from now; 0 means none.
    pub fn after_nanos(timeout_ns: u64) -> Self {
        Deadline((timeout_ns > 0).then(|| Instant::now() + Duration::from_nanos(timeout_ns)))
    }

    /// The earlier of `at` and this deadline.
    pub fn cut(&self, at: Instant) -> Instant {
        self.0.map_or(at, |d| d.min(at))
    }

    /// The time limit of the next call: the module's timeout, cut to the time left.
    pub fn limit(&self, module_timeout: Duration) -> Result<Duration, Failure> {
        match self.0 {
            None => Ok(module_timeout),
            Some(at) => match at.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => Ok(left.min(module_timeout)),
                _ => Err(Failure::new(
                    FailureKind::Timeout,
                    "the request's deadline passed before the module was called",
                )),
            },
        }
    }
}

/// Module calls in flight per access step (see [`crate::limits::MAX_IN_FLIGHT_AUTHENTICATION`]).
static IN_FLIGHT: [AtomicUsize; 3] = [const { AtomicUsize::new(0) }; 3];

fn share(kind: Kind) -> (&'static AtomicUsize, usize) {
    match kind {
        Kind::Authentication => (&IN_FLIGHT[0], MAX_IN_FLIGHT_AUTHENTICATION),
        Kind::Authorization => (&IN_FLIGHT[1], MAX_IN_FLIGHT_AUTHORIZATION),
        Kind::Admission => (&IN_FLIGHT[2], MAX_IN_FLIGHT_ADMISSION),
    }
}

/// The outcome of a module call refused because its step's share of instances is in use.
const OVERLOADED: &str = "overloaded";

/// A slot in a step's share of module calls; released when dropped.
pub(crate) struct Slot(&'static AtomicUsize);

impl Slot {
    /// Takes a slot of `kind`'s share, or fails at once (never waits) when all are in use.
    pub(crate) fn take(kind: Kind) -> Result<Slot, Failure> {
        let (count, max) = share(kind);
        let taken = count.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < max).then_some(n + 1)
        });
        match taken {
            Ok(_) => Ok(Slot(count)),
            Err(_) => Err(Failure::new(
                FailureKind::Overloaded,
                format!(
                    "{OVERLOADED}: {max} {} module calls are in flight already",
                    kind.name()
                ),
            )),
        }
    }
}

/// Module calls of `kind` in flight now, across the process.
pub fn calls_in_flight(kind: Kind) -> usize {
    share(kind).0.load(Ordering::Acquire)
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Checks an input buffer against the size cap.
pub(crate) fn check_input(bytes: &[u8]) -> Result<(), Error> {
    if bytes.len() > MAX_INPUT {
        return Err(Error::bad_request(format!(
            "the request is {} bytes, more than the {} bytes accepted",
            bytes.len(),
            MAX_INPUT
        )));
    }
    Ok(())
}

/// Redacts module-provided text, replaces its control characters and cuts it to
/// [`MAX_MESSAGE`].
pub(crate) fn clean(redactor: &Redactor, text: String) -> String {
    sanitize(&redactor.apply(&text), MAX_MESSAGE)
}

/// [`clean`] applied to a failure's message.
pub(crate) fn clean_failure(redactor: &Redactor, failure: Failure) -> Failure {
    failure.map_message(|m| clean(redactor, m))
}
