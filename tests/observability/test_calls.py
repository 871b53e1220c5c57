"""How an API request is labelled and named: Dapr's low-cardinality paths and span names."""
from __future__ import annotations

import pytest

from tandem.sidecar.observability.calls import Classifier, span_attributes, span_name


def call(path: str, **headers: str):  # type: ignore[no-untyped-def]
    return Classifier()({"path": path, "headers": [(k.encode(), v.encode()) for k, v in headers.items()]})


@pytest.mark.parametrize(("path", "route", "api"), [
    ("/v1.0/state/store/some-key", "/v1.0/state/store", "state"),
    ("/v1.0/state/store", "/v1.0/state/store", "state"),
    ("/v1.0/secrets/vault/db-password", "/v1.0/secrets/vault", "secrets"),
    ("/v1.0/publish/pubsub/orders/eu", "/v1.0/publish/pubsub/orders/eu", "publish"),
    ("/v1.0/bindings/files", "/v1.0/bindings/files", "bindings"),
    ("/v1.0/invoke/cart/method/items/42", "/v1.0/invoke/cart/method", "invoke"),
    ("/v1.0/actors/Counter/7/method/inc", "/v1.0/actors/Counter/{id}/method", "actors"),
    ("/v1.0/healthz/outbound", "/v1.0/healthz/outbound", "healthz"),
    ("/somewhere/else", "", ""),
])
def test_routes_leave_ids_and_keys_out(path: str, route: str, api: str) -> None:
    found = call(path)
    assert (found.route, found.api) == (route, api)


def test_the_header_form_of_invocation_is_recognised() -> None:
    found = call("/orders/42", **{"dapr-app-id": "shop"})
    assert (found.api, found.resource, found.method, found.route) == ("invoke", "shop", "orders/42",
                                                                      "/v1.0/invoke/shop/method")


def test_span_names_and_attributes_follow_dapr() -> None:
    invoke = call("/v1.0/invoke/cart/method/items/42")
    assert span_name(invoke, "POST", "/v1.0/invoke/cart/method/items/42") == "CallLocal/cart/items/42"
    attributes = span_attributes(invoke, "POST", "/v1.0/invoke/cart/method/items/42")
    assert attributes["rpc.service"] == "ServiceInvocation" and attributes["net.peer.name"] == "cart"
    state = call("/v1.0/state/store/k")
    assert span_name(state, "GET", "/v1.0/state/store/k") == "/v1.0/state/store/k"
    attributes = span_attributes(state, "GET", "/v1.0/state/store/k")
    assert (attributes["db.system"], attributes["db.name"], attributes["dapr.api"]) == (
        "state", "store", "GET /v1.0/state/store/k")
    actor = call("/v1.0/actors/Counter/7/method/inc")
    assert span_name(actor, "PUT", "/v1.0/actors/Counter/7/method/inc") == "CallActor/Counter/inc"
    assert span_attributes(actor, "PUT", "/v1.0/actors/Counter/7/method/inc")["dapr.actor"] == "Counter.7"
