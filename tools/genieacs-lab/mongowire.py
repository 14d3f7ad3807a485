#!/usr/bin/env python3
"""A MongoDB wire-protocol front end over the in-memory `mongomock` library.

Lab tool only: it lets GenieACS 1.2.16 (Node.js mongodb driver 4.x) run on a
machine without a real mongod.  It is NOT MongoDB: no persistence, no TTL
indexes, no transactions, one global lock around every command.

It speaks the legacy OP_QUERY handshake (`isMaster`/`hello` on `admin.$cmd`)
and OP_MSG for everything else, and executes the commands GenieACS uses
(find, insert, update, delete, findAndModify, aggregate, count, distinct,
createIndexes, listIndexes, listCollections, drop, dropDatabase, ...) on
mongomock.  Two things GenieACS depends on are kept as MongoDB does them:

* dates stay BSON dates (datetime objects in and out, never text);
* an insert or upsert that hits a unique index (including `_id`) fails with
  the duplicate-key error code 11000 (GenieACS's session locks rely on it).

Usage: mongowire.py [--host 127.0.0.1] [--port 57017] [--verbose]
"""

import argparse
import datetime
import socketserver
import struct
import sys
import threading

import bson
import mongomock
from bson.codec_options import CodecOptions
from pymongo import ReturnDocument

OP_REPLY = 1
OP_QUERY = 2004
OP_MSG = 2013

MAX_WIRE_VERSION = 13  # MongoDB 5.0: OP_MSG, no streaming monitoring needed
CODEC = CodecOptions(tz_aware=False)

# Keys the driver adds to every command that mongomock does not need.
GENERIC_KEYS = {
    "$db", "lsid", "$clusterTime", "$readPreference", "txnNumber",
    "autocommit", "startTransaction", "readConcern", "writeConcern",
    "apiVersion", "apiStrict", "apiDeprecationErrors", "comment",
    "maxTimeMS", "bypassDocumentValidation", "let",
}

CLIENT = mongomock.MongoClient()
LOCK = threading.Lock()
REQUEST_ID = [0]
CONNECTION_ID = [0]
VERBOSE = [False]


class CommandError(Exception):
    """A command failure reported to the client as {ok: 0}."""

    def __init__(self, message, code=8, code_name="UnknownError"):
        super().__init__(message)
        self.code = code
        self.code_name = code_name


def now():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def hello_reply():
    CONNECTION_ID[0] += 1
    return {
        "helloOk": True,
        "ismaster": True,
        "isWritablePrimary": True,
        "maxBsonObjectSize": 16 * 1024 * 1024,
        "maxMessageSizeBytes": 48000000,
        "maxWriteBatchSize": 100000,
        "localTime": now(),
        "logicalSessionTimeoutMinutes": 30,
        "connectionId": CONNECTION_ID[0],
        "minWireVersion": 0,
        "maxWireVersion": MAX_WIRE_VERSION,
        "readOnly": False,
        "ok": 1.0,
    }


def cursor_reply(db_name, coll_name, docs):
    # Every result goes out in the first batch (cursor id 0: exhausted).
    return {
        "cursor": {"firstBatch": list(docs), "id": bson.int64.Int64(0),
                   "ns": "%s.%s" % (db_name, coll_name)},
        "ok": 1.0,
    }


def sort_spec(sort):
    if not sort:
        return None
    return [(key, int(direction)) for key, direction in sort.items()]


def is_operator_update(update):
    return bool(update) and all(k.startswith("$") for k in update)


def duplicate_key_error(err):
    return {"index": 0, "code": 11000, "errmsg": "E11000 duplicate key error: %s" % err}


def cmd_find(db, name, cmd):
    coll = db[name]
    cursor = coll.find(cmd.get("filter") or {}, cmd.get("projection") or None)
    spec = sort_spec(cmd.get("sort"))
    if spec:
        cursor = cursor.sort(spec)
    if cmd.get("skip"):
        cursor = cursor.skip(int(cmd["skip"]))
    limit = int(cmd.get("limit") or 0)
    if limit:
        cursor = cursor.limit(abs(limit))
    return cursor_reply(db.name, name, cursor)


