//! The subset of YAML that most compose files are written in, read without the general parser:
//! one document of block mappings and block sequences, single-line plain and quoted scalars,
//! anchors, aliases and merge keys, comments. The tree is exactly the one [`crate::yaml::parse`]
//! builds through saphyr (values, positions, key positions); the two are compared on every file
//! of the compose corpus by a test.
//!
//! Anything else (flow collections, block scalars, tags, multi-line scalars, several documents,
//! tabs, and every error) makes [`parse`] give up and return `None`: the caller then reads the
//! text with the general parser, which also gives the error messages.

use std::collections::HashMap;

use crate::yaml::{
    Collect, FileName, Key, MAX_DEPTH, MAX_NODES, Node, Pos, Str, Tag, Value, key_from, key_of,
    resolve_plain, resolve_typed, size,
};

/// The document's root mapping, or `None` when the text is outside the subset.
pub(crate) fn parse(text: &str, file: FileName) -> Option<Node> {
    // Byte searches: these run over the whole text.
    let b = text.as_bytes();
    if b.contains(&b'\t') || b.contains(&b'\r') || text.contains('\u{feff}') {
        return None;
    }
    let mut lines: Vec<&str> = Vec::with_capacity(b.len() / 24 + 1);
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        if c == b'\n' {
            lines.push(&text[start..i]);
            start = i + 1;
        }
    }
    lines.push(&text[start..]);
    let mut p = Reader {
        lines,
        file,
        entries: Vec::new(),
        items: Vec::new(),
        anchors: HashMap::new(),
        written: 0,
        nodes: 0,
    };
    let first = p.next_content(0)?;
    if indent(p.lines[first]) != 0 {
        return None;
    }
    let (root, next) = p.mapping(0, first, 0, None, 0)?;
    if next.is_some() {
        // Content left over at a smaller indentation than the root: not a single mapping.
        return None;
    }
    Some(root)
}

struct Reader<'a> {
    lines: Vec<&'a str>,
    file: FileName,
    /// Entries of the mappings being read, innermost last (each takes its own off at its end).
    entries: Vec<(Key, Node)>,
    /// Items of the sequences being read, likewise.
    items: Vec<Node>,
    /// Anchored nodes by name, with the order in which their anchors were written: an alias
    /// means the last anchor written before it, even when an earlier one finished later.
    anchors: HashMap<&'a str, (usize, Node)>,
    /// Anchors written so far.
    written: usize,
    nodes: usize,
}

fn indent(line: &str) -> usize {
    line.bytes().take_while(|&c| c == b' ').count()
}

/// Characters that may not start a plain scalar (or that start something this reader leaves to
/// the general parser).
fn is_indicator(c: u8) -> bool {
    matches!(
        c,
        b'-' | b'?'
            | b':'
            | b','
            | b'['
            | b']'
            | b'{'
            | b'}'
            | b'#'
            | b'&'
            | b'*'
            | b'!'
            | b'|'
            | b'>'
            | b'\''
            | b'"'
            | b'%'
            | b'@'
            | b'`'
    )
}

/// Whether the rest of a line (after a value) is empty or a comment.
fn only_comment(rest: &str) -> bool {
    let t = &rest[indent(rest)..];
    t.is_empty() || (t.starts_with('#') && (t.len() < rest.len() || rest.is_empty()))
}

/// A key at the start of `s`: its text, whether it was plain, and the offset of its colon.
fn key_at(s: &str) -> Option<(Key, bool, usize)> {
    let b = s.as_bytes();
    match *b.first()? {
        q @ (b'"' | b'\'') => {
            let (text, end) = quoted(s, q)?;
            (b.get(end) == Some(&b':') && matches!(b.get(end + 1), None | Some(b' '))).then_some((
                key_from(text),
                false,
                end,
            ))
        }
        c if is_indicator(c) || c == b' ' => None,
        _ => {
            let mut i = 0;
            while i < b.len() {
                match b[i] {
                    b':' if matches!(b.get(i + 1), None | Some(b' ')) => {
                        let key = s[..i].trim_end_matches(' ');
                        return Some((key_of(key), true, i));
                    }
                    b'#' if i > 0 && b[i - 1] == b' ' => return None,
                    _ => {}
                }
                i += 1;
            }
            None
        }
    }
}

