// Command benchtable reads `go test -bench` output on stdin and prints one
// Markdown table per benchmark group — ns/op, B/op, allocs/op and the ratio
// of ns/op to the group's reference row (see referenceFor) — then a verdict
// line per target of shared/BENCHMARKS.md it knows how to check: PASS, FAIL
// or MISSING, and INFO for what is reported without a target.
//
// A group is a benchmark name without its last element:
// BenchmarkB3/keys=10000/ulule is the ulule row of group BenchmarkB3/keys=10000.
// With -count > 1, or rows run in rounds (BenchmarkB1/HS256/floor#01), a
// row shows the median of its runs.
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

// reference is the row every other row of a B3 group is compared with, and
// the row under test everywhere.
const reference = "fanfare"

// referenceFor names the row the other rows of group are compared with: the
// floor for the admission checks (B1, B2), the guide's plain code for the
// authorize endpoint and the sanitizer (B5, B6), fanfare itself for B3.
func referenceFor(group string) string {
	switch {
	case strings.HasPrefix(group, "BenchmarkB1/"), group == "BenchmarkB2":
		return "floor"
	case group == "BenchmarkB5", strings.HasPrefix(group, "BenchmarkB6/"):
		return "guide"
	}
	return reference
}

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

// repeat is the suffix the testing package gives a sub-benchmark run again
// under the same name ("fanfare#01"): the bench package runs rows in
// interleaved rounds, and each round is one more sample of the row.
var repeat = regexp.MustCompile(`#\d+(/|$)`)

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
		full := repeat.ReplaceAllString(m[1], "$1")
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
		refName := referenceFor(g)
		var ref float64
		for _, r := range rows {
			if r.group == g && r.name == refName {
				ref, _ = r.median("ns/op")
			}
		}
		fmt.Fprintf(w, "\n%s\n\n| row | ns/op | B/op | allocs/op | × %s | other |\n|---|---:|---:|---:|---:|---|\n", g, refName)
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
			var units, other []string
			for unit := range r.metrics {
				if unit != "B/op" && unit != "allocs/op" {
					units = append(units, unit)
				}
			}
			slices.Sort(units)
			for _, unit := range units {
				v, _ := r.median(unit)
				other = append(other, format(v)+" "+unit)
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", r.name, format(ns), format(b), format(allocs), ratio, strings.Join(other, ", "))
		}
	}
}

// verdicter prints verdict lines and remembers whether any target failed.
type verdicter struct {
	w      io.Writer
	rows   []*row
	failed bool
}

func (v *verdicter) find(group, name string) *row {
	for _, r := range v.rows {
		if r.group == group && r.name == name {
			return r
		}
	}
	return nil
}

// value is the median of unit in the row, and whether the row has it.
func (v *verdicter) value(group, name, unit string) (float64, bool) {
	r := v.find(group, name)
	if r == nil {
		return 0, false
	}
	return r.median(unit)
}

func (v *verdicter) say(ok, missing bool, what string) {
	switch {
	case missing:
		fmt.Fprintf(v.w, "MISSING  %s\n", what)
	case ok:
		fmt.Fprintf(v.w, "PASS     %s\n", what)
	default:
		v.failed = true
		fmt.Fprintf(v.w, "FAIL     %s\n", what)
	}
}

func (v *verdicter) info(format string, args ...any) {
	fmt.Fprintf(v.w, "INFO     "+format+"\n", args...)
}

// has reports whether any row's group starts with prefix.
func (v *verdicter) has(prefix string) bool {
	return slices.ContainsFunc(v.rows, func(r *row) bool { return strings.HasPrefix(r.group, prefix) })
}

// verdicts checks the targets of every group present; each line reads PASS,
// FAIL, MISSING or INFO. It reports whether any target failed.
func verdicts(w io.Writer, rows []*row) (failed bool) {
	v := &verdicter{w: w, rows: rows}
	fmt.Fprintln(w)
	v.b1()
	v.b2()
	v.b3()
	v.b4()
	v.b5()
	v.b6()
	return v.failed
}

var b1Algorithms = []string{"HS256", "ES256", "EdDSA"}

// b1 checks fanfare ≤ 1.15 × floor in ns/op, and fanfare faster than auth0
// and jwtauth in ns/op and allocs/op, for every algorithm.
func (v *verdicter) b1() {
	if !v.has("BenchmarkB1/") {
		return
	}
	fmt.Fprintln(v.w, "B1 targets:")
	for _, alg := range b1Algorithms {
		g := "BenchmarkB1/" + alg
		ns, okF := v.value(g, "fanfare", "ns/op")
		floor, okFloor := v.value(g, "floor", "ns/op")
		ratio := 0.0
		if okF && okFloor && floor > 0 {
			ratio = ns / floor
		}
		v.say(okF && okFloor && ratio <= 1.15, !okF || !okFloor,
			fmt.Sprintf("%s: fanfare ≤ 1.15 × floor ns/op (%s×)", alg, format(ratio)))
		allocs, _ := v.value(g, "fanfare", "allocs/op")
		for _, peer := range []string{"auth0", "jwtauth"} {
			pns, okP := v.value(g, peer, "ns/op")
			pallocs, _ := v.value(g, peer, "allocs/op")
			v.say(okF && okP && ns < pns && allocs < pallocs, !okF || !okP,
				fmt.Sprintf("%s: fanfare faster than %s in ns/op and allocs/op (%s vs %s ns, %s vs %s allocs)",
					alg, peer, format(ns), format(pns), format(allocs), format(pallocs)))
		}
		if okF && okFloor && ratio < 1 {
			v.info("%s: moonshot reached, fanfare below the floor (%s×)", alg, format(ratio))
		}
	}
}

