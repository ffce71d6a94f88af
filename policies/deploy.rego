# Sandbox rules for rendered Helm manifests, evaluated by `bbgate deploy` on each manifest (conftest
# conventions: `deny` and `warn` sets in `package main`; `input` is one Kubernetes object as the API server
# would read it). bbgate adds its workload model as data: `data.bbgate.pod_spec` is the object's pod spec
# wherever its kind keeps it (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, helm hooks and
# tests), and `data.bbgate.containers` every container it runs, `{group, container}`, init and ephemeral
# containers included.
# bbgate's built-in guard already refuses cluster-scoped kinds, other namespaces, host access, privileged
# containers, privilege escalation, added capabilities, unconfined profiles, exposure, RBAC beyond the
# namespace, unpinned images and missing resources; write the organisation's extra rules here.
package main

import rego.v1

# Containers run as a non-root user, as the sandbox's pod security standard asks.
deny contains msg if {
	some entry in data.bbgate.containers
	c := entry.container
	not c.securityContext.runAsNonRoot
	not data.bbgate.pod_spec.securityContext.runAsNonRoot
	msg := sprintf("%s %s: container %q must set securityContext.runAsNonRoot: true", [input.kind, input.metadata.name, c.name])
}

# Every workload carries the app.kubernetes.io/name label the sandbox dashboards group by.
warn contains msg if {
	data.bbgate.pod_spec
	input.kind != "Pod"
	not input.metadata.labels["app.kubernetes.io/name"]
	msg := sprintf("%s %s has no app.kubernetes.io/name label", [input.kind, input.metadata.name])
}
