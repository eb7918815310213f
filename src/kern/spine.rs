//! Spines, the third layer: what kind each column of a piece is, the layouts a piece starts
//! with, and how a spine-manipulation line (`*^` splits, `*v` merges) reshapes the columns.
//! The grammar, the checker and reconstruction all reshape columns through [`reshape`].

use std::ops::Range;

use super::limits::MAX_SAMPLE_SPINES;

/// The kind of a spine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Kern,
    Dynam,
    /// Kern or dynam, decided by its first token (see [`first_line_kind`]).
    Undecided,
    /// Another exclusive interpretation (only from a full file's header): any token, no time.
    Other,
}

impl Kind {
    /// Whether spines of these kinds may merge (an undecided spine takes the other's kind).
    pub fn merges_with(self, other: Kind) -> bool {
        self == other || self == Kind::Undecided || other == Kind::Undecided
    }

    /// The kind of a merge of spines of these kinds.
    pub fn merged(self, other: Kind) -> Kind {
        if self == Kind::Undecided {
            other
        } else {
            self
        }
    }
}

/// The kind of field `i` of a piece whose first line has `fields` fields (2 to
/// [`MAX_SAMPLE_SPINES`]). The corpus's headers are `**kern **kern **dynam` (152 files), `**kern
/// **dynam **kern **dynam` (12), `**kern **kern` (1) and `**kern **kern **dynam` split before
/// the first barline, seen as 4 fields (6): so 2 fields are kern, kern; 3 are kern, kern,
/// dynam; 4 are kern, *undecided*, kern, dynam; 5 or more are kern, *undecided*..., dynam.
///
/// In the editions dialect (`editions`, real scores beyond the corpus: Joplin's `**kern **kern
/// **kern`, a `**text` spine) every field but the first is undecided: its first token decides
/// (see the grammar's data lines).
pub(crate) fn first_line_kind(fields: usize, i: usize, editions: bool) -> Kind {
    match (fields, i) {
        (_, 0) => Kind::Kern,
        _ if editions => Kind::Undecided,
        (2, _) => Kind::Kern,
        (3, 1) => Kind::Kern,
        (4, 2) => Kind::Kern,
        _ if i + 1 == fields => Kind::Dynam,
        _ => Kind::Undecided,
    }
}

/// The kind field `i` is read as on the first line of a piece, before its field count is
/// known: the first is kern, the last possible one dynam (in the editions dialect undecided
/// too), the others undecided.
pub(crate) fn opening_field_kind(i: usize, editions: bool) -> Kind {
    if i == 0 {
        Kind::Kern
    } else if i + 1 >= MAX_SAMPLE_SPINES && !editions {
        Kind::Dynam
    } else {
        Kind::Undecided
    }
}

/// What a spine-manipulation line does to one column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SpineOp {
    Keep,
    /// `*^`: the column becomes two.
    Split,
    /// `*v`: a run of adjacent `*v` columns becomes one.
    Merge,
}

impl SpineOp {
    /// The op of an interpretation token (`*^`, `*v`, anything else keeps its column).
    pub fn of_token(token: &str) -> SpineOp {
        match token.trim() {
            "*^" => SpineOp::Split,
            "*v" => SpineOp::Merge,
            _ => SpineOp::Keep,
        }
    }
}

/// How a manipulation line over `columns` columns reshapes them, where `op(i)` is what it does
/// to column `i`: calls `emit(old, copies)` for each column (or run of merged columns) in order,
/// with `old` the old columns it comes from (two or more for a merge; a lone `*v` merges
/// nothing) and `copies` the new columns it makes (2 for a split, else 1).
pub(crate) fn reshape(
    columns: usize,
    op: impl Fn(usize) -> SpineOp,
    mut emit: impl FnMut(Range<usize>, usize),
) {
    let mut i = 0;
    while i < columns {
        match op(i) {
            SpineOp::Split => {
                emit(i..i + 1, 2);
                i += 1;
            }
            SpineOp::Merge => {
                let mut j = i + 1;
                while j < columns && op(j) == SpineOp::Merge {
                    j += 1;
                }
                emit(i..j, 1);
                i = j;
            }
            SpineOp::Keep => {
                emit(i..i + 1, 1);
                i += 1;
            }
        }
    }
}

/// The exclusive interpretation (`**kern`, `**dynam`) of each spine in force in a complete
/// score, followed through its spine-manipulation lines (what continuation and playback read).
#[derive(Clone, Debug, Default)]
pub(crate) struct ScoreSpines(pub Vec<String>);

