//! Forward authentication (SPEC §16.2): `GET /api/auth/verify` for a reverse proxy's
//! `auth_request`, the sign-in page's return to a listed tool, the session cookie over a
//! domain, and Debian's nginx in front of a tool.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

use serde_json::{Value, json};

use crate::helpers::*;

async fn verify(app: &TestApp, query: &str, auth: Option<(&str, &str)>) -> reqwest::Response {
    let mut r = app.client.get(app.url(&format!("/api/auth/verify{query}")));
    if let Some((k, v)) = auth {
        r = r.header(k, v);
    }
    r.send().await.unwrap()
}

fn header(res: &reqwest::Response, name: &str) -> String {
    res.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("no {name}"))
}

#[tokio::test]
async fn verify_answers_who_is_signed_in_and_refuses_everyone_else() {
    let app = spawn_with(|c| c.global_api_key = Some("a-legacy-key-for-scripts".into())).await;
    let admin = app.admin().await;
    let res = verify(&app, "", None).await;
    assert_error(res, 401, "NO_CREDENTIALS").await;

    let bearer = format!("Bearer {}", admin.jwt);
    let res = verify(&app, "", Some(("Authorization", &bearer))).await;
    assert_eq!(res.status(), 204);
    assert_eq!(
        header(&res, "x-labgate-user"),
        admin.body["user"]["id"].as_str().unwrap()
    );
    assert_eq!(
        header(&res, "x-labgate-email"),
        admin.body["user"]["email"].as_str().unwrap()
    );
    assert_eq!(header(&res, "x-labgate-tenant"), "default");
    let caps = header(&res, "x-labgate-capabilities");
    assert!(caps.split(',').any(|c| c == "admin.users"), "{caps}");

    // The session cookie alone, as a browser sends it through the proxy.
    let cookie = admin.cookie_header();
    let res = verify(&app, "?require=admin.users", Some(("Cookie", &cookie))).await;
    assert_eq!(res.status(), 204);

    // A viewer lacks admin.users: 403; a capability that does not exist: 400.
    app.user_with_role("viewer@lab.example", "viewer", "default");
    let viewer = app.login("viewer@lab.example").await;
    let bearer = format!("Bearer {}", viewer.jwt);
    let res = verify(
        &app,
        "?require=admin.users",
        Some(("Authorization", &bearer)),
    )
    .await;
    assert_error(res, 403, "MISSING_CAPABILITY").await;
    let res = verify(
        &app,
        "?require=everything",
        Some(("Authorization", &bearer)),
    )
    .await;
    let body = assert_error(res, 400, "VALIDATION_ERROR").await;
    assert_eq!(body["details"][0]["field"], "require");
    let res = verify(&app, "?as=admin", Some(("Authorization", &bearer))).await;
    assert_error(res, 400, "VALIDATION_ERROR").await;
    let res = verify(&app, "", Some(("Authorization", &bearer))).await;
    assert_eq!(res.status(), 204);
    assert_eq!(
        header(&res, "x-labgate-capabilities"),
        "",
        "a viewer holds none"
    );

    // A key is no signed-in person.
    let res = verify(&app, "", Some(("X-API-Key", "a-legacy-key-for-scripts"))).await;
    assert_error(res, 401, "INVALID_TOKEN").await;

    // After sign-out the same cookie is refused.
    let res = app
        .client
        .post(app.url("/api/auth/logout"))
        .header("Cookie", &cookie)
        .header("x-csrf-token", &admin.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let res = verify(&app, "", Some(("Cookie", &cookie))).await;
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn the_sign_in_page_returns_only_to_listed_hosts() {
    let app = spawn_with(|c| c.forward_auth_hosts = vec!["wiki.lab.example".into()]).await;
    let page = |rd: &str| {
        let url = app.url(&format!(
            "/login?rd={}",
            percent_encoding::utf8_percent_encode(rd, percent_encoding::NON_ALPHANUMERIC)
        ));
        let client = app.client.clone();
        async move { client.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let html = page("https://wiki.lab.example:8443/page?id=7").await;
    assert!(
        html.contains(r#"data-rd="https://wiki.lab.example:8443/page?id=7""#),
        "{html}"
    );
    let html = page("http://WIKI.lab.example/").await;
    assert!(
        html.contains(r#"data-rd="http://wiki.lab.example/""#),
        "{html}"
    );
    for rd in [
        "https://evil.example/",
        "https://wiki.lab.example.evil.example/",
        "https://wiki.lab.example@evil.example/",
        "https://user:pw@wiki.lab.example/",
        "//wiki.lab.example/",
        "/console",
        "javascript:alert(1)",
        "data:text/html,x",
        "ftp://wiki.lab.example/",
    ] {
        let html = page(rd).await;
        assert!(!html.contains("data-rd"), "{rd} followed: {html}");
    }
    // Markup in a listed URL cannot leave the attribute.
    let html = page("https://wiki.lab.example/\"><script>alert(1)</script>").await;
    assert!(!html.contains("<script>alert"), "{html}");
    assert_eq!(
        html.matches("<script").count(),
        2,
        "only the page's own scripts (passkey.js, login.js)"
    );
}

#[tokio::test]
async fn the_session_cookie_covers_the_cookie_domain() {
    let app = spawn_with(|c| {
        c.public_url = "https://labgate.lab.example".into();
        c.cookie_domain = Some("lab.example".into());
    })
    .await;
    app.user_with_role("ops@lab.example", "admin", "default");
    let res = app
        .post_json(
            "/api/auth/login",
            json!({"email": "ops@lab.example", "password": PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let session = set_cookies(res.headers())
        .into_iter()
        .find(|c| c.starts_with("__Secure-labgate_session="))
        .expect("the session cookie, __Secure- named");
    assert!(session.contains("Domain=lab.example"), "{session}");
    assert!(
        session.contains("Secure") && session.contains("HttpOnly"),
        "{session}"
    );
    // The other cookies stay on labgate's own host.
    let others: Vec<String> = set_cookies(res.headers())
        .into_iter()
        .filter(|c| !c.starts_with("__Secure-labgate_session="))
        .collect();
    assert_eq!(others.len(), 2, "{others:?}");
    assert!(others.iter().all(|c| !c.contains("Domain=")), "{others:?}");
    let value = session.split(';').next().unwrap().to_string();
    let res = verify(&app, "", Some(("Cookie", &value))).await;
    assert_eq!(res.status(), 204);
}

#[test]
fn forward_settings_that_cannot_work_stop_the_start() {
    let dir = tempfile::tempdir().unwrap();
    for (envs, var) in [
        (
            vec![
                ("LABGATE_PUBLIC_URL", "https://labgate.lab.example"),
                ("LABGATE_COOKIE_DOMAIN", "other.example"),
            ],
            "LABGATE_COOKIE_DOMAIN",
        ),
        (
            vec![("LABGATE_FORWARD_AUTH_HOSTS", "https://wiki.lab.example")],
            "LABGATE_FORWARD_AUTH_HOSTS",
        ),
        (
            vec![("LABGATE_FORWARD_AUTH_HOSTS", "*.lab.example")],
            "LABGATE_FORWARD_AUTH_HOSTS",
        ),
    ] {
        let out = labgate_command()
            .current_dir(dir.path())
            .envs(envs)
            .arg("check")
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(var), "{err}");
    }
}

/// A lab tool behind the proxy: answers every request with the `X-Labgate-User` it was given.
fn tool() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut user = String::new();
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("x-labgate-user:") {
                    user = v.trim().to_string();
                }
            }
            let body = format!("tool page for {user}");
            let mut s = s;
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

/// Debian's nginx with `auth_request` against labgate, run from a temp directory and stopped
/// (by its PID) when dropped.
struct Nginx {
    child: std::process::Child,
    port: u16,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nginx(dir: &std::path::Path, labgate: u16, tool: u16) -> Option<Nginx> {
    let bin = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    let Some(bin) = bin else {
        // .ci/run installs nginx and sets LABGATE_CI, where its absence is a failure.
        assert!(
            std::env::var_os("LABGATE_CI").is_none(),
            "nginx is not installed (apt-get install nginx-light)"
        );
        eprintln!("nginx is not installed: the forward-auth proxy test is skipped");
        return None;
    };
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let d = dir.display();
    let conf = format!(
        r#"daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  server {{
    listen 127.0.0.1:{port};
    location = /_auth {{
      internal;
      proxy_pass http://127.0.0.1:{labgate}/api/auth/verify;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
    }}
    location = /_auth_admin {{
      internal;
      proxy_pass http://127.0.0.1:{labgate}/api/auth/verify?require=admin.users;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
    }}
    location /wiki/ {{
      auth_request /_auth;
      auth_request_set $lg_user $upstream_http_x_labgate_user;
      proxy_set_header X-Labgate-User $lg_user;
      proxy_pass http://127.0.0.1:{tool};
      error_page 401 = @signin;
    }}
    location /admin-tool/ {{
      auth_request /_auth_admin;
      auth_request_set $lg_user $upstream_http_x_labgate_user;
      proxy_set_header X-Labgate-User $lg_user;
      proxy_pass http://127.0.0.1:{tool};
      error_page 401 = @signin;
    }}
    location @signin {{
      return 302 http://127.0.0.1:{labgate}/login?rd=$scheme://$http_host$request_uri;
    }}
  }}
}}
"#
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf).unwrap();
    let child = std::process::Command::new(bin)
        .arg("-e")
        .arg(dir.join("error.log"))
        .arg("-c")
        .arg(&path)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Ready when it accepts; stopped by its guard whatever happens.
    let proxy = Nginx { child, port };
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(proxy);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    drop(proxy);
    panic!(
        "nginx did not start: {}",
        std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
    );
}

#[tokio::test]
async fn nginx_auth_request_protects_a_lab_tool() {
    let app = spawn_with(|c| c.forward_auth_hosts = vec!["127.0.0.1".into()]).await;
    let labgate: u16 = app.base.rsplit(':').next().unwrap().parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let tool = tool();
    let Some(proxy) = tokio::task::spawn_blocking({
        let dir = dir.path().to_path_buf();
        move || nginx(&dir, labgate, tool)
    })
    .await
    .unwrap() else {
        return;
    };
    let wiki = format!("http://127.0.0.1:{}/wiki/start", proxy.port);
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap();

    // Without a session: to the sign-in page, which offers the way back.
    let res = browser.get(&wiki).send().await.unwrap();
    assert_eq!(res.status(), 302);
    let signin = header(&res, "location");
    assert!(signin.starts_with(&app.url("/login?rd=")), "{signin}");
    let html = browser
        .get(&signin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(&format!(r#"data-rd="{wiki}""#)), "{html}");

    // Signed in (the cookie is the host's, whatever the port): the tool sees who it is.
    app.user_with_role("analyst@lab.example", "viewer", "default");
    let res = browser
        .post(app.url("/api/auth/login"))
        .json(&json!({"email": "analyst@lab.example", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let who: Value = res.json().await.unwrap();
    let res = browser.get(&wiki).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.text().await.unwrap(),
        format!("tool page for {}", who["user"]["id"].as_str().unwrap())
    );

    // A tool that needs admin.users refuses a viewer.
    let res = browser
        .get(format!("http://127.0.0.1:{}/admin-tool/", proxy.port))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);

    drop(proxy);
}
