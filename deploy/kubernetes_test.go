package deploy

import (
	"fmt"
	"net"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/mediawatch/mediawatch/app"
	"github.com/mediawatch/mediawatch/config"
)

// k8sObject is one document of a manifest.
type k8sObject struct {
	file string
	obj  map[string]any
}

func (o k8sObject) kind() string { return strAt(o.obj, "kind") }
func (o k8sObject) name() string { return strAt(o.obj, "metadata", "name") }
func (o k8sObject) String() string {
	return fmt.Sprintf("%s %s/%s", rel(o.file), o.kind(), o.name())
}

// manifests reads every manifest in deploy/kubernetes (not its
// subdirectories, which hold Helm values: kubectl apply -f on the directory
// takes the same files).
func manifests(t *testing.T) []k8sObject {
	t.Helper()
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	more, _ := filepath.Glob("kubernetes/*.yml")
	files = append(files, more...)
	var objs []k8sObject
	for _, f := range files {
		for _, m := range yamlMaps(t, f) {
			objs = append(objs, k8sObject{file: f, obj: m})
		}
	}
	if len(objs) == 0 {
		t.Fatal("no manifests in deploy/kubernetes")
	}
	return objs
}

func byKind(objs []k8sObject, kinds ...string) []k8sObject {
	var out []k8sObject
	for _, o := range objs {
		if slices.Contains(kinds, o.kind()) {
			out = append(out, o)
		}
	}
	return out
}

// podLabels are the labels of a workload's pods.
func podLabels(w k8sObject) map[string]string {
	return stringMap(mapAt(w.obj, "spec", "template", "metadata", "labels"))
}

func containers(w k8sObject) []map[string]any {
	var out []map[string]any
	for _, c := range listAt(w.obj, "spec", "template", "spec", "containers") {
		if m, ok := c.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// containerPorts are a workload's container ports by name and number.
func containerPorts(w k8sObject) map[string]bool {
	ports := map[string]bool{}
	for _, c := range containers(w) {
		for _, p := range listAt(c, "ports") {
			ports[strAt(p, "name")] = true
			ports[fmt.Sprint(anyAt(p, "containerPort"))] = true
		}
	}
	return ports
}

// roles are the --role values of a container's arguments.
func roles(c map[string]any) []string {
	args := listAt(c, "args")
	for i, a := range args {
		if a == "--role" && i+1 < len(args) {
			return strings.Split(fmt.Sprint(args[i+1]), ",")
		}
		if s, ok := a.(string); ok && strings.HasPrefix(s, "--role=") {
			return strings.Split(strings.TrimPrefix(s, "--role="), ",")
		}
	}
	return nil
}

func argValue(c map[string]any, flag string) string {
	args := listAt(c, "args")
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			return fmt.Sprint(args[i+1])
		}
	}
	return ""
}

