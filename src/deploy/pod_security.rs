//! The Pod Security Standards (Kubernetes' `baseline` and `restricted` profiles, as the PodSecurity admission
//! plugin enforces them, "latest" version) applied to a pod template before anything reaches the cluster: a
//! namespace labelled `pod-security.kubernetes.io/enforce: restricted` refuses every pod that breaks one, so a
//! Deployment whose template does is accepted and then never runs. Only what the guard does not already refuse
//! on its own (host namespaces, privileged, hostPath, hostPort, Unconfined profiles, procMount) is checked here.

use serde_json::Value;

/// Capabilities `baseline` lets a container add.
const BASELINE_CAPABILITIES: [&str; 13] = [
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// Sysctls `baseline` allows.
const SAFE_SYSCTLS: [&str; 10] = [
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
];

/// Volume types `restricted` allows.
const RESTRICTED_VOLUMES: [&str; 8] = [
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

/// SELinux types `baseline` allows (an empty type too).
const SELINUX_TYPES: [&str; 4] = [
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
];

fn containers(spec: &Value) -> impl Iterator<Item = &Value> {
    ["initContainers", "containers", "ephemeralContainers"]
        .into_iter()
        .flat_map(move |g| spec[g].as_array().into_iter().flatten())
}

fn cap(c: &Value) -> String {
    c.as_str().unwrap_or("").trim_start_matches("CAP_").to_ascii_uppercase()
}

/// What a pod spec breaks of `level` (`baseline` or `restricted`; `privileged` and anything else: nothing), one
/// entry per rule and container, each saying what to set.
pub(crate) fn violations(level: &str, spec: &Value) -> Vec<String> {
    let restricted = match level {
        "restricted" => true,
        "baseline" => false,
        _ => return Vec::new(),
    };
    let mut out = Vec::new();
    let pod = &spec["securityContext"];
    baseline(spec, &mut out);
    if !restricted {
        return out;
    }
    for v in spec["volumes"].as_array().into_iter().flatten() {
        let kind = v
            .as_object()
            .into_iter()
            .flat_map(|o| o.keys())
            .find(|k| *k != "name")
            .map_or("(none)", String::as_str);
        if !RESTRICTED_VOLUMES.contains(&kind) && kind != "hostPath" {
            out.push(format!(
                "volume {:?} is of type {kind}; restricted allows {}",
                v["name"].as_str().unwrap_or(""),
                RESTRICTED_VOLUMES.join(", ")
            ));
        }
    }
    let pod_non_root = pod["runAsNonRoot"].as_bool();
    if pod_non_root == Some(false) {
        out.push("the pod sets runAsNonRoot: false; set it true".to_owned());
    }
    if pod["runAsUser"].as_i64() == Some(0) {
        out.push("the pod sets runAsUser: 0; run as a non-zero user".to_owned());
    }
    let pod_seccomp = pod["seccompProfile"]["type"].as_str();
    let good_seccomp = |t: Option<&str>| matches!(t, Some("RuntimeDefault" | "Localhost"));
    for c in containers(spec) {
        let who = format!("container {:?}", c["name"].as_str().unwrap_or("?"));
        let sc = &c["securityContext"];
        if sc["allowPrivilegeEscalation"].as_bool() != Some(false) {
            out.push(format!(
                "{who} must set securityContext.allowPrivilegeEscalation: false"
            ));
        }
        match (sc["runAsNonRoot"].as_bool(), pod_non_root) {
            (Some(false), _) => out.push(format!("{who} sets runAsNonRoot: false; set it true")),
            (None, None | Some(false)) => out.push(format!(
                "{who} must set runAsNonRoot: true (or the pod's securityContext must)"
            )),
            _ => {}
        }
        if sc["runAsUser"].as_i64() == Some(0) {
            out.push(format!("{who} sets runAsUser: 0; run as a non-zero user"));
        }
        let own = sc["seccompProfile"]["type"].as_str();
        if own.is_some() && !good_seccomp(own) || own.is_none() && !good_seccomp(pod_seccomp) {
            out.push(format!(
                "{who} must have seccompProfile.type RuntimeDefault or Localhost (its own or the pod's)"
            ));
        }
        let caps = &sc["capabilities"];
        if !caps["drop"].as_array().into_iter().flatten().any(|d| cap(d) == "ALL") {
            out.push(format!(
                "{who} must drop ALL capabilities (securityContext.capabilities.drop: [ALL])"
            ));
        }
        let added: Vec<String> = caps["add"]
            .as_array()
            .into_iter()
            .flatten()
            .map(cap)
            .filter(|c| c != "NET_BIND_SERVICE")
            .collect();
        if !added.is_empty() {
            out.push(format!(
                "{who} adds {}; restricted allows only NET_BIND_SERVICE",
                added.join(", ")
            ));
        }
    }
    out
}

/// `baseline`'s rules the guard does not hold on its own.
fn baseline(spec: &Value, out: &mut Vec<String>) {
    let pod = &spec["securityContext"];
    let mut contexts: Vec<(String, &Value)> = vec![("the pod".to_owned(), pod)];
    for c in containers(spec) {
        contexts.push((
            format!("container {:?}", c["name"].as_str().unwrap_or("?")),
            &c["securityContext"],
        ));
        let added: Vec<String> = c["securityContext"]["capabilities"]["add"]
            .as_array()
            .into_iter()
            .flatten()
            .map(cap)
            .filter(|c| !BASELINE_CAPABILITIES.contains(&c.as_str()))
            .collect();
        if !added.is_empty() {
            out.push(format!(
                "container {:?} adds {}, beyond what even baseline allows",
                c["name"].as_str().unwrap_or("?"),
                added.join(", ")
            ));
        }
    }
    for (who, sc) in contexts {
        if sc["windowsOptions"]["hostProcess"].as_bool() == Some(true) {
            out.push(format!("{who} sets windowsOptions.hostProcess: true"));
        }
        let se = &sc["seLinuxOptions"];
        let t = se["type"].as_str().unwrap_or("");
        if !t.is_empty() && !SELINUX_TYPES.contains(&t) {
            out.push(format!(
                "{who} sets seLinuxOptions.type {t:?}; baseline allows {}",
                SELINUX_TYPES.join(", ")
            ));
        }
        for field in ["user", "role"] {
            if se[field].as_str().is_some_and(|s| !s.is_empty()) {
                out.push(format!("{who} sets seLinuxOptions.{field}, which baseline forbids"));
            }
        }
    }
    for s in pod["sysctls"].as_array().into_iter().flatten() {
        let name = s["name"].as_str().unwrap_or("");
        if !SAFE_SYSCTLS.contains(&name) {
            out.push(format!(
                "the pod sets sysctl {name:?}, which is not one baseline allows"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::violations;
    use serde_json::json;

    #[test]
    fn restricted_and_baseline_as_the_admission_plugin_holds_them() {
        // A pod that meets restricted, with the pod-level settings containers inherit.
        let good = json!({
            "securityContext": {"runAsNonRoot": true, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "d"}}, {"name": "c", "configMap": {"name": "x"}}],
            "containers": [{"name": "app", "securityContext": {"allowPrivilegeEscalation": false,
                "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}}]
        });
        assert_eq!(violations("restricted", &good), Vec::<String>::new());
        // What a GovStack chart usually writes: a pod security context with a user, nothing per container.
        let usual = json!({"securityContext": {"runAsNonRoot": true, "runAsUser": 1000},
                           "containers": [{"name": "app"}], "initContainers": [{"name": "wait"}]});
        let v = violations("restricted", &usual);
        assert_eq!(v.len(), 6, "{v:?}");
        assert!(v.contains(&"container \"wait\" must set securityContext.allowPrivilegeEscalation: false".to_owned()));
        assert!(
            v.iter()
                .any(|p| p.starts_with("container \"app\" must have seccompProfile"))
        );
        assert!(v.iter().any(|p| p.starts_with("container \"app\" must drop ALL")));
        // Baseline holds none of that.
        assert_eq!(violations("baseline", &usual), Vec::<String>::new());
        assert_eq!(violations("privileged", &usual), Vec::<String>::new());
        // A container may not undo the pod's runAsNonRoot or seccomp, nor run as root.
        let undo = json!({"securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "a", "securityContext": {"runAsNonRoot": false, "runAsUser": 0,
                "seccompProfile": {"type": "Unconfined"}, "allowPrivilegeEscalation": false,
                "capabilities": {"drop": ["all"], "add": ["CAP_SYS_ADMIN"]}}}],
            "volumes": [{"name": "n", "nfs": {"server": "x", "path": "/"}}]});
        let v = violations("restricted", &undo);
        for want in [
            "volume \"n\" is of type nfs",
            "container \"a\" sets runAsNonRoot: false",
            "container \"a\" sets runAsUser: 0",
            "container \"a\" must have seccompProfile",
            "container \"a\" adds SYS_ADMIN; restricted",
            "container \"a\" adds SYS_ADMIN, beyond what even baseline",
        ] {
            assert!(v.iter().any(|p| p.starts_with(want)), "{want}: {v:?}");
        }
        assert!(
            !v.iter().any(|p| p.contains("drop ALL")),
            "drop is case-insensitive: {v:?}"
        );
        // Baseline's own: SELinux, sysctls, hostProcess.
        let b = json!({"securityContext": {"sysctls": [{"name": "kernel.msgmax", "value": "1"}, {"name": "net.ipv4.tcp_syncookies", "value": "1"}],
                       "seLinuxOptions": {"type": "spc_t"}},
                       "containers": [{"name": "w", "securityContext": {"windowsOptions": {"hostProcess": true}, "seLinuxOptions": {"user": "u"}}}]});
        let v = violations("baseline", &b);
        assert_eq!(v.len(), 4, "{v:?}");
    }
}
