package web

import (
	"fmt"
	"testing"
	"time"
)

// The share form offers only expiries up to FILEGATE_LINK_MAX_TTL, with
// the default selected, or the longest one left when the default is
// past the maximum.
func TestExpiries(t *testing.T) {
	for max, want := range map[time.Duration]string{
		2160 * time.Hour: "[{1h 1 hour false} {24h 1 day false} {168h 7 days true} {720h 30 days false} {2160h 90 days false}]",
		200 * time.Hour:  "[{1h 1 hour false} {24h 1 day false} {168h 7 days true}]",
		48 * time.Hour:   "[{1h 1 hour false} {24h 1 day true}]",
		time.Hour:        "[{1h 1 hour true}]",
	} {
		if got := fmt.Sprint(expiries(max)); got != want {
			t.Errorf("expiries(%v) = %s, want %s", max, got, want)
		}
	}
}
