//! The library's layers (docs/layout.md): every module of src/ reachable
//! from lib.rs sits in one layer, imports only from its own layer or
//! below, and no two modules import each other, directly or around a
//! circle. Imports are read from the source: `use` trees and inline
//! `crate::` / `super::` / `self::` / child-module paths.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Bottom to top: (layer, module path prefixes). A module belongs to the
/// entry with its longest matching prefix. Modules of one layer may import
/// each other (without circles), except where `ISOLATED` says.
const LAYERS: &[(&str, &[&str])] = &[
    ("foundation", &["error", "philox", "memory"]),
    ("data", &["data"]),
    ("settings", &["optim", "model", "config", "authors_config"]),
    ("seam", &["backend"]),
    ("backends", &["backend::cpu", "backend::wgpu"]),
    ("device", &["backend::device"]),
    ("stream", &["metrics", "stream", "launch"]),
    ("plot", &["plot"]),
    ("report", &["report"]),
    ("studies", &["hessian", "sweep", "reproduce"]),
    // The f64 twin of the kernels, for tests only: nothing imports it.
    ("test twin", &["reference"]),
];

/// Units of one layer that must not import each other.
const ISOLATED: &[&[&str]] = &[&["backend::cpu", "backend::wgpu"]];

type Module = Vec<String>;

fn name(m: &[String]) -> String {
    if m.is_empty() {
        "crate".into()
    } else {
        m.join("::")
    }
}

fn starts_with(m: &[String], prefix: &str) -> bool {
    let p: Vec<&str> = prefix.split("::").collect();
    m.len() >= p.len() && m.iter().zip(&p).all(|(a, b)| a == b)
}