def cmd_insert(db, name, cmd):
    coll = db[name]
    n = 0
    write_errors = []
    for index, doc in enumerate(cmd.get("documents", [])):
        try:
            coll.insert_one(doc)
            n += 1
        except mongomock.DuplicateKeyError as err:
            error = duplicate_key_error(err)
            error["index"] = index
            write_errors.append(error)
            if cmd.get("ordered", True):
                break
    reply = {"n": n, "ok": 1.0}
    if write_errors:
        reply["writeErrors"] = write_errors
    return reply


def cmd_update(db, name, cmd):
    coll = db[name]
    n = 0
    modified = 0
    upserted = []
    write_errors = []
    for index, spec in enumerate(cmd.get("updates", [])):
        query = spec.get("q") or {}
        update = spec.get("u") or {}
        upsert = bool(spec.get("upsert", False))
        try:
            if isinstance(update, list):
                raise CommandError("pipeline updates are not supported", 2, "BadValue")
            if not is_operator_update(update):
                res = coll.replace_one(query, update, upsert=upsert)
            elif spec.get("multi"):
                res = coll.update_many(query, update, upsert=upsert,
                                       array_filters=spec.get("arrayFilters"))
            else:
                res = coll.update_one(query, update, upsert=upsert,
                                      array_filters=spec.get("arrayFilters"))
        except mongomock.DuplicateKeyError as err:
            error = duplicate_key_error(err)
            error["index"] = index
            write_errors.append(error)
            if cmd.get("ordered", True):
                break
            continue
        if res.upserted_id is not None:
            n += 1
            upserted.append({"index": index, "_id": res.upserted_id})
        else:
            n += res.matched_count
            modified += res.modified_count
    reply = {"n": n, "nModified": modified, "ok": 1.0}
    if upserted:
        reply["upserted"] = upserted
    if write_errors:
        reply["writeErrors"] = write_errors
    return reply


def cmd_delete(db, name, cmd):
    coll = db[name]
    n = 0
    for spec in cmd.get("deletes", []):
        if int(spec.get("limit", 0)) == 1:
            n += coll.delete_one(spec.get("q") or {}).deleted_count
        else:
            n += coll.delete_many(spec.get("q") or {}).deleted_count
    return {"n": n, "ok": 1.0}


def cmd_find_and_modify(db, name, cmd):
    coll = db[name]
    query = cmd.get("query") or {}
    sort = sort_spec(cmd.get("sort"))
    fields = cmd.get("fields") or None
    existing = coll.find_one(query, sort=sort)
    last_error = {"n": 1 if existing is not None else 0}
    try:
        if cmd.get("remove"):
            value = coll.find_one_and_delete(query, projection=fields, sort=sort)
        else:
            update = cmd.get("update") or {}
            upsert = bool(cmd.get("upsert", False))
            ret = ReturnDocument.AFTER if cmd.get("new") else ReturnDocument.BEFORE
            if is_operator_update(update):
                value = coll.find_one_and_update(
                    query, update, projection=fields, sort=sort, upsert=upsert,
                    return_document=ret, array_filters=cmd.get("arrayFilters"))
            else:
                value = coll.find_one_and_replace(
                    query, update, projection=fields, sort=sort, upsert=upsert,
                    return_document=ret)
            last_error["updatedExisting"] = existing is not None
            if existing is None and upsert:
                last_error["n"] = 1
                after = coll.find_one(query)
                if after is not None:
                    last_error["upserted"] = after["_id"]
    except mongomock.DuplicateKeyError as err:
        raise CommandError("E11000 duplicate key error: %s" % err, 11000, "DuplicateKey")
    return {"lastErrorObject": last_error, "value": value, "ok": 1.0}


def cmd_aggregate(db, name, cmd):
    docs = list(db[name].aggregate(cmd.get("pipeline", [])))
    return cursor_reply(db.name, name, docs)


def cmd_count(db, name, cmd):
    kwargs = {}
    if cmd.get("skip"):
        kwargs["skip"] = int(cmd["skip"])
    if cmd.get("limit"):
        kwargs["limit"] = abs(int(cmd["limit"]))
    return {"n": db[name].count_documents(cmd.get("query") or {}, **kwargs), "ok": 1.0}


