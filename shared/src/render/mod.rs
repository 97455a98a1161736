//! Sections → artifacts. A report's rows become one [`model::Document`], which each renderer
//! draws: PDF (printpdf, embedded Unicode font), CSV (one file per table, RFC 4180), Markdown
//! (GitHub tables) and HTML (self-contained, inline SVG charts, safe as an email body).

pub mod chart;
pub mod compose;
pub mod csv;
pub mod format;
pub mod html;
pub mod markdown;
pub mod merge;
pub mod model;
pub mod pdf;
pub mod svg;

pub use model::*;

use crate::domain::Format;

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("could not write the PDF: {0}")]
    Pdf(String),
    #[error("could not write the CSV: {0}")]
    Csv(String),
    #[error("could not write the file: {0}")]
    Io(#[from] std::io::Error),
}

/// One rendered file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    pub file_name: String,
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
}

/// Renders `document` in `format`. Files are named after `base` (the report's code); CSV
/// gives one file per table, named after the table, and none for a report without tables.
pub fn render(document: &Document, format: Format, base: &str) -> Result<Vec<RenderedFile>, RenderError> {
    #[cfg(feature = "testing")]
    crate::testing::faults::check(document);
    Ok(match format {
        Format::Pdf => vec![RenderedFile {
            file_name: format!("{base}.pdf"),
            content_type: "application/pdf",
            bytes: pdf::render_pdf(document)?,
        }],
        Format::Csv => csv::render_csv(document)?,
        Format::Markdown => vec![RenderedFile {
            file_name: format!("{base}.md"),
            content_type: "text/markdown; charset=utf-8",
            bytes: markdown::render_markdown(document).into_bytes(),
        }],
        Format::Html => vec![RenderedFile {
            file_name: format!("{base}.html"),
            content_type: "text/html; charset=utf-8",
            bytes: html::render_html(document).into_bytes(),
        }],
    })
}
