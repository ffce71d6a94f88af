//! The policy and sign-off files as the admins write them: every default, every validation with its location,
//! the pins, and which building block judges a repository.

#![allow(clippy::unwrap_used)] // a test fails loudly where it unwraps

use bbgate_core::apitests::Status;
use bbgate_core::error::Error;
use bbgate_core::findings::ScoreKind;
use bbgate_core::policy::signoff::{self, SignOff};
use bbgate_core::policy::{BUILTIN, Policy, UnscoredAction, UnusedAction, days_between, is_dns_label, parse_sha256};
use std::path::{Path, PathBuf};

const BB: &str =
    "[[building_block]]\nname = \"payments\"\nnamespace = \"paymenthub\"\nrepositories = [\"bb/payments/*\"]\n";

fn parse(src: &str) -> Result<Policy, Error> {
    Policy::parse(Path::new("p.toml"), src, "p.toml".into())
}

/// The problems of an invalid policy, each `file:line:col: message`.
fn problems(src: &str) -> Vec<String> {
    match parse(src) {
        Err(Error::Invalid(p)) => p,
        Err(e) => panic!("not an invalid-input error: {e}"),
        Ok(_) => panic!("accepted:\n{src}"),
    }
}

#[test]
fn an_empty_section_means_the_documented_defaults() {
    let p = parse(BB).unwrap();
    assert_eq!(
        (p.scan.block_from, p.scan.signoff_from, p.scan.max_age_days),
        (9.0, 7.0, 30)
    );
    assert_eq!(
        p.scan.score_preference,
        [ScoreKind::Cvss3, ScoreKind::Cvss4, ScoreKind::Cvss2, ScoreKind::Ecr]
    );
    assert!(p.scan.label_fallback);
    assert_eq!(p.scan.unscored, UnscoredAction::Warn);
    assert!(p.api_tests.required);
    assert_eq!(p.api_tests.min_pass_ratio, 1.0);
    assert_eq!(p.api_tests.max_age_days, None);
    assert_eq!(
        p.api_tests.count_as_failed,
        [
            Status::Failed,
            Status::Undefined,
            Status::Pending,
            Status::Ambiguous,
            Status::Unknown,
            Status::Skipped
        ]
    );
    assert!(p.signoffs.approvers.is_empty());
    assert_eq!((p.signoffs.max_validity_days, p.signoffs.warn_before_days), (90, 14));
    assert_eq!(p.signoffs.unused, UnusedAction::Warn);
    let d = &p.deploy;
    assert_eq!(d.max_evidence_age, jiff::SignedDuration::from_hours(24));
    assert_eq!(d.service_types, ["ClusterIP"]);
    assert_eq!(d.capabilities, ["NET_BIND_SERVICE"]);
    assert_eq!(d.pod_security, "restricted");
    assert_eq!(d.history_max, 10);
    assert!(d.registries.is_empty() && d.approvers.is_empty() && d.cluster_roles.is_empty());
    assert_eq!(d.rego.len(), 1, "no `rego` key: the shipped rules");
    assert_eq!(d.rego[0].path, "built-in deploy.rego");
    assert_eq!(
        d.rego[0].sha256,
        bbgate_core::policy::sha256_hex(d.rego[0].source.as_bytes())
    );
    assert!(d.rego_problems.is_empty());
    assert_eq!(p.origin.location, "p.toml");
    assert_eq!(p.origin.sha256, bbgate_core::policy::sha256_hex(BB.as_bytes()));
}

