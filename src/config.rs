//! Every setting, from flags and `HOOKSCOPE_*` environment variables.

use std::net::{IpAddr, SocketAddr};

use clap::builder::PossibleValue;
use clap::{Args, ValueEnum};
use ipnet::IpNet;

use crate::store::{Database, Durability, StoreConfig};

/// Settings of `hookscope serve`. Defaults work on a laptop with no flags.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "HOOKSCOPE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// SQLite database file (created on first start), or a PostgreSQL URL
    /// (`postgres://user:pass@host:port/db`) that several instances share.
    #[arg(long, env = "HOOKSCOPE_DB", default_value = "hookscope.db")]
    pub db: Database,

    /// Base URL shown to users (e.g. `https://hooks.example.com`) when
    /// hookscope runs behind a proxy. Without it, URLs are built from the
    /// request's Host header.
    #[arg(long, env = "HOOKSCOPE_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// `normal`: a request that got its answer survives a crash of the
    /// process. `full`: it also survives power loss (fsync per batch).
    #[arg(
        long,
        env = "HOOKSCOPE_DURABILITY",
        value_enum,
        default_value = "normal"
    )]
    pub durability: Durability,

    /// Largest request body captured; larger ones get 413 and are not stored.
    #[arg(long, env = "HOOKSCOPE_MAX_BODY_BYTES", default_value_t = 10 * 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Requests listed per dashboard page.
    #[arg(long, env = "HOOKSCOPE_PAGE_SIZE", default_value_t = 50)]
    pub page_size: u32,

    /// Seconds an HTTP/1 client may take to send its request headers.
    #[arg(long, env = "HOOKSCOPE_HEADER_READ_TIMEOUT_SECS", default_value_t = 10)]
    pub header_read_timeout_secs: u64,

    /// Most header fields accepted in one request (431 above it).
    #[arg(long, env = "HOOKSCOPE_MAX_HEADERS", default_value_t = 100)]
    pub max_headers: usize,

    /// Longest a bin's `timeout` may delay its answer, in seconds.
    #[arg(long, env = "HOOKSCOPE_MAX_RESPONSE_DELAY_SECS", default_value_t = 30)]
    pub max_response_delay_secs: u32,

    /// Most requests kept per bin (the oldest are pruned); a bin's own
    /// `request_limit` may only lower it.
    #[arg(long, env = "HOOKSCOPE_MAX_REQUESTS_PER_BIN", default_value_t = 10_000)]
    pub max_requests_per_bin: u32,

    /// Listen mode for bins without a `listen` setting of their own: while
    /// a `hookscope forward --listen` is connected to a bin, each capture
    /// waits up to this many seconds for the local app's answer. 0 turns
    /// listen mode off for such bins.
    #[arg(
        long = "listen-wait-secs",
        env = "HOOKSCOPE_LISTEN_WAIT_SECS",
        default_value_t = 0
    )]
    pub answer_wait_secs: u64,

    /// When set, the JSON API and bin creation require this key in the
    /// `Api-Key` header (browsers log in once at `/login`). Capture URLs
    /// stay open.
    #[arg(long, env = "HOOKSCOPE_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,

    /// Where stored requests may be resent: host names, IP addresses and
    /// CIDR blocks (repeat the flag or separate with commas). Resending is
    /// off unless the server has this or `--api-key`; with this, only
    /// these targets. Link-local and cloud metadata addresses are refused
    /// whatever it says.
    #[arg(
        long = "resend-allow",
        env = "HOOKSCOPE_RESEND_ALLOW",
        value_name = "HOST|IP|CIDR",
        value_delimiter = ','
    )]
    pub resend_allow: Vec<ResendAllow>,
    /// Largest request head (request line and headers) in bytes; a larger
    /// one is refused with 431. At least 8192.
    #[arg(long, env = "HOOKSCOPE_MAX_HEADER_BYTES", default_value_t = 64 * 1024)]
    pub max_header_bytes: usize,

    /// Most bins the server holds; creating one more is refused with 429.
    /// 0: no limit.
    #[arg(long, env = "HOOKSCOPE_MAX_BINS", default_value_t = 100_000)]
    pub max_bins: u64,

    /// Bins one client IP address may create per minute (429 with
    /// Retry-After beyond it). 0: no limit.
    #[arg(long, env = "HOOKSCOPE_BINS_PER_MINUTE_PER_IP", default_value_t = 30)]
    pub bins_per_minute_per_ip: u32,

    /// Wrong bin passwords and API keys one client IP address may try per
    /// minute; beyond it the address gets 429 with Retry-After, and none of
    /// its passwords or keys is checked until the minute is over. 0: no
    /// limit.
    #[arg(
        long,
        env = "HOOKSCOPE_PASSWORD_FAILURES_PER_MINUTE_PER_IP",
        default_value_t = 10
    )]
    pub password_failures_per_minute_per_ip: u32,

    /// Captures one bin accepts per second (429 with Retry-After beyond
    /// it, nothing stored). 0: no limit.
    #[arg(
        long,
        env = "HOOKSCOPE_CAPTURES_PER_SECOND_PER_BIN",
        default_value_t = 0
    )]
    pub captures_per_second_per_bin: u32,

    /// Requests older than this many days, and bins without a request for
    /// as long, are deleted by a background task. 0: keep everything.
    #[arg(long, env = "HOOKSCOPE_RETENTION_DAYS", default_value_t = 30)]
    pub retention_days: u32,

    /// Live viewers one bin may have, counted alike over the dashboard
    /// websocket, SSE/smee clients and the webhook.site CLI channel; one
    /// more is refused with 429.
    #[arg(long, env = "HOOKSCOPE_MAX_VIEWERS_PER_BIN", default_value_t = 256)]
    pub max_viewers_per_bin: usize,

    /// Sessions webhook.site's live channel (`/socket.io/`, its CLI's live
    /// mode) keeps at once; a new one beyond it is refused with 503 and a
    /// retry hint.
    #[arg(
        long,
        env = "HOOKSCOPE_MAX_LIVE_CHANNEL_SESSIONS",
        default_value_t = 1_000
    )]
    pub max_live_channel_sessions: usize,

    /// Bins one live-channel session may subscribe to; one more is refused.
    #[arg(
        long,
        env = "HOOKSCOPE_MAX_LIVE_CHANNEL_SUBSCRIPTIONS",
        default_value_t = 16
    )]
    pub max_live_channel_subscriptions: usize,

    /// Seconds that shutdown waits for in-flight requests to finish.
    #[arg(long, env = "HOOKSCOPE_SHUTDOWN_GRACE_SECS", default_value_t = 10)]
    pub shutdown_grace_secs: u64,

    /// Threads that serve HTTP. Default: one per CPU.
    // One fewer left a core idle under load (bench/RESULTS.md).
    #[arg(long, env = "HOOKSCOPE_WORKERS")]
    pub workers: Option<usize>,
}

