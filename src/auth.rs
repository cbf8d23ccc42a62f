//! Who may act for a `firebase_uid`: the identity modes of `[auth]`.
//!
//! - `open`: the uid in the path or body is trusted (classrooms, development).
//! - `firebase`: `Authorization: Bearer <Firebase ID token>`. The token must be RS256, signed by
//!   the key its `kid` names in the configured JWKS (a file, for offline use, or a URL that is
//!   re-read hourly), with `aud` = the project id, `iss` = `https://securetoken.google.com/<id>`,
//!   a future `exp`, an `iat` that is not in the future, and a non-empty `sub`.
//! - `shared-secret`: HS256 tokens signed with the configured secret, issued by
//!   `finlearn token --uid U`, with `aud` = `iss` = `finlearn`.
//!
//! In both verified modes the token's `sub` must equal the uid the request acts on. Only the
//! algorithm of the mode is accepted, so a token cannot pick its own (no `alg` confusion).

use crate::config::{AuthMode, AuthSettings};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::RwLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio_util::sync::CancellationToken;

/// Seconds of clock difference tolerated between the token issuer and this server.
pub const CLOCK_SKEW_SECS: u64 = 60;
/// Issuer and audience of the tokens `finlearn token` issues.
pub const SHARED_ISSUER: &str = "finlearn";
/// How often keys fetched from a URL are fetched again (Google rotates them every few days).
pub const JWKS_REFRESH: Duration = Duration::from_secs(3_600);
/// Longest wait for the JWKS URL to answer.
const JWKS_FETCH_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("Missing bearer token: send Authorization: Bearer <token>")]
    Missing,
    #[error("Invalid token: {0}")]
    Invalid(String),
    #[error("The token does not belong to this user")]
    WrongUser,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read the JWKS at {source_name}: {detail}")]
    Unreadable { source_name: String, detail: String },
    #[error("the JWKS at {0} holds no usable RS256 key with a kid")]
    NoKeys(String),
    #[error("cannot sign a token: {0}")]
    Sign(String),
}

/// The claims this server reads and `finlearn token` writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub aud: String,
    pub iss: String,
    pub exp: u64,
    pub iat: u64,
}

enum Keys {
    Shared(DecodingKey),
    /// By key id; replaced wholesale on refresh.
    Jwks {
        source: String,
        keys: RwLock<HashMap<String, DecodingKey>>,
    },
}

pub struct Identity {
    mode: AuthMode,
    verify: Option<(Keys, Validation)>,
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn validation(algorithm: Algorithm, audience: &str, issuer: &str) -> Validation {
    let mut v = Validation::new(algorithm);
    v.set_audience(&[audience]);
    v.set_issuer(&[issuer]);
    v.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
    v.leeway = CLOCK_SKEW_SECS;
    v
}

/// Reads a JWKS from a file or an http(s) URL and keeps its RSA keys by `kid`.
fn load_jwks(source: &str) -> Result<HashMap<String, DecodingKey>, KeyError> {
    let unreadable = |detail: String| KeyError::Unreadable { source_name: source.to_string(), detail };
    let text = if source.starts_with("https://") || source.starts_with("http://") {
        let agent: ureq::Agent = ureq::Agent::config_builder().timeout_global(Some(JWKS_FETCH_TIMEOUT)).build().into();
        let mut response = agent.get(source).call().map_err(|e| unreadable(e.to_string()))?;
        response.body_mut().read_to_string().map_err(|e| unreadable(e.to_string()))?
    } else {
        std::fs::read_to_string(source).map_err(|e| unreadable(e.to_string()))?
    };
    let set: JwkSet = serde_json::from_str(&text).map_err(|e| unreadable(format!("not a JWKS: {e}")))?;
    let keys: HashMap<String, DecodingKey> = set
        .keys
        .iter()
        .filter(|jwk| matches!(jwk.algorithm, jsonwebtoken::jwk::AlgorithmParameters::RSA(_)))
        .filter_map(|jwk| Some((jwk.common.key_id.clone()?, DecodingKey::from_jwk(jwk).ok()?)))
        .collect();
    if keys.is_empty() {
        return Err(KeyError::NoKeys(source.to_string()));
    }
    Ok(keys)
}

impl Identity {
    pub fn open() -> Self {
        Identity { mode: AuthMode::Open, verify: None }
    }

