package schema

import (
	"slices"
	"time"

	"github.com/google/uuid"
)

// Includes reports whether l matches the filter, as the store's FilterLogs
// selects (the live stream of /logs/out uses it). Like both Prefect's query
// and its stream, it applies level, timestamp, flow_run_id and task_run_id;
// text and operator are accepted and not applied here (see LogFilter).
func (f *LogFilter) Includes(l Log) bool {
	if f == nil {
		return true
	}
	if lv := f.Level; lv != nil {
		if lv.GE != nil && l.Level < *lv.GE {
			return false
		}
		if lv.LE != nil && l.Level > *lv.LE {
			return false
		}
	}
	return f.Timestamp.includes(l.Timestamp) && f.FlowRunID.includes(l.FlowRunID) && f.TaskRunID.includes(l.TaskRunID)
}

// includes is the column condition of the store's where builder for a
// non-null time: bounds inclusive, to the microsecond as stored and bound,
// is_null_ true matches nothing.
func (f *TimeFilter) includes(t time.Time) bool {
	switch {
	case f == nil:
		return true
	case f.Before != nil && t.After(f.Before.Truncate(time.Microsecond)):
		return false
	case f.After != nil && t.Before(f.After.Truncate(time.Microsecond)):
		return false
	case f.IsNull != nil && *f.IsNull:
		return false
	}
	return true
}

// includes is the column condition of the store's where builder for a
// nullable id: any_ [] matches nothing, NULL is in no list (so it passes
// not_any_), is_null_ picks NULL or not.
func (f *IDFilter) includes(id *uuid.UUID) bool {
	if f == nil {
		return true
	}
	if f.Any != nil && (id == nil || !slices.Contains(f.Any, *id)) {
		return false
	}
	if f.NotAny != nil && id != nil && slices.Contains(f.NotAny, *id) {
		return false
	}
	if f.IsNull != nil && *f.IsNull != (id == nil) {
		return false
	}
	return true
}
