#!/usr/bin/env python3
"""Generate bbgate's shipped fixtures (see fixtures/SOURCES.md): nothing here is read from or copied out of
third-party files. A seeded generator writes a realistic Debian-like BASIC scan of the payments emulator (whole
and as three API pages) and a GovStack-like API test run of the Identity BB (cucumber messages, JUnit XML and
legacy cucumber JSON, all three from one generated run); the ENHANCED edge cases are written out by hand below.

Run from the repository root: python3 scripts/gen-fixtures.py. Output is deterministic (fixed seed); the files
are committed, and tests/fixtures.rs checks they are what this script writes.
"""
import json
import os
import random

# BBGATE_FIXTURES_ROOT lets tests/fixtures.rs regenerate into a scratch copy and compare.
ROOT = os.environ.get("BBGATE_FIXTURES_ROOT") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
F = lambda *p: os.path.join(ROOT, "fixtures", *p)
SEED = 20210406


def dump(path, doc):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        json.dump(doc, fh, indent=2)
        fh.write("\n")


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        fh.write(text)


# 1. A Debian 10 image's BASIC scan (AWS CLI v2 output), 257 findings. Identifiers are synthetic
#    (CVE-20YY-9NNNN: no real CVE is named, so no real advisory is misquoted); scores are CVSS v2 base scores
#    of the vectors given, as ECR's basic scanning reports them. The spread is what a Debian base image shows:
#    mostly low and informational, 25 in the sign-off band, 2 at 9.0 or more (one labelled INFORMATIONAL:
#    Debian's "unimportant" is no score), 11 UNDEFINED without a score, labels that disagree with scores.
rnd = random.Random(SEED)
V2 = {  # CVSS v2 base vectors and their base scores
    10.0: "AV:N/AC:L/Au:N/C:C/I:C/A:C", 9.3: "AV:N/AC:M/Au:N/C:C/I:C/A:C", 7.8: "AV:N/AC:L/Au:N/C:N/I:N/A:C",
    7.5: "AV:N/AC:L/Au:N/C:P/I:P/A:P", 7.2: "AV:L/AC:L/Au:N/C:C/I:C/A:C", 7.1: "AV:N/AC:M/Au:N/C:N/I:N/A:C",
    6.9: "AV:L/AC:M/Au:N/C:C/I:C/A:C", 6.8: "AV:N/AC:M/Au:N/C:P/I:P/A:P", 5.0: "AV:N/AC:L/Au:N/C:N/I:N/A:P",
    4.6: "AV:L/AC:L/Au:N/C:P/I:P/A:P", 4.3: "AV:N/AC:M/Au:N/C:N/I:N/A:P", 2.1: "AV:L/AC:L/Au:N/C:N/I:N/A:P",
    1.9: "AV:L/AC:M/Au:N/C:N/I:N/A:P",
}
PACKAGES = [  # (name, Debian 10 version)
    ("glibc", "2.28-10"), ("linux", "4.19.181-1"), ("openssl", "1.1.1d-0+deb10u5"), ("curl", "7.64.0-4+deb10u1"),
    ("systemd", "241-7~deb10u6"), ("tar", "1.30+dfsg-6"), ("perl", "5.28.1-6+deb10u1"), ("e2fsprogs", "1.44.5-1+deb10u3"),
    ("gnutls28", "3.6.7-4+deb10u6"), ("libgcrypt20", "1.8.4-5"), ("python2.7", "2.7.16-2+deb10u1"),
    ("sqlite3", "3.27.2-3+deb10u1"), ("shadow", "1:4.5-1.1"), ("util-linux", "2.33.1-0.1"), ("ncurses", "6.1+20181013-2+deb10u2"),
    ("krb5", "1.17-3+deb10u1"), ("libxml2", "2.9.4+dfsg1-7+deb10u1"), ("pcre3", "2:8.39-12"), ("zlib", "1:1.2.11.dfsg-1"),
    ("coreutils", "8.30-3"), ("apt", "1.8.2.2"), ("openldap", "2.4.47+dfsg-3+deb10u6"), ("nettle", "3.4.1-1"),
    ("libssh2", "1.8.0-2.1"), ("expat", "2.2.6-2+deb10u1"), ("bzip2", "1.0.6-9.2~deb10u1"),
]
used_ids = set()


