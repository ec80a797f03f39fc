package deploy

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const unitFile = "systemd/mediawatch.service"

// unitDirectives reads a unit file: section -> key -> values in order.
func unitDirectives(t *testing.T, data []byte) map[string]map[string][]string {
	t.Helper()
	out := map[string]map[string][]string{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			out[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" || strings.HasSuffix(line, `\`) {
				t.Fatalf("%s:%d: not a Key=value line in a section: %s", unitFile, n, line)
			}
			out[section][strings.TrimSpace(k)] = append(out[section][strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	return out
}

func TestSystemdUnit(t *testing.T) {
	data, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	u := unitDirectives(t, data)
	svc := u["Service"]
	for key, want := range map[string]string{
		"Type":                    "simple",
		"ExecStart":               "/usr/local/bin/mediawatch run --config /etc/mediawatch/mediawatch.yaml",
		"EnvironmentFile":         "-/etc/mediawatch/env",
		"DynamicUser":             "yes",
		"StateDirectory":          "mediawatch",
		"WorkingDirectory":        "/var/lib/mediawatch",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"PrivateDevices":          "yes",
		"NoNewPrivileges":         "yes",
		"ProtectKernelTunables":   "yes",
		"ProtectKernelModules":    "yes",
		"ProtectKernelLogs":       "yes",
		"ProtectControlGroups":    "yes",
		"ProtectClock":            "yes",
		"ProtectHostname":         "yes",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
		"RestrictNamespaces":      "yes",
		"RestrictRealtime":        "yes",
		"RestrictSUIDSGID":        "yes",
		"LockPersonality":         "yes",
		"MemoryDenyWriteExecute":  "yes",
		"SystemCallArchitectures": "native",
		"CapabilityBoundingSet":   "",
		"AmbientCapabilities":     "",
		"UMask":                   "0077",
		"Restart":                 "on-failure",
		"TimeoutStopSec":          "30s",
	} {
		got, ok := svc[key]
		if !ok || got[len(got)-1] != want {
			t.Errorf("%s: [Service] %s=%v, want %s=%s", unitFile, key, got, key, want)
		}
	}
	if !slices.Contains(svc["SystemCallFilter"], "@system-service") {
		t.Errorf("%s: SystemCallFilter %v lacks @system-service", unitFile, svc["SystemCallFilter"])
	}
	if len(svc["LimitNOFILE"]) == 0 {
		t.Errorf("%s: no LimitNOFILE", unitFile)
	}
	// The process metrics read /proc/stat, which ProcSubset=pid hides.
	if slices.Contains(svc["ProcSubset"], "pid") {
		t.Errorf("%s: ProcSubset=pid breaks process_* metrics (and with them /metrics)", unitFile)
	}
	if got := u["Install"]["WantedBy"]; !slices.Equal(got, []string{"multi-user.target"}) {
		t.Errorf("%s: WantedBy=%v", unitFile, got)
	}

	// systemd-analyze verify, where it exists, with ExecStart on a binary
	// that exists here (this test's own).
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze not installed; the unit is not verified")
		return
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(t.TempDir(), "mediawatch.service")
	if err := os.WriteFile(unit, bytes.ReplaceAll(data, []byte("/usr/local/bin/mediawatch"), []byte(self)), 0o644); err != nil {
		t.Fatal(err)
	}
	// Its warnings (an unknown key, a bad value) name the file and do not
	// change the exit status; messages about the host's other units do not
	// name it.
	out, err := exec.Command(analyze, "verify", unit).CombinedOutput()
	if err != nil || bytes.Contains(out, []byte(unit)) {
		t.Errorf("systemd-analyze verify %s: %v\n%s", unitFile, err, out)
	} else if len(bytes.TrimSpace(out)) > 0 {
		t.Logf("systemd-analyze verify:\n%s", out)
	}
}
