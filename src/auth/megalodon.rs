//! `auth` through megalodon's OAuth (`register_app`, `fetch_access_token`) for the server
//! kinds whose OAuth megalodon speaks as the server serves it: Mastodon, Pleroma/Akkoma,
//! `GoToSocial` and Friendica. The own client (`auth.rs`) stays for the others
//! (`docs/servers.md`, "Reading accounts through megalodon"):
//!
//! - Pixelfed: megalodon's Pixelfed client requires `refresh_token`, `expires_in` and
//!   `created_at` in the token answer; Pixelfed's OAuth (Laravel Passport) sends no
//!   `created_at`, and the fake, answering as Mastodon does, sends neither of the first two:
//!   the code exchange could not be decoded;
//! - snac: megalodon has no client for it, and snac answers the app registration with the
//!   bare fields, without the `id`, `name` and `redirect_uri` megalodon requires;
//! - Firefish: megalodon's Firefish client authorises through Misskey's session API
//!   (`/api/auth/session/generate`), while the servers of that family birdbridge posts to
//!   take the Mastodon API's OAuth (Iceshrimp.NET serves no other);
//! - Takahē: megalodon has no client for it (its OAuth is Mastodon's, kept on the own client
//!   that was tested against it);
//! - a server whose software nodeinfo does not name (`kind = "auto"` on an unknown one).
//!
//! Every call runs under the target's timeout (megalodon's client has none).

use std::future::Future;
use std::time::Duration;

use ::megalodon::megalodon::AppInputOptions;
use ::megalodon::SNS;

use super::{wait_out_rate_limit, AuthError, MAX_RATE_WAITS, OOB};
use crate::config::{Secret, ServerKind};

/// The megalodon client for `kind`, when `auth` goes through megalodon for it.
pub(super) fn sns(kind: Option<ServerKind>) -> Option<SNS> {
    match kind? {
        ServerKind::Mastodon => Some(SNS::Mastodon),
        ServerKind::Pleroma => Some(SNS::Pleroma),
        ServerKind::GoToSocial => Some(SNS::Gotosocial),
        ServerKind::Friendica => Some(SNS::Friendica),
        ServerKind::Pixelfed
        | ServerKind::Firefish
        | ServerKind::Snac
        | ServerKind::Takahe
        | ServerKind::Auto => None,
    }
}

/// A registered application and the address a person approves it at.
#[derive(Debug)]
pub(super) struct Registered {
    pub(super) client_id: String,
    pub(super) client_secret: Secret,
    pub(super) authorize_url: String,
}

/// `register_app` with `scopes` and the out-of-band redirect.
pub(super) async fn register(
    sns: SNS,
    base: &str,
    scopes: &str,
    timeout: Duration,
) -> Result<Registered, AuthError> {
    const STEP: &str = "registering birdbridge with the server (megalodon register_app)";
    let client = client(sns, base, None, STEP)?;
    let website = env!("CARGO_PKG_REPOSITORY");
    let options = AppInputOptions {
        scopes: Some(scopes.split(' ').map(str::to_owned).collect()),
        redirect_uris: Some(OOB.to_owned()),
        website: (!website.is_empty()).then(|| website.to_owned()),
    };
    let app = timed(STEP, timeout, || {
        client.register_app("birdbridge".to_owned(), &options)
    })
    .await?;
    let authorize_url = app.url.clone().ok_or_else(|| AuthError::Server {
        step: STEP,
        problem: "megalodon gave no authorisation address".to_owned(),
    })?;
    Ok(Registered {
        client_id: app.client_id,
        client_secret: Secret::new(app.client_secret),
        authorize_url,
    })
}

/// `fetch_access_token` for the code a person typed.
pub(super) async fn exchange(
    sns: SNS,
    base: &str,
    app: &Registered,
    code: &Secret,
    timeout: Duration,
) -> Result<Secret, AuthError> {
    const STEP: &str = "exchanging the code for a token (megalodon fetch_access_token)";
    let client = client(sns, base, None, STEP)?;
    let token = timed(STEP, timeout, || {
        client.fetch_access_token(
            app.client_id.clone(),
            app.client_secret.expose().to_owned(),
            code.expose().to_owned(),
            OOB.to_owned(),
        )
    })
    .await?;
    Some(token.access_token)
        .filter(|t| !t.is_empty())
        .map(Secret::new)
        .ok_or_else(|| AuthError::Server {
            step: STEP,
            problem: "the answer has no `access_token`".to_owned(),
        })
}

fn client(
    sns: SNS,
    base: &str,
    token: Option<String>,
    step: &'static str,
) -> Result<Box<dyn megalodon::Megalodon + Send + Sync>, AuthError> {
    megalodon::generator(
        sns,
        base.to_owned(),
        token,
        Some(crate::http::USER_AGENT.to_owned()),
    )
    .map_err(|e| AuthError::Server {
        step,
        problem: e.to_string(),
    })
}

/// `call` under `timeout`; megalodon's error as the step's problem (its message carries the
/// server's answer, never the secrets sent). A 429 is waited out as the own client's are
/// (`wait_out_rate_limit`), then the call made again; megalodon's error keeps no headers, so
/// the wait is the one for an answer that names no reset.
async fn timed<T, F>(
    step: &'static str,
    timeout: Duration,
    mut call: impl FnMut() -> F,
) -> Result<T, AuthError>
where
    F: Future<Output = Result<T, megalodon::error::Error>>,
{
    let mut waits = 0;
    loop {
        return match tokio::time::timeout(timeout, call()).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(megalodon::error::Error::OwnError(own)))
                if own.status == Some(429) && waits < MAX_RATE_WAITS =>
            {
                waits += 1;
                wait_out_rate_limit(step, &reqwest::header::HeaderMap::new()).await?;
                continue;
            }
            Ok(Err(err)) => Err(AuthError::Server {
                step,
                problem: problem(&err),
            }),
            Err(_) => Err(AuthError::Server {
                step,
                problem: format!("no answer within {} s", timeout.as_secs()),
            }),
        };
    }
}

/// What the server said, from megalodon's error.
fn problem(err: &megalodon::error::Error) -> String {
    match err {
        megalodon::error::Error::OwnError(own) => {
            let message: String = own.message.chars().take(300).collect();
            match own.status {
                Some(status) => format!("the server answered {status}: {}", message.trim()),
                None => message,
            }
        }
        other => other.to_string(),
    }
}
