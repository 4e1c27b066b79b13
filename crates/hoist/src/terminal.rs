//! The user's terminal, for commands that give a container's process a pseudo-terminal
//! (`exec` with a TTY): raw mode while it runs, restored however the command ends, and the
//! window's size.

use std::io::IsTerminal;

use rustix::termios::{OptionalActions, Termios, tcgetattr, tcgetwinsize, tcsetattr};

/// hoist's stdin switched to raw mode: keys go to the container's process as typed (Ctrl+C,
/// Ctrl+D and line editing are the remote shell's). Dropping it restores the settings found.
pub struct RawMode {
    saved: Termios,
}

impl RawMode {
    /// Raw mode on stdin when it is a terminal; `None` when it is not (nothing to change).
    pub fn enable() -> std::io::Result<Option<RawMode>> {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return Ok(None);
        }
        let saved = tcgetattr(&stdin)?;
        let mut raw = saved.clone();
        raw.make_raw();
        tcsetattr(&stdin, OptionalActions::Now, &raw)?;
        Ok(Some(RawMode { saved }))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = tcsetattr(std::io::stdin(), OptionalActions::Now, &self.saved);
    }
}

/// The terminal's size as (rows, columns), from stdout or else stdin; `None` when neither is a
/// terminal or it reports no size.
pub fn size() -> Option<(u16, u16)> {
    let of = |size: rustix::termios::Winsize| {
        (size.ws_row > 0 && size.ws_col > 0).then_some((size.ws_row, size.ws_col))
    };
    tcgetwinsize(std::io::stdout())
        .ok()
        .and_then(of)
        .or_else(|| tcgetwinsize(std::io::stdin()).ok().and_then(of))
}
