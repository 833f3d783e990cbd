package otelfanfare_test

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	fanfare "github.com/waitify-io/fanfare-go"
	"github.com/waitify-io/fanfare-go/fanfaretest"
	"github.com/waitify-io/fanfare-go/otelfanfare"
)

const (
	admissions = "fanfare.admissions"
	refusals   = "fanfare.admission.refusals"
)

func admitted(validated bool) []attribute.KeyValue {
	return []attribute.KeyValue{
		attribute.String("fanfare.distribution.type", "queue"),
		attribute.Bool("fanfare.admission.validated", validated),
	}
}

func refused(code string) attribute.KeyValue { return attribute.String("fanfare.refusal.code", code) }

// checkoutApp serves a 200 behind RequireAdmission with opts wrapped by
// otelfanfare.Admission, inside a server span of tel's, as a server
// instrumentation (otelhttp) would start.
func checkoutApp(t *testing.T, tel *telemetry, c *fanfare.Client, opts fanfare.AdmissionOptions) *httptest.Server {
	t.Helper()
	guarded := fanfare.RequireAdmission(c, otelfanfare.Admission(opts, tel.opts...))(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }))
	tracer := tel.tp.Tracer("test")
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, span := tracer.Start(r.Context(), "POST /checkout", trace.WithSpanKind(trace.SpanKindServer))
		defer span.End()
		guarded.ServeHTTP(w, r.WithContext(ctx))
	}))
	t.Cleanup(app.Close)
	return app
}

func TestAdmissionCountsAdmissionsAndRefusals(t *testing.T) {
	tel := newTelemetry(t)
	clock := fanfaretest.NewClock(epoch)
	srv := emulator(t, clock)
	c := client(t, srv, tel)
	app := checkoutApp(t, tel, c, fanfare.AdmissionOptions{
		Distribution: queue,
		Clock:        clock.Now,
		Store:        fanfare.NewMemoryStore(fanfare.MemoryStoreOptions{Clock: clock.Now}),
	})
	token := srv.Admit(queue, "c_1")

	status, _ := checkout(t, app, token)
	require.Equal(t, http.StatusOK, status)
	status, code := checkout(t, app, token)
	require.Equal(t, http.StatusConflict, status)
	require.Equal(t, "ADMISSION_USED", code)
	status, code = checkout(t, app, "")
	require.Equal(t, http.StatusForbidden, status, "the default error handler still answers")
	require.Equal(t, "ADMISSION_REQUIRED", code)
	status, code = checkout(t, app, srv.Admit(fanfare.Queue("q_other"), "c_2"))
	require.Equal(t, http.StatusForbidden, status)
	require.Equal(t, "ADMISSION_MISMATCH", code)
	srv.InjectFault(fanfaretest.EndpointValidate, fanfaretest.Fault{Status: http.StatusServiceUnavailable})
	status, code = checkout(t, app, srv.Admit(queue, "c_3"))
	require.Equal(t, http.StatusServiceUnavailable, status)
	require.Equal(t, "ADMISSION_UNAVAILABLE", code)

	assert.Equal(t, int64(1), tel.count(t, admissions, admitted(true)...))
	assert.Equal(t, int64(1), tel.total(t, admissions))
	for _, code := range []string{"ADMISSION_USED", "ADMISSION_REQUIRED", "ADMISSION_MISMATCH", "ADMISSION_UNAVAILABLE"} {
		assert.Equal(t, int64(1), tel.count(t, refusals, refused(code)), code)
	}
	assert.Equal(t, int64(4), tel.total(t, refusals))
	assert.Equal(t, int64(1), tel.count(t, errs, callError("validate", "5xx", "503")...),
		"the outage is visible on the Fanfare call too")

	var events []string
	for _, s := range tel.spansNamed("POST /checkout") {
		for _, e := range s.Events {
			events = append(events, e.Name+" "+attrs(e.Attributes)["fanfare.refusal.code"].String())
		}
	}
	assert.Equal(t, []string{
		"fanfare.admission.admitted ",
		"fanfare.admission.refused ADMISSION_USED",
		"fanfare.admission.refused ADMISSION_REQUIRED",
		"fanfare.admission.refused ADMISSION_MISMATCH",
		"fanfare.admission.refused ADMISSION_UNAVAILABLE",
	}, events)
}

func TestAdmissionKeepsTheUsersHooks(t *testing.T) {
	tel := newTelemetry(t)
	clock := fanfaretest.NewClock(epoch)
	srv := emulator(t, clock)
	c := client(t, srv, tel)
	var hooked, handled atomic.Int32
	app := checkoutApp(t, tel, c, fanfare.AdmissionOptions{
		Distribution: queue,
		Clock:        clock.Now,
		Store:        fanfare.NewMemoryStore(fanfare.MemoryStoreOptions{Clock: clock.Now}),
		OnAdmitted: func(r *http.Request, a *fanfare.Admission) {
			if hooked.Add(1) == 2 {
				panic("the user's hook fails")
			}
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			handled.Add(1)
			w.WriteHeader(http.StatusTeapot)
		},
	})

	status, _ := checkout(t, app, srv.Admit(queue, "c_1"))
	require.Equal(t, http.StatusOK, status)
	status, _ = checkout(t, app, srv.Admit(queue, "c_2"))
	require.Equal(t, http.StatusTeapot, status, "the user's ErrorHandler answers")

	assert.Equal(t, int32(2), hooked.Load())
	assert.Equal(t, int32(1), handled.Load())
	assert.Equal(t, int64(1), tel.total(t, admissions), "an admission whose hook panicked is not counted")
	assert.Equal(t, int64(1), tel.count(t, refusals, refused("ADMISSION_UNAVAILABLE")),
		"it is counted as the refusal it became")
}

func TestAdmissionWithoutRemoteValidation(t *testing.T) {
	tel := newTelemetry(t)
	clock := fanfaretest.NewClock(epoch)
	srv := emulator(t, clock)
	c := client(t, srv, tel)
	v, err := fanfare.NewPEMVerifier(srv.PublicKeyPEM())
	require.NoError(t, err)
	app := checkoutApp(t, tel, c, fanfare.AdmissionOptions{
		Distribution:            queue,
		Clock:                   clock.Now,
		Store:                   fanfare.NewMemoryStore(fanfare.MemoryStoreOptions{Clock: clock.Now}),
		Verifier:                v,
		DisableRemoteValidation: true,
	})

	status, _ := checkout(t, app, srv.Admit(queue, "c_1"))
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, int64(1), tel.count(t, admissions, admitted(false)...), "admitted without Fanfare's word")
}
