//! A TCP relay in front of the server that a test can cut or stall. Cut:
//! every open connection through it drops at once and new ones are refused
//! until it is restored. Stalled: connections stay open but no byte moves,
//! like a congested network. The browser talks to the relay, so the page
//! sees network trouble while the server keeps capturing.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flow {
    Open,
    Stalled,
    Cut,
}

pub struct Relay {
    pub addr: SocketAddr,
    flow: watch::Sender<Flow>,
    accept: JoinHandle<()>,
}

impl Relay {
    /// Relays 127.0.0.1:{some port} to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
        let addr = listener.local_addr().expect("relay address");
        let (flow, watching) = watch::channel(Flow::Open);
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if *watching.borrow() == Flow::Cut {
                    // Close at once, as a dead network would.
                    continue;
                }
                tokio::spawn(relay(client, upstream, watching.clone()));
            }
        });
        Self { addr, flow, accept }
    }

    /// Drops every relayed connection; refuses new ones until `restore`.
    pub fn cut(&self) {
        self.flow.send_replace(Flow::Cut);
    }

    /// Keeps connections open but moves no bytes until `restore`.
    pub fn stall(&self) {
        self.flow.send_replace(Flow::Stalled);
    }

    pub fn restore(&self) {
        self.flow.send_replace(Flow::Open);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

async fn relay(mut client: TcpStream, upstream: SocketAddr, mut flow: watch::Receiver<Flow>) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    let copy = tokio::io::copy_bidirectional(&mut client, &mut server);
    let mut copy = std::pin::pin!(copy);
    loop {
        // Not polling `copy` while stalled is what stops the bytes.
        let Ok(now) = flow.wait_for(|f| *f != Flow::Stalled).await.map(|f| *f) else {
            return;
        };
        if now == Flow::Cut {
            return;
        }
        tokio::select! {
            _ = &mut copy => return,
            _ = flow.wait_for(|f| *f != Flow::Open) => {}
        }
    }
}
