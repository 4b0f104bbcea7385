//! The fake server's native actions: edits (`PUT /api/v1/statuses/:id`, as Mastodon and
//! `GoToSocial` take them: the whole new version, media descriptions in
//! `media_attributes`; snac answers with a new id; Takahē makes the status public), boosts
//! (`POST /api/v1/statuses/:id/reblog`, a second boost of the same status returns the
//! first; answered as Mastodon does, with a new status whose `reblog` is the original, or as
//! Takahē does, with the original status itself), undone boosts
//! (`POST /api/v1/statuses/:id/unreblog` on the original, the original answered; 404 for a
//! status that is gone), and native quotes (`quoted_status_id`), which only a fake claiming
//! Mastodon 4.5 (`set_native_quotes(true)`) announces and keeps.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use super::{not_found, refuse, respond, FakeFedi, FakeState, Personality, Shared};

/// What the actions record.
#[derive(Debug, Default)]
pub struct Actions {
    /// The fake claims Mastodon 4.5 (`version` and `api_versions`) and keeps
    /// `quoted_status_id`; otherwise the field is ignored, as older servers do.
    pub native_quotes: bool,
    /// Boosts: (the boost's own id, the boosted status, its visibility).
    pub reblogs: Vec<(String, String, String)>,
    /// Undone boosts: the original's id, each time one was asked.
    pub unreblogs: Vec<String>,
    /// Statuses deleted, in order.
    pub deletes: Vec<String>,
    /// Every accepted edit: (status id, the request body).
    pub edits: Vec<(String, Value)>,
    /// Media answers as some smaller servers shape them: the id a number, the optional
    /// fields left out while processing, `null` lists.
    pub loose_media: bool,
}

impl FakeFedi {
    /// Makes the fake a Mastodon 4.5 that quotes natively (or not).
    pub fn set_native_quotes(&self, on: bool) {
        self.state().actions.native_quotes = on;
    }

    /// Shapes media answers loosely (see [`Actions::loose_media`]).
    pub fn set_loose_media(&self, on: bool) {
        self.state().actions.loose_media = on;
    }

    /// Boosts so far: (boost id, boosted status id, visibility); an undone boost is gone
    /// from the list.
    pub fn reblogs(&self) -> Vec<(String, String, String)> {
        self.state().actions.reblogs.clone()
    }

    /// Undone boosts so far (the originals' ids, each time one was asked).
    pub fn unreblogs(&self) -> Vec<String> {
        self.state().actions.unreblogs.clone()
    }

    /// Statuses deleted so far, in order.
    pub fn deletes(&self) -> Vec<String> {
        self.state().actions.deletes.clone()
    }

    /// Statuses that are still there (not deleted), in creation order.
    pub fn live_statuses(&self) -> Vec<super::Stored> {
        let st = self.state();
        st.statuses
            .iter()
            .filter(|s| !st.deleted.contains(&s.id))
            .cloned()
            .collect()
    }

    /// Accepted edits so far: (status id, request body).
    pub fn edits(&self) -> Vec<(String, Value)> {
        self.state().actions.edits.clone()
    }
}

/// The version a Mastodon fake announces, with `api_versions` when it is 4.5.
pub fn mastodon_version(st: &FakeState) -> (&'static str, Value) {
    if st.actions.native_quotes {
        ("4.5.0", json!({"mastodon": 7}))
    } else {
        ("4.3.1", json!({"mastodon": 2}))
    }
}

/// A media answer as the fake's settings shape it.
pub fn shape_media(st: &FakeState, mut body: Value) -> Value {
    if !st.actions.loose_media {
        return body;
    }
    if let Some(n) = body["id"].as_str().and_then(|id| id.parse::<u64>().ok()) {
        body["id"] = json!(n);
    }
    if let Some(o) = body.as_object_mut() {
        if o.get("url").is_some_and(Value::is_null) {
            o.remove("url");
        }
        for optional in [
            "preview_url",
            "remote_url",
            "text_url",
            "blurhash",
            "description",
        ] {
            o.remove(optional);
        }
        o.insert("meta".into(), json!({"focus": null, "colors": null}));
        o.insert("tags".into(), Value::Null);
    }
    body
}

/// `quoted_status_id` of a status post, when the fake quotes natively and the status exists.
pub fn quoted_status_id(st: &FakeState, req: &Value) -> Option<String> {
    let id = req["quoted_status_id"].as_str()?;
    (st.actions.native_quotes && st.statuses.iter().any(|s| s.id == id)).then(|| id.to_owned())
}

