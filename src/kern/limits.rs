//! Every limit the **kern module puts on text, in one place with its reason. Most are the
//! corpus's maxima (measured on the prepared Mozart and Beethoven sonatas) or a little above:
//! the grammar lets a sample do what the corpus does, and no more, so a model cannot run away
//! into a corner the corpus never visits (a hundred grace notes in a row, eight beams on a
//! note) and stay "valid" there.

use super::duration::TPW;

/// The most fields a line of a sample (or of any prepared text) may have: the corpus has up to
/// 6 in the prepared text (spines split with `*^` included); 8 leaves room for a further split
/// of each hand.
pub(crate) const MAX_SAMPLE_SPINES: usize = 8;
/// The most spines a complete score being checked may have in force, and the grammar state's
/// room: the current Beethoven edition splits to 9 once (op. 31 no. 3, first movement).
pub(crate) const MAX_SPINES: usize = 16;

/// With rhythm on, the most grace-note lines since the last line with a timed note or rest
/// (barlines and interpretation lines do not reset the count). The prepared corpus has 113
/// once (a cadenza in Beethoven's op. 2 no. 3, across an invisible barline), then 54, 43, 25;
/// 1,531 runs in all, 1,512 of them 1 to 4 lines.
pub(crate) const MAX_GRACE_LINES: usize = 120;
/// With rhythm on, the most grace-note lines in one measure. The prepared corpus has 54 once
/// (47, 43, 30 next; 24,146 of its 25,417 measures have none).
pub(crate) const MAX_GRACE_LINES_PER_MEASURE: usize = 60;
/// With rhythm on (the grammar made with it), the most interpretation lines since the last
/// line with a timed note or rest, barlines and `*-` not resetting the count, except that a
/// `*-` line is still allowed where it may come. The prepared corpus has at most 6 (5 in a
/// row without a barline between), the files read one after the other too.
pub(crate) const MAX_INTERP_LINES: usize = 8;
/// With rhythm on, the most interpretation lines in one measure (a `*-` line still allowed
/// where it may come). The prepared corpus has 8 twice, 7 five times (18,109 of its 25,417
/// measures have none).
pub(crate) const MAX_INTERP_LINES_PER_MEASURE: usize = 10;

/// The lengths the first measure of a piece may have when it sets the meter (its meter comes
/// from the music), in whole notes: those of the meters of ten movements of the corpus or more
/// (2/4; 3/4, 6/8 and 12/16; 4/4 and 2/2; 3/8; 9/8; 6/4 and 12/8), so the model's measures of
/// sloppy rhythm make no 11/8 or 45/32 pieces.
pub(crate) const FIRST_MEASURE_LENGTHS: [u64; 6] =
    [TPW * 3 / 8, TPW / 2, TPW * 3 / 4, TPW, TPW * 9 / 8, TPW * 3 / 2];
/// The longest of them.
pub(crate) const MAX_FIRST_MEASURE: u64 = TPW * 3 / 2;

/// Most notes in a chord (the corpus's most).
pub(crate) const MAX_CHORD: u8 = 6;
/// Most signs of all kinds after the pitch of one note (the corpus has 8 once, 7 four times).
pub(crate) const MAX_SIGNS: u8 = 8;
/// Most beam signs on one note (`(128AQ\LLLLLL` in the corpus), `L` and `J` each (the corpus
/// has at most 5 `J`, capped like `L`).
pub(crate) const MAX_BEAMS: u8 = 6;
/// Most partial-beam signs (`K` or `k`) on one note.
pub(crate) const MAX_PARTIAL_BEAMS: u8 = 2;
/// Most staccato marks (`''`) on one note.
pub(crate) const MAX_STACCATI: u8 = 2;
/// Most invisibility marks (`yy`) on one note.
pub(crate) const MAX_INVISIBLE_MARKS: u8 = 2;
/// Most slur ends (`))`) on one note.
pub(crate) const MAX_SLUR_ENDS: u8 = 2;

/// Sampling a model trained on real editions (the editions dialect), the most marks beyond
/// the training corpus's on one note (`<`, `>`, `N` before it, a rest's staff position `GG`,
/// `~`, `P`, user signifiers after it): of corpus-extra's 371,356 prepared notes, 10 carry 4
/// and 93 carry 3.
pub(crate) const MAX_EDITION_MARKS: u8 = 4;

/// Most `(` slur or phrase starts before a note (the corpus's most).
pub(crate) const MAX_SLUR_STARTS: u8 = 2;
/// A pitch is one letter repeated up to this often (`CCCC` to `cccc`: the piano's range and a
/// little above).
pub(crate) const MAX_PITCH_LETTERS: u8 = 4;
/// A rest is `r` or `rr` (a rest across the whole measure).
pub(crate) const MAX_REST_LETTERS: u8 = 2;
/// The most accidentals of one kind on a note (`##`, `--`).
pub(crate) const MAX_ACCIDENTALS: u8 = 2;

/// A **dynam field holds up to this many space-separated marks (`[ >`, the corpus's most).
pub(crate) const MAX_DYNAM_MARKS: u8 = 3;
/// A dynamic mark is up to this many of `p f m s z r < > ( ) [ ]` (`pppp`, `sfz`).
pub(crate) const MAX_DYNAM_LETTERS: u8 = 4;
/// Most invisibility marks (`yy`) on a dynamic.
pub(crate) const MAX_DYNAM_INVISIBLE: u8 = 2;

/// The longest tempo number (`*MM999`).
pub(crate) const TEMPO_DIGITS: u8 = 3;
/// The most characters of a section label (`*>Var2`; the corpus's are 1 to 5 long).
pub(crate) const LABEL_CHARS: u8 = 6;
/// The most signs of a mensuration (`*met(C|)`).
pub(crate) const MENSURATION_SIGNS: u8 = 3;
/// The most accidentals of a key signature (all seven letters).
pub(crate) const KEY_SIGNATURE_PAIRS: u8 = 7;

/// Reconstruction reads raw samples, which may have any number of fields: it keeps lines of up
/// to this many (twice [`MAX_SAMPLE_SPINES`]: a raw sample may split further than the grammar
/// lets a constrained one).
pub(crate) const MAX_RECONSTRUCTED_COLUMNS: usize = 16;
