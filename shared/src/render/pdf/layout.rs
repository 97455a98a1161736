//! Page layout: the flow of a document down its pages (title, narrative, then each block),
//! breaking pages where the next piece does not fit, and finally the running header and
//! the footer with "Page X of Y" on every page, once the page count is known.

use crate::render::chart::{self, Anchor, LabelRole, Mark, RuleKind};
use crate::render::model::{TextPart, Trend};

use super::canvas::{Canvas, Colour, Mark as Position};
use super::fonts::{FontSet, Weight};
use super::prepare::{Chart, Narrative, Part, Prepared, Tile};
use super::table;
use super::text::Style;

pub(super) const INK: Colour = Colour::rgb8(0x1f, 0x29, 0x37);
pub(super) const MUTED: Colour = Colour::rgb8(0x6b, 0x72, 0x80);
pub(super) const ACCENT: Colour = Colour::rgb8(0x1e, 0x3a, 0x5f);
pub(super) const RULE: Colour = Colour::rgb8(0xd1, 0xd5, 0xdb);
pub(super) const WHITE: Colour = Colour(1.0, 1.0, 1.0);
pub(super) const ZEBRA: Colour = Colour::rgb8(0xf3, 0xf5, 0xf8);
const PANEL: Colour = Colour::rgb8(0xf1, 0xf4, 0xf8);
const UP: Colour = Colour::rgb8(0x15, 0x80, 0x3d);
const DOWN: Colour = Colour::rgb8(0xb9, 0x1c, 0x1c);

const MARGIN_X: f32 = 48.0;
/// Distance from the top edge to the first line of content.
const CONTENT_TOP: f32 = 60.0;
/// Distance from the bottom edge to the end of content.
const CONTENT_BOTTOM: f32 = 54.0;
/// Space after each block.
const BLOCK_GAP: f32 = 16.0;

const BODY_SIZE: f32 = 9.5;
const BODY_LEADING: f32 = 13.5;

/// Height of charts, at most.
pub(super) const CHART_HEIGHT: f32 = 210.0;
/// A chart is drawn down to this height to fill the end of a page.
const MIN_CHART_HEIGHT: f32 = 150.0;

/// Width and height of the chart box on a page `page_width` wide.
pub(super) fn chart_size(page_width: f32) -> (f32, f32) {
    let width = (page_width - 2.0 * MARGIN_X).max(50.0);
    (width, CHART_HEIGHT.min(width * 0.5))
}

/// The layout cursor: a canvas and the y of the top of the free space on the current page.
pub(super) struct Flow {
    pub canvas: Canvas,
    pub fonts: FontSet,
    pub height: f32,
    pub left: f32,
    pub right: f32,
    pub top: f32,
    pub bottom: f32,
    pub y: f32,
}

/// Baseline of a line of `size` text in a line box `leading` tall whose top is `top`:
/// capitals centred in the box.
pub(super) fn baseline(top: f32, leading: f32, size: f32) -> f32 {
    top - leading / 2.0 - size * 0.36
}

impl Flow {
    pub(super) fn style(&self, weight: Weight, size: f32) -> Style {
        Style { fonts: self.fonts, weight, size }
    }

    pub(super) fn content_width(&self) -> f32 {
        self.right - self.left
    }

    pub(super) fn new_page(&mut self) {
        self.canvas.new_page();
        self.y = self.top;
    }

    /// Starts a new page unless `height` fits below the cursor (or could not fit any page).
    pub(super) fn ensure(&mut self, height: f32) {
        if self.y - height < self.bottom && self.y < self.top {
            self.new_page();
        }
    }

    /// Whether `height` fits below the cursor.
    pub(super) fn fits(&self, height: f32) -> bool {
        self.y - height >= self.bottom
    }

    fn text_lines(&mut self, x: f32, lines: &[String], style: Style, leading: f32, colour: Colour) {
        for line in lines {
            self.ensure(leading);
            self.canvas.text(x, baseline(self.y, leading, style.size), style.weight, style.size, colour, line);
            self.y -= leading;
        }
    }

    /// Height of a block title.
    fn heading_height(&self, title: &str) -> f32 {
        let lines = self.style(Weight::Bold, 12.0).wrap(title, self.content_width(), 3).len();
        18.0 * lines as f32 + 4.0
    }

    /// A block's title, kept on one page with the first `keep` points of what it introduces.
    pub(super) fn heading(&mut self, title: &str, keep: f32) {
        let style = self.style(Weight::Bold, 12.0);
        let lines = style.wrap(title, self.content_width(), 3);
        self.ensure(18.0 * lines.len() as f32 + 4.0 + keep);
        self.text_lines(self.left, &lines, style, 18.0, ACCENT);
        self.y -= 4.0;
    }

