//! The live feed as a client sees it: a websocket on `/live/{bin}` and its
//! JSON messages.

use std::time::Duration;

use futures_util::StreamExt as _;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use uuid::Uuid;

use super::TestApp;

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens `/live/{bin}{query}` on `app`; the handshake must succeed.
pub async fn open_feed(app: &TestApp, bin: Uuid, query: &str) -> Socket {
    let url = format!("ws://{}/live/{bin}{query}", app.addr);
    let (socket, response) = tokio_tungstenite::connect_async(url)
        .await
        .expect("websocket");
    assert_eq!(response.status(), 101);
    socket
}

/// The next JSON message, failing the test if none comes `within`.
pub async fn next_message(socket: &mut Socket, within: Duration) -> Value {
    loop {
        let message = tokio::time::timeout(within, socket.next())
            .await
            .expect("a message in time")
            .expect("socket open")
            .expect("valid frame");
        match message {
            Message::Text(text) => return serde_json::from_str(&text).expect("JSON"),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}
