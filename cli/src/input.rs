//! Reading an input document (`import`, `check-snapshot`, `demo --specs`): a named file or
//! standard input, as UTF-8 text, read no further than the first byte that shows it cannot
//! be a JSON document.
//!
//! Reading stops early so that an endless input (`import ctx /dev/zero`, `yes | import ctx
//! -`) is refused at once instead of filling memory until the system kills the process:
//! - at the first byte no JSON text holds anywhere (a control character other than tab,
//!   line feed and carriage return: JSON strings escape them);
//! - at the first non-blank character, when no JSON value starts with it;
//! - at the first byte sequence that is not UTF-8.
//!
//! In the first two cases the text is kept up to and including that byte, so the parser
//! reports the same syntax error (line and column) the whole input would have given: it
//! reads in order, and that byte is an error wherever it stands.

use std::io::{self, Read};
use std::path::Path;

use crate::Failure;

/// How much is read at a time.
const CHUNK: usize = 64 * 1024;

/// The byte order mark in UTF-8, which may come first (and is then skipped).
const BOM: &[u8] = "\u{feff}".as_bytes();

/// Reads a named input file, or standard input for `-`.
pub fn read_input(path: &Path) -> Result<String, Failure> {
    read_input_with(path, false)
}

/// [`read_input`], with a progress bar over the file's bytes when `progress`.
pub fn read_input_with(path: &Path, progress: bool) -> Result<String, Failure> {
    // The file an error about the input's content names (the first one read; `-` for
    // standard input).
    let _ = crate::json::INPUT.set(path.to_path_buf());
    let result = if path == Path::new("-") {
        read_document(io::stdin().lock())
    } else {
        std::fs::File::open(path).and_then(|f| {
            let total = f.metadata().map(|m| m.len()).unwrap_or(0);
            let bar = crate::progress::Progress::bytes(
                progress && total >= crate::progress::LARGE_BYTES,
                total,
                format!("reading {}", crate::output::path_text(path)),
            );
            let read = read_document(bar.read(f));
            bar.finish();
            read
        })
    };
    let mut text = result.map_err(|source| {
        if source.kind() == io::ErrorKind::InvalidData {
            // An error in the input's content, as a JSON syntax error is: the message names
            // the input (`standard input` for `-`) and the JSON error's `file` gives it.
            Failure::Library(pipeline_deps::Error::InvalidInput {
                what: "the document".into(),
                detail: "it is not UTF-8 text".into(),
                source: Some(Box::new(source)),
            })
        } else {
            Failure::Io {
                action: format!("reading {}", crate::output::path_text(path)),
                file: Some(path.to_path_buf()),
                source,
            }
        }
    })?;
    // A byte order mark (what Windows editors and PowerShell's `Out-File` put first) is not
    // part of the document: JSON parsers may ignore it (RFC 8259), and refused it read as
    // "not valid JSON at line 1, column 1", pointing at a character no editor shows.
    if text.starts_with('\u{feff}') {
        text.drain(..'\u{feff}'.len_utf8());
    }
    Ok(text)
}

/// The text `reader` gives, up to its end or to the byte that shows it is not JSON (kept);
/// an [`io::ErrorKind::InvalidData`] error at the first sequence that is not UTF-8.
fn read_document(mut reader: impl Read) -> io::Result<String> {
    let mut bytes = Vec::new();
    // How far `bytes` is known to be UTF-8, and whether its first non-blank byte was seen.
    let mut checked = 0;
    let mut started = false;
    let mut chunk = vec![0; CHUNK];
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let new = &chunk[..n];
        let offset = bytes.len();
        let stop = new.iter().enumerate().find_map(|(i, &b)| {
            if b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r') {
                return Some(i);
            }
            let blank = matches!(b, b' ' | b'\t' | b'\n' | b'\r')
                || BOM.get(offset + i) == Some(&b) && bytes.iter().chain(new).take(3).eq(BOM);
            if !started && !blank {
                started = true;
                // Only an ASCII character is judged, so that the text kept ends on a whole
                // character.
                if b.is_ascii() && !(b.is_ascii_digit() || b"{[\"-tfn".contains(&b)) {
                    return Some(i);
                }
            }
            None
        });
        bytes.extend_from_slice(&new[..stop.map_or(n, |i| i + 1)]);
        match std::str::from_utf8(&bytes[checked..]) {
            Ok(_) => checked = bytes.len(),
            Err(e) if e.error_len().is_some() => return Err(not_utf8(checked + e.valid_up_to())),
            // A character cut by the chunk's end: the next chunk completes it.
            Err(e) => checked += e.valid_up_to(),
        }
        if stop.is_some() {
            break;
        }
    }
    String::from_utf8(bytes).map_err(|e| not_utf8(e.utf8_error().valid_up_to()))
}

fn not_utf8(offset: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("the byte at offset {offset} does not begin a UTF-8 character"),
    )
}

#[cfg(test)]
mod tests {
    use super::read_document;

    /// A reader that gives `head`, then `fill` bytes forever, a few at a time.
    struct Endless {
        head: &'static [u8],
        fill: u8,
    }

    impl std::io::Read for Endless {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(1000);
            let from_head = self.head.len().min(n);
            buf[..from_head].copy_from_slice(&self.head[..from_head]);
            self.head = &self.head[from_head..];
            buf[from_head..n].fill(self.fill);
            Ok(n)
        }
    }

    #[test]
    fn an_endless_input_stops_at_the_byte_that_is_not_json() -> std::io::Result<()> {
        let text = read_document(Endless {
            head: b"{\"steps\": [",
            fill: 0,
        })?;
        assert_eq!(text, "{\"steps\": [\0");
        assert_eq!(
            read_document(Endless {
                head: b"",
                fill: b'y'
            })?,
            "y"
        );
        assert_eq!(
            read_document(Endless {
                head: b"  ",
                fill: b'y'
            })?,
            "  y"
        );
        let mark = "\u{feff} y";
        assert_eq!(
            read_document(Endless {
                head: mark.as_bytes(),
                fill: b'y'
            })?,
            mark
        );
        let refused = read_document(Endless {
            head: b"{\"a\": \"\xff",
            fill: b' ',
        });
        assert!(refused.is_err_and(|e| e.to_string().contains("offset 7")));
        Ok(())
    }

    #[test]
    fn a_json_document_is_read_whole() -> std::io::Result<()> {
        let doc = "\u{feff} {\"steps\": [{\"step_name\": \"é\\u0000\"}]}\n\t\r".repeat(5000);
        assert_eq!(read_document(doc.as_bytes())?, doc);
        // A character cut by a chunk's end is read whole.
        let cut = format!("{}é", " ".repeat(super::CHUNK - 1));
        assert_eq!(read_document(cut.as_bytes())?, cut);
        Ok(())
    }
}