#[test]
fn every_setting_is_read() {
    let p = parse(&format!(
        "[scan]\nblock_from = 8.5\nsignoff_from = 6.0\nscore_preference = [\"ecr\", \"cvss2\"]\nlabel_fallback = false\n\
         unscored = \"block\"\nmax_age_days = 7\n\
         [api_tests]\nrequired = false\nmin_pass_ratio = 0.9\ncount_as_failed = [\"failed\", \"ambiguous\"]\nmax_age_days = 3\n\
         [signoffs]\napprovers = [\"ana\", \"bo\"]\nmax_validity_days = 30\nwarn_before_days = 0\nunused = \"deny\"\n\
         [deploy]\nmax_evidence_age = \"90m\"\nregistries = [\"r.example\"]\nservice_types = [\"ClusterIP\", \"NodePort\"]\n\
         approvers = [\"lead\"]\nrego = []\nhistory_max = 1000\npod_security = \"baseline\"\ncapabilities = []\n\
         cluster_roles = [\"view\"]\n{BB}"
    ))
    .unwrap();
    assert_eq!(
        (p.scan.block_from, p.scan.signoff_from, p.scan.max_age_days),
        (8.5, 6.0, 7)
    );
    assert_eq!(p.scan.score_preference, [ScoreKind::Ecr, ScoreKind::Cvss2]);
    assert!(!p.scan.label_fallback);
    assert_eq!(p.scan.unscored, UnscoredAction::Block);
    assert!(!p.api_tests.required);
    assert_eq!(p.api_tests.min_pass_ratio, 0.9);
    assert_eq!(p.api_tests.count_as_failed, [Status::Failed, Status::Ambiguous]);
    assert_eq!(p.api_tests.max_age_days, Some(3));
    assert_eq!(p.signoffs.approvers, ["ana", "bo"]);
    assert_eq!((p.signoffs.max_validity_days, p.signoffs.warn_before_days), (30, 0));
    assert_eq!(p.signoffs.unused, UnusedAction::Deny);
    let d = &p.deploy;
    assert_eq!(d.max_evidence_age, jiff::SignedDuration::from_mins(90));
    assert_eq!(d.registries, ["r.example"]);
    assert_eq!(d.service_types, ["ClusterIP", "NodePort"]);
    assert_eq!(d.approvers, ["lead"]);
    assert!(d.rego.is_empty(), "`rego = []` is the admins' explicit none");
    assert_eq!(d.history_max, 1000);
    assert_eq!(d.pod_security, "baseline");
    assert!(d.capabilities.is_empty());
    assert_eq!(d.cluster_roles, ["view"]);
    assert_eq!(
        parse(&format!("[deploy]\nhistory_max = 1\n{BB}"))
            .unwrap()
            .deploy
            .history_max,
        1
    );
    assert_eq!(
        parse(&format!("[scan]\nblock_from = 10.0\nsignoff_from = 10.0\n{BB}"))
            .unwrap()
            .scan
            .signoff_from,
        10.0
    );
    assert_eq!(
        parse(&format!("[scan]\nsignoff_from = 0.0\n{BB}"))
            .unwrap()
            .scan
            .signoff_from,
        0.0
    );
    assert_eq!(
        parse(&format!("[api_tests]\nmin_pass_ratio = 0.0\n{BB}"))
            .unwrap()
            .api_tests
            .min_pass_ratio,
        0.0
    );
    assert_eq!(
        parse(&format!("[api_tests]\nmax_age_days = 1\n{BB}"))
            .unwrap()
            .api_tests
            .max_age_days,
        Some(1)
    );
    assert_eq!(
        parse(&format!("[scan]\nmax_age_days = 1\n{BB}"))
            .unwrap()
            .scan
            .max_age_days,
        1
    );
}

#[test]
fn each_bad_value_is_refused_at_its_line_with_the_rule() {
    for (section, expected) in [
        (
            "[scan]\nblock_from = 0.0",
            "p.toml:2:14: [scan] block_from = 0 must be above 0 and at most 10",
        ),
        (
            "[scan]\nblock_from = 10.5",
            "p.toml:2:14: [scan] block_from = 10.5 must be above 0 and at most 10",
        ),
        (
            "[scan]\nblock_from = nan",
            "p.toml:2:14: [scan] block_from = NaN must be above 0 and at most 10",
        ),
        (
            "[scan]\nsignoff_from = 9.5",
            "p.toml:2:16: [scan] signoff_from = 9.5 must be between 0 and block_from (9)",
        ),
        (
            "[scan]\nsignoff_from = -0.5",
            "p.toml:2:16: [scan] signoff_from = -0.5 must be between 0 and block_from (9)",
        ),
        (
            "[scan]\nscore_preference = []",
            "p.toml:2:20: [scan] score_preference is empty: name at least one of cvss3, cvss4, cvss2, ecr",
        ),
        (
            "[scan]\nscore_preference = [\"ecr\", \"cvss3\", \"ecr\"]",
            "p.toml:2:20: [scan] score_preference names ecr twice",
        ),
        (
            "[scan]\nmax_age_days = 0",
            "p.toml:2:16: [scan] max_age_days = 0 must be at least 1",
        ),
        (
            "[api_tests]\nmin_pass_ratio = 1.01",
            "p.toml:2:18: [api_tests] min_pass_ratio = 1.01 must be between 0.0 and 1.0",
        ),
        (
            "[api_tests]\nmin_pass_ratio = -0.1",
            "p.toml:2:18: [api_tests] min_pass_ratio = -0.1 must be between 0.0 and 1.0",
        ),
        (
            "[api_tests]\ncount_as_failed = [\"failed\", \"passed\"]",
            "p.toml:2:19: [api_tests] count_as_failed lists \"passed\": a passed scenario cannot count as failed",
        ),
        (
            "[api_tests]\ncount_as_failed = [\"skipped\"]",
            "p.toml:2:19: [api_tests] count_as_failed must list \"failed\"",
        ),
        (
            "[api_tests]\nmax_age_days = 0",
            "p.toml:2:16: [api_tests] max_age_days = 0 must be at least 1",
        ),
        (
            "[signoffs]\napprovers = [\"a\", \" \"]",
            "p.toml:2:19: [signoffs] approvers has an empty name",
        ),
        (
            "[signoffs]\nmax_validity_days = 0",
            "p.toml:2:21: [signoffs] max_validity_days = 0 must be at least 1",
        ),
        (
            "[signoffs]\nwarn_before_days = -1",
            "p.toml:2:20: [signoffs] warn_before_days = -1 must not be negative",
        ),
        (
            "[deploy]\nmax_evidence_age = \"-2h\"",
            "p.toml:2:20: [deploy] max_evidence_age = \"-2h\" is not a positive duration like \"24h\" or \"90m\"",
        ),
        (
            "[deploy]\nmax_evidence_age = \"0s\"",
            "p.toml:2:20: [deploy] max_evidence_age = \"0s\" is not a positive duration like \"24h\" or \"90m\"",
        ),
        (
            "[deploy]\nmax_evidence_age = \"soon\"",
            "p.toml:2:20: [deploy] max_evidence_age = \"soon\" is not a positive duration like \"24h\" or \"90m\"",
        ),
        (
            "[deploy]\nservice_types = [\"ClusterIP\", \"HostPort\"]",
            "p.toml:2:17: [deploy] service_types: \"HostPort\" is not one of ClusterIP, NodePort, LoadBalancer, \
             ExternalName, Ingress, Gateway, ExternalIPs",
        ),
        (
            "[deploy]\nhistory_max = 0",
            "p.toml:2:15: [deploy] history_max = 0 must be 1 to 1000",
        ),
        (
            "[deploy]\nhistory_max = 1001",
            "p.toml:2:15: [deploy] history_max = 1001 must be 1 to 1000",
        ),
        (
            "[deploy]\npod_security = \"privileged\"",
            "p.toml:2:16: [deploy] pod_security = \"privileged\" must be \"restricted\" or \"baseline\" (\"privileged\" \
             enforces nothing)",
        ),
    ] {
        assert_eq!(problems(&format!("{section}\n{BB}")), [expected], "{section}");
    }
}

