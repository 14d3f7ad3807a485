//! A NAT lab built from network namespaces (iproute2), for the tests of connection requests
//! through a NAT: a CPE host behind a router that masquerades, and an ACS host on the router's
//! outside, each a namespace of its own, plus the real servers (coturn for STUN, prosody for
//! XMPP) run on the ACS host.
//!
//! ```text
//!   cpe ns                    router ns                         acs ns
//!   192.168.77.2 ── veth ── 192.168.77.1 | 198.18.77.1 ── veth ── 198.18.77.2
//!   (agent)                  MASQUERADE --random-fully            (scripted ACS, coturn, prosody)
//! ```
//!
//! The addresses exist only inside the namespaces a [`NatLab`] creates (names unique per lab,
//! everything deleted when it is dropped), so labs of concurrent tests do not see each other.
//! The ACS host has no route to the CPE's network: only what the NAT lets back in reaches the
//! CPE. Sockets of the test process are opened inside a namespace by a thread that enters it
//! with `setns` ([`NatLab::in_ns`]); a socket stays in the namespace it was created in.
//!
//! Tests need root, `ip`, `iptables`, `conntrack`, and for the servers `turnserver` (coturn) and
//! `prosody`/`prosodyctl`: [`NatLab::unavailable`], [`Coturn::unavailable`] and
//! [`Prosody::unavailable`] say what is missing, for `test_tools::skip`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail, ensure};

/// The CPE host's address (private, behind the NAT).
pub const CPE_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 77, 2);
/// The router's inside address (the CPE's default gateway).
pub const ROUTER_LAN_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 77, 1);
/// The router's outside address: every CPE packet leaves with it.
pub const ROUTER_WAN_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 77, 1);
/// The ACS host's address (the scripted ACS, coturn and prosody listen there).
pub const ACS_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 77, 2);
/// The STUN port coturn listens on.
pub const STUN_PORT: u16 = 3478;
/// The XMPP client port prosody listens on.
pub const XMPP_PORT: u16 = 5222;

