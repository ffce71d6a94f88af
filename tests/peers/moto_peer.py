#!/usr/bin/env python3
"""bbgate's AWS test peer: moto's own server (STS, ECR), wrapped in WSGI middleware that adds what a gate's
tests need and stock moto lacks. No moto internals are patched, so only the pinned moto==5.2.5 is assumed.

- Scan playback: POST /bbgate/scan-results {"repositoryName", "results": [response, ...]} queues full
  DescribeImageScanFindings responses for a repository. Each *read* (a call without nextToken) takes the next
  one, the last repeats; a read is served in pages of `maxResults` (default 100) with an offset nextToken.
  Repositories without queued results go to moto (ScanNotFoundException, moto's fake finding...).
- Faults: POST /bbgate/faults {"action", "key", "count", "status", "code", "message"} answers the next
  `count` matching calls with that error (ECR: JSON `__type`; STS: query-protocol XML). `key` is the
  repositoryName (ECR) or the RoleArn (STS); "*" matches any.
- Calls: GET /bbgate/calls?key=K -> {"Action": n, ...} for the calls made with that key.
- EKS endpoints: POST /bbgate/eks-endpoint {"cluster", "endpoint"} makes DescribeCluster of that cluster
  answer with `endpoint` (the tests' fake Kubernetes API server on 127.0.0.1) instead of moto's made-up host.
- GET /bbgate/health -> ok.

Usage: moto_peer.py --port-file FILE [--host 127.0.0.1] [--port 0]
Binds 127.0.0.1 only; writes the port it got to FILE once it serves.
"""
import argparse
import io
import json
import threading
from urllib.parse import parse_qs

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

ECR_TARGET = "AmazonEC2ContainerRegistry_V20150921."
# The API sends timestamps as epoch seconds (CLI v2 prints them ISO-8601); queued results may use either.
TIMESTAMPS = {"imageScanCompletedAt", "vulnerabilitySourceUpdatedAt", "firstObservedAt", "lastObservedAt",
              "updatedAt", "vendorCreatedAt", "vendorUpdatedAt", "pushedAt", "lastInUseAt"}


def api_timestamps(v):
    if isinstance(v, dict):
        return {k: (iso_to_epoch(x) if k in TIMESTAMPS and isinstance(x, str) else api_timestamps(x)) for k, x in v.items()}
    if isinstance(v, list):
        return [api_timestamps(x) for x in v]
    return v


def iso_to_epoch(s):
    from datetime import datetime
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