def cmd_distinct(db, name, cmd):
    return {"values": db[name].distinct(cmd["key"], cmd.get("query") or {}), "ok": 1.0}


def cmd_create_indexes(db, name, cmd):
    coll = db[name]
    before = len(coll.index_information())
    for index in cmd.get("indexes", []):
        keys = list(index["key"].items())
        # TTL (expireAfterSeconds) is accepted but not enforced by mongomock.
        coll.create_index(keys, unique=bool(index.get("unique", False)),
                          name=index.get("name"))
    return {"numIndexesBefore": before, "numIndexesAfter": len(coll.index_information()),
            "createdCollectionAutomatically": before == 0, "ok": 1.0}


def cmd_list_indexes(db, name, cmd):
    docs = []
    for index_name, info in db[name].index_information().items():
        doc = {"v": 2, "key": dict(info["key"]), "name": index_name}
        if info.get("unique"):
            doc["unique"] = True
        docs.append(doc)
    return cursor_reply(db.name, name, docs)


def cmd_list_collections(db, _name, cmd):
    docs = [{"name": n, "type": "collection", "options": {}, "info": {"readOnly": False}}
            for n in db.list_collection_names()]
    wanted = (cmd.get("filter") or {}).get("name")
    if isinstance(wanted, str):
        docs = [d for d in docs if d["name"] == wanted]
    if cmd.get("nameOnly"):
        docs = [{"name": d["name"], "type": "collection"} for d in docs]
    return cursor_reply(db.name, "$cmd.listCollections", docs)


def cmd_drop(db, name, _cmd):
    if name not in db.list_collection_names():
        raise CommandError("ns not found", 26, "NamespaceNotFound")
    db.drop_collection(name)
    return {"ns": "%s.%s" % (db.name, name), "ok": 1.0}


def cmd_create(db, name, _cmd):
    if name not in db.list_collection_names():
        db.create_collection(name)
    return {"ok": 1.0}


def cmd_drop_database(db, _name, _cmd):
    CLIENT.drop_database(db.name)
    return {"ok": 1.0}


COLLECTION_COMMANDS = {
    "find": cmd_find,
    "insert": cmd_insert,
    "update": cmd_update,
    "delete": cmd_delete,
    "findandmodify": cmd_find_and_modify,
    "aggregate": cmd_aggregate,
    "count": cmd_count,
    "distinct": cmd_distinct,
    "createindexes": cmd_create_indexes,
    "listindexes": cmd_list_indexes,
    "listcollections": cmd_list_collections,
    "drop": cmd_drop,
    "create": cmd_create,
    "dropdatabase": cmd_drop_database,
}

SIMPLE_COMMANDS = {
    "ping": lambda: {"ok": 1.0},
    "buildinfo": lambda: {"version": "5.0.0", "versionArray": [5, 0, 0, 0], "ok": 1.0},
    "getparameter": lambda: {"ok": 1.0},
    "endsessions": lambda: {"ok": 1.0},
    "killcursors": lambda: {"cursorsKilled": [], "ok": 1.0},
    "getlasterror": lambda: {"err": None, "n": 0, "ok": 1.0},
    "serverstatus": lambda: {"ok": 1.0, "localTime": now()},
}


def run_command(db_name, cmd):
    """Execute one command document; returns the reply document."""
    if not cmd:
        raise CommandError("empty command", 59, "CommandNotFound")
    verb = next(iter(cmd))
    key = verb.lower()
    if key in ("hello", "ismaster"):
        return hello_reply()
    if key in SIMPLE_COMMANDS:
        return SIMPLE_COMMANDS[key]()
    if key == "getmore":
        # All results go out in the first batch, so a cursor never has more.
        return {"cursor": {"nextBatch": [], "id": bson.int64.Int64(0),
                           "ns": "%s.%s" % (db_name, cmd.get("collection"))}, "ok": 1.0}
    if key not in COLLECTION_COMMANDS:
        raise CommandError("no such command: '%s'" % verb, 59, "CommandNotFound")
    body = {k: v for k, v in cmd.items() if k not in GENERIC_KEYS}
    with LOCK:
        return COLLECTION_COMMANDS[key](CLIENT[db_name], cmd[verb], body)


