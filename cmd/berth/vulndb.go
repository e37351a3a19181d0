package main

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/ecr"
)

// vulnDBTimeout bounds an import: building the bundle, the upload and the
// server's validating load.
const vulnDBTimeout = 30 * time.Minute

func vulnDBCmd() *cobra.Command {
	var endpoint, region, output string
	cmd := &cobra.Command{
		Use:   "vulndb",
		Short: "Import or describe the vulnerability database image scans match against",
		Long: `ECR basic scans (StartImageScan, scanOnPush) match an image's Debian, Ubuntu
and Alpine packages and Go binaries' modules against an OSV database the operator
imports from local files: directories of OSV JSON records, or the zip archives
osv.dev publishes per ecosystem, e.g.

  curl -O https://osv-vulnerabilities.storage.googleapis.com/Debian/all.zip
  berth vulndb import all.zip ./my-advisories/

The database is the account's, shared by every server on the same etcd.
Requests are signed with the AWS credentials of the environment.`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&endpoint, "endpoint-url", "", "the server's URL (default $BERTH_ENDPOINT, else "+defaultEndpoint+")")
	pf.StringVar(&region, "region", "", "region to sign for (default: the AWS configuration's, else us-east-1)")
	pf.StringVar(&output, "output", "table", "table or json")

	importCmd := &cobra.Command{
		Use:   "import PATH...",
		Short: "Replace the vulnerability database with OSV records from directories, .json and .zip files",
		Long: `Bundle every OSV record under the PATHs (*.json files, and *.zip archives of
them, in directories searched recursively) into one zip and send it to the
server, which checks that each JSON document is an OSV record (if one is not,
nothing changes) and makes it the database every later scan uses.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, paths []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), vulnDBTimeout)
			defer cancel()
			client, err := newBerthClient(ctx, endpoint, region)
			if err != nil {
				return err
			}
			bundle, err := os.CreateTemp("", "berth-vulndb-*.zip")
			if err != nil {
				return fmt.Errorf("bundle: %w", err)
			}
			defer os.Remove(bundle.Name())
			defer bundle.Close()
			if err := bundleOSV(bundle, paths); err != nil {
				return err
			}
			size, sum, err := hashFile(bundle)
			if err != nil {
				return fmt.Errorf("bundle: %w", err)
			}
			st, err := client.ImportVulnDB(ctx, bundle, size, sum)
			if err != nil {
				return err
			}
			return printVulnDB(cmd.OutOrStdout(), output, st)
		},
	}
	statusCmd := &cobra.Command{
		Use:   "status",
		Short: "Show the vulnerability database: when it was imported, and its vulnerabilities per ecosystem",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
			defer cancel()
			client, err := newBerthClient(ctx, endpoint, region)
			if err != nil {
				return err
			}
			st, err := client.VulnDBStatus(ctx)
			if err != nil {
				return err
			}
			return printVulnDB(cmd.OutOrStdout(), output, st)
		},
	}
	cmd.AddCommand(importCmd, statusCmd)
	return cmd
}

func checkOutput(output string) error {
	if output != "table" && output != "json" {
		return fmt.Errorf("--output must be table or json, not %q", output)
	}
	return nil
}

// bundleOSV writes to w a zip of the OSV records under paths: each
// *.json file compressed, each *.zip archive stored as it is (the server
// reads archives inside the bundle). Entries are named "<n>-<base>/..." by
// argument, so that two paths' files never collide.
func bundleOSV(w io.Writer, paths []string) error {
	zw := zip.NewWriter(w)
	added := 0
	add := func(name, file string) error {
		method := zip.Deflate
		if strings.EqualFold(filepath.Ext(file), ".zip") {
			method = zip.Store
		}
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		dst, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: method})
		if err != nil {
			return fmt.Errorf("bundle %s: %w", file, err)
		}
		if _, err := io.Copy(dst, f); err != nil {
			return fmt.Errorf("bundle %s: %w", file, err)
		}
		added++
		return nil
	}
	wanted := func(name string) bool {
		ext := strings.ToLower(filepath.Ext(name))
		return ext == ".json" || ext == ".zip"
	}
	for i, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return err
		}
		base := fmt.Sprintf("%d-%s", i, filepath.Base(filepath.Clean(p)))
		if !info.IsDir() {
			if !wanted(p) {
				return fmt.Errorf("%s: not a directory, .json or .zip file", p)
			}
			if err := add(base, p); err != nil {
				return err
			}
			continue
		}
		err = filepath.WalkDir(p, func(file string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || !d.Type().IsRegular() || !wanted(file) {
				return nil
			}
			rel, err := filepath.Rel(p, file)
			if err != nil {
				return err
			}
			return add(base+"/"+filepath.ToSlash(rel), file)
		})
		if err != nil {
			return err
		}
	}
	if added == 0 {
		return errors.New("no OSV records found: give directories of *.json files, .json files or .zip archives")
	}
	return zw.Close()
}

// hashFile returns f's size and SHA-256 (hex), and rewinds it.
func hashFile(f *os.File) (int64, string, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, "", err
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, "", err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, "", err
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

func printVulnDB(w io.Writer, output string, st *ecr.VulnDBStatus) error {
	if output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	if !st.Imported {
		fmt.Fprintln(w, "No vulnerability database imported: scans fail until `berth vulndb import PATH...`.")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Imported at:\t%s\n", st.ImportedAt.Format(time.RFC3339))
	fmt.Fprintf(tw, "Digest:\t%s\n", st.Digest)
	fmt.Fprintf(tw, "Size:\t%d bytes\n", st.SizeBytes)
	fmt.Fprintf(tw, "Records:\t%d read, %d vulnerabilities kept, %d withdrawn, %d of ecosystems Berth does not scan\n",
		st.Files, st.Vulnerabilities, st.Withdrawn, st.Unsupported)
	fmt.Fprintf(tw, "Loaded by this server:\t%t\n", st.Loaded)
	fmt.Fprintln(tw, "\nECOSYSTEM\tVULNERABILITIES")
	ecos := make([]string, 0, len(st.Ecosystems))
	for e := range st.Ecosystems {
		ecos = append(ecos, e)
	}
	slices.Sort(ecos)
	for _, e := range ecos {
		fmt.Fprintf(tw, "%s\t%d\n", e, st.Ecosystems[e])
	}
	return tw.Flush()
}
