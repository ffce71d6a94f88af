//! YAML as helm and the Kubernetes API server read it: sigs.k8s.io/yaml on go-yaml v2, that is YAML 1.1
//! resolution of plain scalars, then JSON. A guard that read YAML 1.2 would see `hostNetwork: yes` as a string
//! while the API server stores `true`.
//!
//! What go-yaml v2 does, and so this reader does, for a plain (unquoted, untagged) scalar:
//! - `y Y yes Yes YES true True TRUE on On ON` are true, `n N no No NO false False FALSE off Off OFF` false;
//! - `~ null Null NULL` and the empty scalar are null;
//! - numbers with `_` removed: Go's base-prefixed integers (`0x1F`, `0o17`, `0b101`, leading-0 octal `0777`),
//!   then unsigned 64-bit, then floats (`1e3`, `.5`); `.inf`/`.nan` have no JSON form and are refused;
//! - timestamps stay strings (go-yaml v2 keeps them strings when decoding into interface{});
//! - `<<` merges a mapping, or a list of mappings (the first wins), into the mapping around it.
//!
//! Where readers differ, the input is refused rather than read one way: a key given twice (also after
//! conversion: `yes:` and `true:`), a merged key the mapping also sets itself, a non-scalar key, an unknown
//! tag. Bounded: 100 levels of nesting and 1,000,000 nodes after alias expansion.

use serde_json::{Map, Number, Value};
use std::collections::HashMap;
use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

const MAX_DEPTH: usize = 100;
const MAX_NODES: usize = 1_000_000;

/// One document of a stream, with the line its content starts on (0 for an empty document).
#[derive(Debug)]
pub struct Document {
    pub line: usize,
    pub value: Value,
}

enum Frame {
    Seq {
        items: Vec<Value>,
        anchor: usize,
    },
    Map {
        map: Map<String, Value>,
        anchor: usize,
        /// The key read and waiting for its value; `None` in `Some(None)` is a merge key (`<<`).
        key: Option<Option<String>>,
        /// Keys the mapping set itself, and keys it took from merges.
        explicit: Vec<String>,
        merged: Vec<String>,
    },
}

struct Loader {
    anchors: HashMap<usize, Value>,
    nodes: usize,
    stack: Vec<Frame>,
}

/// What went wrong, and on which line of the stream (1-based): callers name the template from the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for YamlError {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

fn err(mark: &Marker, msg: impl std::fmt::Display) -> YamlError {
    YamlError {
        line: mark.line(),
        message: msg.to_string(),
    }
}

