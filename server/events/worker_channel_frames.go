package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

// The worker channel's protocol, version 1 (Prefect's
// prefect/client/schemas/worker_channel.py): frames are JSON objects
// {"type","id","sent_at","payload"}, as strict as Prefect's models (no
// unknown keys).
const (
	channelVersion = "work_pool_worker_channel.v1"

	capHeartbeat = "worker_heartbeat.v1"
	capSnapshot  = "work_pool_snapshot.v1"
	capCleanup   = "cleanup_delivery.v1"

	frameHello           = "worker.hello.v1"
	frameReady           = "worker.ready.v1"
	frameHeartbeat       = "worker.heartbeat.v1"
	frameSnapshot        = "work_pool.snapshot.v1"
	frameCleanupAck      = "cleanup.ack.v1"
	frameCleanupRelease  = "cleanup.release.v1"
	frameCleanupRenew    = "cleanup.renew.v1"
	frameCleanupResult   = "cleanup.operation_result.v1"
	cleanupNotAccepted   = "cleanup_delivery_not_accepted"
	cleanupUnauthorized  = "unauthorized"
	cleanupKindCancel    = "cancelling_timeout_teardown.v1"
	cleanupKindPendClaim = "pending_claim_teardown.v1"
)

// channelCapabilities are what this server accepts: the two every worker
// must ask for. Cleanup delivery is declined (Prefect accepts it only with a
// cleanup queue, which this server does not keep).
var channelCapabilities = []string{capHeartbeat, capSnapshot}

// channelClose is one of Prefect's WorkerChannelCloseReason values with its
// close code; the reason travels as the close frame's reason, which is what
// the worker reads to decide whether to reconnect or fall back to REST.
type channelClose struct {
	code   websocket.StatusCode
	reason string
}

var (
	closeAuthenticationFailed = channelClose{websocket.StatusPolicyViolation, "authentication_failed"}
	closeAuthorizationFailed  = channelClose{websocket.StatusPolicyViolation, "authorization_failed"}
	closeUnsupportedVersion   = channelClose{websocket.StatusPolicyViolation, "unsupported_version"}
	closeProtocolError        = channelClose{websocket.StatusProtocolError, "protocol_error"}
	closeHeartbeatFailed      = channelClose{websocket.StatusInternalError, "heartbeat_persistence_failed"}
	closeTransient            = channelClose{websocket.StatusInternalError, "transient_server_error"}
)

// channelError ends a channel with a close reason; detail is for the log.
type channelError struct {
	close  channelClose
	detail string
}

func (e *channelError) Error() string { return e.close.reason + ": " + e.detail }

func closing(c channelClose, detail string) error { return &channelError{c, detail} }

// incoming is a frame as read, its payload not decoded yet.
type incoming struct {
	Type    string
	ID      uuid.UUID
	Payload json.RawMessage
}

// errInvalidJSON tells a message that is not JSON from a malformed frame.
var errInvalidJSON = errors.New("invalid JSON")

// parseFrame checks a frame's envelope.
func parseFrame(data []byte) (incoming, error) {
	if !json.Valid(data) {
		return incoming{}, errInvalidJSON
	}
	var f struct {
		Type    *string          `json:"type"`
		ID      *uuid.UUID       `json:"id"`
		SentAt  *schema.DateTime `json:"sent_at"`
		Payload json.RawMessage  `json:"payload"`
	}
	if err := decodeStrict(data, &f); err != nil {
		return incoming{}, err
	}
	if f.Type == nil || f.ID == nil || f.SentAt == nil || !isObject(f.Payload) {
		return incoming{}, errors.New("a frame needs type, id, sent_at and an object payload")
	}
	return incoming{Type: *f.Type, ID: *f.ID, Payload: f.Payload}, nil
}

// decodeStrict decodes one JSON value, refusing keys v does not have, as
// Prefect's protocol models (extra="forbid") do.
func decodeStrict(data []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if _, err := d.Token(); err != io.EOF {
		return errors.New("data after the JSON value")
	}
	return nil
}

