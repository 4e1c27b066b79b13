//! YAML text → ordered tree of [`Node`]s that keep their file, line and column, so that every later
//! stage can say where a value came from. Anchors and aliases are expanded, merge keys (`<<`) are
//! applied, duplicate keys are rejected and the compose tags `!reset` / `!override` are kept on the
//! node for the merge stage. Plain scalars are typed the way go-yaml v3 types them (YAML 1.2
//! booleans, but 1.1 style leading-zero octals), because compose's output depends on it.
//!
//! Text in the block subset most compose files use is read by `yaml_block` without the
//! general parser (saphyr); anything else, and every error, goes through saphyr. Both give the
//! same tree, positions included.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

use crate::error::{ComposeError, Location};

/// An ordered mapping of string keys to nodes.
pub type Map = crate::vecmap::VecMap<Node>;

pub use crate::json::{Key, Str};

/// A mapping key: compose's own names borrow the schema's text, other keys are copied.
pub(crate) fn key_of(s: &str) -> Key {
    match crate::schema::keyword(s) {
        Some(k) => Key::new_static(k),
        None => Key::new(s),
    }
}

/// [`key_of`] for a key already read into a string.
pub(crate) fn key_from(s: impl AsRef<str> + Into<Key>) -> Key {
    match crate::schema::keyword(s.as_ref()) {
        Some(k) => Key::new_static(k),
        None => s.into(),
    }
}

/// A YAML value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Str),
    Seq(Vec<Node>),
    Map(Map),
}

/// The compose merge tags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Tag {
    #[default]
    None,
    /// `!reset`: the value is removed (or emptied) when merged over another.
    Reset,
    /// `!override`: the value replaces the one it is merged over instead of being merged with it.
    Override,
}

/// The name of a file nodes were read from: a number standing for the name in a table kept for
/// the process (a name is stored once however many nodes and loads refer to it), so positions
/// are small and copied without touching a reference count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub struct FileName(u32);

/// Every file name seen (the empty name is number 0) and each name's number.
#[derive(Default)]
struct FileNames {
    names: Vec<Arc<str>>,
    ids: HashMap<Arc<str>, u32>,
}

static FILE_NAMES: std::sync::LazyLock<std::sync::Mutex<FileNames>> =
    std::sync::LazyLock::new(Default::default);

impl FileName {
    /// The number standing for `name`.
    pub fn intern(name: &str) -> FileName {
        if name.is_empty() {
            return FileName(0);
        }
        let mut t = FILE_NAMES.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(&id) = t.ids.get(name) {
            return FileName(id);
        }
        if t.names.is_empty() {
            t.names.push(Arc::from(""));
        }
        let name: Arc<str> = Arc::from(name);
        let id = u32::try_from(t.names.len()).unwrap_or(0);
        t.names.push(name.clone());
        t.ids.insert(name, id);
        FileName(id)
    }

