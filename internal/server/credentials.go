package server

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/berth-dev/berth/internal/store"
)

// rootRecord is the account every server on one etcd answers as: its id and
// its root credentials. The first server writes it; the others read it, so
// a client may talk to any of them with the same keys.
type rootRecord struct {
	AccountID       string `json:"accountId"`
	AccessKeyID     string `json:"accessKeyId"`
	SecretAccessKey string `json:"secretAccessKey"`
}

// rootRecords lives in the "/berth" namespace, beside the accounts.
var rootRecords = store.NewCollection[rootRecord]("system")

const rootID = "root"

// rootCredentialsFile is where a non-dev server keeps a copy of the root
// credentials for its operator to read (the banner says where).
const rootCredentialsFile = "root-credentials.json"

type rootCredentials struct {
	AccessKeyID     string `json:"accessKeyId"`
	SecretAccessKey string `json:"secretAccessKey"`
}

// loadOrCreateRoot returns the account and root credentials stored in etcd,
// creating them on first start from, in order: BERTH_ROOT_* (cfg), the dev
// credentials (--dev), the data directory's root-credentials.json (servers
// from before the credentials lived in etcd), or freshly generated ones.
// Credentials given explicitly must match what etcd already holds.
func loadOrCreateRoot(ctx context.Context, st *store.Store, cfg *Config) (rootRecord, error) {
	var out rootRecord
	err := st.Update(ctx, func(tx *store.Tx) error {
		rec, err := store.Get(tx, rootRecords, rootID)
		switch {
		case err == nil:
			out = rec
			return nil
		case !errors.Is(err, store.ErrNotFound):
			return fmt.Errorf("read root credentials: %w", err)
		}
		rec, err = newRootRecord(cfg)
		if err != nil {
			return err
		}
		store.Put(tx, rootRecords, rootID, rec)
		out = rec
		return nil
	})
	if err != nil {
		return rootRecord{}, err
	}
	if cfg.RootAccessKeyID != "" && (cfg.RootAccessKeyID != out.AccessKeyID || cfg.RootSecretAccessKey != out.SecretAccessKey) {
		return rootRecord{}, fmt.Errorf("BERTH_ROOT_ACCESS_KEY_ID/BERTH_ROOT_SECRET_ACCESS_KEY differ from the root credentials "+
			"this etcd already holds (access key %s): unset them to use the stored ones", out.AccessKeyID)
	}
	if cfg.AccountID != "" && cfg.AccountID != out.AccountID {
		return rootRecord{}, fmt.Errorf("--account-id %s differs from the account this etcd already holds (%s)", cfg.AccountID, out.AccountID)
	}
	return out, nil
}

func newRootRecord(cfg *Config) (rootRecord, error) {
	rec := rootRecord{AccountID: cfg.AccountID, AccessKeyID: cfg.RootAccessKeyID, SecretAccessKey: cfg.RootSecretAccessKey}
	if rec.AccountID == "" {
		rec.AccountID = DefaultAccountID
	}
	if rec.AccessKeyID != "" {
		return rec, nil
	}
	if cfg.Dev {
		rec.AccessKeyID, rec.SecretAccessKey = DevAccessKeyID, DevSecretAccessKey
		return rec, nil
	}
	old, err := readRootCredentialsFile(cfg.DataDir)
	switch {
	case err == nil:
		rec.AccessKeyID, rec.SecretAccessKey = old.AccessKeyID, old.SecretAccessKey
	case errors.Is(err, os.ErrNotExist):
		rec.AccessKeyID = "AKIA" + randomString(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
		rec.SecretAccessKey = randomString(40, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
	default:
		return rootRecord{}, err
	}
	return rec, nil
}

func readRootCredentialsFile(dataDir string) (rootCredentials, error) {
	path := filepath.Join(dataDir, rootCredentialsFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return rootCredentials{}, err
	}
	var c rootCredentials
	if err := json.Unmarshal(b, &c); err != nil || c.AccessKeyID == "" || c.SecretAccessKey == "" {
		return rootCredentials{}, fmt.Errorf("read %s: malformed credentials file", path)
	}
	return c, nil
}

// writeRootCredentialsFile keeps a copy of the root credentials in the data
// directory (mode 0600) for the operator of a non-dev server.
func writeRootCredentialsFile(dataDir string, rec rootRecord) error {
	b, _ := json.MarshalIndent(rootCredentials{AccessKeyID: rec.AccessKeyID, SecretAccessKey: rec.SecretAccessKey}, "", "  ")
	path := filepath.Join(dataDir, rootCredentialsFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("write root credentials: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write root credentials: %w", err)
	}
	return nil
}

func randomString(n int, alphabet string) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