    fn title(&mut self, doc: &Prepared) {
        let style = self.style(Weight::Bold, 20.0);
        let lines = style.wrap(&doc.title, self.content_width(), 3);
        self.text_lines(self.left, &lines, style, 26.0, INK);
        if let Some(subtitle) = &doc.subtitle {
            let style = self.style(Weight::Regular, 11.5);
            let lines = style.wrap(subtitle, self.content_width(), 2);
            self.text_lines(self.left, &lines, style, 16.0, MUTED);
        }
        self.y -= 8.0;
        self.canvas.fill_rect(self.left, self.y - 2.0, 44.0, 2.0, ACCENT);
        self.y -= 2.0 + BLOCK_GAP;
    }

    fn narrative(&mut self, narrative: &Narrative) {
        const PAD: f32 = 12.0;
        const INDENT: f32 = 16.0;
        let inner_left = self.left + INDENT;
        let inner_width = self.content_width() - INDENT - PAD;
        let heading = self.style(Weight::Bold, 12.0);
        let subheading = self.style(Weight::Bold, 10.0);
        let body = self.style(Weight::Regular, BODY_SIZE);

        enum Item {
            Line { text: String, style: Style, leading: f32, colour: Colour, indent: f32 },
            Bullet,
            Gap(f32),
        }
        let mut items = vec![Item::Line {
            text: "Executive summary".into(),
            style: heading,
            leading: 19.0,
            colour: ACCENT,
            indent: 0.0,
        }];
        if !narrative.summary.is_empty() {
            for text in body.wrap(&narrative.summary, inner_width, usize::MAX) {
                items.push(Item::Line { text, style: body, leading: BODY_LEADING, colour: INK, indent: 0.0 });
            }
        }
        if !narrative.takeaways.is_empty() {
            items.push(Item::Gap(7.0));
            let text = "Key takeaways".into();
            items.push(Item::Line { text, style: subheading, leading: 16.0, colour: INK, indent: 0.0 });
            for takeaway in &narrative.takeaways {
                items.push(Item::Bullet);
                for text in body.wrap(takeaway, inner_width - 12.0, usize::MAX) {
                    items.push(Item::Line { text, style: body, leading: BODY_LEADING, colour: INK, indent: 12.0 });
                }
                items.push(Item::Gap(2.0));
            }
        }
        let height = |item: &Item| match item {
            Item::Line { leading, .. } => *leading,
            Item::Bullet => 0.0,
            Item::Gap(gap) => *gap,
        };
        let total: f32 = items.iter().map(height).sum::<f32>() + 2.0 * PAD;
        if !self.fits(total) && total <= self.top - self.bottom {
            self.new_page();
        }

        // The panel is drawn behind the text, one piece per page it spans.
        let mut mark = self.canvas.mark();
        let mut panel_top = self.y;
        self.y -= PAD;
        let mut bullet_pending = false;
        for item in &items {
            let h = height(item);
            if h > 0.0 && !self.fits(h + PAD) {
                self.panel(mark, panel_top, self.y - PAD);
                self.new_page();
                mark = self.canvas.mark();
                panel_top = self.y;
                self.y -= PAD;
            }
            match item {
                Item::Line { text, style, leading, colour, indent } => {
                    let y = baseline(self.y, *leading, style.size);
                    if bullet_pending {
                        self.canvas.text(inner_left + 2.0, y, Weight::Bold, style.size, ACCENT, "•");
                        bullet_pending = false;
                    }
                    self.canvas.text(inner_left + indent, y, style.weight, style.size, *colour, text);
                }
                Item::Bullet => bullet_pending = true,
                Item::Gap(_) => {}
            }
            self.y -= h;
        }
        self.y -= PAD;
        self.panel(mark, panel_top, self.y);
        self.y -= BLOCK_GAP;
    }

    fn panel(&mut self, mark: Position, top: f32, bottom: f32) {
        let (left, width) = (self.left, self.content_width());
        self.canvas.fill_behind(
            mark,
            &[(left, bottom, width, top - bottom, PANEL), (left, bottom, 3.0, top - bottom, ACCENT)],
        );
    }

