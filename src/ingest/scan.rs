//! A strict JSON scanner for the flat objects of CloudEvents lines: the fast path of
//! [`super::cloudevents::parse_and_check`].
//!
//! It accepts only valid JSON (RFC 8259), and it declines (returns `None`) whatever it does
//! not handle itself: escapes in keys and attribute strings, fractions and exponents in
//! attribute values, deep nesting, and every error. The caller then parses the text with
//! serde_json, which gives the same result or the error message with its line and column.
//! So the scanner never decides anything serde_json would decide differently; a test checks
//! this on real and corrupted lines.
//!
//! Strings are searched eight bytes at a time (SWAR) for the quote, the backslash and
//! control characters; nested values (`data`) are validated without building anything.

use super::cloudevents::RawEvent;
use super::jsonval::Val;
use std::borrow::Cow;

/// Nesting deeper than this is left to serde_json (which has its own limit).
const MAX_DEPTH: u32 = 64;

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// Bit 7 of each byte of `w` that is a quote, a backslash or a control character (the
/// lowest flagged byte is exact; bytes above it may be flagged spuriously).
#[inline(always)]
fn special(w: u64) -> u64 {
    let zero = |v: u64| v.wrapping_sub(LO) & !v & HI;
    zero(w ^ (LO * b'"' as u64))
        | zero(w ^ (LO * b'\\' as u64))
        | (w.wrapping_sub(LO * 0x20) & !w & HI)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Num {
    Int,
    Fraction,
    Exponent,
}

struct Scanner<'a> {
    text: &'a str,
    b: &'a [u8],
    i: usize,
}

impl<'a> Scanner<'a> {
    fn new(text: &'a str) -> Self {
        Scanner {
            text,
            b: text.as_bytes(),
            i: 0,
        }
    }

    #[inline(always)]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    #[inline(always)]
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    #[inline(always)]
    fn eat(&mut self, c: u8) -> Option<()> {
        if self.peek() == Some(c) {
            self.i += 1;
            Some(())
        } else {
            None
        }
    }

