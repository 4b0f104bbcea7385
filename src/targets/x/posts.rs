//! Posts on X, never sent twice (`docs/x-target.md`, "Posting", "Reconciliation"). X has
//! no idempotency key, so:
//!
//! - a post whose outcome is unknown (a timeout, a broken connection, a 5xx) is looked for
//!   among the account's own recent posts, and adopted when found; when it is not found,
//!   the part stays unsettled, and the next attempt reads the account again before
//!   anything is resent;
//! - X's "duplicate content" refusal counts as posted only when that reading finds the
//!   post, created since the part's own earlier attempt;
//! - a post found once is never adopted for another part ([`Session::known`]).
//!
//! A reply X refuses (its rule since 2026-02-23: replies only where the parent's author
//! summoned the account; whether a thread of one's own counts is not documented) is posted
//! again as a post of its own, and so is the rest of the thread in this run: the parts are
//! numbered by the renderer, and a note says why they stand alone. A reblog of a mirrored
//! post becomes a repost.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use tracing::{info, warn};

use super::answer::XError;
use super::calls::{target_error, XCalls};
use super::client::{Account, NewPost, OwnPost, OwnPostsQuery};
use super::reconcile::{self, Sent};
use crate::budget::Family;
use crate::render::count::x_weighted;
use crate::targets::{
    Attached, Delivered, Outgoing, RepliesTo, Retracted, Retraction, TargetError,
};

/// How far before an attempt X's clock may be, as far as reconciliation cares.
const CLOCK_MARGIN: Duration = Duration::minutes(2);
/// Posts read per page when reconciling (each is billed as an owned read).
const PAGE: u8 = 20;
/// Pages read at most when reconciling.
const MAX_PAGES: usize = 3;

/// What posting to one account remembers within a run.
#[derive(Debug, Default)]
pub struct Session {
    /// The account, once connected.
    pub account: Option<Account>,
    /// Posts delivered or adopted in this run: never adopted for another part.
    known: HashSet<String>,
    /// Parts reconciliation did not find, by idempotency key, with the time of their
    /// interrupted attempt: a duplicate refusal of their resend is looked up from then on.
    missed: HashMap<String, DateTime<Utc>>,
    /// X refused a reply in this run: the rest of the threads go as posts of their own.
    replies_refused: bool,
    /// Notes about the part just delivered, for the engine to record.
    pub notes: Vec<String>,
}

impl Session {
    fn account(&self, target: &str) -> Result<&Account, TargetError> {
        self.account.as_ref().ok_or_else(|| TargetError::Setup {
            message: format!("target `{target}` was used before connecting"),
        })
    }

    fn delivered(&mut self, id: String) -> Delivered {
        self.known.insert(id.clone());
        let url = self
            .account
            .as_ref()
            .map(|a| format!("https://x.com/{}/status/{id}", a.username));
        // X's answer is only the post's id and text; a refused reply is its own error
        // (`ReplyRefused`), handled before this.
        Delivered {
            remote_id: id,
            url,
            replies_to: RepliesTo::Unsaid,
        }
    }
}

/// The text of a part on X: the warning as its first line, then the text.
pub fn text_of(out: &Outgoing<'_>, text: &str) -> String {
    x_weighted::with_warning(out.part.spoiler_text.as_deref(), text)
}

