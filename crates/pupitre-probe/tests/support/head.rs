//! Test servers' side of HTTP: reading a request head.

use tokio::io::{AsyncRead, AsyncReadExt};

/// Reads up to the blank line that ends a request head; `None` when the client closes first.
/// Returns the head and the path of its request line.
pub async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> Option<(String, String)> {
    let mut head = Vec::new();
    let mut chunk = [0; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk).await {
            Ok(read @ 1..) => head.extend_from_slice(&chunk[..read]),
            _ => return None,
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let path = head.split(' ').nth(1).unwrap_or("/").to_owned();
    Some((head, path))
}
