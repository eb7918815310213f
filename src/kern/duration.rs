//! Durations, the lowest layer of the **kern module: ticks, the accepted note values, and
//! which spans of time a set of durations can fill.
//!
//! Time is counted in ticks, `TPW` ticks to a whole note: 443,520 = 2^7 * 3^2 * 5 * 7 * 11,
//! the least common multiple of the accepted note values. The accepted values (the **kern
//! reciprocal numbers) are the ones of the corpus and their tuplet families:
//!
//! | family | values |
//! |---|---|
//! | plain | 1 2 4 8 16 32 64 128 |
//! | triplets | 3 6 12 24 48 96 |
//! | quintuplets | 5 10 20 40 80 |
//! | septuplets | 7 14 28 56 112 |
//! | nonuplets | 9 18 36 |
//! | 11-tuplets | 11 22 44 88 176 |
//!
//! with one or two augmentation dots wherever the dotted value is still a sum of the families'
//! smallest values (so `4..`, `20.`, `12.` are accepted; `128.` = 3/256 and `80.` = 3/160 are
//! not); breves (`0`) are not accepted. With that choice a span of time can be filled with
//! notes exactly when `DurSet::fillable` says so (a closed formula, checked against brute
//! force), which the grammar uses to never let a measure reach a point from which it cannot be
//! completed. For sampling, a `DurSet` keeps only the durations the model's vocabulary can
//! write (its digits, dots only with `.`), with a fill test of their own (a table built once
//! per vocabulary), and grace notes are written 8, 16, 32, 64 or 128, undotted, or without
//! duration.

/// Ticks per whole note.
pub(crate) const TPW: u64 = 443_520;

/// Accepted **kern reciprocal durations (bit `i` of a duration mask is `DENOMS[i]`).
pub(crate) const DENOMS: [u16; 32] = [
    1, 2, 4, 8, 16, 32, 64, 128, // plain
    3, 6, 12, 24, 48, 96, // triplets
    5, 10, 20, 40, 80, // quintuplets
    7, 14, 28, 56, 112, // septuplets
    9, 18, 36, // nonuplets
    11, 22, 44, 88, 176, // 11-tuplets
];

/// The smallest value of each family, in ticks (with every digit available): every accepted
/// duration is a sum of these, and each of them is an accepted duration. The plain family's is
/// TPW / 128 = 3465 = 3^2 * 5 * 7 * 11.
const G3: u64 = TPW / 96; // 4620 = 2^2 * 3 * 5 * 7 * 11
const G7: u64 = TPW / 112; // 3960 = 2^3 * 3^2 * 5 * 11
const G9: u64 = TPW / 36; // 12320 = 2^5 * 5 * 7 * 11
                          // G5 = TPW / 80 or TPW / 5, G11 = TPW / 176 or TPW / 88: see `DurSet`.

/// For each residue mod 9, the least (b, h) in 0..3 x 0..3 with b*G3 + h*G9 of that residue.
const fn build_bh() -> [(u8, u8); 9] {
    let mut t = [(0u8, 0u8); 9];
    let mut b = 0;
    while b < 3 {
        let mut h = 0;
        while h < 3 {
            t[((b * G3 + h * G9) % 9) as usize] = (b as u8, h as u8);
            h += 1;
        }
        b += 1;
    }
    t
}
const BH: [(u8, u8); 9] = build_bh();

/// Whether `x` ticks is a sum of the generators G1, G3, G5, G7, G9, G11. Each generator is
/// divisible by every odd prime of [`TPW`] but its own family's, so x mod 11, 7, 5 and 9 fix
/// how many 11-, 7-, 5- and 3/9-family generators the smallest representation needs (more of a
/// family's generators than its prime add up to a plain value, 128ths); the rest must be a
/// non-negative multiple of G1.
const fn fillable_with(x: u64, g5: u64, g11: u64) -> bool {
    let k = (x % 11) * inv_mod(g11 % 11, 11) % 11;
    let e = (x % 7) * inv_mod(G7 % 7, 7) % 7;
    let c = (x % 5) * inv_mod(g5 % 5, 5) % 5;
    let (b, h) = BH[(x % 9) as usize];
    let least = k * g11 + e * G7 + c * g5 + b as u64 * G3 + h as u64 * G9;
    x >= least
}

/// The inverse of `a` modulo the prime `p` (a not divisible by p).
const fn inv_mod(a: u64, p: u64) -> u64 {
    let mut i = 1;
    while i < p {
        if a * i % p == 1 {
            return i;
        }
        i += 1;
    }
    0
}

