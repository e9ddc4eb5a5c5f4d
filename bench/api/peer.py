"""The peer of bench/api: the same two endpoints as qforge serve's
GET /api/v1/calculations/{id} and GET /api/v1/calculations, in FastAPI,
reading the same SQLite file, with the same authentication check (the
bearer API key's SHA-256 looked up in api_keys, not revoked; the caller's
own rows). Run by bench/api with Debian's uvicorn (2 workers).
"""
import hashlib
import json
import os
import sqlite3

from fastapi import FastAPI, Header, HTTPException
from fastapi.responses import Response

DB = os.environ["QF_BENCH_DB"]
app = FastAPI()
_conn = None


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
