//! Authentication and authorization: argon2 password hashes, HS256 bearer tokens, login rate
//! limiting, and the [`Principal`] extractor with the fleet access rule.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use vehicleops_core::{Operator, Role};

use crate::api::AppState;
use crate::config::AppEnv;
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
    /// The mode of the server that issued the token (`demo`, `development`, `production`):
    /// checked on every request, so a demo token (the demo passwords are public) is never
    /// accepted by a server in another mode, even one sharing its key. Absent → refused.
    #[serde(default)]
    pub mode: String,
}

const ISSUER: &str = "vehicleops";

/// Issues and checks access tokens.
pub struct TokenService {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    lifetime: Duration,
    mode: &'static str,
}

impl std::fmt::Debug for TokenService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("TokenService")
            .field("lifetime", &self.lifetime)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl TokenService {
    /// Tokens signed with `secret`, valid for `lifetime`, for a server in mode `mode`.
    pub fn new(secret: &[u8], lifetime: Duration, mode: AppEnv) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.leeway = 0;
        TokenService {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            lifetime,
            mode: mode.as_str(),
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
            mode: self.mode.into(),
        };
        self.sign(&claims)
    }

    /// Signs arbitrary claims (also how tests make expired tokens).
    pub fn sign(&self, claims: &Claims) -> Result<String, ApiError> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(ApiError::internal)
    }

    /// The mode this service issues tokens for and accepts them from.
    pub fn mode(&self) -> &'static str {
        self.mode
    }

    /// Verifies signature, issuer, expiry and mode.
    pub fn verify(&self, token: &str) -> Result<Principal, ApiError> {
        use jsonwebtoken::errors::ErrorKind;
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => ApiError::unauthorized("Token has expired"),
                _ => ApiError::unauthorized("Could not validate credentials"),
            })?;
        let c = data.claims;
        if c.mode != self.mode {
            return Err(ApiError::unauthorized(
                "Could not validate credentials: the token was issued for another server mode",
            ));
        }
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

/// Longest accepted login e-mail, in bytes (the longest an address may be, RFC 5321).
pub const MAX_EMAIL_BYTES: usize = 254;
/// Longest accepted login password, in bytes: argon2 hashes whatever it is given, so a
/// password of megabytes would be megabytes of hashing.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// What the limiter counts failures under.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum LimitKey {
    /// An IPv4 address, or the /64 network of an IPv6 one (one subscriber's usual allocation,
    /// so rotating through its addresses gains nothing).
    Ip(IpAddr),
    /// Lower-cased, at most [`MAX_EMAIL_BYTES`] (longer ones are cut, never stored whole).
    Email(String),
}

/// Counts failed logins per client address and per e-mail in a sliding window.
///
/// Both keys are limited: per address stops one client spraying many accounts, per e-mail stops
/// many clients guessing one password. An attempt is counted as failed *before* its password is
/// checked ([`LoginLimiter::reserve`], atomic over both keys) and released when it succeeds
/// ([`LoginAttempt::succeeded`]), so concurrent guesses cannot all pass a check that sees none
/// of the others. The client address is the peer's, or, when the peer is a trusted proxy, the
/// right-most untrusted address of its `X-Forwarded-For` ([`LoginLimiter::client_ip`]).
pub struct LoginLimiter {
    max_failures: u32,
    window: Duration,
    trusted_proxies: Vec<IpAddr>,
    hashing: HashingLimiter,
    failures: Mutex<Failures>,
}

#[derive(Default)]
struct Failures {
    by_key: HashMap<LimitKey, VecDeque<Instant>>,
    last_sweep: Option<Instant>,
}

/// Above this many tracked keys, expired ones are swept (at most once a second).
const SWEEP_ABOVE_KEYS: usize = 10_000;
/// Hard bound on tracked keys: when that many are live, new clients are refused (429) until
/// some expire, rather than letting the table grow without end.
const MAX_TRACKED_KEYS: usize = 200_000;

/// A login attempt counted as failed until [`LoginAttempt::succeeded`] releases it. Dropping
/// it (wrong password, the client went away) keeps it counted.
#[must_use = "a successful login must release its attempt"]
pub struct LoginAttempt<'a> {
    limiter: &'a LoginLimiter,
    keys: [LimitKey; 2],
    at: Instant,
}

