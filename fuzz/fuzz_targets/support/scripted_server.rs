//! A loopback HTTP "server" that answers each request it reads with the next answer of a
//! script, byte for byte, then closes that connection. The agent's client dials TCP itself
//! (DNS, connect, TLS), so the fuzz targets give it a real socket rather than adding a seam to
//! the product; everything runs on one current-thread runtime, so an execution is
//! deterministic.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The answers still to give, shared with the accept loop.
pub type Script = Arc<Mutex<VecDeque<Vec<u8>>>>;

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

/// Binds 127.0.0.1:0 and serves `script` forever (call inside the runtime).
pub async fn start(script: Script) -> SocketAddr {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("binding the scripted server");
    let addr = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let script = script.clone();
            tokio::spawn(serve(stream, script));
        }
    });
    addr
}

async fn serve(mut stream: TcpStream, script: Script) {
    let _ = stream.set_nodelay(true);
    // Read the request head and its announced body, so that closing never resets the
    // connection under the client's feet (unread data makes the kernel send RST).
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
    // Wait for the client to close its side, so our close sends no reset either.
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while matches!(stream.read(&mut chunk).await, Ok(n) if n > 0) {}
    })
    .await;
}
