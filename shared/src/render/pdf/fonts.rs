//! Fonts of the PDF renderer, and the one place text is measured.
//!
//! A document is drawn with one of two font sets. [`FontSet::Standard`] is Helvetica, one of
//! the PDF standard fonts: nothing is embedded, but it only encodes WinAnsi (Latin-1 and a
//! little punctuation). [`FontSet::Embedded`] is the bundled DejaVu Sans, embedded as a
//! subset of the glyphs the document draws, covering Greek, Cyrillic and the rest of what
//! DejaVu covers. Fonts are parsed once per process; widths come from tables built then.

use std::collections::{BTreeSet, HashMap};
use std::sync::LazyLock;

use printpdf::{BuiltinFont, FontId, ParsedFont, PdfDocument, PdfFont, PdfFontHandle};

use super::subset::Source;
use crate::render::RenderError;

const DEJAVU_SANS: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");
const DEJAVU_SANS_BOLD: &[u8] = include_bytes!("../fonts/DejaVuSans-Bold.ttf");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Weight {
    Regular,
    Bold,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FontSet {
    /// Helvetica and Helvetica Bold, referenced by name (WinAnsi text only).
    Standard,
    /// DejaVu Sans and DejaVu Sans Bold, embedded as subsets.
    Embedded,
}

impl FontSet {
    /// The font set for a document whose text is `texts`: the standard fonts when WinAnsi
    /// encodes every character, the embedded ones otherwise.
    pub(super) fn for_text<'a>(mut texts: impl Iterator<Item = &'a str>) -> FontSet {
        if texts.all(|text| text.chars().all(is_win_ansi)) { FontSet::Standard } else { FontSet::Embedded }
    }

    pub(super) fn handle(self, weight: Weight) -> PdfFontHandle {
        match (self, weight) {
            (FontSet::Standard, Weight::Regular) => PdfFontHandle::Builtin(BuiltinFont::Helvetica),
            (FontSet::Standard, Weight::Bold) => PdfFontHandle::Builtin(BuiltinFont::HelveticaBold),
            (FontSet::Embedded, weight) => PdfFontHandle::External(embedded_id(weight)),
        }
    }

    /// Parses the fonts this set needs (once per process) and reports whether they loaded.
    pub(super) fn load(self) -> Result<(), RenderError> {
        match self {
            FontSet::Standard => {
                LazyLock::force(&HELVETICA);
                LazyLock::force(&HELVETICA_BOLD);
                Ok(())
            }
            FontSet::Embedded => face(Weight::Regular).and(face(Weight::Bold)).map(|_| ()),
        }
    }
}

/// Width of `text` set in `weight` at `size` points, in points: the sum of the glyphs' advance
/// widths, rounded to 1/1000 em as the PDF's width table (or the standard font's metrics) has
/// them, so what is measured is what a viewer draws.
pub(super) fn text_width(fonts: FontSet, weight: Weight, size: f32, text: &str) -> f32 {
    let glyphs = glyphs(fonts, weight);
    let units: u32 = text.chars().map(|c| u32::from(glyphs.lookup(c).1)).sum();
    units as f32 * size / 1000.0
}

/// Width of one character (see [`text_width`]).
pub(super) fn char_width(fonts: FontSet, weight: Weight, size: f32, c: char) -> f32 {
    f32::from(glyphs(fonts, weight).lookup(c).1) * size / 1000.0
}

fn glyphs(fonts: FontSet, weight: Weight) -> &'static Glyphs {
    match (fonts, weight) {
        (FontSet::Standard, Weight::Regular) => &HELVETICA,
        (FontSet::Standard, Weight::Bold) => &HELVETICA_BOLD,
        (FontSet::Embedded, weight) => face(weight).map(|face| &face.glyphs).unwrap_or(&NO_GLYPHS),
    }
}

/// Glyph ids and advance widths (1/1000 em) by character.
struct Glyphs {
    /// Indexed by code point for the Basic Multilingual Plane; glyph id 0 means none.
    bmp: Box<[(u16, u16)]>,
    astral: HashMap<u32, (u16, u16)>,
    /// Advance of a character the font lacks.
    missing: u16,
}

impl Glyphs {
    fn empty(missing: u16) -> Glyphs {
        Glyphs { bmp: vec![(0, 0); 0x1_0000].into_boxed_slice(), astral: HashMap::new(), missing }
    }

