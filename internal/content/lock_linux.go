package content

import (
	"os"

	"golang.org/x/sys/unix"
)

// lock takes an exclusive open-file-description lock on f, waiting for it.
func lock(f *os.File) error {
	lk := unix.Flock_t{Type: unix.F_WRLCK}
	for {
		err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLKW, &lk)
		if err != unix.EINTR {
			return err
		}
	}
}
