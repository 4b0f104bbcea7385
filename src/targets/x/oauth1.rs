//! OAuth 1.0a user-context signing (RFC 5849, HMAC-SHA1), as X asks for it
//! (`docs/x-target.md`, "Credentials"). X's OAuth 1.0a user tokens do not expire, so they
//! suit an unattended daemon best.
//!
//! Each request carries an `Authorization: OAuth ...` header signed over the method, the
//! base URL, the query parameters, any form-encoded body parameters and the `oauth_*`
//! parameters. JSON and multipart bodies (everything X's v2 write API takes) are not signed.

use base64::Engine as _;
use hmac::{Hmac, Mac as _};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha1::Sha1;
use url::Url;

use crate::config::Secret;

/// RFC 5849 §3.6: everything but ALPHA, DIGIT, `-`, `.`, `_` and `~` is encoded, with
/// upper-case hex digits.
const ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes `s` as OAuth 1.0a wants it (stricter than URL encoding: a space is
/// `%20`, `+` is `%2B`).
pub fn encode(s: &str) -> String {
    utf8_percent_encode(s, ENCODE).to_string()
}

/// The four values that sign a user-context request. `Debug` shows none of them.
#[derive(Debug, Clone)]
pub struct OAuth1Keys {
    /// The app's API key (consumer key).
    pub consumer_key: Secret,
    /// The app's API key secret.
    pub consumer_secret: Secret,
    /// The account's access token.
    pub token: Secret,
    /// The account's access token secret.
    pub token_secret: Secret,
}

impl OAuth1Keys {
    /// The `Authorization` header for a request, with a fresh random nonce. `form` holds
    /// the body's parameters when the body is form-encoded (otherwise empty);
    /// `timestamp` is the current time in epoch seconds.
    pub fn authorization(
        &self,
        method: &str,
        url: &Url,
        form: &[(&str, &str)],
        timestamp: i64,
    ) -> Secret {
        let nonce: String = std::iter::repeat_with(fastrand::alphanumeric)
            .take(32)
            .collect();
        Secret::new(self.authorization_with(method, url, form, &nonce, timestamp))
    }

    /// As [`OAuth1Keys::authorization`] with a given nonce (the worked examples fix it).
    pub fn authorization_with(
        &self,
        method: &str,
        url: &Url,
        form: &[(&str, &str)],
        nonce: &str,
        timestamp: i64,
    ) -> String {
        Signer {
            consumer_key: &self.consumer_key,
            consumer_secret: &self.consumer_secret,
            token: Some((&self.token, &self.token_secret)),
            extra: &[],
        }
        .header(method, url, form, nonce, timestamp)
    }
}

/// What signs one request: the consumer's keys, a token when there is one (a request
/// token while authorising, else the access token), and `oauth_*` parameters of the
/// authorisation steps (`oauth_callback`, `oauth_verifier`).
#[derive(Debug, Clone, Copy)]
pub struct Signer<'a> {
    /// The app's consumer key.
    pub consumer_key: &'a Secret,
    /// The app's consumer secret.
    pub consumer_secret: &'a Secret,
    /// The token and its secret.
    pub token: Option<(&'a Secret, &'a Secret)>,
    /// More `oauth_*` parameters, signed and sent in the header.
    pub extra: &'a [(&'a str, &'a str)],
}

impl Signer<'_> {
    /// The `Authorization` header with a fresh random nonce (see [`Signer::header`]).
    pub fn authorization(&self, method: &str, url: &Url, timestamp: i64) -> Secret {
        let nonce: String = std::iter::repeat_with(fastrand::alphanumeric)
            .take(32)
            .collect();
        Secret::new(self.header(method, url, &[], &nonce, timestamp))
    }

    /// The `Authorization: OAuth ...` header value, signed over the method, the URL, its
    /// query and `form` parameters and the `oauth_*` parameters (RFC 5849 §3.4).
    pub fn header(
        &self,
        method: &str,
        url: &Url,
        form: &[(&str, &str)],
        nonce: &str,
        timestamp: i64,
    ) -> String {
        let timestamp = timestamp.to_string();
        let mut oauth: Vec<(&str, &str)> = vec![
            ("oauth_consumer_key", self.consumer_key.expose()),
            ("oauth_nonce", nonce),
            ("oauth_signature_method", "HMAC-SHA1"),
            ("oauth_timestamp", &timestamp),
        ];
        if let Some((token, _)) = self.token {
            oauth.push(("oauth_token", token.expose()));
        }
        oauth.push(("oauth_version", "1.0"));
        oauth.extend_from_slice(self.extra);
        let params = signed_params(url, form.iter().chain(&oauth).copied());
        let base = signature_base(method, url, &params);
        let empty = Secret::new("");
        let token_secret = self.token.map_or(&empty, |(_, secret)| secret);
        let signature = sign(&base, self.consumer_secret, token_secret);
        let fields: Vec<String> = oauth
            .iter()
            .copied()
            .chain(std::iter::once(("oauth_signature", signature.as_str())))
            .map(|(k, v)| format!("{k}=\"{}\"", encode(v)))
            .collect();
        format!("OAuth {}", fields.join(", "))
    }
}