    /// The file name.
    pub fn name(self) -> Arc<str> {
        let t = FILE_NAMES.lock().unwrap_or_else(|e| e.into_inner());
        t.names
            .get(self.0 as usize)
            .cloned()
            .unwrap_or_else(|| Arc::from(""))
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Display for FileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// Where a node was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Pos {
    pub file: FileName,
    /// 1-based line; 0 when the node was made up by hoist.
    pub line: u32,
    /// 1-based column.
    pub col: u32,
}

impl Pos {
    pub fn location(&self) -> Option<Location> {
        (self.line > 0 || !self.file.is_empty()).then(|| Location {
            file: self.file.to_string(),
            line: self.line as usize,
            col: self.col as usize,
        })
    }
}

/// A line or column as stored in a [`Pos`] (files longer than four billion lines are not read).
fn narrow(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// One value of the tree with its position and tag.
#[derive(Clone, Debug)]
pub struct Node {
    pub value: Value,
    pub pos: Pos,
    pub tag: Tag,
    /// Line and column of the key when the node is a mapping value: errors about the key point
    /// there.
    pub key: Option<(u32, u32)>,
}

impl PartialEq for Node {
    // Positions do not make two values different.
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl Node {
    /// Where the node's key was written, or the node itself when it has no key.
    pub fn key_pos(&self) -> Pos {
        match self.key {
            Some((line, col)) => Pos {
                file: self.pos.file,
                line,
                col,
            },
            None => self.pos,
        }
    }
    pub fn new(value: Value, pos: Pos) -> Node {
        Node {
            value,
            pos,
            tag: Tag::None,
            key: None,
        }
    }
    pub fn str(s: impl Into<Str>, pos: Pos) -> Node {
        Node::new(Value::Str(s.into()), pos)
    }
    pub fn null(pos: Pos) -> Node {
        Node::new(Value::Null, pos)
    }
    pub fn map(m: Map, pos: Pos) -> Node {
        Node::new(Value::Map(m), pos)
    }
    pub fn seq(v: Vec<Node>, pos: Pos) -> Node {
        Node::new(Value::Seq(v), pos)
    }
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_map(&self) -> Option<&Map> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }
    pub fn as_map_mut(&mut self) -> Option<&mut Map> {
        match &mut self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }
    pub fn as_seq(&self) -> Option<&Vec<Node>> {
        match &self.value {
            Value::Seq(s) => Some(s),
            _ => None,
        }
    }
    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }
    /// The scalar as text, the way Go's `fmt` prints it (used where compose turns scalars into
    /// strings, e.g. environment values and labels).
    pub fn scalar_string(&self) -> Option<String> {
        match &self.value {
            Value::Str(s) => Some(s.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(format_float(*f)),
            _ => None,
        }
    }
    /// [`Node::scalar_string`] without copying a string scalar.
    pub fn scalar_str(&self) -> Option<std::borrow::Cow<'_, str>> {
        match &self.value {
            Value::Str(s) => Some(std::borrow::Cow::Borrowed(s)),
            _ => self.scalar_string().map(std::borrow::Cow::Owned),
        }
    }
    /// A short name of the node's type for error messages.
    pub fn kind(&self) -> &'static str {
        match &self.value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Float(_) => "number",
            Value::Str(_) => "string",
            Value::Seq(_) => "array",
            Value::Map(_) => "mapping",
        }
    }
}

/// Formats a float as Go's `strconv.FormatFloat(f, 'g', -1, 64)` does for the values compose meets.
pub fn format_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let exp = if f == 0.0 {
        0
    } else {
        f.abs().log10().floor() as i32
    };
    if !(-5..21).contains(&exp) {
        // Go switches to exponent form for large and tiny numbers.
        let s = format!("{f:e}");
        if let Some((m, e)) = s.split_once('e') {
            let (sign, digits) = match e.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', e),
            };
            let digits = if digits.len() < 2 {
                format!("0{digits}")
            } else {
                digits.to_string()
            };
            return format!("{m}e{sign}{digits}");
        }
        return s;
    }
    format!("{f}")
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => f.write_str(&format_float(*x)),
            Value::Str(s) => f.write_str(s),
            Value::Seq(_) => f.write_str("[...]"),
            Value::Map(_) => f.write_str("{...}"),
        }
    }
}

/// Most nodes one document may expand to through aliases: stops "billion laughs" documents.
pub(crate) const MAX_NODES: usize = 2_000_000;
/// Deepest nesting accepted, so recursion stays far from the stack limit: the stages after
/// parsing walk the tree recursively too, and an unoptimised build on a 2 MiB thread (a test's)
/// overflowed below 256 levels. Compose files nest about ten.
pub(crate) const MAX_DEPTH: usize = 64;

/// Parses YAML text into one node per document.
///
/// The tree is built while the parser runs (no buffer of every event). A syntax error anywhere
/// in the text wins over an error the builder found before reaching it, as if the whole text
/// had been scanned first.
pub fn parse(text: &str, file: &str) -> Result<Vec<Node>, ComposeError> {
    let file_name = FileName::intern(file);
    if let Some(doc) = crate::yaml_block::parse(text, file_name) {
        return Ok(vec![doc]);
    }
    parse_general(text, file_name)
}

