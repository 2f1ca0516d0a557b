//! The `/v1` router: routes, handlers, authentication, rate limiting and
//! the JSON error envelope.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::{header, request::Parts, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::{Extension, Json, Router};
use nexwatt_engine::id::{AgentId, Cursor, EscalationId, RunId};
use nexwatt_engine::model::{AgentStatus, EscalationStatus, RunStatus, MAX_DESCRIPTION_CHARS};
use nexwatt_engine::storage::{AgentFilter, EscalationFilter, PageRequest, RunFilter};
use nexwatt_engine::{CreateAgent, Engine, Resolve, StartRun};
use serde::de::DeserializeOwned;

use crate::dto::{
    AgentDetail, AgentList, AgentListQuery, AgentSummary, CreateAgentRequest, EscalationList,
    EscalationListQuery, EscalationView, ResolveRequest, RunDetailView, RunList, RunListQuery,
    RunSummary, StartRunRequest,
};
use crate::error::{codes, ApiError};
use crate::keys::{self, AuthFailure, Principal};
use crate::ratelimit::{Decision, WorkspaceRateLimiter};

/// The OpenAPI 3 document served at `GET /v1/openapi.json`.
pub const OPENAPI_JSON: &str = include_str!("../openapi.json");

/// The default request body limit: 64 KiB.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// Every route the server answers, as (method, path). The router is built
/// from this table, and a test checks it against the OpenAPI document both
/// ways.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/v1/openapi.json"),
    ("POST", "/v1/agents"),
    ("GET", "/v1/agents"),
    ("GET", "/v1/agents/{id}"),
    ("POST", "/v1/agents/{id}/activate"),
    ("POST", "/v1/agents/{id}/pause"),
    ("POST", "/v1/agents/{id}/runs"),
    ("GET", "/v1/runs"),
    ("GET", "/v1/runs/{id}"),
    ("GET", "/v1/escalations"),
    ("GET", "/v1/escalations/{id}"),
    ("POST", "/v1/escalations/{id}/resolve"),
];

/// Routes that need no API key.
const PUBLIC_ROUTES: &[(&str, &str)] = &[("GET", "/v1/openapi.json")];

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The engine.
    pub engine: Engine,
    /// The per-workspace rate limiter.
    pub limiter: Arc<WorkspaceRateLimiter>,
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
}

impl AppState {
    /// State with the default body limit.
    pub fn new(engine: Engine, limiter: WorkspaceRateLimiter) -> Self {
        Self {
            engine,
            limiter: Arc::new(limiter),
            body_limit: DEFAULT_BODY_LIMIT,
        }
    }
}

fn endpoint(method: &str, path: &str) -> Option<MethodRouter<AppState>> {
    Some(match (method, path) {
        ("GET", "/v1/openapi.json") => get(openapi),
        ("POST", "/v1/agents") => post(create_agent),
        ("GET", "/v1/agents") => get(list_agents),
        ("GET", "/v1/agents/{id}") => get(get_agent),
        ("POST", "/v1/agents/{id}/activate") => post(activate_agent),
        ("POST", "/v1/agents/{id}/pause") => post(pause_agent),
        ("POST", "/v1/agents/{id}/runs") => post(start_run),
        ("GET", "/v1/runs") => get(list_runs),
        ("GET", "/v1/runs/{id}") => get(get_run),
        ("GET", "/v1/escalations") => get(list_escalations),
        ("GET", "/v1/escalations/{id}") => get(get_escalation),
        ("POST", "/v1/escalations/{id}/resolve") => post(resolve_escalation),
        _ => return None,
    })
}

/// Whether every entry of [`ROUTES`] has a handler (checked by a test; a
/// route without one would be left out of the router and logged).
pub fn all_routes_have_handlers() -> bool {
    ROUTES.iter().all(|(m, p)| endpoint(m, p).is_some())
}

