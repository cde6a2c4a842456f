"""日报 The daily report as mailed: charts as PNG (matplotlib), the HTML body (the console's
Jinja2 environment and words, so every message has its Chinese), the PDF (WeasyPrint, from the
same HTML) and the MIME message that carries them.

The charts are PNG inline parts referenced by cid: — Outlook drops SVG and data: images. The
same day renders to the same HTML and the same PNG bytes: nothing here reads the clock, and the
PNGs carry no metadata. matplotlib and WeasyPrint are imported when a report is rendered, never
when the orchestrator starts (their font machinery takes seconds).
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import threading
from collections.abc import Callable
from dataclasses import dataclass
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from libs.steps.mail.message import addresses
from orchestrator import kpi
from orchestrator.console import i18n
from orchestrator.console.web import environment
from orchestrator.report import ReportSettings

FONT = "Noto Sans CJK SC"  # Debian's fonts-noto-cjk: Chinese in the charts and the PDF
CHARTS = ("hours", "items")
PALETTE = ("#2f6fbb", "#e07b39", "#3a9d5d", "#c0392b", "#8e6bbf", "#8c6d31", "#d67fb4",
           "#7f7f7f", "#b5b83a", "#2bb3c0")
# 7-bit only, as mail.send: Chinese goes base64/quoted-printable, which old gateways keep
POLICY = policy.default.clone(cte_type="7bit")
# matplotlib's settings (rcParams) are global to the process: one chart at a time
_drawing = threading.Lock()


@dataclass(frozen=True)
class Report:
    day: dt.date
    language: str
    subject: str
    html: str  # as mailed: images by cid:
    preview: str  # the same, images inline as data: (the console's preview, the PDF's source)
    text: str  # the plain-text part, for clients that show no HTML
    charts: dict[str, bytes]  # PNG by name

    def cid(self, name: str) -> str:
        return f"{name}.{self.day.isoformat()}@workhand"


def render(data: dict[str, Any], language: str) -> Report:
    """The report of data["day"] (orchestrator.report.figures) in a language (zh, en)."""
    day: dt.date = data["day"]

    def _(message: str, **values: Any) -> str:
        return i18n.text(message, language, **values)

    charts = draw(data, _)
    template = environment().get_template("report_mail.html")
    context = {"_": _, "lang": language, "d": data, "states": _states(data["by_state"]),
               "zone": kpi.timezone().key}
    subject = _("Workhand daily report {day}", day=day.isoformat())
    cids = {name: f"cid:{name}.{day.isoformat()}@workhand" for name in charts}
    inline = {name: "data:image/png;base64," + base64.b64encode(png).decode()
              for name, png in charts.items()}
    totals, month = data["today"]["totals"], data["month"]["totals"]
    text = "\n".join([
        subject, "",
        _("Runs: {runs} (succeeded {good}, failed {bad})", runs=totals["runs"],
          good=totals["successes"], bad=totals["failures"]),
        _("Items done: {done}; handed back: {back}; system errors: {errors}",
          done=totals["items_done"], back=totals["business_exceptions"],
          errors=totals["system_errors"]),
        _("Hours saved: {day} (month to date {month})", day=f"{totals['hours_saved']:,.2f}",
          month=f"{month['hours_saved']:,.2f}"),
        "", _("The report with its charts is in the HTML part and the PDF attached.")])
    return Report(day=day, language=language, subject=subject,
                  html=template.render(**context, subject=subject, image=cids),
                  preview=template.render(**context, subject=subject, image=inline),
                  text=text, charts=charts)


def _states(by_state: dict[str, int]) -> list[tuple[str, int]]:
    # the states a day's runs end in, in the order people read them; others only when there
    order = ["succeeded", "failed", "cancelled", "timed_out", "running", "retrying", "queued"]
    shown = [s for s in order if s in by_state]
    shown += sorted(s for s in by_state if s not in order and by_state[s])
    return [(s, by_state[s]) for s in shown]


# --- charts ------------------------------------------------------------------------------------

def draw(data: dict[str, Any], _: Callable[..., str]) -> dict[str, bytes]:
    """Hours saved per robot over the month to date (stacked bars) and the day's items done
    against handed back per robot (bars side by side)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    day: dt.date = data["day"]
    days = [data["month_start"] + dt.timedelta(days=i) for i in range(day.day)]
    robots = [r["robot"] for r in data["month"]["robots"]]
    hours = {robot: [0.0] * len(days) for robot in robots}
    for row in data["month"]["rows"]:
        hours[row["robot"]][(row["day"] - days[0]).days] += row["hours_saved"]
    today = data["today"]["robots"]
    with _drawing, matplotlib.rc_context({"font.family": [FONT, "DejaVu Sans"],
                                          "font.size": 9, "axes.unicode_minus": False,
                                          "svg.hashsalt": "workhand"}):
        figure = Figure(figsize=(7.2, 3.2), dpi=100)
        axes = figure.add_subplot()
        bottom = [0.0] * len(days)
        for i, robot in enumerate(robots):
            axes.bar([d.day for d in days], hours[robot], bottom=bottom, label=robot,
                     color=PALETTE[i % len(PALETTE)], width=0.7)
            bottom = [b + h for b, h in zip(bottom, hours[robot], strict=True)]
        axes.set_title(_("Hours saved per robot, {start} to {end}",
                         start=days[0].isoformat(), end=day.isoformat()))
        axes.set_xlabel(_("Day of the month"))
        axes.set_ylabel(_("Hours saved"))
        axes.set_xlim(0.4, max(len(days), 7) + 0.6)
        # room above the highest bar (bars' edges are sticky: margins do not apply)
        axes.set_ylim(min(0.0, *bottom), max(1.0, *bottom) * 1.1)
        if robots:  # beside the bars, never over them
            axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8,
                        frameon=False)
        else:
            axes.text(0.5, 0.5, _("No run this month."), ha="center", transform=axes.transAxes)
        figure.tight_layout()
        charts = {"hours": _png(figure)}

        figure = Figure(figsize=(7.2, 0.9 + 0.45 * max(len(today), 2)), dpi=100)
        axes = figure.add_subplot()
        names = [r["robot"] for r in today][::-1]  # the first robot at the top
        at = list(range(len(names)))
        axes.barh([y + 0.2 for y in at], [r["items_done"] for r in today][::-1], height=0.4,
                  color=PALETTE[2], label=_("Items done"))
        axes.barh([y - 0.2 for y in at], [r["business_exceptions"] for r in today][::-1],
                  height=0.4, color=PALETTE[1], label=_("Handed back"))
        axes.set_yticks(at, names)
        axes.set_title(_("Items done and handed back on {day}", day=day.isoformat()))
        if names:
            axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8,
                        frameon=False)
        else:
            axes.text(0.5, 0.5, _("No run on this day."), ha="center", transform=axes.transAxes)
        figure.tight_layout()
        charts["items"] = _png(figure)
    return charts