/// Runs a command to completion; an error names it and carries its stderr.
fn run(program: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {program}"))?;
    ensure!(
        out.status.success(),
        "{program} {} failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

static LABS: AtomicU32 = AtomicU32::new(0);

/// Three namespaces and the NAT between them. Dropping it deletes them (and with them the
/// links, the NAT state and every socket still open in them).
pub struct NatLab {
    pub cpe: String,
    pub router: String,
    pub acs: String,
    created: Vec<String>,
}

impl NatLab {
    /// Why a lab cannot be built here, if it cannot.
    pub fn unavailable() -> Option<String> {
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            return Some("network namespaces need root".into());
        }
        for tool in ["ip", "iptables", "conntrack"] {
            if test_tools::find_tool(tool).is_none() {
                return Some(format!(
                    "`{tool}` is not installed (apt-get install iproute2 iptables conntrack)"
                ));
            }
        }
        None
    }

    /// Builds the lab. `tag` names it (a few letters; the namespaces are `<tag><pid>n<k>-cpe`
    /// and so on).
    pub fn new(tag: &str) -> anyhow::Result<NatLab> {
        let k = LABS.fetch_add(1, Ordering::Relaxed);
        let base = format!("{tag}{}n{k}", std::process::id());
        let mut lab = NatLab {
            cpe: format!("{base}-cpe"),
            router: format!("{base}-rtr"),
            acs: format!("{base}-acs"),
            created: Vec::new(),
        };
        for ns in [lab.cpe.clone(), lab.router.clone(), lab.acs.clone()] {
            run("ip", &["netns", "add", &ns])?;
            lab.created.push(ns.clone());
            lab.ip(&ns, &["link", "set", "lo", "up"])?;
        }
        // Interface names are per namespace, but the pair is created in this one first: make
        // them unique here (at most 15 characters).
        let short = format!("{}{k}", std::process::id() % 100_000);
        let (lan_a, lan_b) = (format!("nl{short}a"), format!("nl{short}b"));
        let (wan_a, wan_b) = (format!("nw{short}a"), format!("nw{short}b"));
        for (a, b, ns_a, ns_b) in [
            (&lan_a, &lan_b, &lab.cpe, &lab.router),
            (&wan_a, &wan_b, &lab.router, &lab.acs),
        ] {
            run("ip", &["link", "add", a, "type", "veth", "peer", "name", b])?;
            run("ip", &["link", "set", a, "netns", ns_a])?;
            run("ip", &["link", "set", b, "netns", ns_b])?;
        }
        let addr = |ip: Ipv4Addr| format!("{ip}/24");
        lab.ip(&lab.cpe, &["addr", "add", &addr(CPE_IP), "dev", &lan_a])?;
        lab.ip(&lab.cpe, &["link", "set", &lan_a, "up"])?;
        lab.ip(
            &lab.cpe,
            &["route", "add", "default", "via", &ROUTER_LAN_IP.to_string()],
        )?;
        lab.ip(
            &lab.router,
            &["addr", "add", &addr(ROUTER_LAN_IP), "dev", &lan_b],
        )?;
        lab.ip(
            &lab.router,
            &["addr", "add", &addr(ROUTER_WAN_IP), "dev", &wan_a],
        )?;
        lab.ip(&lab.router, &["link", "set", &lan_b, "up"])?;
        lab.ip(&lab.router, &["link", "set", &wan_a, "up"])?;
        lab.ip(&lab.acs, &["addr", "add", &addr(ACS_IP), "dev", &wan_b])?;
        lab.ip(&lab.acs, &["link", "set", &wan_b, "up"])?;
        lab.exec(&lab.router, "sysctl", &["-qw", "net.ipv4.ip_forward=1"])?;
        // A new port for every new mapping: a NAT that forgot a binding gives another one.
        lab.exec(
            &lab.router,
            "iptables",
            &[
                "-t",
                "nat",
                "-A",
                "POSTROUTING",
                "-o",
                &wan_a,
                "-j",
                "MASQUERADE",
                "--random-fully",
            ],
        )?;
        Ok(lab)
    }

    fn ip(&self, ns: &str, args: &[&str]) -> anyhow::Result<String> {
        let mut all = vec!["-n", ns];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// Runs a command inside a namespace to completion.
    pub fn exec(&self, ns: &str, program: &str, args: &[&str]) -> anyhow::Result<String> {
        let mut all = vec!["netns", "exec", ns, program];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// A command to spawn inside a namespace (`ip netns exec` execs it: the child is the
    /// program itself).
    pub fn command(&self, ns: &str, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns]).arg(program);
        c
    }

    /// The NAT forgets every binding (`conntrack -F` on the router).
    pub fn flush_conntrack(&self) -> anyhow::Result<()> {
        // conntrack prints a summary on stderr and exits 0.
        self.exec(&self.router, "conntrack", &["-F"]).map(|_| ())
    }

    /// How long the router keeps an idle UDP binding (both conntrack timeouts), in seconds.
    pub fn set_udp_binding_lifetime(&self, secs: u32) -> anyhow::Result<()> {
        for key in [
            "net.netfilter.nf_conntrack_udp_timeout",
            "net.netfilter.nf_conntrack_udp_timeout_stream",
        ] {
            self.exec(&self.router, "sysctl", &["-qw", &format!("{key}={secs}")])?;
        }
        Ok(())
    }

    /// Runs `f` on a thread that entered namespace `ns` (sockets it opens live there).
    pub fn in_ns<T: Send + 'static>(
        &self,
        ns: &str,
        f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
    ) -> std::io::Result<T> {
        let path = PathBuf::from("/run/netns").join(ns);
        std::thread::spawn(move || {
            use std::os::fd::AsRawFd as _;
            let file = std::fs::File::open(&path)?;
            // SAFETY: setns on a valid namespace fd only changes this (fresh) thread's network
            // namespace; the thread ends after `f`.
            if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
            f()
        })
        .join()
        .map_err(|_| std::io::Error::other("the namespace thread panicked"))?
    }

    /// A TCP listener bound inside `ns`.
    pub fn tcp_listener(
        &self,
        ns: &str,
        addr: SocketAddr,
    ) -> std::io::Result<std::net::TcpListener> {
        self.in_ns(ns, move || std::net::TcpListener::bind(addr))
    }

    /// A TCP connection made from inside `ns`.
    pub fn tcp_connect(
        &self,
        ns: &str,
        to: SocketAddr,
        timeout: Duration,
    ) -> std::io::Result<std::net::TcpStream> {
        self.in_ns(ns, move || {
            std::net::TcpStream::connect_timeout(&to, timeout)
        })
    }

    /// A UDP socket bound inside `ns`; `share_port`: SO_REUSEADDR, so it can take the port of a
    /// server that set it too (coturn does), as GenieACS's UDP connection requests do.
    pub fn udp_socket(
        &self,
        ns: &str,
        addr: SocketAddr,
        share_port: bool,
    ) -> std::io::Result<std::net::UdpSocket> {
        self.in_ns(ns, move || {
            // SAFETY: plain socket(2)/setsockopt(2)/bind(2) calls on a descriptor this closure
            // owns; it is handed to UdpSocket (which closes it) or closed on error.
            unsafe {
                let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
                if fd < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                use std::os::fd::FromRawFd as _;
                let socket = std::net::UdpSocket::from_raw_fd(fd);
                if share_port {
                    let one: libc::c_int = 1;
                    if libc::setsockopt(
                        fd,
                        libc::SOL_SOCKET,
                        libc::SO_REUSEADDR,
                        (&one as *const libc::c_int).cast(),
                        std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                    ) != 0
                    {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                let SocketAddr::V4(v4) = addr else {
                    return Err(std::io::Error::other("IPv4 only"));
                };
                let sin = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: v4.port().to_be(),
                    sin_addr: libc::in_addr {
                        s_addr: u32::from(*v4.ip()).to_be(),
                    },
                    sin_zero: [0; 8],
                };
                if libc::bind(
                    fd,
                    (&sin as *const libc::sockaddr_in).cast(),
                    std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                ) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(socket)
            }
        })
    }
}

impl Drop for NatLab {
    fn drop(&mut self) {
        for ns in self.created.drain(..) {
            let _ = run("ip", &["netns", "del", &ns]);
        }
    }
}

/// A GenieACS-style UDP connection request (`udpConnectionRequest` in GenieACS's
/// `lib/connection-request.ts`): the datagram for `to`, signed with `password`.
pub fn udp_connection_request(
    to: SocketAddr,
    ts: u64,
    id: u32,
    username: &str,
    password: &str,
) -> Vec<u8> {
    let cn = format!("{:016x}", rand::random::<u64>());
    let sig = tr069_client::connection_request::udp::signature(
        password,
        &ts.to_string(),
        &id.to_string(),
        username,
        &cn,
    );
    format!(
        "GET http://{to}?ts={ts}&id={id}&un={username}&cn={cn}&sig={sig} HTTP/1.1\r\nHost: {to}\r\n\r\n"
    )
    .into_bytes()
}

/// Seconds since the epoch (the `ts` of a UDP connection request).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl NatLab {
    /// Sends `datagram` three times (as GenieACS does) from the STUN server's address and port
    /// on the ACS host: the NAT lets in only what comes from the address the binding was made
    /// toward.
    pub fn send_from_stun_port(&self, datagram: &[u8], to: SocketAddr) -> anyhow::Result<()> {
        let socket = self
            .udp_socket(&self.acs, SocketAddr::new(ACS_IP.into(), STUN_PORT), true)
            .context("binding the STUN server's port for a UDP connection request")?;
        for _ in 0..3 {
            socket.send_to(datagram, to)?;
        }
        Ok(())
    }
}

