package main

import (
	"io"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseOptions(t *testing.T) {
	t.Parallel()

	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	withImage := env(map[string]string{"PREFECT_SERVER_IMAGE": "ghcr.io/prefectgo/prefectgo:v1"})

	t.Run("Defaults", func(t *testing.T) {
		t.Parallel()
		o, err := parseOptions(nil, withImage, io.Discard)
		require.NoError(t, err)
		require.Equal(t, options{
			MetricsAddr: ":8080",
			ProbeAddr:   ":8081",
			LogLevel:    slog.LevelInfo,
			ServerImage: "ghcr.io/prefectgo/prefectgo:v1",
		}, o)
	})

	t.Run("Flags", func(t *testing.T) {
		t.Parallel()
		o, err := parseOptions([]string{
			"--metrics-bind-address=0", "--health-probe-bind-address=:9000",
			"--leader-elect", "--leader-election-namespace=ops", "--namespace=prefect", "--log-level=debug",
		}, withImage, io.Discard)
		require.NoError(t, err)
		require.Equal(t, "0", o.MetricsAddr)
		require.Equal(t, ":9000", o.ProbeAddr)
		require.True(t, o.LeaderElect)
		require.Equal(t, "ops", o.LeaseNS)
		require.Equal(t, "prefect", o.Namespace)
		require.Equal(t, slog.LevelDebug, o.LogLevel)
	})

	t.Run("ImageRequired", func(t *testing.T) {
		t.Parallel()
		_, err := parseOptions(nil, env(nil), io.Discard)
		require.ErrorContains(t, err, "PREFECT_SERVER_IMAGE is not set")
	})

	t.Run("BadFlag", func(t *testing.T) {
		t.Parallel()
		_, err := parseOptions([]string{"--log-level=loud"}, withImage, io.Discard)
		require.Error(t, err)
		_, err = parseOptions([]string{"stray"}, withImage, io.Discard)
		require.ErrorContains(t, err, "unexpected arguments")
	})
}
