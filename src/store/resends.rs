//! Resends: what a stored request got when it was sent again to another
//! URL (from the dashboard, the API, or `hookscope forward --replay`),
//! kept beside the request and deleted with it. Each backend stores them
//! in its `resends` table (`sqlite/resends.rs`, `postgres/resends.rs`).

use uuid::Uuid;

use crate::model::{Header, Timestamp};

/// Most answer body bytes a resend keeps; the rest is not stored (and the
/// resend says it was truncated).
pub const KEPT_ANSWER_BYTES: usize = 64 * 1024;

/// Most resends of one request listed, newest first.
pub const RESENDS_LISTED: u32 = 100;

/// Who sent the request again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResendOrigin {
    Dashboard,
    Api,
    /// `hookscope forward --replay`, which reports what its target answered.
    Forward,
}

impl ResendOrigin {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dashboard => "dashboard",
            Self::Api => "api",
            Self::Forward => "forward",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "dashboard" => Some(Self::Dashboard),
            "api" => Some(Self::Api),
            "forward" => Some(Self::Forward),
            _ => None,
        }
    }
}

/// One sending of a stored request to a target, and what came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resend {
    /// UUID v7: newer resends sort later.
    pub id: Uuid,
    pub bin: Uuid,
    /// The stored request that was sent.
    pub request: Uuid,
    pub at: Timestamp,
    pub origin: ResendOrigin,
    /// The URL it was sent to, as given.
    pub target: String,
    /// The target's status; `None` when no answer came (refused, could not
    /// connect, timed out).
    pub status: Option<u16>,
    /// The answer's header fields, in order.
    pub headers: Vec<Header>,
    /// The start of the answer body, at most [`KEPT_ANSWER_BYTES`].
    pub body: Vec<u8>,
    /// The answer body was longer than what is kept.
    pub truncated: bool,
    pub duration_ms: u64,
    /// Why there is no (final) answer: a refusal or a connection failure.
    pub error: Option<String>,
}

impl Resend {
    /// A resend of request `request` of `bin` to `target`, at this moment,
    /// with no answer yet.
    pub fn new(bin: Uuid, request: Uuid, origin: ResendOrigin, target: String) -> Self {
        Self {
            id: Uuid::now_v7(),
            bin,
            request,
            at: Timestamp::now(),
            origin,
            target,
            status: None,
            headers: Vec::new(),
            body: Vec::new(),
            truncated: false,
            duration_ms: 0,
            error: None,
        }
    }

    /// Keeps the start of an answer body, noting whether it was cut here
    /// or (`truncated`) before.
    pub fn keep_body(&mut self, body: &[u8], truncated: bool) {
        let kept = body.len().min(KEPT_ANSWER_BYTES);
        self.body = body[..kept].to_vec();
        self.truncated = truncated || kept < body.len();
    }
}
