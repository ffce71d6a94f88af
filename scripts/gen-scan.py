#!/usr/bin/env python3
"""Write a synthetic ECR scan of N findings as describe-image-scan-findings pages of 1000.

    python3 scripts/gen-scan.py N OUTDIR [--type basic|enhanced] [--repo bb/payments/bench] [--seed 1]

Findings are shaped like the real ones in fixtures/ (enhanced: domain-facts §5), with a realistic spread of
scores (mostly low, a few in the sign-off and blocked bands) and ~5% without a score. Deterministic per seed.
Used by benches and scripts/bench; the same generator is mirrored in benches/decide.rs for in-memory runs.
"""
import argparse, hashlib, json, os, random

ap = argparse.ArgumentParser()
ap.add_argument("n", type=int)
ap.add_argument("outdir")
ap.add_argument("--type", choices=["basic", "enhanced"], default="enhanced")
ap.add_argument("--repo", default="bb/payments/bench")
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--page-size", type=int, default=1000)
a = ap.parse_args()
rnd = random.Random(a.seed)
digest = "sha256:" + hashlib.sha256(f"{a.repo}:{a.n}:{a.type}:{a.seed}".encode()).hexdigest()
VECTORS = {  # score -> CVSS 3.1 vector with that base score
    9.8: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 8.1: "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H",
    7.5: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N", 5.3: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L",
    3.7: "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:N/I:N/A:L",
}
SEV = {9.8: "CRITICAL", 8.1: "HIGH", 7.5: "HIGH", 5.3: "MEDIUM", 3.7: "LOW"}
PKGS = ["openssl", "glibc", "zlib", "curl", "libxml2", "busybox", "expat", "sqlite3", "ncurses", "pcre2"]


def pick_score():
    r = rnd.random()
    return 9.8 if r < 0.002 else 8.1 if r < 0.01 else 7.5 if r < 0.03 else 5.3 if r < 0.45 else 3.7 if r < 0.95 else None


def basic(i):
    s = pick_score(); pkg = rnd.choice(PKGS)
    attrs = [{"key": "package_version", "value": f"1.{i % 50}.{i % 7}"}, {"key": "package_name", "value": pkg}]
    if s is not None:
        attrs += [{"key": "CVSS3_VECTOR", "value": VECTORS[s]}, {"key": "CVSS3_SCORE", "value": str(s)}]
    return {"name": f"CVE-2026-{100000 + i}", "description": f"Synthetic vulnerability {i} in {pkg}: a buffer over-read in a parser reachable from untrusted input.",
            "uri": f"https://security-tracker.debian.org/tracker/CVE-2026-{100000 + i}", "severity": SEV.get(s, "UNDEFINED"), "attributes": attrs}


def enhanced(i):
    s = pick_score(); pkg = rnd.choice(PKGS); vid = f"CVE-2026-{100000 + i}"
    f = {"awsAccountId": "123456789012", "description": f"Synthetic vulnerability {i} in {pkg}: a buffer over-read in a parser reachable from untrusted input.",
         "findingArn": f"arn:aws:inspector2:eu-central-1:123456789012:finding/{hashlib.md5(vid.encode()).hexdigest()}",
         "firstObservedAt": "2026-11-20T08:00:00+00:00", "lastObservedAt": "2026-11-27T08:00:00+00:00", "updatedAt": "2026-11-27T08:00:00+00:00",
         "title": f"{vid} - {pkg}", "type": "PACKAGE_VULNERABILITY", "status": "ACTIVE", "severity": SEV.get(s, "UNTRIAGED"),
         "fixAvailable": "YES", "exploitAvailable": "NO",
         "remediation": {"recommendation": {"text": f"Upgrade {pkg}."}},
         "resources": [{"id": digest, "type": "AWS_ECR_CONTAINER_IMAGE", "details": {"awsEcrContainerImage": {
             "architecture": "amd64", "imageHash": digest, "imageTags": ["bench"], "platform": "DEBIAN_12",
             "pushedAt": "2026-11-20T08:00:00+00:00", "registry": "123456789012", "repositoryName": a.repo}}}],
         "packageVulnerabilityDetails": {"vulnerabilityId": vid, "source": "NVD", "sourceUrl": f"https://nvd.nist.gov/vuln/detail/{vid}",
             "vendorSeverity": SEV.get(s, "not yet assigned"), "referenceUrls": [f"https://example.org/advisories/{i}"], "relatedVulnerabilities": [],
             "cvss": [] if s is None else [{"baseScore": s, "scoringVector": VECTORS[s], "source": "NVD", "version": "3.1"}],
             "vulnerablePackages": [{"name": pkg, "version": f"1.{i % 50}.{i % 7}", "release": "1", "epoch": 0, "arch": "X86_64",
                                     "packageManager": "OS", "sourceLayerHash": digest, "fixedInVersion": "NotAvailable"}]}}
    if s is None:
        f["score"] = 0.0
    else:
        f["score"] = s
        f["scoreDetails"] = {"cvss": {"score": s, "scoreSource": "NVD", "scoringVector": VECTORS[s], "version": "3.1", "adjustments": []}}
    return f


make = basic if a.type == "basic" else enhanced
findings = [make(i) for i in range(a.n)]
counts = {}
for f in findings:
    counts[f["severity"]] = counts.get(f["severity"], 0) + 1
os.makedirs(a.outdir, exist_ok=True)
pages = max(1, (a.n + a.page_size - 1) // a.page_size)
for p in range(pages):
    chunk = findings[p * a.page_size:(p + 1) * a.page_size]
    key = "findings" if a.type == "basic" else "enhancedFindings"
    doc = {"registryId": "123456789012", "repositoryName": a.repo, "imageId": {"imageDigest": digest, "imageTag": "bench"},
           "imageScanStatus": {"status": "COMPLETE" if a.type == "basic" else "ACTIVE", "description": "The scan was completed successfully."},
           "imageScanFindings": {"imageScanCompletedAt": "2026-11-27T08:00:00+00:00", "vulnerabilitySourceUpdatedAt": "2026-11-27T06:00:00+00:00",
                                 "findingSeverityCounts": counts, key: chunk}}
    if p + 1 < pages:
        doc["nextToken"] = f"token-{p + 1}"
    with open(os.path.join(a.outdir, f"page-{p + 1:04d}.json"), "w") as fh:
        json.dump(doc, fh)
