"""A small synchronous client for the control API, on the standard library (urllib).

No HTTP library dependency on purpose: this client is imported by test suites of every kind
(and by the pytest plugin), so it must be cheap and must not pull an event loop or pin a
version of requests/httpx on its users. Every failure raises :class:`ControlError`, which
carries the API's error shape.

    client = ControlClient("http://127.0.0.1:8081")
    client.activate("expect-reject")
    ...  # drive the proxy under test
    entry = client.wait_for(1, timeout=5)[0]
    assert entry["body_bytes_before_continue"] == 0
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any


class ControlError(Exception):
    """The control API answered with an error, or could not be reached.

    Attributes:
        status: the HTTP status (0 when the API could not be reached).
        error: the kebab-case code, e.g. ``invalid-profile``.
        message: the human-readable message.
        details: ``[{"location": ..., "message": ...}]``.
    """

    def __init__(
        self, status: int, error: str, message: str, details: list[dict[str, str]] | None = None
    ) -> None:
        self.status = status
        self.error = error
        self.message = message
        self.details = details or []
        lines = [f"{status} {error}: {message}"]
        lines += [f"  {d.get('location', '')}: {d.get('message', '')}" for d in self.details]
        super().__init__("\n".join(lines))


#: Control calls go straight to the API, never through $http_proxy: a suite may point it at the
#: proxy under test, and no_proxy rarely lists 127.0.0.1.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ControlClient:
    """Typed methods over the control API at ``base_url``."""

    def __init__(self, base_url: str, *, token: str | None = None, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: Mapping[str, Any] | None = None,
        content_type: str = "application/json",
        timeout: float | None = None,
    ) -> Any:
        """One call; returns the decoded JSON (None for 204) or raises ControlError."""
        url = self.base_url + path
        if query:
            pairs = {k: _query_value(v) for k, v in query.items() if v is not None}
            url += "?" + urllib.parse.urlencode(pairs)
        data = None
        headers = {"Accept": "application/json"}
        if body is not None:
            data = body.encode("utf-8") if isinstance(body, str) else json.dumps(body).encode()
            headers["Content-Type"] = content_type
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with _OPENER.open(request, timeout=timeout or self.timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as err:
            raise _error_from(err) from None
        except (urllib.error.URLError, OSError) as err:
            raise ControlError(0, "unreachable", f"{method} {url}: {err}") from err
        return json.loads(payload) if payload else None

    # -- typed methods ------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """``GET /health``."""
        result: dict[str, Any] = self.request("GET", "/health")
        return result

    def profiles(self) -> list[dict[str, Any]]:
        """``GET /profiles``: name, description, source of each."""
        result: list[dict[str, Any]] = self.request("GET", "/profiles")["profiles"]
        return result

    def profile(self, name: str) -> dict[str, Any]:
        """``GET /profiles/{name}``."""
        result: dict[str, Any] = self.request("GET", f"/profiles/{_segment(name)}")
        return result

    def put_profile(self, name: str, profile: Mapping[str, Any] | str) -> dict[str, Any]:
        """``PUT /profiles/{name}``: a dict (sent as JSON) or YAML text."""
        content_type = "application/yaml" if isinstance(profile, str) else "application/json"
        result: dict[str, Any] = self.request(
            "PUT", f"/profiles/{_segment(name)}", profile, content_type=content_type
        )
        return result

    def delete_profile(self, name: str) -> None:
        """``DELETE /profiles/{name}``."""
        self.request("DELETE", f"/profiles/{_segment(name)}")

    def active(self) -> str:
        """``GET /active``."""
        result: str = self.request("GET", "/active")["profile"]
        return result

    def activate(self, name: str) -> None:
        """``PUT /active``: the profile for requests that no header or rule routes."""
        self.request("PUT", "/active", {"profile": name})

    def rules(self) -> list[dict[str, Any]]:
        """``GET /rules``."""
        result: list[dict[str, Any]] = self.request("GET", "/rules")["rules"]
        return result

    def add_rule(
        self,
        profile: str,
        *,
        method: str | None = None,
        path_prefix: str | None = None,
        path_regex: str | None = None,
        headers: Mapping[str, str] | None = None,
        times: int | None = None,
    ) -> dict[str, Any]:
        """``POST /rules``; returns the rule with its id."""
        body = rule_body(
            profile,
            method=method,
            path_prefix=path_prefix,
            path_regex=path_regex,
            headers=headers,
            times=times,
        )
        result: dict[str, Any] = self.request("POST", "/rules", body)
        return result

    def delete_rule(self, rule_id: int) -> None:
        """``DELETE /rules/{id}``."""
        self.request("DELETE", f"/rules/{rule_id}")

    def clear_rules(self) -> None:
        """``DELETE /rules``."""
        self.request("DELETE", "/rules")

    def journal(self, **filters: Any) -> list[dict[str, Any]]:
        """``GET /journal`` with filters (limit, after_id, profile, path_prefix, method, ended)."""
        result: list[dict[str, Any]] = self.request("GET", "/journal", query=filters)["entries"]
        return result

    def entry(self, record_id: int) -> dict[str, Any]:
        """``GET /journal/{id}``."""
        result: dict[str, Any] = self.request("GET", f"/journal/{record_id}")
        return result

    def clear_journal(self) -> None:
        """``DELETE /journal``."""
        self.request("DELETE", "/journal")

    def wait_for(
        self, count: int = 1, timeout: float = 10.0, **filters: Any
    ) -> list[dict[str, Any]]:
        """``GET /journal/wait``: block until ``count`` matching entries have ended (408 ->
        ControlError with status 408)."""
        query = {"count": count, "timeout": timeout, **filters}
        result: list[dict[str, Any]] = self.request(
            "GET", "/journal/wait", query=query, timeout=timeout + self.timeout
        )["entries"]
        return result

    def reset(self) -> None:
        """``POST /reset``: back to the start-up state."""
        self.request("POST", "/reset")


def rule_body(
    profile: str,
    *,
    method: str | None = None,
    path_prefix: str | None = None,
    path_regex: str | None = None,
    headers: Mapping[str, str] | None = None,
    times: int | None = None,
) -> dict[str, Any]:
    """The JSON body of ``POST /rules``, leaving out what is not given."""
    match = {
        "method": method,
        "path_prefix": path_prefix,
        "path_regex": path_regex,
        "headers": dict(headers) if headers else None,
    }
    body: dict[str, Any] = {
        "match": {key: value for key, value in match.items() if value is not None},
        "profile": profile,
    }
    if times is not None:
        body["times"] = times
    return body


def _segment(name: str) -> str:
    return urllib.parse.quote(name, safe="")


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _error_from(err: urllib.error.HTTPError) -> ControlError:
    raw = err.read()
    try:
        body = json.loads(raw)
        return ControlError(err.code, body["error"], body["message"], body.get("details"))
    except (ValueError, KeyError, TypeError):
        return ControlError(err.code, "http-error", raw.decode("utf-8", "replace")[:500])
