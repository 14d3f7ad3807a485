//! The footprint harness: runs the release daemon against the scripted ACS and prints every
//! figure of the router budget (BENCHMARKS.md, "Footprint") in one run, with its baselines.
//!
//! ```sh
//! cargo build --release -p tr069-client --bin tr069-client
//! cargo run -p chaos-tests --bin footprint -- target/release/tr069-client [--minimal BIN]
//!   [--floor target/release/stack-floor]
//! ```
//!
//! What it measures, on the binary given (the harness itself may be a debug build: it only plays
//! the ACS and reads `/proc`):
//!
//! * the binary's size (and the minimal build's, with `--minimal`);
//! * idle `VmRSS` once the first session is over;
//! * with `--floor`, the same two figures of `benches/stack-floor` (the requested crates doing
//!   what the agent asks of them, nothing of the agent), as the share of the agent's figures they
//!   already take;
//! * context switches of every thread of the daemon over an idle window (nothing due: periodic
//!   interval 1 d, no transfer, no notification);
//! * CPU (utime + stime of the whole process, `/proc/PID/stat`) per connection-request session
//!   carrying one GetParameterValues;
//! * bytes written per quiet periodic session: `write_bytes` of `/proc/PID/io`, and the sectors
//!   written to a small loop-mounted ext4 holding the data directory (`/sys/block/loopN/stat`,
//!   after `syncfs`, so the filesystem's own journal is included); baselines in the same run and
//!   on the same filesystem: one `write + fdatasync` of the session's record bytes, and one per
//!   commit the journal made;
//! * exec → first Inform POST received by the ACS, with an empty journal and with the journal at
//!   its size bound (1 MiB of live records, no snapshot: the worst fold), the latter both as a
//!   clean stop leaves it and as a crash leaves it (without the journal's clean-close mark, so
//!   the release build's store check in a child runs);
//! * device bytes written by opening that full journal once, after a clean stop and after a crash
//!   (`journal state` on a copy on the loop-mounted ext4: the open and the fold without a
//!   daemon's compaction).
//!
//! Without root or loop devices the device figures are skipped with a line saying so.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, anyhow, bail, ensure};
use chaos_tests::device::toml_str;
use chaos_tests::{AcsAuth, AcsConfig, ScriptedAcs};
use tr069_client::cwmp::Body;
use tr069_client::cwmp::rpc::get_parameter_values::GetParameterValues;
use tr069_client::records::proto::{self, record::Kind};
use tr069_client::records::{Journal, Record};

const ACS_USER: &str = "cpe";
const ACS_PASSWORD: &str = "acs-secret";
const CR_USER: &str = "acs";
const CR_PASSWORD: &str = "cr-secret";
const WAIT: Duration = Duration::from_secs(60);

struct Args {
    bin: PathBuf,
    minimal: Option<PathBuf>,
    /// `benches/stack-floor`'s release binary.
    floor: Option<PathBuf>,
    /// Quiet periodic sessions measured.
    periodic: usize,
    /// Connection-request sessions measured.
    cr: usize,
    idle: Duration,
    starts: usize,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        bin: PathBuf::new(),
        minimal: None,
        floor: None,
        periodic: 10,
        cr: 50,
        idle: Duration::from_secs(10),
        starts: 5,
    };
    let mut it = std::env::args().skip(1);
    let number = |v: Option<String>, name: &str| -> anyhow::Result<usize> {
        v.ok_or_else(|| anyhow!("{name} needs a value"))?
            .parse()
            .map_err(|e| anyhow!("{name}: {e}"))
    };
    while let Some(a) = it.next() {
        match a.as_str() {
            "--minimal" => {
                args.minimal = Some(it.next().ok_or_else(|| anyhow!("--minimal BIN"))?.into())
            }
            "--floor" => args.floor = Some(it.next().ok_or_else(|| anyhow!("--floor BIN"))?.into()),
            "--periodic" => args.periodic = number(it.next(), "--periodic")?,
            "--cr" => args.cr = number(it.next(), "--cr")?,
            "--idle-secs" => {
                args.idle = Duration::from_secs(number(it.next(), "--idle-secs")? as u64)
            }
            "--starts" => args.starts = number(it.next(), "--starts")?,
            "-h" | "--help" => {
                println!(
                    "usage: footprint DAEMON_BIN [--minimal BIN] [--floor BIN] [--periodic N] [--cr N] [--idle-secs S] [--starts N]"
                );
                std::process::exit(0);
            }
            _ if args.bin.as_os_str().is_empty() => args.bin = a.into(),
            other => bail!("unexpected argument {other:?}"),
        }
    }
    ensure!(
        !args.bin.as_os_str().is_empty(),
        "usage: footprint DAEMON_BIN (e.g. target/release/tr069-client)"
    );
    args.bin = std::fs::canonicalize(&args.bin)
        .with_context(|| format!("the daemon binary {}", args.bin.display()))?;
    Ok(args)
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    rt.block_on(run(args))
}

