//! X's hosts besides its API, on 127.0.0.1: the media host (`pbs.twimg.com` and
//! `video.twimg.com` in one) that serves the media an archive does not hold, and `t.co`,
//! which answers a short link with a redirect. Each records what it was asked.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Method, StatusCode, Uri};
use axum::response::Response;
use axum::Router;

/// The media host. See the module docs.
#[derive(Debug, Clone)]
pub struct FakeMediaHost {
    /// `http://127.0.0.1:PORT`, for `media_host`.
    pub url: String,
    state: Arc<Mutex<MediaState>>,
}

#[derive(Debug, Default)]
struct MediaState {
    /// By path: the content type and the bytes.
    files: HashMap<String, (&'static str, Vec<u8>)>,
    /// Every request's path and query, in order.
    requests: Vec<String>,
    /// While set, requests are recorded and then left waiting.
    hold: bool,
}

impl FakeMediaHost {
    /// Starts serving nothing yet.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(MediaState::default()));
        let shared = Arc::clone(&state);
        let app = Router::new().fallback(move |uri: Uri| {
            let state = Arc::clone(&shared);
            async move { answer_media(&state, &uri).await }
        });
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, state }
    }

    /// Serves `bytes` as `content_type` at `path` (any query).
    pub fn serve(&self, path: &str, content_type: &'static str, bytes: Vec<u8>) {
        self.state
            .lock()
            .unwrap()
            .files
            .insert(path.to_owned(), (content_type, bytes));
    }

    /// The requests so far: path and query.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }

    /// While `on`, requests get no answer (a download in flight).
    pub fn hold(&self, on: bool) {
        self.state.lock().unwrap().hold = on;
    }
}

async fn answer_media(state: &Mutex<MediaState>, uri: &Uri) -> Response {
    state.lock().unwrap().requests.push(uri.to_string());
    while state.lock().unwrap().hold {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let file = state.lock().unwrap().files.get(uri.path()).cloned();
    match file {
        Some((content_type, bytes)) => Response::builder()
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(bytes))
            .unwrap(),
        None => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Body::empty())
            .unwrap(),
    }
}

/// `t.co`: `/<code>` answers 301 to the link's address, anything else 404.
#[derive(Debug, Clone)]
pub struct FakeTco {
    /// `http://127.0.0.1:PORT`, for `tco_url`.
    pub url: String,
    state: Arc<Mutex<TcoState>>,
}

#[derive(Debug, Default)]
struct TcoState {
    links: HashMap<String, String>,
    /// Every request: its method and path.
    asked: Vec<(Method, String)>,
}

impl FakeTco {
    /// Starts with no links.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(TcoState::default()));
        let shared = Arc::clone(&state);
        let app = Router::new().fallback(move |method: Method, uri: Uri| {
            let state = Arc::clone(&shared);
            async move {
                let mut st = state.lock().unwrap();
                st.asked.push((method, uri.path().to_owned()));
                let code = uri.path().trim_start_matches('/');
                match st.links.get(code) {
                    Some(to) => Response::builder()
                        .status(StatusCode::MOVED_PERMANENTLY)
                        .header(header::LOCATION, to)
                        .body(Body::empty())
                        .unwrap(),
                    None => Response::builder()
                        .status(StatusCode::NOT_FOUND)
                        .body(Body::from("<html>not found</html>"))
                        .unwrap(),
                }
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, state }
    }

    /// `https://t.co/<code>` leads to `to`.
    pub fn link(&self, code: &str, to: &str) {
        self.state
            .lock()
            .unwrap()
            .links
            .insert(code.to_owned(), to.to_owned());
    }

    /// The requests so far: method and path.
    pub fn asked(&self) -> Vec<(Method, String)> {
        self.state.lock().unwrap().asked.clone()
    }
}
