//! The settings form in a real browser: every field, sent invalid, brings
//! the form back (not an error page quoting it) with the reason right
//! under that field, what was typed kept, and nothing saved.

mod support;

use fantoccini::Locator;
use serde_json::{json, Value};
use support::browser::Browser;
use support::TestApp;
use uuid::Uuid;

/// One invalid entry: the field, what is typed into it, and words the
/// message under it must hold.
struct Case {
    field: &'static str,
    typed: String,
    says: &'static str,
}

fn case(field: &'static str, typed: impl Into<String>, says: &'static str) -> Case {
    Case {
        field,
        typed: typed.into(),
        says,
    }
}

both_backends!(
    each_invalid_setting_comes_back_with_its_reason_next_to_it,
    flavor = "multi_thread",
    worker_threads = 2
);
async fn each_invalid_setting_comes_back_with_its_reason_next_to_it(app: TestApp) {
    let bin = app.new_bin().await;
    let browser = Browser::start().await;
    let cases = [
        case("default_status", "", "Is required."),
        case(
            "default_status",
            "999",
            "Must be between 100 and 599, not 999.",
        ),
        case(
            "default_content_type",
            format!("text/{}", "x".repeat(1024)),
            "not a valid header value",
        ),
        case(
            "default_content",
            "x".repeat(1024 * 1024 + 1),
            "longer than",
        ),
        case("response_headers", "Content-Length: 5", "set by the server"),
        case(
            "response_headers",
            "X-Ok: 1\nno colon here",
            "Line 2 needs the form Name: value",
        ),
        case("response_headers", "Bad Name: 1", "not a valid header name"),
        case("timeout", "31", "at most 30 seconds"),
        case("timeout", "-1", "Must be a whole number"),
        case("request_limit", "1.5", "Must be a whole number"),
        case("expiry", "0", "Must be at least 1 second"),
        case("alias", "a".repeat(65), "Must be 1 to 64 characters long"),
        case("alias", "two words", "May hold only letters, digits"),
        case("description", "d".repeat(1025), "longer than 1024 bytes"),
    ];
    for case in &cases {
        open_settings(&browser, &app, bin).await;
        browser
            .eval_with(
                "document.getElementById(arguments[0]).value = arguments[1]; return true;",
                vec![json!(case.field), json!(case.typed)],
            )
            .await;
        save(&browser).await;
        let error_id = format!("{}-error", case.field);
        browser
            .until_with(
                &format!("the reason under {}", case.field),
                "return document.getElementById(arguments[0]) !== null;",
                vec![json!(error_id)],
            )
            .await;
        let seen = browser
            .eval_with(
                "const input = document.getElementById(arguments[0]);
                 const error = document.getElementById(arguments[1]);
                 return {
                   next: input.nextElementSibling === error,
                   invalid: input.getAttribute('aria-invalid'),
                   describedby: input.getAttribute('aria-describedby'),
                   message: error.textContent,
                   kept: input.value === arguments[2],
                   summary: document.querySelector('[role=alert]').textContent,
                   forms: document.querySelectorAll('form.settings-form').length,
                   errors: document.querySelectorAll('.field-error').length,
                   quoted: document.body.textContent.includes('<form'),
                 };",
                vec![json!(case.field), json!(error_id), json!(case.typed)],
            )
            .await;
        let what = format!("{} = {:.40?}: {seen}", case.field, case.typed);
        assert_eq!(seen["next"], json!(true), "{what}");
        assert_eq!(seen["invalid"], json!("true"), "{what}");
        assert_eq!(seen["describedby"], json!(error_id), "{what}");
        let message = seen["message"].as_str().expect("message");
        assert!(message.contains(case.says), "{what}");
        assert_eq!(seen["kept"], json!(true), "what was typed is kept: {what}");
        assert_eq!(seen["forms"], json!(1), "{what}");
        assert_eq!(seen["errors"], json!(1), "only that field: {what}");
        assert_eq!(seen["quoted"], json!(false), "{what}");
        let summary = seen["summary"].as_str().expect("summary");
        assert!(summary.contains("nothing was saved"), "{what}");
    }

    // Two bad fields at once: both are named, each under its own field.
    open_settings(&browser, &app, bin).await;
    browser
        .eval(
            "document.getElementById('default_status').value = '42';
             document.getElementById('expiry').value = '0';
             return true;",
        )
        .await;
    save(&browser).await;
    browser
        .until(
            "both reasons",
            "return document.querySelectorAll('.field-error').length === 2;",
        )
        .await;
    let summary = browser
        .eval("return document.querySelector('[role=alert]').textContent;")
        .await;
    assert!(
        summary
            .as_str()
            .is_some_and(|s| s.contains("2 settings need fixing")),
        "{summary}"
    );

    // Nothing was saved by any of them.
    let stored: Value = app.json(&format!("/token/{bin}")).await;
    assert_eq!(stored["default_status"], json!(200));
    assert_eq!(stored["alias"], Value::Null);
    assert_eq!(stored["response_headers"], json!([]));

    // And a valid form still saves.
    open_settings(&browser, &app, bin).await;
    browser
        .eval("document.getElementById('default_status').value = '202'; return true;")
        .await;
    save(&browser).await;
    browser
        .until(
            "the saved note",
            "return document.querySelector('.form-saved') !== null;",
        )
        .await;
    let stored: Value = app.json(&format!("/token/{bin}")).await;
    assert_eq!(stored["default_status"], json!(202));
    browser.quit().await;
}

async fn open_settings(browser: &Browser, app: &TestApp, bin: Uuid) {
    browser
        .goto(&app.url(&format!("/view/{bin}/settings")))
        .await;
    browser
        .wait_for("the settings form", "form.settings-form")
        .await;
}

async fn save(browser: &Browser) {
    browser
        .client
        .find(Locator::Css("form.settings-form button[type=submit]"))
        .await
        .expect("the Save button")
        .click()
        .await
        .expect("click Save");
}