#[test]
fn building_blocks_are_checked_one_by_one() {
    assert_eq!(
        problems("[scan]\n"),
        ["p.toml:1:1: no [[building_block]] entries: the policy must name the building blocks it admits"]
    );
    let twice = format!("{BB}{BB}");
    assert_eq!(
        problems(&twice),
        ["p.toml:5:1: [[building_block]] \"payments\" is defined twice"]
    );
    assert_eq!(
        problems("[[building_block]]\nname = \" \"\nnamespace = \"ns\"\nrepositories = [\"a/*\"]\n"),
        ["p.toml:2:8: [[building_block]] name is empty"]
    );
    for ns in ["Pay", "-pay", "pay-", "", "pay_hub", &"a".repeat(64)] {
        let src = format!("[[building_block]]\nname = \"x\"\nnamespace = \"{ns}\"\nrepositories = [\"a/*\"]\n");
        assert_eq!(
            problems(&src),
            [format!(
                "p.toml:3:13: [[building_block]] \"x\": namespace {ns:?} is not a valid Kubernetes namespace name \
                 (lowercase letters, digits and '-', at most 63)"
            )],
            "{ns:?}"
        );
    }
    assert_eq!(
        problems("[[building_block]]\nname = \"x\"\nnamespace = \"ns\"\nrepositories = []\n"),
        [
            "p.toml:4:16: [[building_block]] \"x\": repositories is empty: list the ECR repositories this building block owns"
        ]
    );
    let bad_glob =
        problems("[[building_block]]\nname = \"x\"\nnamespace = \"ns\"\nrepositories = [\"ok/*\", \"bb/[\"]\n");
    assert_eq!(bad_glob.len(), 1);
    assert!(
        bad_glob[0]
            .starts_with("p.toml:4:25: [[building_block]] \"x\": repository pattern \"bb/[\" is not a valid glob: "),
        "{bad_glob:?}"
    );
}

#[test]
fn peers_name_a_namespace_its_ports_and_a_direction() {
    use bbgate_core::policy::peers::{Direction, admits};
    let src = format!(
        "{BB}[[building_block.peers]]\nnamespace = \"im-xroad\"\nports = [8443, 8080, 8080]\ndirection = \"both\"\n\
         [[building_block.peers]]\nnamespace = \"identity\"\nports = [5000]\ndirection = \"ingress\"\n"
    );
    let p = parse(&src).unwrap();
    let peers = &p.building_blocks[0].peers;
    assert_eq!(peers.len(), 2);
    assert_eq!(
        (peers[0].ports.as_slice(), peers[0].direction),
        (&[8080, 8443][..], Direction::Both)
    );
    assert!(admits(peers, "im-xroad", false, &[8443]));
    assert!(admits(peers, "identity", true, &[5000]));
    assert!(!admits(peers, "identity", false, &[5000]), "listed for ingress only");
    assert!(
        !admits(peers, "identity", true, &[5000, 5001]),
        "every port must be listed"
    );
    assert!(!admits(peers, "identity", true, &[]), "every port is never admitted");
    let bad = format!(
        "{BB}[[building_block.peers]]\nnamespace = \"paymenthub\"\nports = [0, 70000]\ndirection = \"ingress\"\n\
         [[building_block.peers]]\nnamespace = \"Bad_NS\"\nports = []\ndirection = \"egress\"\n"
    );
    assert_eq!(
        problems(&bad),
        [
            "p.toml:6:13: [[building_block]] \"payments\": peer namespace \"paymenthub\" is the building block's own",
            "p.toml:7:10: [[building_block]] \"payments\": peer paymenthub: port 0 is not in 1..65535",
            "p.toml:7:13: [[building_block]] \"payments\": peer paymenthub: port 70000 is not in 1..65535",
            "p.toml:7:9: [[building_block]] \"payments\": peer paymenthub lists no port: name the ports the traffic uses (a peer on every port is a namespace opened)",
            "p.toml:10:13: [[building_block]] \"payments\": peer namespace \"Bad_NS\" is not a Kubernetes namespace name",
            "p.toml:11:9: [[building_block]] \"payments\": peer Bad_NS lists no port: name the ports the traffic uses (a peer on every port is a namespace opened)",
        ]
    );
    let unknown = format!("{BB}[[building_block.peers]]\nnamespace = \"im\"\nports = [1]\ndirection = \"sideways\"\n");
    assert_eq!(problems(&unknown).len(), 1);
}

