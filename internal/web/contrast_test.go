package web_test

import (
	"fmt"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestContrast computes, with the WCAG 2.1 formula, the contrast of the
// stylesheet's colours in the light and the dark theme (the custom
// properties of :root, and of :root under prefers-color-scheme: dark):
// what identifies a control and the focus outline at least 3:1 against
// what they sit on (1.4.11, which axe does not check), text at least
// 4.5:1 on every surface (1.4.3). The controls are looked up by the rule
// that styles them, so a rule switched to a paler variable fails here.
func TestContrast(t *testing.T) {
	css, err := os.ReadFile("static/app.css")
	if err != nil {
		t.Fatal(err)
	}
	sheet, err := parseCSS(string(css))
	if err != nil {
		t.Fatal(err)
	}
	light := sheet.vars("")
	dark := sheet.vars("(prefers-color-scheme: dark)")
	if len(light) == 0 || len(dark) == len(light) && fmt.Sprint(dark) == fmt.Sprint(light) {
		t.Fatalf("no themes found: light %v, dark %v", light, dark)
	}

	// The surfaces a control or a text can sit on: the page, a card (also
	// the header and the tables), a message and an error.
	surfaces := []string{"var(--bg)", "var(--card)", "var(--flash)", "var(--error-bg)"}
	pages := []string{"var(--bg)", "var(--card)"}
	field := `input[type=text]`
	nonText := []struct {
		what, selector, property string
		on                       []string
	}{
		// A field's border separates its own background from the card
		// or page around it.
		{"text-field border", field, "border", append(pages, sheet.decl(t, field, "background"))},
		{"button border", "button", "border", pages},
		{"button fill", "button", "background", pages},
		{"danger button border", "button.danger", "border-color", pages},
		{"file chooser button border", "input[type=file]::file-selector-button", "border", pages},
		{"share summary border", ".share summary", "border", pages},
		{"switch border", ".switch", "border-color", pages},
		{"drop zone border", ".dropzone", "border", []string{"var(--card)"}},
		// The track holds the thumb, so the thumb must stand out on it.
		{"switch off track", ".switch .track", "background", append(pages, sheet.decl(t, ".switch .thumb", "background"))},
		{"switch on track", ".switch[aria-checked=true] .track", "background", append(pages, sheet.decl(t, ".switch .thumb", "background"))},
		// The outline is offset from the control: it sits on whatever
		// is around it.
		{"focus outline", ":focus-visible", "outline", surfaces},
	}
	text := []struct {
		what, color string
		on          []string
	}{
		{"text", "var(--fg)", surfaces},
		{"muted text", "var(--muted)", surfaces},
		{"links and secondary buttons", "var(--accent)", surfaces},
		{"danger text", "var(--danger)", surfaces},
		{"ok text", "var(--ok)", surfaces},
		{"button text", sheet.decl(t, "button", "color"), []string{sheet.decl(t, "button", "background")}},
	}

	for _, theme := range []struct {
		name string
		vars map[string]string
	}{{"light", light}, {"dark", dark}} {
		check := func(what, fg, bg string, min float64) {
			t.Helper()
			c1, err := resolveColor(theme.vars, fg)
			if err != nil {
				t.Errorf("%s theme, %s: %v", theme.name, what, err)
				return
			}
			c2, err := resolveColor(theme.vars, bg)
			if err != nil {
				t.Errorf("%s theme, %s on %s: %v", theme.name, what, bg, err)
				return
			}
			if r := contrast(c1, c2); r < min {
				t.Errorf("%s theme: %s %s on %s (%s) is %.2f:1, want at least %.1f:1", theme.name, what, c1, bg, c2, r, min)
			} else {
				t.Logf("%s theme: %s %s on %s (%s): %.2f:1", theme.name, what, c1, bg, c2, r)
			}
		}
		for _, c := range nonText {
			color := sheet.decl(t, c.selector, c.property)
			for _, bg := range c.on {
				check(c.what, color, bg, 3)
			}
		}
		for _, c := range text {
			for _, bg := range c.on {
				check(c.what, c.color, bg, 4.5)
			}
		}
	}
}

// TestContrastFormula pins the formula to WCAG's own examples.
func TestContrastFormula(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want float64
	}{
		{"#000000", "#ffffff", 21},
		{"#ffffff", "#ffffff", 1},
		{"#767676", "#ffffff", 4.54}, // the lightest grey passing 4.5:1 on white
		{"#949494", "#ffffff", 3.03}, // and 3:1
		{"#fff", "#777", 4.48},
	} {
		if got := contrast(c.a, c.b); math.Abs(got-c.want) > 0.01 {
			t.Errorf("contrast(%s, %s) = %.3f, want %.2f", c.a, c.b, got, c.want)
		}
	}
}

// cssRule is one rule of a stylesheet: its selector list, the condition
// of the @media around it ("" for none) and its declarations.
type cssRule struct {
	media     string
	selectors []string
	decls     map[string]string
}

type styleSheet []cssRule

var cssComment = regexp.MustCompile(`(?s)/\*.*?\*/`)

