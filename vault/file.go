package vault

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
)

// maxSecretFileSize bounds what is read from a token, secret ID or JWT file: a
// Vault token is about 100 bytes, a service account JWT a few KiB.
const maxSecretFileSize = 64 << 10

// errFileNotRegular is the error of a file that is not a regular file (a FIFO,
// a device, a directory, a socket): reading it could block or never end.
var errFileNotRegular = errors.New("not a regular file")

// errFileTooLarge is the error of a file over the size limit.
var errFileTooLarge = errors.New("file too large")

// readSmall returns the content of the regular file at path, which must
// hold at most limit bytes. It never blocks on a FIFO or reads a device:
// the file is opened without blocking (openNoBlock) and checked with fstat
// before anything is read. Errors name the path, never the content.
func readSmall(path string, limit int64) ([]byte, error) {
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
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w (mode %v)", errFileNotRegular, fi.Mode().Type())}
	}
	if fi.Size() > limit {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w (%d bytes, limit %d)", errFileTooLarge, fi.Size(), limit)}
	}
	// The file can grow between fstat and read: read one byte more than
	// the limit to notice.
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: path, Err: err}
	}
	if int64(len(b)) > limit {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w (over %d bytes)", errFileTooLarge, limit)}
	}
	return b, nil
}
