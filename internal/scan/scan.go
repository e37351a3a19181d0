package scan

import (
	"context"
	"fmt"
)

// Scan takes the inventory of an image's layers and matches it against db:
// the whole of a basic scan. The report's notes include the inventory's.
func Scan(ctx context.Context, db *DB, layers []LayerOpener, cfg InventoryConfig) (*Report, error) {
	inv, err := TakeInventory(ctx, layers, cfg)
	if err != nil {
		return nil, fmt.Errorf("scan image: %w", err)
	}
	rep := db.Match(inv)
	rep.Notes = append(inv.Notes, rep.Notes...)
	return rep, nil
}
