//! Renders sample documents and reads them back with poppler's `pdftotext` and `pdfinfo`.

use std::io::Write;
use std::process::{Command, Stdio};

use chrono::{TimeZone, Utc};
use serde_json::{Value, json};

use super::*;
use crate::domain::{ChartKind, NarrativeOutput, Orientation, PageSetup, PaperSize, ValueFormat};
use crate::render::model::{
    Align, Block, Change, ChartBlock, KpiBlock, Series, TableBlock, TableColumn, TextBlock, TextPart, Tile, Trend,
};

fn run_poppler(tool: &str, args: &[&str], pdf: &[u8]) -> String {
    let mut file = tempfile::NamedTempFile::new().expect("a temporary file");
    file.write_all(pdf).expect("the PDF is written to the temporary file");
    let path = file.path().to_str().expect("a UTF-8 temporary path").to_owned();
    let mut command = Command::new(tool);
    command.args(args).arg(&path);
    if tool == "pdftotext" {
        command.arg("-");
    }
    let output = command.stdin(Stdio::null()).output().unwrap_or_else(|e| {
        panic!("`{tool}` could not be run ({e}); these tests need poppler-utils (apt-get install poppler-utils)")
    });
    assert!(output.status.success(), "{tool} failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("poppler prints UTF-8")
}

/// The text of each page, laid out as on the page.
fn pages_text(pdf: &[u8]) -> Vec<String> {
    let text = run_poppler("pdftotext", &["-layout", "-enc", "UTF-8"], pdf);
    let mut pages: Vec<String> = text.split('\u{c}').map(str::to_owned).collect();
    if pages.last().is_some_and(|p| p.trim().is_empty()) {
        pages.pop();
    }
    pages
}

fn pdfinfo(pdf: &[u8]) -> String {
    run_poppler("pdfinfo", &[], pdf)
}

/// Renders `doc`, asserting the writer reported nothing.
fn render_clean(doc: &Document) -> Vec<u8> {
    let (bytes, warnings) = render(doc, Options::default()).expect("the document renders");
    assert!(warnings.is_empty(), "writer warnings: {warnings:?}");
    bytes
}

fn column(key: &str, label: &str, format: ValueFormat, align: Align) -> TableColumn {
    TableColumn { key: key.into(), label: label.into(), format, align }
}

fn document(title: &str, blocks: Vec<Block>) -> Document {
    Document {
        title: title.into(),
        subtitle: Some("1–31 May 2026 · Account 4471-0092".into()),
        generated_at: Utc.with_ymd_and_hms(2026, 6, 1, 7, 30, 0).single().expect("a valid time"),
        page: PageSetup { size: PaperSize::A4, orientation: Orientation::Portrait },
        narrative: None,
        blocks,
    }
}

fn transactions(rows: usize) -> TableBlock {
    let descriptions = [
        "Monthly subscription — Business plan",
        "Usage overage",
        "Refund for duplicate charge",
        "Professional services: onboarding workshop and data migration for three regional teams",
        "Support add-on",
    ];
    TableBlock {
        title: Some("Transactions".into()),
        name: "transactions".into(),
        columns: vec![
            column("date", "Date", ValueFormat::Date, Align::Left),
            column("reference", "Reference", ValueFormat::Text, Align::Left),
            column("description", "Description", ValueFormat::Text, Align::Left),
            column("quantity", "Qty", ValueFormat::Number { decimals: 0 }, Align::Right),
            column("amount", "Amount", ValueFormat::Currency { code: "USD".into() }, Align::Right),
        ],
        rows: (0..rows)
            .map(|i| {
                let amount = if i % 7 == 3 { -(i as f64) * 3.5 } else { 120.0 + (i * 37 % 1000) as f64 * 1.25 };
                vec![
                    json!(format!("2026-05-{:02}T09:00:00Z", i % 28 + 1)),
                    json!(format!("INV-{:05}", i + 1)),
                    json!(descriptions[i % descriptions.len()]),
                    json!(1 + i % 4),
                    json!(amount),
                ]
            })
            .collect(),
        totals: Some(vec![Value::Null, Value::Null, json!("Total"), json!(62), json!(48_211.75)]),
    }
}

fn kpis() -> Block {
    let tile = |label: &str, value: &str, change: Option<(&str, Trend)>| Tile {
        label: label.into(),
        value: value.into(),
        change: change.map(|(text, trend)| Change { text: text.into(), trend }),
    };
    Block::Kpis(KpiBlock {
        title: None,
        tiles: vec![
            tile("Opening balance", "$12,480.00", None),
            tile("Charges this period", "$48,211.75", Some(("+12.3% vs previous period", Trend::Up))),
            tile("Closing balance", "$9,104.20", Some(("-27.1% vs previous period", Trend::Down))),
        ],
    })
}

/// A one-page customer statement.
fn statement() -> Document {
    let note = TextBlock::from_markdown(
        None,
        "Thank you for your business. Payment is due within 30 days of the statement date; \
         amounts are shown in US dollars and include applicable taxes.",
    );
    document("Customer Statement — Acme Widgets Ltd", vec![kpis(), Block::Text(note), Block::Table(transactions(25))])
}

/// A multi-page digest with a narrative, a chart and prose.
fn digest() -> Document {
    let mut doc = document(
        "Weekly Revenue Digest",
        vec![
            kpis(),
            Block::Chart(ChartBlock {
                title: Some("Revenue by channel".into()),
                kind: ChartKind::Bar,
                categories: vec!["Email".into(), "Mobile".into(), "Social".into(), "Web".into(), "Partners".into()],
                series: vec![
                    Series { name: "This week".into(), values: vec![12_400.0, 30_150.0, 8_020.0, 41_900.0, 5_300.0] },
                    Series { name: "Last week".into(), values: vec![11_000.0, 28_400.0, 9_750.0, 39_100.0, 6_050.0] },
                ],
                format: ValueFormat::Currency { code: "USD".into() },
            }),
            Block::Table(transactions(60)),
            Block::Chart(ChartBlock {
                title: Some("Daily orders".into()),
                kind: ChartKind::Line,
                categories: (1..=14).map(|d| format!("May {d}")).collect(),
                series: vec![Series {
                    name: "Orders".into(),
                    values: (0..14).map(|d| 180.0 + (d as f64 * 1.3).sin() * 40.0 + d as f64 * 6.0).collect(),
                }],
                format: ValueFormat::Number { decimals: 0 },
            }),
            Block::Text(TextBlock::from_markdown(
                Some("Notes".into()),
                "# Method\nFigures are net of refunds and exclude tax.\n\n- Channels follow the last-click rule.\n\
                 - Partner revenue is reported a week in arrears.",
            )),
        ],
    );
    doc.subtitle = Some("Week 22 · 25–31 May 2026".into());
    doc.narrative = Some(NarrativeOutput {
        summary: "Revenue rose 8.4% week on week to $97,770, led by web and mobile. Refunds were flat at \
                  $1,240 and the partner channel slipped for the second week running."
            .into(),
        takeaways: vec![
            "Web remains the largest channel at $41,900 (43% of revenue).".into(),
            "Social fell 17.7%; the spring campaign ended on 24 May.".into(),
            "Partner revenue is down 12.4% and should be reviewed with the channel team.".into(),
        ],
        narrator: "builtin".into(),
        dropped: Vec::new(),
        error: None,
        provider: None,
        fallback_reason: None,
    });
    doc
}

#[test]
fn a_statement_extracts_its_title_figures_and_narrative() {
    let mut doc = statement();
    doc.narrative = digest().narrative;
    let pages = pages_text(&render_clean(&doc));
    let text = pages.join("\n");
    for expected in [
        "Customer Statement — Acme Widgets Ltd",
        "1–31 May 2026 · Account 4471-0092",
        "Executive summary",
        "Revenue rose 8.4% week on week",
        "Key takeaways",
        "Web remains the largest channel at $41,900",
        "Charges this period",
        "$48,211.75",
        "+12.3% vs previous period",
        "INV-00025",
        "2026-05-01 09:00 UTC",
        "-$10.50",
        "Total",
        "Generated 2026-06-01 07:30 UTC",
    ] {
        assert!(text.contains(expected), "{expected:?} missing from:\n{text}");
    }
}

#[test]
fn a_statement_fits_on_one_page() {
    let pages = pages_text(&render_clean(&statement()));
    assert_eq!(pages.len(), 1, "{pages:#?}");
    assert!(pages[0].contains("Page 1 of 1"));
}

#[test]
fn a_long_table_repeats_its_header_on_every_page() {
    let doc = document("Ledger", vec![Block::Table(transactions(2_000))]);
    let pages = pages_text(&render_clean(&doc));
    assert!(pages.len() > 20, "{} pages", pages.len());
    for (i, page) in pages.iter().enumerate() {
        let header = page.lines().any(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words == ["Date", "Reference", "Description", "Qty", "Amount"]
        });
        assert!(header, "page {} has no header row:\n{page}", i + 1);
        if i > 0 {
            assert!(page.contains("Transactions (continued)"), "page {}", i + 1);
        }
    }
    let text = pages.join("\n");
    for n in 1..=2_000 {
        assert!(text.contains(&format!("INV-{n:05}")), "row {n} is missing");
    }
    assert!(pages.last().is_some_and(|p| p.contains("$48,211.75")), "the totals row ends the table");
}

