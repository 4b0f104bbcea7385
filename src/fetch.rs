//! The guarded URL downloader for media named by untrusted content (feed items, API
//! answers): http and https only; private, loopback, link-local and other non-public
//! addresses refused unless the route allows them (checked on the literal host, on every
//! address a name resolves to, and on every redirect); a size cap on the body.
//!
//! Bodies stream to a temporary file, checked against the caller's size cap by their
//! `Content-Length` before any byte is read and again as they arrive, and refused when they
//! are not images or videos.
//!
//! A URL is checked twice on purpose: [`check_url`] when a source reads it (so a feed item
//! pointing at `127.0.0.1` loses that image at once, with a log line), and again by
//! [`MediaFetcher`] when the bytes are fetched, after name resolution, which is where a
//! name pointing at an internal address shows itself.
//!
//! The same guards serve [`MediaFetcher::head`], which asks where a link redirects (a `t.co`
//! link X did not expand) without following the redirect or reading any body.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;
use tokio::io::AsyncWriteExt;

/// Media larger than this are not downloaded when the server announces no limit
/// (Mastodon's own video limit is 99 MB).
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
    /// The body is neither an image nor a video (an error page served with 200).
    #[error("`{url}` is {content_type}, not an image or a video")]
    WrongType {
        /// The URL.
        url: String,
        /// The type the server announced.
        content_type: String,
    },
    /// Redirected more than five times (a loop).
    #[error("`{0}` redirects in a loop")]
    Redirects(String),
    /// The temporary file cannot be written (disk full, no temp folder).
    #[error("cannot write the downloaded media to a temporary file: {0}")]
    Disk(String),
    /// Network failure or timeout: retry later.
    #[error("cannot fetch media: {0}")]
    Transport(#[source] reqwest::Error),
}

/// Checks a URL named by untrusted content before anything is fetched from it.
///
/// # Errors
/// See [`UrlRefused`].
pub fn check_url(url: &str, allow_private: bool) -> Result<Url, UrlRefused> {
    check_with(url, allow_private, is_public)
}

