//go:build unix

package smallfile

import (
	"os"
	"syscall"
)

// openNoBlock opens path for reading with O_NONBLOCK, so that opening a
// FIFO without a writer returns at once instead of waiting for one (the
// caller refuses anything but a regular file before reading), and with
// O_NOCTTY, so that a terminal device never becomes the controlling one.
func openNoBlock(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
}
