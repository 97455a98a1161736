// Derived dates of date parameters (`start_of_month`, `7_days_ago`, …): the rules the server
// works out when a run starts, listed for pickers, and the date a rule gives today (UTC, as a
// manual run counts), to show beside it.

/** Every rule a date parameter may take instead of a fixed date, with its label. */
export const DERIVED_DATES = [
  ["today", "Today"],
  ["yesterday", "Yesterday"],
  ["start_of_week", "Start of this week (Monday)"],
  ["end_of_week", "End of this week (Sunday)"],
  ["start_of_previous_week", "Start of last week"],
  ["end_of_previous_week", "End of last week"],
  ["start_of_month", "Start of this month"],
  ["end_of_month", "End of this month"],
  ["start_of_previous_month", "Start of last month"],
  ["end_of_previous_month", "End of last month"],
  ["start_of_quarter", "Start of this quarter"],
  ["end_of_quarter", "End of this quarter"],
  ["start_of_previous_quarter", "Start of last quarter"],
  ["end_of_previous_quarter", "End of last quarter"],
  ["start_of_year", "Start of this year"],
  ["end_of_year", "End of this year"],
  ["start_of_previous_year", "Start of last year"],
  ["end_of_previous_year", "End of last year"],
];

const DAYS_AGO = /^(\d{1,5})_days_ago$/;

/** The number of days of an `N_days_ago` rule, or null. */
export function daysAgo(rule) {
  const m = DAYS_AGO.exec(rule ?? "");
  return m ? Number(m[1]) : null;
}

/** Whether `value` is a derived-date rule rather than a date. */
export function isDerived(value) {
  return DERIVED_DATES.some(([rule]) => rule === value) || daysAgo(value) !== null;
}

const iso = (d) => d.toISOString().slice(0, 10);
const utc = (y, m, d) => new Date(Date.UTC(y, m, d));

/** The `YYYY-MM-DD` a rule gives on `today` (a Date, read in UTC), or null for no rule. */
export function derivedDate(rule, today = new Date()) {
  const y = today.getUTCFullYear();
  const m = today.getUTCMonth();
  const d = today.getUTCDate();
  const n = daysAgo(rule);
  if (n !== null) return iso(utc(y, m, d - n));
  if (rule === "today") return iso(utc(y, m, d));
  if (rule === "yesterday") return iso(utc(y, m, d - 1));
  const found = /^(start|end)_of_(previous_)?(week|month|quarter|year)$/.exec(rule ?? "");
  if (!found) return null;
  const [, edge, previous, span] = found;
  const back = previous ? 1 : 0;
  const monday = d - ((today.getUTCDay() + 6) % 7);
  const q = Math.floor(m / 3) * 3;
  const [start, next] = {
    week: [utc(y, m, monday - 7 * back), utc(y, m, monday - 7 * back + 7)],
    month: [utc(y, m - back, 1), utc(y, m - back + 1, 1)],
    quarter: [utc(y, q - 3 * back, 1), utc(y, q - 3 * back + 3, 1)],
    year: [utc(y - back, 0, 1), utc(y - back + 1, 0, 1)],
  }[span];
  return edge === "start" ? iso(start) : iso(new Date(next.getTime() - 86_400_000));
}