/// A child process stopped (SIGTERM, then SIGKILL) and reaped on drop.
struct Server {
    child: Option<Child>,
    name: &'static str,
}

impl Server {
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            for _ in 0..50 {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn check_running(&mut self, log: &Path) -> anyhow::Result<()> {
        if let Some(child) = self.child.as_mut()
            && let Some(status) = child.try_wait()?
        {
            self.child = None;
            bail!(
                "{} exited ({status}): {}",
                self.name,
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// coturn (`turnserver -S`: STUN only) on the ACS host.
pub struct Coturn {
    server: Server,
}

impl Coturn {
    pub fn unavailable() -> Option<String> {
        test_tools::find_tool("turnserver")
            .is_none()
            .then(|| "coturn's `turnserver` is not installed (apt-get install coturn)".into())
    }

    /// Starts coturn on `ACS_IP:3478` and waits until it answers a Binding Request.
    pub fn start(lab: &NatLab, dir: &Path) -> anyhow::Result<Coturn> {
        let log = dir.join("coturn.log");
        let child = lab
            .command(&lab.acs, "turnserver")
            .args([
                "-n",
                "--stun-only",
                "--no-cli",
                "--no-tls",
                "--no-dtls",
                "--no-rfc5780",
                "--listening-ip",
                &ACS_IP.to_string(),
                "--listening-port",
                &STUN_PORT.to_string(),
                "--simple-log",
                "--log-file",
            ])
            .arg(&log)
            .arg("--pidfile")
            .arg(dir.join("coturn.pid"))
            .arg("--userdb")
            .arg(dir.join("coturn.db"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting coturn")?;
        let mut c = Coturn {
            server: Server {
                child: Some(child),
                name: "coturn",
            },
        };
        let probe = lab.udp_socket(&lab.acs, SocketAddr::new(ACS_IP.into(), 0), false)?;
        probe.set_read_timeout(Some(Duration::from_millis(200)))?;
        let server = SocketAddr::new(ACS_IP.into(), STUN_PORT);
        for attempt in 0..100u128 {
            c.server.check_running(&log)?;
            let request = tr069_client::connection_request::stun::binding_request(
                attempt + 1,
                &Default::default(),
            )?;
            probe.send_to(&request, server)?;
            let mut buf = [0u8; 512];
            if let Ok((n, _)) = probe.recv_from(&mut buf)
                && tr069_client::connection_request::stun::parse_response(&buf[..n]).is_ok()
            {
                return Ok(c);
            }
        }
        bail!(
            "coturn never answered on {server}: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        )
    }
}

/// prosody on the ACS host (or, [`Prosody::start_local`], on an address of this host), with
/// accounts, TLS offered (not required: the agent insists on it itself, the scripted XMPP ACS
/// does not need it).
pub struct Prosody {
    server: Server,
    config: PathBuf,
    dir: PathBuf,
    /// The namespace it runs in (`None`: this host's).
    ns: Option<String>,
    addr: SocketAddr,
}

/// The XMPP domain of the lab.
pub const XMPP_DOMAIN: &str = "xmpp.test";

impl Prosody {
    pub fn unavailable() -> Option<String> {
        (test_tools::find_tool("prosody").is_none()
            || test_tools::find_tool("prosodyctl").is_none())
        .then(|| "`prosody` is not installed (apt-get install prosody)".into())
    }

    /// Writes the configuration (certificate `tls_cert`/`tls_key` for [`XMPP_DOMAIN`]),
    /// registers `accounts` (user, password) and starts the server on `ACS_IP:5222` of the
    /// lab's ACS host.
    pub fn start(
        lab: &NatLab,
        dir: &Path,
        tls_cert: &Path,
        tls_key: &Path,
        accounts: &[(&str, &str)],
    ) -> anyhow::Result<Prosody> {
        let addr = SocketAddr::new(IpAddr::V4(ACS_IP), XMPP_PORT);
        Prosody::start_in(
            Some(lab.acs.clone()),
            addr,
            dir,
            tls_cert,
            tls_key,
            accounts,
        )
    }

    /// The same server on `addr` of this host (no namespace: the loopback campaigns).
    pub fn start_local(
        addr: SocketAddr,
        dir: &Path,
        tls_cert: &Path,
        tls_key: &Path,
        accounts: &[(&str, &str)],
    ) -> anyhow::Result<Prosody> {
        Prosody::start_in(None, addr, dir, tls_cert, tls_key, accounts)
    }

    fn start_in(
        ns: Option<String>,
        addr: SocketAddr,
        dir: &Path,
        tls_cert: &Path,
        tls_key: &Path,
        accounts: &[(&str, &str)],
    ) -> anyhow::Result<Prosody> {
        let data = dir.join("prosody-data");
        std::fs::create_dir_all(&data)?;
        let config = dir.join("prosody.cfg.lua");
        let lua = |p: &Path| format!("{:?}", p.to_string_lossy());
        // No port but the client one: on this host's loopback another server may hold the
        // default component or HTTP ports.
        std::fs::write(
            &config,
            format!(
                r#"pidfile = {pid}
data_path = {data}
certificates = {dir}
run_as_root = true
daemonize = false
interfaces = {{ "{ip}" }}
c2s_ports = {{ {port} }}
s2s_ports = {{ }}
legacy_ssl_ports = {{ }}
component_ports = {{ }}
http_ports = {{ }}
https_ports = {{ }}
log = {{ debug = {log} }}
modules_enabled = {{ "saslauth", "tls", "ping", "disco", "posix" }}
modules_disabled = {{ "s2s" }}
authentication = "internal_hashed"
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
VirtualHost "{domain}"
  ssl = {{ certificate = {cert}, key = {key} }}
"#,
                pid = lua(&dir.join("prosody.pid")),
                data = lua(&data),
                dir = lua(dir),
                ip = addr.ip(),
                port = addr.port(),
                log = lua(&dir.join("prosody.log")),
                domain = XMPP_DOMAIN,
                cert = lua(tls_cert),
                key = lua(tls_key),
            ),
        )?;
        for (user, password) in accounts {
            run(
                "prosodyctl",
                &[
                    "--config",
                    &config.to_string_lossy(),
                    "register",
                    user,
                    XMPP_DOMAIN,
                    password,
                ],
            )?;
        }
        let mut p = Prosody {
            server: Server {
                child: None,
                name: "prosody",
            },
            config,
            dir: dir.to_path_buf(),
            ns,
            addr,
        };
        p.launch()?;
        Ok(p)
    }

    /// The address it serves clients on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its log (every stanza, at debug level).
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("prosody.log")
    }

    fn connect_probe(&self) -> bool {
        let addr = self.addr;
        let timeout = Duration::from_millis(200);
        match &self.ns {
            Some(ns) => {
                let path = PathBuf::from("/run/netns").join(ns);
                std::thread::spawn(move || {
                    use std::os::fd::AsRawFd as _;
                    let Ok(file) = std::fs::File::open(&path) else {
                        return false;
                    };
                    // SAFETY: setns on a valid namespace fd changes only this fresh thread's
                    // network namespace; the thread ends after the probe.
                    if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                        return false;
                    }
                    std::net::TcpStream::connect_timeout(&addr, timeout).is_ok()
                })
                .join()
                .unwrap_or(false)
            }
            None => std::net::TcpStream::connect_timeout(&addr, timeout).is_ok(),
        }
    }

    fn launch(&mut self) -> anyhow::Result<()> {
        let out = std::fs::File::create(self.dir.join("prosody.out"))?;
        let mut command = match &self.ns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "prosody"]);
                c
            }
            None => Command::new("prosody"),
        };
        let child = command
            .arg("--config")
            .arg(&self.config)
            .arg("-F")
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .context("starting prosody")?;
        self.server.child = Some(child);
        for _ in 0..200 {
            self.server.check_running(&self.dir.join("prosody.out"))?;
            if self.connect_probe() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(anyhow!("prosody never listened on {}", self.addr))
    }

    /// Stops the server (every client connection drops).
    pub fn stop(&mut self) {
        self.server.stop();
    }

    /// Starts it again with the same accounts.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.server.stop();
        self.launch()
    }
}

/// A CA and a server certificate for `domain`, written to `dir` as `xmpp-ca.pem`,
/// `xmpp.pem` and `xmpp.key`. Returns (CA path, certificate path, key path).
pub fn xmpp_certificates(dir: &Path, domain: &str) -> anyhow::Result<(PathBuf, PathBuf, PathBuf)> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "tr069-client XMPP test CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);
    let mut params = CertificateParams::new(vec![domain.to_owned()])?;
    params.distinguished_name.push(DnType::CommonName, domain);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;
    let paths = (
        dir.join("xmpp-ca.pem"),
        dir.join("xmpp.pem"),
        dir.join("xmpp.key"),
    );
    std::fs::write(&paths.0, ca_cert.pem())?;
    std::fs::write(&paths.1, cert.pem())?;
    std::fs::write(&paths.2, key.serialize_pem())?;
    Ok(paths)
}
