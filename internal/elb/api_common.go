package elb

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berth-dev/berth/internal/api/awserr"
	"github.com/berth-dev/berth/internal/api/gen/elbv2types"
	"github.com/berth-dev/berth/internal/store"
)

// What the resource actions (api_*.go) share: AWS-shaped errors, ARN
// resolution, the name indexes, paging markers and tag checks.

// nameClaim indexes a load balancer or target group by its name, so that
// Describe by Names and Create's idempotency read one key instead of
// scanning the region.
type nameClaim struct {
	// ID is the lbID or tgID the name belongs to.
	ID string `json:"id"`
}

var (
	// lbNames: "<region>/<name>" -> the load balancer's id.
	lbNames = store.NewCollection[nameClaim]("elb/lb-names")
	// tgNames: "<region>/<name>" -> the target group's id.
	tgNames = store.NewCollection[nameClaim]("elb/tg-names")
)

func errELB(code, format string, args ...any) *awserr.Error {
	return awserr.Newf(code, format, args...)
}

func errValidation(format string, args ...any) *awserr.Error {
	return awserr.Newf(awserr.CodeQueryValidation, format, args...)
}

func errInvalidConfig(format string, args ...any) *awserr.Error {
	return awserr.Newf(elbv2types.ErrCodeInvalidConfigurationRequestException, format, args...)
}

func errNoLoadBalancer() *awserr.Error {
	return errELB(elbv2types.ErrCodeLoadBalancerNotFoundException, "One or more load balancers not found")
}

func errNoTargetGroup() *awserr.Error {
	return errELB(elbv2types.ErrCodeTargetGroupNotFoundException, "One or more target groups not found")
}

func errNoListener() *awserr.Error {
	return errELB(elbv2types.ErrCodeListenerNotFoundException, "One or more listeners not found")
}

func errNoRule() *awserr.Error {
	return errELB(elbv2types.ErrCodeRuleNotFoundException, "One or more rules not found")
}

// notFoundFor is the NotFound error of an ARN kind.
func errNotFoundFor(kind string) *awserr.Error {
	switch kind {
	case "loadbalancer":
		return errNoLoadBalancer()
	case "listener":
		return errNoListener()
	case "listener-rule":
		return errNoRule()
	default:
		return errNoTargetGroup()
	}
}

var kindNoun = map[string]string{
	"loadbalancer":  "load balancer",
	"listener":      "listener",
	"listener-rule": "rule",
	"targetgroup":   "target group",
}

// resolve parses an ARN that must name kind. A malformed ARN, or one of
// another kind, is a ValidationError as in AWS; a well-formed one of
// another account or region names nothing Berth holds here: NotFound.
func (s *Service) resolve(ctx context.Context, arn, kind string) (parsedARN, error) {
	p, ok := s.arns.parse(arn)
	if !ok || p.Kind != kind {
		if !ok && isForeignELBARN(arn, kind) {
			return parsedARN{}, errNotFoundFor(kind)
		}
		return parsedARN{}, errValidation("'%s' is not a valid %s ARN", arn, kindNoun[kind])
	}
	if p.Region != s.region(ctx) {
		return parsedARN{}, errNotFoundFor(kind)
	}
	return p, nil
}

// isForeignELBARN reports an ARN of kind that is well formed but of
// another account.
func isForeignELBARN(arn, kind string) bool {
	account := splitAccount(arn)
	p, ok := arns{account: account}.parse(arn)
	return ok && account != "" && p.Kind == kind
}

// getOr reads id from c, answering missing with notFound.
func getOrErr[T any](tx *store.Tx, c store.Collection[T], id string, notFound error) (T, error) {
	v, err := store.Get(tx, c, id)
	if errors.Is(err, store.ErrNotFound) {
		return v, notFound
	}
	if err != nil {
		return v, fmt.Errorf("read %s %s: %w", c.Name(), id, err)
	}
	return v, nil
}

// exists reads id from c: the value and whether it is there.
func getIfAny[T any](tx *store.Tx, c store.Collection[T], id string) (T, bool, error) {
	v, err := store.Get(tx, c, id)
	if errors.Is(err, store.ErrNotFound) {
		return v, false, nil
	}
	if err != nil {
		return v, false, fmt.Errorf("read %s %s: %w", c.Name(), id, err)
	}
	return v, true, nil
}

// Paging: a marker is the opaque form of the last record id of a page.

const defaultPageSize = 400

func pageSize(n *int32) int {
	if n == nil || *n <= 0 {
		return defaultPageSize
	}
	return int(*n)
}

func encodeMarker(id string) *string {
	return aws.String(base64.RawURLEncoding.EncodeToString([]byte(id)))
}

// decodeMarker returns the record id a marker holds; it must lie under
// prefix (a marker of another listing is refused).
func decodeMarker(m *string, prefix string) (string, error) {
	if m == nil || *m == "" {
		return "", nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(*m)
	if err != nil || !strings.HasPrefix(string(raw), prefix) {
		return "", errValidation("The marker '%s' is not valid", *m)
	}
	return string(raw), nil
}

// scanPage reads one page of c under prefix after the marker: the values
// and the next marker (nil on the last page).
func scanPage[T any](tx *store.Tx, c store.Collection[T], prefix string, marker *string, size *int32) ([]T, *string, error) {
	after, err := decodeMarker(marker, prefix)
	if err != nil {
		return nil, nil, err
	}
	n := pageSize(size)
	out := []T{}
	var next *string
	lastID := ""
	err = store.Scan(tx, c, prefix, after, false, func(id string, v T) (bool, error) {
		if len(out) == n {
			next = encodeMarker(lastID)
			return false, nil
		}
		out = append(out, v)
		lastID = id
		return true, nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("page %s: %w", c.Name(), err)
	}
	return out, next, nil
}

// nameRE is a load balancer's or target group's name: letters, digits and
// hyphens, 1 to 32, not starting or ending with a hyphen.
var nameRE = regexp.MustCompile(`^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,30}[a-zA-Z0-9])?$`)

// Tags.

const maxTags = 50

// checkTags refuses a tag set with a key twice or more than maxTags tags.
func checkTags(tags []elbv2types.Tag) error {
	seen := map[string]bool{}
	for _, t := range tags {
		k := aws.ToString(t.Key)
		if k == "" {
			return errValidation("A tag key must be specified")
		}
		if strings.HasPrefix(strings.ToLower(k), "aws:") {
			return errValidation("Tag keys starting with 'aws:' are reserved for AWS use")
		}
		if seen[k] {
			return errELB(elbv2types.ErrCodeDuplicateTagKeysException, "A tag key was specified more than once: '%s'", k)
		}
		seen[k] = true
	}
	if len(tags) > maxTags {
		return errELB(elbv2types.ErrCodeTooManyTagsException, "You've reached the limit on the number of tags per resource (%d)", maxTags)
	}
	return nil
}

// mergeTags returns old with tags added or overwritten, in key order of
// first appearance.
func mergeTags(old, add []elbv2types.Tag) []elbv2types.Tag {
	out := append([]elbv2types.Tag(nil), old...)
	for _, t := range add {
		replaced := false
		for i := range out {
			if aws.ToString(out[i].Key) == aws.ToString(t.Key) {
				out[i].Value = t.Value
				replaced = true
			}
		}
		if !replaced {
			out = append(out, t)
		}
	}
	return out
}

// nonNil returns s, or an empty slice for nil: lists AWS always answers
// are present when empty.
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// errCodeOf is the AWS error code of err, "" for none.
func awsCodeOf(err error) string {
	if e, ok := awserr.As(err); ok {
		return e.Code
	}
	return ""
}
