package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/api/gen/ecstypes"
	"github.com/berth-dev/berth/internal/berthclient"
	"github.com/berth-dev/berth/internal/ecs"
)

// defaultEndpoint is where `berth server` listens unless told otherwise.
const defaultEndpoint = "http://127.0.0.1:9320"

func explainPlacementCmd() *cobra.Command {
	var (
		endpoint, region, output, inputJSON string
		in                                  ecstypes.RunTaskRequest
		count                               int32
		constraints, strategies             []string
	)
	cmd := &cobra.Command{
		Use:   "explain-placement",
		Short: "Dry-run a RunTask: where its tasks would go, and why each instance would or would not take one",
		Long: `Ask the server what RunTask would do with the same request, without running
anything: the instance each task would go to, the failures RunTask would
return, and for the first task every instance of the cluster with its verdict
(CHOSEN, FITS, REJECTED) and, when rejected, ECS's reason and the figures behind it.

The request is RunTask's: give it with flags, or whole with --input-json (the
JSON "aws ecs run-task --cli-input-json" takes). Constraints and strategies take
the AWS CLI's shorthand or JSON:

  berth explain-placement --cluster prod --task-definition web:3 --count 3 \
    --placement-strategy type=spread,field=attribute:ecs.availability-zone \
    --placement-constraints 'type=memberOf,expression=attribute:ecs.instance-type =~ m5.*'

Requests are signed with the AWS credentials of the environment (for a
--dev server, the ones its banner prints).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if inputJSON != "" {
				if err := readRunTaskInput(inputJSON, &in); err != nil {
					return err
				}
			}
			flags := cmd.Flags()
			if flags.Changed("count") {
				in.Count = aws.Int32(count)
			}
			for _, c := range constraints {
				pcs, err := parsePlacementConstraints(c)
				if err != nil {
					return err
				}
				in.PlacementConstraints = append(in.PlacementConstraints, pcs...)
			}
			for _, s := range strategies {
				pss, err := parsePlacementStrategies(s)
				if err != nil {
					return err
				}
				in.PlacementStrategy = append(in.PlacementStrategy, pss...)
			}
			if in.TaskDefinition == nil {
				return errors.New("--task-definition is required (or give it in --input-json)")
			}
			if output != "table" && output != "json" {
				return fmt.Errorf("--output must be table or json, not %q", output)
			}
			ctx := cmd.Context()
			client, err := newBerthClient(ctx, endpoint, region)
			if err != nil {
				return err
			}
			out, err := client.ExplainPlacement(ctx, &in)
			if err != nil {
				return err
			}
			if output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			}
			return printExplanation(cmd.OutOrStdout(), out)
		},
	}
	f := cmd.Flags()
	f.StringVar(&endpoint, "endpoint-url", "", "the server's URL (default $BERTH_ENDPOINT, else "+defaultEndpoint+")")
	f.StringVar(&region, "region", "", "region to sign for (default: the AWS configuration's, else us-east-1)")
	f.StringVar(&output, "output", "table", "table or json")
	f.StringVar(&inputJSON, "input-json", "", "RunTask's request as JSON, or @file to read it from a file")
	f.Var(optString{&in.Cluster}, "cluster", "cluster name or ARN (default: default)")
	f.Var(optString{&in.TaskDefinition}, "task-definition", "family, family:revision or ARN")
	f.Var(optString{&in.Group}, "group", "task group (default family:<family>)")
	f.Int32Var(&count, "count", 1, "tasks to place (1 to 10)")
	f.StringArrayVar(&constraints, "placement-constraints", nil, "type=memberOf,expression=... or type=distinctInstance, or a JSON list; repeatable")
	f.StringArrayVar(&strategies, "placement-strategy", nil, "type=spread|binpack|random,field=..., or a JSON list; repeatable, most significant first")
	return cmd
}

// newBerthClient is a client of the server at endpoint ($BERTH_ENDPOINT,
// else defaultEndpoint, when empty) signing for region (the AWS
// configuration's, else us-east-1, when empty) with the environment's
// credentials.
func newBerthClient(ctx context.Context, endpoint, region string) (*berthclient.Client, error) {
	// Credentials from the environment or the shared files only: a
	// Berth server is not on EC2, and asking the instance metadata
	// service would leave the machine.
	opts := []func(*config.LoadOptions) error{config.WithEC2IMDSClientEnableState(imds.ClientDisabled)}
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = "us-east-1"
	}
	if endpoint == "" {
		endpoint = cmp.Or(os.Getenv("BERTH_ENDPOINT"), defaultEndpoint)
	}
	if awsCfg.Credentials == nil {
		return nil, errNoCredentials
	}
	if _, err := awsCfg.Credentials.Retrieve(ctx); err != nil {
		return nil, errNoCredentials
	}
	return &berthclient.Client{Endpoint: endpoint, Region: awsCfg.Region, Credentials: awsCfg.Credentials}, nil
}

var errNoCredentials = errors.New("no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY " +
	"(a --dev server's banner prints them) or AWS_PROFILE")

// optString is a flag that sets a *string only when given.
type optString struct{ p **string }

func (o optString) String() string {
	if o.p == nil || *o.p == nil {
		return ""
	}
	return **o.p
}
func (o optString) Set(v string) error { *o.p = aws.String(v); return nil }
func (o optString) Type() string       { return "string" }

func readRunTaskInput(arg string, in *ecstypes.RunTaskRequest) error {
	b := []byte(arg)
	if name, ok := strings.CutPrefix(arg, "@"); ok {
		var err error
		if b, err = os.ReadFile(strings.TrimPrefix(name, "file://")); err != nil {
			return fmt.Errorf("--input-json: %w", err)
		}
	}
	if err := json.Unmarshal(b, in); err != nil {
		return fmt.Errorf("--input-json: %w", err)
	}
	return nil
}

// parsePlacementConstraints reads one --placement-constraints value: a JSON
// list, or the AWS CLI's shorthand "type=memberOf,expression=...".
func parsePlacementConstraints(v string) ([]ecstypes.PlacementConstraint, error) {
	if strings.HasPrefix(strings.TrimSpace(v), "[") {
		var out []ecstypes.PlacementConstraint
		if err := json.Unmarshal([]byte(v), &out); err != nil {
			return nil, fmt.Errorf("--placement-constraints: %w", err)
		}
		return out, nil
	}
	kv, err := shorthand(v, "type", "expression")
	if err != nil {
		return nil, fmt.Errorf("--placement-constraints: %w", err)
	}
	pc := ecstypes.PlacementConstraint{Type: aws.String(kv["type"])}
	if e, ok := kv["expression"]; ok {
		pc.Expression = aws.String(e)
	}
	return []ecstypes.PlacementConstraint{pc}, nil
}

// parsePlacementStrategies reads one --placement-strategy value: a JSON list,
// or the shorthand "type=spread,field=...".
func parsePlacementStrategies(v string) ([]ecstypes.PlacementStrategy, error) {
	if strings.HasPrefix(strings.TrimSpace(v), "[") {
		var out []ecstypes.PlacementStrategy
		if err := json.Unmarshal([]byte(v), &out); err != nil {
			return nil, fmt.Errorf("--placement-strategy: %w", err)
		}
		return out, nil
	}
	kv, err := shorthand(v, "type", "field")
	if err != nil {
		return nil, fmt.Errorf("--placement-strategy: %w", err)
	}
	ps := ecstypes.PlacementStrategy{Type: aws.String(kv["type"])}
	if f, ok := kv["field"]; ok {
		ps.Field = aws.String(f)
	}
	return []ecstypes.PlacementStrategy{ps}, nil
}

// shorthand splits "k1=v1,k2=v2" where each key is one of keys; a comma
// starts a new pair only when a known key and "=" follow it, so values may
// hold commas ("attribute:zone in [a, b]"). Quotes around a value are
// dropped.
func shorthand(v string, keys ...string) (map[string]string, error) {
	out := map[string]string{}
	rest := v
	for rest != "" {
		key, val, ok := strings.Cut(rest, "=")
		if !ok || !slices.Contains(keys, strings.TrimSpace(key)) {
			return nil, fmt.Errorf("%q: expected %s=value", v, strings.Join(keys, "=..., ")+"=...")
		}
		end := len(val)
		for i := 0; i < len(val); i++ {
			if val[i] != ',' {
				continue
			}
			if k, _, ok := strings.Cut(val[i+1:], "="); ok && slices.Contains(keys, strings.TrimSpace(k)) {
				end = i
				break
			}
		}
		out[strings.TrimSpace(key)] = strings.Trim(strings.TrimSpace(val[:end]), `"'`)
		rest = ""
		if end < len(val) {
			rest = val[end+1:]
		}
	}
	if out["type"] == "" {
		return nil, fmt.Errorf("%q: type is required", v)
	}
	return out, nil
}

func printExplanation(w io.Writer, out *ecs.ExplainPlacementResponse) error {
	fmt.Fprintln(w, out.Summary)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if len(out.Tasks) > 0 {
		fmt.Fprintln(tw, "\nTASK\tCONTAINER INSTANCE\tEC2 INSTANCE")
		for i, t := range out.Tasks {
			fmt.Fprintf(tw, "%d\t%s\t%s\n", i+1, t.ContainerInstanceArn, t.Ec2InstanceID)
		}
	}
	fmt.Fprintln(tw, "\nCONTAINER INSTANCE (first task)\tVERDICT\tREASON\tDETAIL")
	for _, v := range out.Instances {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", v.ContainerInstanceArn, v.Verdict, v.Reason, v.Detail)
	}
	return tw.Flush()
}