def cve_id(year):
    while True:
        vid = f"CVE-{year}-9{rnd.randrange(0, 10000):04d}"
        if vid not in used_ids:
            used_ids.add(vid)
            return vid


def basic(vid, pkg, severity, score=None):
    name, version = pkg
    attrs = [{"key": "package_version", "value": version}, {"key": "package_name", "value": name}]
    if score is not None:
        attrs += [{"key": "CVSS2_VECTOR", "value": V2[score]}, {"key": "CVSS2_SCORE", "value": f"{score:g}"}]
    return {
        "name": vid,
        "description": f"A flaw in {name} {version.split(':')[-1]} (generated finding for bbgate's fixtures).",
        "uri": f"https://security-tracker.debian.org/tracker/{vid}",
        "severity": severity,
        "attributes": attrs,
    }


P = dict(PACKAGES)
pk = lambda n: (n, P[n])
findings = [
    # The two the gate blocks: a 10.0 Debian labels INFORMATIONAL ("unimportant"), and a 9.3 in the kernel.
    basic("CVE-2005-90001", pk("tar"), "INFORMATIONAL", 10.0),
    basic("CVE-2019-90002", pk("linux"), "HIGH", 9.3),
    # Sign-off band, named by the demo's sign-offs: two apply, one has expired.
    basic("CVE-2013-90003", pk("linux"), "HIGH", 7.8),
    basic("CVE-2021-90004", pk("python2.7"), "HIGH", 7.5),
    basic("CVE-2019-90005", pk("glibc"), "MEDIUM", 7.1),
    # Labels that disagree with scores: LOW with 7.5 needs a sign-off; HIGH with 6.9 is allowed.
    basic("CVE-2016-90006", pk("libxml2"), "LOW", 7.5),
    basic("CVE-2020-90007", pk("linux"), "HIGH", 6.9),
]
for vid in ["CVE-2013-90003", "CVE-2021-90004", "CVE-2019-90005", "CVE-2016-90006", "CVE-2005-90001",
            "CVE-2019-90002", "CVE-2020-90007"]:
    used_ids.add(vid)
for _ in range(21):  # the rest of the sign-off band (7.0 to 8.9): 25 in all
    score = rnd.choice([7.8, 7.5, 7.2, 7.1])
    findings.append(basic(cve_id(rnd.choice([2018, 2019, 2020, 2021])), rnd.choice(PACKAGES), rnd.choice(["HIGH", "HIGH", "MEDIUM"]), score))
for _ in range(11):  # UNDEFINED: no score at all
    findings.append(basic(cve_id(rnd.choice([2020, 2021])), rnd.choice(PACKAGES), "UNDEFINED"))
label_of = lambda s: "MEDIUM" if s >= 4.0 else "LOW"
while len(findings) < 257:  # below the band: mostly informational and low, as Debian triages them
    score = rnd.choice([6.8, 5.0, 5.0, 4.6, 4.3, 4.3, 2.1, 1.9])
    label = rnd.choice(["INFORMATIONAL", "INFORMATIONAL", "INFORMATIONAL", label_of(score)])
    findings.append(basic(cve_id(rnd.choice(range(2005, 2022))), rnd.choice(PACKAGES), label, score))
rnd.shuffle(findings)
counts = {}
for f in findings:
    counts[f["severity"]] = counts.get(f["severity"], 0) + 1
scan = {
    "imageScanFindings": {
        "findings": findings,
        "imageScanCompletedAt": "2021-04-06T09:30:12+02:00",
        "vulnerabilitySourceUpdatedAt": "2021-04-06T03:11:40+02:00",
        "findingSeverityCounts": dict(sorted(counts.items())),
    },
    "registryId": "123456789012",
    "repositoryName": "bb/payments/emulator",
    "imageId": {
        "imageDigest": "sha256:" + bytes(rnd.randrange(256) for _ in range(32)).hex(),
        "imageTag": "1.3.0",
    },
    "imageScanStatus": {"status": "COMPLETE", "description": "The scan was completed successfully."},
}
dump(F("demo", "payments-emulator-scan.json"), scan)

