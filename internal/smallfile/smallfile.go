package smallfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
)

// ErrNotRegular is the error of a path that is not a regular file (a FIFO,
// a device, a directory, a socket): reading it could block or never end.
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge is the error of a file larger than the limit.
var ErrTooLarge = errors.New("file larger than the limit")

// Read returns the content of the regular file at path, which must hold at
// most limit bytes. The file is opened without blocking (a FIFO without a
// writer) and checked with fstat before anything is read. Errors are
// *fs.PathError values that name the path, never the content; errors.Is
// tells ErrNotRegular, ErrTooLarge and the fs errors (fs.ErrNotExist, …).
func Read(path string, limit int64) ([]byte, error) {
	f, err := openNoBlock(path)
	if err != nil {
		return nil, err // *fs.PathError: the path and the cause
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w (mode %v)", ErrNotRegular, fi.Mode().Type())}
	}
	if fi.Size() > limit {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w (%d bytes, limit %d)", ErrTooLarge, fi.Size(), limit)}
	}
	// The file can grow between fstat and read: read one byte more than
	// the limit to notice.
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: path, Err: err}
	}
	if int64(len(b)) > limit {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w (over %d bytes)", ErrTooLarge, limit)}
	}
	return b, nil
}
