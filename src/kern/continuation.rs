//! Continuing a real score: where the given music ends (its end, or the barline of a chosen
//! measure), the prepared text the model is primed with, the spines, meter and barline number
//! in force there; then the continued score, which is the given music byte for byte, a mark
//! where the model takes over, the model's measures in the same spines, and the score's end.
//!
//! Beside reconstruction: it reads only lines, the recipe ([`prepare_text`]) and meters. The
//! model's lines are the grammar's (the sampler is primed with [`Continuation::prepared`]), so
//! they go into the score as they are; only barlines are written (`@` becomes `=N`) and grace
//! notes take `q` (as reconstruction writes them, for humlib).

use super::meter::{meter_of_token, Meter};
use super::prep::prepare_text;
use super::spine::ScoreSpines;

/// Why a text cannot be continued.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ContinueError {
    #[error("this is not a **kern score: no line starts a **kern spine (`**kern`)")]
    NotKern,
    #[error("this score has no music to continue: it has no line of notes or rests")]
    NoMusic,
    #[error("this score has no measure {asked}: its numbered barlines are {numbers}")]
    NoMeasure { asked: u32, numbers: String },
    #[error(
        "measure {0} has no barline the score starts it with (`={0}`): choose a measure after its first"
    )]
    FirstMeasure(u32),
    /// The recipe keeps whole measures only: before the cut there is none (a pickup alone).
    #[error(
        "the score has no complete measure of music {0} for the model to go on from: choose a later measure"
    )]
    NoPrime(String),
    #[error("at {at} the score has {spines} spines in force; the model writes at most {max}")]
    Spines { at: String, spines: usize, max: usize },
    #[error("the grammar cannot read this score's music the way the model writes **kern ({0})")]
    Unreadable(String),
    #[error("a continuation {0}")]
    Refused(&'static str),
}

/// A score cut where the model takes over.
#[derive(Clone, Debug, PartialEq)]
pub struct Continuation {
    /// The score's text before the cut, exactly as given (its line ends included).
    pub given: String,
    /// The recipe's text of the given music, ending with the barline (`@`) of the cut: what the
    /// model and the grammar read before they write.
    pub prepared: String,
    /// The meter in force at the cut (the last `*M` before it), if the score sets one.
    pub meter: Option<Meter>,
    /// The number of the measure the model writes first, when the score numbers its barlines.
    pub measure: Option<u32>,
    /// The barline the model's music starts after: the score's own line at a measure's barline;
    /// at the score's end, a double barline (`=12||`), which the checker and humlib read as a
    /// section's edge, so a short last measure (the rest of a pickup) stays a valid one.
    pub barline: String,
    /// The exclusive interpretation of each spine in force at the cut (`**kern`, `**dynam`).
    pub spines: Vec<String>,
    /// The score's reference records after the cut (`!!!RDF**kern: ...`): the continued score
    /// ends with them, as the given one does.
    pub closing: Vec<String>,
}

/// The continued score and what went into it.
#[derive(Clone, Debug, PartialEq)]
pub struct Continued {
    pub kern: String,
    /// Measures the model wrote (complete ones: a last measure it did not finish is left out).
    pub measures: usize,
    /// Measures the model wrote beyond `max_measures` (0: the score holds all of them).
    pub measures_left_out: usize,
}

