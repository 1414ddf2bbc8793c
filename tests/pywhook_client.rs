//! `pywhook`, a PyPI wrapper of webhook.site's token API, unmodified except
//! for its base URL, drives hookscope through a user's story
//! (tests/clients/pywhook_story.py): token, answer, JSON and file captures
//! read back, search, delete.
//!
//! Needs python3 with its venv module (Debian's `python3-venv`; `.ci/run`
//! installs it when missing); the test makes a virtual environment under
//! `target/pywhook` and installs the package from PyPI on its first run.
//! Set `PYWHOOK_PYTHON` to a python that has pywhook to use that one.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use support::TestApp;
use uuid::Uuid;

/// The version the story was written against (read from its source).
const PACKAGE: &str = "pywhook==1.1.7";

/// How long the story may take (it polls nothing: each step is one call).
const WAIT: Duration = Duration::from_secs(60);

async fn run(program: &Path, args: &[&str]) -> std::process::Output {
    let output = tokio::process::Command::new(program)
        .args(args)
        .output()
        .await
        .unwrap_or_else(|e| panic!("run {}: {e}", program.display()));
    assert!(
        output.status.success(),
        "{} {}: {}\n{}{}",
        program.display(),
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A python with pywhook: `PYWHOOK_PYTHON`, or a virtual environment under
/// `target/pywhook`, made and filled from PyPI when it is not there yet.
async fn python() -> PathBuf {
    if let Some(path) = std::env::var_os("PYWHOOK_PYTHON") {
        return PathBuf::from(path);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/pywhook");
    let python = venv.join("bin/python");
    // Written once the install succeeded: a half-made environment is
    // made again.
    let installed = venv.join(format!("installed-{PACKAGE}"));
    if !installed.exists() {
        let venv_arg = venv.to_str().expect("UTF-8 path");
        run(Path::new("python3"), &["-m", "venv", "--clear", venv_arg]).await;
        run(
            &python,
            &[
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                PACKAGE,
            ],
        )
        .await;
        std::fs::write(&installed, b"").expect("mark the install");
    }
    python
}

#[tokio::test]
async fn pywhook_drives_a_token_through_its_whole_life() {
    let python = python().await;
    let app = TestApp::spawn().await;
    let story = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/pywhook_story.py"
    );
    let base = app.url("");
    let output = tokio::time::timeout(WAIT, run(&python, &[story, &base]))
        .await
        .expect("the pywhook story finished in time");

    let seen: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("the story's JSON line");
    let token = Uuid::parse_str(seen["token"].as_str().expect("token")).expect("uuid");
    let requests = seen["requests"].as_array().expect("request ids");
    assert_eq!(requests.len(), 2, "{seen}");
    // The library's delete reached the store.
    assert!(
        app.state.store.bin(token).await.expect("read").is_none(),
        "the token pywhook deleted is still stored"
    );
    app.stop().await;
}
