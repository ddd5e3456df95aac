//! A small streaming JSON writer for EVE lines.
//!
//! EVE records are written straight into a byte buffer, field by field, with
//! no intermediate tree: this is on the hot path for busy dissectors.

use std::io::Write as _;

/// Appends one JSON value or object at a time to a `Vec<u8>`, inserting commas.
pub struct JsonWriter<'a> {
    buf: &'a mut Vec<u8>,
    /// One entry per open object/array: true once it holds an element.
    stack: [bool; 16],
    depth: usize,
}

impl<'a> JsonWriter<'a> {
    /// Starts a top-level object in `buf`.
    pub fn object(buf: &'a mut Vec<u8>) -> JsonWriter<'a> {
        buf.push(b'{');
        JsonWriter {
            buf,
            stack: [false; 16],
            depth: 1,
        }
    }

    #[inline]
    fn sep(&mut self) {
        let d = self.depth.min(16) - 1;
        if self.stack[d] {
            self.buf.push(b',');
        }
        self.stack[d] = true;
    }

    #[inline]
    fn key(&mut self, k: &str) {
        self.sep();
        self.buf.push(b'"');
        self.buf.extend_from_slice(k.as_bytes());
        self.buf.extend_from_slice(b"\":");
    }

    /// `"k": "v"` with JSON escaping.
    pub fn str(&mut self, k: &str, v: &str) -> &mut Self {
        self.key(k);
        escape_into(self.buf, v.as_bytes());
        self
    }

    /// `"k": "v"` from bytes; invalid UTF-8 is written as `\u00XX` escapes per byte.
    pub fn bytes_str(&mut self, k: &str, v: &[u8]) -> &mut Self {
        self.key(k);
        escape_into(self.buf, v);
        self
    }

    /// `"k": <u64>`.
    pub fn u64(&mut self, k: &str, v: u64) -> &mut Self {
        self.key(k);
        let mut b = itoa_buf();
        self.buf.extend_from_slice(fmt_u64(&mut b, v));
        self
    }

    /// `"k": <i64>`.
    pub fn i64(&mut self, k: &str, v: i64) -> &mut Self {
        self.key(k);
        let _ = write!(self.buf, "{v}");
        self
    }

    /// `"k": <f64>` (non-finite values become null).
    pub fn f64(&mut self, k: &str, v: f64) -> &mut Self {
        self.key(k);
        if v.is_finite() {
            let _ = write!(self.buf, "{v}");
        } else {
            self.buf.extend_from_slice(b"null");
        }
        self
    }

    /// `"k": true|false`.
    pub fn bool(&mut self, k: &str, v: bool) -> &mut Self {
        self.key(k);
        self.buf
            .extend_from_slice(if v { b"true" } else { b"false" });
        self
    }

    /// `"k": <raw>` where `raw` is already valid JSON.
    pub fn raw(&mut self, k: &str, raw: &[u8]) -> &mut Self {
        self.key(k);
        self.buf.extend_from_slice(raw);
        self
    }

    /// `"k": "<formatted>"`, for values built with `format_args!` (escaped).
    pub fn fmt(&mut self, k: &str, v: std::fmt::Arguments<'_>) -> &mut Self {
        self.key(k);
        let start = self.buf.len();
        let _ = self.buf.write_fmt(v);
        let s = self.buf.split_off(start);
        escape_into(self.buf, &s);
        self
    }

    /// Opens `"k": {`.
    pub fn begin_object(&mut self, k: &str) -> &mut Self {
        self.key(k);
        self.buf.push(b'{');
        self.push();
        self
    }

    /// Opens `"k": [`.
    pub fn begin_array(&mut self, k: &str) -> &mut Self {
        self.key(k);
        self.buf.push(b'[');
        self.push();
        self
    }

    /// Opens an object as the next element of an array.
    pub fn begin_element_object(&mut self) -> &mut Self {
        self.sep();
        self.buf.push(b'{');
        self.push();
        self
    }

    /// A string element of an array.
    pub fn element_str(&mut self, v: &str) -> &mut Self {
        self.sep();
        escape_into(self.buf, v.as_bytes());
        self
    }

    /// A string element of an array, from bytes.
    pub fn element_bytes(&mut self, v: &[u8]) -> &mut Self {
        self.sep();
        escape_into(self.buf, v);
        self
    }

    /// A number element of an array.
    pub fn element_u64(&mut self, v: u64) -> &mut Self {
        self.sep();
        let mut b = itoa_buf();
        self.buf.extend_from_slice(fmt_u64(&mut b, v));
        self
    }

    /// Closes the innermost object.
    pub fn end_object(&mut self) -> &mut Self {
        self.buf.push(b'}');
        self.pop();
        self
    }

    /// Closes the innermost array.
    pub fn end_array(&mut self) -> &mut Self {
        self.buf.push(b']');
        self.pop();
        self
    }

    #[inline]
    fn push(&mut self) {
        self.depth += 1;
        if self.depth <= 16 {
            self.stack[self.depth - 1] = false;
        }
    }

    #[inline]
    fn pop(&mut self) {
        self.depth = self.depth.saturating_sub(1).max(1);
    }

    /// Closes the top-level object and ends the line.
    pub fn finish(self) {
        self.buf.extend_from_slice(b"}\n");
    }
}

type ItoaBuf = [u8; 20];

#[inline]
fn itoa_buf() -> ItoaBuf {
    [0u8; 20]
}

#[inline]
fn fmt_u64(b: &mut ItoaBuf, mut v: u64) -> &[u8] {
    let mut i = b.len();
    loop {
        i -= 1;
        b[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    &b[i..]
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Writes `s` as a JSON string literal. Bytes that are not valid UTF-8 are
/// escaped one by one as `\u00XX` so the line stays valid JSON.
pub fn escape_into(buf: &mut Vec<u8>, s: &[u8]) {
    buf.push(b'"');
    let mut rest = s;
    while !rest.is_empty() {
        let (valid, bad) = match std::str::from_utf8(rest) {
            Ok(v) => (v, &[][..]),
            Err(e) => {
                let (v, b) = rest.split_at(e.valid_up_to());
                // SAFETY-free: valid_up_to guarantees this prefix is UTF-8.
                (std::str::from_utf8(v).unwrap_or(""), b)
            }
        };
        for &c in valid.as_bytes() {
            match c {
                b'"' => buf.extend_from_slice(b"\\\""),
                b'\\' => buf.extend_from_slice(b"\\\\"),
                b'\n' => buf.extend_from_slice(b"\\n"),
                b'\r' => buf.extend_from_slice(b"\\r"),
                b'\t' => buf.extend_from_slice(b"\\t"),
                0..=0x1f | 0x7f => {
                    buf.extend_from_slice(b"\\u00");
                    buf.push(HEX[(c >> 4) as usize]);
                    buf.push(HEX[(c & 15) as usize]);
                }
                _ => buf.push(c),
            }
        }
        if bad.is_empty() {
            break;
        }
        let c = bad[0];
        buf.extend_from_slice(b"\\u00");
        buf.push(HEX[(c >> 4) as usize]);
        buf.push(HEX[(c & 15) as usize]);
        rest = &bad[1..];
    }
    buf.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_objects_and_escapes() {
        let mut b = Vec::new();
        let mut w = JsonWriter::object(&mut b);
        w.str("a", "x\"y\n").u64("n", 42);
        w.begin_object("o")
            .bool("t", true)
            .begin_array("l")
            .element_str("p")
            .element_u64(7)
            .end_array()
            .end_object();
        w.bytes_str("raw", b"ok\xff");
        w.finish();
        let s = String::from_utf8(b).unwrap();
        assert_eq!(s, "{\"a\":\"x\\\"y\\n\",\"n\":42,\"o\":{\"t\":true,\"l\":[\"p\",7]},\"raw\":\"ok\\u00ff\"}\n");
        let v: serde_json::Value = serde_json::from_str(s.trim()).unwrap();
        assert_eq!(v["o"]["l"][1], 7);
    }
}
