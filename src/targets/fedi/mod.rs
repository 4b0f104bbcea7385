//! The fediverse target: one account on a Mastodon-API server (Mastodon, Pleroma/Akkoma,
//! `GoToSocial`, Friendica, Firefish/Iceshrimp, Pixelfed, snac), in layers:
//!
//! - [`client`]: the project's own HTTP calls (ARCHITECTURE.md "The fediverse client"),
//!   returning each [`answer`] as it came, read leniently ([`lenient`], [`profile`]); no
//!   budget, no ledger;
//! - [`calls`]: those calls with the account's rate-limit budget, waits and retries;
//! - [`connect`] (learning the server), [`uploads`] (media, processing polls) and
//!   [`statuses`] (posts that are never sent twice, boosts, edits, the search that
//!   reconciles) on top of the budgeted calls;
//! - here: [`FediTarget`], the [`Target`] the engine drives.
//!
//! The target never touches the ledger: the engine hands it what earlier runs learnt
//! ([`Memory`]), records what it learns, and records each upload before the status goes.
//! [`manners`], [`markdown`], [`quirks`] and [`reconcile`] are the per-server rules.

pub mod answer;
pub mod calls;
pub mod client;
pub mod connect;
pub mod lenient;
pub mod manners;
pub mod markdown;
pub mod profile;
pub mod quirks;
pub mod reconcile;
pub mod statuses;
pub mod uploads;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use tokio_util::sync::CancellationToken;
use tracing::info;

use self::calls::{Calls, Repeatable};
use self::client::Api;
use self::connect::Connected;
use self::manners::ImagesOnly;
use self::profile::InstanceProfile;
use self::quirks::Quirks;
use super::{
    Attached, Call, Delivered, Memory, Outgoing, Pace, Refusal, Retracted, Retraction,
    Surroundings, Target, TargetError, TargetProfile, Upload,
};
use crate::budget::{BudgetPool, Family, Priority};
use crate::clock::Clock;
use crate::config::{FediverseTargetSettings, ServerKind, Visibility};
use crate::media::stage::MediaStage;
use crate::render::PartMedia;
use crate::store::CachedProfile;

/// Uploaded media older than this is not reused (servers delete unattached media after a
/// day or so).
const MEDIA_REUSE: Duration = Duration::hours(12);

/// See the module docs.
pub struct FediTarget {
    name: String,
    settings: FediverseTargetSettings,
    calls: Calls,
    connected: Option<Connected>,
    /// The profile before connecting: stock Mastodon limits.
    fallback: TargetProfile,
    /// A profile read from the server that the ledger has not been handed yet.
    learnt: Option<CachedProfile>,
}

impl std::fmt::Debug for FediTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FediTarget")
            .field("name", &self.name)
            .field("url", &self.settings.url)
            .field("kind", &self.settings.kind)
            .field("connected", &self.connected)
            .finish_non_exhaustive()
    }
}

/// What `check` prints about a target.
#[derive(Debug, Clone)]
pub struct CheckReport {
    /// `@user` on the server, from `verify_credentials`.
    pub account: String,
    /// The limits read.
    pub profile: InstanceProfile,
    /// The kind's quirks.
    pub quirks: Quirks,
    /// The server closed a reused connection before answering: it closes after every
    /// answer, so each request gets a new connection.
    pub closes_after_answer: bool,
}

impl FediTarget {
    /// A target for `settings`; reads its token now. Connect it before delivering.
    ///
    /// # Errors
    /// [`TargetError::Setup`] when the token cannot be read or the HTTP client not built.
    pub fn new(
        name: &str,
        settings: &FediverseTargetSettings,
        clock: Clock,
        cancel: CancellationToken,
    ) -> Result<Self, TargetError> {
        let key = format!("targets.{name}");
        let token = settings.token.load(&key).map_err(|e| TargetError::Setup {
            message: e.to_string(),
        })?;
        let http = client::shared().map_err(|message| TargetError::Setup { message })?;
        let api = Api::new(http, &settings.url, token, settings.request_timeout);
        let quirks = quirks::of(settings.kind);
        let mut calls = Calls::new(
            api,
            name,
            &quirks.seeds,
            clock,
            cancel,
            settings.backfill_share,
        );
        calls.set_one_counter(quirks.one_counter);
        Ok(Self {
            name: name.to_owned(),
            settings: settings.clone(),
            calls,
            connected: None,
            fallback: TargetProfile::mastodon_default(),
            learnt: None,
        })
    }

    /// A target as the engine uses it: on the process's budget for the account, at the
    /// priority of the lane.
    ///
    /// # Errors
    /// As [`FediTarget::new`].
    pub fn build(
        name: &str,
        settings: &FediverseTargetSettings,
        around: Surroundings<'_>,
    ) -> Result<Self, TargetError> {
        let mut target = Self::new(name, settings, around.clock.clone(), around.cancel.clone())?;
        target.share_budget(around.budgets);
        target.set_priority(Priority::of(around.lane, settings.backfill_share));
        Ok(target)
    }

