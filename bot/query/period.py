"""Periods in a query: "cette semaine", "ce mois-ci", "7j", "depuis le 1er octobre", "entre ... et ...",
and ISO dates: "2026-11-24..2026-11-30" (both days included) or "2026-11-24" alone (since that day).

Pure: the caller passes `now` and the time zone; dates are read in that zone and returned as
UTC instants, the end exclusive. Tokens come folded (lowercase ASCII, see bot.query.parse).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MONTHS: dict[str, int] = {}
for _n, _names in enumerate(
    (
        "janvier janv jan january",
        "fevrier fevr fev feb february",
        "mars mar march",
        "avril avr apr april",
        "mai may",
        "juin jun june",
        "juillet juil jul july",
        "aout aug august",
        "septembre sept sep september",
        "octobre oct october",
        "novembre nov november",
        "decembre dec december",
    ),
    1,
):
    for _name in _names.split():
        MONTHS[_name] = _n

MONTH_NAMES = {
    "fr": [
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ],
    "en": [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
}
MAX_DAYS = 3660  # "7000j" is read as ten years back, not as an overflow
_DAYS = re.compile(r"^(\d+)(j|d|jours?|days?|sem|semaines?|w|weeks?|mois|months?)$")
_LAST = frozenset({"derniers", "dernieres", "passes", "passees", "last", "past", "prochains"})
_DAY = re.compile(r"^(\d{1,2})(?:er|eme|e|st|nd|rd|th)?$")
_UNIT_DAYS = {"j": 1, "d": 1, "jour": 1, "day": 1, "sem": 7, "semaine": 7, "w": 7, "week": 7}


@dataclass(frozen=True)
class Period:
    """[start, end) in UTC (either may be open) and how it was said, for the explanation.

    kind is one of today, yesterday, week, last_week, month, last_month, year, days, since,
    until, between; `days` is the count of a "7j".
    """

    kind: str
    start: datetime | None
    end: datetime | None
    days: int = 0
    first: date | None = None  # the dates the user named (since/until/between), for display
    last: date | None = None


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)


def _past(day: int, month: int, year: int | None, today: date) -> date | None:
    """The date, the year guessed as the latest one not in the future when not given."""
    try:
        if year is not None:
            return date(year if year >= 100 else 2000 + year, month, day)
        found = date(today.year, month, day)
        return found if found <= today else date(today.year - 1, month, day)
    except ValueError:
        return None


def _date_at(tokens: list[str], i: int, today: date) -> tuple[date, int, bool] | None:
    """A date starting at tokens[i]: (date, tokens used, month only?)."""
    if i >= len(tokens):
        return None
    tok = tokens[i]
    if tok in ("le", "the", "du"):
        found = _date_at(tokens, i + 1, today)
        return (found[0], found[1] + 1, found[2]) if found else None
    nums = tokens[i : i + 3]
    if (
        re.fullmatch(r"\d{4}", tok)
        and len(nums) >= 3
        and all(n.isdigit() and len(n) <= 2 for n in nums[1:])
    ):
        try:  # 2026-10-01, folded to "2026 10 01"
            return date(int(nums[0]), int(nums[1]), int(nums[2])), 3, False
        except ValueError:
            return None
    if (
        len(nums) >= 2
        and all(n.isdigit() and len(n) <= 2 for n in nums[:2])
        and (len(nums) < 3 or nums[2] not in MONTHS)
    ):  # 3/10 or 3/10/2026, folded to "3 10" or "3 10 2026"
        year = int(nums[2]) if len(nums) == 3 and re.fullmatch(r"\d{2}|\d{4}", nums[2]) else None
        day = _past(int(nums[0]), int(nums[1]), year, today)
        return (day, 3 if year is not None else 2, False) if day else None
    if tok in MONTHS:  # "octobre", "octobre 2025", "October 1"
        used, year = 1, None
        if i + 1 < len(tokens) and re.fullmatch(r"\d{4}", tokens[i + 1]):
            used, year = 2, int(tokens[i + 1])
        elif i + 1 < len(tokens) and (m := _DAY.match(tokens[i + 1])):
            day = _past(int(m[1]), MONTHS[tok], None, today)
            return (day, 2, False) if day else None
        day = _past(1, MONTHS[tok], year, today)
        return (day, used, True) if day else None
    if (m := _DAY.match(tok)) and i + 1 < len(tokens) and tokens[i + 1] in MONTHS:
        used, year = 2, None
        if i + 2 < len(tokens) and re.fullmatch(r"\d{4}", tokens[i + 2]):
            used, year = 3, int(tokens[i + 2])
        day = _past(int(m[1]), MONTHS[tokens[i + 1]], year, today)
        return (day, used, False) if day else None
    return None


def _iso_at(tokens: list[str], i: int) -> tuple[date, int] | None:
    """A year-first date at tokens[i] ("2026-11-24", folded to "2026 11 24") and its length."""
    if i >= len(tokens) or not re.fullmatch(r"\d{4}", tokens[i]):
        return None
    found = _date_at(tokens, i, date.max)
    return (found[0], found[1]) if found and found[1] == 3 else None


def _month_end(day: date) -> date:
    nxt = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return nxt - timedelta(days=1)


def period_at(tokens: list[str], i: int, now: datetime, tz: ZoneInfo) -> tuple[Period, int] | None:
    """A period starting at tokens[i] and the number of tokens it takes, else None."""
    local = now.astimezone(tz)
    today = local.date()
    rest = tokens[i : i + 6]
    head = " ".join(rest)

    def starts(*phrases: str) -> int:
        for phrase in phrases:
            if head == phrase or head.startswith(phrase + " "):
                return len(phrase.split())
        return 0

    monday = today - timedelta(days=today.weekday())
    first = today.replace(day=1)
    if n := starts("aujourd hui", "aujourdhui", "today"):
        return Period("today", _midnight(today, tz), None), n
    if n := starts("hier", "yesterday"):
        return Period(
            "yesterday", _midnight(today - timedelta(days=1), tz), _midnight(today, tz)
        ), n
    if n := starts("cette semaine", "this week"):
        return Period("week", _midnight(monday, tz), None), n
    if n := starts("la semaine derniere", "semaine derniere", "last week"):
        return Period(
            "last_week", _midnight(monday - timedelta(days=7), tz), _midnight(monday, tz)
        ), n
    if n := starts("ce mois ci", "ce mois la", "ce mois", "this month"):
        return Period("month", _midnight(first, tz), None), n
    if n := starts("le mois dernier", "mois dernier", "last month"):
        previous = (first - timedelta(days=1)).replace(day=1)
        return Period("last_month", _midnight(previous, tz), _midnight(first, tz)), n
    if n := starts("cette annee", "this year"):
        return Period("year", _midnight(today.replace(month=1, day=1), tz), None), n
    # "7j", "7 jours", "les 7 derniers jours", "last 7 days", "2 semaines"
    k = 1 if rest[:1] in (["les"], ["last"], ["past"]) else 0
    if k < len(rest):
        m = _DAYS.match(rest[k])
        used = k + 1
        if m is None and rest[k].isdigit():
            j = k + 1
            if j < len(rest) and rest[j] in _LAST:
                j += 1
            if j < len(rest):
                m = _DAYS.match(rest[k] + rest[j])
                used = j + 1
        if m is not None:
            unit = "mois" if m[2] in ("mois", "month", "months") else m[2].rstrip("s")
            count = int(m[1]) if len(m[1]) <= 6 else MAX_DAYS
            days = count * 30 if unit == "mois" else count * _UNIT_DAYS.get(unit, 1)
            days = max(1, min(days, MAX_DAYS))
            if used < len(rest) and rest[used] in _LAST:
                used += 1
            return Period("days", now - timedelta(days=days), None, days=days), used
    # "depuis le 1er octobre", "since October 1", "a partir du 3/11"
    if iso := _iso_at(tokens, i):
        first_day, used = iso
        second = _iso_at(tokens, i + used)
        if second is None:
            return Period("since", _midnight(first_day, tz), None, first=first_day), used
        last_day, used2 = second
        if first_day > last_day:
            first_day, last_day = last_day, first_day
        end = _midnight(last_day + timedelta(days=1), tz)
        return Period(
            "between", _midnight(first_day, tz), end, first=first_day, last=last_day
        ), used + used2
    if n := starts("depuis", "since", "a partir du", "a partir de", "apres le", "after"):
        found = _date_at(tokens, i + n, today)
        if found:
            day, used, _ = found
            return Period("since", _midnight(day, tz), None, first=day), n + used
    if n := starts("avant le", "avant", "jusqu au", "jusqu a", "before", "until"):
        found = _date_at(tokens, i + n, today)
        if found:
            day, used, month_only = found
            last = _month_end(day) if month_only else day
            return Period(
                "until", None, _midnight(last + timedelta(days=1), tz), last=last
            ), n + used
    if n := starts("entre", "between", "du", "from"):
        return _between(tokens, i + n, n, today, tz)
    return None


def _between(
    tokens: list[str], j: int, n: int, today: date, tz: ZoneInfo
) -> tuple[Period, int] | None:
    """ "entre le 1er et le 15 octobre", "du 3 au 10/11", "between 1 and 15 October"."""
    found = _date_at(tokens, j, today)
    bare, used = None, 0
    if found is None:  # "entre le 1er et le 15 octobre": the first date lacks its month
        k = j + 1 if j < len(tokens) and tokens[j] == "le" else j
        if k < len(tokens) and (m := _DAY.match(tokens[k])):
            bare, used = int(m[1]), k + 1 - j
    else:
        used = found[1]
    if not used:
        return None
    k = j + used
    if k >= len(tokens) or tokens[k] not in ("et", "and", "au", "a", "to"):
        return None
    second = _date_at(tokens, k + 1, today)
    if second is None:
        return None
    last, used2, month_only = second
    if month_only:
        last = _month_end(last)
    if found is not None:
        start = found[0]
    else:
        try:
            start = last.replace(day=bare or 1)
        except ValueError:
            return None
    if start > last:
        if found is None or found[0].year != last.year:
            return None
        start = start.replace(year=start.year - 1)  # "du 20 décembre au 5 janvier"
    return (
        Period(
            "between",
            _midnight(start, tz),
            _midnight(last + timedelta(days=1), tz),
            first=start,
            last=last,
        ),
        n + used + 1 + used2,
    )


def format_day(day: date, lang: str, today: date) -> str:
    """'1er novembre' / 'November 1', with the year when it is not this year's."""
    months = MONTH_NAMES["en" if lang == "en" else "fr"]
    if lang == "en":
        text = f"{months[day.month - 1]} {day.day}"
        return text + (f", {day.year}" if day.year != today.year else "")
    text = f"{'1er' if day.day == 1 else day.day} {months[day.month - 1]}"
    return text + (f" {day.year}" if day.year != today.year else "")


_LABELS = {
    "fr": {
        "today": "aujourd'hui",
        "yesterday": "hier",
        "week": "cette semaine",
        "last_week": "la semaine dernière",
        "month": "ce mois-ci",
        "last_month": "le mois dernier",
        "year": "cette année",
        "days": "{days} derniers jours",
        "since": "depuis le {first}",
        "until": "jusqu'au {last}",
        "between": "du {first} au {last}",
    },
    "en": {
        "today": "today",
        "yesterday": "yesterday",
        "week": "this week",
        "last_week": "last week",
        "month": "this month",
        "last_month": "last month",
        "year": "this year",
        "days": "last {days} days",
        "since": "since {first}",
        "until": "until {last}",
        "between": "from {first} to {last}",
    },
}


def describe_period(period: Period, lang: str, now: datetime, tz: ZoneInfo) -> str:
    """The period in words, e.g. 'depuis le 1er novembre'."""
    today = now.astimezone(tz).date()
    labels = _LABELS["en" if lang == "en" else "fr"]
    first = format_day(period.first, lang, today) if period.first else ""
    last = format_day(period.last, lang, today) if period.last else ""
    return labels[period.kind].format(days=period.days, first=first, last=last)
