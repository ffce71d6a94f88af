//! The project's own stateful fake Kubernetes API server, good enough for the real helm 3 and helm 4 binaries
//! and for the `kube` crate (no real apiserver can be installed here; see
//! ../shared/docs/test-peers-k8s-helm-registry.md). Each test starts its own on 127.0.0.1 port 0, in its own
//! process, so state never leaks between tests; the server lives until the test ends.
//!
//! It serves: discovery (legacy, not aggregated), minimal OpenAPI v3 (one `patch` per kind with
//! `x-kubernetes-group-version-kind` and `fieldValidation`), CRUD with JSON and protobuf bodies (helm writes its
//! release Secrets in protobuf), JSON merge / strategic merge (treated as merge) and server-side apply
//! (creates when missing), label and field selectors, watch with `sendInitialEvents` and the
//! `k8s.io/initial-events-end` BOOKMARK, SelfSubjectAccessReviews against a deny list, SubjectAccessReviews
//! decided by RBAC from the stored Roles and bindings, cluster IPs for
//! Services, and a rollout "controller": with `autoready` a Deployment or StatefulSet becomes available at
//! once (with the ReplicaSet helm 3's wait looks for) and a Job completes at once; without it the rollout
//! hangs, with a Pending pod and a warning Event, as a real cluster short of memory would.
//!
//! Not done (no test relies on it): admission, defaulting, validation, RBAC on requests, strategic-merge list
//! semantics, managedFields and apply conflicts, CRDs, TLS and auth (the token is ignored).

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::Response;
use prost::Message;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::broadcast;

/// group, version, kind, plural, namespaced
const RESOURCES: &[(&str, &str, &str, &str, bool)] = &[
    ("", "v1", "Namespace", "namespaces", false),
    ("", "v1", "ConfigMap", "configmaps", true),
    ("", "v1", "Secret", "secrets", true),
    ("", "v1", "Service", "services", true),
    ("", "v1", "ServiceAccount", "serviceaccounts", true),
    ("", "v1", "Pod", "pods", true),
    ("", "v1", "Event", "events", true),
    ("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", true),
    ("", "v1", "PersistentVolume", "persistentvolumes", false),
    ("", "v1", "ResourceQuota", "resourcequotas", true),
    ("", "v1", "LimitRange", "limitranges", true),
    ("", "v1", "Endpoints", "endpoints", true),
    ("apps", "v1", "Deployment", "deployments", true),
    ("apps", "v1", "StatefulSet", "statefulsets", true),
    ("apps", "v1", "ReplicaSet", "replicasets", true),
    ("apps", "v1", "DaemonSet", "daemonsets", true),
    ("batch", "v1", "Job", "jobs", true),
    ("batch", "v1", "CronJob", "cronjobs", true),
    ("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", true),
    ("networking.k8s.io", "v1", "Ingress", "ingresses", true),
    ("rbac.authorization.k8s.io", "v1", "Role", "roles", true),
    ("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", true),
    ("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", false),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        false,
    ),
    (
        "authorization.k8s.io",
        "v1",
        "SelfSubjectAccessReview",
        "selfsubjectaccessreviews",
        false,
    ),
    (
        "authorization.k8s.io",
        "v1",
        "SubjectAccessReview",
        "subjectaccessreviews",
        false,
    ),
    ("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", true),
    (
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        true,
    ),
    (
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        false,
    ),
    ("storage.k8s.io", "v1", "StorageClass", "storageclasses", false),
    ("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", false),
    (
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingWebhookConfiguration",
        "validatingwebhookconfigurations",
        false,
    ),
    (
        "admissionregistration.k8s.io",
        "v1",
        "MutatingWebhookConfiguration",
        "mutatingwebhookconfigurations",
        false,
    ),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Res {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
}