func isObject(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '{'
}

// helloPayload is worker.hello.v1's payload.
type helloPayload struct {
	ConsumerID               *uuid.UUID      `json:"consumer_id"`
	WorkerName               *string         `json:"worker_name"`
	WorkerType               *string         `json:"worker_type"`
	HeartbeatIntervalSeconds *int            `json:"heartbeat_interval_seconds"`
	SupportedChannelVersions []string        `json:"supported_channel_versions"`
	RequestedCapabilities    []string        `json:"requested_capabilities"`
	WorkQueueNames           []string        `json:"work_queue_names"`
	HandledCleanupKinds      []string        `json:"handled_cleanup_kinds"`
	MaxCleanupConcurrency    *int            `json:"max_cleanup_concurrency"`
	CreatePoolIfNotFound     bool            `json:"create_pool_if_not_found"`
	DefaultBaseJobTemplate   json.RawMessage `json:"default_base_job_template"`
	WorkerMetadata           json.RawMessage `json:"worker_metadata"`
}

// parseHello decodes and checks a hello payload as Prefect's
// WorkerHelloPayload does.
func parseHello(raw json.RawMessage) (helloPayload, error) {
	var h helloPayload
	if err := decodeStrict(raw, &h); err != nil {
		return h, err
	}
	switch {
	case h.ConsumerID == nil:
		return h, errors.New("consumer_id is required")
	case h.WorkerName == nil || *h.WorkerName == "":
		return h, errors.New("worker_name must be a non-empty string")
	case h.WorkerType == nil || *h.WorkerType == "":
		return h, errors.New("worker_type must be a non-empty string")
	case h.HeartbeatIntervalSeconds == nil || *h.HeartbeatIntervalSeconds <= 0:
		return h, errors.New("heartbeat_interval_seconds must be a positive integer")
	case len(h.SupportedChannelVersions) == 0 || slices.Contains(h.SupportedChannelVersions, ""):
		return h, errors.New("supported_channel_versions must list non-empty strings")
	case len(h.RequestedCapabilities) == 0 || slices.Contains(h.RequestedCapabilities, ""):
		return h, errors.New("requested_capabilities must list non-empty strings")
	case slices.Contains(h.WorkQueueNames, ""):
		return h, errors.New("work_queue_names must be non-empty strings")
	case h.DefaultBaseJobTemplate != nil && !isObject(h.DefaultBaseJobTemplate):
		return h, errors.New("default_base_job_template must be an object")
	case h.WorkerMetadata != nil && !isObject(h.WorkerMetadata) && string(bytes.TrimSpace(h.WorkerMetadata)) != "null":
		return h, errors.New("worker_metadata must be an object or null")
	}
	for _, k := range h.HandledCleanupKinds {
		if k != cleanupKindCancel && k != cleanupKindPendClaim {
			return h, fmt.Errorf("unknown cleanup kind %q", k)
		}
	}
	for _, c := range channelCapabilities {
		if !slices.Contains(h.RequestedCapabilities, c) {
			return h, fmt.Errorf("missing required channel capability %s", c)
		}
	}
	cleanup := slices.Contains(h.RequestedCapabilities, capCleanup)
	if h.MaxCleanupConcurrency == nil {
		n := 0
		if cleanup && len(h.HandledCleanupKinds) > 0 {
			n = 1
		}
		h.MaxCleanupConcurrency = &n
	}
	switch {
	case *h.MaxCleanupConcurrency < 0:
		return h, errors.New("max_cleanup_concurrency must not be negative")
	case !cleanup && len(h.HandledCleanupKinds) > 0:
		return h, errors.New("handled_cleanup_kinds requires " + capCleanup)
	case !cleanup && *h.MaxCleanupConcurrency > 0:
		return h, errors.New("max_cleanup_concurrency requires " + capCleanup)
	}
	if h.DefaultBaseJobTemplate == nil {
		h.DefaultBaseJobTemplate = json.RawMessage(`{}`)
	}
	return h, nil
}

