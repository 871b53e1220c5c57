"""The metadata fields of the Redis component types (the README's tables mirror this one)."""
from __future__ import annotations

from collections.abc import Mapping

from tandem.sidecar.components.fields import MetadataField as F

__all__ = ["FIELDS"]

#: What every Redis type reads to connect (``connection.parse_settings``).
CONNECTION: tuple[F, ...] = (
    F("redisHost", required=True, description="host:port of the Redis server"),
    F("redisPassword", description="the password (AUTH)"),
    F("redisUsername", description="the ACL user name"),
    F("redisDB", default="0", description="the database number"),
    F("redisType", default="node", description="node (cluster is refused: not supported yet)"),
    F("enableTLS", default="false", description="connect over TLS"),
    F("clientCert", description="PEM client certificate (with clientKey)"),
    F("clientKey", description="PEM client key (with clientCert)"),
    F("failover", default="false", description="Sentinel; true is refused (not supported yet)"),
    F("sentinelMasterName", applied=False, description="Sentinel is not supported yet"),
    F("useEntraID", default="false", description="Azure Entra ID; true is refused (not supported)"),
    F("dialTimeout", default="5s", description="bound on connecting"),
    F("readTimeout", default="3s", description="bound on one reply"),
    F("writeTimeout", default="readTimeout", description="bound on one write"),
    F("poolSize", default="10 per CPU", description="connections kept open"),
    F("poolTimeout", default="readTimeout + 1s", description="how long a call waits for a free connection"),
    F("minIdleConns", default="0", applied=False, description="redis-py opens connections on demand"),
    F("redisMaxRetries", default="3", description="retries of a failed command"),
    F("redisMinRetryInterval", default="8ms", description="shortest back-off between retries (-1: none)"),
    F("redisMaxRetryInterval", default="512ms", description="longest back-off between retries (-1: none)"),
    F("idleTimeout", applied=False, description="go-redis pool knob; redis-py has no equivalent"),
    F("idleCheckFrequency", applied=False, description="go-redis pool knob; redis-py has no equivalent"),
    F("maxConnAge", applied=False, description="go-redis pool knob; redis-py has no equivalent"),
)

FIELDS: Mapping[str, tuple[F, ...]] = {
    "state.redis": CONNECTION + (
        F("maxRetries", default="3", description="older name of redisMaxRetries"),
        F("maxRetryBackoff", default="2s", description="older name of redisMaxRetryInterval"),
        F("ttlInSeconds", description="default ttl of every key (none: keys never expire)"),
        F("etagOnMissingKey", default="mismatch", description="what a write with an ETag on a missing key does"),
        F("queryIndexes", applied=False, description="RediSearch indexes; the query API is not served by "
                                                     "tandem-redis"),
    ),
    "pubsub.redis": CONNECTION + (
        F("processingTimeout", default="60s", description="an unacknowledged message is redelivered after it"),
        F("redeliverInterval", default="15s", description="how often pending messages are reclaimed (0: never)"),
        F("queueDepth", default="100", description="messages read ahead per subscription"),
        F("maxLenApprox", default="0", description="trim each stream to about this length (0: never)"),
        F("redeliverBackoff", default="50ms", description="first back-off after a failed delivery (doubling)"),
        F("maxRedeliveryBackoff", default="5s", description="the longest back-off"),
    ),
    "lock.redis": CONNECTION,
    "placement.redis": CONNECTION,
    "bindings.redis": CONNECTION,
}
