//! Reconstruction's last step: the score around the sample's lines (header, numbered
//! barlines, kept and repaired lines, spine paths, the end).

use super::key::infer_key;
use super::layout::{
    choose_layout, collect_evidence, deciding_line, has_manipulator, Kind, Layout, Track,
};
use super::lines::{dynam_token, grace_as_q, interp_class, kern_token, Line, RawLine};
use super::{ReconstructReport, ScoreOptions};
use crate::kern::lex::Interp;
use crate::kern::limits::MAX_RECONSTRUCTED_COLUMNS as MAX_COLS;
use crate::kern::meter::Meter;
use crate::kern::spine::{reshape, SpineOp};

struct HeaderSettings {
    clefs: Vec<Option<String>>,
    key: Option<String>,
    /// The key designation (`*G:`).
    key_name: Option<String>,
    meter: Option<String>,
    tempo: Option<String>,
    /// (line index in the segment, column) of tokens moved into the header.
    absorbed: Vec<(usize, usize)>,
}

/// Clef, key signature, key, meter and tempo tokens before the first data line (and before any
/// spine manipulation), to be written in the header instead.
fn header_settings(
    seg: &[Line<'_>],
    from: usize,
    cols: &[usize],
    ntracks: usize,
    layout: &Layout,
) -> HeaderSettings {
    let mut h = HeaderSettings {
        clefs: vec![None; ntracks],
        key: None,
        key_name: None,
        meter: None,
        tempo: None,
        absorbed: Vec::new(),
    };
    for (i, l) in seg.iter().enumerate().skip(from) {
        match &l.raw {
            RawLine::Data(_) => break,
            RawLine::Interp(f) if l.truncated || has_manipulator(f) => break,
            RawLine::Interp(f) if f.len() == cols.len() => {
                for (c, (t, &track)) in f.iter().zip(cols.iter()).enumerate() {
                    let tok = t.trim().to_string();
                    match interp_class(t) {
                        Some(Interp::Clef)
                            if layout.tracks.get(track).is_some_and(|t| t.kind == Kind::Kern) =>
                        {
                            if let Some(slot) = h.clefs.get_mut(track) {
                                *slot = Some(tok);
                            }
                        }
                        Some(Interp::KeySignature) => h.key = Some(tok),
                        Some(Interp::Key) => h.key_name = Some(tok),
                        Some(Interp::Meter(_)) => h.meter = Some(tok),
                        Some(Interp::Tempo) => h.tempo = Some(tok),
                        _ => continue,
                    }
                    h.absorbed.push((i, c));
                }
            }
            _ => {}
        }
    }
    h
}

fn row<S: AsRef<str>>(tokens: &[S]) -> String {
    let mut s = String::new();
    for (i, t) in tokens.iter().enumerate() {
        if i > 0 {
            s.push('\t');
        }
        s.push_str(t.as_ref());
    }
    s
}

fn same_row(tok: &str, n: usize) -> String {
    row(&vec![tok; n])
}

fn clean_title(t: &str) -> String {
    t.chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>().trim().to_string()
}

/// What the header writes where the sample itself says nothing before its music: the
/// options' meter, else the one its first measure sets, else 4/4; the key its notes need.
pub(super) struct Defaults {
    pub meter: Meter,
    /// The key signature and key (`*k[f#]`, `*G:`).
    pub key: Option<(String, String)>,
}

fn option_tempo(opts: &ScoreOptions) -> Option<u32> {
    opts.tempo_bpm.filter(|t| (1..=999).contains(t))
}

/// Reference records and the interpretations of the unsplit spines.
fn header_lines(
    tracks: &[Track],
    opts: &ScoreOptions,
    h: &HeaderSettings,
    d: &Defaults,
) -> Vec<String> {
    let mut out = vec!["!!!COM: kernrnn (char-level LSTM)".to_string()];
    if let Some(t) = opts.title.as_deref().map(clean_title).filter(|t| !t.is_empty()) {
        out.push(format!("!!!OTL: {t}"));
    }
    let n = tracks.len();
    let excl: Vec<&str> =
        tracks.iter().map(|t| if t.kind == Kind::Kern { "**kern" } else { "**dynam" }).collect();
    out.push(row(&excl));
    let staff: Vec<String> = tracks.iter().map(|t| format!("*staff{}", t.staff)).collect();
    out.push(row(&staff));
    let only_one_kern = tracks.iter().filter(|t| t.kind == Kind::Kern).count() == 1;
    let clefs: Vec<String> = tracks
        .iter()
        .enumerate()
        .map(|(i, t)| match (t.kind, h.clefs.get(i).cloned().flatten()) {
            (Kind::Dynam, _) => "*".to_string(),
            (Kind::Kern, Some(c)) => c,
            (Kind::Kern, None) if t.staff == 2 && !only_one_kern => "*clefF4".to_string(),
            (Kind::Kern, None) => "*clefG2".to_string(),
        })
        .collect();
    out.push(row(&clefs));
    let (key, key_name) = match (&h.key, &d.key) {
        (Some(k), _) => (k.clone(), h.key_name.clone()),
        (None, Some((k, name))) => (k.clone(), h.key_name.clone().or(Some(name.clone()))),
        (None, None) => ("*k[]".to_string(), h.key_name.clone()),
    };
    out.push(same_row(&key, n));
    if let Some(name) = key_name {
        out.push(same_row(&name, n));
    }
    let meter = h.meter.clone().unwrap_or_else(|| format!("*M{}", d.meter));
    out.push(same_row(&meter, n));
    let tempo = match (option_tempo(opts), &h.tempo) {
        (Some(t), _) => format!("*MM{t}"),
        (None, Some(t)) => t.clone(),
        (None, None) => "*MM120".to_string(),
    };
    out.push(same_row(&tempo, n));
    out
}

/// `*^` lines that open the splits of `layout` from its unsplit spines.
fn opening_splits(layout: &Layout) -> Vec<String> {
    let mut out = Vec::new();
    let mut have = vec![1usize; layout.tracks.len()];
    while have.iter().zip(layout.split.iter()).any(|(h, w)| h < w) {
        let mut toks: Vec<&str> = Vec::new();
        for (h, &w) in have.iter_mut().zip(layout.split.iter()) {
            let n = *h;
            for j in 0..n {
                toks.push(if j == 0 && n < w { "*^" } else { "*" });
            }
            if n < w {
                *h += 1;
            }
        }
        out.push(row(&toks));
    }
    out
}

/// Rest durations filling one measure of `num/den`.
fn measure_rests(meter: Meter) -> Vec<String> {
    let (num, den) = (meter.numerator() as u32, meter.denominator() as u32);
    let g = gcd(num, den);
    let (p, q) = (num / g, den / g);
    if p == 1 && q.is_power_of_two() {
        vec![format!("{q}r")]
    } else if p == 3 && q >= 2 && q.is_power_of_two() {
        vec![format!("{}.r", q / 2)]
    } else {
        (0..num).map(|_| format!("{den}r")).collect()
    }
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a.max(1)
    } else {
        gcd(b, a % b)
    }
}