func TestKubernetesManifests(t *testing.T) {
	objs := manifests(t)
	for _, o := range objs {
		if strAt(o.obj, "apiVersion") == "" || o.kind() == "" || o.name() == "" {
			t.Errorf("%s: every object needs apiVersion, kind and metadata.name", o)
		}
		if ns := strAt(o.obj, "metadata", "namespace"); ns != "" {
			t.Errorf("%s: namespace %q; the manifests are applied with kubectl -n", o, ns)
		}
	}
	configMaps := map[string]k8sObject{}
	for _, cm := range byKind(objs, "ConfigMap") {
		configMaps[cm.name()] = cm
	}
	services := byKind(objs, "Service")
	serviceNames := map[string]bool{}
	for _, s := range services {
		serviceNames[s.name()] = true
	}

	workloads := byKind(objs, "Deployment", "StatefulSet")
	if len(workloads) == 0 {
		t.Fatal("no Deployment or StatefulSet")
	}
	roleCount := map[string]int{}
	for _, w := range workloads {
		checkWorkload(t, w, configMaps)
		for _, c := range containers(w) {
			for _, r := range roles(c) {
				roleCount[r]++
			}
		}
		if w.kind() == "StatefulSet" && !serviceNames[strAt(w.obj, "spec", "serviceName")] {
			t.Errorf("%s: serviceName %q is not a Service here", w, strAt(w.obj, "spec", "serviceName"))
		}
	}
	// Every role runs somewhere; the web role's search index (in data_dir)
	// is on a volume claim of a StatefulSet, so it outlives the pod; ingest
	// is shared by several processes.
	for _, r := range []string{"ingest", "match", "web"} {
		if roleCount[r] == 0 {
			t.Errorf("no workload runs --role %s", r)
		}
	}
	for _, w := range workloads {
		for _, c := range containers(w) {
			rs := roles(c)
			if slices.Contains(rs, "web") || slices.Contains(rs, "all") {
				if w.kind() != "StatefulSet" || !dataOnClaim(w, c, configMaps) {
					t.Errorf("%s runs the web role: want a StatefulSet with data_dir on a volume claim (the search index), got a %s", w, w.kind())
				}
			}
			if slices.Equal(rs, []string{"ingest"}) {
				if n, _ := anyAt(w.obj, "spec", "replicas").(int); n < 2 {
					t.Errorf("%s: the ingest processes want at least 2 replicas, got %v", w, anyAt(w.obj, "spec", "replicas"))
				}
			}
		}
	}

	// Services select pods and name their ports.
	for _, s := range services {
		sel := stringMap(mapAt(s.obj, "spec", "selector"))
		var picked []k8sObject
		for _, w := range workloads {
			if selects(sel, podLabels(w)) {
				picked = append(picked, w)
			}
		}
		if len(picked) == 0 {
			t.Errorf("%s: selector %v selects no workload's pods", s, sel)
			continue
		}
		for _, p := range listAt(s.obj, "spec", "ports") {
			target := fmt.Sprint(anyAt(p, "targetPort"))
			if anyAt(p, "targetPort") == nil {
				target = fmt.Sprint(anyAt(p, "port"))
			}
			for _, w := range picked {
				if !containerPorts(w)[target] {
					t.Errorf("%s: targetPort %s is not a container port of %s", s, target, w)
				}
			}
		}
	}

	// The ServiceMonitor scrapes the Services, on a port they have, as the
	// job the alert rules expect.
	monitors := byKind(objs, "ServiceMonitor")
	if len(monitors) != 1 {
		t.Fatalf("want one ServiceMonitor, got %d", len(monitors))
	}
	sm := monitors[0]
	if v := strAt(sm.obj, "apiVersion"); v != "monitoring.coreos.com/v1" {
		t.Errorf("%s: apiVersion %s", sm, v)
	}
	sel := stringMap(mapAt(sm.obj, "spec", "selector", "matchLabels"))
	scraped := map[string]bool{}
	for _, s := range services {
		if !selects(sel, stringMap(mapAt(s.obj, "metadata", "labels"))) {
			continue
		}
		scraped[s.name()] = true
		if job := strAt(s.obj, "metadata", "labels", strAt(sm.obj, "spec", "jobLabel")); job != "mediawatch" {
			t.Errorf("%s: the ServiceMonitor's jobLabel gives job %q; the alert rules want job=\"mediawatch\"", s, job)
		}
		for _, e := range listAt(sm.obj, "spec", "endpoints") {
			found := false
			for _, p := range listAt(s.obj, "spec", "ports") {
				found = found || strAt(p, "name") == strAt(e, "port")
			}
			if !found {
				t.Errorf("%s: endpoint port %q is not a port of %s", sm, strAt(e, "port"), s)
			}
		}
	}
	if len(scraped) == 0 {
		t.Errorf("%s: selector %v selects no Service", sm, sel)
	}
	// Every workload's pods are scraped through some Service.
	for _, w := range workloads {
		ok := false
		for _, s := range services {
			ok = ok || (scraped[s.name()] && selects(stringMap(mapAt(s.obj, "spec", "selector")), podLabels(w)))
		}
		if !ok {
			t.Errorf("%s: no Service the ServiceMonitor scrapes selects its pods", w)
		}
	}
	for _, e := range listAt(sm.obj, "spec", "endpoints") {
		if strAt(e, "path") != "/metrics" || strAt(e, "interval") != "15s" {
			t.Errorf("%s: endpoint path %q interval %q, want /metrics every 15s", sm, strAt(e, "path"), strAt(e, "interval"))
		}
	}
}

