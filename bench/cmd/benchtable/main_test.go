package main

import (
	"bytes"
	"strings"
	"testing"
)

const sample = `goos: linux
cpu: AMD EPYC
BenchmarkB3/keys=1/fanfare-2         	 2974894	       100.0 ns/op	         0 over-limit	       0 B/op	       0 allocs/op
BenchmarkB3/keys=1/ulule-2           	 1000000	       400.0 ns/op	         9.000 over-limit	      32 B/op	       2 allocs/op
BenchmarkB3/keys=10000/fanfare-2     	  753868	       100.0 ns/op	         0 over-limit	       0 B/op	       0 allocs/op
BenchmarkB3/keys=10000/fanfare-2     	  753868	       300.0 ns/op	         0 over-limit	       0 B/op	       0 allocs/op
BenchmarkB3/keys=10000/fanfare-2     	  753868	       120.0 ns/op	         0 over-limit	       0 B/op	       0 allocs/op
BenchmarkB3/keys=10000/xrate-2       	 2194802	       240.0 ns/op	         9.000 over-limit	       0 B/op	       0 allocs/op
BenchmarkB3/keys=1000000/fanfare-2   	  437749	       500.0 ns/op	         0 over-limit	       0 B/op	       0 allocs/op
BenchmarkB3/keys=1000000/xrate-2     	  823438	       400.0 ns/op	        10.00 over-limit	       0 B/op	       0 allocs/op
BenchmarkB3/middleware/baseline-2    	48171267	        11.38 ns/op	       0 B/op	       0 allocs/op
BenchmarkB3/middleware/fanfare-2     	  158988	      2167 ns/op	         0 over-limit	     464 B/op	       4 allocs/op
BenchmarkB3/middleware/httprate-2    	  231781	      2000 ns/op	         2.000 over-limit	     184 B/op	      10 allocs/op
BenchmarkB3/middleware/sethvargo-2   	  308841	      3850 ns/op	         9.000 over-limit	     184 B/op	       9 allocs/op
BenchmarkB3IdleKeys-2                	       1	2516865181 ns/op	       100.0 %reclaimed	       161.0 B/key
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
		"| ulule | 400 | 32 | 2 | 4 | 9 over-limit |",
		"| fanfare | 120 | 0 | 0 | 1 | 0 over-limit |", // median of 100, 300, 120
		"| xrate | 240 | 0 | 0 | 2 | 9 over-limit |",
		"PASS     fanfare admits 0 over the limit (0)",
		"PASS     whole middleware ≤ 1.25 × the fastest peer's ns/op at 10 000 keys (1.08× httprate)",
		"PASS     0 allocs per decision for a known key",
		"PASS     whole middleware ≤ 4 allocs/op (4)",
		"FAIL     bytes per idle key ≤ 160 (161 B/key)",
		"PASS     idle keys reclaimed (100%)",
		"INFO     admitted over the limit: fanfare 0, ulule 9, xrate 10, httprate 2, sethvargo 9",
		"INFO     decision at 10000 keys: fanfare 0.50× the fastest peer (xrate)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if !failed {
		t.Error("verdicts: got no failure, want the bytes per key")
	}
}

const sampleB1B2B5B6 = `BenchmarkB1/HS256/baseline-2   	 9396717	       134.4 ns/op	       432.0 token-B	     160 B/op	       3 allocs/op
BenchmarkB1/HS256/floor-2      	   95229	     10000 ns/op	       432.0 token-B	    4224 B/op	      74 allocs/op
BenchmarkB1/HS256/fanfare-2    	  118689	      9000 ns/op	       432.0 token-B	    4160 B/op	      43 allocs/op
BenchmarkB1/HS256/auth0-2      	   41383	     30000 ns/op	       511.0 token-B	   12216 B/op	     190 allocs/op
BenchmarkB1/HS256/jwtauth-2    	   21685	     60000 ns/op	       432.0 token-B	   17868 B/op	     276 allocs/op
BenchmarkB1/ES256/floor-2      	   12259	    100000 ns/op	       475.0 token-B	    5120 B/op	      91 allocs/op
BenchmarkB1/ES256/fanfare-2    	   12801	    120000 ns/op	       475.0 token-B	    5048 B/op	      61 allocs/op
BenchmarkB1/ES256/auth0-2      	    9632	    110000 ns/op	       554.0 token-B	   13160 B/op	     207 allocs/op
BenchmarkB1/ES256/jwtauth-2    	    8169	    150000 ns/op	       475.0 token-B	   18814 B/op	     291 allocs/op
BenchmarkB2/floor-2            	   25686	     40000 ns/op	      2000 p50-µs	     10000 p99-µs	   12756 B/op	     108 allocs/op
BenchmarkB2/client-2           	   25686	     44000 ns/op	      2100 p50-µs	     10500 p99-µs	   13000 B/op	     120 allocs/op
BenchmarkB2/fanfare-2          	   19136	     50000 ns/op	      2500 p50-µs	     12000 p99-µs	   26564 B/op	     212 allocs/op
BenchmarkB2/naive-2            	   10000	    120000 ns/op	      6000 p50-µs	     25000 p99-µs	   29971 B/op	     193 allocs/op
BenchmarkB5/guide-2            	   11788	    120000 ns/op	      6897 p50-µs	     23136 p99-µs	   28577 B/op	     242 allocs/op
BenchmarkB5/fanfare-2          	   21585	     60000 ns/op	      3418 p50-µs	     15095 p99-µs	   22207 B/op	     203 allocs/op
BenchmarkB6/realistic/guide-2  	  178648	      6000 ns/op	    2232 B/op	      43 allocs/op
BenchmarkB6/realistic/fanfare-2	  553894	      3000 ns/op	    1336 B/op	       8 allocs/op
BenchmarkB6/realistic/guide#01-2  	  178648	      6200 ns/op	    2232 B/op	      43 allocs/op
BenchmarkB6/realistic/fanfare#01-2	  553894	      2000 ns/op	    1336 B/op	       8 allocs/op
BenchmarkB6/realistic/guide#02-2  	  178648	      5000 ns/op	    2232 B/op	      43 allocs/op
BenchmarkB6/realistic/fanfare#02-2	  553894	      4000 ns/op	    1336 B/op	       8 allocs/op
PASS
`

func TestBenchtableGroups(t *testing.T) {
	rows, _, err := parse(strings.NewReader(sampleB1B2B5B6))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	printTables(&out, rows)
	failed := verdicts(&out, rows)
	tests := []struct {
		name, want string
	}{
		{"B1 ratio to the floor", "| fanfare | 9000 | 4160 | 43 | 0.90 | 432 token-B |"},
		{"B1 column names the floor", "| row | ns/op | B/op | allocs/op | × floor | other |"},
		{"B1 within 1.15 of the floor", "PASS     HS256: fanfare ≤ 1.15 × floor ns/op (0.90×)"},
		{"B1 above 1.15 of the floor", "FAIL     ES256: fanfare ≤ 1.15 × floor ns/op (1.20×)"},
		{"B1 faster than a peer", "PASS     HS256: fanfare faster than auth0 in ns/op and allocs/op (9000 vs 30000 ns, 43 vs 190 allocs)"},
		{"B1 slower than a peer in ns", "FAIL     ES256: fanfare faster than auth0 in ns/op and allocs/op (120000 vs 110000 ns, 61 vs 207 allocs)"},
		{"B1 moonshot", "INFO     HS256: moonshot reached, fanfare below the floor (0.90×)"},
		{"B1 algorithm not run", "MISSING  EdDSA: fanfare ≤ 1.15 × floor ns/op (0×)"},
		{"B2 faster than naive but more allocs", "FAIL     fanfare ≥ 1.5× naive throughput with fewer allocs/op than naive (2.40×; 212 vs 193 allocs/op)"},
		{"B2 client within 1.15 of the floor", "PASS     client ≤ 1.15 × floor ns/op (1.10×)"},
		{"B2 fanfare's ratio to the floor", "INFO     fanfare / floor: 1.25× ns/op (50000 vs 40000 ns/op)"},
		{"B2 client latency added", "INFO     client latency over floor: p50 +100 µs, p99 +500 µs"},
		{"B2 latency added", "INFO     fanfare latency over floor: p50 +500 µs, p99 +2000 µs"},
		{"B5 column names the guide", "| fanfare | 60000 | 22207 | 203 | 0.50 |"},
		{"B5 throughput ratio", "INFO     throughput fanfare / guide: 2× (60000 vs 120000 ns/op); allocs/op fanfare 203, guide 242"},
		{"B6 rounds folded into medians", "INFO     realistic: fanfare 3000 ns/op, 8 allocs/op; guide 6000 ns/op, 43 allocs/op (fanfare 2× the guide's speed)"},
		{"B6 one row per round", "| guide | 6000 | 2232 | 43 | 1 |  |\n| fanfare | 3000 | 1336 | 8 | 0.50 |  |\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(out.String(), tt.want) {
				t.Errorf("output lacks %q:\n%s", tt.want, out.String())
			}
		})
	}
	if strings.Contains(out.String(), "B3 targets") {
		t.Error("got B3 verdicts for a run without B3")
	}
	if !failed {
		t.Error("verdicts: got no failure, want ES256 and B2's")
	}
}

func TestBenchtableB2(t *testing.T) {
	const in = `BenchmarkB2/floor#01-2    	   25686	     40000 ns/op	      2000 p50-µs	     10000 p99-µs	   12756 B/op	     108 allocs/op