/// Bit `d` set for each decimal digit `d` of `n`.
const fn digit_bits(mut n: u32) -> u16 {
    if n == 0 {
        return 1;
    }
    let mut b = 0u16;
    while n > 0 {
        b |= 1 << (n % 10);
        n /= 10;
    }
    b
}

const KEY_DOT: u16 = 1 << 10;
const KEY_SLASH: u16 = 1 << 11;
const KEY_ALL: u16 = (1 << 12) - 1;

/// What of a vocabulary matters to durations and meters: bit `d` for each digit `d` it has,
/// [`KEY_DOT`] for `.`, [`KEY_SLASH`] for `/`.
fn dur_key(vocab: &[char]) -> u16 {
    let mut key = 0;
    for &c in vocab {
        key |= match c {
            '0'..='9' => 1 << (c as u32 - '0' as u32),
            '.' => KEY_DOT,
            '/' => KEY_SLASH,
            _ => 0,
        };
    }
    key
}

const fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// The durations a grammar may use, with the matching fill test, and the meters whose
/// measures they can fill. A model's vocabulary may lack digits (the Mozart half of the corpus
/// has no `0` and no `7`; a small corpus may have only `4` and `8`) or `.`: the durations it
/// cannot write are then out, and so is the time only they could fill, so that the grammar
/// never waits for a character the model cannot draw.
///
/// The full set fills with a closed formula ([`fillable_with`]). A restricted set keeps, for its
/// durations' greatest common divisor `unit` and their smallest value `m` (in units), the least
/// sum of durations in each residue class modulo `m` (its Apéry set, by a shortest-path search
/// at construction): `x` ticks can be filled exactly when `x` is a multiple of `unit` and
/// `x / unit` is at least the least sum of its class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DurSet {
    /// Ticks of `DENOMS[i]` with 0, 1 or 2 dots; 0 where not accepted.
    dur: [[u64; 3]; 32],
    /// Bit i: `DENOMS[i]` is accepted with some number of dots.
    mask: u32,
    /// Restricted sets: the ticks all durations are multiples of (`u64::MAX` when there are
    /// no durations at all).
    unit: u64,
    /// Restricted sets: by residue of `x / unit` modulo its length, the least fillable value of
    /// that residue, in units (`u64::MAX`: none). Empty for the full set.
    table: &'static [u64],
    /// Bit j of `meters[n]`: the meter `*Mn/METER_DENOMINATORS[j]` can be written (its digits and `/`)
    /// and its measure filled.
    meters: [u8; 100],
    /// For `p` below 100, the union of `meters[n]` over the numerators `n` whose digits begin
    /// with those of `p`.
    num_prefix: [u8; 100],
}

/// The full set, as a static for the `&'static` references grammars hold.
static FULL_SET: DurSet = DurSet::FULL;

impl DurSet {
    /// Every duration (for reading text: the checker, rhythm off; and for sampling from a
    /// vocabulary with every digit, `.` and `/`).
    pub const FULL: DurSet = DurSet::build_full();

    const fn build_full() -> DurSet {
        let g5 = TPW / 80;
        let g11 = TPW / 176;
        let mut dur = [[0u64; 3]; 32];
        let mut mask = 0;
        let mut i = 0;
        while i < 32 {
            let b = TPW / DENOMS[i] as u64;
            dur[i][0] = b;
            if b.is_multiple_of(2) && fillable_with(b / 2 * 3, g5, g11) {
                dur[i][1] = b / 2 * 3;
            }
            if b.is_multiple_of(4) && fillable_with(b / 4 * 7, g5, g11) {
                dur[i][2] = b / 4 * 7;
            }
            mask |= 1 << i;
            i += 1;
        }
        // every meter is a whole number of 64ths
        let mut meters = [0x7fu8; 100];
        meters[0] = 0;
        let mut num_prefix = [0x7fu8; 100];
        num_prefix[0] = 0;
        DurSet { dur, mask, unit: 1, table: &[], meters, num_prefix }
    }

