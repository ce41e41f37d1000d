//! Quoted-printable (RFC 2045 §6.7) in pieces that can be joined in any order.
//!
//! A digest's HTML and text are the same for every reader but for a few short personal
//! values (greeting, links). Encoding the whole ~20 KB per message was the largest cost
//! of a send, so the literal pieces are encoded once per digest and only the values per
//! message. That works because every piece [`encode_piece`] writes starts on a fresh
//! line and ends with a soft line break (`=` CRLF, which decodes to nothing): where a
//! piece sits in the message cannot change how it must be encoded, and the joined
//! pieces decode to the joined inputs.

/// Longest encoded line before the soft break's `=` (the limit is 76 with it).
const MAX_LINE: usize = 75;

/// Appends `input`, quoted-printable encoded, to `out`: starting on a fresh line and
/// ending on one (with a soft line break when the last line has content). `\n` and
/// `\r\n` become hard line breaks (CRLF); a lone `\r`, `=`, control and non-ASCII bytes
/// become `=XX`; spaces and tabs stay literal except before a line break.
pub fn encode_piece(out: &mut String, input: &str) {
    let bytes = input.as_bytes();
    let mut line = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\n' || (b == b'\r' && bytes.get(i + 1) == Some(&b'\n')) {
            end_in_whitespace_safely(out, &mut line);
            out.push_str("\r\n");
            line = 0;
            i += if b == b'\r' { 2 } else { 1 };
            continue;
        }
        let literal = matches!(b, b'!'..=b'<' | b'>'..=b'~' | b' ' | b'\t');
        let width = if literal { 1 } else { 3 };
        if line + width > MAX_LINE {
            out.push_str("=\r\n");
            line = 0;
        }
        if literal {
            out.push(b as char);
        } else {
            push_hex(out, b);
        }
        line += width;
        i += 1;
    }
    if line > 0 {
        out.push_str("=\r\n");
    }
}

/// Upper bound of the encoded length of `input` (for reserving capacity).
pub fn encoded_len_hint(input: &str) -> usize {
    input.len() + input.len() / 20 + 8
}

/// A line must not end in a literal space or tab (transports may strip it): re-encode
/// the last one before a hard line break.
fn end_in_whitespace_safely(out: &mut String, line: &mut usize) {
    let Some(last @ (b' ' | b'\t')) = out.as_bytes().last().copied() else {
        return;
    };
    if *line == 0 {
        return;
    }
    out.pop();
    *line -= 1;
    if *line + 3 > MAX_LINE {
        out.push_str("=\r\n");
        *line = 0;
    }
    push_hex(out, last);
    *line += 3;
}

fn push_hex(out: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('=');
    out.push(HEX[usize::from(b >> 4)] as char);
    out.push(HEX[usize::from(b & 0xf)] as char);
}

/// Decodes quoted-printable (for tests and checks; tolerant of LF-only line ends).
pub fn decode(encoded: &str) -> Vec<u8> {
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'=' if bytes.get(i + 1) == Some(&b'\r') && bytes.get(i + 2) == Some(&b'\n') => i += 3,
            b'=' if bytes.get(i + 1) == Some(&b'\n') => i += 2,
            b'=' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                    }
                    None => {
                        out.push(b'=');
                        i += 1;
                    }
                }
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(s: &str) -> String {
        let mut out = String::new();
        encode_piece(&mut out, s);
        out
    }

    fn lines_are_short(s: &str) -> bool {
        s.split("\r\n").all(|l| l.len() <= 76) && !s.replace("\r\n", "").contains('\n')
    }

    #[test]
    fn round_trips_and_keeps_lines_short() {
        let samples = [
            "",
            "plain",
            "a = b\n",
            "trailing space \nand tab\t\r\nend",
            "Grüße — ☕ café\nnaïve",
            &"x".repeat(500),
            &"é".repeat(200),
            &format!("{}\n{}", " ".repeat(90), "=".repeat(40)),
            "lone\rcarriage",
        ];
        for s in samples {
            let e = enc(s);
            assert!(lines_are_short(&e), "{e:?}");
            let want = s.replace("\r\n", "\n").replace('\n', "\r\n");
            assert_eq!(String::from_utf8(decode(&e)).unwrap(), want, "{s:?}");
            assert!(e.is_empty() || e.ends_with("\r\n"));
            for line in e.split("\r\n") {
                assert!(!line.ends_with(' ') && !line.ends_with('\t'), "{line:?}");
            }
        }
    }

    #[test]
    fn pieces_join_in_any_order() {
        let pieces = [
            "<p>Hello, ",
            "Ana & Bo",
            "</p>\n<a href=\"",
            "https://x.example/u?t=a.b",
            "\">x</a>",
        ];
        let mut joined = String::new();
        for p in pieces {
            encode_piece(&mut joined, p);
        }
        assert!(lines_are_short(&joined));
        assert_eq!(
            String::from_utf8(decode(&joined)).unwrap(),
            pieces.concat().replace('\n', "\r\n")
        );
    }
}