def _png(figure: Any) -> bytes:
    out = io.BytesIO()
    # metadata off: no Software line, so the bytes depend on the figures only
    figure.savefig(out, format="png", metadata={"Software": None})
    return out.getvalue()


# --- PDF and message -------------------------------------------------------------------------

def pdf(report: Report) -> bytes:
    """The report as a PDF (A4), from the preview HTML (its images inline)."""
    from weasyprint import HTML

    written: bytes = HTML(string=report.preview).write_pdf()
    return written


def message(report: Report, chosen: ReportSettings) -> tuple[EmailMessage, Address,
                                                               list[Address]]:
    """The MIME message (text and HTML alternatives, the charts related to the HTML by
    Content-ID, the PDF attached), its sender and its recipients."""
    sender = addresses(chosen.sender(), "from address")[0]
    to = addresses(chosen.recipients, "recipients")
    msg = EmailMessage(policy=POLICY)
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = report.subject
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain=sender.domain or "workhand.local")
    msg.set_content(report.text)
    msg.add_alternative(report.html, subtype="html")
    html = next(part for part in msg.iter_parts() if part.get_content_type() == "text/html")
    assert isinstance(html, EmailMessage)  # the HTML alternative just added
    for name, png in report.charts.items():
        html.add_related(png, maintype="image", subtype="png", cid=f"<{report.cid(name)}>",
                         filename=f"{name}.png", disposition="inline")
    name = i18n.text("workhand-daily-report-{day}.pdf", report.language,
                     day=report.day.isoformat())
    msg.add_attachment(pdf(report), maintype="application", subtype="pdf", filename=name)
    return msg, sender, to
