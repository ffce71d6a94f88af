//! What deploy seals before helm runs: nothing that decides comes from the job's environment (variables that
//! redirect bbgate's clients or helm are refused), the helm binary is the one the admins pinned by sha256, helm
//! reaches the cluster through a kubeconfig bbgate wrote into the room, and what helm installs is a chart bbgate
//! writes from the render it judged (every document as JSON, so helm renders nothing again).

use super::room::Room;
use crate::error::{Error, Result};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// Variables that redirect where bbgate's AWS and Kubernetes clients, or helm, connect, or whom they trust.
/// A BB team sets CircleCI project variables, which every job of its project gets, the deploy job included.
const REDIRECTS: &[&str] = &[
    "AWS_ENDPOINT_URL",
    "AWS_CA_BUNDLE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "KUBECONFIG",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "HELM_KUBEAPISERVER",
    "HELM_KUBETOKEN",
    "HELM_KUBECAFILE",
    "HELM_KUBEINSECURE_SKIP_TLS_VERIFY",
    "HELM_KUBETLS_SERVER_NAME",
    "HELM_KUBECONTEXT",
    "HELM_KUBEASUSER",
    "HELM_KUBEASGROUPS",
    "HELM_NAMESPACE",
    "HELM_DRIVER",
    "HELM_PLUGINS",
    "HELM_POST_RENDERER",
    "HELM_REGISTRY_CONFIG",
    "HELM_REPOSITORY_CONFIG",
    "BBGATE_HELM",
];

/// Is `name` one of the variables deploy refuses (the list above, and every per-service AWS endpoint)?
fn redirects(name: &str) -> bool {
    REDIRECTS.contains(&name) || name.starts_with("AWS_ENDPOINT_URL_")
}

/// Refuse to start while the environment holds a variable that would redirect a client or helm, unless the
/// admins' job allows it by name (`--allow-env NAME`). Every such variable is named at once (exit 2).
pub(crate) fn refuse_redirects(vars: impl Iterator<Item = (String, String)>, allowed: &[String]) -> Result<()> {
    let mut found: Vec<String> = vars
        .filter(|(k, v)| !v.is_empty() && redirects(k) && !allowed.iter().any(|a| a == k))
        .map(|(k, _)| k)
        .collect();
    found.sort();
    if found.is_empty() {
        return Ok(());
    }
    Err(Error::Invalid(
        found
            .into_iter()
            .map(|k| {
                format!(
                    "{k} is set: it would choose where deploy's AWS, Kubernetes or helm connections go, and a BB team \
                     can set it as a CircleCI project variable; unset it in the deploy job, or, if the admins set it \
                     on purpose, pass --allow-env {k}"
                )
            })
            .collect(),
    ))
}

/// The helm binary deploy runs: the file the admins named, its sha256 equal to the pin from the restricted
/// context, copied into the room (0700) so that what runs is the file that was checked.
pub(crate) fn pinned_helm(room: &Room, path: &Path, pin: Option<&str>) -> Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let Some(pin) = pin.map(str::trim).filter(|p| !p.is_empty()) else {
        return Err(Error::invalid(format!(
            "deploy runs helm only at a sha256 the admins pinned: set BBGATE_HELM_SHA256 in the restricted deploy \
             context (or pass --helm-sha256) to the sha256 of {} (`sha256sum {}`)",
            path.display(),
            path.display()
        )));
    };
    let resolved = if path.components().count() == 1 {
        // A bare name is looked up in the system's directories, never the job's PATH.
        ["/usr/local/bin", "/usr/bin", "/bin"]
            .iter()
            .map(|d| Path::new(d).join(path))
            .find(|p| p.is_file())
            .ok_or_else(|| {
                Error::invalid(format!(
                    "--helm {}: not in /usr/local/bin, /usr/bin or /bin: give the path of the helm the admins installed",
                    path.display()
                ))
            })?
    } else {
        path.to_owned()
    };
    let bytes = crate::input::read(&resolved, crate::input::TOOL)?;
    let got = crate::policy::sha256_hex(&bytes);
    if !got.eq_ignore_ascii_case(pin.trim_start_matches("sha256:")) {
        return Err(Error::invalid(format!(
            "--helm {}: its sha256 is {got}, not the pinned {pin} (BBGATE_HELM_SHA256): deploy runs only the helm \
             the admins installed",
            resolved.display()
        )));
    }
    let dir = room.path().join("bin");
    std::fs::create_dir_all(&dir).map_err(|e| Error::write(&dir, e))?;
    let copy = dir.join("helm");
    std::fs::write(&copy, &bytes).map_err(|e| Error::write(&copy, e))?;
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o700)).map_err(|e| Error::write(&copy, e))?;
    Ok(copy)
}