    fn kpis(&mut self, title: Option<&str>, tiles: &[Tile]) {
        const GAP: f32 = 10.0;
        const MIN_WIDTH: f32 = 110.0;
        if let Some(title) = title {
            self.heading(title, 58.0);
        }
        if tiles.is_empty() {
            return;
        }
        let content = self.content_width();
        let per_row = (((content + GAP) / (MIN_WIDTH + GAP)).floor() as usize).clamp(1, 4).min(tiles.len());
        let tile_width = (content - GAP * (per_row as f32 - 1.0)) / per_row as f32;
        for (r, row) in tiles.chunks(per_row).enumerate() {
            let with_change = row.iter().any(|t| t.change.is_some());
            let tile_height = if with_change { 58.0 } else { 44.0 };
            if r > 0 {
                self.y -= GAP;
            }
            self.ensure(tile_height);
            let top = self.y;
            for (i, tile) in row.iter().enumerate() {
                let x = self.left + i as f32 * (tile_width + GAP);
                self.tile(x, top, tile_width, tile_height, tile);
            }
            self.y -= tile_height;
        }
    }

    fn tile(&mut self, x: f32, top: f32, width: f32, height: f32, tile: &Tile) {
        const PAD: f32 = 11.0;
        self.canvas.fill_rect(x, top - height, width, height, PANEL);
        self.canvas.fill_rect(x, top - height, 3.0, height, ACCENT);
        let inner = width - 2.0 * PAD;
        let label = self.style(Weight::Regular, 8.0);
        let text = label.fit(&tile.label, inner);
        self.canvas.text(x + PAD, top - 15.0, Weight::Regular, 8.0, MUTED, &text);

        // The value shrinks to fit before it is cut.
        let mut value = self.style(Weight::Bold, 17.0);
        let natural = value.width(&tile.value);
        if natural > inner && natural > 0.0 {
            value.size = (value.size * inner / natural).max(10.0);
        }
        let text = value.fit(&tile.value, inner);
        self.canvas.text(x + PAD, top - 34.0, Weight::Bold, value.size, INK, &text);

        if let Some((change, trend)) = &tile.change {
            let colour = match trend {
                Trend::Up => UP,
                Trend::Down => DOWN,
                Trend::Flat => MUTED,
            };
            let style = self.style(Weight::Regular, 8.0);
            let text = style.fit(change, inner);
            self.canvas.text(x + PAD, top - 48.0, Weight::Regular, 8.0, colour, &text);
        }
    }

    fn prose(&mut self, title: Option<&str>, parts: &[TextPart]) {
        if let Some(title) = title {
            self.heading(title, 3.0 * BODY_LEADING);
        }
        let body = self.style(Weight::Regular, BODY_SIZE);
        let width = self.content_width();
        for (i, part) in parts.iter().enumerate() {
            match part {
                TextPart::Heading(text) => {
                    if i > 0 {
                        self.y -= 6.0;
                    }
                    let style = self.style(Weight::Bold, 10.5);
                    let lines = style.wrap(text, width, 3);
                    self.ensure(16.0 * lines.len() as f32 + 2.0 * BODY_LEADING);
                    self.text_lines(self.left, &lines, style, 16.0, INK);
                }
                TextPart::Paragraph(text) => {
                    let lines = body.wrap(text, width, usize::MAX);
                    self.text_lines(self.left, &lines, body, BODY_LEADING, INK);
                    self.y -= 5.0;
                }
                TextPart::Bullets(items) => {
                    for item in items {
                        let lines = body.wrap(item, width - 14.0, usize::MAX);
                        self.ensure(BODY_LEADING);
                        let y = baseline(self.y, BODY_LEADING, BODY_SIZE);
                        self.canvas.text(self.left + 3.0, y, Weight::Bold, BODY_SIZE, ACCENT, "•");
                        self.text_lines(self.left + 14.0, &lines, body, BODY_LEADING, INK);
                        self.y -= 2.0;
                    }
                    self.y -= 3.0;
                }
            }
        }
    }

