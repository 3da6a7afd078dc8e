package web_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// axe-core, vendored from its npm package into testdata/axe-core (see the
// README there): the version and the SHA-256 of axe.min.js, both checked
// before the script goes into a page.
const (
	axeVersion = "4.14.1"
	axeSHA256  = "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c"
)

// axeTags are the rules checkA11y runs: WCAG 2.0 and 2.1, levels A and AA.
var axeTags = []string{"wcag2a", "wcag2aa", "wcag21a", "wcag21aa"}

var axeScript = sync.OnceValues(func() (string, error) {
	src, err := os.ReadFile("testdata/axe-core/axe.min.js")
	if err != nil {
		return "", err
	}
	if sum := sha256.Sum256(src); hex.EncodeToString(sum[:]) != axeSHA256 {
		return "", fmt.Errorf("testdata/axe-core/axe.min.js has SHA-256 %x, want %s", sum, axeSHA256)
	}
	if !bytes.HasPrefix(src, []byte("/*! axe v"+axeVersion+"\n")) {
		return "", fmt.Errorf("testdata/axe-core/axe.min.js is not axe %s: %.20q", axeVersion, src)
	}
	return string(src), nil
})

// axeViolation is one rule axe found broken, with where.
type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target  string `json:"target"`
		Summary string `json:"summary"`
	} `json:"nodes"`
}

// checkA11y runs axe-core on the page in ctx as it is now, once in the
// light and once in the dark colour scheme, and fails t with every
// violation of a WCAG 2.0/2.1 A or AA rule; state names the page and
// state in the failure.
func checkA11y(t *testing.T, ctx context.Context, state string) {
	t.Helper()
	for _, scheme := range []string{"light", "dark"} {
		violations, err := runAxe(ctx, scheme)
		if err != nil {
			t.Fatalf("%s, %s scheme: %v", state, scheme, err)
		}
		for _, v := range violations {
			var where strings.Builder
			for _, n := range v.Nodes {
				fmt.Fprintf(&where, "\n\t%s: %s", n.Target, strings.ReplaceAll(n.Summary, "\n", " "))
			}
			t.Errorf("%s, %s scheme: axe %s (%s): %s%s", state, scheme, v.ID, v.Impact, v.Help, where.String())
		}
	}
}

// runAxe injects axe into the page in ctx unless it is there, and returns
// what its WCAG 2.0/2.1 A and AA rules find with prefers-color-scheme set
// to scheme. The script goes in through DevTools, as the page's
// Content-Security-Policy would refuse it from the page itself.
// Transitions are off while axe runs (prefers-reduced-motion), so colours
// are read where they end, not halfway through a change of scheme.
func runAxe(ctx context.Context, scheme string) ([]axeViolation, error) {
	script, err := axeScript()
	if err != nil {
		return nil, err
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](
		`window.axe && axe.version === "`+axeVersion+`" || (() => {`+script+"\n})()")); err != nil {
		return nil, fmt.Errorf("injecting axe: %w", err)
	}
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: []*emulation.MediaFeature{
		{Name: "prefers-color-scheme", Value: scheme},
		{Name: "prefers-reduced-motion", Value: "reduce"},
	}}); err != nil {
		return nil, err
	}
	defer func() {
		// Back to the browser's own scheme while transitions are still off, so
		// that no colour is left halfway for a screenshot.
		chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: []*emulation.MediaFeature{
			{Name: "prefers-reduced-motion", Value: "reduce"},
		}})
		chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](`getComputedStyle(document.body).color`))
		chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{})
	}()
	tags, _ := json.Marshal(axeTags)
	violations, err := chromedp.Run(ctx, chromedp.Evaluate[[]axeViolation](
		`axe.run(document, {runOnly: {type: "tag", values: `+string(tags)+`}, resultTypes: ["violations"]}).then(r =>
			r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
				nodes: v.nodes.map(n => ({target: n.target.join(" "), summary: n.failureSummary}))})))`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		return nil, fmt.Errorf("running axe: %w", err)
	}
	return violations, nil
}

// TestAxe: the helper finds what it is there to find, in both schemes: a
// page with an unlabelled field, an image without alt text and text too
// pale on its background in the dark scheme only.
func TestAxe(t *testing.T) {
	t.Parallel()
	ctx := newBrowser(t)
	const page = `<!doctype html><html lang="en"><head><title>t</title><style>
		p { color: #767676; background: #fff; } /* 4.54:1 */
		@media (prefers-color-scheme: dark) { p { color: #333; background: #000; } }
		</style></head><body><main><h1>t</h1><img src="/x.png"><input name="q"><p>pale words</p></main></body></html>`
	if err := chromedp.Do(ctx, chromedp.Navigate("data:text/html,"+url.PathEscape(page))); err != nil {
		t.Fatal(err)
	}
	for scheme, want := range map[string][]string{
		"light": {"image-alt", "label"},
		"dark":  {"color-contrast", "image-alt", "label"},
	} {
		violations, err := runAxe(ctx, scheme)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, v := range violations {
			ids = append(ids, v.ID)
		}
		slices.Sort(ids)
		if !slices.Equal(ids, want) {
			t.Errorf("%s scheme: axe found %q, want %q", scheme, ids, want)
		}
	}
}
