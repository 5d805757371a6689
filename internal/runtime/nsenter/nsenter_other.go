//go:build !amd64

package nsenter

var binary []byte