/// A quoted scalar at the start of `s` (`q` is its quote): its text and the offset after the
/// closing quote. Escapes other than the common ones give up.
fn quoted(s: &str, q: u8) -> Option<(std::borrow::Cow<'_, str>, usize)> {
    let b = s.as_bytes();
    // Without escapes the text is a slice of the line.
    if let Some(end) = b[1..]
        .iter()
        .position(|&c| c == q || c == b'\\')
        .map(|i| i + 1)
        && b[end] == q
        && !(q == b'\'' && b.get(end + 1) == Some(&b'\''))
    {
        return Some((std::borrow::Cow::Borrowed(&s[1..end]), end + 1));
    }
    let mut out = String::new();
    let mut i = 1;
    let mut from = 1;
    while i < b.len() {
        let c = b[i];
        if c == q {
            if q == b'\'' && b.get(i + 1) == Some(&b'\'') {
                out.push_str(&s[from..=i]);
                i += 2;
                from = i;
                continue;
            }
            out.push_str(&s[from..i]);
            return Some((std::borrow::Cow::Owned(out), i + 1));
        }
        if q == b'"' && c == b'\\' {
            out.push_str(&s[from..i]);
            let e = *b.get(i + 1)?;
            let ch = match e {
                b'\\' => '\\',
                b'"' => '"',
                b'/' => '/',
                b'n' => '\n',
                b't' => '\t',
                b'r' => '\r',
                b'0' => '\0',
                b'a' => '\u{7}',
                b'b' => '\u{8}',
                b'e' => '\u{1b}',
                b'f' => '\u{c}',
                b'v' => '\u{b}',
                b' ' => ' ',
                _ => return None,
            };
            out.push(ch);
            i += 2;
            from = i;
            continue;
        }
        i += 1;
    }
    None
}

impl<'a> Reader<'a> {
    fn pos(&self, line: usize, col: usize) -> Pos {
        Pos {
            file: self.file,
            line: u32::try_from(line + 1).unwrap_or(u32::MAX),
            col: u32::try_from(col + 1).unwrap_or(u32::MAX),
        }
    }

    /// An anchor is written: from here on its name stands for the node it starts (an alias
    /// inside that node refers to the node itself, which the general parser rejects).
    fn start_anchor(&mut self, name: &'a str) -> usize {
        self.written += 1;
        self.anchors.remove(name);
        self.written
    }

    /// The node anchored as `name` is read; a later anchor of the same name inside it wins.
    fn finish_anchor(&mut self, name: &'a str, order: usize, node: &Node) {
        if self.anchors.get(name).is_none_or(|(o, _)| *o < order) {
            self.anchors.insert(name, (order, node.clone()));
        }
    }

    fn count(&mut self, n: usize) -> Option<()> {
        // Half the general parser's limits: anything near them is left to it (and its error).
        self.nodes += n;
        (self.nodes <= MAX_NODES / 2).then_some(())
    }

    /// The first line at or after `from` with content (not blank, not only a comment).
    fn next_content(&self, from: usize) -> Option<usize> {
        (from..self.lines.len()).find(|&l| {
            let line = self.lines[l];
            let t = &line[indent(line)..];
            !t.is_empty() && !t.starts_with('#')
        })
    }

    /// Whether the line after `line` that is not blank is indented deeper than `than` (a
    /// continuation of a scalar, which this reader does not handle).
    fn continues(&self, line: usize, than: usize) -> bool {
        (line + 1..self.lines.len())
            .find(|&l| indent(self.lines[l]) < self.lines[l].len())
            .is_some_and(|l| indent(self.lines[l]) > than)
    }

    /// A block mapping whose keys sit at column `ind`, the first one at (`line`, `col`).
    /// Returns the node and the next content line after it.
    fn mapping(
        &mut self,
        ind: usize,
        line: usize,
        col: usize,
        anchored: Option<Pos>,
        depth: usize,
    ) -> Option<(Node, Option<usize>)> {
        if depth > MAX_DEPTH / 2 {
            return None;
        }
        self.count(1)?;
        let pos = anchored.unwrap_or_else(|| self.pos(line, col));
        let mut into = Collect::new(self.entries.len());
        let (mut l, mut c) = (line, col);
        let next = loop {
            let text = self.lines[l];
            let rest = &text[c..];
            let (key, plain, colon) = key_at(rest)?;
            self.count(1)?;
            // A plain key that reads as a number, boolean or null is not a string key.
            if plain && resolve_typed(&key).is_some() {
                return None;
            }
            let key_pos = self.pos(l, c);
            let (mut value, next) = self.value(l, c + colon, ind, depth + 1)?;
            value.key = Some((key_pos.line, key_pos.col));
            if plain && key == "<<" {
                into.merge(value).ok()?;
            } else if into.get(&self.entries, &key).is_some() {
                return None;
            } else {
                into.push(&mut self.entries, key, value);
            }
            let Some(n) = next else {
                break None;
            };
            let i = indent(self.lines[n]);
            if i < ind {
                break Some(n);
            }
            if i > ind {
                return None;
            }
            (l, c) = (n, ind);
        };
        Some((Node::map(into.finish(&mut self.entries), pos), next))
    }

