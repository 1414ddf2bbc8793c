//! Where a resend may go. A target URL is parsed, its host resolved once,
//! and every address checked before anything connects: addresses that are
//! never a target (link-local, cloud metadata, unspecified, multicast,
//! broadcast), then the server's `--resend-allow` list when it has one.
//! The connection then goes to exactly the checked addresses, so a second
//! lookup (DNS rebinding) cannot swap them.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use axum::http::Uri;

use super::Refusal;
use crate::config::{Config, ResendAllow};

/// Host names of cloud metadata services, refused before any lookup.
const METADATA_HOSTS: &[&str] = &[
    "metadata.google.internal",
    "metadata.goog",
    "metadata",
    "instance-data",
    "instance-data.ec2.internal",
];

/// A parsed target: `http(s)://authority/path?query`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetUrl {
    pub https: bool,
    /// The host, lowercase, without brackets or a trailing dot.
    pub host: String,
    pub port: u16,
    /// The `Host` header: the authority as written.
    pub authority: String,
    /// As written; `/` when the URL has no path.
    pub path_and_query: String,
}

impl TargetUrl {
    pub fn parse(url: &str) -> Result<Self, Refusal> {
        let bad = |why: &str| Refusal::BadUrl(format!("{url:?} {why}"));
        let uri: Uri = url.trim().parse().map_err(|_| bad("is not a URL"))?;
        let https = match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("http") => false,
            Some(s) if s.eq_ignore_ascii_case("https") => true,
            _ => return Err(bad("must start with http:// or https://")),
        };
        let authority = uri.authority().ok_or_else(|| bad("has no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad(
                "has credentials: send them as an Authorization header instead",
            ));
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .trim_end_matches('.')
            .to_ascii_lowercase();
        if host.is_empty() {
            return Err(bad("has no host"));
        }
        let path_and_query = match uri.path_and_query().map(|p| p.as_str()) {
            None | Some("") => "/".to_owned(),
            Some(p) if p.starts_with('?') => format!("/{p}"),
            Some(p) => p.to_owned(),
        };
        Ok(Self {
            https,
            host,
            port: authority.port_u16().unwrap_or(if https { 443 } else { 80 }),
            authority: authority.as_str().to_owned(),
            path_and_query,
        })
    }

    /// The URL a `Location` header points to, relative to this one.
    pub fn join(&self, location: &str) -> String {
        let scheme = if self.https { "https" } else { "http" };
        let lower = location.get(..8).unwrap_or(location).to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            location.to_owned()
        } else if location.starts_with("//") {
            format!("{scheme}:{location}")
        } else if location.starts_with('/') {
            format!("{scheme}://{}{location}", self.authority)
        } else {
            let path = self.path_and_query.split('?').next().unwrap_or("/");
            let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
            format!("{scheme}://{}{dir}{location}", self.authority)
        }
    }
}

/// Looks host names up; the server uses the system's resolver, tests
/// inject answers.
pub trait Resolver: Send + Sync {
    fn resolve(
        &self,
        host: &str,
        port: u16,
    ) -> impl Future<Output = std::io::Result<Vec<SocketAddr>>> + Send;
}

/// The system's resolver (getaddrinfo, through tokio).
pub struct SystemResolver;

impl Resolver for SystemResolver {
    async fn resolve(&self, host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
        Ok(tokio::net::lookup_host((host, port)).await?.collect())
    }
}

/// Whether and where this server resends: off unless it has an API key or
/// an allow-list; with an allow-list, only to what it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    enabled: bool,
    allow: Vec<ResendAllow>,
}

impl Policy {
    pub fn of(config: &Config) -> Self {
        Self {
            enabled: config.api_key.is_some() || !config.resend_allow.is_empty(),
            allow: config.resend_allow.clone(),
        }
    }

    /// Why resending is off here; `None` when it is on.
    pub fn off_reason(&self) -> Option<Refusal> {
        (!self.enabled).then_some(Refusal::Off)
    }

