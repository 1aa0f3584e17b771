//! A real `portico` process for integration tests: initialised in a temporary home, on free
//! loopback ports, reached over HTTPS that trusts the node's own certificate.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::postgres::PgDatabase;

/// How to initialise a test node.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    pub admin_password: String,
    /// PostgreSQL database URL; SQLite when `None`.
    pub database_url: Option<String>,
    /// `rsa` or `ec`.
    pub key_type: &'static str,
    /// Line replacements applied to the generated deployment.toml (`from`, `to`), e.g. to set a
    /// small body limit.
    pub config_edits: Vec<(String, String)>,
    /// Use this existing home instead of a new one (a second node sharing files, a restart).
    pub home: Option<PathBuf>,
    /// More arguments for `portico init` (e.g. `--join <dir>`, `--offset 1`).
    pub init_args: Vec<String>,
}

impl Default for NodeOptions {
    fn default() -> Self {
        NodeOptions {
            admin_password: "admin-test-pw".into(),
            database_url: None,
            key_type: "ec",
            config_edits: Vec::new(),
            home: None,
            init_args: Vec::new(),
        }
    }
}

impl NodeOptions {
    /// The default options, on the PostgreSQL database `db` instead of SQLite.
    pub fn on_postgres(db: &PgDatabase) -> NodeOptions {
        NodeOptions {
            database_url: Some(db.url.clone()),
            ..NodeOptions::default()
        }
    }
}

/// Defines two `#[tokio::test]`s that start a node of the test crate's `portico` binary (with
/// the default [`NodeOptions`]) and run a check on it: `$sqlite` on the node's SQLite database,
/// `$postgres` on a PostgreSQL database of its own, which skips or fails as
/// [`PgDatabase::create`] says. The check is a function of the node, or a closure-like
/// `|node, database| future` where `database` is the `Option<&PgDatabase>` the node runs on.
///
/// ```ignore
/// node_on_both_backends!(sqlite_scim, postgres_scim, check_scim);
/// node_on_both_backends!(sqlite_devportal, postgres_devportal, |node, db| check_devportal(node, db));
/// ```
#[macro_export]
macro_rules! node_on_both_backends {
    ($sqlite:ident, $postgres:ident, |$node:ident, $database:pat_param| $check:expr) => {
        #[tokio::test]
        async fn $sqlite() {
            let node = $crate::Node::start(
                ::std::path::Path::new(env!("CARGO_BIN_EXE_portico")),
                $crate::NodeOptions::default(),
            )
            .await
            .expect("node");
            let ($node, $database): (&$crate::Node, Option<&$crate::PgDatabase>) = (&node, None);
            $check.await;
        }

        #[tokio::test]
        async fn $postgres() {
            let Some(db) = $crate::PgDatabase::create(stringify!($postgres))
                .await
                .expect("database")
            else {
                return;
            };
            let node = $crate::Node::start(
                ::std::path::Path::new(env!("CARGO_BIN_EXE_portico")),
                $crate::NodeOptions::on_postgres(&db),
            )
            .await
            .expect("node");
            let ($node, $database): (&$crate::Node, Option<&$crate::PgDatabase>) = (&node, Some(&db));
            $check.await;
        }
    };
    ($sqlite:ident, $postgres:ident, $check:path) => {
        $crate::node_on_both_backends!($sqlite, $postgres, |node, _database| $check(node));
    };
}

/// Free loopback ports for one node's listeners.
#[derive(Debug, Clone, Copy)]
pub struct NodePorts {
    pub management: u16,
    pub gateway_http: u16,
    pub gateway_https: u16,
    pub traffic_manager: u16,
}

/// How many ports below the kernel's ephemeral range [`free_port`] hands out from.
const PORT_SPAN: u32 = 12_000;

