//! Human output (aligned tables that fit the terminal, or [`MAX_WIDTH`] columns when
//! standard output is not a terminal), the escaping of names for people, and JSON output.
//!
//! Widths are display widths (`unicode-width`): a CJK character takes two columns. Every
//! cell of a table and every value of a field is escaped with [`esc`], so a hostile name
//! cannot move the cursor, ring the bell or start a new line.

use std::borrow::Cow;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use unicode_width::UnicodeWidthStr;

/// The widest line a table prints when standard output is not a terminal.
pub const MAX_WIDTH: usize = 100;

/// The width tables fit: `$COLUMNS` when it holds a number of at least 40 (as `ls` and
/// other tools honour it, also when standard output is not a terminal), else the terminal's
/// width when standard output is a terminal (40 on a narrower one), else [`MAX_WIDTH`].
pub fn max_width() -> usize {
    static WIDTH: OnceLock<usize> = OnceLock::new();
    *WIDTH.get_or_init(|| {
        let columns = std::env::var("COLUMNS").ok();
        columns_setting(columns.as_deref()).unwrap_or_else(|| {
            console::Term::stdout()
                .size_checked()
                .map(|(_, columns)| usize::from(columns).max(MIN_WIDTH))
                .unwrap_or(MAX_WIDTH)
        })
    })
}

/// The narrowest width a table is fitted to: a narrower `$COLUMNS` is ignored, and a
/// narrower terminal gets tables this wide.
const MIN_WIDTH: usize = 40;

/// The width `$COLUMNS` asks for, if it is a number of at least [`MIN_WIDTH`].
fn columns_setting(value: Option<&str>) -> Option<usize> {
    value?
        .trim()
        .parse::<usize>()
        .ok()
        .filter(|&columns| columns >= MIN_WIDTH)
}

/// `text` as people see it: the library's [`escape_name`](pipeline_deps::spec::escape_name)
/// (`\n`, `\r`, `\t`, and `\u{1b}` for every other control or invisible reordering
/// character; `训练管道` stays `训练管道`). Used on every message printed for people (names
/// alone go through [`esc_name`]); `--json` output is exact.
pub fn esc(text: &str) -> Cow<'_, str> {
    pipeline_deps::spec::escape_name(text)
}

/// A name (of a context, step, dependency or type) as messages show it: as the library's
/// messages show names ([`escape_name_exact`](pipeline_deps::spec::escape_name_exact): as
/// [`esc`], and each backslash doubled, so that a name holding a newline and one holding
/// `\n` show apart). Whole texts, which may hold names escaped already, go through [`esc`].
pub fn esc_name(name: &str) -> Cow<'_, str> {
    pipeline_deps::spec::escape_name_exact(name)
}

/// A name as tables and fields show it: escaped ([`esc_name`]), and in single quotes when
/// it is empty or begins or ends with whitespace (a context named `" "` would be a blank
/// cell, and `" a"` would look like `a`), as messages always quote names.
pub fn shown_name(name: &str) -> Cow<'_, str> {
    let escaped = esc_name(name);
    if escaped.is_empty()
        || escaped.starts_with(char::is_whitespace)
        || escaped.ends_with(char::is_whitespace)
    {
        Cow::Owned(format!("'{escaped}'"))
    } else {
        escaped
    }
}

/// Names in messages are cut to this many characters.
pub const NAME_LIMIT: usize = 100;

/// A name for a message: escaped ([`esc_name`]) and cut to [`NAME_LIMIT`]
/// characters, ending in `…` and its length in bytes when cut.
pub fn short(name: &str) -> String {
    let escaped = esc_name(name);
    if escaped.chars().count() <= NAME_LIMIT {
        escaped.into_owned()
    } else {
        let head: String = escaped.chars().take(NAME_LIMIT).collect();
        format!("{head}… ({} bytes)", name.len())
    }
}

/// How every command reports a path, in JSON and for people: [`canonical`] (absolute, with
/// symbolic links and `..` resolved as far as the path exists). `-` (standard input or
/// output) stays `-`; a server URL is shown without its password.
pub fn shown_path(path: &Path) -> PathBuf {
    if path == Path::new("-") {
        return path.to_path_buf();
    }
    if let Some(url) = crate::commands::server_url(path) {
        return PathBuf::from(pipeline_deps::storage::url_without_password(url));
    }
    canonical(path)
}