impl Res {
    fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

fn resources() -> impl Iterator<Item = Res> {
    RESOURCES.iter().map(|&(group, version, kind, plural, namespaced)| Res {
        group,
        version,
        kind,
        plural,
        namespaced,
    })
}

fn find(group: &str, version: &str, plural: &str) -> Option<Res> {
    resources().find(|r| r.group == group && r.version == version && r.plural == plural)
}

fn by_kind(kind: &str) -> Res {
    resources().find(|r| r.kind == kind).expect("a known kind")
}

type Key = (String, String, String); // (group/plural, namespace, name)

#[derive(Clone)]
struct Event {
    res: Res,
    namespace: String,
    kind: &'static str,
    object: Value,
}

/// One request as the server saw it, for assertions ("nothing was written").
#[derive(Clone, Debug)]
pub struct Logged {
    pub method: String,
    pub path: String,
    pub content_type: String,
    /// The Authorization header (tests check its kind; they never print it).
    pub authorization: String,
    pub user_agent: String,
}

#[derive(Default)]
struct Store {
    objects: BTreeMap<Key, Value>,
    rv: u64,
    uid: u64,
    ips: u32,
    deny: Vec<String>,
    /// SelfSubjectAccessReviews allowed outside the existing namespaces too.
    wide: bool,
    faults: Vec<(String, String, u16, u32)>,
    autoready: bool,
    /// Added to every answer, to stand in for a remote cluster's round trip.
    latency: std::time::Duration,
    log: Vec<Logged>,
    /// Every event, for watches that start from a resourceVersion.
    history: Vec<(u64, Event)>,
    /// A mutating admission stand-in: a merge patch applied to every object of a kind as it is stored (and in
    /// server-side dry runs, which show what would be stored).
    admission: BTreeMap<String, Value>,
    /// Test hook pods end Failed instead of Succeeded (a chart whose `helm test` fails).
    tests_fail: bool,
}

pub struct FakeKube {
    store: Mutex<Store>,
    events: broadcast::Sender<Event>,
    pub url: String,
}

pub struct Handle(Arc<FakeKube>);

impl std::ops::Deref for Handle {
    type Target = FakeKube;
    fn deref(&self) -> &FakeKube {
        &self.0
    }
}

fn now() -> String {
    jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn status(code: u16, reason: &str, message: &str) -> Response {
    json_response(
        code,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": message, "reason": reason, "code": code}),
    )
}

fn json_response(code: u16, v: &Value) -> Response {
    let mut r = Response::new(Body::from(serde_json::to_vec(v).unwrap()));
    *r.status_mut() = StatusCode::from_u16(code).unwrap();
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    r
}

/// RFC 7386 JSON merge patch.
fn merge(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            let t = target.as_object_mut().unwrap();
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

fn labels_match(obj: &Value, selector: &str) -> bool {
    let labels = &obj["metadata"]["labels"];
    selector.split(',').filter(|s| !s.is_empty()).all(|term| {
        if let Some((k, v)) = term.split_once("!=") {
            labels[k.trim()].as_str() != Some(v.trim())
        } else if let Some((k, v)) = term.split_once('=') {
            let k = k.trim_end_matches('=');
            labels[k.trim()].as_str() == Some(v.trim_start_matches('=').trim())
        } else if let Some(k) = term.strip_prefix('!') {
            labels.get(k.trim()).is_none()
        } else {
            labels.get(term.trim()).is_some()
        }
    })
}

fn fields_match(obj: &Value, selector: &str) -> bool {
    selector.split(',').filter(|s| !s.is_empty()).all(|term| {
        let (k, v) = term.split_once('=').unwrap_or((term, ""));
        let v = v.trim_start_matches('=');
        match k {
            "metadata.name" => obj["metadata"]["name"].as_str() == Some(v),
            "metadata.namespace" => obj["metadata"]["namespace"].as_str() == Some(v),
            _ => true,
        }
    })
}

fn query(uri: &axum::http::Uri) -> BTreeMap<String, String> {
    uri.query()
        .map(|q| {
            q.split('&')
                .map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    (decode(k), decode(v))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let h = std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match h {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Protobuf bodies (`k8s\0` + runtime.Unknown): Secret and ConfigMap, which helm and kubectl send so.
fn decode_protobuf(body: &[u8]) -> Result<Value, String> {
    use k8s_pb::apimachinery::pkg::runtime::Unknown;
    let raw = body.strip_prefix(b"k8s\0").ok_or("no k8s protobuf magic")?;
    let unknown = Unknown::decode(raw).map_err(|e| e.to_string())?;
    let tm = unknown.type_meta.unwrap_or_default();
    let kind = tm.kind.unwrap_or_default();
    let bytes = unknown.raw.unwrap_or_default();
    let meta_json = |m: Option<k8s_pb::apimachinery::pkg::apis::meta::v1::ObjectMeta>| {
        let m = m.unwrap_or_default();
        let mut v = json!({});
        for (k, val) in [
            ("name", m.name),
            ("generateName", m.generate_name),
            ("namespace", m.namespace),
        ] {
            if let Some(val) = val {
                v[k] = json!(val);
            }
        }
        if !m.labels.is_empty() {
            v["labels"] = json!(m.labels);
        }
        if !m.annotations.is_empty() {
            v["annotations"] = json!(m.annotations);
        }
        v
    };
    use base64::Engine;
    let b64 = |d: &[u8]| base64::engine::general_purpose::STANDARD.encode(d);
    match kind.as_str() {
        "Secret" => {
            let s = k8s_pb::api::core::v1::Secret::decode(bytes.as_slice()).map_err(|e| e.to_string())?;
            let data: Map<String, Value> = s.data.iter().map(|(k, v)| (k.clone(), json!(b64(v)))).collect();
            let mut v = json!({"apiVersion": "v1", "kind": "Secret", "metadata": meta_json(s.metadata), "data": data});
            if let Some(t) = s.r#type {
                v["type"] = json!(t);
            }
            for (k, val) in s.string_data {
                v["data"][k] = json!(b64(val.as_bytes()));
            }
            Ok(v)
        }
        "ConfigMap" => {
            let c = k8s_pb::api::core::v1::ConfigMap::decode(bytes.as_slice()).map_err(|e| e.to_string())?;
            Ok(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta_json(c.metadata), "data": c.data}))
        }
        other => Err(format!(
            "the fake decodes protobuf Secret and ConfigMap only, not {other:?}"
        )),
    }
}

impl FakeKube {
    /// Start a server on 127.0.0.1, port 0. `autoready`: rollouts complete at once.
    pub fn start(autoready: bool) -> Handle {
        let (tx, _) = broadcast::channel(4096);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let fake = Arc::new(FakeKube {
            store: Mutex::new(Store {
                autoready,
                ..Default::default()
            }),
            events: tx,
            url: format!("http://{}", listener.local_addr().unwrap()),
        });
        let state = fake.clone();
        // The server's own runtime, on its own thread: it lives as long as the test process.
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let app = axum::Router::new().fallback(handle).with_state(state);
                axum::serve(listener, app).await.unwrap();
            });
        });
        Handle(fake)
    }

    fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Delay every answer by `latency` (a remote cluster's round trip).
    pub fn set_latency(&self, latency: std::time::Duration) {
        self.lock().latency = latency;
    }

    pub fn set_autoready(&self, on: bool) {
        self.lock().autoready = on;
    }

    /// Let the caller's SelfSubjectAccessReviews answer yes everywhere: a deploy identity with cluster-wide
    /// rights (the positive control of deploy's least-privilege check).
    pub fn grant_wide(&self) {
        self.lock().wide = true;
    }

    /// Deny `verb/resource` (e.g. `create/deployments`) to SelfSubjectAccessReviews and to the requests.
    pub fn deny(&self, verb_resource: &str) {
        self.lock().deny.push(verb_resource.to_owned());
    }

    /// The next `count` requests of METHOD on PLURAL answer `code`.
    pub fn fault(&self, method: &str, plural: &str, code: u16, count: u32) {
        self.lock()
            .faults
            .push((method.to_owned(), plural.to_owned(), code, count));
    }

    pub fn log(&self) -> Vec<Logged> {
        self.lock().log.clone()
    }

    /// Requests that change state (SSARs excepted: they write nothing).
    pub fn writes(&self) -> Vec<Logged> {
        self.log()
            .into_iter()
            .filter(|l| {
                l.method != "GET" && !l.path.contains("selfsubjectaccessreviews") && !l.path.contains("dryRun=All")
            })
            .collect()
    }

    /// Create or replace an object (test setup), as a client would.
    pub fn put(&self, obj: Value) {
        let res = by_kind(obj["kind"].as_str().unwrap());
        let ns = obj["metadata"]["namespace"].as_str().unwrap_or("").to_owned();
        let name = obj["metadata"]["name"].as_str().unwrap().to_owned();
        let mut st = self.lock();
        self.write(&mut st, res, &ns, &name, obj, true);
    }

    pub fn get(&self, kind: &str, namespace: &str, name: &str) -> Option<Value> {
        let res = by_kind(kind);
        self.lock()
            .objects
            .get(&(key(res), namespace.to_owned(), name.to_owned()))
            .cloned()
    }

    pub fn list(&self, kind: &str, namespace: &str) -> Vec<Value> {
        let res = by_kind(kind);
        self.lock()
            .objects
            .iter()
            .filter(|((k, ns, _), _)| *k == key(res) && ns == namespace)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Every container image (init containers too) of every workload and Pod stored in `namespace`.
    pub fn images(&self, namespace: &str) -> Vec<String> {
        let mut out = Vec::new();
        for kind in ["Deployment", "StatefulSet", "Job", "Pod"] {
            for o in self.list(kind, namespace) {
                let spec = if kind == "Pod" {
                    &o["spec"]
                } else {
                    &o["spec"]["template"]["spec"]
                };
                for group in ["containers", "initContainers"] {
                    for c in spec[group].as_array().into_iter().flatten() {
                        out.push(c["image"].as_str().unwrap_or_default().to_owned());
                    }
                }
            }
        }
        out
    }

    /// A namespace ready for a BB: isolated by a NetworkPolicy and with a ResourceQuota, as admins set it up.
    pub fn sandbox_namespace(&self, ns: &str) {
        self.put(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns,
            "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}}));
        self.put(json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "same-namespace-only", "namespace": ns},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{"from": [{"podSelector": {}}]}]}}));
        self.put(json!({"apiVersion": "v1", "kind": "ResourceQuota",
            "metadata": {"name": "bb-quota", "namespace": ns},
            "spec": {"hard": {"requests.cpu": "2", "requests.memory": "4Gi", "limits.cpu": "4", "limits.memory": "8Gi"}},
            "status": {"hard": {"requests.cpu": "2", "requests.memory": "4Gi", "limits.cpu": "4", "limits.memory": "8Gi"},
                       "used": {"requests.cpu": "0", "requests.memory": "0", "limits.cpu": "0", "limits.memory": "0"}}}));
    }

    /// A kubeconfig for this server (plain HTTP, a token the server ignores).
    pub fn kubeconfig(&self, dir: &std::path::Path) -> std::path::PathBuf {
        let path = dir.join("kubeconfig");
        std::fs::write(
            &path,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\ncurrent-context: fake\nusers:\n- name: fake\n  user:\n    token: fake-bearer-token-never-printed\n",
                self.url
            ),
        )
        .unwrap();
        path
    }

    fn next_rv(st: &mut Store) -> String {
        st.rv += 1;
        st.rv.to_string()
    }

    fn emit(&self, st: &mut Store, ev: Event) {
        let rv = ev.object["metadata"]["resourceVersion"]
            .as_str()
            .and_then(|r| r.parse().ok())
            .unwrap_or(st.rv);
        st.history.push((rv, ev.clone()));
        let _ = self.events.send(ev);
    }

    /// Make every test hook pod fail from now on.
    pub fn fail_tests(&self) {
        self.lock().tests_fail = true;
    }

    /// Merge `patch` into every object of `kind` the fake stores, as a mutating webhook would.
    pub fn set_admission(&self, kind: &str, patch: Value) {
        self.lock().admission.insert(kind.to_owned(), patch);
    }

    /// What would be stored (`dryRun=All`): admission and defaults applied, nothing kept, no event.
    fn preview(&self, st: &mut Store, res: Res, ns: &str, name: &str, mut obj: Value) -> Value {
        if let Some(patch) = st.admission.get(res.kind) {
            merge(&mut obj, patch);
        }
        obj["apiVersion"] = json!(res.api_version());
        obj["kind"] = json!(res.kind);
        if !obj["metadata"].is_object() {
            obj["metadata"] = json!({});
        }
        obj["metadata"]["name"] = json!(name);
        if res.namespaced {
            obj["metadata"]["namespace"] = json!(ns);
        }
        obj["metadata"]["resourceVersion"] = json!(st.rv.to_string());
        obj
    }

    /// Store an object: metadata filled in, generation bumped on a spec change, then the controllers run.
    fn write(&self, st: &mut Store, res: Res, ns: &str, name: &str, mut obj: Value, create: bool) -> Value {
        let k = (key(res), ns.to_owned(), name.to_owned());
        let old = st.objects.get(&k).cloned();
        if let Some(patch) = st.admission.get(res.kind) {
            merge(&mut obj, patch);
        }
        obj["apiVersion"] = json!(res.api_version());
        obj["kind"] = json!(res.kind);
        let meta = obj["metadata"].as_object_mut().map(|_| ()).is_some();
        if !meta {
            obj["metadata"] = json!({});
        }
        obj["metadata"]["name"] = json!(name);
        if res.namespaced {
            obj["metadata"]["namespace"] = json!(ns);
        }
        match &old {
            Some(o) if !create || o.get("metadata").is_some() => {
                obj["metadata"]["uid"] = o["metadata"]["uid"].clone();
                obj["metadata"]["creationTimestamp"] = o["metadata"]["creationTimestamp"].clone();
                let gen_ = o["metadata"]["generation"].as_i64().unwrap_or(1);
                let changed = o.get("spec") != obj.get("spec");
                obj["metadata"]["generation"] = json!(if changed { gen_ + 1 } else { gen_ });
                if obj.get("status").is_none() && o.get("status").is_some() {
                    obj["status"] = o["status"].clone();
                }
            }
            _ => {
                st.uid += 1;
                obj["metadata"]["uid"] = json!(format!("00000000-0000-4000-8000-{:012}", st.uid));
                obj["metadata"]["creationTimestamp"] = json!(now());
                obj["metadata"]["generation"] = json!(1);
            }
        }
        obj["metadata"]["resourceVersion"] = json!(Self::next_rv(st));
        if res.kind == "Service" && obj["spec"]["type"].as_str() != Some("ExternalName") {
            let ip = obj["spec"]["clusterIP"].as_str().map(str::to_owned).unwrap_or_else(|| {
                st.ips += 1;
                format!("10.96.{}.{}", st.ips / 250, st.ips % 250 + 1)
            });
            obj["spec"]["clusterIP"] = json!(ip);
            obj["spec"]["clusterIPs"] = json!([ip]);
        }
        if res.kind == "Pod" && obj["status"]["phase"].is_null() {
            // The kubelet's part: a test hook's pod runs to completion; others run, or stay Pending when
            // rollouts hang.
            let is_test = obj["metadata"]["annotations"]["helm.sh/hook"]
                .as_str()
                .is_some_and(|h| h.contains("test"));
            obj["status"] = match (st.autoready, is_test) {
                (true, true) if st.tests_fail => json!({"phase": "Failed"}),
                (true, true) => json!({"phase": "Succeeded"}),
                (true, false) => json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}),
                (false, _) => json!({"phase": "Pending"}),
            };
        }
        if res.kind == "Job" && obj["status"]["conditions"].is_null() && st.autoready {
            // The Job controller's part: a Job (a helm hook's migration, say) runs to completion at once.
            obj["status"] = json!({"startTime": now(), "completionTime": now(), "succeeded": 1, "ready": 0,
                "conditions": [{"type": "Complete", "status": "True", "lastProbeTime": now(), "lastTransitionTime": now()}]});
        }
        let kind = if old.is_some() { "MODIFIED" } else { "ADDED" };
        st.objects.insert(k, obj.clone());
        self.emit(
            st,
            Event {
                res,
                namespace: ns.to_owned(),
                kind,
                object: obj.clone(),
            },
        );
        if matches!(res.kind, "Deployment" | "StatefulSet") {
            self.rollout(st, res, ns, &obj);
        }
        st.objects
            .get(&(key(res), ns.to_owned(), name.to_owned()))
            .cloned()
            .unwrap_or(obj)
    }

    /// The rollout "controller".
    fn rollout(&self, st: &mut Store, res: Res, ns: &str, obj: &Value) {
        let name = obj["metadata"]["name"].as_str().unwrap_or_default().to_owned();
        let replicas = obj["spec"]["replicas"].as_i64().unwrap_or(1);
        let generation = obj["metadata"]["generation"].clone();
        let mut updated = obj.clone();
        if st.autoready {
            updated["status"] = json!({"observedGeneration": generation, "replicas": replicas,
                "updatedReplicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas,
                "currentReplicas": replicas, "currentRevision": format!("{name}-1"), "updateRevision": format!("{name}-1"),
                "conditions": [
                    {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable", "lastUpdateTime": now(), "lastTransitionTime": now()},
                    {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable", "lastUpdateTime": now(), "lastTransitionTime": now()}]});
        } else {
            updated["status"] = json!({"observedGeneration": generation, "replicas": replicas,
                "updatedReplicas": 0, "readyReplicas": 0, "availableReplicas": 0, "unavailableReplicas": replicas,
                "conditions": [{"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated", "lastUpdateTime": now(), "lastTransitionTime": now()}]});
        }
        updated["metadata"]["resourceVersion"] = json!(Self::next_rv(st));
        st.objects
            .insert((key(res), ns.to_owned(), name.clone()), updated.clone());
        self.emit(
            st,
            Event {
                res,
                namespace: ns.to_owned(),
                kind: "MODIFIED",
                object: updated,
            },
        );
        if res.kind != "Deployment" {
            return;
        }
        let template = obj["spec"]["template"].clone();
        let hash = short_hash(&template.to_string());
        let rs_name = format!("{name}-{hash}");
        let ready = if st.autoready { replicas } else { 0 };
        let rs = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": rs_name, "namespace": ns, "labels": template["metadata"]["labels"],
                "annotations": {"deployment.kubernetes.io/revision": "1"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": name,
                    "uid": obj["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true}]},
            "spec": {"replicas": replicas, "selector": obj["spec"]["selector"], "template": template},
            "status": {"replicas": replicas, "readyReplicas": ready, "availableReplicas": ready,
                "fullyLabeledReplicas": replicas, "observedGeneration": 1}});
        let rs_res = by_kind("ReplicaSet");
        st.uid += 1;
        let mut rs = rs;
        rs["metadata"]["uid"] = json!(format!("00000000-0000-4000-9000-{:012}", st.uid));
        rs["metadata"]["resourceVersion"] = json!(Self::next_rv(st));
        rs["metadata"]["creationTimestamp"] = json!(now());
        rs["metadata"]["generation"] = json!(1);
        st.objects.insert((key(rs_res), ns.to_owned(), rs_name.clone()), rs);
        if !st.autoready {
            // A hanging rollout: the pod cannot be scheduled, and says so in an Event.
            let pod = format!("{rs_name}-x7k2p");
            let pod_obj = json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": pod, "namespace": ns, "labels": template["metadata"]["labels"],
                    "uid": format!("pod-{}", st.uid), "resourceVersion": Self::next_rv(st), "creationTimestamp": now()},
                "spec": template["spec"], "status": {"phase": "Pending"}});
            st.objects
                .insert((key(by_kind("Pod")), ns.to_owned(), pod.clone()), pod_obj);
            let ev_name = format!("{pod}.{}", st.rv);
            let ev = json!({"apiVersion": "v1", "kind": "Event",
                "metadata": {"name": ev_name, "namespace": ns, "resourceVersion": Self::next_rv(st), "creationTimestamp": now()},
                "involvedObject": {"kind": "Pod", "name": pod, "namespace": ns},
                "reason": "FailedScheduling", "type": "Warning", "count": 3,
                "message": "0/3 nodes are available: 3 Insufficient memory.",
                "lastTimestamp": now(), "firstTimestamp": now()});
            st.objects.insert((key(by_kind("Event")), ns.to_owned(), ev_name), ev);
        }
    }
}

fn short_hash(s: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(s.as_bytes()))[..10].to_owned()
}