    /// The durations (and meters) a sampler drawing from `vocab` can write (all for `None`).
    /// Sets are built once per combination of digits, `.` and `/`, and kept for the process.
    pub fn for_vocab(vocab: Option<&[char]>) -> &'static DurSet {
        match vocab {
            None => &FULL_SET,
            Some(v) => DurSet::for_key(dur_key(v)),
        }
    }

    fn for_key(key: u16) -> &'static DurSet {
        let key = key & KEY_ALL;
        if key == KEY_ALL {
            return &FULL_SET;
        }
        type Cache = Vec<(u16, &'static DurSet)>;
        static CACHE: std::sync::Mutex<Cache> = std::sync::Mutex::new(Vec::new());
        let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(&(_, s)) = cache.iter().find(|(k, _)| *k == key) {
            return s;
        }
        let s: &'static DurSet = Box::leak(Box::new(DurSet::restricted(key)));
        cache.push((key, s));
        s
    }

    /// The durations of the full set whose digits are all in `key` (dotted ones only with
    /// `.`), with their fill table and meters.
    fn restricted(key: u16) -> DurSet {
        let digits = key & 0x3ff;
        let full = &DurSet::FULL;
        let mut dur = [[0u64; 3]; 32];
        let mut mask = 0;
        for (i, (row, full_row)) in dur.iter_mut().zip(full.dur.iter()).enumerate() {
            let n = DENOMS.get(i).copied().unwrap_or(0) as u32;
            if digit_bits(n) & !digits != 0 {
                continue;
            }
            for (k, (v, &fv)) in row.iter_mut().zip(full_row.iter()).enumerate() {
                if k == 0 || key & KEY_DOT != 0 {
                    *v = fv;
                }
            }
            mask |= 1 << i;
        }
        let mut gens: Vec<u64> = dur.iter().flatten().copied().filter(|&v| v > 0).collect();
        let (unit, table) = if gens.is_empty() {
            (u64::MAX, vec![0])
        } else {
            let unit = gens.iter().fold(0, |a, &b| gcd(a, b));
            for g in gens.iter_mut() {
                *g /= unit;
            }
            gens.sort_unstable();
            gens.dedup();
            (unit, apery(&gens))
        };
        let table: &'static [u64] = Box::leak(table.into_boxed_slice());
        let mut set = DurSet { dur, mask, unit, table, meters: [0; 100], num_prefix: [0; 100] };
        if key & KEY_SLASH != 0 {
            for n in 1..100u32 {
                if digit_bits(n) & !digits != 0 {
                    continue;
                }
                let mut bits = 0u8;
                for (j, &d) in METER_DENOMINATORS.iter().enumerate() {
                    if digit_bits(d as u32) & !digits == 0
                        && set.fillable(TPW / d as u64 * n as u64)
                    {
                        bits |= 1 << j;
                    }
                }
                if let Some(m) = set.meters.get_mut(n as usize) {
                    *m = bits;
                }
            }
        }
        for p in 1..100u32 {
            let mut bits = 0u8;
            for n in 1..100u32 {
                if dec_prefix(p, n) {
                    bits |= set.meters.get(n as usize).copied().unwrap_or(0);
                }
            }
            if let Some(b) = set.num_prefix.get_mut(p as usize) {
                *b = bits;
            }
        }
        set
    }

    /// Whether `x` ticks can be filled exactly with these durations (0 can).
    #[inline]
    pub fn fillable(&self, x: u64) -> bool {
        if self.table.is_empty() {
            return fillable_with(x, TPW / 80, TPW / 176);
        }
        if !x.is_multiple_of(self.unit) {
            return false;
        }
        let q = x / self.unit;
        let len = self.table.len() as u64;
        self.table.get((q % len) as usize).is_some_and(|&w| q >= w)
    }

    /// Bit i: `DENOMS[i]` is accepted with some number of dots.
    #[inline]
    pub(crate) fn mask(&self) -> u32 {
        self.mask
    }

    /// Whether some meter whose numerator's digits begin with those of `prefix` can be written
    /// and filled (`prefix` below 100).
    pub(crate) fn meter_numerator_prefix_ok(&self, prefix: u16) -> bool {
        self.num_prefix.get(prefix as usize).is_some_and(|&b| b != 0)
    }

    /// Whether some meter with numerator `num` can be written and filled.
    pub(crate) fn meter_numerator_ok(&self, num: u16) -> bool {
        self.meters.get(num as usize).is_some_and(|&b| b != 0)
    }

    /// Whether the meter `num/den` can be written and filled (for `*M` interpretations).
    pub fn meter_ok(&self, num: u16, den: u16) -> bool {
        let Some(j) = METER_DENOMINATORS.iter().position(|&d| d == den) else { return false };
        self.meters.get(num as usize).is_some_and(|&b| b & (1 << j) != 0)
    }

    /// Whether a note of `v` ticks fits in `rem` ticks and leaves a fillable rest.
    #[inline]
    pub fn fits(&self, rem: u64, v: u64) -> bool {
        v <= rem && self.fillable(rem - v)
    }

    /// Ticks of a duration number with dots, if accepted.
    pub fn ticks(&self, n: u16, dots: u8) -> Option<u64> {
        let i = denom_index(n)?;
        let v = *self.dur.get(i)?.get(dots as usize)?;
        (v > 0).then_some(v)
    }

    /// Whether some duration in `mask` with at least `min_dots` dots fits in `rem`.
    pub(crate) fn any_fit(&self, mask: u32, min_dots: u8, rem: u64) -> bool {
        let mut m = mask & self.mask;
        while m != 0 {
            let i = m.trailing_zeros() as usize;
            m &= m - 1;
            if let Some(row) = self.dur.get(i) {
                for (k, &v) in row.iter().enumerate() {
                    if k >= min_dots as usize && v > 0 && self.fits(rem, v) {
                        return true;
                    }
                }
            }
        }
        false
    }

    /// Whether some duration in `mask` with at least `min_dots` dots is accepted at all.
    pub(crate) fn any_valid(&self, mask: u32, min_dots: u8) -> bool {
        let mut m = mask & self.mask;
        while m != 0 {
            let i = m.trailing_zeros() as usize;
            m &= m - 1;
            if let Some(row) = self.dur.get(i) {
                if row.iter().skip(min_dots as usize).any(|&v| v > 0) {
                    return true;
                }
            }
        }
        false
    }
}