fn header_meter(h: &HeaderSettings, d: &Defaults) -> Meter {
    h.meter
        .as_deref()
        .and_then(|m| m.strip_prefix("*M"))
        .and_then(|m| Meter::parse(m).ok())
        .unwrap_or(d.meter)
}

pub(super) fn minimal_score(
    opts: &ScoreOptions,
    d: &Defaults,
    report: &mut ReconstructReport,
) -> String {
    let layout = Layout::default_piano();
    let h = HeaderSettings {
        clefs: vec![None; 3],
        key: None,
        key_name: None,
        meter: None,
        tempo: None,
        absorbed: Vec::new(),
    };
    let mut out = header_lines(&layout.tracks, opts, &h, d);
    out.push(same_row("=1-", 3));
    for r in measure_rests(d.meter) {
        out.push(row(&[r.as_str(), r.as_str(), "."]));
    }
    out.push(same_row("==", 3));
    out.push(same_row("*-", 3));
    report.spines = 3;
    report.measures = 1;
    finish(out)
}

fn finish(lines: Vec<String>) -> String {
    let mut s = lines.join("\n");
    s.push('\n');
    s
}

struct Builder<'o> {
    out: Vec<String>,
    tracks: Vec<Track>,
    /// Track of each spine in force.
    cols: Vec<usize>,
    any_music: bool,
    music_since_bar: bool,
    opened: bool,
    next_bar: u32,
    last_bar: Option<usize>,
    /// The spines in force at the last barline.
    last_bar_cols: Vec<usize>,
    /// Tokens are read in the editions dialect.
    editions: bool,
    report: &'o mut ReconstructReport,
}