/// How helm reaches the cluster.
pub(crate) enum Access<'a> {
    /// The admins' kubeconfig, as kube read it: its current context, flattened (files inlined, no exec plugin).
    Kubeconfig(&'a kube::config::Kubeconfig),
    /// EKS: the endpoint and CA from DescribeCluster, and a bearer token bbgate signed.
    Eks {
        endpoint: &'a str,
        ca_pem: &'a [u8],
        token: &'a str,
    },
}

/// The kubeconfig helm uses, written into the room (0600), its bearer token in a file of its own (`tokenFile`,
/// which client-go reads again as it changes, so bbgate can renew an EKS token during a long install).
pub(crate) fn sealed_kubeconfig(room: &Room, access: Access) -> Result<PathBuf> {
    use base64::Engine;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let (cluster, user) = match access {
        Access::Eks {
            endpoint,
            ca_pem,
            token,
        } => {
            let token_file = room.write_private("token", token.as_bytes())?;
            let mut cluster = json!({ "server": endpoint });
            if endpoint.starts_with("https://") {
                cluster["certificate-authority-data"] = json!(b64(ca_pem));
            }
            (cluster, json!({ "tokenFile": token_file }))
        }
        Access::Kubeconfig(kc) => flatten_kubeconfig(room, kc)?,
    };
    let doc = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{ "name": "sealed", "cluster": cluster }],
        "users": [{ "name": "sealed", "user": user }],
        "contexts": [{ "name": "sealed", "context": { "cluster": "sealed", "user": "sealed" } }],
        "current-context": "sealed",
    });
    room.write_private("kubeconfig", doc.to_string().as_bytes())
}

/// Renew the EKS token helm reads (a token lives 15 minutes; client-go rereads `tokenFile`).
pub(crate) fn renew_token(room: &Room, token: &str) -> Result<()> {
    room.write_private("token", token.as_bytes()).map(|_| ())
}

/// The admins' kubeconfig reduced to what helm needs: the current context's cluster and user, every file it
/// names read and inlined (helm runs in the room, where no path of the job's means anything). An exec plugin
/// or auth provider would run with helm's sealed environment and fail, so it is refused with what to use.
fn flatten_kubeconfig(room: &Room, kc: &kube::config::Kubeconfig) -> Result<(Value, Value)> {
    use base64::Engine;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let context_name = kc
        .current_context
        .clone()
        .or_else(|| (kc.contexts.len() == 1).then(|| kc.contexts[0].name.clone()))
        .ok_or_else(|| Error::invalid("the kubeconfig has no current-context"))?;
    let ctx = kc
        .contexts
        .iter()
        .find(|c| c.name == context_name)
        .and_then(|c| c.context.clone())
        .ok_or_else(|| Error::invalid(format!("the kubeconfig's context {context_name:?} is not defined")))?;
    let cluster = kc
        .clusters
        .iter()
        .find(|c| c.name == ctx.cluster)
        .and_then(|c| c.cluster.clone())
        .ok_or_else(|| Error::invalid(format!("the kubeconfig's cluster {:?} is not defined", ctx.cluster)))?;
    let user_name = ctx.user.clone().unwrap_or_default();
    let user = kc
        .auth_infos
        .iter()
        .find(|u| u.name == user_name)
        .and_then(|u| u.auth_info.clone())
        .unwrap_or_default();
    // kube made every file path absolute when it read the kubeconfig.
    let read = |p: &str| -> Result<Vec<u8>> {
        crate::input::read(Path::new(p), crate::input::KEY).map_err(|e| e.within("the kubeconfig"))
    };
    let mut c = json!({ "server": cluster.server.clone().unwrap_or_default() });
    if let Some(d) = &cluster.certificate_authority_data {
        c["certificate-authority-data"] = json!(d);
    } else if let Some(f) = &cluster.certificate_authority {
        c["certificate-authority-data"] = json!(b64(&read(f)?));
    }
    if let Some(v) = cluster.insecure_skip_tls_verify {
        c["insecure-skip-tls-verify"] = json!(v);
    }
    if let Some(v) = &cluster.tls_server_name {
        c["tls-server-name"] = json!(v);
    }
    if let Some(v) = &cluster.proxy_url {
        c["proxy-url"] = json!(v);
    }
    if user.exec.is_some() || user.auth_provider.is_some() {
        return Err(Error::invalid(format!(
            "the kubeconfig's user {user_name:?} authenticates through an exec plugin or auth provider, which would \
             run without the job's environment in helm's sealed room: use --eks-cluster NAME (bbgate signs the EKS \
             token), or a kubeconfig with a token or a client certificate"
        )));
    }
    use secrecy::ExposeSecret;
    let mut u = json!({});
    let token = match (&user.token, &user.token_file) {
        (Some(t), _) => Some(t.expose_secret().as_bytes().to_vec()),
        (None, Some(f)) => Some(read(f)?),
        (None, None) => None,
    };
    if let Some(t) = token {
        u["tokenFile"] = json!(room.write_private("token", &t)?);
    }
    if let Some(d) = &user.client_certificate_data {
        u["client-certificate-data"] = json!(d);
    } else if let Some(f) = &user.client_certificate {
        u["client-certificate-data"] = json!(b64(&read(f)?));
    }
    if let Some(d) = &user.client_key_data {
        u["client-key-data"] = json!(d.expose_secret());
    } else if let Some(f) = &user.client_key {
        u["client-key-data"] = json!(b64(&read(f)?));
    }
    if let (Some(n), Some(p)) = (&user.username, &user.password) {
        u["username"] = json!(n);
        u["password"] = json!(p.expose_secret());
    }
    Ok((c, u))
}

