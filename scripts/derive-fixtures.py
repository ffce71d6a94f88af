#!/usr/bin/env python3
"""Derive bbgate's edge-case fixtures from the real upstream ones (see fixtures/SOURCES.md).

Run from the repository root: python3 scripts/derive-fixtures.py. Output is deterministic; the
derived files are committed, and tests/fixtures.rs checks they are what this script writes.
"""
import json
import os

# BBGATE_FIXTURES_ROOT lets tests/fixtures.rs regenerate into a scratch copy and compare.
ROOT = os.environ.get("BBGATE_FIXTURES_ROOT") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
F = lambda *p: os.path.join(ROOT, "fixtures", *p)
# The real inputs, read where they are kept (beside the checkout), never copied into the project.
UP = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "fixtures-upstream")


def dump(path, doc):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        json.dump(doc, fh, indent=2)
        fh.write("\n")


# 1. The real BASIC scan, as if it were of the payments BB's emulator image (repository renamed).
scan = json.load(open(os.path.join(UP, "ecr-basic-scan-cultureamp", "scan-findings-example-b.json")))
scan["repositoryName"] = "bb/payments/emulator"
scan["registryId"] = "123456789012"
dump(F("demo", "payments-emulator-scan.json"), scan)

# 2. The same real scan split into 3 pages as the API returns them (nextToken on all but the last).
findings = scan["imageScanFindings"]["findings"]
for i, (start, end) in enumerate([(0, 100), (100, 200), (200, len(findings))]):
    page = json.loads(json.dumps(scan))
    page["imageScanFindings"]["findings"] = findings[start:end]
    if end < len(findings):
        page["nextToken"] = f"page-{i + 2}"
    dump(F("ecr", "paged", f"page-{i + 1}.json"), page)

# 3. The real GovStack run (cucumber messages) converted to legacy cucumber JSON, scenario by scenario.
envs = [json.loads(l) for l in open(os.path.join(UP, "govstack-testharness-messages", "example_result.message")) if l.strip()]
docs = {e["gherkinDocument"]["uri"]: e["gherkinDocument"] for e in envs if "gherkinDocument" in e}
pickles = {e["pickle"]["id"]: e["pickle"] for e in envs if "pickle" in e}
cases = [e["testCase"] for e in envs if "testCase" in e]
started = {e["testCaseStarted"]["id"]: e["testCaseStarted"]["testCaseId"] for e in envs if "testCaseStarted" in e}
results = {}
for e in envs:
    if "testStepFinished" in e:
        f = e["testStepFinished"]
        results[(started[f["testCaseStartedId"]], f["testStepId"])] = f["testStepResult"]
features = {}
for tc in cases:
    p = pickles[tc["pickleId"]]
    texts = {s["id"]: s["text"] for s in p["steps"]}
    el = {"id": p["id"], "keyword": "Scenario", "name": p["name"], "type": "scenario", "steps": [], "before": []}
    for ts in tc["testSteps"]:
        r = results[(tc["id"], ts["id"])]
        res = {"status": r["status"].lower(), "duration": r.get("duration", {}).get("nanos", 0)}
        if r.get("message"):
            res["error_message"] = r["message"]
        if "hookId" in ts:
            el["before"].append({"match": {"location": "hook"}, "result": res})
        else:
            el["steps"].append({"keyword": "Step ", "name": texts[ts["pickleStepId"]], "result": res})
    uri = p["uri"]
    feat = features.setdefault(uri, {"uri": uri, "id": uri, "keyword": "Feature",
                                     "name": docs[uri]["feature"]["name"], "elements": []})
    feat["elements"].append(el)
dump(F("api-tests", "govstack-identity.cucumber.json"), list(features.values()))

# 4. Hand-made ENHANCED findings (shape: domain-facts §5, moto's UNTRIAGED example), one per edge case.
DIGEST = "sha256:" + "4f" * 32


def enhanced(vid, pkg, severity, score=None, details=None, cvss=()):
    f = {
        "awsAccountId": "123456789012",
        "description": f"{vid} in {pkg} (hand-made test finding).",
        "findingArn": f"arn:aws:inspector2:eu-central-1:123456789012:finding/{vid.lower()}",
        "firstObservedAt": "2026-11-20T08:00:00+00:00",
        "lastObservedAt": "2026-11-27T08:00:00+00:00",
        "title": f"{vid} - {pkg}",
        "type": "PACKAGE_VULNERABILITY",
        "status": "ACTIVE",
        "severity": severity,
        "packageVulnerabilityDetails": {
            "vulnerabilityId": vid,
            "source": "NVD",
            "cvss": list(cvss),
            "vulnerablePackages": [{"name": pkg, "version": "1.0.0", "packageManager": "OS", "fixedInVersion": "NotAvailable"}],
        },
        "resources": [{"id": DIGEST, "type": "AWS_ECR_CONTAINER_IMAGE",
                       "details": {"awsEcrContainerImage": {"repositoryName": "bb/payments/adapter", "imageHash": DIGEST}}}],
    }
    if score is not None:
        f["score"] = score
    if details is not None:
        f["scoreDetails"] = {"cvss": details}
    return f


def cv(score, vector, source="NVD", version="3.1"):
    e = {"source": source, "version": version, "scoringVector": vector}
    if score is not None:
        e["baseScore"] = score
    return e


