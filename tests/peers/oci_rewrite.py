#!/usr/bin/env python3
"""Rewrite one layer of a bbgate bundle in a registry, as someone with push access to the BB's repository could:
pull the bundle's index by digest, replace the blob of the layer whose io.govstack.bbgate.role annotation is
ROLE by the bytes of FILE in the manifest that holds it, push that manifest and a new index under TAG, and print
the index's digest. Plain HTTP, no auth (the
tests' open docker-registry on 127.0.0.1). Stdlib only.

  oci_rewrite.py HOST:PORT REPOSITORY DIGEST ROLE FILE TAG
"""
import hashlib
import json
import sys
import urllib.request

host, repo, digest, role, path, tag = sys.argv[1:7]
base = f"http://{host}/v2/{repo}"
OCI = "application/vnd.oci.image.manifest.v1+json"


def call(method, url, data=None, headers=None):
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    with urllib.request.urlopen(req) as resp:
        return resp.headers, resp.read()


INDEX = "application/vnd.oci.image.index.v1+json"
_, raw = call("GET", f"{base}/manifests/{digest}", headers={"Accept": INDEX})
index = json.loads(raw)
data = open(path, "rb").read()
blob = "sha256:" + hashlib.sha256(data).hexdigest()
headers, _ = call("POST", f"{base}/blobs/uploads/")
location = headers["Location"]
sep = "&" if "?" in location else "?"
url = location if location.startswith("http") else f"http://{host}{location}"
call("PUT", f"{url}{sep}digest={blob}", data=data, headers={"Content-Type": "application/octet-stream"})
done = 0
for entry in index["manifests"]:
    _, raw = call("GET", f"{base}/manifests/{entry['digest']}", headers={"Accept": OCI})
    manifest = json.loads(raw)
    layers = [l for l in manifest["layers"] if l.get("annotations", {}).get("io.govstack.bbgate.role") == role]
    if not layers:
        continue
    layers[0]["digest"], layers[0]["size"] = blob, len(data)
    body = json.dumps(manifest).encode()
    new = "sha256:" + hashlib.sha256(body).hexdigest()
    call("PUT", f"{base}/manifests/{new}", data=body, headers={"Content-Type": OCI})
    entry["digest"], entry["size"] = new, len(body)
    done += 1
if done != 1:
    sys.exit(f"oci_rewrite: {done} manifests hold a layer of role {role}")
body = json.dumps(index).encode()
call("PUT", f"{base}/manifests/{tag}", data=body, headers={"Content-Type": INDEX})
print("sha256:" + hashlib.sha256(body).hexdigest())
