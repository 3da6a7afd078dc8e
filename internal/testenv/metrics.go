package testenv

import (
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metrics is one scrape of a binary's metrics, each family by name.
type Metrics map[string]*dto.MetricFamily

// MetricsURL returns where the running authz or uploader (a Stack's
// Authz or Uploader) serves its metrics, for Scrape. The stack starts
// both with a metrics address of port 0, and each logs the address it
// got; a restarted process gets a new one, which this reads too. It waits
// up to 15 seconds for the line, as the binary logs it just after it
// listens.
func (p *Service) MetricsURL(t T) string {
	t.Helper()
	// A replica (authz2, …) logs as its binary does.
	re := regexp.MustCompile(`"?` + regexp.QuoteMeta(filepath.Base(p.path)) + ` metrics listening"?.*?\baddr"?[=:]"?([^\s"]+)`)
	deadline := time.Now().Add(15 * time.Second)
	for {
		if all := re.FindAllSubmatch(p.Output(t), -1); len(all) > 0 {
			return "http://" + string(all[len(all)-1][1])
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: %s logged no metrics address:\n%s", p.name, tail(p.Output(t), 2000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Scrape GETs base+"/metrics" (Service.MetricsURL) and parses Prometheus's text format; any failure
// fails the test.
func Scrape(t T, base string) Metrics {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		t.Fatalf("testenv: scrape %s: %v", base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("testenv: scrape %s: %s, %s", base, resp.Status, resp.Header.Get("Content-Type"))
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("testenv: scrape %s: %v", base, err)
	}
	return families
}

// Gather reads the collectors of g as a scrape would.
func Gather(t T, g prometheus.Gatherer) Metrics {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatalf("testenv: gather: %v", err)
	}
	m := Metrics{}
	for _, f := range families {
		m[f.GetName()] = f
	}
	return m
}

// Value sums the samples of the family name whose labels include every
// pair of labels ("decision", "allow", …): a counter's or gauge's value,
// a histogram's count of observations. A family or series that is not
// there is 0.
func (m Metrics) Value(name string, labels ...string) float64 {
	var sum float64
	for _, metric := range m[name].GetMetric() {
		if !hasLabels(metric, labels) {
			continue
		}
		switch {
		case metric.Counter != nil:
			sum += metric.Counter.GetValue()
		case metric.Gauge != nil:
			sum += metric.Gauge.GetValue()
		case metric.Histogram != nil:
			sum += float64(metric.Histogram.GetSampleCount())
		case metric.Untyped != nil:
			sum += metric.Untyped.GetValue()
		}
	}
	return sum
}

// Has reports whether the family name has a series whose labels include
// every pair of labels, whatever its value.
func (m Metrics) Has(name string, labels ...string) bool {
	for _, metric := range m[name].GetMetric() {
		if hasLabels(metric, labels) {
			return true
		}
	}
	return false
}

func hasLabels(metric *dto.Metric, pairs []string) bool {
	for i := 0; i+1 < len(pairs); i += 2 {
		found := false
		for _, l := range metric.GetLabel() {
			if l.GetName() == pairs[i] && l.GetValue() == pairs[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}