    /// Shares this account's budget with the other clients of the same account in the
    /// process (see [`BudgetPool`]). Call before connecting.
    pub fn share_budget(&mut self, pool: &BudgetPool) {
        let key = format!("{} {}", self.name, self.settings.url);
        self.calls.account_mut().share_budget(pool, &key);
    }

    /// Sets whose calls these are (live posts may use the whole budget). On a server that
    /// counts every call in one window (`GoToSocial`), connecting's own calls too.
    pub fn set_priority(&mut self, priority: Priority) {
        self.calls.account_mut().set_priority(priority);
    }

    /// `check`'s view: connects without the ledger's memory (so the profile is read fresh)
    /// and reports what it found. Read-only: nothing is posted.
    ///
    /// # Errors
    /// As [`Target::connect`].
    pub async fn check(&mut self) -> Result<CheckReport, TargetError> {
        self.set_priority(Priority::Live);
        self.connect_with(None).await?;
        let c = self.connected()?;
        Ok(CheckReport {
            account: c.account.clone(),
            profile: c.profile.clone(),
            quirks: c.quirks.clone(),
            closes_after_answer: self.calls.api().closes_after_answer(),
        })
    }

    /// Deletes a status, as a retraction does; one already gone counts as deleted.
    ///
    /// # Errors
    /// See [`TargetError`].
    pub async fn delete(&mut self, remote_id: &str) -> Result<(), TargetError> {
        self.calls.retract(Retraction::Status(remote_id)).await?;
        Ok(())
    }

    /// Learns the server: its kind (nodeinfo, for `auto`), its limits (from `memory`'s
    /// profile while fresh, else read from the server and kept for [`Target::learnt`]),
    /// the account (`verify_credentials`), and the budget `memory` saved (without memory,
    /// as for `check`, nothing is restored).
    async fn connect_with(&mut self, memory: Option<&Memory>) -> Result<(), TargetError> {
        let now = self.calls.account().now();
        let fresh = memory
            .and_then(|m| m.profile.as_ref())
            .filter(|c| now - c.fetched_at < self.settings.profile_refresh)
            .and_then(|c| self.usable_cache(c));
        let profile = if let Some(p) = fresh {
            p
        } else {
            let kind = match self.settings.kind {
                ServerKind::Auto => connect::detect_kind(&self.calls).await?,
                kind => kind,
            };
            let p = connect::fetch_profile(&self.calls, kind).await?;
            self.learnt = Some(CachedProfile {
                url: self.settings.url.clone(),
                profile: p.to_cache(),
                fetched_at: now,
            });
            p
        };
        let quirks = quirks::of(profile.kind);
        self.calls.set_one_counter(quirks.one_counter);
        if quirks.closes_after_answer {
            self.calls.api().assume_closes_after_answer();
        }
        let reseed = (self.settings.kind == ServerKind::Auto).then_some(&quirks.seeds[..]);
        self.calls
            .account()
            .restore(reseed, memory.map(|m| &m.budgets));
        let (account_id, account) = connect::verify_credentials(&self.calls, &profile).await?;
        info!(
            target = %self.name,
            kind = profile.kind.as_str(),
            account = %account,
            max_characters = profile.max_characters,
            source = profile.source.as_str(),
            "target connected"
        );
        self.connected = Some(Connected {
            target_profile: profile.target_profile(&quirks),
            profile,
            quirks,
            account_id,
            account,
        });
        Ok(())
    }

    /// A cached profile when it was read from this server and is of the configured kind.
    fn usable_cache(&self, cached: &CachedProfile) -> Option<InstanceProfile> {
        Some(cached)
            .filter(|c| c.url == self.settings.url)
            .and_then(|c| InstanceProfile::from_cache(&c.profile))
            .filter(|p| self.settings.kind == ServerKind::Auto || p.kind == self.settings.kind)
    }

    fn connected(&self) -> Result<&Connected, TargetError> {
        self.connected.as_ref().ok_or_else(|| TargetError::Setup {
            message: format!("target `{}` was used before connecting", self.name),
        })
    }

    /// Waits until the part's new uploads are processed, as a status needs them.
    async fn wait_processed(&self, attached: &Attached) -> Result<(), TargetError> {
        for m in attached.media.iter().filter(|m| !m.processed) {
            uploads::wait_processed(&self.calls, &m.media_id).await?;
        }
        Ok(())
    }
}

impl Target for FediTarget {
    /// The server's limits once connected, stock Mastodon before.
    fn profile(&self) -> &TargetProfile {
        self.connected
            .as_ref()
            .map_or(&self.fallback, |c| &c.target_profile)
    }

    fn connect<'a>(&'a mut self, memory: &'a Memory) -> Call<'a, ()> {
        Box::pin(self.connect_with(Some(memory)))
    }

    fn remembered_profile(&self, memory: &Memory) -> Option<TargetProfile> {
        let p = self.usable_cache(memory.profile.as_ref()?)?;
        Some(p.target_profile(&quirks::of(p.kind)))
    }