/// The characters read here as go-yaml v2 reads them. Its reader (reader.go) admits tab, line feed, carriage
/// return, printable ASCII, NEL and the printable Unicode planes, and refuses any other (NUL, other C0 and C1
/// controls, U+FFFE/U+FFFF: "control characters are not allowed"). NEL, U+2028 and U+2029 it admits but reads as
/// line breaks (a quoted "x<NEL>y" is "x y" to the API server), where this reader keeps them as text: refused
/// too, so nothing is read otherwise than the API server reads it.
fn admitted_by_go_yaml(c: char) -> bool {
    matches!(c as u32, 0x09 | 0x0A | 0x0D | 0x20..=0x7E | 0xA0..=0x2027 | 0x202A..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
}

/// go-yaml v2 ends an anchor or alias name at the first character outside `[0-9A-Za-z_-]` (yaml_parser_scan_anchor),
/// where this reader's scanner takes every non-space, non-flow character (YAML 1.2): `&a:b` is one anchor here
/// and an anchor `a` then a key to the API server. Such names are refused (found by the differential fuzzer).
///
/// go-yaml also requires the name to be followed by a blank, the end, or one of `? : , ] } % @` and a backquote
/// ("did not find expected alphabetic or numeric character"), where this reader goes on (`&a{…}` is an anchor
/// then a flow mapping here): refused too (the fuzzer's third find).
fn refuse_wide_anchor_names(text: &str) -> Result<(), YamlError> {
    use yaml_rust2::scanner::{Scanner, TokenType};
    // Most manifests hold no anchor or alias: the second scan is for those that may.
    if !text.contains(['&', '*']) {
        return Ok(());
    }
    let mut chars: Option<Vec<char>> = None;
    for yaml_rust2::scanner::Token(mark, token) in Scanner::new(text.chars()) {
        let (TokenType::Anchor(name) | TokenType::Alias(name)) = token else {
            continue;
        };
        let chars = chars.get_or_insert_with(|| text.chars().collect());
        let after = chars.get(mark.index() + 1 + name.chars().count()).copied();
        if !after.is_none_or(|c| " \t\r\n?:,]}%@`".contains(c)) {
            return Err(err(
                &mark,
                format_args!(
                    "anchor or alias {name:?} is followed by {:?}: the API server's YAML reader refuses that; put a \
                     space after the name",
                    after.unwrap_or_default()
                ),
            ));
        }
        if let Some(c) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
        {
            return Err(err(
                &mark,
                format_args!(
                    "anchor or alias name {name:?} holds {c:?}: the API server's YAML reader ends the name there and \
                     reads the rest otherwise; name anchors with letters, digits, '_' and '-' only"
                ),
            ));
        }
    }
    Ok(())
}

/// Parse a whole stream (several `---` documents). Empty documents are kept as `Value::Null`.
pub fn parse_stream(text: &str) -> Result<Vec<Document>, YamlError> {
    // Refused as go-yaml v2 refuses it, one pass over the lines: a character its reader refuses or reads as a
    // line break (this reader would stop at a NUL and read less than the text holds), and a line that starts
    // with a tab, which go-yaml refuses where indentation is measured ("found a tab character that violates
    // indentation", "… where an indentation space is expected"), in a plain scalar's continuation and a block
    // scalar alike, where this reader takes it as blank space; refused wherever it is, flow context included
    // (fail closed on an odd spelling). Found by the yaml_go_differential fuzz target.
    for (n, line) in text.lines().enumerate() {
        if let Some(c) = line.chars().find(|c| !admitted_by_go_yaml(*c)) {
            return Err(YamlError {
                line: n + 1,
                message: format!(
                    "character U+{:04X}: a control character the API server's YAML reader refuses (\"control \
                     characters are not allowed\"), or a line break other than LF and CR it reads differently: remove \
                     it",
                    c as u32
                ),
            });
        }
        if line.starts_with('\t') {
            return Err(YamlError {
                line: n + 1,
                message: "a line that starts with a tab: the API server's YAML reader refuses tabs in indentation; \
                          indent with spaces"
                    .into(),
            });
        }
    }
    refuse_wide_anchor_names(text)?;
    let mut parser = Parser::new_from_str(text);
    let mut docs = Vec::new();
    let mut loader = Loader {
        anchors: HashMap::new(),
        nodes: 0,
        stack: Vec::new(),
    };
    let mut doc_line = 0;
    let mut result: Option<Value> = None;
    loop {
        let (event, mark) = parser
            .next_token()
            .map_err(|e| err(e.marker(), format_args!("YAML does not parse: {}", e.info())))?;
        match event {
            Event::StreamStart | Event::Nothing => {}
            Event::StreamEnd => break,
            Event::DocumentStart => {
                loader.anchors.clear();
                doc_line = 0;
                result = None;
            }
            Event::DocumentEnd => docs.push(Document {
                line: doc_line,
                value: result.take().unwrap_or(Value::Null),
            }),
            other => {
                if doc_line == 0 {
                    doc_line = mark.line();
                }
                if let Some(v) = loader.event(other, &mark)? {
                    result = Some(v);
                }
            }
        }
    }
    Ok(docs)
}

impl Loader {
    fn count(&mut self, mark: &Marker, n: usize) -> Result<(), YamlError> {
        self.nodes += n;
        if self.nodes > MAX_NODES {
            return Err(err(
                mark,
                format!("more than {MAX_NODES} nodes after aliases are expanded (excessive aliasing)"),
            ));
        }
        Ok(())
    }

    /// Feed one event; returns the document's root once it is complete.
    fn event(&mut self, event: Event, mark: &Marker) -> Result<Option<Value>, YamlError> {
        match event {
            Event::SequenceStart(anchor, tag) => {
                check_collection_tag(tag.as_ref(), "seq", mark)?;
                self.open(mark)?;
                self.stack.push(Frame::Seq {
                    items: Vec::new(),
                    anchor,
                });
                Ok(None)
            }
            Event::MappingStart(anchor, tag) => {
                check_collection_tag(tag.as_ref(), "map", mark)?;
                self.open(mark)?;
                self.stack.push(Frame::Map {
                    map: Map::new(),
                    anchor,
                    key: None,
                    explicit: Vec::new(),
                    merged: Vec::new(),
                });
                Ok(None)
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (value, anchor) = match self.stack.pop() {
                    Some(Frame::Seq { items, anchor }) => (Value::Array(items), anchor),
                    Some(Frame::Map { map, anchor, .. }) => (Value::Object(map), anchor),
                    None => return Err(err(mark, "unbalanced collection end")),
                };
                if anchor != 0 {
                    self.anchors.insert(anchor, value.clone());
                }
                self.place(value, None, mark)
            }
            Event::Scalar(text, style, anchor, tag) => {
                self.count(mark, 1)?;
                let plain = style == TScalarStyle::Plain;
                // A plain `<<` in key position is a merge key; so is `!!merge <<` (go-yaml v2's isMerge: the
                // value `<<`, implicit or tagged merge; helm 4 writes the tag when it re-serialises a chart).
                let merge_tag = tag.as_ref().is_some_and(|t| core_tag(t) == Some("merge"));
                let merge = ((plain && tag.is_none()) || merge_tag) && text == "<<" && self.expects_key();
                let value = if merge_tag && merge {
                    Value::String(text.clone())
                } else {
                    resolve(&text, plain, tag.as_ref(), mark)?
                };
                if anchor != 0 {
                    self.anchors.insert(anchor, value.clone());
                }
                self.place(value, merge.then_some(()), mark)
            }
            Event::Alias(id) => {
                let value = self
                    .anchors
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| err(mark, "an alias to an unknown anchor"))?;
                self.count(mark, size(&value))?;
                self.place(value, None, mark)
            }
            _ => Ok(None),
        }
    }

    fn expects_key(&self) -> bool {
        matches!(self.stack.last(), Some(Frame::Map { key: None, .. }))
    }

    fn open(&mut self, mark: &Marker) -> Result<(), YamlError> {
        if self.expects_key() {
            return Err(err(mark, "a mapping or sequence used as a key: not JSON, refused"));
        }
        if self.stack.len() >= MAX_DEPTH {
            return Err(err(mark, format!("nested deeper than {MAX_DEPTH} levels")));
        }
        self.count(mark, 1)
    }

    /// Put a finished node where it belongs: the document root, a sequence item, a key, or a value.
    fn place(&mut self, value: Value, merge_key: Option<()>, mark: &Marker) -> Result<Option<Value>, YamlError> {
        let Some(top) = self.stack.last_mut() else {
            return Ok(Some(value));
        };
        match top {
            Frame::Seq { items, .. } => items.push(value),
            Frame::Map {
                map,
                key,
                explicit,
                merged,
                ..
            } => match key.take() {
                None if merge_key.is_some() => *key = Some(None),
                None => *key = Some(Some(key_string(&value, mark)?)),
                Some(Some(k)) => {
                    if explicit.contains(&k) {
                        return Err(err(
                            mark,
                            format!("key {k:?} is given twice in one mapping: which value counts is ambiguous"),
                        ));
                    }
                    if merged.contains(&k) {
                        return Err(err(
                            mark,
                            format!("key {k:?} is both merged (<<) and set: readers disagree on which wins"),
                        ));
                    }
                    explicit.push(k.clone());
                    map.insert(k, value);
                }
                Some(None) => {
                    let sources: Vec<Value> = match value {
                        Value::Object(_) => vec![value],
                        Value::Array(list) => list,
                        _ => return Err(err(mark, "`<<` must merge a mapping or a list of mappings")),
                    };
                    // Keys an earlier `<<` of this mapping merged: go-yaml v2 lets a later `<<` overwrite them,
                    // other readers keep the first or refuse a second `<<`; so a key two merge keys set is refused.
                    let earlier = merged.len();
                    for source in sources {
                        let Value::Object(entries) = source else {
                            return Err(err(mark, "`<<` must merge a mapping or a list of mappings"));
                        };
                        for (k, v) in entries {
                            if explicit.contains(&k) {
                                return Err(err(
                                    mark,
                                    format!("key {k:?} is both set and merged (<<): readers disagree on which wins"),
                                ));
                            }
                            if merged[..earlier].contains(&k) {
                                return Err(err(
                                    mark,
                                    format!(
                                        "key {k:?} is merged by two `<<` keys of one mapping: readers disagree on \
                                         which wins"
                                    ),
                                ));
                            }
                            // Of the mappings one `<<` lists, the first that names a key wins (as go-yaml v2).
                            if !merged.contains(&k) {
                                merged.push(k.clone());
                                map.insert(k, v);
                            }
                        }
                    }
                }
            },
        }
        Ok(None)
    }
}