// b2 checks fanfare ≥ 1.5× naive throughput with fewer allocs/op than
// naive, and client ≤ 1.15 × floor in ns/op; it reports fanfare's ratio to
// the floor and the latency each row adds over the floor.
func (v *verdicter) b2() {
	const g = "BenchmarkB2"
	if v.find(g, "floor") == nil && v.find(g, "fanfare") == nil && v.find(g, "naive") == nil {
		return
	}
	fmt.Fprintln(v.w, "B2 targets:")
	ns, okF := v.value(g, "fanfare", "ns/op")
	floor, okFloor := v.value(g, "floor", "ns/op")
	naive, okN := v.value(g, "naive", "ns/op")
	client, okC := v.value(g, "client", "ns/op")
	allocs, _ := v.value(g, "fanfare", "allocs/op")
	naiveAllocs, _ := v.value(g, "naive", "allocs/op")
	speedup, clientRatio := 0.0, 0.0
	if okF && okN && ns > 0 {
		speedup = naive / ns
	}
	if okC && okFloor && floor > 0 {
		clientRatio = client / floor
	}
	v.say(speedup >= 1.5 && allocs < naiveAllocs, !okF || !okN,
		fmt.Sprintf("fanfare ≥ 1.5× naive throughput with fewer allocs/op than naive (%s×; %s vs %s allocs/op)",
			format(speedup), format(allocs), format(naiveAllocs)))
	v.say(clientRatio <= 1.15, !okC || !okFloor, fmt.Sprintf("client ≤ 1.15 × floor ns/op (%s×)", format(clientRatio)))
	if okF && okFloor && floor > 0 {
		v.info("fanfare / floor: %s× ns/op (%s vs %s ns/op)", format(ns/floor), format(ns), format(floor))
	}
	p50, ok50 := v.value(g, "floor", "p50-µs")
	p99, ok99 := v.value(g, "floor", "p99-µs")
	for _, r := range v.rows {
		if r.group != g || r.name == "floor" || r.name == "baseline" || !ok50 || !ok99 {
			continue
		}
		r50, ok1 := r.median("p50-µs")
		r99, ok2 := r.median("p99-µs")
		if ok1 && ok2 {
			v.info("%s latency over floor: p50 %+.0f µs, p99 %+.0f µs", r.name, r50-p50, r99-p99)
		}
	}
}

// b3 checks the B3 targets: fanfare admits 0 over the limit; the whole
// middleware ≤ 1.25 × the fastest peer's ns/op at 10 000 keys; 0 allocs per
// decision for a known key; the whole middleware ≤ 4 allocs; ≤ 160 bytes per
// idle key, and idle keys reclaimed. It reports each library's admitted
// over the limit, and each decision row's ratio to the fastest peer.
func (v *verdicter) b3() {
	if !v.has("BenchmarkB3") {
		return
	}
	fmt.Fprintln(v.w, "B3 targets:")
	over := map[string]float64{} // the most any row of the library reported
	var libs []string
	for _, r := range v.rows {
		if !strings.HasPrefix(r.group, "BenchmarkB3/") {
			continue
		}
		if o, ok := r.median("over-limit"); ok {
			if _, seen := over[r.name]; !seen {
				libs = append(libs, r.name)
			}
			over[r.name] = max(over[r.name], o)
		}
	}
	o, ok := over[reference]
	v.say(ok && o == 0, !ok, fmt.Sprintf("fanfare admits 0 over the limit (%s)", format(o)))

	const mw = "BenchmarkB3/middleware"
	ns, okF := v.value(mw, reference, "ns/op")
	peer, peerNs := v.fastestPeer(mw)
	ratio := 0.0
	if okF && peerNs > 0 {
		ratio = ns / peerNs
	}
	v.say(ratio <= 1.25, !okF || peer == "", fmt.Sprintf("whole middleware ≤ 1.25 × the fastest peer's ns/op at 10 000 keys (%s× %s)", format(ratio), peer))

	zero, missing := true, true
	for _, r := range v.rows {
		if strings.HasPrefix(r.group, "BenchmarkB3/keys=") && r.name == reference {
			missing = false
			if a, _ := r.median("allocs/op"); a != 0 {
				zero = false
			}
		}
	}
	v.say(zero, missing, "0 allocs per decision for a known key")
	a, ok := v.value(mw, reference, "allocs/op")
	v.say(a <= 4, !ok, fmt.Sprintf("whole middleware ≤ 4 allocs/op (%s)", format(a)))
	perKey, okKey := v.value("BenchmarkB3IdleKeys", "BenchmarkB3IdleKeys", "B/key")
	reclaimed, okRec := v.value("BenchmarkB3IdleKeys", "BenchmarkB3IdleKeys", "%reclaimed")
	v.say(perKey <= 160, !okKey, fmt.Sprintf("bytes per idle key ≤ 160 (%s B/key)", format(perKey)))
	v.say(reclaimed == 100, !okRec, fmt.Sprintf("idle keys reclaimed (%s%%)", format(reclaimed)))

	if len(libs) > 0 {
		parts := make([]string, len(libs))
		for i, lib := range libs {
			parts[i] = lib + " " + format(over[lib])
		}
		v.info("admitted over the limit: %s", strings.Join(parts, ", "))
	}
	for _, keys := range []string{"1", "10000", "1000000"} {
		g := "BenchmarkB3/keys=" + keys
		ns, okF := v.value(g, reference, "ns/op")
		peer, peerNs := v.fastestPeer(g)
		if okF && peerNs > 0 {
			v.info("decision at %s keys: fanfare %s× the fastest peer (%s)", keys, format(ns/peerNs), peer)
		}
	}
}

