// Derived dates and times of date and datetime parameters (`start_of_month`, `7_days_ago`,
// `now`, …): the rules the server works out when a run starts, listed for pickers, and the
// value a rule gives now on the calendar of a timezone (the workspace's, as a run started by
// hand counts), to show beside it and prefill Run now.

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

/** Every rule a datetime parameter may take: the instant of the run, and days' starts and ends. */
export const DERIVED_TIMES = [
  ["now", "Now (when the run starts, or its slot)"],
  ["start_of_day", "Start of today"],
  ["end_of_day", "End of today"],
  ["start_of_previous_day", "Start of yesterday"],
  ["end_of_previous_day", "End of yesterday"],
  ...DERIVED_DATES.filter(([rule]) => rule.includes("_of_")),
];

/** The rules a parameter of `type` (`date` or `datetime`) takes. */
export const derivedRules = (type) => (type === "datetime" ? DERIVED_TIMES : DERIVED_DATES);

const DAYS_AGO = /^(\d{1,5})_days_ago$/;
const SPAN_RULE = /^(start|end)_of_(previous_)?(day|week|month|quarter|year)$/;

/** The number of days of an `N_days_ago` rule, or null. */
export function daysAgo(rule) {
  const m = DAYS_AGO.exec(rule ?? "");
  return m ? Number(m[1]) : null;
}

/** Whether `value` is a derived rule rather than a date or an instant. */
export function isDerived(value) {
  return value === "now" || value === "today" || value === "yesterday" || SPAN_RULE.test(value ?? "") || daysAgo(value) !== null;
}

const pad = (n, width = 2) => String(n).padStart(width, "0");
const iso = (d) => `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
const utc = (y, m, d) => new Date(Date.UTC(y, m, d));

/** The wall clock of `now` in `zone` (an IANA name; UTC when unknown to the browser). */
export function wallClock(now = new Date(), zone = "UTC") {
  let format;
  try {
    format = new Intl.DateTimeFormat("en-US", { timeZone: zone || "UTC", hourCycle: "h23", year: "numeric", month: "numeric", day: "numeric", hour: "numeric", minute: "numeric" });
  } catch {
    format = new Intl.DateTimeFormat("en-US", { timeZone: "UTC", hourCycle: "h23", year: "numeric", month: "numeric", day: "numeric", hour: "numeric", minute: "numeric" });
  }
  const part = Object.fromEntries(format.formatToParts(now).map((p) => [p.type, Number(p.value)]));
  return { year: part.year, month: part.month - 1, day: part.day, hour: part.hour, minute: part.minute };
}

/** The `YYYY-MM-DD` a date rule gives on the day `now` falls on in `zone`, or null for no rule. */
export function derivedDate(rule, now = new Date(), zone = "UTC") {
  const { year: y, month: m, day: d } = wallClock(now, zone);
  const n = daysAgo(rule);
  if (n !== null) return iso(utc(y, m, d - n));
  if (rule === "today") return iso(utc(y, m, d));
  if (rule === "yesterday") return iso(utc(y, m, d - 1));
  const found = SPAN_RULE.exec(rule ?? "");
  if (!found) return null;
  const [, edge, previous, span] = found;
  const back = previous ? 1 : 0;
  const monday = d - ((utc(y, m, d).getUTCDay() + 6) % 7);
  const q = Math.floor(m / 3) * 3;
  const [start, next] = {
    day: [utc(y, m, d - back), utc(y, m, d - back + 1)],
    week: [utc(y, m, monday - 7 * back), utc(y, m, monday - 7 * back + 7)],
    month: [utc(y, m - back, 1), utc(y, m - back + 1, 1)],
    quarter: [utc(y, q - 3 * back, 1), utc(y, q - 3 * back + 3, 1)],
    year: [utc(y - back, 0, 1), utc(y - back + 1, 0, 1)],
  }[span];
  return edge === "start" ? iso(start) : iso(new Date(next.getTime() - 86_400_000));
}

/**
 * The wall-clock `YYYY-MM-DDTHH:MM[:SS]` of `zone` a datetime rule gives at `now` (what a
 * datetime-local input shows, and the server reads in the run's zone), or null for no rule.
 */
export function derivedTime(rule, now = new Date(), zone = "UTC") {
  if (rule === "now") {
    const c = wallClock(now, zone);
    return `${iso(utc(c.year, c.month, c.day))}T${pad(c.hour)}:${pad(c.minute)}`;
  }
  const date = derivedDate(rule, now, zone);
  if (date === null) return null;
  return rule?.startsWith("end_of_") ? `${date}T23:59:59` : `${date}T00:00`;
}

/** The value a rule of a parameter of `type` gives now in `zone`. */
export const derivedValue = (type, rule, now = new Date(), zone = "UTC") =>
  type === "datetime" ? derivedTime(rule, now, zone) : derivedDate(rule, now, zone);

/** Whether a datetime value can show in a datetime-local input (a wall clock, no offset). */
export const isWallClock = (value) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/.test(value ?? "");
