package charts

import (
	"bytes"
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"slices"

	"github.com/secretsql/secretsql/internal/bench"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Series is one approach's run.
type Series struct {
	Name     string
	Timeline bench.Timeline
}

// Chart is a timeline chart: each series' successful queries per bucket
// (top panel) and failed queries per bucket (bottom panel), against the
// time from its own first setSecret, with each rotation's setSecret and
// finishSecret marked.
type Chart struct {
	Title  string
	Series []Series
	// Width and Height of the SVG; zero means 9 × 5.5 inches.
	Width, Height vg.Length
}

// palette colours the series in order: blue, orange, red, then greys.
var palette = []color.Color{
	color.RGBA{R: 0x1f, G: 0x6f, B: 0xb4, A: 0xff},
	color.RGBA{R: 0xe6, G: 0x8a, B: 0x00, A: 0xff},
	color.RGBA{R: 0xc6, G: 0x28, B: 0x28, A: 0xff},
	color.RGBA{R: 0x55, G: 0x55, B: 0x55, A: 0xff},
}

var (
	markColor = color.RGBA{R: 0x33, G: 0x33, B: 0x33, A: 0xff}
	gridColor = color.RGBA{R: 0xdd, G: 0xdd, B: 0xdd, A: 0xff}
)

// WriteSVG draws c as SVG to w.
func (c Chart) WriteSVG(w io.Writer) error {
	if len(c.Series) == 0 {
		return errors.New("charts: a chart needs a series")
	}
	width, height := c.Width, c.Height
	if width == 0 || height == 0 {
		width, height = 9*vg.Inch, 5.5*vg.Inch
	}
	top, bottom := plot.New(), plot.New()
	bucket := c.Series[0].Timeline.BucketMS
	top.Y.Label.Text = fmt.Sprintf("successful queries / %.0f ms", bucket)
	bottom.Y.Label.Text = fmt.Sprintf("failed queries / %.0f ms", bucket)
	bottom.X.Label.Text = "seconds from the first password change (the end of setSecret)"
	var marks []mark
	xmin, xmax := math.Inf(1), math.Inf(-1)
	legend := make([]plot.Legend, len(c.Series))
	// The first series is drawn last, on top of the others.
	for i := len(c.Series) - 1; i >= 0; i-- {
		s := c.Series[i]
		tl := s.Timeline
		if tl.BucketMS <= 0 || len(tl.OK) != len(tl.Failed) {
			return fmt.Errorf("charts: series %q: bad timeline (bucket %g ms, %d and %d buckets)", s.Name, tl.BucketMS, len(tl.OK), len(tl.Failed))
		}
		zero := 0.0
		if len(tl.SetSecretMS) > 0 {
			zero = tl.SetSecretMS[0]
		}
		ok, failed := steps(tl.OK, tl.BucketMS, zero), steps(tl.Failed, tl.BucketMS, zero)
		if len(ok) > 0 {
			xmin, xmax = min(xmin, ok[0].X), max(xmax, ok[len(ok)-1].X)
		}
		col := palette[min(i, len(palette)-1)]
		for _, panel := range []struct {
			p   *plot.Plot
			xys plotter.XYs
		}{{top, ok}, {bottom, failed}} {
			l, err := plotter.NewLine(panel.xys)
			if err != nil {
				return fmt.Errorf("charts: series %q: %w", s.Name, err)
			}
			l.StepStyle = plotter.PostStep
			l.LineStyle.Color = col
			l.LineStyle.Width = vg.Points(1.4)
			panel.p.Add(l)
			if panel.p == top {
				legend[i] = plot.NewLegend()
				legend[i].TextStyle.Font.Size = vg.Points(11)
				legend[i].Left, legend[i].Top = true, true
				legend[i].Add(s.Name, l)
			}
		}
		for _, ms := range tl.SetSecretMS {
			marks = append(marks, mark{x: (ms - zero) / 1000, label: "setSecret"})
		}
		for _, ms := range tl.FinishSecretMS {
			marks = append(marks, mark{x: (ms - zero) / 1000, label: "finishSecret"})
		}
	}
	marks = dedupe(marks, bucket/1000)
	for _, p := range []*plot.Plot{top, bottom} {
		g := plotter.NewGrid()
		g.Vertical.Color, g.Horizontal.Color = gridColor, gridColor
		p.Add(g)
		p.Add(&markers{marks: marks, labels: p == top})
		p.X.Min, p.X.Max = xmin, xmax
		p.X.Tick.Marker = plot.TickerFunc(secondTicks)
		p.Y.Min = 0
	}
	// The failed panel keeps a visible scale when nothing failed, and
	// counts have integer ticks.
	bottom.Y.Max = max(bottom.Y.Max, 1)
	for _, p := range []*plot.Plot{top, bottom} {
		p.Y.Tick.Marker = plot.TickerFunc(integerTicks)
	}

	canvas := vgsvg.New(width, height)
	dc := draw.New(canvas)
	const headerH = 44
	header(draw.Crop(dc, 0, 0, dc.Max.Y-dc.Min.Y-vg.Points(headerH), 0), c.Title, legend)
	body := draw.Crop(dc, 0, 0, 0, -vg.Points(headerH))
	// The panels share the x axis; the top one is taller.
	split := body.Min.Y + (body.Max.Y-body.Min.Y)*0.4
	upper := draw.Crop(body, 0, 0, split-body.Min.Y, 0)
	lower := draw.Crop(body, 0, 0, 0, split-body.Max.Y)
	lowerC, upperC := alignX(bottom, top, lower, upper)
	top.Draw(upperC)
	bottom.Draw(lowerC)
	_, err := canvas.WriteTo(w)
	return err
}

// header draws the title, and below it the legend entries in a row, both
// centred.
func header(c draw.Canvas, title string, legend []plot.Legend) {
	ts := draw.TextStyle{Color: color.Black, Font: plot.DefaultFont, Handler: plot.DefaultTextHandler,
		XAlign: draw.XCenter, YAlign: draw.YTop}
	ts.Font.Size = vg.Points(13)
	mid := (c.Min.X + c.Max.X) / 2
	c.FillText(ts, vg.Point{X: mid, Y: c.Max.Y - vg.Points(3)}, title)
	row := draw.Crop(c, 0, 0, 0, -vg.Points(20))
	gap := vg.Points(24)
	widths, total := make([]vg.Length, len(legend)), vg.Length(0)
	for i := range legend {
		r := legend[i].Rectangle(row)
		widths[i] = r.Max.X - r.Min.X
		total += widths[i]
	}
	total += gap * vg.Length(len(legend)-1)
	x := mid - total/2
	for i := range legend {
		legend[i].Draw(draw.Crop(row, x-row.Min.X, 0, 0, 0))
		x += widths[i] + gap
	}
}

// secondTicks labels every second, or every 2 or 5 seconds on longer
// ranges, with unlabelled ticks between.
func secondTicks(lo, hi float64) []plot.Tick {
	step := 1.0
	switch {
	case hi-lo > 30:
		step = 5
	case hi-lo > 12:
		step = 2
	}
	var ticks []plot.Tick
	for v := math.Ceil(lo/step*2) * step / 2; v <= hi; v += step / 2 {
		t := plot.Tick{Value: v}
		if math.Mod(math.Abs(v), step) < 1e-9 {
			t.Label = fmt.Sprintf("%g", v)
		}
		ticks = append(ticks, t)
	}
	return ticks
}

// integerTicks are the default ticks without the fractional ones, labelled
// as integers.
func integerTicks(lo, hi float64) []plot.Tick {
	ticks := slices.DeleteFunc(plot.DefaultTicks{}.Ticks(lo, hi), func(t plot.Tick) bool { return t.Value != math.Trunc(t.Value) })
	for i := range ticks {
		if !ticks[i].IsMinor() {
			ticks[i].Label = fmt.Sprintf("%.0f", ticks[i].Value)
		}
	}
	return ticks
}

// WriteFile draws c as SVG to the file path.
func (c Chart) WriteFile(path string) error {
	var b bytes.Buffer
	if err := c.WriteSVG(&b); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// steps returns the points of a step line: one per bucket at its start, in
// seconds from zero (ms), plus the end of the last full bucket. The last
// bucket, cut short when the load stopped, is left out.
func steps(counts []int64, bucketMS, zeroMS float64) plotter.XYs {
	if len(counts) > 1 {
		counts = counts[:len(counts)-1]
	}
	xys := make(plotter.XYs, 0, len(counts)+1)
	for i, n := range counts {
		xys = append(xys, plotter.XY{X: (float64(i)*bucketMS - zeroMS) / 1000, Y: float64(n)})
	}
	if len(counts) > 0 {
		xys = append(xys, plotter.XY{X: (float64(len(counts))*bucketMS - zeroMS) / 1000, Y: float64(counts[len(counts)-1])})
	}
	return xys
}

// alignX gives the two plots' data areas the same left and right edges, so
// that their x axes line up.
func alignX(a, b *plot.Plot, ca, cb draw.Canvas) (draw.Canvas, draw.Canvas) {
	da, db := a.DataCanvas(ca), b.DataCanvas(cb)
	left := max(da.Min.X-ca.Min.X, db.Min.X-cb.Min.X)
	right := max(ca.Max.X-da.Max.X, cb.Max.X-db.Max.X)
	ca = draw.Crop(ca, left-(da.Min.X-ca.Min.X), -(right - (ca.Max.X - da.Max.X)), 0, 0)
	cb = draw.Crop(cb, left-(db.Min.X-cb.Min.X), -(right - (cb.Max.X - db.Max.X)), 0, 0)
	return ca, cb
}

// mark is a vertical line at x seconds.
type mark struct {
	x     float64
	label string
}

// dedupe drops marks of the same label closer than tol to one already kept
// (the series' own setSecret and finishSecret differ by milliseconds).
func dedupe(marks []mark, tol float64) []mark {
	slices.SortStableFunc(marks, func(a, b mark) int {
		switch {
		case a.x < b.x:
			return -1
		case a.x > b.x:
			return 1
		}
		return 0
	})
	var out []mark
	for _, m := range marks {
		if slices.ContainsFunc(out, func(k mark) bool { return k.label == m.label && math.Abs(k.x-m.x) < tol }) {
			continue
		}
		out = append(out, m)
	}
	return out
}

// markers draws the marks as dashed vertical lines across a panel, with
// their labels at the top if labels is set.
type markers struct {
	marks  []mark
	labels bool
}

// Plot implements plot.Plotter.
func (m *markers) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	style := draw.LineStyle{Color: markColor, Width: vg.Points(1), Dashes: []vg.Length{vg.Points(4), vg.Points(3)}}
	text := draw.TextStyle{Color: markColor, Font: plot.DefaultFont, Handler: plot.DefaultTextHandler,
		XAlign: draw.XLeft, YAlign: draw.YTop}
	text.Font.Size = vg.Points(9)
	for i, mk := range m.marks {
		x := trX(mk.x)
		if x < c.Min.X || x > c.Max.X {
			continue
		}
		c.StrokeLine2(style, x, c.Min.Y, x, c.Max.Y)
		if m.labels {
			// Labels of marks close together are staggered.
			y := c.Max.Y - vg.Points(2) - vg.Points(11)*vg.Length(i%2)
			c.FillText(text, vg.Point{X: x + vg.Points(3), Y: y}, mk.label)
		}
	}
}
