// Package otelfanfare measures and traces fanfare-go with OpenTelemetry,
// through the library's own extension points, so that the fanfare module
// itself depends on no OpenTelemetry package:
//
//	cfg.HTTPClient = otelfanfare.HTTPClient()              // spans, latency and errors of every Fanfare call
//	opts = otelfanfare.Admission(opts)                     // admissions and refusals of RequireAdmission
//	rl.Limiter = otelfanfare.Limiter(fanfare.NewMemoryLimiter(fanfare.MemoryLimiterOptions{})) // limiter decisions
//
// and for the completion outbox, with a worker of your own:
//
//	worker := fanfare.NewCompletionWorker(client, store, otelfanfare.Completions(fanfare.CompletionWorkerOptions{}))
//	reg, err := otelfanfare.ObserveCompletions(worker)
//
// The metrics:
//
//	fanfare.client.call.duration   histogram, s   fanfare.endpoint, fanfare.status_class
//	fanfare.client.call.errors     counter        fanfare.endpoint, fanfare.status_class, error.type
//	fanfare.admissions             counter        fanfare.distribution.type, fanfare.admission.validated
//	fanfare.admission.refusals     counter        fanfare.refusal.code
//	fanfare.completions.pending    gauge          -
//	fanfare.completions.oldest_age gauge, s       -
//	fanfare.completions.given_up   counter        fanfare.distribution.type, error.type
//	fanfare.limiter.decisions      counter        fanfare.limiter.decision
//
// Every attribute is bounded: endpoints, status classes, distribution types
// and refusal codes are short fixed lists. No metric carries a distribution
// id (a request may name any id), a consumer id, a rate-limit key or a
// token; spans carry the distribution id, never a header, a body, a token
// or the secret key.
//
// Instruments and tracers come from the global providers unless
// [WithMeterProvider] and [WithTracerProvider] say otherwise.
package otelfanfare
