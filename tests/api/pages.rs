//! The browser side: sign-in page, console, assets and the Swagger UI playground, all from the
//! binary with nothing loaded from elsewhere.

use serde_json::json;

use crate::helpers::*;

fn no_external_urls(body: &str) {
    for scheme in ["http://", "https://", "//cdn", "//unpkg"] {
        assert!(
            !body.contains(scheme),
            "a page refers outside the appliance: {scheme}"
        );
    }
}

#[tokio::test]
async fn the_sign_in_page_and_its_assets_are_self_contained() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/login")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("default-src 'none'")
            && csp.contains("script-src 'self'")
            && csp.contains("frame-ancestors 'none'")
    );
    let html = res.text().await.unwrap();
    assert!(html.contains("/api/auth/login") || html.contains("/assets/login.js"));
    no_external_urls(&html);
    assert!(
        html.contains(r#"href="/forgot-password""#),
        "a way out for a forgotten password"
    );
    for asset in [
        "login.js",
        "console.js",
        "account.js",
        "ui.js",
        "passkey.js",
        "labgate.css",
    ] {
        let res = app
            .client
            .get(app.url(&format!("/assets/{asset}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{asset}");
        no_external_urls(&res.text().await.unwrap());
    }
    assert_eq!(
        app.client
            .get(app.url("/assets/../../etc/passwd"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        app.client
            .get(app.url("/assets/secret.js"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test]
async fn the_console_needs_a_session_and_escapes_what_it_shows() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/console")).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/login");
    let res = app
        .client
        .get(app.url("/"))
        .header("cookie", "labgate_session=lgs_forged")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);

    let admin = app.admin().await;
    let uid = admin.body["user"]["id"].as_str().unwrap();
    app.send_json(
        reqwest::Method::PATCH,
        &format!("/api/admin/users/{uid}"),
        &admin.jwt,
        json!({"name": "<script>alert(1)</script>"}),
    )
    .await;
    let res = app
        .client
        .get(app.url("/console"))
        .header("cookie", admin.cookie_header())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().contains_key("content-security-policy"));
    let html = res.text().await.unwrap();
    assert!(
        !html.contains("<script>alert(1)</script>"),
        "names are escaped"
    );
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("data-caps=\"manage_exercises,manage_noise_logs,manage_api_keys,admin.users,admin.settings,audit.read\""));
    no_external_urls(&html);
}

#[tokio::test]
async fn the_playground_serves_swagger_ui_from_the_binary() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/api-playground"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 308);
    let res = app
        .client
        .get(app.url("/api-playground/"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("swagger-ui"));
    no_external_urls(&html);
    let init = app
        .client
        .get(app.url("/api-playground/swagger-initializer.js"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(init.contains("/api-docs/openapi.json"));
    let bundle = app
        .client
        .get(app.url("/api-playground/swagger-ui-bundle.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(bundle.status(), 200);
    assert_eq!(
        bundle.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert!(bundle.text().await.unwrap().contains("SwaggerUIBundle"));
    // Browsers get the stored gzip bytes; a client that takes none, the plain file.
    let gz = app
        .client
        .get(app.url("/api-playground/swagger-ui-bundle.js"))
        .header("accept-encoding", "gzip, deflate, br")
        .send()
        .await
        .unwrap();
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    assert_eq!(gz.headers()["vary"], "Accept-Encoding");
    let packed = gz.bytes().await.unwrap();
    let mut unpacked = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(&packed[..]),
        &mut unpacked,
    )
    .unwrap();
    assert!(unpacked.contains("SwaggerUIBundle"));
    assert!(packed.len() * 2 < unpacked.len(), "stored compressed");
    let refused = app
        .client
        .get(app.url("/api-playground/swagger-ui.css"))
        .header("accept-encoding", "*, gzip;q=0")
        .send()
        .await
        .unwrap();
    assert!(refused.headers().get("content-encoding").is_none());
    assert!(refused.text().await.unwrap().contains(".swagger-ui"));
    // Swagger UI never asks its public validator (or anything else) from the lab.
    assert!(init.contains("validatorUrl: null"), "{init}");
    let page = app
        .client
        .get(app.url("/api-playground/"))
        .send()
        .await
        .unwrap();
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("connect-src 'self'"),
        "{csp}"
    );
    let license = app
        .client
        .get(app.url("/api-playground/LICENSE"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        license.contains("Apache License"),
        "the bundled UI's license is served"
    );
    let missing = app
        .client
        .get(app.url("/api-playground/swagger-ui-bundle.js.map"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn the_mailed_links_open_pages_that_keep_the_token_in_the_browser() {
    let app = spawn_app().await;
    for (path, form, api) in [
        (
            "/forgot-password",
            r#"id="forgot""#,
            "/api/auth/forgot-password",
        ),
        (
            "/reset-password",
            r#"id="reset""#,
            "/api/auth/reset-password",
        ),
        ("/invite", r#"id="invite""#, "/api/auth/invite"),
    ] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let csp = res.headers()["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'none'"), "{path}: {csp}");
        assert_eq!(res.headers()["cache-control"], "no-store");
        let html = res.text().await.unwrap();
        assert!(html.contains(form), "{path}");
        assert!(
            html.contains(r#"<script src="/assets/account.js">"#),
            "{path}"
        );
        assert!(!html.contains("<script>"), "no inline script: {path}");
        no_external_urls(&html);
        let js = app
            .client
            .get(app.url("/assets/account.js"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(js.contains(api), "{api} posted by the page's script");
    }
    // The token is read from the fragment, which the browser never sends: the script takes it
    // from location.hash and posts it in a body.
    let js = app
        .client
        .get(app.url("/assets/account.js"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(js.contains("location.hash"));
    assert!(
        js.contains("history.replaceState"),
        "the spent token leaves the address bar"
    );
}

#[tokio::test]
async fn assets_are_cached_by_the_browser_until_an_upgrade_changes_them() {
    let app = spawn_app().await;
    for path in [
        "/assets/console.js",
        "/assets/labgate.css",
        "/api-playground/swagger-ui-bundle.js",
        "/api-playground/swagger-ui.css",
        "/api-playground/swagger-initializer.js",
    ] {
        let first = app
            .client
            .get(app.url(path))
            .header("accept-encoding", "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(first.status(), 200, "{path}");
        let tag = first.headers()["etag"].to_str().unwrap().to_string();
        assert!(tag.starts_with('"') && tag.len() == 29, "{path}: {tag}");
        assert_eq!(first.headers()["cache-control"], "no-cache");
        let full = first.bytes().await.unwrap().len();
        assert!(full > 0);
        // The same tag again: 304, no body.
        let again = app
            .client
            .get(app.url(path))
            .header("accept-encoding", "gzip")
            .header("if-none-match", &tag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{path}");
        assert_eq!(again.headers()["etag"].to_str().unwrap(), tag);
        assert!(again.bytes().await.unwrap().is_empty());
        // A tag of another build: the file.
        let other = app
            .client
            .get(app.url(path))
            .header("accept-encoding", "gzip")
            .header("if-none-match", "\"0123456789abcdef01234567\"")
            .send()
            .await
            .unwrap();
        assert_eq!(other.status(), 200, "{path}");
        assert_eq!(other.bytes().await.unwrap().len(), full);
    }
    // The plain and the compressed bundle are two representations with two tags.
    let tag_of = |enc: &'static str| {
        let c = app.client.clone();
        let url = app.url("/api-playground/swagger-ui-bundle.js");
        async move {
            let r = c
                .get(url)
                .header("accept-encoding", enc)
                .send()
                .await
                .unwrap();
            r.headers()["etag"].to_str().unwrap().to_string()
        }
    };
    assert_ne!(tag_of("gzip").await, tag_of("identity").await);
}
