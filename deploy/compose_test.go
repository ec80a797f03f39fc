package deploy

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mediawatch/mediawatch/config"
)

// mount is one entry of a compose service's volumes.
type mount struct {
	source, target string
	bind           bool // a path of this repository, not a named volume
}

func serviceMounts(t *testing.T, name string, svc map[string]any) []mount {
	t.Helper()
	var out []mount
	for _, v := range listAt(svc, "volumes") {
		s, ok := v.(string)
		if !ok {
			t.Errorf("service %s: write volumes in the short form (source:target[:ro]), got %v", name, v)
			continue
		}
		parts := strings.Split(s, ":")
		if len(parts) < 2 || len(parts) > 3 {
			t.Errorf("service %s: volume %q is not source:target[:mode]", name, s)
			continue
		}
		out = append(out, mount{source: parts[0], target: parts[1], bind: strings.HasPrefix(parts[0], ".") || strings.HasPrefix(parts[0], "/")})
	}
	return out
}

// hostPath is where a path inside a service's container comes from in this
// repository, through its bind mounts.
func hostPath(mounts []mount, p string) (string, bool) {
	for _, m := range mounts {
		if !m.bind {
			continue
		}
		if p == m.target {
			return filepath.FromSlash(m.source), true
		}
		if r, ok := strings.CutPrefix(p, m.target+"/"); ok {
			return filepath.Join(filepath.FromSlash(m.source), filepath.FromSlash(r)), true
		}
	}
	return "", false
}

