//! A DLQ page body split by a byte-level scan: the envelope's members, and each element of its
//! `events` array as its own slice, so that one element that cannot be decoded (invalid UTF-8,
//! a bad token or escape) spoils only itself.
//!
//! The scan knows strings (a `"` ends one unless escaped by `\`), nesting (`{ [` open, `} ]`
//! close) and nothing else; it does not need the bytes to be UTF-8 or the elements to be valid
//! JSON. An element runs from its first byte to the next `,` or `]` outside strings at the
//! array's own depth, so an element whose brackets are balanced and strings closed is always
//! delimited, whatever else is wrong inside it. What the scan cannot delimit (a string or an
//! array that never ends, an envelope that is not an object) is a
//! [`DomainError::InvalidPage`].

use crate::error::DomainError;
use std::borrow::Cow;

/// The envelope of a DLQ page: the raw elements of `events` and the raw `nextPageToken` value.
#[derive(Debug, Default)]
pub(crate) struct PageParts<'a> {
    /// The elements, trimmed of whitespace, in order; empty when `events` is missing or `null`.
    pub(crate) events: Vec<&'a [u8]>,
    /// The raw JSON value of `nextPageToken`, if the member is there.
    pub(crate) next_page_token: Option<&'a [u8]>,
}

/// Splits a page body into its parts.
///
/// # Errors
/// [`DomainError::InvalidPage`] with the byte offset when the envelope is broken.
pub(crate) fn split_page(body: &[u8]) -> Result<PageParts<'_>, DomainError> {
    let mut s = Scan { b: body, i: 0 };
    let mut parts = PageParts::default();
    let (mut seen_events, mut seen_token) = (false, false);
    s.ws();
    if s.peek() != Some(b'{') {
        return Err(s.error("the body is not a JSON object"));
    }
    s.i += 1;
    s.ws();
    if s.peek() == Some(b'}') {
        s.i += 1;
    } else {
        loop {
            s.ws();
            let name = s.member_name()?;
            s.ws();
            if s.peek() != Some(b':') {
                return Err(s.error("expected `:` after a member name"));
            }
            s.i += 1;
            s.ws();
            match name.as_ref() {
                "events" => {
                    if std::mem::replace(&mut seen_events, true) {
                        return Err(s.error("`events` appears twice"));
                    }
                    if s.rest().starts_with(b"null") {
                        s.i += 4;
                    } else if s.peek() == Some(b'[') {
                        parts.events = s.elements()?;
                    } else {
                        return Err(s.error("`events` is not an array"));
                    }
                }
                "nextPageToken" => {
                    if std::mem::replace(&mut seen_token, true) {
                        return Err(s.error("`nextPageToken` appears twice"));
                    }
                    let start = s.i;
                    s.skip_value()?;
                    parts.next_page_token = Some(&body[start..s.i]);
                }
                _ => s.skip_value()?,
            }
            s.ws();
            match s.peek() {
                Some(b',') => s.i += 1,
                Some(b'}') => {
                    s.i += 1;
                    break;
                }
                Some(_) => return Err(s.error("expected `,` or `}` after a member")),
                None => return Err(s.error("the page object is not terminated")),
            }
        }
    }
    s.ws();
    if s.i < body.len() {
        return Err(s.error("trailing data after the page object"));
    }
    Ok(parts)
}

/// Recovers `eventId` from an element that cannot be decoded: the first member named exactly
/// `eventId` at the element's top level whose value is a valid JSON string of 1 to 1,024 bytes.
/// Lenient: the rest of the element may be anything.
pub(crate) fn recover_event_id(element: &[u8]) -> Option<String> {
    let mut s = Scan { b: element, i: 0 };
    s.ws();
    if s.peek() != Some(b'{') {
        return None;
    }
    s.i += 1;
    let mut depth = 1usize;
    while let Some(c) = s.peek() {
        match c {
            b'"' => {
                let start = s.i;
                s.skip_string().ok()?;
                if depth == 1 && &element[start..s.i] == b"\"eventId\"" {
                    s.ws();
                    if s.peek() == Some(b':') {
                        s.i += 1;
                        s.ws();
                        if s.peek() == Some(b'"') {
                            let v = s.i;
                            s.skip_string().ok()?;
                            return serde_json::from_slice::<String>(&element[v..s.i])
                                .ok()
                                .filter(|id| (1..=1024).contains(&id.len()));
                        }
                    }
                }
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return None;
                }
            }
            _ => {}
        }
        s.i += 1;
    }
    None
}

