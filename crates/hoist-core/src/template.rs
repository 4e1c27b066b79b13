//! Go text/template rendering for `--format`, as the docker CLI does it.
//!
//! `hoist inspect --format`, `hoist ps --format` and friends must accept exactly the templates that
//! `docker inspect --format` and `docker compose ps --format` accept, because users paste them from
//! scripts and books (`{{(index (index .NetworkSettings.Ports "8080/tcp") 0).HostPort}}`).
//!
//! The engine is the `gotmpl` crate, a port of Go's `text/template`: field access, `index`,
//! `printf`, comparisons, `if`/`range`/`with`, variables, trimming, `<no value>` and sorted map
//! iteration all behave as in Go. This module adds what the docker CLI adds on top
//! (`docker/cli/templates/templates.go`: `json`, `join`, `split`, `lower`, `upper`, `title`, `pad`,
//! `truncate`; `cli/command/formatter/formatter.go`: `table`, `json`, the header row and the
//! tabwriter) and closes the gaps we found in `gotmpl` where Go would reject a template:
//!
//! - an unclosed `{{if}}`/`{{range}}`/`{{with}}` or a stray `{{end}}`/`{{else}}` is a parse error
//!   (gotmpl silently drops the rest of the template);
//! - an unknown function, a variable used outside its block and `{{break}}` outside `{{range}}`
//!   are parse errors, as in Go, not failures half-way through the output;
//! - execution errors carry the line and column of the action that failed (gotmpl reports
//!   none).
//!
//! Data is JSON. The docker CLI decodes the engine's JSON into typed structs; we walk the JSON
//! itself, so integers stay integers (as typed fields print) and a JSON object is a Go map.
//! Where the two differ, a template sees what Go shows for `map[string]any`:
//!
//! - a missing key or a JSON `null` prints `<no value>`, also from `index` on a map, where
//!   docker's typed `map[string]string` (labels) would give an empty string;
//! - an object prints as `map[k:v ...]`, where docker prints a struct as `{v ...}`;
//! - a float prints as gotmpl prints it, which for `%v` is plain decimal where Go switches to
//!   exponent form at 1e+06 (`%g` is right). The engine sends no float fields in the documents
//!   docker formats, so this only shows with literals.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Arc;

use gotmpl::parse::{BranchNode, CommandNode, Expr, ListNode, Node, Parser, PipeNode, Pos};
use gotmpl::{FuncMap, Template, Value};

/// Name given to the template, as docker does (`templates.Parse` uses the empty name).
const TEMPLATE_NAME: &str = "";
/// Name of the synthetic template holding a prefix of the top-level actions, used to find which
/// action an execution error came from.
const PREFIX_NAME: &str = "hoist prefix";
/// Appended to the source to find whether every block was closed; see `check_structure`.
const SENTINEL_FUNC: &str = "hoist_end_of_template";

/// Go's builtin template functions (`text/template/funcs.go`), which gotmpl also provides.
const GO_BUILTINS: &[&str] = &[
    "and", "call", "eq", "ge", "gt", "html", "index", "js", "le", "len", "lt", "ne", "not", "or",
    "print", "printf", "println", "slice", "urlquery",
];
/// The functions the docker CLI registers (`templates.basicFunctions`).
const DOCKER_FUNCS: &[&str] = &[
    "json", "join", "lower", "pad", "split", "title", "truncate", "upper",
];

/// A template that could not be parsed or executed. Both name the template text and the
/// 1-based line and column where the problem is, so a user can find it in a long `--format`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The template is not valid Go template syntax.
    #[error("template parsing error in {template:?} at {line}:{col}: {message}")]
    Parse {
        template: String,
        line: usize,
        col: usize,
        message: String,
    },
    /// The template parsed but failed while running against the data. The position is that of
    /// the action that failed, inside blocks too.
    #[error("template {template:?} failed at {line}:{col} in {action}: {message}")]
    Exec {
        template: String,
        line: usize,
        col: usize,
        /// The source of the failing action, `{{` to `}}`, as Go names it in `at <...>`.
        action: String,
        message: String,
    },
}

/// Renders `template` against `data` with Go text/template semantics and the docker CLI's
/// functions, as `docker inspect --format TEMPLATE` does for one object. No trailing newline
/// is added (docker prints one after each object; that is the caller's job).
///
/// ```
/// let data = serde_json::json!({"NetworkSettings": {"Ports": {
///     "8080/tcp": [{"HostIp": "0.0.0.0", "HostPort": "32770"}]}}});
/// let port = hoist_core::template::render(
///     r#"{{(index (index .NetworkSettings.Ports "8080/tcp") 0).HostPort}}"#,
///     &data,
/// ).unwrap();
/// assert_eq!(port, "32770");
/// ```
pub fn render(template: &str, data: &serde_json::Value) -> Result<String, TemplateError> {
    let checked = Checked::new(template)?;
    let (value, order) = to_value(data);
    let mut out = String::new();
    checked.execute(&mut out, &value, Funcs::Data(order))?;
    Ok(out)
}

/// Formats one line per row the way the docker CLI's `--format` does for lists (`docker ps`,
/// `docker compose ps`):
///
/// - `json`: each row as one line of compact JSON (`{{json .}}`);
/// - `table TEMPLATE`: a header row, then one line per row, aligned into columns by Go's
///   tabwriter with docker's settings (`tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)`). The header
///   is the template run over the field names upper-cased (`{{.Name}}` → `NAME`), with docker's
///   string functions turned into the identity so `{{.Name | upper}}` still heads `NAME`;
/// - anything else: the template rendered once per row, each followed by a newline.
///
/// As in docker, the two-character sequences `\t` and `\n` in the format stand for a tab and a
/// newline, so a shell user can type `--format 'table {{.Name}}\t{{.State}}'`. A format of just
/// `table` has no columns; commands substitute their default table format for it first, as
/// docker does.
pub fn format_rows(format: &str, rows: &[serde_json::Value]) -> Result<String, TemplateError> {
    format_rows_with_headers(format, rows, &[])
}

/// [`format_rows`] with header text for some fields, as docker's formatters give
/// (`("ID", "CONTAINER ID")`, `("RunningFor", "CREATED")`). Fields not listed head their
/// column with the upper-cased field name.
pub fn format_rows_with_headers(
    format: &str,
    rows: &[serde_json::Value],
    headers: &[(&str, &str)],
) -> Result<String, TemplateError> {
    let is_table = format.starts_with("table");
    let source = if format == "json" {
        "{{json .}}".to_owned()
    } else {
        let rest = if is_table {
            &format["table".len()..]
        } else {
            format
        };
        rest.trim_matches(' ')
            .replace("\\t", "\t")
            .replace("\\n", "\n")
    };
    let checked = Checked::new(&source)?;

    let mut body = String::new();
    for row in rows {
        let (value, order) = to_value(row);
        checked.execute(&mut body, &value, Funcs::Data(order))?;
        body.push('\n');
    }
    if !is_table {
        return Ok(body);
    }

    let mut header_data: BTreeMap<Arc<str>, Value> = BTreeMap::new();
    let mut add_field = |name: &str| {
        header_data
            .entry(Arc::from(name))
            .or_insert_with(|| Value::String(name.to_uppercase().into()));
    };
    checked.field_names().iter().for_each(|f| add_field(f));
    for row in rows {
        if let serde_json::Value::Object(fields) = row {
            fields.keys().for_each(|k| add_field(k));
        }
    }
    for (field, header) in headers {
        header_data.insert(Arc::from(*field), Value::String(Arc::from(*header)));
    }
    let mut text = String::new();
    // Docker ignores a failing header (`tmpl.Execute(buffer, subContext.FullHeader())` has its
    // error dropped) and prints what was written before the failure; so do we.
    let _ = checked.execute(&mut text, &Value::Map(Arc::new(header_data)), Funcs::Header);
    text.push('\n');
    text.push_str(&body);
    Ok(tabwrite(&text))
}

