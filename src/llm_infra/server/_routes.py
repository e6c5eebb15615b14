"""The ``/v1`` API: collections, points, search, documents, jobs and keys."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import anyio
import numpy as np
import orjson
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.routing import APIRoute

from llm_infra.auth import Identity
from llm_infra.errors import AuthError, BatchError, InfraError, NotFoundError, ValidationError
from llm_infra.json import dumps
from llm_infra.server import _codes
from llm_infra.server._collections import Collection, embed
from llm_infra.server._models import (
    BatchOut,
    BatchSearchOut,
    CollectionIn,
    CollectionList,
    CollectionOut,
    Deleted,
    DocumentsIn,
    JobIn,
    JobList,
    JobOut,
    KeyCreated,
    KeyIn,
    KeyList,
    MetadataIn,
    PointOut,
    PointsIn,
    SearchIn,
    SearchOut,
)
from llm_infra.server._security import COLLECTIONS_ATTR, display_subject, tenant_of
from llm_infra.server._service import Service


class JSON(Response):
    """A JSON response encoded by ``llm_infra.json`` (orjson; numpy arrays allowed)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content)


class Caller:
    """Who is calling, in which tenant (from the auth middleware's identity)."""

    __slots__ = ("identity", "service", "tenant")

    def __init__(self, service: Service, identity: Identity) -> None:
        self.service = service
        self.identity = identity
        self.tenant = tenant_of(identity, service.settings.default_tenant)

    @property
    def who(self) -> str:
        """``tenant/subject`` for audit events."""
        return f"{self.tenant}/{display_subject(self.identity)}"

    def allow(self, action: str, collection: str | None = None) -> None:
        """RBAC (audited); raises ``AuthError`` 403."""
        self.service.security.authorize(self.identity, action, self.tenant, collection)

    def collection(self, action: str, name: str) -> Collection:
        """Authorize, then open the tenant's collection (another tenant's answers 404)."""
        self.allow(action, name)
        return self.service.collections.get(self.tenant, name)

    def changed(self, what: str, change: str) -> None:
        """Audit an admin action."""
        self.service.security.changed(f"tenant/{self.tenant}/{what}", self.who, change)


class _OrjsonRequest(Request):
    """A request whose JSON body is parsed by orjson (about 10x faster on vector payloads)."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            # orjson.JSONDecodeError is a json.JSONDecodeError: FastAPI still answers 422.
            self._json = orjson.loads(await self.body())
        return self._json


class OrjsonRoute(APIRoute):
    """Routes of the API: request bodies parsed by orjson."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            return await handler(_OrjsonRequest(request.scope, request.receive))

        return route


def caller(request: Request) -> Caller:
    """FastAPI dependency: the authenticated caller (the auth middleware guarantees one on /v1)."""
    service: Service = request.app.state.service
    identity = request.scope.get("identity")
    if not isinstance(identity, Identity):
        raise AuthError("authentication required", kind="missing_credentials")
    return Caller(service, identity)


router = APIRouter(prefix="/v1", default_response_class=JSON, route_class=OrjsonRoute)
CallerDep = Depends(caller)


# -- collections ------------------------------------------------------------------------------


def _collection_out(name: str, doc: dict[str, Any], count: int | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "dimensions": doc.get("dimensions"),
        "distance": doc.get("distance", "cosine"),
        "count": count,
        "indexed_fields": doc.get("indexed_fields") or [],
        "embedder": doc.get("embedder"),
        "created_at": doc.get("created_at"),
    }


@router.post("/collections", status_code=201, response_model=CollectionOut, tags=["collections"])
async def create_collection(body: CollectionIn, who: Caller = CallerDep) -> JSON:
    """Create a collection in the caller's tenant."""
    who.allow("admin")
    spec = body.model_dump(exclude_none=True)
    coll = await anyio.to_thread.run_sync(lambda: who.service.collections.create(who.tenant, spec))
    who.changed(f"collection/{coll.name}", "created")
    return JSON(_collection_out(coll.name, coll.spec, 0), status_code=201)