/// A cursor over the body.
struct Scan<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Scan<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn rest(&self) -> &'a [u8] {
        self.b.get(self.i..).unwrap_or_default()
    }

    fn error(&self, problem: &'static str) -> DomainError {
        DomainError::InvalidPage {
            offset: self.i,
            problem,
        }
    }

    /// Skips JSON whitespace.
    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    /// At a `"`: moves past the closing quote. Any byte but an unescaped `"` is content.
    fn skip_string(&mut self) -> Result<(), DomainError> {
        let start = self.i;
        self.i += 1;
        while let Some(at) = memchr::memchr2(b'"', b'\\', self.rest()) {
            self.i += at;
            if self.b[self.i] == b'"' {
                self.i += 1;
                return Ok(());
            }
            self.i += 2;
        }
        self.i = start;
        Err(self.error("a string is not terminated"))
    }

    /// A member name: a string, decoded (escapes included).
    fn member_name(&mut self) -> Result<Cow<'a, str>, DomainError> {
        if self.peek() != Some(b'"') {
            return Err(self.error("expected a member name"));
        }
        let start = self.i;
        self.skip_string()?;
        let raw = &self.b[start..self.i];
        let inner = &raw[1..raw.len() - 1];
        if !inner.contains(&b'\\')
            && let Ok(name) = std::str::from_utf8(inner)
        {
            return Ok(Cow::Borrowed(name));
        }
        serde_json::from_slice::<String>(raw)
            .map(Cow::Owned)
            .map_err(|_| DomainError::InvalidPage {
                offset: start,
                problem: "a member name is not a valid JSON string",
            })
    }

    /// Moves past one value, without checking it beyond its extent: a string, a container
    /// (to its matching depth), or a scalar (to the next delimiter).
    fn skip_value(&mut self) -> Result<(), DomainError> {
        match self.peek() {
            Some(b'"') => self.skip_string(),
            Some(b'{' | b'[') => {
                let start = self.i;
                let mut depth = 0usize;
                while let Some(c) = self.peek() {
                    match c {
                        b'"' => {
                            self.skip_string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.i += 1;
                                return Ok(());
                            }
                        }
                        _ => {}
                    }
                    self.i += 1;
                }
                self.i = start;
                Err(self.error("a value is not terminated"))
            }
            _ => {
                let start = self.i;
                while let Some(c) = self.peek() {
                    if matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                        break;
                    }
                    self.i += 1;
                }
                if self.i == start {
                    Err(self.error("expected a value"))
                } else {
                    Ok(())
                }
            }
        }
    }

    /// At the `[` of `events`: the elements, each trimmed, up to and past the closing `]`.
    /// Empty elements (`[a,,b]`, a trailing comma) are left out.
    fn elements(&mut self) -> Result<Vec<&'a [u8]>, DomainError> {
        let open = self.i;
        self.i += 1;
        let mut out = Vec::new();
        let mut start = self.i;
        let mut depth = 0usize;
        while let Some(c) = self.peek() {
            match c {
                b'"' => {
                    if self.skip_string().is_err() {
                        break;
                    }
                    continue;
                }
                b'{' | b'[' => depth += 1,
                // A closer with nothing open is a stray byte of a broken element.
                b'}' => depth = depth.saturating_sub(1),
                b']' if depth > 0 => depth -= 1,
                b',' | b']' if depth == 0 => {
                    push_trimmed(&mut out, &self.b[start..self.i]);
                    self.i += 1;
                    if c == b']' {
                        return Ok(out);
                    }
                    start = self.i;
                    continue;
                }
                _ => {}
            }
            self.i += 1;
        }
        self.i = open;
        Err(self.error("the `events` array is not terminated"))
    }
}

fn push_trimmed<'a>(out: &mut Vec<&'a [u8]>, element: &'a [u8]) {
    let is_ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    let Some(first) = element.iter().position(|b| !is_ws(b)) else {
        return;
    };
    let last = element.iter().rposition(|b| !is_ws(b)).unwrap_or(first);
    out.push(&element[first..=last]);
}

/// At most `max` bytes of `bytes`, readable and safe to log: valid UTF-8 kept except for
/// control characters and `\`, which are escaped like invalid bytes (`\xNN`, `\\`), and a note
/// of the full length when cut.
pub(crate) fn excerpt(bytes: &[u8], max: usize) -> String {
    let head = &bytes[..bytes.len().min(max)];
    let mut out = String::with_capacity(head.len() + 16);
    for chunk in head.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                // Control characters are U+0000 to U+001F and U+007F to U+009F.
                c if c.is_control() => out.push_str(&format!("\\x{:02x}", u32::from(c))),
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    if bytes.len() > head.len() {
        out.push_str(&format!("… ({} bytes in all)", bytes.len()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_are_delimited_by_structure_only() {
        let body = b"{\"events\":[ {\"a\":\"],\\\"\"} , [1,[2]] ,\"x,y\", 3 ,{\"b\":\xff} ]}";
        let parts = split_page(body).unwrap();
        let got: Vec<&[u8]> = parts.events;
        assert_eq!(
            got,
            [
                &b"{\"a\":\"],\\\"\"}"[..],
                b"[1,[2]]",
                b"\"x,y\"",
                b"3",
                b"{\"b\":\xff}",
            ]
        );
    }

    #[test]
    fn recovery_reads_only_the_top_level_event_id() {
        let cases: &[(&[u8], Option<&str>)] = &[
            (br#"{"eventId":"a","x":tru}"#, Some("a")),
            (
                br#" { "x" : {"eventId":"inner"} , "eventId" :"b" "#,
                Some("b"),
            ),
            (br#"{"x":"\"eventId\":\"c\""}"#, None),
            (br#"{"eventId":"a\u0062"}"#, Some("ab")),
            (br#"{"eventId":""}"#, None),
            (br#"["eventId","a"]"#, None),
            (br#"{"eventId":"unterminated"#, None),
            (br#"{"x":{}},"eventId":"after the end""#, None),
        ];
        for (element, want) in cases {
            assert_eq!(
                recover_event_id(element).as_deref(),
                *want,
                "{}",
                String::from_utf8_lossy(element)
            );
        }
    }

    #[test]
    fn excerpts_escape_and_cut() {
        assert_eq!(
            excerpt(b"ok \\ \x00\n\xff\xe2\x82", 100),
            "ok \\\\ \\x00\\x0a\\xff\\xe2\\x82"
        );
        assert_eq!(excerpt("é€".as_bytes(), 100), "é€");
        assert_eq!(excerpt(b"abcdef", 3), "abc… (6 bytes in all)");
        assert_eq!(excerpt("\u{85}".as_bytes(), 9), "\\x85");
        assert_eq!(excerpt("\u{2028}".as_bytes(), 9), "\u{2028}");
    }
}
