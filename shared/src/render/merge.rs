//! Stitching PDFs together, in order, into one document (a run's consolidated review
//! document). Each file's pages keep their own content and resources; only the page tree and
//! the catalog are made anew.

use lopdf::{Dictionary, Document, Object, ObjectId, dictionary};

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("file {index} is not a readable PDF: {message}")]
    Unreadable { index: usize, message: String },
    #[error("the merged PDF could not be written: {0}")]
    Write(String),
    #[error("there is nothing to merge")]
    Empty,
}

/// Page attributes a page may inherit from its page tree.
const INHERITED: [&[u8]; 4] = [b"Resources", b"MediaBox", b"CropBox", b"Rotate"];

/// An attribute `key` of a page, or the nearest one up its page tree.
fn inherited(doc: &Document, page: &Dictionary, key: &[u8]) -> Option<Object> {
    let mut parent = page.get(b"Parent").and_then(Object::as_reference).ok();
    // Bounded: a malformed file with a cyclic page tree must not hang the worker.
    for _ in 0..32 {
        let node = doc.get_dictionary(parent?).ok()?;
        if let Ok(value) = node.get(key) {
            return Some(value.clone());
        }
        parent = node.get(b"Parent").and_then(Object::as_reference).ok();
    }
    None
}

/// The pages of every file in `files`, in order, as one PDF.
pub fn merge_pdfs(files: &[&[u8]]) -> Result<Vec<u8>, MergeError> {
    if files.is_empty() {
        return Err(MergeError::Empty);
    }
    let mut merged = Document::with_version("1.5");
    let pages_id = merged.new_object_id();
    let mut kids: Vec<Object> = Vec::new();
    for (index, bytes) in files.iter().enumerate() {
        let mut doc =
            Document::load_mem(bytes).map_err(|e| MergeError::Unreadable { index, message: e.to_string() })?;
        doc.renumber_objects_with(merged.max_id + 1);
        let pages: Vec<ObjectId> = doc.get_pages().into_values().collect();
        for page_id in pages {
            let Ok(page) = doc.get_dictionary(page_id) else { continue };
            let mut page = page.clone();
            for key in INHERITED {
                if !page.has(key)
                    && let Some(value) = inherited(&doc, &page, key)
                {
                    page.set(key, value);
                }
            }
            page.set("Parent", pages_id);
            doc.objects.insert(page_id, Object::Dictionary(page));
            kids.push(Object::Reference(page_id));
        }
        merged.max_id = merged.max_id.max(doc.max_id);
        for (id, object) in doc.objects {
            let skipped =
                matches!(object.type_name().unwrap_or_default(), b"Catalog" | b"Pages" | b"Outlines" | b"Outline");
            if !skipped {
                merged.objects.insert(id, object);
            }
        }
    }
    let count = kids.len() as i64;
    merged
        .objects
        .insert(pages_id, Object::Dictionary(dictionary! {"Type" => "Pages", "Kids" => kids, "Count" => count}));
    let catalog_id = merged.add_object(dictionary! {"Type" => "Catalog", "Pages" => pages_id});
    merged.trailer.set("Root", catalog_id);
    merged.compress();
    let mut out = Vec::new();
    merged.save_to(&mut out).map_err(|e| MergeError::Write(e.to_string()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::model::{Block, Document as Model, TextBlock, TextPart};

    fn pdf(title: &str, paragraphs: usize) -> Vec<u8> {
        let text = format!("{title} body text that fills the page. ").repeat(40);
        let doc = Model {
            title: title.to_string(),
            subtitle: None,
            generated_at: chrono::Utc::now(),
            page: Default::default(),
            narrative: None,
            blocks: vec![Block::Text(TextBlock {
                title: None,
                parts: (0..paragraphs).map(|_| TextPart::Paragraph(text.clone())).collect(),
            })],
        };
        crate::render::pdf::render_pdf(&doc).unwrap()
    }

    fn page_count(bytes: &[u8]) -> usize {
        Document::load_mem(bytes).unwrap().get_pages().len()
    }

    #[test]
    fn merged_pages_are_every_files_pages_in_order() {
        let (one, long) = (pdf("Alpha", 1), pdf("Beta", 30));
        assert!(page_count(&long) > 1, "the long file spans several pages");
        let merged = merge_pdfs(&[&one, &long, &one]).unwrap();
        let doc = Document::load_mem(&merged).unwrap();
        assert_eq!(doc.get_pages().len(), 2 * page_count(&one) + page_count(&long));
        let first = doc.extract_text(&[1]).unwrap_or_default();
        assert!(first.contains("Alpha"), "{first}");
    }

    #[test]
    fn a_file_that_is_not_a_pdf_is_named_and_nothing_is_made() {
        let good = pdf("Alpha", 1);
        let err = merge_pdfs(&[&good, b"not a pdf"]).unwrap_err();
        assert!(matches!(err, MergeError::Unreadable { index: 1, .. }), "{err}");
        assert!(matches!(merge_pdfs(&[]), Err(MergeError::Empty)));
    }
}
