package server

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"prefectgo.dev/prefectgo/server/catalogue"
	"prefectgo.dev/prefectgo/server/events"
	"prefectgo.dev/prefectgo/server/httpapi"
	"prefectgo.dev/prefectgo/server/store"
)

// blockRegistration is Prefect's block registration at start
// (block_registration.run_block_auto_registration), over the catalogue of
// the prefect package.
type blockRegistration struct {
	catalogue *catalogue.Catalogue
	store     store.Store
	events    httpapi.Emitter
	log       *slog.Logger
}

// run registers the catalogue and emits the lifecycle events of the block
// types it created or changed. Without a catalogue it does nothing: Load
// has said so once. A failure stops the start, as it stops Prefect's.
func (b *blockRegistration) run(ctx context.Context) error {
	if !b.catalogue.HasBlocks() {
		return nil
	}
	changes, err := b.catalogue.RegisterAll(ctx, b.store)
	now := time.Now().UTC().Truncate(time.Microsecond)
	for _, ch := range changes {
		if err := b.events.Emit(ctx, events.BlockTypeChanged(ch.Action, ch.BlockType, now)); err != nil {
			b.log.Warn("emitting a lifecycle event", "event", "prefect.block-type."+ch.Action, "error", err)
		}
	}
	if err != nil {
		return fmt.Errorf("registering the block catalogue: %w", err)
	}
	return nil
}