    fn chart(&mut self, chart: &Chart) {
        // A chart that does not fit in what is left of the page is drawn shorter there, down
        // to a point, rather than leaving the space empty.
        let heading = chart.title.as_deref().map_or(0.0, |title| self.heading_height(title));
        let room = self.y - self.bottom - heading;
        let shorter;
        let plot = if room < chart.plot.height && room >= MIN_CHART_HEIGHT {
            shorter = chart.replot(room);
            &shorter
        } else {
            &chart.plot
        };
        if let Some(title) = &chart.title {
            self.heading(title, plot.height);
        }
        self.ensure(plot.height);
        let (x0, y0) = (self.left, self.y);
        let at = |x: f32, y: f32| (x0 + x, y0 - y);
        let series_colour = |series: usize| {
            let (r, g, b) = chart::colour(series);
            Colour::rgb8(r, g, b)
        };
        // Gridlines first, so bars and lines are drawn over them.
        for mark in &plot.marks {
            if let Mark::Rule { x1, y1, x2, y2, kind: RuleKind::Grid } = mark {
                self.canvas.line(&[at(*x1, *y1), at(*x2, *y2)], 0.5, RULE);
            }
        }
        for mark in &plot.marks {
            match mark {
                Mark::Bar { x, y, width, height, series } => {
                    let (px, py) = at(*x, *y + *height);
                    self.canvas.fill_rect(px, py, *width, *height, series_colour(*series));
                }
                Mark::Line { points, series } => {
                    let points: Vec<(f32, f32)> = points.iter().map(|&(x, y)| at(x, y)).collect();
                    self.canvas.line(&points, 1.6, series_colour(*series));
                }
                _ => {}
            }
        }
        for mark in &plot.marks {
            match mark {
                Mark::Rule { x1, y1, x2, y2, kind: RuleKind::Axis } => {
                    self.canvas.line(&[at(*x1, *y1), at(*x2, *y2)], 0.8, MUTED);
                }
                Mark::Dot { x, y, series } => {
                    let (cx, cy) = at(*x, *y);
                    let points: Vec<(f32, f32)> = (0..8)
                        .map(|k| {
                            let angle = std::f32::consts::PI * (k as f32 / 4.0 + 0.125);
                            (cx + 2.4 * angle.cos(), cy + 2.4 * angle.sin())
                        })
                        .collect();
                    self.canvas.fill_polygon(&points, series_colour(*series));
                }
                Mark::Swatch { x, y, size, series } => {
                    let (px, py) = at(*x, *y + *size);
                    self.canvas.fill_rect(px, py, *size, *size, series_colour(*series));
                }
                Mark::Label { x, y, text, anchor, role } => {
                    let style = self.style(Weight::Regular, chart::LABEL_SIZE);
                    let width = style.width(text);
                    let (px, py) = at(*x, *y);
                    let px = match anchor {
                        Anchor::Start => px,
                        Anchor::Middle => px - width / 2.0,
                        Anchor::End => px - width,
                    };
                    let colour = if matches!(role, LabelRole::Legend) { INK } else { MUTED };
                    self.canvas.text(px, py, Weight::Regular, chart::LABEL_SIZE, colour, text);
                }
                _ => {}
            }
        }
        self.y -= plot.height;
    }

    /// Running header and footer on every page.
    fn furniture(&mut self, doc: &Prepared) {
        let pages = self.canvas.page_count();
        let small = self.style(Weight::Regular, 8.0);
        let width = self.content_width();
        for page in 0..pages {
            self.canvas.select_page(page);
            let header_y = self.height - 34.0;
            let title = small.fit(&doc.title, width * 0.62);
            self.canvas.text(self.left, header_y, Weight::Regular, 8.0, MUTED, &title);
            if let Some(subtitle) = &doc.subtitle {
                let room = width - small.width(&title) - 24.0;
                let subtitle = small.fit(subtitle, room);
                let x = self.right - small.width(&subtitle);
                self.canvas.text(x, header_y, Weight::Regular, 8.0, MUTED, &subtitle);
            }
            self.canvas.line(&[(self.left, header_y - 8.0), (self.right, header_y - 8.0)], 0.5, RULE);

            let footer_y = 30.0;
            self.canvas.line(&[(self.left, footer_y + 12.0), (self.right, footer_y + 12.0)], 0.5, RULE);
            let generated = format!("Generated {}", doc.generated);
            self.canvas.text(self.left, footer_y, Weight::Regular, 8.0, MUTED, &generated);
            let number = format!("Page {} of {}", page + 1, pages);
            let x = self.right - small.width(&number);
            self.canvas.text(x, footer_y, Weight::Regular, 8.0, MUTED, &number);
        }
    }
}

/// Lays out `doc` on pages `width` × `height` points.
pub(super) fn draw(doc: &Prepared, fonts: FontSet, width: f32, height: f32) -> Canvas {
    let mut flow = Flow {
        canvas: Canvas::new(fonts),
        fonts,
        height,
        left: MARGIN_X,
        right: width - MARGIN_X,
        top: height - CONTENT_TOP,
        bottom: CONTENT_BOTTOM,
        y: height - CONTENT_TOP,
    };
    flow.title(doc);
    if let Some(narrative) = &doc.narrative {
        flow.narrative(narrative);
    }
    for block in &doc.blocks {
        match block {
            Part::Kpis { title, tiles } => flow.kpis(title.as_deref(), tiles),
            Part::Table(t) => table::draw(&mut flow, t),
            Part::Chart(chart) => flow.chart(chart),
            Part::Text { title, parts } => flow.prose(title.as_deref(), parts),
        }
        flow.y -= BLOCK_GAP;
    }
    flow.furniture(doc);
    flow.canvas
}
