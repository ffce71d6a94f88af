//! Rendered Helm output: the multi-document YAML of `helm template`, split into objects that remember the
//! template they came from (helm's `# Source:` comment), so every problem names its file.

use crate::error::{Error, Result};
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct Manifest {
    /// `payments-emulator/templates/deployment.yaml`, from helm's `# Source:` line.
    pub source: String,
    pub object: Value,
}

impl Manifest {
    pub fn kind(&self) -> &str {
        self.object["kind"].as_str().unwrap_or("")
    }

    pub fn name(&self) -> &str {
        self.object["metadata"]["name"].as_str().unwrap_or("")
    }

    pub fn api_version(&self) -> &str {
        self.object["apiVersion"].as_str().unwrap_or("")
    }

    /// `Deployment/emu-emulator (payments-emulator/templates/deployment.yaml)`.
    pub fn label(&self) -> String {
        format!("{}/{} ({})", self.kind(), self.name(), self.source)
    }

    /// A helm hook (`helm.sh/hook` annotation), e.g. `test`.
    pub fn hook(&self) -> Option<&str> {
        self.object["metadata"]["annotations"]["helm.sh/hook"].as_str()
    }

    /// The pod spec of a workload, wherever its kind keeps it.
    pub fn pod_spec(&self) -> Option<&Value> {
        let o = &self.object;
        let spec = match self.kind() {
            "Pod" => &o["spec"],
            "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" | "ReplicationController" => {
                &o["spec"]["template"]["spec"]
            }
            "CronJob" => &o["spec"]["jobTemplate"]["spec"]["template"]["spec"],
            _ => return None,
        };
        spec.is_object().then_some(spec)
    }

    /// How many pods of this workload run at once (for the quota): replicas, parallelism, or 1.
    pub fn pod_count(&self) -> u64 {
        let s = &self.object["spec"];
        match self.kind() {
            "Deployment" | "StatefulSet" | "ReplicaSet" | "ReplicationController" => {
                s["replicas"].as_u64().unwrap_or(1)
            }
            "Job" => s["parallelism"].as_u64().unwrap_or(1),
            "CronJob" => s["jobTemplate"]["spec"]["parallelism"].as_u64().unwrap_or(1),
            _ => 1,
        }
    }
}

/// Split `helm template` output into objects. Empty documents (a template that rendered to nothing) are
/// skipped; a document that is not a Kubernetes object is an error naming its source.
pub fn parse(rendered: &str) -> Result<Vec<Manifest>> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for doc in split_documents(rendered) {
        let source = doc
            .lines()
            .find_map(|l| l.strip_prefix("# Source: "))
            .unwrap_or("(no # Source line)")
            .trim()
            .to_owned();
        let value: Value = match yaml_serde::from_str(doc) {
            Ok(v) => v,
            Err(e) => {
                problems.push(format!("{source}: rendered YAML does not parse: {e}"));
                continue;
            }
        };
        if value.is_null() {
            continue;
        }
        // A List kind carries its objects in `items`.
        let objects = match value["kind"].as_str() {
            Some(k) if k.ends_with("List") && value["items"].is_array() => {
                value["items"].as_array().cloned().unwrap_or_default()
            }
            _ => vec![value],
        };
        for object in objects {
            if object["kind"].as_str().is_none_or(str::is_empty) || object["apiVersion"].as_str().is_none() {
                problems.push(format!("{source}: a rendered document has no kind or apiVersion"));
                continue;
            }
            out.push(Manifest {
                source: source.clone(),
                object,
            });
        }
    }
    if !problems.is_empty() {
        return Err(Error::Invalid(problems));
    }
    Ok(out)
}

/// Documents separated by `---` lines.
fn split_documents(s: &str) -> Vec<&str> {
    let mut docs = Vec::new();
    let mut start = 0;
    let mut pos = 0;
    for line in s.split_inclusive('\n') {
        if line.trim_end() == "---" || line.starts_with("--- ") {
            docs.push(&s[start..pos]);
            start = pos + line.len();
        }
        pos += line.len();
    }
    docs.push(&s[start..]);
    docs.into_iter().filter(|d| !d.trim().is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_keep_their_source() {
        let m = parse(
            "---\n# Source: c/templates/a.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n# Source: c/templates/empty.yaml\n---\n# Source: c/templates/b.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: b}\nspec: {replicas: 3, template: {spec: {containers: []}}}\n",
        )
        .unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].label(), "ConfigMap/a (c/templates/a.yaml)");
        assert_eq!(m[1].pod_count(), 3);
        assert!(m[1].pod_spec().is_some() && m[0].pod_spec().is_none());
        let e = parse("# Source: x.yaml\nfoo: [\n").unwrap_err().to_string();
        assert!(e.starts_with("x.yaml: rendered YAML does not parse"), "{e}");
    }
}
