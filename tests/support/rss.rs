//! A local RSS feed on 127.0.0.1 whose items a test adds while it runs.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::routing::get;
use axum::Router;

/// The feed's items (`<item>` elements), newest last.
pub type Items = Arc<Mutex<Vec<String>>>;

/// Serves `items` as an RSS 2.0 feed, newest first as feeds list them (with the `dc`
/// namespace Nitter's items use); returns its URL.
pub async fn serve(items: Items) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/rss", listener.local_addr().unwrap());
    let app = Router::new().route("/rss", get(feed)).with_state(items);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

async fn feed(State(items): State<Items>) -> ([(&'static str, &'static str); 1], String) {
    let items: String = items.lock().unwrap().iter().rev().cloned().collect();
    (
        [("content-type", "application/rss+xml")],
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
             <rss version=\"2.0\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\"><channel>\
             <title>feed</title><link>https://feed.example/</link>\
             <description>feed</description>{items}</channel></rss>"
        ),
    )
}