fn size(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(size).sum::<usize>(),
        Value::Object(m) => 1 + m.values().map(size).sum::<usize>(),
        _ => 1,
    }
}

fn core_tag(tag: &Tag) -> Option<&str> {
    match tag.handle.as_str() {
        "!!" | "tag:yaml.org,2002:" => Some(tag.suffix.as_str()),
        _ => None,
    }
}

fn check_collection_tag(tag: Option<&Tag>, want: &str, mark: &Marker) -> Result<(), YamlError> {
    match tag {
        None => Ok(()),
        Some(t) if core_tag(t) == Some(want) || (t.handle == "!" && t.suffix.is_empty()) => Ok(()),
        Some(t) => Err(err(
            mark,
            format!("tag {}{} on a collection is not JSON: refused", t.handle, t.suffix),
        )),
    }
}

/// A JSON object key from a resolved scalar, as sigs.k8s.io/yaml converts it.
fn key_string(v: &Value, mark: &Marker) -> Result<String, YamlError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Null => Err(err(mark, "a null key: not JSON, refused")),
        _ => Err(err(mark, "a mapping or sequence used as a key: not JSON, refused")),
    }
}

/// A scalar's JSON value under YAML 1.1 (go-yaml v2) rules.
fn resolve(text: &str, plain: bool, tag: Option<&Tag>, mark: &Marker) -> Result<Value, YamlError> {
    if let Some(t) = tag {
        let s = text.to_owned();
        return match core_tag(t) {
            _ if t.handle == "!" && t.suffix.is_empty() => Ok(Value::String(s)),
            Some("str") => Ok(Value::String(s)),
            Some("null") if matches!(text, "" | "~" | "null" | "Null" | "NULL") => Ok(Value::Null),
            Some("null") => Err(err(mark, format!("!!null {text:?} is not a null"))),
            Some("bool") => boolean(text)
                .map(Value::Bool)
                .ok_or_else(|| err(mark, format!("!!bool {text:?} is not a boolean"))),
            Some("int") => {
                integer(&text.replace('_', "")).ok_or_else(|| err(mark, format!("!!int {text:?} is not an integer")))
            }
            Some("float") => number(text, mark)?.ok_or_else(|| err(mark, format!("!!float {text:?} is not a number"))),
            // go-yaml v2 decodes the base64 and uses the bytes as a string (a key too: `!!binary aG9zdE5ldHdvcms=`
            // is the key `hostNetwork`); bytes that are not UTF-8 have no faithful JSON form, so they are refused.
            Some("binary") => binary(text, mark).map(Value::String),
            Some("timestamp") => Ok(Value::String(s)),
            _ => Err(err(
                mark,
                format!(
                    "tag {}{} is not one the API server's reader knows: refused",
                    t.handle, t.suffix
                ),
            )),
        };
    }
    if !plain {
        return Ok(Value::String(text.to_owned()));
    }
    if let Some(b) = boolean(text) {
        return Ok(Value::Bool(b));
    }
    if matches!(text, "" | "~" | "null" | "Null" | "NULL") {
        return Ok(Value::Null);
    }
    if matches!(
        text,
        ".nan" | ".NaN" | ".NAN" | ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF"
    ) {
        return Err(err(mark, format!("{text} is a float with no JSON form: refused")));
    }
    if text.starts_with(|c: char| c.is_ascii_digit() || "+-.".contains(c))
        && !is_timestamp(text)
        && let Some(v) = number(text, mark)?
    {
        return Ok(v);
    }
    Ok(Value::String(text.to_owned()))
}