/// [`parse`] through saphyr: any YAML, and every error message.
pub(crate) fn parse_general(text: &str, file: FileName) -> Result<Vec<Node>, ComposeError> {
    let mut b = Builder {
        parser: Parser::new_from_str(text),
        peeked: None,
        scan_error: None,
        done: false,
        file,
        anchors: HashMap::new(),
        nodes: 0,
        path: Vec::new(),
        non_string: None,
        items: Vec::new(),
        entries: Vec::new(),
    };
    let mut docs = Vec::new();
    let result = loop {
        let Some((ev, _)) = b.peek() else {
            break Ok(());
        };
        if !matches!(ev, Event::DocumentStart(_)) {
            b.bump();
            continue;
        }
        b.bump();
        b.anchors.clear();
        match b.node(0) {
            Ok(node) => docs.push(node),
            Err(ComposeError::Invalid { loc, .. }) if b.non_string.is_some() => {
                let other = b.non_string.take().unwrap_or_default();
                let path = b.path_text();
                let message = if path.is_empty() {
                    format!("non-string key at top level: {other}")
                } else {
                    format!("non-string key in {path}: {other}")
                };
                break Err(ComposeError::Invalid { loc, message });
            }
            Err(e) => break Err(e),
        }
    };
    if result.is_err() {
        // Scan the rest: a later syntax error is the one to report.
        while b.peek().is_some() {
            b.bump();
        }
    }
    if let Some(e) = b.scan_error.take() {
        let m = e.marker();
        return Err(ComposeError::Yaml {
            loc: Location {
                file: b.file.to_string(),
                line: m.line(),
                col: m.col() + 1,
            },
            message: e.info().to_string(),
        });
    }
    result.map(|()| docs)
}

struct Builder<'a> {
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
    /// The next event, read but not consumed.
    peeked: Option<(Event<'a>, Span)>,
    /// The parser's error, which ends the events.
    scan_error: Option<saphyr_parser::ScanError>,
    done: bool,
    file: FileName,
    anchors: HashMap<usize, Node>,
    nodes: usize,
    /// Segments of the path to a non-string key, innermost first, pushed while unwinding.
    path: Vec<String>,
    non_string: Option<String>,
    /// Items of the sequences being read, innermost last.
    items: Vec<Node>,
    /// Entries of the small mappings being read, innermost last.
    entries: Vec<(Key, Node)>,
}

impl<'a> Builder<'a> {
    /// The next event without consuming it; `None` at the end of the events or after a syntax
    /// error.
    fn peek(&mut self) -> Option<&(Event<'a>, Span)> {
        if self.peeked.is_none() && !self.done {
            match self.parser.next() {
                Some(Ok(e)) => self.peeked = Some(e),
                Some(Err(e)) => {
                    self.scan_error = Some(e);
                    self.done = true;
                }
                None => self.done = true,
            }
        }
        self.peeked.as_ref()
    }

    /// Consumes the next event.
    fn take(&mut self) -> Option<(Event<'a>, Span)> {
        self.peek();
        self.peeked.take()
    }

    fn bump(&mut self) {
        self.take();
    }

    fn pos(&self, span: &Span) -> Pos {
        Pos {
            file: self.file,
            line: narrow(span.start.line()),
            col: narrow(span.start.col() + 1),
        }
    }

    fn err(&self, pos: &Pos, message: String) -> ComposeError {
        ComposeError::Yaml {
            loc: pos.location().unwrap_or_default(),
            message,
        }
    }

    fn count(&mut self, n: usize, pos: &Pos) -> Result<(), ComposeError> {
        self.nodes += n;
        if self.nodes > MAX_NODES {
            return Err(self.err(pos, "document expands to too many nodes".into()));
        }
        Ok(())
    }

    /// The path collected while unwinding, outermost first.
    fn path_text(&self) -> String {
        let mut s = String::new();
        for p in self.path.iter().rev() {
            if p.starts_with('[') {
                s.push_str(p);
            } else {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(p);
            }
        }
        s
    }