BenchmarkB2/client#01-2   	   25686	     48000 ns/op	      2100 p50-µs	     10500 p99-µs	   13000 B/op	     120 allocs/op
BenchmarkB2/fanfare#01-2  	   19136	     60000 ns/op	      2500 p50-µs	     12000 p99-µs	   20000 B/op	     150 allocs/op
BenchmarkB2/naive#01-2    	   10000	     96000 ns/op	      6000 p50-µs	     25000 p99-µs	   29971 B/op	     193 allocs/op
`
	rows, _, err := parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	failed := verdicts(&out, rows)
	for _, want := range []string{
		"PASS     fanfare ≥ 1.5× naive throughput with fewer allocs/op than naive (1.60×; 150 vs 193 allocs/op)",
		"FAIL     client ≤ 1.15 × floor ns/op (1.20×)",
		"INFO     fanfare / floor: 1.50× ns/op (60000 vs 40000 ns/op)",
		"INFO     fanfare latency over floor: p50 +500 µs, p99 +2000 µs",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if !failed {
		t.Error("verdicts: got no failure, want the client's")
	}

	rows, _, _ = parse(strings.NewReader(strings.ReplaceAll(in, "BenchmarkB2/client#01-2   	   25686	     48000", "BenchmarkB2/client#01-2   	   25686	     44000")))
	out.Reset()
	if verdicts(&out, rows) {
		t.Errorf("verdicts: got a failure, want none:\n%s", out.String())
	}
}

func TestBenchtableB3Failures(t *testing.T) {
	rows, _, err := parse(strings.NewReader(`BenchmarkB3/keys=10000/fanfare-2   	  753868	       100.0 ns/op	         1.000 over-limit	       0 B/op	       1 allocs/op
