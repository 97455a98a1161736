"""Expected fire times of RFC 5545 recurrences, from python-dateutil: an independent oracle for
Herald's schedule previews (tests/tests/rrule_oracle.rs).

Reads a JSON array of cases on stdin, each {"text", "after", "count"} where text has a DTSTART
(with TZID, or in UTC with Z), one RRULE and any RDATE/EXDATE lines; writes a JSON array with,
per case, the first `count` instants (UTC, ISO 8601) strictly after `after`.

dateutil evaluates the rule on floating wall-clock time; each wall time is then pinned in the
zone as RFC 5545 section 3.3.5 says (the policy Herald documents): a time skipped by a DST gap
takes the offset in force before the gap, a repeated time means its first occurrence. Python's
zoneinfo with fold=0 does exactly that (PEP 495). Identical instants fire once.
"""

import json
import sys
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from dateutil import rrule

UTC = timezone.utc
MAX_WALLS = 300_000


def basic(value):
    """YYYYMMDDTHHMMSS or YYYYMMDD (a date at midnight)."""
    if len(value) == 8:
        return datetime.strptime(value, "%Y%m%d")
    return datetime.strptime(value, "%Y%m%dT%H%M%S")


def wall_in(zone, value, value_zone, start):
    """A DATE-TIME value as wall-clock time in `zone` (Z: an instant; TZID: that zone's wall)."""
    if value.endswith("Z"):
        return basic(value[:-1]).replace(tzinfo=UTC).astimezone(zone).replace(tzinfo=None)
    if len(value) == 8:
        return datetime.combine(basic(value).date(), start.time())
    wall = basic(value)
    if value_zone is not None and value_zone != zone:
        return wall.replace(tzinfo=value_zone, fold=0).astimezone(zone).replace(tzinfo=None)
    return wall


def params_of(head):
    name, *params = head.split(";")
    found = {}
    for p in params:
        key, value = p.split("=", 1)
        found[key.upper()] = value
    return name.upper(), found


def expected(case):
    zone, start, rule_parts, until = None, None, None, None
    dates = []
    for line in case["text"].splitlines():
        head, value = line.split(":", 1)
        name, params = params_of(head)
        if name == "DTSTART":
            if value.endswith("Z"):
                zone, start = ZoneInfo("UTC"), basic(value[:-1])
            else:
                zone, start = ZoneInfo(params["TZID"]), basic(value)
        elif name == "RRULE":
            rule_parts = value
        else:
            dates.append((name, params.get("TZID"), value))
    kept = []
    for part in rule_parts.split(";"):
        key, value = part.split("=", 1)
        if key == "UNTIL":
            until = value
        else:
            kept.append(part)
    rule = rrule.rrulestr("RRULE:" + ";".join(kept), dtstart=start)
    if until is not None:
        last = (datetime.combine(basic(until).date(), time(23, 59, 59)) if len(until) == 8
                else wall_in(zone, until, None, start))
        rule = rule.replace(until=last)
    walls = rrule.rruleset()
    walls.rrule(rule)
    for name, tzid, value in dates:
        for item in value.split(","):
            wall = wall_in(zone, item, ZoneInfo(tzid) if tzid else None, start)
            (walls.exdate if name == "EXDATE" else walls.rdate)(wall)

    after = datetime.fromisoformat(case["after"].replace("Z", "+00:00"))
    found = set()
    newest_needed = None
    for i, wall in enumerate(walls):
        if i >= MAX_WALLS:
            break
        at = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
        if at > after:
            found.add(at)
        if newest_needed is None and len(found) >= case["count"]:
            newest_needed = wall
        # Pinning can reorder times a gap squeezes together: read two more days of walls.
        if newest_needed is not None and wall - newest_needed > timedelta(days=2):
            break
    return [at.strftime("%Y-%m-%dT%H:%M:%SZ") for at in sorted(found)[: case["count"]]]


def main():
    cases = json.load(sys.stdin)
    json.dump([expected(case) for case in cases], sys.stdout)


if __name__ == "__main__":
    main()
