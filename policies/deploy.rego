# Sandbox rules for rendered Helm manifests, evaluated by `bbgate deploy` on each manifest (conftest
# conventions: `deny` and `warn` sets in `package main`; `input` is one Kubernetes object).
# bbgate's built-in guard already refuses cluster-scoped kinds, other namespaces, host access, privileged
# containers, unpinned images and missing resources; write the organisation's extra rules here.
package main

import rego.v1

workload_kinds := {"Deployment", "StatefulSet", "DaemonSet", "Job"}

pod_spec := input.spec.template.spec if workload_kinds[input.kind]

# Containers run as a non-root user, as the sandbox's pod security standard asks.
deny contains msg if {
	some c in pod_spec.containers
	not c.securityContext.runAsNonRoot
	not pod_spec.securityContext.runAsNonRoot
	msg := sprintf("%s %s: container %q must set securityContext.runAsNonRoot: true", [input.kind, input.metadata.name, c.name])
}

# Every workload carries the app.kubernetes.io/name label the sandbox dashboards group by.
warn contains msg if {
	workload_kinds[input.kind]
	not input.metadata.labels["app.kubernetes.io/name"]
	msg := sprintf("%s %s has no app.kubernetes.io/name label", [input.kind, input.metadata.name])
}