// ---------------------------------------------------------------------------------------------
// /proc readers
// ---------------------------------------------------------------------------------------------

fn proc_field(path: &Path, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(key)?.trim_start_matches(':').trim();
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// `write_bytes` of a process (or of a thread: `/proc/thread-self`).
fn write_bytes(proc_dir: &Path) -> u64 {
    proc_field(&proc_dir.join("io"), "write_bytes").unwrap_or(0)
}

/// utime + stime of the whole process (dead threads included), in milliseconds.
fn cpu_ms(pid: u32) -> f64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let after = text.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    // After ')': state is field 3, utime field 14, stime field 15 → indices 11 and 12.
    let ticks: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    // SAFETY: sysconf has no memory effects.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    ticks as f64 * 1000.0 / hz
}

/// Context switches (voluntary + involuntary) of every live thread: tid → (name, switches).
fn switches(pid: u32) -> std::collections::BTreeMap<u32, (String, u64)> {
    let mut out = std::collections::BTreeMap::new();
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for e in dir.flatten() {
        let Some(tid) = e.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        let p = e.path();
        let name = std::fs::read_to_string(p.join("comm"))
            .unwrap_or_default()
            .trim()
            .to_owned();
        let n = proc_field(&p.join("status"), "voluntary_ctxt_switches").unwrap_or(0)
            + proc_field(&p.join("status"), "nonvoluntary_ctxt_switches").unwrap_or(0);
        out.insert(tid, (name, n));
    }
    out
}

fn ms_since_epoch(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

// ---------------------------------------------------------------------------------------------
// A loop-mounted ext4
// ---------------------------------------------------------------------------------------------

struct LoopFs {
    device: String,
    mount: PathBuf,
    image: PathBuf,
}

impl LoopFs {
    fn create(dir: &Path) -> anyhow::Result<LoopFs> {
        // SAFETY: geteuid has no memory effects.
        ensure!(unsafe { libc::geteuid() } == 0, "not root");
        let image = dir.join("ext4.img");
        let f = std::fs::File::create(&image)?;
        f.set_len(64 << 20)?;
        drop(f);
        let out = Command::new("losetup")
            .args(["--find", "--show"])
            .arg(&image)
            .output()
            .context("running losetup")?;
        ensure!(
            out.status.success(),
            "losetup: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        let device = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let fs = LoopFs {
            device,
            mount: dir.join("mnt"),
            image,
        };
        // Initialised in full now: a lazily initialised inode table or journal is written by a
        // kernel thread after mounting, which would count against the agent. 4 KiB blocks as on
        // a real device (mke2fs picks 1 KiB for a filesystem this small).
        let ok = Command::new("mkfs.ext4")
            .args([
                "-q",
                "-F",
                "-b",
                "4096",
                "-E",
                "lazy_itable_init=0,lazy_journal_init=0",
            ])
            .arg(&fs.device)
            .status()
            .context("running mkfs.ext4")?
            .success();
        ensure!(ok, "mkfs.ext4 failed");
        std::fs::create_dir_all(&fs.mount)?;
        let ok = Command::new("mount")
            .args(["-o", "noatime"])
            .arg(&fs.device)
            .arg(&fs.mount)
            .status()
            .context("running mount")?
            .success();
        ensure!(ok, "mount failed");
        Ok(fs)
    }

    fn sync(&self) {
        if let Ok(d) = std::fs::File::open(&self.mount) {
            use std::os::unix::io::AsRawFd;
            // SAFETY: syncfs on a descriptor we own.
            unsafe { libc::syncfs(d.as_raw_fd()) };
        }
    }

    /// Bytes written to the device so far (sectors of 512 bytes).
    fn device_bytes(&self) -> u64 {
        let name = self.device.trim_start_matches("/dev/");
        let stat = std::fs::read_to_string(format!("/sys/block/{name}/stat")).unwrap_or_default();
        let sectors: u64 = stat
            .split_whitespace()
            .nth(6)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        sectors * 512
    }
}

impl Drop for LoopFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.mount).status();
        let _ = Command::new("losetup").arg("-d").arg(&self.device).status();
        let _ = std::fs::remove_file(&self.image);
    }
}

