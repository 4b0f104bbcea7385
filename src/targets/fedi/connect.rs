//! Learning the server: its kind (nodeinfo, for `kind = "auto"`), its limits
//! (`/api/v2/instance`, else v1, else the kind's defaults) and the account the token
//! belongs to (`verify_credentials`), each a budgeted `GET`.

use tracing::{info, warn};

use super::calls::Calls;
use super::lenient;
use super::profile::{InstanceProfile, ProfileSource};
use super::quirks::{self, Quirks};
use crate::config::ServerKind;
use crate::targets::{TargetError, TargetProfile};

/// What is known once the target has talked to its server.
#[derive(Debug, Clone)]
pub struct Connected {
    /// The server's limits as read.
    pub profile: InstanceProfile,
    /// Its kind's quirks.
    pub quirks: Quirks,
    /// The limits the renderer obeys.
    pub target_profile: TargetProfile,
    /// The account's id (reconciliation lists its statuses).
    pub account_id: String,
    /// `@user` on the server.
    pub account: String,
}

/// nodeinfo's `software.name`, for `kind = "auto"`.
pub async fn detect_kind(calls: &Calls, url: &str) -> Result<ServerKind, TargetError> {
    let index = calls.get_ok("/.well-known/nodeinfo", false).await?;
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
                "{url} publishes no nodeinfo 2.x link; set `kind` to the server's software"
            ),
        })?;
    let doc = calls.get_ok(&href, false).await?;
    let software = doc.body["software"]["name"].as_str().unwrap_or_default();
    if let Some(kind) = quirks::kind_from_software(software) {
        info!(target = %calls.target(), software, kind = kind.as_str(), "server kind detected");
        Ok(kind)
    } else {
        warn!(target = %calls.target(), software, "unknown server software; speaking the Mastodon API to it, without trusting its idempotency keys");
        Ok(ServerKind::Auto)
    }
}

/// `/api/v2/instance`, else `/api/v1/instance`, else the kind's defaults.
pub async fn fetch_profile(
    calls: &Calls,
    kind: ServerKind,
) -> Result<InstanceProfile, TargetError> {
    for (path, source) in [
        ("/api/v2/instance", ProfileSource::V2),
        ("/api/v1/instance", ProfileSource::V1),
    ] {
        // With the token: servers in limited federation mode show it only to accounts.
        match calls.get_ok(path, true).await {
            Ok(answer) if answer.body.is_object() => {
                return Ok(InstanceProfile::from_instance(kind, source, &answer.body));
            }
            Ok(_) | Err(TargetError::Rejected { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    warn!(target = %calls.target(), "the server publishes no instance document; using the defaults of its kind");
    Ok(InstanceProfile::defaults(kind))
}

/// The account's id and `@name`, read leniently (an account without `fields`, as
/// snac's, is fine). snac answers a refused token with 422 here (401 elsewhere): either
/// means the token.
pub async fn verify_credentials(
    calls: &Calls,
    profile: &InstanceProfile,
) -> Result<(String, String), TargetError> {
    const CALL: &str = "GET /api/v1/accounts/verify_credentials";
    let answer = match calls
        .get_ok("/api/v1/accounts/verify_credentials", true)
        .await
    {
        Ok(answer) => answer,
        Err(TargetError::Rejected {
            status: Some(422),
            message,
        }) => {
            return Err(TargetError::Auth {
                target: calls.target().to_owned(),
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
