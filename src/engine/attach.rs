//! A part's media on one target, before its status: uploads the ledger recorded for the
//! part earlier are reused, the others are uploaded one by one and each recorded as soon
//! as the target has it, so a retry after a failure or a crash never uploads twice; an
//! item the target cannot take is linked in the text instead (when the link fits), with a
//! warning recorded. Every ledger call runs on the blocking pool ([`Ledger::call`]).

use std::collections::HashMap;
use std::sync::Arc;

use tracing::warn;

use crate::clock::Clock;
use crate::model::MediaSource;
use crate::render::{count, Part, PartMedia};
use crate::store::{Ledger, PartKey, StoreError};
use crate::targets::{
    Attached, AttachedMedia, Outgoing, Target, TargetError, TargetProfile, Upload,
};

/// Uploads the media of `out`'s part to `target` (see the module docs). The outer error is
/// the ledger's; the inner one the target's, which fails the part.
pub(super) async fn attach(
    ledger: &Arc<Ledger>,
    target: &mut dyn Target,
    key: &PartKey,
    out: Outgoing<'_>,
    clock: &Clock,
) -> Result<Result<Attached, TargetError>, StoreError> {
    let part = out.part;
    let mut attached = Attached {
        text: part.text.clone(),
        media: Vec::new(),
    };
    // A part without media costs no ledger call.
    let Some(lifetime) = target.upload_lifetime().filter(|_| !part.media.is_empty()) else {
        return Ok(Ok(attached));
    };
    let since = clock.now() - lifetime;
    let reused: HashMap<u32, String> = {
        let key = key.clone();
        ledger
            .call(move |l| l.uploaded_media(&key, since))
            .await?
            .into_iter()
            .collect()
    };
    for (index, m) in part.media.iter().enumerate() {
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        if let Some(id) = reused.get(&index) {
            attached.media.push(AttachedMedia {
                media_id: id.clone(),
                description: m.description.clone(),
                processed: true,
            });
            continue;
        }
        match target.upload(m, out.media).await {
            Ok(Upload::Stored {
                media_id,
                processed,
            }) => {
                let (k, id, now) = (key.clone(), media_id.clone(), clock.now());
                ledger
                    .call(move |l| l.record_uploaded_media(&k, index, &id, now))
                    .await?;
                attached.media.push(AttachedMedia {
                    media_id,
                    description: m.description.clone(),
                    processed,
                });
            }
            Ok(Upload::CannotGo(reason)) => {
                let original = original_url(&out, m);
                let warning = link_instead(
                    &mut attached.text,
                    part,
                    m,
                    &reason,
                    original,
                    target.profile(),
                );
                warn!(target = %key.target, part = %key, %warning, "media not delivered");
                let (k, now) = (key.clone(), clock.now());
                ledger
                    .call(move |l| l.add_warning(&k, &warning, now))
                    .await?;
            }
            Err(e) => return Ok(Err(e)),
        }
    }
    Ok(Ok(attached))
}

/// Appends a link to the original media when it fits; returns the warning to record.
fn link_instead(
    text: &mut String,
    part: &Part,
    m: &PartMedia,
    reason: &str,
    original: Option<&str>,
    profile: &TargetProfile,
) -> String {
    let what = m.kind.as_str();
    let Some(url) = original else {
        return format!("{what} not delivered ({reason}); no original URL to link");
    };
    if !profile.own_links {
        return format!("{what} not delivered ({reason}); not linked (links = \"drop\")");
    }
    let candidate = if text.is_empty() {
        url.to_owned()
    } else {
        format!("{text}\n\n{url}")
    };
    let length = count::length(profile, part.spoiler_text.as_deref(), &candidate);
    if length <= profile.max_characters {
        *text = candidate;
        format!("{what} not delivered ({reason}): linked to the original instead")
    } else {
        format!("{what} not delivered ({reason}); no room left to link the original")
    }
}

/// The public URL of the original of an attachment, to link when it cannot be uploaded.
fn original_url<'o>(out: &Outgoing<'o>, m: &PartMedia) -> Option<&'o str> {
    if m.source == MediaSource::Unavailable {
        return None;
    }
    out.post
        .media
        .iter()
        .find(|pm| pm.source == m.source)
        .and_then(|pm| pm.original_url.as_deref())
}