    /// `round`: round advances to 1/1000 em (standard font metrics); otherwise truncate, as
    /// printpdf writes an embedded font's width table.
    fn from_font(font: &ParsedFont, round: bool) -> Glyphs {
        let units_per_em = f32::from(font.units_per_em.max(1));
        let per_mille = |gid: u16| {
            let width = f32::from(font.get_glyph_width(gid).unwrap_or(0)) * 1000.0 / units_per_em;
            (if round { width.round() } else { width.trunc() }) as u16
        };
        let mut glyphs = Glyphs::empty(per_mille(0));
        for (&code, &gid) in &font.codepoint_to_glyph {
            if gid == 0 {
                continue;
            }
            let entry = (gid, per_mille(gid));
            match glyphs.bmp.get_mut(code as usize) {
                Some(slot) => *slot = entry,
                None => {
                    glyphs.astral.insert(code, entry);
                }
            }
        }
        glyphs
    }

    fn set(&mut self, c: char, entry: (u16, u16)) {
        if let Some(slot) = self.bmp.get_mut(c as usize) {
            *slot = entry;
        }
    }

    /// Glyph id (0 when missing) and advance of `c`.
    fn lookup(&self, c: char) -> (u16, u16) {
        let entry = match self.bmp.get(c as usize) {
            Some(entry) => *entry,
            None => self.astral.get(&(c as u32)).copied().unwrap_or((0, 0)),
        };
        if entry.0 == 0 { (0, self.missing) } else { entry }
    }
}

/// Standard-font metrics from the metric-compatible faces printpdf ships. They have no glyph
/// for the spaces and the soft hyphen, which take their Adobe metrics.
fn standard(font: BuiltinFont) -> Glyphs {
    let Some(parsed) = font.get_parsed_font() else {
        return Glyphs::empty(556);
    };
    let mut glyphs = Glyphs::from_font(&parsed, true);
    let hyphen = glyphs.lookup('-');
    glyphs.set(' ', (u16::MAX, 278));
    glyphs.set('\u{a0}', (u16::MAX, 278));
    glyphs.set('\u{ad}', hyphen);
    glyphs.missing = glyphs.lookup('?').1;
    glyphs
}

static HELVETICA: LazyLock<Glyphs> = LazyLock::new(|| standard(BuiltinFont::Helvetica));
static HELVETICA_BOLD: LazyLock<Glyphs> = LazyLock::new(|| standard(BuiltinFont::HelveticaBold));
static NO_GLYPHS: LazyLock<Glyphs> = LazyLock::new(|| Glyphs::empty(600));

/// One bundled face: its glyph table and the tables subsets are cut from.
struct Face {
    postscript_name: &'static str,
    glyphs: Glyphs,
    source: Source,
}

impl Face {
    fn load(bytes: &[u8], postscript_name: &'static str) -> Option<Face> {
        let parsed = ParsedFont::from_bytes(bytes, 0, &mut Vec::new())?;
        let mut glyphs = Glyphs::from_font(&parsed, false);
        // A character the font lacks is drawn as .notdef, which the PDF's width table leaves
        // at the default width of 1000.
        glyphs.missing = 1000;
        Some(Face { postscript_name, glyphs, source: Source::read(bytes)? })
    }
}

static DEJAVU: LazyLock<Option<Face>> = LazyLock::new(|| Face::load(DEJAVU_SANS, "DejaVuSans"));
static DEJAVU_BOLD: LazyLock<Option<Face>> = LazyLock::new(|| Face::load(DEJAVU_SANS_BOLD, "DejaVuSans-Bold"));

fn face(weight: Weight) -> Result<&'static Face, RenderError> {
    let face = match weight {
        Weight::Regular => &DEJAVU,
        Weight::Bold => &DEJAVU_BOLD,
    };
    face.as_ref().ok_or_else(|| RenderError::Pdf("the bundled DejaVu Sans font could not be read".into()))
}

fn embedded_id(weight: Weight) -> FontId {
    FontId(match weight {
        Weight::Regular => "DejaVuSans".into(),
        Weight::Bold => "DejaVuSansBold".into(),
    })
}