# 2. The same scan as the API pages it: 100, 100 and 57 findings, `nextToken` on all but the last.
for i, (start, end) in enumerate([(0, 100), (100, 200), (200, len(findings))]):
    page = json.loads(json.dumps(scan))
    page["imageScanFindings"]["findings"] = findings[start:end]
    if end < len(findings):
        page["nextToken"] = f"page-{i + 2}"
    dump(F("ecr", "paged", f"page-{i + 1}.json"), page)

# 3. A GovStack API test-harness run of the Identity BB (cucumber-js shape): 14 features of the openAPI
#    suite, 82 scenarios, 11 failed, written as cucumber messages NDJSON, as the JUnit XML cucumber-js writes,
#    and as legacy cucumber JSON. One generated run, three formats: each must read the same.
FEATURES = [  # (slug, feature name, endpoint, what a scenario does)
    ("oidc-client-create", "API to add new open ID connect (OIDC) clients.", "POST /client-mgmt/oidc-client", "A new OIDC client is added"),
    ("oidc-client-update", "API to update existing open ID connect (OIDC) clients.", "PUT /client-mgmt/oidc-client/{client_id}", "An OIDC client is updated"),
    ("authorize", "API to start the OpenID authorization flow.", "GET /authorize", "The authorization flow starts"),
    ("authenticate", "API to authenticate the end user with a given factor.", "POST /authorization/authenticate", "The end user is authenticated"),
    ("auth-code", "API to issue an authorization code.", "POST /authorization/auth-code", "An authorization code is issued"),
    ("token", "API to exchange an authorization code for tokens.", "POST /oauth/token", "Tokens are issued for a code"),
    ("userinfo", "API to read the authenticated user's claims.", "GET /oidc/userinfo", "The user's claims are returned"),
    ("jwks", "API to read the identity provider's public keys.", "GET /.well-known/jwks.json", "The public keys are returned"),
    ("discovery", "API to read the OpenID configuration.", "GET /.well-known/openid-configuration", "The OpenID configuration is returned"),
    ("send-otp", "API to send a one-time password.", "POST /authorization/send-otp", "A one-time password is sent"),
    ("link-code", "API to generate a wallet link code.", "POST /linked-authorization/link-code", "A link code is generated"),
    ("link-status", "API to poll a wallet link's status.", "POST /linked-authorization/link-status", "The link status is returned"),
    ("binding", "API to bind a wallet to an individual.", "POST /binding/wallet-binding", "A wallet is bound"),
    ("logout", "API to end the user's session.", "GET /oidc/logout", "The session ends"),
]
VARIANTS = ["{} (smoke type test)", "{}", "{} [1]", "{} without an optional field",
            "The request is refused when a required field is missing", "The request is refused with an invalid token"]
