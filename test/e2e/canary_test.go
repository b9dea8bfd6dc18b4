//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// checkCanary turns on the canary of a running PostgreSQL server, sees it pass, then
// breaks runs while the pods stay healthy (flow_run locked in the server's database: the
// probes never touch it, and the operator has nothing to undo), sees it fail at the step
// that writes a flow run, and pass again once the lock goes.
func checkCanary(t *testing.T, ns, name, database string) {
	mustKubectl(t, nil, "-n", ns, "patch", "prefectserver", name, "--type=merge",
		"-p", `{"spec":{"canary":{"enabled":true,"interval":"5s","timeout":"5s"}}}`)
	waitRunsHealthy(t, ns, name, metav1.ConditionTrue, "CanaryPassed")
	waitReady(t, ns, name, 2)

	u, err := url.Parse(pgAdminURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + database
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "LOCK TABLE flow_run IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	waitRunsHealthy(t, ns, name, metav1.ConditionFalse, "CreateFlowRun")
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	waitRunsHealthy(t, ns, name, metav1.ConditionTrue, "CanaryPassed")
}

// waitRunsHealthy waits for the RunsHealthy condition's status and reason.
func waitRunsHealthy(t *testing.T, ns, name string, status metav1.ConditionStatus, reason string) {
	t.Helper()
	eventually(t, 2*time.Minute, "RunsHealthy "+string(status)+"/"+reason, func() error {
		ps, err := prefectServer(ns, name)
		if err != nil {
			return err
		}
		if c := meta.FindStatusCondition(ps.Status.Conditions, "RunsHealthy"); c == nil || c.Status != status || c.Reason != reason {
			return fmt.Errorf("RunsHealthy: %+v", c)
		}
		return nil
	})
}