/// Adds to `pdf` the subset of DejaVu Sans `weight` that draws `used`, under the id
/// [`FontSet::handle`] refers to.
pub(super) fn embed(pdf: &mut PdfDocument, weight: Weight, used: &CharSet) -> Result<(), RenderError> {
    if used.is_empty() {
        return Ok(());
    }
    let face = face(weight)?;
    let chars: Vec<(char, u16)> = used.iter().map(|c| (c, face.glyphs.lookup(c).0)).collect();
    let bytes =
        face.source.subset(&chars).ok_or_else(|| RenderError::Pdf("could not subset the embedded font".into()))?;
    let mut warnings = Vec::new();
    let mut parsed = ParsedFont::from_bytes(&bytes, 0, &mut warnings)
        .ok_or_else(|| RenderError::Pdf(format!("could not read the font subset: {warnings:?}")))?;
    parsed.font_name = Some(format!("{}+{}", subset_tag(&chars), face.postscript_name));
    pdf.resources.fonts.map.insert(embedded_id(weight), PdfFont::new(parsed));
    Ok(())
}

/// The six capital letters that name a font subset, derived from its characters.
fn subset_tag(chars: &[(char, u16)]) -> String {
    let hash = chars.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &(c, _)| (h ^ c as u64).wrapping_mul(0x100_0000_01b3));
    (0..6).map(|i| char::from(b'A' + ((hash >> (i * 8)) % 26) as u8)).collect()
}

/// The characters drawn in one font.
#[derive(Debug, Default, Clone)]
pub(super) struct CharSet {
    ascii: u128,
    other: BTreeSet<char>,
}

impl CharSet {
    pub(super) fn add(&mut self, text: &str) {
        for c in text.chars() {
            if c.is_ascii() {
                self.ascii |= 1 << (c as u32);
            } else {
                self.other.insert(c);
            }
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.ascii == 0 && self.other.is_empty()
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = char> + '_ {
        (0..128_u8).filter(|&b| self.ascii & (1 << b) != 0).map(char::from).chain(self.other.iter().copied())
    }
}

/// Whether the standard fonts' WinAnsi encoding has `c`.
pub(super) fn is_win_ansi(c: char) -> bool {
    matches!(c as u32, 0x20..=0x7E | 0xA0..=0xFF)
        || matches!(
            c,
            '€' | '‚'
                | 'ƒ'
                | '„'
                | '…'
                | '†'
                | '‡'
                | 'ˆ'
                | '‰'
                | 'Š'
                | '‹'
                | 'Œ'
                | 'Ž'
                | '‘'
                | '’'
                | '“'
                | '”'
                | '•'
                | '–'
                | '—'
                | '˜'
                | '™'
                | 'š'
                | '›'
                | 'œ'
                | 'ž'
                | 'Ÿ'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helvetica_widths_match_the_adobe_metrics() {
        // AFM: H 722, e 556, l 222, o 556, space 278; bold H 722, e 556.
        let width = text_width(FontSet::Standard, Weight::Regular, 1000.0, "Hello ");
        assert!((width - (722.0 + 556.0 + 222.0 * 2.0 + 556.0 + 278.0)).abs() < 1.0, "{width}");
        assert!((text_width(FontSet::Standard, Weight::Bold, 10.0, "He") - 12.78).abs() < 0.02);
    }

    #[test]
    fn dejavu_measures_greek_and_cyrillic_and_misses_nothing_common() {
        FontSet::Embedded.load().expect("fonts load");
        for c in "Zoë Ørsted — Ελληνικά, Кириллица, 1 234,50 € ₹ ₩ •…".chars() {
            assert!(c == ' ' || glyphs(FontSet::Embedded, Weight::Regular).lookup(c).0 != 0, "{c:?}");
        }
        assert!(text_width(FontSet::Embedded, Weight::Bold, 10.0, "Ελληνικά") > 40.0);
    }

    #[test]
    fn only_winansi_text_uses_the_standard_fonts() {
        assert_eq!(FontSet::for_text(["Zoë Ørsted – €12.50 • “quoted”"].into_iter()), FontSet::Standard);
        assert_eq!(FontSet::for_text(["Zoë", "Łukasz"].into_iter()), FontSet::Embedded);
        assert_eq!(FontSet::for_text(["₹1,500"].into_iter()), FontSet::Embedded);
    }
}
