//! A TCP relay in front of the server that a test can cut: every open
//! connection through it drops at once and new ones are refused until it
//! is restored. The browser talks to the relay, so cutting it looks to the
//! page like a network failure while the server keeps capturing.
#![allow(dead_code, reason = "each test crate uses a different subset")]

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub struct Relay {
    pub addr: SocketAddr,
    open: watch::Sender<bool>,
    accept: JoinHandle<()>,
}

impl Relay {
    /// Relays 127.0.0.1:{some port} to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
        let addr = listener.local_addr().expect("relay address");
        let (open, watching) = watch::channel(true);
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if !*watching.borrow() {
                    // Cut: close at once, as a dead network would.
                    continue;
                }
                tokio::spawn(relay(client, upstream, watching.clone()));
            }
        });
        Self { addr, open, accept }
    }

    /// Drops every relayed connection; refuses new ones until `restore`.
    pub fn cut(&self) {
        self.open.send_replace(false);
    }

    pub fn restore(&self) {
        self.open.send_replace(true);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

async fn relay(mut client: TcpStream, upstream: SocketAddr, mut open: watch::Receiver<bool>) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = open.wait_for(|open| !open) => {}
    }
}
