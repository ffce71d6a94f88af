//! The YAML 1.1 reader against the API server's own: every document bbgate reads must be read the same by
//! sigs.k8s.io/yaml on go-yaml v2 (tests/peers/yaml2json.go, which scripts/test builds into .tools/yaml2json
//! from Debian's Go sources). A document bbgate refuses is fine (it fails closed); one it reads otherwise than
//! Go, or reads where Go refuses, is a crash. Without BBGATE_TEST_GO_YAML the target only parses (scripts/fuzz
//! runs it only where the reference is built).
#![no_main]
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fn go_yaml(doc: &str) -> Option<Value> {
    let exe = std::env::var("BBGATE_TEST_GO_YAML").ok()?;
    let mut child = std::process::Command::new(exe)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("BBGATE_TEST_GO_YAML runs");
    let input = serde_json::to_vec(&[doc]).unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), &input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "yaml2json failed: {}", String::from_utf8_lossy(&out.stderr));
    let list: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    list.into_iter().next()
}

/// Equal as JSON values, numbers compared as the f64 Go's JSON holds.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(docs) = bbgate::deploy::yaml11::parse_stream(text) else { return };
    // go-yaml v2's Unmarshal reads the first document of a stream.
    let Some(ours) = docs.first() else { return };
    let Some(go) = go_yaml(text) else { return };
    match go.get("ok") {
        Some(theirs) => assert!(same(&ours.value, theirs), "bbgate read {} where go-yaml v2 reads {theirs}", ours.value),
        None => panic!("bbgate read {} where go-yaml v2 refuses: {}", ours.value, go["err"]),
    }
});
