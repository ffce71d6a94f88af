//! Rendered Helm output: the multi-document YAML of `helm template`, split into objects that remember the
//! template they came from (helm's `# Source:` comment), so every problem names its file.

use crate::error::{Error, Result};
use serde_json::Value;

/// The one table of where each kind keeps its pod template: every rule, and the Rego input, read workloads
/// through it (helm hooks and tests are Pods and Jobs like any other).
pub(crate) const POD_TEMPLATES: &[(&str, &[&str])] = &[
    ("Pod", &["spec"]),
    ("Deployment", &["spec", "template", "spec"]),
    ("StatefulSet", &["spec", "template", "spec"]),
    ("DaemonSet", &["spec", "template", "spec"]),
    ("ReplicaSet", &["spec", "template", "spec"]),
    ("ReplicationController", &["spec", "template", "spec"]),
    ("Job", &["spec", "template", "spec"]),
    ("CronJob", &["spec", "jobTemplate", "spec", "template", "spec"]),
    ("PodTemplate", &["template", "spec"]),
];

/// The container lists of a pod spec.
pub(crate) const CONTAINER_GROUPS: &[&str] = &["containers", "initContainers", "ephemeralContainers"];

#[derive(Debug, Clone)]
pub struct Manifest {
    /// `payments-emulator/templates/deployment.yaml`, from helm's `# Source:` line.
    pub(crate) source: String,
    pub(crate) object: Value,
}

impl Manifest {
    pub(crate) fn kind(&self) -> &str {
        self.object["kind"].as_str().unwrap_or("")
    }

    pub(crate) fn name(&self) -> &str {
        self.object["metadata"]["name"].as_str().unwrap_or("")
    }

    pub(crate) fn api_version(&self) -> &str {
        self.object["apiVersion"].as_str().unwrap_or("")
    }

    /// `Deployment/emu-emulator (payments-emulator/templates/deployment.yaml)`.
    pub(crate) fn label(&self) -> String {
        format!("{}/{} ({})", self.kind(), self.name(), self.source)
    }

    /// A helm hook (`helm.sh/hook` annotation), e.g. `test`.
    pub(crate) fn hook(&self) -> Option<&str> {
        self.object["metadata"]["annotations"]["helm.sh/hook"].as_str()
    }

    /// The pod spec of a workload, wherever its kind keeps it (see [`POD_TEMPLATES`]).
    pub(crate) fn pod_spec(&self) -> Option<&Value> {
        let (_, path) = POD_TEMPLATES.iter().find(|(k, _)| *k == self.kind())?;
        let spec = path.iter().fold(&self.object, |v, key| &v[*key]);
        spec.is_object().then_some(spec)
    }

    /// The pod template's metadata (for a Pod, its own): beside the spec in the same table.
    pub(crate) fn pod_metadata(&self) -> &Value {
        match POD_TEMPLATES.iter().find(|(k, _)| *k == self.kind()) {
            Some((_, path)) => {
                let parent = path[..path.len() - 1].iter().fold(&self.object, |v, key| &v[*key]);
                &parent["metadata"]
            }
            None => &Value::Null,
        }
    }

    /// Every container the pod spec runs, init and ephemeral ones included, with its group.
    pub(crate) fn containers(&self) -> Vec<(&'static str, &Value)> {
        let Some(spec) = self.pod_spec() else {
            return Vec::new();
        };
        CONTAINER_GROUPS
            .iter()
            .flat_map(|g| spec[*g].as_array().into_iter().flatten().map(move |c| (*g, c)))
            .collect()
    }

    /// How many pods of this workload run at once (for the quota): replicas, parallelism, or 1.
    pub(crate) fn pod_count(&self) -> u64 {
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

/// Split `helm template` output into objects, read as the API server reads them (YAML 1.1, see `yaml11`).
/// Empty documents (a template that rendered to nothing) are skipped; `List` kinds are unwrapped at any depth;
/// a document that is not a Kubernetes object is an error naming its source.
pub fn parse(rendered: &str) -> Result<Vec<Manifest>> {
    let sources = Sources::of(rendered);
    let docs = super::yaml11::parse_stream(rendered).map_err(|e| {
        // The error's own line counts: a template's first line may be the one that does not parse.
        Error::invalid(format!("{}: rendered YAML: {e}", sources.before(e.line + 1)))
    })?;
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for doc in docs {
        if doc.value.is_null() {
            continue;
        }
        let source = sources.before(doc.line).to_owned();
        let mut objects = Vec::new();
        unwrap_lists(doc.value, 0, &mut objects);
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

/// A `List` (any `…List` kind with `items`) carries its objects in `items`, which may be lists again.
fn unwrap_lists(value: Value, depth: usize, out: &mut Vec<Value>) {
    let is_list =
        depth < 16 && value["kind"].as_str().is_some_and(|k| k.ends_with("List")) && value["items"].is_array();
    if is_list {
        if let Value::Object(mut m) = value
            && let Some(Value::Array(items)) = m.remove("items")
        {
            for item in items {
                unwrap_lists(item, depth + 1, out);
            }
        }
    } else {
        out.push(value);
    }
}

/// helm's `# Source:` comments, by line, read once for all the documents of a render.
struct Sources<'a>(Vec<(usize, &'a str)>);

impl<'a> Sources<'a> {
    fn of(rendered: &'a str) -> Sources<'a> {
        Sources(
            rendered
                .lines()
                .enumerate()
                .filter_map(|(i, l)| l.strip_prefix("# Source: ").map(|s| (i + 1, s.trim())))
                .collect(),
        )
    }

    /// The template a document starting on `line` (1-based) came from: the nearest comment above it.
    fn before(&self, line: usize) -> &'a str {
        let above = self.0.partition_point(|(l, _)| *l < line);
        above.checked_sub(1).map_or("(no # Source line)", |i| self.0[i].1)
    }
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
        assert!(e.starts_with("x.yaml: rendered YAML"), "{e}");
        // YAML 1.1, as the API server reads it: `yes` is true.
        let m = parse("# Source: c/p.yaml\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {hostNetwork: yes}\n")
            .unwrap();
        assert_eq!(m[0].object["spec"]["hostNetwork"], serde_json::json!(true));
        // Lists inside lists.
        let m = parse("# Source: c/l.yaml\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMapList, items: [{apiVersion: v1, kind: ConfigMap, metadata: {name: inner}}]}\n").unwrap();
        assert_eq!(m[0].label(), "ConfigMap/inner (c/l.yaml)");
    }
}