/// For generators `gens` (sorted, distinct, positive), the least sum of generators in each
/// residue class modulo the smallest one (`u64::MAX` where there is none): Dijkstra over the
/// residues.
fn apery(gens: &[u64]) -> Vec<u64> {
    use std::cmp::Reverse;
    let m = gens.first().copied().unwrap_or(1).max(1);
    let mut w = vec![u64::MAX; m as usize];
    if let Some(w0) = w.first_mut() {
        *w0 = 0;
    }
    let mut heap = std::collections::BinaryHeap::new();
    heap.push(Reverse((0u64, 0u64)));
    while let Some(Reverse((d, r))) = heap.pop() {
        if w.get(r as usize).is_some_and(|&x| d > x) {
            continue;
        }
        for &g in gens.iter().skip(1) {
            let nr = (r + g) % m;
            let nd = d + g;
            if let Some(x) = w.get_mut(nr as usize) {
                if nd < *x {
                    *x = nd;
                    heap.push(Reverse((nd, nr)));
                }
            }
        }
    }
    w
}

const fn dec_prefix(p: u32, d: u32) -> bool {
    // whether the decimal digits of p begin those of d
    let mut x = d;
    loop {
        if x == p {
            return true;
        }
        if x < 10 {
            return false;
        }
        x /= 10;
    }
}

const fn build_prefix() -> [u32; 1000] {
    let mut t = [0u32; 1000];
    let mut p = 1;
    while p < 1000 {
        let mut i = 0;
        while i < 32 {
            if dec_prefix(p as u32, DENOMS[i] as u32) {
                t[p] |= 1 << i;
            }
            i += 1;
        }
        p += 1;
    }
    t
}

/// For each number below 1000, the accepted durations whose digits begin with its digits.
pub(crate) static PREFIX_MASK: [u32; 1000] = build_prefix();

/// Whether the digits of `p` begin those of `d` (for matching a chord's first duration).
#[inline]
pub(crate) fn is_dec_prefix(p: u32, d: u32) -> bool {
    p != 0 && dec_prefix(p, d)
}

/// Index of an accepted duration number in [`DENOMS`].
#[inline]
pub(crate) fn denom_index(n: u16) -> Option<usize> {
    DENOMS.iter().position(|&d| d == n)
}

/// Durations a grace note may be written with when sampling: 8 16 32 64 128, no dots (the
/// corpus's grace notes are 8, 16, 32, 64, 128 or have no duration, but for three `4q`).
pub(crate) const GRACE_MASK: u32 = 0b1111_1000;

/// The denominators a meter may have (`*M3/4`): powers of two up to 64, so that a measure is a
/// whole number of 64th notes.
pub(crate) const METER_DENOMINATORS: [u16; 7] = [1, 2, 4, 8, 16, 32, 64];