/// The number a barline token carries (`=12`, `=12a`, `=12:|!`), if any.
fn barline_number(token: &str) -> Option<u32> {
    let digits: String =
        token.trim_start_matches('=').chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

/// A barline of the score being read: where the cut may fall.
struct Bar {
    /// The byte offset of its line.
    at: usize,
    /// The measure it starts, when it is numbered.
    number: Option<u32>,
    /// The exclusive interpretations of the spines in force before it.
    spines: Vec<String>,
    /// The meter in force before it.
    meter: Option<Meter>,
    /// Whether a data line comes after it.
    music_after: bool,
}

impl Continuation {
    /// Reads a score and cuts it: before the barline that starts measure `from_measure`, or
    /// (`None`) at its end, before its closing barline and `*-`.
    pub fn read(score: &str, from_measure: Option<u32>) -> Result<Continuation, ContinueError> {
        let mut spines = ScoreSpines::default();
        let mut meter = None;
        let mut music = false;
        let mut kern = false;
        let mut bars: Vec<Bar> = Vec::new();
        let mut end = None; // (byte offset of the terminator line, spines before it, meter)
        let mut offset = 0;
        for raw_line in score.split_inclusive('\n') {
            let at = offset;
            offset += raw_line.len();
            let line = raw_line.trim_end_matches(['\n', '\r']);
            let fields: Vec<&str> = line.split('\t').collect();
            if line.starts_with("**") {
                kern |= fields.contains(&"**kern");
                spines.name(&fields);
            } else if line.starts_with('*') {
                let before = spines.0.clone();
                for f in &fields {
                    if let Some(m) = meter_of_token(f).and_then(|m| Meter::parse(m).ok()) {
                        meter = Some(m);
                    }
                }
                spines.apply(&fields);
                if spines.0.is_empty() && !before.is_empty() {
                    end = Some((at, before, meter));
                    break;
                }
            } else if line.starts_with('=') {
                bars.push(Bar {
                    at,
                    number: barline_number(fields[0]),
                    spines: spines.0.clone(),
                    meter,
                    music_after: false,
                });
            } else if !line.starts_with('!') && !line.trim().is_empty() {
                if fields.iter().any(|f| f.trim() != ".") {
                    music = true;
                }
                if let Some(bar) = bars.last_mut() {
                    bar.music_after = true;
                }
            }
        }
        if !kern {
            return Err(ContinueError::NotKern);
        }
        if !music {
            return Err(ContinueError::NoMusic);
        }
        let (cut, measure, in_force, meter_then) = match from_measure {
            Some(n) => match bars.iter().find(|b| b.number == Some(n)) {
                Some(bar) => (bar.at, Some(n), bar.spines.clone(), bar.meter),
                None => {
                    let numbers: Vec<u32> = bars.iter().filter_map(|b| b.number).collect();
                    return Err(match (numbers.first(), numbers.last()) {
                        (Some(a), Some(_)) if n < *a => ContinueError::FirstMeasure(n),
                        (Some(a), Some(b)) => {
                            ContinueError::NoMeasure { asked: n, numbers: format!("{a} to {b}") }
                        }
                        _ => ContinueError::NoMeasure { asked: n, numbers: "none".into() },
                    });
                }
            },
            None => {
                let last_number = bars.iter().filter_map(|b| b.number).next_back();
                match bars.last() {
                    // the closing barline, with no music after it
                    Some(bar) if !bar.music_after => (
                        bar.at,
                        bar.number.or(last_number.and_then(|n| n.checked_add(1))),
                        bar.spines.clone(),
                        bar.meter,
                    ),
                    // music after the last barline: the cut is at the terminator (or the end)
                    _ => match &end {
                        Some((at, s, m)) => {
                            (*at, last_number.and_then(|n| n.checked_add(1)), s.clone(), *m)
                        }
                        None => (
                            score.len(),
                            last_number.and_then(|n| n.checked_add(1)),
                            spines.0.clone(),
                            meter,
                        ),
                    },
                }
            }
        };
        let max = super::limits::MAX_SAMPLE_SPINES;
        if in_force.len() > max {
            let at = measure.map_or("the cut".to_string(), |n| format!("measure {n}"));
            return Err(ContinueError::Spines { at, spines: in_force.len(), max });
        }
        let given = score[..cut].to_string();
        let barline = match from_measure {
            Some(_) => score[cut..].lines().next().unwrap_or_default().trim_end().to_string(),
            None => {
                let token = format!("={}||", measure.map_or(String::new(), |n| n.to_string()));
                vec![token; in_force.len()].join("\t")
            }
        };
        let mut prepared = prepare_text(&given).unwrap_or_default();
        // The model must go on from the score's music: with none, it would choose spines of its
        // own, which the given score's lines do not have.
        if !prepared.lines().any(|l| !l.is_empty() && l != "@") {
            return Err(ContinueError::NoPrime(match from_measure {
                Some(n) => format!("before measure {n}"),
                None => "in it".to_string(),
            }));
        }
        prepared.push_str("@\n");
        let closing = score[cut..]
            .lines()
            .filter(|l| l.starts_with("!!!"))
            .map(|l| l.trim_end().to_string())
            .collect();
        Ok(Continuation {
            given,
            prepared,
            meter: meter_then,
            measure,
            barline,
            spines: in_force,
            closing,
        })
    }

    /// The continued score: the given music, the barline where the model takes over
    /// ([`Continuation::barline`]) with a mark (a global comment naming `by`, and "kernrnn" written above the top staff), the
    /// model's complete measures from `text` (what it wrote after [`Continuation::prepared`]),
    /// at most `max_measures` of them, then `==` and `*-`.
    pub fn score(&self, text: &str, by: &str, max_measures: Option<usize>) -> Continued {
        let mut lines: Vec<&str> = text.split('\n').collect();
        // complete measures only: up to the model's last barline
        let last_bar = lines.iter().rposition(|l| l.trim_end() == "@");
        lines.truncate(last_bar.map_or(0, |i| i + 1));
        let written = lines.iter().filter(|l| l.trim_end() == "@").count();
        let keep = max_measures.map_or(written, |m| m.min(written));
        let mut spines = ScoreSpines(self.spines.clone());
        let mut out = self.given.clone();
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        let row = |spines: &ScoreSpines, token: &str| vec![token; spines.0.len()].join("\t");
        let number =
            |k: usize| self.measure.map_or(String::new(), |n| (n as usize + k).to_string());
        if keep > 0 {
            out += &self.barline;
            out += &format!("\n!! kernrnn continues here: {}\n", by.replace(['\n', '\r'], " "));
            let top = spines.0.iter().rposition(|s| s == "**kern");
            let mark: Vec<&str> = (0..spines.0.len())
                .map(|i| if Some(i) == top { "!LO:TX:a:B:t=kernrnn" } else { "!" })
                .collect();
            out += &mark.join("\t");
            out.push('\n');
        }
        let mut bars = 0;
        for line in lines {
            if bars == keep {
                break;
            }
            let line = line.trim_end_matches('\r');
            if line.trim_end() == "@" {
                bars += 1;
                let token =
                    if bars == keep { "==".to_string() } else { format!("={}", number(bars)) };
                out += &row(&spines, &token);
            } else if line.starts_with('*') {
                let fields: Vec<&str> = line.split('\t').collect();
                spines.apply(&fields);
                out += line;
            } else {
                let fields: Vec<String> = line
                    .split('\t')
                    .enumerate()
                    .map(|(i, f)| match spines.0.get(i).map(String::as_str) {
                        Some("**kern") => super::reconstruct::grace_as_q(f),
                        _ => f.to_string(),
                    })
                    .collect();
                out += &fields.join("\t");
            }
            out.push('\n');
        }
        if keep == 0 {
            out += &row(&spines, "==");
            out.push('\n');
        }
        out += &row(&spines, "*-");
        out.push('\n');
        for record in &self.closing {
            out += record;
            out.push('\n');
        }
        Continued { kern: out, measures: keep, measures_left_out: written - keep }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCORE: &str = "!!!COM: Someone\n**kern\t**kern\t**dynam\n*M3/4\t*M3/4\t*\n\
        4c\t4e\t.\n=1\t=1\t=1\n2.C\t2.g\tp\n=2\t=2\t=2\n*^\t*\t*\n4D\t4F\t2.a\t.\n\
        2D\t2F\t.\t.\n*v\t*v\t*\t*\n==\t==\t==\n*-\t*-\t*-\n!!!RDF**kern: > = above\n";

    #[test]
    fn a_score_is_cut_before_its_closing_barline_and_primed_with_its_prepared_music() {
        let c = Continuation::read(SCORE, None).unwrap();
        assert!(SCORE.starts_with(&c.given) && c.given.ends_with("*v\t*v\t*\t*\n"), "{}", c.given);
        assert_eq!(
            c.prepared,
            "@\n2.C\t2.g\tp\n@\n*^\t*\t*\n4D\t4F\t2.a\t.\n2D\t2F\t.\t.\n*v\t*v\t*\t*\n@\n"
        );
        assert_eq!((c.meter, c.measure), (Some(Meter::new(3, 4).unwrap()), Some(3)));
        assert_eq!(c.spines, ["**kern", "**kern", "**dynam"]);
        assert_eq!(c.closing, ["!!!RDF**kern: > = above"]);
    }

    #[test]
    fn a_score_cut_at_a_measure_keeps_what_comes_before_it_and_the_spines_in_force_there() {
        let c = Continuation::read(SCORE, Some(2)).unwrap();
        assert!(c.given.ends_with("2.C\t2.g\tp\n"), "{}", c.given);
        assert_eq!(c.prepared, "@\n2.C\t2.g\tp\n@\n");
        assert_eq!((c.measure, c.barline.as_str()), (Some(2), "=2\t=2\t=2"));
        assert_eq!(c.spines.len(), 3);
    }

    #[test]
    fn a_score_cut_before_its_first_whole_measure_is_refused_since_the_model_would_choose_its_spines(
    ) {
        assert_eq!(
            Continuation::read(SCORE, Some(1)),
            Err(ContinueError::NoPrime("before measure 1".into())),
            "the header and pickup alone"
        );
    }

    #[test]
    fn the_continued_score_is_the_given_music_a_mark_then_the_models_numbered_measures() {
        let c = Continuation::read(SCORE, None).unwrap();
        let model = "2.c\t2.e\tf\n@\n*^\t*\t*\n2.c\t2.e\t2.g\t.\n@\n4Qd\t2e\t4g\t.\n";
        let s = c.score(model, "model m, seed 1", None);
        assert!(s.kern.starts_with(&c.given));
        let rest = &s.kern[c.given.len()..];
        assert_eq!(
            rest,
            "=3||\t=3||\t=3||\n!! kernrnn continues here: model m, seed 1\n!\t!LO:TX:a:B:t=kernrnn\t!\n\
             2.c\t2.e\tf\n=4\t=4\t=4\n*^\t*\t*\n2.c\t2.e\t2.g\t.\n==\t==\t==\t==\n*-\t*-\t*-\t*-\n\
             !!!RDF**kern: > = above\n"
        );
        assert_eq!((s.measures, s.measures_left_out), (2, 0));
        let short = c.score(model, "m", Some(1));
        assert_eq!((short.measures, short.measures_left_out), (1, 1));
        assert!(short.kern.contains("2.c\t2.e\tf\n==\t==\t==\n*-\t*-\t*-\n"), "{}", short.kern);
    }

    #[test]
    fn grace_notes_the_model_writes_with_capital_q_are_written_with_q() {
        let c = Continuation::read(SCORE, None).unwrap();
        let s = c.score("8QC\t.\t.\n2.C\t2.e\t.\n@\n", "m", None);
        assert!(s.kern.contains("\n8qC\t.\t.\n"), "{}", s.kern);
    }

    #[test]
    fn text_that_is_not_a_score_or_has_no_music_or_measure_is_refused_by_name() {
        let e = |t: &str, m| Continuation::read(t, m).unwrap_err().to_string();
        assert!(e("@\n4c\t4e\n@\n", None).contains("not a **kern score"));
        assert!(e("**kern\n*M4/4\n=1\n=2\n*-\n", None).contains("no music"));
        assert_eq!(
            e(SCORE, Some(9)),
            "this score has no measure 9: its numbered barlines are 1 to 2"
        );
        assert!(e(SCORE, Some(0)).contains("choose a measure after its first"));
    }

    #[test]
    fn a_score_without_a_closing_barline_is_cut_at_its_terminator() {
        let score = "**kern\n*M2/4\n=1\n2c\n=2\n2d\n*-\n";
        let c = Continuation::read(score, None).unwrap();
        assert_eq!((c.given.as_str(), c.measure), ("**kern\n*M2/4\n=1\n2c\n=2\n2d\n", Some(3)));
        assert_eq!(c.prepared, "@\n2c\n@\n2d\n@\n");
        let s = c.score("2e\n@\n", "m", None);
        assert!(
            s.kern.ends_with(
                "2d\n=3||\n!! kernrnn continues here: m\n!LO:TX:a:B:t=kernrnn\n2e\n==\n*-\n"
            ),
            "{}",
            s.kern
        );
    }
}
