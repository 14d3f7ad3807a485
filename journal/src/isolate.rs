//! Steps that may make sled panic, run so that the panic is an answer — "this store is damaged" —
//! whatever the build's panic strategy.
//!
//! sled panics on some damaged stores (the main crate's `tests/damaged_stores.rs` keeps such
//! stores). A build that unwinds catches the panic in-process (`catch_unwind` in `open.rs`). A
//! build with `panic = "abort"` (the release profile: 0.69 MB less flash) cannot: there
//! `open.rs` runs the step first in a forked child, [`in_child`], and decides from what the child
//! reported.
//!
//! The rule that keeps a good store from being set aside: only a panic the child *reported* — its
//! panic hook wrote the message down the pipe before the process died — counts as damage. A child
//! that could not be forked, was killed (the OOM killer, a supervisor's SIGKILL; a power cut takes
//! the parent with it, and the next start probes again), or ended any other way without a complete
//! report is an error of the environment: `Journal::open` fails and changes nothing, like an I/O
//! error.
//!
//! `open.rs` skips the check after a clean close (its `take_clean_close`): the check opens sled a
//! second time, and each open of sled 0.34.7 rewrites every free segment of its file.
//!
//! A fork is only safe while sled has not run in this process: sled's I/O thread pool is global,
//! and a child would inherit the pool's bookkeeping without its threads (and wait forever for
//! them). [`sled_started`] records the first in-process use; after it, `open.rs` runs steps
//! in-process (a panic then aborts the process, and the next start's child sees it first).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

/// Set once sled has been opened in this process (see the module docs).
static SLED_STARTED: AtomicBool = AtomicBool::new(false);

/// Records that sled runs in this process from now on.
pub(crate) fn mark_sled_started() {
    SLED_STARTED.store(true, Ordering::SeqCst);
}

/// Whether sled has run in this process, so that forking a child to run it is no longer safe.
pub(crate) fn sled_started() -> bool {
    SLED_STARTED.load(Ordering::SeqCst)
}

/// What a child run reported.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ChildRun {
    /// The data messages the step sent, in order (all of them, or those before the panic).
    pub(crate) data: Vec<Vec<u8>>,
    /// `Some(message)` when the step panicked; `None` when it returned.
    pub(crate) panicked: Option<String>,
}

/// The writing end a step running in the child sends its data messages through.
pub(crate) struct ChildOut {
    fd: i32,
}

impl ChildOut {
    /// Sends one message; the parent reads them back in order in [`ChildRun::data`].
    pub(crate) fn send(&mut self, bytes: &[u8]) {
        write_message(self.fd, DATA, bytes);
    }
}

const DATA: u8 = b'D';
const PANIC: u8 = b'P';
const DONE: u8 = b'E';

/// Why a child run gave no verdict. Never a reason to touch the store.
#[derive(Debug)]
pub(crate) struct NoVerdict(pub(crate) String);

/// Where the child's panic report goes: the pipe's writing end in a child, -1 everywhere else.
static REPORT_FD: AtomicI32 = AtomicI32::new(-1);
static REPORTING_HOOK: Once = Once::new();

/// Installs, once and in the parent, the panic hook a child reports its panic through.
///
/// A child is a copy of one thread of a process whose other threads may have held a lock at the
/// fork, and it would wait for that lock forever (a rehearsal's test child hung so: another
/// test's panic held the hook's lock, which `take_hook` in the child wanted). So the child takes
/// none of std's panic locks itself: the hook is set here, in the parent; the child only stores
/// its pipe in an atomic; and in the child the hook writes the report and the operator's
/// "panicked at" line with plain `write(2)` calls instead of calling the previous hook, which
/// locks stderr and the backtrace printer. A program that replaces the panic hook after its
/// first journal open removes this one: a child's panic then goes unreported, which the parent
/// reads as no verdict (the open fails, the store is left as it is), never as damage.
fn install_reporting_hook() {
    REPORTING_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let fd = REPORT_FD.load(Ordering::SeqCst);
            if fd < 0 {
                previous(info);
                return;
            }
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            write_message(fd, PANIC, message.as_bytes());
            let location = info
                .location()
                .map(|l| format!(" at {}:{}:{}", l.file(), l.line(), l.column()))
                .unwrap_or_default();
            let line = format!("the journal's store check panicked{location}:\n{message}\n");
            write_all(libc::STDERR_FILENO, line.as_bytes());
        }));
    });
}

