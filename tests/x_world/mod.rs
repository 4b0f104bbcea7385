//! A daemon route `r` from a fake X account (source `acct`) to one fake fediverse server
//! (target `t`), its first cycle run, as the Takahē and failed-edit tests drive it. A test
//! file that uses it also says `mod fake_fedi; mod fake_x; mod support;`.

use std::sync::Arc;

use birdbridge::clock::{Clock, ManualClock};
use birdbridge::config::Settings;
use birdbridge::store::Ledger;
use chrono::Utc;
use serde_json::json;
use tempfile::TempDir;

use crate::fake_fedi::{FakeFedi, Personality, TOKEN};
use crate::fake_x::{self, FakeX};
use crate::support;
use crate::support::config::Config;

/// The X account's user id.
pub(crate) const USER_ID: &str = "42";

/// The route, its fakes and its clock (a manual one, moving on its own).
pub(crate) struct World {
    pub(crate) dir: TempDir,
    pub(crate) settings: Settings,
    pub(crate) clock: Arc<ManualClock>,
    pub(crate) x: FakeX,
    pub(crate) fedi: FakeFedi,
}

impl World {
    /// Starts the fakes, writes the route from `@username` to the server of `personality`
    /// configured as `kind`, with `route`'s extra keys (`("visibility", "unlisted")`), lets
    /// `adjust` change the settings read (what a file cannot say, such as a timeout under a
    /// second), and runs the first cycle, which only sets the cursor ("latest"): after a post
    /// made before it.
    pub(crate) async fn start(
        personality: Personality,
        kind: &str,
        username: &str,
        route: &[(&str, &str)],
        adjust: impl FnOnce(&mut Settings),
    ) -> Self {
        let clock = ManualClock::auto(Utc::now());
        let x = FakeX::start(clock.clone().into()).await;
        x.add_user(USER_ID, username);
        let fedi = FakeFedi::start(personality, Clock::System).await;
        let dir = TempDir::new().unwrap();
        let config = Config::new(dir.path())
            .x_source("acct", username, fake_x::TOKEN, &x.url())
            .set("start", "latest")
            .fedi_target("t", kind, &fedi.url, TOKEN)
            .route("r", "acct", &["t"]);
        let path = route
            .iter()
            .fold(config, |config, (key, value)| config.set(key, value))
            .write();
        let mut settings = support::settings(&path);
        adjust(&mut settings);
        let world = Self {
            dir,
            settings,
            clock,
            x,
            fedi,
        };
        world.x.post(USER_ID, "before the route existed", json!({}));
        world.once().await;
        world
    }

    /// One cycle of a freshly started daemon: what `birdbridge once` does.
    pub(crate) async fn once(&self) {
        support::once(&self.settings, self.clock.clone()).await;
    }

    pub(crate) fn ledger(&self) -> Ledger {
        Ledger::open(&self.dir.path().join("ledger.sqlite")).unwrap()
    }
}