pub async fn edit_status(
    State(s): State<Shared>,
    Path(id): Path<String>,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    let mut st = s.lock().unwrap();
    let path = "/api/v1/statuses/:id (PUT)";
    let rate = match st.admit(&h, true, &[]) {
        Ok(r) => r,
        Err(r) => return refuse(&mut st, "PUT", path, &h, r),
    };
    let Some(index) = st
        .statuses
        .iter()
        .position(|s| s.id == id && !st.deleted.contains(&s.id))
    else {
        return not_found(&mut st, "PUT", path, &h, rate);
    };
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        let body = json!({"error": "Bad Request: not JSON"});
        return respond(
            &mut st,
            "PUT",
            path,
            &h,
            rate,
            StatusCode::BAD_REQUEST,
            body,
        );
    };
    let sensitive = match &req["sensitive"] {
        Value::Bool(b) => *b,
        Value::Null => false,
        _ if st.personality == Personality::GoToSocial => {
            let body = json!({"error": "Bad Request: sensitive must be a boolean"});
            return respond(
                &mut st,
                "PUT",
                path,
                &h,
                rate,
                StatusCode::BAD_REQUEST,
                body,
            );
        }
        other => other.as_str() == Some("true"),
    };
    let media_ids: Vec<String> = req["media_ids"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    if let Some(missing) = media_ids
        .iter()
        .find(|m| !st.media.iter().any(|x| &x.id == *m))
    {
        let body = json!({"error": format!("Validation failed: media {missing} not found")});
        return respond(
            &mut st,
            "PUT",
            path,
            &h,
            rate,
            StatusCode::UNPROCESSABLE_ENTITY,
            body,
        );
    }
    for attribute in req["media_attributes"].as_array().into_iter().flatten() {
        let (Some(mid), Some(description)) =
            (attribute["id"].as_str(), attribute["description"].as_str())
        else {
            continue;
        };
        if let Some(m) = st.media.iter_mut().find(|m| m.id == mid) {
            m.description = Some(description.to_owned());
        }
    }
    // snac gives the edited status a new id (docs/servers.md "Measured on real servers"); the old
    // one is gone.
    if super::servers::of(st.personality).new_id_on_edit {
        let new_id = st.next_id();
        st.statuses[index].id = new_id;
    }
    let personality = st.personality;
    let status = &mut st.statuses[index];
    status.text =
        super::servers::shown_text(personality, req["status"].as_str().unwrap_or_default());
    req["spoiler_text"]
        .as_str()
        .unwrap_or_default()
        .clone_into(&mut status.spoiler_text);
    status.sensitive = sensitive;
    status.media_ids = media_ids;
    if super::servers::of(personality).edit_makes_public {
        // Takahē's `edit_local` sets the visibility it is given, and the edit gives none.
        "public".clone_into(&mut status.visibility);
    }
    let edited = status.clone();
    st.actions.edits.push((id, req));
    let body = st.status_json(&edited);
    respond(&mut st, "PUT", path, &h, rate, StatusCode::OK, body)
}

pub async fn reblog(
    State(s): State<Shared>,
    Path(id): Path<String>,
    h: HeaderMap,
    body: Bytes,
) -> Response {
    let mut st = s.lock().unwrap();
    let path = "/api/v1/statuses/:id/reblog";
    let rate = match st.admit(&h, true, &["statuses"]) {
        Ok(r) => r,
        Err(r) => return refuse(&mut st, "POST", path, &h, r),
    };
    let Some(original) = st.live(&id).cloned() else {
        return not_found(&mut st, "POST", path, &h, rate);
    };
    let visibility = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["visibility"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "(not given)".to_owned());
    let existing = st
        .actions
        .reblogs
        .iter()
        .find(|(_, of, _)| *of == id)
        .map(|(own, _, _)| own.clone());
    let answers_original = super::servers::of(st.personality).reblog_answers_original;
    let own = if let Some(own) = existing {
        own
    } else {
        // Takahē keeps a boost as an interaction, with no status of its own.
        let own = if answers_original {
            id.clone()
        } else {
            st.next_id()
        };
        st.actions
            .reblogs
            .push((own.clone(), id, visibility.clone()));
        own
    };
    let mut inner = st.status_json(&original);
    inner["reblogged"] = json!(true);
    if answers_original {
        return respond(&mut st, "POST", path, &h, rate, StatusCode::OK, inner);
    }
    let mut body = inner.clone();
    body["visibility"] = json!(visibility);
    body["id"] = json!(own);
    body["url"] = Value::Null;
    body["content"] = json!("");
    body["reblog"] = inner;
    respond(&mut st, "POST", path, &h, rate, StatusCode::OK, body)
}

/// `POST /api/v1/statuses/:id/unreblog`: undoes the account's boost of `id` (the original)
/// and answers the original status, no longer reblogged (Mastodon and Takahē alike); 404
/// when it is gone. Counted with the deletes where the server has that window, as Mastodon
/// does.
pub async fn unreblog(State(s): State<Shared>, Path(id): Path<String>, h: HeaderMap) -> Response {
    let mut st = s.lock().unwrap();
    let path = "/api/v1/statuses/:id/unreblog";
    let rate = match st.admit(&h, true, &["deletes"]) {
        Ok(r) => r,
        Err(r) => return refuse(&mut st, "POST", path, &h, r),
    };
    let Some(original) = st.live(&id).cloned() else {
        return not_found(&mut st, "POST", path, &h, rate);
    };
    st.actions.reblogs.retain(|(_, of, _)| *of != id);
    st.actions.unreblogs.push(id);
    let body = st.status_json(&original);
    respond(&mut st, "POST", path, &h, rate, StatusCode::OK, body)
}
