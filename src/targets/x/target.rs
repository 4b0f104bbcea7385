//! [`XTarget`]: an X account as a [`Target`] the engine drives (`kind = "x"`). X's limits
//! are its own (`TargetProfile::x`, with the `links` and `quotes` settings), so they are
//! known without asking and posts are planned as their real parts even while X cannot be
//! reached. Connecting names the account (`GET /2/users/me`) and takes up the rate-limit
//! windows an earlier run saved. Edits are not possible on X: an edited post is recorded
//! as skipped by the engine, never posted twice.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use tracing::info;

use super::calls::{target_error, XCalls};
use super::client::{Account, Credentials, XApi};
use super::cost::{Tariff, Usd};
use super::oauth1::OAuth1Keys;
use super::oauth2::{OAuth2Client, UserToken};
use super::posts::{self, Session};
use super::uploads;
use crate::budget::{Family, Priority};
use crate::config::{XCredentials, XLinks, XQuotes, XTargetSettings, XWarnings};
use crate::media::stage::MediaStage;
use crate::render::{PartMedia, Rendered};
use crate::targets::{
    Attached, Call, Delivered, Memory, Outgoing, Pace, Refusal, Retracted, Retraction,
    Surroundings, Target, TargetError, TargetProfile, Upload,
};

/// X keeps an upload for a day (`expires_after_secs`); half of it is safe to reuse.
const MEDIA_REUSE: Duration = Duration::hours(12);

/// See the module docs.
pub struct XTarget {
    name: String,
    settings: XTargetSettings,
    calls: XCalls,
    profile: TargetProfile,
    session: Session,
}

impl std::fmt::Debug for XTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XTarget")
            .field("name", &self.name)
            .field("api_url", &self.settings.api_url)
            .field("account", &self.session.account)
            .finish_non_exhaustive()
    }
}

/// What `check` prints about an X target.
#[derive(Debug, Clone)]
pub struct CheckReport {
    /// The account the credentials act as.
    pub account: Account,
    /// Which credentials.
    pub credentials: &'static str,
}

/// The limits posts to X are rendered for: X's, with the target's `links` and `quotes`.
pub fn profile(settings: &XTargetSettings) -> TargetProfile {
    TargetProfile {
        own_links: settings.links == XLinks::Keep,
        supports_quote_posts: settings.quotes == XQuotes::Native,
        ..TargetProfile::x()
    }
}

/// What the target bills: X's prices, under `max_spend_per_day`.
pub fn tariff(settings: &XTargetSettings) -> Tariff {
    Tariff {
        cap: settings.max_spend_per_day.and_then(Usd::from_dollars),
    }
}

impl XTarget {
    /// A target for `settings`; reads its credentials now. Connect it before delivering.
    ///
    /// # Errors
    /// [`TargetError::Setup`] when a credential cannot be read or the HTTP client not built.
    pub fn new(
        name: &str,
        settings: &XTargetSettings,
        clock: crate::clock::Clock,
        cancel: tokio_util::sync::CancellationToken,
    ) -> Result<Self, TargetError> {
        let setup = |message: String| TargetError::Setup { message };
        let key = format!("targets.{name}");
        let load = |s: &crate::config::SecretSource| s.load(&key).map_err(|e| setup(e.to_string()));
        let credentials = match &settings.credentials {
            XCredentials::OAuth1 {
                consumer_key,
                consumer_secret,
                access_token,
                access_token_secret,
            } => Credentials::OAuth1(OAuth1Keys {
                consumer_key: load(consumer_key)?,
                consumer_secret: load(consumer_secret)?,
                token: load(access_token)?,
                token_secret: load(access_token_secret)?,
            }),
            XCredentials::OAuth2 {
                token_file,
                client_id,
                client_secret,
            } => {
                let client = OAuth2Client {
                    token_url: format!("{}/2/oauth2/token", settings.api_url),
                    client_id: client_id.clone(),
                    client_secret: client_secret.as_ref().map(load).transpose()?,
                };
                let token = UserToken::load(client, token_file)
                    .map_err(|e| setup(format!("{key}: {e}")))?;
                Credentials::OAuth2(Arc::new(token))
            }
        };
        let http = crate::targets::fedi::client::shared()
            .map_err(setup)?
            .pooled;
        let api = XApi::new(
            http,
            &settings.api_url,
            credentials,
            settings.request_timeout,
            clock.clone(),
        );
        Ok(Self {
            name: name.to_owned(),
            calls: XCalls::new(api, name, clock, cancel, settings.backfill_share),
            profile: profile(settings),
            settings: settings.clone(),
            session: Session::default(),
        })
    }

    /// A target as the engine uses it: on the process's budget for the account, at the
    /// priority of the lane.
    ///
    /// # Errors
    /// As [`XTarget::new`].
    pub fn build(
        name: &str,
        settings: &XTargetSettings,
        around: Surroundings<'_>,
    ) -> Result<Self, TargetError> {
        let mut target = Self::new(name, settings, around.clock.clone(), around.cancel.clone())?;
        let key = format!("{name} {}", settings.api_url);
        target
            .calls
            .account_mut()
            .share_budget(around.budgets, &key);
        target
            .calls
            .account_mut()
            .set_priority(Priority::of(around.lane, settings.backfill_share));
        Ok(target)
    }

