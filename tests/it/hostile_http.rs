//! Hostile HTTP clients against the real binary: oversized headers, URLs and bodies,
//! slow clients trickling their requests, and a flood of Wasm uploads. The promise: each
//! is answered with a fitting 4xx (never a 5xx, never a crash), nobody else waits on
//! them, and memory stays bounded.
//!
//! Requests are written on raw TCP sockets where an HTTP client library would refuse to
//! send them (huge headers, lying `Content-Length`, one byte at a time). Latencies and
//! memory figures are printed for `docs/reliability.md`; the assertions are only about
//! outcomes a user would notice, with generous bounds.

use std::time::{Duration, Instant};

use erp_sync_guest_artifacts as guests;
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::invoice;
use crate::support::process::{Serve, call, http, tenant_create};

/// Writes `request` on a fresh connection and answers the status code of the reply, or
/// 0 when the server closed the connection without a status line.
async fn raw(base: &str, request: &[u8]) -> u16 {
    let addr = base.trim_start_matches("http://");
    let mut socket = TcpStream::connect(addr).await.expect("connects");
    // The server may answer (and close) before reading everything: ignore write errors.
    let _ = socket.write_all(request).await;
    let mut reply = Vec::new();
    let mut chunk = [0u8; 1024];
    let read = async {
        while !reply.windows(2).any(|w| w == b"\r\n") {
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => reply.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .expect("the server answers or closes within 20 s");
    let line = String::from_utf8_lossy(&reply);
    line.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// The resident memory of a process, in KiB, from `/proc`.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmRSS line")
}

#[tokio::test]
async fn oversized_headers_urls_and_bodies_are_4xx_never_5xx() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (_, key) = tenant_create(dir.path(), "t").await;
    let server = Serve::start(dir.path(), &["--max-component-bytes", "2097152"]).await;
    let auth = format!("Authorization: Bearer {key}\r\n");
    let big_header = format!("X-Big: {}\r\n", "a".repeat(100 << 10));
    let huge_header = format!("X-Huge: {}\r\n", "a".repeat(2 << 20));
    let many_headers: String = (0..500).map(|i| format!("X-H{i}: v\r\n")).collect();
    let long_url = format!("/v1/invoices/{}", "i".repeat(200 << 10));
    let chunked_body = {
        let chunk = format!("{:x}\r\n{}\r\n", 64 << 10, "x".repeat(64 << 10));
        chunk.repeat(40) + "0\r\n\r\n" // 2.5 MiB, over the 1 MiB body limit
    };
    let post = |path: &str, extra: &str, body: &str| {
        format!("POST {path} HTTP/1.1\r\nHost: t\r\n{auth}{extra}\r\n{body}").into_bytes()
    };
    let cases: Vec<(&str, Vec<u8>, &[u16])> = vec![
        (
            "a 100 KiB header (within hyper's buffer, so served)",
            format!("GET /healthz HTTP/1.1\r\nHost: t\r\n{big_header}\r\n").into_bytes(),
            &[200, 431],
        ),
        (
            "a 2 MiB header",
            format!("GET /healthz HTTP/1.1\r\nHost: t\r\n{huge_header}\r\n").into_bytes(),
            &[431],
        ),
        (
            "500 headers",
            format!("GET /healthz HTTP/1.1\r\nHost: t\r\n{many_headers}\r\n").into_bytes(),
            &[431],
        ),
        (
            "a 200 KiB URL",
            format!("GET {long_url} HTTP/1.1\r\nHost: t\r\n{auth}\r\n").into_bytes(),
            &[414, 431],
        ),
        (
            "a Content-Length of 10 GB, 2 MiB of it sent",
            post(
                "/v1/invoices",
                "Content-Length: 10000000000\r\n",
                &"x".repeat(2 << 20),
            ),
            &[413],
        ),
        (
            "a 2.5 MiB chunked invoice",
            post(
                "/v1/invoices",
                "Transfer-Encoding: chunked\r\n",
                &chunked_body,
            ),
            &[413],
        ),
        (
            "a 2.5 MiB chunked connection",
            post(
                "/v1/connections",
                "Transfer-Encoding: chunked\r\n",
                &chunked_body,
            ),
            &[413],
        ),
        (
            "a 2.5 MiB chunked upload over a 2 MiB component limit",
            post(
                "/v1/transforms?world=webhook-transform",
                "Transfer-Encoding: chunked\r\n",
                &chunked_body,
            ),
            &[413],
        ),
        (
            "a 3 MiB upload declared up front",
            post(
                "/v1/transforms?world=webhook-transform",
                "Content-Length: 3145728\r\n",
                &"\0".repeat(3 << 20),
            ),
            &[413],
        ),
        (
            "a malformed request line",
            b"GARBAGE\r\n\r\n".to_vec(),
            &[400],
        ),
        (
            "a bad chunk size",
            post(
                "/v1/invoices",
                "Transfer-Encoding: chunked\r\n",
                "zz\r\nxx\r\n0\r\n\r\n",
            ),
            &[400],
        ),
    ];
    for (what, request, expected) in &cases {
        let status = raw(&server.base, request).await;
        eprintln!("hostile http: {what} -> {status}");
        assert!(
            expected.contains(&status),
            "{what}: answered {status}, expected one of {expected:?}"
        );
    }
    // Still serving, and nothing was stored.
    let client = http();
    let (status, _) = call(&client, &server.base, &key, "GET", "/healthz", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, log) = call(&client, &server.base, &key, "GET", "/v1/sync-log", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(log["entries"].as_array().map(Vec::len), Some(0), "{log}");
    assert!(!server.stderr().contains("panicked"), "{}", server.stderr());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_do_not_hold_up_anyone_else() {
    const SLOW: usize = 200;
    let dir = tempfile::tempdir().expect("a temp dir");
    let (_, key) = tenant_create(dir.path(), "t").await;
    let server = Serve::start(dir.path(), &[]).await;
    let addr = server.base.trim_start_matches("http://").to_string();

    // Half trickle their headers, half a declared 5,000-byte body, one byte every 200 ms.
    let mut slow = Vec::new();
    for i in 0..SLOW {
        let addr = addr.clone();
        let head = if i % 2 == 0 {
            "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: ".to_string()
        } else {
            format!(
                "POST /v1/invoices HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {key}\r\n\
                 Content-Length: 5000\r\n\r\n"
            )
        };
        slow.push(tokio::spawn(async move {
            let mut socket = TcpStream::connect(&addr).await.expect("connects");
            socket.write_all(head.as_bytes()).await.expect("writes");
            let started = Instant::now();
            // Trickle until the server drops us or 8 s pass.
            while started.elapsed() < Duration::from_secs(8) {
                if socket.write_all(b"x").await.is_err() {
                    return Some(started.elapsed());
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            None
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Meanwhile, ordinary clients are served.
    let client = http();
    let mut worst = Duration::ZERO;
    for i in 0..100 {
        let started = Instant::now();
        let (status, body) = call(
            &client,
            &server.base,
            &key,
            "POST",
            "/v1/invoices",
            Some(&invoice(&format!("inv_beside_slow_{i}"))),
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        let (status, _) = call(&client, &server.base, &key, "GET", "/healthz", None).await;
        assert_eq!(status, StatusCode::OK);
        worst = worst.max(started.elapsed());
    }
    let mut dropped = Vec::new();
    for s in slow {
        if let Some(after) = s.await.expect("a slow client") {
            dropped.push(after);
        }
    }
    eprintln!(
        "hostile http: {SLOW} slow clients; 100 ingests + 100 health checks beside them, worst pair {worst:?}; \
         the server dropped {} of the slow clients within 8 s",
        dropped.len()
    );
    assert!(
        worst < Duration::from_secs(10),
        "ordinary requests waited {worst:?} behind slow clients"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_wasm_uploads_holds_the_limits_and_bounded_memory() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (_, key) = tenant_create(dir.path(), "t").await;
    let server = Serve::start(dir.path(), &["--max-component-bytes", "2097152"]).await;
    let pid = server.pid();
    // No connection reuse: a 413 closes its connection before the body was read, which
    // would otherwise fail the next request sent on it.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let (status, _) = call(&client, &server.base, &key, "GET", "/healthz", None).await;
    assert_eq!(status, StatusCode::OK);
    // The component is uploaded once before the flood, as a customer would: compiling it
    // takes seconds in a debug build, and concurrent first uploads of one component each
    // compile it (see docs/reliability.md), which is not what this test is about.
    let valid = std::fs::read(guests::HOSTILE).expect("a built guest");
    let first = client
        .post(format!(
            "{}/v1/transforms?world=webhook-transform&name=flood",
            server.base
        ))
        .bearer_auth(&key)
        .body(valid.clone())
        .send()
        .await
        .expect("the first upload is answered");
    assert_eq!(first.status(), StatusCode::CREATED);
    let before = rss_kib(pid);

    let junk: Vec<u8> = (0..(1 << 20))
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut truncated = valid.clone();
    truncated.truncate(valid.len() / 2);
    let oversized = vec![0u8; 3 << 20];
    // (bytes, world, expected status): the valid component again (200, a duplicate),
    // junk, a truncated component, one over the size limit, a wrong world.
    let kinds: Vec<(Vec<u8>, &str, &[u16])> = vec![
        (valid.clone(), "webhook-transform", &[200]),
        (junk, "webhook-transform", &[422]),
        (truncated, "webhook-transform", &[422]),
        (oversized, "webhook-transform", &[413]),
        (valid, "invoice-tweak", &[422]),
    ];
    const UPLOADS: usize = 250;
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(before));
    let sampler = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                if let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
                    let _ = s; // the process may be gone at the end
                    peak.fetch_max(rss_kib(pid), std::sync::atomic::Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        })
    };
    let started = Instant::now();
    let kinds = std::sync::Arc::new(kinds);
    let mut tasks = Vec::new();
    for lane in 0..16 {
        let (client, base, key, kinds) = (
            client.clone(),
            server.base.clone(),
            key.clone(),
            kinds.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            for i in (lane..UPLOADS).step_by(16) {
                let (bytes, world, expected) = &kinds[i % kinds.len()];
                let answer = client
                    .post(format!("{base}/v1/transforms?world={world}&name=flood"))
                    .bearer_auth(&key)
                    .body(bytes.clone())
                    .send()
                    .await;
                // An over-limit body may be answered 413 and the connection closed before
                // the client finished sending; that refusal shows as a send error.
                let status = match answer {
                    Ok(a) => a.status().as_u16(),
                    Err(e) if expected.contains(&413) && !e.is_timeout() => 413,
                    Err(e) => panic!("upload {i} got no answer: {e:?}"),
                };
                answers.push((i, status, *expected));
            }
            answers
        }));
    }
    let mut counts = std::collections::BTreeMap::<u16, usize>::new();
    for t in tasks {
        for (i, status, expected) in t.await.expect("an upload lane") {
            assert!(
                expected.contains(&status),
                "upload {i}: {status}, expected {expected:?}"
            );
            *counts.entry(status).or_default() += 1;
        }
    }
    let took = started.elapsed();
    sampler.abort();
    let peak = peak.load(std::sync::atomic::Ordering::Relaxed);
    let after = rss_kib(pid);
    let (status, list) = call(&client, &server.base, &key, "GET", "/v1/transforms", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        list.as_array().map(Vec::len),
        Some(1),
        "one component stored, once: {list}"
    );
    eprintln!(
        "hostile http: {UPLOADS} uploads from 16 clients in {took:?}, answers {counts:?}; \
         RSS {} MiB before, peak {} MiB, {} MiB after",
        before >> 10,
        peak >> 10,
        after >> 10
    );
    // Generous: a leak of even 1 MiB per upload would pass 250 MiB of growth.
    assert!(
        after < before + (250 << 10),
        "memory grew from {before} KiB to {after} KiB after the flood"
    );
    assert!(!server.stderr().contains("panicked"), "{}", server.stderr());
}

/// Waits until the server closes `socket` (EOF or reset); answers how long that took.
async fn closed_within(socket: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    let wait = async {
        loop {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {} // e.g. the answer to the one complete request
            }
        }
    };
    tokio::time::timeout(limit, wait)
        .await
        .ok()
        .map(|_| started.elapsed())
}

#[tokio::test]
async fn silent_trickling_and_idle_connections_are_closed_after_the_header_timeout() {
    let server = crate::support::TestServer::start().await;
    let addr = server.base.trim_start_matches("http://").to_string();
    let limit = erp_sync::http::HEADER_READ_TIMEOUT + Duration::from_secs(10);

    // Connected, never a byte.
    let mut silent = TcpStream::connect(&addr).await.expect("connects");
    // Headers started, never finished.
    let mut trickling = TcpStream::connect(&addr).await.expect("connects");
    trickling
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: ")
        .await
        .expect("writes");
    // One complete request, then an idle keep-alive connection.
    let mut idle = TcpStream::connect(&addr).await.expect("connects");
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .expect("writes");

    let (silent, trickling, idle) = tokio::join!(
        closed_within(&mut silent, limit),
        closed_within(&mut trickling, limit),
        closed_within(&mut idle, limit),
    );
    for (what, closed) in [
        ("a silent connection", silent),
        ("a connection trickling its headers", trickling),
        ("an idle keep-alive connection", idle),
    ] {
        let after = closed.unwrap_or_else(|| panic!("{what} was still open after {limit:?}"));
        eprintln!("hostile http: {what} was closed after {after:?}");
    }
}

#[tokio::test]
async fn a_body_declared_too_large_is_refused_before_it_is_sent() {
    let server = crate::support::TestServer::start().await;
    let request = format!(
        "POST /v1/invoices HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 10000000000\r\n\r\n",
        server.key
    );
    // No body follows: the 413 must come from the declared length alone.
    let status = tokio::time::timeout(
        Duration::from_secs(5),
        raw(&server.base, request.as_bytes()),
    )
    .await
    .expect("answered without waiting for the body");
    assert_eq!(status, 413);
}
