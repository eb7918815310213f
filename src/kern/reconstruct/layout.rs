//! Reconstruction's second step: which spines the sample's columns are (the layout), read from
//! the evidence of its first lines.

use super::lines::{dynam_token, interp_class, is_music, is_pitch, kern_token, Line, RawLine};
use crate::kern::limits::MAX_RECONSTRUCTED_COLUMNS as MAX_COLS;
use crate::kern::spine::{self, reshape, SpineOp};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Kern,
    Dynam,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Track {
    pub kind: Kind,
    pub staff: u8,
}

pub(super) const K2: Track = Track { kind: Kind::Kern, staff: 2 };
pub(super) const K1: Track = Track { kind: Kind::Kern, staff: 1 };
pub(super) const D2: Track = Track { kind: Kind::Dynam, staff: 2 };
pub(super) const D1: Track = Track { kind: Kind::Dynam, staff: 1 };

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Layout {
    pub tracks: Vec<Track>,
    /// Sub-spines of each track at the start of the text.
    pub split: Vec<usize>,
}

impl Layout {
    pub fn default_piano() -> Layout {
        Layout { tracks: vec![K2, K1, D1], split: vec![1, 1, 1] }
    }

    /// Track index of each column at the start.
    pub fn columns(&self) -> Vec<usize> {
        self.split.iter().enumerate().flat_map(|(t, &n)| std::iter::repeat_n(t, n)).collect()
    }
}

/// What the first lines of the text say about each starting column.
#[derive(Clone, Debug, Default)]
pub(super) struct Evidence {
    /// Per column: (tokens with notes or rests, tokens with dynamics,
    /// notes below middle C, notes from middle C up).
    cols: Vec<(u32, u32, u32, u32)>,
    /// Pairs of starting columns that a `*v` joined: they belong to the same spine.
    merged: Vec<(usize, usize)>,
    /// Per column: its kind as the grammar decides it for a column it leaves undecided (see
    /// [`grammar_kind`]): the first note or rest makes it kern, the first dynamic, or a `.` on a
    /// line without grace notes, dynam.
    first: Vec<Option<Kind>>,
    /// The tokens were read in the editions dialect (its layouts leave every column but the
    /// first to its tokens).
    editions: bool,
}

/// The kind the sampling grammar gives starting column `i` of `f0` (`spine::first_line_kind`), or for a
/// column it leaves undecided the kind its first token decided (`first`). A layout that
/// disagrees would turn a constrained sample's rhythm into nonsense, so it is never chosen
/// when another fits.
fn grammar_kind(f0: usize, i: usize, first: Option<Kind>, editions: bool) -> Option<Kind> {
    match spine::first_line_kind(f0, i, editions) {
        spine::Kind::Kern => Some(Kind::Kern),
        spine::Kind::Dynam => Some(Kind::Dynam),
        _ => first,
    }
}

fn split_cost(track: Track, extra: usize) -> u64 {
    let e = extra as u64;
    let tri = e * e.saturating_sub(1) / 2;
    match track.kind {
        Kind::Kern => 100 * e + 150 * tri + if track.staff == 2 { 10 * e } else { 0 },
        Kind::Dynam => 250 * e + 150 * tri,
    }
}