func TestCompose(t *testing.T) {
	const file = "docker-compose.yml"
	c := yamlMap(t, file)
	services := mapAt(c, "services")
	for _, want := range []string{"mediawatch", "nats", "prometheus", "grafana"} {
		if services[want] == nil {
			t.Errorf("%s: no service %s", file, want)
		}
	}
	declared := mapAt(c, "volumes")
	used := map[string]bool{}
	mounts := map[string][]mount{}
	for name, v := range services {
		svc := mapAt(v)
		if strAt(svc, "image") == "" && anyAt(svc, "build") == nil {
			t.Errorf("service %s: neither image nor build", name)
		}
		if r := strAt(svc, "restart"); r != "unless-stopped" && r != "always" {
			t.Errorf("service %s: restart %q, want unless-stopped", name, r)
		}
		if b := mapAt(svc, "build"); b != nil {
			df := filepath.Join(filepath.FromSlash(strAt(b, "context")), filepath.FromSlash(strAt(b, "dockerfile")))
			if _, err := os.Stat(df); err != nil {
				t.Errorf("service %s: build: %v", name, err)
			}
		}
		mounts[name] = serviceMounts(t, name, svc)
		for _, m := range mounts[name] {
			if !m.bind {
				if _, ok := declared[m.source]; !ok {
					t.Errorf("service %s: volume %q is not declared under volumes", name, m.source)
				}
				used[m.source] = true
				continue
			}
			if filepath.IsAbs(m.source) {
				t.Errorf("service %s: bind mount %s: use a path relative to deploy/", name, m.source)
				continue
			}
			if _, err := os.Stat(m.source); err != nil {
				t.Errorf("service %s: bind mount: %v", name, err)
			}
		}
		for dep, cond := range mapAt(svc, "depends_on") {
			d := mapAt(services, dep)
			if d == nil {
				t.Errorf("service %s depends on unknown service %s", name, dep)
				continue
			}
			switch strAt(cond, "condition") {
			case "service_healthy":
				if mapAt(d, "healthcheck") == nil {
					t.Errorf("service %s waits for %s to be healthy, which has no healthcheck", name, dep)
				}
			case "service_started", "service_completed_successfully":
			default:
				t.Errorf("service %s: depends_on %s: condition %q", name, dep, strAt(cond, "condition"))
			}
		}
		for _, p := range listAt(svc, "ports") {
			if s := fmt.Sprint(p); !strings.HasPrefix(s, "127.0.0.1:") {
				t.Errorf("service %s: port %s is published on every interface; publish on 127.0.0.1", name, s)
			}
		}
		// The distroless mediawatch image cannot run a healthcheck; the
		// others have one.
		if name != "mediawatch" && mapAt(svc, "healthcheck") == nil {
			t.Errorf("service %s: no healthcheck", name)
		}
	}
	for v := range declared {
		if !used[v] {
			t.Errorf("volume %s is declared but no service mounts it", v)
		}
	}

	// mediawatch: its configuration loads without problems and fits the
	// other services.
	mw := mapAt(services, "mediawatch")
	cmd := listAt(mw, "command")
	i := slices.Index(cmd, any("--config"))
	if i < 0 || i+1 >= len(cmd) {
		t.Fatalf("service mediawatch: command %v has no --config", cmd)
	}
	cfgFile, ok := hostPath(mounts["mediawatch"], fmt.Sprint(cmd[i+1]))
	if !ok {
		t.Fatalf("service mediawatch: --config %v is not a mounted file", cmd[i+1])
	}
	cfg, err := config.Load(cfgFile)
	if err != nil {
		t.Fatalf("service mediawatch: %v", err)
	}
	u, err := url.Parse(cfg.NATS.URL)
	if err != nil || u.Hostname() != "nats" || u.Port() != "4222" {
		t.Errorf("%s: nats.url %q, want the nats service, nats://nats:4222", cfgFile, cfg.NATS.URL)
	}
	if !slices.Contains(listAt(services, "nats", "command"), any("-js")) {
		t.Errorf("service nats: JetStream is not on (-js)")
	}
	host, httpPort, _ := net.SplitHostPort(cfg.HTTP.Listen)
	if host != "0.0.0.0" && host != "" {
		t.Errorf("%s: http.listen %s is not reachable from the other containers", cfgFile, cfg.HTTP.Listen)
	}
	dataOnVolume := false
	for _, m := range mounts["mediawatch"] {
		dataOnVolume = dataOnVolume || (!m.bind && m.target == cfg.DataDir)
	}
	if !dataOnVolume {
		t.Errorf("%s: data_dir %s is not a named volume of the mediawatch service", cfgFile, cfg.DataDir)
	}

	// Prometheus: its configuration file and rule files are mounted, and it
	// scrapes the mediawatch service on http.listen's port.
	prom := mapAt(services, "prometheus")
	var promCfg string
	for _, a := range listAt(prom, "command") {
		if p, ok := strings.CutPrefix(fmt.Sprint(a), "--config.file="); ok {
			promCfg, ok = hostPath(mounts["prometheus"], p)
			if !ok {
				t.Fatalf("service prometheus: --config.file %s is not mounted", p)
			}
		}
	}
	if promCfg == "" {
		t.Fatal("service prometheus: no --config.file")
	}
	pc := yamlMap(t, promCfg)
	for _, g := range listAt(pc, "rule_files") {
		matches, _ := filepath.Glob(filepath.Join(filepath.Dir(promCfg), fmt.Sprint(g)))
		if len(matches) == 0 {
			t.Errorf("%s: rule_files %v matches no file", promCfg, g)
		}
	}
	scrapesMediawatch := false
	for _, sc := range listAt(pc, "scrape_configs") {
		if strAt(sc, "job_name") != "mediawatch" {
			continue
		}
		for _, st := range listAt(sc, "static_configs") {
			for _, target := range listAt(st, "targets") {
				h, p, _ := net.SplitHostPort(fmt.Sprint(target))
				scrapesMediawatch = scrapesMediawatch || (h == "mediawatch" && p == httpPort)
			}
		}
	}
	if !scrapesMediawatch {
		t.Errorf("%s: job mediawatch does not scrape mediawatch:%s", promCfg, httpPort)
	}

	// Grafana: the data source is the prometheus service, and the
	// dashboards the provider loads are mounted where it looks.
	gm := mounts["grafana"]
	provDir, ok := hostPath(gm, "/etc/grafana/provisioning")
	if !ok {
		t.Fatal("service grafana: /etc/grafana/provisioning is not mounted")
	}
	ds := yamlMap(t, filepath.Join(provDir, "datasources", "prometheus.yaml"))
	for _, d := range listAt(ds, "datasources") {
		u, err := url.Parse(strAt(d, "url"))
		if err != nil || mapAt(services, u.Hostname()) == nil || u.Port() != "9090" {
			t.Errorf("grafana data source %s: url %q is not the prometheus service", strAt(d, "name"), strAt(d, "url"))
		}
	}
	dp := yamlMap(t, filepath.Join(provDir, "dashboards", "mediawatch.yaml"))
	for _, p := range listAt(dp, "providers") {
		dir, ok := hostPath(gm, strAt(p, "options", "path"))
		if !ok {
			t.Errorf("grafana dashboard provider %s: path %s is not mounted", strAt(p, "name"), strAt(p, "options", "path"))
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, "mediawatch.json")); err != nil {
			t.Errorf("grafana dashboard provider %s: %v", strAt(p, "name"), err)
		}
	}
	home := strAt(mapAt(services, "grafana"), "environment", "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
	if f, ok := hostPath(gm, home); !ok || path.Ext(home) != ".json" {
		t.Errorf("grafana: home dashboard %s is not a mounted dashboard", home)
	} else if _, err := os.Stat(f); err != nil {
		t.Errorf("grafana: home dashboard: %v", err)
	}
}
