//! Reassembles text that arrives in arbitrary chunks (build output, log frames) into lines.

/// Splits a text stream into lines, keeping an incomplete last line for the next chunk.
#[derive(Debug, Default)]
pub(crate) struct LineBuffer {
    pending: String,
}

impl LineBuffer {
    pub(crate) fn push(&mut self, chunk: &str, mut emit: impl FnMut(String)) {
        self.pending.push_str(chunk);
        while let Some(i) = self.pending.find('\n') {
            let mut line: String = self.pending.drain(..=i).collect();
            line.pop();
            if line.ends_with('\r') {
                line.pop();
            }
            emit(line);
        }
    }

    pub(crate) fn finish(&mut self, mut emit: impl FnMut(String)) {
        if !self.pending.is_empty() {
            emit(std::mem::take(&mut self.pending));
        }
    }
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
}
