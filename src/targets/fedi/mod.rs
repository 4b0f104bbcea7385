//! The fediverse target: one account on a Mastodon-API server (Mastodon, Pleroma/Akkoma,
//! `GoToSocial`, Friendica, Firefish/Iceshrimp, Pixelfed, snac).
//!
//! Every call goes through [`client`], the project's own reqwest calls (DESIGN.md "The
//! fediverse client"), and every answer is read leniently ([`lenient`], [`profile`]):
//! `verify_credentials` and the account's statuses (megalodon's strict entities refused a
//! snac account without `fields`), status posts (with `Idempotency-Key` and real JSON
//! booleans, `quoted_status_id` where the server quotes natively), edits (`PUT`), boosts
//! (`/reblog`), media uploads (streamed from a file, with the description) and processing
//! polls, the instance documents, nodeinfo, and deletes. megalodon is no longer used.
//!
//! Remote media (live posts) comes from the post's [`MediaStage`]: downloaded once for all
//! targets, checked against this server's types and sizes, and uploaded from its file.
//!
//! Every call first takes its share of the account's [`Budget`], waiting when the window is
//! used up; the answer's rate-limit headers correct the budget. What a failure means for the
//! part is the [`TargetError`] variant (see there).
//!
//! The ledger (cached profile, saved budgets, uploaded media, warnings) is read and written
//! on the blocking pool ([`Ledger::call`]), never on the event loop.

pub mod client;
pub mod lenient;
pub mod manners;
pub mod markdown;
pub mod profile;
pub mod quirks;
pub mod reconcile;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use reqwest::header::HeaderMap;
use serde_json::{json, Map, Value};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use self::client::{Answer, Api, Transport, Upload, UploadBody};
use self::manners::ImagesOnly;
use self::profile::{InstanceProfile, ProfileSource};
use self::quirks::Quirks;
use super::{Delivered, Outgoing, TargetError, TargetProfile};
use crate::backoff::Backoff;
use crate::budget::{
    Budget, BudgetPool, Family, PooledBudget, Priority, RateHeaders, SharedBudget,
};
use crate::clock::Clock;
use crate::config::{FediverseTargetSettings, ServerKind, Visibility};
use crate::media::stage::{MediaStage, Staged};
use crate::media::{self, MediaFile};
use crate::model::MediaSource;
use crate::render::{count, PartMedia};
use crate::store::{CachedProfile, Ledger, PartKey};

/// Times a call waits out a 429 or 503 before the part is given back to the engine.
const MAX_RATE_WAITS: u32 = 6;
/// Retries of a call after a network failure or a server error, within one delivery.
const MAX_TRANSIENT_RETRIES: u32 = 3;
/// Polls of a media item that is still being processed.
const MAX_MEDIA_POLLS: u32 = 12;
/// Status posts refused with "media not processed yet" before giving up for this run.
const MAX_PROCESSING_RETRIES: u32 = 4;
/// Uploaded media older than this is not reused (servers delete unattached media after a
/// day or so).
const MEDIA_REUSE: Duration = Duration::hours(12);
/// The pause before retrying a call (a network failure, a server error, media not
/// processed yet): 4 s after the first failure, doubling, at most about a minute.
const RETRY: Backoff = Backoff::new(Duration::seconds(2), Duration::seconds(64));
/// The pause before each poll of a media item being processed.
const MEDIA_POLLS: Backoff = Backoff::new(Duration::seconds(1), Duration::seconds(30));
/// Statuses looked at when reconciling.
const RECONCILE_WINDOW: u32 = 40;

/// What is known once the target has talked to its server.
#[derive(Debug, Clone)]
struct Connected {
    profile: InstanceProfile,
    quirks: Quirks,
    target_profile: TargetProfile,
    account_id: String,
    account: String,
}