fn check_with(url: &str, allow_private: bool, rule: AddressRule) -> Result<Url, UrlRefused> {
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
    if let Some(address) = address.filter(|a| !allow_private && !rule(*a)) {
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

/// Which addresses count as public: [`is_public`], except in tests, which call a loopback
/// address "public" to watch a redirect to another one be refused.
type AddressRule = fn(IpAddr) -> bool;

/// Resolves names with the system resolver and keeps only public addresses, so a name
/// cannot lead the downloader to an internal service.
#[derive(Debug)]
struct PublicOnly(AddressRule);

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let rule = self.0;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = found.iter().copied().filter(|a| rule(a.ip())).collect();
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

/// The redirect limit was reached (a loop, or a chain longer than any media host needs).
#[derive(Debug, thiserror::Error)]
#[error("more than {MAX_REDIRECTS} redirects")]
struct TooManyRedirects;

/// Redirects followed at most.
const MAX_REDIRECTS: usize = 5;

/// A downloaded media file: a temporary file, removed when this is dropped.
#[derive(Debug)]
pub struct Downloaded {
    /// Where the bytes are.
    pub path: tempfile::TempPath,
    /// How many bytes.
    pub size: u64,
    /// The type the server announced (`image/...` or `video/...`), without parameters;
    /// `None` when it sent none or `application/octet-stream`.
    pub content_type: Option<String>,
}

/// Downloads media with the guards of this module, streaming the body to a temporary file
/// (a video of hundreds of megabytes never sits in memory).
#[derive(Debug, Clone)]
pub struct MediaFetcher {
    guarded: reqwest::Client,
    open: reqwest::Client,
    /// The same guards, for [`MediaFetcher::head`]: redirects are answers, not followed.
    guarded_head: reqwest::Client,
    open_head: reqwest::Client,
    rule: AddressRule,
}

/// What a `HEAD` request answered ([`MediaFetcher::head`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The HTTP status.
    pub status: u16,
    /// The `Location` header made absolute against the URL asked, when there is one that
    /// reads as a URL.
    pub location: Option<String>,
}

impl MediaFetcher {
    /// A fetcher that refuses non-public addresses (unless a call allows them).
    ///
    /// # Errors
    /// When the TLS backend cannot be set up.
    pub fn new() -> Result<Self, reqwest::Error> {
        Self::with_rule(is_public)
    }

    /// The process-wide fetcher (one connection pool for all downloads).
    ///
    /// # Errors
    /// When the TLS backend cannot be set up (then no media can be downloaded).
    pub fn shared() -> Result<Self, String> {
        static SHARED: std::sync::OnceLock<Result<MediaFetcher, String>> =
            std::sync::OnceLock::new();
        SHARED
            .get_or_init(|| {
                Self::new().map_err(|e| format!("cannot set up the media downloader: {e}"))
            })
            .clone()
    }

    fn with_rule(rule: AddressRule) -> Result<Self, reqwest::Error> {
        let build = |allow_private: bool, follow: bool| {
            let redirects = if follow {
                reqwest::redirect::Policy::custom(move |attempt| {
                    if attempt.previous().len() >= MAX_REDIRECTS {
                        return attempt.error(TooManyRedirects);
                    }
                    match check_with(attempt.url().as_str(), allow_private, rule) {
                        Ok(_) => attempt.follow(),
                        Err(refused) => attempt.error(refused),
                    }
                })
            } else {
                reqwest::redirect::Policy::none()
            };
            let mut builder = reqwest::Client::builder()
                .user_agent(crate::http::USER_AGENT)
                .connect_timeout(Duration::from_secs(10))
                // A stalled body fails; a long one that keeps coming does not.
                .read_timeout(Duration::from_secs(60))
                .redirect(redirects);
            if !allow_private {
                builder = builder.dns_resolver(Arc::new(PublicOnly(rule)));
            }
            builder.build()
        };
        Ok(Self {
            guarded: build(false, true)?,
            open: build(true, true)?,
            guarded_head: build(false, false)?,
            open_head: build(true, false)?,
            rule,
        })
    }

    /// Asks `url` with `HEAD` where it leads, within `timeout` (connecting included): the
    /// answer's status and `Location`, the redirect not followed and no body read. The
    /// address guards are those of [`MediaFetcher::download_to_file`]; `allow_private` is
    /// the source's `allow_private_media`.
    ///
    /// # Errors
    /// [`FetchError::Refused`] for a URL the guards refuse, [`FetchError::Transport`] when
    /// no answer came in time.
    pub async fn head(
        &self,
        url: &str,
        allow_private: bool,
        timeout: Duration,
    ) -> Result<Head, FetchError> {
        let parsed = check_with(url, allow_private, self.rule)?;
        let client = if allow_private {
            &self.open_head
        } else {
            &self.guarded_head
        };
        let response = client
            .head(parsed.clone())
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| classify(url, e))?;
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parsed.join(v.trim()).ok())
            .map(String::from);
        Ok(Head {
            status: response.status().as_u16(),
            location,
        })
    }

    /// Downloads `url` into a temporary file in `dir`, refusing a body over `max_bytes`
    /// (by its `Content-Length` before reading, and while reading) and a body that is not
    /// an image or a video. `allow_private` is the source's `allow_private_media`.
    ///
    /// # Errors
    /// See [`FetchError`].
    pub async fn download_to_file(
        &self,
        url: &str,
        allow_private: bool,
        max_bytes: u64,
        dir: &Path,
    ) -> Result<Downloaded, FetchError> {
        let parsed = check_with(url, allow_private, self.rule)?;
        let client = if allow_private {
            &self.open
        } else {
            &self.guarded
        };
        let mut response = client
            .get(parsed)
            .send()
            .await
            .map_err(|e| classify(url, e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(FetchError::Status {
                url: url.to_owned(),
                status: status.as_u16(),
            });
        }
        let content_type =
            media_type(response.headers()).map_err(|found| FetchError::WrongType {
                url: url.to_owned(),
                content_type: found,
            })?;
        let too_large = || FetchError::TooLarge {
            url: url.to_owned(),
            max: max_bytes,
        };
        if response.content_length().is_some_and(|len| len > max_bytes) {
            return Err(too_large());
        }
        let temp = tempfile::Builder::new()
            .prefix("birdbridge-media-")
            .tempfile_in(dir)
            .map_err(|e| FetchError::Disk(e.to_string()))?;
        let (file, path) = temp.into_parts();
        let mut file = tokio::fs::File::from_std(file);
        let mut size: u64 = 0;
        while let Some(chunk) = response.chunk().await.map_err(|e| classify(url, e))? {
            size += chunk.len() as u64;
            if size > max_bytes {
                return Err(too_large());
            }
            file.write_all(&chunk)
                .await
                .map_err(|e| FetchError::Disk(e.to_string()))?;
        }
        file.flush()
            .await
            .map_err(|e| FetchError::Disk(e.to_string()))?;
        Ok(Downloaded {
            path,
            size,
            content_type,
        })
    }
}