/// The chart helm installs: bbgate's own, written from the render it judged. Its Chart.yaml carries the
/// judged chart's name and versions (so `helm list` and `helm history` read as before); each template is
/// `{{ .Files.Get "judged/N.json" }}` and each file one judged document as JSON, so helm renders exactly those
/// bytes again, hooks included (helm 3 runs no post-renderer on hooks), and nothing of the chart's templates,
/// `lookup`, random or time functions is evaluated a second time.
pub(crate) fn judged_chart(room: &Room, meta: &ChartMeta, documents: &[Value]) -> Result<PathBuf> {
    let dir = room.path().join("judged-chart").join(&meta.name);
    let templates = dir.join("templates");
    let judged = dir.join("judged");
    for d in [&templates, &judged] {
        std::fs::create_dir_all(d).map_err(|e| Error::write(d, e))?;
    }
    let mut chart = json!({
        "apiVersion": "v2",
        "name": meta.name,
        "version": meta.version,
        "description": "the render bbgate judged, installed as judged",
        "type": "application",
    });
    if let Some(app) = &meta.app_version {
        chart["appVersion"] = json!(app);
    }
    let write = |p: PathBuf, bytes: &[u8]| std::fs::write(&p, bytes).map_err(|e| Error::write(&p, e));
    write(dir.join("Chart.yaml"), chart.to_string().as_bytes())?;
    for (i, doc) in documents.iter().enumerate() {
        write(judged.join(format!("{i:05}.json")), doc.to_string().as_bytes())?;
        write(
            templates.join(format!("{i:05}.yaml")),
            format!("{{{{ .Files.Get \"judged/{i:05}.json\" }}}}\n").as_bytes(),
        )?;
    }
    Ok(dir)
}

/// A chart's name and versions, from its Chart.yaml.
#[derive(Debug, Clone)]
pub(crate) struct ChartMeta {
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) app_version: Option<String>,
}

impl ChartMeta {
    /// Read from the chart's Chart.yaml: a name and a version (strings) are required; appVersion, often
    /// written as a number, is kept as written.
    pub(crate) fn read(chart: &Path) -> Result<ChartMeta> {
        let path = chart.join("Chart.yaml");
        let text = crate::input::read_text(&path, crate::input::CHART_FILE).map_err(|_| {
            Error::invalid(format!(
                "--chart {}: no Chart.yaml there: give the chart's directory",
                chart.display()
            ))
        })?;
        let v: Value = yaml_serde::from_str(&text)
            .map_err(|e| Error::invalid(format!("{}: not a Chart.yaml: {e}", path.display())))?;
        let field = |k: &str| v[k].as_str().map(str::to_owned).filter(|s| !s.is_empty());
        let app_version = match &v["appVersion"] {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        };
        match (field("name"), field("version")) {
            (Some(name), Some(version)) => Ok(ChartMeta {
                name,
                version,
                app_version,
            }),
            _ => Err(Error::invalid(format!(
                "{}: needs a name and a version",
                path.display()
            ))),
        }
    }
}

/// Where a chart's templates call `lookup` (which reads the cluster as the deploy identity sees it), as
/// `FILE:LINE`: the chart's own templates and those of every dependency, vendored directories and `.tgz`
/// archives alike.
pub(crate) fn lookups(chart: &Path) -> Result<Vec<String>> {
    let mut found = Vec::new();
    scan_dir(chart, chart, &mut found)?;
    found.sort();
    Ok(found)
}

