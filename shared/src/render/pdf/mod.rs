//! The PDF renderer: draws a [`Document`] on A4 or Letter pages with printpdf. The title
//! and subtitle come first, then the executive summary and key takeaways, then each block
//! (KPI tiles, tables that break across pages with their header repeated, charts, prose),
//! with the report name at the top of every page and the run time and "Page X of Y" at the
//! bottom.
//!
//! Text is set in Helvetica when every character is WinAnsi (the common case for statements:
//! nothing to embed, the cheapest file), otherwise in DejaVu Sans, embedded as a subset of
//! the glyphs drawn; either way the text can be searched and copied. Small documents are
//! written without stream compression (see `COMPRESS_ABOVE_OPS`).
//!
//! One core, CPU time, a one-page statement (3 tiles, a paragraph, 25 × 5 table): 0.23 ms in
//! Helvetica (9 KB; 0.44 ms and 3 KB deflated), 0.58 ms with DejaVu subsets (31 KB; 1.4 ms
//! and 14 KB deflated). Embedding the whole of DejaVu instead takes about 2.5 ms and 1.5 MB,
//! or 100 ms and 750 KB deflated.

mod canvas;
mod fonts;
mod layout;
mod prepare;
mod subset;
mod table;
mod text;

use printpdf::{OffsetDateTime, Op, PdfDocument, PdfPage, PdfSaveOptions, PdfWarnMsg, Pt, Rect};

use self::fonts::{FontSet, Weight};
use self::prepare::Prepared;
use super::RenderError;
use super::model::Document;

/// Documents drawn with more operations than this (about 30 KB of page content, a few
/// pages) have their streams deflated. Below it they are written as they are: deflating a
/// one-page statement doubles its cost (most of it setting up the compressor) to save 6 KB.
const COMPRESS_ABOVE_OPS: usize = 2_000;

/// How to write a document; `None` decides from the document.
#[derive(Debug, Clone, Copy, Default)]
struct Options {
    fonts: Option<FontSet>,
    compress: Option<bool>,
}

/// The document as a PDF file.
pub fn render_pdf(doc: &Document) -> Result<Vec<u8>, RenderError> {
    let (bytes, warnings) = render(doc, Options::default())?;
    if !warnings.is_empty() {
        tracing::warn!(title = %doc.title, ?warnings, "the PDF writer reported problems");
    }
    Ok(bytes)
}

/// Renders `doc`, returning the file and the writer's warnings.
fn render(doc: &Document, options: Options) -> Result<(Vec<u8>, Vec<PdfWarnMsg>), RenderError> {
    let (width_mm, height_mm) = doc.page.size_mm();
    let (width, height) = (points(width_mm), points(height_mm));
    let prepared = Prepared::new(doc, layout::chart_size(width));
    let fonts = options.fonts.unwrap_or_else(|| FontSet::for_text(prepared.texts()));
    fonts.load()?;

    let canvas = layout::draw(&prepared, fonts, width, height);
    let (pages, used) = canvas.finish();

    let mut pdf = PdfDocument::new(&prepared.title);
    let info = &mut pdf.metadata.info;
    info.producer = "Herald".into();
    info.creator = "Herald".into();
    if let Ok(at) = OffsetDateTime::from_unix_timestamp(doc.generated_at.timestamp()) {
        info.creation_date = at;
        info.modification_date = at;
        info.metadata_date = at;
    }
    if fonts == FontSet::Embedded {
        let [regular, bold] = &used;
        fonts::embed(&mut pdf, Weight::Regular, regular)?;
        fonts::embed(&mut pdf, Weight::Bold, bold)?;
    }
    let compress = options.compress.unwrap_or_else(|| pages.iter().map(Vec::len).sum::<usize>() > COMPRESS_ABOVE_OPS);
    pdf.with_pages(pages.into_iter().map(|ops| page(width, height, ops)).collect());
    let mut warnings = Vec::new();
    let mut bytes = pdf.save(&PdfSaveOptions { optimize: compress, ..PdfSaveOptions::default() }, &mut warnings);
    if bytes.is_empty() {
        return Err(RenderError::Pdf("the PDF writer produced no output".into()));
    }
    blank_pdfx_claim(&mut bytes);
    Ok((bytes, warnings))
}

/// printpdf always writes an empty `/GTS_PDFXVersion` into the document information, which
/// readers take as a claim to PDF/X. Blanking it with spaces keeps every byte offset (and so
/// the cross-reference table) valid.
fn blank_pdfx_claim(bytes: &mut [u8]) {
    const CLAIM: &[u8] = b"/GTS_PDFXVersion()";
    if let Some(at) = bytes.windows(CLAIM.len()).rposition(|w| w == CLAIM) {
        bytes[at..at + CLAIM.len()].fill(b' ');
    }
}

/// Millimetres to points, to 1/100 pt (Letter is exactly 612 × 792).
fn points(mm: f32) -> f32 {
    (mm / 25.4 * 72.0 * 100.0).round() / 100.0
}

fn page(width: f32, height: f32, ops: Vec<Op>) -> PdfPage {
    let mut page = PdfPage::new(printpdf::Mm(0.0), printpdf::Mm(0.0), ops);
    let size = Rect::from_wh(Pt(width), Pt(height));
    page.media_box = size.clone();
    page.trim_box = size.clone();
    page.crop_box = size;
    page
}

#[cfg(test)]
mod tests;