@router.get("/collections", response_model=CollectionList, tags=["collections"])
async def list_collections(who: Caller = CallerDep) -> JSON:
    """The caller's tenant's collections (never another tenant's)."""
    who.allow("read")
    entries = who.service.collections.list(who.tenant)
    allowed = who.identity.attributes.get(COLLECTIONS_ATTR)
    out = [
        _collection_out(name, doc)
        for _, name, doc in entries
        if not isinstance(allowed, list | tuple) or not allowed or name in allowed
    ]
    return JSON({"collections": out})


@router.get("/collections/{name}", response_model=CollectionOut, tags=["collections"])
async def get_collection(name: str, who: Caller = CallerDep) -> JSON:
    """One collection with its point count."""
    coll = who.collection("read", name)
    count = await coll.call("count", coll.store.count)
    return JSON(_collection_out(coll.name, coll.spec, count))


@router.delete("/collections/{name}", response_model=Deleted, tags=["collections"])
async def delete_collection(name: str, who: Caller = CallerDep) -> JSON:
    """Drop a collection and its points."""
    who.allow("admin", name)
    await anyio.to_thread.run_sync(lambda: who.service.collections.delete(who.tenant, name))
    who.changed(f"collection/{name}", "deleted")
    return JSON({"deleted": True})


def stats_dict(coll: Collection) -> dict[str, Any]:
    """A store's ``StoreStats`` as JSON."""
    stats = coll.store.stats()
    return {
        "name": coll.name,
        "count": stats.count,
        "dimensions": stats.dimensions,
        "distance": str(stats.distance),
        "indexed": stats.indexed,
        "pending": stats.pending,
        "tombstones": stats.tombstones,
        "index_fresh": stats.index_fresh,
        "compression_tier": stats.compression_tier,
        "memory_bytes": stats.memory_bytes,
        "disk_bytes": stats.disk_bytes,
        "indexed_fields": list(stats.indexed_fields),
    }


@router.get("/collections/{name}/stats", tags=["collections"])
async def collection_stats(name: str, who: Caller = CallerDep) -> JSON:
    """Size, index state and resource use of a collection."""
    coll = who.collection("read", name)
    return JSON(await coll.call("stats", stats_dict, coll))


# -- points -----------------------------------------------------------------------------------


def _batch_out(total: int, result: Any) -> tuple[int, dict[str, Any]]:
    failures = [{"id": f.item_id, "code": f.error.code, "detail": str(f.error)} for f in result.failures]
    body = {"total": total, "succeeded": result.succeeded, "failed": len(failures), "failures": failures}
    return (207 if failures else 200), body


def _matrix(vectors: list[list[float]], dims: int) -> np.ndarray:
    try:
        return np.asarray(vectors, dtype=np.float32).reshape(len(vectors), -1)
    except ValueError:
        raise ValidationError(
            f"every vector must have {dims} numbers", field="vector", code=_codes.INVALID_REQUEST
        ) from None


async def _upsert(
    coll: Collection, ids: list[str], vectors: Any, metadatas: list[Any]
) -> tuple[int, dict[str, Any]]:
    try:
        result = await coll.call(
            "upsert_batch", coll.store.upsert_batch, ids=ids, vectors=vectors, metadatas=metadatas
        )
    except BatchError as err:
        failures = [{"id": f.item_id, "code": f.error.code, "detail": str(f.error)} for f in err.failures]
        return 207, {"total": len(ids), "succeeded": 0, "failed": len(failures), "failures": failures}
    return _batch_out(len(ids), result)


async def _upsert_items(coll: Collection, items: list[Any]) -> tuple[int, dict[str, Any]]:
    try:
        result = await coll.call("upsert_batch", coll.store.upsert_batch, items)
    except BatchError as err:
        failures = [{"id": f.item_id, "code": f.error.code, "detail": str(f.error)} for f in err.failures]
        return 207, {"total": len(items), "succeeded": 0, "failed": len(failures), "failures": failures}
    return _batch_out(len(items), result)


