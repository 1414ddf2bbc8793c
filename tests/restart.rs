//! An operator's story: what was captured is still there after a restart.

mod support;

use support::TestApp;

#[tokio::test]
async fn requests_survive_a_restart_on_the_same_database_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("hookscope.db");
    let app = TestApp::spawn_on(&db, |_| {}).await;
    let bin = app.new_bin().await;
    let body = b"survives \x00\xff".to_vec();
    let id = TestApp::request_id(&app.post_to_bin(bin, "/kept", body.clone()).await);
    app.stop().await;

    let app = TestApp::spawn_on(&db, |_| {}).await;
    let html = app.html(&format!("/view/{bin}")).await;
    assert!(
        html.contains(&id.to_string()),
        "request listed after restart"
    );
    let download = app.download_body(bin, id).await;
    assert_eq!(&download.bytes().await.expect("bytes")[..], &body[..]);
    app.stop().await;
}

#[tokio::test]
async fn the_database_file_is_created_on_first_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("nested-name.db");
    assert!(!db.exists());
    let app = TestApp::spawn_on(&db, |_| {}).await;
    assert!(db.exists());
    app.stop().await;
}