/// A tick count as a fraction of a whole note, e.g. `3/8`.
pub(crate) fn frac(t: u64) -> String {
    if t == 0 {
        return "0".into();
    }
    let g = gcd(t, TPW);
    if TPW / g == 1 {
        format!("{}", t / g)
    } else {
        format!("{}/{}", t / g, TPW / g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Which spans up to a half note the durations of `set` can fill, by dynamic programming.
    fn brute_force(set: &DurSet) -> Vec<bool> {
        let limit = (TPW / 2) as usize;
        let vals: Vec<usize> =
            set.dur.iter().flatten().filter(|&&v| v > 0).map(|&v| v as usize).collect();
        let mut can = vec![false; limit + 1];
        can[0] = true;
        for x in 1..=limit {
            can[x] = vals.iter().any(|&v| v <= x && can[x - v]);
        }
        can
    }

    fn vocab(s: &str) -> Vec<char> {
        s.chars().collect()
    }

    #[test]
    fn the_fill_test_agrees_with_brute_force_for_every_kind_of_vocabulary() {
        for voc in ["0123456789./", "12345689./", "48./", "1248.", "36/.", "5", "2.", "179"] {
            let set = DurSet::for_vocab(Some(&vocab(voc)));
            for (x, &c) in brute_force(set).iter().enumerate() {
                assert_eq!(set.fillable(x as u64), c, "{voc}: x = {x}");
            }
        }
    }

    #[test]
    fn a_vocabulary_with_every_digit_dot_and_slash_has_the_full_set() {
        assert!(std::ptr::eq(DurSet::for_vocab(Some(&vocab("0123456789./"))), &FULL_SET));
        assert!(!std::ptr::eq(DurSet::for_vocab(Some(&vocab("12345689./"))), &FULL_SET));
    }

    #[test]
    fn every_accepted_duration_fills_its_own_span() {
        for voc in ["0123456789./", "12345689./", "48./"] {
            let set = DurSet::for_vocab(Some(&vocab(voc)));
            for (i, d) in DENOMS.iter().enumerate() {
                if set.mask & (1 << i) != 0 {
                    assert!(set.dur[i][0] > 0 && set.fillable(set.dur[i][0]), "{voc}: {d}");
                }
            }
        }
    }

    #[test]
    fn the_mozart_vocabulary_without_0_and_7_cannot_write_20_or_176() {
        let mozart = DurSet::for_vocab(Some(&vocab("12345689.")));
        assert_eq!(mozart.ticks(20, 0), None);
        assert_eq!(mozart.ticks(176, 0), None);
        assert_eq!(mozart.ticks(5, 1), Some(TPW * 3 / 10));
        assert_eq!(mozart.ticks(88, 0), Some(TPW / 88));
    }

    #[test]
    fn without_a_dot_there_are_no_dotted_durations_but_their_time_can_still_be_filled() {
        let no_dot = DurSet::for_vocab(Some(&vocab("48")));
        assert_eq!(no_dot.ticks(4, 1), None);
        assert!(no_dot.fillable(TPW * 3 / 8) && no_dot.fillable(TPW / 16), "3/48");
        assert!(!no_dot.fillable(TPW / 32));
    }

    #[test]
    fn a_vocabulary_with_no_duration_fills_only_nothing() {
        let none = DurSet::for_vocab(Some(&vocab("0.")));
        assert!(none.mask == 0 && none.fillable(0) && !none.fillable(TPW));
    }

    #[test]
    fn a_meter_is_written_with_the_vocabularys_digits_and_filled_with_its_durations() {
        let v48 = DurSet::for_vocab(Some(&vocab("48./")));
        assert!(v48.meter_ok(4, 4) && v48.meter_ok(4, 8) && v48.meter_ok(88, 8));
        assert!(!v48.meter_ok(3, 4) && !v48.meter_ok(4, 16) && !v48.meter_ok(4, 5));
        assert!(!DurSet::for_vocab(Some(&vocab("48."))).meter_ok(4, 4), "no slash");
        assert!(DurSet::FULL.meter_ok(99, 64) && !DurSet::FULL.meter_ok(100, 4));
    }

    #[test]
    fn dots_add_a_half_and_a_quarter() {
        let ticks = |n, d| DurSet::FULL.ticks(n, d);
        assert_eq!(ticks(4, 0), Some(TPW / 4));
        assert_eq!(ticks(4, 1), Some(TPW * 3 / 8));
        assert_eq!(ticks(8, 2), Some(TPW * 7 / 32));
        assert_eq!(ticks(20, 1), Some(TPW * 3 / 40));
    }

    #[test]
    fn values_outside_the_families_or_dotted_past_the_smallest_are_not_durations() {
        let ticks = |n, d| DurSet::FULL.ticks(n, d);
        assert_eq!(ticks(128, 1), None);
        assert_eq!(ticks(80, 1), None);
        assert_eq!(ticks(0, 0), None);
        assert_eq!(ticks(13, 0), None);
    }

    #[test]
    fn a_tick_count_is_shown_as_a_fraction_of_a_whole_note() {
        assert_eq!(frac(TPW * 3 / 4), "3/4");
        assert_eq!(frac(TPW * 2), "2");
        assert_eq!(frac(0), "0");
    }
}
