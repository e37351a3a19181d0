package ecs

import (
	"encoding/base64"
	"sort"

	"github.com/berth-dev/berth/internal/api/awserr"
)

// page returns one page of the sorted items and the token for the next one.
// The token encodes the last returned item, so a page stays correct when
// items are added or removed between calls.
func page(items []string, maxResults *int32, nextToken *string) ([]string, *string, error) {
	sort.Strings(items)
	limit := 100
	if maxResults != nil {
		if *maxResults < 1 || *maxResults > 100 {
			return nil, nil, awserr.InvalidParameter("maxResults must be between 1 and 100.")
		}
		limit = int(*maxResults)
	}
	start := 0
	if nextToken != nil && *nextToken != "" {
		after, err := base64.RawURLEncoding.DecodeString(*nextToken)
		if err != nil {
			return nil, nil, awserr.InvalidParameter("The nextToken is not valid.")
		}
		start = sort.SearchStrings(items, string(after))
		if start < len(items) && items[start] == string(after) {
			start++
		}
	}
	end := min(start+limit, len(items))
	out := items[start:end]
	if end < len(items) {
		tok := base64.RawURLEncoding.EncodeToString([]byte(out[len(out)-1]))
		return out, &tok, nil
	}
	return out, nil, nil
}