    pub fn mode(&self) -> AuthMode {
        self.mode
    }

    /// The identity of the configured mode; reads the JWKS once in `firebase` mode.
    pub fn from_settings(settings: &AuthSettings) -> Result<Self, KeyError> {
        let verify = match settings.mode {
            AuthMode::Open => None,
            AuthMode::SharedSecret => Some((
                Keys::Shared(
                    DecodingKey::from_secret(settings.secret.as_bytes()).map_err(|e| KeyError::Sign(e.to_string()))?,
                ),
                validation(Algorithm::HS256, SHARED_ISSUER, SHARED_ISSUER),
            )),
            AuthMode::Firebase => {
                let project = &settings.firebase_project_id;
                let keys = load_jwks(&settings.jwks)?;
                let issuer = format!("https://securetoken.google.com/{project}");
                Some((
                    Keys::Jwks { source: settings.jwks.clone(), keys: RwLock::new(keys) },
                    validation(Algorithm::RS256, project, &issuer),
                ))
            }
        };
        Ok(Identity { mode: settings.mode, verify })
    }

    /// Whether keys come from a URL and should be re-read now and then.
    pub fn refreshes(&self) -> bool {
        matches!(&self.verify, Some((Keys::Jwks { source, .. }, _)) if source.starts_with("http"))
    }

    /// Re-reads the JWKS; on failure the keys in use stay. Blocking.
    pub fn refresh(&self) -> Result<usize, KeyError> {
        let Some((Keys::Jwks { source, keys }, _)) = &self.verify else { return Ok(0) };
        let fresh = load_jwks(source)?;
        let n = fresh.len();
        *keys.write().expect("jwks lock") = fresh;
        Ok(n)
    }

    /// Checks that the bearer token (if the mode needs one) may act for `uid`.
    pub fn authorize(&self, bearer: Option<&str>, uid: &str) -> Result<(), AuthError> {
        let Some((keys, validation)) = &self.verify else { return Ok(()) };
        let token = bearer.map(str::trim).filter(|t| !t.is_empty()).ok_or(AuthError::Missing)?;
        let invalid = |e: jsonwebtoken::errors::Error| AuthError::Invalid(describe(&e));
        let claims = match keys {
            Keys::Shared(key) => jsonwebtoken::decode::<Claims>(token, key, validation).map_err(invalid)?.claims,
            Keys::Jwks { keys, .. } => {
                let header = jsonwebtoken::decode_header(token).map_err(invalid)?;
                let kid = header.kid.ok_or_else(|| AuthError::Invalid("the token names no key (kid)".into()))?;
                let keys = keys.read().expect("jwks lock");
                let key = keys.get(&kid).ok_or_else(|| AuthError::Invalid(format!("unknown signing key {kid:?}")))?;
                jsonwebtoken::decode::<Claims>(token, key, validation).map_err(invalid)?.claims
            }
        };
        if claims.iat > now_secs() + CLOCK_SKEW_SECS {
            return Err(AuthError::Invalid("issued in the future (iat)".into()));
        }
        if claims.sub.is_empty() {
            return Err(AuthError::Invalid("empty subject (sub)".into()));
        }
        if claims.sub != uid {
            return Err(AuthError::WrongUser);
        }
        Ok(())
    }
}

/// A reason a student or developer can act on, without echoing the token.
fn describe(e: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind;
    match e.kind() {
        ErrorKind::ExpiredSignature => "expired".into(),
        ErrorKind::InvalidAudience => "wrong audience (aud)".into(),
        ErrorKind::InvalidIssuer => "wrong issuer (iss)".into(),
        ErrorKind::InvalidSignature => "bad signature".into(),
        ErrorKind::InvalidAlgorithm => "wrong algorithm".into(),
        ErrorKind::MissingRequiredClaim(claim) => format!("missing claim {claim}"),
        ErrorKind::ImmatureSignature => "not valid yet (nbf)".into(),
        _ => "malformed".into(),
    }
}

/// A shared-secret token for `uid`, valid for `ttl` from now.
pub fn issue_token(secret: &str, uid: &str, ttl: Duration) -> Result<String, KeyError> {
    let iat = now_secs();
    let claims = Claims {
        sub: uid.to_string(),
        aud: SHARED_ISSUER.into(),
        iss: SHARED_ISSUER.into(),
        exp: iat + ttl.as_secs(),
        iat,
    };
    let key = EncodingKey::from_secret(secret.as_bytes()).map_err(|e| KeyError::Sign(e.to_string()))?;
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).map_err(|e| KeyError::Sign(e.to_string()))
}