    /// `check`'s view: whose credentials these are. Read-only: nothing is posted.
    ///
    /// # Errors
    /// As [`Target::connect`].
    pub async fn check(&mut self) -> Result<CheckReport, TargetError> {
        self.calls.account_mut().set_priority(Priority::Live);
        self.connect_account().await?;
        Ok(CheckReport {
            account: self
                .session
                .account
                .clone()
                .unwrap_or_else(|| unreachable!("connecting names the account")),
            credentials: match self.settings.credentials {
                XCredentials::OAuth1 { .. } => "OAuth 1.0a user tokens",
                XCredentials::OAuth2 { .. } => "OAuth 2.0 user token (refreshed and written back)",
            },
        })
    }

    async fn connect_account(&mut self) -> Result<(), TargetError> {
        let api = self.calls.api();
        let account = self
            .calls
            .call(None, true, || api.me())
            .await
            .map_err(|e| target_error(&self.name, self.calls.account().now(), e))?;
        info!(target = %self.name, account = %account.username, "X target connected");
        self.session.account = Some(account);
        Ok(())
    }
}

/// `cw = "skip"`: a post with a content warning is not mirrored to X.
#[derive(Debug)]
struct SkipWarned;

impl Refusal for SkipWarned {
    fn refuses(&self, rendered: &Rendered) -> Option<String> {
        rendered
            .parts
            .iter()
            .find_map(|p| p.spoiler_text.as_deref())
            .map(|w| {
                format!("content warning \"{w}\": X has none, and this target skips warned posts (cw = \"skip\")")
            })
    }
}

impl Target for XTarget {
    fn profile(&self) -> &TargetProfile {
        &self.profile
    }

    fn connect<'a>(&'a mut self, memory: &'a Memory) -> Call<'a, ()> {
        Box::pin(async move {
            self.calls.account().restore(None, Some(&memory.budgets));
            self.connect_account().await
        })
    }

    /// X's limits are known without asking it.
    fn remembered_profile(&self, _memory: &Memory) -> Option<TargetProfile> {
        Some(self.profile.clone())
    }

    fn learnt(&mut self) -> Memory {
        Memory {
            profile: None,
            budgets: self.calls.account().windows(),
        }
    }

    /// X's API cannot edit a post.
    fn supports_edits(&self) -> bool {
        false
    }

    fn refusal(&self) -> Option<Arc<dyn Refusal>> {
        (self.settings.cw == XWarnings::Skip).then(|| Arc::new(SkipWarned) as Arc<dyn Refusal>)
    }

    fn upload_lifetime(&self) -> Option<Duration> {
        Some(MEDIA_REUSE)
    }

    fn upload<'a>(
        &'a mut self,
        media: &'a PartMedia,
        stage: Option<&'a MediaStage>,
    ) -> Call<'a, Upload> {
        Box::pin(uploads::upload(
            &self.calls,
            media,
            stage,
            self.settings.media_processing,
        ))
    }

    /// A reblog is a repost of the mirrored post; anything else a new post, replying to
    /// the previous part, never sent twice ([`posts::post`]).
    fn post<'a>(&'a mut self, out: Outgoing<'a>, attached: &'a Attached) -> Call<'a, Delivered> {
        Box::pin(async move {
            self.session.notes.clear();
            match &out.part.boost_of {
                Some(original) => posts::repost(&self.calls, &mut self.session, original).await,
                None => posts::post(&self.calls, &mut self.session, out, attached).await,
            }
        })
    }

    /// Never asked: the target cannot edit ([`Target::supports_edits`]).
    fn edit<'a>(
        &'a mut self,
        _remote_id: &'a str,
        _out: Outgoing<'a>,
        _attached: &'a Attached,
    ) -> Call<'a, Delivered> {
        Box::pin(async {
            Err(TargetError::Setup {
                message: "X's API cannot edit a post".to_owned(),
            })
        })
    }

    fn reconcile<'a>(
        &'a mut self,
        out: Outgoing<'a>,
        attempt_at: DateTime<Utc>,
    ) -> Call<'a, Option<Delivered>> {
        Box::pin(posts::reconcile(
            &self.calls,
            &mut self.session,
            out,
            attempt_at,
        ))
    }

    fn notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.session.notes)
    }

    fn posts_per_hour(&self) -> Option<f64> {
        Some(self.calls.account().per_hour(Family::Statuses)).filter(|r| r.is_finite())
    }

    /// A post deleted, a repost undone ([`posts::retract`]).
    fn retract<'a>(&'a mut self, what: Retraction<'a>) -> Call<'a, Retracted> {
        Box::pin(posts::retract(&self.calls, &self.session, what))
    }

    fn deletes_pace(&self) -> Option<Pace> {
        Pace::of(&self.calls.account().windows(), Family::Deletes)
    }
}
