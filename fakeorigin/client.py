"""The control API's client under its public name: ``from fakeorigin.client import
ControlClient``. It lives in :mod:`fakeorigin.control.client`."""

from fakeorigin.control.client import ControlClient, ControlError, rule_body

__all__ = ["ControlClient", "ControlError", "rule_body"]