fn scan_dir(root: &Path, dir: &Path, found: &mut Vec<String>) -> Result<()> {
    for path in super::room::sorted_entries(dir)? {
        let rel = path.strip_prefix(root).unwrap_or(&path).display().to_string();
        if path.is_dir() {
            scan_dir(root, &path, found)?;
        } else if rel.ends_with(".tgz") {
            let bytes = crate::input::read(&path, crate::input::CHART_FILE)?;
            let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes.as_slice()));
            let entries = archive
                .entries()
                .map_err(|e| Error::invalid(format!("{rel}: not a chart archive: {e}")))?;
            for entry in entries {
                let mut entry = entry.map_err(|e| Error::invalid(format!("{rel}: not a chart archive: {e}")))?;
                let name = entry.path().map(|p| p.display().to_string()).unwrap_or_default();
                if is_template(&name) {
                    let label = format!("{rel}:{name}");
                    let text = crate::input::read_stream(&mut entry, &label, crate::input::CHART_FILE)?;
                    scan_text(&label, &String::from_utf8_lossy(&text), found);
                }
            }
        } else if is_template(&rel) {
            let text = crate::input::read(&path, crate::input::CHART_FILE)?;
            scan_text(&rel, &String::from_utf8_lossy(&text), found);
        }
    }
    Ok(())
}

/// A file helm renders: anything under a `templates/` directory.
fn is_template(path: &str) -> bool {
    path.split('/').any(|c| c == "templates")
}

/// `lookup` called as a function inside a template action (`{{ lookup …`, `(lookup …`, `| lookup`), not a
/// field or variable of that name.
fn scan_text(label: &str, text: &str, found: &mut Vec<String>) {
    let mut in_action = false;
    let bytes = text.as_bytes();
    let mut line = 1;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\n' {
            line += 1;
        }
        if text[i..].starts_with("{{") {
            in_action = true;
            i += 2;
            continue;
        }
        if text[i..].starts_with("}}") {
            in_action = false;
            i += 2;
            continue;
        }
        if in_action && text[i..].starts_with("lookup") {
            let before = i.checked_sub(1).map(|j| bytes[j]);
            let after = bytes.get(i + 6).copied();
            let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'$';
            if before.is_none_or(|b| !ident(b)) && after.is_none_or(|b| !(b.is_ascii_alphanumeric() || b == b'_')) {
                found.push(format!("{label}:{line}"));
            }
        }
        i += text[i..].chars().next().map_or(1, char::len_utf8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirecting_variables_are_named_unless_allowed() {
        let vars = [
            ("AWS_ENDPOINT_URL_ECR", "http://bb.example"),
            ("HELM_KUBEAPISERVER", "https://bb.example"),
            ("BBGATE_HELM", "/tmp/evil"),
            ("AWS_REGION", "eu-central-1"),
            ("HTTPS_PROXY", ""),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let e = refuse_redirects(vars.clone().into_iter(), &[]).unwrap_err().to_string();
        for k in ["AWS_ENDPOINT_URL_ECR", "HELM_KUBEAPISERVER", "BBGATE_HELM"] {
            assert!(e.contains(k), "{e}");
        }
        assert!(!e.contains("AWS_REGION") && !e.contains("HTTPS_PROXY"), "{e}");
        let allowed: Vec<String> = ["AWS_ENDPOINT_URL_ECR", "HELM_KUBEAPISERVER", "BBGATE_HELM"]
            .map(str::to_owned)
            .to_vec();
        assert!(refuse_redirects(vars.into_iter(), &allowed).is_ok());
    }

    #[test]
    fn helms_kubeconfig_holds_no_token_and_only_its_owner_reads_it_or_the_token() {
        use std::os::unix::fs::PermissionsExt;
        let room = Room::new().unwrap();
        let path = sealed_kubeconfig(
            &room,
            Access::Eks {
                endpoint: "https://ABC.gr7.eu-central-1.eks.amazonaws.com",
                ca_pem: b"PEM",
                token: "k8s-aws-v1.secret-token",
            },
        )
        .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("secret-token"), "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        let token_file = v["users"][0]["user"]["tokenFile"].as_str().unwrap();
        assert_eq!(std::fs::read_to_string(token_file).unwrap(), "k8s-aws-v1.secret-token");
        assert_eq!(v["clusters"][0]["cluster"]["certificate-authority-data"], "UEVN");
        for f in [path.as_path(), Path::new(token_file)] {
            let mode = std::fs::metadata(f).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}: {mode:o}", f.display());
        }
        // Removed with the room.
        let dir = room.path().to_owned();
        drop(room);
        assert!(!dir.exists());
    }

    #[test]
    fn lookup_calls_are_found_and_fields_of_that_name_are_not() {
        let mut found = Vec::new();
        scan_text(
            "t.yaml",
            "a: {{ .Values.lookup }}\nb: {{ $lookup }}\nc: lookup outside\nd: {{ (lookup \"v1\" \"Secret\" \"ns\" \"x\").data }}\ne: {{- lookup \"v1\" \"ConfigMap\" \"\" \"\" | toYaml }}\n",
            &mut found,
        );
        assert_eq!(found, ["t.yaml:4", "t.yaml:5"]);
    }
}
