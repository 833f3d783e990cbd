package main

import (
	"bytes"
	"strings"
	"testing"
)

const sample = `goos: linux
cpu: AMD EPYC
BenchmarkB3/keys=1/fanfare-2         	 2974894	       100.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkB3/keys=1/ulule-2           	 1000000	       400.0 ns/op	      32 B/op	       2 allocs/op
BenchmarkB3/keys=10000/fanfare-2     	  753868	       100.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkB3/keys=10000/fanfare-2     	  753868	       300.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkB3/keys=10000/fanfare-2     	  753868	       120.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkB3/keys=10000/xrate-2       	 2194802	       240.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkB3/keys=1000000/fanfare-2   	  437749	       500.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkB3/keys=1000000/xrate-2     	  823438	       400.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkB3/middleware/fanfare-2     	  158988	      2167 ns/op	     464 B/op	       3 allocs/op
BenchmarkB3IdleKeys-2                	       1	2516865181 ns/op	       100.0 %reclaimed	       141.0 B/key
PASS
`

func TestBenchtable(t *testing.T) {
	rows, header, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if len(header) != 2 {
		t.Errorf("header lines: got %d, want 2", len(header))
	}
	var out bytes.Buffer
	printTables(&out, rows)
	failed := verdicts(&out, rows)
	for _, want := range []string{
		"| ulule | 400 | 32 | 2 | 4 |",
		"| fanfare | 120 | 0 | 0 | 1 |", // median of 100, 300, 120
		"| xrate | 240 | 0 | 0 | 2 |",
		"PASS     fanfare fastest of all at 10000 keys",
		"FAIL     fanfare fastest of all at 1000000 keys",
		"PASS     0 allocs per decision for a known key",
		"PASS     whole middleware ≤ 4 allocs/op",
		"PASS     bytes per idle key reported (141 B/key)",
		"PASS     idle keys reclaimed (100%)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if !failed {
		t.Error("verdicts: got no failure, want the 1000000-key one")
	}
}
