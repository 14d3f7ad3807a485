//! Network namespaces a test builds for itself (iproute2, as root): hosts, routers and links
//! that exist only for the test and are removed when it drops them. Traffic of such a test goes
//! to loopback or into these namespaces, never onto the machine's own network.
//!
//! [`in_netns`] runs an async body on a tokio runtime whose threads live in a namespace: the
//! sockets it opens and the processes it spawns (the agent binary, `ping`) are that namespace's.
//!
//! Where namespaces or a tool are unavailable, a test calls `test_tools::skip`: one `SKIPPED` line
//! and a pass, or a failure under `TR069_TEST_STRICT=1` (what CI sets).

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{Context as _, bail};

/// Why network namespaces cannot be used here, if they cannot.
pub fn unavailable() -> Option<String> {
    if !tool_runs("ip", &["-V"]) {
        return Some("the `ip` tool (iproute2) is not installed".into());
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("network namespaces need root".into());
    }
    let probe = NetNs::new("probe");
    match probe {
        Ok(_) => None,
        Err(e) => Some(format!("cannot create a network namespace: {e:#}")),
    }
}

/// Whether `program args` runs and exits 0.
pub fn tool_runs(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

static NEXT: AtomicU32 = AtomicU32::new(1);

/// A network namespace, deleted (with its links and processes' network) on drop.
#[derive(Debug)]
pub struct NetNs {
    pub name: String,
    /// Processes started in it, killed on drop.
    children: std::sync::Mutex<Vec<Child>>,
}

fn ip(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .with_context(|| format!("running ip {args:?}"))?;
    if !out.status.success() {
        bail!(
            "ip {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

impl NetNs {
    /// A fresh namespace named `t<pid>-<n>-<role>` (unique per process and test), loopback up.
    pub fn new(role: &str) -> anyhow::Result<NetNs> {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let role: String = role
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(6)
            .collect();
        let name = format!("t{}-{n}-{role}", std::process::id());
        ip(&["netns", "add", &name])?;
        let ns = NetNs {
            name,
            children: std::sync::Mutex::new(Vec::new()),
        };
        ns.exec(&["ip", "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// Runs a command in the namespace; fails unless it exits 0.
    pub fn exec(&self, command: &[&str]) -> anyhow::Result<()> {
        let mut args = vec!["netns", "exec", self.name.as_str()];
        args.extend_from_slice(command);
        ip(&args)
    }

    /// Starts a long-running process in the namespace (killed when the namespace drops).
    pub fn spawn(&self, command: &[&str]) -> anyhow::Result<()> {
        let child = Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(command)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {command:?} in {}", self.name))?;
        self.children
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(child);
        Ok(())
    }

    /// Turns on IPv4 forwarding (a router).
    pub fn forward(&self) -> anyhow::Result<()> {
        self.exec(&["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])
    }

    /// A default route through `gateway`.
    pub fn default_route(&self, gateway: &str) -> anyhow::Result<()> {
        self.exec(&["ip", "route", "add", "default", "via", gateway])
    }

    /// A route to `prefix` through `gateway`.
    pub fn route(&self, prefix: &str, gateway: &str) -> anyhow::Result<()> {
        self.exec(&["ip", "route", "add", prefix, "via", gateway])
    }

    /// Opens `/var/run/netns/<name>`, the handle setns(2) takes.
    fn handle(&self) -> anyhow::Result<std::fs::File> {
        std::fs::File::open(format!("/var/run/netns/{}", self.name))
            .with_context(|| format!("opening the namespace {}", self.name))
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let mut children = self
            .children
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for child in children.iter_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = ip(&["netns", "delete", &self.name]);
    }
}

/// Links `a` and `b` with a veth pair: `a_addr` (CIDR) on a's end, `b_addr` on b's.
pub fn link(a: &NetNs, a_addr: &str, b: &NetNs, b_addr: &str) -> anyhow::Result<()> {
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let (ea, eb) = (format!("va{n}"), format!("vb{n}"));
    ip(&[
        "link", "add", &ea, "netns", &a.name, "type", "veth", "peer", "name", &eb, "netns", &b.name,
    ])?;
    a.exec(&["ip", "addr", "add", a_addr, "dev", &ea])?;
    b.exec(&["ip", "addr", "add", b_addr, "dev", &eb])?;
    a.exec(&["ip", "link", "set", &ea, "up"])?;
    b.exec(&["ip", "link", "set", &eb, "up"])?;
    Ok(())
}

/// Runs `body` on a multi-thread tokio runtime whose threads are in `ns` (so are the sockets it
/// opens and the processes it starts); returns its output.
pub fn in_netns<F, Fut, T>(ns: &NetNs, body: F) -> anyhow::Result<T>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = T>,
    T: Send + 'static,
{
    let handle = ns.handle()?;
    let thread = std::thread::spawn(move || -> anyhow::Result<T> {
        use std::os::fd::AsRawFd as _;
        // SAFETY: setns on a valid namespace descriptor affects only this thread; threads it
        // creates afterwards (the runtime's workers) inherit the namespace.
        if unsafe { libc::setns(handle.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            bail!("setns: {}", std::io::Error::last_os_error());
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("building the namespace's runtime")?;
        Ok(runtime.block_on(body()))
    });
    match thread.join() {
        Ok(result) => result,
        // The body's own assertion: report it as the test's failure.
        Err(panic) => std::panic::resume_unwind(panic),
    }
}