/// Posts the part with its uploads: a reply to `out.in_reply_to` (or alone, when X refuses
/// the reply), quoting `part.quote_of` where the plan allows it.
pub async fn post(
    calls: &XCalls,
    session: &mut Session,
    out: Outgoing<'_>,
    attached: &Attached,
) -> Result<Delivered, TargetError> {
    let fail = |e: XError| target_error(calls.account().target(), calls.account().now(), e);
    let text = text_of(&out, &attached.text);
    let media_ids: Vec<String> = attached.media.iter().map(|m| m.media_id.clone()).collect();
    let quote_of = out.part.quote_of.as_deref();
    let mut reply_to = out.in_reply_to;
    if reply_to.is_some() && session.replies_refused {
        reply_to = None;
        session.notes.push(alone_note(out.in_reply_to));
    }
    let started = calls.account().now();
    let api = calls.api();
    loop {
        let new = NewPost {
            text: &text,
            media_ids: &media_ids,
            reply_to,
            quote_of,
        };
        let error = match calls
            .call(Some(Family::Statuses), false, || api.create_post(&new))
            .await
        {
            Ok(created) => return Ok(session.delivered(created.id)),
            Err(e) => e,
        };
        match error {
            XError::ReplyRefused { message } if quote_of.is_some() => {
                return Err(TargetError::Rejected {
                    status: Some(403),
                    message: format!(
                        "X refused the quote ({message}): set `quotes = \"link\"` for this target unless its plan allows quotes"
                    ),
                });
            }
            XError::ReplyRefused { message } if reply_to.is_some() => {
                warn!(target = %calls.account().target(), post = out.source_post_id, part = out.part_index, %message, "X refused the reply: posting it as a post of its own");
                session.replies_refused = true;
                session.notes.push(alone_note(reply_to));
                reply_to = None;
            }
            XError::DuplicateContent { message } => {
                let since = session
                    .missed
                    .get(out.idempotency_key)
                    .copied()
                    .unwrap_or(started);
                let found = search(calls, session, &out, &text, media_ids.len(), since).await?;
                if let Some(found) = found {
                    info!(target = %calls.account().target(), id = %found, "X refused a duplicate of a post of this part's earlier attempt: adopted");
                    return Ok(session.delivered(found));
                }
                return Err(TargetError::Rejected {
                    status: Some(403),
                    message: format!(
                        "X refused it as a duplicate of an earlier post of the account ({message}), and no post of this part's attempts was found"
                    ),
                });
            }
            XError::UnknownOutcome { message } => {
                warn!(target = %calls.account().target(), error = %message, "post outcome unknown at X; reading the account's posts");
                // Give X the time to finish what it may be doing, then look. A stop
                // request here must not pass for "not sent".
                let grace =
                    Duration::from_std(calls.api().timeout()).unwrap_or(Duration::seconds(30));
                if calls.account().pause(grace).await.is_err() {
                    return Err(TargetError::UnknownOutcome { message });
                }
                let found = search(calls, session, &out, &text, media_ids.len(), started).await;
                return match found {
                    Ok(Some(found)) => {
                        info!(target = %calls.account().target(), id = %found, "post found after an unknown outcome: adopted");
                        Ok(session.delivered(found))
                    }
                    Ok(None) => Err(TargetError::UnknownOutcome { message }),
                    Err(e) => {
                        warn!(target = %calls.account().target(), error = %e, "cannot read the account's posts now");
                        Err(TargetError::UnknownOutcome { message })
                    }
                };
            }
            other => return Err(fail(other)),
        }
    }
}

/// The note of a part posted on its own after X refused the reply to `parent`.
fn alone_note(parent: Option<&str>) -> String {
    format!(
        "X refused the reply to {}: posted as a post of its own (a numbered part of the thread)",
        parent.unwrap_or("the previous part")
    )
}

/// Reposts the mirrored post `original`; a repost X already has is adopted.
pub async fn repost(
    calls: &XCalls,
    session: &mut Session,
    original: &str,
) -> Result<Delivered, TargetError> {
    let fail = |e: XError| target_error(calls.account().target(), calls.account().now(), e);
    let user = session.account(calls.account().target())?.id.clone();
    let started = calls.account().now();
    let api = calls.api();
    let answer = calls
        .call(Some(Family::Reposts), false, || api.repost(&user, original))
        .await;
    let error = match answer {
        Ok(Some(id)) => return Ok(session.delivered(id)),
        Ok(None) => None,
        // Perhaps posted, or posted before (X may refuse a second repost): the account's
        // posts say.
        Err(
            e
            @ (XError::UnknownOutcome { .. } | XError::Forbidden { .. } | XError::Rejected { .. }),
        ) => Some(e),
        Err(e) => return Err(fail(e)),
    };
    let found = find_repost(calls, session, original, started).await;
    let id = match (found, error) {
        (Ok(Some(id)), _) => id,
        // X said yes without naming the repost: the original's id stands for it.
        (Ok(None), None) => original.to_owned(),
        (_, Some(XError::UnknownOutcome { message })) => {
            return Err(TargetError::UnknownOutcome { message })
        }
        (_, Some(XError::Forbidden { message, .. })) => {
            return Err(TargetError::Rejected {
                status: Some(403),
                message: format!("X refused the repost: {message}"),
            })
        }
        (_, Some(other)) => return Err(fail(other)),
        (Err(e), None) => return Err(e),
    };
    Ok(session.delivered(id))
}