impl Config {
    /// A configuration for the given database (a file, or a PostgreSQL
    /// URL) with every other setting at its default; used by tests and
    /// embedders.
    pub fn with_db(db: impl Into<Database>) -> Self {
        #[derive(clap::Parser)]
        struct Defaults {
            #[command(flatten)]
            config: Config,
        }
        let mut config = <Defaults as clap::Parser>::parse_from(["hookscope"]).config;
        config.db = db.into();
        config
    }

    /// How many threads serve HTTP (see `workers`).
    pub fn worker_threads(&self) -> usize {
        self.workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
            .max(1)
    }

    /// What the store is opened with.
    pub fn store_config(&self) -> StoreConfig {
        StoreConfig {
            db: self.db.clone(),
            durability: self.durability,
            max_bins: self.max_bins,
            request_cap: self.max_requests_per_bin,
        }
    }

    /// The public base URL without a trailing slash, if one was configured.
    pub fn public_base(&self) -> Option<&str> {
        self.public_url.as_deref().map(|u| u.trim_end_matches('/'))
    }
}

/// One `--resend-allow` entry: a host name as written in target URLs, or a
/// block of addresses (one address is a block of one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResendAllow {
    /// Lowercase, without a trailing dot.
    Host(String),
    Block(IpNet),
}

impl ResendAllow {
    /// Whether `ip` is in this block (never, for a host name).
    pub fn contains(&self, ip: IpAddr) -> bool {
        matches!(self, Self::Block(block) if block.contains(&ip))
    }

    /// Whether this entry names `host` (lowercase, no trailing dot).
    pub fn names(&self, host: &str) -> bool {
        matches!(self, Self::Host(name) if name == host)
    }
}

