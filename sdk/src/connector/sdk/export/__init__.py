"""What a platform imports, generated from the manifests: no service needs to run.

- ``openapi``: the OpenAPI 3.1 document of the service's routes (the service serves it too);
- ``openapi30``: the same as OpenAPI 3.0 (Google Integration Connectors and older tools);
- ``powerautomate``: a Power Automate / Logic Apps custom connector folder (Swagger 2.0);
- ``cli``: ``connector export NAME --format ... --out DIR``.

Nothing here needs the serve extra: the service imports these, never the other way round
(the header names Power Automate's policies set are the service's, ``service.headers``).

Not for connectors: run by ``connector export`` and the service; it may change in any release.
"""