/// The cheapest reading of `f0` columns (with evidence) as a corpus layout with open splits.
/// Costs: 400 for a column with tokens of the wrong kind for its spine, plus 50 per token, 300 per merge across spines, 100 and
/// up per open split, a layout prior, and up to 9 per kern column whose register suits the
/// other hand.
pub(super) fn choose_layout(f0: usize, ev: &Evidence) -> Layout {
    let editions = ev.editions;
    // The corpus's layouts, then one staff with dynamics (which the grammar can start, and
    // the corpus never does), then one staff alone.
    let bases: [(&[Track], u64); 5] = [
        (&[K2, K1, D1], 0),
        (&[K2, D2, K1, D1], 30),
        (&[K2, K1], 60),
        (&[K1, D1], 450),
        (&[K1], 500),
    ];
    let mut best: Option<(u64, Layout)> = None;
    for (tracks, prior) in bases {
        if tracks.len() > f0 {
            continue;
        }
        let mut comp = vec![1usize; tracks.len()];
        compositions(f0, 0, &mut comp, &mut |split| {
            let mut cost = prior;
            let mut track_of = Vec::with_capacity(f0);
            let two_hands = tracks.iter().filter(|t| t.kind == Kind::Kern).count() > 1;
            for (ti, (t, &n)) in tracks.iter().zip(split.iter()).enumerate() {
                cost += split_cost(*t, n.saturating_sub(1));
                for _ in 0..n {
                    let (k, d, low, high) =
                        ev.cols.get(track_of.len()).copied().unwrap_or_default();
                    let wrong = u64::from(if t.kind == Kind::Kern { d } else { k });
                    if wrong > 0 {
                        cost += 400 + 50 * wrong;
                    }
                    let col = track_of.len();
                    if grammar_kind(f0, col, ev.first.get(col).copied().flatten(), editions)
                        .is_some_and(|g| g != t.kind)
                    {
                        cost += 100_000;
                    }
                    let pitched = u64::from(low) + u64::from(high);
                    if t.kind == Kind::Kern && two_hands && pitched > 0 {
                        let against = if t.staff == 2 { high } else { low };
                        cost += (9 * u64::from(against) + pitched / 2) / pitched;
                    }
                    track_of.push(ti);
                }
            }
            cost += 300
                * ev.merged.iter().filter(|(a, b)| track_of.get(*a) != track_of.get(*b)).count()
                    as u64;
            if best.as_ref().is_none_or(|(c, _)| cost < *c) {
                best = Some((cost, Layout { tracks: tracks.to_vec(), split: split.to_vec() }));
            }
        });
    }
    match best {
        Some((cost, _)) if cost >= 100_000 => {
            grammar_layout(f0, ev).unwrap_or_else(Layout::default_piano)
        }
        Some((_, l)) => l,
        None => Layout::default_piano(),
    }
}

/// When no corpus layout has the column kinds the grammar gave (it can start a piece with
/// `kern dynam kern dynam dynam kern kern dynam`, say): one spine per column, of that kind; the
/// first kern spine is the left hand (staff 2, bass clef), the others staff 1; a dynam spine
/// takes the staff of the kern spine to its left.
fn grammar_layout(f0: usize, ev: &Evidence) -> Option<Layout> {
    let kinds: Vec<Kind> = (0..f0)
        .map(|i| grammar_kind(f0, i, ev.first.get(i).copied().flatten(), ev.editions))
        .collect::<Option<_>>()?;
    let mut staff = 2;
    let mut kerns = 0;
    let tracks = kinds
        .iter()
        .map(|&kind| {
            if kind == Kind::Kern {
                staff = if kerns == 0 { 2 } else { 1 };
                kerns += 1;
            }
            Track { kind, staff }
        })
        .collect();
    Some(Layout { tracks, split: vec![1; f0] })
}

/// Calls `f` with every way of writing `total` as `comp.len()` positive parts.
fn compositions(total: usize, i: usize, comp: &mut Vec<usize>, f: &mut dyn FnMut(&[usize])) {
    let n = comp.len();
    if i + 1 == n {
        let used: usize = comp.iter().take(i).sum();
        if total > used {
            if let Some(c) = comp.get_mut(i) {
                *c = total - used;
            }
            f(comp);
        }
        return;
    }
    if i >= n {
        return;
    }
    let used: usize = comp.iter().take(i).sum();
    let remaining_parts = n - i - 1;
    let mut k = 1;
    while used + k + remaining_parts <= total {
        if let Some(c) = comp.get_mut(i) {
            *c = k;
        }
        compositions(total, i + 1, comp, f);
        k += 1;
    }
}

fn data_line_plausible(f: &[&str], editions: bool) -> bool {
    f.iter().all(|t| kern_token(t, editions).is_some() || dynam_token(t).is_some())
        && f.iter().any(|t| t.trim() != ".")
}

