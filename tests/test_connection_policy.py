"""A profile's ``connection`` policy: the origin closes kept-alive connections on its own (after
a number of requests, after a time idle), and a request that meets the close (the keep-alive
race) is journaled and answered as ``late_request`` says. In memory, exact bytes."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from fakeorigin.core.journal import Event, Outcome
from fakeorigin.core.profile import Profile
from tests.memory import DATE, SERVER, MemoryOrigin, timeline

GET = b"GET /%d HTTP/1.1\r\nHost: example.test\r\n\r\n"
OK = b"HTTP/1.1 200 OK\r\n" + DATE + SERVER + b"Content-Length: 3\r\n\r\nok\n"
OK_CLOSE = (
    b"HTTP/1.1 200 OK\r\n" + DATE + SERVER + b"Content-Length: 3\r\nConnection: close\r\n\r\nok\n"
)
RESPOND = {"respond": {"status": 200, "body": "ok\n"}}


def origin_with(connection: dict[str, Any]) -> MemoryOrigin:
    origin = MemoryOrigin()
    made = Profile.model_validate({"name": "kept", "steps": [RESPOND], "connection": connection})
    origin.state.profiles["kept"] = made
    origin.state.active = "kept"
    return origin


def get(n: int) -> bytes:
    return GET % n


def outcomes(origin: MemoryOrigin) -> list[tuple[int, int, str]]:
    return [(r.connection_id, r.index, r.outcome.value) for r in origin.records()]


def test_max_requests_announces_the_close_on_the_last_response() -> None:
    origin = origin_with({"max_requests": 2})
    client = origin.connect(half_close=True)
    client.send(get(1))
    assert (client.take(), client.state) == (OK, "open")
    client.send(get(2))
    assert (client.take(), client.state) == (OK_CLOSE, "half-closed")
    last = origin.records()[-1]
    assert timeline(last)[-1] == (
        0.0,
        Event.CLOSE,
        None,
        "the connection's last request (connection.max_requests: 2)",
    )
    assert outcomes(origin) == [(1, 1, "keep-alive"), (1, 2, "closed")]


def test_a_silent_close_and_a_pipelined_request_that_meets_it() -> None:
    origin = origin_with({"max_requests": 1, "close_header": False})
    client = origin.connect(half_close=True)
    client.send(get(1) + get(2))  # the second was on its way when the origin closed
    assert (client.take(), client.state) == (OK, "half-closed")  # no Connection: close
    first, late = origin.records()
    assert timeline(first)[-1][-1] == (
        "the connection's last request (connection.max_requests: 1), without Connection: close"
    )
    assert (late.index, late.target, late.outcome) == (2, "/2", Outcome.CLOSED)
    assert [entry.event for entry in late.timeline][-2:] == [Event.LATE_REQUEST, Event.CLOSE]
    assert late.timeline[-2].detail == (
        "the origin closed the connection after 1 requests (connection.max_requests): not answered"
    )
    origin.advance(origin.factory.settings.linger_seconds)
    assert client.state == "closed"  # the FIN was sent; reading ends after the linger


def test_late_request_reset_answers_with_an_rst_after_the_response() -> None:
    origin = origin_with({"max_requests": 1, "close_header": False, "late_request": "reset"})
    client = origin.connect(half_close=True)
    client.send(get(1))
    assert client.take() == OK
    client.send(get(2))
    assert client.state == "aborted"
    assert outcomes(origin) == [(1, 1, "closed"), (1, 2, "reset")]
    assert [e.event for e in origin.records()[1].timeline][-2:] == [Event.LATE_REQUEST, Event.RESET]


def test_close_on_next_request_holds_the_close_until_a_request_arrives() -> None:
    origin = origin_with({"max_requests": 1, "close_header": False, "close_on_next_request": True})
    client = origin.connect(half_close=True)
    client.send(get(1))
    assert (client.take(), client.state) == (OK, "open")  # kept, as the client believes
    origin.advance(30)
    assert client.state == "open"
    client.send(get(2))
    assert (client.take(), client.state) == (b"", "half-closed")  # a FIN, no response
    assert outcomes(origin) == [(1, 1, "keep-alive"), (1, 2, "closed")]
    assert timeline(origin.records()[0])[-1][-1].endswith("(close_on_next_request)")


def test_close_on_next_request_with_reset() -> None:
    origin = origin_with(
        {
            "max_requests": 2,
            "close_header": False,
            "close_on_next_request": True,
            "late_request": "reset",
        }
    )
    client = origin.connect(half_close=True)
    client.send(get(1) + get(2))
    assert client.take() == OK + OK
    client.send(get(3))
    producer = client.transport.producer  # Twisted flushes what was written, then asks it
    assert producer is not None
    producer.resumeProducing()
    assert client.state == "aborted"
    assert outcomes(origin) == [(1, 1, "keep-alive"), (1, 2, "keep-alive"), (1, 3, "reset")]


def test_idle_timeout_closes_after_milliseconds_and_journals_a_request_that_crosses_it() -> None:
    origin = origin_with({"idle_timeout": 0.005})
    client = origin.connect(half_close=True)
    client.send(get(1))
    assert client.take() == OK
    origin.advance(0.004)
    assert client.state == "open"
    origin.advance(0.001)
    assert client.state == "half-closed"
    assert origin.factory.idle_closed_connections == 1
    client.send(get(2))  # sent before the client saw the FIN
    late = origin.records()[-1]
    assert late.outcome is Outcome.CLOSED
    assert late.timeline[-2].detail == (
        "the origin closed the connection after 0.005 s idle (connection.idle_timeout): "
        "not answered"
    )


def test_idle_timeout_counts_from_each_response() -> None:
    origin = origin_with({"idle_timeout": 0.05})
    client = origin.connect(half_close=True)
    for n in range(1, 4):
        client.send(get(n))
        assert client.take() == OK
        origin.advance(0.04)
    assert client.state == "open"
    origin.advance(0.01)
    assert client.state == "half-closed"


def test_idle_close_on_next_request_serves_a_prompt_request_and_closes_on_a_late_one() -> None:
    origin = origin_with({"idle_timeout": 0.05, "close_on_next_request": True})
    client = origin.connect(half_close=True)
    client.send(get(1))
    origin.advance(0.04)
    client.send(get(2))
    assert client.take() == OK + OK
    origin.advance(0.06)
    assert client.state == "open"  # held: the close waits for the next request
    client.send(get(3))
    assert (client.take(), client.state) == (b"", "half-closed")
    assert outcomes(origin)[-1] == (1, 3, "closed")
    assert "0.060 s idle (connection.idle_timeout: 0.05, close_on_next_request)" in str(
        origin.records()[-1].timeline[-2].detail
    )


def test_idle_close_on_next_request_with_reset() -> None:
    origin = origin_with(
        {"idle_timeout": 0.05, "close_on_next_request": True, "late_request": "reset"}
    )
    client = origin.connect(half_close=True)
    client.send(get(1))
    assert client.take() == OK
    origin.advance(0.05)
    client.send(get(2))
    producer = client.transport.producer  # the RST once what was written has gone out
    assert producer is not None
    producer.resumeProducing()
    assert (client.take(), client.state) == (b"", "aborted")
    assert outcomes(origin) == [(1, 1, "keep-alive"), (1, 2, "reset")]


def test_the_latest_profile_policy_applies_and_other_profiles_keep_connections() -> None:
    origin = origin_with({"max_requests": 2})
    client = origin.connect(half_close=True)
    client.send(get(1).replace(b"\r\n\r\n", b"\r\nFakeorigin-Profile: default\r\n\r\n"))
    client.take()
    client.send(get(2))  # the second request on the connection: kept's last
    assert client.take().endswith(b"Connection: close\r\n\r\nok\n")
    assert client.state == "half-closed"


def test_nothing_is_left_behind() -> None:
    origin = origin_with({"idle_timeout": 0.01, "max_requests": 3, "close_header": False})
    client = origin.connect(half_close=True)
    client.send(get(1))
    origin.advance(0.01)
    client.lose()
    assert origin.shutdown() == []


@pytest.mark.parametrize(
    ("connection", "message"),
    [
        ({"close_header": False}, "close_header applies to the last response of max_requests"),
        ({"close_on_next_request": True}, "close_on_next_request holds the close"),
        ({"max_requests": 0}, "greater than or equal to 1"),
        ({"idle_timeout": 0}, "greater than 0"),
        ({"late_request": "drop"}, "'ignore' or 'reset'"),
        ({"max_request": 2}, "Extra inputs are not permitted"),
    ],
)
def test_bad_policies_are_refused(connection: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Profile.model_validate({"name": "x", "steps": [RESPOND], "connection": connection})
