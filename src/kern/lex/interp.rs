//! The interpretation lexer: one field of a `*` line, and the one classifier of
//! interpretation tokens (the grammar, the checker and reconstruction all read them here).

use crate::kern::duration::{is_dec_prefix, DurSet, METER_DENOMINATORS};
use crate::kern::limits::{KEY_SIGNATURE_PAIRS, LABEL_CHARS, MENSURATION_SIGNS, TEMPO_DIGITS};
use crate::kern::meter::Meter;

/// What a complete interpretation token is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Interp {
    /// `*`
    Null,
    /// `*^`
    Split,
    /// `*v`
    Merge,
    /// `*-`
    Term,
    /// `*M3/4`
    Meter(Meter),
    /// `*clefG2`
    Clef,
    /// `*k[f#c#]`
    KeySignature,
    /// `*E-:`
    Key,
    /// `*MM120`
    Tempo,
    /// `*met(c|)`
    Mensuration,
    /// `*>A`, `*>Var2`
    SectionLabel,
    /// Any other printable token, accepted only where [`InterpRule::generic`] allows (a full
    /// **kern score being checked: `*staff1`, `*ped`, `*8va`, expansion lists).
    Generic,
}

/// Where the lexer is in a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Just after the `*`.
    Star,
    Split,
    Merge,
    Term,
    /// Inside a fixed word, `read` bytes of it read.
    Word {
        word: FixedWord,
        read: u8,
    },
    /// `*c`: a clef (`*clef`) or the key of C (`*c:`).
    C,
    ClefShape,
    ClefLine,
    ClefDone,
    KeyLetter,
    KeyAccidental,
    KeyDone,
    /// Inside `*k[`: `pairs` letter-accidental pairs read, `half` after a letter.
    KeySignature {
        pairs: u8,
        half: bool,
    },
    KeySignatureDone,
    /// `*M`: a meter or a tempo (`*MM`).
    M,
    MeterNumerator {
        num: u16,
    },
    MeterDenominator {
        num: u16,
        den: u16,
    },
    Tempo {
        digits: u8,
    },
    Mensuration {
        signs: u8,
    },
    MensurationDone,
    SectionLabel {
        chars: u8,
    },
    Generic,
}

/// The fixed words inside interpretation tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FixedWord {
    /// `lef` of `*clef`
    Clef,
    /// `[` of `*k[`
    KeySignature,
    /// `et(` of `*met(`
    Mensuration,
}

impl FixedWord {
    fn text(self) -> &'static [u8] {
        match self {
            FixedWord::Clef => b"lef",
            FixedWord::KeySignature => b"[",
            FixedWord::Mensuration => b"et(",
        }
    }

    /// The state after the whole word.
    fn then(self) -> State {
        match self {
            FixedWord::Clef => State::ClefShape,
            FixedWord::KeySignature => State::KeySignature { pairs: 0, half: false },
            FixedWord::Mensuration => State::Mensuration { signs: 0 },
        }
    }
}

/// Interpretation families whose tokens need characters a vocabulary may lack (see
/// [`Families::for_vocab`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Families(u8);

impl Families {
    /// Clefs `*clefG2`.
    pub const CLEF: Families = Families(1);
    /// Keys `*E-:` (they end with `:`).
    pub const KEY: Families = Families(2);
    /// Key signatures `*k[f#]`.
    pub const KEY_SIGNATURE: Families = Families(4);
    /// Mensurations `*met(c)`.
    pub const MENSURATION: Families = Families(8);
    pub const ALL: Families = Families(15);

    fn has(self, f: Families) -> bool {
        self.0 & f.0 != 0
    }

    /// The families whose every token a sampler drawing from `vocab` can finish once started
    /// (all for `None`): the grammar refuses to start the others, so a model never begins
    /// `*k[` without a `]` to end it. (Tempi `*MM60` need a digit, labels `*>A` a letter or
    /// digit, meters are checked digit by digit through [`DurSet`]; a vocabulary the grammar
    /// supports has those.)
    pub fn for_vocab(vocab: Option<&[char]>) -> Families {
        let Some(v) = vocab else { return Families::ALL };
        let has = |c: char| v.contains(&c);
        let all = |s: &str| s.chars().all(has);
        let any = |s: &str| s.chars().any(has);
        let mut f = 0;
        if all("clef") && any("GFC") && any("12345") {
            f |= Families::CLEF.0;
        }
        if has(':') {
            f |= Families::KEY.0;
        }
        if all("k[]") && any("#-") {
            f |= Families::KEY_SIGNATURE.0;
        }
        if all("met()") && any("cC|O23.") {
            f |= Families::MENSURATION.0;
        }
        Families(f)
    }
}

