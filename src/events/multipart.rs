//! The multipart streams cameras push events in (Hikvision's alertStream, Dahua's
//! eventManager), read incrementally and bounded, pure: bytes in as they arrive, whole part
//! bodies out. A part is found by its boundary line; its `Content-Length` is used when given,
//! else it ends at the next boundary. Anything larger than [`MAX_PART`] is an error, never a
//! growing buffer.

/// Largest part accepted (events are a few hundred bytes; pictures some cameras attach are
/// skipped by their length, never kept).
pub const MAX_PART: usize = 64 * 1024;

/// Reads parts separated by `--boundary`.
#[derive(Debug)]
pub struct Parts {
    delimiter: Vec<u8>,
    buf: Vec<u8>,
    /// Bytes of an oversized part still to skip.
    skip: usize,
    /// Where the next search may start: what came before was searched already (a camera that
    /// drips a byte at a time costs a byte's search, not the whole buffer's).
    searched: usize,
}

impl Parts {
    /// `boundary` as the `Content-Type` gives it (with or without its leading dashes).
    pub fn new(boundary: &str) -> Self {
        let b = boundary.trim().trim_matches('"').trim_start_matches("--");
        Self {
            delimiter: format!("--{b}").into_bytes(),
            buf: Vec::new(),
            skip: 0,
            searched: 0,
        }
    }

    /// The boundary of a `multipart/…; boundary=…` content type.
    pub fn boundary(content_type: &str) -> Option<String> {
        content_type.split(';').find_map(|p| {
            let (k, v) = p.trim().split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("boundary")
                .then(|| v.trim().trim_matches('"').to_string())
        })
    }

    /// Takes `bytes`; the bodies of the parts they completed, and any part that was too large
    /// (named by its size) as an error after them.
    pub fn push(&mut self, mut bytes: &[u8]) -> (Vec<Vec<u8>>, Option<String>) {
        let mut error = None;
        if self.skip > 0 {
            let n = self.skip.min(bytes.len());
            self.skip -= n;
            bytes = &bytes[n..];
        }
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        loop {
            match self.next_part() {
                Next::Part(body) => out.push(body),
                Next::More => break,
                Next::TooLarge(n) => {
                    error = Some(format!("a part of {n} bytes (at most {MAX_PART} are read)"));
                }
            }
        }
        if self.buf.len() > 2 * MAX_PART {
            // No boundary in sight: not the stream we expect.
            error = Some(format!("{} bytes without a part boundary", self.buf.len()));
            self.buf.clear();
            self.searched = 0;
        }
        (out, error)
    }

    /// The next whole part in the buffer. Waiting for more bytes, it notes where to search
    /// from next time: after what holds no delimiter, or at the delimiter of the part that
    /// is not whole yet.
    fn next_part(&mut self) -> Next {
        let from = self.searched.min(self.buf.len());
        let Some(start) = find(&self.buf[from..], &self.delimiter).map(|i| from + i) else {
            // A delimiter cut at the end is found next time.
            self.searched = self.buf.len().saturating_sub(self.delimiter.len());
            return Next::More;
        };
        self.searched = start;
        let after = start + self.delimiter.len();
        let Some(head_end) = find(&self.buf[after..], b"\r\n\r\n").map(|i| after + i + 4) else {
            return Next::More;
        };
        let head = String::from_utf8_lossy(&self.buf[after..head_end]).into_owned();
        let length = head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        });
        match length {
            Some(n) if n > MAX_PART => {
                let have = self.buf.len() - head_end;
                self.skip = n.saturating_sub(have);
                self.buf.drain(..head_end + n.min(have));
                self.searched = 0;
                Next::TooLarge(n)
            }
            Some(n) => {
                if self.buf.len() < head_end + n {
                    return Next::More;
                }
                let body = self.buf[head_end..head_end + n].to_vec();
                self.buf.drain(..head_end + n);
                self.searched = 0;
                Next::Part(body)
            }
            None => {
                let Some(end) = find(&self.buf[head_end..], &self.delimiter) else {
                    return Next::More;
                };
                let body = trim_crlf(&self.buf[head_end..head_end + end]).to_vec();
                self.buf.drain(..head_end + end);
                self.searched = 0;
                Next::Part(body)
            }
        }
    }
}

enum Next {
    Part(Vec<u8>),
    More,
    TooLarge(usize),
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

fn trim_crlf(b: &[u8]) -> &[u8] {
    let mut b = b;
    while let [rest @ .., b'\r' | b'\n'] = b {
        b = rest;
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_with_and_without_lengths_in_any_pieces() {
        let stream = b"--b\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello\r\n--b\r\nContent-Type: text/plain\r\n\r\nworld\r\n--b\r\n";
        for cut in 1..stream.len() {
            let mut p = Parts::new("b");
            let (mut got, e1) = p.push(&stream[..cut]);
            let (more, e2) = p.push(&stream[cut..]);
            got.extend(more);
            assert_eq!(got, [b"hello".to_vec(), b"world".to_vec()], "cut at {cut}");
            assert!(e1.is_none() && e2.is_none());
        }
        assert_eq!(
            Parts::boundary("multipart/mixed; boundary=\"boundary\"").as_deref(),
            Some("boundary")
        );
    }

    #[test]
    fn a_stream_dripped_a_byte_at_a_time() {
        let stream = b"--b\r\nContent-Length: 3\r\n\r\none\r\n--b\r\n\r\ntwo\r\n--b\r\nContent-Length: 5\r\n\r\nthree";
        let mut p = Parts::new("b");
        let mut got = Vec::new();
        for b in stream.chunks(1) {
            let (parts, e) = p.push(b);
            assert!(e.is_none());
            got.extend(parts);
        }
        assert_eq!(got, [b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]);
    }

    #[test]
    fn a_huge_part_is_skipped_and_garbage_is_bounded() {
        let mut p = Parts::new("b");
        let head = format!("--b\r\nContent-Length: {}\r\n\r\n", MAX_PART * 4);
        let (got, e) = p.push(head.as_bytes());
        assert!(got.is_empty());
        assert!(e.unwrap().contains("bytes"));
        let (got, _) = p.push(&vec![b'x'; MAX_PART * 4]);
        assert!(got.is_empty());
        let (got, e) = p.push(b"--b\r\nContent-Length: 2\r\n\r\nok");
        assert_eq!((got, e), (vec![b"ok".to_vec()], None));
        let (_, e) = p.push(&vec![b'y'; MAX_PART * 3]);
        assert!(e.unwrap().contains("without a part boundary"));
        assert!(p.buf.is_empty());
    }
}
