//! CSV: one RFC 4180 file per table, for spreadsheet analysis. Cells hold the raw values, not
//! their display text (`1234.5`, never `$1,234.50`), so a spreadsheet can sum them; there is
//! no narrative, no chart and no totals row. Text that a spreadsheet would run as a formula is
//! defused with a leading `'`.
//!
//! Rows stream straight to the output: a table of any length is written with a fixed-size
//! buffer and one reused scratch string.

use std::fmt::Write as _;
use std::io::Write;

use serde_json::Value;

use super::{Block, Document, RenderError, RenderedFile, TableColumn};

pub const CONTENT_TYPE: &str = "text/csv; charset=utf-8";

/// One file per table block, named `{table.name}.csv`, in document order. A document with no
/// table yields no files (an empty list, not an error). Totals rows are left out: the file
/// holds the rows as the source returned them.
pub fn render_csv(doc: &Document) -> Result<Vec<RenderedFile>, RenderError> {
    doc.blocks
        .iter()
        .filter_map(|block| match block {
            Block::Table(table) => Some(table),
            _ => None,
        })
        .map(|table| {
            let mut bytes = Vec::new();
            write_table(&table.columns, table.rows.iter(), &mut bytes)?;
            Ok(RenderedFile { file_name: format!("{}.csv", table.name), content_type: CONTENT_TYPE, bytes })
        })
        .collect()
}

/// Writes a header row of column labels, then one record per row, CRLF-terminated, fields
/// quoted only when they must be. Values are written raw: numbers as they are (whole numbers
/// without `.0`), text as is, booleans `true`/`false`, null as an empty field, arrays and
/// objects as compact JSON. A row shorter than `columns` is padded with empty fields; extra
/// values are ignored, so every record has one field per column.
///
/// `csv::Writer` buffers internally (the crate advises against wrapping it in a `BufWriter`),
/// so `out` receives large writes whatever it is.
pub fn write_table<W: Write>(
    columns: &[TableColumn],
    rows: impl Iterator<Item = impl AsRef<[Value]>>,
    out: W,
) -> Result<(), RenderError> {
    let mut writer = ::csv::WriterBuilder::new()
        .terminator(::csv::Terminator::CRLF)
        .quote_style(::csv::QuoteStyle::Necessary)
        .from_writer(out);
    let mut scratch = String::new();

    for column in columns {
        writer.write_field(defused(&column.label, &mut scratch)).map_err(csv_error)?;
    }
    end_record(&mut writer)?;

    for row in rows {
        let row = row.as_ref();
        for index in 0..columns.len() {
            let field = match row.get(index) {
                Some(value) => raw(value, &mut scratch),
                None => "",
            };
            writer.write_field(field).map_err(csv_error)?;
        }
        end_record(&mut writer)?;
    }
    writer.flush()?;
    Ok(())
}

fn end_record<W: Write>(writer: &mut ::csv::Writer<W>) -> Result<(), RenderError> {
    writer.write_record(None::<&[u8]>).map_err(csv_error)
}

/// The field text of one raw value; `scratch` holds it when it has to be built.
fn raw<'a>(value: &'a Value, scratch: &'a mut String) -> &'a str {
    match value {
        Value::Null => "",
        Value::Bool(true) => "true",
        Value::Bool(false) => "false",
        Value::String(text) => defused(text, scratch),
        Value::Number(number) => {
            scratch.clear();
            // Writing into a String cannot fail.
            let _ = match (number.as_i64(), number.as_u64(), number.as_f64()) {
                (Some(i), _, _) => write!(scratch, "{i}"),
                (None, Some(u), _) => write!(scratch, "{u}"),
                (None, None, Some(f)) if f.fract() == 0.0 && f.abs() < 1e15 => write!(scratch, "{f:.0}"),
                // Rust prints the shortest text that reads back as the same f64, never with an
                // exponent, which every spreadsheet parses.
                (None, None, Some(f)) => write!(scratch, "{f}"),
                (None, None, None) => write!(scratch, "{number}"),
            };
            scratch
        }
        // JSON text starts with `[` or `{`: never a formula.
        Value::Array(_) | Value::Object(_) => {
            scratch.clear();
            let _ = write!(scratch, "{value}");
            scratch
        }
    }
}

