//! A limit on how often one client may register or ask for codes, against scripted mass
//! registration. Kept in memory per process: in the cluster each replica counts for itself, so
//! a client gets at most the limit times the replicas (KEDA/Knative cap those); the per-address
//! limit on e-mails ([`super::next_send`]) is in the database and holds across replicas.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use tonic::metadata::MetadataMap;

use crate::config::{positive_var, var_opt, ConfigError};
use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq)]
pub struct ClientLimits {
    /// Calls per client per hour (`TICKERMESH_CLIENT_CALLS_PER_HOUR`, 20), all at once at most.
    pub per_hour: u32,
    /// The header that holds the client's address (`TICKERMESH_CLIENT_ADDRESS_HEADER`), set by
    /// a proxy in front that overwrites what the client sent; unset: the peer address.
    pub address_header: Option<String>,
}

impl Default for ClientLimits {
    fn default() -> Self {
        Self {
            per_hour: 20,
            address_header: None,
        }
    }
}

impl ClientLimits {
    pub fn from_env() -> Result<Self, ConfigError> {
        let address_header: Option<String> = var_opt("TICKERMESH_CLIENT_ADDRESS_HEADER")?;
        if let Some(h) = &address_header {
            if tonic::metadata::MetadataKey::<tonic::metadata::Ascii>::from_bytes(h.as_bytes())
                .is_err()
            {
                return Err(ConfigError {
                    var: "TICKERMESH_CLIENT_ADDRESS_HEADER".into(),
                    reason: format!("is not a header name (got {h:?})"),
                });
            }
        }
        Ok(Self {
            per_hour: positive_var("TICKERMESH_CLIENT_CALLS_PER_HOUR", 20)?,
            address_header: address_header.map(|h| h.to_ascii_lowercase()),
        })
    }
}

pub struct ClientLimiter {
    limiter: DefaultKeyedRateLimiter<String>,
    address_header: Option<String>,
    /// Calls since the limiter last forgot clients that are back to a full allowance.
    since_cleanup: AtomicU32,
}

/// Forget idle clients every so many calls: the limiter's memory follows the recent clients.
const CLEANUP_EVERY: u32 = 4096;

impl ClientLimiter {
    pub fn new(limits: &ClientLimits) -> Self {
        let per_hour = NonZeroU32::new(limits.per_hour).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: DefaultKeyedRateLimiter::keyed(Quota::per_hour(per_hour)),
            address_header: limits.address_header.clone(),
            since_cleanup: AtomicU32::new(0),
        }
    }

    /// The client's address: the configured header, else the peer address.
    pub fn client(&self, metadata: &MetadataMap, peer: Option<SocketAddr>) -> String {
        let from_header = self
            .address_header
            .as_deref()
            .and_then(|h| metadata.get(h))
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().chars().take(64).collect::<String>())
            .filter(|v| !v.is_empty());
        from_header
            .or_else(|| peer.map(|p| p.ip().to_string()))
            .unwrap_or_else(|| "unknown".to_owned())
    }

    /// One call of `key`: RESOURCE_EXHAUSTED saying `refusal` and the wait when over the limit.
    pub fn check(&self, key: &str, refusal: &str) -> Result<()> {
        if self.since_cleanup.fetch_add(1, Ordering::Relaxed) >= CLEANUP_EVERY {
            self.since_cleanup.store(0, Ordering::Relaxed);
            self.limiter.retain_recent();
        }
        match self.limiter.check_key(&key.to_owned()) {
            Ok(()) => Ok(()),
            Err(not_until) => Err(Error::ResourceExhausted {
                what: refusal.to_owned(),
                retry_after: not_until.wait_time_from(DefaultClock::default().now()),
            }),
        }
    }
}

/// Rounded up to whole seconds, at least one: what a client is told to wait.
pub fn retry_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_over_its_limit_is_told_to_wait_and_others_are_not() {
        let limiter = ClientLimiter::new(&ClientLimits {
            per_hour: 2,
            address_header: None,
        });
        limiter.check("10.0.0.1", "too many registrations").unwrap();
        limiter.check("10.0.0.1", "too many registrations").unwrap();
        let err = limiter
            .check("10.0.0.1", "too many registrations")
            .unwrap_err();
        match err {
            Error::ResourceExhausted { retry_after, .. } => {
                assert!(retry_after > Duration::from_secs(60), "{retry_after:?}")
            }
            other => panic!("{other:?}"),
        }
        limiter.check("10.0.0.2", "too many registrations").unwrap();
    }

    #[test]
    fn the_address_comes_from_the_proxy_header_when_configured() {
        let peer: SocketAddr = "192.0.2.7:4000".parse().unwrap();
        let mut metadata = MetadataMap::new();
        metadata.insert("tickermesh-client-address", "198.51.100.9".parse().unwrap());
        let plain = ClientLimiter::new(&ClientLimits::default());
        assert_eq!(plain.client(&metadata, Some(peer)), "192.0.2.7");
        let proxied = ClientLimiter::new(&ClientLimits {
            per_hour: 1,
            address_header: Some("tickermesh-client-address".into()),
        });
        assert_eq!(proxied.client(&metadata, Some(peer)), "198.51.100.9");
        assert_eq!(proxied.client(&MetadataMap::new(), Some(peer)), "192.0.2.7");
        assert_eq!(proxied.client(&MetadataMap::new(), None), "unknown");
    }

    #[test]
    fn waits_round_up_to_seconds() {
        assert_eq!(retry_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_secs(Duration::from_secs(3)), 3);
        assert_eq!(retry_secs(Duration::from_millis(3001)), 4);
    }
}