#[test]
fn registries_elsewhere_are_a_vendors_ecr_or_a_cached_organisation_owned_there_only() {
    use bbgate_core::policy::registries::Kind;
    let vendor = "419830066942.dkr.ecr.us-east-1.amazonaws.com";
    let images = "[images]\npull_through = { \"ghcr.io\" = \"github\" }\n";
    let src = format!(
        "{images}{BB}[[building_block.registries]]\nregistry = \"{vendor}\"\nrepositories = [\"phee/*\"]\n\
         [[building_block.registries]]\nregistry = \"ghcr.io\"\nrepositories = [\"mifos/*\"]\n\
         [[building_block]]\nname = \"im\"\nnamespace = \"im\"\nrepositories = [\"bb/im/*\"]\n"
    );
    let p = parse(&src).unwrap();
    let payments = p.building_block("payments").unwrap();
    let im = p.building_block("im").unwrap();
    assert_eq!(
        payments.registries[0].kind,
        Kind::Ecr {
            account: "419830066942".into(),
            region: "us-east-1".into()
        }
    );
    // The vendor's repositories in the vendor's account only.
    assert!(payments.owns_image(Some("419830066942"), "phee/connector"));
    assert!(!payments.owns_image(Some("999999999999"), "phee/connector"));
    assert!(!payments.owns_image(None, "phee/connector"));
    assert!(
        !payments.owns_repository("phee/connector"),
        "no push into a name of the vendor's"
    );
    // The organisation's cached copies (ghcr.io cached under `github`), in any account.
    assert!(payments.owns_image(Some("123456789012"), "github/mifos/ph-ee-operations-app"));
    assert!(!payments.owns_image(None, "github/mifosx/app"));
    assert!(
        !payments.owns_image(None, "github/mifos/a/b"),
        "`*` stays within a segment"
    );
    // Theirs, not anyone's: another building block may not run them; other cached images it may.
    assert!(
        p.refuse_image(im, None, "github/mifos/ph-ee-operations-app")
            .unwrap()
            .contains("payments's own")
    );
    assert_eq!(p.refuse_image(im, None, "github/other/app"), None);
    assert_eq!(
        p.refuse_image(payments, None, "github/mifos/ph-ee-operations-app"),
        None
    );
    // They name the building block of a release.
    let owner = p
        .select_for_release(None, &[(None, "github/mifos/x"), (Some("419830066942"), "phee/y")])
        .unwrap();
    assert_eq!(owner.name, "payments");

    let bad = format!(
        "{images}{BB}[[building_block.registries]]\nregistry = \"registry.example.org\"\nrepositories = [\"x/*\"]\n\
         [[building_block.registries]]\nregistry = \"ghcr.io\"\nrepositories = []\n\
         [[building_block.registries]]\nregistry = \"ghcr.io\"\nrepositories = [\"Mifos/*\"]\n"
    );
    let got = problems(&bad);
    assert_eq!(got.len(), 4, "{got:#?}");
    assert!(
        got[0].starts_with(
            "p.toml:8:12: [[building_block]] \"payments\": registry \"registry.example.org\" is neither an ECR registry"
        ),
        "{got:#?}"
    );
    assert!(got[1].contains("registry ghcr.io: repositories is empty"), "{got:#?}");
    assert!(got[2].contains("registry \"ghcr.io\" is listed twice"), "{got:#?}");
    assert!(
        got[3].contains("repository pattern \"Mifos/*\" is not a repository path"),
        "{got:#?}"
    );
    // The sandbox's own ECR, when named, is an ECR registry.
    let ecr = problems(&format!("[images]\necr = \"registry.example.org\"\n{BB}"));
    assert_eq!(ecr.len(), 1, "{ecr:?}");
    assert!(
        ecr[0].starts_with("p.toml:2:7: [images] ecr = \"registry.example.org\" is not an ECR registry"),
        "{ecr:?}"
    );
    let named = parse(&format!(
        "[images]\necr = \"123456789012.dkr.ecr.eu-central-1.amazonaws.com\"\n{BB}"
    ))
    .unwrap();
    assert_eq!(named.images.ecr.as_deref(), Some("123456789012"));
}

#[test]
fn namespace_names_follow_rfc_1123_labels() {
    for ok in ["a", "pay-hub", "a1", "1a", &"a".repeat(63)] {
        assert!(is_dns_label(ok), "{ok}");
    }
    for bad in ["", "A", "a.b", "-a", "a-", "a_b", "ä", &"a".repeat(64)] {
        assert!(!is_dns_label(bad), "{bad}");
    }
}

