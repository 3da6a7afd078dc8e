package metrics_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/filegate/filegate/internal/metrics"
	"github.com/filegate/filegate/internal/testenv"
)

// dashboard is the part of a Grafana dashboard the test reads.
type dashboard struct {
	UID        string `json:"uid"`
	Title      string `json:"title"`
	Templating struct {
		List []struct {
			Name, Type, Query string
		} `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type panel struct {
	Type, Title string
	GridPos     struct{ H, W, X, Y int } `json:"gridPos"`
	Datasource  *struct{ Type, UID string }
	Targets     []struct {
		RefID      string `json:"refId"`
		Expr       string `json:"expr"`
		Datasource *struct{ Type, UID string }
	} `json:"targets"`
}

// exported returns every series name the two binaries' registries
// export, as PromQL names them: a histogram's _bucket, _sum and _count,
// a summary's own name, _sum and _count.
func exported(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	authz, uploader := metrics.NewRegistry(), metrics.NewRegistry()
	metrics.NewAuthz(authz, metrics.CacheStats{})
	metrics.NewUploader(uploader)
	for _, reg := range []testenv.Metrics{testenv.Gather(t, authz), testenv.Gather(t, uploader)} {
		for name, f := range reg {
			switch f.GetType() {
			case dto.MetricType_HISTOGRAM:
				names[name+"_bucket"], names[name+"_sum"], names[name+"_count"] = true, true, true
			case dto.MetricType_SUMMARY:
				names[name], names[name+"_sum"], names[name+"_count"] = true, true, true
			default:
				names[name] = true
			}
		}
	}
	return names
}

var (
	// What names no metric: strings (label values), label matchers,
	// range selectors, groupings' label lists, and numbers.
	notNames = []*regexp.Regexp{
		regexp.MustCompile(`"(?:[^"\\]|\\.)*"`),
		regexp.MustCompile(`\{[^}]*\}`),
		regexp.MustCompile(`\[[^\]]*\]`),
		regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`),
		regexp.MustCompile(`\b\d[\w.]*`),
	}
	identifier = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*(\s*\()?`)
	keywords   = []string{"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right", "inf", "nan"}
)

// metricNames returns the metric names a PromQL expression selects: every
// identifier outside strings, matchers, ranges and groupings that is
// neither a keyword nor a function or aggregation (followed by "(").
func metricNames(expr string) []string {
	for _, re := range notNames {
		expr = re.ReplaceAllString(expr, " ")
	}
	var names []string
	for _, tok := range identifier.FindAllString(expr, -1) {
		if !strings.HasSuffix(tok, "(") && !slices.Contains(keywords, strings.ToLower(tok)) {
			names = append(names, tok)
		}
	}
	return names
}

func TestMetricNames(t *testing.T) {
	for expr, want := range map[string][]string{
		`sum by (decision) (rate(filegate_authz_decisions_total[$__rate_interval]))`:                         {"filegate_authz_decisions_total"},
		`histogram_quantile(0.99, sum by (le) (rate(x_bucket{job="a", le!="+Inf"}[5m])))`:                    {"x_bucket"},
		`sum(rate(a{result="hit"}[1m])) / on(job) group_left(instance) sum(rate(b[1m])) > bool 0.5 or c_d:e`: {"a", "b", "c_d:e"},
		`up offset 5m`: {"up"},
	} {
		if got := metricNames(expr); !slices.Equal(got, want) {
			t.Errorf("metricNames(%s) = %q, want %q", expr, got, want)
		}
	}
}

// docs/grafana-dashboard.json imports into Grafana as it is (it asks for
// a Prometheus data source), shows what operators look at first, and
// every query names only metrics the binaries export.
func TestDashboard(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "docs", "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("docs/grafana-dashboard.json: %v", err)
	}
	if d.UID == "" || d.Title == "" {
		t.Errorf("uid %q, title %q: both needed to import", d.UID, d.Title)
	}
	// The data source is a variable of the dashboard, so the import works
	// in any Grafana whatever its Prometheus is called.
	dsVar := ""
	for _, v := range d.Templating.List {
		if v.Type == "datasource" && v.Query == "prometheus" {
			dsVar = "${" + v.Name + "}"
		}
	}
	if dsVar == "" {
		t.Fatal("no data source variable of type prometheus")
	}
	known := exported(t)
	used := map[string]bool{}
	var boxes []panel
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		boxes = append(boxes, p)
		if p.Datasource == nil || p.Datasource.UID != dsVar || len(p.Targets) == 0 {
			t.Errorf("panel %q: data source %v, %d queries; want %s and at least one", p.Title, p.Datasource, len(p.Targets), dsVar)
		}
		for _, q := range p.Targets {
			if q.Datasource == nil || q.Datasource.UID != dsVar {
				t.Errorf("panel %q, query %s: data source %v, want %s", p.Title, q.RefID, q.Datasource, dsVar)
			}
			names := metricNames(q.Expr)
			if len(names) == 0 {
				t.Errorf("panel %q, query %s names no metric: %s", p.Title, q.RefID, q.Expr)
			}
			for _, n := range names {
				used[n] = true
				if !known[n] {
					t.Errorf("panel %q, query %s: %s is not a metric the binaries export: %s", p.Title, q.RefID, n, q.Expr)
				}
			}
		}
	}
	// Decision rate by result, p50/p99 decision latency, cache hit ratio,
	// upload rate and bytes, login failures and throttling.
	for _, n := range []string{"filegate_authz_decisions_total", "filegate_authz_decision_duration_seconds_bucket",
		"filegate_authz_cache_lookups_total", "filegate_uploads_total", "filegate_upload_bytes_total",
		"filegate_logins_total", "filegate_throttled_requests_total"} {
		if !used[n] {
			t.Errorf("no panel shows %s", n)
		}
	}
	// Panels must not overlap on Grafana's 24-column grid.
	for i, a := range boxes {
		if a.GridPos.W <= 0 || a.GridPos.H <= 0 || a.GridPos.X+a.GridPos.W > 24 {
			t.Errorf("panel %q is placed at %+v", a.Title, a.GridPos)
		}
		for _, b := range boxes[i+1:] {
			if a.GridPos.X < b.GridPos.X+b.GridPos.W && b.GridPos.X < a.GridPos.X+a.GridPos.W &&
				a.GridPos.Y < b.GridPos.Y+b.GridPos.H && b.GridPos.Y < a.GridPos.Y+a.GridPos.H {
				t.Errorf("panels %q and %q overlap", a.Title, b.Title)
			}
		}
	}
}
