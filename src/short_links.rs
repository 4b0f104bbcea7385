//! Links X did not expand: a post's link whose address is a `t.co` link itself (X gives the
//! `t.co` link as the entity's `expanded_url` when it could not expand it; `docs/formats.md`)
//! is resolved by asking `t.co` once where it leads, with a `HEAD` request through the
//! guarded fetcher (`crate::fetch`: no private address unless the source allows them, the
//! redirect not followed, no body read, a short timeout). The answer is kept in the ledger
//! (`short_links`), so a link is asked once ever; a link that cannot be resolved stays as it
//! is, with why kept in the ledger (shown by `status`) and a warning in the log.
//!
//! Every answer kept is final, a failure too: a post is rendered again whenever it is
//! offered again (a retry, a restart after a crash), and a part whose outcome is unknown is
//! looked for among the account's statuses by its text, so a link must not read `t.co` in
//! one rendering and its address in the next. For the same reason a post is not delivered
//! while one of its links is unknown because the run was asked to stop during the question
//! ([`ExpandError::Cancelled`]). What is not an answer is not kept: a refused `tco_url` (a
//! configuration to fix), a dry run's links.
//!
//! Resolving happens between a source and the engine: the drivers (archive and API
//! backfill, the daemon's cycles) hand each post to [`expanded`] right before the engine
//! renders it, so the renderer stays pure, a post is resolved only when it is about to be
//! delivered (a large archive is not asked about all at once before its first post goes
//! out), and every way a post reaches the engine (a poll, leftovers, a backfill job) passes
//! through it. A dry run asks nothing: it uses the answers the ledger already has.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::clock::Clock;
use crate::fetch::{FetchError, Head, MediaFetcher};
use crate::model::{FacetKind, Post};
use crate::store::{Ledger, ShortLink, StoreError};

/// Where `t.co` links are resolved unless a source says otherwise (its `tco_url`).
pub const TCO_URL: &str = "https://t.co";

/// How long one question to `t.co` may take, connecting included.
const TIMEOUT: Duration = Duration::from_secs(5);

/// After `t.co` did not answer at all, the links met in this long are not asked (each would
/// wait for its timeout, a long pause in a backfill when `t.co` cannot be reached at all):
/// they stay as they are, recorded as such.
const REST_AFTER_SILENCE: chrono::Duration = chrono::Duration::minutes(1);

/// Why [`expanded`] gave no post to deliver.
#[derive(Debug, thiserror::Error)]
pub enum ExpandError {
    /// The ledger failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The run was asked to stop during a question: the post is not delivered now (it is
    /// offered again by the next run, and asked about then).
    #[error("stopped on request")]
    Cancelled,
}

/// What asking about one link gave.
enum Outcome {
    /// An answer to keep: the address, or why there is none.
    Answer(Result<String, String>),
    /// Not asked, for a reason that is no answer (nothing kept).
    Unasked(String),
    /// The run was asked to stop.
    Cancelled,
}

/// The code of a `t.co` link (`https://t.co/AbC123` gives `AbC123`), whatever its scheme,
/// the case of its host, or a query after it; `None` for any other address.
pub fn short_code(url: &str) -> Option<&str> {
    let after = |scheme: &str| {
        url.get(..scheme.len())
            .filter(|s| s.eq_ignore_ascii_case(scheme))
            .map(|_| &url[scheme.len()..])
    };
    let rest = after("https://").or_else(|| after("http://"))?;
    let (host, path) = rest.split_once('/')?;
    if !host.eq_ignore_ascii_case("t.co") {
        return None;
    }
    let code = path.split(['?', '#']).next().unwrap_or_default();
    (!code.is_empty() && code.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(code)
}

/// Whether `url` is a `t.co` link.
pub fn is_short_link(url: &str) -> bool {
    short_code(url).is_some()
}

/// The one spelling a `t.co` link is kept under in the ledger.
fn canonical(code: &str) -> String {
    format!("https://t.co/{code}")
}

/// A source's way to resolve its `t.co` links (see the module docs). Clones share the
/// memory of a silent `t.co`.
#[derive(Debug, Clone)]
pub struct ShortLinks {
    /// `https://t.co`, or a local stand-in (tests), without a trailing slash.
    base: String,
    allow_private: bool,
    /// `None` when the TLS backend cannot be set up: nothing is asked then.
    fetcher: Option<MediaFetcher>,
    /// Until when `t.co` is not asked after it did not answer.
    silent: Arc<Mutex<Option<Silence>>>,
}

/// `t.co` did not answer: it is not asked until `until`.
#[derive(Debug, Clone)]
struct Silence {
    until: DateTime<Utc>,
    /// What happened, for the links not asked meanwhile.
    why: String,
}

/// What [`ShortLinks::expand`] runs with.
#[derive(Debug, Clone, Copy)]
pub struct Asking<'a> {
    /// The ledger that keeps the answers.
    pub ledger: &'a Arc<Ledger>,
    /// The run's clock.
    pub clock: &'a Clock,
    /// Ends a question in flight: the post is then not delivered
    /// ([`ExpandError::Cancelled`]).
    pub cancel: &'a CancellationToken,
    /// Ask nothing and record nothing; answers the ledger has are used.
    pub dry_run: bool,
    /// The source's name, kept with each link for `status`.
    pub source: &'a str,
}

