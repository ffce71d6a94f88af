//! The OCI registry peers from the tests' side: scripts/test starts Debian's docker-registry twice on
//! 127.0.0.1 (open, and behind htpasswd) and exports their addresses. Images are built without Docker by umoci
//! and read back by skopeo, so what bbgate pushed is judged by other tools.

use serde_json::Value;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

pub const USER: &str = "bbtest";
pub const PASSWORD: &str = "s3cret-registry-pass";

/// The open registry's address, or a loud failure: tests never pass by skipping.
pub fn open() -> String {
    std::env::var("BBGATE_TEST_REGISTRY").expect("BBGATE_TEST_REGISTRY is not set: run the suite with scripts/test")
}

pub fn with_auth() -> String {
    std::env::var("BBGATE_TEST_REGISTRY_AUTH")
        .expect("BBGATE_TEST_REGISTRY_AUTH is not set: run the suite with scripts/test")
}

fn tool(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (scripts/test installs it)"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An OCI layout at `dir` with one image per tag, each holding `size` bytes of fresh random data (so its
/// layers are new to the registry and do not compress away).
pub fn oci_layout(dir: &Path, tags: &[&str], size: usize) -> PathBuf {
    let layout = dir.join("oci");
    tool(Command::new("umoci").args(["init", "--layout"]).arg(&layout));
    for tag in tags {
        let image = format!("{}:{tag}", layout.display());
        tool(Command::new("umoci").args(["new", "--image", &image]));
        let payload = dir.join(format!("payload-{tag}"));
        let mut data = vec![0u8; size];
        std::fs::File::open("/dev/urandom")
            .unwrap()
            .read_exact(&mut data)
            .unwrap();
        std::fs::write(&payload, &data).unwrap();
        tool(
            Command::new("umoci")
                .args(["insert", "--image", &image])
                .arg(&payload)
                .arg("/payload"),
        );
    }
    layout
}

/// `docker save`'s format, written by skopeo from an OCI layout's tag.
pub fn docker_archive(layout: &Path, tag: &str, out: &Path) {
    tool(Command::new("skopeo").args([
        "copy",
        "--quiet",
        &format!("oci:{}:{tag}", layout.display()),
        &format!("docker-archive:{}:bb/payments/x:{tag}", out.display()),
    ]));
}

/// The digest `skopeo inspect` reads from the registry for REF (`HOST/REPO:TAG`).
pub fn skopeo_digest(reference: &str, creds: Option<&str>) -> String {
    let mut cmd = Command::new("skopeo");
    cmd.args(["inspect", "--tls-verify=false"]);
    if let Some(c) = creds {
        cmd.args(["--creds", c]);
    }
    let v: Value = serde_json::from_str(&tool(cmd.arg(format!("docker://{reference}")))).unwrap();
    v["Digest"].as_str().expect("skopeo inspect prints a Digest").to_owned()
}

/// The manifest bytes as the registry serves them.
pub fn skopeo_raw_bytes(reference: &str) -> Vec<u8> {
    tool(Command::new("skopeo").args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{reference}"),
    ]))
    .into_bytes()
}

pub fn skopeo_raw(reference: &str) -> Value {
    serde_json::from_str(&tool(Command::new("skopeo").args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{reference}"),
    ])))
    .unwrap()
}

/// A TCP proxy in front of a registry that, while armed, cuts the first connection carrying more than
/// `threshold` bytes from the client (a blob upload) in the middle of its body; later ones pass through.
pub struct DroppingProxy {
    pub address: String,
    pub armed: Arc<AtomicBool>,
}

impl DroppingProxy {
    pub fn start(upstream: String, threshold: usize) -> DroppingProxy {
        let armed = Arc::new(AtomicBool::new(true));
        let flag = armed.clone();
        let address = start_proxy(upstream, move || {
            let (flag, mut total) = (flag.clone(), 0usize);
            let up: OnChunk = Box::new(move |chunk: &mut [u8]| {
                total += chunk.len();
                !(total > threshold && flag.swap(false, Ordering::SeqCst))
            });
            (up, Box::new(|_: &mut [u8]| true))
        });
        DroppingProxy { address, armed }
    }
}

/// What a relay does with each chunk before passing it on; `false` cuts the connection both ways.
type OnChunk = Box<dyn FnMut(&mut [u8]) -> bool + Send>;

/// A TCP proxy on 127.0.0.1 in front of `upstream`. For each connection, `per_connection` gives what to do
/// with the client's chunks and with the server's. Returns the proxy's address.
fn start_proxy(upstream: String, per_connection: impl Fn() -> (OnChunk, OnChunk) + Send + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(&upstream) else {
                continue;
            };
            let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            let (up, down) = per_connection();
            std::thread::spawn(move || relay(client, server, up));
            std::thread::spawn(move || relay(s2, c2, down));
        }
    });
    address
}

fn relay(mut from: TcpStream, mut to: TcpStream, mut on_chunk: OnChunk) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if !on_chunk(&mut buf[..n]) {
            let _ = from.shutdown(Shutdown::Both);
            let _ = to.shutdown(Shutdown::Both);
            return;
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// A proxy in front of a real registry that, while armed, answers a read of the manifest under `tag` with
/// another `Docker-Content-Digest` (the bytes of a race: someone else pushed that tag in between). Everything
/// else passes through unchanged. `rewrites` counts the answers it changed.
pub struct RacingTagProxy {
    pub address: String,
    pub armed: Arc<AtomicBool>,
    pub rewrites: Arc<std::sync::atomic::AtomicUsize>,
}

pub const RACED_DIGEST: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

impl RacingTagProxy {
    pub fn start(upstream: String, tag: &str) -> RacingTagProxy {
        let armed = Arc::new(AtomicBool::new(true));
        let rewrites = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (flag, count) = (armed.clone(), rewrites.clone());
        let needle = format!("/manifests/{tag} HTTP/1.1");
        let address = start_proxy(upstream, move || {
            // Set by the request side when a read of the tag's manifest goes up; the answer's digest header
            // is then rewritten on the way down.
            let pending = Arc::new(AtomicBool::new(false));
            let (seen, answer) = (pending.clone(), pending);
            let (needle, flag, count) = (needle.clone(), flag.clone(), count.clone());
            let up: OnChunk = Box::new(move |chunk: &mut [u8]| {
                let head = String::from_utf8_lossy(&chunk[..chunk.len().min(2048)]);
                if (head.starts_with("HEAD ") || head.starts_with("GET "))
                    && head.lines().next().is_some_and(|l| l.ends_with(&needle))
                    && flag.load(Ordering::SeqCst)
                {
                    seen.store(true, Ordering::SeqCst);
                }
                true
            });
            let down: OnChunk = Box::new(move |chunk: &mut [u8]| {
                if answer.swap(false, Ordering::SeqCst) {
                    let text = String::from_utf8_lossy(chunk).to_ascii_lowercase();
                    let key = "docker-content-digest: ";
                    if let Some(at) = text.find(key) {
                        let start = at + key.len();
                        chunk[start..start + RACED_DIGEST.len()].copy_from_slice(RACED_DIGEST.as_bytes());
                        count.fetch_add(1, Ordering::SeqCst);
                    }
                }
                true
            });
            (up, down)
        });
        RacingTagProxy {
            address,
            armed,
            rewrites,
        }
    }
}