/// `path` absolute, with its symbolic links, `.` and `..` resolved as far as it exists: the
/// canonical path (`std::fs::canonicalize`) of a file that exists, else that of its deepest
/// existing directory joined with the rest as given, so that a file about to be created is
/// named as it will be once it exists. The command line opens its databases by this path,
/// so that the library's own messages name them as every other message does. A path that
/// ends in `/` or `..` and does not exist is only made absolute (joining would drop the
/// `/` that makes it a directory's, or misplace the `..`). A symbolic link to a file not
/// created yet is named by its target, where the file will be created.
pub fn canonical(path: &Path) -> PathBuf {
    canonical_within(path, LINKS_FOLLOWED)
}

/// How many symbolic links to missing files [`canonical`] follows, as the system's own
/// limit (`ELOOP`) for a path: a loop of links ends there, named as given.
const LINKS_FOLLOWED: u32 = 40;

fn canonical_within(path: &Path, links: u32) -> PathBuf {
    let Ok(absolute) = std::path::absolute(path) else {
        return path.to_path_buf();
    };
    if let Ok(resolved) = std::fs::canonicalize(&absolute) {
        return resolved;
    }
    if path.as_os_str().as_encoded_bytes().ends_with(b"/") {
        return absolute;
    }
    if let (Ok(target), Some(dir), Some(links)) = (
        std::fs::read_link(&absolute),
        absolute.parent(),
        links.checked_sub(1),
    ) {
        // A dangling link: opening it creates its target.
        return canonical_within(&dir.join(target), links);
    }
    let mut rest = Vec::new();
    let mut existing = absolute.as_path();
    while let (Some(parent), Some(name)) = (existing.parent(), existing.file_name()) {
        rest.push(name);
        existing = parent;
        if let Ok(resolved) = std::fs::canonicalize(existing) {
            return rest
                .iter()
                .rev()
                .fold(resolved, |path, name| path.join(name));
        }
    }
    absolute
}

/// Quotes a word for a shell when it needs it (for the commands suggested in hints): as it
/// is when it holds only characters no shell treats specially, otherwise in single quotes
/// (a quote inside written `'\''`). A word holding a character that people are shown
/// escaped ([`esc`]: controls, invisible or reordering characters) is written in bash's and
/// zsh's `$'…'` quoting instead, with that character as `\uXXXX`, so that the suggested
/// command, shown escaped, still names the same thing when pasted.
pub fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c));
    if plain {
        return word.to_owned();
    }
    if esc(word) == word {
        return format!("'{}'", word.replace('\'', r"'\''"));
    }
    let mut quoted = String::from("$'");
    push_dollar_quoted(&mut quoted, word);
    quoted.push('\'');
    quoted
}

/// Appends `text` as the inside of bash's and zsh's `$'…'` quoting: `\`, `'` and every
/// character people are shown escaped ([`esc`]) written as escapes.
fn push_dollar_quoted(quoted: &mut String, text: &str) {
    let shown_escaped = |c: char| matches!(esc(c.encode_utf8(&mut [0u8; 4])), Cow::Owned(_));
    for c in text.chars() {
        match c {
            '\\' => quoted.push_str(r"\\"),
            '\'' => quoted.push_str(r"\'"),
            c if shown_escaped(c) => {
                let code = u32::from(c);
                if code <= 0xffff {
                    quoted.push_str(&format!("\\u{code:04x}"));
                } else {
                    quoted.push_str(&format!("\\U{code:08x}"));
                }
            }
            c => quoted.push(c),
        }
    }
}

/// A path as one shell word ([`shell_word`]) for a command suggested in a hint. A path that
/// is not valid UTF-8 (Linux allows any bytes in a file name) is written in `$'…'` quoting
/// with each byte that is not UTF-8 as `\xHH`, so that the pasted command names the same
/// file (the path made text by replacing those bytes would name another).
pub fn shell_path(path: &Path) -> String {
    match path.to_str() {
        Some(text) => shell_word(text),
        None => shell_bytes(path),
    }
}

/// [`shell_path`] of a path that is not UTF-8.
#[cfg(unix)]
fn shell_bytes(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut quoted = String::from("$'");
    for chunk in path.as_os_str().as_bytes().utf8_chunks() {
        push_dollar_quoted(&mut quoted, chunk.valid());
        for byte in chunk.invalid() {
            quoted.push_str(&format!("\\x{byte:02x}"));
        }
    }
    quoted.push('\'');
    quoted
}

