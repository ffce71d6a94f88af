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

/// How deep helm's resource builder may find lists inside lists before bbgate refuses the render.
const MAX_LIST_DEPTH: usize = 16;

/// Split `helm template` output into objects, read as the API server reads them (YAML 1.1, see `yaml11`), and
/// flattened as helm's resource builder flattens them before it sends anything (see [`flatten`]). Empty
/// documents (a template that rendered to nothing) are skipped; a document that is not a Kubernetes object is an
/// error naming its source.
pub fn parse(rendered: &str) -> Result<Vec<Manifest>> {
    parse_documents(documents(rendered)?)
}

/// The documents of a render as the API server reads them, each with the template it came from; empty ones
/// (a template that rendered to nothing) left out. What deploy installs is these, as JSON.
pub fn documents(rendered: &str) -> Result<Vec<(String, Value)>> {
    let sources = Sources::of(rendered);
    let docs = super::yaml11::parse_stream(rendered).map_err(|e| {
        // The error's own line counts: a template's first line may be the one that does not parse.
        Error::invalid(format!("{}: rendered YAML: {e}", sources.before(e.line + 1)))
    })?;
    Ok(docs
        .into_iter()
        .filter(|d| !d.value.is_null())
        .map(|d| (sources.before(d.line).to_owned(), d.value))
        .collect())
}

/// The objects helm installs from these documents: each flattened (see [`flatten`]) and checked to be an
/// object of the API.
pub fn parse_documents(docs: Vec<(String, Value)>) -> Result<Vec<Manifest>> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (source, value) in docs {
        let mut objects = Vec::new();
        if let Err(why) = flatten(value, 0, &mut objects) {
            problems.push(format!("{source}: {why}"));
            continue;
        }
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

/// What helm installs from one rendered document, as its resource builder reads it (client-go's
/// `resource.Builder` with `Flatten()`, the machinery of `kubectl apply -f`): the unstructured decoder takes
/// *any* object with an `items` field as a list, whatever its kind, and the builder installs the items instead
/// of the object, at any depth; an item with neither kind nor apiVersion takes the list's kind (less `List`)
/// and apiVersion. `items: null` or `[]` installs nothing. So a `ConfigMap` carrying `items: [Deployment]`
/// installs a Deployment, and the guard must judge that Deployment, not a ConfigMap.
///
/// Refused: an `items` that is not a list of objects (the decoder fails), a key spelled like `items` in
/// another case (decoders have disagreed on case), lists nested deeper than [`MAX_LIST_DEPTH`].
pub(crate) fn flatten(value: Value, depth: usize, out: &mut Vec<Value>) -> std::result::Result<(), String> {
    let Value::Object(mut map) = value else {
        return Err("a rendered document is not a mapping (a Kubernetes object)".to_owned());
    };
    if let Some(k) = map
        .keys()
        .find(|k| k.as_str() != "items" && k.eq_ignore_ascii_case("items"))
    {
        return Err(format!(
            "a rendered object has the key {k:?}: JSON decoders have read it as `items` (a list helm installs \
             item by item) or not; rename it"
        ));
    }
    let is_hook = map
        .get("metadata")
        .and_then(|m| m.get("annotations"))
        .and_then(|a| a.get("helm.sh/hook"))
        .is_some();
    // helm tells hooks from their document's own annotation: an item's annotation does not make it a hook, and
    // a hook document's items are installed as hooks. The guard reads hooks per object, so such lists are refused.
    if is_hook && (depth > 0 || map.contains_key("items")) {
        return Err(format!(
            "{} is a helm hook inside a list, or a list that is a hook: helm and the guard would tell its hooks \
             apart differently; render the hook as an object of its own",
            describe(&map)
        ));
    }
    let items = match map.remove("items") {
        None => {
            out.push(Value::Object(map));
            return Ok(());
        }
        Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(format!(
                "{} has an `items` field that is not a list: helm's decoder reads every object with `items` as a list \
                 and fails on it",
                describe(&map)
            ));
        }
    };
    if depth >= MAX_LIST_DEPTH {
        return Err(format!(
            "lists nested deeper than {MAX_LIST_DEPTH} levels (an `items` inside an item): refused"
        ));
    }
    let list_kind = map.get("kind").and_then(Value::as_str).unwrap_or("");
    let item_kind = list_kind.strip_suffix("List").unwrap_or(list_kind).to_owned();
    let list_version = map.get("apiVersion").cloned();
    for item in items {
        let Value::Object(mut obj) = item else {
            return Err(format!(
                "{} has an item in `items` that is not an object: helm's decoder fails on it",
                describe(&map)
            ));
        };
        let blank = |v: Option<&Value>| v.and_then(Value::as_str).is_none_or(str::is_empty);
        if blank(obj.get("kind")) && blank(obj.get("apiVersion")) {
            obj.insert("kind".to_owned(), Value::String(item_kind.clone()));
            if let Some(v) = &list_version {
                obj.insert("apiVersion".to_owned(), v.clone());
            }
        }
        flatten(Value::Object(obj), depth + 1, out)?;
    }
    Ok(())
}

/// `kind/name` of a raw object, for messages.
fn describe(map: &serde_json::Map<String, Value>) -> String {
    format!(
        "{}/{}",
        map.get("kind").and_then(Value::as_str).unwrap_or("?"),
        map.get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .unwrap_or("?")
    )
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

    #[test]
    fn any_object_with_items_is_flattened_as_helms_builder_does() {
        // A ConfigMap that carries a Deployment in `items` installs the Deployment, not a ConfigMap.
        let m = parse(
            "# Source: c/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: harmless}\nitems:\n- {apiVersion: apps/v1, kind: Deployment, metadata: {name: hidden}}\n- {metadata: {name: typed}}\n",
        )
        .unwrap();
        let labels: Vec<String> = m.iter().map(Manifest::label).collect();
        assert_eq!(labels, ["Deployment/hidden (c/cm.yaml)", "ConfigMap/typed (c/cm.yaml)"]);
        assert_eq!(
            m[1].api_version(),
            "v1",
            "an untyped item takes the list's kind and apiVersion"
        );
        // `items: null` and `[]` install nothing.
        assert!(
            parse("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nitems: null\n")
                .unwrap()
                .is_empty()
        );
        for bad in [
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\nitems: {x: 1}\n",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\nitems: [x]\n",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\nItems: []\n",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let mut deep = "{apiVersion: v1, kind: ConfigMap, metadata: {name: x}}".to_owned();
        for _ in 0..17 {
            deep = format!("{{apiVersion: v1, kind: List, items: [{deep}]}}");
        }
        let e = parse(&deep).unwrap_err().to_string();
        assert!(e.contains("nested deeper than 16"), "{e}");
    }
}
