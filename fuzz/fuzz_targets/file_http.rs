//! A file server's answers to the transfer engine's GETs (200 or 206 with Content-Range, 416,
//! redirects, chunked bodies, Content-Length lies), read by the real `transfer::fetch` over
//! in-memory connections (the `Dialer` seam replaces DNS and TCP, nothing above them) into a
//! file that may already hold the beginning (a resume with Range). Input: a first byte choosing
//! the FileSize and how much of the file is already there, then the answers separated by a line
//! `=====`. Never a panic; a completed download is exactly what is on disk (size, SHA-256) and
//! matches a known FileSize.
#![no_main]

#[path = "support/scripted_server.rs"]
mod scripted_server;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use tokio::runtime::Runtime;
use tr069_client::http::{Dialer, TlsSettings};
use tr069_client::transfer::{FetchRequest, fetch};

struct Harness {
    rt: Runtime,
    dialer: Dialer,
    script: scripted_server::Script,
    dir: PathBuf,
    _tmp: tempfile::TempDir,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        // Time is paused and moves on whenever every task waits for a timer (as in acs_http,
        // where inputs that waited out the connect timeout slept 200–400 ms each): an answer
        // that stalls the download until its 2 s idle timeout is decided at once instead of
        // passing libFuzzer's 1 s limit as a false timeout. The engine's blocking file I/O
        // holds the clock still while it runs. (This target's own speed did not change: 1,177
        // vs 1,102 exec/s over one minute each on the same corpus, FUZZING.md.)
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("runtime");
        let script: scripted_server::Script = Arc::new(Mutex::new(Default::default()));
        let dialer = Dialer::new(scripted_server::ScriptedServer {
            script: script.clone(),
        });
        // tmpfs when there is one: the engine fsyncs what it writes.
        let base = if std::path::Path::new("/dev/shm").is_dir() {
            tempfile::tempdir_in("/dev/shm")
        } else {
            tempfile::tempdir()
        };
        let tmp = base.expect("temp dir");
        Harness {
            rt,
            dialer,
            script,
            dir: tmp.path().to_path_buf(),
            _tmp: tmp,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&choice, rest)) = data.split_first() else {
        return;
    };
    let h = harness();
    *h.script.lock().unwrap_or_else(|e| e.into_inner()) = scripted_server::answers(rest);
    let expected_size = [0u64, 5, 10, 16, 100, 1000, 4096, 65_536][usize::from(choice & 7)];
    let already = [0usize, 0, 1, 5, 10, 16, 100, 2000][usize::from((choice >> 3) & 7)];
    let dest = h.dir.join("image.bin");
    std::fs::write(&dest, vec![b'a'; already]).expect("preparing the partial file");
    let req = FetchRequest {
        url: "http://files.test/fw.bin".into(),
        username: if choice & 0x40 != 0 {
            "fw".into()
        } else {
            String::new()
        },
        password: "pw".into(),
        expected_size,
        tls: TlsSettings::default(),
        connect_timeout: Duration::from_millis(200),
        idle_timeout: Duration::from_secs(2),
        dialer: h.dialer.clone(),
    };
    let result = h.rt.block_on(async {
        let mut progress = |_: u64, _: Option<u64>| {};
        tokio::time::timeout(Duration::from_secs(20), fetch(&req, &dest, &mut progress)).await
    });
    let result = result.expect("a fetch from a server that closes every connection ended");
    match result {
        Ok(fetched) => {
            let bytes = std::fs::read(&dest).expect("reading the download");
            assert_eq!(fetched.size, bytes.len() as u64);
            if expected_size > 0 {
                assert_eq!(fetched.size, expected_size, "FileSize not enforced");
            }
            use sha2_check::sha256_hex;
            assert_eq!(fetched.sha256, sha256_hex(&bytes));
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});

mod sha2_check {
    pub fn sha256_hex(bytes: &[u8]) -> String {
        use sha2::Digest as _;
        sha2::Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}