// containerConfig is the configuration a container's --config names, from a
// ConfigMap here, with the mounts of the container by path.
func containerConfig(w k8sObject, c map[string]any, configMaps map[string]k8sObject) (cfg *config.Config, cm k8sObject, mounts map[string]string, err error) {
	volumes := map[string]map[string]any{}
	for _, v := range listAt(w.obj, "spec", "template", "spec", "volumes") {
		volumes[strAt(v, "name")] = mapAt(v)
	}
	mounts = map[string]string{}
	for _, m := range listAt(c, "volumeMounts") {
		mounts[strAt(m, "mountPath")] = strAt(m, "name")
	}
	cfgPath := argValue(c, "--config")
	vol, ok := mounts[path.Dir(cfgPath)]
	if !ok {
		return nil, cm, mounts, fmt.Errorf("--config %q is not in a mounted directory", cfgPath)
	}
	cm, ok = configMaps[strAt(volumes[vol], "configMap", "name")]
	if !ok {
		return nil, cm, mounts, fmt.Errorf("--config %q: volume %q is not a ConfigMap here", cfgPath, vol)
	}
	text := strAt(cm.obj, "data", path.Base(cfgPath))
	cfg, err = config.Parse([]byte(text), fmt.Sprintf("%s (%s)", cm, path.Base(cfgPath)))
	return cfg, cm, mounts, err
}

// dataOnClaim reports whether a container's data_dir is a volume claim
// template of its StatefulSet.
func dataOnClaim(w k8sObject, c map[string]any, configMaps map[string]k8sObject) bool {
	cfg, _, mounts, err := containerConfig(w, c, configMaps)
	if err != nil {
		return false
	}
	for _, v := range listAt(w.obj, "spec", "volumeClaimTemplates") {
		if strAt(v, "metadata", "name") == mounts[cfg.DataDir] {
			return true
		}
	}
	return false
}