impl ShortLinks {
    /// Resolves at `base` (a source's `tco_url`); `allow_private` is the source's
    /// `allow_private_media`.
    pub fn new(base: &str, allow_private: bool) -> Self {
        let fetcher = MediaFetcher::shared()
            .inspect_err(|e| warn!(error = %e, "t.co links will not be resolved"))
            .ok();
        Self {
            base: base.trim_end_matches('/').to_owned(),
            allow_private,
            fetcher,
            silent: Arc::new(Mutex::new(None)),
        }
    }

    /// The post with each `t.co` link resolved where an answer is known or can be had now;
    /// `None` when nothing changed. One ledger call to read what is known, one to record
    /// new answers; none at all for a post without `t.co` links.
    ///
    /// # Errors
    /// See [`ExpandError`].
    pub async fn expand(&self, post: &Post, how: Asking<'_>) -> Result<Option<Post>, ExpandError> {
        let links: Vec<(usize, String)> = post
            .facets
            .iter()
            .enumerate()
            .filter_map(|(i, f)| match &f.kind {
                FacetKind::Link { url } => short_code(url).map(|code| (i, canonical(code))),
                _ => None,
            })
            .collect();
        if links.is_empty() {
            return Ok(None);
        }
        let mut urls: Vec<String> = links.iter().map(|(_, u)| u.clone()).collect();
        urls.sort_unstable();
        urls.dedup();
        let known = {
            let urls = urls.clone();
            how.ledger.call(move |l| l.short_links(&urls)).await?
        };
        let mut answers: HashMap<String, String> = HashMap::new();
        let mut asked: Vec<ShortLink> = Vec::new();
        let id = &post.id;
        for url in urls {
            if let Some(link) = known.get(&url) {
                if let Ok(to) = &link.answer {
                    answers.insert(url, to.clone());
                }
                continue;
            }
            if how.dry_run {
                info!(post = %id, link = %url, "dry run: t.co link not resolved (a real run asks t.co once)");
                continue;
            }
            let now = how.clock.now();
            let answer = match self.ask(&url, how.cancel, now).await {
                Outcome::Answer(answer) => answer,
                Outcome::Unasked(why) => {
                    warn!(post = %id, link = %url, reason = %why, "t.co link not resolved: left as it is");
                    continue;
                }
                Outcome::Cancelled => return Err(ExpandError::Cancelled),
            };
            match &answer {
                Ok(to) => {
                    info!(post = %id, link = %url, to = %to, "t.co link resolved");
                    answers.insert(url.clone(), to.clone());
                }
                Err(why) => {
                    warn!(post = %id, link = %url, reason = %why, "t.co link not resolved: left as it is");
                }
            }
            asked.push(ShortLink {
                url,
                answer,
                source: how.source.to_owned(),
                post_id: id.0.clone(),
                asked_at: now,
            });
        }
        if !asked.is_empty() {
            how.ledger
                .call(move |l| {
                    for link in &asked {
                        l.record_short_link(link)?;
                    }
                    Ok(())
                })
                .await?;
        }
        if answers.is_empty() {
            return Ok(None);
        }
        let mut out = post.clone();
        for (index, url) in &links {
            if let Some(to) = answers.get(url) {
                out.replace_link(*index, to);
            }
        }
        Ok(Some(out))
    }

