package charts_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/secretsql/secretsql/internal/bench"
	"github.com/secretsql/secretsql/tools/charts"
)

func timeline(ok, failed []int64) bench.Timeline {
	return bench.Timeline{BucketMS: 100, OK: ok, Failed: failed, SetSecretMS: []float64{250}, FinishSecretMS: []float64{550}}
}

func TestWriteSVG(t *testing.T) {
	c := charts.Chart{Title: "PostgreSQL, single user, window 0.3 s", Series: []charts.Series{
		{Name: "secretsql", Timeline: timeline([]int64{10, 12, 11, 12, 13, 12, 11, 9}, make([]int64, 8))},
		{Name: "Go-wrapper-like baseline", Timeline: timeline([]int64{10, 12, 3, 0, 0, 8, 11, 9}, []int64{0, 0, 4, 7, 6, 1, 0, 0})},
	}}
	var b bytes.Buffer
	if err := c.WriteSVG(&b); err != nil {
		t.Fatal(err)
	}
	// Well-formed XML whose text holds the title, the legend and the marks.
	var text strings.Builder
	d := xml.NewDecoder(bytes.NewReader(b.Bytes()))
	root := ""
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed SVG: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = tok.Name.Local
			}
		case xml.CharData:
			text.Write(tok)
		}
	}
	if root != "svg" {
		t.Errorf("root element %q, want svg", root)
	}
	for _, want := range []string{c.Title, "secretsql", "Go-wrapper-like baseline", "setSecret", "finishSecret", "failed queries / 100 ms"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("the chart's text lacks %q", want)
		}
	}
}

func TestWriteSVGErrors(t *testing.T) {
	for name, c := range map[string]charts.Chart{
		"no series":        {Title: "x"},
		"no bucket width":  {Series: []charts.Series{{Name: "a", Timeline: bench.Timeline{OK: []int64{1}, Failed: []int64{0}}}}},
		"uneven timelines": {Series: []charts.Series{{Name: "a", Timeline: bench.Timeline{BucketMS: 100, OK: []int64{1, 2}, Failed: []int64{0}}}}},
	} {
		if err := c.WriteSVG(io.Discard); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
