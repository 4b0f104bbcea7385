//! Statuses on the server: the JSON of a new status and of an edit, the status post with
//! what it takes to never post twice (an unknown outcome is looked for among the account's
//! statuses before it is sent again), boosts, and that search ([`search`]), which is also
//! how an interrupted part is reconciled.

use chrono::Duration;
use serde_json::{json, Map, Value};
use tracing::{info, warn};

use super::calls::{Calls, Repeatable, MAX_TRANSIENT_RETRIES, RETRY};
use super::client::Transport;
use super::connect::Connected;
use super::{lenient, quirks, reconcile};
use crate::budget::Family;
use crate::config::Visibility;
use crate::targets::{AttachedMedia, Delivered, Outgoing, RepliesTo, TargetError};

/// Status posts refused with "media not processed yet" before giving up for this run.
const MAX_PROCESSING_RETRIES: u32 = 4;
/// Statuses looked at when reconciling.
const RECONCILE_WINDOW: u32 = 40;

/// Boosts the mirrored status `original` (a second reblog of the same status returns the
/// first, so it is safe to repeat).
pub async fn boost(
    calls: &Calls,
    original: &str,
    out: Outgoing<'_>,
) -> Result<Delivered, TargetError> {
    // A boost cannot be direct; the route's visibility otherwise applies to it.
    let body = match out.part.visibility {
        Visibility::Direct => json!({}),
        v => json!({"visibility": v.as_str()}),
    };
    calls
        .repeatable_write(Repeatable::Boost {
            original,
            body: &body,
            key: out.idempotency_key,
        })
        .await
}

/// Posts the status, waiting out rate limits and media processing; a write whose
/// outcome is unknown is reconciled before it is sent again.
pub async fn post(
    calls: &Calls,
    c: &Connected,
    body: &Value,
    out: Outgoing<'_>,
    text: &str,
) -> Result<Delivered, TargetError> {
    let honours = c.quirks.honours_idempotency;
    let (mut waits, mut retries, mut processing, mut resent) = (0, 0, 0, false);
    let send = move || calls.api().post_status(body, out.idempotency_key);
    loop {
        let unknown = match calls.send(Family::Statuses, &mut waits, send).await? {
            Ok(answer) => match answer.status {
                200..=299 => return answer.delivered(),
                422 if answer.is_processing() => {
                    if processing >= MAX_PROCESSING_RETRIES {
                        // Not the part's fault: its media ids are kept for the retry.
                        return Err(TargetError::Transient {
                            message: format!("media still processing: {}", answer.message()),
                        });
                    }
                    processing += 1;
                    info!(target = %calls.account().target(), "media still processing; waiting before posting");
                    calls.account().pause(RETRY.nth(processing)).await?;
                    continue;
                }
                // Pixelfed refuses a key it saw within the hour instead of answering
                // with the first status: that attempt may have created it.
                400 if answer.is_duplicate_key() => {
                    if let Some(found) = search(calls, c, out, text).await? {
                        info!(target = %calls.account().target(), id = %found.remote_id, "status found after a refused repeated key: adopted");
                        return Ok(found);
                    }
                    return Err(TargetError::RateLimited {
                        retry_after: calls.account().now() + quirks::IDEMPOTENCY_WINDOW,
                    });
                }
                // The server answered, but may have created the status first.
                500 | 504 => format!("HTTP {}: {}", answer.status, answer.message()),
                502 if retries < MAX_TRANSIENT_RETRIES => {
                    retries += 1;
                    calls.retry_pause(retries).await?;
                    continue;
                }
                _ => return Err(calls.answer_error(&answer)),
            },
            Err(Transport::Connect(m)) if retries < MAX_TRANSIENT_RETRIES => {
                retries += 1;
                warn!(target = %calls.account().target(), error = %m, "cannot reach the server; retrying");
                calls.retry_pause(retries).await?;
                continue;
            }
            Err(Transport::Connect(m)) => return Err(TargetError::Unreachable { message: m }),
            Err(t) => t.to_string(),
        };
        // Give a slow server the time to finish what it may be doing, then look.
        warn!(target = %calls.account().target(), error = %unknown, "status post outcome unknown; reconciling");
        // A stop request here must not pass for "not sent": the server may have it.
        let grace = Duration::from_std(calls.api().timeout()).unwrap_or(Duration::seconds(30));
        if calls.account().pause(grace).await.is_err() {
            return Err(TargetError::UnknownOutcome { message: unknown });
        }
        if let Some(found) = search(calls, c, out, text).await? {
            info!(target = %calls.account().target(), id = %found.remote_id, "status found after an unknown outcome: adopted");
            return Ok(found);
        }
        if honours && !resent {
            // Same key: a server that honours it returns the first status if it exists.
            resent = true;
            continue;
        }
        return Err(TargetError::UnknownOutcome { message: unknown });
    }
}

