// Package smallfile reads small files that hold secrets (a mounted secret,
// a token, a secret ID, a JWT) without ever blocking or reading without
// bound: a FIFO, a device such as /dev/zero, a directory or a socket is
// refused before anything is read, and so is a file over the limit.
package smallfile