    /// The addresses `url` may be reached at, every one checked; refused
    /// when any is not a permitted target.
    pub async fn addresses(
        &self,
        resolver: &impl Resolver,
        url: &TargetUrl,
    ) -> Result<Vec<SocketAddr>, Refusal> {
        let host = url.host.as_str();
        if METADATA_HOSTS.contains(&host) {
            return Err(Refusal::Forbidden(format!(
                "{host} is a cloud metadata service: never a resend target"
            )));
        }
        let addrs = match host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, url.port)],
            Err(_) => {
                let found = resolver
                    .resolve(host, url.port)
                    .await
                    .map_err(|e| Refusal::Unreachable(format!("cannot resolve {host}: {e}")))?;
                if found.is_empty() {
                    return Err(Refusal::Unreachable(format!("{host} has no address")));
                }
                found
            }
        };
        let named = |ip: IpAddr| {
            if host == ip.to_string() {
                ip.to_string()
            } else {
                format!("{host} resolves to {ip}, which")
            }
        };
        for addr in &addrs {
            let ip = addr.ip();
            if let Some(kind) = never_a_target(ip) {
                return Err(Refusal::Forbidden(format!(
                    "{} is a {kind} address: never a resend target",
                    named(ip)
                )));
            }
            let listed =
                self.allow.is_empty() || self.allow.iter().any(|a| a.names(host) || a.contains(ip));
            if !listed {
                return Err(Refusal::NotAllowed(format!(
                    "{} is not in this server's --resend-allow list",
                    named(ip)
                )));
            }
        }
        Ok(addrs)
    }
}

/// What kind of address `ip` is when it is never a target.
pub fn never_a_target(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => never_v4(v4),
        IpAddr::V6(v6) => {
            if v6 == Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254) {
                return Some("cloud metadata");
            }
            if v6.is_unspecified() {
                return Some("unspecified");
            }
            let first = v6.segments()[0];
            if first & 0xffc0 == 0xfe80 {
                return Some("link-local");
            }
            if first & 0xff00 == 0xff00 {
                return Some("multicast");
            }
            // IPv4 inside IPv6 (mapped, or NAT64's 64:ff9b::/96) reaches
            // the IPv4 address.
            let [a, b, c, d, e, f, g, h] = v6.segments();
            let embedded = match (a, b, c, d, e, f) {
                (0, 0, 0, 0, 0, 0xffff) | (0x64, 0xff9b, 0, 0, 0, 0) => {
                    Some(Ipv4Addr::from((u32::from(g) << 16) | u32::from(h)))
                }
                _ => None,
            };
            embedded.and_then(never_v4)
        }
    }
}

