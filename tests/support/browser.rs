//! A real browser for tests: Debian's Chromium, headless, driven through
//! ChromeDriver (WebDriver) with fantoccini.
//!
//! `Browser::start()` runs `chromedriver` as a child process on a free port,
//! waits until it answers, and opens one session on a fresh profile. The
//! driver and every Chromium process it started are killed when the
//! `Browser` is dropped, also when a test panics.
//!
//! When Chromium or ChromeDriver is missing the test fails (in CI and
//! locally alike) and says what to install; it never skips silently.

use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::error::{CmdError, ErrorStatus};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

/// How long any one wait for the page may take before the test fails.
pub const PAGE_DEADLINE: Duration = Duration::from_secs(15);
/// How long ChromeDriver may take to answer its status endpoint.
const DRIVER_DEADLINE: Duration = Duration::from_secs(20);
/// How long creating a session (starting Chromium) may take.
const SESSION_DEADLINE: Duration = Duration::from_secs(45);
/// How often a condition in the page is checked while waiting for it.
pub const POLL: Duration = Duration::from_millis(50);
/// Longest console message kept (a payload can be megabytes).
const MESSAGE_CHARS: usize = 500;

pub struct Browser {
    pub client: Client,
    driver: Driver,
    // Dropped after the driver: the profile directory outlives Chromium.
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts ChromeDriver and a headless Chromium session. Session creation
    /// is tried twice: Chromium's first start on a busy machine can time out.
    pub async fn start() -> Self {
        Self::launch(Scripts::On).await
    }

    /// A browser with JavaScript turned off, as some visitors have it.
    pub async fn start_without_javascript() -> Self {
        Self::launch(Scripts::Off).await
    }

    async fn launch(scripts: Scripts) -> Self {
        let programs = Programs::find();
        let mut failures = Vec::new();
        for _attempt in 0..2 {
            let driver = Driver::start(&programs.chromedriver).await;
            let profile = tempfile::tempdir().expect("temp dir for the Chromium profile");
            match driver
                .session(&programs.chromium, profile.path(), scripts)
                .await
            {
                Ok(client) => {
                    return Self {
                        client,
                        driver,
                        _profile: profile,
                    }
                }
                Err(e) => failures.push(format!("{e}\n--- chromedriver log ---\n{}", driver.log())),
            }
        }
        panic!(
            "could not start a Chromium session through ChromeDriver:\n{}",
            failures.join("\n\n")
        );
    }

