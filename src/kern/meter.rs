//! The meter: one type for every place that reads, checks or shows one (the command line, the
//! sampler, the grammar, the checker, reconstruction and the WebAssembly API), so they all
//! accept the same meters and say the same thing about the others.

use std::fmt;
use std::str::FromStr;

use super::duration::{METER_DENOMINATORS, TPW};

/// A meter `N/D`: N beats of a 1/D note. N is 1 to [`Meter::MAX_NUMERATOR`], D a power of two
/// up to 64 ([`Meter::DENOMINATORS`]), so that a measure is a whole number of 64th notes (the
/// corpus's meters run from 2/4 to 16/4, 17/16 and 12/32).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Meter {
    num: u16,
    den: u16,
}

/// A meter that is not one (see [`Meter`] and [`MeterChoice`]); the message says what is
/// accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "meter must be auto (from the music) or N/D with N a whole number from 1 to 99 and D one of 1, 2, 4, 8, 16, 32, 64, got {0:?}"
)]
pub struct MeterError(pub String);

/// The meter a sample, a check or a score follows: the one its music sets (a `*M`, else the
/// length of its first measure), or a fixed one until the music sets another.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MeterChoice {
    /// From the music: a piece's meter is its first measure's (or its `*M`).
    #[default]
    FromMusic,
    /// This meter until a `*M` sets another (the first measure may then be a short pickup).
    Fixed(Meter),
}

impl MeterChoice {
    /// Reads `auto` (from the music) or a meter `N/D`.
    pub fn parse(text: &str) -> Result<MeterChoice, MeterError> {
        if text.trim() == "auto" {
            return Ok(MeterChoice::FromMusic);
        }
        Meter::parse(text).map(MeterChoice::Fixed)
    }

    /// The fixed meter, if any.
    pub fn fixed(self) -> Option<Meter> {
        match self {
            MeterChoice::FromMusic => None,
            MeterChoice::Fixed(m) => Some(m),
        }
    }
}

impl fmt::Display for MeterChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MeterChoice::FromMusic => f.write_str("auto"),
            MeterChoice::Fixed(m) => m.fmt(f),
        }
    }
}

impl FromStr for MeterChoice {
    type Err = MeterError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MeterChoice::parse(s)
    }
}

impl Meter {
    /// 4/4, the default: what the command line, the page and a score without `*M` assume.
    pub const COMMON: Meter = Meter { num: 4, den: 4 };
    /// The largest numerator (two digits: the grammar reads a meter digit by digit).
    pub const MAX_NUMERATOR: u16 = 99;
    /// The accepted denominators.
    pub const DENOMINATORS: [u16; 7] = METER_DENOMINATORS;

    /// The meter `num/den`, if it is an accepted one.
    pub fn new(num: u32, den: u32) -> Result<Meter, MeterError> {
        Meter::checked(num, den).ok_or_else(|| MeterError(format!("{num}/{den}")))
    }

    /// The meter `num/den`, or `None` where it is not an accepted one.
    pub const fn checked(num: u32, den: u32) -> Option<Meter> {
        let mut i = 0;
        let mut den_ok = false;
        while i < METER_DENOMINATORS.len() {
            den_ok |= METER_DENOMINATORS[i] as u32 == den;
            i += 1;
        }
        if num >= 1 && num <= Meter::MAX_NUMERATOR as u32 && den_ok {
            Some(Meter { num: num as u16, den: den as u16 })
        } else {
            None
        }
    }

    /// Reads `N/D` (spaces around the numbers allowed): `3/4`, ` 6 / 8 `.
    pub fn parse(text: &str) -> Result<Meter, MeterError> {
        let bad = || MeterError(text.to_string());
        let (n, d) = text.split_once('/').ok_or_else(bad)?;
        let number = |s: &str| -> Option<u32> {
            let s = s.trim();
            (!s.is_empty() && s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse().ok())
                .flatten()
        };
        let (n, d) = (number(n).ok_or_else(bad)?, number(d).ok_or_else(bad)?);
        Meter::checked(n, d).ok_or_else(bad)
    }

    pub fn numerator(self) -> u16 {
        self.num
    }

    pub fn denominator(self) -> u16 {
        self.den
    }

    /// The length of a measure, in ticks ([`TPW`] to a whole note).
    pub fn ticks(self) -> u64 {
        TPW / self.den as u64 * self.num as u64
    }