/// A `!!binary` scalar as go-yaml v2 reads it: line breaks dropped (Go's decoder skips them), then standard
/// padded base64.
fn binary(text: &str, mark: &Marker) -> Result<String, YamlError> {
    use base64::Engine;
    let compact: String = text.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|_| err(mark, "!!binary value contains invalid base64 data"))?;
    String::from_utf8(bytes).map_err(|_| err(mark, "!!binary value decodes to bytes that are not UTF-8: refused"))
}

fn boolean(text: &str) -> Option<bool> {
    match text {
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => Some(true),
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => Some(false),
        _ => None,
    }
}

/// go-yaml v2's timestamp forms (`2006-1-2`, with a time after `T`, `t` or a space): kept as strings.
fn is_timestamp(text: &str) -> bool {
    let date_end = text.find(['T', 't', ' ']).unwrap_or(text.len());
    let date: Vec<&str> = text[..date_end].split('-').collect();
    date.len() == 3
        && date[0].len() == 4
        && date
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 4 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Go's `strconv.ParseInt(s, 0, 64)`, then `ParseUint`, on the text with `_` removed.
fn integer(plain: &str) -> Option<Value> {
    let (neg, body) = match plain.as_bytes().first() {
        Some(b'-') => (true, &plain[1..]),
        Some(b'+') => (false, &plain[1..]),
        _ => (false, plain),
    };
    let (radix, digits) = if let Some(d) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        (16, d)
    } else if let Some(d) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
        (8, d)
    } else if let Some(d) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
        (2, d)
    } else if body.len() > 1 && body.starts_with('0') {
        (8, &body[1..])
    } else {
        (10, body)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u64::from_str_radix(digits, radix).ok()?;
    if neg {
        let v = i64::try_from(magnitude)
            .ok()
            .map(|m| -m)
            .or((magnitude == 1 << 63).then_some(i64::MIN))?;
        Some(Value::Number(v.into()))
    } else {
        Some(Value::Number(magnitude.into()))
    }
}