BenchmarkB3/middleware/fanfare-2     	  158988	      2600 ns/op	         1.000 over-limit	     464 B/op	       5 allocs/op
BenchmarkB3/middleware/sethvargo-2   	  308841	      2000 ns/op	         9.000 over-limit	     184 B/op	       9 allocs/op
`))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if !verdicts(&out, rows) {
		t.Error("verdicts: got no failure")
	}
	for _, want := range []string{
		"FAIL     fanfare admits 0 over the limit (1)",
		"FAIL     whole middleware ≤ 1.25 × the fastest peer's ns/op at 10 000 keys (1.30× sethvargo)",
		"FAIL     0 allocs per decision for a known key",
		"FAIL     whole middleware ≤ 4 allocs/op (5)",
		"MISSING  bytes per idle key ≤ 160 (0 B/key)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestBenchtableB4(t *testing.T) {
	rows, _, err := parse(strings.NewReader(`BenchmarkB4/limiter/fanfare-2    	   10000	     90000 ns/op	         0 over-limit	         8.000 redis-cmds/call	        28.00 redis-µs/call	         1.000 round-trips/call	    1007 B/op	      24 allocs/op
BenchmarkB4/limiter/redis_rate-2 	   10000	     70000 ns/op	         9.000 over-limit	         4.000 redis-cmds/call	        17.00 redis-µs/call	         1.000 round-trips/call	     720 B/op	      22 allocs/op
BenchmarkB4/store/fanfare-acquire-release-2 	   10000	     90000 ns/op	         3.000 redis-cmds/call	         6.000 redis-µs/call	         2.000 round-trips/call	    1567 B/op	      36 allocs/op
`))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if !verdicts(&out, rows) {
		t.Error("verdicts: got no failure")
	}
	for _, want := range []string{
		"PASS     limiter: one round trip per decision (1)",
		"FAIL     store: one round trip per operation (2)",
		"PASS     limiter admits 0 over the limit (0)",
		"FAIL     limiter ≤ 1.05 × redis_rate ns/op (1.29×)",
		"INFO     redis_rate admitted over the limit: 9",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
