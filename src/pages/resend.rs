//! The dashboard's "Resend" form and "Resends" list in a request's detail
//! (see `resend` and `api::resend`). The form posts to
//! `POST /view/{bin}/{request}/resend`, which sends, stores and redirects
//! back to the detail: it works without JavaScript.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use uuid::Uuid;

use crate::api::resend::{refusal_response, resend_and_store, stored};
use crate::error::{error_response, AppError};
use crate::extract::{has_api_key, BinPath, SameOrigin};
use crate::model::{human_size, Header};
use crate::resend::{parse_override_lines, Order, Policy};
use crate::state::AppState;
use crate::store::{Resend, ResendOrigin, RESENDS_LISTED};

/// The form and the list, for the detail of one request.
pub struct ResendPanel {
    /// Why the form cannot be used here; `None` when it can.
    pub off: Option<String>,
    pub items: Vec<ResendView>,
}

/// One resend, for reading.
pub struct ResendView {
    pub at: String,
    pub at_iso: String,
    pub origin: &'static str,
    pub target: String,
    pub status: Option<u16>,
    pub duration_ms: u64,
    pub headers: Vec<(String, String)>,
    /// The kept start of the answer body, as text.
    pub body: String,
    pub body_size: String,
    pub truncated: bool,
    pub error: Option<String>,
}

impl ResendView {
    fn new(resend: &Resend) -> Self {
        Self {
            at: resend.at.to_sql_datetime(),
            at_iso: resend.at.to_rfc3339(),
            origin: resend.origin.as_str(),
            target: resend.target.clone(),
            status: resend.status,
            duration_ms: resend.duration_ms,
            headers: Header::pairs_lossy(&resend.headers),
            body: String::from_utf8_lossy(&resend.body).into_owned(),
            body_size: human_size(resend.body.len()),
            truncated: resend.truncated,
            error: resend.error.clone(),
        }
    }
}

/// Why this visitor cannot resend from the dashboard: the server has it
/// off, or it has an API key the visitor has not proven (the dashboard is
/// open to anyone with the bin; sending from the server is not).
fn off_for(state: &AppState, headers: &HeaderMap) -> Option<String> {
    if let Some(off) = Policy::of(&state.config).off_reason() {
        return Some(off.to_string());
    }
    (state.config.api_key.is_some() && !has_api_key(state, headers))
        .then(|| "resending needs this server's API key: log in at /login first".to_owned())
}

/// The panel of request `request` of `bin`.
pub async fn panel(
    state: &AppState,
    headers: &HeaderMap,
    bin: Uuid,
    request: Uuid,
) -> Result<ResendPanel, AppError> {
    let found = state.store.resends(bin, request, RESENDS_LISTED).await?;
    Ok(ResendPanel {
        off: off_for(state, headers),
        items: found.iter().map(ResendView::new).collect(),
    })
}

/// The "Resend" form.
#[derive(Debug, Deserialize)]
pub struct ResendForm {
    url: String,
    /// Overrides, one a line: `Name: value`, or `-Name` to remove.
    #[serde(default)]
    headers: String,
    /// A checkbox: present when ticked.
    follow_redirects: Option<String>,
}

/// `POST /view/{bin}/{request}/resend`: sends, stores the result (a
/// refused target too) and goes back to the request's detail; input that
/// cannot be sent, or a server that does not resend, gets an error page.
pub async fn resend_form(
    State(state): State<AppState>,
    BinPath(bin): BinPath,
    Path((_, request)): Path<(String, String)>,
    _: SameOrigin,
    headers: HeaderMap,
    Form(form): Form<ResendForm>,
) -> Result<Response, Response> {
    if let Some(off) = off_for(&state, &headers) {
        return Err(error_response(axum::http::StatusCode::FORBIDDEN, off));
    }
    let req = stored(&state, &bin, &request)
        .await
        .map_err(IntoResponse::into_response)?;
    let order = Order {
        url: form.url,
        overrides: parse_override_lines(&form.headers).map_err(|e| refusal_response(&e))?,
        follow_redirects: form.follow_redirects.is_some(),
    };
    match resend_and_store(&state, &req, &order, ResendOrigin::Dashboard).await {
        // A refused target is in the list now, with its reason.
        Ok(_) => {}
        Err(refused) if refused.status() == axum::http::StatusCode::FORBIDDEN => {}
        Err(other) => return Err(other),
    }
    let back = format!("/view/{}?r={}#resends", bin.id, req.id);
    Ok(Redirect::to(&back).into_response())
}
