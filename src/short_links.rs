//! Links X did not expand: a post's link whose address is a `t.co` link itself (X gives the
//! `t.co` link as the entity's `expanded_url` when it could not expand it; `docs/formats.md`)
//! is resolved by asking `t.co` once where it leads, with a `HEAD` request through the
//! guarded fetcher (`crate::fetch`: no private address unless the source allows them, the
//! redirect not followed, no body read, a short timeout). The answer is kept in the ledger
//! (`short_links`), so a link is asked once ever; a link that cannot be resolved stays as it
//! is, with why kept in the ledger (shown by `status`) and a warning in the log, and is asked
//! again after [`ASK_AGAIN_AFTER`].
//!
//! Resolving happens between a source and the engine: the drivers (archive and API
//! backfill, the daemon's cycles) hand each post to [`expanded`] right before the engine
//! renders it, so the renderer stays pure, a post is resolved only when it is about to be
//! delivered (a large archive is not asked about all at once before its first post goes
//! out), and every way a post reaches the engine (a poll, leftovers, a backfill job) passes
//! through it. A dry run asks nothing: it uses the answers the ledger already has.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::clock::Clock;
use crate::fetch::{FetchError, Head, MediaFetcher};
use crate::model::FacetKind;
use crate::sources::Found;
use crate::store::{Ledger, ShortLink, StoreError};

/// Where `t.co` links are resolved unless a source says otherwise (its `tco_url`).
pub const TCO_URL: &str = "https://t.co";

/// How long one question to `t.co` may take, connecting included.
const TIMEOUT: Duration = Duration::from_secs(5);

/// A link that could not be resolved is asked again after this long (when a post with it is
/// offered again).
pub const ASK_AGAIN_AFTER: chrono::Duration = chrono::Duration::hours(1);

/// After `t.co` did not answer at all, the links met in this long are not asked (each would
/// wait for its timeout): they stay as they are, and are asked again later.
const REST_AFTER_SILENCE: chrono::Duration = chrono::Duration::minutes(5);

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
    silent_until: Arc<Mutex<Option<DateTime<Utc>>>>,
}

/// What [`ShortLinks::expand`] runs with.
#[derive(Debug, Clone, Copy)]
pub struct Asking<'a> {
    /// The ledger that keeps the answers.
    pub ledger: &'a Arc<Ledger>,
    /// The run's clock.
    pub clock: &'a Clock,
    /// Ends a question in flight (the link then stays as it is, unrecorded).
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
            silent_until: Arc::new(Mutex::new(None)),
        }
    }

    /// The post with each `t.co` link resolved where an answer is known or can be had now;
    /// `None` when nothing changed. One ledger call to read what is known, one to record
    /// new answers; none at all for a post without `t.co` links.
    ///
    /// # Errors
    /// The ledger's.
    pub async fn expand(
        &self,
        found: &Found,
        how: Asking<'_>,
    ) -> Result<Option<Found>, StoreError> {
        let links: Vec<(usize, String)> = found
            .post
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
        for url in urls {
            let now = how.clock.now();
            match known.get(&url) {
                Some(ShortLink { answer: Ok(to), .. }) => {
                    answers.insert(url, to.clone());
                    continue;
                }
                Some(ShortLink { asked_at, .. }) if now - *asked_at < ASK_AGAIN_AFTER => continue,
                _ => {}
            }
            if how.dry_run {
                info!(post = %found.post.id, link = %url, "dry run: t.co link not resolved (a real run asks t.co once)");
                continue;
            }
            let Some(answer) = self.ask(&url, how.cancel, now).await else {
                break;
            };
            match &answer {
                Ok(to) => {
                    info!(post = %found.post.id, link = %url, to = %to, "t.co link resolved");
                    answers.insert(url.clone(), to.clone());
                }
                Err(why) => {
                    warn!(post = %found.post.id, link = %url, reason = %why, "t.co link not resolved: left as it is");
                }
            }
            asked.push(ShortLink {
                url,
                answer,
                source: how.source.to_owned(),
                post_id: found.post.id.0.clone(),
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
        let mut out = found.clone();
        for (index, url) in &links {
            if let Some(to) = answers.get(url) {
                out.post.replace_link(*index, to);
            }
        }
        Ok(Some(out))
    }

    /// Asks where `url` leads: the address, or why it is not known; `None` when the run was
    /// asked to stop meanwhile.
    async fn ask(
        &self,
        url: &str,
        cancel: &CancellationToken,
        now: DateTime<Utc>,
    ) -> Option<Result<String, String>> {
        let silent = *self
            .silent_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if silent.is_some_and(|until| now < until) {
            return Some(Err(format!(
                "not asked: {} did not answer a moment ago",
                self.base
            )));
        }
        let Some(fetcher) = &self.fetcher else {
            return Some(Err("the HTTP client cannot be set up".to_owned()));
        };
        let code = short_code(url).unwrap_or_default();
        let request = format!("{}/{code}", self.base);
        let answer = tokio::select! {
            biased;
            () = cancel.cancelled() => return None,
            answer = fetcher.head(&request, self.allow_private, TIMEOUT) => answer,
        };
        Some(match answer {
            Ok(Head {
                status: 301 | 302 | 303 | 307 | 308,
                location: Some(to),
            }) if to.starts_with("https://") || to.starts_with("http://") => Ok(to),
            Ok(Head { status, .. }) => Err(format!(
                "{request} answered HTTP {status} without a redirect to a web address"
            )),
            Err(FetchError::Transport(e)) => {
                *self
                    .silent_until
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) =
                    Some(now + REST_AFTER_SILENCE);
                Err(format!("{} did not answer: {e}", self.base))
            }
            Err(e) => Err(e.to_string()),
        })
    }
}

/// `found` with its `t.co` links resolved by `links` (a source that has no such links
/// passes `None`), for a driver to hand to the engine.
///
/// # Errors
/// The ledger's.
pub async fn expanded<'f>(
    found: &'f Found,
    links: Option<&ShortLinks>,
    how: Asking<'_>,
) -> Result<Cow<'f, Found>, StoreError> {
    let Some(links) = links else {
        return Ok(Cow::Borrowed(found));
    };
    Ok(match links.expand(found, how).await? {
        Some(changed) => Cow::Owned(changed),
        None => Cow::Borrowed(found),
    })
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

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
