#!/usr/bin/env python3
"""Example TR-069 external provider: owns Device.X_EXAMPLE_Firewall.

This is the integrator's template. The agent runs this program once per call, writes one JSON
request to stdin, and reads one JSON answer from stdout (see docs/external-provider.md). Here the
"device" is a JSON state file so the example runs anywhere; on a real router replace the bodies
of `load_state` / `save_state` (or of the per-operation functions) with calls to the RouterOS
API, `uci get` / `uci set` + `uci commit`, ubus, and so on. Everything else -- request parsing,
name resolution, type checking, fault codes, the all-or-nothing set -- carries over unchanged.

Parameters:
  Device.X_EXAMPLE_Firewall.Enable                  boolean, writable
  Device.X_EXAMPLE_Firewall.Level                   string (Low|Medium|High), writable
  Device.X_EXAMPLE_Firewall.RuleNumberOfEntries     unsignedInt, read-only
  Device.X_EXAMPLE_Firewall.Rule.{i}.Enable         boolean, writable
  Device.X_EXAMPLE_Firewall.Rule.{i}.Target         string (Accept|Drop), writable
  Device.X_EXAMPLE_Firewall.Rule.{i}.SourcePort     unsignedInt (0..65535), writable

State file: `--state PATH` argument, else $TR069_EXAMPLE_STATE, else
/tmp/tr069-example-firewall.json.

Standard library only: routers rarely have pip.
"""

import fcntl
import json
import os
import re
import sys
import tempfile

PROTOCOL_VERSION = 1
ROOT = "Device.X_EXAMPLE_Firewall."
TABLE = ROOT + "Rule."
DEFAULT_STATE = "/tmp/tr069-example-firewall.json"

# CWMP fault codes the provider answers with.
INTERNAL_ERROR = 9002
INVALID_ARGUMENTS = 9003
INVALID_NAME = 9005
INVALID_TYPE = 9006
INVALID_VALUE = 9007
NOT_WRITABLE = 9008

UINT_MAX = 4294967295


