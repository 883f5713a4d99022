//! A TCP relay between one browser and the server, which a check can cut
//! and restore: one person's network going down while everyone else's
//! stays up.
//!
//! Step 10's check needs Bob to be away while Alice, online, sends what he
//! will miss. A server restart takes both of them away, and socket.js brings
//! both back by itself, so Bob opens the page through a [`Relay`] instead:
//! [`Relay::cut`] closes every connection it carries (as a lost network
//! does: no close frame) and closes each new one at once, until
//! [`Relay::restore`]. The page and the server see nothing else of it: the
//! relay passes bytes through unchanged, and the page's origin is the
//! relay's address, which is also the `Host` the server sees, so the origin
//! check holds.

use std::net::SocketAddr;

use tokio::{
    io::copy_bidirectional,
    net::{TcpListener, TcpStream},
    sync::watch,
    task::JoinHandle,
};

/// A relay on `127.0.0.1:0` to one server address. Dropping it stops it.
pub struct Relay {
    addr: SocketAddr,
    /// `true` while the network is up.
    up: watch::Sender<bool>,
    /// The accept loop; aborted on drop.
    accepting: JoinHandle<()>,
}

impl Relay {
    /// Starts relaying every connection made to [`Relay::addr`] to
    /// `target` (connecting to it anew for each, so a restarted server on
    /// the same port is found again).
    pub async fn start(target: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the relay on 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("a bound socket has an address");
        let (up, is_up) = watch::channel(true);
        let accepting = tokio::spawn(accept_loop(listener, target, is_up));
        Relay {
            addr,
            up,
            accepting,
        }
    }

    /// Where the browser should go instead of the server: `http://{addr}/`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The network goes down: every relayed connection is closed now, and
    /// every new one as soon as it is made.
    pub fn cut(&self) {
        self.up.send_replace(false);
    }

    /// The network is back: new connections are relayed again.
    pub fn restore(&self) {
        self.up.send_replace(true);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.accepting.abort();
        // Ends every connection still relayed, too.
        self.up.send_replace(false);
    }
}

/// Accepts connections until aborted; each one is relayed by a task of its
/// own while the network is up, and dropped at once while it is down.
async fn accept_loop(listener: TcpListener, target: SocketAddr, is_up: watch::Receiver<bool>) {
    while let Ok((client, _)) = listener.accept().await {
        if *is_up.borrow() {
            tokio::spawn(relay_one(client, target, is_up.clone()));
        }
        // Down: `client` is dropped here, and the browser sees its
        // connection closed before any answer.
    }
}

/// Passes bytes both ways between `client` and a new connection to
/// `target`, until either side ends it or the network goes down.
async fn relay_one(mut client: TcpStream, target: SocketAddr, mut is_up: watch::Receiver<bool>) {
    let Ok(mut server) = TcpStream::connect(target).await else {
        return; // the server is down: the browser sees its connection close
    };
    tokio::select! {
        _ = copy_bidirectional(&mut client, &mut server) => {}
        _ = is_up.wait_for(|up| !*up) => {}
    }
}