// ---------------------------------------------------------------------------------------------
// The daemon
// ---------------------------------------------------------------------------------------------

struct Daemon {
    child: Child,
}

impl Daemon {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stop(mut self) -> anyhow::Result<()> {
        // SAFETY: kill on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                ensure!(status.success(), "the daemon exited with {status}");
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        bail!("the daemon did not stop on SIGTERM")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Site {
    dir: PathBuf,
    acs_url: String,
}

impl Site {
    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn set_boot_id(&self, id: &str) -> anyhow::Result<()> {
        std::fs::write(self.dir.join("boot_id"), format!("{id}\n"))?;
        Ok(())
    }

    fn write_config(&self, periodic: &str) -> anyhow::Result<PathBuf> {
        let path = self.dir.join("config.toml");
        let text = format!(
            "data_dir = {data}\nboot_id_file = {boot}\n\n[device]\nmanufacturer = \"Example Networks\"\n\
             oui = \"00000C\"\nproduct_class = \"Router\"\nserial_number = \"FP-0001\"\n\
             software_version = \"7.14\"\n\n[connection_request]\nlisten_address = \"127.0.0.1\"\n\n\
             [settings]\nenabled = \"yes\"\nacs-url = {url}\nusername = {user}\npassword = {pass}\n\
             periodic-inform-interval = {periodic}\nconnection-request-username = {cru}\n\
             connection-request-password = {crp}\nconnection-request-port = \"0\"\n",
            data = toml_str(&self.data_dir().to_string_lossy()),
            boot = toml_str(&self.dir.join("boot_id").to_string_lossy()),
            url = toml_str(&self.acs_url),
            user = toml_str(ACS_USER),
            pass = toml_str(ACS_PASSWORD),
            periodic = toml_str(periodic),
            cru = toml_str(CR_USER),
            crp = toml_str(CR_PASSWORD),
        );
        std::fs::write(&path, text)?;
        Ok(path)
    }