    /// The meter a measure of `ticks` is written in, if it is a meter's length at all (a whole
    /// number of 64ths, at most 99 beats): the corpus's own way of writing that length, so a
    /// measure of three quarters is 3/4 (192 movements) rather than 6/8 (75), one whole note
    /// 4/4 (147) rather than 2/2 (74), one and a half 6/4 (12) rather than 12/8 (3). Halves
    /// and wholes are counted in quarters (2/4, 6/4, 16/4); other lengths in their own unit
    /// (3/8, 9/8, 9/16, 17/16).
    pub fn for_length(ticks: u64) -> Option<Meter> {
        let unit = TPW / 64;
        if ticks == 0 || !ticks.is_multiple_of(unit) {
            return None;
        }
        let (mut num, mut den) = (ticks / unit, 64u64);
        while den > 4 && num.is_multiple_of(2) {
            num /= 2;
            den /= 2;
        }
        Meter::checked(u32::try_from(num).ok()?, den as u32)
    }
}

impl Default for Meter {
    fn default() -> Self {
        Meter::COMMON
    }
}

impl fmt::Display for Meter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.num, self.den)
    }
}

impl FromStr for Meter {
    type Err = MeterError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Meter::parse(s)
    }
}

impl serde::Serialize for Meter {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The meter text of a `*M` interpretation token (`*M3/4` gives `3/4`, right or wrong: `*M7/3`
/// gives `7/3`); `None` for other tokens, `*MM120` (a tempo) and `*met(c)` among them.
pub(crate) fn meter_of_token(token: &str) -> Option<&str> {
    token.strip_prefix("*M").filter(|m| m.starts_with(|c: char| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_meter_reads_numerator_slash_denominator_with_spaces_allowed() {
        assert_eq!(Meter::parse(" 6 / 8 ").unwrap(), Meter::new(6, 8).unwrap());
        assert_eq!("17/16".parse::<Meter>().unwrap().to_string(), "17/16");
    }

    #[test]
    fn the_largest_meters_are_99_beats_and_64th_beats() {
        assert!(Meter::new(99, 64).is_ok());
        assert!(Meter::new(100, 4).is_err());
        assert!(Meter::new(3, 128).is_err());
    }

    #[test]
    fn zero_beats_and_denominators_that_are_not_powers_of_two_are_refused() {
        for bad in ["0/4", "3/5", "3/0", "3/12"] {
            assert!(Meter::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn text_that_is_not_two_whole_numbers_is_refused_with_the_rule() {
        for bad in ["", "3", "x/4", "3/4/4", "-3/4", "3.5/4", "+3/4", "3/4x"] {
            let e = Meter::parse(bad).unwrap_err().to_string();
            assert_eq!(
                e,
                format!(
                    "meter must be auto (from the music) or N/D with N a whole number from 1 to 99 and D one of 1, 2, 4, 8, 16, 32, 64, got {bad:?}"
                )
            );
        }
    }

    #[test]
    fn a_length_is_written_as_the_corpus_writes_it() {
        let m = |n: u64, d: u64| Meter::for_length(TPW * n / d).map(|m| m.to_string());
        for (n, d, want) in [
            (3, 4, "3/4"),
            (1, 1, "4/4"),
            (1, 2, "2/4"),
            (3, 8, "3/8"),
            (9, 8, "9/8"),
            (3, 2, "6/4"),
            (9, 16, "9/16"),
            (17, 16, "17/16"),
            (4, 1, "16/4"),
            (5, 4, "5/4"),
            (1, 4, "1/4"),
        ] {
            assert_eq!(m(n, d).as_deref(), Some(want), "{n}/{d}");
        }
    }

    #[test]
    fn a_length_that_is_no_whole_number_of_64ths_is_no_meter() {
        assert_eq!(Meter::for_length(TPW / 3), None);
        assert_eq!(Meter::for_length(0), None);
        assert_eq!(Meter::for_length(TPW * 26), None, "104 quarters");
    }

    #[test]
    fn auto_is_the_meter_of_the_music() {
        assert_eq!(MeterChoice::parse(" auto "), Ok(MeterChoice::FromMusic));
        assert_eq!(MeterChoice::parse("3/4"), Ok(MeterChoice::Fixed(Meter::new(3, 4).unwrap())));
        assert_eq!(MeterChoice::default().to_string(), "auto");
    }

    #[test]
    fn a_measure_of_3_4_is_three_quarters_of_a_whole_note_in_ticks() {
        assert_eq!(Meter::new(3, 4).unwrap().ticks(), TPW * 3 / 4);
        assert_eq!(Meter::COMMON.ticks(), TPW);
    }
}
