"""Error codes of the retrieval service (``server.<reason>``)."""

from __future__ import annotations

from typing import Final

COLLECTION_NOT_FOUND: Final = "server.collection_not_found"
COLLECTION_EXISTS: Final = "server.collection_exists"
POINT_NOT_FOUND: Final = "server.point_not_found"
JOB_NOT_FOUND: Final = "server.job_not_found"
KEY_NOT_FOUND: Final = "server.key_not_found"
FORBIDDEN: Final = "server.forbidden"
INVALID_REQUEST: Final = "server.invalid_request"
INVALID_ROLE: Final = "server.invalid_role"
QUOTA_EXCEEDED: Final = "server.quota_exceeded"
NO_EMBEDDER: Final = "server.no_embedder"
EMBEDDER_UNAVAILABLE: Final = "server.embedder_unavailable"
BACKEND_UNAVAILABLE: Final = "server.backend_unavailable"
QUEUE_UNAVAILABLE: Final = "server.queue_unavailable"
REQUEST_TIMEOUT: Final = "server.request_timeout"
INVALID_SETTING: Final = "server.invalid_setting"

DESCRIPTIONS: Final[dict[str, str]] = {
    COLLECTION_NOT_FOUND: "No collection of that name in the caller's tenant (other tenants' are invisible).",
    COLLECTION_EXISTS: "A collection of that name already exists in the tenant.",
    POINT_NOT_FOUND: "No point with that id in the collection.",
    JOB_NOT_FOUND: "No job with that id in the caller's tenant.",
    KEY_NOT_FOUND: "No API key with that id in the caller's tenant.",
    FORBIDDEN: "The caller's roles do not allow this action on this resource.",
    INVALID_REQUEST: "The request body or parameters are malformed.",
    INVALID_ROLE: "An API key was asked with a role other than admin, writer or reader.",
    QUOTA_EXCEEDED: "The tenant's quota of collections or points would be exceeded.",
    NO_EMBEDDER: "Text was sent to a collection created without an embedder.",
    EMBEDDER_UNAVAILABLE: "The collection's embedder is not installed in this service.",
    BACKEND_UNAVAILABLE: "The configured backend URL names a backend this installation lacks.",
    QUEUE_UNAVAILABLE: "Queued ingest needs llm_infra.mq and a reachable broker (mq.url).",
    REQUEST_TIMEOUT: "The request did not finish within server.request_timeout seconds.",
    INVALID_SETTING: "A service setting (server.*, vector.url, auth.keys_url, ...) is invalid.",
}