/// [`shell_path`] of a path that is not UTF-8 (elsewhere than Unix: shown lossily).
#[cfg(not(unix))]
fn shell_bytes(path: &Path) -> String {
    shell_word(&path.to_string_lossy())
}

/// `--db DB` for a command line suggested in a hint, ready to paste: the database as shown
/// ([`shown_path`]: a file's full path, a server URL without its password), one shell word.
pub fn db_option(db: &Path) -> String {
    format!("--db {}", shell_path(&shown_path(db)))
}

/// [`shown_path`] as text for people (escaped).
pub fn path_text(path: &Path) -> String {
    esc(&shown_path(path).display().to_string()).into_owned()
}

/// Spaces between columns.
const GAP: usize = 2;

/// Columns give way down to this many characters first (see `Table::widths_within`).
const MIN_COLUMN: usize = 8;

/// A text column is never narrower than this (three characters and `…`).
const MIN_TEXT: usize = 4;

/// An aligned text table. Cells longer than their column end in `…`.
#[derive(Debug, Default)]
pub struct Table {
    headers: Vec<String>,
    right: Vec<bool>,
    rows: Vec<Vec<String>>,
    indent: usize,
}

impl Table {
    /// A table with these column headers.
    pub fn new(headers: &[&str]) -> Self {
        Table {
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            right: vec![false; headers.len()],
            rows: Vec::new(),
            indent: 0,
        }
    }

    /// Right-aligns the given columns (numbers).
    pub fn right(mut self, columns: &[usize]) -> Self {
        for &c in columns {
            if let Some(flag) = self.right.get_mut(c) {
                *flag = true;
            }
        }
        self
    }

    /// Indents every line by `spaces`.
    pub fn indent(mut self, spaces: usize) -> Self {
        self.indent = spaces;
        self
    }

    /// Adds a row (missing cells are blank, extra ones ignored). Cells are escaped, and a
    /// cell that begins or ends with whitespace is quoted ([`shown_name`]): a name such as
    /// `" "` must not look like an empty cell. (An empty cell stays empty: it is no name.)
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(
            cells
                .into_iter()
                .map(|c| {
                    if c.is_empty() {
                        return c;
                    }
                    match shown_name(&c) {
                        Cow::Borrowed(_) => c,
                        Cow::Owned(shown) => shown,
                    }
                })
                .collect(),
        );
    }

    /// Column widths that fit [`max_width`]: the widest columns give way first.
    fn widths(&self) -> Vec<usize> {
        self.widths_within(max_width())
    }

    fn widths_within(&self, max: usize) -> Vec<usize> {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| width(h)).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(width(cell));
            }
        }
        let budget = max.saturating_sub(self.indent);
        let total = |w: &[usize]| w.iter().sum::<usize>() + GAP * w.len().saturating_sub(1);
        // First the widest columns give way, down to MIN_COLUMN; when that is not enough (a
        // table of many columns on a narrow terminal), every column gives way further, down
        // to its floor: a number is never cut, text keeps at least a few characters and its
        // `…`. A line wider than the terminal would be wrapped by it, which breaks every
        // column at once.
        let floors: Vec<usize> = (0..widths.len()).map(|i| self.floor(i)).collect();
        for last_resort in [false, true] {
            while total(&widths) > budget {
                let widest = widths
                    .iter()
                    .zip(&floors)
                    .enumerate()
                    .filter(|&(_, (&w, &floor))| w > if last_resort { floor } else { MIN_COLUMN })
                    .max_by_key(|&(_, (&w, _))| w)
                    .map(|(i, _)| i);
                match widest.and_then(|i| widths.get_mut(i)) {
                    Some(w) => *w -= 1,
                    None => break,
                }
            }
        }
        widths
    }

    /// The narrowest column `i` may become on a narrow terminal: a right-aligned column
    /// (numbers) as wide as its widest cell, so that no number is cut (its header may be);
    /// another column [`MIN_TEXT`] (a few characters and `…`).
    fn floor(&self, i: usize) -> usize {
        if self.right.get(i).copied().unwrap_or(false) {
            self.rows
                .iter()
                .filter_map(|row| row.get(i))
                .map(|cell| width(cell))
                .max()
                .unwrap_or(0)
                .max(1)
        } else {
            MIN_TEXT
        }
    }

    /// Writes the header line and every row.
    ///
    /// # Errors
    /// The writer's errors.
    pub fn write(&self, out: &mut dyn Write) -> io::Result<()> {
        self.write_widths(out, &self.widths())
    }

    fn write_widths(&self, out: &mut dyn Write, widths: &[usize]) -> io::Result<()> {
        self.line(out, widths, &self.headers)?;
        for row in &self.rows {
            self.line(out, widths, row)?;
        }
        Ok(())
    }

    fn line(&self, out: &mut dyn Write, widths: &[usize], cells: &[String]) -> io::Result<()> {
        let mut line = " ".repeat(self.indent);
        for (i, &w) in widths.iter().enumerate() {
            let cell = fit(cells.get(i).map_or("", String::as_str), w);
            let pad = " ".repeat(w.saturating_sub(width(&cell)));
            if i > 0 {
                line.push_str(&" ".repeat(GAP));
            }
            if self.right.get(i).copied().unwrap_or(false) {
                line.push_str(&pad);
                line.push_str(&cell);
            } else {
                line.push_str(&cell);
                line.push_str(&pad);
            }
        }
        writeln!(out, "{}", line.trim_end())
    }
}

