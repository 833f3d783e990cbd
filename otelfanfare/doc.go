// Package otelfanfare measures and traces fanfare-go with OpenTelemetry
// through the library's own extension points, so that the fanfare module
// itself depends on no OpenTelemetry package. Three lines wire it in:
//
//	cfg.HTTPClient = otelfanfare.HTTPClient()         // a span, latency and errors for every Fanfare call
//	admission = otelfanfare.Admission(admission)      // admissions and refusals of RequireAdmission
//	rateLimit.Limiter = otelfanfare.Limiter(limiter)  // the rate limiter's decisions
//
// and two more for the completion outbox, with a [fanfare.CompletionWorker]
// of your own set as AdmissionOptions.Completions:
//
//	worker := fanfare.NewCompletionWorker(client, store, otelfanfare.Completions(fanfare.CompletionWorkerOptions{}))
//	reg, err := otelfanfare.ObserveCompletions(store)
//
// The metrics, under the instrumentation scope [ScopeName]:
//
//	fanfare.client.call.duration    histogram, s   fanfare.endpoint, fanfare.status_class
//	fanfare.client.call.errors      counter        fanfare.endpoint, fanfare.status_class, error.type
//	fanfare.admissions              counter        fanfare.distribution.type, fanfare.admission.validated
//	fanfare.admission.refusals      counter        fanfare.refusal.code
//	fanfare.completions.pending     gauge          -
//	fanfare.completions.oldest_age  gauge, s       -
//	fanfare.completions.given_up    counter        fanfare.distribution.type, error.type
//	fanfare.limiter.decisions       counter        fanfare.limiter.decision
//
// Every attribute is bounded: endpoints, status classes, distribution types,
// refusal codes and decisions are short fixed lists. No metric carries a
// distribution id (a request may name any), a consumer id, a rate-limit key
// or a token. Spans (fanfare.authorize, fanfare.validate, fanfare.complete,
// fanfare.jwks) carry the distribution's type and id, never a header, a
// body, a token or the secret key.
//
// Meters and tracers come from OpenTelemetry's global providers unless
// [WithMeterProvider] and [WithTracerProvider] say otherwise.
package otelfanfare
