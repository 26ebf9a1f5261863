//! The app of the Spaces tests and benchmark, as a runner's sandbox would
//! run one, on a Unix socket: `/` a page, `/sse` three events
//! [`SSE_GAP`] apart, `/ws` a WebSocket handshake then an echo of raw
//! bytes, `/upload` the size of the body it read, anything else an echo (as
//! JSON) of the method, target and headers it was sent.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::json;
use sha1::Digest;

type AppBody = BoxBody<Bytes, Infallible>;

/// Pause between the app's SSE events.
pub const SSE_GAP: Duration = Duration::from_millis(400);

/// Serves the app on a Unix socket in `dir`; returns its path.
pub fn start(dir: &Path) -> PathBuf {
    let path = dir.join("app.sock");
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), hyper::service::service_fn(app))
                    .with_upgrades()
                    .await;
            });
        }
    });
    path
}

fn full(body: impl Into<Bytes>) -> AppBody {
    Full::new(body.into()).boxed()
}

async fn app(mut request: Request<Incoming>) -> Result<Response<AppBody>, Infallible> {
    let response = match request.uri().path() {
        "/" => Response::builder()
            .header("content-type", "text/html")
            .header("x-app", "yes")
            .body(full("<h1>hello from the app</h1>")),
        "/sse" => {
            let events = futures::stream::unfold(0u32, |n| async move {
                if n == 3 {
                    return None;
                }
                if n > 0 {
                    tokio::time::sleep(SSE_GAP).await;
                }
                let event = Frame::data(Bytes::from(format!("data: event {n}\n\n")));
                Some((Ok::<_, Infallible>(event), n + 1))
            });
            Response::builder()
                .header("content-type", "text/event-stream")
                .body(BodyExt::boxed(StreamBody::new(events)))
        }
        "/ws" => {
            let key = request.headers()["sec-websocket-key"].as_bytes().to_vec();
            let protocol = request.headers().get("sec-websocket-protocol").cloned();
            let upgraded = hyper::upgrade::on(&mut request);
            tokio::spawn(async move {
                let io = TokioIo::new(upgraded.await.unwrap());
                let (mut from, mut to) = tokio::io::split(io);
                let _ = tokio::io::copy(&mut from, &mut to).await;
            });
            let mut answer = Response::builder()
                .status(101)
                .header("connection", "upgrade")
                .header("upgrade", "websocket")
                .header("sec-websocket-accept", websocket_accept(&key));
            if let Some(p) = protocol {
                answer = answer.header("sec-websocket-protocol", p);
            }
            answer.body(full(""))
        }
        "/upload" => {
            let mut body = request.into_body();
            let mut n = 0usize;
            while let Some(Ok(frame)) = body.frame().await {
                n += frame.data_ref().map_or(0, |d| d.len());
            }
            Response::builder().body(full(n.to_string()))
        }
        _ => {
            // What the app was sent, for the test to check.
            let mut headers = serde_json::Map::new();
            for name in request.headers().keys() {
                let values: Vec<&str> = request
                    .headers()
                    .get_all(name)
                    .iter()
                    .map(|v| v.to_str().unwrap_or("?"))
                    .collect();
                headers.insert(name.to_string(), json!(values.join(", ")));
            }
            let echo = json!({
                "app": true,
                "method": request.method().as_str(),
                "uri": request.uri().to_string(),
                "headers": headers,
            });
            Response::builder()
                .header("content-type", "application/json")
                .header("set-cookie", "app_session=1; Path=/")
                .body(full(echo.to_string()))
        }
    };
    Ok(response.unwrap())
}

fn websocket_accept(key: &[u8]) -> String {
    let mut sha = sha1::Sha1::new();
    sha.update(key);
    sha.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}
