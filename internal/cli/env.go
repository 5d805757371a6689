package cli

import (
	"errors"
	"os"
	"strings"

	"github.com/docker/cli/pkg/kvfile"
)

// readEnv is the environment of --env-file files then -e flags, as the
// docker CLI reads them (opts.ReadKVEnvStrings and ValidateEnv): files
// skip comments and blank lines, and a bare KEY, in a file or a flag,
// takes this process's value of KEY when it has one (else it stays bare,
// which unsets KEY in the container).
func readEnv(files, env []string) ([]string, error) {
	var out []string
	for _, f := range files {
		vars, err := kvfile.Parse(f, os.LookupEnv)
		if err != nil {
			return nil, err
		}
		out = append(out, vars...)
	}
	for _, e := range env {
		k, _, hasValue := strings.Cut(e, "=")
		if k == "" {
			return nil, errors.New("invalid environment variable: " + e)
		}
		if !hasValue {
			if v, ok := os.LookupEnv(k); ok {
				e = k + "=" + v
			}
		}
		out = append(out, e)
	}
	return out, nil
}
