//! The guarded URL downloader for media named by untrusted content (feed items, API
//! answers): http and https only; private, loopback, link-local and other non-public
//! addresses refused unless the route allows them (checked on the literal host, on every
//! address a name resolves to, and on every redirect); a size cap on the body.
//!
//! A URL is checked twice on purpose: [`check_url`] when a source reads it (so a feed item
//! pointing at `127.0.0.1` loses that image at once, with a log line), and again by
//! [`MediaFetcher`] when the bytes are fetched, after name resolution, which is where a
//! name pointing at an internal address shows itself.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;

/// Media larger than this are not downloaded (Mastodon's own video limit is 99 MB).
pub const DEFAULT_MAX_BYTES: u64 = 100 * 1024 * 1024;

/// Why a URL may not be fetched; the media is dropped and the reason logged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefused {
    /// Not a URL at all.
    #[error("`{0}` is not a URL")]
    Unparsable(String),
    /// Another scheme than http or https (`file:`, `data:`, `ftp:`...).
    #[error("`{url}`: only http and https are fetched, not {scheme}")]
    Scheme {
        /// The URL.
        url: String,
        /// Its scheme.
        scheme: String,
    },
    /// No host to fetch from.
    #[error("`{0}` has no host")]
    NoHost(String),
    /// The host is (or resolves to) an address that is not public.
    #[error("`{url}` points at the non-public address {address}; allow_private_media is off")]
    Private {
        /// The URL.
        url: String,
        /// The offending address.
        address: IpAddr,
    },
    /// The host is a name for this machine (`localhost`).
    #[error("`{0}` points at this machine; allow_private_media is off")]
    Localhost(String),
}

/// Why a download failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The URL is refused: drop the media.
    #[error(transparent)]
    Refused(#[from] UrlRefused),
    /// The body is larger than the cap: drop the media (or link it instead).
    #[error("`{url}` is larger than {max} bytes")]
    TooLarge {
        /// The URL.
        url: String,
        /// The cap.
        max: u64,
    },
    /// The server answered with an error status: retry later, or link the media.
    #[error("`{url}` answered HTTP {status}")]
    Status {
        /// The URL.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// Network failure, timeout, or a redirect to a refused address: retry later.
    #[error("cannot fetch media: {0}")]
    Transport(#[source] reqwest::Error),
}

/// Checks a URL named by untrusted content before anything is fetched from it.
///
/// # Errors
/// See [`UrlRefused`].
pub fn check_url(url: &str, allow_private: bool) -> Result<Url, UrlRefused> {
    let parsed = Url::parse(url).map_err(|_| UrlRefused::Unparsable(url.to_owned()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(UrlRefused::Scheme {
            url: url.to_owned(),
            scheme: parsed.scheme().to_owned(),
        });
    }
    let address = match parsed.host() {
        None => return Err(UrlRefused::NoHost(url.to_owned())),
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            if !allow_private && (name == "localhost" || name.ends_with(".localhost")) {
                return Err(UrlRefused::Localhost(url.to_owned()));
            }
            None
        }
        Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
        Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
    };
    if let Some(address) = address.filter(|a| !allow_private && !is_public(*a)) {
        return Err(UrlRefused::Private {
            url: url.to_owned(),
            address,
        });
    }
    Ok(parsed)
}

/// Whether an address is on the public internet: not loopback, private, link-local, shared
/// (CGNAT), unspecified, broadcast, multicast, documentation or unique-local.
pub fn is_public(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(a: Ipv4Addr) -> bool {
    let [first, second, ..] = a.octets();
    let shared = first == 100 && (64..128).contains(&second);
    let benchmarking = first == 198 && (second == 18 || second == 19);
    !(a.is_loopback()
        || a.is_private()
        || a.is_link_local()
        || a.is_unspecified()
        || a.is_broadcast()
        || a.is_multicast()
        || a.is_documentation()
        || shared
        || benchmarking
        || first == 0
        || first >= 240)
}

fn is_public_v6(a: Ipv6Addr) -> bool {
    let first = a.segments()[0];
    let unique_local = (first & 0xfe00) == 0xfc00;
    let link_local = (first & 0xffc0) == 0xfe80;
    let documentation = first == 0x2001 && a.segments()[1] == 0x0db8;
    !(a.is_loopback()
        || a.is_unspecified()
        || a.is_multicast()
        || unique_local
        || link_local
        || documentation)
}

/// Resolves names with the system resolver and keeps only public addresses, so a name
/// cannot lead the downloader to an internal service.
#[derive(Debug)]
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| is_public(a.ip()))
                .collect();
            if public.is_empty() {
                let refused: Box<dyn std::error::Error + Send + Sync> =
                    format!(
                    "{host} resolves only to non-public addresses ({}); allow_private_media is off",
                    found.iter().map(|a| a.ip().to_string()).collect::<Vec<_>>().join(", ")
                )
                    .into();
                return Err(refused);
            }
            let addrs: Addrs = Box::new(public.into_iter());
            Ok(addrs)
        })
    }
}

