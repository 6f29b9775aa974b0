package userstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// LoadKeySet returns the stored signing key set and its version, or version
// 0 and no data when none is stored yet.
func (s *Store) LoadKeySet(ctx context.Context) (version int64, data []byte, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT version, data FROM key_set WHERE id = 1`).Scan(&version, &data)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, fmt.Errorf("userstore: load key set: %w", err)
	}
	return version, data, nil
}

// SwapKeySet stores data as version+1 if the stored version is still
// version (0: none stored), and reports whether it did: of any number of
// concurrent swaps from one version, exactly one succeeds.
func (s *Store) SwapKeySet(ctx context.Context, version int64, data []byte) (bool, error) {
	var swapped bool
	var err error
	if version == 0 {
		swapped, err = s.change(ctx, `INSERT INTO key_set (id, version, data, updated_at) VALUES (1, 1, ?, ?) ON CONFLICT DO NOTHING`,
			data, now().UnixMicro())
	} else {
		swapped, err = s.change(ctx, `UPDATE key_set SET version = version + 1, data = ?, updated_at = ? WHERE id = 1 AND version = ?`,
			data, now().UnixMicro(), version)
	}
	if err != nil {
		return false, fmt.Errorf("userstore: swap key set: %w", err)
	}
	return swapped, nil
}
