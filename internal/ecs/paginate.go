package ecs

import (
	"encoding/base64"

	"github.com/berth-dev/berth/internal/api/awserr"
)

// defaultPageSize is what a list call returns without maxResults.
const defaultPageSize = 100

// pageArgs validates a list call's maxResults and nextToken and returns the
// page size and the last item of the previous page ("" for the first).
func pageArgs(maxResults *int32, nextToken *string) (limit int, after string, err error) {
	limit = defaultPageSize
	if maxResults != nil {
		if *maxResults < 1 || *maxResults > 100 {
			return 0, "", awserr.InvalidParameter("maxResults must be between 1 and 100.")
		}
		limit = int(*maxResults)
	}
	if nextToken != nil && *nextToken != "" {
		last, err := base64.RawURLEncoding.DecodeString(*nextToken)
		if err != nil || len(last) == 0 {
			return 0, "", awserr.InvalidParameter("The nextToken is not valid.")
		}
		after = string(last)
	}
	return limit, after, nil
}

// nextToken is the token of the page after the one ending with last.
func nextToken(last string) *string {
	tok := base64.RawURLEncoding.EncodeToString([]byte(last))
	return &tok
}
