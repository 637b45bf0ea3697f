"""What a connector's own tests use: ``Harness`` (the full invocation pipeline, plus checks
of the output contract), the standard checks every connector gets from its manifest, and
``FakeHttpServer``, a real HTTP server on 127.0.0.1 playing a REST service.

Public: the names in ``__all__`` (docs/writing-a-connector.md, "Testing").
"""

from ._harness import Harness, required_inputs_are_enforced, standard_checks
from ._http import FakeHttpServer, Reply, Upload
from ._http import Request as FakeRequest

__all__ = [
    "FakeHttpServer",
    "FakeRequest",
    "Harness",
    "Reply",
    "Upload",
    "required_inputs_are_enforced",
    "standard_checks",
]