/// The application: every route of [`ROUTES`], authentication and rate
/// limiting on all but the public ones, the body limit, and the JSON error
/// envelope on every error response (including unknown routes, wrong
/// methods and framework rejections).
pub fn app(state: AppState) -> Router {
    let mut public: Router<AppState> = Router::new();
    let mut protected: Router<AppState> = Router::new();
    for (method, path) in ROUTES {
        let Some(handler) = endpoint(method, path) else {
            tracing::error!(%method, %path, "route without a handler left out of the router");
            continue;
        };
        if PUBLIC_ROUTES.contains(&(*method, *path)) {
            public = public.route(path, handler);
        } else {
            protected = protected.route(path, handler);
        }
    }
    let protected = protected.route_layer(middleware::from_fn_with_state(
        state.clone(),
        authenticate_and_limit,
    ));
    let body_limit = state.body_limit;
    public
        .merge(protected)
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn(json_errors))
        .with_state(state)
}

async fn route_not_found(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        codes::ROUTE_NOT_FOUND,
        format!("no route {method} {}", uri.path()),
    )
}

async fn method_not_allowed(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        codes::METHOD_NOT_ALLOWED,
        format!("{} does not accept {method}", uri.path()),
    )
}

fn is_json_response(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// Logs every request (debug; server errors at warn) and gives every
/// error response that is not JSON yet (framework rejections,
/// body-limit refusals) the `{"error": {"code", "message"}}` envelope,
/// keeping its status and headers.
async fn json_errors(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let started = std::time::Instant::now();
    let response = next.run(req).await;
    let status = response.status();
    let micros = started.elapsed().as_micros() as u64;
    if status.is_server_error() {
        tracing::warn!(%method, %path, status = status.as_u16(), micros, "request failed");
    } else {
        tracing::debug!(%method, %path, status = status.as_u16(), micros, "request");
    }
    if !(status.is_client_error() || status.is_server_error())
        || is_json_response(response.headers())
    {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let mut error = ApiError::for_status(status);
    if status == StatusCode::BAD_REQUEST {
        if let Ok(bytes) = axum::body::to_bytes(body, 2048).await {
            let text = String::from_utf8_lossy(&bytes).trim().to_string();
            if !text.is_empty() {
                error.message = text;
            }
        }
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, axum::body::Body::from(error.body()))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

fn unauthorized(message: &str) -> Response {
    let mut response = ApiError::unauthorized(message).into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"nexwatt\""),
    );
    response
}

fn rate_headers(headers: &mut HeaderMap, d: &Decision) {
    headers.insert("ratelimit-limit", HeaderValue::from(d.limit));
    headers.insert("ratelimit-remaining", HeaderValue::from(d.remaining));
    headers.insert("ratelimit-reset", HeaderValue::from(d.reset_secs));
}

/// Authenticates the bearer key, counts the request against the key's
/// workspace and hands the [`Principal`] to the handler.
async fn authenticate_and_limit(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let Some(secret) = bearer(req.headers()) else {
        return unauthorized("missing API key: send Authorization: Bearer nxwt_live_…");
    };
    let principal = match keys::authenticate(state.engine.storage().as_ref(), secret).await {
        Ok(Ok(p)) => p,
        Ok(Err(AuthFailure::Revoked)) => return unauthorized("this API key has been revoked"),
        Ok(Err(_)) => return unauthorized("invalid API key"),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let decision = state.limiter.check(&principal.workspace);
    if !decision.allowed {
        let retry = decision.retry_after_secs.unwrap_or(1);
        let mut response = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            codes::RATE_LIMITED,
            format!(
                "rate limit of {} requests per minute for this workspace exceeded; retry in {retry} s",
                decision.limit
            ),
        )
        .with_retry_after(retry)
        .into_response();
        rate_headers(response.headers_mut(), &decision);
        return response;
    }
    req.extensions_mut().insert(principal);
    let mut response = next.run(req).await;
    rate_headers(response.headers_mut(), &decision);
    response
}

/// A JSON request body: `application/json` (or `+json`) only (415
/// otherwise), at most the body limit (413), parsed strictly (400). An
/// empty body without a content type reads as `{}`.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

fn is_json_content_type(value: &str) -> bool {
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap_or("").to_string());
        if let Some(ct) = &content_type {
            if !is_json_content_type(ct) {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    codes::UNSUPPORTED_MEDIA_TYPE,
                    format!("request body must be application/json, not {ct:?}"),
                ));
            }
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    codes::PAYLOAD_TOO_LARGE,
                    "request body is larger than the server accepts",
                )
            } else {
                ApiError::invalid(format!(
                    "could not read the request body: {}",
                    rejection.body_text()
                ))
            }
        })?;
        let bytes: &[u8] = if content_type.is_none() {
            if !bytes.is_empty() {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    codes::UNSUPPORTED_MEDIA_TYPE,
                    "request body must be sent with Content-Type: application/json",
                ));
            }
            b"{}"
        } else {
            &bytes
        };
        serde_json::from_slice(bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::invalid(format!("invalid JSON body: {e}")))
    }
}

