//! The browser pages as HTTP sees them: the desk and the console with every asset they load,
//! served from the binary, compressed, revalidated with 304, and `/` still JSON for the app.
//! (What the pages do in a browser is tested by tests/browser/run.)

mod common;

use common::*;
use flate2::read::GzDecoder;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::sync::OnceLock;
use std::time::Duration;

const CHROME_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8";
/// The budget of the issue: every asset of both pages, compressed, under 500 KB.
const ASSET_BUDGET: usize = 500 * 1024;

fn server() -> &'static TestServer {
    static SERVER: OnceLock<TestServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        let dir = Box::leak(Box::new(tempfile::tempdir().unwrap()));
        let config = format!("{SMALL_MARKET}\n[simulation]\nseed_days = 0.05\n");
        TestServer::start(&config, &dir.path().join("pages.duckdb"), 5)
    })
}

struct Answer {
    status: u16,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }

    fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("UTF-8 body")
    }
}

/// A request with the given headers; the body exactly as sent (not decompressed).
async fn request(method: &str, path: &str, headers: &[(&str, &str)]) -> Answer {
    let client = awc::Client::builder().timeout(Duration::from_secs(30)).finish();
    let mut request = client.request(method.parse().unwrap(), format!("{}{path}", server().base));
    for (name, value) in headers {
        request = request.insert_header((*name, *value));
    }
    let mut response = request.send().await.expect("request");
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .fold(BTreeMap::new(), |mut map: BTreeMap<String, String>, (k, v)| {
            map.entry(k).and_modify(|e| *e = format!("{e}, {v}")).or_insert(v);
            map
        });
    let body = response.body().limit(4 << 20).await.expect("body").to_vec();
    Answer { status: response.status().as_u16(), headers, body }
}

async fn get(path: &str) -> Answer {
    request("GET", path, &[]).await
}

/// The values of `attribute="..."` in a page.
fn attributes<'a>(page: &'a str, attribute: &str) -> Vec<&'a str> {
    let marker = format!("{attribute}=\"");
    page.match_indices(&marker)
        .map(|(i, _)| &page[i + marker.len()..])
        .map(|rest| &rest[..rest.find('"').unwrap()])
        .collect()
}

/// The modules a script imports (`from './x.js'`), as paths under `/web/`.
fn imports(script: &str, base: &str) -> Vec<String> {
    let dir = &base[..base.rfind('/').unwrap() + 1];
    script
        .match_indices(" from '")
        .map(|(i, _)| &script[i + 7..])
        .map(|rest| &rest[..rest.find('\'').unwrap()])
        .filter_map(|target| target.strip_prefix("./"))
        .map(|target| format!("{dir}{target}"))
        .collect()
}

/// Every local asset a page loads, directly or through module imports.
async fn assets_of(page: &str) -> BTreeSet<String> {
    let html = get(page).await.text();
    let mut todo: Vec<String> =
        attributes(&html, "src").into_iter().chain(attributes(&html, "href")).map(String::from).collect();
    let mut seen = BTreeSet::new();
    while let Some(path) = todo.pop() {
        if !path.starts_with("/web/") || !seen.insert(path.clone()) {
            continue;
        }
        if path.ends_with(".js") || path.ends_with(".mjs") {
            todo.extend(imports(&get(&path).await.text(), &path));
        }
    }
    seen
}

#[actix_web::test]
async fn the_desk_and_the_console_load_only_local_assets_with_their_types() {
    for page in ["/desk", "/teacher"] {
        let answer = get(page).await;
        assert_eq!(answer.status, 200, "{page}");
        assert!(answer.header("content-type").starts_with("text/html"), "{page}");
        assert!(answer.header("content-security-policy").contains("default-src 'self'"), "{page}");
        let html = answer.text();
        for attribute in ["src", "href"] {
            for url in attributes(&html, attribute) {
                assert!(url.starts_with('/'), "{page} loads {url} from elsewhere");
            }
        }
        let assets = assets_of(page).await;
        assert!(assets.contains("/web/vendor/lightweight-charts.mjs") || page == "/teacher", "{assets:?}");
        for asset in &assets {
            let answer = get(asset).await;
            assert_eq!(answer.status, 200, "{asset}");
            let expected = match asset.rsplit('.').next().unwrap() {
                "js" | "mjs" => "text/javascript",
                "css" => "text/css",
                "txt" => "text/plain",
                "svg" => "image/svg+xml",
                other => panic!("unexpected asset type {other}"),
            };
            assert!(answer.header("content-type").starts_with(expected), "{asset}: {:?}", answer.headers);
            assert_eq!(answer.header("x-content-type-options"), "nosniff");
        }
    }
    let missing = get("/web/nothing-here.js").await;
    assert_eq!(missing.status, 404);
    let body: Value = serde_json::from_slice(&missing.body).unwrap();
    assert_string(&body, "detail");
}

