"""The peer of bench/api: the same endpoints as qforge serve's
GET /api/v1/calculations/{id}, GET /api/v1/calculations and
POST /api/v1/calculations, in FastAPI, on the same SQLite file, with the
same authentication check (the bearer API key's SHA-256 looked up in
api_keys, not revoked; the caller's own rows). The submit checks that the
molecule is the caller's and INSERTs one queued calculation, committed
before it answers. Run by bench/api with Debian's uvicorn (2 workers).
"""
import datetime
import hashlib
import json
import os
import sqlite3
import threading
import uuid

from fastapi import Body, FastAPI, Header, HTTPException
from fastapi.responses import Response

DB = os.environ["QF_BENCH_DB"]
app = FastAPI()
_conn = None
_wconn = None
_wlock = threading.Lock()


def db():
    global _conn
    if _conn is None:
        _conn = sqlite3.connect(f"file:{DB}?mode=ro", uri=True, check_same_thread=False)
        _conn.row_factory = sqlite3.Row
    return _conn


def user_of(authorization):
    if not authorization or not authorization.startswith("Bearer "):
        raise HTTPException(401, "sign in")
    h = hashlib.sha256(authorization[7:].encode()).hexdigest()
    row = db().execute("SELECT user_id FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL",
                       (h,)).fetchone()
    if not row:
        raise HTTPException(401, "bad key")
    return row["user_id"]


def doc(row):
    d = dict(row)
    for k in ("parameters", "spec", "request"):
        if isinstance(d.get(k), str):
            try:
                d[k] = json.loads(d[k])
            except ValueError:
                pass
    return d


@app.get("/api/v1/calculations/{cid}")
def get_calc(cid: str, authorization: str = Header(None)):
    uid = user_of(authorization)
    row = db().execute("SELECT * FROM calculations WHERE id = ? AND owner_id = ?", (cid, uid)).fetchone()
    if not row:
        raise HTTPException(404, "no such calculation")
    d = doc(row)
    d["atomic_properties"] = [dict(a) for a in db().execute(
        "SELECT * FROM atomic_properties WHERE calculation_id = ? ORDER BY atom_index", (cid,))]
    return Response(json.dumps(d), media_type="application/json")


@app.get("/api/v1/calculations")
def list_calcs(authorization: str = Header(None), limit: int = 50):
    uid = user_of(authorization)
    rows = db().execute("SELECT * FROM calculations WHERE owner_id = ? ORDER BY created_at LIMIT ?",
                        (uid, limit)).fetchall()
    return Response(json.dumps({"items": [doc(r) for r in rows]}), media_type="application/json")


def wdb():
    global _wconn
    if _wconn is None:
        _wconn = sqlite3.connect(DB, check_same_thread=False, timeout=10, isolation_level=None)
    return _wconn


@app.post("/api/v1/calculations", status_code=201)
def submit(body: dict = Body(...), authorization: str = Header(None)):
    uid = user_of(authorization)
    mid = body.get("molecule_id")
    spec = body.get("spec") or {}
    if not isinstance(mid, str) or not isinstance(spec, dict):
        raise HTTPException(400, "give 'molecule_id' and an object 'spec'")
    if not db().execute("SELECT 1 FROM molecules WHERE id = ? AND owner_id = ?", (mid, uid)).fetchone():
        raise HTTPException(404, "no such molecule")
    cid = str(uuid.uuid4())
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
    with _wlock:
        wdb().execute(
            "INSERT INTO calculations (id, molecule_id, owner_id, method, task, optimization_level,"
            " charge, uhf, parameters, spec, status, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, 'normal', 0, 0, '{}', ?, 'queued', ?, ?)",
            (cid, mid, uid, spec.get("method", "gfn2"), spec.get("task", "sp"), json.dumps(spec), now, now))
    return {"id": cid}
