#!/usr/bin/env python3
"""An independent reader of OpenVEX 0.2.0 for bbgate's tests (no OpenVEX schema or VEX-aware scanner installs
from the registries reachable here): checks a document against the specification's rules, then applies it to a
Trivy JSON report as a VEX-aware scanner does, and prints the vulnerabilities that remain.

    openvex_check.py VEX.json [TRIVY.json]

Rules checked (OpenVEX specification v0.2.0, "Document", "Statement", "Status Labels", "Status Justifications"):
@context is https://openvex.dev/ns/v0.2.0; @id, author, timestamp (RFC 3339) and version (integer >= 1) are
present; every statement names vulnerability.name, at least one product with an @id, and a status among the four
labels; not_affected carries a justification from the list or an impact_statement; affected carries an
action_statement; timestamps parse. Exit 1 with the problems listed, else print {"statements": n, "remaining":
[ids]}.
"""
import datetime, json, sys, urllib.parse

STATUSES = {"not_affected", "affected", "fixed", "under_investigation"}
JUSTIFICATIONS = {"component_not_present", "vulnerable_code_not_present", "vulnerable_code_not_in_execute_path",
                  "vulnerable_code_cannot_be_controlled_by_adversary", "inline_mitigations_already_exist"}


def rfc3339(t):
    try:
        datetime.datetime.fromisoformat(t.replace("Z", "+00:00"))
        return True
    except (AttributeError, ValueError):
        return False


def check(doc):
    problems = []
    if doc.get("@context") != "https://openvex.dev/ns/v0.2.0":
        problems.append(f"@context {doc.get('@context')!r} is not https://openvex.dev/ns/v0.2.0")
    for key in ("@id", "author"):
        if not isinstance(doc.get(key), str) or not doc[key]:
            problems.append(f"document {key} missing")
    if not rfc3339(doc.get("timestamp")):
        problems.append("document timestamp is not RFC 3339")
    if not isinstance(doc.get("version"), int) or doc["version"] < 1:
        problems.append("document version is not an integer >= 1")
    statements = doc.get("statements")
    if not isinstance(statements, list):
        return problems + ["statements is not a list"]
    for i, st in enumerate(statements):
        where = f"statements[{i}]"
        if not (st.get("vulnerability") or {}).get("name"):
            problems.append(f"{where}: vulnerability.name missing")
        products = st.get("products")
        if not isinstance(products, list) or not products or not all(isinstance(p, dict) and p.get("@id") for p in products):
            problems.append(f"{where}: products must be a non-empty list of components with @id")
        status = st.get("status")
        if status not in STATUSES:
            problems.append(f"{where}: status {status!r} is not one of {sorted(STATUSES)}")
        if status == "not_affected" and not (st.get("justification") in JUSTIFICATIONS or st.get("impact_statement")):
            problems.append(f"{where}: not_affected needs a justification or an impact_statement")
        if "justification" in st and st["justification"] not in JUSTIFICATIONS:
            problems.append(f"{where}: justification {st['justification']!r} is not a defined label")
        if status == "affected" and not st.get("action_statement"):
            problems.append(f"{where}: affected needs an action_statement")
        if "timestamp" in st and not rfc3339(st["timestamp"]):
            problems.append(f"{where}: timestamp is not RFC 3339")
    return problems


def purl_parts(purl):
    """(repository_url, version) of a pkg:oci purl."""
    if not purl.startswith("pkg:oci/"):
        return None, None
    rest, _, query = purl[len("pkg:oci/"):].partition("?")
    _, _, version = rest.partition("@")
    qs = urllib.parse.parse_qs(query)
    return (qs.get("repository_url") or [None])[0], urllib.parse.unquote(version) or None


def remaining(doc, trivy):
    """The report's vulnerability ids left after not_affected statements for its image are applied."""
    meta = trivy.get("Metadata") or {}
    repo_digests = meta.get("RepoDigests") or []
    image_repo, image_digest = None, None
    if repo_digests:
        image_repo, _, image_digest = repo_digests[0].partition("@")
    def covers(st):
        if st.get("status") not in ("not_affected", "fixed"):
            return False
        for p in st.get("products", []):
            repo, version = purl_parts(p.get("@id", ""))
            if repo is None:
                continue
            # A product without a version covers every digest of the repository; the host is optional.
            same_repo = repo == image_repo or repo.endswith("/" + image_repo) or image_repo.endswith("/" + repo)
            if same_repo and (version is None or version == image_digest):
                return True
        return False
    suppressed = {st["vulnerability"]["name"] for st in doc["statements"] if covers(st)}
    ids = [v["VulnerabilityID"] for r in trivy.get("Results") or [] for v in r.get("Vulnerabilities") or []]
    return sorted(set(i for i in ids if i not in suppressed))


def main():
    doc = json.load(open(sys.argv[1]))
    problems = check(doc)
    if problems:
        print("\n".join(problems))
        sys.exit(1)
    out = {"statements": len(doc["statements"])}
    if len(sys.argv) > 2:
        out["remaining"] = remaining(doc, json.load(open(sys.argv[2])))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
