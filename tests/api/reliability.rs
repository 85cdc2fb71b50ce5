//! Hostile or unlucky clients: oversized frames and bodies, connections
//! that never read or never close, floods of registrations, a store that
//! goes away. Each bound holds without the server's memory or file
//! descriptors growing.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::MaybeTlsStream;

use crate::helpers::{ServerProcess, TestApp};

/// The resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// A masked client frame header announcing `length` bytes of text.
fn text_frame_header(length: u64) -> Vec<u8> {
    let mut header = vec![0x81, 0x80 | 127];
    header.extend_from_slice(&length.to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4]); // mask
    header
}

#[actix_web::test]
async fn a_frame_announcing_more_than_the_limit_is_refused_before_it_is_buffered() {
    let temp = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&temp.path().join("data"), &temp.path().join("uploads"), 0);
    let address = server.address.trim_start_matches("http://").to_owned();
    let before = rss_kib(server.child.id());

    let mut clients = Vec::new();
    for _ in 0..3 {
        let (socket, _) = tokio_tungstenite::connect_async(format!("ws://{address}/ws/chat")).await.unwrap();
        clients.push(socket);
    }
    let chunk = vec![b'x'; 1 << 20];
    for socket in &mut clients {
        let MaybeTlsStream::Plain(tcp) = socket.get_mut() else { panic!("plain TCP") };
        tcp.write_all(&text_frame_header(256 << 20)).await.unwrap();
        // Keep sending payload; the server must not keep it.
        for _ in 0..24 {
            if tcp.write_all(&chunk).await.is_err() {
                break;
            }
        }
    }
    let peak = rss_kib(server.child.id());
    for socket in &mut clients {
        let code = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(message) = socket.next().await {
                match message {
                    Ok(Message::Close(frame)) => return frame.map(|frame| frame.code),
                    Ok(_) => continue,
                    Err(_) => return None,
                }
            }
            None
        })
        .await
        .unwrap_or(None);
        assert!(
            matches!(code, Some(CloseCode::Size) | None),
            "closed as too big (1009), or reset: {code:?}"
        );
    }
    let grown = peak.saturating_sub(before);
    assert!(grown < 16 * 1024, "RSS grew {grown} KiB for 3 oversized frames (72 MiB sent)");
}
