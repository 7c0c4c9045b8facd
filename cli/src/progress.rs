//! Progress bars on standard error for long imports and exports (`indicatif`): shown on a
//! terminal only, never with `--json` or `-q`, never when standard error is piped, and only
//! for inputs large enough to take a while ([`LARGE_BYTES`], [`LARGE_STEPS`]), so that quick
//! commands do not flash a bar.

use std::io::Read;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// Files at least this large get a progress bar while read and validated.
pub const LARGE_BYTES: u64 = 1 << 20;

/// Imports and exports of at least this many steps get a spinner.
pub const LARGE_STEPS: usize = 1_000;

/// A progress bar or spinner, or nothing when nobody watches.
pub struct Progress(Option<ProgressBar>);

impl Progress {
    /// A spinner with `message` and the elapsed time, when `shown`.
    pub fn spinner(shown: bool, message: String) -> Progress {
        if !shown {
            return Progress(None);
        }
        let bar = ProgressBar::new_spinner().with_message(message);
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(120));
        Progress(Some(bar))
    }

    /// A bar over `total` bytes with `message`, when `shown`.
    pub fn bytes(shown: bool, total: u64, message: String) -> Progress {
        if !shown {
            return Progress(None);
        }
        let bar = ProgressBar::new(total).with_message(message);
        if let Ok(style) =
            ProgressStyle::with_template("{msg} [{bar:30}] {binary_bytes}/{binary_total_bytes}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        Progress(Some(bar))
    }

    /// `reader`, advancing the bar as it is read.
    pub fn read<'a, R: Read + 'a>(&self, reader: R) -> Box<dyn Read + 'a> {
        match &self.0 {
            Some(bar) => Box::new(bar.wrap_read(reader)),
            None => Box::new(reader),
        }
    }

    /// Removes the bar from the terminal.
    pub fn finish(self) {
        if let Some(bar) = self.0 {
            bar.finish_and_clear();
        }
    }
}