/// What the line around an interpretation asks of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct InterpRule {
    /// A `*M` meter or a `*k[...]` key signature is allowed here (strict rhythm: only at the
    /// start of a measure; verovio refuses a key signature inside an open beam or tuplet).
    pub signature_ok: bool,
    /// The meter already set by another field of the line: this one must repeat it.
    pub expect_meter: Option<Meter>,
    /// Accept any other `*` token too (only in a full **kern score being checked).
    pub generic: bool,
    /// The meters that can be written and filled ([`DurSet::meter_ok`]).
    pub set: &'static DurSet,
    /// The interpretation families the vocabulary can complete.
    pub families: Families,
}

impl InterpRule {
    /// Any token the lexer knows, anywhere (what reading a finished text asks).
    pub const FREE: InterpRule = InterpRule {
        signature_ok: true,
        expect_meter: None,
        generic: false,
        set: &DurSet::FULL,
        families: Families::ALL,
    };
}

/// Incremental lexer of an interpretation field after its leading `*` (which the grammar
/// reads itself). Accepted: `*` `*^` `*v` `*-`, clefs `*clefG2` (G F C, lines 1-5), keys `*E-:`,
/// key signatures `*k[f#c#]`, meters `*M3/4` (see [`Meter`]), tempi `*MM120`, mensurations
/// `*met(c|)`, section labels `*>A`, `*>Var2` (1 to 6 letters or digits). With
/// [`InterpRule::generic`], any other printable token as well.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct InterpTok {
    state: State,
    /// The strict reading failed; still alive as a generic token.
    generic_only: bool,
}

impl Default for InterpTok {
    fn default() -> Self {
        InterpTok::new()
    }
}

impl InterpTok {
    /// State after the `*`.
    pub const fn new() -> Self {
        InterpTok { state: State::Star, generic_only: false }
    }

    /// Nothing after the `*` yet (the line-level rules look at the next byte: `^`, `v`, `-`).
    pub fn is_fresh(&self) -> bool {
        self.state == State::Star && !self.generic_only
    }

    pub fn step(&mut self, c: u8, r: &InterpRule) -> bool {
        if !self.generic_only {
            if let Some(state) = self.strict_step(c, r) {
                self.state = state;
                return true;
            }
        }
        // a meter stays a meter (`*M7/3` is a wrong meter, not some other interpretation)
        let meter =
            matches!(self.state, State::MeterNumerator { .. } | State::MeterDenominator { .. })
                || (self.state == State::M && c.is_ascii_digit());
        if r.generic
            && c.is_ascii_graphic()
            && !meter
            && !matches!(self.state, State::Split | State::Merge | State::Term)
        {
            self.generic_only = true;
            self.state = State::Generic;
            return true;
        }
        false
    }