#[test]
fn every_page_is_numbered_page_x_of_y() {
    let doc = document("Ledger", vec![Block::Table(transactions(300))]);
    let pages = pages_text(&render_clean(&doc));
    let total = pages.len();
    assert!(total >= 3);
    for (i, page) in pages.iter().enumerate() {
        assert!(page.contains(&format!("Page {} of {total}", i + 1)), "page {}:\n{page}", i + 1);
        assert!(page.contains("Ledger"), "the running header names the report on page {}", i + 1);
        assert!(page.contains("Generated 2026-06-01 07:30 UTC"));
    }
}

#[test]
fn greek_cyrillic_and_accented_text_round_trips_through_extraction() {
    let sample = "Zoë Ørsted — Ελληνικά, Кириллица, 1 234,50 €";
    let mut doc = document(sample, vec![Block::Text(TextBlock::from_markdown(None, sample))]);
    doc.subtitle = Some("Ελληνικά".into());
    let pdf = render_clean(&doc);
    let text = pages_text(&pdf).join("\n");
    assert!(text.lines().any(|l| l.trim() == sample), "{sample:?} not extracted exactly from:\n{text}");
    let fonts = run_poppler("pdffonts", &[], &pdf);
    assert!(fonts.contains("DejaVuSans") && fonts.lines().skip(2).all(|l| l.contains(" yes ")), "{fonts}");
}