/// Aligns tab-separated cells into columns exactly as Go's `text/tabwriter` does with the docker
/// CLI's settings: minimum cell width 10, padding 3, padded with spaces, left-aligned. A column
/// block is a run of consecutive lines that have a cell in that column; the last cell of each
/// line is not part of any column. Widths count characters, as Go counts runes.
pub fn tabwrite(text: &str) -> String {
    tabwrite_with(text, 10, 3)
}

/// [`tabwrite`] with other settings: `docker compose top` pads with 2 to a width of 4 at least.
pub fn tabwrite_with(text: &str, min_width: usize, padding: usize) -> String {
    // Cells are tab-terminated; the text after the last tab on a line is its final cell. A
    // trailing newline leaves an empty last line with no cells, as in Go.
    let mut lines: Vec<Vec<&str>> = text
        .split('\n')
        .map(|line| line.split(['\t', '\u{b}']).collect())
        .collect();
    if let Some(last) = lines.last_mut()
        && last.len() == 1
        && last[0].is_empty()
    {
        last.clear();
    }
    let mut writer = TabWriter {
        lines: &lines,
        min_width,
        padding,
        widths: Vec::new(),
        out: String::with_capacity(text.len() * 2),
    };
    writer.format(0, lines.len());
    writer.out
}

struct TabWriter<'a> {
    lines: &'a [Vec<&'a str>],
    min_width: usize,
    padding: usize,
    widths: Vec<usize>,
    out: String,
}

impl TabWriter<'_> {
    /// Go's `(*Writer).format`: find the column blocks at depth `widths.len()`, fix each block's
    /// width, recurse for the columns to its right, and write lines once all widths are known.
    fn format(&mut self, mut line0: usize, line1: usize) {
        let column = self.widths.len();
        let mut this = line0;
        while this < line1 {
            if column + 1 >= self.lines[this].len() {
                this += 1;
                continue;
            }
            self.write_lines(line0, this);
            line0 = this;
            let mut width = self.min_width;
            while this < line1 && column + 1 < self.lines[this].len() {
                width = width.max(self.lines[this][column].chars().count() + self.padding);
                this += 1;
            }
            self.widths.push(width);
            self.format(line0, this);
            self.widths.pop();
            line0 = this;
        }
        self.write_lines(line0, line1);
    }

    fn write_lines(&mut self, line0: usize, line1: usize) {
        for i in line0..line1 {
            for (j, cell) in self.lines[i].iter().enumerate() {
                self.out.push_str(cell);
                if let Some(width) = self.widths.get(j) {
                    let pad = width.saturating_sub(cell.chars().count());
                    self.out.extend(std::iter::repeat_n(' ', pad));
                }
            }
            if i + 1 < self.lines.len() {
                self.out.push('\n');
            }
        }
    }
}

/// Which implementation of docker's functions a run uses.
enum Funcs {
    /// The real functions; the key order lets `json` print objects in the order the engine sent
    /// their fields.
    Data(Arc<KeyOrder>),
    /// The table header's: docker's string functions return their first argument.
    Header,
}

/// A template source that passed all parse-time checks.
struct Checked<'a> {
    source: &'a str,
    top: ListNode,
    defines: Vec<gotmpl::parse::DefineNode>,
}

impl<'a> Checked<'a> {
    fn new(source: &'a str) -> Result<Self, TemplateError> {
        let (top, defines) = parse_tree(source).map_err(|e| from_gotmpl(source, e))?;
        let checked = Checked {
            source,
            top,
            defines,
        };
        checked.check_structure()?;
        checked.check_functions()?;
        checked.check_scopes()?;
        // Go's own remaining parse-time checks (duplicate definitions and the like).
        build(source, &Funcs::Header)?;
        Ok(checked)
    }

    fn parse_error(&self, offset: usize, message: String) -> TemplateError {
        let (line, col) = line_col(self.source, offset);
        TemplateError::Parse {
            template: self.source.to_owned(),
            line,
            col,
            message,
        }
    }

    /// Go rejects an unclosed block or a stray `{{end}}`/`{{else}}`; gotmpl stops parsing at the
    /// first unmatched `{{end}}` and treats end of input as closing every open block. An action
    /// appended after the source shows which happened: it must come back as the last top-level
    /// node. Nested inside a block means a block was left open; missing means parsing stopped
    /// early at an unmatched `{{end}}` or `{{else}}`.
    fn check_structure(&self) -> Result<(), TemplateError> {
        match sentinel_depth(self.source) {
            Some(SentinelAt::Top) => Ok(()),
            Some(SentinelAt::Inside(pos)) => Err(self.parse_error(
                self.source.len(),
                format!(
                    "unexpected EOF: the block opened at {} has no {{{{end}}}}",
                    fmt_line_col(self.source, pos.offset)
                ),
            )),
            None | Some(SentinelAt::Missing) => {
                // Find the first `{{end}}`/`{{else}}` that sits at top level: the source before
                // it is balanced on its own.
                let stray = action_starts(self.source).find_map(|(offset, keyword)| {
                    matches!(
                        sentinel_depth(&self.source[..offset]),
                        Some(SentinelAt::Top)
                    )
                    .then_some((offset, keyword))
                });
                Err(match stray {
                    Some((offset, keyword)) => {
                        self.parse_error(offset, format!("unexpected {{{{{keyword}}}}}"))
                    }
                    None => self.parse_error(self.source.len(), "unexpected EOF".to_owned()),
                })
            }
        }
    }

    /// Go resolves function names at parse time (`function "foo" not defined`); gotmpl only when
    /// the call runs, which would print half the output before failing, or never fail at all
    /// when the call sits in a branch not taken.
    fn check_functions(&self) -> Result<(), TemplateError> {
        let mut unknown = None;
        self.walk_exprs(&mut |expr| {
            if let Expr::Identifier(pos, name) = expr
                && unknown.is_none()
                && !GO_BUILTINS.contains(&name.as_str())
                && !DOCKER_FUNCS.contains(&name.as_str())
            {
                unknown = Some((*pos, name.to_string()));
            }
        });
        match unknown {
            Some((pos, name)) => {
                Err(self.parse_error(pos.offset, format!("function {name:?} not defined")))
            }
            None => Ok(()),
        }
    }

    /// Go's parser rejects a variable used outside the block that declared it and a
    /// `{{break}}`/`{{continue}}` outside `{{range}}`; gotmpl finds both only when they run.
    fn check_scopes(&self) -> Result<(), TemplateError> {
        let mut scope = vec!["$".to_owned()];
        let found = check_list_scope(&self.top, &mut scope, false)
            .err()
            .or_else(|| {
                self.defines.iter().find_map(|define| {
                    check_list_scope(&define.body, &mut vec!["$".to_owned()], false).err()
                })
            });
        match found {
            Some((pos, message)) => Err(self.parse_error(pos.offset, message)),
            None => Ok(()),
        }
    }

    /// The field names used anywhere in the template (`.Name`, `$x.State.Status` gives `State`
    /// and `Status`): a table header needs a heading for each.
    fn field_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        self.walk_exprs(&mut |expr| match expr {
            Expr::Field(_, chain) | Expr::Variable(_, _, chain) | Expr::Chain(_, _, chain) => {
                names.extend(chain.iter().map(|f| f.to_string()));
            }
            _ => {}
        });
        names
    }

    fn walk_exprs(&self, visit: &mut dyn FnMut(&Expr)) {
        walk_list(&self.top, visit);
        for define in &self.defines {
            walk_list(&define.body, visit);
        }
    }

    /// Runs the template, appending to `out`. On failure `out` keeps what was written before it,
    /// as Go's writer does.
    fn execute(&self, out: &mut String, data: &Value, funcs: Funcs) -> Result<(), TemplateError> {
        let template = build(self.source, &funcs)?;
        let Err(error) = template.execute_fmt(out, data) else {
            return Ok(());
        };
        let fails = |tree: ListNode| {
            build(self.source, &funcs)
                .map(|t| t.add_parse_tree(PREFIX_NAME, tree))
                .is_ok_and(|t| {
                    t.execute_template_fmt(&mut String::new(), PREFIX_NAME, data)
                        .is_err()
                })
        };
        let whole = |nodes: Vec<Node>| ListNode {
            pos: self.top.pos,
            nodes,
        };
        let offset = locate_failure(&self.top.nodes, &whole, &fails).map_or(0, |pos| pos.offset);
        let (line, col) = line_col(self.source, offset);
        Err(TemplateError::Exec {
            template: self.source.to_owned(),
            line,
            col,
            action: action_source(self.source, offset).to_owned(),
            // gotmpl prefixes its general failures; the position already says it ran.
            message: error
                .to_string()
                .trim_start_matches("execution error: ")
                .to_owned(),
        })
    }
}