@router.put(
    "/collections/{name}/points",
    response_model=BatchOut,
    responses={207: {"model": BatchOut, "description": "Some items failed"}, 202: {"model": JobOut}},
    tags=["points"],
)
async def upsert_points(
    name: str,
    body: PointsIn,
    who: Caller = CallerDep,
    wait: bool = Query(True, description="false: queue the write and answer 202 with a job"),
) -> JSON:
    """Insert or replace points: 200 when all succeed, 207 with per-item outcomes when some fail."""
    coll = who.collection("write", name)
    points = body.points
    who.service.collections.check_points_quota(who.tenant, len(points))
    if not wait:
        job = await who.service.jobs.submit_ingest(who.tenant, coll.name, [p.model_dump() for p in points])
        return JSON(job, status_code=202)
    dims = int(coll.spec["dimensions"])
    ids = [p.id for p in points]
    lengths = {len(p.vector) for p in points}
    if lengths == {dims}:
        vectors: Any = _matrix([p.vector for p in points], dims)
        status, out = await _upsert(coll, ids, vectors, [p.metadata for p in points])
    else:  # some vectors have the wrong length: the item form lets the store fail each alone
        items = [(p.id, np.asarray(p.vector, dtype=np.float32), p.metadata) for p in points]
        status, out = await _upsert_items(coll, items)
    return JSON(out, status_code=status)


def _point_not_found(point_id: str) -> NotFoundError:
    return NotFoundError(
        f"no point {point_id!r}", resource_type="point", resource_id=point_id, code=_codes.POINT_NOT_FOUND
    )


@router.get("/collections/{name}/points/{point_id}", response_model=PointOut, tags=["points"])
async def get_point(name: str, point_id: str, who: Caller = CallerDep, with_vector: bool = False) -> JSON:
    """One point's metadata (and vector)."""
    coll = who.collection("read", name)
    try:
        record = await coll.call("get", coll.store.get, point_id, with_vector)
    except ValidationError:
        record = None
    if record is None:
        raise _point_not_found(point_id)
    out: dict[str, Any] = {"id": record.id, "metadata": record.metadata}
    if with_vector and record.vector is not None:
        out["vector"] = record.vector.tolist()
    return JSON(out)


@router.delete("/collections/{name}/points/{point_id}", response_model=Deleted, tags=["points"])
async def delete_point(name: str, point_id: str, who: Caller = CallerDep) -> JSON:
    """Delete a point (404 when absent)."""
    coll = who.collection("write", name)
    try:
        deleted = await coll.call("delete", coll.store.delete, point_id)
    except ValidationError:
        deleted = False
    if not deleted:
        raise _point_not_found(point_id)
    return JSON({"deleted": True})


@router.patch("/collections/{name}/points/{point_id}", response_model=PointOut, tags=["points"])
async def patch_point(name: str, point_id: str, body: MetadataIn, who: Caller = CallerDep) -> JSON:
    """Replace a point's metadata."""
    coll = who.collection("write", name)
    try:
        await coll.call("update_metadata", coll.store.update_metadata, point_id, body.metadata)
    except NotFoundError:
        raise _point_not_found(point_id) from None
    except ValidationError as err:
        if err.field == "id":
            raise _point_not_found(point_id) from None
        raise
    return JSON({"id": point_id, "metadata": body.metadata})


# -- search -----------------------------------------------------------------------------------


def _hits(results: Any, with_vectors: bool) -> list[dict[str, Any]]:
    out = []
    for r in results:
        hit: dict[str, Any] = {"id": r.id, "score": float(r.score), "metadata": r.metadata}
        if with_vectors and r.vector is not None:
            hit["vector"] = r.vector
        out.append(hit)
    return out


def _options(body: SearchIn) -> dict[str, Any]:
    """The keyword options of a search request, as ``Collection.search`` takes them."""
    return {"min_score": body.min_score, "with_vectors": body.with_vectors, "ef_search": body.ef_search}


async def _search_many(coll: Collection, body: SearchIn, queries: np.ndarray) -> list[Any]:
    batch = getattr(coll.store, "search_batch", None)
    if batch is not None:
        results: list[Any] = await coll.call(
            "search_batch", batch, queries, body.k, body.filter, **_options(body)
        )
        return results
    return [await coll.search(q, body.k, body.filter, **_options(body)) for q in queries]