    /// Asks where `url` leads.
    async fn ask(&self, url: &str, cancel: &CancellationToken, now: DateTime<Utc>) -> Outcome {
        let silence = self
            .silent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        if let Some(silence) = silence.filter(|s| now < s.until) {
            return Outcome::Answer(Err(format!("not asked: {} a moment ago", silence.why)));
        }
        let Some(fetcher) = &self.fetcher else {
            return Outcome::Unasked("the HTTP client cannot be set up".to_owned());
        };
        let code = short_code(url).unwrap_or_default();
        let request = format!("{}/{code}", self.base);
        let answer = tokio::select! {
            biased;
            () = cancel.cancelled() => return Outcome::Cancelled,
            answer = fetcher.head(&request, self.allow_private, TIMEOUT) => answer,
        };
        match answer {
            Ok(Head {
                status: 301 | 302 | 303 | 307 | 308,
                location: Some(to),
            }) if to.starts_with("https://") || to.starts_with("http://") => {
                Outcome::Answer(Ok(to))
            }
            Ok(Head { status, .. }) => Outcome::Answer(Err(format!(
                "{request} answered HTTP {status} without a redirect to a web address"
            ))),
            Err(FetchError::Transport(e)) => {
                let why = format!("{} did not answer", self.base);
                *self
                    .silent
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Silence {
                    until: now + REST_AFTER_SILENCE,
                    why: why.clone(),
                });
                Outcome::Answer(Err(format!("{why}: {e}")))
            }
            // The guard refused `tco_url` itself: a configuration to fix, not an answer.
            Err(e) => Outcome::Unasked(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::http::{header, StatusCode, Uri};
    use axum::response::IntoResponse;
    use axum::Router;
    use rstest::rstest;

    use super::*;
    use crate::model::{Author, Facet, Post};

    /// A `t.co` on 127.0.0.1: `/good` leads to `https://example.org/good`, anything else is
    /// 404; counts the questions.
    async fn tco(asked: Arc<AtomicUsize>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new().fallback(move |uri: Uri| {
            asked.fetch_add(1, Ordering::SeqCst);
            async move {
                if uri.path() == "/good" {
                    (
                        StatusCode::MOVED_PERMANENTLY,
                        [(header::LOCATION, "https://example.org/good")],
                    )
                        .into_response()
                } else {
                    StatusCode::NOT_FOUND.into_response()
                }
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        url
    }

    /// A post whose text is `links` joined by spaces, each a link facet.
    fn linked_post(id: &str, links: &[&str]) -> Post {
        let mut text = String::new();
        let mut facets = Vec::new();
        for link in links {
            if !text.is_empty() {
                text.push(' ');
            }
            facets.push(Facet {
                range: text.len()..text.len() + link.len(),
                kind: FacetKind::Link {
                    url: (*link).to_owned(),
                },
            });
            text.push_str(link);
        }
        Post {
            author: Author::named("a"),
            created_at: DateTime::UNIX_EPOCH,
            facets,
            ..Post::sample(id, &text)
        }
    }

    struct Run {
        ledger: Arc<Ledger>,
        clock: Clock,
        cancel: CancellationToken,
        _dir: tempfile::TempDir,
    }

    impl Run {
        fn new() -> Self {
            let dir = tempfile::TempDir::new().unwrap();
            Self {
                ledger: Arc::new(Ledger::open(&dir.path().join("l.sqlite")).unwrap()),
                clock: Clock::System,
                cancel: CancellationToken::new(),
                _dir: dir,
            }
        }

        fn asking(&self, dry_run: bool) -> Asking<'_> {
            Asking {
                ledger: &self.ledger,
                clock: &self.clock,
                cancel: &self.cancel,
                dry_run,
                source: "s",
            }
        }

        async fn text(&self, links: &ShortLinks, post: &Post, dry_run: bool) -> String {
            links
                .expand(post, self.asking(dry_run))
                .await
                .unwrap()
                .map_or_else(|| post.text.clone(), |expanded| expanded.text)
        }
    }

    /// Each link is asked once, its answer kept for good, a failure too; a link X did
    /// expand is never asked; a dry run uses what is known and asks nothing.
    #[tokio::test]
    async fn each_link_is_asked_once_and_its_answer_kept() {
        let asked = Arc::new(AtomicUsize::new(0));
        let links = ShortLinks::new(&tco(Arc::clone(&asked)).await, true);
        let run = Run::new();
        let post = linked_post(
            "1",
            &[
                "https://t.co/good",
                "https://t.co/gone",
                "https://example.org/x",
            ],
        );
        assert_eq!(
            run.text(&links, &linked_post("0", &["https://t.co/good"]), true)
                .await,
            "https://t.co/good",
            "a dry run asks nothing"
        );
        assert_eq!(asked.load(Ordering::SeqCst), 0);
        let want = "https://example.org/good https://t.co/gone https://example.org/x";
        assert_eq!(run.text(&links, &post, false).await, want);
        assert_eq!(asked.load(Ordering::SeqCst), 2);
        assert_eq!(run.text(&links, &post, false).await, want);
        assert_eq!(run.text(&links, &post, true).await, want);
        assert_eq!(asked.load(Ordering::SeqCst), 2, "not asked again");
        let unresolved = run.ledger.unresolved_short_links().unwrap();
        assert_eq!(unresolved.len(), 1);
        assert_eq!(
            (unresolved[0].url.as_str(), unresolved[0].post_id.as_str()),
            ("https://t.co/gone", "1")
        );
        assert!(unresolved[0]
            .answer
            .as_ref()
            .unwrap_err()
            .contains("answered HTTP 404"));
    }

    /// After `t.co` did not answer, the next links are not asked for a while (each would
    /// wait for its timeout): recorded unresolved with why.
    #[tokio::test]
    async fn a_silent_t_co_is_not_asked_again_at_once() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let links = ShortLinks::new(&format!("http://127.0.0.1:{closed}"), true);
        let run = Run::new();
        let post = linked_post("1", &["https://t.co/a", "https://t.co/b"]);
        assert_eq!(
            run.text(&links, &post, false).await,
            "https://t.co/a https://t.co/b"
        );
        let mut why: Vec<String> = run
            .ledger
            .unresolved_short_links()
            .unwrap()
            .into_iter()
            .map(|l| format!("{}: {}", l.url, l.answer.unwrap_err()))
            .collect();
        why.sort();
        assert!(
            why[0].starts_with(&format!(
                "https://t.co/a: http://127.0.0.1:{closed} did not answer: "
            )),
            "{why:?}"
        );
        assert_eq!(
            why[1],
            format!(
                "https://t.co/b: not asked: http://127.0.0.1:{closed} did not answer a moment ago"
            )
        );
    }

    /// A stop request during a question: no post to deliver, nothing kept; a refused
    /// `tco_url` is no answer either.
    #[tokio::test]
    async fn a_stop_or_a_refused_address_keeps_nothing() {
        let links = ShortLinks::new(&tco(Arc::new(AtomicUsize::new(0))).await, true);
        let run = Run::new();
        run.cancel.cancel();
        let post = linked_post("1", &["https://t.co/good"]);
        let got = links.expand(&post, run.asking(false)).await;
        assert!(matches!(got, Err(ExpandError::Cancelled)), "{got:?}");

        let guarded = ShortLinks::new(&tco(Arc::new(AtomicUsize::new(0))).await, false);
        let run = Run::new();
        assert_eq!(run.text(&guarded, &post, false).await, "https://t.co/good");
        let known = run
            .ledger
            .short_links(&["https://t.co/good".to_owned()])
            .unwrap();
        assert!(known.is_empty(), "{known:?}");
    }

    #[rstest]
    #[case("https://t.co/AbC123xyZ9", Some("AbC123xyZ9"))]
    #[case("http://t.co/Sn6ff7Gh", Some("Sn6ff7Gh"))]
    #[case("HTTPS://T.CO/abc", Some("abc"))]
    #[case("https://t.co/abc?amp=1", Some("abc"))]
    #[case("https://t.co/abc#x", Some("abc"))]
    #[case("https://t.co/", None)]
    #[case("https://t.co", None)]
    #[case("https://t.co/a/b", None)]
    #[case("https://t.co/a-b", None)]
    #[case("https://t.com/abc", None)]
    #[case("https://at.co/abc", None)]
    #[case("https://t.co.example.org/abc", None)]
    #[case("https://example.org/?u=https://t.co/abc", None)]
    #[case("ftp://t.co/abc", None)]
    #[case("t.co/abc", None)]
    #[case("https://example.org/page", None)]
    fn t_co_links_are_told_apart(#[case] url: &str, #[case] code: Option<&str>) {
        assert_eq!(short_code(url), code, "{url}");
        assert_eq!(is_short_link(url), code.is_some());
    }
}