// checkWorkload checks one Deployment or StatefulSet: labels, probes,
// resources, the security context and the configuration it mounts.
func checkWorkload(t *testing.T, w k8sObject, configMaps map[string]k8sObject) {
	t.Helper()
	if sel := stringMap(mapAt(w.obj, "spec", "selector", "matchLabels")); !selects(sel, podLabels(w)) {
		t.Errorf("%s: selector %v does not match the pod labels %v", w, sel, podLabels(w))
	}
	pod := mapAt(w.obj, "spec", "template", "spec")
	podSec := mapAt(pod, "securityContext")
	if anyAt(podSec, "runAsNonRoot") != true {
		t.Errorf("%s: pod securityContext.runAsNonRoot must be true", w)
	}
	if strAt(podSec, "seccompProfile", "type") != "RuntimeDefault" {
		t.Errorf("%s: pod seccompProfile must be RuntimeDefault", w)
	}
	volumes := map[string]map[string]any{}
	for _, v := range listAt(pod, "volumes") {
		volumes[strAt(v, "name")] = mapAt(v)
	}
	for _, v := range listAt(w.obj, "spec", "volumeClaimTemplates") {
		volumes[strAt(v, "metadata", "name")] = mapAt(v)
	}
	cs := containers(w)
	if len(cs) == 0 {
		t.Errorf("%s: no containers", w)
	}
	for _, c := range cs {
		name := fmt.Sprintf("%s container %s", w, strAt(c, "name"))
		if strAt(c, "image") == "" {
			t.Errorf("%s: no image", name)
		}
		for _, kind := range []string{"requests", "limits"} {
			for _, res := range []string{"cpu", "memory"} {
				if anyAt(c, "resources", kind, res) == nil {
					t.Errorf("%s: no resources.%s.%s", name, kind, res)
				}
			}
		}
		ports := containerPorts(w)
		for probe, want := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz"} {
			get := mapAt(c, probe, "httpGet")
			if strAt(get, "path") != want {
				t.Errorf("%s: %s must GET %s, has %q", name, probe, want, strAt(get, "path"))
			}
			if !ports[fmt.Sprint(anyAt(get, "port"))] {
				t.Errorf("%s: %s port %v is not a container port", name, probe, anyAt(get, "port"))
			}
		}
		sec := mapAt(c, "securityContext")
		if anyAt(sec, "runAsNonRoot") != true && anyAt(podSec, "runAsNonRoot") != true {
			t.Errorf("%s: runAsNonRoot", name)
		}
		if anyAt(sec, "readOnlyRootFilesystem") != true {
			t.Errorf("%s: readOnlyRootFilesystem must be true", name)
		}
		if anyAt(sec, "allowPrivilegeEscalation") != false {
			t.Errorf("%s: allowPrivilegeEscalation must be false", name)
		}
		if !slices.Contains(listAt(sec, "capabilities", "drop"), any("ALL")) {
			t.Errorf("%s: capabilities must drop ALL", name)
		}
		if strAt(sec, "seccompProfile", "type") != "RuntimeDefault" && strAt(podSec, "seccompProfile", "type") != "RuntimeDefault" {
			t.Errorf("%s: seccompProfile RuntimeDefault", name)
		}
		if rs := roles(c); len(rs) == 0 {
			t.Errorf("%s: no --role", name)
		} else if _, err := app.ParseRoles(strings.Join(rs, ",")); err != nil {
			t.Errorf("%s: --role: %v", name, err)
		}

		// Mounts name volumes of the pod; the --config file is a key of a
		// ConfigMap here, which is a valid configuration; data_dir is a
		// writable mount (the root file system is read-only).
		mounts := map[string]string{} // mount path -> volume
		for _, m := range listAt(c, "volumeMounts") {
			if volumes[strAt(m, "name")] == nil {
				t.Errorf("%s: mount %s of unknown volume %q", name, strAt(m, "mountPath"), strAt(m, "name"))
			}
			mounts[strAt(m, "mountPath")] = strAt(m, "name")
		}
		cfg, cm, _, err := containerConfig(w, c, configMaps)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if cfg.NATS.URL != "nats://nats:4222" {
			t.Errorf("%s: nats.url %q, want the NATS Helm chart's nats://nats:4222", cm, cfg.NATS.URL)
		}
		if _, port, _ := net.SplitHostPort(cfg.HTTP.Listen); !ports[port] {
			t.Errorf("%s: http.listen %s is not on a container port", cm, cfg.HTTP.Listen)
		}
		if _, ok := mounts[cfg.DataDir]; !ok {
			t.Errorf("%s: data_dir %s is not a mounted volume (the root file system is read-only)", name, cfg.DataDir)
		}
	}
}

// The PrometheusRule carries the rules of deploy/prometheus/rules, which
// promtool tests.
func TestPrometheusRuleMatchesRulesFile(t *testing.T) {
	rules := yamlMap(t, "prometheus/rules/mediawatch.rules.yml")
	var found bool
	for _, o := range byKind(manifests(t), "PrometheusRule") {
		found = true
		if !reflect.DeepEqual(anyAt(o.obj, "spec", "groups"), rules["groups"]) {
			t.Errorf("%s: spec.groups differ from deploy/prometheus/rules/mediawatch.rules.yml; copy the groups over", o)
		}
	}
	if !found {
		t.Error("no PrometheusRule in deploy/kubernetes")
	}
}