    fn learnt(&mut self) -> Memory {
        Memory {
            profile: self.learnt.take(),
            budgets: self.calls.account().windows(),
        }
    }

    /// As the quirks table says for the server's kind.
    fn supports_edits(&self) -> bool {
        self.connected
            .as_ref()
            .map_or_else(|| quirks::of(self.settings.kind).edits, |c| c.quirks.edits)
    }

    /// A server that makes every edited status public (Takahē) edits only public ones.
    fn edit_refusal(&self, visibility: Visibility) -> Option<String> {
        let kind = self
            .connected
            .as_ref()
            .map_or(self.settings.kind, |c| c.profile.kind);
        let makes_public = self.connected.as_ref().map_or_else(
            || quirks::of(kind).edit_makes_public,
            |c| c.quirks.edit_makes_public,
        );
        (makes_public && visibility != Visibility::Public).then(|| {
            format!(
                "{} servers make an edited status public, and this one is {}: not edited",
                kind.as_str(),
                visibility.as_str()
            )
        })
    }

    /// On a server that needs an image on every post (Pixelfed), once connected: a post
    /// that starts a conversation without one ([`ImagesOnly`]).
    fn refusal(&self) -> Option<Arc<dyn Refusal>> {
        let c = self.connected.as_ref()?;
        c.quirks
            .needs_media
            .then(|| Arc::new(ImagesOnly::of(&c.profile)) as Arc<dyn Refusal>)
    }

    fn upload_lifetime(&self) -> Option<Duration> {
        Some(MEDIA_REUSE)
    }

    fn upload<'a>(
        &'a mut self,
        media: &'a PartMedia,
        stage: Option<&'a MediaStage>,
    ) -> Call<'a, Upload> {
        Box::pin(async move {
            let c = self.connected()?;
            uploads::upload(&self.calls, &c.profile, media, stage).await
        })
    }

    /// A boost is a reblog of the mirrored status; otherwise the status is posted once its
    /// media are processed, never twice ([`statuses::post`]).
    fn post<'a>(&'a mut self, out: Outgoing<'a>, attached: &'a Attached) -> Call<'a, Delivered> {
        Box::pin(async move {
            if let Some(original) = &out.part.boost_of {
                return statuses::boost(&self.calls, original, out).await;
            }
            let c = self.connected()?;
            self.wait_processed(attached).await?;
            if c.quirks.needs_media && attached.media.is_empty() && out.in_reply_to.is_none() {
                return Err(TargetError::Rejected {
                    status: None,
                    message: format!(
                        "{} servers need an image on every post, and this part has none",
                        c.profile.kind.as_str()
                    ),
                });
            }
            let text = &attached.text;
            let body = statuses::status_body(out, &c.quirks.wire_text(text), &attached.media);
            statuses::post(&self.calls, c, &body, out, text).await
        })
    }

    /// `PUT /api/v1/statuses/:id` with the text, content warning, sensitivity and media
    /// with their descriptions. A `PUT` is idempotent, so a timed-out one is simply sent
    /// again.
    fn edit<'a>(
        &'a mut self,
        remote_id: &'a str,
        out: Outgoing<'a>,
        attached: &'a Attached,
    ) -> Call<'a, Delivered> {
        Box::pin(async move {
            let c = self.connected()?;
            if !c.quirks.edits {
                return Err(TargetError::Setup {
                    message: format!("{} servers cannot edit statuses", c.profile.kind.as_str()),
                });
            }
            self.wait_processed(attached).await?;
            let body =
                statuses::edit_body(out, &c.quirks.wire_text(&attached.text), &attached.media);
            self.calls
                .repeatable_write(Repeatable::Edit {
                    remote_id,
                    body: &body,
                })
                .await
        })
    }

    /// Within the idempotency window of a server that honours the key, a resend is
    /// deduplicated by the server, so there is nothing to look up.
    fn reconcile<'a>(
        &'a mut self,
        out: Outgoing<'a>,
        attempt_at: DateTime<Utc>,
    ) -> Call<'a, Option<Delivered>> {
        Box::pin(async move {
            let c = self.connected()?;
            // A second reblog of the same status returns the first: sending again is safe.
            if out.part.boost_of.is_some()
                || (c.quirks.honours_idempotency
                    && self.calls.account().now() - attempt_at < quirks::IDEMPOTENCY_WINDOW)
            {
                return Ok(None);
            }
            statuses::search(&self.calls, c, out, &out.part.text).await
        })
    }

    /// Sustained statuses per hour the budget allows this target.
    fn posts_per_hour(&self) -> Option<f64> {
        Some(self.calls.account().per_hour(Family::Statuses)).filter(|r| r.is_finite())
    }

    /// `DELETE /api/v1/statuses/:id`, or for a boost `POST /api/v1/statuses/:original/unreblog`.
    fn retract<'a>(&'a mut self, what: Retraction<'a>) -> Call<'a, Retracted> {
        Box::pin(self.calls.retract(what))
    }

    fn deletes_pace(&self) -> Option<Pace> {
        self.calls.deletes_pace()
    }
}
