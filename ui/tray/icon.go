package tray

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
)

// Icon returns the tray icon as PNG: kftray's two arrows on blue, with a
// red dot when something is failing.
func Icon(failing bool) []byte {
	const n = 64
	img := image.NewRGBA(image.Rect(0, 0, n, n))
	blue := color.RGBA{0x32, 0x6c, 0xe5, 0xff}
	white := color.RGBA{0xff, 0xff, 0xff, 0xff}
	red := color.RGBA{0xd9, 0x2d, 0x20, 0xff}
	for y := range n {
		for x := range n {
			if inRoundedSquare(float64(x)+.5, float64(y)+.5, 2, n-2, 14) {
				img.Set(x, y, blue)
			}
		}
	}
	// Two arrows: one right (upper), one left (lower).
	line := func(x0, y0, x1, y1, w float64) {
		for y := range n {
			for x := range n {
				if distToSegment(float64(x)+.5, float64(y)+.5, x0, y0, x1, y1) <= w/2 {
					img.Set(x, y, white)
				}
			}
		}
	}
	line(15, 24, 45, 24, 5)
	line(45, 24, 37, 16, 5)
	line(49, 40, 19, 40, 5)
	line(19, 40, 27, 48, 5)
	if failing {
		for y := range n {
			for x := range n {
				d := math.Hypot(float64(x)+.5-48, float64(y)+.5-48)
				switch {
				case d <= 13:
					img.Set(x, y, red)
				case d <= 16:
					img.Set(x, y, white)
				}
			}
		}
	}
	var b bytes.Buffer
	_ = png.Encode(&b, img) // an in-memory RGBA always encodes
	return b.Bytes()
}

func inRoundedSquare(x, y, lo, hi, r float64) bool {
	if x < lo || y < lo || x > hi || y > hi {
		return false
	}
	cx := math.Min(math.Max(x, lo+r), hi-r)
	cy := math.Min(math.Max(y, lo+r), hi-r)
	return math.Hypot(x-cx, y-cy) <= r
}

func distToSegment(px, py, x0, y0, x1, y1 float64) float64 {
	dx, dy := x1-x0, y1-y0
	t := ((px-x0)*dx + (py-y0)*dy) / (dx*dx + dy*dy)
	t = math.Max(0, math.Min(1, t))
	return math.Hypot(px-(x0+t*dx), py-(y0+t*dy))
}
