//! What every HTTP request of birdbridge says it is, and what a failed one says, for logs
//! and error messages.

/// The `User-Agent` of the sources, the media downloader and the authorisation steps, sent
/// with every request (`GoToSocial` refuses requests without one). The fediverse target
/// sends a longer one with the project's address (`targets::fedi::client::user_agent`).
pub const USER_AGENT: &str = concat!("birdbridge/", env!("CARGO_PKG_VERSION"));

/// The error with its causes (reqwest's own message names only the outermost one, e.g.
/// "error sending request", and hides "connection refused" beneath it), without the URL
/// reqwest adds: an address is long, repeats the target's name, and an OAuth step's query
/// can carry a request token.
pub fn error_text(e: &reqwest::Error) -> String {
    let mut msg = e.to_string();
    if let Some(url) = e.url() {
        msg = msg.replace(&format!(" for url ({url})"), "");
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_url_is_left_out_and_the_causes_kept() {
        // A port nothing listens on: bound, then released.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/oauth?token=secret-request-token");
        let e = reqwest::get(&url).await.unwrap_err();
        let text = error_text(&e);
        assert!(!text.contains("secret-request-token"), "{text}");
        assert!(!text.contains(&url), "{text}");
        assert!(
            text.matches(": ").count() >= 1,
            "the causes follow the message: {text}"
        );
    }
}
