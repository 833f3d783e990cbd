// Command benchtable reads `go test -bench` output on stdin and prints one
// Markdown table per benchmark group — ns/op, B/op, allocs/op and the ratio
// of ns/op to the group's fanfare row — then a verdict line per target of
// shared/BENCHMARKS.md it knows how to check.
//
// A group is a benchmark name without its last element:
// BenchmarkB3/keys=10000/ulule is the ulule row of group BenchmarkB3/keys=10000.
// With -count > 1, a row shows the median of its runs.
//
//	go test -run '^$' -bench B3 ./bench | go run ./bench/cmd/benchtable
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// reference is the row every other row of its group is compared with.
const reference = "fanfare"

type row struct {
	group, name string
	ns          []float64
	metrics     map[string][]float64 // B/op, allocs/op and custom units
}

func (r *row) median(unit string) (float64, bool) {
	v := r.metrics[unit]
	if unit == "ns/op" {
		v = r.ns
	}
	if len(v) == 0 {
		return 0, false
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2], true
}

var line = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

func parse(in io.Reader) (rows []*row, header []string, err error) {
	byName := map[string]*row{}
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		text := sc.Text()
		if strings.HasPrefix(text, "goos:") || strings.HasPrefix(text, "goarch:") || strings.HasPrefix(text, "cpu:") {
			header = append(header, text)
			continue
		}
		m := line.FindStringSubmatch(text)
		if m == nil {
			continue
		}
		full := m[1]
		r := byName[full]
		if r == nil {
			group, name := full, full
			if i := strings.LastIndexByte(full, '/'); i >= 0 {
				group, name = full[:i], full[i+1:]
			}
			r = &row{group: group, name: name, metrics: map[string][]float64{}}
			byName[full] = r
			rows = append(rows, r)
		}
		fields := strings.Fields(m[2])
		for i := 0; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				break
			}
			if fields[i+1] == "ns/op" {
				r.ns = append(r.ns, v)
			} else {
				r.metrics[fields[i+1]] = append(r.metrics[fields[i+1]], v)
			}
		}
	}
	return rows, header, sc.Err()
}

func format(v float64) string {
	switch {
	case v == float64(int64(v)):
		return strconv.FormatInt(int64(v), 10)
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

func printTables(w io.Writer, rows []*row) {
	var groups []string
	for _, r := range rows {
		if !slices.Contains(groups, r.group) {
			groups = append(groups, r.group)
		}
	}
	for _, g := range groups {
		var ref float64
		for _, r := range rows {
			if r.group == g && r.name == reference {
				ref, _ = r.median("ns/op")
			}
		}
		fmt.Fprintf(w, "\n%s\n\n| row | ns/op | B/op | allocs/op | × %s | other |\n|---|---:|---:|---:|---:|---|\n", g, reference)
		for _, r := range rows {
			if r.group != g {
				continue
			}
			ns, _ := r.median("ns/op")
			b, _ := r.median("B/op")
			allocs, _ := r.median("allocs/op")
			ratio := "–"
			if ref > 0 {
				ratio = format(ns / ref)
			}
			var other []string
			for unit := range r.metrics {
				if unit != "B/op" && unit != "allocs/op" {
					v, _ := r.median(unit)
					other = append(other, format(v)+" "+unit)
				}
			}
			slices.Sort(other)
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", r.name, format(ns), format(b), format(allocs), ratio, strings.Join(other, ", "))
		}
	}
}

// verdicts checks the B3 targets; each line reads PASS, FAIL or MISSING.
// It reports whether any failed.
func verdicts(w io.Writer, rows []*row) (failed bool) {
	find := func(group, name string) *row {
		for _, r := range rows {
			if r.group == group && r.name == name {
				return r
			}
		}
		return nil
	}
	say := func(ok bool, missing bool, what string) {
		switch {
		case missing:
			fmt.Fprintf(w, "MISSING  %s\n", what)
		case ok:
			fmt.Fprintf(w, "PASS     %s\n", what)
		default:
			failed = true
			fmt.Fprintf(w, "FAIL     %s\n", what)
		}
	}
	fmt.Fprintln(w)
	if find("BenchmarkB3/keys=1", reference) == nil && find("BenchmarkB3IdleKeys", "BenchmarkB3IdleKeys") == nil {
		return false // not a B3 run
	}
	fmt.Fprintln(w, "B3 targets:")
	for _, keys := range []string{"10000", "1000000"} {
		g := "BenchmarkB3/keys=" + keys
		ref := find(g, reference)
		fastest, missing := true, ref == nil
		if ref != nil {
			refNs, _ := ref.median("ns/op")
			for _, r := range rows {
				if ns, _ := r.median("ns/op"); r.group == g && r.name != reference && ns <= refNs {
					fastest = false
				}
			}
		}
		say(fastest, missing, "fanfare fastest of all at "+keys+" keys")
	}
	zero, missing := true, true
	for _, r := range rows {
		if strings.HasPrefix(r.group, "BenchmarkB3/keys=") && r.name == reference {
			missing = false
			if a, _ := r.median("allocs/op"); a != 0 {
				zero = false
			}
		}
	}
	say(zero, missing, "0 allocs per decision for a known key")
	mw := find("BenchmarkB3/middleware", reference)
	a := 0.0
	if mw != nil {
		a, _ = mw.median("allocs/op")
	}
	say(a <= 4, mw == nil, "whole middleware ≤ 4 allocs/op")
	idle := find("BenchmarkB3IdleKeys", "BenchmarkB3IdleKeys")
	var perKey, reclaimed float64
	var okKey, okRec bool
	if idle != nil {
		perKey, okKey = idle.median("B/key")
		reclaimed, okRec = idle.median("%reclaimed")
	}
	say(okKey, !okKey, fmt.Sprintf("bytes per idle key reported (%s B/key)", format(perKey)))
	say(reclaimed == 100, !okRec, fmt.Sprintf("idle keys reclaimed (%s%%)", format(reclaimed)))
	return failed
}

func main() {
	rows, header, err := parse(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(2)
	}
	if len(rows) == 0 {
		fmt.Fprintln(os.Stderr, "benchtable: no benchmark results on stdin")
		os.Exit(2)
	}
	for _, h := range header {
		fmt.Println(h)
	}
	printTables(os.Stdout, rows)
	// Times are not asserted (shared/BENCHMARKS.md): a missed target is
	// reported, not an error. Wrong decisions already failed the run.
	verdicts(os.Stdout, rows)
}
