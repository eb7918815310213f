//! Humdrum **kern text: preparing a corpus for training, the grammar that keeps samples valid,
//! the checker, and turning samples back into scores.
//!
//! The module is built in layers, as humlib is, each reading only those below it:
//!
//! | layer | module | what it knows |
//! |---|---|---|
//! | 1 | `duration`, [`meter`] | ticks, note values, which spans durations can fill; meters |
//! | 2 | `lex` | one field of a line: **kern, **dynam and interpretation tokens |
//! | 3 | `spine` | spine kinds, the layouts a piece starts with, `*^`/`*v` reshaping |
//! | 4 | `measure` | where spines are in the measure, barline rules, counts, caps |
//! | 5 | [`grammar`] | prepared text, one character at a time |
//! | 5 | [`playback`] | a score's loudness line by line (its dynamics) and tempo |
//! | 6 | [`clock`] | how much of the measure is left at each line (the model's second input) |
//!
//! Beside the grammar: the checker ([`check`], with its recovery), reconstruction of a score
//! from a sample ([`reconstruct`]), continuing a real score ([`continuation`]: where the model
//! takes over, and the score it makes), corpus preparation ([`prep`], which reads only lines) and
//! a corpus's dialect ([`dialect`]: which grammar a model trained on it samples with, and the
//! signifiers its scores declare).
//! Every limit the layers put on text is in `limits`, with its reason.

pub mod check;
pub mod clock;
pub mod continuation;
pub mod dialect;
pub(crate) mod duration;
pub mod grammar;
pub(crate) mod lex;
pub(crate) mod limits;
pub(crate) mod measure;
pub mod meter;
pub mod playback;
pub mod prep;
pub mod reconstruct;
pub(crate) mod spine;
pub mod stats;

pub use check::{
    check_kern, check_prepared, check_prepared_in, CheckReport, Diagnostic, DiagnosticKind,
};
pub use continuation::{Continuation, ContinueError, Continued};
pub use dialect::{Dialect, DialectReport};
pub use grammar::{Grammar, GrammarError, GrammarOptions, LineKinds};
pub use meter::{Meter, MeterChoice, MeterError};
pub use prep::{prepare_dir, prepare_text, Corpus, CorpusError};
pub use reconstruct::{reconstruct, reconstruct_with_report, ReconstructReport, ScoreOptions};
