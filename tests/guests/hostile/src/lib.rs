//! A webhook transform that misbehaves on purpose, chosen by its `mode` config entry, so
//! the tests can show each misbehaviour contained: the call fails with a clear error and
//! nothing else is disturbed.

wit_bindgen::generate!({
    world: "webhook-transform",
    path: "../../../wit/erp-sync-transform@1.0.0",
});

use erp_sync::transform::types::{Context, Header, Payload, TransformError};
use exports::erp_sync::transform::webhook::Guest;

struct Component;

fn mode(ctx: &Context) -> &str {
    ctx.config
        .iter()
        .find(|(k, _)| k == "mode")
        .map(|(_, v)| v.as_str())
        .unwrap_or("ok")
}

#[inline(never)]
fn recurse(n: u64) -> u64 {
    if n == 0 { 0 } else { 1 + recurse(std::hint::black_box(n + 1)) }
}

impl Guest for Component {
    fn transform(ctx: Context, invoice: String) -> Result<Payload, TransformError> {
        let body = |b: Vec<u8>| Payload {
            body: b,
            content_type: "application/json".into(),
            headers: vec![],
        };
        match mode(&ctx) {
            "loop" => loop {
                std::hint::black_box(0);
            },
            "memory" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "recursion" => Ok(body(recurse(1).to_string().into_bytes())),
            "huge-output" => Ok(body(vec![b'x'; 8 << 20])),
            "panic" => panic!("the hostile guest panics on purpose"),
            "sockets" => match std::net::TcpStream::connect("93.184.216.34:80") {
                Ok(_) => Ok(body(b"{\"escaped\":\"network\"}".to_vec())),
                Err(e) => Err(TransformError::Other(format!("no network: {e}"))),
            },
            "filesystem" => match std::fs::read_to_string("/etc/passwd") {
                Ok(_) => Ok(body(b"{\"escaped\":\"filesystem\"}".to_vec())),
                Err(e) => Err(TransformError::Other(format!("no filesystem: {e}"))),
            },
            "environment" => Ok(body(format!("{{\"vars\":{}}}", std::env::vars().count()).into_bytes())),
            "log-spam" => {
                for i in 0..5_000 {
                    println!("line {i} of a very chatty transform");
                }
                Ok(body(b"{\"chatty\":true}".to_vec()))
            }
            "reserved-header" => Ok(Payload {
                body: b"{}".to_vec(),
                content_type: "application/json".into(),
                headers: vec![Header {
                    name: "X-Aforo-Signature".into(),
                    value: "forged".into(),
                }],
            }),
            "reject" => Err(TransformError::Rejected("this transform rejects every invoice".into())),
            _ => {
                eprintln!("hostile guest in ok mode, event {}", ctx.event_type);
                Ok(Payload {
                    body: format!("{{\"echo\":{invoice}}}").into_bytes(),
                    content_type: "application/json".into(),
                    headers: vec![Header {
                        name: "X-Guest".into(),
                        value: "hostile-ok".into(),
                    }],
                })
            }
        }
    }
}

export!(Component);