impl std::str::FromStr for ResendAllow {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let bare = |t: &str| t.trim_start_matches('[').trim_end_matches(']').to_owned();
        if let Some((addr, prefix)) = text.split_once('/') {
            let first: IpAddr = bare(addr)
                .parse()
                .map_err(|_| format!("{text:?}: {addr:?} is not an IP address"))?;
            let bits = if first.is_ipv4() { 32 } else { 128 };
            let block = prefix
                .parse::<u8>()
                .ok()
                .and_then(|prefix| IpNet::new(first, prefix).ok())
                .ok_or_else(|| format!("{text:?}: the prefix must be 0 to {bits}"))?;
            return Ok(Self::Block(block));
        }
        if let Ok(ip) = bare(text).parse::<IpAddr>() {
            return Ok(Self::Block(IpNet::from(ip)));
        }
        let host = text.trim_end_matches('.').to_ascii_lowercase();
        let valid = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if valid {
            Ok(Self::Host(host))
        } else {
            Err(format!(
                "{text:?} is neither a host name, an IP address nor a CIDR block"
            ))
        }
    }
}

/// `--durability`'s values: the store's own enum, which knows nothing of
/// clap, named and explained here.
impl ValueEnum for Durability {
    fn value_variants<'a>() -> &'a [Self] {
        &[Self::Normal, Self::Full]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(match self {
            Self::Normal => PossibleValue::new("normal").help(
                "`synchronous=NORMAL`: a committed request survives a crash of the \
                 process; the last commits may be lost on power loss",
            ),
            Self::Full => PossibleValue::new("full").help(
                "`synchronous=FULL`: the WAL is fsynced at every commit (once per \
                 batch), so committed requests also survive power loss",
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn the_store_is_opened_with_the_database_and_its_limits() {
        let mut config = Config::with_db("x.db");
        config.max_bins = 7;
        config.max_requests_per_bin = 9;
        config.durability = Durability::from_str("full", false).expect("a durability");
        assert_eq!(
            config.store_config(),
            StoreConfig {
                db: Database::Sqlite(PathBuf::from("x.db")),
                durability: Durability::Full,
                max_bins: 7,
                request_cap: 9,
            }
        );
        assert_eq!(
            Config::with_db("x.db").store_config().durability,
            Durability::Normal
        );
    }

    #[test]
    fn a_postgres_url_selects_postgresql_and_anything_else_is_a_sqlite_file() {
        let url = "postgres://hook:secret@db.internal:5432/hookscope";
        let config = Config::with_db(url);
        assert_eq!(config.store_config().db, Database::Postgres(url.into()));
        assert_eq!(
            Config::with_db("postgresql://db/h").db,
            Database::Postgres("postgresql://db/h".into())
        );
        for path in ["hookscope.db", "./postgres/x.db", "/var/lib/postgres.db"] {
            assert_eq!(
                Config::with_db(path).db,
                Database::Sqlite(PathBuf::from(path))
            );
        }
        // Shown in logs and errors without its password.
        let shown = config.db.display().to_string();
        assert_eq!(shown, "postgres://hook:***@db.internal:5432/hookscope");
        assert!(!format!("{config:?}").contains("secret"));
    }

    #[test]
    fn http_workers_default_to_one_per_cpu_and_are_never_zero() {
        let mut config = Config::with_db("x.db");
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        assert_eq!(config.worker_threads(), cpus);
        config.workers = Some(0);
        assert_eq!(config.worker_threads(), 1);
        config.workers = Some(3);
        assert_eq!(config.worker_threads(), 3);
    }

    #[test]
    fn resend_allow_entries_are_hosts_addresses_and_blocks() {
        let ten: ResendAllow = "10.0.0.0/8".parse().expect("a block");
        assert!(ten.contains("10.1.2.3".parse().expect("ip")));
        assert!(!ten.contains("11.0.0.1".parse().expect("ip")));
        assert!(!ten.contains("::1".parse().expect("ip")));
        let one: ResendAllow = " 127.0.0.1 ".parse().expect("an address");
        assert!(one.contains("127.0.0.1".parse().expect("ip")));
        assert!(!one.contains("127.0.0.2".parse().expect("ip")));
        let v6: ResendAllow = "[fd00::]/8".parse().expect("a v6 block");
        assert!(v6.contains("fd12::1".parse().expect("ip")));
        let all: ResendAllow = "0.0.0.0/0".parse().expect("everything");
        assert!(all.contains("8.8.8.8".parse().expect("ip")));
        let host: ResendAllow = "Hooks.Example.COM.".parse().expect("a host");
        assert!(host.names("hooks.example.com"));
        for bad in ["10.0.0.0/33", "x/8", "a b", "", "http://x"] {
            assert!(bad.parse::<ResendAllow>().is_err(), "{bad:?}");
        }
        let mut config = Config::with_db("x.db");
        assert!(config.resend_allow.is_empty());
        config.resend_allow = vec![ten, host];
        assert_eq!(config.resend_allow.len(), 2);
    }
}
