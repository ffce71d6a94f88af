//! The writers' escaping of text from the data: what each emits, its reader (or a standard parser) reads back
//! unchanged, and nothing in it steers its consumer.
#![no_main]
use libfuzzer_sys::fuzz_target;

/// Characters that make Markdown markup when bare.
const MARKUP: &[char] = &['\\', '`', '*', '_', '[', ']', '(', ')', '!', '~', '|', '#', '{', '}', ':', '@', '$'];

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    // Terminal: no control character but newline and tab, no escape sequence but a colour one; idempotent.
    let t = bbgate::output::terminal_safe(s);
    assert_eq!(bbgate::output::terminal_safe(&t), t, "escaping twice changes nothing");
    let mut rest = t.as_str();
    while let Some(c) = rest.chars().next() {
        if c == '\u{1b}' {
            let body = rest.strip_prefix("\u{1b}[").expect("ESC only before a colour sequence");
            let end = body.find('m').expect("a colour sequence ends with m");
            assert!(body[..end].bytes().all(|b| b.is_ascii_digit() || b == b';'), "{t:?}");
            rest = &body[end + 1..];
            continue;
        }
        assert!(!c.is_control() || c == '\n' || c == '\t', "{c:?} in {t:?}");
        assert!(!matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'), "{c:?} in {t:?}");
        rest = &rest[c.len_utf8()..];
    }
    // XML: every character is one XML 1.0 allows, and quick-xml reads back exactly what was written.
    let x = bbgate::report::escape::xml(s);
    assert!(x.chars().all(|c| matches!(c, '\t' | '\n' | '\u{20}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)), "{x:?}");
    let doc = format!("<a>{}</a>", quick_xml::escape::escape(x.as_str()));
    let mut reader = quick_xml::Reader::from_str(&doc);
    let mut read = String::new();
    loop {
        match reader.read_event().expect("well-formed") {
            quick_xml::events::Event::Text(t) => read.push_str(&t.xml10_content()),
            quick_xml::events::Event::GeneralRef(r) => match r.resolve_char_ref().expect("a character reference") {
                Some(c) => read.push(c),
                None => read.push_str(quick_xml::escape::resolve_predefined_entity(&r).expect("XML's own entity")),
            },
            quick_xml::events::Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(read, x);
    // Markdown: no line break, no bare < or >, and every markup character behind a backslash.
    let m = bbgate::report::escape::markdown(s);
    assert!(!m.contains(['\n', '\r', '<', '>']), "{m:?}");
    let mut escaped = false;
    for c in m.chars() {
        if escaped {
            escaped = false;
            continue;
        }
        if c == '\\' {
            escaped = true;
            continue;
        }
        assert!(!MARKUP.contains(&c), "bare {c:?} in {m:?}");
    }
});
