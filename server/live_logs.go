package server

import (
	"log/slog"
	"net/http"

	"prefectgo.dev/prefectgo/server/events"
	"prefectgo.dev/prefectgo/server/httpapi"
	"prefectgo.dev/prefectgo/server/logstream"
	"prefectgo.dev/prefectgo/server/settings"
)

// liveLogs wires the live log stream (/logs/out) as Prefect's two settings
// say, both off by default there and here:
// PREFECT_SERVER_LOGS_STREAM_PUBLISHING_ENABLED makes POST /logs publish
// what it stores (to this replica's subscribers and, on PostgreSQL, to the
// other replicas'), PREFECT_SERVER_LOGS_STREAM_OUT_ENABLED feeds this
// replica's /logs/out subscribers. The socket is served either way; while
// either is off it is sent nothing, as Prefect's is.
type liveLogs struct {
	hub              *logstream.Hub
	publish, streams bool
}

func newLiveLogs(s settings.Settings) liveLogs {
	return liveLogs{hub: logstream.NewHub(), publish: s.Logs.StreamPublishingEnabled, streams: s.Logs.StreamOutEnabled}
}

// relayed is the hub the replicas' fan-out carries logs for: nil when this
// replica neither publishes nor streams them.
func (l liveLogs) relayed() *logstream.Hub {
	if !l.publish && !l.streams {
		return nil
	}
	return l.hub
}

// publisher is what POST /logs publishes to, nil (no interface value) when
// publishing is off.
func (l liveLogs) publisher() httpapi.LogPublisher {
	if !l.publish {
		return nil
	}
	return l.hub
}

// out is the /logs/out WebSocket, with the other sockets' bounds.
func (l liveLogs) out(s settings.Settings, sock events.SocketConfig, log *slog.Logger) http.Handler {
	cfg := logstream.OutConfig{AuthString: s.API.AuthString, Socket: sock, Logger: log}
	if l.streams {
		cfg.Hub = l.hub
	}
	return logstream.OutHandler(cfg)
}
