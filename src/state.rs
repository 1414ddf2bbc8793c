//! What every handler shares ([`AppState`]), and finding the bin a URL names.

use std::sync::Arc;

use axum::extract::FromRef;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::auth::Auth;
use crate::config::Config;
use crate::error::AppError;
use crate::limits::Limits;
use crate::listen::PendingAnswers;
use crate::live::Hub;
use crate::metrics::METRICS;
use crate::model::Bin;
use crate::store::{Store, StoreError};

/// Everything handlers share. Cheap to clone (one reference count: axum
/// clones the state for every request); handlers ask for the parts they
/// use through `FromRef`.
#[derive(Clone)]
pub struct AppState(Arc<AppParts>);

impl std::ops::Deref for AppState {
    type Target = AppParts;

    fn deref(&self) -> &AppParts {
        &self.0
    }
}

/// What an [`AppState`] is made of.
pub struct AppParts {
    pub store: Store,
    pub hub: Hub,
    pub config: Arc<Config>,
    pub limits: Limits,
    /// Captures waiting for a listen-mode forwarder's answer.
    pub pending: PendingAnswers,
    /// Cancelled when the server shuts down: long-lived streams end.
    /// Behind an `Arc` so tasks can hold it past the state (cloning a token
    /// takes a lock).
    pub shutdown: Arc<CancellationToken>,
    /// The secret behind bin-password cookies.
    pub auth: Auth,
}

impl AppState {
    /// Opens the database named in `config` and builds the state.
    pub fn open(config: Config) -> Result<Self, StoreError> {
        let store = Store::open(&config.store_config(), fresh_secret(), &METRICS)?;
        let auth = Auth::new(store.cookie_secret());
        Ok(Self(Arc::new(AppParts {
            store,
            hub: Hub::new(),
            limits: Limits::new(&config),
            config: Arc::new(config),
            pending: PendingAnswers::new(),
            shutdown: Arc::new(CancellationToken::new()),
            auth,
        })))
    }
}

/// 32 bytes from the OS random source: the cookie secret of a database
/// that has none yet (the store keeps the first one it is given).
fn fresh_secret() -> [u8; 32] {
    use argon2::password_hash::rand_core::{OsRng, RngCore};
    let mut secret = [0u8; 32];
    OsRng.fill_bytes(&mut secret);
    secret
}

/// `State<Part>` extractors for the parts handlers ask for.
macro_rules! state_parts {
    ($($field:ident: $part:ty),* $(,)?) => {$(
        impl FromRef<AppState> for $part {
            fn from_ref(state: &AppState) -> Self {
                state.$field.clone()
            }
        }
    )*};
}

state_parts!(store: Store, hub: Hub, config: Arc<Config>, limits: Limits, pending: PendingAnswers);

/// A bin id from a URL segment; anything that is not a UUID is no bin.
pub fn parse_bin(segment: &str) -> Result<Uuid, AppError> {
    Uuid::try_parse(segment).map_err(|_| AppError::UnknownBin)
}

/// The bin a capture URL's first segment names, by its id or its alias:
/// 404 unless it exists.
pub async fn find_bin_or_alias(store: &Store, segment: &str) -> Result<Arc<Bin>, AppError> {
    let found = match Uuid::try_parse(segment) {
        Ok(id) => store.bin(id).await?,
        Err(_) => store.bin_by_alias(segment).await?,
    };
    found.ok_or(AppError::UnknownBin)
}

/// The bin a URL segment names: 404 unless it parses and exists.
pub async fn find_bin(store: &Store, segment: &str) -> Result<Arc<Bin>, AppError> {
    store
        .bin(parse_bin(segment)?)
        .await?
        .ok_or(AppError::UnknownBin)
}
