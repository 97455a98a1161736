//! Pages as printpdf operations. The canvas keeps each page's text and graphics state so a
//! run of strings shares one text object, and fonts and colours are set only when they
//! change. Coordinates are PDF points with the origin at the bottom-left corner.

use printpdf::{
    Color, Line, LinePoint, Op, PaintMode, PdfFontHandle, Point, Polygon, PolygonRing, Pt, Rect, Rgb, TextItem,
    WindingOrder,
};

use super::fonts::{CharSet, FontSet, Weight};

/// An RGB colour, components 0–1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Colour(pub f32, pub f32, pub f32);

impl Colour {
    pub(super) const fn rgb8(r: u8, g: u8, b: u8) -> Colour {
        Colour(r as f32 / 255.0, g as f32 / 255.0, b as f32 / 255.0)
    }

    fn pdf(self) -> Color {
        // Three decimals are finer than 8-bit colour and keep the content stream short.
        let clamp = |v: f32| if v.is_finite() { (v.clamp(0.0, 1.0) * 1000.0).round() / 1000.0 } else { 0.0 };
        Color::Rgb(Rgb::new(clamp(self.0), clamp(self.1), clamp(self.2), None))
    }
}

#[derive(Debug, Default)]
struct Page {
    ops: Vec<Op>,
    in_text: bool,
    /// Start of the current text line inside the open text object (`Td` moves it).
    line_start: (f32, f32),
    font: Option<(Weight, f32)>,
    fill: Option<Colour>,
    stroke: Option<Colour>,
    thickness: Option<f32>,
}

/// A position in a page's operations.
#[derive(Debug, Clone, Copy)]
pub(super) struct Mark {
    page: usize,
    op: usize,
}

pub(super) struct Canvas {
    handles: [PdfFontHandle; 2],
    pages: Vec<Page>,
    current: usize,
    used: [CharSet; 2],
}

/// A coordinate rounded to 1/100 pt (finer than any device; short in the content stream);
/// NaN and infinities, which would make the content stream invalid, become 0.
fn finite(v: f32) -> f32 {
    if v.is_finite() { (v.clamp(-1e6, 1e6) * 100.0).round() / 100.0 } else { 0.0 }
}

impl Canvas {
    pub(super) fn new(fonts: FontSet) -> Canvas {
        Canvas {
            handles: [fonts.handle(Weight::Regular), fonts.handle(Weight::Bold)],
            pages: vec![Page::default()],
            current: 0,
            used: Default::default(),
        }
    }

    pub(super) fn new_page(&mut self) {
        self.pages.push(Page::default());
        self.current = self.pages.len() - 1;
    }

    pub(super) fn page_count(&self) -> usize {
        self.pages.len()
    }

    /// Draw on page `index` (0-based) from now on.
    pub(super) fn select_page(&mut self, index: usize) {
        if index < self.pages.len() {
            self.current = index;
        }
    }

    /// Index of the page being drawn on.
    fn current_index(&mut self) -> usize {
        if self.pages.is_empty() {
            self.pages.push(Page::default());
        }
        self.current.min(self.pages.len() - 1)
    }

    fn page(&mut self) -> &mut Page {
        let index = self.current_index();
        &mut self.pages[index]
    }

    fn end_text(&mut self) {
        let page = self.page();
        if page.in_text {
            page.ops.push(Op::EndTextSection);
            page.in_text = false;
        }
    }

    fn set_fill(&mut self, colour: Colour) {
        let page = self.page();
        if page.fill != Some(colour) {
            page.ops.push(Op::SetFillColor { col: colour.pdf() });
            page.fill = Some(colour);
        }
    }

    fn set_stroke(&mut self, colour: Colour, thickness: f32) {
        let page = self.page();
        if page.stroke != Some(colour) {
            page.ops.push(Op::SetOutlineColor { col: colour.pdf() });
            page.stroke = Some(colour);
        }
        if page.thickness != Some(thickness) {
            page.ops.push(Op::SetOutlineThickness { pt: Pt(thickness) });
            page.thickness = Some(thickness);
        }
    }