    fn node(&mut self, depth: usize) -> Result<Node, ComposeError> {
        let Some((_, span)) = self.peek() else {
            return Ok(Node::null(Pos {
                file: self.file,
                line: 0,
                col: 0,
            }));
        };
        let span = *span;
        let pos = self.pos(&span);
        if depth > MAX_DEPTH {
            return Err(self.err(&pos, "document nested too deeply".into()));
        }
        // Each event is read once: take it instead of cloning its text (put back below for
        // the end markers the caller must see again).
        let Some((ev, _)) = self.take() else {
            return Ok(Node::null(pos));
        };
        match ev {
            Event::Alias(id) => match self.anchors.get(&id) {
                Some(n) => {
                    let n = n.clone();
                    self.count(size(&n), &pos)?;
                    Ok(n)
                }
                None => Err(self.err(&pos, "unknown anchor".into())),
            },
            Event::Scalar(text, style, anchor, tag) => {
                self.count(1, &pos)?;
                let (tag_kind, core) = classify_tag(tag.as_deref());
                let value = match core.as_deref() {
                    Some("str") => Value::Str(Str::from(text)),
                    Some(_) => resolve_plain_owned(text),
                    None if style == ScalarStyle::Plain => resolve_plain_owned(text),
                    None => Value::Str(Str::from(text)),
                };
                let node = Node {
                    value,
                    pos,
                    tag: tag_kind,
                    key: None,
                };
                if anchor > 0 {
                    self.anchors.insert(anchor, node.clone());
                }
                Ok(node)
            }
            Event::SequenceStart(anchor, tag) => {
                self.count(1, &pos)?;
                let (tag_kind, _) = classify_tag(tag.as_deref());
                // Items go on a stack shared by every sequence being read, then move into a
                // vector of exactly their number.
                let start = self.items.len();
                loop {
                    match self.peek().map(|e| &e.0) {
                        Some(Event::SequenceEnd) => {
                            self.bump();
                            break;
                        }
                        None => break,
                        _ => {
                            let n = self.node(depth + 1);
                            if n.is_err() && self.non_string.is_some() {
                                self.path.push(format!("[{}]", self.items.len() - start));
                            }
                            match n {
                                Ok(n) => self.items.push(n),
                                Err(e) => {
                                    self.items.truncate(start);
                                    return Err(e);
                                }
                            }
                        }
                    }
                }
                let items: Vec<Node> = self.items.drain(start..).collect();
                let node = Node {
                    value: Value::Seq(items),
                    pos,
                    tag: tag_kind,
                    key: None,
                };
                if anchor > 0 {
                    self.anchors.insert(anchor, node.clone());
                }
                Ok(node)
            }
            Event::MappingStart(anchor, tag) => {
                self.count(1, &pos)?;
                let (tag_kind, _) = classify_tag(tag.as_deref());
                let map = self.mapping(depth, &pos)?;
                let node = Node {
                    value: Value::Map(map),
                    pos,
                    tag: tag_kind,
                    key: None,
                };
                if anchor > 0 {
                    self.anchors.insert(anchor, node.clone());
                }
                Ok(node)
            }
            ev @ (Event::DocumentEnd
            | Event::StreamEnd
            | Event::SequenceEnd
            | Event::MappingEnd) => {
                // An empty document: step back so the caller sees the end marker.
                self.peeked = Some((ev, span));
                Ok(Node::null(pos))
            }
            _ => Ok(Node::null(pos)),
        }
    }

    fn mapping(&mut self, depth: usize, pos: &Pos) -> Result<Map, ComposeError> {
        let start = self.entries.len();
        let r = self.mapping_entries(depth, pos, start);
        if r.is_err() {
            self.entries.truncate(start);
        }
        r
    }

    /// Reads a mapping's entries (collected on the shared stack from `start`, see [`Collect`]).
    fn mapping_entries(
        &mut self,
        depth: usize,
        _pos: &Pos,
        start: usize,
    ) -> Result<Map, ComposeError> {
        let mut into = Collect::new(start);
        while let Some((ev, span)) = self.peek() {
            if matches!(ev, Event::MappingEnd) {
                self.bump();
                break;
            }
            let span = *span;
            let is_merge = matches!(ev, Event::Scalar(t, ScalarStyle::Plain, _, None) if t == "<<");
            let key_pos = self.pos(&span);
            let key_node = self.node(depth + 1)?;
            let key = match key_node.value {
                Value::Str(s) => s,
                Value::Seq(_) | Value::Map(_) => {
                    return Err(self.err(
                        &key_pos,
                        "invalid map key: complex keys are not allowed".into(),
                    ));
                }
                other => {
                    // The message needs the path, collected while unwinding (see `parse`).
                    self.non_string = Some(other.to_string());
                    self.path.clear();
                    return Err(ComposeError::Invalid {
                        loc: key_pos.location(),
                        message: String::new(),
                    });
                }
            };
            let value = self.node(depth + 1);
            if value.is_err() && self.non_string.is_some() {
                self.path.push(key.to_string());
            }
            let mut value = value?;
            value.key = Some((key_pos.line, key_pos.col));
            if is_merge {
                if let Err(at) = into.merge(value) {
                    return Err(self.err(
                        &at,
                        "map merge requires map or sequence of maps as the value".into(),
                    ));
                }
                continue;
            }
            if let Some(prev) = into.get(&self.entries, &key) {
                return Err(self.err(
                    &key_pos,
                    format!(
                        "mapping key {key:?} already defined at line {}",
                        prev_key_line(prev, &key_pos)
                    ),
                ));
            }
            into.push(&mut self.entries, key_from(key), value);
        }
        Ok(into.finish(&mut self.entries))
    }
}