#[test]
fn winansi_text_uses_the_standard_fonts_and_other_text_embeds_dejavu() {
    let fonts = run_poppler("pdffonts", &[], &render_clean(&statement()));
    assert!(fonts.contains("Helvetica") && !fonts.contains("DejaVu"), "{fonts}");

    let mut doc = statement();
    doc.title = "Выписка по счёту".into();
    let fonts = run_poppler("pdffonts", &[], &render_clean(&doc));
    assert!(fonts.contains("+DejaVuSans-Bold") && fonts.contains("+DejaVuSans "), "{fonts}");
    assert!(!fonts.contains("Helvetica"), "{fonts}");
}

#[test]
fn an_embedded_statement_reads_the_same_as_a_standard_one() {
    let options = Options { fonts: Some(FontSet::Embedded), compress: None };
    let (bytes, warnings) = render(&statement(), options).expect("renders");
    assert!(warnings.is_empty(), "{warnings:?}");
    let text = pages_text(&bytes).join("\n");
    for expected in ["Customer Statement — Acme Widgets Ltd", "$48,211.75", "INV-00025", "Page 1 of 1"] {
        assert!(text.contains(expected), "{expected:?} missing from:\n{text}");
    }
}

#[test]
fn an_empty_table_shows_its_header_and_no_rows() {
    let mut table = transactions(0);
    table.totals = None;
    let pages = pages_text(&render_clean(&document("Empty", vec![Block::Table(table)])));
    assert_eq!(pages.len(), 1);
    assert!(pages[0].contains("Reference") && pages[0].contains("Amount"), "{}", pages[0]);
    assert!(pages[0].contains("No rows"), "{}", pages[0]);
}

#[test]
fn letter_landscape_sets_the_page_size() {
    let mut doc = statement();
    doc.page = PageSetup { size: PaperSize::Letter, orientation: Orientation::Landscape };
    let info = pdfinfo(&render_clean(&doc));
    assert!(info.lines().any(|l| l.starts_with("Page size:") && l.contains("792 x 612 pts")), "{info}");

    doc.page = PageSetup { size: PaperSize::A4, orientation: Orientation::Portrait };
    let info = pdfinfo(&render_clean(&doc));
    assert!(info.lines().any(|l| l.starts_with("Page size:") && l.contains("595.28 x 841.89 pts")), "{info}");
}

#[test]
fn metadata_carries_the_title_producer_and_run_time() {
    let info = run_poppler("pdfinfo", &["-isodates"], &render_clean(&statement()));
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim_start_matches(':').trim().to_owned()))
            .unwrap_or_default()
    };
    assert_eq!(field("Title"), "Customer Statement — Acme Widgets Ltd");
    assert_eq!(field("Producer"), "Herald");
    assert!(field("CreationDate").starts_with("2026-06-01T07:30:00"), "{info}");
    assert!(field("ModDate").starts_with("2026-06-01T07:30:00"), "{info}");
    assert!(!info.contains("PDF/X"), "the file makes no PDF/X claim:\n{info}");
}

#[test]
fn a_digest_with_charts_and_prose_renders_cleanly() {
    let pages = pages_text(&render_clean(&digest()));
    let text = pages.join("\n");
    for expected in ["Revenue by channel", "This week", "Last week", "Partners", "Daily orders", "Method"] {
        assert!(text.contains(expected), "{expected:?} missing from:\n{text}");
    }
    assert!(text.contains("$40k") || text.contains("$50k"), "value axis labels:\n{text}");
}

