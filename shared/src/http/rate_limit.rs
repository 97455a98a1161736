//! Per-token request rate limit: a token bucket per personal access token, refilled evenly
//! over a minute. Kept in memory by each process (each API function instance on AWS, where
//! the HTTP API's own throttling caps the whole deployment); a request past the limit gets
//! `rate_limit_exceeded` with `Retry-After`.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use crate::domain::TokenId;

/// Tokens not seen for this long are forgotten (their bucket would be full anyway).
const IDLE_SECONDS: f64 = 120.0;

/// Buckets tracked before idle ones are swept.
const SWEEP_AT: usize = 10_000;

#[derive(Debug)]
pub struct RateLimiter {
    /// Requests a token may make per minute, and its burst; 0 turns the limit off.
    per_minute: u32,
    buckets: Mutex<HashMap<TokenId, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    available: f64,
    at: DateTime<Utc>,
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> Self {
        Self { per_minute, buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes one request from `token`'s allowance at `now`, or says how many whole seconds to
    /// wait before one is available.
    pub fn check(&self, token: TokenId, now: DateTime<Utc>) -> Result<(), u64> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let capacity = f64::from(self.per_minute);
        let per_second = capacity / 60.0;
        let mut buckets = self.buckets.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if buckets.len() >= SWEEP_AT {
            buckets.retain(|_, b| elapsed(b.at, now) < IDLE_SECONDS);
        }
        let bucket = buckets.entry(token).or_insert(Bucket { available: capacity, at: now });
        let refilled = (bucket.available + elapsed(bucket.at, now) * per_second).min(capacity);
        bucket.at = now.max(bucket.at);
        if refilled >= 1.0 {
            bucket.available = refilled - 1.0;
            Ok(())
        } else {
            bucket.available = refilled;
            Err(((1.0 - refilled) / per_second).ceil().max(1.0) as u64)
        }
    }
}

fn elapsed(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_milliseconds().max(0) as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn start() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
    }

    #[test]
    fn a_token_gets_its_burst_then_waits_for_the_refill() {
        let limiter = RateLimiter::new(60);
        let token = TokenId::generate(start());
        for _ in 0..60 {
            assert_eq!(limiter.check(token, start()), Ok(()));
        }
        assert_eq!(limiter.check(token, start()), Err(1));
        assert_eq!(limiter.check(token, start() + Duration::milliseconds(1_000)), Ok(()));
        assert_eq!(limiter.check(token, start() + Duration::milliseconds(1_000)), Err(1));
    }

    #[test]
    fn the_wait_grows_as_the_limit_shrinks() {
        let limiter = RateLimiter::new(2);
        let token = TokenId::generate(start());
        assert!(limiter.check(token, start()).is_ok());
        assert!(limiter.check(token, start()).is_ok());
        assert_eq!(limiter.check(token, start()), Err(30));
    }

    #[test]
    fn tokens_have_separate_allowances() {
        let limiter = RateLimiter::new(1);
        let (a, b) = (TokenId::generate(start()), TokenId::generate(start()));
        assert!(limiter.check(a, start()).is_ok());
        assert!(limiter.check(a, start()).is_err());
        assert!(limiter.check(b, start()).is_ok());
    }

    #[test]
    fn zero_turns_the_limit_off() {
        let limiter = RateLimiter::new(0);
        let token = TokenId::generate(start());
        assert!((0..10_000).all(|_| limiter.check(token, start()).is_ok()));
    }
}
