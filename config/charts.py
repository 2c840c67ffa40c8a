"""The home page's 30-day chart, drawn on the server as SVG geometry (no JavaScript, no CDN).

`volume_chart` turns the daily points of `payments.figures.daily_volume`
into bars (volume), polylines (failure rate) and axis labels; the template
`includes/volume_chart.html` writes them out as inline SVG.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from accounts.ledger import money
from payments.figures import DayPoint

WIDTH, HEIGHT = 760, 280
LEFT, RIGHT, TOP, BOTTOM = 84, 56, 16, 44  # room for the axis labels
PLOT_WIDTH, PLOT_HEIGHT = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
TICKS = 4


@dataclass(frozen=True)
class Bar:
    x: str
    y: str
    width: str
    height: str
    title: str


@dataclass(frozen=True)
class Label:
    x: str
    y: str
    text: str


@dataclass(frozen=True)
class Dot:
    cx: str
    cy: str
    title: str


@dataclass
class Chart:
    currency: str
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right_edge: int = WIDTH - RIGHT
    top: int = TOP
    baseline: int = TOP + PLOT_HEIGHT
    bars: list[Bar] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)  # polyline `points`, one per unbroken run
    dots: list[Dot] = field(default_factory=list)
    grid: list[str] = field(default_factory=list)  # y of each horizontal grid line
    amount_labels: list[Label] = field(default_factory=list)
    rate_labels: list[Label] = field(default_factory=list)
    day_labels: list[Label] = field(default_factory=list)
    empty: bool = True


def _n(value: float | Decimal) -> str:
    """A coordinate, short: one decimal at most."""
    text = f"{float(value):.1f}"
    return text[:-2] if text.endswith(".0") else text


def nice_step(maximum: Decimal, ticks: int = TICKS) -> Decimal:
    """The smallest 1, 2, 2.5 or 5 x 10^k step with `ticks` steps reaching `maximum`."""
    if maximum <= 0:
        return Decimal(1)
    raw = maximum / ticks
    magnitude = Decimal(1).scaleb(raw.adjusted())
    for factor in (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5), Decimal(10)):
        if factor * magnitude >= raw:
            return factor * magnitude
    return 10 * magnitude  # pragma: no cover - the loop always returns


def _plain(value: Decimal) -> str:
    """A tick value without exponent or trailing zeros: 2.5E+3 -> "2,500"."""
    text = f"{value.normalize():,f}"
    return text


def volume_chart(points: Sequence[DayPoint], currency: str) -> Chart:
    chart = Chart(currency=currency)
    if not points:
        return chart
    amounts = [money.to_decimal(point.amount, currency) for point in points]
    rates = [point.failure_rate for point in points]
    chart.empty = not any(point.count for point in points)

    amount_step = nice_step(max(amounts))
    amount_top = amount_step * TICKS
    known_rates = [rate for rate in rates if rate is not None]
    rate_step = min(nice_step(max(known_rates, default=Decimal(0))), Decimal(25))
    rate_top = rate_step * TICKS

    for tick in range(TICKS + 1):
        y: float | Decimal = TOP + PLOT_HEIGHT - PLOT_HEIGHT * tick / TICKS
        chart.grid.append(_n(y))
        chart.amount_labels.append(
            Label(x=_n(LEFT - 8), y=_n(y + 4), text=_plain(amount_step * tick))
        )
        chart.rate_labels.append(
            Label(x=_n(WIDTH - RIGHT + 8), y=_n(y + 4), text=f"{_plain(rate_step * tick)}%")
        )

    slot = Decimal(PLOT_WIDTH) / len(points)
    bar_width = slot * Decimal("0.7")
    run: list[str] = []
    for index, (point, amount, rate) in enumerate(zip(points, amounts, rates, strict=True)):
        x = LEFT + slot * index + (slot - bar_width) / 2
        height = Decimal(PLOT_HEIGHT) * amount / amount_top if amount_top else Decimal(0)
        centre = LEFT + slot * index + slot / 2
        rate_text = (
            f"failure rate {rate}% ({point.failed} of {point.finished} finished)"
            if rate is not None
            else "no finished payments"
        )
        chart.bars.append(
            Bar(
                x=_n(x),
                y=_n(TOP + PLOT_HEIGHT - height),
                width=_n(bar_width),
                height=_n(height),
                title=(
                    f"{point.day:%a %d %b %Y}: {amount:,f} {currency} in {point.count} "
                    f"payment{'s' if point.count != 1 else ''}; {rate_text}"
                ),
            )
        )
        if rate is None:
            if run:
                chart.lines.append(" ".join(run))
            run = []
        else:
            y = TOP + PLOT_HEIGHT - Decimal(PLOT_HEIGHT) * min(rate, rate_top) / rate_top
            run.append(f"{_n(centre)},{_n(y)}")
            chart.dots.append(Dot(cx=_n(centre), cy=_n(y), title=f"{point.day:%d %b}: {rate_text}"))
        if index % 5 == 0 or index == len(points) - 1:
            chart.day_labels.append(
                Label(x=_n(centre), y=_n(TOP + PLOT_HEIGHT + 18), text=f"{point.day:%d %b}")
            )
    if run:
        chart.lines.append(" ".join(run))
    return chart