class Peer:
    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()
        self.scans = {}  # repository -> {"results": [...], "read": -1}
        self.faults = []
        self.calls = {}  # key -> {action: n}
        self.access_keys = {}  # key -> [access key ids that signed calls]
        self.issued = []  # secrets STS handed out (secret keys, session tokens): tests assert they never leak
        self.eks_endpoints = {}  # cluster name -> endpoint served by DescribeCluster

    # ---- WSGI ----
    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/bbgate/"):
            return self.control(environ, start_response, path)
        if environ.get("REQUEST_METHOD") == "GET" and path.startswith("/clusters/"):
            name = path[len("/clusters/"):].strip("/")
            with self.lock:
                endpoint = self.eks_endpoints.get(name)
                per_key = self.calls.setdefault(name, {})
                per_key["DescribeCluster"] = per_key.get("DescribeCluster", 0) + 1
            if endpoint:
                return self.rewrite_endpoint(environ, start_response, endpoint)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        protocol, action, key, params = self.identify(environ, body)
        if action:
            auth = environ.get("HTTP_AUTHORIZATION", "")
            akid = auth.split("Credential=", 1)[1].split("/", 1)[0] if "Credential=" in auth else None
            with self.lock:
                per_key = self.calls.setdefault(key or "", {})
                per_key[action] = per_key.get(action, 0) + 1
                if akid and akid not in self.access_keys.setdefault(key or "", []):
                    self.access_keys[key or ""].append(akid)
                fault = self.take_fault(action, key)
            if fault:
                return self.error(start_response, protocol, fault)
            if action == "DescribeImageScanFindings" and key in self.scans:
                return self.scan_page(start_response, key, params)
            if action == "AssumeRoleWithWebIdentity":
                body = b"".join(self.app(environ, start_response))
                for tag in ("SecretAccessKey", "SessionToken"):
                    text = body.decode("utf-8", "replace")
                    if f"<{tag}>" in text:
                        with self.lock:
                            self.issued.append(text.split(f"<{tag}>", 1)[1].split(f"</{tag}>", 1)[0])
                return [body]
        return self.app(environ, start_response)

    def rewrite_endpoint(self, environ, start_response, endpoint):
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers

        body = b"".join(self.app(environ, capture))
        if captured["status"].startswith("200"):
            doc = json.loads(body)
            doc["cluster"]["endpoint"] = endpoint
            body = json.dumps(doc).encode()
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        start_response(captured["status"], headers + [("Content-Length", str(len(body)))])
        return [body]

    def identify(self, environ, body):
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target.startswith(ECR_TARGET):
            try:
                params = json.loads(body or b"{}")
            except ValueError:
                params = {}
            return "json", target[len(ECR_TARGET):], params.get("repositoryName"), params
        form = parse_qs(body.decode("utf-8", "replace")) if body else {}
        form.update(parse_qs(environ.get("QUERY_STRING", "")))
        if "Action" in form:
            return "query", form["Action"][0], form.get("RoleArn", [None])[0], form
        return None, None, None, None

    def take_fault(self, action, key):
        for f in self.faults:
            if f["action"] == action and f["key"] in ("*", key) and f["count"] > 0:
                f["count"] -= 1
                return f
        return None

    def error(self, start_response, protocol, f):
        status = f"{f['status']} {'Internal Server Error' if f['status'] >= 500 else 'Bad Request'}"
        if protocol == "json":
            body = json.dumps({"__type": f["code"], "message": f["message"]}).encode()
            ctype = "application/x-amz-json-1.1"
        else:
            body = (
                '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
                f"<Code>{f['code']}</Code><Message>{f['message']}</Message></Error>"
                "<RequestId>bbgate-peer</RequestId></ErrorResponse>"
            ).encode()
            ctype = "text/xml"
        start_response(status, [("Content-Type", ctype), ("Content-Length", str(len(body)))])
        return [body]

    def scan_page(self, start_response, repo, params):
        with self.lock:
            entry = self.scans[repo]
            token = params.get("nextToken")
            if not token:
                entry["read"] = min(entry["read"] + 1, len(entry["results"]) - 1)
            base = entry["results"][max(entry["read"], 0)]
        offset = int(token) if token else 0
        size = int(params.get("maxResults") or 100)
        # Copy only what this page holds: the queued result may have 50k findings.
        result = {k: v for k, v in base.items() if k != "imageScanFindings"}
        result.setdefault("registryId", params.get("registryId") or "123456789012")
        result.setdefault("repositoryName", repo)
        image_id = dict(params.get("imageId") or {})
        image_id.update(result.get("imageId") or {})
        result["imageId"] = image_id
        findings = base.get("imageScanFindings")
        if findings is not None:
            basic = findings.get("findings", [])
            enhanced = findings.get("enhancedFindings", [])
            page = {k: v for k, v in findings.items() if k not in ("findings", "enhancedFindings")}
            if "findings" in findings:
                page["findings"] = basic[offset:offset + size]
            if "enhancedFindings" in findings:
                start = max(0, offset - len(basic))
                page["enhancedFindings"] = enhanced[start:start + size - len(page.get("findings", []))]
            result["imageScanFindings"] = page
            if offset + size < len(basic) + len(enhanced):
                result["nextToken"] = str(offset + size)
        body = json.dumps(api_timestamps(result)).encode()
        start_response("200 OK", [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(body)))])
        return [body]

    # ---- control ----
    def control(self, environ, start_response, path):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        data = json.loads(raw) if raw else {}
        with self.lock:
            if path == "/bbgate/health":
                out = {"ok": True}
            elif path == "/bbgate/scan-results":
                self.scans[data["repositoryName"]] = {"results": data["results"], "read": -1}
                out = {"queued": len(data["results"])}
            elif path == "/bbgate/faults":
                self.faults.append({
                    "action": data["action"], "key": data.get("key", "*"), "count": int(data.get("count", 1)),
                    "status": int(data.get("status", 400)), "code": data["code"],
                    "message": data.get("message", data["code"]),
                })
                out = {"faults": len(self.faults)}
            elif path == "/bbgate/calls":
                key = parse_qs(environ.get("QUERY_STRING", "")).get("key", [""])[0]
                out = {"calls": self.calls.get(key, {}), "access_keys": self.access_keys.get(key, [])}
            elif path == "/bbgate/eks-endpoint":
                self.eks_endpoints[data["cluster"]] = data["endpoint"]
                out = {"clusters": len(self.eks_endpoints)}
            elif path == "/bbgate/issued":
                out = {"secrets": self.issued}
            else:
                out = None
        body = json.dumps(out).encode()
        status = "200 OK" if out is not None else "404 Not Found"
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    a = ap.parse_args()
    app = Peer(DomainDispatcherApplication(create_backend_app))
    server = make_server(a.host, a.port, app, threaded=True, request_handler=MotoRequestHandler)
    with open(a.port_file + ".tmp", "w") as fh:
        fh.write(str(server.server_address[1]))
    import os
    os.replace(a.port_file + ".tmp", a.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