/// Runs `step` in a forked child and reports what it sent and whether it panicked.
///
/// The caller must not have started sled in this process ([`sled_started`]). The child never
/// returns into the caller's code: it ends with `_exit` (0 after the step, 101 after a caught
/// panic in an unwinding build) or with the abort a panic means under `panic = "abort"`.
pub(crate) fn in_child(step: impl FnOnce(&mut ChildOut)) -> Result<ChildRun, NoVerdict> {
    install_reporting_hook();
    let (read, write) = pipe().map_err(|e| NoVerdict(format!("no pipe for the check: {e}")))?;
    // SAFETY: fork(2) has no memory-safety preconditions; the child only runs `step` (sled and
    // this crate; glibc makes malloc usable after fork) and leaves with `_exit`.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(NoVerdict(format!(
            "could not fork the check: {}",
            std::io::Error::last_os_error()
        )));
    }
    if pid == 0 {
        drop(read);
        let fd = write.as_raw_fd();
        close_inherited(fd);
        REPORT_FD.store(fd, Ordering::SeqCst);
        let mut out = ChildOut { fd };
        let code = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| step(&mut out))) {
            Ok(()) => {
                write_message(fd, DONE, &[]);
                0
            }
            Err(_) => 101,
        };
        // SAFETY: ends the child without running the parent's atexit handlers or flushing
        // stdio buffers copied from it.
        unsafe { libc::_exit(code) }
    }
    drop(write);
    let mut bytes = Vec::new();
    let read_result = {
        use std::io::Read as _;
        std::fs::File::from(read).read_to_end(&mut bytes)
    };
    let status = wait(pid).map_err(|e| NoVerdict(format!("waiting for the check: {e}")))?;
    read_result.map_err(|e| NoVerdict(format!("reading the check's report: {e}")))?;
    let messages = parse_messages(&bytes).ok_or_else(|| {
        NoVerdict(format!(
            "the check's report was cut short ({})",
            describe(status)
        ))
    })?;
    let mut data = Vec::new();
    let mut verdict = None;
    for (kind, body) in messages {
        match (kind, &verdict) {
            (DATA, None) => data.push(body),
            (PANIC, None) => {
                verdict = Some(Some(String::from_utf8_lossy(&body).into_owned()));
            }
            (DONE, None) => verdict = Some(None),
            _ => return Err(NoVerdict("the check's report is malformed".into())),
        }
    }
    let exited = libc::WIFEXITED(status);
    let code = libc::WEXITSTATUS(status);
    let aborted = libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGABRT;
    match verdict {
        Some(None) if exited && code == 0 => Ok(ChildRun {
            data,
            panicked: None,
        }),
        Some(Some(message)) if aborted || (exited && code == 101) => Ok(ChildRun {
            data,
            panicked: Some(message),
        }),
        _ => Err(NoVerdict(format!(
            "the check ended without a verdict ({})",
            describe(status)
        ))),
    }
}

/// Closes every descriptor the child inherited but stdio and the report pipe: a child holding a
/// copy would keep the parent's locks (the journal's `flock`), sockets and files open after the
/// parent let go of them.
fn close_inherited(keep: i32) {
    let close_range = |first: u32, last: u32| {
        // SAFETY: close_range(2) only closes descriptors; none of them is used by the child.
        unsafe { libc::syscall(libc::SYS_close_range, first, last, 0) == 0 }
    };
    let keep = keep as u32;
    let done = (keep <= 3 || close_range(3, keep - 1)) && close_range(keep + 1, u32::MAX);
    if !done {
        // Kernels before 5.9: the usual descriptor range.
        for fd in (3..1024).filter(|&fd| fd != keep as i32) {
            // SAFETY: as above.
            unsafe { libc::close(fd) };
        }
    }
}

fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0i32; 2];
    // SAFETY: `fds` is a valid array of two ints. O_CLOEXEC: a child another thread spawns must
    // not keep the write end open, or the read below would wait for that child too.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: pipe2 returned two new descriptors that nothing else owns.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn wait(pid: libc::pid_t) -> std::io::Result<i32> {
    let mut status = 0;
    loop {
        // SAFETY: waits for our own child; `status` is a valid int.
        if unsafe { libc::waitpid(pid, &mut status, 0) } == pid {
            return Ok(status);
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

fn describe(status: i32) -> String {
    if libc::WIFSIGNALED(status) {
        format!("killed by signal {}", libc::WTERMSIG(status))
    } else {
        format!("exit status {}", libc::WEXITSTATUS(status))
    }
}

/// One message: kind, length (u32 big-endian), body. Written with plain `write(2)` calls: the
/// panic hook may run anywhere in the child.
fn write_message(fd: i32, kind: u8, body: &[u8]) {
    let len = u32::try_from(body.len()).unwrap_or(u32::MAX);
    let mut head = [0u8; 5];
    head[0] = kind;
    head[1..].copy_from_slice(&len.to_be_bytes());
    write_all(fd, &head);
    write_all(fd, &body[..len as usize]);
}

fn write_all(fd: i32, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: writes from a valid slice to a descriptor this process owns.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            // The parent is gone or the pipe broke: it will see no verdict and change nothing.
            return;
        }
        bytes = &bytes[n as usize..];
    }
}

fn parse_messages(mut bytes: &[u8]) -> Option<Vec<(u8, Vec<u8>)>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let head = bytes.get(..5)?;
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        let body = bytes.get(5..5 + len)?;
        out.push((head[0], body.to_vec()));
        bytes = &bytes[5 + len..];
    }
    Some(out)
}

/// Taken by the tests that fork and by those a fork would disturb. A forked child holds copies
/// of every descriptor of the process until it closes them, the `flock`s on them included: a
/// test that drops a locked file and opens it again (`hwm`'s) found it still locked when another
/// test's child had copied it, and failed.
#[cfg(test)]
pub(crate) fn serialize_with_forks() -> std::sync::MutexGuard<'static, ()> {
    static FORKS: std::sync::Mutex<()> = std::sync::Mutex::new(());
    FORKS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_that_returns_reports_its_data() {
        let _forks = serialize_with_forks();
        let run = in_child(|out| {
            out.send(b"one");
            out.send(b"");
            out.send(&[7u8; 100_000]);
        })
        .unwrap();
        assert_eq!(run.panicked, None);
        assert_eq!(
            run.data,
            vec![b"one".to_vec(), Vec::new(), vec![7u8; 100_000]]
        );
    }

    #[test]
    fn a_step_that_panics_reports_the_message_and_the_data_before_it() {
        let _forks = serialize_with_forks();
        let run = in_child(|out| {
            out.send(b"opened");
            panic!("node is corrupt");
        })
        .unwrap();
        assert_eq!(run.panicked.as_deref(), Some("node is corrupt"));
        assert_eq!(run.data, vec![b"opened".to_vec()]);
    }

    /// A child killed from outside (here by itself, as the OOM killer would) is no verdict: the
    /// store must not be set aside for it.
    #[test]
    fn a_killed_child_gives_no_verdict() {
        let _forks = serialize_with_forks();
        let e = in_child(|out| {
            out.send(b"opened");
            // SAFETY: the child signals itself.
            unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
        })
        .unwrap_err();
        assert!(e.0.contains("signal 9"), "{}", e.0);
    }

    #[test]
    fn a_child_that_exits_early_gives_no_verdict() {
        let _forks = serialize_with_forks();
        // SAFETY: ends the child at once, as a crash in the step would.
        let e = in_child(|_| unsafe { libc::_exit(3) }).unwrap_err();
        assert!(e.0.contains("exit status 3"), "{}", e.0);
    }

    #[test]
    fn a_torn_report_is_refused() {
        assert_eq!(parse_messages(b"D\0\0\0\x05abc"), None);
        assert_eq!(
            parse_messages(b"D\0\0\0\x01aE\0\0\0\0"),
            Some(vec![(b'D', b"a".to_vec()), (b'E', Vec::new())])
        );
    }
}
