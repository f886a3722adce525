"""A profile's scheduled duration (fakeorigin/core/durations.py) and the --max-duration check at
load.

The computation is checked against the engine itself: run with a fake clock that jumps by each
``Wait``, for the bundled profiles, for a table of shapes, and for profiles Hypothesis makes.
Durations are multiples of 1/4 s, so the float sums are exact and the comparison is equality.
"""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fakeorigin.core.actions import End, Ending, HandOff, Wait
from fakeorigin.core.durations import (
    _SECONDS,
    REFERENCE_REQUEST,
    duration_problem,
    scheduled_seconds,
)
from fakeorigin.core.engine import run_exchange
from fakeorigin.core.engine.session import run_session
from fakeorigin.core.journal import BodyRecord
from fakeorigin.core.profile import STEP_KINDS, Profile, WebSocket
from fakeorigin.core.protocols import H2, HTTP1
from fakeorigin.core.session_actions import AwaitMessage, CloseSession, Message
from fakeorigin.core.violations import CATALOGUE
from fakeorigin.core.wire import RequestHead
from tests.memory import bundled_profiles, profile
from tests.test_cli import run

# -- the engine as the reference -------------------------------------------------------------


class _View:
    """The engine's view of a request (its body complete) on a fake clock."""

    def __init__(self, request: RequestHead) -> None:
        self.request = request
        self.body = BodyRecord(complete=True)
        self.now = 0.0

    def elapsed(self) -> float:
        return self.now

    def wall_clock(self) -> float:
        return self.now


class _NoJitter(random.Random):
    def uniform(self, a: float, b: float) -> float:
        return a


def _expected(spec: WebSocket, message: Any) -> Message:
    """The message a script's ``receive`` waits for (any text for ``any: true``)."""
    expected = message.expected() if message is not None else None
    return Message(*expected) if expected is not None else Message(b"anything", False)


def simulated_session(spec: WebSocket) -> float:
    """run_session with every awaited message arriving at once; ``close_after`` cuts it."""
    if spec.mode == "echo":
        return spec.close_after or 0.0
    receives = iter([a.receive for a in spec.script if a.receive is not None])
    session = run_session(spec)
    now, reply = 0.0, None
    try:
        while True:
            action = session.send(reply)
            reply = None
            if isinstance(action, Wait):
                now += action.seconds
            elif isinstance(action, AwaitMessage):
                reply = _expected(spec, next(receives))
            elif isinstance(action, CloseSession):
                break
    except StopIteration:
        pass
    return now if spec.close_after is None else min(now, spec.close_after)


def handshake(spec: WebSocket) -> RequestHead:
    """:data:`REFERENCE_REQUEST` as a WebSocket opening handshake ``spec`` accepts."""
    headers = [
        (b"Upgrade", b"websocket"),
        (b"Connection", b"Upgrade"),
        (b"Sec-WebSocket-Key", b"dGhlIHNhbXBsZSBub25jZQ=="),
        (b"Sec-WebSocket-Version", b"13"),
    ]
    if spec.subprotocols:
        headers.append((b"Sec-WebSocket-Protocol", spec.subprotocols[0].encode()))
    return replace(REFERENCE_REQUEST, headers=REFERENCE_REQUEST.headers + tuple(headers))


def simulated(made: Profile) -> float:
    """The seconds the engine waits for the reference request (an opening handshake for a
    websocket step), until the exchange ends."""
    last = made.steps[-1]
    view = _View(handshake(last.value) if last.kind == "websocket" else REFERENCE_REQUEST)
    protocol = HTTP1 if HTTP1 in made.protocols else H2  # an HTTP/2 entry's profile
    for action in run_exchange(made, view, _NoJitter(), 1, protocol):
        if isinstance(action, Wait):
            view.now += action.seconds
        elif isinstance(action, HandOff):
            return view.now + simulated_session(action.spec)
        elif isinstance(action, End) and action.ending is Ending.HANG:
            break
    return view.now


def test_every_step_kind_has_a_duration() -> None:
    assert list(_SECONDS) == list(STEP_KINDS)


OPEN_ENDED = {
    name
    for name, made in bundled_profiles().items()
    if made.steps[-1].kind == "violate" and CATALOGUE[made.steps[-1].value.id].ending is Ending.HANG
}


@pytest.mark.parametrize("name", sorted(bundled_profiles()))
def test_bundled_profile_duration_is_the_engines(name: str) -> None:
    made = bundled_profiles()[name]
    if name in OPEN_ENDED:
        assert scheduled_seconds(made) == 0  # it never ends by itself (102-forever)
        return
    assert scheduled_seconds(made) == pytest.approx(simulated(made), rel=1e-12)


