//! Request extractors whose failures are the API's 422 envelope naming the field, instead of
//! axum's plain-text rejections.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body. Missing or wrong fields are a 422 naming the field.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| {
                let mime = ct.split(';').next().unwrap_or("").trim();
                mime == "application/json" || mime.ends_with("+json")
            });
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(body_rejection)?;
        if !is_json {
            return Err(ApiError::unprocessable(
                "body",
                "expected a JSON body with `Content-Type: application/json`",
            ));
        }
        decode_json(&bytes).map(ApiJson)
    }
}

/// Decodes JSON, naming the field at fault on failure.
pub fn decode_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = field_of(&e.path().to_string(), &e.inner().to_string(), "body");
        ApiError::unprocessable(field, e.inner())
    })
}

fn body_rejection(r: BytesRejection) -> ApiError {
    use axum::http::StatusCode;
    if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            "request body too large",
        )
    } else {
        ApiError::unprocessable("body", r.body_text())
    }
}

/// Query parameters. Missing or malformed ones are a 422 naming the parameter.
#[derive(Debug, Clone)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        decode_query(parts.uri.query().unwrap_or_default()).map(ApiQuery)
    }
}

/// Decodes a query string (without the `?`), naming the parameter at fault on failure.
pub fn decode_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = field_of(&e.path().to_string(), &e.inner().to_string(), "query");
        ApiError::unprocessable(field, e.inner())
    })
}

/// Path parameters; a malformed one is a 422 naming it.
#[derive(Debug, Clone)]
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|r| ApiError::unprocessable("path", r.body_text()))
    }
}

/// The field a deserialization error is about: its path, or for "missing field `x`" errors
/// (whose path is the parent) the missing field's name.
fn field_of(path: &str, message: &str, whole: &str) -> String {
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    match (path, missing) {
        (".", Some(name)) | ("", Some(name)) => name.to_owned(),
        (parent, Some(name)) => format!("{parent}.{name}"),
        (".", None) | ("", None) => whole.to_owned(),
        (p, None) => p.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)] // fields are only deserialized, to provoke errors
    struct Body {
        command: String,
        params: Params,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Params {
        speed: f64,
    }

    #[test]
    fn json_errors_name_the_field() {
        let e = decode_json::<Body>(br#"{"params":{"speed":1}}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("command"));
        let e = decode_json::<Body>(br#"{"command":"STOP","params":{"speed":"x"}}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("params.speed"));
        let e = decode_json::<Body>(br#"{"command":"STOP","params":{}}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("params.speed"));
        let e = decode_json::<Body>(b"not json").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("body"));
    }
}