/// Finds the action whose execution fails, given `nodes` whose run (placed back into the
/// template by `rebuild`) fails. Running a prefix of the nodes fails exactly when the prefix
/// contains the failing one, so a binary search finds it; a failing `{{if}}`, `{{range}}` or
/// `{{with}}` is then opened up the same way, so the error points at the innermost action, as
/// Go's does. Only runs on the error path.
fn locate_failure(
    nodes: &[Node],
    rebuild: &dyn Fn(Vec<Node>) -> ListNode,
    fails: &dyn Fn(ListNode) -> bool,
) -> Option<Pos> {
    let (mut ok, mut failing) = (0, nodes.len());
    while failing - ok > 1 {
        let mid = ok + (failing - ok) / 2;
        if fails(rebuild(nodes[..mid].to_vec())) {
            failing = mid;
        } else {
            ok = mid;
        }
    }
    let index = failing.checked_sub(1)?;
    let node = &nodes[index];
    let (Node::If(branch) | Node::Range(branch) | Node::With(branch)) = node else {
        return Some(node_pos(node));
    };
    let place = |body: Vec<Node>, else_body: Option<Vec<Node>>| {
        let mut changed = branch.clone();
        changed.body.nodes = body;
        if let (Some(list), Some(else_nodes)) = (changed.else_body.as_mut(), else_body) {
            list.nodes = else_nodes;
        }
        let changed = match node {
            Node::If(_) => Node::If(changed),
            Node::Range(_) => Node::Range(changed),
            _ => Node::With(changed),
        };
        let mut with_before = nodes[..index].to_vec();
        with_before.push(changed);
        rebuild(with_before)
    };
    if fails(place(Vec::new(), Some(Vec::new()))) {
        // The block's own pipeline fails.
        return Some(branch.pos);
    }
    let inner = if fails(place(branch.body.nodes.clone(), Some(Vec::new()))) {
        locate_failure(
            &branch.body.nodes,
            &|body| place(body, Some(Vec::new())),
            fails,
        )
    } else {
        branch.else_body.as_ref().and_then(|else_body| {
            locate_failure(
                &else_body.nodes,
                &|else_nodes| place(branch.body.nodes.clone(), Some(else_nodes)),
                fails,
            )
        })
    };
    inner.or(Some(branch.pos))
}

fn parse_tree(source: &str) -> gotmpl::Result<(ListNode, Vec<gotmpl::parse::DefineNode>)> {
    Parser::new(source, "{{", "}}")?.parse()
}

enum SentinelAt {
    Top,
    Inside(Pos),
    Missing,
}

/// Parses `source` followed by a sentinel action and reports where the sentinel landed; `None`
/// when that does not parse.
fn sentinel_depth(source: &str) -> Option<SentinelAt> {
    // The space keeps a trailing `{` of the source from joining the sentinel's delimiter.
    let with_sentinel = format!("{source} {{{{{SENTINEL_FUNC}}}}}");
    let (top, _) = parse_tree(&with_sentinel).ok()?;
    let is_sentinel = |node: &Node| {
        matches!(node, Node::Action(action)
            if action.pipe.commands.len() == 1
                && matches!(action.pipe.commands[0].args.as_slice(),
                    [Expr::Identifier(pos, name)] if name == SENTINEL_FUNC && pos.offset >= source.len()))
    };
    if top.nodes.last().is_some_and(is_sentinel) {
        return Some(SentinelAt::Top);
    }
    let last_block = top.nodes.iter().rev().find_map(|node| match node {
        Node::If(b) | Node::Range(b) | Node::With(b) => Some(b),
        _ => None,
    });
    match last_block {
        Some(block) if block_contains_sentinel(block, source.len()) => {
            Some(SentinelAt::Inside(block.pos))
        }
        _ => Some(SentinelAt::Missing),
    }
}

fn block_contains_sentinel(block: &BranchNode, min_offset: usize) -> bool {
    let mut found = false;
    let mut visit = |expr: &Expr| {
        if let Expr::Identifier(pos, name) = expr {
            found |= name == SENTINEL_FUNC && pos.offset >= min_offset;
        }
    };
    walk_branch(block, &mut visit);
    found
}