impl ScoreSpines {
    /// Reshapes the spines by an interpretation line (`*^` splits, a run of `*v` merges, two
    /// `*x` exchange, `*+` adds a spine whose `**` line follows, `*-` ends one). A line with
    /// another number of fields is left for the checker to report.
    pub fn apply(&mut self, fields: &[&str]) {
        if fields.len() != self.0.len() {
            return;
        }
        let exchanged: Vec<usize> = (0..fields.len()).filter(|&i| fields[i] == "*x").collect();
        if let [a, b] = exchanged[..] {
            self.0.swap(a, b);
            return;
        }
        let mut out = Vec::with_capacity(fields.len() + 1);
        reshape(
            fields.len(),
            |i| SpineOp::of_token(fields[i]),
            |old, copies| {
                let spine = &self.0[old.start];
                match fields[old.start] {
                    "*+" => out.extend([spine.clone(), String::new()]),
                    "*-" => {}
                    _ => out.extend(std::iter::repeat_n(spine.clone(), copies)),
                }
            },
        );
        self.0 = out;
    }

    /// Names the spines of an exclusive-interpretation line: the first such line starts the
    /// score; a later one names the spines `*+` added.
    pub fn name(&mut self, fields: &[&str]) {
        if self.0.is_empty() {
            self.0 = fields.iter().map(|f| f.to_string()).collect();
        } else if fields.len() == self.0.len() {
            for (spine, f) in self.0.iter_mut().zip(fields) {
                if f.starts_with("**") {
                    *spine = f.to_string();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The columns after a manipulation line, with `merged` folding each run of merged columns
    /// into one.
    fn reshaped<T: Clone>(
        cols: &[T],
        op: impl Fn(usize) -> SpineOp,
        mut merged: impl FnMut(&[T]) -> T,
    ) -> Vec<T> {
        let mut out = Vec::with_capacity(cols.len() + 1);
        reshape(cols.len(), op, |old, copies| {
            let Some(group) = cols.get(old) else { return };
            let col = if group.len() == 1 { group[0].clone() } else { merged(group) };
            for _ in 0..copies {
                out.push(col.clone());
            }
        });
        out
    }

    fn ops(tokens: &str) -> Vec<SpineOp> {
        tokens.split('\t').map(SpineOp::of_token).collect()
    }

    fn shape(tokens: &str, cols: &[&str]) -> Vec<String> {
        let ops = ops(tokens);
        reshaped(
            &cols.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
            |i| ops[i],
            |g| g.concat(),
        )
    }

    #[test]
    fn a_split_column_becomes_two_copies() {
        assert_eq!(shape("*\t*^\t*", &["a", "b", "c"]), ["a", "b", "b", "c"]);
    }

    #[test]
    fn a_run_of_merges_becomes_one_column() {
        assert_eq!(shape("*v\t*v\t*v\t*", &["a", "b", "c", "d"]), ["abc", "d"]);
    }

    #[test]
    fn a_lone_merge_keeps_its_column() {
        assert_eq!(shape("*\t*v\t*", &["a", "b", "c"]), ["a", "b", "c"]);
    }

    #[test]
    fn three_fields_start_kern_kern_dynam_and_four_leave_the_second_undecided() {
        let kinds = |n: usize| (0..n).map(|i| first_line_kind(n, i, false)).collect::<Vec<_>>();
        assert_eq!(kinds(2), [Kind::Kern, Kind::Kern]);
        assert_eq!(kinds(3), [Kind::Kern, Kind::Kern, Kind::Dynam]);
        assert_eq!(kinds(4), [Kind::Kern, Kind::Undecided, Kind::Kern, Kind::Dynam]);
        assert_eq!(
            kinds(5),
            [Kind::Kern, Kind::Undecided, Kind::Undecided, Kind::Undecided, Kind::Dynam]
        );
    }

    #[test]
    fn in_the_editions_dialect_every_field_but_the_first_is_decided_by_its_tokens() {
        let kinds = |n: usize| (0..n).map(|i| first_line_kind(n, i, true)).collect::<Vec<_>>();
        assert_eq!(kinds(3), [Kind::Kern, Kind::Undecided, Kind::Undecided]);
        assert_eq!(opening_field_kind(MAX_SAMPLE_SPINES - 1, true), Kind::Undecided);
        assert_eq!(opening_field_kind(MAX_SAMPLE_SPINES - 1, false), Kind::Dynam);
    }

    #[test]
    fn score_spines_follow_splits_merge_runs_exchanges_additions_and_ends() {
        let mut s = ScoreSpines::default();
        s.name(&["**kern", "**dynam"]);
        s.apply(&["*^", "*"]);
        assert_eq!(s.0, ["**kern", "**kern", "**dynam"]);
        s.apply(&["*v", "*v", "*"]);
        assert_eq!(s.0, ["**kern", "**dynam"]);
        s.apply(&["*x", "*x"]);
        assert_eq!(s.0, ["**dynam", "**kern"]);
        s.apply(&["*x", "*x"]);
        s.apply(&["*+", "*"]);
        assert_eq!(s.0, ["**kern", "", "**dynam"]);
        s.name(&["*", "**text", "*"]);
        assert_eq!(s.0, ["**kern", "**text", "**dynam"]);
        s.apply(&["*", "*-", "*"]);
        assert_eq!(s.0, ["**kern", "**dynam"]);
        s.apply(&["*^"]);
        assert_eq!(
            s.0,
            ["**kern", "**dynam"],
            "a line of another width is the checker's to report"
        );
    }
}