#[test]
fn repositories_are_matched_by_segment_and_by_grammar() {
    let p = parse(&format!(
        "{BB}[[building_block]]\nname = \"im\"\nnamespace = \"im\"\nrepositories = [\"bb/im/**\", \"shared/x\"]\n"
    ))
    .unwrap();
    let payments = p.building_block("payments").unwrap();
    let im = p.building_block("im").unwrap();
    assert!(payments.owns_repository("bb/payments/api"));
    assert!(!payments.owns_repository("bb/payments/api/v2"));
    assert!(im.owns_repository("bb/im/a/b/c"));
    assert!(im.owns_repository("shared/x"));
    assert!(!im.owns_repository("shared/xy"));
    assert!(!im.owns_repository("bb/im/../payments/api"), "not a repository name");
    assert!(!im.owns_repository("bb/im/UPPER"), "not a repository name");
    assert_eq!(payments.refuse_foreign("bb/payments/api"), None);
    assert_eq!(
        im.refuse_foreign("bb/payments/api").as_deref(),
        Some(
            "repository bb/payments/api is not one of building block im's repositories (bb/im/**, shared/x): a \
             building block is judged on its own images only"
        )
    );
    assert_eq!(p.select_building_block(None, "bb/im/a").unwrap().name, "im");
    assert_eq!(
        p.select_building_block(Some("payments"), "bb/im/a").unwrap().name,
        "payments"
    );
    assert_eq!(
        p.select_building_block(Some("usct"), "bb/im/a")
            .unwrap_err()
            .to_string(),
        "--building-block \"usct\" is not in the policy (p.toml); known: payments, im"
    );
    assert_eq!(
        p.select_building_block(None, "bb/usct/a").unwrap_err().to_string(),
        "no building block in the policy (p.toml) owns repository \"bb/usct/a\": pass --building-block NAME, or add \
         the repository to that building block's `repositories` (or, for a registry of its own, its \
         [[building_block.registries]])"
    );
    let both = parse(&format!(
        "{BB}[[building_block]]\nname = \"all\"\nnamespace = \"all\"\nrepositories = [\"bb/**\"]\n"
    ))
    .unwrap();
    assert_eq!(
        both.select_building_block(None, "bb/payments/api")
            .unwrap_err()
            .to_string(),
        "repository \"bb/payments/api\" is owned by several building blocks (payments, all): pass --building-block NAME"
    );
}