    /// Moves to the next quote, backslash or control character inside a string.
    #[inline(always)]
    fn seek_special(&mut self) -> Option<u8> {
        #[cfg(target_arch = "x86_64")]
        while self.i + 16 <= self.b.len() {
            // SSE2 is part of x86_64: sixteen bytes a step.
            use std::arch::x86_64::*;
            // SAFETY: the 16 bytes at `i` are within `b` (checked above); the load is
            // unaligned; the other intrinsics only compute on registers.
            let m = unsafe {
                let v = _mm_loadu_si128(self.b.as_ptr().add(self.i).cast());
                let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
                let slash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
                let ctl = _mm_cmpeq_epi8(_mm_max_epu8(v, _mm_set1_epi8(0x1f)), _mm_set1_epi8(0x1f));
                _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, slash), ctl)) as u32
            };
            if m != 0 {
                self.i += m.trailing_zeros() as usize;
                return Some(self.b[self.i]);
            }
            self.i += 16;
        }
        while self.i + 8 <= self.b.len() {
            let mut w = [0u8; 8];
            w.copy_from_slice(&self.b[self.i..self.i + 8]);
            let m = special(u64::from_le_bytes(w));
            if m != 0 {
                self.i += (m.trailing_zeros() / 8) as usize;
                return Some(self.b[self.i]);
            }
            self.i += 8;
        }
        while let Some(c) = self.peek() {
            if c == b'"' || c == b'\\' || c < 0x20 {
                return Some(c);
            }
            self.i += 1;
        }
        None
    }

    /// A string without escapes, the scanner at its opening quote.
    #[inline]
    fn plain_str(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.i;
        match self.seek_special()? {
            b'"' => {
                // SAFETY: `start` follows a quote and `i` is at one: both are char
                // boundaries of the valid UTF-8 text.
                let s = unsafe { self.text.get_unchecked(start..self.i) };
                self.i += 1;
                Some(s)
            }
            _ => None,
        }
    }

    /// Any valid string, the scanner at its opening quote.
    fn skip_str(&mut self) -> Option<()> {
        self.eat(b'"')?;
        loop {
            match self.seek_special()? {
                b'"' => {
                    self.i += 1;
                    return Some(());
                }
                b'\\' => {
                    self.i += 1;
                    match self.peek()? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.i += 1,
                        b'u' => {
                            let hex =
                                std::str::from_utf8(self.b.get(self.i + 1..self.i + 5)?).ok()?;
                            let unit = u16::from_str_radix(hex, 16).ok()?;
                            // Where serde_json decodes a string, a lone surrogate is an
                            // error: leave surrogates to it.
                            if !hex.bytes().all(|b| b.is_ascii_hexdigit())
                                || (0xD800..0xE000).contains(&unit)
                            {
                                return None;
                            }
                            self.i += 5;
                        }
                        _ => return None,
                    }
                }
                _ => return None,
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        self.i - start
    }

    /// A number's syntax and its form.
    fn skip_number(&mut self) -> Option<Num> {
        let _ = self.eat(b'-');
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        let mut form = Num::Int;
        if self.eat(b'.').is_some() {
            form = Num::Fraction;
            if self.digits() == 0 {
                return None;
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if self.digits() == 0 {
                return None;
            }
            form = Num::Exponent;
        }
        Some(form)
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if self.b.get(self.i..self.i + word.len())? == word {
            self.i += word.len();
            Some(())
        } else {
            None
        }
    }

    /// After a member of an object or array: `Some(true)` past its `close`, `Some(false)`
    /// past a comma (and the whitespace after it).
    #[inline]
    fn after_member(&mut self, close: u8) -> Option<bool> {
        self.ws();
        match self.peek()? {
            b',' => {
                self.i += 1;
                self.ws();
                Some(false)
            }
            c if c == close => {
                self.i += 1;
                Some(true)
            }
            _ => None,
        }
    }

    /// Validates any value and moves past it.
    fn skip_value(&mut self, depth: u32) -> Option<()> {
        match self.peek()? {
            b'"' => self.skip_str(),
            open @ (b'{' | b'[') => {
                if depth >= MAX_DEPTH {
                    return None;
                }
                let close = if open == b'{' { b'}' } else { b']' };
                self.i += 1;
                self.ws();
                if self.eat(close).is_some() {
                    return Some(());
                }
                loop {
                    if open == b'{' {
                        self.skip_str()?;
                        self.ws();
                        self.eat(b':')?;
                        self.ws();
                    }
                    self.skip_value(depth + 1)?;
                    if self.after_member(close)? {
                        return Some(());
                    }
                }
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.skip_number().map(|_| ()),
            _ => None,
        }
    }

    /// An attribute value as [`Val`]: strings without escapes, integers that fit in 18
    /// digits, literals, and nested values by kind.
    fn val(&mut self) -> Option<Val<'a>> {
        Some(match self.peek()? {
            b'"' => Val::Str(Cow::Borrowed(self.plain_str()?)),
            b'-' | b'0'..=b'9' => {
                let start = self.i;
                if self.skip_number()? != Num::Int {
                    return None;
                }
                let s = &self.text[start..self.i];
                let (neg, digits) = match s.strip_prefix('-') {
                    Some(d) => (true, d),
                    None => (false, s),
                };
                if digits.len() > 18 || (neg && digits == "0") {
                    return None;
                }
                let n: i64 = digits.parse().ok()?;
                Val::Int(if neg { -n } else { n })
            }
            b't' => {
                self.literal(b"true")?;
                Val::Bool(true)
            }
            b'f' => {
                self.literal(b"false")?;
                Val::Bool(false)
            }
            b'n' => {
                self.literal(b"null")?;
                Val::Null
            }
            b'{' => {
                self.skip_value(0)?;
                Val::Object
            }
            b'[' => {
                self.skip_value(0)?;
                Val::Array
            }
            _ => return None,
        })
    }

    /// Calls `field` for each member of the object at the scanner; then only whitespace
    /// may follow.
    fn object(&mut self, mut field: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.ws();
        self.eat(b'{')?;
        self.ws();
        if self.eat(b'}').is_none() {
            loop {
                let key = self.plain_str()?;
                self.ws();
                self.eat(b':')?;
                self.ws();
                field(self, key)?;
                if self.after_member(b'}')? {
                    break;
                }
            }
        }
        self.ws();
        (self.i == self.b.len()).then_some(())
    }
}

/// The event in one JSON text, or `None` to leave the text to serde_json.
pub fn event(text: &str) -> Option<RawEvent<'_>> {
    let mut ev = RawEvent {
        ext: Vec::with_capacity(8),
        ..RawEvent::default()
    };
    Scanner::new(text).object(|sc, key| {
        if key == "data" {
            let start = sc.i;
            sc.skip_value(0)?;
            ev.set_data(&sc.text[start..sc.i]);
        } else {
            let v = sc.val()?;
            ev.set(Cow::Borrowed(key), v);
        }
        Some(())
    })?;
    Some(ev)
}