fn never_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip == Ipv4Addr::new(169, 254, 169, 254) || ip == Ipv4Addr::new(100, 100, 100, 200) {
        Some("cloud metadata")
    } else if a == 169 && b == 254 {
        Some("link-local")
    } else if a == 0 {
        Some("unspecified")
    } else if ip.is_broadcast() {
        Some("broadcast")
    } else if ip.is_multicast() {
        Some("multicast")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers every name with the given addresses.
    struct Fixed(Vec<IpAddr>);

    impl Resolver for Fixed {
        async fn resolve(&self, _: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
            Ok(self.0.iter().map(|ip| SocketAddr::new(*ip, port)).collect())
        }
    }

    fn policy(allow: &[&str]) -> Policy {
        Policy {
            enabled: true,
            allow: allow.iter().map(|a| a.parse().expect("entry")).collect(),
        }
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    async fn check(policy: &Policy, answers: &[&str], url: &str) -> Result<(), Refusal> {
        let resolver = Fixed(answers.iter().map(|a| ip(a)).collect());
        let url = TargetUrl::parse(url)?;
        policy.addresses(&resolver, &url).await.map(|_| ())
    }

    #[test]
    fn urls_keep_their_path_and_query_and_locations_join() {
        let url = TargetUrl::parse("https://Hooks.Example:8443/in?x=1").expect("url");
        assert_eq!(
            (url.https, url.host.as_str(), url.port),
            (true, "hooks.example", 8443)
        );
        assert_eq!(url.path_and_query, "/in?x=1");
        assert_eq!(url.authority, "Hooks.Example:8443");
        let bare = TargetUrl::parse("http://[::1]").expect("url");
        assert_eq!((bare.host.as_str(), bare.port), ("::1", 80));
        assert_eq!(bare.path_and_query, "/");
        assert_eq!(url.join("/a"), "https://Hooks.Example:8443/a");
        assert_eq!(url.join("b?c"), "https://Hooks.Example:8443/b?c");
        assert_eq!(url.join("//x/y"), "https://x/y");
        assert_eq!(url.join("HTTP://z/"), "HTTP://z/");
        for bad in ["ftp://x/", "/path", "http://u:p@x/", "not a url"] {
            assert!(
                matches!(TargetUrl::parse(bad), Err(Refusal::BadUrl(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn link_local_metadata_and_broadcast_addresses_are_never_targets() {
        for (addr, kind) in [
            ("169.254.169.254", "cloud metadata"),
            ("169.254.1.2", "link-local"),
            ("100.100.100.200", "cloud metadata"),
            ("0.0.0.0", "unspecified"),
            ("255.255.255.255", "broadcast"),
            ("224.0.0.1", "multicast"),
            ("fd00:ec2::254", "cloud metadata"),
            ("fe80::1", "link-local"),
            ("::", "unspecified"),
            ("ff02::1", "multicast"),
            ("::ffff:169.254.169.254", "cloud metadata"),
            ("64:ff9b::a9fe:a9fe", "cloud metadata"),
        ] {
            assert_eq!(never_a_target(ip(addr)), Some(kind), "{addr}");
        }
        for fine in [
            "127.0.0.1",
            "10.1.2.3",
            "8.8.8.8",
            "::1",
            "fd00::1",
            "2001:db8::1",
        ] {
            assert_eq!(never_a_target(ip(fine)), None, "{fine}");
        }
    }

    #[tokio::test]
    async fn names_are_checked_after_resolution() {
        let open = policy(&[]);
        let refused = check(&open, &["169.254.169.254"], "http://innocent.example/")
            .await
            .expect_err("a name resolving to the metadata address");
        assert_eq!(
            refused.to_string(),
            "innocent.example resolves to 169.254.169.254, which is a cloud metadata \
             address: never a resend target"
        );
        let refused = check(&open, &["93.184.216.34", "fe80::1"], "http://two.example/")
            .await
            .expect_err("one link-local address among several");
        assert!(matches!(refused, Refusal::Forbidden(_)), "{refused}");
        let refused = check(&open, &[], "http://metadata.google.internal/")
            .await
            .expect_err("the metadata name");
        assert!(matches!(refused, Refusal::Forbidden(_)), "{refused}");
        assert!(check(&open, &["93.184.216.34"], "http://ok.example/")
            .await
            .is_ok());

        let tens = policy(&["10.0.0.0/8", "hooks.example"]);
        let refused = check(&tens, &["127.0.0.1"], "http://localhost:8/")
            .await
            .expect_err("localhost is not in 10/8");
        assert_eq!(
            refused.to_string(),
            "localhost resolves to 127.0.0.1, which is not in this server's \
             --resend-allow list"
        );
        assert!(check(&tens, &["10.9.9.9"], "http://internal.example/")
            .await
            .is_ok());
        assert!(check(&tens, &["203.0.113.7"], "http://hooks.example/")
            .await
            .is_ok());
        // A listed name still never reaches a forbidden address.
        let refused = check(&tens, &["169.254.0.9"], "http://hooks.example/")
            .await
            .expect_err("a listed name resolving to link-local");
        assert!(matches!(refused, Refusal::Forbidden(_)), "{refused}");
    }
}
