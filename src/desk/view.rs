//! What the desk's pages show, read from the ledger in one call on the blocking pool: the
//! queue, and a post with each target's copy rendered as the server will show it (the
//! renderer's own code, with the person's edits over it).

use crate::config::{Settings, Visibility};
use crate::model::{MediaSource, Post};
use crate::policy::RoutePolicy;
use crate::profile::TargetProfile;
use crate::render::{self, CopyEdits, EditBase, Lookups, Rendered};
use crate::review;
use crate::store::{
    HeldMedia, Ledger, QueueAt, QueueFilter, QueueKey, QueuePage, ReviewAudit, ReviewHold,
    StoreError,
};

/// Posts per queue page.
pub(super) const PAGE: u64 = 50;

/// The queue page.
#[derive(Debug)]
pub(super) struct QueueView {
    pub(super) page: QueuePage,
    pub(super) filter: QueueFilter,
    pub(super) filtered: bool,
    pub(super) prev: Option<String>,
    pub(super) next: Option<String>,
    pub(super) done: Option<String>,
}

impl QueueView {
    pub(super) fn read(
        l: &Ledger,
        filter: QueueFilter,
        at: &QueueAt,
        done: Option<String>,
    ) -> Result<Self, StoreError> {
        let page = l.review_queue(&filter, at, PAGE)?;
        let link = |way: &str, key: QueueKey| {
            let mut q = vec![
                format!("page={way}"),
                format!("at={}", super::enc(&key.posted_at.to_rfc3339())),
                format!("post={}", super::enc(&key.source_post_id)),
                format!("in={}", super::enc(&key.route)),
            ];
            for (k, v) in [
                ("route", &filter.route),
                ("target", &filter.target),
                ("reason", &filter.rule),
            ] {
                if let Some(v) = v {
                    q.push(format!("{k}={}", super::enc(v)));
                }
            }
            format!("/?{}", q.join("&"))
        };
        let prev = page
            .items
            .first()
            .filter(|_| page.has_earlier)
            .map(|i| link("before", i.key()));
        let next = page
            .items
            .last()
            .filter(|_| page.has_later)
            .map(|i| link("after", i.key()));
        Ok(Self {
            filtered: filter != QueueFilter::default(),
            page,
            filter,
            prev,
            next,
            done,
        })
    }
}

/// A post's page.
#[derive(Debug)]
pub(super) struct PostView {
    pub(super) route: String,
    pub(super) post: Post,
    pub(super) copies: Vec<CopyView>,
    pub(super) media: Vec<HeldMedia>,
    pub(super) next: Option<String>,
    pub(super) audit: Vec<ReviewAudit>,
    pub(super) csrf: String,
    pub(super) done: Option<String>,
}

impl PostView {
    /// The post's page, or `None` when the ledger has no such post under review.
    pub(super) fn read(
        l: &Ledger,
        settings: &Settings,
        (route, id): (&str, &str),
        csrf: String,
        done: Option<String>,
    ) -> Result<Option<Self>, StoreError> {
        let Some(reviewed) = l.reviewed_post(route, id)? else {
            return Ok(None);
        };
        let Ok(post) = reviewed.post else {
            return Ok(None);
        };
        let Some(route_settings) = settings.routes.get(route) else {
            return Ok(None);
        };
        let mut copies = Vec::new();
        for hold in reviewed.holds {
            let mut policy = RoutePolicy::from_settings(route_settings);
            policy.backfill = hold.backfill;
            let profile = review::limits_from(hold.limits.as_deref());
            let mut lookups = Lookups::default();
            for wanted in render::wanted_lookups(&post) {
                if let Some(m) = l.mirrored_post(route, wanted.as_str(), &hold.target)? {
                    lookups.insert(wanted, m);
                }
            }
            let rows = l.review_edits(route, id, &hold.target)?;
            let edits = review::copy_edits(&rows);
            let base = render::edit_base(&post, &profile, &policy, &lookups);
            let rendered = render::render_edited(&post, &profile, &policy, &lookups, &edits);
            let unedited = render::render(&post, &profile, &policy, &lookups);
            copies.push(CopyView {
                slug: slug(&hold.target),
                limits_known: hold.limits.is_some(),
                hold,
                profile,
                base,
                edits,
                rendered,
                unedited,
                sensitive_default: post.sensitive,
            });
        }
        let next = l
            .next_held(route, id)?
            .map(|(r, p)| super::post_link(&r, &p));
        Ok(Some(Self {
            route: route.to_owned(),
            audit: l.review_audit(route, id)?,
            post,
            copies,
            media: reviewed.media,
            next,
            csrf,
            done,
        }))
    }

    /// The media id of the post's media item with this source.
    pub(super) fn media_id_of(&self, source: &MediaSource) -> Option<i64> {
        let index = self.post.media.iter().position(|m| &m.source == source)?;
        self.media
            .iter()
            .find(|m| m.media_index as usize == index)
            .map(|m| m.id)
    }

    /// Whether the desk can show media item `i` (archive media, or a kept download).
    pub(super) fn shows(&self, i: usize) -> bool {
        match self.post.media.get(i).map(|m| &m.source) {
            Some(MediaSource::File(_) | MediaSource::ZipEntry { .. }) => true,
            Some(MediaSource::Url(_)) => self
                .media
                .iter()
                .any(|m| m.media_index as usize == i && m.file.is_some()),
            _ => false,
        }
    }
}

/// One target's copy.
#[derive(Debug)]
pub(super) struct CopyView {
    /// The target's name as an HTML id part.
    pub(super) slug: String,
    pub(super) hold: ReviewHold,
    pub(super) profile: TargetProfile,
    pub(super) limits_known: bool,
    pub(super) base: EditBase,
    pub(super) edits: CopyEdits,
    pub(super) rendered: Rendered,
    /// As rendered without edits (what "unchanged" means for a form field).
    pub(super) unedited: Rendered,
    sensitive_default: bool,
}

impl CopyView {
    /// The description shown for media item `i`: the edit, else the source's.
    pub(super) fn description(&self, i: usize, source: Option<&str>) -> String {
        self.edits
            .descriptions
            .get(&i)
            .cloned()
            .or_else(|| source.map(str::to_owned))
            .unwrap_or_default()
    }

    pub(super) fn warning(&self) -> String {
        match &self.edits.warning {
            Some(w) => w.clone().unwrap_or_default(),
            None => self.base.warning.clone().unwrap_or_default(),
        }
    }

    pub(super) fn warning_limit(&self) -> usize {
        self.profile
            .max_spoiler_characters
            .unwrap_or(self.profile.max_characters)
    }

    pub(super) fn sensitive(&self) -> bool {
        self.edits.sensitive.unwrap_or(self.sensitive_default)
    }

    pub(super) fn visibility(&self) -> Visibility {
        self.edits
            .visibility
            .unwrap_or_else(|| self.unedited_visibility())
    }

    /// The first part's visibility as rendered without edits.
    pub(super) fn unedited_visibility(&self) -> Visibility {
        self.unedited
            .parts
            .first()
            .map_or(Visibility::Public, |p| p.visibility)
    }

    pub(super) fn text(&self) -> String {
        self.edits
            .text
            .clone()
            .unwrap_or_else(|| self.base.text.clone())
    }

    /// The text's length by the target's rule (with the warning, as the server counts).
    pub(super) fn text_length(&self) -> usize {
        render::count::length(&self.profile, None, &self.text())
    }
}

/// A name as an HTML id part: letters and digits kept, anything else as `_XX`.
fn slug(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_string()
            } else {
                format!("_{:x}", u32::from(c))
            }
        })
        .collect()
}
