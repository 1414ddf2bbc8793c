//! An operator's story: what was captured is still there after a restart.

mod support;

use support::TestApp;

both_backends!(requests_survive_a_restart_on_the_same_database);
async fn requests_survive_a_restart_on_the_same_database(app: TestApp) {
    let bin = app.new_bin().await;
    let body = b"survives \x00\xff".to_vec();
    let id = TestApp::request_id(&app.post_to_bin(bin, "/kept", body.clone()).await);

    let app = app.restart(|_| {}).await;
    let html = app.html(&format!("/view/{bin}")).await;
    assert!(
        html.contains(&id.to_string()),
        "request listed after restart"
    );
    let download = app.download_body(bin, id).await;
    assert_eq!(&download.bytes().await.expect("bytes")[..], &body[..]);
    app.stop().await;
}

// SQLite only: PostgreSQL's database is made by its administrator.
#[tokio::test]
async fn the_database_file_is_created_on_first_start() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("nested-name.db");
    assert!(!db.exists());
    let app = TestApp::spawn_on(&db, |_| {}).await;
    assert!(db.exists());
    app.stop().await;
}
