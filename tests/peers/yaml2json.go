// The API server's own YAML reader as a differential reference for bbgate's manifest reader
// (tests/yaml_semantics.rs): sigs.k8s.io/yaml's YAMLToJSON on go-yaml v2, as helm and the API server call it.
// Built offline by scripts/test from Debian's sources (GO111MODULE=off, GOPATH=/usr/share/gocode).
// Reads a JSON list of YAML documents on stdin; writes a JSON list of {"ok": value} or {"err": message}.
package main

import (
	"encoding/json"
	"os"

	"sigs.k8s.io/yaml"
)

func main() {
	var docs []string
	if err := json.NewDecoder(os.Stdin).Decode(&docs); err != nil {
		os.Stderr.WriteString("yaml2json: stdin is not a JSON list of strings: " + err.Error() + "\n")
		os.Exit(2)
	}
	out := make([]map[string]json.RawMessage, 0, len(docs))
	for _, doc := range docs {
		j, err := yaml.YAMLToJSON([]byte(doc))
		if err != nil {
			msg, _ := json.Marshal(err.Error())
			out = append(out, map[string]json.RawMessage{"err": msg})
			continue
		}
		out = append(out, map[string]json.RawMessage{"ok": j})
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		os.Exit(3)
	}
}
