//! The local app a forwarder relays to. The exchange with it (exact bytes
//! out, the answer read by the server's own framing rules) is
//! [`crate::exchange`], shared with `resend` and `wait`.

use axum::http::Uri;

use super::ForwardError;
use crate::exchange::Endpoint;

/// Where requests go: `http(s)://host:port/base/path?query`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub endpoint: Endpoint,
    /// The `Host` header value: the authority as written in the URL.
    pub authority: String,
    /// The base path without a trailing slash (`` for the root).
    path: String,
    query: Option<String>,
}

impl Target {
    pub fn parse(url: &str) -> Result<Self, ForwardError> {
        let bad = |why: &str| ForwardError::BadUrl(format!("--target {url}: {why}"));
        let uri: Uri = url.parse().map_err(|_| bad("not a URL"))?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(bad("must start with http:// or https://")),
        };
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        Ok(Self {
            endpoint: Endpoint::new(https, authority.host(), authority.port_u16()),
            authority: authority.as_str().to_owned(),
            path: uri.path().trim_end_matches('/').to_owned(),
            query: uri.query().map(str::to_owned),
        })
    }

    /// The request target for a capture's sub-path and raw query: the
    /// sub-path is appended to the target's path, the queries are joined.
    pub fn path_and_query(&self, sub_path: &str, query: Option<&str>) -> String {
        let mut out = format!("{}{sub_path}", self.path);
        if out.is_empty() {
            out.push('/');
        }
        match (self.query.as_deref(), query) {
            (Some(a), Some(b)) => out.extend(["?", a, "&", b]),
            (Some(q), None) | (None, Some(q)) => out.extend(["?", q]),
            (None, None) => {}
        }
        out
    }

    /// The full URL a request is sent to, for reports.
    pub fn url_for(&self, path_and_query: &str) -> String {
        let scheme = if self.endpoint.tls.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}{path_and_query}", self.authority)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_paths_append_to_the_target_path_and_queries_join() {
        let t = Target::parse("http://localhost:3000/hooks").expect("target");
        assert_eq!(t.endpoint.addr, "localhost:3000");
        assert_eq!(t.endpoint.tls, None);
        assert_eq!(t.path_and_query("", None), "/hooks");
        assert_eq!(t.path_and_query("/a/b", Some("x=1")), "/hooks/a/b?x=1");
        let root = Target::parse("http://127.0.0.1:8/").expect("target");
        assert_eq!(root.path_and_query("", None), "/");
        assert_eq!(root.path_and_query("/a", None), "/a");
        let q = Target::parse("http://h/p/?k=v").expect("target");
        assert_eq!(q.endpoint.addr, "h:80");
        assert_eq!(q.path_and_query("/s", Some("x=1")), "/p/s?k=v&x=1");
        let tls = Target::parse("https://app.example/").expect("https target");
        assert_eq!(tls.endpoint.addr, "app.example:443");
        assert_eq!(tls.endpoint.tls.as_deref(), Some("app.example"));
        assert_eq!(tls.url_for("/x"), "https://app.example/x");
        assert!(Target::parse("ftp://h/").is_err());
    }
}
