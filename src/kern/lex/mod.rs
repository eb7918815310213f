//! Lexers, the second layer: one field of a line at a time, a byte at a time. Each reads only
//! durations and meters (the layer below) and the rule its line asks of it; none allocates, so
//! the grammar can ask about every vocabulary character at every sampling step.

pub(crate) mod dynam;
pub(crate) mod interp;
pub(crate) mod kern;

pub(crate) use dynam::{dynam_field_ok, DynTok};
pub(crate) use interp::{classify_interp, Families, Interp, InterpRule, InterpTok};
pub(crate) use kern::{edition_field_ok, kern_field_ok, DurRule, GraceRule, KernTok, Room};