    fn strict_step(&self, c: u8, r: &InterpRule) -> Option<State> {
        use State::*;
        let fam = |f: Families| r.families.has(f);
        // the meter another field of the line set, digit by digit
        let expect_num =
            |v: u16| r.expect_meter.is_none_or(|m| is_dec_prefix(v as u32, m.numerator() as u32));
        Some(match (self.state, c) {
            (Star, b'^') => Split,
            (Star, b'v') => Merge,
            (Star, b'-') => Term,
            (Star, b'c') if fam(Families::CLEF) || fam(Families::KEY) => C,
            (Star, b'a' | b'b' | b'd'..=b'g' | b'A'..=b'G') if fam(Families::KEY) => KeyLetter,
            (Star, b'k') if fam(Families::KEY_SIGNATURE) && r.signature_ok => {
                Word { word: FixedWord::KeySignature, read: 0 }
            }
            (Star, b'M') => M,
            (Star, b'm') if fam(Families::MENSURATION) => {
                Word { word: FixedWord::Mensuration, read: 0 }
            }
            (Star, b'>') => SectionLabel { chars: 0 },
            (C, b'l') if fam(Families::CLEF) => Word { word: FixedWord::Clef, read: 1 },
            (C | KeyLetter, b'#' | b'-') if fam(Families::KEY) => KeyAccidental,
            (C | KeyLetter | KeyAccidental, b':') => KeyDone,
            (Word { word, read }, _) => {
                let text = word.text();
                if text.get(read as usize) != Some(&c) {
                    return None;
                }
                if (read as usize) + 1 < text.len() {
                    Word { word, read: read + 1 }
                } else {
                    word.then()
                }
            }
            (ClefShape, b'G' | b'F' | b'C') => ClefLine,
            (ClefLine, b'1'..=b'5') => ClefDone,
            (KeySignature { pairs, half: false }, b'a'..=b'g') if pairs < KEY_SIGNATURE_PAIRS => {
                KeySignature { pairs, half: true }
            }
            (KeySignature { pairs, half: true }, b'#' | b'-') => {
                KeySignature { pairs: pairs + 1, half: false }
            }
            (KeySignature { half: false, .. }, b']') => KeySignatureDone,
            (M, b'M') => Tempo { digits: 0 },
            (M, b'1'..=b'9') => {
                let num = (c - b'0') as u16;
                if !r.signature_ok || !r.set.meter_numerator_prefix_ok(num) || !expect_num(num) {
                    return None;
                }
                MeterNumerator { num }
            }
            (MeterNumerator { num }, b'0'..=b'9') => {
                let num = num * 10 + (c - b'0') as u16;
                if !r.set.meter_numerator_prefix_ok(num) || !expect_num(num) {
                    return None;
                }
                MeterNumerator { num }
            }
            (MeterNumerator { num }, b'/') => {
                if !r.set.meter_numerator_ok(num)
                    || r.expect_meter.is_some_and(|m| m.numerator() != num)
                {
                    return None;
                }
                MeterDenominator { num, den: 0 }
            }
            (MeterDenominator { num, den }, b'0'..=b'9') => {
                let d = den * 10 + (c - b'0') as u16;
                let some_den = METER_DENOMINATORS
                    .iter()
                    .any(|&m| is_dec_prefix(d as u32, m as u32) && r.set.meter_ok(num, m));
                let expected =
                    r.expect_meter.is_none_or(|m| is_dec_prefix(d as u32, m.denominator() as u32));
                if d == 0 || !some_den || !expected {
                    return None;
                }
                MeterDenominator { num, den: d }
            }
            (Tempo { digits }, b'0'..=b'9') => {
                if digits >= TEMPO_DIGITS || (digits == 0 && c == b'0') {
                    return None;
                }
                Tempo { digits: digits + 1 }
            }
            (Mensuration { signs }, b'c' | b'C' | b'|' | b'O' | b'2' | b'3' | b'.')
                if signs < MENSURATION_SIGNS =>
            {
                Mensuration { signs: signs + 1 }
            }
            (Mensuration { signs }, b')') if signs > 0 => MensurationDone,
            (SectionLabel { chars }, b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9')
                if chars < LABEL_CHARS =>
            {
                SectionLabel { chars: chars + 1 }
            }
            _ => return None,
        })
    }

    /// The token, if it could end here.
    pub fn result(&self, r: &InterpRule) -> Option<Interp> {
        use State::*;
        if self.generic_only {
            return r.generic.then_some(Interp::Generic);
        }
        match self.state {
            Star => Some(Interp::Null),
            Split => Some(Interp::Split),
            Merge => Some(Interp::Merge),
            Term => Some(Interp::Term),
            ClefDone => Some(Interp::Clef),
            KeyDone => Some(Interp::Key),
            KeySignatureDone => Some(Interp::KeySignature),
            MensurationDone => Some(Interp::Mensuration),
            Tempo { digits } if digits > 0 => Some(Interp::Tempo),
            SectionLabel { chars } if chars > 0 => Some(Interp::SectionLabel),
            MeterDenominator { num, den } if r.set.meter_ok(num, den) => {
                let meter = Meter::checked(num as u32, den as u32)?;
                match r.expect_meter {
                    Some(m) if m != meter => None,
                    _ => Some(Interp::Meter(meter)),
                }
            }
            Generic => Some(Interp::Generic),
            _ if r.generic => Some(Interp::Generic),
            _ => None,
        }
    }
}

/// What a whole interpretation field (`*` included) is, read with [`InterpRule::FREE`];
/// `None` for a token the grammar does not know.
pub(crate) fn classify_interp(token: &str) -> Option<Interp> {
    let body = token.strip_prefix('*')?;
    let mut t = InterpTok::new();
    let rule = InterpRule::FREE;
    body.bytes().all(|b| t.step(b, &rule)).then(|| t.result(&rule)).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(s: &str, r: &InterpRule) -> Option<Interp> {
        let body = s.strip_prefix('*')?;
        let mut t = InterpTok::new();
        body.bytes().all(|b| t.step(b, r)).then(|| t.result(r)).flatten()
    }

    fn meter(n: u32, d: u32) -> Meter {
        Meter::new(n, d).unwrap()
    }

    #[test]
    fn each_family_of_interpretation_is_told_apart() {
        for (s, want) in [
            ("*", Interp::Null),
            ("*^", Interp::Split),
            ("*v", Interp::Merge),
            ("*-", Interp::Term),
            ("*M3/4", Interp::Meter(meter(3, 4))),
            ("*M12/32", Interp::Meter(meter(12, 32))),
            ("*clefF4", Interp::Clef),
            ("*k[f#c#]", Interp::KeySignature),
            ("*k[]", Interp::KeySignature),
            ("*E-:", Interp::Key),
            ("*c#:", Interp::Key),
            ("*c:", Interp::Key),
            ("*MM120", Interp::Tempo),
            ("*met(C|)", Interp::Mensuration),
            ("*>Var2", Interp::SectionLabel),
        ] {
            assert_eq!(read(s, &InterpRule::FREE), Some(want), "{s}");
            assert_eq!(classify_interp(s), Some(want), "{s}");
        }
    }

    #[test]
    fn tokens_the_grammar_does_not_know_are_refused() {
        for bad in [
            "*M3/5",
            "*M0/4",
            "*clefG",
            "*clefGv2",
            "*k[f]",
            "*>",
            "*>Label_7",
            "*staff2",
            "*^^",
            "*MM",
            "*M3/",
            "*x",
            "*met(cccc)",
        ] {
            assert_eq!(read(bad, &InterpRule::FREE), None, "{bad}");
            assert_eq!(classify_interp(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_header_accepts_any_printable_token() {
        let header = InterpRule { generic: true, ..InterpRule::FREE };
        assert_eq!(read("*staff1/2", &header), Some(Interp::Generic));
        assert_eq!(read("*>[A,A,B]", &header), Some(Interp::Generic));
    }

    #[test]
    fn a_meter_repeats_the_meter_another_field_of_its_line_set() {
        let expect = InterpRule { expect_meter: Some(meter(3, 4)), ..InterpRule::FREE };
        assert_eq!(read("*M3/4", &expect), Some(Interp::Meter(meter(3, 4))));
        assert_eq!(read("*M3/8", &expect), None);
        assert_eq!(read("*M2/4", &expect), None);
    }

    #[test]
    fn inside_a_measure_no_meter_or_key_signature_but_tempo_clefs_and_keys() {
        // verovio refuses a key signature inside an open beam or tuplet
        let mid_measure = InterpRule { signature_ok: false, ..InterpRule::FREE };
        assert_eq!(read("*M3/4", &mid_measure), None);
        assert_eq!(read("*k[f#]", &mid_measure), None);
        assert_eq!(read("*MM60", &mid_measure), Some(Interp::Tempo));
        assert_eq!(read("*clefF4", &mid_measure), Some(Interp::Clef));
    }

    #[test]
    fn a_family_the_vocabulary_cannot_finish_is_never_started() {
        let no_bracket: Vec<char> = "*kf#-M/4".chars().collect();
        let rule =
            InterpRule { families: Families::for_vocab(Some(&no_bracket)), ..InterpRule::FREE };
        assert!(!InterpTok::new().step(b'k', &rule));
        assert!(InterpTok::new().step(b'M', &rule));
    }
}