/// A query string parsed strictly: unknown parameters are 400.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|e| ApiError::invalid(format!("invalid query string: {}", e.body_text())))
    }
}

fn parse_id<T: std::str::FromStr<Err = nexwatt_engine::id::ParseIdError>>(
    what: &str,
    value: &str,
) -> Result<T, ApiError> {
    value
        .parse()
        .map_err(|e: nexwatt_engine::id::ParseIdError| {
            ApiError::invalid(format!("invalid {what}: {e}"))
        })
}

fn page(limit: Option<&str>, cursor: Option<&str>) -> Result<PageRequest, ApiError> {
    let limit = match limit {
        None => PageRequest::DEFAULT_LIMIT,
        Some(s) => s.parse::<usize>().map_err(|_| {
            ApiError::invalid(format!(
                "limit must be an integer between 1 and {}, got {s:?}",
                PageRequest::MAX_LIMIT
            ))
        })?,
    };
    let cursor = cursor
        .map(|c| parse_id::<Cursor>("cursor", c))
        .transpose()?;
    PageRequest::new(limit, cursor).map_err(ApiError::from)
}

fn parse_status<T: std::str::FromStr<Err = String>>(
    value: Option<&str>,
) -> Result<Option<T>, ApiError> {
    value
        .map(|s| s.parse().map_err(ApiError::invalid))
        .transpose()
}

fn actor(p: &Principal) -> String {
    p.key.to_string()
}

async fn openapi() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        OPENAPI_JSON,
    )
        .into_response()
}

async fn create_agent(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    JsonBody(req): JsonBody<CreateAgentRequest>,
) -> Result<(StatusCode, Json<AgentSummary>), ApiError> {
    let chars = req.description.chars().count();
    if chars > MAX_DESCRIPTION_CHARS {
        return Err(ApiError::invalid(format!(
            "description is {chars} characters; the limit is {MAX_DESCRIPTION_CHARS}"
        )));
    }
    let agent = state
        .engine
        .create_agent(
            p.workspace,
            CreateAgent {
                name: req.name,
                description: req.description,
                connectors: req.connectors,
                confidence_threshold: req.confidence_threshold,
                actor: actor(&p),
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(AgentSummary::from(&agent))))
}

async fn list_agents(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(q): ApiQuery<AgentListQuery>,
) -> Result<Json<AgentList>, ApiError> {
    let filter = AgentFilter {
        status: parse_status::<AgentStatus>(q.status.as_deref())?,
    };
    let page = page(q.limit.as_deref(), q.cursor.as_deref())?;
    let agents = state.engine.list_agents(p.workspace, filter, page).await?;
    Ok(Json(agents.into()))
}