/// Offsets of actions that start with `end` or `else`, with that keyword. A textual scan is
/// enough here: it only picks candidates, and each is confirmed by parsing.
fn action_starts(source: &str) -> impl Iterator<Item = (usize, &'static str)> + '_ {
    source.match_indices("{{").filter_map(move |(offset, _)| {
        let rest = &source[offset + 2..];
        let rest = rest.strip_prefix('-').map_or(rest, str::trim_start);
        let rest = rest.trim_start();
        ["end", "else"].into_iter().find_map(|keyword| {
            let after = rest.strip_prefix(keyword)?;
            let boundary = after
                .chars()
                .next()
                .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
            boundary.then_some((offset, keyword))
        })
    })
}

type ScopeError = (Pos, String);

/// Checks variable uses against the variables in scope, as Go's parser does: a declaration is
/// visible to the end of the enclosing block; a block's own declarations (`{{range $i, $v :=
/// ...}}`) to its `{{end}}`.
fn check_list_scope(
    list: &ListNode,
    scope: &mut Vec<String>,
    in_range: bool,
) -> Result<(), ScopeError> {
    let mark = scope.len();
    for node in &list.nodes {
        match node {
            Node::List(inner) => check_list_scope(inner, scope, in_range)?,
            Node::Action(action) => check_pipe_scope(&action.pipe, scope)?,
            Node::If(b) | Node::With(b) => check_branch_scope(b, scope, in_range, in_range)?,
            // `{{range}}`'s else runs when there was nothing to range over: not in the loop.
            Node::Range(b) => check_branch_scope(b, scope, true, in_range)?,
            Node::Template(t) => {
                if let Some(pipe) = &t.pipe {
                    check_pipe_scope(pipe, scope)?;
                }
            }
            Node::Define(d) => check_list_scope(&d.body, &mut vec!["$".to_owned()], false)?,
            Node::Break(pos) if !in_range => {
                return Err((*pos, "{{break}} outside {{range}}".to_owned()));
            }
            Node::Continue(pos) if !in_range => {
                return Err((*pos, "{{continue}} outside {{range}}".to_owned()));
            }
            Node::Text(_) | Node::Break(_) | Node::Continue(_) => {}
        }
    }
    scope.truncate(mark);
    Ok(())
}

fn check_branch_scope(
    branch: &BranchNode,
    scope: &mut Vec<String>,
    body_in_range: bool,
    else_in_range: bool,
) -> Result<(), ScopeError> {
    let mark = scope.len();
    check_pipe_scope(&branch.pipe, scope)?;
    check_list_scope(&branch.body, scope, body_in_range)?;
    if let Some(else_body) = &branch.else_body {
        check_list_scope(else_body, scope, else_in_range)?;
    }
    scope.truncate(mark);
    Ok(())
}

fn check_pipe_scope(pipe: &PipeNode, scope: &mut Vec<String>) -> Result<(), ScopeError> {
    if pipe.is_assign {
        if let Some(name) = pipe
            .decl
            .iter()
            .find(|name| !scope.iter().any(|v| v == name.as_str()))
        {
            return Err((pipe.pos, format!("undefined variable {:?}", name.as_str())));
        }
    } else {
        // Go declares the variables before parsing the commands that give their values.
        scope.extend(pipe.decl.iter().map(|name| name.to_string()));
    }
    let mut undefined = None;
    walk_pipe(pipe, &mut |expr| {
        if let Expr::Variable(pos, name, _) = expr
            && undefined.is_none()
            && !scope.iter().any(|v| v == name.as_str())
        {
            undefined = Some((*pos, format!("undefined variable {:?}", name.as_str())));
        }
    });
    undefined.map_or(Ok(()), Err)
}

fn walk_list(list: &ListNode, visit: &mut dyn FnMut(&Expr)) {
    for node in &list.nodes {
        match node {
            Node::List(inner) => walk_list(inner, visit),
            Node::Action(action) => walk_pipe(&action.pipe, visit),
            Node::If(b) | Node::Range(b) | Node::With(b) => walk_branch(b, visit),
            Node::Template(t) => {
                if let Some(pipe) = &t.pipe {
                    walk_pipe(pipe, visit);
                }
            }
            Node::Define(d) => walk_list(&d.body, visit),
            Node::Text(_) | Node::Break(_) | Node::Continue(_) => {}
        }
    }
}

fn walk_branch(branch: &BranchNode, visit: &mut dyn FnMut(&Expr)) {
    walk_pipe(&branch.pipe, visit);
    walk_list(&branch.body, visit);
    if let Some(else_body) = &branch.else_body {
        walk_list(else_body, visit);
    }
}

fn walk_pipe(pipe: &PipeNode, visit: &mut dyn FnMut(&Expr)) {
    for CommandNode { args, .. } in &pipe.commands {
        for arg in args {
            walk_expr(arg, visit);
        }
    }
}

fn walk_expr(expr: &Expr, visit: &mut dyn FnMut(&Expr)) {
    visit(expr);
    match expr {
        Expr::Pipe(_, pipe) => walk_pipe(pipe, visit),
        Expr::Chain(_, inner, _) => walk_expr(inner, visit),
        _ => {}
    }
}

fn node_pos(node: &Node) -> Pos {
    match node {
        Node::List(l) => l.pos,
        Node::Text(t) => t.pos,
        Node::Action(a) => a.pos,
        Node::If(b) | Node::Range(b) | Node::With(b) => b.pos,
        Node::Template(t) => t.pos,
        Node::Define(d) => d.pos,
        Node::Break(p) | Node::Continue(p) => *p,
    }
}

/// The text of the action around a byte offset inside it, from its `{{` to the next `}}`: the
/// opening of a block, or the whole of a plain action.
fn action_source(source: &str, offset: usize) -> &str {
    let offset = offset.min(source.len());
    let (Some(start), Some(end)) = (
        source.get(..offset).and_then(|before| before.rfind("{{")),
        source.get(offset..).and_then(|after| after.find("}}")),
    ) else {
        return "";
    };
    &source[start..offset + end + 2]
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(source.len());
    while !source.is_char_boundary(end) {
        end -= 1;
    }
    let before = &source[..end];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

fn fmt_line_col(source: &str, offset: usize) -> String {
    let (line, col) = line_col(source, offset);
    format!("{line}:{col}")
}

fn from_gotmpl(source: &str, error: gotmpl::TemplateError) -> TemplateError {
    match error {
        gotmpl::TemplateError::Parse {
            line, col, message, ..
        }
        | gotmpl::TemplateError::Lex {
            line, col, message, ..
        } => TemplateError::Parse {
            template: source.to_owned(),
            line: line.max(1),
            col: col.max(1),
            message,
        },
        other => TemplateError::Parse {
            template: source.to_owned(),
            line: 1,
            col: 1,
            message: other.to_string(),
        },
    }
}

fn build(source: &str, funcs: &Funcs) -> Result<Template, TemplateError> {
    Template::new(TEMPLATE_NAME)
        .funcs(docker_funcs(funcs))
        .parse(source)
        .map_err(|e| from_gotmpl(source, e))
}

/// Key order of each JSON object in the data, by the address of the map it became. Go's
/// `encoding/json` prints a struct's fields in declaration order, which is the order the engine
/// sent them in; our maps are sorted, so `json` looks the original order up here.
type KeyOrder = HashMap<usize, Vec<Arc<str>>>;

fn map_id(map: &Arc<BTreeMap<Arc<str>, Value>>) -> usize {
    Arc::as_ptr(map) as usize
}

/// Converts JSON into template data. Integers that fit `i64` become Go `int`s (as the typed
/// fields docker decodes into print), larger ones `uint`, the rest `float64`.
fn to_value(json: &serde_json::Value) -> (Value, Arc<KeyOrder>) {
    fn convert(json: &serde_json::Value, order: &mut KeyOrder) -> Value {
        match json {
            serde_json::Value::Null => Value::Nil,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => Value::Int(i),
                (None, Some(u)) => Value::Uint(u),
                (None, None) => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            serde_json::Value::String(s) => Value::String(Arc::from(s.as_str())),
            serde_json::Value::Array(items) => {
                Value::List(items.iter().map(|item| convert(item, order)).collect())
            }
            serde_json::Value::Object(fields) => {
                let keys: Vec<Arc<str>> = fields.keys().map(|k| Arc::from(k.as_str())).collect();
                let map: BTreeMap<Arc<str>, Value> = keys
                    .iter()
                    .zip(fields.values())
                    .map(|(k, v)| (k.clone(), convert(v, order)))
                    .collect();
                let map = Arc::new(map);
                order.insert(map_id(&map), keys);
                Value::Map(map)
            }
        }
    }
    let mut order = KeyOrder::new();
    let value = convert(json, &mut order);
    (value, Arc::new(order))
}

fn exec_error(message: impl Into<String>) -> gotmpl::TemplateError {
    gotmpl::TemplateError::Exec(message.into())
}

/// The widest `pad` a template may ask for: wider than any terminal, and small enough that a
/// template cannot make hoist allocate until the allocator aborts.
const MAX_PAD: i64 = 4096;

fn check_args(name: &str, args: &[Value], want: usize) -> gotmpl::Result<()> {
    if args.len() == want {
        Ok(())
    } else {
        Err(exec_error(format!(
            "wrong number of args for {name}: want {want} got {}",
            args.len()
        )))
    }
}

/// Go converts arguments to the function's parameter types and fails on a mismatch
/// (`wrong type for value; expected string; got int`).
fn string_arg(args: &[Value], i: usize) -> gotmpl::Result<&str> {
    match args.get(i) {
        Some(Value::String(s)) => Ok(s),
        other => Err(exec_error(format!(
            "wrong type for value; expected string; got {}",
            other.map_or("nil", Value::type_name)
        ))),
    }
}

fn int_arg(args: &[Value], i: usize) -> gotmpl::Result<i64> {
    match args.get(i) {
        Some(Value::Int(n)) => Ok(*n),
        Some(Value::Uint(n)) => i64::try_from(*n).map_err(|_| exec_error("integer overflow")),
        // An untyped constant such as `3.0` converts to int in Go when it is integral.
        Some(Value::Float(f)) if f.fract() == 0.0 && f.abs() < 9.0e18 => Ok(*f as i64),
        other => Err(exec_error(format!(
            "wrong type for value; expected int; got {}",
            other.map_or("nil", Value::type_name)
        ))),
    }
}

fn string_fn(
    name: &'static str,
    f: impl Fn(&str) -> String + Send + Sync + 'static,
) -> gotmpl::ValueFunc {
    Arc::new(move |args: &[Value]| {
        check_args(name, args, 1)?;
        Ok(Value::String(f(string_arg(args, 0)?).into()))
    })
}

fn docker_funcs(funcs: &Funcs) -> FuncMap {
    let mut map = FuncMap::new();
    match funcs {
        Funcs::Header => {
            // docker's `HeaderFunctions`: each returns its (string) first argument unchanged,
            // whatever else it is given.
            let arity = [
                ("json", 1),
                ("split", 2),
                ("join", 2),
                ("title", 1),
                ("lower", 1),
                ("upper", 1),
                ("pad", 3),
                ("truncate", 2),
            ];
            for (name, want) in arity {
                let f: gotmpl::ValueFunc = Arc::new(move |args: &[Value]| {
                    check_args(name, args, want)?;
                    Ok(Value::String(string_arg(args, 0)?.into()))
                });
                map.insert(name.to_owned(), f);
            }
        }
        Funcs::Data(order) => {
            let order = order.clone();
            let json: gotmpl::ValueFunc = Arc::new(move |args: &[Value]| {
                check_args("json", args, 1)?;
                let mut out = String::new();
                // docker ignores the encoder's error and prints what it has: nothing.
                if write_json(&mut out, &args[0], &order).is_err() {
                    out.clear();
                }
                Ok(Value::String(out.into()))
            });
            map.insert("json".to_owned(), json);
            map.insert("lower".to_owned(), string_fn("lower", str::to_lowercase));
            map.insert("upper".to_owned(), string_fn("upper", str::to_uppercase));
            map.insert("title".to_owned(), string_fn("title", go_title));
            let split: gotmpl::ValueFunc = Arc::new(|args: &[Value]| {
                check_args("split", args, 2)?;
                let (s, sep) = (string_arg(args, 0)?, string_arg(args, 1)?);
                Ok(Value::List(
                    go_split(s, sep)
                        .into_iter()
                        .map(|part| Value::String(part.into()))
                        .collect(),
                ))
            });
            map.insert("split".to_owned(), split);
            let join: gotmpl::ValueFunc = Arc::new(|args: &[Value]| {
                check_args("join", args, 2)?;
                let sep = string_arg(args, 1)?;
                let items = match &args[0] {
                    Value::List(items) => items,
                    other => {
                        return Err(exec_error(format!(
                            "wrong type for value; expected []string; got {}",
                            other.type_name()
                        )));
                    }
                };
                let parts = items
                    .iter()
                    .map(|item| match item {
                        Value::String(s) => Ok(s.to_string()),
                        other => Err(exec_error(format!(
                            "wrong type for value; expected []string; got []{}",
                            other.type_name()
                        ))),
                    })
                    .collect::<gotmpl::Result<Vec<_>>>()?;
                Ok(Value::String(parts.join(sep).into()))
            });
            map.insert("join".to_owned(), join);
            let pad: gotmpl::ValueFunc = Arc::new(|args: &[Value]| {
                check_args("pad", args, 3)?;
                let source = string_arg(args, 0)?;
                let (prefix, suffix) = (int_arg(args, 1)?, int_arg(args, 2)?);
                for n in [prefix, suffix] {
                    if n > MAX_PAD {
                        return Err(exec_error(format!(
                            "error calling pad: width {n} is larger than {MAX_PAD}"
                        )));
                    }
                }
                if source.is_empty() {
                    return Ok(Value::String("".into()));
                }
                let spaces = |n: i64| " ".repeat(usize::try_from(n).unwrap_or(0));
                Ok(Value::String(
                    format!("{}{source}{}", spaces(prefix), spaces(suffix)).into(),
                ))
            });
            map.insert("pad".to_owned(), pad);
            let truncate: gotmpl::ValueFunc = Arc::new(|args: &[Value]| {
                check_args("truncate", args, 2)?;
                let source = string_arg(args, 0)?;
                let length = int_arg(args, 1)?;
                let length = usize::try_from(length)
                    .map_err(|_| exec_error(format!("slice bounds out of range [:{length}]")))?;
                if source.len() < length {
                    return Ok(args[0].clone());
                }
                // docker slices bytes; we stop at the last whole character so the output stays
                // valid UTF-8 (identical for ASCII, which is what IDs and names are).
                let mut end = length;
                while !source.is_char_boundary(end) {
                    end -= 1;
                }
                Ok(Value::String(source[..end].into()))
            });
            map.insert("truncate".to_owned(), truncate);
        }
    }
    map
}

/// Go's `strings.Split`: an empty separator splits after each character.
fn go_split(s: &str, sep: &str) -> Vec<String> {
    if sep.is_empty() {
        s.chars().map(String::from).collect()
    } else {
        s.split(sep).map(str::to_owned).collect()
    }
}

/// Go's `strings.Title`: upper-case the first letter of each word, leave the rest alone. A word
/// starts after anything but a letter, digit, underscore or (outside ASCII) a non-space rune.
fn go_title(s: &str) -> String {
    let is_separator = |c: char| {
        if c.is_ascii() {
            !(c.is_ascii_alphanumeric() || c == '_')
        } else if c.is_alphanumeric() {
            false
        } else {
            c.is_whitespace()
        }
    };
    let mut out = String::with_capacity(s.len());
    let mut prev = ' ';
    for c in s.chars() {
        if is_separator(prev) {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev = c;
    }
    out
}

/// Go's `encoding/json` with `SetEscapeHTML(false)`, compact, as docker's `json` function
/// prints: objects in the key order the data came with (struct order from the engine), maps
/// built any other way sorted, floats as Go formats them.
fn write_json(out: &mut String, value: &Value, order: &KeyOrder) -> Result<(), ()> {
    match value {
        Value::Nil => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => write!(out, "{i}").map_err(|_| ())?,
        Value::Uint(u) => write!(out, "{u}").map_err(|_| ())?,
        Value::Float(f) => write_json_float(out, *f)?,
        Value::String(s) => write_json_string(out, s),
        Value::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(out, item, order)?;
            }
            out.push(']');
        }
        Value::Map(map) => {
            out.push('{');
            let sorted: Vec<Arc<str>>;
            let keys = match order.get(&map_id(map)) {
                Some(keys) => keys,
                None => {
                    sorted = map.keys().cloned().collect();
                    &sorted
                }
            };
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(out, key);
                out.push(':');
                write_json(out, map.get(key).unwrap_or(&Value::Nil), order)?;
            }
            out.push('}');
        }
        // Go's encoder refuses functions (`json: unsupported type`).
        _ => return Err(()),
    }
    Ok(())
}

