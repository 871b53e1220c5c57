"""The metadata fields of the built-in drivers, by component type (mirrored by the README's table).

Fields the runtime reads for a whole kind (``keyPrefix``, ``consumerID``, ``direction`` …)
are in :data:`tandem.sidecar.components.fields.KIND_FIELDS`, not here.
"""
from __future__ import annotations

from collections.abc import Mapping

from ..components.fields import MetadataField as F

__all__ = ["BUILTIN_FIELDS"]

_TIMEOUT = F("timeout", default="20s", aliases=("timeoutInSeconds",),
             description="bound on one operation, waiting included (at least 1s)")
_SQLITE_FILE = F("connectionString", required=True, description="a file path, file: URI or :memory:")

BUILTIN_FIELDS: Mapping[str, tuple[F, ...]] = {
    "state.in-memory": (
        F("cleanupInterval", default="1s", description="how often expired keys are swept"),
    ),
    "state.sqlite": (
        F("connectionString", required=True, aliases=("url",), description="a file path, file: URI or :memory:"),
        F("tableName", default="state", description="the table of the state"),
        F("metadataTableName", default="metadata", description="the table of the store's own metadata"),
        _TIMEOUT,
        F("busyTimeout", default="2s", description="how long a write waits for the file's lock"),
        F("cleanupInterval", default="1h", aliases=("cleanupIntervalInSeconds",),
          description="how often expired keys are deleted (0 disables)"),
        F("disableWAL", default="false", description="use a rollback journal instead of WAL"),
    ),
    "pubsub.in-memory": (
        F("processingTimeout", default="60s", description="an unacknowledged delivery is redelivered after it"),
    ),
    "pubsub.sqlite": (
        _SQLITE_FILE,
        F("tableName", default="pubsub", description="the prefix of the broker's tables"),
        F("processingTimeout", default="60s", description="an unacknowledged delivery is redelivered after it"),
        F("redeliverBackoff", default="50ms", description="first back-off after a failed delivery (doubling)"),
        F("maxRedeliveryBackoff", default="5s", description="the longest back-off"),
        F("pollInterval", default="50ms", description="how often new messages are looked for"),
        F("retentionPeriod", default="1h", description="how long acknowledged messages are kept"),
        F("cleanupInterval", default="5m", description="how often old messages are deleted (0 disables)"),
        F("busyTimeout", default="5s", description="how long a write waits for the file's lock"),
        _TIMEOUT,
    ),
    "lock.in-memory": (),
    "secretstores.local.file": (
        F("secretsFile", required=True, description="the JSON file of secrets"),
        F("nestedSeparator", default=":", description="joins the keys of nested objects"),
        F("multiValued", default="false", description="a top-level object is one secret with many keys"),
    ),
    "secretstores.local.env": (
        F("prefix", description="only variables with this prefix, stripped from the names"),
    ),
    "bindings.cron": (
        F("schedule", required=True, description="a cron expression, @every 15s, @daily …"),
    ),
    "bindings.http": (
        F("url", required=True, description="the base URL (http or https)"),
        F("securityToken", description="a token sent in securityTokenHeader"),
        F("securityTokenHeader", description="the header carrying securityToken"),
        F("responseTimeout", description="bound on one call (default: none)"),
        F("maxResponseBodySize", default="100Mi", description="the largest response read"),
        F("errorIfNot2XX", default="true", description="a non-2xx answer is an error"),
    ),
    "bindings.localstorage": (
        F("rootPath", required=True, description="the folder the files live under"),
    ),
    "placement.in-memory": (),
    "placement.sqlite": (
        _SQLITE_FILE,
        F("busyTimeout", default="2s", description="how long a write waits for the file's lock"),
        _TIMEOUT,
    ),
    "nameresolution.local": (
        F("runDirectory", default="~/.tandem/run", description="where this machine's sidecars register"),
    ),
    "nameresolution.mdns": (
        F("runDirectory", default="~/.tandem/run", description="where this machine's sidecars register"),
    ),
}