    /// Draws `text` with its baseline starting at (`x`, `y`).
    pub(super) fn text(&mut self, x: f32, y: f32, weight: Weight, size: f32, colour: Colour, text: &str) {
        if text.is_empty() {
            return;
        }
        self.used[weight as usize].add(text);
        let index = self.current_index();
        let page = &mut self.pages[index];
        if !page.in_text {
            page.ops.push(Op::StartTextSection);
            page.in_text = true;
            page.line_start = (0.0, 0.0);
        }
        if page.font != Some((weight, size)) {
            page.ops.push(Op::SetFont { font: self.handles[weight as usize].clone(), size: Pt(size) });
            page.font = Some((weight, size));
        }
        self.set_fill(colour);
        // `Td` moves relative to the start of the previous line: two numbers instead of the
        // six of an absolute text matrix.
        let page = self.page();
        let (x, y) = (finite(x), finite(y));
        let (dx, dy) = (finite(x - page.line_start.0), finite(y - page.line_start.1));
        page.line_start = (page.line_start.0 + dx, page.line_start.1 + dy);
        page.ops.push(Op::SetTextCursor { pos: Point { x: Pt(dx), y: Pt(dy) } });
        page.ops.push(Op::ShowText { items: vec![TextItem::Text(text.to_owned())] });
    }

    pub(super) fn fill_rect(&mut self, x: f32, y: f32, width: f32, height: f32, colour: Colour) {
        if !(width > 0.0 && height > 0.0) {
            return;
        }
        self.end_text();
        self.set_fill(colour);
        let rectangle = filled(x, y, width, height);
        self.page().ops.push(Op::DrawRectangle { rectangle });
    }

    /// Strokes a polyline through `points`.
    pub(super) fn line(&mut self, points: &[(f32, f32)], thickness: f32, colour: Colour) {
        if points.len() < 2 {
            return;
        }
        self.end_text();
        self.set_stroke(colour, thickness);
        let points = points
            .iter()
            .map(|&(x, y)| LinePoint { p: Point { x: Pt(finite(x)), y: Pt(finite(y)) }, bezier: false })
            .collect();
        self.page().ops.push(Op::DrawLine { line: Line { points, is_closed: false } });
    }

    /// Fills the polygon through `points`.
    pub(super) fn fill_polygon(&mut self, points: &[(f32, f32)], colour: Colour) {
        if points.len() < 3 {
            return;
        }
        self.end_text();
        self.set_fill(colour);
        let points = points
            .iter()
            .map(|&(x, y)| LinePoint { p: Point { x: Pt(finite(x)), y: Pt(finite(y)) }, bezier: false })
            .collect();
        let polygon = Polygon {
            rings: vec![PolygonRing { points }],
            mode: PaintMode::Fill,
            winding_order: WindingOrder::NonZero,
        };
        self.page().ops.push(Op::DrawPolygon { polygon });
    }

    /// The current position in the operations, for [`Canvas::fill_behind`].
    pub(super) fn mark(&mut self) -> Mark {
        self.end_text();
        let page = self.current;
        Mark { page, op: self.page().ops.len() }
    }

    /// Fills rectangles (x, y, width, height, colour) behind whatever was drawn since `mark`.
    pub(super) fn fill_behind(&mut self, mark: Mark, rects: &[(f32, f32, f32, f32, Colour)]) {
        let Some(page) = self.pages.get_mut(mark.page) else {
            return;
        };
        let mut ops = vec![Op::SaveGraphicsState];
        for &(x, y, width, height, colour) in rects {
            if !(width > 0.0 && height > 0.0) {
                continue;
            }
            ops.push(Op::SetFillColor { col: colour.pdf() });
            let rectangle = filled(x, y, width, height);
            ops.push(Op::DrawRectangle { rectangle });
        }
        ops.push(Op::RestoreGraphicsState);
        let at = mark.op.min(page.ops.len());
        page.ops.splice(at..at, ops);
    }

    /// The pages' operations, and the characters drawn in each weight.
    pub(super) fn finish(mut self) -> (Vec<Vec<Op>>, [CharSet; 2]) {
        for page in &mut self.pages {
            if page.in_text {
                page.ops.push(Op::EndTextSection);
            }
        }
        (self.pages.into_iter().map(|page| page.ops).collect(), self.used)
    }
}

/// A filled rectangle with its lower-left corner at `(x, y)`; non-finite values become zero.
fn filled(x: f32, y: f32, width: f32, height: f32) -> Rect {
    Rect {
        x: Pt(finite(x)),
        y: Pt(finite(y)),
        width: Pt(finite(width)),
        height: Pt(finite(height)),
        mode: Some(PaintMode::Fill),
        winding_order: None,
    }
}
