//! Identity modes and the admin guard, with keys and tokens made here and now.

mod common;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use futures_util::SinkExt;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::{Generate, PrivateKey};
use serde_json::{Value, json};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio_tungstenite::tungstenite::Message;

const SECRET: &str = "the classroom secret, thirty-two characters or more";
const ADMIN: &str = "an admin token that nobody will guess, 32+ chars";
const PROJECT: &str = "finlearn-test";

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn order(uid: &str) -> Value {
    json!({"firebase_uid": uid, "symbol": "AAPL", "side": "buy", "quantity": 1, "market": "usa"})
}

fn config(auth: &str) -> String {
    format!("{SMALL_MARKET}\n[simulation]\nseed_days = 0.05\n{auth}")
}

#[actix_web::test]
async fn shared_secret_tokens_from_the_token_command_act_for_their_user_only() {
    let dir = tempfile::tempdir().unwrap();
    let auth = format!("[auth]\nmode = \"shared-secret\"\nsecret = \"{SECRET}\"\n");
    let file = dir.path().join("auth.toml");
    std::fs::write(&file, &auth).unwrap();
    let issued = std::process::Command::new(env!("CARGO_BIN_EXE_finlearn"))
        .args(["token", "--uid", "alice", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(issued.status.success(), "{}", String::from_utf8_lossy(&issued.stderr));
    let token = String::from_utf8(issued.stdout).unwrap().trim().to_string();

    let s = TestServer::start(&config(&auth), &dir.path().join("shared.duckdb"), 1);
    let (status, body) = call(&s, "GET", "/api/v1/portfolio/positions/alice", None, None).await;
    assert_eq!(status, 401, "{body}");
    assert_string(&body, "detail");
    assert_eq!(call(&s, "GET", "/api/v1/portfolio/positions/alice", Some("garbage"), None).await.0, 401);
    assert_eq!(call(&s, "GET", "/api/v1/portfolio/positions/alice", Some(&token), None).await.0, 200);
    assert_eq!(call(&s, "GET", "/api/v1/portfolio/positions/bob", Some(&token), None).await.0, 403);
    assert_eq!(call(&s, "POST", "/api/v1/orders/place", Some(&token), Some(order("alice"))).await.0, 200);
    assert_eq!(call(&s, "POST", "/api/v1/orders/place", Some(&token), Some(order("bob"))).await.0, 403);
    assert_eq!(call(&s, "POST", "/api/v1/portfolio/watchlist/bob/AAPL", Some(&token), None).await.0, 403);
    // Market data stays public.
    assert_eq!(call(&s, "GET", "/api/v1/market/quote/AAPL", None, None).await.0, 200);
    s.stop();
}

fn shared_secret_token(uid: &str) -> String {
    finlearn::auth::issue_token(SECRET, uid, Duration::from_secs(600)).unwrap()
}

/// Sends one client frame and returns its acknowledgement (the next system frame).
async fn ask(socket: &mut Socket, message: Value) -> Value {
    socket.send(Message::text(message.to_string())).await.unwrap();
    next_of_type(socket, "system").await
}

#[actix_web::test]
async fn order_events_on_the_stream_need_the_users_own_token_when_identity_is_on() {
    let dir = tempfile::tempdir().unwrap();
    let auth = format!("[auth]\nmode = \"shared-secret\"\nsecret = \"{SECRET}\"\n");
    let s = TestServer::start(&config(&auth), &dir.path().join("stream.duckdb"), 5);
    let (alice, bob) = (shared_secret_token("alice"), shared_secret_token("bob"));
    let mut socket = connect(&s.ws).await;
    next_json(&mut socket, 10).await; // hello
    assert_eq!(ask(&mut socket, json!({"action": "unsubscribe", "symbols": ["*"]})).await["event"], "unsubscribed");

    let refused = [
        ("no token", json!({"action": "subscribe_orders", "firebase_uid": "alice"}), "needs the user's token"),
        (
            "garbage",
            json!({"action": "subscribe_orders", "firebase_uid": "alice", "token": "garbage"}),
            "Invalid token",
        ),
        (
            "another user's token",
            json!({"action": "subscribe_orders", "firebase_uid": "alice", "token": bob}),
            "does not belong to this user",
        ),
    ];
    for (case, message, reason) in refused {
        let answer = ask(&mut socket, message).await;
        assert_eq!(answer["event"], "error", "{case}: {answer}");
        assert!(answer["message"].as_str().unwrap().contains(reason), "{case}: {answer}");
    }
    // A refused subscription follows nobody: alice's order is not shown before the next answer.
    assert_eq!(call(&s, "POST", "/api/v1/orders/place", Some(&alice), Some(order("alice"))).await.0, 200);
    socket.send(Message::text(json!({"action": "unsubscribe", "symbols": ["*"]}).to_string())).await.unwrap();
    loop {
        let frame = next_json(&mut socket, 10).await;
        assert_ne!(frame["type"], "order", "no subscription was accepted: {frame}");
        if frame["type"] == "system" {
            break;
        }
    }
    let answer = ask(&mut socket, json!({"action": "subscribe_orders", "firebase_uid": "alice", "token": alice})).await;
    assert_eq!((answer["event"].as_str(), answer["firebase_uid"].as_str()), (Some("subscribed_orders"), Some("alice")));

    // With her own token, alice's orders arrive once committed, and bob's do not.
    assert_eq!(call(&s, "POST", "/api/v1/orders/place", Some(&bob), Some(order("bob"))).await.0, 200);
    let sell = json!({"firebase_uid": "alice", "symbol": "AAPL", "side": "sell", "quantity": 1, "market": "usa"});
    let (status, placed) = call(&s, "POST", "/api/v1/orders/place", Some(&alice), Some(sell)).await;
    assert_eq!(status, 200, "{placed}");
    loop {
        let event = next_of_type(&mut socket, "order").await;
        assert_eq!((event["event"].as_str(), event["order"]["firebase_uid"].as_str()), (Some("fill"), Some("alice")));
        if event["order"]["order_id"] == placed["order_id"] {
            assert_eq!(event["order"]["side"], "sell");
            break;
        }
    }
    s.stop();
}

/// An RSA key as Firebase would publish it, with the means to sign tokens for it.
struct SigningKey {
    kid: &'static str,
    encoding: EncodingKey,
    jwk: Value,
}

fn signing_key(kid: &'static str) -> SigningKey {
    let key = PrivateKey::generate();
    let der = key.to_pkcs1_der().unwrap();
    let jwk = json!({
        "kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid,
        "n": URL_SAFE_NO_PAD.encode(key.n_bytes()), "e": URL_SAFE_NO_PAD.encode(key.e_bytes()),
    });
    SigningKey { kid, encoding: EncodingKey::from_rsa_der(der.as_bytes()), jwk }
}

fn firebase_token(key: &SigningKey, claims: Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(key.kid.to_string());
    jsonwebtoken::encode(&header, &claims, &key.encoding).unwrap()
}

fn claims(sub: &str) -> Value {
    json!({"sub": sub, "aud": PROJECT, "iss": format!("https://securetoken.google.com/{PROJECT}"), "iat": now() - 10, "exp": now() + 3_600})
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

#[actix_web::test]
async fn firebase_id_tokens_are_verified_offline_against_a_jwks_file() {
    let dir = tempfile::tempdir().unwrap();
    let published = signing_key("key-1");
    let impostor = signing_key("key-1"); // same kid, different key: a forged signature
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, json!({"keys": [published.jwk]}).to_string()).unwrap();
    let auth =
        format!("[auth]\nmode = \"firebase\"\nfirebase_project_id = \"{PROJECT}\"\njwks = \"{}\"\n", jwks.display());
    let s = TestServer::start(&config(&auth), &dir.path().join("firebase.duckdb"), 2);
    let path = "/api/v1/portfolio/positions/student-1";

    let valid = firebase_token(&published, claims("student-1"));
    assert_eq!(call(&s, "GET", path, Some(&valid), None).await.0, 200);
    assert_eq!(call(&s, "POST", "/api/v1/orders/place", Some(&valid), Some(order("student-1"))).await.0, 200);

    let refused = [
        ("expired", firebase_token(&published, with(claims("student-1"), "exp", json!(now() - 600))), 401),
        ("wrong audience", firebase_token(&published, with(claims("student-1"), "aud", json!("another-project"))), 401),
        (
            "wrong issuer",
            firebase_token(&published, with(claims("student-1"), "iss", json!("https://evil.example"))),
            401,
        ),
        (
            "issued in the future",
            firebase_token(&published, with(claims("student-1"), "iat", json!(now() + 3_600))),
            401,
        ),
        ("wrong signature", firebase_token(&impostor, claims("student-1")), 401),
        ("unknown key", firebase_token(&signing_key("key-9"), claims("student-1")), 401),
        ("empty subject", firebase_token(&published, claims("")), 401),
        ("another user", firebase_token(&published, claims("student-2")), 403),
    ];
    for (case, token, expected) in refused {
        let (status, body) = call(&s, "GET", path, Some(&token), None).await;
        assert_eq!(status, expected, "{case}: {body}");
        assert_string(&body, "detail");
    }
    // An HS256 token signed with the public key's bytes (algorithm confusion) is refused too.
    let confused = jsonwebtoken::encode(
        &Header { kid: Some("key-1".into()), ..Header::new(Algorithm::HS256) },
        &claims("student-1"),
        &EncodingKey::from_secret(published.jwk["n"].as_str().unwrap().as_bytes()).unwrap(),
    )
    .unwrap();
    assert_eq!(call(&s, "GET", path, Some(&confused), None).await.0, 401);
    s.stop();
}

#[actix_web::test]
async fn admin_routes_are_off_without_a_token_and_guarded_with_one() {
    let dir = tempfile::tempdir().unwrap();
    let off = TestServer::start(&config(""), &dir.path().join("no-admin.duckdb"), 3);
    assert_eq!(call(&off, "GET", "/api/v1/admin/status", Some(ADMIN), None).await.0, 404);
    off.stop();

    let on =
        TestServer::start(&config(&format!("[admin]\ntoken = \"{ADMIN}\"\n")), &dir.path().join("admin.duckdb"), 3);
    assert_eq!(call(&on, "GET", "/api/v1/admin/status", None, None).await.0, 401);
    assert_eq!(call(&on, "GET", "/api/v1/admin/status", Some("not the admin token"), None).await.0, 403);
    call(&on, "POST", "/api/v1/orders/place", None, Some(order("carol"))).await;
    let (status, body) = call(&on, "GET", "/api/v1/admin/status", Some(ADMIN), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["instruments"].as_u64(), body["users"].as_u64(), body["orders"].as_u64()),
        (Some(5), Some(1), Some(1))
    );
    on.stop();
}

/// In open mode anyone may read any UID, so a read must not write: a user is registered by
/// their first order or watchlist change, and a never-seen user reads as the opening state.
#[actix_web::test]
async fn in_open_mode_reads_register_nobody_and_the_first_write_does() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start(&config(&format!("[admin]\ntoken = \"{ADMIN}\"\n")), &dir.path().join("reads.duckdb"), 4);
    let users = |body: Value| body["users"].as_u64();
    for uid in ["reader-1", "reader-2", "reader-3"] {
        let (status, body) = call(&s, "GET", &format!("/api/v1/portfolio/positions/{uid}"), None, None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["balances"], json!({"india": 10000.0, "usa": 10000.0, "uk": 10000.0}));
        assert_eq!(body["positions"], json!([]));
        let (status, body) = call(&s, "GET", &format!("/api/v1/portfolio/orders/{uid}"), None, None).await;
        assert_eq!((status, body), (200, json!([])));
        let (status, body) = call(&s, "GET", &format!("/api/v1/portfolio/watchlist/{uid}"), None, None).await;
        assert_eq!((status, body), (200, json!({"symbols": []})));
        let (status, body) = call(&s, "GET", &format!("/api/v1/orders/{uid}?status=all"), None, None).await;
        assert_eq!((status, body), (200, json!([])));
    }
    assert_eq!(users(call(&s, "GET", "/api/v1/admin/status", Some(ADMIN), None).await.1), Some(0));

    assert_eq!(call(&s, "POST", "/api/v1/portfolio/watchlist/reader-1/AAPL", None, None).await.0, 200);
    assert_eq!(call(&s, "POST", "/api/v1/orders/place", None, Some(order("reader-2"))).await.0, 200);
    assert_eq!(users(call(&s, "GET", "/api/v1/admin/status", Some(ADMIN), None).await.1), Some(2));
    s.stop();

    // The registrations are in the file; the reads left nothing behind.
    let s = TestServer::start(&config(&format!("[admin]\ntoken = \"{ADMIN}\"\n")), &dir.path().join("reads.duckdb"), 4);
    assert_eq!(users(call(&s, "GET", "/api/v1/admin/status", Some(ADMIN), None).await.1), Some(2));
    s.stop();
}