#[test]
fn pins_are_sha256_as_admins_write_them() {
    let hex = "ab".repeat(32);
    assert_eq!(parse_sha256(&hex).as_deref(), Some(hex.as_str()));
    assert_eq!(
        parse_sha256(&format!("sha256:{}", hex.to_uppercase())).as_deref(),
        Some(hex.as_str())
    );
    for bad in [
        &hex[..63],
        &format!("{hex}0"),
        &format!("sha512:{hex}"),
        &"zz".repeat(32),
        "",
    ] {
        assert_eq!(parse_sha256(bad), None, "{bad}");
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn a_pinned_policy_must_be_the_pinned_file_and_pin_its_rego() {
    let dir = tempfile::tempdir().unwrap();
    let rego = "package main\ndeny contains msg if { false; msg := \"x\" }\n";
    write(dir.path(), "extra.rego", rego);
    let rego_sha = bbgate_core::policy::sha256_hex(rego.as_bytes());
    let src = format!(
        "[deploy]\nrego = [{{ path = \"extra.rego\", sha256 = \"{}\" }}]\n{BB}",
        rego_sha.to_uppercase()
    );
    let path = write(dir.path(), "policy.toml", &src);
    let sha = bbgate_core::policy::sha256_hex(src.as_bytes());

    let p = Policy::load(Some(&path), Some(&format!("  sha256:{sha}\n"))).unwrap();
    assert_eq!(p.origin.sha256, sha);
    assert_eq!(p.deploy.rego.len(), 1);
    assert_eq!(p.deploy.rego[0].source, rego);
    assert_eq!(
        p.deploy.rego[0].path,
        dir.path().join("extra.rego").display().to_string()
    );
    assert!(p.deploy.rego_problems.is_empty());
    // An empty pin is no pin.
    assert!(Policy::load(Some(&path), Some("  ")).is_ok());

    let other = "0".repeat(64);
    let err = Policy::load(Some(&path), Some(&other)).unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert_eq!(
        err.to_string(),
        format!(
            "policy {} has sha256 {sha}, but BBGATE_POLICY_SHA256 pins {other}: this is not the admins' policy; use \
             the pinned policy file (or, if the admins changed the policy, update BBGATE_POLICY_SHA256 in their context)",
            path.display()
        )
    );
    assert_eq!(
        Policy::load(Some(&path), Some("nope")).unwrap_err().to_string(),
        "BBGATE_POLICY_SHA256=\"nope\" is not a sha256 (64 hex digits): set it to the output of `sha256sum POLICY` or \
         of `bbgate policy check`"
    );
    // The built-in policy can be pinned too.
    let builtin_sha = bbgate_core::policy::sha256_hex(BUILTIN.as_bytes());
    assert_eq!(
        Policy::load(None, Some(&builtin_sha)).unwrap().origin.location,
        "built-in"
    );
    assert!(Policy::load(None, Some(&other)).is_err());

    // Altered rules under a pinned policy are a problem of the policy, at the entry.
    write(dir.path(), "extra.rego", "package main\n");
    let p = Policy::load(Some(&path), Some(&sha)).unwrap();
    assert!(p.deploy.rego.is_empty());
    assert_eq!(
        p.deploy.rego_problems,
        [format!(
            "{}:2:9: [deploy] rego: {} has sha256 {}, but the policy pins {rego_sha}: restore the admins' file",
            path.display(),
            dir.path().join("extra.rego").display(),
            bbgate_core::policy::sha256_hex(b"package main\n")
        )]
    );

    // An unpinned module is fine unpinned, and refused under a pin.
    let loose = format!("[deploy]\nrego = [\"extra.rego\"]\n{BB}");
    let loose_path = write(dir.path(), "loose.toml", &loose);
    assert!(
        Policy::load(Some(&loose_path), None)
            .unwrap()
            .deploy
            .rego_problems
            .is_empty()
    );
    let loose_sha = bbgate_core::policy::sha256_hex(loose.as_bytes());
    let p = Policy::load(Some(&loose_path), Some(&loose_sha)).unwrap();
    assert_eq!(
        p.deploy.rego_problems,
        [format!(
            "{}:2:9: [deploy] rego: \"extra.rego\" is not pinned, and the policy is (BBGATE_POLICY_SHA256): write it \
             as {{ path = \"extra.rego\", sha256 = \"{}\" }} so the pin covers the rules too",
            loose_path.display(),
            bbgate_core::policy::sha256_hex(b"package main\n")
        )]
    );
    // A missing module says where the rules must be.
    let missing = write(
        dir.path(),
        "missing.toml",
        &format!("[deploy]\nrego = [\"nowhere.rego\"]\n{BB}"),
    );
    let p = Policy::load(Some(&missing), None).unwrap();
    assert_eq!(p.deploy.rego_problems.len(), 1);
    assert!(
        p.deploy.rego_problems[0].ends_with("(keep the .rego files beside the policy)"),
        "{:?}",
        p.deploy.rego_problems
    );
    assert!(
        p.deploy.rego_problems[0].contains("nowhere.rego: cannot read"),
        "{:?}",
        p.deploy.rego_problems
    );
}

#[test]
fn a_policy_files_own_deploy_rego_is_read_from_beside_it() {
    // Only the built-in policy's `deploy.rego` is the built-in copy; a file policy's is its own file.
    let dir = tempfile::tempdir().unwrap();
    let own = "package main\n# the admins' own rules\n";
    write(dir.path(), "deploy.rego", own);
    let path = write(
        dir.path(),
        "policy.toml",
        &format!("[deploy]\nrego = [\"deploy.rego\"]\n{BB}"),
    );
    let p = Policy::load(Some(&path), None).unwrap();
    assert_eq!(p.deploy.rego[0].source, own);
}

#[test]
fn the_builtin_policy_judges_with_the_shipped_rules() {
    let p = Policy::load(None, None).unwrap();
    assert_eq!(p.origin.location, "built-in");
    assert_eq!(p.origin.sha256, bbgate_core::policy::sha256_hex(BUILTIN.as_bytes()));
    assert_eq!(p.deploy.rego.len(), 1);
    assert_eq!(p.deploy.rego[0].source, bbgate_core::policy::BUILTIN_REGO);
}

#[test]
fn days_between_counts_calendar_days() {
    let d = |s: &str| s.parse::<jiff::civil::Date>().unwrap();
    assert_eq!(days_between(d("2026-11-28"), d("2026-11-28")), 0);
    assert_eq!(days_between(d("2026-11-28"), d("2026-12-28")), 30);
    assert_eq!(days_between(d("2026-12-28"), d("2026-11-28")), -30);
    assert_eq!(days_between(d("2024-02-28"), d("2024-03-01")), 2);
}

// ---- sign-off files ----

fn signoff_policy() -> Policy {
    parse(&format!(
        "[signoffs]\napprovers = [\"ana\"]\nmax_validity_days = 30\n{BB}"
    ))
    .unwrap()
}

fn signoffs(src: &str) -> Result<Vec<SignOff>, Error> {
    signoff::parse(Path::new("s.toml"), src, &signoff_policy())
}

const GOOD: &str = "[[signoff]]\nid = \"CVE-2026-1\"\nbuilding_block = \"payments\"\nanalysis = \"not reachable\"\n\
                    mitigation = \"no such path\"\napproved_by = \"ana\"\napproved_on = 2026-11-01\nexpires = \"2026-12-01\"\n";

#[test]
fn a_signoff_is_read_with_its_location() {
    let s = signoffs(&format!("# header\n{GOOD}[[signoff]]\nid = \"CVE-2\"\nbuilding_block = \"payments\"\npackage = \"openssl\"\ndigest = \"sha256:{}\"\nanalysis = \"a\"\nmitigation = \"m\"\napproved_by = \"ana\"\napproved_on = 2026-11-01\nexpires = 2026-11-01\n", "c".repeat(64))).unwrap();
    assert_eq!(s.len(), 2);
    assert_eq!(
        s[0],
        SignOff {
            id: "CVE-2026-1".into(),
            building_block: "payments".into(),
            package: None,
            repository: None,
            digest: None,
            analysis: "not reachable".into(),
            mitigation: "no such path".into(),
            approved_by: "ana".into(),
            approved_on: "2026-11-01".parse().unwrap(),
            expires: "2026-12-01".parse().unwrap(),
            location: "s.toml:2".into(),
        }
    );
    assert_eq!(s[1].location, "s.toml:10");
    assert_eq!(s[1].package.as_deref(), Some("openssl"));
    assert_eq!(s[1].digest, Some(format!("sha256:{}", "c".repeat(64))));
    assert_eq!(s[1].expires, s[1].approved_on, "valid for one day");
    assert!(signoffs("").unwrap().is_empty());
}

#[test]
fn each_bad_signoff_field_is_refused_at_its_place() {
    let field = |key: &str, value: &str| {
        let mut lines: Vec<String> = GOOD.lines().map(str::to_owned).collect();
        match lines.iter().position(|l| l.starts_with(&format!("{key} ="))) {
            Some(i) if value.is_empty() => {
                lines.remove(i);
            }
            Some(i) => lines[i] = format!("{key} = {value}"),
            None => lines.push(format!("{key} = {value}")),
        }
        lines.join("\n") + "\n"
    };
    let cases: Vec<(String, String)> = vec![
        (field("id", ""), "s.toml:1:1: sign-off has no `id`: it is required".into()),
        (field("id", "\"  \""), "s.toml:2:6: sign-off `id` is empty: it is required and must say something".into()),
        (
            field("id", "\"CVE 1\""),
            "s.toml:2:6: sign-off id \"CVE 1\" contains white space: use the vulnerability id, e.g. CVE-2026-10004".into(),
        ),
        (
            field("building_block", "\"usct\""),
            "s.toml:3:18: sign-off CVE-2026-1: building_block \"usct\" is not in the policy (p.toml); known: payments".into(),
        ),
        (field("analysis", "\"\""), "s.toml:4:12: sign-off `analysis` is empty: it is required and must say something".into()),
        (field("mitigation", ""), "s.toml:1:1: sign-off has no `mitigation`: it is required".into()),
        (
            field("approved_by", "\"eve\""),
            "s.toml:6:15: sign-off CVE-2026-1: approved_by \"eve\" is not an approver in the policy's [signoffs] approvers (ana)".into(),
        ),
        (
            field("package", "\" \""),
            "s.toml:9:11: sign-off `package` is empty: remove it to cover every package, or name one".into(),
        ),
        (
            field("digest", "\"sha256:abc\""),
            "s.toml:9:10: sign-off digest \"sha256:abc\" is not sha256:<64 hex digits>".into(),
        ),
        (
            field("approved_on", ""),
            "s.toml:1:1: sign-off has no `approved_on`: it is required (a date like 2026-11-20)".into(),
        ),
        (
            field("expires", "2026-12-01T00:00:00Z"),
            "s.toml:8:11: sign-off `expires` must be a date like 2026-11-20, not 2026-12-01T00:00:00Z".into(),
        ),
        (
            field("expires", "2026-12-01T10:00:00"),
            "s.toml:8:11: sign-off `expires` must be a date like 2026-11-20, not 2026-12-01T10:00:00".into(),
        ),
        (
            field("expires", "\"next week\""),
            "s.toml:8:11: sign-off `expires` must be a date like 2026-11-20, not \"next week\"".into(),
        ),
        (field("expires", "20261201"), "s.toml:8:11: sign-off `expires` must be a date like 2026-11-20, not 20261201".into()),
        (
            field("expires", "2026-10-31"),
            "s.toml:1:1: sign-off CVE-2026-1: expires 2026-10-31 is before approved_on 2026-11-01".into(),
        ),
        (
            field("expires", "2026-12-02"),
            "s.toml:1:1: sign-off CVE-2026-1: valid for 31 days (2026-11-01 to 2026-12-02), more than [signoffs] max_validity_days = 30".into(),
        ),
    ];
    for (src, expected) in cases {
        match signoffs(&src) {
            Err(Error::Invalid(p)) => assert_eq!(p, std::slice::from_ref(&expected), "{src}"),
            other => panic!("{src}\n{other:?}"),
        }
    }
    // Exactly the longest validity is fine.
    assert!(signoffs(&field("expires", "2026-12-01")).is_ok());
    // No approvers in the policy: nobody can approve.
    let none = parse(BB).unwrap();
    let err = signoff::parse(Path::new("s.toml"), GOOD, &none)
        .unwrap_err()
        .to_string();
    assert!(err.ends_with("approvers (none are listed)"), "{err}");
    // Unknown keys are typos, refused where they are.
    let typo = signoffs(&format!("{GOOD}expirs = 2026-12-01\n"))
        .unwrap_err()
        .to_string();
    assert!(typo.starts_with("s.toml:9:1: unknown field `expirs`"), "{typo}");
}

#[test]
fn the_same_signoff_twice_is_ambiguous_across_files() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.toml", GOOD);
    let b = write(dir.path(), "b.toml", &format!("\n{GOOD}"));
    let policy = signoff_policy();
    let files = signoff::load_files(std::slice::from_ref(&a), &policy).unwrap();
    assert_eq!(files[0].sha256, bbgate_core::policy::sha256_hex(GOOD.as_bytes()));
    assert_eq!(files[0].path, a);
    let err = signoff::load_files(&[a.clone(), b.clone()], &policy).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}:2: sign-off CVE-2026-1 for payments duplicates the one at {}:1: keep one",
            b.display(),
            a.display()
        )
    );
    // Scoped differently, they are two sign-offs.
    let c = write(
        dir.path(),
        "c.toml",
        &GOOD.replace("approved_by", "package = \"zlib\"\napproved_by"),
    );
    assert_eq!(signoff::load_files(&[a, c], &policy).unwrap().len(), 2);
    // Every file's problems at once.
    let bad1 = write(dir.path(), "bad1.toml", "[[signoff]]\napproved_by = \"a@b\"\n");
    let bad2 = write(dir.path(), "bad2.toml", "x = 1\n");
    let Err(Error::Invalid(p)) = signoff::load_files(&[bad1, bad2], &policy) else {
        panic!()
    };
    assert!(p.len() > 2, "{p:?}");
    assert!(p.iter().any(|m| m.contains("bad2.toml")), "{p:?}");
    // Requests (`signoffs request` stubs: no approver, no dates) are one line each, saying what is left to do.
    let stubs = write(
        dir.path(),
        "requested.toml",
        "[[signoff]]\nid = \"CVE-1\"\nbuilding_block = \"payments\"\nanalysis = \"\"\nmitigation = \"\"\n\n\
         [[signoff]]\nid = \"CVE-2\"\nbuilding_block = \"payments\"\nanalysis = \"not reachable\"\nmitigation = \"\"\n\n\
         [[signoff]]\nid = \"CVE-3\"\nbuilding_block = \"payments\"\nanalysis = \"a\"\nmitigation = \"m\"\n",
    );
    let Err(Error::Invalid(p)) = signoff::load_files(&[stubs], &policy) else {
        panic!()
    };
    assert_eq!(p.len(), 3, "{p:#?}");
    assert!(
        p[0].contains("requested.toml:1:1: CVE-1 is a sign-off request")
            && p[0].contains("fill in analysis and mitigation first"),
        "{p:#?}"
    );
    assert!(p[1].contains("fill in mitigation first"), "{p:#?}");
    assert!(
        p[2].contains("CVE-3 is a sign-off request")
            && p[2].contains("approves it with `bbgate signoffs approve`")
            && !p[2].contains("fill in"),
        "{p:#?}"
    );
}