/// Label column width of the full specification view.
pub const LABEL: usize = 20;

/// Writes `label  value` with the value word-wrapped under itself; nothing for an empty value.
/// The value is escaped.
///
/// # Errors
/// The writer's errors.
pub fn field(out: &mut dyn Write, indent: usize, label: &str, value: &str) -> io::Result<()> {
    if value.is_empty() {
        return Ok(());
    }
    let lead = indent + LABEL;
    let lines = wrap(&esc(value), max_width().saturating_sub(lead));
    for (i, line) in lines.iter().enumerate() {
        let label = if i == 0 { label } else { "" };
        writeln!(out, "{}{label:<LABEL$}{line}", " ".repeat(indent))?;
    }
    Ok(())
}

/// Writes `label  name`: the name as [`shown_name`] shows it, its whitespace kept (never
/// word-wrapped, which would collapse `a  b` into `a b` and drop a leading space), cut
/// with `…` to the width left; nothing for an empty name.
///
/// # Errors
/// The writer's errors.
pub fn field_name(out: &mut dyn Write, indent: usize, label: &str, name: &str) -> io::Result<()> {
    if name.is_empty() {
        return Ok(());
    }
    field_names(out, indent, label, &[name])
}

/// Writes `label  name, name, …`: each name as [`field_name`] shows it, lines broken only
/// between names; nothing for no names.
///
/// # Errors
/// The writer's errors.
pub fn field_names<S: AsRef<str>>(
    out: &mut dyn Write,
    indent: usize,
    label: &str,
    names: &[S],
) -> io::Result<()> {
    let max = max_width().saturating_sub(indent + LABEL).max(10);
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for (i, name) in names.iter().enumerate() {
        let mut item = shown_name(name.as_ref()).into_owned();
        if i + 1 < names.len() {
            item.push(',');
        }
        let item = fit(&item, max);
        if !line.is_empty() && width(&line) + 1 + width(&item) > max {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&item);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    for (i, line) in lines.iter().enumerate() {
        let label = if i == 0 { label } else { "" };
        writeln!(out, "{}{label:<LABEL$}{line}", " ".repeat(indent))?;
    }
    Ok(())
}

/// A `label  value` line with `value` whole, however wide: a database path or server URL
/// that is wrapped or cut cannot be pasted back.
pub fn field_whole(out: &mut dyn Write, label: &str, value: &str) -> io::Result<()> {
    writeln!(out, "{label:<LABEL$}{}", esc(value))
}

/// Word-wraps `text` to lines of at most `max` columns (longer words are cut).
pub fn wrap(text: &str, max: usize) -> Vec<String> {
    let max = max.max(10);
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && width(&line) + 1 + width(word) > max {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&fit(word, max));
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// Display width of a cell in terminal columns (a CJK character takes two).
pub fn width(text: &str) -> usize {
    text.width()
}

/// `text` cut to at most `max` columns, ending in `…` when cut.
pub fn fit(text: &str, max: usize) -> String {
    if width(text) <= max {
        return text.to_owned();
    }
    if max == 0 {
        return String::new();
    }
    let mut cut = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w > max - 1 {
            break;
        }
        used += w;
        cut.push(c);
    }
    cut.push('…');
    cut
}

/// A score as tables print it.
pub fn score(value: f64) -> String {
    format!("{value:.4}")
}

/// A byte count for people in binary units: `812 B`, `1.5 KiB`, `3.2 MiB`.
pub fn bytes(n: u64) -> String {
    bytesize::ByteSize::b(n).display().iec().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_path_is_canonical_as_far_as_it_exists() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let real = std::fs::canonicalize(dir.path())?.join("x");
        std::fs::create_dir(&real)?;
        std::os::unix::fs::symlink(&real, dir.path().join("link"))?;
        let through = dir.path().join("link");
        // A file that does not exist yet: its directory resolved, its name and the
        // directories still to be created kept.
        assert_eq!(canonical(&through.join("new.redb")), real.join("new.redb"));
        assert_eq!(
            canonical(&through.join("a/../new.redb")),
            through.join("a/../new.redb"),
            "a `..` after a directory that does not exist is left to the system"
        );
        assert_eq!(canonical(&through.join("a/b.redb")), real.join("a/b.redb"));
        // One ending in `/` names a directory: made absolute only, the `/` kept.
        let slashed = PathBuf::from(format!("{}/new.redb/", through.display()));
        assert_eq!(canonical(&slashed), slashed);
        std::fs::write(real.join("reg.redb"), b"")?;
        assert_eq!(canonical(&through.join("reg.redb")), real.join("reg.redb"));
        Ok(())
    }

    #[test]
    fn a_suggested_word_pastes_back_into_bash_as_the_same_text() {
        let words = [
            "plain",
            "two words",
            "it's",
            "ev il\u{202e}ctx",
            "zero\u{200b}width\u{2028}line",
            "back\\slash'\u{1b}[2J",
            "emoji 😀\u{e0001}",
        ];
        for word in words {
            let quoted = shell_word(word);
            // Shown to people escaped, it must not change: what is pasted is what is shown.
            assert_eq!(esc(&quoted), quoted.as_str(), "{word:?}");
            let Ok(out) = std::process::Command::new("bash")
                .args(["-c", &format!("printf %s {quoted}")])
                .output()
            else {
                println!("SKIPPED the paste check: no bash");
                return;
            };
            assert_eq!(String::from_utf8_lossy(&out.stdout), word, "{quoted}");
        }
    }

    #[test]
    fn tables_align_and_fit_the_width() -> io::Result<()> {
        let mut table = Table::new(&["NAME", "COUNT"]).right(&[1]);
        table.row(vec!["short".into(), "3".into()]);
        table.row(vec!["x".repeat(150), "12".into()]);
        let mut out = Vec::new();
        table.write_widths(&mut out, &table.widths_within(MAX_WIDTH))?;
        let text = String::from_utf8(out).map_err(io::Error::other)?;
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], format!("NAME{}COUNT", " ".repeat(91)));
        assert_eq!(width(lines[0]), MAX_WIDTH);
        assert!(lines[1].starts_with("short ") && lines[1].ends_with("    3"));
        assert!(lines[2].contains('…'));
        assert!(lines.iter().all(|l| width(l) <= MAX_WIDTH), "{text}");
        Ok(())
    }

    #[test]
    fn wide_characters_take_two_columns() -> io::Result<()> {
        let mut table = Table::new(&["CONTEXT", "STEPS"]).right(&[1]);
        table.row(vec!["训练管道".into(), "3".into()]);
        table.row(vec!["training".into(), "12".into()]);
        let mut out = Vec::new();
        table.write_widths(&mut out, &table.widths_within(MAX_WIDTH))?;
        let text = String::from_utf8(out).map_err(io::Error::other)?;
        let widths: Vec<usize> = text.lines().map(width).collect();
        assert_eq!(widths, [15, 15, 15], "{text}");
        assert_eq!(fit("训练管道", 5), "训练…");
        Ok(())
    }

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(esc("plain 训练"), "plain 训练");
        assert_eq!(
            esc("a\u{1b}[31mb\u{7}c\nd\u{7f}\u{9b}\u{202e}"),
            "a\\u{1b}[31mb\\u{7}c\\nd\\u{7f}\\u{9b}\\u{202e}"
        );
        let long = "x".repeat(5000);
        assert!(short(&long).ends_with("… (5000 bytes)"));
        assert!(short(&long).len() < 150);
    }

    #[test]
    fn byte_counts() {
        assert_eq!(bytes(812), "812 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 * 1024 * 1024 + 200 * 1024), "3.2 MiB");
    }
}