impl LoginAttempt<'_> {
    /// The attempt did not fail (right password, or the server could not check it): it no
    /// longer counts.
    pub fn succeeded(self) {
        let mut failures = self.limiter.failures.lock().expect("limiter lock");
        for key in &self.keys {
            if let Some(q) = failures.by_key.get_mut(key) {
                if let Some(i) = q.iter().rposition(|t| *t == self.at) {
                    q.remove(i);
                }
                if q.is_empty() {
                    failures.by_key.remove(key);
                }
            }
        }
    }
}

impl LoginLimiter {
    /// No trusted proxies; hashing bounded by [`HashingLimiter::for_this_machine`].
    pub fn new(max_failures: u32, window: Duration) -> Self {
        LoginLimiter {
            max_failures: max_failures.max(1),
            window,
            trusted_proxies: Vec::new(),
            hashing: HashingLimiter::for_this_machine(),
            failures: Mutex::new(Failures::default()),
        }
    }

    /// Peers whose `X-Forwarded-For` is believed (`VEHICLEOPS_TRUSTED_PROXIES`).
    pub fn with_trusted_proxies(mut self, proxies: Vec<IpAddr>) -> Self {
        self.trusted_proxies = proxies;
        self
    }

    /// Replaces the bound on concurrent password hashing.
    pub fn with_hashing(mut self, hashing: HashingLimiter) -> Self {
        self.hashing = hashing;
        self
    }

    /// The bound on concurrent password hashing that logins go through.
    pub fn hashing(&self) -> &HashingLimiter {
        &self.hashing
    }

    /// The client a request comes from: the peer itself unless it is a trusted proxy; then the
    /// right-most `X-Forwarded-For` entry that is not a trusted proxy (entries to its left are
    /// whatever the client claimed). A trusted peer without a usable header is the client.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer);
        if !self.trusted_proxies.contains(&peer) {
            return peer;
        }
        let mut entries: Vec<&str> = Vec::new();
        for value in headers.get_all(X_FORWARDED_FOR) {
            let Ok(value) = value.to_str() else {
                return peer;
            };
            entries.extend(value.split(','));
        }
        let mut client = peer;
        for entry in entries.iter().rev() {
            match parse_forwarded(entry.trim()) {
                Some(ip) if self.trusted_proxies.contains(&ip) => client = ip,
                Some(ip) => return ip,
                // Garbage from here leftwards: the last trusted hop is the client we know.
                None => return client,
            }
        }
        client
    }

    fn keys(ip: IpAddr, email: &str) -> [LimitKey; 2] {
        let mut email = email.to_lowercase();
        if email.len() > MAX_EMAIL_BYTES {
            let mut end = MAX_EMAIL_BYTES;
            while !email.is_char_boundary(end) {
                end -= 1;
            }
            email.truncate(end);
        }
        let ip = match canonical(ip) {
            IpAddr::V6(v6) => IpAddr::V6(std::net::Ipv6Addr::from(
                v6.to_bits() & !((1u128 << 64) - 1),
            )),
            v4 => v4,
        };
        [LimitKey::Ip(ip), LimitKey::Email(email)]
    }

    /// Counts an attempt as failed now, unless either key is already at the limit:
    /// `Err(retry_after_secs)` then, and nothing is counted. Check and count happen under one
    /// lock, so at most `max_failures` attempts per key are ever in flight or failed in a window.
    pub fn reserve(&self, ip: IpAddr, email: &str) -> Result<LoginAttempt<'_>, u64> {
        let now = Instant::now();
        let keys = Self::keys(ip, email);
        let mut failures = self.failures.lock().expect("limiter lock");
        let mut retry_after = None;
        for key in &keys {
            if let Some(q) = failures.by_key.get_mut(key) {
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
        if let Some(wait) = retry_after {
            return Err(wait);
        }
        if failures.by_key.len() > SWEEP_ABOVE_KEYS
            && failures
                .last_sweep
                .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1))
        {
            failures.last_sweep = Some(now);
            failures.by_key.retain(|_, q| {
                q.back()
                    .is_some_and(|t| now.duration_since(*t) < self.window)
            });
        }
        let new_keys = keys
            .iter()
            .filter(|k| !failures.by_key.contains_key(k))
            .count();
        if failures.by_key.len() + new_keys > MAX_TRACKED_KEYS {
            return Err(1);
        }
        for key in &keys {
            failures
                .by_key
                .entry(key.clone())
                .or_default()
                .push_back(now);
        }
        Ok(LoginAttempt {
            limiter: self,
            keys,
            at: now,
        })
    }

    /// `Err(retry_after_secs)` while either key is over the limit (counts nothing).
    pub fn check(&self, ip: IpAddr, email: &str) -> Result<(), u64> {
        self.reserve(ip, email).map(LoginAttempt::succeeded)
    }
}

