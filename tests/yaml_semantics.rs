//! Issue 12: rendered manifests read as the API server reads them. bbgate's YAML 1.1 reader
//! (src/deploy/yaml11.rs, go-yaml v2 rules) against PyYAML, a YAML 1.1 loader from PyPI, over a generated corpus
//! of scalars (plain and quoted) and documents. Where go-yaml v2 and PyYAML themselves differ, the table below
//! says so and the test checks bbgate takes go-yaml's side (the API server's).

#![allow(clippy::unwrap_used)] // a test fails loudly where it unwraps

use bbgate::deploy::yaml11::parse_stream;
use serde_json::{Value, json};

fn scalars() -> Vec<String> {
    let mut words: Vec<String> = [
        "y",
        "Y",
        "yes",
        "Yes",
        "YES",
        "yEs",
        "n",
        "N",
        "no",
        "No",
        "NO",
        "on",
        "On",
        "ON",
        "oN",
        "off",
        "Off",
        "OFF",
        "true",
        "True",
        "TRUE",
        "tRue",
        "false",
        "False",
        "FALSE",
        "null",
        "Null",
        "NULL",
        "nULL",
        "~",
        "0",
        "7",
        "08",
        "09",
        "10",
        "0777",
        "0o17",
        "0x1F",
        "0X1f",
        "0b101",
        "0b1_0",
        "1_000",
        "1__0",
        "12_",
        "_12",
        "1e3",
        "1e+3",
        "1.5e-3",
        ".5",
        "5.",
        "1.10",
        "-0",
        "+12",
        "-0x10",
        "1:30",
        "1:30:00",
        "12:30",
        "18446744073709551615",
        "9223372036854775807",
        "-9223372036854775808",
        "0.",
        "1.2.3",
        "2026-11-29",
        "2026-11-29T12:00:00Z",
        "2026-11-29 12:00:00",
        "0x",
        "0b",
        "+",
        "-",
        ".",
        "8_080",
        "1_000_000",
        "3.14",
        "-.5",
        "+1.5",
        "6.02e+23",
        "0xFF_FF",
        "0b_1",
        "image:1.0",
        "latest",
        "nginx",
        "a b",
        "hostNetwork",
        ".inf",
        "-.Inf",
        ".NaN",
        "0o",
        "00",
        "0_0",
        "1_",
        "-1_000",
        "+0x1",
        "1.5_0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let quoted: Vec<String> = words
        .iter()
        .flat_map(|w| [format!("'{w}'"), format!("\"{w}\"")])
        .collect();
    words.extend(quoted);
    words
}

/// Where go-yaml v2 (the API server's reader) and PyYAML differ by design: bbgate must give go-yaml's value.
fn go_yaml_only(s: &str) -> Option<(&'static str, Value)> {
    Some(match s {
        "y" | "Y" => (
            "go-yaml v2 reads single-letter y as true; PyYAML keeps a string",
            json!(true),
        ),
        "n" | "N" => (
            "go-yaml v2 reads single-letter n as false; PyYAML keeps a string",
            json!(false),
        ),
        "0o17" => ("Go's 0o octal prefix; PyYAML's YAML 1.1 has none", json!(15)),
        "1e3" => (
            "go-yaml reads an exponent without sign or dot as a float; PyYAML keeps a string",
            json!(1000),
        ),
        "1:30" | "1:30:00" | "12:30" => ("PyYAML reads base 60; go-yaml v2 keeps a string", json!(s)),
        "0b_1" => (
            "PyYAML accepts _ after 0b; Go's 0b_ is not a prefix once _ are removed... both 1",
            json!(1),
        ),
        "2026-11-29" | "2026-11-29T12:00:00Z" | "2026-11-29 12:00:00" => (
            "PyYAML makes a timestamp; go-yaml v2 keeps timestamps as strings in interface{}",
            json!(s),
        ),
        "1.5_0" => ("both read 1.5", json!(1.5)),
        "08" | "09" => (
            "go-yaml's float form takes a leading-zero decimal (8); PyYAML keeps a string",
            json!(s[1..].parse::<u8>().unwrap()),
        ),
        "0X1f" => ("Go's base prefixes include 0X; PyYAML's only 0x", json!(31)),
        "1e+3" => ("go-yaml's float form needs no dot; PyYAML's does", json!(1000)),
        "-.5" => ("go-yaml's float form takes a signed .5; PyYAML's does not", json!(-0.5)),
        _ => return None,
    })
}

fn reference(docs: &[String]) -> Vec<Value> {
    let python = std::env::var("BBGATE_TEST_PYTHON").expect("BBGATE_TEST_PYTHON: run the suite with scripts/test");
    let mut child = std::process::Command::new(python)
        .arg("tests/peers/yaml_reference.py")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        child.stdin.as_mut().unwrap(),
        serde_json::to_string(docs).unwrap().as_bytes(),
    )
    .unwrap();
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Numbers compare by value (PyYAML's 8.0 is go-yaml's 8 once Go's JSON writes it).
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

#[test]
fn scalars_resolve_as_yaml_1_1_readers_resolve_them() {
    let corpus = scalars();
    let docs: Vec<String> = corpus.iter().map(|s| format!("v: {s}\n")).collect();
    let want = reference(&docs);
    let mut problems = Vec::new();
    let mut agreed = 0;
    for ((s, doc), py) in corpus.iter().zip(&docs).zip(&want) {
        let ours = parse_stream(doc).map(|d| d[0].value["v"].clone());
        if let Some((why, go)) = go_yaml_only(s) {
            if !ours.as_ref().is_ok_and(|v| same(v, &go)) {
                problems.push(format!("{s:?}: bbgate {ours:?}, go-yaml v2 gives {go} ({why})"));
            }
            continue;
        }
        match (&ours, py) {
            // Non-finite floats have no JSON form: bbgate refuses them (helm's JSON conversion fails too).
            (Err(e), p) if p["ok"]["v"]["float"].is_string() && e.message.contains("no JSON form") => agreed += 1,
            (Ok(v), p) if p.get("ok").is_some_and(|pv| same(v, &pv["v"])) => agreed += 1,
            // Both refuse it (not YAML).
            (Err(_), p) if p.get("err").is_some() => agreed += 1,
            _ => problems.push(format!("{s:?}: bbgate {ours:?}, PyYAML {py}")),
        }
    }
    assert!(
        problems.is_empty(),
        "{} disagreements:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert!(agreed > 180, "{agreed} scalars agreed");
}

#[test]
fn documents_with_anchors_merges_and_nesting_agree() {
    let docs: Vec<String> = [
        "base: &b {hostNetwork: yes, hostPID: On}\nspec:\n  <<: *b\n  containers: [{name: a, ports: [{hostPort: 8_080}]}]\n",
        "a: &a [1, 2]\nb: *a\nc: {d: *a}\n",
        "xx: &x {p: 1}\nyy: &y {q: 2}\nz:\n  <<: [*x, *y]\n  r: 3\n",
        "xx: &x {p: 1}\nyy: &y {p: 2}\nz:\n  <<: [*x, *y]\n",
        "spec:\n  replicas: 1_000\n  template:\n    spec:\n      securityContext: {runAsNonRoot: yes}\n",
        "list:\n- - - deep: [Yes, No, ~]\n",
        "text: |\n  line one\n  ---\n  line two\nfolded: >\n  a\n  b\n",
        "k: 'It''s'\nj: \"tab\\tnew\\nline\"\n",
        "? plain\n: explicit key\n",
        "empty:\nnull_value: null\n",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let want = reference(&docs);
    for (doc, py) in docs.iter().zip(&want) {
        let ours = parse_stream(doc).unwrap().remove(0).value;
        assert!(same(&ours, &py["ok"]), "{doc}\nbbgate {ours}\nPyYAML {py}");
    }
}

#[test]
fn what_the_readers_would_read_differently_is_refused() {
    // Duplicate keys (PyYAML and go-yaml v2 keep the last one), a merged key the mapping also sets (PyYAML
    // keeps the explicit one, go-yaml v2 the later one), keys equal after conversion.
    for doc in [
        "hostNetwork: false\nhostNetwork: true\n",
        "b: &b {hostNetwork: true}\nspec:\n  hostNetwork: false\n  <<: *b\n",
        "yes: 1\ntrue: 2\n",
    ] {
        let e = parse_stream(doc).unwrap_err();
        assert!(
            e.message.contains("ambiguous") || e.message.contains("disagree"),
            "{doc}: {e}"
        );
    }
}

/// The API server's own reader: sigs.k8s.io/yaml's YAMLToJSON on go-yaml v2, built offline by scripts/test
/// from Debian's Go sources (tests/peers/yaml2json.go).
fn go_reference(docs: &[String]) -> Vec<Value> {
    let exe = std::env::var("BBGATE_TEST_GO_YAML").expect("BBGATE_TEST_GO_YAML: run the suite with scripts/test");
    let mut child = std::process::Command::new(exe)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let input = serde_json::to_string(docs).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, input.as_bytes()).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A small deterministic generator (xorshift): the same corpus on every run, so a failure replays.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[(self.next() % from.len() as u64) as usize]
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const KEYS: &[&str] = &[
    "hostNetwork",
    "image",
    "a",
    "b",
    "y",
    "n",
    "yes",
    "on",
    "1",
    "1.5",
    "0x10",
    "'on'",
    "\"yes\"",
    "!!str on",
    "!!str 1",
    "!!int \"2\"",
    "!!float 1",
    "!!bool yes",
    "!!binary aG9zdE5ldHdvcms=",
    "!!binary aW1hZ2U=",
    "!!binary //79",
    "!!binary aG9z dE5l",
    "!!null ~",
    "~",
    "!custom k",
    "<<",
    "!!merge <<",
    "'<<'",
];

const VALUES: &[&str] = &[
    "true",
    "yes",
    "On",
    "y",
    "n",
    "~",
    "1_000",
    "0x1F",
    "0777",
    "1e3",
    "1e400",
    "2026-11-29",
    "!!str yes",
    "!!int 8_080",
    "!!bool on",
    "!!float 1",
    "!!null ~",
    "!!null x",
    "!!binary dHJ1ZQ==",
    "!!binary ////",
    "!!timestamp 2001-01-01",
    "'x'",
    "nginx:1.0",
    "[a, b]",
    "{p: 1}",
    "!!set {a, b}",
    "!!omap [{a: 1}]",
    "!!map {a: 1}",
    "!!seq [1]",
    "!custom x",
    ".inf",
];

/// One generated document: a few anchored mappings, then a mapping that mixes keys, values, aliases and merges.
fn document(g: &mut Gen) -> String {
    let mut out = String::new();
    let anchors = g.below(3);
    for i in 0..anchors {
        let a = g.pick(&["hostNetwork", "image", "a", "y", "b"]);
        let v = g.pick(VALUES);
        out.push_str(&format!("m{i}: &m{i} {{{a}: {v}, c{i}: {i}}}\n"));
    }
    out.push_str("spec:\n");
    for _ in 0..1 + g.below(4) {
        let key = g.pick(KEYS);
        let value = if key.contains("<<") && anchors > 0 {
            match g.below(3) {
                0 => format!("*m{}", g.below(anchors)),
                1 => format!("[*m0, *m{}]", g.below(anchors)),
                _ => "{hostNetwork: true}".to_owned(),
            }
        } else {
            g.pick(VALUES).to_owned()
        };
        out.push_str(&format!("  {key}: {value}\n"));
    }
    out
}

/// bbgate's manifest reader against the API server's (go-yaml v2 through sigs.k8s.io/yaml) over generated
/// documents of the spellings where readers part: tags on keys and values, `!!binary`, several merge keys,
/// collection tags, YAML 1.1 scalars. bbgate must read each document as Go does, or refuse it.
#[test]
fn generated_documents_read_as_the_api_servers_go_yaml_reads_them_or_are_refused() {
    let mut g = Gen(0x9e37_79b9_7f4a_7c15);
    let docs: Vec<String> = (0..10_000).map(|_| document(&mut g)).collect();
    let go = go_reference(&docs);
    assert_eq!(go.len(), docs.len());
    let (mut agreed, mut refused, mut problems) = (0, 0, Vec::new());
    for (doc, go) in docs.iter().zip(&go) {
        match (parse_stream(doc), go.get("ok")) {
            (Ok(ours), Some(theirs)) if same(&ours[0].value, theirs) => agreed += 1,
            (Err(_), _) => refused += 1,
            (Ok(ours), _) => problems.push(format!("{doc}bbgate {}\ngo-yaml {go}\n", ours[0].value)),
        }
    }
    assert!(
        problems.is_empty(),
        "{} of {} documents read otherwise than the API server reads them:\n{}",
        problems.len(),
        docs.len(),
        problems.iter().take(8).cloned().collect::<Vec<_>>().join("\n")
    );
    // The corpus exercises both sides: most documents are read, the ambiguous ones refused.
    assert!(agreed > 1000 && refused > 500, "{agreed} agreed, {refused} refused");
}

/// The three spellings the attackers used, each read as the API server stores it: a `!!binary` key, and two
/// merge keys in one mapping (refused: go-yaml v2 lets the later win, other readers the first).
#[test]
fn a_binary_key_is_the_key_it_encodes_and_two_merge_keys_that_collide_are_refused() {
    let v = parse_stream("spec:\n  !!binary aG9zdE5ldHdvcms=: true\n").unwrap();
    assert_eq!(v[0].value["spec"]["hostNetwork"], json!(true));
    let go = go_reference(&["spec:\n  !!binary aG9zdE5ldHdvcms=: true\n".to_owned()]);
    assert_eq!(go[0]["ok"]["spec"]["hostNetwork"], json!(true), "the reference agrees");
    let two = "a: &a {hostNetwork: false}\nb: &b {hostNetwork: true}\nspec:\n  <<: *a\n  <<: *b\n";
    let e = parse_stream(two).unwrap_err();
    assert!(e.message.contains("two `<<` keys"), "{e}");
    let go = go_reference(&[two.to_owned()]);
    assert_eq!(
        go[0]["ok"]["spec"]["hostNetwork"],
        json!(true),
        "go-yaml v2 takes the later merge"
    );
    // Two merge keys of different keys are read as Go reads them.
    let apart = "a: &a {x: 1}\nb: &b {z: 2}\nspec:\n  <<: *a\n  <<: *b\n";
    assert_eq!(
        parse_stream(apart).unwrap()[0].value,
        go_reference(&[apart.to_owned()])[0]["ok"]
    );
}

/// What the differential fuzz target (fuzz/fuzz_targets/yaml_go_differential.rs) found stays found: each kept
/// input, and control characters anywhere in a document, read as the API server's go-yaml v2 reads them or
/// refused. The first find: a NUL at which this reader stopped and read `apiVer`, where Go refuses the text.
#[test]
fn what_the_differential_fuzzer_found_is_read_as_go_yaml_reads_it_or_refused() {
    let mut docs: Vec<String> = std::fs::read_dir("fuzz/regressions/yaml_go_differential")
        .unwrap()
        .flatten()
        .filter_map(|e| String::from_utf8(std::fs::read(e.path()).unwrap()).ok())
        .collect();
    assert!(!docs.is_empty(), "the kept inputs are there");
    for c in [
        '\u{0}', '\u{1}', '\u{7}', '\u{1b}', '\u{7f}', '\u{80}', '\u{9f}', '\u{fffe}', '\u{85}', '\u{2028}', '\u{2029}',
    ] {
        docs.push(format!("kind: Pod\nspec:\n  hostNetwork{c}: true\n"));
        docs.push(format!("a{c}b: 1\n"));
    }
    // Anchor and alias names: go-yaml v2 ends them at a character outside [0-9A-Za-z_-] (the second find).
    for name in ["a:b", "a.b", "a/b", "a*b", "ä"] {
        docs.push(format!("x: &{name} 1\ny: 2\n"));
        docs.push(format!("x: &ok 1\ny: *{name}\n"));
    }
    // Tabs where indentation is measured (the fourth find: a line of tabs after a plain scalar).
    for doc in [
        "x:\n  a: b\n\t\t\n",
        "x:\n  a: b\n\tc\n",
        "x: |\n  l1\n\tl2\n",
        "x:\n\ta: 1\n",
    ] {
        docs.push(doc.to_owned());
    }
    // A tab inside a line, after the indentation, is text to both.
    docs.push("x: |\n  make:\n    \tcc -o a a.c\n".to_owned());
    // What may follow a name (the third find: `&a{…}` is an anchor then a flow mapping here, an error to Go).
    for after in ["{b: 1}", "[1]", "'q'", "\"q\"", "!t", "|", ">", "#c", "&b"] {
        docs.push(format!("x: &a{after}\n"));
    }
    for after in [" 1", "\n  1", ",", "]", "}", "\ty"] {
        docs.push(format!("x: [&a{after}\n"));
    }
    // Beside them, characters both readers admit alike (tab, no-break space, BOM, astral), so the test sees
    // agreement too. NEL, U+2028 and U+2029 above: go-yaml reads them as line breaks (found by this test).
    for c in ['\t', '\u{a0}', '\u{feff}', '\u{1f600}'] {
        docs.push(format!("a: \"x{c}y\"\n"));
        docs.push(format!("a: &n_{c}ame-9 1\nb: *n_{c}ame-9\n").replace(c, ""));
    }
    let go = go_reference(&docs);
    let (mut agreed, mut refused) = (0, 0);
    for (doc, go) in docs.iter().zip(&go) {
        match (parse_stream(doc), go.get("ok")) {
            (Ok(ours), Some(theirs)) => {
                assert!(
                    same(&ours[0].value, theirs),
                    "{doc:?}: bbgate {} go-yaml {theirs}",
                    ours[0].value
                );
                agreed += 1;
            }
            (Ok(ours), None) => panic!("{doc:?}: bbgate read {} where go-yaml v2 refuses: {go}", ours[0].value),
            (Err(e), _) => {
                refused += 1;
                assert!(e.line >= 1, "{e}");
            }
        }
    }
    assert!(agreed >= 9 && refused >= 45, "{agreed} agreed, {refused} refused");
}