/// See the module docs.
pub struct FediTarget {
    name: String,
    settings: FediverseTargetSettings,
    api: Api,
    clock: Clock,
    /// Cancelled when the run is asked to stop: every wait ends at once (rate-limit
    /// budgets, backoff, media processing polls).
    cancel: CancellationToken,
    priority: Priority,
    /// Shared with the other clients of this account in the process ([`BudgetPool`]).
    budget: SharedBudget,
    /// The server counts all calls in one window ([`Quirks::one_counter`]).
    one_counter: bool,
    connected: Option<Connected>,
    /// The profile before connecting: stock Mastodon limits.
    fallback: TargetProfile,
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
    /// A target for `settings`; reads its token now. Call [`FediTarget::connect`] before
    /// delivering.
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
        let now = clock.now();
        Ok(Self {
            name: name.to_owned(),
            settings: settings.clone(),
            api,
            budget: Arc::new(std::sync::Mutex::new(PooledBudget {
                budget: Budget::seeded(&quirks::of(settings.kind).seeds, now),
                restored: false,
            })),
            one_counter: quirks::of(settings.kind).one_counter,
            clock,
            cancel,
            priority: Priority::Backfill {
                share: settings.backfill_share,
            },
            connected: None,
            fallback: TargetProfile::mastodon_default(),
        })
    }

    /// The limits the renderer obeys: the server's once connected, stock Mastodon before.
    pub fn profile(&self) -> &TargetProfile {
        self.connected
            .as_ref()
            .map_or(&self.fallback, |c| &c.target_profile)
    }

    /// What the server refuses outright, once connected: on a server that needs an image
    /// on every post (Pixelfed), a post that starts a conversation without one
    /// ([`ImagesOnly`]).
    pub fn refusal(&self) -> Option<ImagesOnly> {
        let c = self.connected.as_ref()?;
        c.quirks.needs_media.then(|| ImagesOnly::of(&c.profile))
    }

    /// Whether this server can edit a status (the quirks table says), so an edited post
    /// becomes a `PUT` instead of being skipped.
    pub fn supports_edits(&self) -> bool {
        self.connected
            .as_ref()
            .map_or_else(|| quirks::of(self.settings.kind).edits, |c| c.quirks.edits)
    }

    /// Shares this account's budget with the other clients of the same account in the
    /// process (see [`BudgetPool`]). Call before connecting.
    pub fn share_budget(&mut self, pool: &BudgetPool) {
        let key = format!("{} {}", self.name, self.settings.url);
        let own = Arc::clone(&self.budget);
        self.budget = pool.entry(&key, || self.lock_budget().budget.clone());
        drop(own);
    }

    /// The account's budget. Held only for a synchronous step, never across a wait.
    fn lock_budget(&self) -> std::sync::MutexGuard<'_, PooledBudget> {
        self.budget
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sets whose calls these are (live posts may use the whole budget).
    pub fn set_priority(&mut self, priority: Priority) {
        self.priority = priority;
    }

    /// The share of each rate-limit window backfill may use (`backfill_share`).
    pub fn backfill_share(&self) -> f64 {
        self.settings.backfill_share
    }

    /// The limits saved by the last connection to this server (whatever their age), for
    /// planning posts while the server cannot be reached.
    ///
    /// # Errors
    /// Ledger errors.
    pub async fn cached_profile(
        &self,
        ledger: &Arc<Ledger>,
    ) -> Result<Option<TargetProfile>, crate::store::StoreError> {
        let name = self.name.clone();
        let cached = ledger.call(move |l| l.cached_profile(&name)).await?;
        Ok(self
            .usable_cache(cached)
            .map(|p| p.target_profile(&quirks::of(p.kind))))
    }

    /// The cached profile when it was read from this server and is of the configured kind.
    fn usable_cache(&self, cached: Option<CachedProfile>) -> Option<InstanceProfile> {
        cached
            .filter(|c| c.url == self.settings.url)
            .and_then(|c| InstanceProfile::from_cache(&c.profile))
            .filter(|p| self.settings.kind == ServerKind::Auto || p.kind == self.settings.kind)
    }

    /// Learns the server: its kind (nodeinfo, for `auto`), its limits (from the ledger's
    /// cache while fresh, else `/api/v2/instance`, else v1), the account (`verify_credentials`),
    /// and the budget saved by earlier runs. The cache and the budgets are read in one ledger
    /// call; a profile read from the server is saved in a second.
    ///
    /// # Errors
    /// [`TargetError::Auth`] when the token is refused; [`TargetError::Transient`] when the
    /// server cannot be reached; ledger errors.
    pub async fn connect(&mut self, ledger: Option<&Arc<Ledger>>) -> Result<(), TargetError> {
        let now = self.clock.now();
        let (cached, saved) = match ledger {
            Some(l) => {
                let name = self.name.clone();
                let (cached, saved) = l
                    .call(move |l| Ok((l.cached_profile(&name)?, l.budgets(Some(&name))?)))
                    .await?;
                (cached, Some(saved))
            }
            None => (None, None),
        };
        let fresh = self
            .usable_cache(cached.filter(|c| now - c.fetched_at < self.settings.profile_refresh));
        let profile = if let Some(p) = fresh {
            p
        } else {
            let kind = match self.settings.kind {
                ServerKind::Auto => self.detect_kind().await?,
                kind => kind,
            };
            let p = self.fetch_profile(kind).await?;
            if let Some(l) = ledger {
                let (name, url, text) =
                    (self.name.clone(), self.settings.url.clone(), p.to_cache());
                l.call(move |l| l.save_profile(&name, &url, &text, now))
                    .await?;
            }
            p
        };
        let quirks = quirks::of(profile.kind);
        self.one_counter = quirks.one_counter;
        if quirks.closes_after_answer {
            self.api.assume_closes_after_answer();
        }
        {
            let mut pooled = self.lock_budget();
            // Once per account and process: a client connecting later (a reconnect, a
            // backfill next to the live routes) keeps what the others learnt since.
            if !pooled.restored {
                if self.settings.kind == ServerKind::Auto {
                    pooled.budget = Budget::seeded(&quirks.seeds, now);
                }
                if let Some(saved) = saved {
                    pooled
                        .budget
                        .restore(saved.into_iter().map(|s| (s.family, s.window)));
                    pooled.restored = true;
                }
            }
        }
        let (account_id, account) = self.verify_credentials(&profile).await?;
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

    /// `check`'s view: connects without a ledger (so the profile is read fresh) and reports
    /// what it found. Read-only: nothing is posted.
    ///
    /// # Errors
    /// As [`FediTarget::connect`].
    pub async fn check(&mut self) -> Result<CheckReport, TargetError> {
        self.priority = Priority::Live;
        self.connect(None).await?;
        let c = self.connected()?;
        Ok(CheckReport {
            account: c.account.clone(),
            profile: c.profile.clone(),
            quirks: c.quirks.clone(),
            closes_after_answer: self.api.closes_after_answer(),
        })
    }

    /// Sustained statuses per hour the budget allows this target, for estimates.
    pub fn statuses_per_hour(&self) -> f64 {
        self.lock_budget()
            .budget
            .per_hour(Family::Statuses, 1, self.priority)
    }

    /// The target's name and budget windows, for the ledger to save (so `status` shows
    /// them and the next run starts from them).
    pub fn budget_snapshot(
        &self,
    ) -> (
        String,
        std::collections::BTreeMap<Family, crate::budget::Window>,
    ) {
        (
            self.name.clone(),
            self.lock_budget().budget.windows().clone(),
        )
    }

    /// Delivers one part: a boost is a reblog of the mirrored status; otherwise uploads its
    /// media (reusing uploads recorded for it), waits for processing, then posts the status.
    ///
    /// # Errors
    /// See [`TargetError`].
    pub async fn deliver(
        &mut self,
        out: Outgoing<'_>,
        ledger: &Arc<Ledger>,
    ) -> Result<Delivered, TargetError> {
        if let Some(original) = &out.part.boost_of {
            // A boost cannot be direct; the route's visibility otherwise applies to it.
            let body = match out.part.visibility {
                Visibility::Direct => json!({}),
                v => json!({"visibility": v.as_str()}),
            };
            return self
                .repeatable_write(RepeatableWrite::Boost {
                    original,
                    body: &body,
                    key: out.idempotency_key,
                })
                .await;
        }
        let c = self.connected()?.clone();
        let (text, media) = self.attach(out, ledger, &c).await?;
        if c.quirks.needs_media && media.is_empty() && out.in_reply_to.is_none() {
            return Err(TargetError::Rejected {
                status: None,
                message: format!(
                    "{} servers need an image on every post, and this part has none",
                    c.profile.kind.as_str()
                ),
            });
        }
        let ids: Vec<String> = media.into_iter().map(|(id, _)| id).collect();
        let body = status_body(out, &c.quirks.wire_text(&text), &ids);
        self.post_status(&body, out, &text).await
    }

    /// Makes the status `remote_id` show the part instead (an X edit): uploads the part's
    /// media as for a new status, then `PUT /api/v1/statuses/:id` with the text, content
    /// warning, sensitivity and media with their descriptions. A `PUT` is idempotent, so a
    /// timed-out one is simply sent again.
    ///
    /// # Errors
    /// See [`TargetError`].
    pub async fn edit(
        &mut self,
        remote_id: &str,
        out: Outgoing<'_>,
        ledger: &Arc<Ledger>,
    ) -> Result<Delivered, TargetError> {
        let c = self.connected()?.clone();
        if !c.quirks.edits {
            return Err(TargetError::Setup {
                message: format!("{} servers cannot edit statuses", c.profile.kind.as_str()),
            });
        }
        let (text, media) = self.attach(out, ledger, &c).await?;
        let body = edit_body(out, &c.quirks.wire_text(&text), &media);
        self.repeatable_write(RepeatableWrite::Edit {
            remote_id,
            body: &body,
        })
        .await
    }

    /// Uploads the part's media (or reuses the uploads recorded for it), links what the
    /// server cannot take, and waits until the uploads are processed. Returns the text
    /// (with any links added) and the media ids with their descriptions, in order. A part
    /// without media costs no ledger call; each upload is recorded as soon as the server
    /// has it, so a retry reuses it.
    async fn attach(
        &mut self,
        out: Outgoing<'_>,
        ledger: &Arc<Ledger>,
        c: &Connected,
    ) -> Result<(String, Vec<(String, Option<String>)>), TargetError> {
        let key = PartKey::new(out.route, out.source_post_id, &self.name, out.part_index);
        let mut text = out.part.text.clone();
        if out.part.media.is_empty() {
            return Ok((text, Vec::new()));
        }
        let since = self.clock.now() - MEDIA_REUSE;
        let reused: HashMap<u32, String> = {
            let key = key.clone();
            ledger
                .call(move |l| l.uploaded_media(&key, since))
                .await?
                .into_iter()
                .collect()
        };
        let mut media = Vec::new();
        let mut pending = Vec::new();
        for (index, m) in out.part.media.iter().enumerate() {
            let index_u32 = u32::try_from(index).unwrap_or(u32::MAX);
            if let Some(id) = reused.get(&index_u32) {
                media.push((id.clone(), m.description.clone()));
                continue;
            }
            match self.upload(m, &c.profile, out.media).await {
                Ok((id, ready)) => {
                    let (k, remote, now) = (key.clone(), id.clone(), self.clock.now());
                    ledger
                        .call(move |l| l.record_uploaded_media(&k, index_u32, &remote, now))
                        .await?;
                    if !ready {
                        pending.push(id.clone());
                    }
                    media.push((id, m.description.clone()));
                }
                Err(Undeliverable(reason)) => {
                    let original = original_url(&out, m);
                    let warning = link_instead(&mut text, out.part, m, &reason, original, c);
                    warn!(target = %self.name, part = %key, %warning, "media not delivered");
                    let (k, now) = (key.clone(), self.clock.now());
                    ledger
                        .call(move |l| l.add_warning(&k, &warning, now))
                        .await?;
                }
                Err(Failed(e)) => return Err(e),
            }
        }
        for id in pending {
            self.wait_processed(&id).await?;
        }
        // Uploaded (or reused) and processed; neither the status nor the edit is sent.
        if !media.is_empty() {
            crate::crash::point(crate::crash::CrashPoint::MediaUploaded);
        }
        Ok((text, media))
    }

    /// After an interrupted attempt started at `attempt_at`: finds out whether the server
    /// has the part. Within the idempotency window of a server that honours the key, a
    /// resend is deduplicated by the server, so there is nothing to look up.
    ///
    /// # Errors
    /// When the lookup itself fails; the part must then stay unsettled.
    pub async fn reconcile(
        &mut self,
        out: Outgoing<'_>,
        attempt_at: DateTime<Utc>,
    ) -> Result<Option<Delivered>, TargetError> {
        let c = self.connected()?;
        // A second reblog of the same status returns the first: sending again is safe.
        if out.part.boost_of.is_some()
            || (c.quirks.honours_idempotency
                && self.clock.now() - attempt_at < quirks::IDEMPOTENCY_WINDOW)
        {
            return Ok(None);
        }
        self.search(out, &out.part.text).await
    }

    /// Deletes a status (`GoToSocial` and Friendica answer with odd bodies; only the status
    /// code is read). A status already gone counts as deleted.
    ///
    /// # Errors
    /// See [`TargetError`].
    pub async fn delete(&mut self, remote_id: &str) -> Result<(), TargetError> {
        let mut waits = 0;
        loop {
            self.take(Family::Deletes).await?;
            let answer =
                self.api
                    .delete_status(remote_id)
                    .await
                    .map_err(|t| TargetError::Transient {
                        message: t.to_string(),
                    })?;
            self.observe(Family::Deletes, &answer.headers);
            match answer.status {
                200..=299 | 404 => return Ok(()),
                429 | 503 if waits < MAX_RATE_WAITS => {
                    waits += 1;
                    self.back_off_rate(Family::Deletes, &answer);
                }
                _ => return Err(self.answer_error(&answer)),
            }
        }
    }

    fn connected(&self) -> Result<&Connected, TargetError> {
        self.connected.as_ref().ok_or_else(|| TargetError::Setup {
            message: format!("target `{}` was used before connecting", self.name),
        })
    }

    /// Takes one call of `family` from the budget, waiting for the window when it is used
    /// up (DESIGN.md: delivery waits for budget instead of calling and failing).
    async fn take(&mut self, family: Family) -> Result<(), TargetError> {
        let family = self.counted_as(family);
        let mut announced = false;
        loop {
            let now = self.clock.now();
            let taken = self
                .lock_budget()
                .budget
                .try_take(family, self.priority, now);
            match taken {
                Ok(()) => return Ok(()),
                Err(until) => {
                    if !announced {
                        info!(target = %self.name, %family, until = %until.format("%H:%M:%S"), "waiting for the rate-limit budget");
                        announced = true;
                    }
                    self.wait_until(until).await?;
                }
            }
        }
    }

    /// Sleeps until `until`, or until the run is asked to stop.
    async fn wait_until(&self, until: DateTime<Utc>) -> Result<(), TargetError> {
        tokio::select! {
            biased;
            () = self.cancel.cancelled() => Err(TargetError::Interrupted),
            () = self.clock.sleep_until(until) => Ok(()),
        }
    }

    /// The family a call of `family` is counted in: its own, or `requests` on a server
    /// that counts every call in one window.
    fn counted_as(&self, family: Family) -> Family {
        if self.one_counter {
            Family::Requests
        } else {
            family
        }
    }

    /// Sleeps for `pause`, or until the run is asked to stop.
    async fn pause(&self, pause: Duration) -> Result<(), TargetError> {
        self.wait_until(self.clock.now() + pause).await
    }

    fn observe(&mut self, family: Family, headers: &HeaderMap) {
        let family = self.counted_as(family);
        let now = self.clock.now();
        let h = RateHeaders::parse(headers, now);
        self.lock_budget().budget.observe(family, &h, now);
    }

    /// A 429 pauses the family; a 503 pauses the account, until the time the server gave
    /// (or a guess).
    fn back_off_rate(&mut self, family: Family, answer: &Answer) {
        let family = self.counted_as(family);
        let now = self.clock.now();
        let h = RateHeaders::parse(&answer.headers, now);
        if answer.status == 503 {
            let until = h
                .retry_at
                .filter(|t| *t > now)
                .unwrap_or_else(|| now + Duration::seconds(30));
            self.lock_budget().budget.pause_all(until);
            warn!(target = %self.name, until = %until, "server unavailable (503): pausing");
        } else {
            let until = self.lock_budget().budget.rate_limited(family, &h, now);
            warn!(target = %self.name, %family, until = %until, "rate limited (429): pausing");
        }
    }

    /// What an unexpected answer means.
    fn answer_error(&self, answer: &Answer) -> TargetError {
        match answer.status {
            401 | 403 => TargetError::Auth {
                target: self.name.clone(),
                message: answer.message(),
            },
            429 | 503 => TargetError::RateLimited {
                retry_after: RateHeaders::parse(&answer.headers, self.clock.now())
                    .retry_at
                    .unwrap_or_else(|| self.clock.now() + Duration::minutes(5)),
            },
            400..=499 => TargetError::Rejected {
                status: Some(answer.status),
                message: answer.message(),
            },
            _ => TargetError::Transient {
                message: format!("HTTP {}: {}", answer.status, answer.message()),
            },
        }
    }

    async fn transient_pause(&self, retry: u32) -> Result<(), TargetError> {
        self.pause(RETRY.jittered(retry)).await
    }

    /// `GET` with budget, rate-limit and transient handling; the answer is 2xx or an error.
    /// The token goes only with `auth` (never to a URL another document named).
    async fn get_ok(&mut self, path: &str, auth: bool) -> Result<Answer, TargetError> {
        let (mut waits, mut retries) = (0, 0);
        loop {
            self.take(Family::Requests).await?;
            match self.api.get(path, auth).await {
                Ok(answer) => {
                    self.observe(Family::Requests, &answer.headers);
                    match answer.status {
                        200..=299 => return Ok(answer),
                        429 | 503 if waits < MAX_RATE_WAITS => {
                            waits += 1;
                            self.back_off_rate(Family::Requests, &answer);
                        }
                        500..=599 if retries < MAX_TRANSIENT_RETRIES => {
                            retries += 1;
                            self.transient_pause(retries).await?;
                        }
                        _ => return Err(self.answer_error(&answer)),
                    }
                }
                // No connection at all: the server is down. Retrying here would only hold up
                // the run; the engine reconnects the target later, with backoff.
                Err(Transport::Connect(m)) => {
                    return Err(TargetError::Unreachable {
                        message: format!("{}{path}: {m}", self.api.base()),
                    })
                }
                Err(t) if retries < MAX_TRANSIENT_RETRIES => {
                    retries += 1;
                    warn!(target = %self.name, path, error = %t, "request failed; retrying");
                    self.transient_pause(retries).await?;
                }
                Err(t) => {
                    return Err(TargetError::Transient {
                        message: format!("{}{path}: {t}", self.api.base()),
                    })
                }
            }
        }
    }

    /// nodeinfo's `software.name`, for `kind = "auto"`.
    async fn detect_kind(&mut self) -> Result<ServerKind, TargetError> {
        let index = self.get_ok("/.well-known/nodeinfo", false).await?;
        let href = index.body["links"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|l| {
                l["rel"]
                    .as_str()
                    .is_some_and(|r| r.contains("nodeinfo.diaspora.software/ns/schema/2"))
            })
            .filter_map(|l| l["href"].as_str())
            .next_back()
            .map(str::to_owned)
            .ok_or_else(|| TargetError::Setup {
                message: format!(
                    "{} publishes no nodeinfo 2.x link; set `kind` to the server's software",
                    self.settings.url
                ),
            })?;
        let doc = self.get_ok(&href, false).await?;
        let software = doc.body["software"]["name"].as_str().unwrap_or_default();
        if let Some(kind) = quirks::kind_from_software(software) {
            info!(target = %self.name, software, kind = kind.as_str(), "server kind detected");
            Ok(kind)
        } else {
            warn!(target = %self.name, software, "unknown server software; speaking the Mastodon API to it, without trusting its idempotency keys");
            Ok(ServerKind::Auto)
        }
    }

    /// `/api/v2/instance`, else `/api/v1/instance`, else the kind's defaults.
    async fn fetch_profile(&mut self, kind: ServerKind) -> Result<InstanceProfile, TargetError> {
        for (path, source) in [
            ("/api/v2/instance", ProfileSource::V2),
            ("/api/v1/instance", ProfileSource::V1),
        ] {
            // With the token: servers in limited federation mode show it only to accounts.
            match self.get_ok(path, true).await {
                Ok(answer) if answer.body.is_object() => {
                    return Ok(InstanceProfile::from_instance(kind, source, &answer.body));
                }
                Ok(_) | Err(TargetError::Rejected { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        warn!(target = %self.name, "the server publishes no instance document; using the defaults of its kind");
        Ok(InstanceProfile::defaults(kind))
    }

    /// The account's id and `@name`, read leniently (an account without `fields`, as
    /// snac's, is fine). snac answers a refused token
    /// with 422 here (401 elsewhere): either means the token.
    async fn verify_credentials(
        &mut self,
        profile: &InstanceProfile,
    ) -> Result<(String, String), TargetError> {
        const CALL: &str = "GET /api/v1/accounts/verify_credentials";
        let answer = match self
            .get_ok("/api/v1/accounts/verify_credentials", true)
            .await
        {
            Ok(answer) => answer,
            Err(TargetError::Rejected {
                status: Some(422),
                message,
            }) => {
                return Err(TargetError::Auth {
                    target: self.name.clone(),
                    message,
                })
            }
            Err(e) => return Err(e),
        };
        let account = lenient::account(&answer.body, CALL, &profile.software()).map_err(|m| {
            TargetError::Setup {
                message: m.to_string(),
            }
        })?;
        Ok((account.id, format!("@{}", account.acct)))
    }

    /// Uploads one attachment. `Undeliverable` when the server cannot take it (too large,
    /// wrong type, refused, or remote media that cannot be downloaded): the caller links the
    /// original instead.
    async fn upload(
        &mut self,
        m: &PartMedia,
        profile: &InstanceProfile,
        stage: Option<&MediaStage>,
    ) -> Result<(String, bool), UploadError> {
        // A download (remote media) can take long, a large video: a stop request ends it
        // (its temporary file goes with it) and the part stays due. Archive media is read
        // at once.
        let remote = matches!(m.source, MediaSource::Url(_));
        let prepared = tokio::select! {
            biased;
            () = self.cancel.cancelled(), if remote => {
                return Err(Failed(TargetError::Interrupted))
            }
            prepared = prepare_media(m, profile, stage) => prepared.map_err(Undeliverable)?,
        };
        let (body, file_name, mime, size) = match &prepared {
            Prepared::Bytes(f) => (
                UploadBody::Bytes(&f.bytes),
                f.file_name.as_str(),
                f.mime,
                f.bytes.len() as u64,
            ),
            Prepared::File {
                path,
                size,
                file_name,
                mime,
            } => (
                UploadBody::File { path, size: *size },
                file_name.as_str(),
                *mime,
                *size,
            ),
            Prepared::Staged(s) => (
                UploadBody::File {
                    path: &s.path,
                    size: s.size,
                },
                s.file_name.as_str(),
                s.mime.as_str(),
                s.size,
            ),
        };
        let upload = Upload {
            body,
            file_name,
            mime,
            description: m.description.as_deref(),
        };
        // Uploads are bigger than other requests: more time, by size (10 s per MB).
        let timeout = self.api.timeout() * 4 + StdDuration::from_secs(size / 100_000);
        let (mut waits, mut retries) = (0, 0);
        loop {
            self.take(Family::Media).await.map_err(Failed)?;
            let failure = match self.api.upload_media(&upload, timeout).await {
                Ok(answer) => {
                    self.observe(Family::Media, &answer.headers);
                    match answer.status {
                        200..=299 => {
                            // Asking again gives the same answer: not temporary.
                            let Some(id) = lenient::id(&answer.body["id"]) else {
                                let missing = lenient::Missing {
                                    field: "id".to_owned(),
                                    call: "POST /api/v2/media",
                                    software: profile.software(),
                                };
                                return Err(Failed(TargetError::Setup {
                                    message: missing.to_string(),
                                }));
                            };
                            return Ok((id, lenient::media_ready(&answer.body)));
                        }
                        429 | 503 if waits < MAX_RATE_WAITS => {
                            waits += 1;
                            self.back_off_rate(Family::Media, &answer);
                            continue;
                        }
                        s @ (413 | 415 | 422) => {
                            return Err(Undeliverable(format!(
                                "the server refused it (HTTP {s}: {})",
                                answer.message()
                            )))
                        }
                        500..=599 => format!("HTTP {}: {}", answer.status, answer.message()),
                        _ => return Err(Failed(self.answer_error(&answer))),
                    }
                }
                Err(t) => t.to_string(),
            };
            // An upload that failed half way is harmless to repeat: the server drops
            // unattached media.
            if retries >= MAX_TRANSIENT_RETRIES {
                return Err(Failed(TargetError::Transient {
                    message: format!("media upload failed: {failure}"),
                }));
            }
            retries += 1;
            warn!(target = %self.name, error = %failure, "media upload failed; retrying");
            self.transient_pause(retries).await.map_err(Failed)?;
        }
    }

    /// Polls a media item until the server has processed it (206, or no `url` yet, while
    /// it works), with growing pauses up to a bound. An item still not ready is left to the
    /// status post, which the server refuses (422) until it is. Cancellation ends the wait
    /// with [`TargetError::Interrupted`]; the upload is recorded, so the retry reuses it.
    async fn wait_processed(&mut self, id: &str) -> Result<(), TargetError> {
        for poll in 0..MAX_MEDIA_POLLS {
            self.pause(MEDIA_POLLS.nth(poll)).await?;
            self.take(Family::Requests).await?;
            match self.api.get_media(id).await {
                Ok(answer) => {
                    self.observe(Family::Requests, &answer.headers);
                    match answer.status {
                        200 if lenient::media_ready(&answer.body) => return Ok(()),
                        200 | 206 => {}
                        401 | 403 => return Err(self.answer_error(&answer)),
                        429 | 503 => self.back_off_rate(Family::Requests, &answer),
                        // A server that cannot show an upload (404: GoToSocial before it
                        // processes, small servers) may still accept it in a status.
                        _ => return Ok(()),
                    }
                }
                Err(t) => {
                    warn!(target = %self.name, media = id, error = %t, "cannot ask about media processing; asking again");
                }
            }
        }
        warn!(target = %self.name, media = id, "media still processing; posting anyway");
        Ok(())
    }

    /// Sends an edit or a boost, waiting out rate limits and retrying failures: both are safe
    /// to repeat (an edit sent twice is the same edit; the server returns the existing boost
    /// of a status boosted already), so unlike a new status they need no reconciliation.
    async fn repeatable_write(
        &mut self,
        write: RepeatableWrite<'_>,
    ) -> Result<Delivered, TargetError> {
        let (mut waits, mut retries) = (0, 0);
        loop {
            self.take(Family::Statuses).await?;
            let sent = match write {
                RepeatableWrite::Edit { remote_id, body } => {
                    self.api.put_status(remote_id, body).await
                }
                RepeatableWrite::Boost {
                    original,
                    body,
                    key,
                } => self.api.reblog(original, body, key).await,
            };
            let failure = match sent {
                Ok(answer) => {
                    self.observe(Family::Statuses, &answer.headers);
                    match answer.status {
                        200..=299 => return write.delivered(&answer),
                        429 | 503 if waits < MAX_RATE_WAITS => {
                            waits += 1;
                            self.back_off_rate(Family::Statuses, &answer);
                            continue;
                        }
                        500..=599 => format!("HTTP {}: {}", answer.status, answer.message()),
                        _ => return Err(self.answer_error(&answer)),
                    }
                }
                // Never reached the server, again and again: it is down; the engine
                // keeps the part waiting and reconnects later.
                Err(Transport::Connect(m)) if retries >= MAX_TRANSIENT_RETRIES => {
                    return Err(TargetError::Unreachable { message: m })
                }
                Err(t) => t.to_string(),
            };
            if retries >= MAX_TRANSIENT_RETRIES {
                return Err(TargetError::Transient { message: failure });
            }
            retries += 1;
            warn!(target = %self.name, error = %failure, "{} failed; retrying", write.name());
            self.transient_pause(retries).await?;
        }
    }

    /// Posts the status, waiting out rate limits and media processing; a write whose
    /// outcome is unknown is reconciled before it is sent again.
    async fn post_status(
        &mut self,
        body: &Value,
        out: Outgoing<'_>,
        text: &str,
    ) -> Result<Delivered, TargetError> {
        let honours = self.connected()?.quirks.honours_idempotency;
        let (mut waits, mut retries, mut processing, mut resent) = (0, 0, 0, false);
        loop {
            self.take(Family::Statuses).await?;
            let unknown = match self.api.post_status(body, out.idempotency_key).await {
                Ok(answer) => {
                    self.observe(Family::Statuses, &answer.headers);
                    match answer.status {
                        200..=299 => return delivered(&answer),
                        429 | 503 if waits < MAX_RATE_WAITS => {
                            waits += 1;
                            self.back_off_rate(Family::Statuses, &answer);
                            continue;
                        }
                        422 if is_processing(&answer) => {
                            if processing >= MAX_PROCESSING_RETRIES {
                                // Not the part's fault: its media ids are kept for the retry.
                                return Err(TargetError::Transient {
                                    message: format!(
                                        "media still processing: {}",
                                        answer.message()
                                    ),
                                });
                            }
                            processing += 1;
                            info!(target = %self.name, "media still processing; waiting before posting");
                            self.pause(RETRY.nth(processing)).await?;
                            continue;
                        }
                        // Pixelfed refuses a key it saw within the hour instead of answering
                        // with the first status: that attempt may have created it.
                        400 if is_duplicate_key(&answer) => {
                            if let Some(found) = self.search(out, text).await? {
                                info!(target = %self.name, id = %found.remote_id, "status found after a refused repeated key: adopted");
                                return Ok(found);
                            }
                            return Err(TargetError::RateLimited {
                                retry_after: self.clock.now() + quirks::IDEMPOTENCY_WINDOW,
                            });
                        }
                        // The server answered, but may have created the status first.
                        500 | 504 => format!("HTTP {}: {}", answer.status, answer.message()),
                        502 if retries < MAX_TRANSIENT_RETRIES => {
                            retries += 1;
                            self.transient_pause(retries).await?;
                            continue;
                        }
                        _ => return Err(self.answer_error(&answer)),
                    }
                }
                Err(Transport::Connect(m)) if retries < MAX_TRANSIENT_RETRIES => {
                    retries += 1;
                    warn!(target = %self.name, error = %m, "cannot reach the server; retrying");
                    self.transient_pause(retries).await?;
                    continue;
                }
                Err(Transport::Connect(m)) => return Err(TargetError::Unreachable { message: m }),
                Err(t) => t.to_string(),
            };
            // Give a slow server the time to finish what it may be doing, then look.
            warn!(target = %self.name, error = %unknown, "status post outcome unknown; reconciling");
            // A stop request here must not pass for "not sent": the server may have it.
            let grace = Duration::from_std(self.api.timeout()).unwrap_or(Duration::seconds(30));
            if self.pause(grace).await.is_err() {
                return Err(TargetError::UnknownOutcome { message: unknown });
            }
            if let Some(found) = self.search(out, text).await? {
                info!(target = %self.name, id = %found.remote_id, "status found after an unknown outcome: adopted");
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
    async fn search(
        &mut self,
        out: Outgoing<'_>,
        text: &str,
    ) -> Result<Option<Delivered>, TargetError> {
        const CALL: &str = "GET /api/v1/accounts/:id/statuses";
        let (account_id, software) = {
            let c = self.connected()?;
            (c.account_id.clone(), c.profile.software())
        };
        let path = format!("/api/v1/accounts/{account_id}/statuses?limit={RECONCILE_WINDOW}");
        let answer = self.get_ok(&path, true).await?;
        let candidates =
            lenient::statuses(&answer.body, CALL, &software).map_err(|m| TargetError::Setup {
                message: m.to_string(),
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
        }))
    }
}

/// Appends a link to the original media when it fits; returns the warning to record.
fn link_instead(
    text: &mut String,
    part: &crate::render::Part,
    m: &PartMedia,
    reason: &str,
    original: Option<&str>,
    c: &Connected,
) -> String {
    let what = m.kind.as_str();
    let Some(url) = original else {
        return format!("{what} not delivered ({reason}); no original URL to link");
    };
    let candidate = if text.is_empty() {
        url.to_owned()
    } else {
        format!("{text}\n\n{url}")
    };
    let length = count::length(&c.target_profile, part.spoiler_text.as_deref(), &candidate);
    if length <= c.target_profile.max_characters {
        *text = candidate;
        format!("{what} not delivered ({reason}): linked to the original instead")
    } else {
        format!("{what} not delivered ({reason}); no room left to link the original")
    }
}

/// Why an attachment was not uploaded.
enum UploadError {
    /// The server cannot take it; the post goes out with a link instead.
    Undeliverable(String),
    /// The call failed; the part fails.
    Failed(TargetError),
}

use UploadError::{Failed, Undeliverable};

/// Media ready to upload: bytes read from a zip, a file of an unpacked archive, or a
/// downloaded file. Files are streamed, never read whole.
enum Prepared {
    Bytes(MediaFile),
    File {
        path: std::path::PathBuf,
        size: u64,
        file_name: String,
        mime: &'static str,
    },
    Staged(Arc<Staged>),
}

/// Reads (archive) or downloads (remote) the media, or says why the server cannot take it:
/// the type and size are checked against the server's profile before anything is read or
/// downloaded, and again on what arrived.
async fn prepare_media(
    m: &PartMedia,
    profile: &InstanceProfile,
    stage: Option<&MediaStage>,
) -> Result<Prepared, String> {
    let guess = media::mime_type(m.kind, &media::location(&m.source));
    if !profile.accepts(guess) {
        return Err(format!("the server does not accept {guess}"));
    }
    if let MediaSource::Url(url) = &m.source {
        let Some(stage) = stage else {
            return Err("remote media is not downloaded on this path".to_owned());
        };
        let limit = profile
            .size_limit(guess)
            .unwrap_or(crate::fetch::DEFAULT_MAX_BYTES);
        let staged = stage.get(url, m.kind, limit).await?;
        if !profile.accepts(&staged.mime) {
            return Err(format!("the server does not accept {}", staged.mime));
        }
        let limit = profile
            .size_limit(&staged.mime)
            .unwrap_or(crate::fetch::DEFAULT_MAX_BYTES);
        if staged.size > limit {
            return Err(format!(
                "{} bytes, the server accepts at most {limit}",
                staged.size
            ));
        }
        return Ok(Prepared::Staged(staged));
    }
    let source = m.source.clone();
    let size = off_the_loop(move || media::size(&source)).await?;
    let limit = profile.size_limit(guess).unwrap_or(u64::MAX);
    if size > limit {
        return Err(format!("{size} bytes, the server accepts at most {limit}"));
    }
    if let MediaSource::File(path) = &m.source {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("media");
        return Ok(Prepared::File {
            path: path.clone(),
            size,
            file_name: media::with_extension(name, guess),
            mime: guess,
        });
    }
    let (source, kind) = (m.source.clone(), m.kind);
    off_the_loop(move || media::read(&source, kind, limit))
        .await
        .map(Prepared::Bytes)
}

/// Runs file work on the blocking pool: opening a zip archive reads its whole central
/// directory, and an entry is read into memory, which for a video in a large archive takes
/// long enough to stall polling, the watchdog and signals on the one-thread runtime.
async fn off_the_loop<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, media::MediaError> + Send + 'static,
) -> Result<T, String> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(err) => std::panic::resume_unwind(err.into_panic()),
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

/// The JSON of a new status: real booleans, and no `null` fields (some servers refuse them).
fn status_body(out: Outgoing<'_>, text: &str, media_ids: &[String]) -> Value {
    let part = out.part;
    let mut body = Map::new();
    body.insert("status".into(), json!(text));
    body.insert("visibility".into(), json!(part.visibility.as_str()));
    body.insert("sensitive".into(), json!(part.sensitive));
    if !media_ids.is_empty() {
        body.insert("media_ids".into(), json!(media_ids));
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
fn edit_body(out: Outgoing<'_>, text: &str, media: &[(String, Option<String>)]) -> Value {
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
        json!(media.iter().map(|(id, _)| id).collect::<Vec<_>>()),
    );
    let attributes: Vec<Value> = media
        .iter()
        .map(|(id, description)| {
            let mut a = Map::new();
            a.insert("id".into(), json!(id));
            if let Some(d) = description {
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

fn delivered(answer: &Answer) -> Result<Delivered, TargetError> {
    let id = match &answer.body["id"] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => {
            return Err(TargetError::UnknownOutcome {
                message: format!("HTTP {} without a status id", answer.status),
            })
        }
    };
    Ok(Delivered {
        remote_id: id,
        url: answer.body["url"]
            .as_str()
            .or_else(|| answer.body["uri"].as_str())
            .map(str::to_owned),
    })
}

/// Pixelfed's 400 "Duplicate idempotency key." for a key it saw within the hour.
fn is_duplicate_key(answer: &Answer) -> bool {
    answer.status == 400
        && answer
            .message()
            .to_ascii_lowercase()
            .contains("idempotency key")
}

/// Mastodon's "Cannot attach files that have not finished processing".
fn is_processing(answer: &Answer) -> bool {
    let m = answer.message().to_ascii_lowercase();
    m.contains("processing") || m.contains("not processed")
}

/// A write that is safe to send again as it is (see [`FediTarget::repeatable_write`]).
#[derive(Debug, Clone, Copy)]
enum RepeatableWrite<'a> {
    /// `PUT /api/v1/statuses/:id`.
    Edit { remote_id: &'a str, body: &'a Value },
    /// `POST /api/v1/statuses/:id/reblog`.
    Boost {
        original: &'a str,
        body: &'a Value,
        key: &'a str,
    },
}

impl RepeatableWrite<'_> {
    fn name(self) -> &'static str {
        match self {
            Self::Edit { .. } => "edit",
            Self::Boost { .. } => "boost",
        }
    }

    /// The status the server answered with. Some servers give an edited status a new id,
    /// and the answer says which; an edit answered without one keeps the old id.
    fn delivered(self, answer: &Answer) -> Result<Delivered, TargetError> {
        match self {
            Self::Edit { remote_id, .. } => Ok(delivered(answer).unwrap_or(Delivered {
                remote_id: remote_id.to_owned(),
                url: None,
            })),
            Self::Boost { .. } => delivered(answer),
        }
    }
}