const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// An IPv4 peer seen through an IPv6 socket (`::ffff:a.b.c.d`) is that IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (`1.2.3.4:5`, `[::1]:5`).
fn parse_forwarded(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<std::net::SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(canonical)
}

/// Bounds how many password hashes run at once: argon2 takes ~19 MiB and a core for tens of
/// milliseconds per login, so unbounded concurrent logins exhaust memory and starve the
/// runtime. A login waits at most `wait` for a slot, then is told to come back (503).
#[derive(Debug, Clone)]
pub struct HashingLimiter {
    permits: Arc<Semaphore>,
    size: usize,
    wait: Duration,
}

/// The hashing slot could not be had in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashingBusy;

impl HashingLimiter {
    pub fn new(size: usize, wait: Duration) -> Self {
        let size = size.max(1);
        HashingLimiter {
            permits: Arc::new(Semaphore::new(size)),
            size,
            wait,
        }
    }

    /// One slot per core, at least 2 and at most 4; a login waits up to 2 s for one.
    pub fn for_this_machine() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        HashingLimiter::new(cores.clamp(2, 4), Duration::from_secs(2))
    }

    /// How many hashes may run at once.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Runs `work` (a hash or a verification) on the blocking pool once a slot is free. The
    /// slot is held until `work` ends, even when the caller stops waiting, so abandoned
    /// requests cannot push more hashes through than there are slots.
    pub async fn run<T, F>(&self, work: F) -> Result<T, HashingBusy>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let permit = tokio::time::timeout(self.wait, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| HashingBusy)?
            .map_err(|_| HashingBusy)?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(|_| HashingBusy)
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
        let tokens = TokenService::new(&[7; 32], Duration::from_secs(60), AppEnv::Development);
        let p = tokens.verify(&tokens.issue(&operator()).unwrap()).unwrap();
        assert_eq!(p.id, "op-001");
        assert!(p.can_access("fleet-001") && !p.can_access("fleet-002"));
        assert_eq!(p.require_fleet("fleet-002").unwrap_err().code, "FORBIDDEN");

        let other = TokenService::new(&[8; 32], Duration::from_secs(60), AppEnv::Development);
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
                mode: "development".into(),
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
        drop(limiter.reserve(a, "x@y").unwrap());
        drop(limiter.reserve(a, "X@Y").unwrap());
        let wait = limiter.check(b, "x@y").unwrap_err();
        assert!((1..=61).contains(&wait));
        assert!(
            limiter.check(a, "other@y").is_err(),
            "the address is blocked too"
        );
        assert!(limiter.check(b, "other@y").is_ok());
    }

    #[test]
    fn a_successful_attempt_is_released_and_a_failed_one_stays() {
        let limiter = LoginLimiter::new(1, Duration::from_secs(60));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let attempt = limiter.reserve(a, "x@y").unwrap();
        assert!(
            limiter.reserve(a, "x@y").is_err(),
            "an attempt in flight counts"
        );
        attempt.succeeded();
        let attempt = limiter.reserve(a, "x@y").expect("released on success");
        drop(attempt);
        assert!(
            limiter.reserve(a, "x@y").is_err(),
            "a failure stays counted"
        );
    }

    #[test]
    fn concurrent_reservations_never_exceed_the_limit() {
        let limiter = Arc::new(LoginLimiter::new(3, Duration::from_secs(60)));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let barrier = Arc::new(std::sync::Barrier::new(50));
        let passed: usize = (0..50)
            .map(|i| {
                let (limiter, barrier) = (limiter.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    // Different e-mails: only the address key is shared.
                    limiter.reserve(a, &format!("user{i}@y")).is_ok()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| usize::from(t.join().unwrap()))
            .sum();
        assert_eq!(passed, 3);
    }

    #[test]
    fn an_ipv6_client_is_limited_per_64_network() {
        let limiter = LoginLimiter::new(1, Duration::from_secs(60));
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        drop(limiter.reserve(ip("2001:db8:1:2::1"), "a@y").unwrap());
        assert!(limiter.check(ip("2001:db8:1:2:ffff::7"), "b@y").is_err());
        assert!(limiter.check(ip("2001:db8:1:3::1"), "b@y").is_ok());
        drop(limiter.reserve(ip("::ffff:10.0.0.1"), "c@y").unwrap());
        assert!(
            limiter.check(ip("10.0.0.1"), "d@y").is_err(),
            "IPv4 seen as IPv6"
        );
        assert!(limiter.check(ip("10.0.0.2"), "d@y").is_ok());
    }

    #[test]
    fn long_emails_are_cut_to_a_bounded_key() {
        let keys = LoginLimiter::keys("10.0.0.1".parse().unwrap(), &"é".repeat(1000));
        let LimitKey::Email(e) = &keys[1] else {
            panic!("the second key is the e-mail")
        };
        assert!(e.len() <= MAX_EMAIL_BYTES);
    }

    fn forwarded(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(X_FORWARDED_FOR, value.parse().unwrap());
        h
    }

    #[test]
    fn the_client_is_the_rightmost_untrusted_forwarded_address_behind_a_trusted_proxy() {
        let proxy: IpAddr = "10.0.0.5".parse().unwrap();
        let inner: IpAddr = "10.0.0.6".parse().unwrap();
        let limiter =
            LoginLimiter::new(5, Duration::from_secs(60)).with_trusted_proxies(vec![proxy, inner]);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // The client may claim anything on the left; the proxies append what they saw.
        assert_eq!(
            limiter.client_ip(proxy, &forwarded("1.1.1.1, 203.0.113.7, 10.0.0.6")),
            ip("203.0.113.7")
        );
        assert_eq!(
            limiter.client_ip(proxy, &forwarded("203.0.113.7:4711")),
            ip("203.0.113.7")
        );
        assert_eq!(limiter.client_ip(proxy, &HeaderMap::new()), proxy);
        assert_eq!(
            limiter.client_ip(proxy, &forwarded("garbage, 10.0.0.6")),
            inner
        );
        // An IPv4 proxy seen through an IPv6 socket is still trusted.
        assert_eq!(
            limiter.client_ip(ip("::ffff:10.0.0.5"), &forwarded("203.0.113.7")),
            ip("203.0.113.7")
        );
        // Anyone else's header is ignored.
        let stranger = ip("198.51.100.1");
        assert_eq!(
            limiter.client_ip(stranger, &forwarded("203.0.113.7")),
            stranger
        );
        let untrusting = LoginLimiter::new(5, Duration::from_secs(60));
        assert_eq!(
            untrusting.client_ip(proxy, &forwarded("203.0.113.7")),
            proxy
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hashing_runs_at_most_size_at_once() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let hashing = HashingLimiter::new(2, Duration::from_secs(600));
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..12)
            .map(|_| {
                let (hashing, running, peak) = (hashing.clone(), running.clone(), peak.clone());
                tokio::spawn(async move {
                    hashing
                        .run(move || {
                            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                            peak.fetch_max(now, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(5));
                            running.fetch_sub(1, Ordering::SeqCst);
                        })
                        .await
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().expect("each waits its turn");
        }
        let peak = peak.load(Ordering::SeqCst);
        assert!((1..=2).contains(&peak), "peak {peak}");
    }

    #[tokio::test]
    async fn a_login_that_finds_hashing_full_is_turned_away() {
        let hashing = HashingLimiter::new(1, Duration::ZERO);
        let (started_tx, started_rx) = std::sync::mpsc::channel::<()>();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let busy = {
            let hashing = hashing.clone();
            tokio::spawn(async move {
                hashing
                    .run(move || {
                        started_tx.send(()).unwrap();
                        release_rx.recv().unwrap();
                    })
                    .await
            })
        };
        tokio::task::spawn_blocking(move || started_rx.recv().unwrap())
            .await
            .unwrap();
        assert_eq!(hashing.run(|| ()).await, Err(HashingBusy));
        release_tx.send(()).unwrap();
        busy.await.unwrap().unwrap();
        assert_eq!(hashing.run(|| 7).await, Ok(7), "the slot is free again");
    }

    #[test]
    fn the_machine_gets_two_to_four_hashing_slots() {
        assert!((2..=4).contains(&HashingLimiter::for_this_machine().size()));
    }

    #[test]
    fn a_token_of_another_mode_is_refused() {
        let demo = TokenService::new(&[7; 32], Duration::from_secs(60), AppEnv::Demo);
        let development = TokenService::new(&[7; 32], Duration::from_secs(60), AppEnv::Development);
        let token = demo.issue(&operator()).unwrap();
        assert!(demo.verify(&token).is_ok());
        assert_eq!(development.verify(&token).unwrap_err().code, "UNAUTHORIZED");
    }
}