    /// A block sequence whose dashes sit at column `ind`, the first on `line`. `indentless` when
    /// it sits at its parent key's indentation (compose's `depends_on:\n- db`).
    fn sequence(
        &mut self,
        ind: usize,
        line: usize,
        anchored: Option<Pos>,
        indentless: bool,
        depth: usize,
    ) -> Option<(Node, Option<usize>)> {
        if depth > MAX_DEPTH / 2 {
            return None;
        }
        self.count(1)?;
        let start = self.items.len();
        let mut pos = anchored;
        let mut l = line;
        let next = loop {
            let text = self.lines[l];
            let b = text.as_bytes();
            if b.get(ind) != Some(&b'-') || b.get(ind + 1) != Some(&b' ') {
                return None;
            }
            let col = ind + 1 + indent(&text[ind + 1..]);
            if col >= text.len() || text[col..].starts_with('#') {
                return None;
            }
            if pos.is_none() {
                pos = Some(self.pos(l, if indentless { col } else { ind }));
            }
            let (item, next) = if key_at(&text[col..]).is_some() {
                self.mapping(col, l, col, None, depth + 1)?
            } else if let Some(name) = text[col..].strip_prefix('&') {
                // `- &name value`: an anchored scalar (anything bigger is left to saphyr).
                let end = name.find(' ')?;
                let vstart = col + 1 + end;
                let vstart = vstart + indent(&text[vstart..]);
                if only_comment(&text[vstart..])
                    || key_at(&text[vstart..]).is_some()
                    || text[vstart..].starts_with('*')
                {
                    return None;
                }
                let order = self.start_anchor(&name[..end]);
                let (mut n, next) = self.inline(l, vstart, ind, depth + 1)?;
                n.pos = self.pos(l, col);
                self.finish_anchor(&name[..end], order, &n);
                (n, next)
            } else {
                self.inline(l, col, ind, depth + 1)?
            };
            self.items.push(item);
            let Some(n) = next else {
                break None;
            };
            let i = indent(self.lines[n]);
            let dash = self.lines[n].as_bytes().get(i) == Some(&b'-');
            if i < ind || (i == ind && !dash && indentless) {
                break Some(n);
            }
            if i > ind || !dash {
                return None;
            }
            l = n;
        };
        let pos = pos?;
        let items: Vec<Node> = self.items.drain(start..).collect();
        Some((Node::seq(items, pos), next))
    }

    /// The value after a key's colon at (`line`, `colon`); the key sits at column `ind`.
    fn value(
        &mut self,
        line: usize,
        colon: usize,
        ind: usize,
        depth: usize,
    ) -> Option<(Node, Option<usize>)> {
        let text = self.lines[line];
        let after = colon + 1;
        let start = after + indent(&text[after..]);
        let rest = &text[start..];
        if only_comment(&text[after..]) {
            return self.nested(line, ind, None, Some(colon), depth);
        }
        if let Some(name) = rest.strip_prefix('&') {
            let end = name.find(' ').unwrap_or(name.len());
            let name = &name[..end];
            if name.is_empty() {
                return None;
            }
            let anchor_pos = self.pos(line, start);
            let order = self.start_anchor(name);
            let vstart = start + 1 + end;
            let (node, next) = if only_comment(&text[vstart..]) {
                self.nested(line, ind, Some(anchor_pos), None, depth)?
            } else {
                let vstart = vstart + indent(&text[vstart..]);
                if text[vstart..].starts_with('*') {
                    return None;
                }
                let (mut n, next) = self.inline(line, vstart, ind, depth)?;
                n.pos = anchor_pos;
                (n, next)
            };
            self.finish_anchor(name, order, &node);
            return Some((node, next));
        }
        self.inline(line, start, ind, depth)
    }

