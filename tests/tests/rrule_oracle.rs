//! Herald's schedule previews against an independent oracle: python-dateutil (installed by
//! `make test`, run by `tests/oracle/rrule_oracle.py`) computes the fire times of a few hundred
//! RFC 5545 rules — month ends, `COUNT`, `BYSETPOS` lists, `BYWEEKNO`/`BYYEARDAY`, `WKST=SU`
//! with `INTERVAL=2`, `BYHOUR`/`BYMINUTE`, minutely rules, `RDATE`/`EXDATE` — in zones with
//! DST transitions (and a 30-minute one, and one at midnight), pinned as RFC 5545 §3.3.5 says,
//! and every preview must agree, whether the rule is kept as text or drawn by the builder.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use chrono_tz::Tz;
use herald_core::pipeline::schedules::{RuleInput, preview};
use serde_json::{Value, json};

const ZONES: [&str; 8] = [
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "America/Santiago",
    "Asia/Kolkata",
    "Europe/Berlin",
    "UTC",
];

/// Starts near 2026's transitions (New York 8 March and 1 November, Europe 29 March and 25
/// October, Santiago and Lord Howe 5 April and 6 September / 4 October).
const STARTS: [&str; 4] = ["20260115T090000", "20260307T013000", "20260830T233000", "20261024T013000"];

/// RRULE values (and extra lines) across the RFC's parts; `{until}` is 40 days after DTSTART.
const RULES: [&str; 34] = [
    "FREQ=DAILY",
    "FREQ=DAILY;INTERVAL=3;BYHOUR=1,2,3;BYMINUTE=0,30",
    "FREQ=HOURLY;INTERVAL=5",
    "FREQ=HOURLY;BYHOUR=0,1,2,3;BYMINUTE=15,45",
    "FREQ=MINUTELY;INTERVAL=45;BYHOUR=0,1,2,3",
    "FREQ=MINUTELY;INTERVAL=20;COUNT=40",
    "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,SU;WKST=SU",
    "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,SU;WKST=MO",
    "FREQ=WEEKLY;BYDAY=MO,WE,FR;BYHOUR=2;BYMINUTE=30",
    "FREQ=WEEKLY;INTERVAL=3;COUNT=10;WKST=SU;BYDAY=SA,SU",
    "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=2,-1",
    "FREQ=MONTHLY;BYMONTHDAY=-1",
    "FREQ=MONTHLY;BYMONTHDAY=1,15,-1;BYHOUR=2",
    "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
    "FREQ=MONTHLY;BYDAY=TU,WE,TH;BYSETPOS=1,3,-1",
    "FREQ=MONTHLY;BYDAY=-2MO;COUNT=8",
    "FREQ=MONTHLY;BYDAY=1FR,-1FR",
    "FREQ=MONTHLY;INTERVAL=3;BYMONTHDAY=-3,-2",
    "FREQ=MONTHLY;BYMONTHDAY=31",
    "FREQ=YEARLY;BYWEEKNO=1,20,53;BYDAY=MO",
    "FREQ=YEARLY;BYWEEKNO=-1;BYDAY=SU",
    "FREQ=YEARLY;BYYEARDAY=1,100,-1",
    "FREQ=YEARLY;BYMONTH=2,8;BYMONTHDAY=29,-1",
    "FREQ=YEARLY;BYMONTH=3,4,9,10;BYDAY=-1SU,1SU;BYHOUR=0,1,2,3",
    "FREQ=YEARLY;INTERVAL=2;BYMONTH=1;BYDAY=SU,MO",
    "FREQ=DAILY;COUNT=30;BYHOUR=0,2,4",
    "FREQ=DAILY;UNTIL={until}",
    "FREQ=DAILY;BYHOUR=2;BYMINUTE=30\nEXDATE:{start+1}\nRDATE:{start+2h}",
    "FREQ=WEEKLY;BYDAY=SU;BYHOUR=0,1,2,3;BYMINUTE=0,30;BYSETPOS=1,-1",
    "FREQ=MONTHLY;BYMONTHDAY=-1;BYHOUR=23;BYMINUTE=59;UNTIL={until}",
    "FREQ=MINUTELY;INTERVAL=50;BYDAY=SA,SU;BYHOUR=1,2,3",
    "FREQ=HOURLY;INTERVAL=7;BYDAY=MO",
    "FREQ=YEARLY;BYMONTH=1;BYMONTHDAY=1;COUNT=3",
    "FREQ=WEEKLY;INTERVAL=2;WKST=SU",
];