#[test]
fn hostile_input_renders_without_panicking() {
    let huge = "x".repeat(50_000);
    let mut doc = document(&format!("{huge}\t\u{0}\u{7}title\r\n"), Vec::new());
    doc.subtitle = Some("\u{202e}reversed\u{feff} 🦀 漢字".into());
    doc.narrative = Some(NarrativeOutput {
        summary: format!("{huge} {huge}"),
        takeaways: vec![String::new(), huge.clone()],
        narrator: String::new(),
        dropped: Vec::new(),
        error: None,
        provider: None,
        fallback_reason: None,
    });
    doc.blocks = vec![
        Block::Kpis(KpiBlock { title: Some(String::new()), tiles: Vec::new() }),
        Block::Kpis(KpiBlock {
            title: None,
            tiles: (0..9)
                .map(|i| Tile {
                    label: huge.clone(),
                    value: if i == 0 { huge.clone() } else { String::new() },
                    change: Some(Change { text: huge.clone(), trend: Trend::Flat }),
                })
                .collect(),
        }),
        Block::Table(TableBlock {
            title: None,
            name: "none".into(),
            columns: Vec::new(),
            rows: vec![vec![json!(1)]],
            totals: Some(Vec::new()),
        }),
        Block::Table(TableBlock {
            title: Some(huge.clone()),
            name: "ragged".into(),
            columns: (0..40)
                .map(|i| column(&i.to_string(), &huge, ValueFormat::Percent { decimals: 200 }, Align::Right))
                .collect(),
            rows: vec![
                vec![],
                vec![json!(f64::MAX), json!(-0.0), json!(null), json!({"a": [1, 2]})],
                vec![json!(huge); 50],
            ],
            totals: Some(vec![json!(1e300)]),
        }),
        Block::Table(TableBlock {
            title: None,
            name: "one".into(),
            columns: vec![column("a", "", ValueFormat::Text, Align::Left)],
            rows: vec![vec![json!(huge)]; 3],
            totals: None,
        }),
        Block::Chart(ChartBlock {
            title: None,
            kind: ChartKind::Line,
            categories: vec![huge.clone(); 500],
            series: vec![
                Series { name: huge.clone(), values: vec![f64::NAN, f64::INFINITY, f64::MAX, -f64::MAX, 1.0] },
                Series { name: String::new(), values: Vec::new() },
            ],
            format: ValueFormat::Currency { code: "\u{0}".into() },
        }),
        Block::Chart(ChartBlock {
            title: None,
            kind: ChartKind::Bar,
            categories: Vec::new(),
            series: Vec::new(),
            format: ValueFormat::Number { decimals: 255 },
        }),
        Block::Text(TextBlock {
            title: None,
            parts: vec![TextPart::Bullets(Vec::new()), TextPart::Heading(huge.clone())],
        }),
    ];
    let pdf = render_pdf(&doc).expect("hostile input still renders");
    assert!(pdf.starts_with(b"%PDF-"));
    assert!(!pages_text(&pdf).is_empty());

    let empty = Document { narrative: None, blocks: Vec::new(), subtitle: None, title: String::new(), ..doc };
    let pages = pages_text(&render_clean(&empty));
    assert_eq!(pages.len(), 1);
    assert!(pages[0].contains("Page 1 of 1"));

    for generated_at in [chrono::DateTime::<Utc>::MIN_UTC, chrono::DateTime::<Utc>::MAX_UTC] {
        let doc = Document { generated_at, ..empty.clone() };
        assert!(render_pdf(&doc).is_ok_and(|pdf| pdf.starts_with(b"%PDF-")));
    }
}

/// Writes page 1 of the sample statement and digests as PNG files (with their PDFs) to
/// `target/render-samples/`, so a reviewer can look at them after `make test`.
#[test]
fn sample_pages_are_written_as_images() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/render-samples");
    std::fs::create_dir_all(&dir).expect("the samples folder");
    let mut greek = digest();
    greek.title = "Еженедельный отчёт — Ελληνικά".into();
    greek.page = PageSetup { size: PaperSize::Letter, orientation: Orientation::Landscape };
    for (name, doc) in [("statement", statement()), ("digest", digest()), ("digest-unicode", greek)] {
        let pdf_path = dir.join(format!("herald-{name}.pdf"));
        std::fs::write(&pdf_path, render_clean(&doc)).expect("the PDF is written");
        let prefix = dir.join(format!("herald-{name}"));
        let status = Command::new("pdftoppm")
            .args(["-png", "-r", "60", "-f", "1", "-l", "1"])
            .arg(&pdf_path)
            .arg(&prefix)
            .status()
            .expect("pdftoppm runs");
        assert!(status.success());
        let png = dir.join(format!("herald-{name}-1.png"));
        assert!(std::fs::metadata(&png).is_ok_and(|m| m.len() > 1_000), "{} is written", png.display());
    }
}
