package otelfanfare

import (
	"errors"
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	fanfare "github.com/waitify-io/fanfare-go"
)

// refusalCodes are the values of fanfare.refusal.code: the codes
// [fanfare.AdmissionError] lists on its Code field (the README's refusal
// table), and "other" for a code the package does not know (it keeps the
// attribute bounded).
var refusalCodes = []string{
	"ADMISSION_REQUIRED",
	"ADMISSION_INVALID",
	"ADMISSION_EXPIRED",
	"ADMISSION_MISMATCH",
	"ADMISSION_IN_USE",
	"ADMISSION_USED",
	"ADMISSION_UNAVAILABLE",
	"other",
}

// distributionTypes are the values of fanfare.distribution.type, and
// "other" for a type the package does not know.
var distributionTypes = []fanfare.DistributionType{fanfare.TypeQueue, fanfare.TypeDraw, fanfare.TypeAuction, "other"}

// Admission returns opts with its hooks wrapped to count what
// [fanfare.RequireAdmission] (or an adapter built on
// [fanfare.NewAdmissionGuard]) decides:
//
//   - fanfare.admissions (counter): admitted requests, with
//     fanfare.distribution.type and fanfare.admission.validated (false when
//     Fanfare did not confirm the admission: remote validation off, or a
//     verified token admitted during an outage);
//   - fanfare.admission.refusals (counter): refused requests, with
//     fanfare.refusal.code (ADMISSION_REQUIRED, ADMISSION_INVALID, …,
//     ADMISSION_UNAVAILABLE): the library's reason, counted before your
//     ErrorHandler renders it — an ErrorHandler that answers with another
//     code does not change the metric.
//
// It also adds an event, fanfare.admission.admitted or
// fanfare.admission.refused, to the span in the request's context, if one
// is recording (your server instrumentation's).
//
// The OnAdmitted and ErrorHandler already set are kept: OnAdmitted runs
// first, and the admission is counted only if it returns (a panic in it
// refuses the request, which is then counted as a refusal); the refusal is
// counted, then answered by ErrorHandler, [fanfare.WriteError] by
// default. Wrap the options once: wrapping twice counts twice.
func Admission(opts fanfare.AdmissionOptions, options ...Option) fanfare.AdmissionOptions {
	c := newConfig(options)
	m := c.meter()
	admissions, err := m.Int64Counter("fanfare.admissions",
		metric.WithDescription("Requests admitted by RequireAdmission."),
		metric.WithUnit("{request}"))
	handle(err)
	refusals, err := m.Int64Counter("fanfare.admission.refusals",
		metric.WithDescription("Requests refused by RequireAdmission, by refusal code."),
		metric.WithUnit("{request}"))
	handle(err)

	admittedSets := make(map[fanfare.DistributionType][2]attribute.Set, len(distributionTypes))
	for _, t := range distributionTypes {
		ty := keyDistributionType.String(string(t))
		admittedSets[t] = [2]attribute.Set{
			c.set(ty, keyValidated.Bool(false)),
			c.set(ty, keyValidated.Bool(true)),
		}
	}
	refusedSets := make(map[string]attribute.Set, len(refusalCodes))
	for _, code := range refusalCodes {
		refusedSets[code] = c.set(keyRefusalCode.String(code))
	}

	onAdmitted := opts.OnAdmitted
	opts.OnAdmitted = func(r *http.Request, a *fanfare.Admission) {
		if onAdmitted != nil {
			onAdmitted(r, a)
		}
		sets, ok := admittedSets[a.Distribution.Type]
		if !ok {
			sets = admittedSets["other"]
		}
		set := sets[0]
		if a.Validated {
			set = sets[1]
		}
		ctx := r.Context()
		admissions.Add(ctx, 1, metric.WithAttributeSet(set))
		if span := trace.SpanFromContext(ctx); span.IsRecording() {
			span.AddEvent("fanfare.admission.admitted", trace.WithAttributes(
				keyDistributionType.String(string(a.Distribution.Type)),
				keyDistributionID.String(truncate(a.Distribution.ID, maxIDAttr)),
				keyValidated.Bool(a.Validated)))
		}
	}

	errorHandler := opts.ErrorHandler
	if errorHandler == nil {
		errorHandler = fanfare.WriteError
	}
	opts.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		code := refusalCode(err)
		set, ok := refusedSets[code]
		if !ok {
			code, set = "other", refusedSets["other"]
		}
		ctx := r.Context()
		refusals.Add(ctx, 1, metric.WithAttributeSet(set))
		if span := trace.SpanFromContext(ctx); span.IsRecording() {
			span.AddEvent("fanfare.admission.refused", trace.WithAttributes(keyRefusalCode.String(code)))
		}
		errorHandler(w, r, err)
	}
	return opts
}

// refusalCode is the code of the answer fanfare.WriteError gives
// err: any error that is not an *AdmissionError is answered
// ADMISSION_INVALID.
func refusalCode(err error) string {
	var ae *fanfare.AdmissionError
	if !errors.As(err, &ae) || ae.Code == "" {
		return "ADMISSION_INVALID"
	}
	return ae.Code
}