/// RBAC as the API server's authorizer decides it (allow rules only; no aggregation): a RoleBinding of the
/// namespace or a ClusterRoleBinding whose subjects name the user or one of its groups, bound to a Role of the
/// namespace or a ClusterRole with a rule matching the API group, resource and verb (`*` matches any).
fn rbac_allows(st: &Store, user: &str, groups: &[&str], ns: &str, verb: &str, group: &str, resource: &str) -> bool {
    let has = |list: &Value, want: &str| {
        list.as_array()
            .is_some_and(|l| l.iter().any(|v| v.as_str() == Some(want) || v.as_str() == Some("*")))
    };
    let subject_matches = |b: &Value| {
        b["subjects"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|s| match s["kind"].as_str() {
                Some("User") => s["name"].as_str() == Some(user),
                Some("Group") => groups.iter().any(|g| s["name"].as_str() == Some(g)),
                _ => false,
            })
    };
    let role = |kind: &str, role_ns: &str, name: &str| {
        st.objects
            .get(&(key(by_kind(kind)), role_ns.to_owned(), name.to_owned()))
            .cloned()
    };
    let bindings = st.objects.iter().filter(|((k, bns, _), _)| {
        (*k == key(by_kind("RoleBinding")) && bns == ns) || *k == key(by_kind("ClusterRoleBinding"))
    });
    for (_, b) in bindings {
        if !subject_matches(b) {
            continue;
        }
        let name = b["roleRef"]["name"].as_str().unwrap_or("");
        let found = match b["roleRef"]["kind"].as_str() {
            Some("Role") if b["kind"] == "RoleBinding" => role("Role", ns, name),
            Some("ClusterRole") => role("ClusterRole", "", name),
            _ => None,
        };
        let Some(r) = found else { continue };
        if r["rules"].as_array().into_iter().flatten().any(|rule| {
            has(&rule["apiGroups"], group) && has(&rule["resources"], resource) && has(&rule["verbs"], verb)
        }) {
            return true;
        }
    }
    false
}

