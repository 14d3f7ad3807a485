//! The ACS's HTTP answers (status line, headers, chunked or sized bodies, Set-Cookie,
//! WWW-Authenticate, Location, Retry-After), as the agent's real session client
//! (`SessionConnection`: hyper, the Digest/Basic client, the cookie jar, redirects, the size
//! limit) reads them over in-memory connections (the `Dialer` seam replaces DNS and TCP,
//! nothing above them). Input: the answers, separated by a line `=====`; each connection gets
//! one. Never a panic; an accepted answer is a 2xx within the size limit; redirects stay
//! bounded.
#![no_main]

#[path = "support/scripted_server.rs"]
mod scripted_server;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use tokio::runtime::Runtime;
use tr069_client::http::{Dialer, MAX_REDIRECTS, SessionConnection, TransportConfig};

const LIMIT: usize = 64 * 1024;

struct Harness {
    rt: Runtime,
    dialer: Dialer,
    script: scripted_server::Script,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        // Time is paused and moves on whenever every task waits for a timer: an answer that
        // makes the client wait out a timeout (a TLS handshake with a plain-text server waits
        // for the connect timeout) costs no wall-clock time. With the real clock such inputs
        // took 200–400 ms each and the target slept most of the time (22 % of a CPU over
        // 2 × 10⁶ executions, FUZZING.md).
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("runtime");
        let script: scripted_server::Script = Arc::new(Mutex::new(Default::default()));
        let dialer = Dialer::new(scripted_server::ScriptedServer {
            script: script.clone(),
        });
        Harness { rt, dialer, script }
    })
}

fuzz_target!(|data: &[u8]| {
    let h = harness();
    *h.script.lock().unwrap_or_else(|e| e.into_inner()) = scripted_server::answers(data);
    let mut config =
        TransportConfig::new("http://acs.test:7547/acs").with_credentials("cpe", "secret");
    config.dialer = h.dialer.clone();
    config.connect_timeout = Duration::from_millis(200);
    config.request_timeout = Duration::from_secs(2);
    config.max_response_bytes = LIMIT;
    h.rt.block_on(async {
        let Ok(mut session) = SessionConnection::open(&config).await else {
            return;
        };
        for (i, body) in [
            Some(&b"<Inform/>"[..]),
            None,
            Some(&b"<TransferComplete/>"[..]),
        ]
        .into_iter()
        .enumerate()
        {
            let result = session
                .post(body.map(bytes::Bytes::from_static), i == 0)
                .await;
            assert!(session.redirect_count() <= MAX_REDIRECTS + 1);
            match result {
                Ok(reply) => {
                    assert!((200..300).contains(&reply.status), "{}", reply.status);
                    assert!(reply.body.len() <= LIMIT);
                }
                Err(e) => {
                    assert!(!e.to_string().is_empty());
                    break;
                }
            }
        }
        session.close().await;
    });
});