def safe_command(db_name, cmd):
    try:
        reply = run_command(db_name, cmd)
    except CommandError as err:
        reply = {"ok": 0.0, "errmsg": str(err), "code": err.code, "codeName": err.code_name}
    except Exception as err:  # report, never kill the connection
        reply = {"ok": 0.0, "errmsg": "%s: %s" % (type(err).__name__, err), "code": 8,
                 "codeName": "UnknownError"}
    if VERBOSE[0]:
        sys.stderr.write("%s %s -> ok=%s %s\n" % (
            db_name, dict(list(cmd.items())[:2]), reply.get("ok"), reply.get("errmsg", "")))
    return reply


def read_cstring(data, pos):
    end = data.index(b"\x00", pos)
    return data[pos:end].decode("utf-8"), end + 1


def parse_op_msg(payload):
    flags = struct.unpack_from("<I", payload, 0)[0]
    end = len(payload) - (4 if flags & 1 else 0)  # checksumPresent
    pos = 4
    body = None
    sequences = {}
    while pos < end:
        kind = payload[pos]
        pos += 1
        if kind == 0:
            size = struct.unpack_from("<i", payload, pos)[0]
            body = bson.decode(payload[pos:pos + size], CODEC)
            pos += size
        elif kind == 1:
            size = struct.unpack_from("<i", payload, pos)[0]
            section_end = pos + size
            ident, p = read_cstring(payload, pos + 4)
            docs = []
            while p < section_end:
                dsize = struct.unpack_from("<i", payload, p)[0]
                docs.append(bson.decode(payload[p:p + dsize], CODEC))
                p += dsize
            sequences[ident] = docs
            pos = section_end
        else:
            raise ValueError("unknown OP_MSG section kind %d" % kind)
    if body is None:
        raise ValueError("OP_MSG without a body section")
    for ident, docs in sequences.items():
        body[ident] = docs
    return flags, body


def frame(op_code, response_to, payload):
    REQUEST_ID[0] = (REQUEST_ID[0] + 1) & 0x7FFFFFFF
    return struct.pack("<iiii", 16 + len(payload), REQUEST_ID[0], response_to, op_code) + payload


class Handler(socketserver.BaseRequestHandler):
    def recv_exact(self, n):
        chunks = []
        while n > 0:
            chunk = self.request.recv(n)
            if not chunk:
                return None
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def handle(self):
        while True:
            header = self.recv_exact(16)
            if header is None:
                return
            length, request_id, _response_to, op_code = struct.unpack("<iiii", header)
            payload = self.recv_exact(length - 16)
            if payload is None:
                return
            if op_code == OP_MSG:
                flags, body = parse_op_msg(payload)
                reply = safe_command(body.get("$db", "admin"), body)
                if flags & 2:  # moreToCome: the client wants no answer
                    continue
                out = struct.pack("<I", 0) + b"\x00" + bson.encode(reply, codec_options=CODEC)
                self.request.sendall(frame(OP_MSG, request_id, out))
            elif op_code == OP_QUERY:
                full_name, pos = read_cstring(payload, 4)
                pos += 8  # numberToSkip, numberToReturn
                size = struct.unpack_from("<i", payload, pos)[0]
                query = bson.decode(payload[pos:pos + size], CODEC)
                if "$query" in query:
                    query = query["$query"]
                reply = safe_command(full_name.split(".", 1)[0], query)
                doc = bson.encode(reply, codec_options=CODEC)
                out = struct.pack("<iqii", 0, 0, 0, 1) + doc
                self.request.sendall(frame(OP_REPLY, request_id, out))
            else:
                sys.stderr.write("unsupported opcode %d, closing\n" % op_code)
                return


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=57017)
    parser.add_argument("--verbose", action="store_true", help="log every command")
    args = parser.parse_args()
    VERBOSE[0] = args.verbose
    with Server((args.host, args.port), Handler) as server:
        sys.stderr.write("mongowire (mongomock %s) on %s:%d\n"
                         % (mongomock.__version__, args.host, args.port))
        server.serve_forever()


if __name__ == "__main__":
    main()