def xml_escape(t):
    return t.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def gen_run(run_name, FEATURES, SCENARIOS_PER_FEATURE, failing, BASE_SECONDS):
    """One generated run of `FEATURES`, `failing` of its scenarios failed, written in the three formats."""
    FAILING = set(rnd.sample(range(sum(SCENARIOS_PER_FEATURE)), failing))
    ids = iter(range(1, 100000))
    nid = lambda: str(next(ids))
    envs = [{"meta": {"protocolVersion": "20.0.0", "implementation": {"name": "cucumber-js", "version": "8.10.0"},
                      "runtime": {"name": "node.js", "version": "18.16.0"}, "os": {"name": "linux", "version": "5.15.0"},
                      "cpu": {"name": "x64"}}}]
    clock = [0]

    def ts():
        clock[0] += rnd.randrange(2, 40) * 1_000_000
        s, n = divmod(clock[0], 1_000_000_000)
        return {"seconds": BASE_SECONDS + s, "nanos": n}


    model = []  # (feature name, uri, [(pickle, steps, failed index or None, message)])
    sc_index = 0
    hook_id = nid()
    for (slug, title, endpoint, does), count in zip(FEATURES, SCENARIOS_PER_FEATURE):
        uri = f"features/{slug}.feature"
        steps_text = [
            f"Given the user wants to call {endpoint}",
            f"When the user sends a valid request to {endpoint}",
            f"Then the user receives a response from {endpoint}",
            "And the response should be returned in a timely manner",
            "And the response should have status 200",
            "And the response should match the json schema",
        ]
        scenarios = []
        for k in range(count):
            name = VARIANTS[k].format(does)
            failed_at = rnd.randrange(2, len(steps_text)) if sc_index in FAILING else None
            message = None
            if failed_at is not None:
                message = (f"AssertionError [ERR_ASSERTION]: expected {rnd.choice([400, 401, 404, 500])} to equal 200\n"
                           f"    at World.<anonymous> (/app/features/step-definitions/{slug}Steps.js:{rnd.randrange(20, 200)}:{rnd.randrange(5, 40)})")
            scenarios.append((name, steps_text, failed_at, message))
            sc_index += 1
        model.append((title, uri, scenarios))

    # Messages: documents and pickles first, then the run.
    pickle_ids = []
    for title, uri, scenarios in model:
        envs.append({"source": {"uri": uri, "data": f"Feature: {title}\n", "mediaType": "text/x.cucumber.gherkin+plain"}})
        envs.append({"gherkinDocument": {"uri": uri, "feature": {"name": title, "keyword": "Feature", "language": "en",
                                                                     "location": {"line": 1, "column": 1}, "tags": [],
                                                                     "description": "", "children": []}, "comments": []}})
        for name, steps, _, _ in scenarios:
            pid = nid()
            pickle_ids.append(pid)
            envs.append({"pickle": {"id": pid, "uri": uri, "name": name, "language": "en", "tags": [], "astNodeIds": [nid()],
                                    "steps": [{"id": nid(), "text": t.split(" ", 1)[1], "type": "Action", "astNodeIds": [nid()]}
                                              for t in steps]}})
    envs.append({"hook": {"id": hook_id, "sourceReference": {"uri": "features/support/hooks.js", "location": {"line": 4}}}})
    envs.append({"testRunStarted": {"timestamp": ts()}})
    cases = []
    pickles = [e["pickle"] for e in envs if "pickle" in e]
    for p in pickles:
        steps = [{"id": nid(), "hookId": hook_id}] + [
            {"id": nid(), "pickleStepId": s["id"], "stepDefinitionIds": [], "stepMatchArgumentsLists": []} for s in p["steps"]]
        cases.append({"id": nid(), "pickleId": p["id"], "testSteps": steps})
        envs.append({"testCase": cases[-1]})
    flat = [sc for _, _, scs in model for sc in scs]
    for case, (name, steps, failed_at, message) in zip(cases, flat):
        started = nid()
        envs.append({"testCaseStarted": {"id": started, "testCaseId": case["id"], "attempt": 0, "timestamp": ts()}})
        for i, step in enumerate(case["testSteps"]):
            # Step i of the pickle is test step i + 1 (the Before hook is first).
            if failed_at is not None and i - 1 == failed_at:
                result = {"status": "FAILED", "message": message, "duration": {"seconds": 0, "nanos": rnd.randrange(10**6, 10**8)}}
            elif failed_at is not None and i - 1 > failed_at:
                result = {"status": "SKIPPED", "duration": {"seconds": 0, "nanos": 0}}
            else:
                result = {"status": "PASSED", "duration": {"seconds": 0, "nanos": rnd.randrange(10**5, 10**7)}}
            envs.append({"testStepStarted": {"testCaseStartedId": started, "testStepId": step["id"], "timestamp": ts()}})
            envs.append({"testStepFinished": {"testCaseStartedId": started, "testStepId": step["id"], "testStepResult": result,
                                              "timestamp": ts()}})
        envs.append({"testCaseFinished": {"testCaseStartedId": started, "timestamp": ts(), "willBeRetried": False}})
    envs.append({"testRunFinished": {"timestamp": ts(), "success": not FAILING}})
    write(F("api-tests", f"{run_name}.ndjson"), "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in envs))

    # JUnit, as cucumber-js's junit formatter writes it.
    lines = ['<?xml version="1.0"?>',
             f'<testsuite failures="{len(FAILING)}" skipped="0" name="cucumber-js" time="31.0" tests="{len(flat)}">']
    for title, _, scenarios in model:
        for name, steps, failed_at, message in scenarios:
            lines.append(f'  <testcase classname="{xml_escape(title)}" name="{xml_escape(name)}" time="0.01">')
            if failed_at is not None:
                lines.append(f'    <failure type="AssertionError" message="{xml_escape(message.splitlines()[0])}"><![CDATA[{message}]]></failure>')
            outcome = lambda i: "passed" if failed_at is None or i < failed_at else ("failed" if i == failed_at else "skipped")
            out = "\n".join(f"{t}...{outcome(i)}" for i, t in enumerate(steps))
            lines.append(f"    <system-out><![CDATA[{out}]]></system-out>")
            lines.append("  </testcase>")
    lines.append("</testsuite>")
    write(F("api-tests", f"{run_name}.xml"), "\n".join(lines) + "\n")

    # Legacy cucumber JSON, one element per scenario, the Before hook as `before`.
    features = []
    for (title, uri, scenarios), (slug, _, _, _) in zip(model, FEATURES):
        elements = []
        for line, (name, steps, failed_at, message) in enumerate(scenarios, start=3):
            def result(i):
                if failed_at is None or i < failed_at:
                    return {"status": "passed", "duration": 1000000}
                if i == failed_at:
                    return {"status": "failed", "duration": 1000000, "error_message": message}
                return {"status": "skipped", "duration": 0}
            elements.append({
                "id": f"{slug};{name.lower().replace(' ', '-')}", "keyword": "Scenario", "line": line * 10, "name": name,
                "type": "scenario", "before": [{"match": {"location": "features/support/hooks.js:4"}, "result": {"status": "passed", "duration": 0}}],
                "steps": [{"keyword": t.split(" ", 1)[0] + " ", "name": t.split(" ", 1)[1], "line": line * 10 + i + 1, "result": result(i)}
                          for i, t in enumerate(steps)],
            })
        features.append({"uri": uri, "id": slug, "keyword": "Feature", "name": title, "line": 1, "elements": elements})
    dump(F("api-tests", f"{run_name}.cucumber.json"), features)


gen_run("govstack-identity", FEATURES, [6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 5, 5], 11, 1617701400)  # 2021-04-06T09:30Z
# A passing run of the payments BB's adapter, for the README's passing demo.
gen_run("payments-adapter", [
    ("bulk-transfer", "API to make a bulk credit transfer.", "POST /batchtransactions", "A bulk transfer is accepted"),
    ("batch-status", "API to read a batch's status.", "GET /batch", "The batch status is returned"),
    ("account-lookup", "API to look up a payee's account.", "GET /accounts/{payee_id}", "The payee's account is found"),
    ("register-beneficiary", "API to register a beneficiary.", "POST /register-beneficiary", "A beneficiary is registered"),
], [3, 3, 3, 3], 0, 1795773600)  # 2026-11-27T10:00Z

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
def severity_counts(findings):
    counts = {}
    for f in findings:
        counts[f["severity"]] = counts.get(f["severity"], 0) + 1
    return counts


def enhanced_page(digest, tag, counts, findings):
    """An ACTIVE (enhanced) describe-image-scan-findings page of bb/payments/adapter."""
    return {
        "registryId": "123456789012",
        "repositoryName": "bb/payments/adapter",
        "imageId": {"imageDigest": digest, "imageTag": tag},
        "imageScanStatus": {"status": "ACTIVE", "description": "Continuous scan is selected for image."},
        "imageScanFindings": {
            "imageScanCompletedAt": "2026-11-27T08:00:00+00:00",
            "vulnerabilitySourceUpdatedAt": "2026-11-27T06:00:00+00:00",
            "findingSeverityCounts": counts,
            "enhancedFindings": findings,
        },
    }


dump(F("ecr", "enhanced-edge-cases.json"), enhanced_page(DIGEST, "1.4.2", severity_counts(edge), edge))

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
for i, chunk in enumerate([passing[:2], passing[2:]]):
    # Every page carries the counts of the whole scan.
    page = enhanced_page(PASS_DIGEST, "1.5.0", severity_counts(passing), chunk)
    if i == 0:
        page["nextToken"] = "ukD72mdD/mC8b5xV3susmJzzaTgp3hKwR9nRUW1yZZ4"
    dump(F("demo", "pass", f"scan-page-{i + 1}.json"), page)