#[test]
fn pull_through_prefixes_are_checked_and_name_cached_repositories() {
    let p = |table: &str| {
        Policy::parse(
            Path::new("p.toml"),
            &format!(
                "[images]\npull_through = {table}\n[[building_block]]\nname = \"p\"\nnamespace = \"p\"\nrepositories = [\"bb/p/*\"]\n"
            ),
            "p.toml".into(),
        )
    };
    let ok = p("{ \"docker.io\" = \"docker-hub\", \"quay.io\" = \"quay\", \"localhost:5000\" = \"local\" }").unwrap();
    assert_eq!(
        ok.images.cache_prefix("docker-hub/library/postgres"),
        Some("docker-hub")
    );
    assert_eq!(ok.images.cache_prefix("quay/minio/minio"), Some("quay"));
    assert_eq!(ok.images.cache_prefix("docker-hubx/library/postgres"), None);
    assert_eq!(ok.images.cache_prefix("docker-hub"), None);
    for (table, says) in [
        ("{ \"Docker.IO\" = \"docker-hub\" }", "not a registry host"),
        ("{ \"docker\" = \"docker-hub\" }", "not a registry host"),
        ("{ \"docker.io\" = \"Docker_Hub/\" }", "not an ECR repository prefix"),
        ("{ \"docker.io\" = \"hub\", \"quay.io\" = \"hub/quay\" }", "overlaps"),
    ] {
        let e = p(table).unwrap_err().to_string();
        assert!(e.contains(says) && e.contains("p.toml:2"), "{table}: {e}");
    }
    // The shipped policy maps Docker Hub, so a chart's `postgres:16` has somewhere to come from.
    let builtin = Policy::load(None, None).unwrap();
    assert_eq!(
        builtin.images.pull_through.get("docker.io").map(String::as_str),
        Some("docker-hub")
    );
}