def test_bundled_durations_that_are_not_zero() -> None:
    found = {n: scheduled_seconds(p) for n, p in bundled_profiles().items() if scheduled_seconds(p)}
    assert found == {
        "early-hints": 0.1,
        "expect-continue-delayed": 0.5,
        "processing-trickle": 5.0,
        "slow-body": pytest.approx(0.7),
        "violation-garbage-after-response": 0.1,
        "violation-h2-zero-window-upload": 1.0,
        "websocket-script-demo": 0.1,
    }


def respond(**fields: Any) -> dict[str, Any]:
    return {"respond": {"status": 200, **fields}}


def informational() -> dict[str, Any]:
    return {"informational": {"status": 102}}


SHAPES = [
    pytest.param((respond(),), 0, id="respond"),
    pytest.param(({"sleep": 2.5}, {"sleep": 0.25}, {"hang": {}}), 2.75, id="sleeps then hang"),
    pytest.param(
        ({"repeat": {"times": 4, "every": 0.5, "steps": [informational()]}}, respond()),
        2.0,
        id="repeat times",
    ),
    pytest.param(
        ({"repeat": {"for": 1.25, "every": 0.5, "steps": [informational()]}}, respond()),
        1.25,
        id="repeat for, not a multiple of every",
    ),
    pytest.param(
        ({"repeat": {"times": 10, "for": 1, "every": 0.5, "steps": [informational()]}}, respond()),
        1.0,
        id="repeat: for ends it before times",
    ),
    pytest.param(
        (
            {"repeat": {"times": 3, "every": 0.25, "steps": [informational(), {"sleep": 1}]}},
            respond(),
        ),
        3.0,
        id="repeat whose period takes longer than every",
    ),
    pytest.param(
        (
            {
                "repeat": {
                    "times": 2,
                    "every": 4,
                    "steps": [{"repeat": {"times": 3, "every": 0.5, "steps": [{"sleep": 0.25}]}}],
                }
            },
            respond(),
        ),
        8.0,
        id="nested repeat",
    ),
    pytest.param(
        (respond(body="abcdefghij", dribble={"bytes": 3, "every": 0.5}),), 1.5, id="dribble"
    ),
    pytest.param(
        (respond(body_size=1 << 20, chunked=True, dribble={"bytes": 1 << 18, "every": 2}),),
        6.0,
        id="dribble chunked",
    ),
    pytest.param(
        (respond(echo=True, dribble={"bytes": 100, "every": 1}),), 2.0, id="dribbled echo"
    ),
    pytest.param(({"violate": {"id": "102-forever"}},), 0, id="violate that hangs"),
    pytest.param(
        ({"violate": {"id": "1xx-flood", "count": 5, "every": 0.25}},), 1.0, id="violate waits"
    ),
    pytest.param(({"websocket": {"mode": "echo"}},), 0, id="websocket echo"),
    pytest.param(
        ({"websocket": {"mode": "echo", "close_after": 7.5}},), 7.5, id="websocket close_after"
    ),
    pytest.param(
        (
            {
                "websocket": {
                    "mode": "script",
                    "script": [
                        {"sleep": 1},
                        {"receive": {"text": "a", "timeout": 30}},
                        {"sleep": 2},
                        {"close": {}},
                        {"sleep": 100},
                    ],
                }
            },
        ),
        3.0,
        id="websocket script ends at its close",
    ),
    pytest.param(
        (
            {
                "websocket": {
                    "mode": "script",
                    "close_after": 1.5,
                    "script": [{"sleep": 1}, {"sleep": 2}],
                }
            },
        ),
        1.5,
        id="websocket script cut by close_after",
    ),
    pytest.param(
        ({"sleep": 1}, {"websocket": {"mode": "echo", "handshake": "close-after-101"}}),
        1.0,
        id="websocket broken handshake",
    ),
]


@pytest.mark.parametrize(("steps", "seconds"), SHAPES)
def test_duration_of_shapes(steps: tuple[dict[str, Any], ...], seconds: float) -> None:
    made = profile(*steps)
    assert scheduled_seconds(made) == seconds
    if steps[-1] != {"violate": {"id": "102-forever"}}:
        assert simulated(made) == seconds


# -- Hypothesis: any profile of sleeps, repeats, interims and a final step -------------------

quarters = st.integers(0, 12).map(lambda n: n / 4)
positive_quarters = st.integers(1, 12).map(lambda n: n / 4)