/// Mappings with up to this many entries are collected before their map is made.
const SMALL_MAP: usize = 24;

/// A mapping's entries while it is read (by the builder or by `yaml_block`). Small mappings
/// collect on a stack (shared by the mappings being read, from `start` on; duplicates found by a
/// scan) and become a map of exactly their size; one that grows past [`SMALL_MAP`] entries moves
/// into a map at once. Maps merged in with `<<` are kept apart until the end.
pub(crate) struct Collect {
    start: usize,
    big: Option<Big>,
    merged: Vec<Map>,
}

/// A large mapping while it is read, with an index of its keys.
/// (foldhash: keys are not attacker-chosen in a way that matters for a one-shot load.)
pub(crate) struct Big {
    map: Map,
    index: HashMap<Key, usize, foldhash::fast::RandomState>,
}

impl Collect {
    pub(crate) fn new(start: usize) -> Collect {
        Collect {
            start,
            big: None,
            merged: Vec::new(),
        }
    }

    /// The value already read for `key`.
    pub(crate) fn get<'s>(&'s self, stack: &'s [(Key, Node)], key: &str) -> Option<&'s Node> {
        match &self.big {
            Some(big) => big.index.get(key).map(|&i| &big.map.as_slice()[i].1),
            None => stack[self.start..]
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v),
        }
    }

    /// Adds an entry whose key is not there yet.
    pub(crate) fn push(&mut self, stack: &mut Vec<(Key, Node)>, key: Key, value: Node) {
        match &mut self.big {
            Some(big) => {
                big.index.insert(key.clone(), big.map.len());
                big.map.push_distinct(key, value);
            }
            None => {
                stack.push((key, value));
                if stack.len() - self.start > SMALL_MAP {
                    let mut entries = Vec::with_capacity(4 * SMALL_MAP);
                    entries.extend(stack.drain(self.start..));
                    let index = entries
                        .iter()
                        .enumerate()
                        .map(|(i, (k, _))| (k.clone(), i))
                        .collect();
                    self.big = Some(Big {
                        map: Map::from_distinct(entries),
                        index,
                    });
                }
            }
        }
    }

    /// Takes the value of a merge key (`<<`): a map or a sequence of maps; otherwise the
    /// position of the value that is neither.
    pub(crate) fn merge(&mut self, value: Node) -> Result<(), Pos> {
        match value.value {
            Value::Map(m) => self.merged.push(m),
            Value::Seq(items) => {
                for it in items {
                    match it.value {
                        Value::Map(m) => self.merged.push(m),
                        _ => return Err(it.pos),
                    }
                }
            }
            _ => return Err(value.pos),
        }
        Ok(())
    }

    /// The mapping: explicit keys first (they win over merged ones), then the keys of the merged
    /// maps, the first map listed winning.
    pub(crate) fn finish(self, stack: &mut Vec<(Key, Node)>) -> Map {
        let mut map = match self.big {
            Some(big) => big.map,
            None => {
                let extra: usize = self.merged.iter().map(Map::len).sum();
                let mut entries = Vec::with_capacity(stack.len() - self.start + extra);
                entries.extend(stack.drain(self.start..));
                Map::from_distinct(entries)
            }
        };
        for m in self.merged {
            for (k, v) in m {
                map.entry(k).or_insert(v);
            }
        }
        map
    }
}

fn prev_key_line(prev: &Node, _key: &Pos) -> u32 {
    prev.key_pos().line
}

/// How many nodes `n` holds (itself included).
pub(crate) fn size(n: &Node) -> usize {
    match &n.value {
        Value::Seq(s) => 1 + s.iter().map(size).sum::<usize>(),
        Value::Map(m) => 1 + m.values().map(size).sum::<usize>(),
        _ => 1,
    }
}