    fn spawn(&self, bin: &Path) -> anyhow::Result<Daemon> {
        let child = Command::new(bin)
            .arg("--config")
            .arg(self.dir.join("config.toml"))
            .arg("run")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("spawning {}", bin.display()))?;
        Ok(Daemon { child })
    }
}

async fn acs() -> anyhow::Result<ScriptedAcs> {
    ScriptedAcs::start(AcsConfig {
        auth: AcsAuth::Digest {
            username: ACS_USER.into(),
            password: ACS_PASSWORD.into(),
        },
        ..AcsConfig::default()
    })
    .await
}

async fn ended(acs: &ScriptedAcs, n: usize) -> anyhow::Result<()> {
    acs.wait_for_sessions(n, WAIT).await.map(|_| ())
}

// ---------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------

struct Row {
    figure: String,
    value: String,
    note: String,
}

fn row(rows: &mut Vec<Row>, figure: &str, value: String, note: impl Into<String>) {
    println!("  {figure}: {value}");
    rows.push(Row {
        figure: figure.to_owned(),
        value,
        note: note.into(),
    });
}

async fn run(args: Args) -> anyhow::Result<()> {
    let scratch = tempfile::Builder::new().prefix("footprint-").tempdir()?;
    let mut rows = Vec::new();
    println!("footprint of {}", args.bin.display());

    // ---- binary ----
    let size = std::fs::metadata(&args.bin)?.len();
    row(
        &mut rows,
        "binary (file size)",
        format!("{size} B ({:.2} MiB)", size as f64 / 1048576.0),
        "default features",
    );
    if let Some(min) = &args.minimal {
        let size = std::fs::metadata(min)
            .with_context(|| format!("the minimal binary {}", min.display()))?
            .len();
        row(
            &mut rows,
            "binary, minimal build (file size)",
            format!("{size} B ({:.2} MiB)", size as f64 / 1048576.0),
            min.display().to_string(),
        );
    }

    // ---- where the data directory lives ----
    let loopfs = match LoopFs::create(scratch.path()) {
        Ok(fs) => Some(fs),
        Err(e) => {
            println!("  (skipped: device bytes on a loop-mounted ext4 — {e:#})");
            None
        }
    };
    let site_dir = match &loopfs {
        Some(fs) => fs.mount.join("site"),
        None => scratch.path().join("site"),
    };
    std::fs::create_dir_all(&site_dir)?;
    let acs = acs().await?;
    let site = Site {
        dir: site_dir,
        acs_url: acs.url(),
    };
    site.set_boot_id("boot-1")?;
    site.write_config("1d")?;

    // ---- idle: RSS and wake-ups ----
    let daemon = site.spawn(&args.bin)?;
    let pid = daemon.pid();
    ended(&acs, 1)
        .await
        .context("the first (BOOTSTRAP) session")?;
    let cr_url = acs
        .sessions()
        .first()
        .and_then(|s| {
            s.parameter("Device.ManagementServer.ConnectionRequestURL")
                .map(str::to_owned)
        })
        .ok_or_else(|| anyhow!("no ConnectionRequestURL in the first Inform"))?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let status = PathBuf::from(format!("/proc/{pid}/status"));
    let rss = proc_field(&status, "VmRSS").unwrap_or(0);
    let hwm = proc_field(&status, "VmHWM").unwrap_or(0);
    row(
        &mut rows,
        "idle VmRSS",
        format!("{rss} kB ({:.1} MB)", rss as f64 * 1024.0 / 1e6),
        format!("VmHWM {hwm} kB, after the BOOTSTRAP session"),
    );
    if let Some(floor) = &args.floor {
        let floor_size = std::fs::metadata(floor)
            .with_context(|| format!("the stack-floor binary {}", floor.display()))?
            .len();
        row(
            &mut rows,
            "binary, the requested crates alone (file size)",
            format!(
                "{floor_size} B ({:.2} MiB, {:.0} % of the default build's)",
                floor_size as f64 / 1048576.0,
                floor_size as f64 * 100.0 / size as f64
            ),
            format!("{}: benches/stack-floor, release profile", floor.display()),
        );
        let (floor_rss, anon, file) = floor_idle_rss(floor, scratch.path())?;
        row(
            &mut rows,
            "idle VmRSS, the requested crates alone",
            format!(
                "{floor_rss} kB ({:.0} % of the daemon's)",
                floor_rss as f64 * 100.0 / rss.max(1) as f64
            ),
            format!("RssAnon {anon} kB, RssFile {file} kB, 2 s after its first session"),
        );
    }
    let before = switches(pid);
    let t0 = Instant::now();
    tokio::time::sleep(args.idle).await;
    let after = switches(pid);
    let secs = t0.elapsed().as_secs_f64();
    let mut by_name: std::collections::BTreeMap<String, (u64, usize)> = Default::default();
    let mut total = 0;
    for (tid, (name, n)) in &after {
        let d = n - before.get(tid).map_or(0, |b| b.1);
        total += d;
        let group = name
            .trim_end_matches(|c: char| c.is_ascii_digit())
            .to_owned();
        let e = by_name.entry(group).or_default();
        e.0 += d;
        e.1 += 1;
    }
    let gone = before.keys().filter(|t| !after.contains_key(t)).count();
    let breakdown: Vec<String> = by_name
        .iter()
        .map(|(name, (d, threads))| format!("{name}×{threads}: {:.1}/s", *d as f64 / secs))
        .collect();
    row(
        &mut rows,
        "idle wake-ups (context switches, all threads)",
        format!("{:.1}/s over {secs:.0} s", total as f64 / secs),
        format!(
            "{} threads; {}{}",
            after.len(),
            breakdown.join(", "),
            if gone > 0 {
                format!("; {gone} thread(s) exited in the window")
            } else {
                String::new()
            }
        ),
    );

    // ---- CPU per connection-request session with one GetParameterValues ----
    let done = acs.sessions().len();
    let cpu0 = cpu_ms(pid);
    let io0 = write_bytes(Path::new(&format!("/proc/{pid}")));
    let w0 = Instant::now();
    for i in 0..args.cr {
        acs.enqueue(Body::GetParameterValues(GetParameterValues {
            parameter_names: vec!["Device.DeviceInfo.SoftwareVersion".into()],
        }));
        let status = acs
            .connection_request(&cr_url, CR_USER, CR_PASSWORD)
            .await
            .context("connection request")?;
        ensure!(
            status == 200,
            "the connection request was answered {status}"
        );
        ended(&acs, done + i + 1).await?;
    }
    // The SessionEnded commit follows the ACS's 204.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cpu = cpu_ms(pid) - cpu0;
    let cr_io = write_bytes(Path::new(&format!("/proc/{pid}"))) - io0;
    let answered = acs
        .sessions()
        .iter()
        .skip(done)
        .filter(|s| {
            s.acs_calls.iter().any(|c| {
                c.answer
                    .as_ref()
                    .is_some_and(|a| a.method == "GetParameterValuesResponse")
            })
        })
        .count();
    ensure!(
        answered == args.cr,
        "{answered} of {} sessions answered the GetParameterValues",
        args.cr
    );
    row(
        &mut rows,
        "CPU per connection-request session with one GetParameterValues",
        format!("{:.2} ms", cpu / args.cr as f64),
        format!(
            "utime+stime over {} sessions ({:.0} ms wall each, Digest on both sides); {:.1} KiB write_bytes each",
            args.cr,
            w0.elapsed().as_secs_f64() * 1000.0 / args.cr as f64,
            cr_io as f64 / args.cr as f64 / 1024.0
        ),
    );
    daemon.stop()?;

    // ---- bytes written per quiet periodic session ----
    site.write_config("2")?;
    let daemon = site.spawn(&args.bin)?;
    let pid = daemon.pid();
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    let done = acs.sessions().len();
    ended(&acs, done + 1).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    if let Some(fs) = &loopfs {
        fs.sync();
    }
    let io0 = write_bytes(&proc_dir);
    let dev0 = loopfs.as_ref().map(LoopFs::device_bytes);
    let t_first = SystemTime::now();
    ended(&acs, done + 1 + args.periodic).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t_last = SystemTime::now();
    if let Some(fs) = &loopfs {
        fs.sync();
    }
    let io = write_bytes(&proc_dir) - io0;
    let dev = loopfs
        .as_ref()
        .map(|fs| fs.device_bytes() - dev0.unwrap_or(0));
    let quiet = acs
        .sessions()
        .iter()
        .skip(done + 1)
        .take(args.periodic)
        .all(|s| s.event_codes() == ["2 PERIODIC"] && s.acs_calls.is_empty());
    ensure!(
        quiet,
        "the measured sessions were not all quiet periodic ones"
    );
    daemon.stop()?;
    // What the sessions journaled, read back once the daemon is gone.
    let (records, frame_bytes, commits) = journaled_between(&site.data_dir(), t_first, t_last)?;
    let n = args.periodic as f64;
    row(
        &mut rows,
        "write_bytes per quiet periodic session",
        format!("{:.0} B ({:.1} KiB)", io as f64 / n, io as f64 / n / 1024.0),
        format!(
            "{:.1} records, {:.0} B of frames, {:.1} commits per session",
            records as f64 / n,
            frame_bytes as f64 / n,
            commits as f64 / n
        ),
    );
    if let (Some(fs), Some(dev)) = (&loopfs, dev) {
        row(
            &mut rows,
            "device bytes per quiet periodic session (loop ext4)",
            format!(
                "{:.0} B ({:.1} KiB)",
                dev as f64 / n,
                dev as f64 / n / 1024.0
            ),
            "sectors written to the loop device, syncfs before and after (includes ext4's jbd2)",
        );
        let per_session = (frame_bytes as f64 / n).round() as usize;
        let per_commit = ((commits as f64 / n).round() as usize).max(1);
        for (label, writes) in [
            ("one commit", 1),
            ("as many commits as the journal", per_commit),
        ] {
            let (wb, db) = raw_baseline(fs, args.periodic, per_session, writes)?;
            row(
                &mut rows,
                &format!("baseline: raw write+fdatasync of the session's bytes, {label}"),
                format!(
                    "write_bytes {:.0} B, device {:.0} B",
                    wb as f64 / n,
                    db as f64 / n
                ),
                format!(
                    "{per_session} B per session in {writes} write(s) + fdatasync, same filesystem"
                ),
            );
        }
    }

    // ---- exec → first Inform, journal at its size bound ----
    // The full journal twice: as a clean stop leaves it (the journal's clean-close mark: the
    // release build skips its store check in a child) and as a crash leaves it (no mark: the
    // check runs, opening sled twice). `fill_journal` closes cleanly.
    let mut full_live = 0;
    for (label, full, crashed) in [
        ("empty journal", false, false),
        ("journal at its size bound, after a clean stop", true, false),
        ("journal at its size bound, after a crash", true, true),
    ] {
        let template = scratch
            .path()
            .join(if full { "tpl-full" } else { "tpl-empty" });
        std::fs::create_dir_all(template.join("data"))?;
        if full && full_live == 0 {
            full_live = fill_journal(&template.join("data"))?;
        }
        let live = if full { full_live } else { 0 };
        let as_left = |dir: &Path| -> anyhow::Result<()> {
            let mark = dir.join("data/journal/clean-close");
            ensure!(
                !full || mark.exists(),
                "the filled journal has no clean-close mark"
            );
            if crashed {
                std::fs::remove_file(mark)?;
            }
            Ok(())
        };
        let mut times = Vec::new();
        for i in 0..args.starts {
            let dir = scratch
                .path()
                .join(format!("start-{label}-{i}").replace([' ', ','], "-"));
            copy_dir(&template, &dir)?;
            as_left(&dir)?;
            let acs = self::acs().await?;
            let site = Site {
                dir,
                acs_url: acs.url(),
            };
            // A new boot: 1 BOOT is owed, so the agent informs at once.
            site.set_boot_id(&format!("boot-start-{i}"))?;
            site.write_config("1d")?;
            let spawned = SystemTime::now();
            let daemon = site.spawn(&args.bin)?;
            let first = acs
                .wait_for(WAIT, |s| !s.is_empty())
                .await
                .context("waiting for the first Inform")?;
            let _ = first;
            let inform_at = acs
                .exchanges()
                .iter()
                .find(|e| e.request_method.as_deref() == Some("Inform"))
                .map(|e| e.received_at)
                .ok_or_else(|| anyhow!("no Inform exchange"))?;
            times.push(ms_since_epoch(inform_at) - ms_since_epoch(spawned));
            drop(daemon);
            acs.shutdown().await;
        }
        times.sort_by(f64::total_cmp);
        if let (true, Some(fs)) = (full, &loopfs) {
            // What opening a full store writes (sled rewrites every free segment of its file on
            // each open, BENCHMARKS.md): `journal state` opens it as the daemon does — after a
            // crash the store check in a child, then the open — and folds it, without the
            // daemon's compaction.
            let dir = fs.mount.join("open-full");
            copy_dir(&template, &dir)?;
            as_left(&dir)?;
            fs.sync();
            let dev0 = fs.device_bytes();
            let ok = Command::new(&args.bin)
                .args(["journal", "state", "--data-dir"])
                .arg(dir.join("data"))
                .env_remove("RUST_LOG")
                .stdout(Stdio::null())
                .status()
                .context("running journal state")?
                .success();
            ensure!(ok, "journal state failed on the full journal");
            fs.sync();
            let written = fs.device_bytes() - dev0;
            let file = std::fs::metadata(dir.join("data/journal/db")).map_or(0, |m| m.len());
            row(
                &mut rows,
                &format!("device bytes to open the {label}"),
                format!("{written} B ({:.2} MiB)", written as f64 / 1048576.0),
                format!(
                    "`journal state`: {}open, fold; {live} B live records in a {file} B sled \
                     file; sectors written, syncfs before and after",
                    if crashed { "store check, " } else { "" }
                ),
            );
            std::fs::remove_dir_all(&dir)?;
        }
        row(
            &mut rows,
            &format!("exec → first Inform on the wire, {label}"),
            format!("{:.1} ms median", times[times.len() / 2]),
            format!(
                "{} starts, min {:.1} ms, max {:.1} ms{}",
                times.len(),
                times[0],
                times[times.len() - 1],
                if full {
                    format!("; {live} B live records, no snapshot")
                } else {
                    String::new()
                }
            ),
        );
    }

    acs.shutdown().await;
    drop(loopfs);
    println!();
    println!("| figure | value | how |");
    println!("|---|---|---|");
    for r in &rows {
        println!("| {} | {} | {} |", r.figure, r.value, r.note);
    }
    Ok(())
}

/// Starts `benches/stack-floor` against a one-reply HTTP server of its own and reads its
/// `VmRSS`, `RssAnon` and `RssFile` (kB) once its first session is over and it waits, as the
/// daemon's idle figure is read.
fn floor_idle_rss(bin: &Path, scratch: &Path) -> anyhow::Result<(u64, u64, u64)> {
    use std::io::{Read as _, Write as _};
    const REPLY: &str = "<soap-env:Envelope xmlns:soap-env=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap-env:Body><cwmp:InformResponse xmlns:cwmp=\"urn:dslforum-org:cwmp-1-0\"><MaxEnvelopes>1</MaxEnvelopes></cwmp:InformResponse></soap-env:Body></soap-env:Envelope>";
    let acs = std::net::TcpListener::bind("127.0.0.1:0")?;
    let acs_port = acs.local_addr()?.port();
    let (served_tx, served) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in acs.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            // Headers, then the body its Content-Length announces.
            while let Ok(n) = stream.read(&mut buf) {
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&request);
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if request.len() >= end + 4 + length {
                        break;
                    }
                }
            }
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{REPLY}",
                REPLY.len()
            );
            let _ = served_tx.send(());
        }
    });
    let listen_port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let dir = scratch.join("stack-floor");
    std::fs::create_dir_all(&dir)?;
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!("acs_url = \"http://127.0.0.1:{acs_port}/acs\"\nlisten_port = {listen_port}\n"),
    )?;
    let mut child = Command::new(bin)
        .arg(dir.join("data"))
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let outcome = served
        .recv_timeout(WAIT)
        .context("stack-floor's first session")
        .map(|()| {
            std::thread::sleep(Duration::from_secs(2));
            let status = PathBuf::from(format!("/proc/{}/status", child.id()));
            (
                proc_field(&status, "VmRSS").unwrap_or(0),
                proc_field(&status, "RssAnon").unwrap_or(0),
                proc_field(&status, "RssFile").unwrap_or(0),
            )
        });
    let _ = child.kill();
    let _ = child.wait();
    outcome
}