/// The parameters a request is signed over: its URL's query, then `more` (the form's and
/// the `oauth_*` ones).
fn signed_params<'a>(
    url: &Url,
    more: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Vec<(String, String)> {
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .chain(more.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect()
}

/// The signature base string (RFC 5849 §3.4.1): the upper-case method, the encoded base
/// URL and the encoded, sorted parameter string, joined by `&`.
pub fn signature_base(method: &str, url: &Url, params: &[(String, String)]) -> String {
    let mut encoded: Vec<(String, String)> =
        params.iter().map(|(k, v)| (encode(k), encode(v))).collect();
    encoded.sort();
    let joined: Vec<String> = encoded.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!(
        "{}&{}&{}",
        method.to_ascii_uppercase(),
        encode(&base_url(url)),
        encode(&joined.join("&"))
    )
}

/// The base string URI (RFC 5849 §3.4.1.2): scheme and host in lower case, the port only
/// when it is not the scheme's default, the path; no query, no fragment.
fn base_url(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    format!("{}://{host}{port}{}", url.scheme(), url.path())
}

/// HMAC-SHA1 of the base string under `consumer_secret&token_secret`, in base64.
fn sign(base: &str, consumer_secret: &Secret, token_secret: &Secret) -> String {
    let key = format!(
        "{}&{}",
        encode(consumer_secret.expose()),
        encode(token_secret.expose())
    );
    // HMAC takes a key of any length.
    let mut mac = Hmac::<Sha1>::new_from_slice(key.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of every length"));
    mac.update(base.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(ck: &str, cs: &str, t: &str, ts: &str) -> OAuth1Keys {
        OAuth1Keys {
            consumer_key: Secret::new(ck),
            consumer_secret: Secret::new(cs),
            token: Secret::new(t),
            token_secret: Secret::new(ts),
        }
    }

    /// RFC 5849 §3.4.1.1: the base string of the example request, query and form
    /// parameters together, repeated names sorted by value.
    #[test]
    fn the_rfc_base_string_example() {
        let url = Url::parse("http://example.com/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b").unwrap();
        let params = signed_params(
            &url,
            [
                ("c2", ""),
                ("a3", "2 q"),
                ("oauth_consumer_key", "9djdj82h48djs9d2"),
                ("oauth_token", "kkk9d7dh3k39sjv7"),
                ("oauth_signature_method", "HMAC-SHA1"),
                ("oauth_timestamp", "137131201"),
                ("oauth_nonce", "7d8f3e4a"),
            ],
        );
        assert_eq!(
            signature_base("post", &url, &params),
            "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q%26a3%3Da%26\
             b5%3D%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_key%3D9djdj82h48djs9d2%26\
             oauth_nonce%3D7d8f3e4a%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D\
             137131201%26oauth_token%3Dkkk9d7dh3k39sjv7"
        );
    }

    /// RFC 5849 §1.2: the signed request for the photo (it sends no `oauth_version`), with
    /// its published signature.
    #[test]
    fn the_rfc_photo_example_signature() {
        let url =
            Url::parse("http://photos.example.net/photos?file=vacation.jpg&size=original").unwrap();
        let params = signed_params(
            &url,
            [
                ("oauth_consumer_key", "dpf43f3p2l4k3l03"),
                ("oauth_token", "nnch734d00sl2jdk"),
                ("oauth_signature_method", "HMAC-SHA1"),
                ("oauth_timestamp", "137131202"),
                ("oauth_nonce", "chapoH"),
            ],
        );
        let base = signature_base("GET", &url, &params);
        assert_eq!(
            sign(
                &base,
                &Secret::new("kd94hf93k423kf44"),
                &Secret::new("pfkkdhi9sl3r4s00")
            ),
            "MdpQcU8iPSUjWoN/UDMsK2sui9I="
        );
    }

    /// X's "creating a signature" page: a form-encoded status update with a query
    /// parameter, and the signature it publishes.
    #[test]
    fn the_x_documentation_example_signature() {
        let keys = keys(
            "xvz1evFS4wEEPTGEFPHBog",
            "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw",
            "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb",
            "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE",
        );
        let url =
            Url::parse("https://api.x.com/1.1/statuses/update.json?include_entities=true").unwrap();
        let header = keys.authorization_with(
            "POST",
            &url,
            &[(
                "status",
                "Hello Ladies + Gentlemen, a signed OAuth request!",
            )],
            "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg",
            1_318_622_958,
        );
        assert!(
            header.contains("oauth_signature=\"Ls93hJiZbQ3akF3HF3x1Bz8%2FzU4%3D\""),
            "{header}"
        );
    }

    #[test]
    fn encoding_is_rfc_3986_strict() {
        assert_eq!(encode("Ladies + Gentlemen"), "Ladies%20%2B%20Gentlemen");
        assert_eq!(encode("a-b.c_d~e"), "a-b.c_d~e");
        assert_eq!(encode("☃!*"), "%E2%98%83%21%2A");
    }

    #[test]
    fn the_port_is_kept_only_when_not_the_default() {
        let u = Url::parse("HTTP://Example.COM:80/r?x=1").unwrap();
        assert_eq!(base_url(&u), "http://example.com/r");
        let u = Url::parse("https://example.com:8443/r").unwrap();
        assert_eq!(base_url(&u), "https://example.com:8443/r");
    }

    #[test]
    fn keys_never_print() {
        let k = keys(
            "key-value",
            "secret-value",
            "token-value",
            "token-secret-value",
        );
        let shown = format!("{k:?}");
        assert!(!shown.contains("-value"), "{shown}");
    }
}