class Refusal(Exception):
    """A CWMP fault to answer with; `parameters` lists per-parameter faults (set only)."""

    def __init__(self, code, message, parameters=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.parameters = parameters or []

    def answer(self):
        error = {"code": self.code, "message": self.message}
        if self.parameters:
            error["parameters"] = self.parameters
        return {"error": error}


# --- Types -------------------------------------------------------------------------------------
# Each type turns the text the ACS sent into a Python value (raising ValueError when the text
# does not fit) and back into the canonical text TR-069 expects.


def parse_boolean(text):
    text = text.strip()
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise ValueError(f"{text!r} is not a boolean")


def format_boolean(value):
    return "true" if value else "false"


def parse_unsigned_int(text):
    text = text.strip()
    if not re.fullmatch(r"\+?[0-9]+", text):
        raise ValueError(f"{text!r} is not an unsignedInt")
    value = int(text)
    if value > UINT_MAX:
        raise ValueError(f"{text!r} is out of range for an unsignedInt")
    return value


def one_of(*allowed):
    def check(value):
        if value not in allowed:
            raise ValueError(f"{value!r} is not one of {', '.join(allowed)}")

    return check


def port_range(value):
    if value > 65535:
        raise ValueError(f"{value} is not a port (0..65535)")


TYPES = {
    "boolean": (parse_boolean, format_boolean),
    "string": (lambda text: text, lambda value: value),
    "unsignedInt": (parse_unsigned_int, str),
}


# --- The model ---------------------------------------------------------------------------------
# name -> (type, writable, check). `check` rejects values the type accepts but the device does
# not (enumerations, ranges).

GLOBAL_PARAMETERS = {
    "Enable": ("boolean", True, None),
    "Level": ("string", True, one_of("Low", "Medium", "High")),
    "RuleNumberOfEntries": ("unsignedInt", False, None),
}

RULE_PARAMETERS = {
    "Enable": ("boolean", True, None),
    "Target": ("string", True, one_of("Accept", "Drop")),
    "SourcePort": ("unsignedInt", True, port_range),
}

RULE_DEFAULTS = {"Enable": False, "Target": "Drop", "SourcePort": 0}


def initial_state():
    return {"Enable": False, "Level": "Medium", "NextInstance": 1, "Rules": {}}


# --- Storage -----------------------------------------------------------------------------------
# On a router, this is where the device is read and written: e.g. `load_state` runs
# `uci -q show firewall` or a RouterOS `/ip/firewall/filter/print`, and `save_state` issues the
# matching `uci set ...; uci commit firewall` or `/ip/firewall/filter/set`. Keep the instance
# counter (NextInstance) somewhere persistent: instance numbers must never be reused, or the ACS
# would mistake a new rule for one it deleted.


def state_path(argv):
    if len(argv) >= 3 and argv[1] == "--state":
        return argv[2]
    return os.environ.get("TR069_EXAMPLE_STATE", DEFAULT_STATE)


def load_state(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return initial_state()


def save_state(path, state):
    # Write a temporary file next to the real one and rename it over: a crash or power cut
    # leaves either the old state or the new one, never half of each.
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tr069-example-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(state, f, indent=2, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class Locked:
    """Serialises read-modify-write across concurrent invocations (one process per call)."""

    def __init__(self, path):
        self.path = path + ".lock"

    def __enter__(self):
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        os.close(self.fd)
        return False


# --- Name resolution ---------------------------------------------------------------------------


def rule_instances(state):
    return sorted(int(i) for i in state["Rules"])


def all_nodes(state):
    """Every object and parameter, in order: (name, writable, type or None)."""
    nodes = [(ROOT, False, None)]
    for name, (typ, writable, _) in GLOBAL_PARAMETERS.items():
        nodes.append((ROOT + name, writable, typ))
    # The table object is writable: the ACS may AddObject to it.
    nodes.append((TABLE, True, None))
    for i in rule_instances(state):
        # An instance is writable: the ACS may DeleteObject it.
        nodes.append((f"{TABLE}{i}.", True, None))
        for name, (typ, writable, _) in RULE_PARAMETERS.items():
            nodes.append((f"{TABLE}{i}.{name}", writable, typ))
    return nodes


def resolve(state, name):
    """(type, writable, check, getter, setter) for a parameter, or None if it does not exist."""
    if name.startswith(ROOT) and name[len(ROOT):] in GLOBAL_PARAMETERS:
        key = name[len(ROOT):]
        typ, writable, check = GLOBAL_PARAMETERS[key]
        if key == "RuleNumberOfEntries":
            getter = lambda s: len(s["Rules"])  # noqa: E731
        else:
            getter = lambda s: s[key]  # noqa: E731

        def setter(s, v):
            s[key] = v

        return typ, writable, check, getter, setter
    match = re.fullmatch(re.escape(TABLE) + r"([1-9][0-9]*)\.([A-Za-z]+)", name)
    if match and match.group(1) in state["Rules"] and match.group(2) in RULE_PARAMETERS:
        instance, key = match.group(1), match.group(2)
        typ, writable, check = RULE_PARAMETERS[key]

        def setter(s, v):
            s["Rules"][instance][key] = v

        return typ, writable, check, lambda s: s["Rules"][instance][key], setter
    return None


def object_exists(state, path):
    return any(node_name == path for node_name, _, _ in all_nodes(state))


def bare_type(wire):
    """'xsd:unsignedInt' -> 'unsignedInt' (the agent always sends the xsd: prefix)."""
    return wire.rsplit(":", 1)[-1] if wire else None


# --- Operations --------------------------------------------------------------------------------


def op_list(state, request):
    path = request["path"]
    if path.endswith("."):
        if not object_exists(state, path):
            raise Refusal(INVALID_NAME, f"{path} does not exist")
    elif resolve(state, path) is None:
        raise Refusal(INVALID_NAME, f"{path} does not exist")
    nodes = []
    for name, writable, typ in all_nodes(state):
        if name.startswith(path) if path.endswith(".") else name == path:
            node = {"name": name, "writable": writable}
            if typ is not None:
                node["type"] = "xsd:" + typ
            nodes.append(node)
    return {"nodes": nodes}


def op_get(state, request):
    values = []
    seen = set()
    for requested in request["names"]:
        if requested.endswith("."):
            if not object_exists(state, requested):
                raise Refusal(INVALID_NAME, f"{requested} does not exist")
            names = [n for n, _, t in all_nodes(state) if t is not None and n.startswith(requested)]
        else:
            if resolve(state, requested) is None:
                raise Refusal(INVALID_NAME, f"{requested} does not exist")
            names = [requested]
        for name in names:
            if name in seen:
                continue
            seen.add(name)
            typ, _, _, getter, _ = resolve(state, name)
            values.append({"name": name, "value": TYPES[typ][1](getter(state)), "type": "xsd:" + typ})
    return {"values": values}


def op_set(state, request, save):
    # Check everything first and only then change anything: the set is all or nothing, and the
    # ACS needs one fault per bad parameter, not just the first.
    faults = []
    changes = []
    for item in request["values"]:
        name, text = item["name"], item["value"]
        target = resolve(state, name)
        if target is None:
            faults.append({"name": name, "code": INVALID_NAME, "message": "no such parameter"})
            continue
        typ, writable, check, _, setter = target
        if not writable:
            faults.append({"name": name, "code": NOT_WRITABLE, "message": "read-only"})
            continue
        declared = bare_type(item.get("type"))
        if declared is not None and declared != typ:
            faults.append(
                {"name": name, "code": INVALID_TYPE, "message": f"is {typ}, not {declared}"}
            )
            continue
        try:
            value = TYPES[typ][0](text)
            if check is not None:
                check(value)
        except ValueError as e:
            faults.append({"name": name, "code": INVALID_VALUE, "message": str(e)})
            continue
        changes.append((setter, value))
    if faults:
        raise Refusal(INVALID_ARGUMENTS, "Invalid arguments", faults)
    for setter, value in changes:
        setter(state, value)
    # Real devices: apply here (uci commit + reload, RouterOS /set). Setting a value to what it
    # already is must succeed and change nothing -- the agent may repeat a set after a crash.
    save(state)
    # 1 would mean "takes effect after a reboot".
    return {"status": 0}


def op_add(state, request, save):
    if request["object"] != TABLE:
        raise Refusal(INVALID_NAME, f"{request['object']} is not a table")
    instance = state["NextInstance"]
    state["NextInstance"] = instance + 1
    state["Rules"][str(instance)] = dict(RULE_DEFAULTS)
    save(state)
    return {"instance": instance}


def op_delete(state, request, save):
    obj = request["object"]
    match = re.fullmatch(re.escape(TABLE) + r"([1-9][0-9]*)\.", obj)
    if not match or match.group(1) not in state["Rules"]:
        raise Refusal(INVALID_NAME, f"{obj} does not exist")
    del state["Rules"][match.group(1)]
    save(state)
    return {}


def handle(request, path):
    if request.get("version") != PROTOCOL_VERSION:
        raise Refusal(INTERNAL_ERROR, f"unsupported protocol version {request.get('version')!r}")
    op = request.get("op")
    with Locked(path):
        state = load_state(path)

        def save(new_state):
            save_state(path, new_state)

        if op == "list":
            return op_list(state, request)
        if op == "get":
            return op_get(state, request)
        if op == "set":
            return op_set(state, request, save)
        if op == "add":
            return op_add(state, request, save)
        if op == "delete":
            return op_delete(state, request, save)
    raise Refusal(INTERNAL_ERROR, f"unknown op {op!r}")


def main(argv):
    try:
        request = json.load(sys.stdin)
    except ValueError as e:
        print(f"unreadable request: {e}", file=sys.stderr)
        return 2
    try:
        answer = handle(request, state_path(argv))
    except Refusal as refusal:
        answer = refusal.answer()
    except (KeyError, TypeError) as e:
        # A request missing a field: a bug on the caller's side, reported as a fault rather than
        # a traceback.
        answer = Refusal(INTERNAL_ERROR, f"malformed request: {e!r}").answer()
    # Anything else (a full disk, a RouterOS API failure) escapes as a traceback on stderr and a
    # non-zero exit, which the agent reports as 9002 Internal error quoting stderr.
    json.dump(answer, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