// parseCSS reads the subset of CSS app.css is written in: rules, and
// @media blocks holding rules. It is no general parser; anything else is
// an error, so the test cannot silently read less than the sheet says.
func parseCSS(src string) (styleSheet, error) {
	src = cssComment.ReplaceAllString(src, "")
	var sheet styleSheet
	var parse func(src, media string) error
	parse = func(src, media string) error {
		for {
			src = strings.TrimSpace(src)
			if src == "" {
				return nil
			}
			open := strings.IndexByte(src, '{')
			if open < 0 {
				return fmt.Errorf("css: text after the last rule: %.40q", src)
			}
			prelude := strings.Join(strings.Fields(src[:open]), " ")
			if cond, ok := strings.CutPrefix(prelude, "@media "); ok {
				// The block ends at the brace that balances its own.
				depth, end := 0, -1
				for i := open; i < len(src) && end < 0; i++ {
					switch src[i] {
					case '{':
						depth++
					case '}':
						if depth--; depth == 0 {
							end = i
						}
					}
				}
				if end < 0 {
					return fmt.Errorf("css: unclosed %s", prelude)
				}
				if err := parse(src[open+1:end], cond); err != nil {
					return err
				}
				src = src[end+1:]
				continue
			} else if strings.HasPrefix(prelude, "@") {
				return fmt.Errorf("css: unknown at-rule %q", prelude)
			}
			end := strings.IndexByte(src[open:], '}')
			if end < 0 {
				return fmt.Errorf("css: unclosed rule %q", prelude)
			}
			body := src[open+1 : open+end]
			if strings.ContainsRune(body, '{') {
				return fmt.Errorf("css: nested block in %q", prelude)
			}
			r := cssRule{media: media, decls: map[string]string{}}
			for _, sel := range strings.Split(prelude, ",") {
				r.selectors = append(r.selectors, strings.TrimSpace(sel))
			}
			for _, d := range strings.Split(body, ";") {
				if name, value, ok := strings.Cut(d, ":"); ok {
					r.decls[strings.TrimSpace(name)] = strings.Join(strings.Fields(value), " ")
				} else if strings.TrimSpace(d) != "" {
					return fmt.Errorf("css: no value in %q of %q", d, prelude)
				}
			}
			sheet = append(sheet, r)
			src = src[open+end+1:]
		}
	}
	return sheet, parse(src, "")
}

// vars returns the custom properties of :root outside any @media, with
// those of :root under media laid over them.
func (s styleSheet) vars(media string) map[string]string {
	vars := map[string]string{}
	for _, m := range []string{"", media} {
		for _, r := range s {
			if r.media == m && len(r.selectors) == 1 && r.selectors[0] == ":root" {
				for name, value := range r.decls {
					if strings.HasPrefix(name, "--") {
						vars[name] = value
					}
				}
			}
		}
	}
	return vars
}

// decl returns the value the last rule outside @media that names
// selector in its list gives property, as the cascade would for rules of
// equal specificity; the test fails without one.
func (s styleSheet) decl(t *testing.T, selector, property string) string {
	t.Helper()
	value, found := "", false
	for _, r := range s {
		if r.media != "" {
			continue
		}
		for _, sel := range r.selectors {
			if v, ok := r.decls[property]; ok && sel == selector {
				value, found = v, true
			}
		}
	}
	if !found {
		t.Fatalf("app.css: no rule for %s sets %s", selector, property)
	}
	return value
}

var (
	cssVar  = regexp.MustCompile(`var\((--[\w-]+)\)`)
	cssHex  = regexp.MustCompile(`#(?:[0-9a-fA-F]{6}|[0-9a-fA-F]{3})\b`)
	cssSize = regexp.MustCompile(`^\d`)
)

// resolveColor returns the one colour in a declaration's value ("1px
// solid var(--control)", "#fff"), following var() through vars, as
// #rrggbb. Keywords such as transparent or currentColor are an error:
// they have no ratio of their own.
func resolveColor(vars map[string]string, value string) (string, error) {
	for range 10 { // var() chains are short; a loop would never end
		if m := cssVar.FindStringSubmatch(value); m != nil {
			v, ok := vars[m[1]]
			if !ok {
				return "", fmt.Errorf("%s is not defined", m[1])
			}
			value = v
			continue
		}
		var colors []string
		for _, word := range strings.Fields(value) {
			switch {
			case cssHex.MatchString(word):
				colors = append(colors, word)
			case cssSize.MatchString(word), word == "solid", word == "dashed":
			default:
				return "", fmt.Errorf("%q: %q is no colour this test reads", value, word)
			}
		}
		if len(colors) != 1 {
			return "", fmt.Errorf("%q: want exactly one colour", value)
		}
		c := strings.ToLower(strings.TrimPrefix(colors[0], "#"))
		if len(c) == 3 {
			c = string([]byte{c[0], c[0], c[1], c[1], c[2], c[2]})
		}
		return "#" + c, nil
	}
	return "", fmt.Errorf("%q: var() nested too deep", value)
}

// contrast is WCAG 2.1's contrast ratio of two #rgb or #rrggbb colours:
// (L1 + 0.05) / (L2 + 0.05) of their relative luminances, lighter first.
func contrast(a, b string) float64 {
	la, lb := luminance(a), luminance(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

// luminance is WCAG 2.1's relative luminance of an sRGB colour.
func luminance(hex string) float64 {
	hex = strings.TrimPrefix(hex, "#")
	if len(hex) == 3 {
		hex = string([]byte{hex[0], hex[0], hex[1], hex[1], hex[2], hex[2]})
	}
	var l float64
	for i, weight := range []float64{0.2126, 0.7152, 0.0722} {
		n, _ := strconv.ParseUint(hex[2*i:2*i+2], 16, 8)
		c := float64(n) / 255
		if c <= 0.04045 {
			c /= 12.92
		} else {
			c = math.Pow((c+0.055)/1.055, 2.4)
		}
		l += weight * c
	}
	return l
}
