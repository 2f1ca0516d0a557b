//! Fault injection: make a sandbox fail, rate-limit or slow down on demand.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use nexwatt_engine::connector::ConnectorError;

/// One queued fault: an error for the next call (of one operation, or of
/// any).
#[derive(Debug, Clone)]
struct Pending {
    operation: Option<String>,
    error: ConnectorError,
}

#[derive(Debug, Default)]
struct Inner {
    pending: VecDeque<Pending>,
    latency: Duration,
}

/// The fault plan of one sandbox. Faults apply before the call touches the
/// simulated system, so a failed call has no effect.
///
/// ```
/// use std::time::Duration;
/// use nexwatt_connectors::sandbox::Faults;
/// use nexwatt_engine::connector::ConnectorError;
/// let faults = Faults::default();
/// faults.fail_next(2, ConnectorError::retryable("unavailable", "503 from the service"));
/// faults.rate_limit_next(1, Duration::from_secs(3));
/// assert_eq!(faults.pending(), 3);
/// ```
#[derive(Debug, Default)]
pub struct Faults {
    inner: Mutex<Inner>,
}

impl Faults {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next `n` calls (of any operation) fail with `error`.
    pub fn fail_next(&self, n: usize, error: ConnectorError) {
        let mut inner = self.lock();
        for _ in 0..n {
            inner.pending.push_back(Pending {
                operation: None,
                error: error.clone(),
            });
        }
    }

    /// The next `n` calls of `operation` (e.g. `deal.update`) fail with
    /// `error`; calls of other operations are unaffected.
    pub fn fail_next_on(&self, operation: &str, n: usize, error: ConnectorError) {
        let mut inner = self.lock();
        for _ in 0..n {
            inner.pending.push_back(Pending {
                operation: Some(operation.to_string()),
                error: error.clone(),
            });
        }
    }

    /// The next `n` calls are refused as rate-limited, asking the caller to
    /// wait `retry_after` (a retryable `rate_limited` error carrying it).
    pub fn rate_limit_next(&self, n: usize, retry_after: Duration) {
        self.fail_next(n, ConnectorError::rate_limited(Some(retry_after)));
    }

    /// Adds `latency` to every later call (cumulative; waits on tokio time,
    /// so paused-time tests see it instantly).
    pub fn add_latency(&self, latency: Duration) {
        let mut inner = self.lock();
        inner.latency = inner.latency.saturating_add(latency);
    }

    /// The latency every call currently waits.
    pub fn latency(&self) -> Duration {
        self.lock().latency
    }

    /// How many queued faults have not fired yet.
    pub fn pending(&self) -> usize {
        self.lock().pending.len()
    }

    /// Removes every queued fault and the added latency.
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.pending.clear();
        inner.latency = Duration::ZERO;
    }

    /// Takes the fault the next call of `operation` must fail with, if any.
    pub(crate) fn take_for(&self, operation: &str) -> Option<ConnectorError> {
        let mut inner = self.lock();
        let pos = inner
            .pending
            .iter()
            .position(|p| p.operation.as_deref().is_none_or(|o| o == operation))?;
        inner.pending.remove(pos).map(|p| p.error)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn operation_faults_skip_other_operations() {
        let f = Faults::default();
        f.fail_next_on("deal.update", 1, ConnectorError::permanent("boom", "x"));
        assert!(f.take_for("deal.find").is_none());
        assert_eq!(
            f.take_for("deal.update").map(|e| e.code().to_string()),
            Some("boom".into())
        );
        assert!(f.take_for("deal.update").is_none());
    }

    #[test]
    fn faults_fire_in_order_and_latency_accumulates() {
        let f = Faults::default();
        f.fail_next(1, ConnectorError::permanent("first", "x"));
        f.rate_limit_next(1, Duration::from_secs(2));
        f.add_latency(Duration::from_millis(5));
        f.add_latency(Duration::from_millis(5));
        assert_eq!(f.latency(), Duration::from_millis(10));
        assert_eq!(
            f.take_for("a").map(|e| e.code().to_string()),
            Some("first".into())
        );
        let e = f.take_for("b");
        assert_eq!(
            e.and_then(|e| e.retry_after()),
            Some(Duration::from_secs(2))
        );
        f.clear();
        assert_eq!(f.latency(), Duration::ZERO);
    }
}
