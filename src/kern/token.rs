//! The **kern token automata and the rhythm arithmetic shared by the sampling grammar
//! ([`super::grammar`]) and the checker ([`super::check`]): one implementation of what a field
//! may contain and of how long a note lasts.
//!
//! Every automaton reads one ASCII byte at a time, says whether it accepts it, and can say at
//! any point whether the token could end there. None of them allocates, so the grammar can ask
//! about every vocabulary character at every sampling step.
//!
//! # Durations
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
    /// Bit j of `meters[n]`: the meter `*Mn/METER_DENS[j]` can be written (its digits and `/`)
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
                for (j, &d) in METER_DENS.iter().enumerate() {
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

    /// Whether the meter `num/den` can be written and filled (for `*M` interpretations).
    pub fn meter_ok(&self, num: u16, den: u16) -> bool {
        let Some(j) = METER_DENS.iter().position(|&d| d == den) else { return false };
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
    fn any_fit(&self, mask: u32, min_dots: u8, rem: u64) -> bool {
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
    fn any_valid(&self, mask: u32, min_dots: u8) -> bool {
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
static PREFIX_MASK: [u32; 1000] = build_prefix();

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
const GRACE_MASK: u32 = 0b1111_1000;

/// Meter denominators accepted in `*M` (so a measure is a whole number of 64th notes).
pub(crate) const METER_DENS: [u16; 7] = [1, 2, 4, 8, 16, 32, 64];

/// Ticks of a meter, if it is an accepted one (numerator 1..=99, denominator a power of two up
/// to 64).
pub(crate) fn meter_ticks(num: u32, den: u32) -> Option<u64> {
    if !(1..=99).contains(&num) || !METER_DENS.iter().any(|&d| d as u32 == den) {
        return None;
    }
    Some(TPW / den as u64 * num as u64)
}

/// A tick count as a fraction of a whole note, e.g. `3/8`.
pub(crate) fn frac(t: u64) -> String {
    fn gcd(a: u64, b: u64) -> u64 {
        if b == 0 {
            a
        } else {
            gcd(b, a % b)
        }
    }
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

// ---------------------------------------------------------------------------------------------
// **kern data tokens
// ---------------------------------------------------------------------------------------------

/// Whether a token may, must or must not be a grace note (`q`/`Q`: no logical duration).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GraceRule {
    Forbid,
    Allow,
    Require,
}

/// What the rhythm asks of a **kern field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct DurRule {
    /// Ticks left in the measure: a timed note must fit and leave a fillable rest (`None`: any
    /// duration). A note that does not fit can still be a grace note where grace is allowed.
    pub fit: Option<u64>,
    pub grace: GraceRule,
    /// The notes of a chord after the first must repeat its duration and grace status.
    pub chord_match: bool,
    /// Accept the corpus's two irregular grace-note spellings, a leading `.` (`.16gQ`) and a
    /// duration after the pitch (`b8q/`). Off for sampling.
    pub quirks: bool,
    /// The durations allowed.
    pub set: &'static DurSet,
}

impl DurRule {
    /// No rhythm constraint (the checker, or the grammar with rhythm off).
    pub const FREE: DurRule = DurRule {
        fit: None,
        grace: GraceRule::Allow,
        chord_match: false,
        quirks: true,
        set: &DurSet::FULL,
    };
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KPhase {
    Start,
    LeadDot,
    Prefix,
    Digits,
    Dots,
    Pitch,
    Acc,
    LateDigits,
    Post,
}

/// Signs after the pitch: (category, most allowed per note). The caps are the most one note of
/// the corpus has (measured on the prepared corpus), but `J`, capped like `L` (the corpus has
/// at most 5).
#[inline]
fn post_cat(c: u8) -> Option<(usize, u8)> {
    Some(match c {
        b'\'' => (0, 2),
        b'`' => (1, 1),
        b'^' => (2, 1),
        b':' => (3, 1),
        b';' => (4, 1),
        b't' | b'T' | b'w' | b'W' | b'S' | b'M' | b'm' | b'O' | b'$' => (5, 1),
        b'z' => (6, 1),
        b'X' => (7, 1),
        b'y' => (8, 2),
        b'q' | b'Q' => (9, 1),
        b'/' | b'\\' => (10, 1),
        b'L' => (11, 6),
        b'J' => (12, 6),
        b'K' => (13, 2),
        b'k' => (14, 2),
        b')' => (15, 2),
        b']' | b'_' => (16, 1),
        b'&' => (17, 1),
        _ => return None,
    })
}
const NCAT: usize = 18;
/// Categories of the beam signs `L`, `J`, `K`, `k`.
const BEAM_CATS: std::ops::RangeInclusive<usize> = 11..=14;
/// Most beam signs on one note (`(128AQ\LLLLLL` in the corpus); a note either starts beams
/// (`L`) or ends them (`J`), and has partial beams one way (`K` or `k`): the corpus never
/// mixes them.
pub(crate) const MAX_BEAMS: u8 = 6;
/// Most signs of all kinds after the pitch of one note (the corpus has 8 once, 7 four times).
pub(crate) const MAX_SIGNS: u8 = 8;
/// Most notes in a chord.
pub(crate) const MAX_CHORD: u8 = 6;

/// What a complete **kern token amounts to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct KernInfo {
    /// A grace note (or chord of grace notes): no duration.
    pub grace: bool,
    /// Duration in ticks (0 for grace notes).
    pub ticks: u64,
    pub rest: bool,
    /// The notes of the chord disagree on duration or grace status.
    pub mixed: bool,
}

/// Incremental parser of one **kern data field other than the null token `.`: a note, rest or
/// chord (notes separated by single spaces).
///
/// A note is `[.](([&)* [duration[dots]] pitch [accidental] [duration] signs*`, where the pitch
/// is one letter repeated in one case (`c`, `cc`, `CCC`, up to four) or `r`/`rr` for a rest,
/// accidentals are `#`, `##`, `-`, `--` or `n`, and the signs are articulations, ornaments,
/// stems, beams, slur and tie ends, grace marks (see [`post_cat`], each with a cap; at most
/// [`MAX_SIGNS`] in all and [`MAX_BEAMS`] beam signs, never `L` with `J` nor `K` with `k`).
/// A note without duration, with a leading `.` (`.16gQ`) or with its duration after the pitch
/// (`b8q`) must be a grace note (the corpus has such tokens).
#[derive(Clone, Copy, Debug)]
pub(crate) struct KernTok {
    phase: KPhase,
    sub: u8,
    lead_dot: bool,
    pre_paren: u8,
    pre_brack: u8,
    pre_amp: u8,
    num: u16,
    ndig: u8,
    dots: u8,
    has_dur: bool,
    pitch: u8,
    plen: u8,
    acc: u8,
    alen: u8,
    post: [u8; NCAT],
    /// Signs after the pitch so far, and beam signs among them.
    signs: u8,
    beams: u8,
    grace: bool,
    must_grace: bool,
    ticks: u64,
    f_has_dur: bool,
    f_num: u16,
    f_dots: u8,
    f_grace: bool,
    f_ticks: u64,
    f_rest: bool,
    mixed: bool,
}

impl Default for KernTok {
    fn default() -> Self {
        KernTok::new()
    }
}

impl KernTok {
    pub const fn new() -> Self {
        KernTok {
            phase: KPhase::Start,
            sub: 0,
            lead_dot: false,
            pre_paren: 0,
            pre_brack: 0,
            pre_amp: 0,
            num: 0,
            ndig: 0,
            dots: 0,
            has_dur: false,
            pitch: 0,
            plen: 0,
            acc: 0,
            alen: 0,
            post: [0; NCAT],
            signs: 0,
            beams: 0,
            grace: false,
            must_grace: false,
            ticks: 0,
            f_has_dur: false,
            f_num: 0,
            f_dots: 0,
            f_grace: false,
            f_ticks: 0,
            f_rest: false,
            mixed: false,
        }
    }

    fn matching(&self, r: &DurRule) -> bool {
        self.sub > 0 && r.chord_match
    }

    /// The grace rule for the note being read.
    fn grace_rule(&self, r: &DurRule) -> GraceRule {
        if self.sub == 0 {
            r.grace
        } else if !r.chord_match {
            GraceRule::Allow
        } else if self.f_grace {
            GraceRule::Require
        } else {
            GraceRule::Forbid
        }
    }

    fn fit(&self, r: &DurRule) -> Option<u64> {
        if self.sub == 0 {
            r.fit
        } else {
            None
        }
    }

    /// Reads one byte; false (and no change) if it cannot come next.
    pub fn step(&mut self, c: u8, r: &DurRule) -> bool {
        let mut n = *self;
        if n.step_inner(c, r) {
            *self = n;
            true
        } else {
            false
        }
    }

    fn step_inner(&mut self, c: u8, r: &DurRule) -> bool {
        use KPhase::*;
        let gr = self.grace_rule(r);
        match (self.phase, c) {
            (Start, b'.') if self.sub == 0 && r.quirks && gr != GraceRule::Forbid => {
                self.lead_dot = true;
                self.must_grace = true;
                self.phase = LeadDot;
                true
            }
            (Start | LeadDot | Prefix, b'(' | b'[' | b'&') => {
                let (cnt, cap) = match c {
                    b'(' => (&mut self.pre_paren, 2),
                    b'[' => (&mut self.pre_brack, 1),
                    _ => (&mut self.pre_amp, 1),
                };
                if *cnt >= cap {
                    return false;
                }
                *cnt += 1;
                self.phase = Prefix;
                true
            }
            (Start | LeadDot | Prefix | Digits, b'0'..=b'9') => self.digit(c - b'0', r, false),
            (Digits | Dots, b'.') => self.dot(r),
            (Start | Prefix | Digits | Dots, b'a'..=b'g' | b'A'..=b'G' | b'r') => {
                self.pitch_start(c, r)
            }
            (Pitch, _) if c == self.pitch && self.plen < if c == b'r' { 2 } else { 4 } => {
                self.plen += 1;
                true
            }
            (Pitch | Acc, b'#' | b'-' | b'n') if self.pitch != b'r' => {
                let ok =
                    if self.alen == 0 { true } else { c == self.acc && c != b'n' && self.alen < 2 };
                if ok {
                    self.acc = c;
                    self.alen += 1;
                    self.phase = Acc;
                }
                ok
            }
            (Pitch | Acc | LateDigits, b'0'..=b'9')
                if r.quirks && !self.has_dur && self.pitch != b'r' =>
            {
                self.digit(c - b'0', r, true)
            }
            (Pitch | Acc | LateDigits | Post, _) => self.post_sign(c, r),
            _ => false,
        }
    }

    fn digit(&mut self, d: u8, r: &DurRule, late: bool) -> bool {
        if self.ndig == 0 && d == 0 {
            return false;
        }
        let new = self.num as u32 * 10 + d as u32;
        let Some(&mask) = PREFIX_MASK.get(new as usize) else { return false };
        let mask = mask & r.set.mask;
        if mask == 0 {
            return false;
        }
        if late {
            // only grace notes write their (visual) duration after the pitch
            if self.grace_rule(r) == GraceRule::Forbid {
                return false;
            }
        } else if self.matching(r) {
            if !self.f_has_dur || !is_dec_prefix(new, self.f_num as u32) {
                return false;
            }
        } else if !self.completion_ok(mask, 0, r) {
            return false;
        }
        self.num = new as u16;
        self.ndig += 1;
        self.phase = if late { KPhase::LateDigits } else { KPhase::Digits };
        true
    }

    /// Whether some duration in `mask` with at least `min_dots` dots can end the number being
    /// read: a timed note that fits, or a grace note where one may come.
    fn completion_ok(&self, mask: u32, min_dots: u8, r: &DurRule) -> bool {
        let gr = self.grace_rule(r);
        let timed = match self.fit(r) {
            _ if gr == GraceRule::Require => false,
            Some(rem) => r.set.any_fit(mask, min_dots, rem),
            None => r.set.any_valid(mask, min_dots),
        };
        let grace = gr != GraceRule::Forbid
            && if r.quirks {
                r.set.any_valid(mask, min_dots)
            } else {
                min_dots == 0 && mask & r.set.mask & GRACE_MASK != 0
            };
        timed || grace
    }

    fn dot(&mut self, r: &DurRule) -> bool {
        let Some(i) = denom_index(self.num) else { return false };
        let k = self.dots + 1;
        if k > 2 {
            return false;
        }
        let mask = 1u32 << i;
        if self.matching(r) {
            if k > self.f_dots || self.num != self.f_num {
                return false;
            }
        } else if !self.completion_ok(mask, k, r) {
            return false;
        }
        self.dots = k;
        self.phase = KPhase::Dots;
        true
    }

    fn pitch_start(&mut self, c: u8, r: &DurRule) -> bool {
        let rest = c == b'r';
        let gr = self.grace_rule(r);
        if rest && (self.sub > 0 || self.lead_dot || gr == GraceRule::Require) {
            return false;
        }
        let mut must_grace = self.must_grace;
        let mut ticks = 0;
        if self.ndig > 0 {
            let Some(v) = r.set.ticks(self.num, self.dots) else { return false };
            if self.matching(r) && (self.num != self.f_num || self.dots != self.f_dots) {
                return false;
            }
            if let Some(rem) = self.fit(r) {
                if !r.set.fits(rem, v) {
                    must_grace = true;
                }
            }
            if (must_grace || gr == GraceRule::Require)
                && !r.quirks
                && (GRACE_MASK & (1 << denom_index(self.num).unwrap_or(0)) == 0 || self.dots > 0)
            {
                // a grace note's written duration is short and plain
                return false;
            }
            ticks = v;
        } else {
            if rest || (self.matching(r) && self.f_has_dur) {
                return false;
            }
            must_grace = true;
        }
        if must_grace && (rest || gr == GraceRule::Forbid) {
            return false;
        }
        self.has_dur = self.ndig > 0;
        self.ticks = ticks;
        self.must_grace = must_grace;
        self.pitch = c;
        self.plen = 1;
        self.phase = KPhase::Pitch;
        true
    }

    fn post_sign(&mut self, c: u8, r: &DurRule) -> bool {
        if self.phase == KPhase::LateDigits && r.set.ticks(self.num, 0).is_none() {
            return false;
        }
        let Some((cat, cap)) = post_cat(c) else { return false };
        if cat == 9 {
            if self.pitch == b'r' || self.grace_rule(r) == GraceRule::Forbid {
                return false;
            }
            let short = !self.has_dur
                || (self.dots == 0
                    && denom_index(self.num).is_some_and(|i| GRACE_MASK & (1 << i) != 0));
            if !r.quirks && !short {
                return false;
            }
        }
        // a note that must still become a grace note keeps a place for its `q`
        let need_q = cat != 9
            && !self.grace
            && (self.must_grace || self.grace_rule(r) == GraceRule::Require);
        // When sampling, its `q` comes right after the pitch: otherwise a note the line forces
        // to be a grace note (a `.` elsewhere made it a grace line) drifts through every sign
        // the model finds less unlikely than `q` (`8dd\)])yyLQ`), ending invisible.
        if need_q && !r.quirks {
            return false;
        }
        if self.signs + need_q as u8 >= MAX_SIGNS {
            return false;
        }
        let beam = BEAM_CATS.contains(&cat);
        if beam {
            // L excludes J, K excludes k (categories 11/12 and 13/14)
            let other = match cat {
                11 => 12,
                12 => 11,
                13 => 14,
                _ => 13,
            };
            if self.beams >= MAX_BEAMS || self.post.get(other).is_some_and(|&n| n > 0) {
                return false;
            }
        }
        let Some(cnt) = self.post.get_mut(cat) else { return false };
        if *cnt >= cap {
            return false;
        }
        *cnt += 1;
        self.signs += 1;
        if beam {
            self.beams += 1;
        }
        if cat == 9 {
            self.grace = true;
        }
        self.phase = KPhase::Post;
        true
    }

    /// Whether the note being read is complete.
    fn note_complete(&self, r: &DurRule) -> bool {
        let shape = match self.phase {
            KPhase::Pitch | KPhase::Acc | KPhase::Post => true,
            KPhase::LateDigits => r.set.ticks(self.num, 0).is_some(),
            _ => false,
        };
        shape
            && (!self.must_grace || self.grace)
            && (self.grace_rule(r) != GraceRule::Require || self.grace)
    }

    /// Whether the token could end here (before a TAB or a newline).
    pub fn can_end(&self, r: &DurRule) -> bool {
        self.note_complete(r)
    }

    /// Whether a space (another note of the chord) may come next.
    pub fn can_space(&self, r: &DurRule) -> bool {
        self.note_complete(r) && self.pitch != b'r' && self.sub + 1 < MAX_CHORD
    }

    /// Reads a space: starts the next note of the chord.
    pub fn space(&mut self, r: &DurRule) -> bool {
        if !self.can_space(r) {
            return false;
        }
        self.close_note();
        let keep = *self;
        *self = KernTok::new();
        self.sub = keep.sub + 1;
        self.f_has_dur = keep.f_has_dur;
        self.f_num = keep.f_num;
        self.f_dots = keep.f_dots;
        self.f_grace = keep.f_grace;
        self.f_ticks = keep.f_ticks;
        self.f_rest = keep.f_rest;
        self.mixed = keep.mixed;
        true
    }

    /// Records the note just read as the chord's first, or compares it with the first.
    fn close_note(&mut self) {
        let grace = self.grace;
        let ticks = if grace { 0 } else { self.ticks };
        if self.sub == 0 {
            self.f_has_dur = self.has_dur;
            self.f_num = self.num;
            self.f_dots = self.dots;
            self.f_grace = grace;
            self.f_ticks = ticks;
            self.f_rest = self.pitch == b'r';
        } else if grace != self.f_grace || ticks != self.f_ticks {
            self.mixed = true;
        }
    }

    /// The complete token (call when [`KernTok::can_end`]).
    pub fn info(&self) -> KernInfo {
        let mut t = *self;
        t.close_note();
        KernInfo { grace: t.f_grace, ticks: t.f_ticks, rest: t.f_rest, mixed: t.mixed }
    }
}

// ---------------------------------------------------------------------------------------------
// **dynam tokens
// ---------------------------------------------------------------------------------------------

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
                if self.x == 0 && self.y == 0 && self.core < 4 =>
            {
                self.core += 1;
                true
            }
            b'X' if self.core > 0 && self.x == 0 => {
                self.x = 1;
                true
            }
            b'y' if self.core > 0 && self.y < 2 => {
                self.y += 1;
                true
            }
            b' ' if self.core > 0 && self.sub < 2 => {
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

// ---------------------------------------------------------------------------------------------
// Interpretations
// ---------------------------------------------------------------------------------------------

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
    Meter(u16, u16),
    /// Any other accepted interpretation (clef, key, tempo, label...).
    Other,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum IState {
    Star,
    Split,
    Merge,
    Term,
    /// Inside a fixed word: literal `lit`, `i` bytes read.
    Lit {
        lit: u8,
        i: u8,
    },
    C1,
    ClefShape,
    ClefLine,
    ClefDone,
    KeyL,
    KeyAcc,
    KeyDone,
    KSig {
        pairs: u8,
        half: bool,
    },
    KSigDone,
    M1,
    MeterNum {
        v: u16,
    },
    MeterDen {
        num: u16,
        den: u16,
    },
    Tempo {
        v: u16,
        nd: u8,
    },
    Met {
        n: u8,
    },
    MetDone,
    Label {
        n: u8,
    },
    Generic,
}

const LITS: [&[u8]; 3] = [b"lef", b"[", b"et("];

/// What the line around an interpretation asks of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct InterpRule {
    /// A `*M` meter or a `*k[...]` key signature is allowed here (strict rhythm: only at the
    /// start of a measure; verovio refuses a key signature inside an open beam or tuplet).
    pub signature_ok: bool,
    /// The meter already set by another field of the line: this one must repeat it.
    pub expect_meter: Option<(u16, u16)>,
    /// Accept any other `*` token too (only for the header of a full **kern file).
    pub generic: bool,
    /// The meters that can be written and filled ([`DurSet::meter_ok`]).
    pub set: &'static DurSet,
    /// The interpretation families the vocabulary can complete ([`interp_families`]).
    pub fams: u8,
}

/// Interpretation families (see [`interp_families`]): clefs `*clefG2`.
pub(crate) const FAM_CLEF: u8 = 1;
/// Keys `*E-:` (they end with `:`).
pub(crate) const FAM_KEY: u8 = 2;
/// Key signatures `*k[f#]`.
pub(crate) const FAM_KSIG: u8 = 4;
/// Mensurations `*met(c)`.
pub(crate) const FAM_MET: u8 = 8;
pub(crate) const FAM_ALL: u8 = 15;

/// The interpretation families whose every token a sampler drawing from `vocab` can finish
/// once started: the grammar refuses to start the others, so a model never begins `*k[` without
/// a `]` to end it. (Tempi `*MM60` need a digit, labels `*>A` a letter or digit, meters are
/// checked digit by digit through [`DurSet`]; a vocabulary the grammar supports has those.)
pub(crate) fn interp_families(vocab: Option<&[char]>) -> u8 {
    let Some(v) = vocab else { return FAM_ALL };
    let has = |c: char| v.contains(&c);
    let all = |s: &str| s.chars().all(has);
    let any = |s: &str| s.chars().any(has);
    let mut f = 0;
    if all("clef") && any("GFC") && any("12345") {
        f |= FAM_CLEF;
    }
    if has(':') {
        f |= FAM_KEY;
    }
    if all("k[]") && any("#-") {
        f |= FAM_KSIG;
    }
    if all("met()") && any("cC|O23.") {
        f |= FAM_MET;
    }
    f
}

/// Incremental parser of an interpretation field after its leading `*` (which the grammar
/// reads itself). Accepted: `*` `*^` `*v` `*-`, clefs `*clefG2` (G F C, lines 1-5), keys `*E-:`,
/// key signatures `*k[f#c#]`, meters `*M3/4` (numerator 1..=99, denominator 1..=64, a power of
/// two), tempi `*MM120`, mensurations `*met(c|)`, section labels `*>A`, `*>Var2` (1..=6 letters
/// or digits). With [`InterpRule::generic`], any other printable token as well.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct InterpTok {
    st: IState,
    /// Strict parse failed; still alive as a generic token.
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
        InterpTok { st: IState::Star, generic_only: false }
    }

    /// The first byte after the `*`, for the line-level rules: `^`, `v`, `-` or another byte.
    pub fn is_fresh(&self) -> bool {
        self.st == IState::Star && !self.generic_only
    }

    pub fn step(&mut self, c: u8, r: &InterpRule) -> bool {
        if !self.generic_only {
            if let Some(st) = self.strict_step(c, r) {
                self.st = st;
                return true;
            }
        }
        if r.generic
            && c.is_ascii_graphic()
            && !matches!(self.st, IState::Split | IState::Merge | IState::Term)
        {
            self.generic_only = true;
            self.st = IState::Generic;
            return true;
        }
        false
    }

    fn strict_step(&self, c: u8, r: &InterpRule) -> Option<IState> {
        use IState::*;
        Some(match (self.st, c) {
            (Star, b'^') => Split,
            (Star, b'v') => Merge,
            (Star, b'-') => Term,
            (Star, b'c') if r.fams & (FAM_CLEF | FAM_KEY) != 0 => C1,
            (Star, b'a' | b'b' | b'd'..=b'g' | b'A'..=b'G') if r.fams & FAM_KEY != 0 => KeyL,
            (Star, b'k') if r.fams & FAM_KSIG != 0 && r.signature_ok => Lit { lit: 1, i: 0 },
            (Star, b'M') => M1,
            (Star, b'm') if r.fams & FAM_MET != 0 => Lit { lit: 2, i: 0 },
            (Star, b'>') => Label { n: 0 },
            (C1, b'l') if r.fams & FAM_CLEF != 0 => Lit { lit: 0, i: 1 },
            (C1 | KeyL, b'#' | b'-') if r.fams & FAM_KEY != 0 => KeyAcc,
            (C1 | KeyL | KeyAcc, b':') => KeyDone,
            (Lit { lit, i }, _) => {
                let word = LITS.get(lit as usize)?;
                if word.get(i as usize) != Some(&c) {
                    return None;
                }
                if (i as usize) + 1 < word.len() {
                    Lit { lit, i: i + 1 }
                } else {
                    match lit {
                        0 => ClefShape,
                        1 => KSig { pairs: 0, half: false },
                        _ => Met { n: 0 },
                    }
                }
            }
            (ClefShape, b'G' | b'F' | b'C') => ClefLine,
            (ClefLine, b'1'..=b'5') => ClefDone,
            (KSig { pairs, half: false }, b'a'..=b'g') if pairs < 7 => KSig { pairs, half: true },
            (KSig { pairs, half: true }, b'#' | b'-') => KSig { pairs: pairs + 1, half: false },
            (KSig { half: false, .. }, b']') => KSigDone,
            (M1, b'M') => Tempo { v: 0, nd: 0 },
            (M1, b'1'..=b'9') => {
                let v = (c - b'0') as u16;
                if !r.signature_ok || r.set.num_prefix.get(v as usize).is_none_or(|&b| b == 0) {
                    return None;
                }
                if let Some((en, _)) = r.expect_meter {
                    if !is_dec_prefix(v as u32, en as u32) {
                        return None;
                    }
                }
                MeterNum { v }
            }
            (MeterNum { v }, b'0'..=b'9') => {
                let v = v * 10 + (c - b'0') as u16;
                if r.set.num_prefix.get(v as usize).is_none_or(|&b| b == 0) {
                    return None;
                }
                if let Some((en, _)) = r.expect_meter {
                    if !is_dec_prefix(v as u32, en as u32) {
                        return None;
                    }
                }
                MeterNum { v }
            }
            (MeterNum { v }, b'/') => {
                if r.set.meters.get(v as usize).is_none_or(|&b| b == 0) {
                    return None;
                }
                if let Some((en, _)) = r.expect_meter {
                    if en != v {
                        return None;
                    }
                }
                MeterDen { num: v, den: 0 }
            }
            (MeterDen { num, den }, b'0'..=b'9') => {
                let d = den * 10 + (c - b'0') as u16;
                if d == 0
                    || !METER_DENS
                        .iter()
                        .any(|&m| is_dec_prefix(d as u32, m as u32) && r.set.meter_ok(num, m))
                {
                    return None;
                }
                if let Some((_, ed)) = r.expect_meter {
                    if !is_dec_prefix(d as u32, ed as u32) {
                        return None;
                    }
                }
                MeterDen { num, den: d }
            }
            (Tempo { v, nd }, b'0'..=b'9') => {
                if nd >= 3 || (nd == 0 && c == b'0') {
                    return None;
                }
                Tempo { v: v * 10 + (c - b'0') as u16, nd: nd + 1 }
            }
            (Met { n }, b'c' | b'C' | b'|' | b'O' | b'2' | b'3' | b'.') if n < 3 => {
                Met { n: n + 1 }
            }
            (Met { n }, b')') if n > 0 => MetDone,
            (Label { n }, b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9') if n < 6 => Label { n: n + 1 },
            _ => return None,
        })
    }

    /// The token, if it could end here.
    pub fn result(&self, r: &InterpRule) -> Option<Interp> {
        use IState::*;
        if self.generic_only {
            return r.generic.then_some(Interp::Other);
        }
        match self.st {
            Star => Some(Interp::Null),
            Split => Some(Interp::Split),
            Merge => Some(Interp::Merge),
            Term => Some(Interp::Term),
            ClefDone | KeyDone | KSigDone | MetDone => Some(Interp::Other),
            Tempo { nd, .. } if nd > 0 => Some(Interp::Other),
            Label { n } if n > 0 => Some(Interp::Other),
            MeterDen { num, den } if r.set.meter_ok(num, den) => match r.expect_meter {
                Some(m) if m != (num, den) => None,
                _ => Some(Interp::Meter(num, den)),
            },
            Generic => Some(Interp::Other),
            _ if r.generic => Some(Interp::Other),
            _ => None,
        }
    }
}

/// Reads `s` as one whole **kern field (a note, rest or chord; not `.`) under rule `r`.
pub(crate) fn read_kern_field(s: &str, r: &DurRule) -> Option<KernInfo> {
    let mut t = KernTok::new();
    let read =
        !s.is_empty() && s.bytes().all(|b| if b == b' ' { t.space(r) } else { t.step(b, r) });
    (read && t.can_end(r)).then(|| t.info())
}

/// Whether `s` is a whole **kern field the grammar accepts, rhythm aside: a note, rest or chord
/// (not `.`). Reconstruction keeps exactly the tokens the grammar (and so the checker) accepts.
pub(crate) fn kern_field_ok(s: &str) -> bool {
    read_kern_field(s, &DurRule::FREE).is_some()
}

/// Whether `s` is a whole **dynam field the grammar accepts (not `.`).
pub(crate) fn dynam_field_ok(s: &str) -> bool {
    let mut t = DynTok::default();
    !s.is_empty() && s.bytes().all(|b| t.step(b)) && t.can_end()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kern_ok(s: &str, r: &DurRule) -> Option<KernInfo> {
        read_kern_field(s, r)
    }

    fn interp_ok(s: &str, r: &InterpRule) -> Option<Interp> {
        let mut t = InterpTok::new();
        let body = s.strip_prefix('*')?;
        for &b in body.as_bytes() {
            if !t.step(b, r) {
                return None;
            }
        }
        t.result(r)
    }

    const FREE_I: InterpRule = InterpRule {
        signature_ok: true,
        expect_meter: None,
        generic: false,
        set: &DurSet::FULL,
        fams: FAM_ALL,
    };

    #[test]
    fn fillable_matches_brute_force() {
        // Dynamic programming over sums of the accepted durations, up to a half note, for the
        // full set and for vocabularies lacking digits or `.`.
        let limit = (TPW / 2) as usize;
        let vocabs: [&str; 8] =
            ["0123456789./", "12345689./", "48./", "1248.", "36/.", "5", "2.", "179"];
        for (k, voc) in vocabs.iter().enumerate() {
            let v: Vec<char> = voc.chars().collect();
            let set = DurSet::for_vocab(Some(&v));
            assert_eq!(k == 0, std::ptr::eq(set, &FULL_SET), "{voc}");
            let vals: Vec<usize> =
                set.dur.iter().flatten().filter(|&&v| v > 0).map(|&v| v as usize).collect();
            let mut can = vec![false; limit + 1];
            can[0] = true;
            for x in 1..=limit {
                can[x] = vals.iter().any(|&v| v <= x && can[x - v]);
            }
            for (x, &c) in can.iter().enumerate() {
                assert_eq!(set.fillable(x as u64), c, "{voc}: x = {x}");
            }
            for (i, d) in DENOMS.iter().enumerate() {
                if set.mask & (1 << i) != 0 {
                    assert!(set.dur[i][0] > 0 && set.fillable(set.dur[i][0]), "{d}");
                }
            }
            // beyond the table: a few whole measures
            for m in [TPW, TPW * 3 / 4, TPW * 99, TPW * 7 / 8 + 1] {
                let brute = m <= limit as u64 && can[m as usize];
                if m <= limit as u64 {
                    assert_eq!(set.fillable(m), brute);
                }
            }
        }
        // a vocabulary's durations are the full set's it can write
        let mozart = DurSet::for_vocab(Some(&['1', '2', '3', '4', '5', '6', '8', '9', '.']));
        assert_eq!(mozart.ticks(20, 0), None);
        assert_eq!(mozart.ticks(176, 0), None);
        assert_eq!(mozart.ticks(5, 1), Some(TPW * 3 / 10));
        assert_eq!(mozart.ticks(88, 0), Some(TPW / 88));
        assert_eq!(mozart.ticks(128, 1), None);
        let no_dot = DurSet::for_vocab(Some(&['4', '8']));
        assert_eq!(no_dot.ticks(4, 1), None);
        assert!(no_dot.fillable(TPW * 3 / 8) && no_dot.fillable(TPW / 16), "3/48");
        assert!(!no_dot.fillable(TPW / 32));
        let none = DurSet::for_vocab(Some(&['0', '.']));
        assert!(none.mask == 0 && none.fillable(0) && !none.fillable(TPW));
        // meters: written with the vocabulary's digits and `/`, filled with its durations
        let v48 = DurSet::for_vocab(Some(&['4', '8', '.', '/']));
        assert!(v48.meter_ok(4, 4) && v48.meter_ok(4, 8) && v48.meter_ok(88, 8));
        assert!(!v48.meter_ok(3, 4) && !v48.meter_ok(4, 16) && !v48.meter_ok(4, 5));
        let no_slash = DurSet::for_vocab(Some(&['4', '8', '.']));
        assert!(!no_slash.meter_ok(4, 4));
        assert!(DurSet::FULL.meter_ok(99, 64) && !DurSet::FULL.meter_ok(100, 4));
    }

    #[test]
    fn durations() {
        let dur_ticks = |n, d| DurSet::FULL.ticks(n, d);
        assert_eq!(dur_ticks(4, 0), Some(TPW / 4));
        assert_eq!(dur_ticks(4, 1), Some(TPW * 3 / 8));
        assert_eq!(dur_ticks(8, 2), Some(TPW * 7 / 32));
        assert_eq!(dur_ticks(20, 1), Some(TPW * 3 / 40));
        assert_eq!(dur_ticks(128, 1), None);
        assert_eq!(dur_ticks(80, 1), None);
        assert_eq!(dur_ticks(0, 0), None);
        assert_eq!(dur_ticks(13, 0), None);
        assert_eq!(frac(TPW * 3 / 4), "3/4");
        assert_eq!(frac(TPW * 2), "2");
        assert_eq!(meter_ticks(3, 4), Some(TPW * 3 / 4));
        assert_eq!(meter_ticks(3, 5), None);
    }

    #[test]
    fn kern_tokens() {
        let f = DurRule::FREE;
        for ok in [
            "4cc#/",
            "8.GG#\\L",
            "(16dd\\LL",
            "4e/ 4g/ 4cc/",
            "8r",
            "16ccq",
            "ccq/",
            "32ddQ/JJJ",
            "&(4A/&)",
            "4..c",
            "20.g/",
            "176ddd-\\",
            "1DD_",
            "4ryy",
            "4.rr",
            ".16gQ/LL",
            "b8q/",
            ".(32ddQ/LLL",
            "8cccc\\J",
            "16e-\\LK]",
            "(8.bbnt\\L",
            "4G##^\\",
            "2d-zy/",
            "4r;",
            // the most beam signs and signs of one note in the corpus
            "(128AQ\\LLLLLL",
            "128e-/JJJJJ",
            "32A-\\LKK",
            "16cJJkk",
            "&(16A\\JJ&))",
            "4c''`^:;tz",
        ] {
            assert!(kern_ok(ok, &f).is_some(), "{ok}");
        }
        for bad in [
            "",
            "4",
            "4x",
            "4cd",
            "4cC",
            "4ccccc",
            "4c###",
            "4c#-",
            "r",
            "4r 4c",
            "4c 4r",
            "0c",
            "13c",
            "128.c",
            "4c  4e",
            "4c ",
            ".4c",
            "4c...",
            "b8/",
            "c",
            "4.rrr",
            "4c 4e 4g 4b 4d 4f 4a",
            // beam runaways: at most 6 beam signs, never L with J nor K with k
            "128bLJJLLLLLJJJJq",
            "16cLJ",
            "16cJL",
            "16cLLLLLLL",
            "16cKk",
            "16cLLLLLKK",
            "4e^^",
            // at most 8 signs after the pitch
            "4c''`^:;tzX",
        ] {
            assert!(kern_ok(bad, &f).is_none(), "{bad}");
        }
        let i = kern_ok("4c 8e", &f).unwrap();
        assert!(i.mixed);
        assert_eq!(i.ticks, TPW / 4);
        let g = kern_ok("16ccq", &f).unwrap();
        assert!(g.grace && g.ticks == 0);
    }

    #[test]
    fn kern_rhythm_rules() {
        let quarter_left = DurRule {
            fit: Some(TPW / 4),
            grace: GraceRule::Forbid,
            chord_match: true,
            quirks: false,
            set: &DurSet::FULL,
        };
        assert!(kern_ok("4c", &quarter_left).is_some());
        assert!(kern_ok("8.c", &quarter_left).is_some());
        assert!(kern_ok("2c", &quarter_left).is_none());
        assert!(kern_ok("4.c", &quarter_left).is_none());
        assert!(kern_ok("4c 4e", &quarter_left).is_some());
        assert!(kern_ok("4c 8e", &quarter_left).is_none());
        assert!(kern_ok("4cq", &quarter_left).is_none());
        // a 12th leaves 1/6, fillable by 12ths; a 176th leaves a fillable rest too
        assert!(kern_ok("12c", &quarter_left).is_some());
        // digits that cannot lead to a fitting note are refused at once
        let mut t = KernTok::new();
        assert!(!t.step(b'2', &quarter_left) || { t.step(b'4', &quarter_left) });
        let undecided = DurRule {
            fit: Some(TPW / 16),
            grace: GraceRule::Allow,
            chord_match: true,
            quirks: false,
            set: &DurSet::FULL,
        };
        assert!(kern_ok("8c", &undecided).is_none(), "too long and not grace");
        assert!(kern_ok("8cq", &undecided).is_some_and(|i| i.grace));
        assert!(kern_ok("4cq", &undecided).is_none(), "grace notes are written 8 or shorter");
        assert!(kern_ok("16cq", &undecided).is_some_and(|i| i.grace));
        assert!(kern_ok("16c", &undecided).is_some_and(|i| !i.grace));
        assert!(kern_ok("16.cq", &undecided).is_none());
        let grace = DurRule {
            fit: Some(TPW / 4),
            grace: GraceRule::Require,
            chord_match: true,
            quirks: false,
            set: &DurSet::FULL,
        };
        assert!(kern_ok("4c", &grace).is_none());
        assert!(kern_ok("8cq 8eq", &grace).is_some());
        assert!(kern_ok("8cq 8e", &grace).is_none());
        assert!(kern_ok("4r", &grace).is_none());
    }

    #[test]
    fn dynam_tokens() {
        for ok in ["p", "ff", "sf", "<", "[ >", "ff>]", "pyy", "<X", "mf"] {
            assert!(dynam_field_ok(ok), "{ok}");
        }
        for bad in ["", "pppppp", "p ", "4", "q", "p  f", "Xp"] {
            assert!(!dynam_field_ok(bad), "{bad}");
        }
    }

    #[test]
    fn interpretations() {
        for (s, want) in [
            ("*", Interp::Null),
            ("*^", Interp::Split),
            ("*v", Interp::Merge),
            ("*-", Interp::Term),
            ("*M3/4", Interp::Meter(3, 4)),
            ("*M12/32", Interp::Meter(12, 32)),
            ("*clefF4", Interp::Other),
            ("*k[f#c#]", Interp::Other),
            ("*k[]", Interp::Other),
            ("*E-:", Interp::Other),
            ("*c#:", Interp::Other),
            ("*c:", Interp::Other),
            ("*MM120", Interp::Other),
            ("*met(C|)", Interp::Other),
            ("*>Var2", Interp::Other),
        ] {
            assert_eq!(interp_ok(s, &FREE_I), Some(want), "{s}");
        }
        for bad in
            ["*M3/5", "*M0/4", "*clefG", "*k[f]", "*>", "*staff2", "*^^", "*MM", "*M3/", "*x"]
        {
            assert_eq!(interp_ok(bad, &FREE_I), None, "{bad}");
        }
        let generic = InterpRule { generic: true, ..FREE_I };
        assert_eq!(interp_ok("*staff1/2", &generic), Some(Interp::Other));
        assert_eq!(interp_ok("*>[A,A,B]", &generic), Some(Interp::Other));
        let expect = InterpRule { expect_meter: Some((3, 4)), ..FREE_I };
        assert_eq!(interp_ok("*M3/4", &expect), Some(Interp::Meter(3, 4)));
        assert_eq!(interp_ok("*M3/8", &expect), None);
        assert_eq!(interp_ok("*M2/4", &expect), None);
        // Mid-measure: no meter and no key signature (verovio refuses a key signature inside an
        // open beam or tuplet), while tempo, clefs and key designations may come.
        let mid_measure = InterpRule { signature_ok: false, ..FREE_I };
        assert_eq!(interp_ok("*M3/4", &mid_measure), None);
        assert_eq!(interp_ok("*k[f#]", &mid_measure), None);
        assert_eq!(interp_ok("*MM60", &mid_measure), Some(Interp::Other));
        assert!(interp_ok("*clefF4", &mid_measure).is_some());
        assert!(interp_ok("*k[f#]", &FREE_I).is_some());
    }
}