/// A free loopback port below the kernel's ephemeral range (`ip_local_port_range`), handed out
/// once per process: a port from `bind(0)` is released before the node binds it, and in that
/// window an outgoing connection of a parallel test (or its `bind(0)`) could take it, which made
/// nodes fail to start with "address in use". Processes start at different places in the span.
fn free_port() -> anyhow::Result<u16> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let ephemeral_start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32_768);
    if ephemeral_start <= PORT_SPAN + 1024 {
        // No room below the range: take what the kernel gives.
        let socket = std::net::TcpListener::bind("127.0.0.1:0")?;
        return Ok(socket.local_addr()?.port());
    }
    let first = ephemeral_start - PORT_SPAN;
    let offset = std::process::id().wrapping_mul(7919) % PORT_SPAN;
    for _ in 0..PORT_SPAN {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = u16::try_from(first + (offset + n) % PORT_SPAN)?;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    anyhow::bail!("no free loopback port in {first}..{ephemeral_start}")
}

impl NodePorts {
    pub fn free() -> anyhow::Result<NodePorts> {
        let ports: Vec<u16> = (0..4).map(|_| free_port()).collect::<Result<_, _>>()?;
        Ok(NodePorts {
            management: ports[0],
            gateway_http: ports[1],
            gateway_https: ports[2],
            traffic_manager: ports[3],
        })
    }
}

/// A running node. Dropping it kills the process; [`Node::stop`] ends it gracefully.
pub struct Node {
    pub bin: PathBuf,
    pub home: PathBuf,
    _tempdir: Option<tempfile::TempDir>,
    pub ports: NodePorts,
    pub admin_password: String,
    child: Option<Child>,
    /// HTTPS client that trusts this node's certificate (and nothing else).
    pub client: reqwest::Client,
}

