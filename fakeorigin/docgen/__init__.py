"""Builders of the generated documents: the profile reference (docs/profiles.md) and the
violation catalogue (docs/violations.md). Run by ``make docs``; the tests check they are
current."""
