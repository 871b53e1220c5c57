"""The metrics registry writes Prometheus text that prometheus_client's parser reads back."""
from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tandem.sidecar.observability.metrics import Metrics


def parse(metrics: Metrics) -> dict[str, object]:
    return {family.name: family for family in text_string_to_metric_families(metrics.render().decode())}


def test_counters_keep_daprs_names_and_the_app_id_label() -> None:
    metrics = Metrics("shop", "prod")
    metrics.http_server_latency.observe(3.0, "GET", "/v1.0/state/store", "200")  # the count is read off it
    metrics.http_server_latency.observe(40.0, "GET", "/v1.0/state/store", "200")
    text = metrics.render().decode()
    assert '# TYPE dapr_http_server_request_count counter' in text
    assert 'dapr_http_server_request_count{app_id="shop",method="GET",path="/v1.0/state/store",status="200"} 2' in text
    family = parse(metrics)["dapr_http_server_request_count"]
    assert [s.value for s in family.samples] == [2]  # type: ignore[attr-defined]


def test_invocation_counts_are_summed_over_the_labels_they_keep() -> None:
    metrics = Metrics("a")
    for status in ("200", "200", "500"):
        metrics.invocation_res_recv_latency.observe(1.0, "b", "orders", status)
    families = parse(metrics)
    sent = families["dapr_service_invocation_req_sent"].samples  # type: ignore[attr-defined]
    assert [(s.labels, s.value) for s in sent] == [
        ({"app_id": "a", "destination_app_id": "b", "invoke_method": "orders"}, 3)]
    received = {s.labels["status"]: s.value
                for s in families["dapr_service_invocation_res_recv"].samples}  # type: ignore[attr-defined]
    assert received == {"200": 2, "500": 1}


def test_label_values_are_escaped() -> None:
    metrics = Metrics('a"b\\c')
    metrics.actor_activated.inc('type "x"\nnext')
    family = parse(metrics)["dapr_runtime_actor_activated"]
    sample = family.samples[0]  # type: ignore[attr-defined]
    assert sample.labels == {"app_id": 'a"b\\c', "actor_type": 'type "x"\nnext'} and sample.value == 1


def test_histograms_are_cumulative_with_sum_and_count() -> None:
    metrics = Metrics("a", latency_buckets_ms=(1, 10))
    for value in (0.5, 1, 5, 50):
        metrics.http_server_latency.observe(value, "GET", "/x", "200")
    samples = {(s.name, s.labels.get("le")): s.value
               for s in parse(metrics)["dapr_http_server_latency"].samples}  # type: ignore[attr-defined]
    assert samples[("dapr_http_server_latency_bucket", "1")] == 2  # 1 falls in le=1
    assert samples[("dapr_http_server_latency_bucket", "10")] == 3
    assert samples[("dapr_http_server_latency_bucket", "+Inf")] == 4
    assert samples[("dapr_http_server_latency_count", None)] == 4
    assert samples[("dapr_http_server_latency_sum", None)] == 56.5


def test_gauges_go_up_and_down() -> None:
    metrics = Metrics("a")
    metrics.actor_pending_calls.add(2, "Counter")
    metrics.actor_pending_calls.add(-1, "Counter")
    family = parse(metrics)["dapr_runtime_actor_pending_actor_calls"]
    assert family.type == "gauge" and family.samples[0].value == 1  # type: ignore[attr-defined]


def test_a_wrong_number_of_labels_is_refused_at_once() -> None:
    metrics = Metrics("a")
    try:
        metrics.actor_timers_fired.inc("Counter")
    except ValueError as exc:
        assert "('actor_type', 'success')" in str(exc)
    else:
        raise AssertionError("expected ValueError")
