#!/usr/bin/env python3
"""PyYAML (a YAML 1.1 loader) as the differential reference for bbgate's manifest reader
(tests/yaml_semantics.rs). Reads a JSON list of YAML documents on stdin, writes a JSON list of
{"ok": value} or {"err": message}; dates and datetimes become {"timestamp": text}, non-finite floats
{"float": text}, so the test can tell them apart."""
import datetime
import json
import math
import sys

import yaml


def plain(v):
    if isinstance(v, (datetime.date, datetime.datetime)):
        return {"timestamp": v.isoformat()}
    if isinstance(v, float) and not math.isfinite(v):
        return {"float": repr(v)}
    if isinstance(v, dict):
        return {str(k).lower() if isinstance(k, bool) else str(k): plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    return v


out = []
for doc in json.load(sys.stdin):
    try:
        out.append({"ok": plain(yaml.safe_load(doc))})
    except yaml.YAMLError as e:
        out.append({"err": str(e).splitlines()[0]})
json.dump(out, sys.stdout)