/// Records, frame bytes and commits (distinct commit times) journaled in `[from, to]`.
fn journaled_between(
    data: &Path,
    from: SystemTime,
    to: SystemTime,
) -> anyhow::Result<(u64, u64, u64)> {
    let (journal, _) = Journal::open(
        data.join("journal"),
        journal::Options::with_boot_id("footprint"),
    )?;
    let (from, to) = (ms_since_epoch(from) as u64, ms_since_epoch(to) as u64);
    let (mut records, mut bytes) = (0, 0);
    let mut times = std::collections::BTreeSet::new();
    for r in journal.iter_from(1) {
        let r = r?;
        if r.time_ms < from || r.time_ms > to {
            continue;
        }
        records += 1;
        // Key (8) + frame: version, tag, time, boot id length, boot id, payload length, payload, CRC.
        bytes += 8 + 20 + r.boot_id.len() as u64 + r.payload.len() as u64;
        times.insert(r.time_ms);
    }
    journal.close();
    Ok((records, bytes, times.len() as u64))
}

/// `sessions` × (`bytes` split in `writes` O_APPEND writes, each followed by fdatasync), on a
/// thread of its own so that `/proc/thread-self/io` counts only it. Returns (write_bytes, device
/// bytes).
fn raw_baseline(
    fs: &LoopFs,
    sessions: usize,
    bytes: usize,
    writes: usize,
) -> anyhow::Result<(u64, u64)> {
    use std::io::Write as _;
    let path = fs.mount.join(format!("raw-{writes}"));
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)?;
    file.sync_all()?;
    fs.sync();
    let dev0 = fs.device_bytes();
    let chunk = vec![0x5au8; bytes.div_ceil(writes)];
    let wb = std::thread::scope(|s| {
        s.spawn(|| -> anyhow::Result<u64> {
            let me = Path::new("/proc/thread-self");
            let w0 = write_bytes(me);
            for _ in 0..sessions {
                for _ in 0..writes {
                    file.write_all(&chunk)?;
                    file.sync_data()?;
                }
            }
            Ok(write_bytes(me) - w0)
        })
        .join()
        .map_err(|_| anyhow!("baseline thread panicked"))?
    })?;
    fs.sync();
    let dev = fs.device_bytes() - dev0;
    std::fs::remove_file(&path)?;
    Ok((wb, dev))
}

