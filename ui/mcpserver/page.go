package mcpserver

import (
	"fmt"
	"strconv"
)

// Page bounds a list answer.
type Page struct {
	Cursor string `json:"cursor,omitempty" jsonschema:"where to go on: the next_cursor of the previous answer; leave out for the first page"`
	Limit  int    `json:"limit,omitempty" jsonschema:"at most this many items (1..200; default 50)"`
}

// Listed says where a page stands in its list.
type Listed struct {
	Total      int    `json:"total" jsonschema:"items in the whole list"`
	NextCursor string `json:"next_cursor,omitempty" jsonschema:"pass as cursor to get the next page; absent on the last page"`
	// Truncated: the daemon cut the cluster's list at 2000 items.
	Truncated bool `json:"truncated,omitempty" jsonschema:"the cluster had more items than the daemon lists (2000); narrow the query"`
}

const (
	defaultLimit = 50
	maxLimit     = 200
)

// page returns the items of p and where the list stands.
func page[T any](items []T, p Page) ([]T, Listed, error) {
	limit := p.Limit
	switch {
	case limit == 0:
		limit = defaultLimit
	case limit < 1 || limit > maxLimit:
		return nil, Listed{}, fmt.Errorf("limit %d is out of range 1..%d", p.Limit, maxLimit)
	}
	off := 0
	if p.Cursor != "" {
		n, err := strconv.Atoi(p.Cursor)
		if err != nil || n < 0 {
			return nil, Listed{}, fmt.Errorf("cursor %q is not one this server gave; pass the next_cursor of the previous answer, or leave it out to start from the first page", p.Cursor)
		}
		off = min(n, len(items))
	}
	l := Listed{Total: len(items)}
	end := min(off+limit, len(items))
	if end < len(items) {
		l.NextCursor = strconv.Itoa(end)
	}
	out := items[off:end]
	if out == nil {
		out = []T{}
	}
	return out, l, nil
}
