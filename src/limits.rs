//! Rate limits that keep one client or one bin from taking the whole
//! server: bin creation per client IP and captures per bin. Both answer
//! 429 with `Retry-After`; a refused capture stores nothing.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use governor::clock::Clock as _;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use uuid::Uuid;

use crate::config::Config;
use crate::error::AppError;

/// The server's rate limiters; a limit set to 0 is off. Cheap to clone.
#[derive(Clone)]
pub struct Limits {
    inner: Arc<Limiters>,
}

struct Limiters {
    bin_creation: Option<DefaultKeyedRateLimiter<IpAddr>>,
    captures: Option<DefaultKeyedRateLimiter<Uuid>>,
}

impl Limits {
    pub fn new(config: &Config) -> Self {
        let bin_creation = NonZeroU32::new(config.bins_per_minute_per_ip)
            .map(|n| RateLimiter::keyed(Quota::per_minute(n)));
        let captures = NonZeroU32::new(config.captures_per_second_per_bin)
            .map(|n| RateLimiter::keyed(Quota::per_second(n)));
        Self {
            inner: Arc::new(Limiters {
                bin_creation,
                captures,
            }),
        }
    }

    /// May `client` create a bin now?
    pub fn allow_bin_creation(&self, client: IpAddr) -> Result<(), AppError> {
        check(
            self.inner.bin_creation.as_ref(),
            &client,
            "too many new bins from this address",
        )
    }

    /// May `bin` capture a request now?
    pub fn allow_capture(&self, bin: Uuid) -> Result<(), AppError> {
        check(
            self.inner.captures.as_ref(),
            &bin,
            "this bin receives more requests per second than this server allows",
        )
    }

    /// Drops the state of keys that are back to a full allowance, so the
    /// limiters do not grow with every address and bin ever seen.
    pub fn forget_idle(&self) {
        if let Some(limiter) = &self.inner.bin_creation {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        if let Some(limiter) = &self.inner.captures {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

fn check<K: Clone + std::hash::Hash + Eq>(
    limiter: Option<&DefaultKeyedRateLimiter<K>>,
    key: &K,
    reason: &'static str,
) -> Result<(), AppError> {
    let Some(limiter) = limiter else {
        return Ok(());
    };
    limiter.check_key(key).map_err(|not_until| {
        let wait = not_until.wait_time_from(limiter.clock().now());
        AppError::RateLimited {
            reason,
            // Whole seconds, rounded up: "Retry-After: 0" would invite a
            // retry that is refused again.
            retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
        }
    })
}
