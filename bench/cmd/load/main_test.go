package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/waitify-io/fanfare-go/fanfaretest"
)

// TestMain serves the guide's pattern when the load run re-executes the
// test binary as its second process, as main does for the command.
func TestMain(m *testing.M) {
	if os.Getenv(roleEnv) == "guide" {
		os.Exit(serveGuide(os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestQuick runs the whole harness with small counts: the shop is built and
// started, both implementations are driven through every scenario, the
// table prints, and fanfare's invariants hold.
func TestQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the checkout example")
	}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"-quick"}, &stdout, &stderr)
	out := stdout.String()
	t.Logf("stdout:\n%s\nstderr:\n%s", out, stderr.String())
	if code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
	for _, want := range []string{
		"| scenario | implementation | requests | requests/s | p50 | p99 |",
		"| throughput | fanfare |",
		"| throughput | guide |",
		"| double spend | fanfare |",
		"| double spend | guide |",
		"| outage: complete 503 | fanfare |",
		"| outage: complete 503 | guide |",
		"| many instances | fanfare |",
		"PASS     fanfare, throughput: orders per admission exactly 1",
		"PASS     fanfare, double spend: orders per admission exactly 1",
		"PASS     fanfare, outage: complete 503: every completion delivered",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(out, "FAIL") {
		t.Error("an invariant failed")
	}
}

// TestFlags refuses counts that would make the run unbounded or empty.
func TestFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-checkouts", "0"},
		{"-checkouts", "10000000"},
		{"-ds-admissions", "1000", "-ds-requests", "1000"},
		{"extra"},
	} {
		if _, err := parseFlags(args, &bytes.Buffer{}); err == nil {
			t.Errorf("parseFlags(%q): no error", args)
		}
	}
	c, err := parseFlags([]string{"-quick", "-checkouts", "50"}, &bytes.Buffer{})
	if err != nil || c.checkouts != 50 || c.concurrency != 32 {
		t.Errorf("-quick -checkouts 50: got %+v, %v; want 50 checkouts at 32 concurrent", c, err)
	}
}

// TestTally counts orders per admission and wrong answers.
func TestTally(t *testing.T) {
	tl := &tally{orders: map[string]int{}}
	tl.add("a", outcome{status: 200}, doubleSpendOK)
	tl.add("a", outcome{status: 200}, doubleSpendOK)
	tl.add("a", outcome{status: 409}, doubleSpendOK)
	tl.add("b", outcome{status: 500}, doubleSpendOK)
	hi, lo, mean := tl.ordersPerAdmission()
	if hi != 2 || lo != 0 || mean != 1 {
		t.Errorf("orders per admission: got max %d, min %d, mean %v; want 2, 0, 1", hi, lo, mean)
	}
	if tl.wrong != 1 || tl.firstWrong != "status 500" {
		t.Errorf("wrong answers: got %d (%q), want 1 (status 500)", tl.wrong, tl.firstWrong)
	}
}

// TestInstances spreads checkouts and a double spend over two instances
// (two guide processes): what the many-instances scenario does with three
// shops on Redis, checked here without them.
func TestInstances(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	ctx := context.Background()
	l, err := newBareRun(t)
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	im := impl{name: guideImpl}
	for i := range 2 {
		p, err := startServer(ctx, "guide-"+string(rune('a'+i)), l.dir, self, nil, append(fanfareEnv(l.emu), roleEnv+"=guide"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.stop)
		im.urls = append(im.urls, p.URL)
	}
	tp := l.tally(scThroughput, guideImpl)
	if err := l.checkouts(ctx, tp, im, "inst", 20, 4); err != nil {
		t.Fatal(err)
	}
	if hi, lo, _ := tp.ordersPerAdmission(); tp.requests != 20 || tp.wrong != 0 || hi != 1 || lo != 1 {
		t.Errorf("throughput over two instances: %d requests, %d wrong (%s), orders per admission %d to %d; want 20, 0, 1 to 1",
			tp.requests, tp.wrong, tp.firstWrong, lo, hi)
	}
	ds := l.tally(scDoubleSpend, guideImpl)
	if err := l.spend(ctx, ds, im, "instds", 2, 6); err != nil {
		t.Fatal(err)
	}
	if ds.requests != 12 || ds.wrong != 0 || ds.admissions != 2 {
		t.Errorf("double spend over two instances: %d requests, %d wrong (%s), %d admissions; want 12, 0, 2",
			ds.requests, ds.wrong, ds.firstWrong, ds.admissions)
	}
	if err := l.deliveries(ctx, scDoubleSpend); err != nil || ds.delivered != 2 {
		t.Errorf("deliveries: %d of %d, %v; want 2 of 2", ds.delivered, ds.owed, err)
	}
}

// newBareRun is a load run with an emulator and a driver, no processes.
func newBareRun(t *testing.T) (*loadRun, error) {
	t.Helper()
	emu, err := fanfaretest.Start(fanfaretest.Options{AdmissionTTL: time.Hour})
	if err != nil {
		return nil, err
	}
	t.Cleanup(emu.Close)
	return &loadRun{cfg: config{concurrency: 8, deliverTimeout: 5 * time.Second}, dir: t.TempDir(), emu: emu, d: newDriver(emu, dist)}, nil
}
