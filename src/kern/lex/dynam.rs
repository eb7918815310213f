//! The **dynam token lexer: one field of a dynamics spine.

use crate::kern::limits::{MAX_DYNAM_INVISIBLE, MAX_DYNAM_LETTERS, MAX_DYNAM_MARKS};

/// Incremental parser of a **dynam field other than `.`: up to three space-separated marks,
/// each one to four of `p f m s z r < > ( ) [ ]` followed by at most one `X` and two `y`
/// (`p`, `ff`, `sf`, `<`, `[ >`, `ff>]`, `pyy`, `<X`).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct DynTok {
    sub: u8,
    core: u8,
    x: u8,
    y: u8,
}

impl DynTok {
    pub fn step(&mut self, c: u8) -> bool {
        match c {
            b'p' | b'f' | b'm' | b's' | b'z' | b'r' | b'<' | b'>' | b'(' | b')' | b'[' | b']'
                if self.x == 0 && self.y == 0 && self.core < MAX_DYNAM_LETTERS =>
            {
                self.core += 1;
                true
            }
            b'X' if self.core > 0 && self.x == 0 => {
                self.x = 1;
                true
            }
            b'y' if self.core > 0 && self.y < MAX_DYNAM_INVISIBLE => {
                self.y += 1;
                true
            }
            b' ' if self.core > 0 && self.sub + 1 < MAX_DYNAM_MARKS => {
                *self = DynTok { sub: self.sub + 1, ..DynTok::default() };
                true
            }
            _ => false,
        }
    }

    pub fn can_end(&self) -> bool {
        self.core > 0
    }
}

/// Whether `s` is a whole **dynam field the grammar accepts (not `.`).
pub(crate) fn dynam_field_ok(s: &str) -> bool {
    let mut t = DynTok::default();
    !s.is_empty() && s.bytes().all(|b| t.step(b)) && t.can_end()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamics_hairpins_and_their_ends_are_tokens() {
        for ok in ["p", "ff", "sf", "<", "[ >", "ff>]", "pyy", "<X", "mf"] {
            assert!(dynam_field_ok(ok), "{ok}");
        }
    }

    #[test]
    fn a_mark_is_one_to_four_letters_then_its_editorial_signs() {
        for bad in ["", "pppppp", "4", "q", "Xp"] {
            assert!(!dynam_field_ok(bad), "{bad}");
        }
    }

    #[test]
    fn marks_are_separated_by_single_spaces() {
        assert!(!dynam_field_ok("p ") && !dynam_field_ok("p  f"));
    }
}
