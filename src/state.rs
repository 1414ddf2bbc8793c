//! What every handler shares: [`AppState`].

use std::sync::Arc;

use axum::extract::FromRef;
use tokio_util::sync::CancellationToken;

use crate::answers::PendingAnswers;
use crate::auth::{self, Auth};
use crate::config::Config;
use crate::limits::Limits;
use crate::live::hub::Hub;
use crate::metrics::METRICS;
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
    /// Captures waiting for a relaying forwarder's answer.
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
        let store = Store::open(&config.store_config(), auth::new_secret(), &METRICS)?;
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