/// An integer, else a float of YAML's float form; integral floats become integers, as Go's JSON writes them.
fn number(text: &str, mark: &Marker) -> Result<Option<Value>, YamlError> {
    let plain = text.replace('_', "");
    if let Some(v) = integer(&plain) {
        return Ok(Some(v));
    }
    if !is_float_form(&plain) {
        return Ok(None);
    }
    let f: f64 = plain
        .parse()
        .map_err(|_| err(mark, format!("{text} is not a number")))?;
    if !f.is_finite() {
        return Err(err(mark, format!("{text} overflows a float: refused")));
    }
    if f.fract() == 0.0 && f.abs() < 1e21 && f >= i64::MIN as f64 && f <= i64::MAX as f64 {
        return Ok(Some(Value::Number((f as i64).into())));
    }
    Ok(Number::from_f64(f).map(Value::Number))
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn is_float_form(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some(("", frac)) => digits(frac),
        Some((int, frac)) => digits(int) && (frac.is_empty() || digits(frac)),
        None => digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| digits(e.strip_prefix(['-', '+']).unwrap_or(e)));
    mantissa_ok && exponent_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(text: &str) -> Value {
        parse_stream(text).unwrap().remove(0).value
    }

    #[test]
    fn yaml_1_1_scalars_as_the_api_server_reads_them() {
        let v = one(
            "a: yes\nb: On\nc: Y\nd: off\ne: 8_080\nf: 0x1F\ng: 0777\nh: 0o17\ni: 0b101\nj: 1e3\nk: '1_000'\nl: 2026-11-29\nm: ~\np: 1.5\nn: key\n",
        );
        assert_eq!(
            v,
            json!({"a": true, "b": true, "c": true, "d": false, "e": 8080, "f": 31, "g": 511, "h": 15, "i": 5,
                   "j": 1000, "k": "1_000", "l": "2026-11-29", "m": null, "p": 1.5, "false": "key"})
        );
    }

    #[test]
    fn merges_and_what_is_refused() {
        let v = one("base: &b {hostNetwork: true}\nspec:\n  <<: *b\n  x: 1\n");
        assert_eq!(v["spec"], json!({"hostNetwork": true, "x": 1}));
        // The tagged spelling helm 4 writes is the same merge.
        let tagged = one("base: &b {hostNetwork: true}\nspec:\n  !!merge <<: *b\n  x: 1\n");
        assert_eq!(tagged, v);
        for bad in [
            "a: 1\na: 2\n",
            "yes: 1\ntrue: 2\n",
            "b: &b {x: 1}\nc:\n  x: 2\n  <<: *b\n",
            "? [a]\n: 1\n",
            "a: .inf\n",
            "a: !custom x\n",
        ] {
            assert!(parse_stream(bad).is_err(), "{bad:?} must be refused");
        }
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(parse_stream(&deep).unwrap_err().to_string().contains("nested deeper"));
        let laughs = "a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n";
        assert!(
            parse_stream(laughs)
                .unwrap_err()
                .to_string()
                .contains("excessive aliasing")
        );
    }
}