/// Runs `portico init` for a new home in `dir` with the options, then points its listeners at
/// free loopback ports. Returns the ports.
pub fn init_home(bin: &Path, dir: &Path, options: &NodeOptions) -> anyhow::Result<NodePorts> {
    let mut cmd = Command::new(bin);
    cmd.args(["init", "--home"]).arg(dir).args([
        "--admin-password",
        &options.admin_password,
        "--key-type",
        options.key_type,
    ]);
    if let Some(url) = &options.database_url {
        cmd.args(["--database-url", url]);
    }
    cmd.args(&options.init_args);
    let out = cmd.output().context("run portico init")?;
    if !out.status.success() {
        bail!(
            "portico init failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let ports = NodePorts::free()?;
    let path = dir.join("conf/deployment.toml");
    let mut text = std::fs::read_to_string(&path)?;
    let mut edits = vec![
        ("port = 9443".to_owned(), format!("port = {}", ports.management)),
        ("port = 8280".to_owned(), format!("port = {}", ports.gateway_http)),
        ("port = 8243".to_owned(), format!("port = {}", ports.gateway_https)),
        ("port = 9611".to_owned(), format!("port = {}", ports.traffic_manager)),
        (
            "bind_address = \"0.0.0.0\"".to_owned(),
            "bind_address = \"127.0.0.1\"".to_owned(),
        ),
        (
            "shutdown_grace_seconds = 10".to_owned(),
            "shutdown_grace_seconds = 5".to_owned(),
        ),
    ];
    edits.extend(options.config_edits.iter().cloned());
    for (from, to) in edits {
        if !text.contains(&from) {
            bail!("generated deployment.toml has no line `{from}` to edit");
        }
        text = text.replacen(&from, &to, 1);
    }
    std::fs::write(&path, text)?;
    Ok(ports)
}

impl Node {
    /// Initialises a home and starts `portico serve` on it, waiting until it is ready.
    pub async fn start(bin: &Path, options: NodeOptions) -> anyhow::Result<Node> {
        let (tempdir, home) = match &options.home {
            Some(h) => (None, h.clone()),
            None => {
                let t = tempfile::Builder::new().prefix("portico-node-").tempdir()?;
                let h = t.path().to_path_buf();
                (Some(t), h)
            }
        };
        let ports = if options.home.is_some() {
            read_ports(&home)?
        } else {
            init_home(bin, &home, &options)?
        };
        Node::serve(bin, home, tempdir, ports, options.admin_password, "/health/ready").await
    }

    async fn serve(
        bin: &Path,
        home: PathBuf,
        tempdir: Option<tempfile::TempDir>,
        ports: NodePorts,
        admin_password: String,
        wait_for: &str,
    ) -> anyhow::Result<Node> {
        let log = std::fs::File::create(home.join("logs/test-node.out"))?;
        let child = Command::new(bin)
            .args(["serve", "--home"])
            .arg(&home)
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()
            .context("spawn portico serve")?;
        let cert = std::fs::read(home.join("conf/security/node-cert.pem"))?;
        let client = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&cert)?)
            .timeout(Duration::from_secs(30))
            .build()?;
        let mut node = Node {
            bin: bin.to_path_buf(),
            home,
            _tempdir: tempdir,
            ports,
            admin_password,
            child: Some(child),
            client,
        };
        node.wait_for(wait_for, Duration::from_secs(30)).await?;
        Ok(node)
    }

    /// `https://localhost:<management port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.ports.management)
    }

    /// Everything the node printed so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(self.home.join("logs/test-node.out")).unwrap_or_default()
    }

    /// Waits until `/health/ready` answers 200 (the node is in step with its cluster).
    pub async fn wait_ready(&mut self, limit: Duration) -> anyhow::Result<()> {
        self.wait_for("/health/ready", limit).await
    }

    /// Waits until `path` on the management port answers 2xx, failing early if the process exits.
    async fn wait_for(&mut self, path: &str, limit: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                bail!(
                    "portico serve exited with {status} before it was ready:\n{}",
                    self.output()
                );
            }
            if let Ok(r) = self.client.get(self.url(path)).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{path} not 2xx after {limit:?}:\n{}", self.output());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub async fn stop(&mut self) -> anyhow::Result<ExitStatus> {
        let Some(mut child) = self.child.take() else {
            bail!("node already stopped")
        };
        let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status()?;
        if !status.success() {
            bail!("kill -TERM failed");
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                bail!("node did not exit within 20 s of SIGTERM:\n{}", self.output());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops (if running) and starts the node again on the same home and ports.
    pub async fn restart(self) -> anyhow::Result<Node> {
        self.restart_waiting_for("/health/ready").await
    }

    /// [`Node::restart`], waiting only until the node is live (`/health/live`): a node that
    /// starts without its database serves, and is not ready.
    pub async fn restart_live(self) -> anyhow::Result<Node> {
        self.restart_waiting_for("/health/live").await
    }

    async fn restart_waiting_for(mut self, path: &str) -> anyhow::Result<Node> {
        if self.child.is_some() {
            self.stop().await?;
        }
        let tempdir = self._tempdir.take();
        Node::serve(
            &self.bin.clone(),
            self.home.clone(),
            tempdir,
            self.ports,
            self.admin_password.clone(),
            path,
        )
        .await
    }

    /// Kills the process with SIGKILL (`kill -9`: no drain, no deregistration) and waits for it;
    /// the home stays, for [`Node::restart`].
    pub fn kill(&mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else {
            bail!("node already stopped")
        };
        child.kill()?;
        child.wait()?;
        Ok(())
    }

    /// The node's process id (for reading its memory use from /proc).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `http://localhost:<gateway http port><path>`.
    pub fn gateway_url(&self, path: &str) -> String {
        format!("http://localhost:{}{path}", self.ports.gateway_http)
    }

    /// The admin's credentials as reqwest's basic_auth takes them.
    pub fn admin(&self) -> (&str, &str) {
        ("admin", &self.admin_password)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Reads the ports an existing test home was given.
fn read_ports(home: &Path) -> anyhow::Result<NodePorts> {
    let text = std::fs::read_to_string(home.join("conf/deployment.toml"))?;
    let value: toml::Table = text.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    let port = |section: &str| -> anyhow::Result<u16> {
        value
            .get("transport")
            .and_then(|t| t.get(section))
            .and_then(|s| s.get("port"))
            .and_then(|p| p.as_integer())
            .and_then(|p| u16::try_from(p).ok())
            .with_context(|| format!("transport.{section}.port"))
    };
    Ok(NodePorts {
        management: port("https")?,
        gateway_http: port("passthru_http")?,
        gateway_https: port("passthru_https")?,
        traffic_manager: port("traffic_manager")?,
    })
}