/// Looks for the part among the account's recent statuses.
pub async fn search(
    calls: &Calls,
    c: &Connected,
    out: Outgoing<'_>,
    text: &str,
) -> Result<Option<Delivered>, TargetError> {
    const CALL: &str = "GET /api/v1/accounts/:id/statuses";
    let path = format!(
        "/api/v1/accounts/{}/statuses?limit={RECONCILE_WINDOW}",
        c.account_id
    );
    let answer = calls.get_ok(&path, true).await?;
    let candidates = lenient::statuses(&answer.body, CALL, &c.profile.software()).map_err(|m| {
        TargetError::Setup {
            message: m.to_string(),
        }
    })?;
    Ok(reconcile::find(
        &candidates,
        text,
        out.part.spoiler_text.as_deref(),
        out.in_reply_to,
    )
    .map(|c| Delivered {
        remote_id: c.id.clone(),
        url: c.url.clone(),
        replies_to: RepliesTo::Unsaid,
    }))
}

/// The JSON of a new status: real booleans, and no `null` fields (some servers refuse them).
pub fn status_body(out: Outgoing<'_>, text: &str, media: &[AttachedMedia]) -> Value {
    let part = out.part;
    let mut body = Map::new();
    body.insert("status".into(), json!(text));
    body.insert("visibility".into(), json!(part.visibility.as_str()));
    body.insert("sensitive".into(), json!(part.sensitive));
    if !media.is_empty() {
        let ids: Vec<&str> = media.iter().map(|m| m.media_id.as_str()).collect();
        body.insert("media_ids".into(), json!(ids));
    }
    if let Some(spoiler) = part.spoiler_text.as_deref().filter(|s| !s.is_empty()) {
        body.insert("spoiler_text".into(), json!(spoiler));
    }
    if let Some(language) = &part.language {
        body.insert("language".into(), json!(language));
    }
    if let Some(reply) = out.in_reply_to {
        body.insert("in_reply_to_id".into(), json!(reply));
    }
    // Set by the renderer only for a server whose profile says it quotes natively.
    if let Some(quoted) = &part.quote_of {
        body.insert("quoted_status_id".into(), json!(quoted));
    }
    Value::Object(body)
}

/// The JSON of an edit: the whole new version (an empty spoiler clears the old one; the
/// media list replaces the old one, each with its description).
pub fn edit_body(out: Outgoing<'_>, text: &str, media: &[AttachedMedia]) -> Value {
    let part = out.part;
    let mut body = Map::new();
    body.insert("status".into(), json!(text));
    body.insert("sensitive".into(), json!(part.sensitive));
    body.insert(
        "spoiler_text".into(),
        json!(part.spoiler_text.as_deref().unwrap_or_default()),
    );
    body.insert(
        "media_ids".into(),
        json!(media.iter().map(|m| &m.media_id).collect::<Vec<_>>()),
    );
    let attributes: Vec<Value> = media
        .iter()
        .map(|m| {
            let mut a = Map::new();
            a.insert("id".into(), json!(m.media_id));
            if let Some(d) = &m.description {
                a.insert("description".into(), json!(d));
            }
            Value::Object(a)
        })
        .collect();
    if !attributes.is_empty() {
        body.insert("media_attributes".into(), Value::Array(attributes));
    }
    if let Some(language) = &part.language {
        body.insert("language".into(), json!(language));
    }
    Value::Object(body)
}
