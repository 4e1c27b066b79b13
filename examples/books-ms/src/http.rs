//! The HTTP contract of books-ms: routes, statuses, headers.
//!
//! | route | methods |
//! | --- | --- |
//! | `/api/v1/books` | `GET`/`HEAD` (reduced list by `_id`), `PUT`/`POST` (upsert) |
//! | `/api/v1/books/_id/{id}` | `GET`/`HEAD` (full book), `DELETE` (returns the deleted book) |
//!
//! Differences from the original are deliberate and few: an unknown id answers `404` with a JSON
//! error where spray answered `500`, and every error is a JSON object `{"error": ..., "field": ...}`
//! naming the offending field when there is one. Other methods answer `405` with `Allow`; other
//! paths `404`. Every response carries `Access-Control-Allow-Origin: *` and `X-Books-Ms-Version`.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::map_response_with_state;
use axum::response::Response;
use axum::routing::get;
use serde::Serialize;

use crate::book::{Invalid, parse_book};
use crate::db::{Db, DbError};

/// The header that tells releases apart (blue-green tests read it).
pub const VERSION_HEADER: HeaderName = HeaderName::from_static("x-books-ms-version");

const JSON: HeaderValue = HeaderValue::from_static("application/json; charset=UTF-8");

/// The service's router over `db`, reporting `version` in every response.
pub fn app(db: Arc<Db>, version: &str) -> Router {
    let version = HeaderValue::from_str(version).unwrap_or_else(|_| {
        tracing::warn!("version {version:?} is not a valid header value; reporting \"invalid\"");
        HeaderValue::from_static("invalid")
    });
    Router::new()
        .route(
            "/api/v1/books",
            get(list)
                .put(upsert)
                .post(upsert)
                .fallback(async || method_not_allowed("GET, HEAD, PUT, POST")),
        )
        .route(
            "/api/v1/books/_id/{id}",
            get(get_one)
                .delete(delete_one)
                .fallback(async || method_not_allowed("GET, HEAD, DELETE")),
        )
        .fallback(not_found)
        .with_state(db)
        .layer(map_response_with_state(version, common_headers))
}

async fn common_headers(State(version): State<HeaderValue>, mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(VERSION_HEADER, version);
    response
}

async fn list(State(db): State<Arc<Db>>) -> Response {
    match db.list_json().await {
        Ok(body) => json_body(StatusCode::OK, Body::from(body)),
        Err(err) => database_failure(err),
    }
}

async fn upsert(
    State(db): State<Arc<Db>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if !is_json(&headers) {
        let found = headers
            .get(header::CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let message = match found {
            Some(found) => format!("expected Content-Type application/json, found {found}"),
            None => "expected Content-Type application/json, found none".to_string(),
        };
        return error(StatusCode::UNSUPPORTED_MEDIA_TYPE, &message, None);
    }
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return error(rejection.status(), &rejection.body_text(), None),
    };
    let book = match parse_book(&body) {
        Ok(book) => book,
        Err(Invalid { field, message }) => return error(StatusCode::BAD_REQUEST, &message, field),
    };
    match db.upsert(&book).await {
        Ok(()) => json(StatusCode::OK, &book),
        Err(err) => database_failure(err),
    }
}

async fn get_one(State(db): State<Arc<Db>>, id: Result<Path<String>, PathRejection>) -> Response {
    let id = match book_id(id) {
        Ok(id) => id,
        Err(message) => return error(StatusCode::NOT_FOUND, &message, Some("_id")),
    };
    match db.get(id).await {
        Ok(Some(book)) => json(StatusCode::OK, &book),
        Ok(None) => unknown_book(id),
        Err(err) => database_failure(err),
    }
}

async fn delete_one(
    State(db): State<Arc<Db>>,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    let id = match book_id(id) {
        Ok(id) => id,
        Err(message) => return error(StatusCode::NOT_FOUND, &message, Some("_id")),
    };
    match db.delete(id).await {
        Ok(Some(book)) => json(StatusCode::OK, &book),
        Ok(None) => unknown_book(id),
        Err(err) => database_failure(err),
    }
}

/// The original matched `{id}` with spray's `IntNumber`; anything else fell through to the
/// static-file route and so answered `404`. We keep that status.
fn book_id(id: Result<Path<String>, PathRejection>) -> Result<i32, String> {
    let raw = match id {
        Ok(Path(raw)) => raw,
        Err(_) => return Err("no such book: the _id is not valid UTF-8".to_string()),
    };
    raw.parse::<i32>()
        .map_err(|_| format!("no such book: `{raw}` is not an integer _id"))
}

fn unknown_book(id: i32) -> Response {
    error(
        StatusCode::NOT_FOUND,
        &format!("no book with _id {id}"),
        Some("_id"),
    )
}

async fn not_found(uri: axum::http::Uri) -> Response {
    error(
        StatusCode::NOT_FOUND,
        &format!("no such resource: {}", uri.path()),
        None,
    )
}

fn method_not_allowed(allow: &'static str) -> Response {
    let mut response = error(
        StatusCode::METHOD_NOT_ALLOWED,
        &format!("method not allowed; allowed: {allow}"),
        None,
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

fn database_failure(err: DbError) -> Response {
    tracing::warn!("{err}");
    error(StatusCode::INTERNAL_SERVER_ERROR, &err.to_string(), None)
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

fn error(status: StatusCode, message: &str, field: Option<&str>) -> Response {
    json(
        status,
        &ErrorBody {
            error: message,
            field,
        },
    )
}

fn json(status: StatusCode, value: &impl Serialize) -> Response {
    // Serialising these types cannot fail (string keys, no maps with non-string keys).
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    json_body(status, Body::from(body))
}

fn json_body(status: StatusCode, body: Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, JSON);
    response
}
