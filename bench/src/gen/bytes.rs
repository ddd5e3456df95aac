//! Helpers for writing length-prefixed wire structures (TLS vectors, DNS, MBAP).

/// Appends `f`'s output preceded by its length as a big-endian integer of `width` bytes
/// (1, 2 or 3). The length is truncated to the width; callers keep their contents small.
pub fn prefixed(out: &mut Vec<u8>, width: usize, f: impl FnOnce(&mut Vec<u8>)) {
    let at = out.len();
    out.extend(std::iter::repeat_n(0u8, width));
    f(out);
    let len = (out.len() - at - width) as u32;
    let be = len.to_be_bytes();
    out[at..at + width].copy_from_slice(&be[4 - width..]);
}

/// Appends a big-endian u16.
pub fn u16be(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Appends a big-endian u32.
pub fn u32be(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Standard base64 (RFC 4648 §4) with CRLF line breaks every `line` characters (MIME uses 76).
pub fn base64_lines(data: &[u8], line: usize) -> Vec<u8> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(data.len() * 4 / 3 + data.len() / line.max(1) * 2 + 8);
    let mut col = 0;
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let quad = [
            ALPHABET[(n >> 18) as usize & 63],
            ALPHABET[(n >> 12) as usize & 63],
            if chunk.len() > 1 {
                ALPHABET[(n >> 6) as usize & 63]
            } else {
                b'='
            },
            if chunk.len() > 2 {
                ALPHABET[n as usize & 63]
            } else {
                b'='
            },
        ];
        for c in quad {
            if col == line {
                out.extend_from_slice(b"\r\n");
                col = 0;
            }
            out.push(c);
            col += 1;
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixed_writes_the_length_in_front() {
        let mut v = vec![0xAA];
        prefixed(&mut v, 3, |o| o.extend_from_slice(b"hello"));
        assert_eq!(v, vec![0xAA, 0, 0, 5, b'h', b'e', b'l', b'l', b'o']);
    }

    #[test]
    fn base64_matches_rfc4648_test_vectors() {
        assert_eq!(base64_lines(b"foobar", 76), b"Zm9vYmFy\r\n");
        assert_eq!(base64_lines(b"fooba", 76), b"Zm9vYmE=\r\n");
        assert_eq!(base64_lines(b"foob", 76), b"Zm9vYg==\r\n");
        assert_eq!(base64_lines(b"foobar", 4), b"Zm9v\r\nYmFy\r\n");
    }
}
