//go:build !unix

package smallfile

import "os"

// openNoBlock opens path for reading. Systems other than Unix have no FIFO
// that blocks an open; the caller refuses anything but a regular file
// before reading.
func openNoBlock(path string) (*os.File, error) {
	return os.Open(path)
}