@router.post(
    "/collections/{name}/search",
    response_model=SearchOut,
    responses={200: {"model": SearchOut | BatchSearchOut}},
    tags=["search"],
)
async def search(name: str, body: SearchIn, who: Caller = CallerDep) -> JSON:
    """Nearest neighbours of ``vector``, of each of ``vectors`` (batch), or of ``text`` (embedder)."""
    coll = who.collection("read", name)
    given = [x is not None for x in (body.vector, body.vectors, body.text)]
    if sum(given) != 1:
        raise ValidationError(
            "give exactly one of vector, vectors or text", field="vector", code=_codes.INVALID_REQUEST
        )
    if body.vectors is not None:
        queries = _matrix(body.vectors, int(coll.spec["dimensions"]))
        groups = await _search_many(coll, body, queries)
        return JSON({"results": [_hits(g, body.with_vectors) for g in groups]})
    if body.text is not None:
        if coll.embedder is None:
            raise ValidationError(
                "this collection has no embedder: search with a vector", field="text", code=_codes.NO_EMBEDDER
            )
        query: Any = (await anyio.to_thread.run_sync(embed, coll.embedder, [body.text]))[0]
    else:
        query = body.vector
    results = await coll.search(
        query,
        body.k,
        body.filter,
        min_score=body.min_score,
        with_vectors=body.with_vectors,
        ef_search=body.ef_search,
    )
    return JSON({"results": _hits(results, body.with_vectors)})


@router.post(
    "/collections/{name}/documents",
    response_model=BatchOut,
    responses={207: {"model": BatchOut}},
    tags=["points"],
)
async def add_documents(name: str, body: DocumentsIn, who: Caller = CallerDep) -> JSON:
    """Embed ``texts`` with the collection's embedder and upsert them (text kept in ``metadata.text``)."""
    coll = who.collection("write", name)
    if coll.embedder is None:
        raise ValidationError("this collection has no embedder", field="texts", code=_codes.NO_EMBEDDER)
    n = len(body.texts)
    if (body.ids is not None and len(body.ids) != n) or (
        body.metadatas is not None and len(body.metadatas) != n
    ):
        raise ValidationError(
            "ids and metadatas must match texts in length", field="ids", code=_codes.INVALID_REQUEST
        )
    who.service.collections.check_points_quota(who.tenant, n)
    from llm_infra.ids import ulid

    ids = body.ids or [ulid() for _ in range(n)]
    metas = [{**(m or {}), "text": t} for m, t in zip(body.metadatas or [None] * n, body.texts, strict=True)]
    vectors = await anyio.to_thread.run_sync(embed, coll.embedder, body.texts)
    status, out = await _upsert(coll, ids, vectors, metas)
    out["ids"] = ids
    return JSON(out, status_code=status)


# -- jobs -------------------------------------------------------------------------------------


@router.post("/collections/{name}/jobs", status_code=202, response_model=JobOut, tags=["jobs"])
async def start_job(name: str, body: JobIn, who: Caller = CallerDep) -> JSON:
    """Queue a snapshot, verify, rebuild or migrate of a collection."""
    who.allow("admin", name)
    coll = who.service.collections.get(who.tenant, name)
    options = {"target": body.target} if body.target else {}
    job = await who.service.jobs.submit_task(who.tenant, coll.name, body.kind, options)
    who.changed(f"collection/{name}", f"job:{body.kind}")
    return JSON(job, status_code=202)


@router.get("/jobs", response_model=JobList, tags=["jobs"])
async def list_jobs(who: Caller = CallerDep) -> JSON:
    """The tenant's recent jobs with progress."""
    who.allow("read")
    return JSON({"jobs": await anyio.to_thread.run_sync(who.service.jobs.list, who.tenant)})


@router.get("/jobs/{job_id}", response_model=JobOut, tags=["jobs"])
async def get_job(job_id: str, who: Caller = CallerDep) -> JSON:
    """A job's progress (another tenant's job answers 404)."""
    who.allow("read")
    return JSON(await anyio.to_thread.run_sync(who.service.jobs.view, who.tenant, job_id))