/// Fills a data directory's journal with quiet-session history up to just under its size bound
/// (the default 1 MiB of live records) without a snapshot; returns the live bytes.
fn fill_journal(data: &Path) -> anyhow::Result<u64> {
    let bound = journal::Options::default().max_live_bytes;
    let (journal, _) = Journal::open(
        data.join("journal"),
        journal::Options::with_boot_id("boot-0"),
    )?;
    let session = |i: u64| -> Vec<Record> {
        let id = format!("{i:016x}");
        let r = |k: Kind| Record { kind: Some(k) };
        vec![
            r(Kind::EventRaised(proto::EventRaised {
                code: "2 PERIODIC".into(),
                command_key: String::new(),
            })),
            r(Kind::SessionStarted(proto::SessionStarted {
                session_id: id.clone(),
                acs_url: "http://127.0.0.1:7547/acs".into(),
                retry_count: 0,
                event_codes: vec!["2 PERIODIC".into()],
            })),
            r(Kind::InformAcknowledged(proto::InformAcknowledged {
                session_id: id.clone(),
                delivered: vec![proto::EventRef {
                    code: "2 PERIODIC".into(),
                    command_key: String::new(),
                }],
            })),
            r(Kind::SessionEnded(proto::SessionEnded {
                session_id: id,
                outcome: proto::SessionOutcome::Succeeded as i32,
                reason: String::new(),
                retry_after_seconds: None,
                http_status: None,
                heartbeat: false,
            })),
        ]
    };
    let mut i = 0;
    let first = journal.append_blocking(session(i))?;
    i += 1;
    let per_session = first.live_bytes;
    let mut live = first.live_bytes;
    // Big batches first, then one session at a time up to the bound.
    while live + per_session <= bound {
        let room = (bound - live) / per_session;
        let n = (room / 2).clamp(1, 500);
        let batch: Vec<Record> = (0..n).flat_map(|k| session(i + k)).collect();
        i += n;
        let ack = journal.append_blocking(batch)?;
        ensure!(!ack.needs_snapshot, "overshot the bound");
        live = ack.live_bytes;
    }
    journal.close();
    Ok(live)
}

fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    let ok = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()?
        .success();
    ensure!(ok, "cp -a {} {}", from.display(), to.display());
    Ok(())
}
