//! Per-workspace rate limiting: a keyed GCRA from `governor`.
//!
//! The quota is N requests per minute with a burst of N: a workspace may
//! spend its whole minute at once, then gets one request back every
//! `60 s / N`. Every response carries `RateLimit-Limit`,
//! `RateLimit-Remaining` and `RateLimit-Reset`; a refusal is 429 with
//! `Retry-After`.

use std::fmt::Debug;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock, FakeRelativeClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use nexwatt_engine::id::WorkspaceId;

/// The seed's limit: 300 requests per minute per workspace.
pub const DEFAULT_REQUESTS_PER_MINUTE: u32 = 300;

/// What the limiter decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may go on.
    pub allowed: bool,
    /// Requests per window (`RateLimit-Limit`).
    pub limit: u32,
    /// Requests left right now (`RateLimit-Remaining`).
    pub remaining: u32,
    /// Seconds until the full quota is back (`RateLimit-Reset`).
    pub reset_secs: u64,
    /// Seconds until the next request would be allowed (`Retry-After`),
    /// when refused.
    pub retry_after_secs: Option<u64>,
}

trait Check: Send + Sync + Debug {
    fn check(&self, workspace: &WorkspaceId) -> Decision;
}

type Keyed<C> =
    RateLimiter<WorkspaceId, DefaultKeyedStateStore<WorkspaceId>, C, StateInformationMiddleware>;

struct GovernorCheck<C: Clock> {
    limiter: Keyed<C>,
    limit: u32,
    per_cell: Duration,
}

impl<C: Clock> Debug for GovernorCheck<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GovernorCheck")
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

fn ceil_secs(d: Duration) -> u64 {
    let secs = d.as_secs();
    if d.subsec_nanos() > 0 {
        secs + 1
    } else {
        secs
    }
}

impl<C> Check for GovernorCheck<C>
where
    C: Clock + Send + Sync,
    C::Instant: Send + Sync,
{
    fn check(&self, workspace: &WorkspaceId) -> Decision {
        match self.limiter.check_key(workspace) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity().min(self.limit);
                let used = self.limit - remaining;
                Decision {
                    allowed: true,
                    limit: self.limit,
                    remaining,
                    reset_secs: ceil_secs(self.per_cell * used),
                    retry_after_secs: None,
                }
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.limiter.clock().now());
                let retry = ceil_secs(wait).max(1);
                Decision {
                    allowed: false,
                    limit: self.limit,
                    remaining: 0,
                    reset_secs: ceil_secs(wait + self.per_cell * (self.limit - 1)).max(retry),
                    retry_after_secs: Some(retry),
                }
            }
        }
    }
}

/// The per-workspace limiter the server consults on every authenticated
/// request.
#[derive(Debug)]
pub struct WorkspaceRateLimiter {
    inner: Box<dyn Check>,
}

impl WorkspaceRateLimiter {
    fn build<C>(per_minute: NonZeroU32, clock: C) -> Self
    where
        C: Clock + Send + Sync + 'static,
        C::Instant: Send + Sync,
    {
        let quota = Quota::per_minute(per_minute);
        let limiter: Keyed<C> = RateLimiter::new(quota, DefaultKeyedStateStore::default(), clock);
        Self {
            inner: Box::new(GovernorCheck {
                limiter,
                limit: per_minute.get(),
                per_cell: Duration::from_secs(60) / per_minute.get(),
            }),
        }
    }

    /// `per_minute` requests per minute per workspace on the real clock.
    pub fn per_minute(per_minute: NonZeroU32) -> Self {
        Self::build(per_minute, DefaultClock::default())
    }

    /// The same on a clock the caller moves (tests: no sleeping to refill).
    pub fn with_fake_clock(per_minute: NonZeroU32, clock: FakeRelativeClock) -> Self {
        Self::build(per_minute, clock)
    }

    /// Counts one request of `workspace` and says whether it may go on.
    pub fn check(&self, workspace: &WorkspaceId) -> Decision {
        self.inner.check(workspace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(v: u32) -> NonZeroU32 {
        NonZeroU32::new(v).unwrap()
    }

    #[test]
    fn three_hundred_then_refusal_then_refill() {
        let clock = FakeRelativeClock::default();
        let limiter = WorkspaceRateLimiter::with_fake_clock(n(300), clock.clone());
        let ws = WorkspaceId::generate();
        for i in 0..300 {
            let d = limiter.check(&ws);
            assert!(d.allowed, "request {i} refused");
            assert_eq!(d.remaining, 299 - i);
            assert_eq!(d.limit, 300);
        }
        let refused = limiter.check(&ws);
        assert!(!refused.allowed);
        assert_eq!(refused.remaining, 0);
        assert_eq!(refused.retry_after_secs, Some(1));
        assert!(refused.reset_secs >= 59 && refused.reset_secs <= 61);

        let other = WorkspaceId::generate();
        assert!(
            limiter.check(&other).allowed,
            "another workspace is unaffected"
        );

        clock.advance(Duration::from_millis(200));
        assert!(limiter.check(&ws).allowed, "one request back after 60s/300");
        assert!(!limiter.check(&ws).allowed);
        clock.advance(Duration::from_secs(60));
        let d = limiter.check(&ws);
        assert!(d.allowed);
        assert_eq!(d.remaining, 299);
    }

    #[test]
    fn reset_counts_up_with_use() {
        let limiter = WorkspaceRateLimiter::with_fake_clock(n(60), FakeRelativeClock::default());
        let ws = WorkspaceId::generate();
        assert_eq!(limiter.check(&ws).reset_secs, 1);
        assert_eq!(limiter.check(&ws).reset_secs, 2);
    }
}
