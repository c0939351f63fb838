//! Outbound HTTP with a guard against server-side request forgery.
//!
//! A webhook URL is chosen by a tenant, so erp-sync must not become a way to reach the
//! operator's private network. Every address a target resolves to is checked *when the
//! connection is made* (by a DNS resolver that drops non-public addresses, so a DNS
//! answer that changes after validation cannot slip through), literal IP targets are
//! checked before sending, and redirects are never followed. `--allow-private-targets`
//! turns the guard off for local testing.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Whether an address is outside the public internet (loopback, private, link-local,
/// shared, multicast, documentation or unspecified).
pub fn is_non_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_non_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_non_public_v4(v4);
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (first == 0x2001 && v6.segments()[1] == 0x0db8) // documentation
                || v6 == Ipv6Addr::from([0, 0, 0, 0, 0, 0xffff, 0, 0])
        }
    }
}

fn is_non_public_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // shared address space 100.64/10
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking 198.18/15
        || o[0] >= 240
}

/// The error a guarded connection fails with, so callers can tell it from network errors.
#[derive(Debug, thiserror::Error)]
#[error(
    "{host} resolves only to non-public addresses ({addrs}); private targets are refused unless erp-sync runs with --allow-private-targets"
)]
pub struct BlockedTarget {
    pub host: String,
    pub addrs: String,
}

/// A DNS resolver that never hands reqwest a non-public address.
struct GuardedResolver;

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_string();
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = all
                .iter()
                .copied()
                .filter(|a| !is_non_public(a.ip()))
                .collect();
            if public.is_empty() {
                let addrs = all
                    .iter()
                    .map(|a| a.ip().to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(Box::new(BlockedTarget { host, addrs })
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

/// The shared HTTP client for outbound calls: pooled keep-alive connections, no
/// redirects, a whole-request timeout, and the SSRF guard unless private targets are allowed.
pub fn http_client(allow_private: bool, timeout: Duration) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(256)
        .tcp_nodelay(true)
        .user_agent(concat!("erp-sync/", env!("CARGO_PKG_VERSION")));
    if !allow_private {
        builder = builder.dns_resolver(Arc::new(GuardedResolver));
    }
    builder
        .build()
        .expect("the HTTP client configuration is static and valid")
}

/// Checks a target URL before it is saved or called: http(s) only, and not a
/// non-public address unless allowed. Host names are resolved now to give an early,
/// clear error; the resolver re-checks at every connection.
pub async fn check_target(url: &url::Url, allow_private: bool) -> Result<(), String> {
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err(format!(
            "must be an http or https URL, not {}:",
            url.scheme()
        ));
    }
    let host = match url.host() {
        Some(h) => h,
        None => return Err("must name a host".into()),
    };
    if allow_private {
        return Ok(());
    }
    let refuse = |ip: IpAddr| {
        format!(
            "{ip} is a private, loopback or link-local address; such targets are refused unless erp-sync runs with --allow-private-targets"
        )
    };
    match host {
        url::Host::Ipv4(ip) if is_non_public(IpAddr::V4(ip)) => Err(refuse(IpAddr::V4(ip))),
        url::Host::Ipv6(ip) if is_non_public(IpAddr::V6(ip)) => Err(refuse(IpAddr::V6(ip))),
        url::Host::Ipv4(_) | url::Host::Ipv6(_) => Ok(()),
        url::Host::Domain(name) => {
            let port = url.port_or_known_default().unwrap_or(443);
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name, port))
                .await
                .map_err(|e| format!("{name} cannot be resolved: {e}"))?
                .collect();
            match addrs.iter().find(|a| is_non_public(a.ip())) {
                Some(a) if addrs.iter().all(|a| is_non_public(a.ip())) => Err(format!(
                    "{name} resolves to {}, a non-public address; such targets are refused unless erp-sync runs with --allow-private-targets",
                    a.ip()
                )),
                _ => Ok(()),
            }
        }
    }
}

/// Whether a request error was caused by the SSRF guard.
pub fn is_blocked(err: &reqwest::Error) -> Option<String> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(blocked) = e.downcast_ref::<BlockedTarget>() {
            return Some(blocked.to_string());
        }
        source = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_addresses() {
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::",
        ] {
            assert!(
                is_non_public(bad.parse().unwrap()),
                "{bad} should be refused"
            );
        }
        for good in ["93.184.216.34", "8.8.8.8", "2606:4700::1111"] {
            assert!(
                !is_non_public(good.parse().unwrap()),
                "{good} should be allowed"
            );
        }
    }

    #[tokio::test]
    async fn refuses_private_urls_unless_allowed() {
        let local = url::Url::parse("http://127.0.0.1:9/hook").unwrap();
        assert!(check_target(&local, false).await.is_err());
        assert!(check_target(&local, true).await.is_ok());
        let localhost = url::Url::parse("http://localhost:9/hook").unwrap();
        assert!(check_target(&localhost, false).await.is_err());
        let ftp = url::Url::parse("ftp://example.com/x").unwrap();
        assert!(check_target(&ftp, true).await.is_err());
    }
}