    /// The block under a key whose line ends after its colon: a deeper mapping or sequence, a
    /// sequence at the key's own indentation, or nothing (an empty scalar at the colon).
    fn nested(
        &mut self,
        line: usize,
        ind: usize,
        anchored: Option<Pos>,
        colon: Option<usize>,
        depth: usize,
    ) -> Option<(Node, Option<usize>)> {
        let next = self.next_content(line + 1);
        if let Some(n) = next {
            let i = indent(self.lines[n]);
            let dash = self.lines[n][i..].starts_with('-');
            if i > ind {
                return if dash {
                    self.sequence(i, n, anchored, false, depth)
                } else {
                    self.mapping(i, n, i, anchored, depth)
                };
            }
            if i == ind && dash {
                return self.sequence(i, n, anchored, true, depth);
            }
        }
        // An empty value: saphyr places it at the colon (or the anchor).
        self.count(1)?;
        let pos = match (anchored, colon) {
            (Some(p), _) => p,
            (None, Some(c)) => self.pos(line, c),
            (None, None) => return None,
        };
        Some((Node::new(Value::Null, pos), next))
    }

    /// A scalar or alias written on the line at (`line`, `col`), inside a block at `ind`.
    fn inline(
        &mut self,
        line: usize,
        col: usize,
        ind: usize,
        depth: usize,
    ) -> Option<(Node, Option<usize>)> {
        if depth > MAX_DEPTH / 2 {
            return None;
        }
        let text = self.lines[line];
        let rest = &text[col..];
        let b = rest.as_bytes();
        let first = *b.first()?;
        let node = match first {
            b'*' => {
                let name = &rest[1..];
                let end = name.find(' ').unwrap_or(name.len());
                if !only_comment(&name[end..]) {
                    return None;
                }
                let n = self.anchors.get(&name[..end])?.1.clone();
                self.count(size(&n))?;
                n
            }
            q @ (b'"' | b'\'') => {
                let (s, end) = quoted(rest, q)?;
                if !only_comment(&rest[end..]) || self.continues(line, ind) {
                    return None;
                }
                self.count(1)?;
                Node::new(Value::Str(Str::from(s)), self.pos(line, col))
            }
            // `-1`, `--flag`: a dash starts a plain scalar unless a space follows it.
            b'-' if b.get(1).is_none_or(|&x| x == b' ') => return None,
            c if c != b'-' && is_indicator(c) => return None,
            _ => {
                // A plain scalar: up to a comment or the end of the line.
                let mut end = rest.len();
                let mut i = 0;
                while i < b.len() {
                    match b[i] {
                        b'#' if b[i - 1] == b' ' => {
                            end = i;
                            break;
                        }
                        b':' if matches!(b.get(i + 1), None | Some(b' ')) => return None,
                        _ => {}
                    }
                    i += 1;
                }
                let s = rest[..end].trim_end_matches(' ');
                if self.continues(line, ind) {
                    return None;
                }
                self.count(1)?;
                Node::new(resolve_plain(s), self.pos(line, col))
            }
        };
        let next = self.next_content(line + 1);
        Some((
            Node {
                tag: Tag::None,
                ..node
            },
            next,
        ))
    }
}

#[cfg(test)]
mod tests_support {
    use super::*;
    use crate::yaml::parse_general;

    /// Every difference between two trees, values and positions alike.
    fn diff(a: &Node, b: &Node, path: &str, out: &mut Vec<String>) {
        if a.pos != b.pos || a.key != b.key || a.tag != b.tag {
            out.push(format!(
                "{path}: position {:?}/{:?} key {:?}/{:?} tag {:?}/{:?}",
                (a.pos.line, a.pos.col),
                (b.pos.line, b.pos.col),
                a.key,
                b.key,
                a.tag,
                b.tag
            ));
        }
        match (&a.value, &b.value) {
            (Value::Map(x), Value::Map(y)) => {
                let kx: Vec<&Key> = x.keys().collect();
                let ky: Vec<&Key> = y.keys().collect();
                if kx != ky {
                    out.push(format!("{path}: keys {kx:?} / {ky:?}"));
                    return;
                }
                for (k, v) in x {
                    diff(v, &y[k], &format!("{path}.{k}"), out);
                }
            }
            (Value::Seq(x), Value::Seq(y)) => {
                if x.len() != y.len() {
                    out.push(format!("{path}: {} / {} items", x.len(), y.len()));
                    return;
                }
                for (i, (v, w)) in x.iter().zip(y).enumerate() {
                    diff(v, w, &format!("{path}[{i}]"), out);
                }
            }
            (x, y) if format!("{x:?}") != format!("{y:?}") => {
                out.push(format!("{path}: {x:?} / {y:?}"));
            }
            _ => {}
        }
    }

