//! Rate limits that keep one client or one bin from taking the whole
//! server: bin creation per client IP, captures per bin, and wrong bin
//! passwords and API keys per client IP. All answer 429 with
//! `Retry-After`; a refused capture stores nothing.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use governor::clock::Clock as _;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use parking_lot::Mutex;
use uuid::Uuid;

use crate::config::Config;

/// A refusal for going over a limit: the client may retry after
/// `retry_after_secs`. The HTTP edge answers it with 429 and
/// `Retry-After`; this layer only decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimited {
    pub reason: &'static str,
    pub retry_after_secs: u64,
}

/// The server's rate limiters; a limit set to 0 is off. Cheap to clone.
#[derive(Clone)]
pub struct Limits {
    inner: Arc<Limiters>,
}

struct Limiters {
    bin_creation: Option<DefaultKeyedRateLimiter<IpAddr>>,
    captures: Option<DefaultKeyedRateLimiter<Uuid>>,
    wrong_secrets: Option<Failures>,
}

/// Wrong passwords and API keys per client address, counted in a minute
/// that starts with the first one. A governor limiter cannot be asked
/// whether a key is spent without spending it, and a secret must be
/// refused before it is checked (a right guess after the limit must not
/// get in).
struct Failures {
    per_minute: u32,
    by_client: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

const FAILURE_WINDOW: Duration = Duration::from_secs(60);

impl Limits {
    pub fn new(config: &Config) -> Self {
        let bin_creation = NonZeroU32::new(config.bins_per_minute_per_ip)
            .map(|n| RateLimiter::keyed(Quota::per_minute(n)));
        let captures = NonZeroU32::new(config.captures_per_second_per_bin)
            .map(|n| RateLimiter::keyed(Quota::per_second(n)));
        let wrong_secrets = (config.password_failures_per_minute_per_ip > 0).then(|| Failures {
            per_minute: config.password_failures_per_minute_per_ip,
            by_client: Mutex::default(),
        });
        Self {
            inner: Arc::new(Limiters {
                bin_creation,
                captures,
                wrong_secrets,
            }),
        }
    }

    /// May `client` have a bin password or API key checked now? Not once
    /// it has tried too many wrong ones this minute.
    pub fn allow_secret_attempt(&self, client: Option<IpAddr>) -> Result<(), RateLimited> {
        let (Some(failures), Some(client)) = (&self.inner.wrong_secrets, client) else {
            return Ok(());
        };
        match failures.by_client.lock().get(&client) {
            Some(&(since, count)) if count >= failures.per_minute => {
                let wait = FAILURE_WINDOW.saturating_sub(since.elapsed());
                if wait.is_zero() {
                    return Ok(());
                }
                Err(RateLimited {
                    reason: "too many wrong passwords or API keys from this address",
                    retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
                })
            }
            _ => Ok(()),
        }
    }

    /// Counts a wrong bin password or API key from `client`.
    pub fn note_wrong_secret(&self, client: Option<IpAddr>) {
        let (Some(failures), Some(client)) = (&self.inner.wrong_secrets, client) else {
            return;
        };
        let mut by_client = failures.by_client.lock();
        let entry = by_client.entry(client).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= FAILURE_WINDOW {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
    }

    /// May `client` create a bin now?
    pub fn allow_bin_creation(&self, client: IpAddr) -> Result<(), RateLimited> {
        check(
            self.inner.bin_creation.as_ref(),
            &client,
            "too many new bins from this address",
        )
    }

    /// May `bin` capture a request now?
    pub fn allow_capture(&self, bin: Uuid) -> Result<(), RateLimited> {
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
        if let Some(failures) = &self.inner.wrong_secrets {
            failures
                .by_client
                .lock()
                .retain(|_, (since, _)| since.elapsed() < FAILURE_WINDOW);
        }
    }
}

fn check<K: Clone + std::hash::Hash + Eq>(
    limiter: Option<&DefaultKeyedRateLimiter<K>>,
    key: &K,
    reason: &'static str,
) -> Result<(), RateLimited> {
    let Some(limiter) = limiter else {
        return Ok(());
    };
    limiter.check_key(key).map_err(|not_until| {
        let wait = not_until.wait_time_from(limiter.clock().now());
        RateLimited {
            reason,
            // Whole seconds, rounded up: "Retry-After: 0" would invite a
            // retry that is refused again.
            retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
        }
    })
}