/// The announced media type: `Ok(Some)` for an image or video, `Ok(None)` when unknown
/// (none, or `application/octet-stream`), `Err` with the type for anything else (an HTML
/// error page served with 200, a script).
fn media_type(headers: &reqwest::header::HeaderMap) -> Result<Option<String>, String> {
    let Some(value) = headers.get(reqwest::header::CONTENT_TYPE) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default();
    let essence = text
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if essence.starts_with("image/") || essence.starts_with("video/") {
        Ok(Some(essence))
    } else if essence.is_empty() || essence == "application/octet-stream" {
        Ok(None)
    } else {
        Err(text.to_owned())
    }
}

/// A reqwest failure as a [`FetchError`]: a refused redirect and a redirect loop are named
/// as such, not as network failures.
fn classify(url: &str, e: reqwest::Error) -> FetchError {
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        if let Some(refused) = s.downcast_ref::<UrlRefused>() {
            return FetchError::Refused(refused.clone());
        }
        if s.downcast_ref::<TooManyRedirects>().is_some() {
            return FetchError::Redirects(url.to_owned());
        }
        source = s.source();
    }
    FetchError::Transport(e)
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

    mod downloads {
        use std::net::SocketAddr;

        use axum::body::Body;
        use axum::http::{header, StatusCode};
        use axum::response::{IntoResponse, Response};
        use axum::routing::get;
        use axum::Router;

        use super::*;

        const PNG: &[u8] = &[0x89, b'P', b'N', b'G', 1, 2, 3, 4];

        /// Serves a few media answers on `ip` (any port).
        async fn serve(ip: &str, redirect_to: Option<String>) -> SocketAddr {
            let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
            let addr = listener.local_addr().unwrap();
            let app = Router::new()
                .route(
                    "/a.png",
                    get(|| async { ([(header::CONTENT_TYPE, "image/png")], PNG) }),
                )
                .route(
                    "/big.png",
                    get(|| async { ([(header::CONTENT_TYPE, "image/png")], vec![7u8; 1000]) }),
                )
                .route(
                    "/streamed.mp4",
                    get(|| async {
                        // No Content-Length: the size shows only while reading.
                        let reader = std::io::Cursor::new(vec![7u8; 100_000]);
                        let body = Body::from_stream(tokio_util::io::ReaderStream::new(reader));
                        ([(header::CONTENT_TYPE, "video/mp4")], body)
                    }),
                )
                .route(
                    "/page.jpg",
                    get(|| async {
                        (
                            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                            "<html>",
                        )
                    }),
                )
                .route(
                    "/loop",
                    get(|| async { (StatusCode::FOUND, [(header::LOCATION, "/loop")]) }),
                )
                .route(
                    "/elsewhere",
                    get(move || {
                        let to = redirect_to.clone().unwrap_or_default();
                        async move { (StatusCode::FOUND, [(header::LOCATION, to)]).into_response() }
                    }),
                )
                .fallback(|| async {
                    Response::builder().status(404).body(Body::empty()).unwrap()
                });
            tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
            addr
        }

        fn fetcher() -> MediaFetcher {
            MediaFetcher::new().unwrap()
        }

        /// Downloads `path` from the server at `addr` into `dir`, private addresses allowed.
        async fn download(
            addr: SocketAddr,
            path: &str,
            max_bytes: u64,
            dir: &tempfile::TempDir,
        ) -> Result<Downloaded, FetchError> {
            fetcher()
                .download_to_file(&format!("http://{addr}{path}"), true, max_bytes, dir.path())
                .await
        }

        #[tokio::test]
        async fn a_body_streams_to_a_temporary_file_removed_on_drop() {
            let addr = serve("127.0.0.1", None).await;
            let dir = tempfile::TempDir::new().unwrap();
            let got = download(addr, "/a.png", 100, &dir).await.unwrap();
            assert_eq!(got.size, PNG.len() as u64);
            assert_eq!(got.content_type.as_deref(), Some("image/png"));
            assert_eq!(std::fs::read(&got.path).unwrap(), PNG);
            let path = got.path.to_path_buf();
            drop(got);
            assert!(!path.exists());
        }

        #[tokio::test]
        async fn too_large_by_content_length_or_while_streaming() {
            let addr = serve("127.0.0.1", None).await;
            let dir = tempfile::TempDir::new().unwrap();
            let by_length = download(addr, "/big.png", 999, &dir).await;
            assert!(
                matches!(by_length, Err(FetchError::TooLarge { max: 999, .. })),
                "{by_length:?}"
            );
            let streamed = download(addr, "/streamed.mp4", 50_000, &dir).await;
            assert!(
                matches!(streamed, Err(FetchError::TooLarge { max: 50_000, .. })),
                "{streamed:?}"
            );
            assert_eq!(
                std::fs::read_dir(dir.path()).unwrap().count(),
                0,
                "no file is left behind"
            );
            let whole = download(addr, "/streamed.mp4", 100_000, &dir)
                .await
                .unwrap();
            assert_eq!(whole.size, 100_000);
        }

        #[tokio::test]
        async fn a_page_is_not_media_and_a_404_is_named() {
            let addr = serve("127.0.0.1", None).await;
            let dir = tempfile::TempDir::new().unwrap();
            let page = download(addr, "/page.jpg", 1000, &dir).await;
            assert!(
                matches!(&page, Err(FetchError::WrongType { content_type, .. }) if content_type.starts_with("text/html")),
                "{page:?}"
            );
            let gone = download(addr, "/gone.jpg", 1000, &dir).await;
            assert!(
                matches!(gone, Err(FetchError::Status { status: 404, .. })),
                "{gone:?}"
            );
        }

        #[tokio::test]
        async fn loopback_is_refused_unless_allowed() {
            let addr = serve("127.0.0.1", None).await;
            let dir = tempfile::TempDir::new().unwrap();
            let refused = fetcher()
                .download_to_file(&format!("http://{addr}/a.png"), false, 1000, dir.path())
                .await;
            assert!(
                matches!(
                    refused,
                    Err(FetchError::Refused(UrlRefused::Private { .. }))
                ),
                "{refused:?}"
            );
        }

        #[tokio::test]
        async fn a_redirect_to_a_private_address_is_refused() {
            // 127.0.0.2 plays the internal service; 127.0.0.1 plays a public media host.
            let private: IpAddr = "127.0.0.2".parse().unwrap();
            let inner = serve("127.0.0.2", None).await;
            let outer = serve("127.0.0.1", Some(format!("http://{inner}/a.png"))).await;
            let dir = tempfile::TempDir::new().unwrap();
            let fetcher =
                MediaFetcher::with_rule(|ip| ip != "127.0.0.2".parse::<IpAddr>().unwrap()).unwrap();
            let got = fetcher
                .download_to_file(
                    &format!("http://{outer}/elsewhere"),
                    false,
                    1000,
                    dir.path(),
                )
                .await;
            assert!(
                matches!(&got, Err(FetchError::Refused(UrlRefused::Private { address, .. })) if *address == private),
                "{got:?}"
            );
            // The same hop is followed when private media is allowed.
            let allowed = fetcher
                .download_to_file(&format!("http://{outer}/elsewhere"), true, 1000, dir.path())
                .await
                .unwrap();
            assert_eq!(allowed.size, PNG.len() as u64);
        }

        #[tokio::test]
        async fn a_head_request_reports_the_redirect_without_following_it() {
            let addr = serve("127.0.0.1", Some("https://example.org/page?a=1".to_owned())).await;
            let timeout = Duration::from_secs(5);
            let head = fetcher()
                .head(&format!("http://{addr}/elsewhere"), true, timeout)
                .await
                .unwrap();
            assert_eq!(
                head,
                Head {
                    status: 302,
                    location: Some("https://example.org/page?a=1".to_owned())
                }
            );
            // A relative Location is made absolute; no redirect is followed.
            let looping = fetcher()
                .head(&format!("http://{addr}/loop"), true, timeout)
                .await
                .unwrap();
            assert_eq!(looping.location, Some(format!("http://{addr}/loop")));
            let plain = fetcher()
                .head(&format!("http://{addr}/a.png"), true, timeout)
                .await
                .unwrap();
            assert_eq!((plain.status, plain.location), (200, None));
            let refused = fetcher()
                .head(&format!("http://{addr}/elsewhere"), false, timeout)
                .await;
            assert!(
                matches!(
                    refused,
                    Err(FetchError::Refused(UrlRefused::Private { .. }))
                ),
                "{refused:?}"
            );
        }

        #[tokio::test]
        async fn a_head_request_that_gets_no_answer_ends_at_its_timeout() {
            // Accepts, then never answers.
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(async move {
                let mut held = Vec::new();
                while let Ok((socket, _)) = listener.accept().await {
                    held.push(socket);
                }
            });
            let started = std::time::Instant::now();
            let got = fetcher()
                .head(
                    &format!("http://{addr}/x"),
                    true,
                    Duration::from_millis(200),
                )
                .await;
            assert!(matches!(got, Err(FetchError::Transport(_))), "{got:?}");
            assert!(started.elapsed() < Duration::from_secs(5));
        }

        #[tokio::test]
        async fn a_redirect_loop_ends() {
            let addr = serve("127.0.0.1", None).await;
            let dir = tempfile::TempDir::new().unwrap();
            let got = download(addr, "/loop", 1000, &dir).await;
            assert!(matches!(got, Err(FetchError::Redirects(_))), "{got:?}");
        }
    }
}
