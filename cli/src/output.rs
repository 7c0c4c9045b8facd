//! Human output (aligned tables that fit [`MAX_WIDTH`] columns) and JSON output.

use std::io::{self, Write};

use serde::Serialize;

/// The widest line a table prints.
pub const MAX_WIDTH: usize = 100;

/// Spaces between columns.
const GAP: usize = 2;

/// Columns are never shrunk below this many characters.
const MIN_COLUMN: usize = 8;

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

    /// Adds a row (missing cells are blank, extra ones ignored).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Column widths that fit [`MAX_WIDTH`]: the widest columns give way first.
    fn widths(&self) -> Vec<usize> {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| width(h)).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(width(cell));
            }
        }
        let budget = MAX_WIDTH.saturating_sub(self.indent);
        let total = |w: &[usize]| w.iter().sum::<usize>() + GAP * w.len().saturating_sub(1);
        while total(&widths) > budget {
            let Some((i, &widest)) = widths.iter().enumerate().max_by_key(|(_, w)| **w) else {
                break;
            };
            if widest <= MIN_COLUMN {
                break;
            }
            if let Some(w) = widths.get_mut(i) {
                *w = widest - 1;
            }
        }
        widths
    }

    /// Writes the header line and every row.
    ///
    /// # Errors
    /// The writer's errors.
    pub fn write(&self, out: &mut dyn Write) -> io::Result<()> {
        let widths = self.widths();
        self.line(out, &widths, &self.headers)?;
        for row in &self.rows {
            self.line(out, &widths, row)?;
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
///
/// # Errors
/// The writer's errors.
pub fn field(out: &mut dyn Write, indent: usize, label: &str, value: &str) -> io::Result<()> {
    if value.is_empty() {
        return Ok(());
    }
    let lead = indent + LABEL;
    let lines = wrap(value, MAX_WIDTH.saturating_sub(lead));
    for (i, line) in lines.iter().enumerate() {
        let label = if i == 0 { label } else { "" };
        writeln!(out, "{}{label:<LABEL$}{line}", " ".repeat(indent))?;
    }
    Ok(())
}

/// Word-wraps `text` to lines of at most `max` characters (longer words are cut).
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

/// Display width of a cell (one column per character; the tool prints no wide characters
/// of its own).
pub fn width(text: &str) -> usize {
    text.chars().count()
}

/// `text` cut to `max` characters, ending in `…` when cut.
pub fn fit(text: &str, max: usize) -> String {
    if width(text) <= max {
        text.to_owned()
    } else if max == 0 {
        String::new()
    } else {
        let mut cut: String = text.chars().take(max - 1).collect();
        cut.push('…');
        cut
    }
}

/// A score as tables print it.
pub fn score(value: f64) -> String {
    format!("{value:.4}")
}

/// A byte count for people: `812 B`, `1.5 KiB`, `3.2 MiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = UNITS[0];
    for next in &UNITS[1..] {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = next;
    }
    format!("{value:.1} {unit}")
}

/// Writes `value` as pretty JSON and a newline. The text is built first so that a write
/// error reaches the caller as the `io::Error` it is (a closed pipe stays recognisable).
///
/// # Errors
/// The writer's errors.
pub fn json(out: &mut dyn Write, value: &impl Serialize) -> io::Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(io::Error::other)?;
    out.write_all(text.as_bytes())?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_and_fit_the_width() -> io::Result<()> {
        let mut table = Table::new(&["NAME", "COUNT"]).right(&[1]);
        table.row(vec!["short".into(), "3".into()]);
        table.row(vec!["x".repeat(150), "12".into()]);
        let mut out = Vec::new();
        table.write(&mut out)?;
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
    fn byte_counts() {
        assert_eq!(bytes(812), "812 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 * 1024 * 1024 + 200 * 1024), "3.2 MiB");
    }
}
