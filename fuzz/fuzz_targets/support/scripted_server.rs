//! An HTTP "server" that answers each request it reads with the next answer of a script, byte
//! for byte, then closes that connection. It sits behind a `Dial` (the agent's seam for opening
//! connections), so the agent's client runs its real connection code (TLS when the URL says
//! https, hyper, keep-alive, reconnects) over in-memory pipes instead of loopback sockets: no
//! DNS, no TCP, tens of times more executions per second. Everything runs on one current-thread
//! runtime, so an execution is deterministic.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tr069_client::http::{ConnectInfo, Dial, DialFuture, Dialed, SocketOptions, Target};

/// The answers still to give, shared with the connections.
pub type Script = Arc<Mutex<VecDeque<Vec<u8>>>>;

/// Bytes each direction of a pipe holds before the writer waits for the reader.
const PIPE_BYTES: usize = 64 * 1024;

/// Splits fuzz input into answers at a line holding only `=====`.
pub fn answers(data: &[u8]) -> VecDeque<Vec<u8>> {
    const SEP: &[u8] = b"\r\n=====\r\n";
    let mut out = VecDeque::new();
    let mut rest = data;
    while let Some(i) = rest.windows(SEP.len()).position(|w| w == SEP) {
        out.push_back(rest[..i].to_vec());
        rest = &rest[i + SEP.len()..];
    }
    out.push_back(rest.to_vec());
    out
}

/// Hands out one in-memory connection per dial, whatever the target, each served with the
/// script's next answer (call inside the runtime: it spawns the serving task).
pub struct ScriptedServer {
    pub script: Script,
}

impl Dial for ScriptedServer {
    fn dial<'a>(&'a self, target: &'a Target, _options: &'a SocketOptions) -> DialFuture<'a> {
        let (client, server) = tokio::io::duplex(PIPE_BYTES);
        tokio::spawn(serve(server, self.script.clone()));
        let remote = SocketAddr::from((Ipv4Addr::new(192, 0, 2, 1), target.port));
        Box::pin(async move {
            Ok(Dialed {
                stream: Box::new(client),
                info: ConnectInfo {
                    tcp_open_request: SystemTime::UNIX_EPOCH,
                    tcp_open_response: SystemTime::UNIX_EPOCH,
                    local: SocketAddr::from((Ipv4Addr::new(192, 0, 2, 2), 40000)),
                    remote,
                },
            })
        })
    }
}

async fn serve(mut stream: DuplexStream, script: Script) {
    // Read the request head and its announced body before answering, as a server would.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let read_request = async {
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                if buf.len() >= end + 4 + length {
                    return true;
                }
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    };
    match tokio::time::timeout(Duration::from_secs(2), read_request).await {
        Ok(true) => {}
        _ => return,
    }
    let answer = script.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
    if let Some(answer) = answer {
        let _ = stream.write_all(&answer).await;
    }
    let _ = stream.shutdown().await;
    // Keep reading until the client closes its side, as a TCP server's socket would (what the
    // client still sends is not refused).
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while matches!(stream.read(&mut chunk).await, Ok(n) if n > 0) {}
    })
    .await;
}
