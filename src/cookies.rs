//! Reading and setting the browser's cookies, through the `cookie` crate:
//! the login proofs (`auth`) and the list of remembered bins (`pages`).

use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use cookie::{Cookie, SameSite};

/// How long a cookie that should outlive the browser session lasts.
pub const YEAR: time::Duration = time::Duration::days(365);

/// The value of the first cookie called `name` the browser sent.
pub fn get(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

/// The `Set-Cookie` value of an `HttpOnly`, `SameSite=Lax` cookie for the
/// whole site; a session cookie unless `max_age` is given. `None` when the
/// value cannot be a header (ours are base64 and ids: never).
pub fn set_cookie(
    name: &str,
    value: String,
    max_age: Option<time::Duration>,
) -> Option<HeaderValue> {
    let mut cookie = Cookie::build((name.to_owned(), value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax);
    if let Some(age) = max_age {
        cookie = cookie.max_age(age);
    }
    HeaderValue::from_str(&cookie.build().to_string()).ok()
}

/// Sets a cookie (see [`set_cookie`]) on `response`.
pub fn set(response: &mut Response, name: &str, value: String, max_age: Option<time::Duration>) {
    if let Some(value) = set_cookie(name, value, max_age) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_named_cookie_among_others_and_across_headers() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("a=1; b=2"));
        headers.append(header::COOKIE, HeaderValue::from_static("c=3"));
        assert_eq!(get(&headers, "b").as_deref(), Some("2"));
        assert_eq!(get(&headers, "c").as_deref(), Some("3"));
        assert_eq!(get(&headers, "ab"), None);
    }

    #[test]
    fn writes_what_browsers_keep() {
        let value = set_cookie("k", String::from("v"), Some(YEAR)).expect("header");
        let text = value.to_str().expect("text");
        for part in [
            "k=v",
            "Path=/",
            "HttpOnly",
            "SameSite=Lax",
            "Max-Age=31536000",
        ] {
            assert!(text.contains(part), "{text} has {part}");
        }
        let session = set_cookie("k", String::from("v"), None).expect("header");
        assert!(!session.to_str().expect("text").contains("Max-Age"));
    }
}
