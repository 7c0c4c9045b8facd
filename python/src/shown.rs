//! How the package's messages show names and paths: as the library's messages show them
//! (`src/error/message.rs`), so that a name reads the same in every message.
//!
//! - A name is escaped ([`pipeline_deps::spec::escape_name_exact`]), quoted, and cut after
//!   100 characters, saying how many bytes the whole name has: one hostile name cannot
//!   make a message megabytes long.
//! - A path is escaped, not quoted and not cut; a file name that is not UTF-8 shows each
//!   byte that is not as U+FFFD, as `Path::to_string_lossy` shows it.
//!
//! Python text may hold what Rust text cannot: a lone surrogate (`"\ud800"`), which is
//! shown as the escape `\u{d800}`, in the style of the others. (A path's surrogates that
//! are `os.fsdecode`'s escapes of bytes that are not UTF-8 stand for those bytes.)

use std::borrow::Cow;
use std::fmt::Write as _;

use pyo3::prelude::*;
use pyo3::types::PyString;

use pipeline_deps::spec::escape_name_exact;

/// How many characters of an escaped name a message shows (the library's limit).
const LIMIT: usize = 100;

/// `name` as the package's messages show it: escaped, quoted, and cut after [`LIMIT`]
/// characters with the whole name's length in bytes, as the library's own messages show
/// every name.
pub(crate) fn name(name: &str) -> String {
    cut(&escape_name_exact(name), name.len(), "'")
}

/// `path` as the library's messages show it: escaped, as `Path::to_string_lossy` reads it.
pub(crate) fn path(path: &std::path::Path) -> String {
    escape_name_exact(&path.to_string_lossy()).into_owned()
}

/// `shown`, an escaped name of `bytes` bytes, between `quote`s, and cut after [`LIMIT`] characters.
fn cut(shown: &str, bytes: usize, quote: &str) -> String {
    match shown.char_indices().nth(LIMIT) {
        None => format!("{quote}{shown}{quote}"),
        Some((end, _)) => format!("{quote}{}…{quote} ({bytes} bytes)", &shown[..end]),
    }
}

/// `text` escaped as [`escape_name_exact`] escapes it, each lone surrogate as `\u{d800}`
/// (text that Rust cannot hold), and its length in UTF-8 bytes (three for a surrogate,
/// as Python's `encode("utf-8", "surrogatepass")` counts it).
fn escaped(text: &Bound<'_, PyString>) -> PyResult<(String, usize)> {
    if let Ok(whole) = text.to_cow() {
        return Ok((escape_name_exact(&whole).into_owned(), whole.len()));
    }
    let units: Vec<u16> = text
        .call_method1("encode", ("utf-16-le", "surrogatepass"))?
        .extract::<Cow<'_, [u8]>>()?
        .chunks_exact(2)
        .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
        .collect();
    let (mut shown, mut bytes, mut run) = (String::new(), 0, String::new());
    for unit in char::decode_utf16(units) {
        match unit {
            Ok(c) => run.push(c),
            Err(lone) => {
                shown.push_str(&escape_name_exact(&run));
                bytes += run.len() + 3;
                run.clear();
                let _ = write!(shown, "\\u{{{:x}}}", lone.unpaired_surrogate());
            }
        }
    }
    shown.push_str(&escape_name_exact(&run));
    Ok((shown, bytes + run.len()))
}

/// `name` as the package's messages show it ([`name`]), also when it holds a lone
/// surrogate, for the messages the package's Python half makes itself; without the quotes
/// when not `quoted` (a key in a field's path, `outputs.name`, as the library shows one).
#[pyfunction]
#[pyo3(signature = (name, quoted = true))]
pub(crate) fn shown_name(name: &Bound<'_, PyString>, quoted: bool) -> PyResult<String> {
    let (shown, bytes) = escaped(name)?;
    Ok(cut(&shown, bytes, if quoted { "'" } else { "" }))
}

/// `path` as the library's messages show a path: escaped, neither quoted nor cut, a byte
/// that is not UTF-8 (an `os.fsdecode` escape) as U+FFFD (as `Path::to_string_lossy` shows
/// it), another lone surrogate as `\u{d800}`.
#[pyfunction]
pub(crate) fn shown_path(path: &Bound<'_, PyString>) -> PyResult<String> {
    // `os.fsencode`, not pyo3's `PathBuf` extraction, which panics on a lone surrogate
    // that is no escape (pyo3 0.26).
    let encoded = path.py().import("os")?.call_method1("fsencode", (path,));
    match encoded.and_then(|bytes| bytes.extract::<Cow<'_, [u8]>>().map(Cow::into_owned)) {
        Ok(bytes) => Ok(escape_name_exact(&String::from_utf8_lossy(&bytes)).into_owned()),
        Err(_) => Ok(escaped(path)?.0),
    }
}
