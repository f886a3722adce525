"""The pytest plugin (entry point ``pytest11: fakeorigin``): fakeorigin as a fixture.

Cheap to import: it imports no Twisted and installs no reactor at import time, so that
pytest-twisted's ``--reactor`` choice keeps working. (Fixtures arrive with issue 6.)
"""