# -- keys -------------------------------------------------------------------------------------


def _key_out(record: Any) -> dict[str, Any]:
    collections = record.attributes.get(COLLECTIONS_ATTR)
    return {
        "id": record.key_id,
        "subject": record.subject.split("/", 1)[-1],
        "tenant": record.tenant,
        "roles": sorted(record.roles),
        "collections": list(collections) if collections else None,
        "name": record.name,
        "created_at": record.created_at,
        "revoked": record.revoked,
        "last_used_at": record.last_used_at,
    }


@router.post("/keys", status_code=201, response_model=KeyCreated, tags=["keys"])
async def create_key(body: KeyIn, who: Caller = CallerDep) -> JSON:
    """Issue an API key in the caller's tenant (operators of the default tenant may name another)."""
    who.allow("admin")
    tenant = who.tenant
    if body.tenant and body.tenant != who.tenant:
        if who.tenant != who.service.settings.default_tenant:
            raise AuthError(
                "tenant admins manage only their own tenant's keys", kind="insufficient_permissions"
            )
        tenant = body.tenant
    key, key_id = await who.service.security.issue_key(
        tenant=tenant,
        subject=body.subject,
        roles=list(body.roles),
        collections=body.collections,
        actor=who.who,
        name=body.name,
    )
    who.changed(f"key/{key_id}", "created")
    return JSON({"key": key, "id": key_id, "tenant": tenant}, status_code=201)


def _tenant_keys(who: Caller) -> list[Any]:
    return [r for r in who.service.security.keys.list_keys() if r.tenant == who.tenant]


@router.get("/keys", response_model=KeyList, tags=["keys"])
async def list_keys(who: Caller = CallerDep) -> JSON:
    """The tenant's keys (ids and roles, never the keys)."""
    who.allow("admin")
    records = await anyio.to_thread.run_sync(_tenant_keys, who)
    return JSON({"keys": [_key_out(r) for r in records]})


@router.delete("/keys/{key_id}", response_model=Deleted, tags=["keys"])
async def revoke_key(key_id: str, who: Caller = CallerDep) -> JSON:
    """Revoke a key of the tenant (another tenant's key answers 404)."""
    who.allow("admin")
    keys = who.service.security.keys
    try:
        record = await anyio.to_thread.run_sync(keys.get, key_id)
    except NotFoundError:
        record = None
    if record is None or record.tenant != who.tenant:
        raise NotFoundError(
            "no such API key", resource_type="api_key", resource_id=key_id, code=_codes.KEY_NOT_FOUND
        )
    await keys.arevoke(key_id, actor=who.who)
    who.changed(f"key/{key_id}", "revoked")
    return JSON({"deleted": True})


# -- status page data -------------------------------------------------------------------------


@router.get("/status", tags=["status"])
async def status(who: Caller = CallerDep) -> JSON:
    """What the status page shows: collections, health, request rate, audit events, jobs."""
    who.allow("admin")
    svc = who.service

    def gather() -> dict[str, Any]:
        colls = []
        for _, name, _doc in svc.collections.list(who.tenant):
            try:
                colls.append(stats_dict(svc.collections.get(who.tenant, name)))
            except InfraError as err:
                colls.append({"name": name, "error": err.code})
        health, caps, checks = svc.readiness()
        mine = f"{who.tenant}/"
        events = [
            d
            for d in (e.to_dict() for e in svc.security.recent.events)
            if any(str(d.get(f, "")).startswith(mine) for f in ("identity", "accessor", "changed_by"))
        ][-30:]
        return {
            "tenant": who.tenant,
            "collections": colls,
            "health": {**health.to_dict(), "capabilities": caps.to_dict(), "checks": checks},
            "requests": {"per_second": round(svc.rate.per_second(), 3), "total": svc.rate.total},
            "audit": list(reversed(events)),
            "jobs": svc.jobs.list(who.tenant, limit=20),
            "backend": svc.collections.backend,
            "started_at": svc.started_at,
        }

    return JSON(await anyio.to_thread.run_sync(gather))
