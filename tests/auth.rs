//! An operator's story: an API key keeps strangers from making bins and
//! using the API, a bin password keeps strangers out of one bin, and
//! senders can still capture into every bin.

mod support;

use std::time::{Duration, Instant};

use hookscope::forward::{self, ForwardArgs};
use serde_json::{json, Value};
use support::recorder::Recorder;
use support::{Backend, TestApp};
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const KEY: &str = "s3cret-key";
const PASSWORD: &str = "hunter2";

async fn spawn_with_key(backend: Backend) -> TestApp {
    TestApp::spawn_with_backend(backend, |config| config.api_key = Some(KEY.to_owned())).await
}

/// `POST /token` with `settings`, sending `key` when given.
async fn create_bin(app: &TestApp, key: Option<&str>, settings: Value) -> reqwest::Response {
    let mut request = app.client.post(app.url("/token")).json(&settings);
    if let Some(key) = key {
        request = request.header("Api-Key", key);
    }
    request.send().await.expect("POST /token")
}

/// The id of the bin a `POST /token` answer describes.
async fn uuid_of(created: reqwest::Response) -> Uuid {
    created.json::<Value>().await.expect("bin")["uuid"]
        .as_str()
        .expect("uuid")
        .parse()
        .expect("uuid")
}

/// Asserts a 401 with the API's JSON error shape.
async fn assert_unauthorized_json(response: reqwest::Response) {
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.expect("JSON error");
    assert_eq!(body["error"], "unauthorized");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
}

/// The `name=value` part of a response's `Set-Cookie`, checking its flags.
fn session_cookie(response: &reqwest::Response) -> String {
    let set_cookie = response.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("SameSite=Lax"), "{set_cookie}");
    set_cookie.split(';').next().expect("pair").to_owned()
}

/// `POST /login` with `secret` in the form (add headers, then send).
fn login(app: &TestApp, secret: &str) -> reqwest::RequestBuilder {
    app.client
        .post(app.url("/login"))
        .form(&[("secret", secret)])
}

/// `bin`'s unlock form sent by a browser with `secret`.
async fn unlock(app: &TestApp, bin: Uuid, secret: &str) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/unlock/{bin}")))
        .header("Accept", "text/html")
        .form(&[("secret", secret)])
        .send()
        .await
        .expect("POST /unlock")
}

/// Asserts a 429 whose `Retry-After` is within the minute being counted.
fn assert_refused_for_the_minute(refused: &reqwest::Response) {
    assert_eq!(refused.status(), 429);
    let retry: u64 = refused.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry), "Retry-After: {retry}");
}

/// A client whose connections come from 127.0.0.2: another address.
fn client_from_another_address() -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .expect("client")
}