    /// Ends the session (Chromium quits) and stops ChromeDriver.
    pub async fn quit(self) {
        let Self {
            client,
            driver,
            _profile,
        } = self;
        let _ = tokio::time::timeout(Duration::from_secs(10), client.close()).await;
        drop(driver);
    }

    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("opening {url}: {e}"));
    }

    /// Waits until the dashboard's live feed is connected (its indicator
    /// says so).
    pub async fn until_live(&self) {
        self.until(
            "the live indicator",
            "const s = document.getElementById('live-status');
             return s.textContent === 'live' && s.classList.contains('on');",
        )
        .await;
    }

    /// Opens `url` and waits until the page has loaded.
    pub async fn open(&self, url: &str) {
        self.goto(url).await;
        self.until(
            "the page to load",
            "return document.readyState === 'complete';",
        )
        .await;
    }

    /// Runs `script` (a function body: `return …;`) in the page.
    pub async fn eval(&self, script: &str) -> Value {
        self.eval_with(script, Vec::new()).await
    }

    /// Runs `script` with `arguments[0..]` bound to `args`.
    pub async fn eval_with(&self, script: &str, args: Vec<Value>) -> Value {
        match self.client.execute(script, args).await {
            Ok(value) => value,
            Err(e) => panic!(
                "script failed: {e}\nscript: {script}\nconsole:\n{}",
                self.console().await.join("\n")
            ),
        }
    }

    /// Runs `script` with a callback as its last argument and waits for
    /// the value the script passes to it.
    pub async fn eval_async(&self, script: &str) -> Value {
        match self.client.execute_async(script, Vec::new()).await {
            Ok(value) => value,
            Err(e) => panic!(
                "async script failed: {e}\nscript: {script}\nconsole:\n{}",
                self.console().await.join("\n")
            ),
        }
    }

    /// Waits until `script` returns something truthy and returns it; fails
    /// the test after `PAGE_DEADLINE`, naming `what` and showing the console.
    pub async fn until(&self, what: &str, script: &str) -> Value {
        self.until_with(what, script, Vec::new()).await
    }

    pub async fn until_with(&self, what: &str, script: &str, args: Vec<Value>) -> Value {
        let deadline = Instant::now() + PAGE_DEADLINE;
        loop {
            let value = self.eval_with(script, args.clone()).await;
            if truthy(&value) {
                return value;
            }
            if Instant::now() > deadline {
                panic!(
                    "waited {PAGE_DEADLINE:?} for {what}; last value {value}\nconsole:\n{}",
                    self.console().await.join("\n")
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until an element matching `css` is in the page.
    pub async fn wait_for(&self, what: &str, css: &str) -> fantoccini::elements::Element {
        match self
            .client
            .wait()
            .at_most(PAGE_DEADLINE)
            .every(POLL)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(e) => panic!(
                "waited for {what} ({css}): {e}\nconsole:\n{}",
                self.console().await.join("\n")
            ),
        }
    }

    /// Text of an open `alert`/`confirm`/`prompt` dialog, if one is open.
    /// (Sessions leave dialogs open: `unhandledPromptBehavior: ignore`.)
    pub async fn open_dialog(&self) -> Option<String> {
        match self.client.get_alert_text().await {
            Ok(text) => Some(text),
            Err(CmdError::Standard(e)) if e.error == ErrorStatus::NoSuchAlert => None,
            Err(e) => panic!("asking for an open dialog: {e}"),
        }
    }

    /// Lets the page read and write the clipboard without asking.
    pub async fn allow_clipboard(&self) {
        let session = self
            .client
            .session_id()
            .await
            .expect("session id")
            .expect("a session");
        for name in ["clipboard-read", "clipboard-write"] {
            let answer = reqwest::Client::new()
                .post(format!(
                    "{}/session/{session}/permissions",
                    self.driver.url()
                ))
                .json(&json!({"descriptor": {"name": name}, "state": "granted"}))
                .send()
                .await
                .expect("set permission");
            assert!(answer.status().is_success(), "granting {name}: {answer:?}");
        }
    }

    /// Runs a Chrome DevTools Protocol command through ChromeDriver.
    pub async fn cdp(&self, cmd: &str, params: Value) -> Value {
        let session = self
            .client
            .session_id()
            .await
            .expect("session id")
            .expect("a session");
        let answer = reqwest::Client::new()
            .post(format!(
                "{}/session/{session}/goog/cdp/execute",
                self.driver.url()
            ))
            .json(&json!({"cmd": cmd, "params": params}))
            .send()
            .await
            .unwrap_or_else(|e| panic!("CDP {cmd}: {e}"));
        assert!(answer.status().is_success(), "CDP {cmd}: {answer:?}");
        answer.json().await.expect("CDP answer")
    }

    /// Makes the page see a viewport `width` CSS pixels wide (as a phone or
    /// tablet would), or the window's own size again with `None`.
    pub async fn set_viewport_width(&self, width: Option<u32>) {
        match width {
            Some(width) => {
                self.cdp(
                    "Emulation.setDeviceMetricsOverride",
                    json!({"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": false}),
                )
                .await
            }
            None => {
                self.cdp("Emulation.clearDeviceMetricsOverride", json!({}))
                    .await
            }
        };
    }

    /// Makes `prefers-color-scheme` answer `scheme` (`light` or `dark`).
    pub async fn set_color_scheme(&self, scheme: &str) {
        self.cdp(
            "Emulation.setEmulatedMedia",
            json!({"features": [{"name": "prefers-color-scheme", "value": scheme}]}),
        )
        .await;
    }

    /// Browser console messages since the last call (ChromeDriver's log).
    pub async fn console(&self) -> Vec<String> {
        let Ok(Some(session)) = self.client.session_id().await else {
            return vec!["(no session)".into()];
        };
        let url = format!("{}/session/{session}/se/log", self.driver.url());
        let answer = reqwest::Client::new()
            .post(url)
            .json(&json!({"type": "browser"}))
            .send()
            .await;
        let Ok(answer) = answer else {
            return vec!["(console log unavailable)".into()];
        };
        let Ok(log) = answer.json::<Value>().await else {
            return vec!["(console log unreadable)".into()];
        };
        log["value"]
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .map(|e| {
                        let line = format!("{} {}", e["level"], e["message"]);
                        match line.char_indices().nth(MESSAGE_CHARS) {
                            Some((cut, _)) => format!("{}…", &line[..cut]),
                            None => line,
                        }
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// JavaScript truthiness, for values a script returned.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

#[derive(Clone, Copy)]
enum Scripts {
    On,
    Off,
}

struct Programs {
    chromium: PathBuf,
    chromedriver: PathBuf,
}

impl Programs {
    /// Finds Chromium and ChromeDriver on `PATH`, else in /usr/bin; fails
    /// the test with what to install when either is missing.
    fn find() -> Self {
        let chromium = find_program(&["chromium", "chromium-browser"]);
        let chromedriver = find_program(&["chromedriver"]);
        match (chromium, chromedriver) {
            (Some(chromium), Some(chromedriver)) => Self {
                chromium,
                chromedriver,
            },
            (chromium, chromedriver) => {
                let missing: Vec<&str> = [
                    chromium.is_none().then_some("chromium"),
                    chromedriver.is_none().then_some("chromedriver"),
                ]
                .into_iter()
                .flatten()
                .collect();
                if std::env::var_os("CI").is_some() {
                    panic!(
                        "browser tests cannot run in CI: {} not found on PATH or in /usr/bin; \
                         CI must install the Debian packages `chromium chromium-driver` \
                         (.ci/run does this with apt-get)",
                        missing.join(" and ")
                    );
                }
                panic!(
                    "browser tests need a headless Chromium: {} not found on PATH or in \
                     /usr/bin; install them with `sudo apt-get install chromium \
                     chromium-driver` (Debian) and run the tests again",
                    missing.join(" and ")
                );
            }
        }
    }
}

fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin")])
        .collect();
    names
        .iter()
        .flat_map(|name| dirs.iter().map(move |dir| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// A ChromeDriver child process in its own process group, so that it and
/// the Chromium processes it starts can be killed together.
struct Driver {
    child: Child,
    port: u16,
    log: tempfile::NamedTempFile,
}

impl Driver {
    async fn start(program: &Path) -> Self {
        let mut failures = Vec::new();
        for _attempt in 0..3 {
            let port = free_port();
            let log = tempfile::NamedTempFile::new().expect("temp file for the chromedriver log");
            let stderr = log.reopen().expect("chromedriver log file");
            let child = std::process::Command::new(program)
                .arg(format!("--port={port}"))
                .arg("--allowed-ips=127.0.0.1")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr)
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("starting {}: {e}", program.display()));
            let mut driver = Self { child, port, log };
            match driver.wait_ready().await {
                Ok(()) => return driver,
                Err(e) => failures.push(format!("{e}: {}", driver.log())),
            }
        }
        panic!(
            "{} did not start:\n{}",
            program.display(),
            failures.join("\n")
        );
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// Polls `/status` until ChromeDriver says it is ready.
    async fn wait_ready(&mut self) -> Result<(), String> {
        let http = reqwest::Client::new();
        let status = format!("{}/status", self.url());
        let deadline = Instant::now() + DRIVER_DEADLINE;
        loop {
            if let Ok(Some(exit)) = self.child.try_wait() {
                return Err(format!("chromedriver exited ({exit})"));
            }
            if let Ok(answer) = http.get(&status).send().await {
                if let Ok(body) = answer.json::<Value>().await {
                    if body["value"]["ready"] == json!(true) {
                        return Ok(());
                    }
                }
            }
            if Instant::now() > deadline {
                return Err(format!("chromedriver not ready after {DRIVER_DEADLINE:?}"));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn session(
        &self,
        chromium: &Path,
        profile: &Path,
        scripts: Scripts,
    ) -> Result<Client, String> {
        // Chromium's content setting: 1 allows page scripts, 2 blocks them.
        let javascript = match scripts {
            Scripts::On => 1,
            Scripts::Off => 2,
        };
        let capabilities = json!({
            "browserName": "chrome",
            // Leave dialogs open so that a test can see that one opened.
            "unhandledPromptBehavior": "ignore",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {
                "binary": chromium,
                "prefs": {
                    "profile.managed_default_content_settings.javascript": javascript,
                },
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-dev-shm-usage",
                    "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!("capabilities are an object")
        };
        let mut builder = ClientBuilder::native();
        builder.capabilities(capabilities);
        let url = self.url();
        match tokio::time::timeout(SESSION_DEADLINE, builder.connect(&url)).await {
            Ok(Ok(client)) => Ok(client),
            Ok(Err(e)) => Err(format!("new session: {e}")),
            Err(_) => Err(format!("new session: no answer in {SESSION_DEADLINE:?}")),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The whole group: ChromeDriver and the Chromium it started.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nobody listens on right now (ChromeDriver binds it next).
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("a free local port")
        .port()
}

/// axe-core's serious and critical findings on the page the browser shows
/// (axe-core is injected into it first).
pub async fn serious_violations(browser: &Browser) -> Vec<String> {
    let axe = std::fs::read_to_string(axe_js().await).expect("axe.min.js");
    browser.eval_with(&axe, Vec::new()).await;
    let violations = browser
        .eval_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { resultTypes: ['violations'] }).then(r => done(
               r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
                 .map(v => v.id + ': ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '))),
               e => done(['axe failed: ' + e]));",
        )
        .await;
    serde_json::from_value(violations).expect("a list of findings")
}

/// axe-core's browser script: `AXE_CORE` (a path to `axe.min.js`), or the
/// npm package under `target/axe`, installed from the registry when it is
/// not there yet (the way tests/smee_client.rs gets smee-client).
pub async fn axe_js() -> PathBuf {
    if let Some(path) = std::env::var_os("AXE_CORE") {
        return PathBuf::from(path);
    }
    let prefix = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/axe");
    let script = prefix.join("node_modules/axe-core/axe.min.js");
    if !script.exists() {
        let status = tokio::process::Command::new("npm")
            .args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"])
            .arg(&prefix)
            .arg("axe-core@4")
            .status()
            .await
            .expect("run npm (install node and npm; .ci/run does)");
        assert!(status.success(), "npm install axe-core@4: {status}");
    }
    script
}
