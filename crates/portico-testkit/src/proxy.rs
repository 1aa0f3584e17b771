//! A TCP forwarder between nodes and their database, which a test cuts and restores to play a
//! database outage without touching the machine's database server. Cut: every forwarded
//! connection is closed and new ones are refused (the port is not listened on); restored: the
//! same port accepts and forwards again.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A running forwarder from a loopback port to `target`.
pub struct TcpProxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    target: SocketAddr,
    /// The accept loop and every forwarded connection, while not cut.
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl TcpProxy {
    /// Forwards a free loopback port to `target`.
    pub async fn start(target: SocketAddr) -> anyhow::Result<TcpProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await.context("bind the proxy")?;
        let proxy = TcpProxy {
            addr: listener.local_addr()?,
            target,
            tasks: Arc::new(Mutex::new(Vec::new())),
        };
        proxy.serve(listener);
        Ok(proxy)
    }

    /// `url` (a `postgres://` URL) with its host and port replaced by this proxy's.
    pub fn url_through(&self, url: &str) -> anyhow::Result<String> {
        let (scheme, rest) = url.split_once("://").context("a URL with a scheme")?;
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let userinfo = authority
            .rsplit_once('@')
            .map(|(u, _)| format!("{u}@"))
            .unwrap_or_default();
        Ok(format!("{scheme}://{userinfo}{}/{path}", self.addr))
    }

    /// Closes every forwarded connection and stops listening: clients are refused.
    pub fn cut(&self) {
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        for task in tasks.drain(..) {
            task.abort();
        }
    }

    /// Listens on the same port again.
    pub async fn restore(&self) -> anyhow::Result<()> {
        // The port was just closed; on a busy machine binding it again may take a moment.
        let mut last = None;
        for _ in 0..50 {
            match TcpListener::bind(self.addr).await {
                Ok(listener) => {
                    self.serve(listener);
                    return Ok(());
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        Err(last.map_or_else(|| anyhow::anyhow!("rebind"), anyhow::Error::from))
            .with_context(|| format!("rebind the proxy on {}", self.addr))
    }

    fn serve(&self, listener: TcpListener) {
        let target = self.target;
        let tasks = self.tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let connection = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                let mut tasks = tasks.lock().unwrap_or_else(|e| e.into_inner());
                tasks.retain(|t| !t.is_finished());
                tasks.push(connection);
            }
        });
        self.tasks.lock().unwrap_or_else(|e| e.into_inner()).push(accept);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn urls_point_at_the_proxy() {
        let proxy = TcpProxy::start("127.0.0.1:9".parse().expect("addr"))
            .await
            .expect("proxy");
        let port = proxy.addr.port();
        assert_eq!(
            proxy
                .url_through("postgres://postgres@127.0.0.1:5432/db1")
                .expect("url"),
            format!("postgres://postgres@127.0.0.1:{port}/db1")
        );
        assert_eq!(
            proxy.url_through("postgres://u:p%40w@localhost/db?x=1").expect("url"),
            format!("postgres://u:p%40w@127.0.0.1:{port}/db?x=1")
        );
    }
}
