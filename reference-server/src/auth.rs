//! Authentication and authorization: argon2 password hashes, HS256 bearer tokens, login rate
//! limiting, and the [`Principal`] extractor with the fleet access rule.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use vehicleops_core::{Operator, Role};

use crate::api::AppState;
use crate::error::ApiError;

/// Hashes a password into an argon2id PHC string.
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// Checks a password against a PHC string; a malformed hash never matches.
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// What a token says about its bearer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// Operator id.
    pub sub: String,
    pub email: String,
    pub role: Role,
    pub fleet_ids: Vec<String>,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
}

const ISSUER: &str = "vehicleops";

/// Issues and checks access tokens.
pub struct TokenService {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    lifetime: Duration,
}

impl std::fmt::Debug for TokenService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("TokenService")
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

impl TokenService {
    pub fn new(secret: &[u8], lifetime: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.leeway = 0;
        TokenService {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            lifetime,
        }
    }

    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// A signed token for `operator`, valid for the configured lifetime.
    pub fn issue(&self, operator: &Operator) -> Result<String, ApiError> {
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub: operator.id.clone(),
            email: operator.email.clone(),
            role: operator.role,
            fleet_ids: operator.fleet_ids.clone(),
            iat: now,
            exp: now + self.lifetime.as_secs() as i64,
            iss: ISSUER.into(),
        };
        self.sign(&claims)
    }

    /// Signs arbitrary claims (also how tests make expired tokens).
    pub fn sign(&self, claims: &Claims) -> Result<String, ApiError> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(ApiError::internal)
    }

    /// Verifies signature, issuer and expiry.
    pub fn verify(&self, token: &str) -> Result<Principal, ApiError> {
        use jsonwebtoken::errors::ErrorKind;
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => ApiError::unauthorized("Token has expired"),
                _ => ApiError::unauthorized("Could not validate credentials"),
            })?;
        let c = data.claims;
        Ok(Principal {
            id: c.sub,
            email: c.email,
            role: c.role,
            fleet_ids: c.fleet_ids,
        })
    }
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub id: String,
    pub email: String,
    pub role: Role,
    pub fleet_ids: Vec<String>,
}

impl Principal {
    /// ADMIN sees every fleet; MANAGER and OPERATOR only their own.
    pub fn can_access(&self, fleet_id: &str) -> bool {
        self.role == Role::Admin || self.fleet_ids.iter().any(|f| f == fleet_id)
    }

    /// 403 unless the caller may see and command `fleet_id`.
    pub fn require_fleet(&self, fleet_id: &str) -> Result<(), ApiError> {
        if self.can_access(fleet_id) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "Operator lacks access to fleet {fleet_id}"
            )))
        }
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("Not authenticated"))?;
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::unauthorized("Expected `Authorization: Bearer <token>`"))?;
        state.tokens.verify(token)
    }
}

/// Counts failed logins per client address and per e-mail in a sliding window.
///
/// Both keys are limited: per address stops one client spraying many accounts, per e-mail stops
/// many clients guessing one password. Successful logins are not counted.
pub struct LoginLimiter {
    max_failures: u32,
    window: Duration,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

/// Above this many tracked keys, expired ones are swept on the next failure.
const SWEEP_ABOVE_KEYS: usize = 10_000;

impl LoginLimiter {
    pub fn new(max_failures: u32, window: Duration) -> Self {
        LoginLimiter {
            max_failures: max_failures.max(1),
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn keys(ip: IpAddr, email: &str) -> [String; 2] {
        [
            format!("ip:{ip}"),
            format!("email:{}", email.to_lowercase()),
        ]
    }

    /// `Err(retry_after_secs)` while either key is over the limit.
    pub fn check(&self, ip: IpAddr, email: &str) -> Result<(), u64> {
        let now = Instant::now();
        let mut failures = self.failures.lock().expect("limiter lock");
        let mut retry_after = None;
        for key in Self::keys(ip, email) {
            if let Some(q) = failures.get_mut(&key) {
                while q
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= self.window)
                {
                    q.pop_front();
                }
                if q.len() as u32 >= self.max_failures {
                    let oldest = *q.front().expect("non-empty");
                    let wait = self.window.saturating_sub(now.duration_since(oldest));
                    retry_after = retry_after.max(Some(wait.as_secs() + 1));
                }
            }
        }
        retry_after.map_or(Ok(()), Err)
    }

    pub fn record_failure(&self, ip: IpAddr, email: &str) {
        let now = Instant::now();
        let mut failures = self.failures.lock().expect("limiter lock");
        if failures.len() > SWEEP_ABOVE_KEYS {
            failures.retain(|_, q| {
                q.back()
                    .is_some_and(|t| now.duration_since(*t) < self.window)
            });
        }
        for key in Self::keys(ip, email) {
            failures.entry(key).or_default().push_back(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_only_the_right_password() {
        let h = hash_password("Operator123!").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("Operator123!", &h));
        assert!(!verify_password("operator123!", &h));
        assert!(!verify_password("Operator123!", "not a hash"));
    }

    fn operator() -> Operator {
        Operator {
            id: "op-001".into(),
            email: "operator@vehicleops.io".into(),
            role: Role::Operator,
            fleet_ids: vec!["fleet-001".into()],
            password_hash: String::new(),
        }
    }

    #[test]
    fn tokens_round_trip_and_reject_forgery_and_expiry() {
        let tokens = TokenService::new(&[7; 32], Duration::from_secs(60));
        let p = tokens.verify(&tokens.issue(&operator()).unwrap()).unwrap();
        assert_eq!(p.id, "op-001");
        assert!(p.can_access("fleet-001") && !p.can_access("fleet-002"));
        assert_eq!(p.require_fleet("fleet-002").unwrap_err().code, "FORBIDDEN");

        let other = TokenService::new(&[8; 32], Duration::from_secs(60));
        let forged = other.issue(&operator()).unwrap();
        assert_eq!(tokens.verify(&forged).unwrap_err().code, "UNAUTHORIZED");

        let now = Utc::now().timestamp();
        let expired = tokens
            .sign(&Claims {
                sub: "op-001".into(),
                email: "x".into(),
                role: Role::Admin,
                fleet_ids: vec![],
                iat: now - 120,
                exp: now - 60,
                iss: ISSUER.into(),
            })
            .unwrap();
        assert_eq!(
            tokens.verify(&expired).unwrap_err().detail,
            "Token has expired"
        );
    }

    #[test]
    fn limiter_blocks_after_max_failures_per_email_and_per_address() {
        let limiter = LoginLimiter::new(2, Duration::from_secs(60));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(limiter.check(a, "x@y").is_ok());
        limiter.record_failure(a, "x@y");
        limiter.record_failure(a, "X@Y");
        let wait = limiter.check(b, "x@y").unwrap_err();
        assert!((1..=61).contains(&wait));
        assert!(
            limiter.check(a, "other@y").is_err(),
            "the address is blocked too"
        );
        assert!(limiter.check(b, "other@y").is_ok());
    }
}