impl Builder<'_> {
    fn kind(&self, col: usize) -> Kind {
        self.cols.get(col).and_then(|&t| self.tracks.get(t)).map_or(Kind::Kern, |t| t.kind)
    }

    fn dropped(&mut self) {
        self.report.dropped_lines += 1;
    }

    fn bar(&mut self) {
        let n = self.cols.len();
        if !self.any_music {
            if !self.opened {
                self.out.push(same_row("=1-", n));
                self.opened = true;
                self.next_bar = 2;
            }
            return;
        }
        if !self.music_since_bar {
            return;
        }
        self.out.push(same_row(&format!("={}", self.next_bar), n));
        self.last_bar = Some(self.out.len() - 1);
        self.last_bar_cols = self.cols.clone();
        self.next_bar = self.next_bar.saturating_add(1);
        self.music_since_bar = false;
    }

    fn data(&mut self, fields: &[&str], truncated: bool) {
        let n = self.cols.len();
        if fields.len().abs_diff(n) > 1 || (truncated && fields.len() != n) {
            return self.dropped();
        }
        let mut toks: Vec<String> = Vec::with_capacity(n);
        let mut repaired = false;
        for c in 0..n {
            let t = fields.get(c).copied().unwrap_or(".");
            let norm = match self.kind(c) {
                Kind::Kern => kern_token(t, self.editions).map(|k| grace_as_q(&k)),
                Kind::Dynam => dynam_token(t),
            };
            match norm {
                Some(s) => {
                    repaired |= s != t;
                    toks.push(s);
                }
                None => {
                    repaired = true;
                    toks.push(".".to_string());
                }
            }
        }
        if (truncated && repaired) || toks.iter().all(|t| t == ".") {
            return self.dropped();
        }
        self.out.push(row(&toks));
        if !self.music_since_bar {
            self.report.measures += 1;
        }
        self.music_since_bar = true;
        self.any_music = true;
    }

    fn interp(&mut self, fields: &[&str], truncated: bool, absorbed: &[usize]) {
        let n = self.cols.len();
        if fields.len().abs_diff(n) > 1 || (truncated && fields.len() != n) {
            return self.dropped();
        }
        let mut ops: Vec<SpineOp> = Vec::with_capacity(n);
        let mut tandem: Vec<String> = Vec::with_capacity(n);
        for c in 0..n {
            let t = fields.get(c).map_or("*", |t| t.trim());
            let class = interp_class(t);
            if truncated && class.is_none() {
                return self.dropped();
            }
            let class = if absorbed.contains(&c) { Some(Interp::Null) } else { class };
            match class {
                Some(Interp::Split) => {
                    ops.push(SpineOp::Split);
                    tandem.push("*".to_string());
                }
                Some(Interp::Merge) => {
                    ops.push(SpineOp::Merge);
                    tandem.push("*".to_string());
                }
                Some(Interp::Null | Interp::Term | Interp::Generic) | None => {
                    ops.push(SpineOp::Keep);
                    tandem.push("*".to_string());
                }
                Some(_) => {
                    ops.push(SpineOp::Keep);
                    tandem.push(t.to_string());
                }
            }
        }
        let has_tandem = tandem.iter().any(|t| t != "*");
        let has_manip = ops.iter().any(|k| *k != SpineOp::Keep);
        if has_tandem {
            self.out.push(row(&tandem));
        }
        if has_manip {
            self.manipulate(ops);
        }
        let had_content = fields.iter().any(|t| t.trim() != "*");
        if had_content && !has_tandem && !has_manip && absorbed.is_empty() {
            // Nothing usable was left of it.
            self.dropped();
        }
    }

    /// Applies `*^`/`*v` tokens (one per spine in force), keeping only valid ones.
    fn manipulate(&mut self, mut ops: Vec<SpineOp>) {
        let mut first = true;
        loop {
            let n = self.cols.len();
            // Splits, within the spine limit (only on the first line).
            let mut splits = vec![false; n];
            let mut room = MAX_COLS.saturating_sub(n);
            if first {
                for (s, k) in splits.iter_mut().zip(ops.iter()) {
                    if *k == SpineOp::Split && room > 0 {
                        *s = true;
                        room -= 1;
                    }
                }
            }
            // Merge groups: runs of `*v` over spines of one kind (as the grammar allows: the
            // merged spine keeps the first one's staff), two or more long.
            let mut groups: Vec<(usize, usize)> = Vec::new();
            let mut i = 0;
            while i < n {
                let is_merge = |j: usize| ops.get(j) == Some(&SpineOp::Merge);
                if is_merge(i) {
                    let kind = self.kind(i);
                    let mut j = i;
                    while j < n && is_merge(j) && self.kind(j) == kind {
                        j += 1;
                    }
                    if j - i >= 2 {
                        groups.push((i, j - i));
                    }
                    i = j;
                } else {
                    i += 1;
                }
            }
            // Groups that touch the previous placed group wait for the next line, and so do all
            // of them when the line splits (a line either splits or merges, as the checker and
            // the grammar require).
            let any_split = splits.iter().any(|&s| s);
            let mut placed: Vec<(usize, usize)> = Vec::new();
            let mut deferred: Vec<(usize, usize)> = Vec::new();
            for g in groups {
                match placed.last() {
                    _ if any_split => deferred.push(g),
                    Some(&(a, len)) if a + len == g.0 => deferred.push(g),
                    _ => placed.push(g),
                }
            }
            if placed.is_empty() && !any_split {
                return;
            }
            let mut toks = vec!["*"; n];
            for (t, &s) in toks.iter_mut().zip(splits.iter()) {
                if s {
                    *t = "*^";
                }
            }
            for &(a, len) in &placed {
                for t in toks.iter_mut().skip(a).take(len) {
                    *t = "*v";
                }
            }
            self.out.push(row(&toks));
            // New spines in force, and where each old column went.
            let mut new_cols = Vec::with_capacity(n + 1);
            let mut new_index = vec![0usize; n];
            let op = |c: usize| {
                if splits.get(c) == Some(&true) {
                    SpineOp::Split
                } else if placed.iter().any(|&(a, len)| (a..a + len).contains(&c)) {
                    SpineOp::Merge
                } else {
                    SpineOp::Keep
                }
            };
            reshape(n, op, |old, copies| {
                let track = self.cols.get(old.start).copied().unwrap_or(0);
                for j in old {
                    if let Some(slot) = new_index.get_mut(j) {
                        *slot = new_cols.len();
                    }
                }
                for _ in 0..copies {
                    new_cols.push(track);
                }
            });
            self.cols = new_cols;
            if deferred.is_empty() {
                return;
            }
            ops = vec![SpineOp::Keep; self.cols.len()];
            for (a, len) in deferred {
                let start = new_index.get(a).copied().unwrap_or(0);
                for k in ops.iter_mut().skip(start).take(len) {
                    *k = SpineOp::Merge;
                }
            }
            first = false;
        }
    }

    fn close(&mut self, meter: Meter) {
        if !self.any_music {
            let rests = measure_rests(meter);
            for r in rests {
                let toks: Vec<&str> = (0..self.cols.len())
                    .map(|c| if self.kind(c) == Kind::Kern { r.as_str() } else { "." })
                    .collect();
                self.out.push(row(&toks));
            }
            self.report.measures += 1;
        } else if let Some(i) =
            self.last_bar.take().filter(|&i| !self.music_since_bar && i < self.out.len())
        {
            // The last barline has no music after it: the final `==` takes its place, and the
            // interpretations after it (a meter change, splits) go with it.
            self.out.truncate(i);
            self.cols = std::mem::take(&mut self.last_bar_cols);
        }
        let n = self.cols.len();
        self.out.push(same_row("==", n));
        self.out.push(same_row("*-", n));
    }
}

