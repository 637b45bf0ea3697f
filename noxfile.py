"""The unit tests on every supported Python (``nox``; ``nox -s unit-3.12`` for one).

The full suite (real IMAP servers, the service, Temporal) runs on the main interpreter
through scripts/test; here each version gets the fast tests, which exercise the whole
runtime and every parser without a server. Versions missing on the machine fail the run
(``error_on_missing_interpreters``): CI must say which Pythons were tested.
"""

from __future__ import annotations

import nox

nox.options.error_on_missing_interpreters = True
nox.options.reuse_existing_virtualenvs = True
PYTHONS = ["3.11", "3.12", "3.13"]  # requires-python >=3.11 in both pyprojects


@nox.session(python=PYTHONS)
def unit(session: nox.Session) -> None:
    session.install("-e", "./sdk[serve]", "-e", ".[demo]", "pytest>=7", "openapi-spec-validator")
    session.run(
        "python", "-m", "pytest", "tests/sdk", "tests/imap/unit", "-q", "-p", "no:cacheprovider"
    )