fn write_json_float(out: &mut String, f: f64) -> Result<(), ()> {
    if !f.is_finite() {
        return Err(());
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        // Go: strconv 'e' format with the shortest digits, exponent sign always shown.
        let s = format!("{f:e}");
        match s.split_once('e') {
            Some((mantissa, exp)) if !exp.starts_with('-') => {
                write!(out, "{mantissa}e+{exp}").map_err(|_| ())?;
            }
            _ => out.push_str(&s),
        }
    } else {
        write!(out, "{f}").map_err(|_| ())?;
    }
    Ok(())
}

fn write_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            // Go escapes the JavaScript line terminators even with HTML escaping off.
            '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const INSPECT: &str = include_str!("../testdata/container-inspect.json");

    fn inspect() -> serde_json::Value {
        serde_json::from_str(INSPECT).expect("fixture is JSON")
    }

    #[track_caller]
    fn check(template: &str, data: &serde_json::Value, expected: &str) {
        match render(template, data) {
            Ok(out) => assert_eq!(out, expected, "template {template:?}"),
            Err(e) => panic!("template {template:?} failed: {e}"),
        }
    }

    #[track_caller]
    fn fails(template: &str, data: &serde_json::Value) -> TemplateError {
        match render(template, data) {
            Ok(out) => panic!("template {template:?} rendered {out:?}, expected an error"),
            Err(e) => e,
        }
    }

    fn sample() -> serde_json::Value {
        json!({
            "Name": "web",
            "Count": 3,
            "Ratio": 0.5,
            "Neg": -7,
            "On": true,
            "Off": false,
            "Nothing": null,
            "Empty": "",
            "List": ["a", "b", "c"],
            "Nums": [3, 1, 2],
            "NoItems": [],
            "Map": {"zeta": 1, "alpha": 2, "mid": 3},
            "NoMap": {},
            "Nested": {"Inner": {"Deep": "down"}}
        })
    }

    #[test]
    fn the_books_port_template_prints_the_host_port() {
        check(
            r#"{{(index (index .NetworkSettings.Ports "8080/tcp") 0).HostPort}}"#,
            &inspect(),
            "32770",
        );
    }

    #[test]
    fn common_docker_inspect_templates() {
        let data = inspect();
        check("{{.State.Status}}", &data, "running");
        check("{{.State.Pid}} {{.RestartCount}}", &data, "4242 0");
        check("{{.Name}}", &data, "/vagrant_app_1");
        check(
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
            &data,
            "172.17.0.3",
        );
        check(
            r#"{{index .Config.Labels "com.docker.compose.service"}}"#,
            &data,
            "app",
        );
        check(
            "{{range $p, $conf := .NetworkSettings.Ports}}{{$p}} -> {{(index $conf 0).HostPort}}{{end}}",
            &data,
            "8080/tcp -> 32770",
        );
        check(
            r#"{{range .Config.Env}}{{if eq (index (split . "=") 0) "DB_DBNAME"}}{{.}}{{end}}{{end}}"#,
            &data,
            "DB_DBNAME=books",
        );
        check("{{len .Config.Env}}", &data, "4");
        check(
            "{{.State.Running}} {{.State.OOMKilled}}",
            &data,
            "true false",
        );
        check(
            "{{.HostConfig.Links}}",
            &data,
            "[/vagrant_db_1:/vagrant_app_1/db /vagrant_db_1:/vagrant_app_1/db_1]",
        );
        check("{{join .Config.Cmd \" \"}}", &data, "/run.sh");
    }

    #[test]
    fn json_prints_compact_go_json_in_the_engines_field_order() {
        let data = inspect();
        check(
            "{{json .Config.Labels}}",
            &data,
            concat!(
                r#"{"com.docker.compose.config-hash":"d1f0c3b2a1e0f9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4","#,
                r#""com.docker.compose.container-number":"1","com.docker.compose.oneoff":"False","#,
                r#""com.docker.compose.project":"vagrant","com.docker.compose.service":"app","#,
                r#""com.docker.compose.version":"1.29.2"}"#
            ),
        );
        // A struct prints in declaration order, which is the order the engine sent.
        check(
            "{{json .HostConfig.RestartPolicy}}",
            &data,
            r#"{"Name":"","MaximumRetryCount":0}"#,
        );
        check(
            "{{json .NetworkSettings.Ports}}",
            &data,
            r#"{"8080/tcp":[{"HostIp":"0.0.0.0","HostPort":"32770"},{"HostIp":"::","HostPort":"32770"}]}"#,
        );
        check("{{json .ExecIDs}} {{json .Args}}", &data, "null []");
        // Reparsing `{{json .}}` gives back the document.
        let whole = render("{{json .}}", &data).expect("renders");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&whole).expect("JSON"),
            data
        );
        assert!(whole.starts_with(r#"{"Id":"4f1c"#), "{whole}");
    }

    #[test]
    fn json_escapes_like_go_without_html_escaping() {
        let data = json!({"S": "a<b>&\"q\"\\\n\t\u{1}\u{2028}é", "F": 1.5, "Big": 1e21, "Small": 1e-7, "N": 12});
        check("{{json .S}}", &data, r#""a<b>&\"q\"\\\n\t\u0001\u2028é""#);
        check(
            "{{json .F}} {{json .Big}} {{json .Small}} {{json .N}}",
            &data,
            "1.5 1e+21 1e-7 12",
        );
        check(
            r#"{{json "x"}} {{json 3}} {{json true}}"#,
            &data,
            r#""x" 3 true"#,
        );
        // Maps made in the template (none from data) fall back to Go's sorted keys.
        check(
            "{{json .}}",
            &json!({"b": 1, "a": {"d": 2, "c": 3}}),
            r#"{"b":1,"a":{"d":2,"c":3}}"#,
        );
    }

    #[test]
    fn fields_and_missing_keys_print_as_go_prints_them() {
        let data = sample();
        check("{{.Name}}", &data, "web");
        check("{{.Nested.Inner.Deep}}", &data, "down");
        check("{{.Missing}}", &data, "<no value>");
        check("{{.Missing.Deeper}}", &data, "<no value>");
        // A JSON null is a nil interface in a Go map: it prints as a missing value.
        check("{{.Nothing}}", &data, "<no value>");
        check(r#"{{index .Map "nope"}}"#, &data, "<no value>");
        check("{{printf \"%v\" .Nothing}}", &data, "<nil>");
        check("{{.}}", &json!("plain"), "plain");
        check("{{$}}", &json!(42), "42");
    }

    #[test]
    fn values_print_with_go_default_formats() {
        let data = sample();
        check("{{.Count}} {{.Neg}} {{.Ratio}}", &data, "3 -7 0.5");
        check("{{.On}} {{.Off}}", &data, "true false");
        check("{{.List}}", &data, "[a b c]");
        check("{{.NoItems}} {{.NoMap}}", &data, "[] map[]");
        // Go's fmt prints maps sorted by key.
        check("{{.Map}}", &data, "map[alpha:2 mid:3 zeta:1]");
        check("{{.Nested}}", &data, "map[Inner:map[Deep:down]]");
        check("{{.U}}", &json!({"U": u64::MAX}), "18446744073709551615");
    }

    #[test]
    fn index_works_on_maps_lists_and_nesting() {
        let data = sample();
        check("{{index .List 1}}", &data, "b");
        check(r#"{{index .Map "alpha"}}"#, &data, "2");
        check(r#"{{index .Nested "Inner" "Deep"}}"#, &data, "down");
        check("{{(index .List 2)}}", &data, "c");
        let err = fails("{{index .List 3}}", &data);
        assert!(err.to_string().contains("out of range"), "{err}");
    }

    #[test]
    fn len_print_printf_println() {
        let data = sample();
        check(
            "{{len .List}} {{len .Map}} {{len .Name}} {{len \"é\"}}",
            &data,
            "3 3 3 2",
        );
        check(r#"{{print 1 2 "a" "b" 3}}"#, &data, "1 2ab3");
        check("{{println .Name .Count}}", &data, "web 3\n");
        check(
            r#"{{printf "%s has %d (%.2f) %q %5s|%-5s|%03d %x %t %v" .Name .Count .Ratio .Name "r" "l" 7 255 .On .List}}"#,
            &data,
            r#"web has 3 (0.50) "web"     r|l    |007 ff true [a b c]"#,
        );
        check(r#"{{printf "%d" "x"}}"#, &data, "%!d(string=x)");
        check(r#"{{printf "%s"}}"#, &data, "%!s(MISSING)");
        check(r#"{{.Name | printf "%s!"}}"#, &data, "web!");
    }

    #[test]
    fn comparisons_and_logic() {
        let data = sample();
        check(
            "{{eq .Count 3}} {{ne .Count 3}} {{lt .Count 4}} {{le .Count 3}} {{gt .Count 3}} {{ge .Count 3}}",
            &data,
            "true false true true false true",
        );
        check(
            r#"{{eq .Name "db" "web"}} {{lt "a" "b"}}"#,
            &data,
            "true true",
        );
        check(
            r#"{{and .On .Name}} {{and .Off .Name}} {{or .Empty .Name}} {{or .Empty 0}} {{not .On}} {{not .Empty}}"#,
            &data,
            "web false web 0 false true",
        );
        // `and`/`or` stop at the deciding argument, so the failing index is never run.
        check(
            "{{and .Off (index .List 9)}} {{or .On (index .List 9)}}",
            &data,
            "false true",
        );
        // Go refuses to compare an int with a float or a string.
        let err = fails("{{eq .Count 3.5}}", &data);
        assert!(
            err.to_string()
                .contains("incompatible types for comparison"),
            "{err}"
        );
        let err = fails(r#"{{lt .Count "x"}}"#, &data);
        assert!(err.to_string().contains("incompatible types"), "{err}");
    }

    #[test]
    fn control_flow_and_truthiness() {
        let data = sample();
        check("{{if .On}}yes{{else}}no{{end}}", &data, "yes");
        check(
            "{{if .NoItems}}yes{{else if .NoMap}}map{{else}}none{{end}}",
            &data,
            "none",
        );
        check(
            "{{if .Empty}}x{{end}}{{if .Nothing}}x{{end}}{{if .Missing}}x{{end}}",
            &data,
            "",
        );
        check("{{range .List}}[{{.}}]{{end}}", &data, "[a][b][c]");
        check(
            "{{range $i, $v := .Nums}}{{$i}}={{$v}} {{end}}",
            &data,
            "0=3 1=1 2=2 ",
        );
        check("{{range .NoItems}}x{{else}}empty{{end}}", &data, "empty");
        check("{{range .Nothing}}x{{else}}nil{{end}}", &data, "nil");
        // Go ranges over a map in sorted key order.
        check(
            "{{range $k, $v := .Map}}{{$k}}:{{$v}},{{end}}",
            &data,
            "alpha:2,mid:3,zeta:1,",
        );
        check("{{range .Map}}{{.}}{{end}}", &data, "231");
        check("{{with .Nested.Inner}}{{.Deep}}{{end}}", &data, "down");
        check(
            "{{with .Missing}}x{{else}}fallback{{end}}",
            &data,
            "fallback",
        );
        check(
            "{{range .List}}{{if eq . \"b\"}}{{break}}{{end}}{{.}}{{end}}",
            &data,
            "a",
        );
        check(
            "{{range .List}}{{if eq . \"b\"}}{{continue}}{{end}}{{.}}{{end}}",
            &data,
            "ac",
        );
        // `$` is the whole data inside any block.
        check("{{range .List}}{{$.Name}}{{end}}", &data, "webwebweb");
    }

    #[test]
    fn variables_pipelines_comments_and_trimming() {
        let data = sample();
        check("{{$n := .Name}}{{$n}}-{{$n = \"x\"}}{{$n}}", &data, "web-x");
        check("{{.List | len | printf \"%d items\"}}", &data, "3 items");
        check("{{\"Hello\" | lower | upper}}", &data, "HELLO");
        check("a {{/* a comment */}}b", &data, "a b");
        check("a  {{- .Name -}}  \n b", &data, "awebb");
        check("{{- /* trimmed */ -}}\n  x", &data, "x");
        check("{{3 -}} 4", &data, "34");
        check("{{-3}}", &data, "-3");
        check("{{`raw \\n`}}", &data, "raw \\n");
        check(
            "{{define \"n\"}}<{{.}}>{{end}}{{template \"n\" .Name}}",
            &data,
            "<web>",
        );
    }

    #[test]
    fn docker_string_functions() {
        let data = sample();
        check(r#"{{join .List ", "}}"#, &data, "a, b, c");
        check(
            r#"{{split "a:b:c" ":"}} {{len (split "" ":")}} {{split "ab" ""}}"#,
            &data,
            "[a b c] 1 [a b]",
        );
        check(
            r#"{{lower "MiXeD"}} {{upper "MiXeD"}}"#,
            &data,
            "mixed MIXED",
        );
        check(
            r#"{{title "hello wORLD foo_bar x-y"}}"#,
            &data,
            "Hello WORLD Foo_bar X-Y",
        );
        check(
            r#"{{truncate "abcdef" 3}}|{{truncate "ab" 3}}|{{truncate "abc" 3}}"#,
            &data,
            "abc|ab|abc",
        );
        check(r#"[{{pad "x" 2 1}}][{{pad "" 2 1}}]"#, &data, "[  x ][]");
        check(
            r#"[{{pad "x" 4096 0}}]"#,
            &data,
            &format!("[{}x]", " ".repeat(4096)),
        );
        for huge in [
            r#"{{pad "x" 9223372036854775807 0}}"#,
            r#"{{pad "x" 1 4097}}"#,
            r#"{{pad "" 1 99999999999}}"#,
        ] {
            let err = fails(huge, &data).to_string();
            assert!(err.contains("pad: width") && err.contains("4096"), "{err}");
        }
        check(r#"{{truncate .Name 2 | upper}}"#, &data, "WE");
        let err = fails("{{upper .Count}}", &data);
        assert!(
            err.to_string().contains("expected string; got int"),
            "{err}"
        );
        let err = fails("{{join .Nums \",\"}}", &data);
        assert!(err.to_string().contains("expected []string"), "{err}");
        let err = fails("{{upper}}", &data);
        assert!(
            err.to_string().contains("wrong number of args for upper"),
            "{err}"
        );
    }

    #[test]
    fn parse_errors_name_the_template_and_position() {
        let data = sample();
        let err = fails("{{.Name", &data);
        let TemplateError::Parse {
            template,
            line,
            col,
            message,
        } = &err
        else {
            panic!("expected a parse error, got {err:?}");
        };
        assert_eq!((template.as_str(), *line), ("{{.Name", 1));
        assert!(*col >= 1 && message.contains("unclosed action"), "{err}");
        assert!(err.to_string().contains("\"{{.Name\""), "{err}");

        let err = fails("line one\n{{nosuch .Name}}", &data);
        assert_eq!(
            err,
            TemplateError::Parse {
                template: "line one\n{{nosuch .Name}}".into(),
                line: 2,
                col: 3,
                message: "function \"nosuch\" not defined".into(),
            }
        );
        // Even in a branch that would never run, as Go checks at parse time.
        assert!(matches!(
            fails("{{if false}}{{nosuch}}{{end}}", &data),
            TemplateError::Parse { .. }
        ));
    }

    #[test]
    fn unbalanced_blocks_are_parse_errors() {
        let data = sample();
        let err = fails("a{{end}}b", &data);
        assert!(
            matches!(&err, TemplateError::Parse { line: 1, col: 2, message, .. } if message == "unexpected {{end}}"),
            "{err:?}"
        );
        let err = fails("{{if .On}}x{{end}}\n{{- else}}y", &data);
        assert!(
            matches!(&err, TemplateError::Parse { line: 2, col: 1, message, .. } if message == "unexpected {{else}}"),
            "{err:?}"
        );
        let err = fails("x\n{{range .List}}{{.}}", &data);
        assert!(
            matches!(&err, TemplateError::Parse { message, .. } if message.contains("unexpected EOF") && message.contains("opened at 2:3")),
            "{err:?}"
        );
        let err = fails("{{if .On}}{{with .Name}}x{{end}}", &data);
        assert!(
            matches!(&err, TemplateError::Parse { message, .. } if message.contains("unexpected EOF")),
            "{err:?}"
        );
        let err = fails("{{define \"x\"}}y", &data);
        assert!(
            matches!(&err, TemplateError::Parse { message, .. } if message.contains("unexpected EOF")),
            "{err:?}"
        );
        // Braces that are not delimiters are text, also at the very end.
        check("a{", &data, "a{");
        check("{{.Name}}{", &data, "web{");
        check("}}{x}", &data, "}}{x}");
        // `end` inside a string or comment is not an action.
        check(r#"{{"{{end}}"}}{{/* {{end}} */}}"#, &data, "{{end}}");
    }

    #[test]
    fn scope_errors_are_parse_errors_as_in_go() {
        let data = sample();
        let err = fails("{{with $x := .Name}}{{$x}}{{end}}{{$x}}", &data);
        assert!(
            matches!(&err, TemplateError::Parse { line: 1, col: 36, message, .. } if message == "undefined variable \"$x\""),
            "{err:?}"
        );
        let err = fails("{{$y = 1}}", &data);
        assert!(
            matches!(&err, TemplateError::Parse { message, .. } if message == "undefined variable \"$y\""),
            "{err:?}"
        );
        let err = fails("{{if .On}}{{break}}{{end}}", &data);
        assert!(
            matches!(&err, TemplateError::Parse { message, .. } if message == "{{break}} outside {{range}}"),
            "{err:?}"
        );
        let err = fails("{{range .List}}{{else}}{{continue}}{{end}}", &data);
        assert!(
            matches!(&err, TemplateError::Parse { message, .. } if message == "{{continue}} outside {{range}}"),
            "{err:?}"
        );
        let err = fails(
            "{{range .List}}{{define \"d\"}}{{break}}{{end}}{{end}}",
            &data,
        );
        assert!(matches!(&err, TemplateError::Parse { .. }), "{err:?}");
        // Visible where Go makes them visible.
        check(
            "{{$a := 1}}{{if .On}}{{$b := 2}}{{$a}}{{$b}}{{end}}{{$a}}",
            &data,
            "121",
        );
        check(
            "{{range $i, $v := .List}}{{if $i}},{{end}}{{$v}}{{end}}",
            &data,
            "a,b,c",
        );
        check(
            "{{range .List}}{{range .}}{{break}}{{end}}{{end}}",
            &json!({"List": [[1, 2]]}),
            "",
        );
        check(
            "{{define \"d\"}}{{$}}{{end}}{{template \"d\" .Name}}",
            &data,
            "web",
        );
    }

    #[test]
    fn execution_errors_name_the_failing_action() {
        let data = sample();
        let err = fails("ok {{.Name}}\n  {{.Name.Field}}", &data);
        assert_eq!(
            err,
            TemplateError::Exec {
                template: "ok {{.Name}}\n  {{.Name.Field}}".into(),
                line: 2,
                col: 5,
                action: "{{.Name.Field}}".into(),
                message: "can't evaluate field Field in type string".into(),
            }
        );
        // Inside blocks the innermost failing action is named, as Go does.
        let at = |template: &str| match fails(template, &data) {
            TemplateError::Exec {
                line, col, action, ..
            } => (line, col, action),
            other => panic!("expected an execution error, got {other:?}"),
        };
        assert_eq!(
            at("{{range .Nums}}{{.}}{{.Foo}}{{end}}"),
            (1, 23, "{{.Foo}}".into())
        );
        assert_eq!(
            at("{{range .Name.X}}{{.}}{{end}}"),
            (1, 3, "{{range .Name.X}}".into())
        );
        assert_eq!(
            at("{{if .Off}}x{{else}}\n{{with .Nested}}\n  {{.Inner.Deep.Z}}{{end}}{{end}}"),
            (3, 5, "{{.Inner.Deep.Z}}".into())
        );
        assert_eq!(
            at("{{if .Off}}{{else if .On}}{{len .Count}}{{end}}"),
            (1, 29, "{{len .Count}}".into())
        );
        assert_eq!(
            at("{{range $i, $v := .List}}{{if eq $i 2}}{{$v.X}}{{end}}{{end}}"),
            (1, 42, "{{$v.X}}".into())
        );
        let err = fails("{{$x := 1}}{{len $x}}", &data);
        assert!(
            matches!(
                err,
                TemplateError::Exec {
                    line: 1,
                    col: 14,
                    ..
                }
            ),
            "{err:?}"
        );
        let text = err.to_string();
        assert_eq!(
            text,
            r#"template "{{$x := 1}}{{len $x}}" failed at 1:14 in {{len $x}}: len: cannot take length of 1"#
        );
    }

    #[test]
    fn table_format_aligns_columns_under_upper_cased_headers() {
        let rows = [
            json!({"Name": "vagrant_app_1", "Command": "/run.sh", "State": "Up", "Ports": "0.0.0.0:32770->8080/tcp"}),
            json!({"Name": "vagrant_db_1", "Command": "/entrypoint.sh mongod", "State": "Up", "Ports": "27017/tcp"}),
        ];
        let out = format_rows(
            r"table {{.Name}}\t{{.Command}}\t{{.State}}\t{{.Ports}}",
            &rows,
        )
        .expect("formats");
        assert_eq!(
            out,
            concat!(
                "NAME            COMMAND                 STATE     PORTS\n",
                "vagrant_app_1   /run.sh                 Up        0.0.0.0:32770->8080/tcp\n",
                "vagrant_db_1    /entrypoint.sh mongod   Up        27017/tcp\n",
            )
        );
    }

    #[test]
    fn table_headers_can_be_named_and_survive_functions() {
        let rows = [json!({"ID": "4f1c9e1c0e3a6d2b", "Name": "web"})];
        let out = format_rows_with_headers(
            "table {{truncate .ID 6}}\t{{.Name | upper}}",
            &rows,
            &[("ID", "CONTAINER ID")],
        )
        .expect("formats");
        assert_eq!(out, "CONTAINER ID   NAME\n4f1c9e         WEB\n");
        // With no rows the header is still printed, from the fields the template names.
        let out = format_rows("table {{.Service}}\t{{.Status}}", &[]).expect("formats");
        assert_eq!(out, "SERVICE   STATUS\n");
    }

    #[test]
    fn plain_and_json_row_formats() {
        let rows = [json!({"Name": "a", "N": 1}), json!({"Name": "b", "N": 2})];
        assert_eq!(
            format_rows("{{.Name}}:{{.N}}", &rows).expect("formats"),
            "a:1\nb:2\n"
        );
        assert_eq!(
            format_rows(r"{{.Name}}\t{{.N}}", &rows).expect("formats"),
            "a\t1\nb\t2\n"
        );
        assert_eq!(
            format_rows("json", &rows).expect("formats"),
            "{\"Name\":\"a\",\"N\":1}\n{\"Name\":\"b\",\"N\":2}\n"
        );
        assert_eq!(format_rows("{{.Name}}", &[]).expect("formats"), "");
        assert!(matches!(
            format_rows("{{.Name", &rows),
            Err(TemplateError::Parse { .. })
        ));
        assert!(matches!(
            format_rows("table {{.Name.X}}", &rows),
            Err(TemplateError::Exec { .. })
        ));
    }

    #[test]
    fn tabwriter_matches_go() {
        // Values worked out from Go's text/tabwriter with (10, 1, 3, ' ', 0).
        assert_eq!(tabwrite("a\tb\tc\n"), "a         b         c\n");
        assert_eq!(
            tabwrite("aaaaaaaaaaaa\tb\nc\td\n"),
            "aaaaaaaaaaaa   b\nc              d\n"
        );
        // A line without a tab ends the column block: lines after it align on their own.
        assert_eq!(
            tabwrite("aaaaaaaaaaaa\tb\nplain\nc\td\n"),
            "aaaaaaaaaaaa   b\nplain\nc         d\n"
        );
        // The last cell of a line is not a column; a longer row does not widen it for others.
        assert_eq!(
            tabwrite("x\ty\nx\tyyyyyyyyyyyyyyy\tz\n"),
            "x         y\nx         yyyyyyyyyyyyyyy   z\n"
        );
        // Widths count characters, not bytes.
        assert_eq!(tabwrite("é\tx\n"), "é         x\n");
        // Text without a trailing newline keeps its last line as is.
        assert_eq!(tabwrite("a\tb"), "a         b");
        assert_eq!(tabwrite(""), "");
    }

    proptest::proptest! {
        #[test]
        fn render_never_panics(template in "\\PC{0,40}") {
            let _ = render(&template, &sample());
        }

        #[test]
        fn render_never_panics_on_template_like_input(
            parts in proptest::collection::vec(proptest::sample::select(vec![
                "{{", "}}", "{{-", " -}}", ".", "Name", "List", "Map", "$", "$x", ":=", "=", "|",
                "(", ")", "\"", "`", "'", "index", "len", "range", "if", "else", "end", "with",
                "define", "template", "block", "break", "continue", "printf", "%d", "%v", "1",
                "-", " ", "\n", "/*", "*/", "json", "split", "join", "title", "truncate", "pad",
                "upper", "nil", "true", "eq", "and", "call", "slice", "é",
            ]), 0..24)
        ) {
            let template: String = parts.concat();
            let _ = render(&template, &sample());
            let _ = format_rows(&format!("table {template}"), &[sample()]);
        }
    }
}