// fastestPeer returns the row of group with the least ns/op other than
// fanfare and the baseline.
func (v *verdicter) fastestPeer(group string) (name string, ns float64) {
	for _, r := range v.rows {
		if r.group != group || r.name == reference || r.name == "baseline" {
			continue
		}
		if n, ok := r.median("ns/op"); ok && (name == "" || n < ns) {
			name, ns = r.name, n
		}
	}
	return name, ns
}

// b5 reports the throughput ratio and allocations of the authorize
// endpoint; BENCHMARKS.md sets no target.
func (v *verdicter) b4() {
	const lim, store = "BenchmarkB4/limiter", "BenchmarkB4/store"
	ns, okF := v.value(lim, "fanfare", "ns/op")
	_, okS := v.value(store, "fanfare-acquire-release", "ns/op")
	if !okF && !okS {
		return
	}
	fmt.Fprintln(v.w, "B4 targets:")
	rt, ok := v.value(lim, "fanfare", "round-trips/call")
	v.say(ok && rt == 1, !ok, fmt.Sprintf("limiter: one round trip per decision (%s)", format(rt)))
	rt, ok = v.value(store, "fanfare-acquire-release", "round-trips/call")
	v.say(ok && rt == 1, !ok, fmt.Sprintf("store: one round trip per operation (%s)", format(rt)))
	over, ok := v.value(lim, "fanfare", "over-limit")
	v.say(ok && over == 0, !ok, fmt.Sprintf("limiter admits 0 over the limit (%s)", format(over)))
	peer, okP := v.value(lim, "redis_rate", "ns/op")
	if !okF || !okP || peer == 0 {
		v.say(false, true, "limiter ≤ 1.05 × redis_rate ns/op")
	} else {
		v.say(ns <= 1.05*peer, false, fmt.Sprintf("limiter ≤ 1.05 × redis_rate ns/op (%s×)", format(ns/peer)))
	}
	for _, p := range []string{"redis_rate", "ulule"} {
		if o, ok := v.value(lim, p, "over-limit"); ok {
			v.info("%s admitted over the limit: %s", p, format(o))
		}
	}
}

func (v *verdicter) b5() {
	const g = "BenchmarkB5"
	ns, okF := v.value(g, "fanfare", "ns/op")
	guide, okG := v.value(g, "guide", "ns/op")
	if !okF && !okG {
		return
	}
	fmt.Fprintln(v.w, "B5 (reported, no target):")
	if !okF || !okG || ns == 0 {
		v.say(false, true, "fanfare and guide rows")
		return
	}
	a, _ := v.value(g, "fanfare", "allocs/op")
	ga, _ := v.value(g, "guide", "allocs/op")
	v.info("throughput fanfare / guide: %s× (%s vs %s ns/op); allocs/op fanfare %s, guide %s",
		format(guide/ns), format(ns), format(guide), format(a), format(ga))
}

// b6 reports the sanitizer's cost beside the guide's; no target.
func (v *verdicter) b6() {
	if !v.has("BenchmarkB6/") {
		return
	}
	fmt.Fprintln(v.w, "B6 (reported, no target):")
	for _, c := range []string{"realistic", "edge", "over"} {
		g := "BenchmarkB6/" + c
		ns, okF := v.value(g, "fanfare", "ns/op")
		guide, okG := v.value(g, "guide", "ns/op")
		if !okF || !okG || ns == 0 {
			continue
		}
		a, _ := v.value(g, "fanfare", "allocs/op")
		ga, _ := v.value(g, "guide", "allocs/op")
		v.info("%s: fanfare %s ns/op, %s allocs/op; guide %s ns/op, %s allocs/op (fanfare %s× the guide's speed)",
			c, format(ns), format(a), format(guide), format(ga), format(guide/ns))
	}
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