    /// The tree of the general parser, when it reads `text` as one document.
    fn general(text: &str) -> Option<Node> {
        let mut docs = parse_general(text, FileName::intern("t.yml")).ok()?;
        (docs.len() == 1).then(|| docs.remove(0))
    }

    pub(super) fn same_as_general(text: &str) -> Result<bool, Vec<String>> {
        let Some(fast) = parse(text, FileName::intern("t.yml")) else {
            return Ok(false);
        };
        let Some(slow) = general(text) else {
            return Err(vec!["the general parser rejects it".into()]);
        };
        let mut out = Vec::new();
        diff(&fast, &slow, "", &mut out);
        if out.is_empty() { Ok(true) } else { Err(out) }
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::same_as_general;
    use super::*;

    #[test]
    fn reads_what_the_general_parser_reads() {
        let texts = [
            "a: 1\nb: two\n",
            "x-common: &common\n  restart: unless-stopped\n  labels:\n    a.b: platform\nservices:\n  web:\n    <<: *common\n    ports:\n      - \"80:80\"\n      - 127.0.0.1:9000:9000/udp\n    environment:\n      - A=1 # comment\n    empty:\n    depends_on:\n    - db\n    list:\n      - a: 1\n        b: 2\n",
            "a: &x foo\nb: *x\nc: &m\n  k: 1\nd: &s\n  - 1\ne: &q \"quoted\"\nlist:\n- &i item\n- *i\n- k: v\n  j: w\n- 'single'\nkey with spaces: x\n\"quoted key\": y\nurl: http://localhost/ || exit 1\ntrail: value   # c\nneg: -1\n",
            "# leading comment\n\nservices:\n  # inside\n  db:\n    image: 'it''s'\n    command: \"a \\\"b\\\" \\\\ c\"\n    empty_anchor: &e\n    again: *e\n    ver: 0755\n    f: 1.50\n    t: true\n    n: ~\n",
            "a:\n  - x\n  - y\nb:\n- k: 1\n  l:\n    m: 2\n- z\nc: end\n",
        ];
        for t in texts {
            assert_eq!(same_as_general(t), Ok(true), "{t}");
        }
    }

    #[test]
    fn large_mappings_read_alike() {
        let mut t = String::from("base: &b\n  x: 1\nbig:\n");
        for i in 0..60 {
            t.push_str(&format!("  k{i}: {i}\n"));
        }
        t.push_str("  <<: *b\n");
        assert_eq!(same_as_general(&t), Ok(true));
    }

    #[test]
    fn leaves_everything_else_to_the_general_parser() {
        let mut big_with_duplicate = String::from("big:\n");
        for i in 0..60 {
            big_with_duplicate.push_str(&format!("  k{i}: {i}\n"));
        }
        big_with_duplicate.push_str("  k7: again\n");
        for t in [
            "a: [1, 2]\n",
            "a: {b: 1}\n",
            "a: |\n  text\n",
            "a: >\n  text\n",
            "a: !reset []\n",
            "a: !!str 1\n",
            "---\na: 1\n",
            "a: 1\n---\nb: 2\n",
            "a: plain\n  continued\n",
            "a: \"open\n  quote\"\n",
            "a: 1\na: 2\n",
            "123: x\n",
            "true: x\n",
            "a:\tb\n",
            "a: 1\r\nb: 2\r\n",
            "- a\n- b\n",
            "a: b: c\n",
            "? a\n: b\n",
            "a: *missing\n",
            "a:\n  b: 1\n c: 2\n",
            "",
            "# only a comment\n",
            "a: \"\\x41\"\n",
            "a: &x 1\nb: &y *x\n",
            &big_with_duplicate,
            "a: &x 1\nb:\n  - &y *x\n",
        ] {
            assert_eq!(
                parse(t, FileName::intern("t.yml")).map(|_| ()),
                None,
                "{t:?}"
            );
        }
    }

    /// Every compose file of the corpus that this reader takes gives the general parser's tree.
    #[test]
    fn corpus_files_read_the_same_both_ways() {
        let root = std::env::var_os("HOIST_COMPOSE_CORPUS")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| std::path::PathBuf::from("/work/shared/compose-corpus"));
        let mut files = Vec::new();
        let mut stack = vec![root.join("cases")];
        while let Some(dir) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "yml" || x == "yaml") {
                    files.push(p);
                }
            }
        }
        if files.is_empty() {
            eprintln!("no corpus at {}: skipped", root.display());
            return;
        }
        let (mut taken, mut failures) = (0, Vec::new());
        for f in &files {
            let Ok(text) = std::fs::read_to_string(f) else {
                continue;
            };
            match same_as_general(&text) {
                Ok(true) => taken += 1,
                Ok(false) => {}
                Err(d) => failures.push(format!(
                    "{}: {}",
                    f.display(),
                    d[..d.len().min(3)].join("; ")
                )),
            }
        }
        eprintln!("block reader took {taken} of {} corpus files", files.len());
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        assert!(
            taken * 2 > files.len(),
            "only {taken} of {} files",
            files.len()
        );
    }
}