fn classify_tag(tag: Option<&saphyr_parser::Tag>) -> (Tag, Option<String>) {
    match tag {
        None => (Tag::None, None),
        Some(t) if t.handle == "!" && t.suffix == "reset" => (Tag::Reset, None),
        Some(t) if t.handle == "!" && t.suffix == "override" => (Tag::Override, None),
        Some(t) if t.handle == "tag:yaml.org,2002:" || t.handle == "!!" => {
            (Tag::None, Some(t.suffix.clone()))
        }
        Some(_) => (Tag::None, None),
    }
}

/// [`resolve_plain`] keeping the scanner's text when the scalar is a string.
fn resolve_plain_owned(text: std::borrow::Cow<'_, str>) -> Value {
    match resolve_typed(&text) {
        Some(v) => v,
        None => Value::Str(Str::from(text)),
    }
}

/// Types a plain scalar as go-yaml v3 does.
pub fn resolve_plain(s: &str) -> Value {
    resolve_typed(s).unwrap_or_else(|| Value::Str(Str::new(s)))
}

/// The non-string value a plain scalar stands for, if any.
pub(crate) fn resolve_typed(s: &str) -> Option<Value> {
    // Only these characters start a null, boolean, number or special float.
    if !s.is_empty()
        && !matches!(
            s.as_bytes()[0],
            b'~' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'.' | b'+' | b'-' | b'_' | b'0'
                ..=b'9'
        )
    {
        return None;
    }
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Some(Value::Null),
        "true" | "True" | "TRUE" => return Some(Value::Bool(true)),
        "false" | "False" | "FALSE" => return Some(Value::Bool(false)),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Some(Value::Float(f64::INFINITY));
        }
        "-.inf" | "-.Inf" | "-.INF" => return Some(Value::Float(f64::NEG_INFINITY)),
        ".nan" | ".NaN" | ".NAN" => return Some(Value::Float(f64::NAN)),
        _ => {}
    }
    if let Some(i) = parse_int(s) {
        return Some(Value::Int(i));
    }
    if is_float(s)
        && let Ok(f) = s.replace('_', "").parse::<f64>()
    {
        return Some(Value::Float(f));
    }
    None
}

fn parse_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if body.is_empty() {
        return None;
    }
    let (radix, digits) = if let Some(d) = body.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = body.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = body.strip_prefix("0b") {
        (2, d)
    } else if body.len() > 1 && body.starts_with('0') && body.bytes().all(|b| b.is_ascii_digit()) {
        // YAML 1.1 octal, which go-yaml still honours.
        (8, &body[1..])
    } else {
        (10, body)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix) || c == '_') {
        return None;
    }
    let digits = digits.replace('_', "");
    let v = i64::from_str_radix(&digits, radix).ok()?;
    Some(if neg { -v } else { v })
}