/// Opens `/live/{bin}` with extra headers; the handshake's status.
async fn feed_status(app: &TestApp, bin: Uuid, headers: &[(&'static str, &str)]) -> u16 {
    let mut request = format!("ws://{}/live/{bin}", app.addr)
        .into_client_request()
        .expect("ws request");
    for (name, value) in headers {
        request
            .headers_mut()
            .insert(*name, HeaderValue::from_str(value).expect("header"));
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((_, response)) => response.status().as_u16(),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("websocket failed: {e}"),
    }
}

both_backends!(an_api_key_guards_the_api_and_bin_creation_but_not_capture);
async fn an_api_key_guards_the_api_and_bin_creation_but_not_capture(backend: Backend) {
    let app = spawn_with_key(backend).await;

    assert_unauthorized_json(create_bin(&app, None, json!({})).await).await;
    assert_unauthorized_json(create_bin(&app, Some("wrong"), json!({})).await).await;
    let created = create_bin(&app, Some(KEY), json!({})).await;
    assert_eq!(created.status(), 201);
    let bin: Value = created.json().await.expect("bin");
    let id = bin["uuid"].as_str().expect("uuid").to_owned();

    // Every API route, listen mode's answer included.
    let rid = Uuid::now_v7();
    for (method, path) in [
        ("GET", format!("/token/{id}")),
        ("PUT", format!("/token/{id}")),
        ("DELETE", format!("/token/{id}")),
        ("GET", format!("/token/{id}/requests")),
        ("DELETE", format!("/token/{id}/request")),
        ("GET", format!("/token/{id}/request/latest")),
        ("GET", format!("/token/{id}/request/{rid}/raw")),
        ("GET", format!("/token/{id}/request/{rid}/download/{rid}")),
        ("PUT", format!("/token/{id}/request/{rid}/response")),
        ("PUT", format!("/token/{id}/requests/{rid}/response")),
        ("GET", format!("/token/{id}/requests/export")),
    ] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let response = app
            .client
            .request(method.clone(), app.url(&path))
            .send()
            .await
            .expect("API call");
        assert_eq!(response.status(), 401, "{method} {path}");
    }
    let read = app
        .client
        .get(app.url(&format!("/token/{id}")))
        .header("Api-Key", KEY)
        .send()
        .await
        .expect("GET /token/{id}");
    assert_eq!(read.status(), 200);

    // Making a bin from a browser needs the key too.
    let new = app.client.post(app.url("/new")).send().await.expect("POST");
    assert_eq!(new.status(), 401);
    let home = app.get("/").await;
    assert_eq!(home.status(), 303);
    assert_eq!(home.headers()["location"], "/login");

    // Senders need nothing.
    let captured = app
        .post_to_bin(id.parse().expect("uuid"), "/hook", "hello")
        .await;
    assert_eq!(captured.status(), 200);
    app.stop().await;
}

both_backends!(a_browser_logs_in_once_and_then_gets_bins);
async fn a_browser_logs_in_once_and_then_gets_bins(backend: Backend) {
    let app = spawn_with_key(backend).await;

    let form = app.get("/login").await;
    assert_eq!(form.status(), 200);
    assert!(form.text().await.expect("page").contains("name=\"secret\""));

    let wrong = login(&app, "wrong")
        .header("Accept", "text/html")
        .send()
        .await
        .expect("POST /login");
    assert_eq!(wrong.status(), 401);
    assert!(wrong.text().await.expect("page").contains("Wrong API key"));

    let cross_site = login(&app, KEY)
        .header("Sec-Fetch-Site", "cross-site")
        .send()
        .await
        .expect("POST /login");
    assert_eq!(cross_site.status(), 403);

    let right = login(&app, KEY).send().await.expect("POST /login");
    assert_eq!(right.status(), 303);
    let cookie = session_cookie(&right);
    assert!(!cookie.contains(KEY), "the cookie must not hold the key");

    let home = app
        .client
        .get(app.url("/"))
        .header("Cookie", &cookie)
        .send()
        .await
        .expect("GET /");
    assert_eq!(home.status(), 303);
    let location = home.headers()["location"].to_str().expect("ascii");
    assert!(location.starts_with("/view/"), "{location}");

    let new = app
        .client
        .post(app.url("/new"))
        .header("Cookie", &cookie)
        .send()
        .await
        .expect("POST /new");
    assert_eq!(new.status(), 303);

    // A forged cookie is no login.
    let forged = app
        .client
        .post(app.url("/new"))
        .header("Cookie", "hookscope_key=AAAA")
        .header("Accept", "text/html")
        .send()
        .await
        .expect("POST /new");
    assert_eq!(forged.status(), 303);
    assert_eq!(forged.headers()["location"], "/login");
    app.stop().await;
}

both_backends!(a_bin_password_guards_its_api_pages_and_feed_but_not_capture);
async fn a_bin_password_guards_its_api_pages_and_feed_but_not_capture(app: TestApp) {
    let created = create_bin(&app, None, json!({ "password": PASSWORD })).await;
    assert_eq!(created.status(), 201);
    let text = created.text().await.expect("body");
    assert!(!text.contains("argon2"), "the hash must not leak: {text}");
    let bin: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(bin["password"], true);
    let id: Uuid = bin["uuid"].as_str().expect("uuid").parse().expect("uuid");

    // Stored hashed.
    let stored = match &app.pg {
        None => rusqlite::Connection::open(&app.db)
            .expect("db")
            .query_row("SELECT password_hash FROM bins WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .expect("row"),
        Some(pg) => pg
            .psql(&format!("SELECT password_hash FROM bins WHERE id = '{id}'"))
            .await
            .trim()
            .to_owned(),
    };
    assert!(stored.starts_with("$argon2id$"), "{stored}");

    let captured = app.post_to_bin(id, "", "hello").await;
    assert_eq!(captured.status(), 200);
    let rid = TestApp::request_id(&captured);

    let api = |path: String| app.client.get(app.url(&path));
    let stranger = api(format!("/token/{id}")).send().await.expect("GET");
    assert!(stranger.headers()["www-authenticate"]
        .to_str()
        .is_ok_and(|v| v.starts_with("Basic ")));
    assert_unauthorized_json(stranger).await;
    let wrong = api(format!("/token/{id}/requests"))
        .header("X-Bin-Password", "nope")
        .send()
        .await
        .expect("GET");
    assert_unauthorized_json(wrong).await;
    let by_header = api(format!("/token/{id}/request/{rid}/raw"))
        .header("X-Bin-Password", PASSWORD)
        .send()
        .await
        .expect("GET");
    assert_eq!(by_header.status(), 200);
    assert_eq!(by_header.text().await.expect("raw"), "hello");
    let by_basic = api(format!("/token/{id}/requests"))
        .basic_auth("anyone", Some(PASSWORD))
        .send()
        .await
        .expect("GET");
    assert_eq!(by_basic.status(), 200);

    // Dashboard pages show the password form to browsers.
    for path in [
        format!("/view/{id}"),
        format!("/view/{id}/{rid}/body"),
        format!("/view/{id}/export.json"),
        format!("/view/{id}/export.har"),
        format!("/view/{id}/settings"),
    ] {
        let page = api(path.clone())
            .header("Accept", "text/html")
            .send()
            .await
            .expect("GET");
        assert_eq!(page.status(), 401, "{path}");
        let html = page.text().await.expect("page");
        assert!(html.contains(&format!("action=\"/unlock/{id}\"")), "{path}");
        assert!(!html.contains("hello"), "{path}");
    }
    for path in [
        format!("/view/{id}/clear"),
        format!("/view/{id}/{rid}/delete"),
    ] {
        let post = app.client.post(app.url(&path)).send().await.expect("POST");
        assert_eq!(post.status(), 401, "{path}");
    }

    assert_eq!(feed_status(&app, id, &[]).await, 401);
    assert_eq!(
        feed_status(&app, id, &[("x-bin-password", "nope")]).await,
        401
    );
    assert_eq!(
        feed_status(&app, id, &[("x-bin-password", PASSWORD)]).await,
        101
    );
    app.stop().await;
}

both_backends!(the_unlock_form_lets_a_browser_in_until_the_password_changes);
async fn the_unlock_form_lets_a_browser_in_until_the_password_changes(app: TestApp) {
    let created = create_bin(&app, None, json!({ "password": PASSWORD })).await;
    let id: Uuid = uuid_of(created).await;

    let wrong = unlock(&app, id, "nope").await;
    assert_eq!(wrong.status(), 401);
    assert!(wrong.text().await.expect("page").contains("Wrong password"));
    let right = unlock(&app, id, PASSWORD).await;
    assert_eq!(right.status(), 303);
    assert_eq!(
        right.headers()["location"].to_str().expect("ascii"),
        format!("/view/{id}")
    );
    let cookie = session_cookie(&right);
    assert!(!cookie.contains(PASSWORD));

    let view = |cookie: String| {
        app.client
            .get(app.url(&format!("/view/{id}")))
            .header("Accept", "text/html")
            .header("Cookie", cookie)
            .send()
    };
    assert_eq!(view(cookie.clone()).await.expect("GET").status(), 200);
    assert_eq!(feed_status(&app, id, &[("cookie", &cookie)]).await, 101);

    // A new password logs the browser out; removing it opens the bin.
    let changed = app
        .client
        .put(app.url(&format!("/token/{id}")))
        .header("X-Bin-Password", PASSWORD)
        .json(&json!({ "password": "another" }))
        .send()
        .await
        .expect("PUT");
    assert_eq!(changed.status(), 200);
    assert_eq!(view(cookie.clone()).await.expect("GET").status(), 401);
    let removed = app
        .client
        .put(app.url(&format!("/token/{id}")))
        .header("X-Bin-Password", "another")
        .json(&json!({ "password": null }))
        .send()
        .await
        .expect("PUT");
    assert_eq!(
        removed.json::<Value>().await.expect("bin")["password"],
        false
    );
    assert_eq!(view(String::new()).await.expect("GET").status(), 200);
    app.stop().await;
}

both_backends!(the_settings_form_sets_a_password_and_keeps_its_browser_in);
async fn the_settings_form_sets_a_password_and_keeps_its_browser_in(app: TestApp) {
    let bin = app.new_bin().await;
    let saved = app
        .client
        .post(app.url(&format!("/view/{bin}/settings")))
        .form(&[
            ("default_status", "200"),
            ("default_content_type", "text/plain"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .expect("POST settings");
    assert_eq!(saved.status(), 303);
    let cookie = session_cookie(&saved);

    let stranger = app.get(&format!("/token/{bin}")).await;
    assert_eq!(stranger.status(), 401);
    let own = app
        .client
        .get(app.url(&format!("/view/{bin}/settings")))
        .header("Cookie", &cookie)
        .send()
        .await
        .expect("GET settings");
    assert_eq!(own.status(), 200);
    assert!(own.text().await.expect("page").contains("remove_password"));
    app.stop().await;
}

both_backends!(a_listening_forwarder_with_the_key_and_bin_password_answers_for_the_local_app);
async fn a_listening_forwarder_with_the_key_and_bin_password_answers_for_the_local_app(
    backend: Backend,
) {
    let app = TestApp::spawn_with_backend(backend, |config| {
        config.api_key = Some(KEY.to_owned());
        config.answer_wait_secs = 10;
    })
    .await;
    let created = create_bin(&app, Some(KEY), json!({ "password": PASSWORD })).await;
    let bin: Uuid = uuid_of(created).await;
    let answer: &[u8] =
        b"HTTP/1.1 201 Created\r\nContent-Length: 5\r\nConnection: close\r\n\r\nlocal";
    let mut target =
        Recorder::start_answering("127.0.0.1:0".parse().expect("addr"), Duration::ZERO, answer)
            .await;
    let shutdown = CancellationToken::new();
    let args = ForwardArgs {
        url: app.url(&format!("/{bin}")),
        target: format!("http://{}/", target.addr),
        quiet: true,
        json: false,
        retries: 0,
        replay: Vec::new(),
        since: None,
        api_key: Some(KEY.to_owned()),
        bin_password: Some(PASSWORD.to_owned()),
        timeout: 10,
        relay_answers: true,
    };
    let forwarder = tokio::spawn(forward::forward(args, shutdown.clone(), |_| {}));
    let deadline = Instant::now() + Duration::from_secs(15);
    while !app.state.pending.has_answerer(bin) {
        assert!(Instant::now() < deadline, "the forwarder never listened");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let response = app.post_to_bin(bin, "", "charge").await;
    assert_eq!(response.status(), 201, "the local app's answer came back");
    assert_eq!(response.text().await.expect("body"), "local");
    assert!(!target.next().await.is_empty());

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(15), forwarder)
        .await
        .expect("the forwarder stops")
        .expect("forwarder task")
        .expect("the forwarder ended cleanly");
    app.stop().await;
}

both_backends!(wrong_passwords_from_one_address_are_cut_off_before_a_guess_gets_in);
async fn wrong_passwords_from_one_address_are_cut_off_before_a_guess_gets_in(backend: Backend) {
    let app = TestApp::spawn_with_backend(backend, |config| {
        config.password_failures_per_minute_per_ip = 3
    })
    .await;
    let created = create_bin(&app, None, json!({ "password": PASSWORD })).await;
    let id: Uuid = uuid_of(created).await;
    let read = |client: &reqwest::Client, password: &str| {
        client
            .get(app.url(&format!("/token/{id}")))
            .header("X-Bin-Password", password)
            .send()
    };
    for _ in 0..3 {
        assert_eq!(read(&app.client, "guess").await.expect("GET").status(), 401);
    }
    // Past the limit even the right password is not checked...
    assert_refused_for_the_minute(&read(&app.client, PASSWORD).await.expect("GET"));
    assert_eq!(unlock(&app, id, PASSWORD).await.status(), 429);

    // ...while another address still gets in, and captures stay open.
    let other = client_from_another_address();
    assert_eq!(read(&other, PASSWORD).await.expect("GET").status(), 200);
    assert_eq!(
        app.post_to_bin(id, "", "still captured").await.status(),
        200
    );
}

both_backends!(wrong_api_keys_from_one_address_are_cut_off_too);
async fn wrong_api_keys_from_one_address_are_cut_off_too(backend: Backend) {
    let app = TestApp::spawn_with_backend(backend, |config| {
        config.api_key = Some(KEY.to_owned());
        config.password_failures_per_minute_per_ip = 3;
    })
    .await;
    // Asking without a key is no guess: it does not count...
    for _ in 0..5 {
        assert_unauthorized_json(create_bin(&app, None, json!({})).await).await;
    }
    // ...wrong keys do.
    for _ in 0..3 {
        assert_unauthorized_json(create_bin(&app, Some("guess"), json!({})).await).await;
    }
    assert_refused_for_the_minute(&create_bin(&app, Some(KEY), json!({})).await);
    let refused = login(&app, KEY)
        .header("Accept", "text/html")
        .send()
        .await
        .expect("POST /login");
    assert_eq!(refused.status(), 429);

    let other = client_from_another_address();
    let created = other
        .post(app.url("/token"))
        .header("Api-Key", KEY)
        .json(&json!({}))
        .send()
        .await
        .expect("POST /token");
    assert!(created.status().is_success(), "{}", created.status());
    let bin = uuid_of(created).await;
    assert_eq!(
        app.post_to_bin(bin, "", "still captured").await.status(),
        200
    );
}

both_backends!(an_unlocked_browser_stays_in_across_a_restart);
async fn an_unlocked_browser_stays_in_across_a_restart(app: TestApp) {
    let id = uuid_of(create_bin(&app, None, json!({ "password": PASSWORD })).await).await;
    let unlocked = unlock(&app, id, PASSWORD).await;
    assert_eq!(unlocked.status(), 303);
    let cookie = session_cookie(&unlocked);

    let app = app.restart(|_| {}).await;
    let view = |cookie: &str| {
        app.client
            .get(app.url(&format!("/view/{id}")))
            .header("Accept", "text/html")
            .header("Cookie", cookie)
            .send()
    };
    assert_eq!(view(&cookie).await.expect("GET").status(), 200);
    assert_eq!(view("").await.expect("GET").status(), 401);
    app.stop().await;
}
