use chrono::TimeZone;
use serde_json::json;

use super::*;
use crate::source::label::RowLabel;
use crate::source::{ColumnMeta, Comparison};

fn report(extra: Value) -> Report {
    let mut extra = extra;
    if extra.get("sources").is_none() {
        extra["sources"] = json!([{"name": "offers", "type": "offer_performance", "period": "7d"}]);
    }
    crate::testing::fixtures::report_json(extra)
}

fn offers() -> RowSet {
    let col = |name: &str, kind| ColumnMeta { name: name.into(), kind };
    RowSet {
        columns: vec![
            col("offer_id", ColumnType::Text),
            col("completed", ColumnType::Number),
            col("previous_completed", ColumnType::Number),
            col("completion_rate", ColumnType::Number),
            col("rewards", ColumnType::Number),
        ],
        rows: vec![
            vec![json!("B1"), json!(120), json!(100), json!(0.4), json!(250.5)],
            vec![json!("D2"), json!(60), json!(80), json!(0.25), Value::Null],
            vec![json!("I3"), json!(90), json!(95), json!(0.3), json!(10)],
        ],
        comparisons: vec![Comparison {
            label_column: "offer_id".into(),
            metric: "completions".into(),
            current_column: "completed".into(),
            previous_column: "previous_completed".into(),
        }],
        note: Some("7 days to 21 Nov 2026".into()),
        label: None,
    }
}

fn rows() -> BTreeMap<String, RowSet> {
    BTreeMap::from([("offers".to_owned(), offers())])
}

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 8, 0, 0).unwrap()
}

#[test]
fn a_report_without_sections_shows_one_table_per_source() {
    let composed = compose(&report(json!({})), &rows(), &Value::Null, at()).unwrap();
    let [Block::Table(table)] = &composed.document.blocks[..] else { panic!("{:?}", composed.document.blocks) };
    assert_eq!(table.title.as_deref(), Some("Offers"));
    assert_eq!(table.columns.len(), 5);
    assert_eq!(table.columns[3].format, ValueFormat::Percent { decimals: 1 });
    assert_eq!(table.columns[3].align, Align::Right);
    assert_eq!(table.columns[0].label, "Offer id");
    assert_eq!(composed.document.subtitle.as_deref(), Some("7 days to 21 Nov 2026"));
    assert_eq!(composed.sections[0].rows, 3);
}

#[test]
fn kpi_tiles_aggregate_and_show_the_change_against_the_previous_period() {
    let r = report(json!({"sections": [{"type": "kpi", "source": "offers", "tiles": [
        {"label": "Completions", "column": "completed"},
        {"label": "Avg completion rate", "column": "completion_rate", "aggregate": "avg", "format": {"kind": "percent"}}
    ]}]}));
    let composed = compose(&r, &rows(), &Value::Null, at()).unwrap();
    let Block::Kpis(kpis) = &composed.document.blocks[0] else { panic!() };
    assert_eq!(kpis.tiles[0].value, "270");
    let change = kpis.tiles[0].change.as_ref().unwrap();
    assert_eq!((change.text.as_str(), change.trend), ("-1.8% vs previous period", Trend::Down));
    assert_eq!(kpis.tiles[1].value, "31.7%");
    assert!(kpis.tiles[1].change.is_none());
    let facts: Vec<_> = composed.figures.facts.iter().map(|f| (f.label.as_str(), f.display.as_str())).collect();
    assert!(facts.contains(&("Completions", "270")));
    assert!(facts.contains(&("Completions (previous period)", "275")));
}

#[test]
fn a_tile_with_no_number_to_take_shows_a_dash_where_a_sum_of_nothing_is_zero() {
    let r = report(json!({"sections": [{"type": "kpi", "source": "offers", "tiles": [
        {"label": "Rewards of the first offer", "column": "rewards", "aggregate": "first"},
        {"label": "Lowest rewards", "column": "rewards", "aggregate": "min"},
    ]}]}));
    let mut first_is_null = offers();
    first_is_null.rows.swap(0, 1);
    let composed = compose(&r, &BTreeMap::from([("offers".to_owned(), first_is_null)]), &Value::Null, at()).unwrap();
    let Block::Kpis(kpis) = &composed.document.blocks[0] else { panic!() };
    assert_eq!((kpis.tiles[0].value.as_str(), kpis.tiles[1].value.as_str()), ("—", "10"));

    let mut empty = offers();
    empty.rows.clear();
    let r = report(json!({"sections": [{"type": "kpi", "source": "offers", "tiles": [
        {"label": "Completions", "column": "completed"},
        {"label": "Average rate", "column": "completion_rate", "aggregate": "avg"},
        {"label": "Best", "column": "completed", "aggregate": "max"},
    ]}]}));
    let composed = compose(&r, &BTreeMap::from([("offers".to_owned(), empty)]), &Value::Null, at()).unwrap();
    let Block::Kpis(kpis) = &composed.document.blocks[0] else { panic!() };
    let shown: Vec<&str> = kpis.tiles.iter().map(|t| t.value.as_str()).collect();
    assert_eq!(shown, ["0", "—", "—"]);
    let facts = &composed.figures.facts;
    assert!(!facts.iter().any(|f| f.label == "Average rate" || f.label == "Best"), "a dash is no fact: {facts:?}");
}

