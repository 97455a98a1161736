//! Sections → artifacts. A report's rows become one [`model::Document`], which each renderer
//! draws: PDF (printpdf, embedded Unicode font), CSV (one file per table, RFC 4180), Markdown
//! (GitHub tables) and HTML (self-contained, inline SVG charts, safe as an email body).

pub mod chart;
pub mod compose;
pub mod csv;
pub mod format;
pub mod html;
pub mod markdown;
pub mod model;
pub mod pdf;
pub mod svg;

pub use model::*;

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