pub(super) fn build_score(
    seg: &[Line<'_>],
    opts: &ScoreOptions,
    meter: Meter,
    report: &mut ReconstructReport,
) -> String {
    let editions = opts.dialect.editions;
    let d = Defaults { meter, key: infer_key(seg, editions) };
    let Some((from, f0)) = deciding_line(seg, editions) else {
        return minimal_score(opts, &d, report);
    };
    let rest = seg.get(from..).unwrap_or(&[]);
    let ev = collect_evidence(rest, f0, editions);
    let layout = choose_layout(f0, &ev);
    let cols = layout.columns();
    let h = header_settings(seg, from, &cols, layout.tracks.len(), &layout);
    let mut out = header_lines(&layout.tracks, opts, &h, &d);
    out.extend(opening_splits(&layout));
    report.spines = layout.tracks.len();
    let mut b = Builder {
        out,
        tracks: layout.tracks.clone(),
        cols,
        any_music: false,
        music_since_bar: false,
        opened: false,
        next_bar: 1,
        last_bar: None,
        last_bar_cols: Vec::new(),
        editions,
        report,
    };
    for (i, l) in seg.iter().enumerate() {
        match &l.raw {
            RawLine::Blank | RawLine::Terminator => {}
            RawLine::Bar => b.bar(),
            _ if i < from => b.dropped(),
            RawLine::Comment | RawLine::Garbage => b.dropped(),
            RawLine::Data(f) => b.data(f, l.truncated),
            RawLine::Interp(f) => {
                // `absorbed` is sorted by line.
                let lo = h.absorbed.partition_point(|&(li, _)| li < i);
                let hi = h.absorbed.partition_point(|&(li, _)| li <= i);
                let absorbed: Vec<usize> =
                    h.absorbed.get(lo..hi).unwrap_or(&[]).iter().map(|&(_, c)| c).collect();
                b.interp(f, l.truncated, &absorbed);
            }
        }
    }
    b.close(header_meter(&h, &d));
    // the signifiers the model's corpus declared, which its tokens may use
    b.out.extend(opts.dialect.signifiers.iter().cloned());
    finish(b.out)
}
