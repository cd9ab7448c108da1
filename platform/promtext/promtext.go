// Package promtext reads the Prometheus text exposition format (what
// /metrics serves) with the upstream parser (expfmt), for the tests, the
// benchmarks and the tools that check a service's metrics.
//
// Parse decodes an exposition into metric families, Scrape fetches and
// decodes one, and Value and Sum read samples out of the families: a
// counter's or gauge's value, an untyped sample, a histogram's or
// summary's count (name_count), sum (name_sum) or bucket
// (name_bucket{le="..."}), addressed by the names the text format shows.
package promtext

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Families are the metric families of one exposition, by name.
type Families map[string]*dto.MetricFamily

// Parse decodes the Prometheus text format read from r. Metric and label
// names may use any UTF-8 (the text format quotes them); a malformed line
// is an error naming it.
func Parse(r io.Reader) (Families, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("promtext: %w", err)
	}
	return fams, nil
}

// MaxScrapeBytes bounds the exposition Scrape reads.
const MaxScrapeBytes = 16 << 20

// Scrape GETs url (a /metrics endpoint) and parses the answer. A status
// other than 200 is an error. Without a deadline on ctx, Scrape gives up
// after 10s.
func Scrape(ctx context.Context, url string) (Families, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("promtext: scrape %s: %w", url, err)
	}
	req.Header.Set("Accept", string(expfmt.NewFormat(expfmt.TypeTextPlain)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("promtext: scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("promtext: scrape %s: %s", url, resp.Status)
	}
	fams, err := Parse(io.LimitReader(resp.Body, MaxScrapeBytes))
	if err != nil {
		return nil, fmt.Errorf("promtext: scrape %s: %w", url, err)
	}
	return fams, nil
}

// Value returns the value of the first sample of the series name whose
// labels include every pair of labels ("outcome", "ok", ...; an odd
// trailing name is ignored), and whether there is one. name is as the
// text format shows it: a histogram's or summary's name_count, name_sum
// and name_bucket (with its "le" label) are found too.
func (f Families) Value(name string, labels ...string) (float64, bool) {
	var v float64
	found := false
	f.each(name, labels, func(x float64) bool {
		v, found = x, true
		return false
	})
	return v, found
}

// Sum adds up the samples of the series name whose labels include every
// pair of labels (see Value); 0 when there are none.
func (f Families) Sum(name string, labels ...string) float64 {
	var sum float64
	f.each(name, labels, func(x float64) bool {
		sum += x
		return true
	})
	return sum
}

// Series is one sample: its labels (plus "le" for a histogram bucket) and
// its value.
type Series struct {
	Labels map[string]string
	Value  float64
}

// Series returns every sample of name (as the text format shows it, see
// Value) whose labels include every pair of labels, in exposition order.
func (f Families) Series(name string, labels ...string) []Series {
	var out []Series
	f.eachSeries(name, labels, func(have map[string]string, x sample) bool {
		l := have
		if x.le != "" {
			l = make(map[string]string, len(have)+1)
			for k, v := range have {
				l[k] = v
			}
			l["le"] = x.le
		}
		out = append(out, Series{Labels: l, Value: x.v})
		return true
	})
	return out
}

// each calls fn with the value of every sample of name matching labels,
// until fn returns false.
func (f Families) each(name string, labels []string, fn func(float64) bool) {
	f.eachSeries(name, labels, func(_ map[string]string, x sample) bool { return fn(x.v) })
}

// eachSeries calls fn with the labels and sample of every sample of name
// matching labels, until fn returns false.
func (f Families) eachSeries(name string, labels []string, fn func(map[string]string, sample) bool) {
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	suffix := ""
	fam := f[name]
	if fam == nil {
		for _, s := range []string{"_count", "_sum", "_bucket"} {
			if b, ok := strings.CutSuffix(name, s); ok && f[b] != nil {
				suffix, fam = s, f[b]
				break
			}
		}
	}
	if fam == nil {
		return
	}
	for _, m := range fam.GetMetric() {
		have := map[string]string{}
		for _, lp := range m.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		for _, x := range samples(fam.GetType(), m, suffix) {
			if matches(have, x.le, want) && !fn(have, x) {
				return
			}
		}
	}
}

// sample is one value of a metric, with the "le" of a histogram bucket.
type sample struct {
	v  float64
	le string // "" except for buckets
}

// samples returns the values of m that the text format shows under the
// family's name plus suffix ("" for the family's own name).
func samples(t dto.MetricType, m *dto.Metric, suffix string) []sample {
	switch t {
	case dto.MetricType_COUNTER:
		if suffix == "" {
			return []sample{{v: m.GetCounter().GetValue()}}
		}
	case dto.MetricType_GAUGE:
		if suffix == "" {
			return []sample{{v: m.GetGauge().GetValue()}}
		}
	case dto.MetricType_UNTYPED:
		if suffix == "" {
			return []sample{{v: m.GetUntyped().GetValue()}}
		}
	case dto.MetricType_SUMMARY:
		s := m.GetSummary()
		switch suffix {
		case "_count":
			return []sample{{v: float64(s.GetSampleCount())}}
		case "_sum":
			return []sample{{v: s.GetSampleSum()}}
		}
	case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
		h := m.GetHistogram()
		switch suffix {
		case "_count":
			return []sample{{v: float64(h.GetSampleCount())}}
		case "_sum":
			return []sample{{v: h.GetSampleSum()}}
		case "_bucket":
			// The parser keeps every bucket line, +Inf included.
			out := make([]sample, 0, len(h.GetBucket()))
			for _, b := range h.GetBucket() {
				out = append(out, sample{v: float64(b.GetCumulativeCount()), le: formatLE(b.GetUpperBound())})
			}
			return out
		}
	}
	return nil
}

// matches reports whether the labels have (plus le, for a bucket) include
// every pair of want.
func matches(have map[string]string, le string, want map[string]string) bool {
	for k, v := range want {
		got, ok := have[k]
		if k == "le" && le != "" {
			got, ok = le, true
		}
		if !ok || got != v {
			return false
		}
	}
	return true
}

// formatLE writes a bucket bound as the text format does.
func formatLE(f float64) string {
	if math.IsInf(f, 1) {
		return "+Inf"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}