/// Source text with comments, strings and char literals blanked out.
fn code_only(src: &str) -> String {
    let c: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let at = |i: usize, k: usize| c.get(i + k).copied().unwrap_or('\0');
    let mut i = 0;
    while i < c.len() {
        if at(i, 0) == '/' && at(i, 1) == '/' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if at(i, 0) == '/' && at(i, 1) == '*' {
            let mut depth = 0;
            while i < c.len() {
                if at(i, 0) == '/' && at(i, 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if at(i, 0) == '*' && at(i, 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if at(i, 0) == 'r'
            && (at(i, 1) == '"' || at(i, 1) == '#')
            && (i == 0 || !is_ident(c[i - 1]))
        {
            let mut hashes = 0;
            i += 1;
            while at(i, 0) == '#' {
                hashes += 1;
                i += 1;
            }
            i += 1;
            let close: String = std::iter::once('"')
                .chain(std::iter::repeat_n('#', hashes))
                .collect();
            while i < c.len() && !c[i..].iter().collect::<String>().starts_with(&close) {
                i += 1;
            }
            i += close.len();
            out.push_str("\"\"");
        } else if at(i, 0) == '"' {
            i += 1;
            while i < c.len() && c[i] != '"' {
                i += if c[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if at(i, 0) == '\'' && (at(i, 1) == '\\' || at(i, 2) == '\'') {
            i += 1;
            while i < c.len() && c[i] != '\'' {
                i += if c[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("' '");
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

/// Split at top-level commas (outside braces).
fn split_top(s: &str) -> Vec<&str> {
    let (mut depth, mut start, mut parts) = (0, 0, Vec::new());
    for (i, ch) in s.char_indices() {
        match ch {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
        .into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect()
}

/// The leaves of a use tree: (path, the name it brings in; None for a glob).
fn use_leaves(tree: &str, prefix: &[String]) -> Vec<(Vec<String>, Option<String>)> {
    let tree = tree.trim();
    if let Some(open) = tree.find('{') {
        let head: Vec<String> = tree[..open]
            .split("::")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        let inner = &tree[open + 1..tree.rfind('}').expect("balanced use tree")];
        let base: Vec<String> = prefix.iter().cloned().chain(head).collect();
        return split_top(inner)
            .into_iter()
            .flat_map(|part| use_leaves(part, &base))
            .collect();
    }
    let (path, alias) = match tree.split_once(" as ") {
        Some((p, a)) => (p.trim(), Some(a.trim().to_string())),
        None => (tree, None),
    };
    let mut segs: Vec<String> = prefix.to_vec();
    segs.extend(path.split("::").map(|s| s.trim().to_string()));
    match segs.last().map(String::as_str) {
        Some("*") => {
            segs.pop();
            vec![(segs, None)]
        }
        Some("self") => {
            segs.pop();
            let n = alias.or_else(|| segs.last().cloned());
            vec![(segs, n)]
        }
        _ => {
            let n = alias.or_else(|| segs.last().cloned());
            vec![(segs, n)]
        }
    }
}

/// One file of the library.
struct File {
    children: BTreeSet<String>,
    /// Every `use` leaf: (as written, relative), the name it binds, public?
    uses: Vec<(Vec<String>, Option<String>, bool)>,
    /// Paths written inline (crate::, super::, self::, child::).
    inline: Vec<Vec<String>>,
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn parse(path: &Path) -> File {
    let text = code_only(&std::fs::read_to_string(path).expect("readable source"));
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c == ';' || c == '{' || c == '}')
        .collect();
    let mut children = BTreeSet::new();
    for w in words.windows(2) {
        if w[0] == "mod" && w[1].chars().all(is_ident) && !w[1].is_empty() {
            children.insert(w[1].to_string());
        }
    }
    // Inline `mod name { ... }` blocks are not files: only `mod name;`.
    children.retain(|c| text.contains(&format!("mod {c};")));
    let mut uses = Vec::new();
    let mut rest = String::new();
    let mut s = text.as_str();
    while let Some(at) = find_word(s, "use") {
        let before = s[..at].trim_end();
        let public = before.ends_with("pub") || before.ends_with(')') && before.contains("pub(");
        let end = at + s[at..].find(';').expect("use ends with ;");
        for (segs, n) in use_leaves(&s[at + 3..end], &[]) {
            uses.push((segs, n, public));
        }
        rest.push_str(&s[..at]);
        s = &s[end + 1..];
    }
    rest.push_str(s);
    let mut inline = Vec::new();
    let chars: Vec<char> = rest.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if is_ident(chars[i]) && (i == 0 || !is_ident(chars[i - 1]) && chars[i - 1] != ':') {
            let mut segs = Vec::new();
            let mut j = i;
            loop {
                let start = j;
                while j < chars.len() && is_ident(chars[j]) {
                    j += 1;
                }
                segs.push(chars[start..j].iter().collect::<String>());
                if chars.get(j) == Some(&':')
                    && chars.get(j + 1) == Some(&':')
                    && chars.get(j + 2).is_some_and(|&c| is_ident(c))
                {
                    j += 2;
                } else {
                    break;
                }
            }
            let rooted = ["crate", "super", "self"].contains(&segs[0].as_str())
                || children.contains(&segs[0]);
            if segs.len() > 1 && rooted {
                inline.push(segs);
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    File {
        children,
        uses,
        inline,
    }
}

/// Byte offset of `word` standing alone in `s`.
fn find_word(s: &str, word: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(k) = s[from..].find(word) {
        let at = from + k;
        let ok_before = s[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !is_ident(c) && c != ':');
        let ok_after = s[at + word.len()..]
            .chars()
            .next()
            .is_some_and(char::is_whitespace);
        if ok_before && ok_after {
            return Some(at);
        }
        from = at + word.len();
    }
    None
}

/// Every file reachable from src/lib.rs through `mod name;`.
fn library() -> BTreeMap<Module, File> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = BTreeMap::new();
    let mut todo: Vec<(PathBuf, PathBuf, Module)> = vec![(src.join("lib.rs"), src.clone(), vec![])];
    while let Some((path, dir, module)) = todo.pop() {
        let file = parse(&path);
        for child in &file.children {
            let mut m = module.clone();
            m.push(child.clone());
            let flat = dir.join(format!("{child}.rs"));
            let (p, d) = if flat.exists() {
                (flat, dir.join(child))
            } else {
                (dir.join(child).join("mod.rs"), dir.join(child))
            };
            assert!(p.exists(), "{}: module {child} has no file", path.display());
            todo.push((p, d, m));
        }
        files.insert(module, file);
    }
    files
}

/// A path as written in `from`, made absolute.
fn absolute(
    files: &BTreeMap<Module, File>,
    from: &[String],
    segs: &[String],
) -> Option<Vec<String>> {
    let mut base = from.to_vec();
    let mut rest = segs;
    match rest.first().map(String::as_str) {
        Some("crate") => {
            base.clear();
            rest = &rest[1..];
        }
        Some("self") => rest = &rest[1..],
        Some("super") => {
            while rest.first().map(String::as_str) == Some("super") {
                base.pop();
                rest = &rest[1..];
            }
        }
        Some(first) if files[from].children.contains(first) => {}
        _ => return None, // another crate
    }
    base.extend(rest.iter().cloned());
    Some(base)
}

/// The longest prefix of `path` that is a module: where it points as written.
fn written_target(files: &BTreeMap<Module, File>, path: &[String]) -> Module {
    (0..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|m| files.contains_key(m))
        .expect("the crate root is a module")
}

/// The module that defines what `path` names, through `use` re-exports.
fn defining(files: &BTreeMap<Module, File>, path: &[String], depth: usize) -> Module {
    let mut cur: Module = Vec::new();
    for (i, seg) in path.iter().enumerate() {
        let mut next = cur.clone();
        next.push(seg.clone());
        if files.contains_key(&next) {
            cur = next;
            continue;
        }
        let import = files[&cur]
            .uses
            .iter()
            .find(|(_, n, _)| n.as_deref() == Some(seg.as_str()));
        if let Some((written, _, _)) = import
            && depth < 16
            && let Some(mut target) = absolute(files, &cur, written)
        {
            target.extend(path[i + 1..].iter().cloned());
            return defining(files, &target, depth + 1);
        }
        return cur;
    }
    cur
}

/// (from, to as written, to where defined) of every import; a folder's
/// public re-exports of its own descendants are its facade, not imports.
fn imports(files: &BTreeMap<Module, File>) -> Vec<(Module, Module, Module)> {
    let mut out = Vec::new();
    for (m, f) in files {
        let written = f
            .uses
            .iter()
            .map(|(s, _, public)| (s, *public))
            .chain(f.inline.iter().map(|s| (s, false)));
        for (segs, public) in written {
            let Some(abs) = absolute(files, m, segs) else {
                continue;
            };
            let to = written_target(files, &abs);
            if public && to.len() > m.len() && to.starts_with(m) {
                continue;
            }
            let def = defining(files, &abs, 0);
            if to != *m || def != *m {
                out.push((m.clone(), to, def));
            }
        }
    }
    out
}

/// (layer index, the matching prefix) of a module.
fn layer_of(m: &[String]) -> Option<(usize, &'static str)> {
    LAYERS
        .iter()
        .enumerate()
        .flat_map(|(i, (_, ps))| ps.iter().map(move |p| (i, *p)))
        .filter(|(_, p)| starts_with(m, p))
        .max_by_key(|(_, p)| p.len())
}

#[test]
fn every_library_module_has_a_layer() {
    let files = library();
    let missing: Vec<String> = files
        .keys()
        .filter(|m| !m.is_empty() && layer_of(m).is_none())
        .map(|m| name(m))
        .collect();
    assert!(
        missing.is_empty(),
        "modules in no layer of tests/layout.rs: {missing:?}"
    );
}

#[test]
fn no_import_runs_up_a_layer() {
    let files = library();
    let mut bad = BTreeSet::new();
    for (from, _, def) in imports(&files) {
        if def.is_empty() {
            continue;
        }
        let (Some((lf, pf)), Some((lt, pt))) = (layer_of(&from), layer_of(&def)) else {
            continue;
        };
        let isolated = pf != pt && ISOLATED.iter().any(|g| g.contains(&pf) && g.contains(&pt));
        if lt > lf || isolated {
            bad.insert(format!(
                "{} ({}) imports {} ({})",
                name(&from),
                LAYERS[lf].0,
                name(&def),
                LAYERS[lt].0
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "imports against the layer order:\n{}",
        bad.into_iter().collect::<Vec<_>>().join("\n")
    );
}

/// Every circle of `edges`, each as "a -> b -> a".
fn circles(edges: &BTreeMap<String, BTreeSet<String>>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for start in edges.keys() {
        let mut seen = BTreeSet::new();
        let mut todo = vec![(start.clone(), vec![start.clone()])];
        while let Some((m, trail)) = todo.pop() {
            for next in edges.get(&m).into_iter().flatten() {
                let mut t = trail.clone();
                t.push(next.clone());
                if next == start {
                    found.insert(t.join(" -> "));
                } else if seen.insert(next.clone()) {
                    todo.push((next.clone(), t));
                }
            }
        }
    }
    found
}

/// No circle between files as their imports name them, and none between
/// the units of the layer table once re-exports are followed to where an
/// item is defined. A folder's module and its descendants share its
/// namespace: imports between a module and one it holds do not count.
#[test]
fn no_import_circles() {
    let files = library();
    let mut by_file: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut by_unit: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, to, def) in imports(&files) {
        let nested = from.starts_with(&to) || to.starts_with(&from);
        if !nested {
            by_file.entry(name(&from)).or_default().insert(name(&to));
        }
        if let (Some((_, uf)), Some((_, ud))) = (layer_of(&from), layer_of(&def))
            && uf != ud
        {
            by_unit.entry(uf.into()).or_default().insert(ud.into());
        }
    }
    let found: Vec<String> = circles(&by_file)
        .into_iter()
        .chain(circles(&by_unit))
        .collect();
    assert!(found.is_empty(), "import circles:\n{}", found.join("\n"));
}

/// The parser itself: a use tree with groups, `self`, aliases and globs.
#[test]
fn use_trees_expand_to_their_leaves() {
    let leaves = use_leaves("super::{a::{self, B as C}, d::*, E}", &[]);
    let shown: Vec<String> = leaves
        .iter()
        .map(|(p, n)| format!("{}={}", p.join("::"), n.as_deref().unwrap_or("*")))
        .collect();
    assert_eq!(
        shown,
        ["super::a=a", "super::a::B=C", "super::d=*", "super::E=E"]
    );
    assert_eq!(
        code_only("a // b\n\"c//\" '\"' /* d /* e */ */ f"),
        "a \n\"\" ' '   f"
    );
}