/// The `(field, kind)` pairs of a JSON object, unsorted, or `None` to leave it to serde_json
/// (which also covers "not an object").
pub fn object_fields(text: &str) -> Option<Vec<(Cow<'_, str>, &'static str)>> {
    let mut fields = Vec::new();
    Scanner::new(text).object(|sc, key| {
        let kind = match sc.peek()? {
            b'"' => "string",
            b'{' => "object",
            b'[' => "array",
            b't' | b'f' => "boolean",
            b'n' => "null",
            _ => "number",
        };
        if kind == "number" {
            // serde_json parses these values: exponents (which can overflow) and numbers
            // too long to be exact are its call.
            let start = sc.i;
            if sc.skip_number()? == Num::Exponent || sc.i - start > 30 {
                return None;
            }
        } else {
            sc.skip_value(0)?;
        }
        fields.push((Cow::Borrowed(key), kind));
        Some(())
    })?;
    Some(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serde_event(text: &str) -> Option<RawEvent<'_>> {
        serde_json::from_str(text).ok()
    }

    #[test]
    fn reads_a_capture_line_like_serde() {
        let line = r#"{"specversion":"1.0","id":"ord-1","source":"producer-service","type":"T","time":"2026-03-02T09:00:00.000Z","lensattempt":1,"lenscoldstart":true,"x":null,"n":-42,"o":{"a":[1,2.5e3,"\u00e9"]},"data":{"orderId":"ord-1","total":37.50,"items":[1,{"k":null}]}}"#;
        let fast = event(line).expect("the fast path takes a plain capture line");
        assert_eq!(Some(fast), serde_event(line));
        let fields = object_fields(r#"{"total": 12.5, "orderId": "a", "items": [1, 2]}"#);
        assert_eq!(
            fields,
            Some(vec![
                ("total".into(), "number"),
                ("orderId".into(), "string"),
                ("items".into(), "array")
            ])
        );
    }

    #[test]
    fn declines_what_it_does_not_handle() {
        for text in [
            r#"{"id":"a\"b"}"#,
            r#"{"id":1.5}"#,
            r#"{"id":1e3}"#,
            r#"{"data":{"a":"\ud800"}}"#,
            r#"{"id":12345678901234567890}"#,
            r#"{"id":-0}"#,
            r#"{"id":"a"} x"#,
            r#"{"id":"a",}"#,
            r#"{"id":"a" "b":1}"#,
            r#"{"id":"a	"}"#,
            r#"{"data":{"a":01}}"#,
            r#"{"data":{"a":"\x"}}"#,
            r#"{"data":[1,]}"#,
            r#"{"data":tru}"#,
            r#"{"data":{"a":1}"#,
            "[1]",
            "",
        ] {
            assert!(event(text).is_none(), "{text}");
        }
    }

    /// The contract: whenever the scanner answers, serde_json gives the same answer. Checked
    /// on the sample capture and on many deterministic corruptions of its lines.
    #[test]
    fn never_disagrees_with_serde_on_corrupted_lines() {
        let capture = include_str!("../../sample-traces/capture.jsonl");
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let alphabet = b"{}[]\":,\\ \t0123456789-+.eEtruefalsn\x01x";
        let (mut taken, mut declined) = (0, 0);
        for line in capture.lines().take(400) {
            assert!(
                event(line).is_some(),
                "fast path declined a sample line: {line}"
            );
            for _ in 0..40 {
                let mut bytes = line.as_bytes().to_vec();
                for _ in 0..1 + next() % 3 {
                    let at = (next() as usize) % bytes.len();
                    let c = alphabet[(next() as usize) % alphabet.len()];
                    match next() % 3 {
                        0 => bytes[at] = c,
                        1 => bytes.insert(at, c),
                        _ => {
                            bytes.remove(at);
                        }
                    }
                }
                let Ok(text) = std::str::from_utf8(&bytes) else {
                    continue;
                };
                match event(text) {
                    Some(fast) => {
                        taken += 1;
                        assert_eq!(Some(fast), serde_event(text), "{text}");
                    }
                    None => declined += 1,
                }
                if let Some(start) = text.find("\"data\":") {
                    let data = text[start + 7..].trim_end_matches('}');
                    if let Some(fields) = object_fields(data) {
                        assert_eq!(
                            Some(crate::ingest::jsonval::shape_string(fields)),
                            crate::ingest::jsonval::object_shape_serde(data),
                            "{data}"
                        );
                    }
                }
            }
        }
        assert!(
            taken > 1000 && declined > 1000,
            "{taken} taken, {declined} declined"
        );
    }
}
