package load

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

//go:embed realclient.py
var realClientScript []byte

// RealClientResult is the wall time of the real-client workload.
type RealClientResult struct {
	Flows int // completed
	// Capped is set when the time cap stopped the script first.
	Capped bool
	// Seconds from the first flow's start to the last completed flow's end.
	Seconds float64
	// Process is the whole run including interpreter start and the final
	// flush of events and logs.
	Process time.Duration
}

// RealClient runs flows small flows (3 tasks each) with the prefect package
// from venv against the server at api, in a fresh PREFECT_HOME. After limit
// (when not 0) the script is stopped and the flows done so far are reported.
func RealClient(ctx context.Context, venv, api string, flows int, limit time.Duration) (RealClientResult, error) {
	dir, err := os.MkdirTemp("", "benchcompare-client-")
	if err != nil {
		return RealClientResult{}, err
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "realclient.py")
	if err := os.WriteFile(script, realClientScript, 0o644); err != nil {
		return RealClientResult{}, err
	}
	runCtx := ctx
	if limit > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, limit)
		defer cancel()
	}
	cmd := exec.CommandContext(runCtx, filepath.Join(venv, "bin", "python"), script, fmt.Sprint(flows))
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PREFECT_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "PREFECT_API_URL="+api, "PREFECT_HOME="+filepath.Join(dir, "home"),
		"PREFECT_SERVER_ANALYTICS_ENABLED=false", "PYTHONDONTWRITEBYTECODE=1")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	res := RealClientResult{Process: time.Since(start)}
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, "BENCH_FLOW "); ok {
			var r struct {
				Flows   int     `json:"flows"`
				Seconds float64 `json:"seconds"`
			}
			if json.Unmarshal([]byte(rest), &r) == nil {
				res.Flows, res.Seconds = r.Flows, r.Seconds
			}
		}
	}
	if runCtx.Err() != nil && ctx.Err() == nil && res.Flows > 0 {
		res.Capped = true
		return res, nil
	}
	if err != nil {
		return res, fmt.Errorf("real client: %w\n%s", err, tail(string(out), 2000))
	}
	if res.Flows != flows {
		return res, fmt.Errorf("real client ran %d of %d flows:\n%s", res.Flows, flows, tail(string(out), 2000))
	}
	return res, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