#[test]
fn tables_sort_with_nulls_last_and_total_their_number_columns() {
    let r = report(json!({"sections": [{"type": "table", "title": "Offers", "source": "offers", "totals": true,
        "sort": {"column": "rewards", "descending": true},
        "columns": [{"key": "offer_id"}, {"key": "rewards", "label": "Rewards", "format": {"kind": "currency", "code": "USD"}}]}]}));
    let composed = compose(&r, &rows(), &Value::Null, at()).unwrap();
    let Block::Table(table) = &composed.document.blocks[0] else { panic!() };
    let ids: Vec<_> = table.rows.iter().map(|r| r[0].clone()).collect();
    assert_eq!(ids, [json!("B1"), json!("I3"), json!("D2")]);
    assert_eq!(table.totals.as_ref().unwrap(), &vec![json!("Total"), json!(260.5)]);
    assert_eq!(table.columns[1].display(&json!(260.5)), "$260.50");
    assert!(composed.figures.facts.iter().any(|f| f.label == "Total rewards" && f.display == "$260.50"));
}

#[test]
fn movers_are_ordered_by_the_size_of_their_change() {
    let composed = compose(&report(json!({})), &rows(), &Value::Null, at()).unwrap();
    let movers: Vec<_> = composed.figures.movements.iter().map(|m| (m.subject.as_str(), m.change)).collect();
    assert_eq!(movers[0], ("offer id D2", Some(-0.25)));
    assert_eq!(movers[1], ("offer id B1", Some(0.2)));
    assert!(composed.figures.other_numbers.contains(&250.5));
}

#[test]
fn a_section_naming_a_missing_column_or_source_fails_with_its_name() {
    let r = report(
        json!({"sections": [{"type": "chart", "source": "offers", "chart": "bar", "x": "offer_id", "y": ["revenue"]}]}),
    );
    assert_eq!(
        compose(&r, &rows(), &Value::Null, at()).unwrap_err().to_string(),
        "section 0 names column `revenue`, which source `offers` does not return"
    );
    let r = report(json!({"sections": [{"type": "table", "source": "offers"}]}));
    let err = compose(&r, &BTreeMap::new(), &Value::Null, at()).unwrap_err();
    assert_eq!(err, ComposeError::UnknownSource { section: 0, name: "offers".into() });
}

#[test]
fn text_sections_fill_placeholders_and_charts_take_their_series() {
    let r = report(json!({"sections": [
        {"type": "text", "title": "Hello {customer.name}", "markdown": "Dear {customer.name},\n\n- balance {customer.balance}"},
        {"type": "chart", "source": "offers", "chart": "bar", "x": "offer_id", "y": ["completed", "previous_completed"]}
    ]}));
    let scope = json!({"customer": {"name": "Zoë", "balance": 12.5}});
    let composed = compose(&r, &rows(), &scope, at()).unwrap();
    let Block::Text(text) = &composed.document.blocks[0] else { panic!() };
    assert_eq!(text.title.as_deref(), Some("Hello Zoë"));
    assert_eq!(
        text.parts,
        vec![TextPart::Paragraph("Dear Zoë,".into()), TextPart::Bullets(vec!["balance 12.5".into()])]
    );
    let Block::Chart(chart) = &composed.document.blocks[1] else { panic!() };
    assert_eq!(chart.categories, ["B1", "D2", "I3"]);
    assert_eq!(chart.series[1].name, "Previous completed");
    assert_eq!(chart.series[0].values, [120.0, 60.0, 90.0]);
}