#[cfg(test)]
mod proptests {
    use super::tests_support::same_as_general;
    use proptest::prelude::*;

    /// A tree to write out in block style.
    #[derive(Clone, Debug)]
    enum T {
        Scalar(&'static str),
        Map(Vec<(&'static str, T)>),
        Seq(Vec<T>),
    }

    const SCALARS: &[&str] = &[
        "a",
        "-1",
        "1.5",
        "0755",
        "true",
        "~",
        "",
        "\"q\"",
        "'s''t'",
        "http://h/ x",
        "v # c",
        "\"a: b\"",
        "x:y",
        "${VAR:-d}",
        "-flag",
        "é",
        "\"e\\\"\"",
    ];
    const KEYS: &[&str] = &["a", "b", "x-y", "image", "\"q k\"", "k with space", "<<"];

    fn tree() -> impl Strategy<Value = T> {
        let leaf = prop::sample::select(SCALARS).prop_map(T::Scalar);
        leaf.prop_recursive(4, 40, 5, |inner| {
            prop_oneof![
                prop::collection::vec((prop::sample::select(KEYS), inner.clone()), 1..5)
                    .prop_map(T::Map),
                prop::collection::vec(inner, 1..4).prop_map(T::Seq),
            ]
        })
    }

    /// Writes `t` as the value after a key (`after_key`) or as a sequence item, `ind` deep;
    /// `style` picks between equivalent spellings.
    fn write(t: &T, ind: usize, style: &mut impl Iterator<Item = bool>, out: &mut String) {
        let mut pick = || style.next().unwrap_or(false);
        match t {
            T::Scalar(s) => {
                if pick() {
                    out.push_str(" &n");
                }
                if !s.is_empty() {
                    out.push(' ');
                    out.push_str(s);
                }
                if pick() {
                    out.push_str("  # note");
                }
                out.push('\n');
                if pick() {
                    out.push_str("\n# comment\n");
                }
            }
            T::Map(entries) => {
                if pick() {
                    out.push_str(" &m");
                }
                out.push('\n');
                for (k, v) in entries {
                    out.push_str(&" ".repeat(ind + 2));
                    out.push_str(k);
                    out.push(':');
                    if *k == "<<" {
                        out.push_str(" *m\n");
                        continue;
                    }
                    write(v, ind + 2, style, out);
                }
            }
            T::Seq(items) => {
                out.push('\n');
                let dash = if pick() { ind } else { ind + 2 };
                for it in items {
                    out.push_str(&" ".repeat(dash));
                    out.push('-');
                    match it {
                        T::Scalar(_) => write(it, dash, style, out),
                        _ => {
                            out.pop();
                            out.push_str("- x\n");
                        }
                    }
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        #[test]
        fn whatever_it_reads_the_general_parser_reads_alike(
            entries in prop::collection::vec((prop::sample::select(KEYS), tree()), 1..6),
            style in prop::collection::vec(any::<bool>(), 64),
        ) {
            let mut text = String::new();
            let mut style = style.into_iter().cycle();
            for (k, v) in &entries {
                text.push_str(k);
                text.push(':');
                write(v, 0, &mut style, &mut text);
            }
            let r = same_as_general(&text);
            prop_assert!(r.is_ok(), "{text}\n{r:?}");
        }
    }
}