/// Index of the first well-formed line and its field count.
pub(super) fn deciding_line(seg: &[Line<'_>], editions: bool) -> Option<(usize, usize)> {
    let well = seg.iter().position(|l| match &l.raw {
        _ if l.truncated => false,
        RawLine::Interp(f) => {
            (2..=MAX_COLS).contains(&f.len()) && f.iter().all(|t| interp_class(t).is_some())
        }
        RawLine::Data(f) => (2..=MAX_COLS).contains(&f.len()) && data_line_plausible(f, editions),
        _ => false,
    });
    let well = well.or_else(|| {
        seg.iter().position(|l| match &l.raw {
            RawLine::Data(f) => f.iter().any(|t| is_music(kern_token(t, editions).as_deref())),
            _ => false,
        })
    })?;
    let n = match &seg.get(well)?.raw {
        RawLine::Interp(f) | RawLine::Data(f) => f.len().clamp(1, MAX_COLS),
        _ => return None,
    };
    Some((well, n))
}

pub(super) fn has_manipulator(f: &[&str]) -> bool {
    f.iter().any(|t| matches!(t.trim(), "*^" | "*v"))
}

/// Evidence from the lines from the deciding line on, following the columns through `*^`/`*v`.
pub(super) fn collect_evidence(seg: &[Line<'_>], f0: usize, editions: bool) -> Evidence {
    let mut ev = Evidence {
        cols: vec![(0, 0, 0, 0); f0],
        merged: Vec::new(),
        first: vec![None; f0],
        editions,
    };
    // Starting column each column in force comes from (None once columns were mixed).
    let mut origin: Vec<Option<usize>> = (0..f0).map(Some).collect();
    let mut seen = 0;
    for l in seg {
        match &l.raw {
            RawLine::Interp(f) if has_manipulator(f) => {
                if f.len() != origin.len() {
                    break;
                }
                let mut next = Vec::with_capacity(origin.len() + 1);
                let ops: Vec<SpineOp> = f.iter().map(|t| SpineOp::of_token(t)).collect();
                reshape(
                    f.len(),
                    |i| ops[i],
                    |old, copies| {
                        let o = origin.get(old.start).copied().flatten();
                        let mut all_same = true;
                        for j in old {
                            let oj = origin.get(j).copied().flatten();
                            match (o, oj) {
                                (Some(a), Some(b)) if a != b && ev.merged.len() < 64 => {
                                    ev.merged.push((a, b))
                                }
                                _ => {}
                            }
                            all_same &= oj == o;
                        }
                        for _ in 0..copies {
                            next.push(if all_same { o } else { None });
                        }
                    },
                );
                if next.len() > MAX_COLS {
                    break;
                }
                origin = next;
            }
            RawLine::Data(f) if f.len() == origin.len() => {
                let grace_line = f.iter().any(|t| t.contains(['q', 'Q']));
                for (o, t) in origin.iter().zip(f.iter()) {
                    let kern = kern_token(t, editions).filter(|k| k != ".");
                    let dynamic = kern.is_none() && is_music(dynam_token(t).as_deref());
                    if let Some(first) = o.and_then(|o| ev.first.get_mut(o)).filter(|k| k.is_none())
                    {
                        *first = if kern.is_some() {
                            Some(Kind::Kern)
                        } else if dynamic || (t.trim() == "." && !grace_line) {
                            Some(Kind::Dynam)
                        } else {
                            None
                        };
                    }
                    let Some(e) = o.and_then(|o| ev.cols.get_mut(o)) else { continue };
                    match kern {
                        Some(k) => {
                            e.0 += 1;
                            for c in k.bytes() {
                                if c.is_ascii_uppercase() && is_pitch(c) {
                                    e.2 += 1;
                                } else if c.is_ascii_lowercase() && is_pitch(c) {
                                    e.3 += 1;
                                }
                            }
                        }
                        None => {
                            if dynamic {
                                e.1 += 1;
                            }
                        }
                    }
                }
                seen += 1;
                if seen >= 200 {
                    break;
                }
            }
            _ => {}
        }
    }
    ev
}
