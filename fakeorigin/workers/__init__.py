"""``fakeorigin serve --workers N``: N worker processes serve the origin's ports, one parent
runs the control API (docs/architecture.md, "Workers")."""
