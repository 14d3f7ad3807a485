#!/usr/bin/env python3
"""Seeds a fresh GenieACS through its NBI with what the UI's first-run wizard creates.

The `bootstrap` and `inform` provisions are read from the GenieACS checkout's lib/init.ts
(BOOTSTRAP_SCRIPT, INFORM_SCRIPT: nothing of GenieACS is copied into this repository) and
stored with presets of the same names, as `seed()` in lib/init.ts does. With --nat, a `nat`
provision and preset read STUNEnable, UDPConnectionRequestAddress and ConnReqJabberID in every
session (docs/genieacs.md section 6.2).

Usage: seed.py GENIEACS_CHECKOUT [--nbi http://127.0.0.1:57557] [--nat]
"""

import argparse
import json
import os
import re
import sys
import urllib.request

NAT_SCRIPT = """// What GenieACS needs stored to send UDP and XMPP connection requests.
const now = Date.now();
declare("Device.ManagementServer.STUNEnable", {value: now});
declare("Device.ManagementServer.UDPConnectionRequestAddress", {value: now});
declare("Device.ManagementServer.ConnReqJabberID", {value: now});
"""


def init_script(source, name):
    match = re.search(r"const %s = `\n(.*?)`\.trim\(\);" % name, source, re.S)
    if match is None:
        sys.exit("%s not found in lib/init.ts" % name)
    return match.group(1).strip()


def put(nbi, path, body):
    req = urllib.request.Request(nbi + path, data=body.encode("utf-8"), method="PUT")
    with urllib.request.urlopen(req, timeout=10) as res:
        print("PUT %s -> %d" % (path, res.status))


def preset(channel, events, provision):
    return json.dumps({"weight": 0, "channel": channel, "events": events, "precondition": "",
                       "configurations": [{"type": "provision", "name": provision,
                                           "args": None}]})


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("genieacs")
    parser.add_argument("--nbi", default="http://127.0.0.1:57557")
    parser.add_argument("--nat", action="store_true")
    args = parser.parse_args()
    with open(os.path.join(args.genieacs, "lib", "init.ts"), encoding="utf-8") as f:
        source = f.read()
    put(args.nbi, "/provisions/bootstrap", init_script(source, "BOOTSTRAP_SCRIPT"))
    put(args.nbi, "/provisions/inform", init_script(source, "INFORM_SCRIPT"))
    put(args.nbi, "/presets/bootstrap", preset("bootstrap", {"0 BOOTSTRAP": True}, "bootstrap"))
    put(args.nbi, "/presets/inform", preset("inform", {}, "inform"))
    if args.nat:
        put(args.nbi, "/provisions/nat", NAT_SCRIPT)
        put(args.nbi, "/presets/nat", preset("nat", {}, "nat"))


if __name__ == "__main__":
    main()
