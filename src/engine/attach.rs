//! A part's media on one target, before its status: uploads the ledger recorded for the
//! part earlier are reused, the others are uploaded one by one and each recorded as soon
//! as the target has it, so a retry after a failure or a crash never uploads twice; an
//! item the target cannot take (or that cannot be downloaded) is linked in the text instead
//! (when the link fits), with the author's description under it so that it is not lost, and
//! a warning recorded. Every ledger call runs on the blocking pool ([`Ledger::call`]).

use std::collections::HashMap;
use std::sync::Arc;

use tracing::warn;

use crate::clock::Clock;
use crate::model::{Media, MediaSource};
use crate::render::{self, count, Part, PartMedia};
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
                let warning = link_instead(
                    &mut attached.text,
                    part,
                    m,
                    &reason,
                    original_of(&out, m),
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

/// Appends a link to the original media with the author's description (cut to the room
/// left, when it must be) when it fits; returns the warning to record.
fn link_instead(
    text: &mut String,
    part: &Part,
    m: &PartMedia,
    reason: &str,
    original: Option<&Media>,
    profile: &TargetProfile,
) -> String {
    let what = m.kind.as_str();
    let Some(url) = original.and_then(|o| o.original_url.as_deref()) else {
        return format!("{what} not delivered ({reason}); no original URL to link");
    };
    if !profile.own_links {
        return format!("{what} not delivered ({reason}); not linked (links = \"drop\")");
    }
    let with = |inline: &str| {
        if text.is_empty() {
            inline.to_owned()
        } else {
            format!("{text}\n\n{inline}")
        }
    };
    let fits = |candidate: &str| {
        count::length(profile, part.spoiler_text.as_deref(), candidate) <= profile.max_characters
    };
    let description = original
        .and_then(|o| o.alt_text.as_deref())
        .map(str::trim)
        .filter(|d| !d.is_empty());
    let Some(description) = description else {
        let candidate = with(url);
        if !fits(&candidate) {
            return format!("{what} not delivered ({reason}); no room left to link the original");
        }
        *text = candidate;
        return format!("{what} not delivered ({reason}): linked to the original instead");
    };
    let described = |cut: usize| {
        let kept: String = description.chars().take(cut).collect();
        let shown = if cut < description.chars().count() {
            // At a word's end, unless that loses more than half.
            let at = match kept.rfind(char::is_whitespace) {
                Some(i) if i > kept.len() / 2 => i,
                _ => kept.len(),
            };
            format!("{}…", kept[..at].trim_end())
        } else {
            kept
        };
        with(&render::media_link(m.kind, url, Some(&shown)))
    };
    let whole = description.chars().count();
    if fits(&described(whole)) {
        *text = described(whole);
        return format!(
            "{what} not delivered ({reason}): linked to the original instead, with its description"
        );
    }
    // The longest cut that fits (a description of at least a few words; else none).
    let (mut low, mut high) = (0, whole);
    while low < high {
        let mid = (low + high).div_ceil(2);
        if fits(&described(mid)) {
            low = mid;
        } else {
            high = mid - 1;
        }
    }
    if low >= MIN_DESCRIPTION_SHOWN {
        *text = described(low);
        format!("{what} not delivered ({reason}): linked to the original instead, with its description cut to fit")
    } else if fits(&with(url)) {
        *text = with(url);
        format!("{what} not delivered ({reason}): linked to the original instead; no room left for its description")
    } else {
        format!("{what} not delivered ({reason}); no room left to link the original")
    }
}

/// A description cut shorter than this is not shown at all.
const MIN_DESCRIPTION_SHOWN: usize = 20;

/// The post's media item an attachment came from, whose original URL is linked when it
/// cannot be uploaded.
fn original_of<'o>(out: &Outgoing<'o>, m: &PartMedia) -> Option<&'o Media> {
    if m.source == MediaSource::Unavailable {
        return None;
    }
    out.post.media.iter().find(|pm| pm.source == m.source)
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;
    use crate::config::Visibility;
    use crate::model::MediaKind;
    use crate::render::ReplyTo;

    fn part(text: &str) -> Part {
        Part {
            text: text.to_owned(),
            spoiler_text: None,
            sensitive: false,
            media: Vec::new(),
            visibility: Visibility::Public,
            language: None,
            reply_to: ReplyTo::Nothing,
            quote_of: None,
            boost_of: None,
        }
    }

    fn photo(alt: Option<&str>) -> (Media, PartMedia) {
        let source = MediaSource::Url("http://127.0.0.1:1/media/a?format=jpg".to_owned());
        let media = Media {
            kind: MediaKind::Photo,
            source: source.clone(),
            alt_text: alt.map(str::to_owned),
            width: None,
            height: None,
            original_url: Some("https://pbs.twimg.com/media/a.jpg".to_owned()),
        };
        let part_media = PartMedia {
            kind: MediaKind::Photo,
            source,
            description: Some("Image from the original post".to_owned()),
        };
        (media, part_media)
    }

    const DESCRIPTION: &str =
        "A grey heron standing in the shallows at low tide, the harbour wall behind it";

    /// Linked with the whole description, a cut one, the link alone, or nothing, as the
    /// room left in the status allows; the route's fallback description is never written
    /// into the text.
    #[rstest]
    #[case::whole(500, Some(DESCRIPTION), Some(format!("Hello\n\nhttps://pbs.twimg.com/media/a.jpg\nImage description: {DESCRIPTION}")), "with its description")]
    #[case::cut(80, Some(DESCRIPTION), Some("Hello\n\nhttps://pbs.twimg.com/media/a.jpg\nImage description: A grey heron standing in the…".to_owned()), "description cut to fit")]
    #[case::link_only(45, Some(DESCRIPTION), Some("Hello\n\nhttps://pbs.twimg.com/media/a.jpg".to_owned()), "no room left for its description")]
    #[case::undescribed(500, None, Some("Hello\n\nhttps://pbs.twimg.com/media/a.jpg".to_owned()), "linked to the original instead")]
    #[case::no_room(20, Some(DESCRIPTION), None, "no room left to link")]
    fn the_description_goes_with_the_link(
        #[case] max_characters: usize,
        #[case] alt: Option<&str>,
        #[case] want: Option<String>,
        #[case] warning: &str,
    ) {
        let profile = TargetProfile {
            max_characters,
            ..TargetProfile::mastodon_default()
        };
        let (media, part_media) = photo(alt);
        let part = part("Hello");
        let mut text = part.text.clone();
        let got = link_instead(
            &mut text,
            &part,
            &part_media,
            "cannot fetch media",
            Some(&media),
            &profile,
        );
        assert!(got.contains(warning), "{got}");
        assert_eq!(text, want.unwrap_or_else(|| "Hello".to_owned()));
    }
}