fn key(res: Res) -> String {
    format!("{}/{}", res.group, res.plural)
}

/// Parsed resource path.
struct Target {
    res: Res,
    namespace: String,
    name: Option<String>,
    subresource: Option<String>,
}

fn discovery(group: &str, version: &str) -> Value {
    let list: Vec<Value> = resources()
        .filter(|r| r.group == group && r.version == version)
        .map(|r| {
            let verbs = if r.kind == "SelfSubjectAccessReview" {
                json!(["create"])
            } else {
                json!([
                    "create",
                    "delete",
                    "deletecollection",
                    "get",
                    "list",
                    "patch",
                    "update",
                    "watch"
                ])
            };
            json!({"name": r.plural, "singularName": r.kind.to_lowercase(), "namespaced": r.namespaced,
                   "kind": r.kind, "verbs": verbs})
        })
        .collect();
    let gv = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": list})
}

fn groups() -> Vec<(&'static str, &'static str)> {
    let mut g: Vec<(&str, &str)> = resources()
        .filter(|r| !r.group.is_empty())
        .map(|r| (r.group, r.version))
        .collect();
    g.dedup();
    g
}

fn openapi_doc(group: &str, version: &str) -> Value {
    let mut paths = Map::new();
    for r in resources().filter(|r| r.group == group && r.version == version) {
        let prefix = if group.is_empty() {
            format!("/api/{version}")
        } else {
            format!("/apis/{group}/{version}")
        };
        let path = if r.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", r.plural)
        } else {
            format!("{prefix}/{}/{{name}}", r.plural)
        };
        paths.insert(
            path,
            json!({"patch": {"x-kubernetes-group-version-kind": {"group": group, "version": version, "kind": r.kind},
                "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}}],
                "responses": {"200": {"description": "OK"}}}}),
        );
    }
    json!({"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.33.0"}, "paths": paths,
           "components": {"schemas": {}}})
}

async fn handle(State(fake): State<Arc<FakeKube>>, req: Request) -> Response {
    let method = req.method().clone();
    let uri = req.uri().clone();
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let path = uri.path().trim_end_matches('/').to_owned();
    fake.lock().log.push(Logged {
        method: method.to_string(),
        path: format!("{}{}", path, uri.query().map(|q| format!("?{q}")).unwrap_or_default()),
        content_type: content_type.clone(),
        authorization: req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned(),
        user_agent: req
            .headers()
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned(),
    });
    let body = axum::body::to_bytes(req.into_body(), 64 << 20)
        .await
        .unwrap_or_default();
    let latency = fake.lock().latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let q = query(&uri);
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if let Some(r) = discovery_route(&segs) {
        return r;
    }
    let (t, group, verb) = match resolve(&segs, &path, &method, &q) {
        Ok(found) => found,
        Err(r) => return *r,
    };
    if let Some(r) = refused(&fake, &method, &t, verb, group) {
        return r;
    }
    let call = Call {
        fake,
        res: t.res,
        ns: t.namespace.clone(),
        t,
        q,
        content_type,
        body,
    };
    match verb {
        "list" | "watch" => call.list_or_watch(verb),
        "get" => call.get(),
        "create" => call.create(),
        "update" => call.update(),
        "patch" => call.patch(),
        "delete" => call.delete(),
        _ => status(405, "MethodNotAllowed", "unsupported"),
    }
}