fn is_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    let start = i;
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
        i += 1;
    }
    let int_digits = i > start;
    let mut frac_digits = false;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let fs = i;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            i += 1;
        }
        frac_digits = i > fs;
    }
    if !int_digits && !frac_digits {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        let es = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == es {
            return false;
        }
    }
    i == b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Node {
        parse(text, "f.yml").unwrap().remove(0)
    }

    #[test]
    fn scalars_are_typed_like_go_yaml() {
        let n = one("a: yes\nb: true\nc: 0755\nd: 1.50\ne: '1'\nf:\ng: 0x1F\n");
        let m = n.as_map().unwrap();
        assert_eq!(m["a"].value, Value::Str("yes".into()));
        assert_eq!(m["b"].value, Value::Bool(true));
        assert_eq!(m["c"].value, Value::Int(493));
        assert_eq!(m["d"].value, Value::Float(1.5));
        assert_eq!(m["e"].value, Value::Str("1".into()));
        assert_eq!(m["f"].value, Value::Null);
        assert_eq!(m["g"].value, Value::Int(31));
    }

    #[test]
    fn merge_keys_anchors_and_positions() {
        let n = one("x: &b\n  k: 1\n  j: 2\ny:\n  <<: *b\n  k: 3\n");
        let y = n.as_map().unwrap()["y"].as_map().unwrap();
        assert_eq!(y["k"].value, Value::Int(3));
        assert_eq!(y["j"].value, Value::Int(2));
        assert_eq!(n.as_map().unwrap()["y"].pos.line, 5);
    }

    #[test]
    fn duplicate_keys_are_rejected_with_line() {
        let e = parse("a: 1\nb: 2\na: 3\n", "f.yml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("f.yml:3"), "{e}");
        assert!(e.contains("already defined at line 1"), "{e}");
    }

    #[test]
    fn a_later_syntax_error_wins_over_an_earlier_tree_error() {
        let e = parse("a: 1\na: 2\nb: [1, 2\n", "f.yml")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("already defined"), "{e}");
        assert!(e.contains("f.yml:"), "{e}");
        let e = parse("a: 1\na: 2\n---\nb: 1\n", "f.yml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("already defined at line 1"), "{e}");
    }

    #[test]
    fn large_mappings_keep_order_merges_and_duplicate_checks() {
        // Past SMALL_MAP entries a mapping moves into a map while it is read.
        let mut text = String::from("base: &b\n  inherited: 1\n  k5: merged\nbig:\n  <<: *b\n");
        for i in 0..40 {
            text.push_str(&format!("  k{i}: {i}\n"));
        }
        let n = one(&text);
        let big = n.as_map().unwrap()["big"].as_map().unwrap();
        let keys: Vec<&str> = big.keys().map(|k| &**k).collect();
        assert_eq!(keys.len(), 41);
        assert_eq!(keys[0], "k0");
        assert_eq!(keys[39], "k39");
        assert_eq!(keys[40], "inherited");
        assert_eq!(
            big["k5"].value,
            Value::Int(5),
            "explicit keys win over merged ones"
        );
        for dup_at in [3, 30] {
            let mut text = String::from("big:\n");
            for i in 0..40 {
                text.push_str(&format!("  k{i}: {i}\n"));
                if i == dup_at {
                    text.push_str("  k1: again\n");
                }
            }
            let e = parse(&text, "f.yml").unwrap_err().to_string();
            assert!(e.contains("\"k1\" already defined at line 3"), "{e}");
            assert!(e.contains(&format!("f.yml:{}", dup_at + 3)), "{e}");
        }
    }

    #[test]
    fn nested_sequences_and_errors_inside_them() {
        let n = one("a: [[1, 2], [], [3, {b: [4]}]]\nc: [x]\n");
        let a = n.as_map().unwrap()["a"].as_seq().unwrap();
        assert_eq!(a.len(), 3);
        assert_eq!(a[0].as_seq().unwrap().len(), 2);
        assert!(a[1].as_seq().unwrap().is_empty());
        assert_eq!(n.as_map().unwrap()["c"].as_seq().unwrap().len(), 1);
        let e = parse("a:\n  - b: 1\n    b: 2\n", "f.yml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("already defined at line 2"), "{e}");
        let e = parse("a:\n  - x\n  - {1: y}\n", "f.yml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("non-string key in a[1]: 1"), "{e}");
    }

    #[test]
    fn plain_scalars_keep_their_text_or_type() {
        for (text, want) in [
            ("plainword", Value::Str("plainword".into())),
            ("_5", Value::Int(5)),
            ("-", Value::Str("-".into())),
            ("+12", Value::Int(12)),
            (".5", Value::Float(0.5)),
            ("~", Value::Null),
            ("False", Value::Bool(false)),
            ("nginx:1.27", Value::Str("nginx:1.27".into())),
        ] {
            assert_eq!(resolve_plain(text), want, "{text}");
            assert_eq!(
                resolve_plain_owned(std::borrow::Cow::Owned(text.to_string())),
                want,
                "{text}"
            );
        }
    }

    #[test]
    fn tags_are_kept() {
        let n = one("a: !reset []\nb: !override {x: 1}\n");
        let m = n.as_map().unwrap();
        assert_eq!(m["a"].tag, Tag::Reset);
        assert_eq!(m["b"].tag, Tag::Override);
    }

    #[test]
    fn non_string_keys_name_the_path() {
        let e = parse("services:\n  123: {}\n", "f.yml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("non-string key in services: 123"), "{e}");
    }

    #[test]
    fn floats_print_like_go() {
        assert_eq!(format_float(1.5), "1.5");
        assert_eq!(format_float(0.001), "0.001");
        assert_eq!(format_float(1e21), "1e+21");
    }
}