#[test]
fn a_signoff_may_be_scoped_to_an_image_repository_and_a_bad_one_is_named() {
    let scoped = GOOD.replace(
        "building_block = \"payments\"\n",
        "building_block = \"payments\"\nrepository = \"docker-hub/library/postgres\"\n",
    );
    let s = signoffs(&scoped).unwrap();
    assert_eq!(s[0].repository.as_deref(), Some("docker-hub/library/postgres"));
    let bad = GOOD.replace(
        "building_block = \"payments\"\n",
        "building_block = \"payments\"\nrepository = \"Docker Hub/postgres\"\n",
    );
    let e = signoffs(&bad).unwrap_err().to_string();
    assert!(
        e.contains("s.toml:4:14") && e.contains("repository \"Docker Hub/postgres\" is not an ECR repository name"),
        "{e}"
    );
    // The same entry scoped to two repositories is two sign-offs, not a duplicate.
    let other = scoped.replace("docker-hub/library/postgres", "docker-hub/library/redis");
    let files = [("a.toml", scoped.as_str()), ("b.toml", other.as_str())];
    let dir = std::env::temp_dir().join(format!("bbgate-scope-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let paths: Vec<std::path::PathBuf> = files
        .iter()
        .map(|(n, src)| {
            let p = dir.join(n);
            std::fs::write(&p, src).unwrap();
            p
        })
        .collect();
    assert_eq!(signoff::load_files(&paths, &signoff_policy()).unwrap().len(), 2);
    std::fs::remove_dir_all(&dir).unwrap();
}
