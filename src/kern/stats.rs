//! The shape of prepared text, line by line: how many characters a measure takes, how often
//! a piece ends, how many lines are grace notes, spine splits or interpretations, how many
//! fields the data lines have. The fidelity benchmark compares samples with the corpus by
//! these figures; they read lines only, so they apply to raw samples as well.

/// Counts over a prepared text.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TextStats {
    pub chars: usize,
    /// Barlines that close a measure with data in it.
    pub measures: usize,
    /// `*-` lines.
    pub piece_ends: usize,
    /// Pieces (a text that does not end with `*-` counts its last piece too).
    pub pieces: usize,
    pub data_lines: usize,
    /// Data lines of grace notes only (`q`/`Q` in some field, every other field `.`).
    pub grace_lines: usize,
    /// Lines with a `*^`, and lines with a `*v`.
    pub split_lines: usize,
    pub merge_lines: usize,
    /// Interpretation lines other than `*-` lines.
    pub interp_lines: usize,
    /// Data lines by number of fields: `fields[n]` for n fields (8 and more in `fields[8]`).
    pub fields: [usize; 9],
    /// Timed notes, chords and rests (a field's first token with a duration, grace notes
    /// not counted).
    pub timed_notes: usize,
    /// Those of a tuplet duration (a number that is not a power of two: `3`, `12`, `24`, `20`),
    /// and those of a 32nd or shorter: a sampler that fills measures with whatever fits writes
    /// more of both than its model.
    pub tuplet_notes: usize,
    pub short_notes: usize,
}

impl TextStats {
    pub fn of(text: &str) -> TextStats {
        let mut s = TextStats { chars: text.chars().count(), ..TextStats::default() };
        let mut music = false;
        let mut piece_open = false;
        for line in text.lines() {
            if line == "@" {
                if music {
                    s.measures += 1;
                }
                music = false;
                continue;
            }
            if line.starts_with('*') {
                let fields: Vec<&str> = line.split('\t').collect();
                if fields.contains(&"*-") {
                    s.piece_ends += 1;
                    s.pieces += 1;
                    piece_open = false;
                    continue;
                }
                s.interp_lines += 1;
                s.split_lines += fields.contains(&"*^") as usize;
                s.merge_lines += fields.contains(&"*v") as usize;
                continue;
            }
            if line.is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.split('\t').collect();
            s.data_lines += 1;
            music = true;
            piece_open = true;
            s.fields[fields.len().min(8)] += 1;
            let grace = |f: &str| f.contains(['q', 'Q']);
            if fields.iter().any(|f| grace(f)) && fields.iter().all(|f| *f == "." || grace(f)) {
                s.grace_lines += 1;
            }
            for field in &fields {
                let token = field.split(' ').next().unwrap_or("");
                if grace(token) {
                    continue;
                }
                let digits: String = token
                    .chars()
                    .skip_while(|c| !c.is_ascii_digit())
                    .take_while(|c| c.is_ascii_digit())
                    .collect();
                let Ok(n) = digits.parse::<u64>() else { continue };
                s.timed_notes += 1;
                if n != 0 && !n.is_power_of_two() {
                    s.tuplet_notes += 1;
                } else if n >= 32 {
                    s.short_notes += 1;
                }
            }
        }
        s.pieces += piece_open as usize;
        s
    }

    /// Adds another text's counts.
    pub fn add(&mut self, o: &TextStats) {
        self.chars += o.chars;
        self.measures += o.measures;
        self.piece_ends += o.piece_ends;
        self.pieces += o.pieces;
        self.data_lines += o.data_lines;
        self.grace_lines += o.grace_lines;
        self.split_lines += o.split_lines;
        self.merge_lines += o.merge_lines;
        self.interp_lines += o.interp_lines;
        for (a, b) in self.fields.iter_mut().zip(o.fields) {
            *a += b;
        }
        self.timed_notes += o.timed_notes;
        self.tuplet_notes += o.tuplet_notes;
        self.short_notes += o.short_notes;
    }

    fn per_measure(&self, n: usize) -> f64 {
        n as f64 / self.measures.max(1) as f64
    }

    pub fn chars_per_measure(&self) -> f64 {
        self.per_measure(self.chars)
    }

    pub fn measures_per_piece(&self) -> f64 {
        self.measures as f64 / self.pieces.max(1) as f64
    }

    pub fn piece_ends_per_100_measures(&self) -> f64 {
        100.0 * self.per_measure(self.piece_ends)
    }

    pub fn grace_lines_per_measure(&self) -> f64 {
        self.per_measure(self.grace_lines)
    }

    pub fn splits_per_measure(&self) -> f64 {
        self.per_measure(self.split_lines)
    }

    pub fn merges_per_measure(&self) -> f64 {
        self.per_measure(self.merge_lines)
    }

    pub fn interp_lines_per_measure(&self) -> f64 {
        self.per_measure(self.interp_lines)
    }

    /// The share of timed notes of a tuplet duration.
    pub fn tuplet_share(&self) -> f64 {
        self.tuplet_notes as f64 / self.timed_notes.max(1) as f64
    }

    /// The share of timed notes of a 32nd or shorter.
    pub fn short_share(&self) -> f64 {
        self.short_notes as f64 / self.timed_notes.max(1) as f64
    }

    /// Data lines per measure: with characters per measure, how dense the rhythm is.
    pub fn data_lines_per_measure(&self) -> f64 {
        self.per_measure(self.data_lines)
    }

    /// The share of data lines with `n` fields (8 and more for 8).
    pub fn fields_share(&self, n: usize) -> f64 {
        self.fields.get(n.min(8)).copied().unwrap_or(0) as f64 / self.data_lines.max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "@\n4c\t4e\tp\n.\t16ffq\t.\n*\t*^\t*\n4d\t4f\t4a\t.\n*\t*v\t*v\t*\n@\n*clefG2\t*\t*\n1c\t1e\t.\n@\n*-\t*-\t*-\n@\n1c\t1e\n@\n";

    #[test]
    fn a_measure_is_a_barline_after_data() {
        let s = TextStats::of(TEXT);
        assert_eq!(
            (s.measures, s.chars_per_measure().round()),
            (3, (TEXT.len() as f64 / 3.0).round())
        );
    }

    #[test]
    fn grace_lines_splits_merges_and_interpretations_are_counted_by_line() {
        let s = TextStats::of(TEXT);
        assert_eq!((s.grace_lines, s.split_lines, s.merge_lines, s.interp_lines), (1, 1, 1, 3));
    }

    #[test]
    fn pieces_end_at_terminators_and_an_open_last_piece_counts() {
        let s = TextStats::of(TEXT);
        assert_eq!((s.piece_ends, s.pieces), (1, 2));
        assert_eq!(s.measures_per_piece(), 1.5);
    }

    #[test]
    fn timed_notes_are_counted_by_field_with_tuplets_and_short_notes_apart() {
        let s = TextStats::of("@\n4c\t24e 24g\tp\n.\t32ffq\t.\n8r\t32dd\t.\n@\n");
        assert_eq!((s.timed_notes, s.tuplet_notes, s.short_notes), (4, 1, 1));
        assert_eq!(s.tuplet_share(), 0.25);
    }

    #[test]
    fn data_lines_are_counted_by_their_fields() {
        let s = TextStats::of(TEXT);
        assert_eq!((s.fields[2], s.fields[3], s.fields[4]), (1, 3, 1));
        assert_eq!(s.fields_share(3), 3.0 / 5.0);
    }
}
