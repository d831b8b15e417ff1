//! The pages the link answers with: small, self-contained HTML, every value escaped. The
//! headers keep the token (it is in the URL) out of caches and referrers, and the pages out of
//! frames: a framed one-click form could be clicked by a visitor who never meant to.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// No script, no style sheet, no image; the one form posts back to this URL; no framing.
const CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;\
                     padding:0 1rem;line-height:1.5}button{font-size:1rem;padding:.5rem 1.25rem}";

/// Text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A page; `title` is plain text, `body` HTML built from escaped values.
fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>{title}</title><style>{STYLE}</style>\
         </head><body><main><h1>{title}</h1>{body}</main></body></html>\n",
        title = escape(title),
    );
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ),
    ];
    (status, headers, html).into_response()
}

const RESUME: &str = "<p>To get alerts again, ask tickermesh for a new confirmation code and \
                      confirm your address with it.</p>";

/// GET: asks to confirm. The form has no action, so it posts to this very URL, query included;
/// its one field is what RFC 8058 one-click clients send, so both requests look alike.
pub fn confirm(email: &str) -> Response {
    let body = format!(
        "<p>tickermesh will send no more price alerts to <strong>{}</strong>.</p>\
         <form method=\"post\"><input type=\"hidden\" name=\"List-Unsubscribe\" \
         value=\"One-Click\"><button type=\"submit\">Unsubscribe</button></form>",
        escape(email)
    );
    page(StatusCode::OK, "Stop alert e-mails?", &body)
}

/// GET of a user whose alerts are stopped already.
pub fn already(email: &str) -> Response {
    let body = format!(
        "<p>tickermesh sends no price alerts to <strong>{}</strong>.</p>{RESUME}",
        escape(email)
    );
    page(StatusCode::OK, "Alert e-mails are stopped", &body)
}

/// POST: the alerts are stopped (by this request or an earlier one). Without an address when
/// the user is gone: the same answer as for a stopped one, with nothing more to say.
pub fn stopped(email: Option<&str>) -> Response {
    let body = match email {
        Some(email) => format!(
            "<p>tickermesh will send no more price alerts to <strong>{}</strong>.</p>{RESUME}",
            escape(email)
        ),
        None => "<p>tickermesh will send no more price alerts for this link.</p>".to_owned(),
    };
    page(StatusCode::OK, "You are unsubscribed", &body)
}

/// GET of a link whose user is gone.
pub fn nothing_to_stop() -> Response {
    let body = "<p>tickermesh sends no price alerts for this link.</p>";
    page(StatusCode::OK, "Nothing to unsubscribe", body)
}

/// 400 (malformed) or 403 (not this user's token): the same words, nothing changed.
pub fn invalid(status: StatusCode) -> Response {
    let body = "<p>Nothing was changed. Use the unsubscribe link of your latest alert e-mail, \
                whole and unchanged.</p>";
    page(status, "This unsubscribe link is not valid", body)
}

/// The database did not answer or failed: nothing was changed, try again.
pub fn unavailable(status: StatusCode) -> Response {
    let body = "<p>Nothing was changed yet. Please try again in a minute.</p>";
    let mut response = page(status, "tickermesh cannot answer just now", body);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_values_is_escaped() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(escape("ada@example.com"), "ada@example.com");
    }
}
