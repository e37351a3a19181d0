package ecs

import (
	"encoding/base64"
	"sort"

	"github.com/berth-dev/berth/internal/api/awserr"
)

// page returns one page of the items, sorted ascending, and the token for
// the next one.
func page(items []string, maxResults *int32, nextToken *string) ([]string, *string, error) {
	return pageOrdered(items, false, maxResults, nextToken)
}

// pageOrdered returns one page of the items sorted ascending (or descending)
// and the token for the next page. The token encodes the last returned item,
// so a page stays correct when items are added or removed between calls.
func pageOrdered(items []string, desc bool, maxResults *int32, nextToken *string) ([]string, *string, error) {
	after := func(i int, last string) bool { return items[i] > last }
	if desc {
		sort.Sort(sort.Reverse(sort.StringSlice(items)))
		after = func(i int, last string) bool { return items[i] < last }
	} else {
		sort.Strings(items)
	}
	limit := 100
	if maxResults != nil {
		if *maxResults < 1 || *maxResults > 100 {
			return nil, nil, awserr.InvalidParameter("maxResults must be between 1 and 100.")
		}
		limit = int(*maxResults)
	}
	start := 0
	if nextToken != nil && *nextToken != "" {
		last, err := base64.RawURLEncoding.DecodeString(*nextToken)
		if err != nil {
			return nil, nil, awserr.InvalidParameter("The nextToken is not valid.")
		}
		start = sort.Search(len(items), func(i int) bool { return after(i, string(last)) })
	}
	end := min(start+limit, len(items))
	out := items[start:end]
	if end < len(items) {
		tok := base64.RawURLEncoding.EncodeToString([]byte(out[len(out)-1]))
		return out, &tok, nil
	}
	return out, nil, nil
}
