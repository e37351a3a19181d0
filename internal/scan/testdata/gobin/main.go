// Command gobin is a tiny Go program the scan tests build to get a binary
// with known module dependencies.
package main

import (
	"fmt"

	"github.com/google/btree"
)

func main() {
	t := btree.NewOrderedG[int](2)
	t.ReplaceOrInsert(1)
	fmt.Println(t.Len())
}