/// Downloads media with the guards of this module.
#[derive(Debug, Clone)]
pub struct MediaFetcher {
    guarded: reqwest::Client,
    open: reqwest::Client,
    max_bytes: u64,
}

impl MediaFetcher {
    /// A fetcher refusing bodies over `max_bytes`.
    ///
    /// # Errors
    /// When the TLS backend cannot be set up.
    pub fn new(max_bytes: u64) -> Result<Self, reqwest::Error> {
        let build = |allow_private: bool| {
            let mut builder = reqwest::Client::builder()
                .user_agent(concat!("birdbridge/", env!("CARGO_PKG_VERSION")))
                .connect_timeout(Duration::from_secs(10))
                .timeout(Duration::from_secs(120))
                .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                    if attempt.previous().len() >= 5 {
                        return attempt.error("too many redirects");
                    }
                    match check_url(attempt.url().as_str(), allow_private) {
                        Ok(_) => attempt.follow(),
                        Err(refused) => attempt.error(refused),
                    }
                }));
            if !allow_private {
                builder = builder.dns_resolver(Arc::new(PublicOnly));
            }
            builder.build()
        };
        Ok(Self {
            guarded: build(false)?,
            open: build(true)?,
            max_bytes,
        })
    }

    /// Downloads `url`. `allow_private` is the route's `allow_private_media`.
    ///
    /// # Errors
    /// See [`FetchError`].
    pub async fn download(&self, url: &str, allow_private: bool) -> Result<Vec<u8>, FetchError> {
        let parsed = check_url(url, allow_private)?;
        let client = if allow_private {
            &self.open
        } else {
            &self.guarded
        };
        let mut response = client
            .get(parsed)
            .send()
            .await
            .map_err(FetchError::Transport)?;
        let status = response.status();
        if !status.is_success() {
            return Err(FetchError::Status {
                url: url.to_owned(),
                status: status.as_u16(),
            });
        }
        let too_large = || FetchError::TooLarge {
            url: url.to_owned(),
            max: self.max_bytes,
        };
        if response
            .content_length()
            .is_some_and(|len| len > self.max_bytes)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(FetchError::Transport)? {
            if (body.len() + chunk.len()) as u64 > self.max_bytes {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case("https://pbs.twimg.com/media/a.jpg", false, true)]
    #[case("http://example.org/a.png", false, true)]
    #[case("https://127.0.0.1/a.png", false, false)]
    #[case("https://127.0.0.1/a.png", true, true)]
    #[case("http://localhost:8080/a.png", false, false)]
    #[case("http://img.localhost/a.png", false, false)]
    #[case("http://10.1.2.3/a.png", false, false)]
    #[case("http://192.168.0.1/a.png", false, false)]
    #[case("http://172.16.0.1/a.png", false, false)]
    #[case("http://169.254.169.254/latest/meta-data", false, false)]
    #[case("http://100.64.0.1/a", false, false)]
    #[case("http://0.0.0.0/a", false, false)]
    #[case("http://[::1]/a", false, false)]
    #[case("http://[fe80::1]/a", false, false)]
    #[case("http://[fd00::1]/a", false, false)]
    #[case("http://[::ffff:127.0.0.1]/a", false, false)]
    #[case("http://[2606:4700::1111]/a", false, true)]
    #[case("file:///etc/passwd", true, false)]
    #[case("data:image/png;base64,AAAA", true, false)]
    #[case("not a url", true, false)]
    fn urls_are_checked(#[case] url: &str, #[case] allow_private: bool, #[case] ok: bool) {
        assert_eq!(check_url(url, allow_private).is_ok(), ok, "{url}");
    }
}
