//! npm packages the client tests run unmodified (webhook.site's CLI, the
//! smee client), installed into `target/` from the npm registry when they
//! are not there yet. Needs node and npm (`.ci/run` installs them).

use std::path::{Path, PathBuf};

/// `script` (a path inside `node_modules`) of `package`, installed into
/// `target/{folder}` when missing. Installs run one at a time: tests run
/// at the same time, and two npm installs into one folder fail.
pub async fn script(folder: &str, package: &str, script: &str) -> PathBuf {
    static INSTALLING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let prefix = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join(folder);
    let script = prefix.join("node_modules").join(script);
    let _one_at_a_time = INSTALLING.lock().await;
    if !script.exists() {
        let status = tokio::process::Command::new("npm")
            .args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"])
            .arg(&prefix)
            .arg(package)
            .status()
            .await
            .expect("run npm (install node and npm; .ci/run does)");
        assert!(status.success(), "npm install {package}: {status}");
        assert!(script.exists(), "npm installed no {}", script.display());
    }
    script
}