async fn get_agent(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<AgentDetail>, ApiError> {
    let id: AgentId = parse_id("agent id", &id)?;
    let agent = state.engine.get_agent(p.workspace, id).await?;
    AgentDetail::of(&agent)
        .map(Json)
        .map_err(|e| ApiError::internal(&e))
}

async fn activate_agent(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<AgentSummary>, ApiError> {
    let id: AgentId = parse_id("agent id", &id)?;
    let agent = state
        .engine
        .activate_agent(p.workspace, id, &actor(&p))
        .await?;
    Ok(Json(AgentSummary::from(&agent)))
}

async fn pause_agent(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<AgentSummary>, ApiError> {
    let id: AgentId = parse_id("agent id", &id)?;
    let agent = state
        .engine
        .pause_agent(p.workspace, id, &actor(&p))
        .await?;
    Ok(Json(AgentSummary::from(&agent)))
}

async fn start_run(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<StartRunRequest>,
) -> Result<(StatusCode, Json<RunSummary>), ApiError> {
    let id: AgentId = parse_id("agent id", &id)?;
    if !req.input.is_object() {
        return Err(ApiError::invalid("input must be a JSON object"));
    }
    let run = state
        .engine
        .start_run(
            p.workspace,
            id,
            StartRun {
                mode: req.mode,
                input: req.input,
                actor: actor(&p),
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(RunSummary::from(&run))))
}

async fn list_runs(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(q): ApiQuery<RunListQuery>,
) -> Result<Json<RunList>, ApiError> {
    let filter = RunFilter {
        agent: q
            .agent_id
            .as_deref()
            .map(|a| parse_id::<AgentId>("agent_id", a))
            .transpose()?,
        status: parse_status::<RunStatus>(q.status.as_deref())?,
    };
    let page = page(q.limit.as_deref(), q.cursor.as_deref())?;
    let runs = state.engine.list_runs(p.workspace, filter, page).await?;
    Ok(Json(runs.into()))
}

async fn get_run(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<RunDetailView>, ApiError> {
    let id: RunId = parse_id("run id", &id)?;
    let detail = state.engine.get_run(p.workspace, id).await?;
    Ok(Json(RunDetailView::of(&detail.run, &detail.steps)))
}

async fn list_escalations(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(q): ApiQuery<EscalationListQuery>,
) -> Result<Json<EscalationList>, ApiError> {
    let filter = EscalationFilter {
        status: parse_status::<EscalationStatus>(q.status.as_deref())?,
        run: q
            .run_id
            .as_deref()
            .map(|r| parse_id::<RunId>("run_id", r))
            .transpose()?,
        agent: q
            .agent_id
            .as_deref()
            .map(|a| parse_id::<AgentId>("agent_id", a))
            .transpose()?,
    };
    let page = page(q.limit.as_deref(), q.cursor.as_deref())?;
    let list = state
        .engine
        .list_escalations(p.workspace, filter, page)
        .await?;
    Ok(Json(list.into()))
}

async fn get_escalation(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<EscalationView>, ApiError> {
    let id: EscalationId = parse_id("escalation id", &id)?;
    let esc = state.engine.get_escalation(p.workspace, id).await?;
    Ok(Json(EscalationView::from(&esc)))
}

async fn resolve_escalation(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<ResolveRequest>,
) -> Result<Json<EscalationView>, ApiError> {
    let id: EscalationId = parse_id("escalation id", &id)?;
    if let Some(note) = &req.resolution_note {
        if note.chars().count() > MAX_DESCRIPTION_CHARS {
            return Err(ApiError::invalid(format!(
                "resolution_note is longer than {MAX_DESCRIPTION_CHARS} characters"
            )));
        }
    }
    let esc = state
        .engine
        .resolve_escalation(
            p.workspace,
            id,
            Resolve {
                action: req.action,
                note: req.resolution_note,
                actor: actor(&p),
                input: req.input,
                output: req.output,
            },
        )
        .await?;
    Ok(Json(EscalationView::from(&esc)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_has_a_handler() {
        assert!(all_routes_have_handlers());
    }

    #[test]
    fn json_content_types() {
        assert!(is_json_content_type("application/json"));
        assert!(is_json_content_type("application/json; charset=utf-8"));
        assert!(is_json_content_type("Application/JSON"));
        assert!(is_json_content_type("application/merge-patch+json"));
        assert!(!is_json_content_type("text/plain"));
        assert!(!is_json_content_type("application/x-www-form-urlencoded"));
    }

    #[test]
    fn bearer_tokens() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer nxwt_live_x"),
        );
        assert_eq!(bearer(&h), Some("nxwt_live_x"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(bearer(&h), None);
    }

    #[test]
    fn page_parameters() {
        assert_eq!(page(None, None).unwrap().limit(), 20);
        assert_eq!(page(Some("100"), None).unwrap().limit(), 100);
        for bad in ["0", "101", "-1", "ten", ""] {
            assert_eq!(
                page(Some(bad), None).unwrap_err().status,
                StatusCode::BAD_REQUEST
            );
        }
        assert!(page(None, Some("nope")).is_err());
    }
}