/// Re-reads the signing keys of a JWKS URL every [`JWKS_REFRESH`]; a failed read keeps the
/// keys in use.
pub async fn refresh_keys(identity: Arc<Identity>, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(JWKS_REFRESH) => {}
            _ = shutdown.cancelled() => return,
        }
        let id = identity.clone();
        match tokio::task::spawn_blocking(move || id.refresh()).await {
            Ok(Ok(keys)) => tracing::info!(keys, "signing keys refreshed"),
            Ok(Err(e)) => tracing::warn!(error = %e, "refreshing signing keys failed; keeping the current ones"),
            Err(e) => tracing::warn!(error = %e, "refreshing signing keys failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "a classroom secret of at least thirty-two characters";

    fn shared() -> Identity {
        let settings = AuthSettings { mode: AuthMode::SharedSecret, secret: SECRET.into(), ..AuthSettings::default() };
        Identity::from_settings(&settings).unwrap()
    }

    fn sign(claims: &Claims, secret: &str) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(secret.as_bytes()).unwrap(),
        )
        .unwrap()
    }

    fn claims(uid: &str) -> Claims {
        let now = now_secs();
        Claims { sub: uid.into(), aud: SHARED_ISSUER.into(), iss: SHARED_ISSUER.into(), exp: now + 600, iat: now }
    }

    #[test]
    fn an_issued_token_acts_for_its_user_only() {
        let id = shared();
        let token = issue_token(SECRET, "alice", Duration::from_secs(60)).unwrap();
        assert_eq!(id.authorize(Some(&token), "alice"), Ok(()));
        assert_eq!(id.authorize(Some(&token), "bob"), Err(AuthError::WrongUser));
        assert_eq!(id.authorize(None, "alice"), Err(AuthError::Missing));
    }

    #[test]
    fn expired_wrong_audience_future_and_forged_tokens_are_invalid() {
        let id = shared();
        let expired = Claims { exp: now_secs() - 2 * CLOCK_SKEW_SECS, ..claims("alice") };
        let audience = Claims { aud: "someone-else".into(), ..claims("alice") };
        let future = Claims { iat: now_secs() + 10 * CLOCK_SKEW_SECS, ..claims("alice") };
        let empty = claims("");
        for (token, reason) in [
            (sign(&expired, SECRET), "expired"),
            (sign(&audience, SECRET), "audience"),
            (sign(&future, SECRET), "future"),
            (sign(&claims("alice"), "another secret, also long enough to be used"), "signature"),
            (sign(&empty, SECRET), "subject"),
            ("not.a.token".to_string(), "malformed"),
        ] {
            let uid = if reason == "subject" { "" } else { "alice" };
            match id.authorize(Some(&token), uid) {
                Err(AuthError::Invalid(why)) => assert!(why.contains(reason), "{reason}: {why}"),
                other => panic!("{reason}: {other:?}"),
            }
        }
    }

    #[test]
    fn open_mode_trusts_the_uid() {
        assert_eq!(Identity::open().authorize(None, "anyone"), Ok(()));
    }
}