/// Discovery and OpenAPI: what clients ask before they touch a resource.
fn discovery_route(segs: &[&str]) -> Option<Response> {
    Some(match segs {
        ["version"] => json_response(
            200,
            &json!({"major": "1", "minor": "33", "gitVersion": "v1.33.0", "platform": "linux/amd64",
                        "goVersion": "go1.24.0", "compiler": "gc", "buildDate": "2025-01-01T00:00:00Z"}),
        ),
        ["api"] => json_response(
            200,
            &json!({"kind": "APIVersions", "versions": ["v1"],
                        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}),
        ),
        ["apis"] => {
            let gs: Vec<Value> = groups()
                .into_iter()
                .map(|(g, v)| {
                    let gv = json!({"groupVersion": format!("{g}/{v}"), "version": v});
                    json!({"name": g, "versions": [gv.clone()], "preferredVersion": gv})
                })
                .collect();
            json_response(200, &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": gs}))
        }
        ["api", v] => json_response(200, &discovery("", v)),
        ["apis", g] => {
            let Some((_, v)) = groups().into_iter().find(|(gg, _)| gg == g) else {
                return Some(status(404, "NotFound", "no such group"));
            };
            let gv = json!({"groupVersion": format!("{g}/{v}"), "version": v});
            json_response(
                200,
                &json!({"kind": "APIGroup", "apiVersion": "v1", "name": g, "versions": [gv.clone()], "preferredVersion": gv}),
            )
        }
        ["apis", g, v] => json_response(200, &discovery(g, v)),
        ["openapi", "v3"] => {
            let mut paths = Map::new();
            paths.insert(
                "api/v1".into(),
                json!({"serverRelativeURL": "/openapi/v3/api/v1?hash=fake1"}),
            );
            for (g, v) in groups() {
                paths.insert(
                    format!("apis/{g}/{v}"),
                    json!({"serverRelativeURL": format!("/openapi/v3/apis/{g}/{v}?hash=fake1")}),
                );
            }
            json_response(200, &json!({"paths": paths}))
        }
        ["openapi", "v3", "api", v] => json_response(200, &openapi_doc("", v)),
        ["openapi", "v3", "apis", g, v] => json_response(200, &openapi_doc(g, v)),
        _ => return None,
    })
}

/// The resource, namespace, name and verb a request is for, or the 404 a real server gives.
fn resolve<'a>(
    segs: &[&'a str],
    path: &str,
    method: &Method,
    q: &BTreeMap<String, String>,
) -> Result<(Target, &'a str, &'static str), Box<Response>> {
    let (group, version, rest) = match segs {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Err(Box::new(status(404, "NotFound", &format!("the fake serves no {path}")))),
    };
    let target = match rest {
        ["namespaces", ns, plural, tail @ ..] if rest.len() >= 3 => find(group, version, plural).map(|res| Target {
            res,
            namespace: ns.to_string(),
            name: tail.first().map(|s| s.to_string()),
            subresource: tail.get(1).map(|s| s.to_string()),
        }),
        [plural, tail @ ..] => find(group, version, plural)
            .filter(|r| !r.namespaced || tail.is_empty())
            .map(|res| Target {
                res,
                namespace: String::new(),
                name: tail.first().map(|s| s.to_string()),
                subresource: tail.get(1).map(|s| s.to_string()),
            }),
        _ => None,
    };
    let Some(t) = target else {
        return Err(Box::new(status(
            404,
            "NotFound",
            &format!("the server could not find the requested resource ({path})"),
        )));
    };
    let verb = match (method, &t.name) {
        (&Method::GET, None) if q.get("watch").is_some_and(|w| w == "true" || w == "1") => "watch",
        (&Method::GET, None) => "list",
        (&Method::GET, Some(_)) => "get",
        (&Method::POST, _) => "create",
        (&Method::PUT, _) => "update",
        (&Method::PATCH, _) => "patch",
        (&Method::DELETE, _) => "delete",
        _ => "unknown",
    };
    Ok((t, group, verb))
}

/// The test's deny list and injected faults.
fn refused(fake: &FakeKube, method: &Method, t: &Target, verb: &str, group: &str) -> Option<Response> {
    {
        let mut st = fake.lock();
        if t.res.kind != "SelfSubjectAccessReview" && st.deny.iter().any(|d| *d == format!("{verb}/{}", t.res.plural)) {
            return Some(status(
                403,
                "Forbidden",
                &format!(
                    "{} is forbidden: User \"system:serviceaccount:ci:bbgate\" cannot {verb} resource \"{}\" in API group \"{group}\" in the namespace \"{}\"",
                    t.res.plural, t.res.plural, t.namespace
                ),
            ));
        }
        if let Some(f) = st
            .faults
            .iter_mut()
            .find(|f| f.0 == method.as_str() && f.1 == t.res.plural && f.3 > 0)
        {
            f.3 -= 1;
            let code = f.2;
            let reason = match code {
                409 => "Conflict",
                403 => "Forbidden",
                _ => "InternalError",
            };
            return Some(status(
                code,
                reason,
                &format!("injected {code} for {} {}", method, t.res.plural),
            ));
        }
    }
    None
}

/// One resource request, resolved.
struct Call {
    fake: Arc<FakeKube>,
    res: Res,
    ns: String,
    t: Target,
    q: BTreeMap<String, String>,
    content_type: String,
    body: Bytes,
}

impl Call {
    fn parse_body(&self) -> Result<Value, Box<Response>> {
        let (content_type, body) = (&self.content_type, &self.body);
        let r = if content_type.starts_with("application/vnd.kubernetes.protobuf") {
            decode_protobuf(body).map_err(|e| status(415, "UnsupportedMediaType", &e))
        } else if content_type.starts_with("application/apply-patch+yaml") {
            yaml_serde::from_slice(body).map_err(|e| status(400, "BadRequest", &format!("apply body: {e}")))
        } else {
            serde_json::from_slice(body).map_err(|e| status(400, "BadRequest", &format!("body: {e}")))
        };
        r.map_err(Box::new)
    }

    fn list_or_watch(&self, verb: &str) -> Response {
        let (fake, res, ns, q) = (&self.fake, self.res, self.ns.clone(), &self.q);
        let selector = q.get("labelSelector").cloned().unwrap_or_default();
        let fields = q.get("fieldSelector").cloned().unwrap_or_default();
        let (items, rv) = {
            let st = fake.lock();
            let items: Vec<Value> = st
                .objects
                .iter()
                .filter(|((k, n, _), _)| *k == key(res) && (ns.is_empty() || *n == ns))
                .map(|(_, v)| v.clone())
                .filter(|v| labels_match(v, &selector) && fields_match(v, &fields))
                .collect();
            (items, st.rv.to_string())
        };
        if verb == "list" {
            return json_response(
                200,
                &json!({"kind": format!("{}List", res.kind), "apiVersion": res.api_version(),
                    "metadata": {"resourceVersion": rv}, "items": items}),
            );
        }
        let initial = q.get("sendInitialEvents").is_some_and(|v| v == "true");
        let timeout = q
            .get("timeoutSeconds")
            .and_then(|t| t.parse::<u64>().ok())
            .unwrap_or(300)
            .min(600);
        let from_rv = q
            .get("resourceVersion")
            .and_then(|r| r.parse::<u64>().ok())
            .filter(|r| *r > 0);
        let (mut rx, replay) = {
            let st = fake.lock();
            let replay: Vec<Event> = match (initial, from_rv) {
                (false, Some(from)) => st
                    .history
                    .iter()
                    .filter(|(rv, _)| *rv > from)
                    .map(|(_, e)| e.clone())
                    .collect(),
                _ => Vec::new(),
            };
            (fake.events.subscribe(), replay)
        };
        let (tx, out) = tokio::sync::mpsc::channel::<Result<Bytes, std::convert::Infallible>>(64);
        let line = |kind: &str, obj: &Value| Bytes::from(format!("{}\n", json!({"type": kind, "object": obj})));
        let mut first = Vec::new();
        if initial {
            for it in &items {
                first.push(line("ADDED", it));
            }
            first.push(line(
                "BOOKMARK",
                &json!({"kind": res.kind, "apiVersion": res.api_version(),
                    "metadata": {"resourceVersion": rv, "annotations": {"k8s.io/initial-events-end": "true"}}}),
            ));
        }
        let keep = {
            let (ns, selector, fields) = (ns.clone(), selector.clone(), fields.clone());
            move |ev: &Event| {
                ev.res == res
                    && (ns.is_empty() || ev.namespace == ns)
                    && labels_match(&ev.object, &selector)
                    && fields_match(&ev.object, &fields)
            }
        };
        first.extend(replay.iter().filter(|e| keep(e)).map(|e| line(e.kind, &e.object)));
        tokio::spawn(async move {
            for b in first {
                if tx.send(Ok(b)).await.is_err() {
                    return;
                }
            }
            let deadline = tokio::time::sleep(std::time::Duration::from_secs(timeout));
            tokio::pin!(deadline);
            loop {
                tokio::select! {
                    _ = &mut deadline => return,
                    ev = rx.recv() => match ev {
                        Ok(ev) => {
                            if !keep(&ev) {
                                continue;
                            }
                            if tx.send(Ok(line(ev.kind, &ev.object))).await.is_err() {
                                return;
                            }
                        }
                        Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(_) => return,
                    },
                    _ = tx.closed() => return,
                }
            }
        });
        let stream = futures_util::stream::unfold(out, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) });
        let mut r = Response::new(Body::from_stream(stream));
        r.headers_mut()
            .insert("content-type", HeaderValue::from_static("application/json"));
        r
    }

    fn get(&self) -> Response {
        let (fake, res, ns, t) = (&self.fake, self.res, self.ns.clone(), &self.t);
        let name = t.name.clone().unwrap();
        match fake.lock().objects.get(&(key(res), ns.clone(), name.clone())) {
            Some(v) => json_response(200, v),
            None => status(404, "NotFound", &format!("{} \"{name}\" not found", res.plural)),
        }
    }

    fn create(&self) -> Response {
        let (fake, res, ns, q) = (&self.fake, self.res, self.ns.clone(), &self.q);
        let obj = match self.parse_body() {
            Ok(o) => o,
            Err(r) => return *r,
        };
        if res.kind == "SubjectAccessReview" {
            // Another identity's access, decided by RBAC from the stored Roles, ClusterRoles and their bindings.
            let spec = &obj["spec"];
            let a = &spec["resourceAttributes"];
            let groups: Vec<&str> = spec["groups"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let allowed = rbac_allows(
                &fake.lock(),
                spec["user"].as_str().unwrap_or(""),
                &groups,
                a["namespace"].as_str().unwrap_or(""),
                a["verb"].as_str().unwrap_or(""),
                a["group"].as_str().unwrap_or(""),
                a["resource"].as_str().unwrap_or(""),
            );
            let mut out = obj.clone();
            out["status"] = json!({"allowed": allowed});
            return json_response(201, &out);
        }
        if res.kind == "SelfSubjectAccessReview" {
            // The caller is a namespace admin, as the sandbox's deploy identity is: allowed in the namespaces
            // that exist here, never cluster-wide or elsewhere, unless the test widened it (`grant_wide`).
            let a = &obj["spec"]["resourceAttributes"];
            let verb = a["verb"].as_str().unwrap_or("");
            let resource = a["resource"].as_str().unwrap_or("");
            let in_ns = a["namespace"].as_str().unwrap_or("");
            let st = fake.lock();
            let scoped = st.wide
                || (!in_ns.is_empty()
                    && !matches!(verb, "escalate" | "bind" | "impersonate")
                    && st
                        .objects
                        .contains_key(&(key(by_kind("Namespace")), String::new(), in_ns.to_owned())));
            let denied = !scoped || st.deny.iter().any(|d| *d == format!("{verb}/{resource}"));
            drop(st);
            let mut out = obj.clone();
            out["status"] = if denied {
                json!({"allowed": false, "denied": true, "reason": "denied by the fake's deny list"})
            } else {
                json!({"allowed": true})
            };
            return json_response(201, &out);
        }
        let name = obj["metadata"]["name"].as_str().map(str::to_owned).unwrap_or_else(|| {
            format!(
                "{}{}",
                obj["metadata"]["generateName"].as_str().unwrap_or("obj-"),
                fake.lock().uid + 1
            )
        });
        let mut st = fake.lock();
        if res.namespaced
            && !st
                .objects
                .contains_key(&(key(by_kind("Namespace")), String::new(), ns.clone()))
        {
            return status(404, "NotFound", &format!("namespaces \"{ns}\" not found"));
        }
        if st.objects.contains_key(&(key(res), ns.clone(), name.clone())) {
            return status(
                409,
                "AlreadyExists",
                &format!("{} \"{name}\" already exists", res.plural),
            );
        }
        if q.get("dryRun").is_some_and(|d| d == "All") {
            let shown = fake.preview(&mut st, res, &ns, &name, obj);
            return json_response(201, &shown);
        }
        let stored = fake.write(&mut st, res, &ns, &name, obj, true);
        json_response(201, &stored)
    }

    fn update(&self) -> Response {
        let (fake, res, ns, t) = (&self.fake, self.res, self.ns.clone(), &self.t);
        let name = t.name.clone().unwrap();
        let obj = match self.parse_body() {
            Ok(o) => o,
            Err(r) => return *r,
        };
        let mut st = fake.lock();
        let k = (key(res), ns.clone(), name.clone());
        let Some(old) = st.objects.get(&k).cloned() else {
            return status(404, "NotFound", &format!("{} \"{name}\" not found", res.plural));
        };
        let obj = if t.subresource.as_deref() == Some("status") {
            let mut o = old.clone();
            o["status"] = obj["status"].clone();
            o
        } else {
            obj
        };
        let stored = fake.write(&mut st, res, &ns, &name, obj, false);
        json_response(200, &stored)
    }

    fn patch(&self) -> Response {
        let (fake, res, ns, t, q, content_type) = (
            &self.fake,
            self.res,
            self.ns.clone(),
            &self.t,
            &self.q,
            &self.content_type,
        );
        let name = t.name.clone().unwrap();
        let patch = match self.parse_body() {
            Ok(o) => o,
            Err(r) => return *r,
        };
        let apply = content_type.starts_with("application/apply-patch");
        if content_type.starts_with("application/json-patch") {
            return status(415, "UnsupportedMediaType", "the fake does not do JSON patch");
        }
        let mut st = fake.lock();
        let k = (key(res), ns.clone(), name.clone());
        let dry_run = q.get("dryRun").is_some_and(|d| d == "All");
        let mut obj = match st.objects.get(&k).cloned() {
            Some(o) => o,
            None if apply && dry_run => {
                let shown = fake.preview(&mut st, res, &ns, &name, patch);
                return json_response(201, &shown);
            }
            None if apply => {
                if res.namespaced
                    && !st
                        .objects
                        .contains_key(&(key(by_kind("Namespace")), String::new(), ns.clone()))
                {
                    return status(404, "NotFound", &format!("namespaces \"{ns}\" not found"));
                }
                let stored = fake.write(&mut st, res, &ns, &name, patch, true);
                return json_response(201, &stored);
            }
            None => return status(404, "NotFound", &format!("{} \"{name}\" not found", res.plural)),
        };
        if apply {
            // The applied configuration owns what it sets: its spec replaces the stored one.
            if let Some(spec) = patch.get("spec") {
                obj["spec"] = spec.clone();
            }
            let mut rest = patch.clone();
            if let Some(m) = rest.as_object_mut() {
                m.remove("spec");
            }
            merge(&mut obj, &rest);
        } else {
            merge(&mut obj, &patch);
        }
        if dry_run {
            let shown = fake.preview(&mut st, res, &ns, &name, obj);
            return json_response(200, &shown);
        }
        let stored = fake.write(&mut st, res, &ns, &name, obj, false);
        json_response(200, &stored)
    }

    fn delete(&self) -> Response {
        let (fake, res, ns, t) = (&self.fake, self.res, self.ns.clone(), &self.t);
        let name = t.name.clone().unwrap();
        let mut st = fake.lock();
        match st.objects.remove(&(key(res), ns.clone(), name.clone())) {
            Some(v) => {
                let mut gone = v.clone();
                gone["metadata"]["resourceVersion"] = json!(FakeKube::next_rv(&mut st));
                fake.emit(
                    &mut st,
                    Event {
                        res,
                        namespace: ns.clone(),
                        kind: "DELETED",
                        object: gone,
                    },
                );
                if res.kind == "Deployment" {
                    let uid = v["metadata"]["uid"].clone();
                    st.objects
                        .retain(|_, o| o["metadata"]["ownerReferences"][0]["uid"] != uid || uid.is_null());
                }
                json_response(
                    200,
                    &json!({"kind": "Status", "apiVersion": "v1", "status": "Success",
                "details": {"name": name, "kind": res.plural, "uid": v["metadata"]["uid"]}}),
                )
            }
            None => status(404, "NotFound", &format!("{} \"{name}\" not found", res.plural)),
        }
    }
}
