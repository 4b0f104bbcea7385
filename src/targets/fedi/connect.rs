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

/// The server's kind, for `kind = "auto"`: nodeinfo's `software.name`; when nodeinfo cannot
/// tell (no document, no 2.x link, a link that cannot be fetched: another scheme, host or
/// port than the server's, as Takahē writes `https://` behind a proxy, or a timeout), the
/// software the instance document's `version` names; else Mastodon's rules
/// ([`ServerKind::Auto`]), with a warning. Only a server that cannot be reached at all
/// stops the target here.
pub async fn detect_kind(calls: &Calls) -> Result<ServerKind, TargetError> {
    let why = match nodeinfo_software(calls).await? {
        Ok(software) => {
            if let Some(kind) = quirks::kind_from_software(&software) {
                info!(target = %calls.account().target(), software, kind = kind.as_str(), "server kind detected");
                return Ok(kind);
            }
            warn!(target = %calls.account().target(), software, "unknown server software; speaking the Mastodon API to it, without trusting its idempotency keys");
            return Ok(ServerKind::Auto);
        }
        Err(why) => why,
    };
    warn!(target = %calls.account().target(), problem = %why, "nodeinfo cannot tell the server's software; reading it from the instance document");
    if let Some((version, kind)) = kind_from_instance(calls).await? {
        info!(target = %calls.account().target(), version, kind = kind.as_str(), "server kind detected from the instance document");
        return Ok(kind);
    }
    warn!(target = %calls.account().target(), "the instance document names no software birdbridge knows; speaking the Mastodon API to it (Mastodon's rules), without trusting its idempotency keys; set `kind` to the server's software");
    Ok(ServerKind::Auto)
}

/// nodeinfo's `software.name`; the inner error says why nodeinfo cannot tell, naming the
/// address it fetched. The outer one stops the target: the server itself cannot be reached,
/// or the run is stopping.
async fn nodeinfo_software(calls: &Calls) -> Result<Result<String, String>, TargetError> {
    const INDEX: &str = "/.well-known/nodeinfo";
    let index = match calls.get_ok(INDEX, false).await {
        Ok(index) => index,
        Err(e @ (TargetError::Unreachable { .. } | TargetError::Interrupted)) => return Err(e),
        Err(e) => return Ok(Err(format!("{}: {e}", calls.api().url(INDEX)))),
    };
    let Some(href) = index.body["links"]
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
    else {
        return Ok(Err(format!(
            "{} lists no nodeinfo 2.x link",
            calls.api().url(INDEX)
        )));
    };
    // The link is fetched as written, once and without the token: it may point elsewhere.
    let doc = match calls.get_once(&href, false).await {
        Ok(doc) => doc,
        Err(TargetError::Interrupted) => return Err(TargetError::Interrupted),
        Err(e) => return Ok(Err(format!("{}: {e}", calls.api().url(&href)))),
    };
    Ok(doc.body["software"]["name"]
        .as_str()
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| format!("{} names no `software.name`", calls.api().url(&href))))
}

/// The software the instance document's `version` names (`takahe/0.11.0`, `2.7.2
/// (compatible; Akkoma 3.13.2)`), with that version, when birdbridge knows it.
async fn kind_from_instance(calls: &Calls) -> Result<Option<(String, ServerKind)>, TargetError> {
    for path in ["/api/v2/instance", "/api/v1/instance"] {
        match calls.get_ok(path, true).await {
            Ok(answer) => {
                let Some(version) = answer.body["version"].as_str() else {
                    continue;
                };
                if let Some(kind) = quirks::kind_from_version(version) {
                    return Ok(Some((version.to_owned(), kind)));
                }
            }
            Err(
                e @ (TargetError::Unreachable { .. }
                | TargetError::Interrupted
                | TargetError::Auth { .. }),
            ) => return Err(e),
            Err(_) => {}
        }
    }
    Ok(None)
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
    warn!(target = %calls.account().target(), "the server publishes no instance document; using the defaults of its kind");
    Ok(InstanceProfile::defaults(kind))
}

/// The account's id and `@name`, read leniently (an account without `fields`, as
/// snac's, is fine). A refused token is 401 on most servers, 422 on snac and 400 (with an
/// HTML page, "Invalid Bearer token") on Takahē: on this call, which only reads the token's
/// own account, any of them means the token, whatever the body says.
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
            status: Some(400 | 422),
            message,
        }) => {
            return Err(TargetError::Auth {
                target: calls.account().target().to_owned(),
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
