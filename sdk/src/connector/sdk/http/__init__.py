"""The HTTP toolkit for REST connectors (connector-sdk's ``http`` extra, on httpx).

    from connector.sdk.http import Bearer, HttpClient, LinkHeader

    def open_connection(base_url, token, context):
        return HttpClient(base_url, auth=Bearer(token), context=context)

    def list_issues(client, repo):
        return list(client.paginate(f"/repos/{repo}/issues", LinkHeader(), limit=500))

- ``HttpClient`` (base URL, ``ApiKey``/``Bearer``/``Basic`` auth, timeouts within the
  step's deadline, the egress policy, a response-size cap, retries of idempotent requests)
  whose errors are the SDK's codes (``status_error``, ``retry_after``: the status table);
- pages: ``LinkHeader``, ``CursorField``, ``PageNumber``, ``Offset`` (each a ``Paginator``
  yielding ``Page``s);
- ``ListPoller``: a trigger's whole poll of a list sorted by a mark (first poll, ties,
  pages, a limit), handing off each item once;
- ``HighWaterMark``: the cursor with ties for a trigger that fetches its own;
- OAuth 2.0: declare ``oauth2`` on the connection; a 401 is AUTH_FAILED, which the runtime
  answers by refreshing the token once and running the step again.

Public: the names in ``__all__``; the modules behind them (``_client``...) are private.
"""

from ._client import ApiKey, Basic, Bearer, HttpClient
from ._cursor import HighWaterMark
from ._errors import retry_after, status_error
from ._pagination import CursorField, LinkHeader, Offset, Page, PageNumber, Paginator
from ._polling import ListPoller

__all__ = [
    "ApiKey",
    "Basic",
    "Bearer",
    "CursorField",
    "HighWaterMark",
    "HttpClient",
    "LinkHeader",
    "ListPoller",
    "Offset",
    "Page",
    "PageNumber",
    "Paginator",
    "retry_after",
    "status_error",
]
