package fanfaretest_test

import (
	"context"
	"testing"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/fanfaretest"
)

// BenchmarkValidate measures the emulator's validate round trip through
// fanfare.Client in parallel: the ceiling of remote-mode benchmarks run
// against it.
func BenchmarkValidate(b *testing.B) {
	srv := fanfaretest.NewServer(fanfaretest.Options{})
	defer srv.Close()
	client := srv.Client()
	queue := fanfare.Queue("q_bench")
	token := srv.Admit(queue, "c1")
	b.ReportAllocs()
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			ok, err := client.ValidateAdmission(context.Background(), queue, "c1", token)
			if err != nil || !ok {
				b.Fatalf("validate: %v %v", ok, err)
			}
		}
	})
}
