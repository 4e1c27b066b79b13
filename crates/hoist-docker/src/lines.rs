//! Reassembles text that arrives in arbitrary chunks (build output, log frames) into lines.
//!
//! Chunks are bytes: a frame boundary may fall inside a UTF-8 character, so text is decoded only
//! once a line is complete. Each byte is searched for a line end once, when its chunk arrives,
//! and copied at most twice, so a 40 MB line costs what its length costs.

/// Splits a byte stream into lines, keeping an incomplete last line for the next chunk.
#[derive(Debug, Default)]
pub(crate) struct LineBuffer {
    pending: Vec<u8>,
}

impl LineBuffer {
    pub(crate) fn push(&mut self, chunk: impl AsRef<[u8]>, mut emit: impl FnMut(String)) {
        let chunk = chunk.as_ref();
        let mut start = 0;
        // Only the new bytes can hold a line end: the pending ones were searched on arrival.
        for (i, _) in chunk.iter().enumerate().filter(|(_, b)| **b == b'\n') {
            let line = if self.pending.is_empty() {
                chunk[start..i].to_vec()
            } else {
                self.pending.extend_from_slice(&chunk[start..i]);
                std::mem::take(&mut self.pending)
            };
            emit(text(line));
            start = i + 1;
        }
        self.pending.extend_from_slice(&chunk[start..]);
    }

    pub(crate) fn finish(&mut self, mut emit: impl FnMut(String)) {
        if !self.pending.is_empty() {
            emit(text(std::mem::take(&mut self.pending)));
        }
    }
}

/// A complete line as text, without a trailing `\r`; bytes that are not UTF-8 become U+FFFD.
fn text(mut line: Vec<u8>) -> String {
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    String::from_utf8(line).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_reassembled_across_chunks() {
        let mut buf = LineBuffer::default();
        let mut out = Vec::new();
        buf.push("Step 1/2 : FR", |l| out.push(l));
        buf.push("OM x\r\n ---> abc\nlast", |l| out.push(l));
        buf.finish(|l| out.push(l));
        assert_eq!(out, ["Step 1/2 : FROM x", " ---> abc", "last"]);
    }

    #[test]
    fn a_character_split_between_chunks_stays_whole() {
        let mut buf = LineBuffer::default();
        let mut out = Vec::new();
        let bytes = "né\n".as_bytes();
        buf.push(&bytes[..2], |l| out.push(l));
        buf.push(&bytes[2..], |l| out.push(l));
        assert_eq!(out, ["né"]);
    }

    #[test]
    fn a_line_in_many_small_chunks_is_one_line() {
        let mut buf = LineBuffer::default();
        let mut out = Vec::new();
        let line = "0123456789".repeat(10_000);
        for piece in line.as_bytes().chunks(7) {
            buf.push(piece, |l| out.push(l));
        }
        buf.push("\n", |l| out.push(l));
        assert_eq!(out, [line]);
    }
}