// heartbeatPayload is worker.heartbeat.v1's payload.
type heartbeatPayload struct {
	ConsumerID               *uuid.UUID `json:"consumer_id"`
	WorkerName               *string    `json:"worker_name"`
	HeartbeatIntervalSeconds *int       `json:"heartbeat_interval_seconds"`
}

func parseHeartbeat(raw json.RawMessage) (heartbeatPayload, error) {
	var h heartbeatPayload
	if err := decodeStrict(raw, &h); err != nil {
		return h, err
	}
	if h.ConsumerID == nil || h.WorkerName == nil || *h.WorkerName == "" ||
		h.HeartbeatIntervalSeconds == nil || *h.HeartbeatIntervalSeconds <= 0 {
		return h, errors.New("a heartbeat needs consumer_id, worker_name and a positive heartbeat_interval_seconds")
	}
	return h, nil
}

// cleanupOperation is the payload of cleanup.ack/release/renew.v1.
type cleanupOperation struct {
	MessageID        *uuid.UUID `json:"message_id"`
	ReservationToken *string    `json:"reservation_token"`
	Reason           *string    `json:"reason,omitempty"` // release only
}

// parseCleanupOperation checks a cleanup frame and names its operation.
func parseCleanupOperation(f incoming) (string, cleanupOperation, error) {
	var op cleanupOperation
	if err := decodeStrict(f.Payload, &op); err != nil {
		return "", op, err
	}
	name := map[string]string{frameCleanupAck: "ack", frameCleanupRelease: "release", frameCleanupRenew: "renew"}[f.Type]
	switch {
	case op.MessageID == nil || op.ReservationToken == nil || *op.ReservationToken == "":
		return "", op, errors.New("a cleanup operation needs message_id and reservation_token")
	case name == "release" && (op.Reason == nil || *op.Reason == ""):
		return "", op, errors.New("a cleanup release needs a reason")
	case name != "release" && op.Reason != nil:
		return "", op, errors.New("only a cleanup release has a reason")
	}
	return name, op, nil
}

// outgoing is a frame the server sends.
type outgoing struct {
	Type    string    `json:"type"`
	ID      uuid.UUID `json:"id"`
	SentAt  time.Time `json:"sent_at"`
	Payload any       `json:"payload"`
}

func newFrame(typ string, now time.Time, payload any) outgoing {
	return outgoing{Type: typ, ID: uuid.Must(uuid.NewV7()), SentAt: now.UTC().Truncate(time.Microsecond), Payload: payload}
}

type resolvedQueue struct {
	ID   uuid.UUID `json:"id"`
	Name string    `json:"name"`
}

type snapshotPayload struct {
	SnapshotSequence int             `json:"snapshot_sequence"`
	Reason           string          `json:"reason"`
	WorkPool         schema.WorkPool `json:"work_pool"`
}

type readyPayload struct {
	ConsumerID                        uuid.UUID       `json:"consumer_id"`
	WorkerID                          *uuid.UUID      `json:"worker_id"`
	SelectedChannelVersion            string          `json:"selected_channel_version"`
	EffectiveHeartbeatIntervalSeconds int             `json:"effective_heartbeat_interval_seconds"`
	AcceptedCapabilities              []string        `json:"accepted_capabilities"`
	RejectedCapabilities              []string        `json:"rejected_capabilities"`
	EffectiveMaxCleanupConcurrency    int             `json:"effective_max_cleanup_concurrency"`
	ResolvedWorkQueues                []resolvedQueue `json:"resolved_work_queues"`
	InitialSnapshot                   snapshotPayload `json:"initial_snapshot"`
}

type cleanupResultPayload struct {
	RequestFrameID uuid.UUID  `json:"request_frame_id"`
	MessageID      uuid.UUID  `json:"message_id"`
	Operation      string     `json:"operation"`
	Status         string     `json:"status"`
	LeaseExpiresAt *time.Time `json:"lease_expires_at"`
	Reason         *string    `json:"reason"`
	Detail         *string    `json:"detail"`
}
