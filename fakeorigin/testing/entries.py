"""Journal entries as a test reads them: :class:`Entry` wraps one record (the JSON form of
``docs/journal.md``) with the questions tests ask of it, and failure messages that print its
timeline. No Twisted."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass

# -- journal entries ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    """One timeline event: ``t`` seconds after the request head was complete."""

    t: float
    event: str
    status: int | None = None
    detail: str | None = None

    def __str__(self) -> str:
        text = f"{self.t:10.6f}  {self.event}"
        if self.status is not None:
            text += f" {self.status}"
        if self.detail is not None:
            text += f" ({self.detail})"
        return text


class Timeline(tuple[TimelineEvent, ...]):
    """An exchange's events in order; ``str()`` gives one line per event."""

    __slots__ = ()

    def of(self, event: str) -> list[TimelineEvent]:
        """The events of one kind (``interim-sent``, ``body-first-byte``...), in order."""
        return [e for e in self if e.event == event]

    def first(self, event: str, status: int | None = None) -> TimelineEvent | None:
        """The first event of this kind (and status, if given), or None."""
        return next(
            (e for e in self if e.event == event and (status is None or e.status == status)),
            None,
        )

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self) if self else "(no events)"


class InterimStatuses(list[int]):
    """The 1xx statuses sent, in order; it knows its entry so that a failed
    ``assert entry.interim_statuses == [...]`` can print the timeline."""

    def __init__(self, statuses: list[int], entry: Entry) -> None:
        super().__init__(statuses)
        self.entry = entry


class Entry:
    """One exchange from the journal (``docs/journal.md`` describes every field).

    Attributes:
        data: the record as the control API gives it.
    """

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = dict(data)

    @property
    def id(self) -> int:
        """Journal-wide id, increasing from 1."""
        return int(self.data["id"])

    @property
    def method(self) -> str | None:
        """The method as received; None for a malformed request."""
        return self._text("method")

    @property
    def target(self) -> str | None:
        """The request-target as received (``/upload?x=1``)."""
        return self._text("target")

    @property
    def profile(self) -> str | None:
        """The name of the profile that served it."""
        return self._text("profile")

    @property
    def selected_by(self) -> str | None:
        """How the profile was picked: ``header``, ``rule`` or ``active``."""
        return self._text("selected_by")

    @property
    def outcome(self) -> str:
        """``running``, ``keep-alive``, ``closed``, ``reset``, ``client-gone``..."""
        return str(self.data["outcome"])

    def _text(self, key: str) -> str | None:
        value = self.data.get(key)
        return None if value is None else str(value)

    @property
    def headers(self) -> list[tuple[str, str]]:
        """Request header fields in arrival order, original case."""
        return [(name, value) for name, value in self.data["headers"]]

    def header(self, name: str) -> str | None:
        """The first value of request header ``name`` (any case), or None."""
        lowered = name.lower()
        return next((v for n, v in self.headers if n.lower() == lowered), None)

    @property
    def body_length(self) -> int:
        """Request body bytes received."""
        return int(self.data["body"]["length"])

    @property
    def body_text(self) -> str:
        """The first KiB of the request body, as UTF-8 (undecodable bytes replaced)."""
        return str(self.data["body"]["head_text"])

    @property
    def timeline(self) -> Timeline:
        """What happened when, in seconds since the request head was complete."""
        return Timeline(
            TimelineEvent(e["t"], e["event"], e.get("status"), e.get("detail"))
            for e in self.data["timeline"]
        )

    @property
    def interim_statuses(self) -> InterimStatuses:
        """Statuses of the 1xx responses actually sent, in order (skipped ones are not)."""
        return InterimStatuses(
            [e.status for e in self.timeline.of("interim-sent") if e.status is not None], self
        )

    @property
    def final_status(self) -> int | None:
        """The status of the final response fakeorigin started, or None."""
        started = self.timeline.first("response-started")
        return None if started is None else started.status

    @property
    def body_bytes_before_continue(self) -> int | None:
        """Body bytes received when the first 100 Continue went out; None: no 100 was sent."""
        before = self.data["body_bytes_before_continue"]
        return None if before is None else int(before)

    @property
    def waited_for_continue(self) -> bool | None:
        """True: no body byte arrived before the 100; False: some did; None: no 100 was sent
        (the timeline says why: ``interim-skipped``)."""
        before = self.body_bytes_before_continue
        return None if before is None else before == 0

    @property
    def ended(self) -> bool:
        """False while the exchange is still running (or hanging)."""
        return self.outcome != "running"

    def summary(self) -> str:
        """One line: the exchange, its profile and how it ended."""
        version = self.data.get("http_version")
        request = f"{self.method} {self.target} HTTP/{version}" if self.method else "(malformed)"
        return (
            f"exchange #{self.id}: {request} from {self.data['client']}, profile "
            f"{self.profile} (by {self.selected_by}), outcome {self.outcome}"
        )

    def describe(self) -> str:
        """Several lines: the exchange, the body, any error, and the timeline."""
        before = self.body_bytes_before_continue
        body = f"{self.body_length} bytes" + (
            "" if self.data["body"]["complete"] else " (incomplete)"
        )
        if before is not None:
            body += f", {before} before the 100"
        lines = [self.summary(), f"  body: {body}"]
        if self.data.get("error"):
            lines.append(f"  error: {self.data['error']}")
        lines.append("  timeline (seconds since the request head):")
        lines += [f"    {line}" for line in str(self.timeline).splitlines()]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Entry #{self.id} {self.method} {self.target} {self.profile} {self.outcome}>"

    def __str__(self) -> str:
        return self.describe()

    # -- assertions with the timeline in their message ----------------------------------------

    def assert_waited_for_continue(self) -> None:
        """Fail unless a 100 went out and no body byte had arrived before it."""
        before = self.body_bytes_before_continue
        if before == 0:
            return
        why = (
            "no 100 Continue was sent, so the client had nothing to wait for"
            if before is None
            else f"{before} body bytes had arrived when the 100 Continue went out"
        )
        raise AssertionError(f"{why}\n{self.describe()}")

    def assert_interim_statuses(self, *statuses: int) -> None:
        """Fail unless exactly these 1xx statuses were sent, in this order."""
        sent = list(self.interim_statuses)
        if sent != list(statuses):
            raise AssertionError(
                f"interim responses sent: {sent}, expected {list(statuses)}\n{self.describe()}"
            )


def describe_journal(entries: Sequence[Entry], most: int = 20) -> str:
    """The last ``most`` entries, described; what the report of a failing test shows."""
    if not entries:
        return "(the journal is empty)"
    shown = entries[-most:]
    skipped = len(entries) - len(shown)
    head = [f"({skipped} earlier entries not shown)"] if skipped else []
    return "\n".join(head + [entry.describe() for entry in shown])