def _repeat(inner: st.SearchStrategy[list[dict[str, Any]]]) -> st.SearchStrategy[dict[str, Any]]:
    bounds = st.one_of(
        st.fixed_dictionaries({"times": st.integers(1, 6)}),
        st.fixed_dictionaries({"for": positive_quarters}),
        st.fixed_dictionaries({"times": st.integers(1, 6), "for": positive_quarters}),
    )
    return st.builds(
        lambda bound, every, jitter, steps: {
            "repeat": {**bound, "every": every, "jitter": jitter, "steps": steps}
        },
        bounds,
        positive_quarters,
        quarters,
        inner,
    )


_leaf = st.one_of(
    quarters.map(lambda s: {"sleep": s}),
    st.just(informational()),
    st.just({"continue": {}}),
    st.just({"read_body": {}}),
)
_middle = st.recursive(
    _leaf, lambda inner: _repeat(st.lists(inner, min_size=1, max_size=3)), max_leaves=6
)
_final = st.one_of(
    st.just(respond()),
    st.builds(
        lambda size, piece, every, chunked: respond(
            body_size=size, chunked=chunked, dribble={"bytes": piece, "every": every}
        ),
        st.integers(0, 64),
        st.integers(1, 16),
        quarters,
        st.booleans(),
    ),
    st.just({"raw": {"text": "HTTP/1.1 204 No Content\r\n\r\n"}}),
    st.just({"close": {}}),
    st.just({"hang": {}}),
    st.builds(
        lambda after: {"violate": {"id": "garbage-after-response", "after": after}}, quarters
    ),
)
profiles = st.builds(
    lambda middle, final: profile(*middle, final), st.lists(_middle, max_size=4), _final
)


@settings(max_examples=150, deadline=None)
@given(profiles)
def test_duration_equals_the_engines_waits(made: Profile) -> None:
    assert scheduled_seconds(made) == simulated(made)


# -- the check at load ------------------------------------------------------------------------


def test_duration_problem_names_the_steps_that_take_the_time() -> None:
    made = profile(
        {"sleep": 600},
        {"repeat": {"for": 30, "every": 1, "steps": [informational()]}},
        respond(body="abc", dribble={"bytes": 1, "every": 5}),
    )
    problem = duration_problem(made, 600, "profiles/slow.yaml")
    assert problem is not None
    assert str(problem) == (
        "profiles/slow.yaml: steps: runs 640 s at least (steps[0] sleep: 600 s, steps[1] "
        "repeat: 30 s, steps[2] respond: 10 s), not less than --max-duration 600 s: it would "
        "be cut every time (raise --max-duration or shorten the profile)"
    )
    assert duration_problem(made, 640.5, "x") is None
    assert duration_problem(made, 640, "x") is not None  # at 640 the two timers race


SLOW = "name: slow\nsteps:\n  - sleep: 5\n  - respond: {status: 200}\n"


def test_check_with_max_duration_reports_a_profile_too_slow(tmp_path: Path) -> None:
    (tmp_path / "slow.yaml").write_text(SLOW)
    assert run(["check", str(tmp_path)]) == (0, "ok: 1 profile\n", "")
    code, out, _ = run(["check", "--max-duration", "2", str(tmp_path / "slow.yaml")])
    assert code == 1
    assert out == (
        f"{tmp_path / 'slow.yaml'}: steps: runs 5 s at least (steps[0] sleep: 5 s), not less "
        "than --max-duration 2 s: it would be cut every time (raise --max-duration or shorten "
        "the profile)\n"
    )


def test_serve_refuses_a_profile_of_its_own_that_max_duration_would_cut(tmp_path: Path) -> None:
    (tmp_path / "slow.yaml").write_text(SLOW)
    code, _, err = run(
        ["serve", "--profiles", "bundled", "--profiles", str(tmp_path), "--max-duration", "4"]
    )
    assert code == 1
    assert err == (
        f"{tmp_path / 'slow.yaml'}: steps: runs 5 s at least (steps[0] sleep: 5 s), not less "
        "than --max-duration 4 s: it would be cut every time (raise --max-duration or shorten "
        "the profile)\n"
    )


def test_serve_refuses_a_bundled_active_profile_that_max_duration_would_cut() -> None:
    code, _, err = run(["serve", "--profile", "processing-trickle", "--max-duration", "1"])
    assert code == 1
    assert "processing-trickle.yaml: steps: runs 5 s at least (steps[0] repeat: 5 s)" in err