V31_CRIT = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"  # 9.8
V31_HIGH_C = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"  # 7.5
V31_81 = "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H"  # 8.1
V31_53 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L"  # 5.3
V31_78 = "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H"  # 7.8
V2_10 = "AV:N/AC:L/Au:N/C:C/I:C/A:C"  # 10.0
V40_69 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:L/SC:N/SI:N/SA:N"

edge = [
    # label LOW, CVSS 3.1 9.8: the score decides, not the label -> blocked
    enhanced("CVE-2026-10001", "libxml2", "LOW", 9.8, {"score": 9.8, "scoreSource": "NVD", "scoringVector": V31_CRIT, "version": "3.1", "adjustments": []}, [cv(9.8, V31_CRIT)]),
    # several cvss3 entries (NVD 7.5, distro 8.1): the highest of the preferred kind -> 8.1, sign-off band
    enhanced("CVE-2026-10002", "openssl", "HIGH", 7.5, {"score": 7.5, "scoreSource": "NVD", "scoringVector": V31_HIGH_C, "version": "3.1"}, [cv(7.5, V31_HIGH_C), cv(8.1, V31_81, source="DEBIAN_CVE")]),
    # v2 10.0 and v3 5.3 on one finding: cvss3 is preferred -> 5.3, allowed
    enhanced("CVE-2026-10003", "zlib", "MEDIUM", 5.3, {"score": 5.3, "scoreSource": "NVD", "scoringVector": V31_53, "version": "3.1"}, [cv(10.0, V2_10, version="2.0"), cv(5.3, V31_53)]),
    # UNTRIAGED: score 0.0, no scoreDetails, empty cvss[] -> no score, no usable label -> policy `unscored`
    enhanced("CVE-2026-10004", "libxml2", "UNTRIAGED", 0.0, None, []),
    # a vector without a score -> computed 7.5, sign-off band
    enhanced("CVE-2026-10005", "curl", "HIGH", None, None, [cv(None, V31_HIGH_C)]),
    # published 5.0 but the vector computes 9.8: reported, and the higher is used -> blocked
    enhanced("GHSA-aaaa-bbbb-cccc", "lodash", "MEDIUM", None, None, [cv(5.0, V31_CRIT, source="GITHUB")]),
    # only a CVSS 4.0 entry -> cvss4 6.9, allowed
    enhanced("CVE-2026-10007", "busybox", "MEDIUM", None, None, [cv(6.9, V40_69, version="4.0")]),
    # only ECR's own score (with scoreDetails): kind `ecr` -> 7.8, sign-off band
    enhanced("CVE-2026-10008", "glibc", "HIGH", 7.8, {"score": 7.8, "scoreSource": "NVD", "scoringVector": V31_78, "version": "3.1"}, []),
]
counts = {}
for f in edge:
    counts[f["severity"]] = counts.get(f["severity"], 0) + 1
dump(F("ecr", "enhanced-edge-cases.json"), {
    "registryId": "123456789012",
    "repositoryName": "bb/payments/adapter",
    "imageId": {"imageDigest": DIGEST, "imageTag": "1.4.2"},
    "imageScanStatus": {"status": "ACTIVE", "description": "Continuous scan is selected for image."},
    "imageScanFindings": {
        "imageScanCompletedAt": "2026-11-27T08:00:00+00:00",
        "vulnerabilitySourceUpdatedAt": "2026-11-27T06:00:00+00:00",
        "findingSeverityCounts": counts,
        "enhancedFindings": edge,
    },
})

# 5. A passing image for the demo: enhanced, two pages, sign-off band findings signed off.
PASS_DIGEST = "sha256:" + "a1" * 32
passing = [
    enhanced("CVE-2026-10002", "openssl", "HIGH", 7.5, {"score": 7.5, "scoreSource": "NVD", "scoringVector": V31_HIGH_C, "version": "3.1"}, [cv(7.5, V31_HIGH_C)]),
    enhanced("CVE-2026-10003", "zlib", "MEDIUM", 5.3, None, [cv(5.3, V31_53)]),
    enhanced("CVE-2026-10008", "glibc", "HIGH", 7.8, {"score": 7.8, "scoreSource": "NVD", "scoringVector": V31_78, "version": "3.1"}, [cv(7.8, V31_78)]),
    enhanced("CVE-2026-10007", "busybox", "MEDIUM", None, None, [cv(6.9, V40_69, version="4.0")]),
]
for f in passing:
    f["resources"][0]["details"]["awsEcrContainerImage"]["imageHash"] = PASS_DIGEST
pcounts = {"HIGH": 2, "MEDIUM": 2}
for i, chunk in enumerate([passing[:2], passing[2:]]):
    page = {
        "registryId": "123456789012",
        "repositoryName": "bb/payments/adapter",
        "imageId": {"imageDigest": PASS_DIGEST, "imageTag": "1.5.0"},
        "imageScanStatus": {"status": "ACTIVE", "description": "Continuous scan is selected for image."},
        "imageScanFindings": {
            "imageScanCompletedAt": "2026-11-27T08:00:00+00:00",
            "vulnerabilitySourceUpdatedAt": "2026-11-27T06:00:00+00:00",
            "findingSeverityCounts": pcounts,
            "enhancedFindings": chunk,
        },
    }
    if i == 0:
        page["nextToken"] = "ukD72mdD/mC8b5xV3susmJzzaTgp3hKwR9nRUW1yZZ4"
    dump(F("demo", "pass", f"scan-page-{i + 1}.json"), page)