/// `text`, or `'` + `text` when a spreadsheet would read it as a formula: it starts with `=`,
/// `+`, `-`, `@`, a tab or a carriage return. Text that is a plain number (`-12.5`, `+3e2`) is
/// left alone: a spreadsheet reads it as that number, not as a formula.
fn defused<'a>(text: &'a str, scratch: &'a mut String) -> &'a str {
    let risky = matches!(text.as_bytes().first(), Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r'));
    if !risky || is_plain_number(text) {
        return text;
    }
    scratch.clear();
    scratch.push('\'');
    scratch.push_str(text);
    scratch
}

/// A decimal literal: optional sign, digits with at most one point, optional exponent.
fn is_plain_number(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut i = usize::from(matches!(bytes.first(), Some(b'+' | b'-')));
    let digits = |i: &mut usize| {
        let start = *i;
        while bytes.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    let mut mantissa = digits(&mut i);
    if bytes.get(i) == Some(&b'.') {
        i += 1;
        mantissa += digits(&mut i);
    }
    if mantissa == 0 {
        return false;
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(bytes.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == bytes.len()
}

fn csv_error(error: ::csv::Error) -> RenderError {
    if !error.is_io_error() {
        return RenderError::Csv(error.to_string());
    }
    match error.into_kind() {
        ::csv::ErrorKind::Io(error) => RenderError::Io(error),
        other => RenderError::Csv(format!("{other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::ValueFormat;
    use crate::render::Align;
    use crate::render::html::sample;

    fn column(key: &str, label: &str) -> TableColumn {
        TableColumn { key: key.into(), label: label.into(), format: ValueFormat::Text, align: Align::Left }
    }

    /// Counts records without keeping them.
    struct LineCounter<W> {
        inner: W,
        lines: usize,
    }

    impl<W: Write> Write for LineCounter<W> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let written = self.inner.write(buf)?;
            self.lines += buf[..written].iter().filter(|&&b| b == b'\n').count();
            Ok(written)
        }

        fn flush(&mut self) -> std::io::Result<()> {
            self.inner.flush()
        }
    }

    #[test]
    fn two_hundred_thousand_rows_stream_through_without_being_collected() {
        let columns = [column("id", "Id"), column("name", "Name"), column("amount", "Amount"), column("note", "Note")];
        let rows =
            (0..200_000u64).map(|i| [json!(i), json!(format!("customer {i}")), json!(i as f64 * 0.25), Value::Null]);
        let mut out = LineCounter { inner: std::io::sink(), lines: 0 };
        write_table(&columns, rows, &mut out).unwrap();
        assert_eq!(out.lines, 200_001);
    }

    #[test]
    fn raw_values_read_back_exactly_with_quoting_and_formula_guards() {
        let columns = [column("label", "Label"), column("value", "Value, raw")];
        let rows = vec![
            vec![json!("integer"), json!(1234)],
            vec![json!("float"), json!(1234.5)],
            vec![json!("whole float"), json!(3.0)],
            vec![json!("negative number"), json!(-12)],
            vec![json!("small"), json!(0.000001)],
            vec![json!("big"), json!(u64::MAX)],
            vec![json!("formula"), json!("=SUM(A1:A9)")],
            vec![json!("plus"), json!("+1 555 0100")],
            vec![json!("minus"), json!("-2+3")],
            vec![json!("numeric text"), json!("-12.50")],
            vec![json!("at"), json!("@cmd")],
            vec![json!("tab"), json!("\tx")],
            vec![json!("carriage return"), json!("\rx")],
            vec![json!("comma"), json!("a,b")],
            vec![json!("quote"), json!("say \"hi\"")],
            vec![json!("newline"), json!("line 1\nline 2")],
            vec![json!("yes"), json!(true)],
            vec![json!("no"), json!(false)],
            vec![json!("null"), Value::Null],
            vec![json!("array"), json!([1, "two"])],
            vec![json!("non-Latin"), json!("Zoë Ørsted — Ελληνικά, Кириллица")],
            vec![json!("short row")],
        ];
        let mut bytes = Vec::new();
        write_table(&columns, rows.iter(), &mut bytes).unwrap();

        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with("Label,\"Value, raw\"\r\n"), "{text}");
        assert!(text.ends_with("short row,\r\n"), "{text}");

        let mut reader = ::csv::Reader::from_reader(bytes.as_slice());
        assert_eq!(reader.headers().unwrap(), vec!["Label", "Value, raw"]);
        let read: Vec<(String, String)> = reader
            .records()
            .map(|record| {
                let record = record.unwrap();
                assert_eq!(record.len(), 2);
                (record[0].to_owned(), record[1].to_owned())
            })
            .collect();
        let expected = [
            ("integer", "1234"),
            ("float", "1234.5"),
            ("whole float", "3"),
            ("negative number", "-12"),
            ("small", "0.000001"),
            ("big", "18446744073709551615"),
            ("formula", "'=SUM(A1:A9)"),
            ("plus", "'+1 555 0100"),
            ("minus", "'-2+3"),
            ("numeric text", "-12.50"),
            ("at", "'@cmd"),
            ("tab", "'\tx"),
            ("carriage return", "'\rx"),
            ("comma", "a,b"),
            ("quote", "say \"hi\""),
            ("newline", "line 1\nline 2"),
            ("yes", "true"),
            ("no", "false"),
            ("null", ""),
            ("array", "[1,\"two\"]"),
            ("non-Latin", "Zoë Ørsted — Ελληνικά, Кириллица"),
            ("short row", ""),
        ];
        let expected: Vec<(String, String)> = expected.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        assert_eq!(read, expected);
    }

    #[test]
    fn header_labels_are_guarded_too() {
        let mut bytes = Vec::new();
        write_table(&[column("x", "=cmd|' /C calc'!A0")], std::iter::empty::<Vec<Value>>(), &mut bytes).unwrap();
        assert_eq!(String::from_utf8(bytes).unwrap(), "'=cmd|' /C calc'!A0\r\n");
    }

    #[test]
    fn plain_numbers_are_told_apart_from_formulas() {
        for number in ["-1", "+2", "-0.5", "-.5", "-1e5", "-1.5E-3", "12"] {
            assert!(is_plain_number(number), "{number}");
        }
        for text in ["-", "+", "-.", "-1e", "-1-1", "-inf", "-NaN", "=1", "-1 ", "1,000"] {
            assert!(!is_plain_number(text), "{text}");
        }
    }

    #[test]
    fn every_table_becomes_one_file_named_after_it() {
        let files = render_csv(&sample::document()).unwrap();
        let names: Vec<&str> = files.iter().map(|file| file.file_name.as_str()).collect();
        assert_eq!(names, ["offers.csv", "empty.csv"]);
        assert!(files.iter().all(|file| file.content_type == "text/csv; charset=utf-8"));

        let mut reader = ::csv::Reader::from_reader(files[0].bytes.as_slice());
        assert_eq!(reader.headers().unwrap(), vec!["Offer", "Revenue", "Conversion", "Sent"]);
        let records: Vec<::csv::StringRecord> = reader.records().collect::<Result<_, _>>().unwrap();
        assert_eq!(records.len(), 3, "totals are not written");
        assert_eq!(&records[0], vec!["Zoë Ørsted — Ελληνικά, Кириллица", "1234.5", "0.1534", "1200"]);
        assert_eq!(&records[1][0], "<script>alert(\"x\")</script> & | pipes |");
        assert_eq!(&records[2][1], "-250");

        let empty = String::from_utf8(files[1].bytes.clone()).unwrap();
        assert_eq!(empty, "Name\r\n");
    }

    #[test]
    fn a_document_without_tables_yields_no_files() {
        let mut doc = sample::document();
        doc.blocks.retain(|block| !matches!(block, Block::Table(_)));
        assert!(render_csv(&doc).unwrap().is_empty());
    }
}