#[actix_web::test]
async fn assets_are_compressed_when_accepted_revalidated_and_within_budget() {
    let mut total = 0;
    let pages = ["/desk", "/teacher"];
    let mut everything: BTreeSet<String> = pages.iter().map(|p| p.to_string()).collect();
    for page in pages {
        everything.extend(assets_of(page).await);
    }
    for path in &everything {
        let plain = get(path).await;
        assert_eq!(plain.header("content-encoding"), "", "{path} compressed without being asked");
        let gzip = request("GET", path, &[("Accept-Encoding", "gzip, deflate, br")]).await;
        assert_eq!(gzip.status, 200);
        assert_eq!(gzip.header("content-encoding"), "gzip", "{path}");
        assert!(gzip.header("vary").contains("Accept-Encoding"), "{path}");
        let mut unpacked = Vec::new();
        GzDecoder::new(&gzip.body[..]).read_to_end(&mut unpacked).expect("valid gzip");
        assert_eq!(unpacked, plain.body, "{path}: the compressed body is the same file");
        total += gzip.body.len();

        let etag = gzip.header("etag").to_string();
        assert!(etag.starts_with("W/\""), "{path}: {etag}");
        assert_eq!(gzip.header("cache-control"), "no-cache");
        let again = request("GET", path, &[("If-None-Match", &etag), ("Accept-Encoding", "gzip")]).await;
        assert_eq!(again.status, 304, "{path}");
        assert!(again.body.is_empty());
        let stale = request("GET", path, &[("If-None-Match", "W/\"0000\"")]).await;
        assert_eq!(stale.status, 200, "{path}");
    }
    println!("compressed assets of the desk and the console: {total} bytes");
    assert!(total < ASSET_BUDGET, "{total} bytes of compressed assets");
}

#[actix_web::test]
async fn the_root_is_the_desk_for_a_browser_and_json_for_everyone_else() {
    let browser = request("GET", "/", &[("Accept", CHROME_ACCEPT)]).await;
    assert_eq!(browser.status, 200);
    assert!(browser.header("content-type").starts_with("text/html"));
    assert!(browser.text().contains("/web/desk.js"));
    assert!(browser.header("vary").contains("Accept"));

    for accept in [None, Some("*/*"), Some("application/json"), Some("application/json, text/html")] {
        let headers: Vec<(&str, &str)> = accept.map(|a| ("Accept", a)).into_iter().collect();
        let answer = request("GET", "/", &headers).await;
        assert_eq!(answer.status, 200, "{accept:?}");
        assert!(answer.header("content-type").starts_with("application/json"), "{accept:?}");
        let body: Value = serde_json::from_slice(&answer.body).unwrap();
        assert_eq!(body, serde_json::json!({"status": "healthy"}), "{accept:?}");
    }
    let head = request("HEAD", "/", &[("Accept", CHROME_ACCEPT)]).await;
    assert_eq!(head.status, 200);
    assert!(head.header("content-type").starts_with("application/json"), "{:?}", head.headers);
    assert!(head.body.is_empty());
}

#[actix_web::test]
async fn the_session_config_names_the_identity_mode() {
    let config = server().get_ok("/api/v1/session/config").await;
    assert_eq!(config, serde_json::json!({"identity_mode": "open", "admin_routes": false}));

    let dir = tempfile::tempdir().unwrap();
    let secret = "[auth]\nmode = \"shared-secret\"\nsecret = \"a classroom secret of thirty-two characters or more\"\n";
    let admin = "[admin]\ntoken = \"an admin token of thirty-two characters or more\"\n";
    let settings = format!("{SMALL_MARKET}\n[simulation]\nseed_days = 0.05\n{secret}{admin}");
    let other = TestServer::start(&settings, &dir.path().join("secret.duckdb"), 6);
    let config = other.get_ok("/api/v1/session/config").await;
    assert_eq!(config, serde_json::json!({"identity_mode": "shared-secret", "admin_routes": true}));
    other.stop();
}
