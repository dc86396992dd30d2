"""Five-field cron expressions (UTC), enough to decide whether a task is due: `*`, `*/n`, `a`, `a-b`, `a-b/n`
and comma lists, as Modal Cron reads them. Day of month and day of week follow cron's rule: when both are
restricted, either may match."""

from __future__ import annotations

from datetime import datetime, timedelta

from config.values import value

_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_SEARCH_DAYS = 366 * 5  # far enough back for any expression that matches at all (Feb 29 included)


def _field(text: str, low: int, high: int) -> frozenset[int]:
    try:
        return _values(text, low, high)
    except ValueError:
        raise ValueError(f"cron field {text!r} is not a value, range or step within {low}-{high}") from None


def _values(text: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        body, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if body == "*":
            start, end = low, high
        elif "-" in body:
            first, last = body.split("-", 1)
            start, end = int(first), int(last)
        else:
            start = end = int(body)
            if step_text:
                end = high
        if step < 1 or not low <= start <= end <= high:
            raise ValueError(text)
        values.update(range(start, end + 1, step))
    return frozenset(values)


@value
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday (7 is folded into 0)
    any_day: bool
    any_weekday: bool

    @classmethod
    def parse(cls, expression: str) -> Cron:
        parts = expression.split()
        if len(parts) != 5:
            raise ValueError(f"a cron field count is five, not {len(parts)}: {expression!r}")
        fields = [_field(part, low, high) for part, (low, high) in zip(parts, _RANGES, strict=True)]
        weekdays = frozenset(day % 7 for day in fields[4])
        minutes, hours, days, months, _ = fields
        return cls(minutes, hours, days, months, weekdays, parts[2] == "*", parts[4] == "*")

    def day_matches(self, when: datetime) -> bool:
        if when.month not in self.months:
            return False
        by_day = when.day in self.days
        by_weekday = (when.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return by_day and by_weekday
        return by_day or by_weekday

    def latest(self, now: datetime) -> datetime | None:
        """The latest minute at or before `now` the expression fires on (None if none in five years)."""
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        for back in range(_SEARCH_DAYS):
            when = day - timedelta(days=back)
            if not self.day_matches(when):
                continue
            for hour in sorted(self.hours, reverse=True):
                for minute in sorted(self.minutes, reverse=True):
                    fire = when.replace(hour=hour, minute=minute)
                    if fire <= now:
                        return fire
        return None