/// Takes a post back: `DELETE /2/tweets/{id}`, or for a repost
/// `DELETE /2/users/{id}/retweets/{original}` (the original is never deleted: X may have
/// answered the repost with the original's id). Both on the deletes budget (X: 50 per 15
/// minutes per user); a post X no longer has (404) counts as taken back.
pub async fn retract(
    calls: &XCalls,
    session: &Session,
    what: Retraction<'_>,
) -> Result<Retracted, TargetError> {
    let api = calls.api();
    let still_there = match what {
        Retraction::Status(id) => calls
            .call(Some(Family::Deletes), true, || api.delete_post(id))
            .await
            .map(|deleted| !deleted),
        Retraction::Boost { original } => {
            let user = session.account(calls.account().target())?.id.clone();
            calls
                .call(Some(Family::Deletes), true, || {
                    api.unrepost(&user, original)
                })
                .await
        }
    };
    match still_there {
        Ok(false) => Ok(Retracted::Done),
        Ok(true) => Err(TargetError::Rejected {
            status: None,
            message: "X answered, but says the post is still there".to_owned(),
        }),
        Err(XError::Rejected { status: 404, .. }) => Ok(Retracted::AlreadyGone),
        Err(e) => Err(target_error(
            calls.account().target(),
            calls.account().now(),
            e,
        )),
    }
}

/// After an interrupted attempt (stamped at `attempt_at`): the part's post, if X has it.
pub async fn reconcile(
    calls: &XCalls,
    session: &mut Session,
    out: Outgoing<'_>,
    attempt_at: DateTime<Utc>,
) -> Result<Option<Delivered>, TargetError> {
    let found = if let Some(original) = &out.part.boost_of {
        find_repost(calls, session, original, attempt_at).await?
    } else {
        let text = text_of(&out, &out.part.text);
        let media = out.part.media.len();
        search(calls, session, &out, &text, media, attempt_at).await?
    };
    if let Some(id) = found {
        return Ok(Some(session.delivered(id)));
    }
    session
        .missed
        .insert(out.idempotency_key.to_owned(), attempt_at);
    Ok(None)
}

/// The account's posts created since `since` (less the clock margin), newest first, not
/// known to this run already.
async fn recent(
    calls: &XCalls,
    session: &Session,
    since: DateTime<Utc>,
) -> Result<Vec<OwnPost>, TargetError> {
    let fail = |e: XError| target_error(calls.account().target(), calls.account().now(), e);
    let user = session.account(calls.account().target())?.id.clone();
    let api = calls.api();
    let mut posts = Vec::new();
    let mut query = OwnPostsQuery {
        start_time: Some(since - CLOCK_MARGIN),
        max_results: PAGE,
        pagination_token: None,
    };
    for _ in 0..MAX_PAGES {
        let page = calls
            .call(None, true, || api.own_posts(&user, &query))
            .await
            .map_err(fail)?;
        posts.extend(
            page.posts
                .into_iter()
                .filter(|p| !session.known.contains(&p.id)),
        );
        match page.next_token {
            Some(token) => query.pagination_token = Some(token),
            None => break,
        }
    }
    Ok(posts)
}

/// Looks for the part among the account's recent posts: as a reply or (after a refused
/// reply) alone, with all its media or fewer (one that could not go was linked instead).
async fn search(
    calls: &XCalls,
    session: &Session,
    out: &Outgoing<'_>,
    text: &str,
    media: usize,
    since: DateTime<Utc>,
) -> Result<Option<String>, TargetError> {
    let posts = recent(calls, session, since).await?;
    let replies: &[Option<&str>] = if out.in_reply_to.is_some() {
        &[out.in_reply_to, None]
    } else {
        &[None]
    };
    for media in (0..=media).rev() {
        for reply_to in replies {
            let sent = Sent {
                text,
                reply_to: *reply_to,
                quote_of: out.part.quote_of.as_deref(),
                media,
                not_before: Some(since - CLOCK_MARGIN),
            };
            if let Some(p) = reconcile::find(&posts, &sent) {
                return Ok(Some(p.id.clone()));
            }
        }
    }
    Ok(None)
}

async fn find_repost(
    calls: &XCalls,
    session: &Session,
    original: &str,
    since: DateTime<Utc>,
) -> Result<Option<String>, TargetError> {
    let posts = recent(calls, session, since).await?;
    Ok(reconcile::find_repost(&posts, original).map(|p| p.id.clone()))
}
