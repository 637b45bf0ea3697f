"""An OAuth token endpoint is a destination of its own: https's 443 beside the steps' ports,
under the same host rules, named in its refusals. (The whole refresh through the service,
against a real https endpoint on 443: tests/system/test_service_egress.py.)"""

from __future__ import annotations

import pytest

from connector.sdk import _egress as egress
from connector.sdk._egress import EgressPolicy
from connector.sdk._oauth import Refresher
from connector.sdk._scrub import Scrubber
from connector.sdk.errors import DestinationNotAllowed
from connector.sdk.testing._http import FakeHttpServer
from tests.sdk.zone import Zone

ZONE = Zone(
    {
        "oauth2.googleapis.com": ["142.250.184.234"],
        "login.corp.example": ["10.20.0.5"],
        "metadata.example": ["169.254.169.254"],
        "idp.denied.example": ["203.0.114.9"],
    }
)
STEPS = EgressPolicy.create(allow_ports=[143, 993]).with_resolver(ZONE)


def refusal(policy: EgressPolicy, host: str, port: int) -> DestinationNotAllowed:
    with pytest.raises(DestinationNotAllowed) as info:
        policy.addresses(host, port)
    return info.value


def test_443_is_allowed_to_a_token_endpoint_and_not_to_a_step():
    assert STEPS.for_token_endpoint().addresses("oauth2.googleapis.com", 443)
    assert refusal(STEPS, "oauth2.googleapis.com", 443).details == [{"rule": "allowPorts"}]


def test_a_token_endpoint_at_another_port_is_refused_by_its_own_rule():
    error = refusal(STEPS.for_token_endpoint(), "oauth2.googleapis.com", 8443)
    assert error.details == [{"rule": "tokenEndpoint.allowPorts"}]
    assert error.message.startswith("Port 8443 is not allowed for an OAuth token endpoint")
    assert "143, 443, 993" in error.message


@pytest.mark.parametrize(
    ("host", "kind"),
    [
        ("login.corp.example", "private"),
        ("metadata.example", "link-local (cloud metadata)"),
        ("127.0.0.1", "loopback"),
        ("fec0::1", "site-local"),
    ],
)
def test_a_token_endpoint_is_never_an_internal_address(host, kind):
    error = refusal(STEPS.for_token_endpoint(), host, 443)
    assert error.details == [{"rule": "tokenEndpoint.addressClass"}]
    assert error.message.startswith(f"The OAuth token endpoint {host!r} is not allowed")
    assert f"a {kind} address" in error.message
    assert "10.20.0.5" not in error.message and "169.254" not in error.message


def test_the_operator_opens_a_token_endpoint_as_any_host_and_denies_it_the_same():
    on_premises = EgressPolicy.create(allow_ports=[993], allow_private=True).with_resolver(ZONE)
    assert on_premises.for_token_endpoint().addresses("login.corp.example", 443)
    named = EgressPolicy.create(allow_ports=[993], allow_hosts=["login.corp.example"])
    assert named.with_resolver(ZONE).for_token_endpoint().addresses("login.corp.example", 443)
    denied = EgressPolicy.create(allow_ports=[993], deny_hosts=["idp.denied.example"])
    error = refusal(denied.with_resolver(ZONE).for_token_endpoint(), "203.0.114.9", 443)
    assert error.details == [{"rule": "tokenEndpoint.denyHosts"}]


def test_any_port_stays_any_and_the_policy_says_what_token_endpoints_get():
    assert EgressPolicy.create().for_token_endpoint().allow_ports is None
    assert STEPS.describe()["tokenEndpointPorts"] == [143, 443, 993]
    assert STEPS.describe()["allowPorts"] == [143, 993]


def refresher(url: str) -> Refresher:
    fields = {"refreshToken": "r-1", "clientId": "app", "clientSecret": "s-1", "tokenUrl": url}
    return Refresher({}, fields, Scrubber(), "refresh_token")


def test_a_refresh_connects_under_the_token_endpoint_rule():
    with FakeHttpServer() as api:
        api.oauth(client_id="app", client_secret="s-1", refresh_token="r-1")
        url = f"{api.url}/oauth/token"
        loopback = {"allow_hosts": ["127.0.0.1"]}
        with egress.applied(EgressPolicy.create(allow_ports=[993], **loopback)):
            with pytest.raises(DestinationNotAllowed) as info:
                refresher(url).refresh()
        assert info.value.details == [{"rule": "tokenEndpoint.allowPorts"}]
        assert api.requests == []
        with egress.applied(EgressPolicy.create(allow_ports=[993, api.port], **loopback)):
            assert refresher(url).refresh()["accessToken"].startswith("access-")
        with egress.applied(EgressPolicy.create(allow_ports=[993, api.port])):
            with pytest.raises(DestinationNotAllowed) as info:
                refresher(url).refresh()
        assert info.value.details == [{"rule": "tokenEndpoint.addressClass"}]
    assert egress.current().role == ""  # (the rule held for the refresh only)