/// How far after DTSTART each case searches, so previews start near, past and long after it.
const AFTER: [i64; 3] = [-1, 45, 400];

/// The test tools' Python, which has python-dateutil.
fn python() -> Option<PathBuf> {
    Some(herald_tests::venv_tool("python")).filter(|python| python.is_file())
}

fn basic(wall: NaiveDateTime) -> String {
    wall.format("%Y%m%dT%H%M%S").to_string()
}

struct Case {
    text: String,
    after: DateTime<Utc>,
}

fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for (z, zone) in ZONES.iter().enumerate() {
        let tz: Tz = zone.parse().unwrap();
        for (r, rule) in RULES.iter().enumerate() {
            // Every rule in every zone, from two of the starts, searched from one of three points.
            for s in [(z + r) % STARTS.len(), (z + r + 2) % STARTS.len()] {
                let start = NaiveDateTime::parse_from_str(STARTS[s], "%Y%m%dT%H%M%S").unwrap();
                let until = (start + Duration::days(40)).and_utc().format("%Y%m%dT%H%M%SZ").to_string();
                let rrule = rule
                    .replace("{until}", &until)
                    .replace("{start+1}", &basic(start + Duration::days(1) + Duration::hours(1)))
                    .replace("{start+2h}", &basic(start + Duration::hours(2)));
                let dtstart = if *zone == "UTC" {
                    format!("DTSTART:{}Z", STARTS[s])
                } else {
                    format!("DTSTART;TZID={zone}:{}", STARTS[s])
                };
                let at_start = instant_of(tz, start);
                let after = at_start + Duration::days(AFTER[(z + r + s) % AFTER.len()]);
                cases.push(Case { text: format!("{dtstart}\nRRULE:{rrule}"), after });
            }
        }
    }
    cases
}

/// DTSTART's instant, roughly (the search point only needs to be near it).
fn instant_of(tz: Tz, wall: NaiveDateTime) -> DateTime<Utc> {
    use chrono::TimeZone;
    tz.from_local_datetime(&wall).earliest().map_or(wall.and_utc(), |at| at.with_timezone(&Utc))
}

#[test]
fn previews_agree_with_python_dateutil_on_hundreds_of_rules_across_zones_with_dst() {
    let Some(python) = python() else {
        // `make test` (infra/test.sh) installs the tools first: there, a missing Python is a failure.
        assert!(std::env::var_os("AWS_ENDPOINT_URL").is_none(), "the test tools' Python is missing");
        eprintln!("skipped: the test tools' Python (with python-dateutil) is installed by `make test`");
        return;
    };
    const COUNT: usize = 12;
    let cases = cases();
    assert!(cases.len() >= 400, "{} cases", cases.len());
    let input: Vec<Value> = cases
        .iter()
        .map(|c| json!({"text": c.text, "after": c.after.format("%Y-%m-%dT%H:%M:%SZ").to_string(), "count": COUNT}))
        .collect();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("oracle/rrule_oracle.py");
    let mut child = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python");
    child.stdin.take().unwrap().write_all(serde_json::to_string(&input).unwrap().as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let expected: Vec<Vec<String>> = serde_json::from_slice(&output.stdout).unwrap();

    let mut disagreements = Vec::new();
    let mut as_text = 0;
    for (case, expected) in cases.iter().zip(&expected) {
        let (rule, timezone) = RuleInput::Rrule { text: case.text.clone() }
            .resolve(None)
            .unwrap_or_else(|e| panic!("refused: {}\n{e}", case.text));
        as_text += usize::from(matches!(rule, herald_core::domain::ScheduleRule::Rrule { .. }));
        let got: Vec<String> = match preview(&rule, &timezone, case.after, COUNT) {
            Ok(p) => p.occurrences.iter().map(|o| o.at.format("%Y-%m-%dT%H:%M:%SZ").to_string()).collect(),
            // A rule with nothing left after the search point is refused as never firing.
            Err(_) => Vec::new(),
        };
        if &got != expected {
            disagreements
                .push(format!("{}\nafter {}\n  herald: {got:?}\n  oracle: {expected:?}", case.text, case.after));
        }
    }
    assert!(as_text > cases.len() / 2, "most of these rules are beyond the builder: {as_text} kept as text");
    assert!(
        disagreements.is_empty(),
        "{} of {} cases disagree:\n{}",
        disagreements.len(),
        cases.len(),
        disagreements.iter().take(8).cloned().collect::<Vec<_>>().join("\n\n")
    );
}