#[test]
fn table_names_are_unique_slugs() {
    let r = report(json!({"sections": [
        {"type": "table", "title": "Top offers!", "source": "offers"},
        {"type": "table", "title": "Top offers?", "source": "offers"}
    ]}));
    let composed = compose(&r, &rows(), &Value::Null, at()).unwrap();
    let names: Vec<_> = composed
        .document
        .blocks
        .iter()
        .filter_map(|b| match b {
            Block::Table(t) => Some(t.name.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(names, ["top-offers", "top-offers-2"]);
}

/// The offers with names, the last one without: a row without a name keeps its id.
fn named_offers(names: [Value; 3]) -> RowSet {
    let mut set = offers();
    set.columns.push(ColumnMeta { name: "offer_name".into(), kind: ColumnType::Text });
    for (row, name) in set.rows.iter_mut().zip(names) {
        row.push(name);
    }
    set.label = Some(RowLabel { name: "offer_name".into(), id: Some("offer_id".into()) });
    set
}

#[test]
fn a_named_source_shows_its_names_where_its_rows_hold_ids() {
    let rows = BTreeMap::from([(
        "offers".to_owned(),
        named_offers([json!("BOGO $10 · 7 days"), json!("Discount $2 on $10"), Value::Null]),
    )]);
    let r = report(json!({"sections": [
        {"type": "table", "source": "offers"},
        {"type": "table", "source": "offers", "columns": [{"key": "offer_id", "label": "Offer"}, {"key": "offer_name"}],
         "sort": {"column": "offer_id"}},
        {"type": "chart", "source": "offers", "chart": "bar", "x": "offer_id", "y": ["completed"]}
    ]}));
    let composed = compose(&r, &rows, &Value::Null, at()).unwrap();
    let [Block::Table(all), Block::Table(picked), Block::Chart(chart)] = &composed.document.blocks[..] else {
        panic!("{:?}", composed.document.blocks)
    };
    let labels: Vec<_> = all.columns.iter().map(|c| c.label.as_str()).collect();
    assert_eq!(labels, ["Offer name", "Completed", "Previous completed", "Completion rate", "Rewards"]);
    let first: Vec<_> = all.rows.iter().map(|r| r[0].clone()).collect();
    assert_eq!(first, [json!("BOGO $10 · 7 days"), json!("Discount $2 on $10"), json!("I3")]);
    // Named once, under the report's own label, and sorted by what is shown.
    assert_eq!(picked.columns.iter().map(|c| c.label.as_str()).collect::<Vec<_>>(), ["Offer"]);
    let sorted: Vec<_> = picked.rows.iter().map(|r| r[0].clone()).collect();
    assert_eq!(sorted, [json!("BOGO $10 · 7 days"), json!("Discount $2 on $10"), json!("I3")]);
    assert_eq!(chart.categories, ["BOGO $10 · 7 days", "Discount $2 on $10", "I3"]);

    let subjects: Vec<_> = composed.figures.movements.iter().map(|m| m.subject.as_str()).collect();
    assert_eq!(subjects, ["offer Discount $2 on $10", "offer BOGO $10 · 7 days", "offer id I3"]);
    let total = &composed.figures.overall[0];
    assert_eq!((total.subject.as_str(), total.current, total.previous), ("offer", 270.0, 275.0));
}

#[test]
fn the_built_in_narrator_never_prints_the_id_of_a_named_row() {
    let ids =
        ["ae264e3637204a6fb9bb56bc8210ddfd", "fafdcd668e3743c1bb461111dcafc2a4", "2906b810c7d4411798c6938adc9daaa5"];
    let mut set =
        named_offers([json!("BOGO $10 · 7 days"), json!("Discount $2 on $10"), json!("Informational · 4 days")]);
    for (row, id) in set.rows.iter_mut().zip(ids) {
        row[0] = json!(id);
    }
    let rows = BTreeMap::from([("offers".to_owned(), set)]);
    let r = report(json!({"sections": [
        {"type": "table", "source": "offers", "totals": true},
        {"type": "kpi", "source": "offers", "tiles": [{"label": "Completions", "column": "completed"}]}
    ]}));
    let figures = compose(&r, &rows, &Value::Null, at()).unwrap().figures;
    for addendum in [None, Some("Flag any offer with >5% week-over-week drop.")] {
        let narration = crate::narrate::builtin::BuiltinNarrator.write(&figures, addendum);
        let text = format!("{} {}", narration.summary, narration.takeaways.join(" "));
        assert!(text.contains("Discount $2 on $10"), "{text}");
        for id in ids {
            assert!(!text.contains(id) && !text.contains(&id[..8]), "{id} in {text}");
        }
    }
}
