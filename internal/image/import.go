package image

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/internal/archive"
)

// ImportOptions are `import`'s flags.
type ImportOptions struct {
	// Ref is the name:tag to give the image; "" leaves it unnamed.
	Ref string
	// Changes are Dockerfile instructions applied to the config (CMD,
	// ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME,
	// WORKDIR), each may hold several lines.
	Changes []string
	// Message is the history comment; "" means Docker's "Imported from -".
	Message string
	// Platform is the os/arch the config declares; nil means s.Platform.
	Platform *ocispec.Platform
}

// Import makes a one-layer image of the root filesystem tarball r (plain
// or compressed), as `docker import` does. The layer is stored
// gzip-compressed, so that a push sends an ordinary layer, and is unpacked
// through the pull path: archive.Apply refuses the entries that would
// leave the snapshot, and the diff ID is checked as it unpacks.
func (s *Service) Import(ctx context.Context, r io.Reader, opts ImportOptions) (*Image, error) {
	var tags []string
	if opts.Ref != "" {
		ref, err := ParseTagRef(opts.Ref)
		if err != nil {
			return nil, err
		}
		tags = []string{ref.String()}
	}
	var conf dockerspec.DockerOCIImageConfig
	if err := applyChanges(&conf, opts.Changes); err != nil {
		return nil, err
	}
	platform := s.Platform
	if opts.Platform != nil {
		platform = *opts.Platform
	}
	dir, done, err := s.scratch(ctx, "import")
	if err != nil {
		return nil, err
	}
	defer done()
	file := filepath.Join(dir, "layer.tar.gz")
	layer, diffID, err := compressLayer(ctx, r, file)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	comment := opts.Message
	if comment == "" {
		comment = "Imported from -"
	}
	cfg := dockerspec.DockerOCIImage{
		Image: ocispec.Image{
			Created:  &now,
			Platform: ocispec.Platform{OS: platform.OS, Architecture: platform.Architecture, Variant: platform.Variant},
			RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{diffID}},
			History:  []ocispec.History{{Created: &now, Comment: comment}},
		},
		Config: conf,
	}
	cdata, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	man := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cdata), Size: int64(len(cdata))},
		Layers:    []ocispec.Descriptor{layer},
	}
	mdata, err := json.Marshal(man)
	if err != nil {
		return nil, err
	}
	for _, b := range [][]byte{cdata, mdata} {
		if _, err := s.content.Put(b); err != nil {
			return nil, fmt.Errorf("import: %w", err)
		}
	}
	rec := &record{
		config:   man.Config.Digest,
		manifest: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(mdata), Size: int64(len(mdata))},
		layers:   man.Layers,
		diffIDs:  cfg.RootFS.DiffIDs,
		created:  now,
		tags:     tags,
	}
	if err := s.unpackLayers(ctx, fileFetcher{layer.Digest: file}, rec, PullOptions{Progress: NoProgress{}, Concurrency: 1}); err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	return s.register(ctx, rec)
}

// compressLayer reads the tar stream r (decompressing it when it is
// compressed) to its end, checking that it is a tar, and writes it
// gzip-compressed to file. It returns the descriptor of the compressed
// blob and the diff ID (the digest of the uncompressed stream).
func compressLayer(ctx context.Context, r io.Reader, file string) (ocispec.Descriptor, digest.Digest, error) {
	dr, err := archive.Decompress(r)
	if err != nil {
		return ocispec.Descriptor{}, "", fmt.Errorf("import: %w", err)
	}
	defer dr.Close()
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return ocispec.Descriptor{}, "", fmt.Errorf("import: %w", err)
	}
	defer f.Close()
	blob := digest.SHA256.Digester()
	size := &countWriter{}
	zw := gzip.NewWriter(io.MultiWriter(f, blob.Hash(), size))
	diff := digest.SHA256.Digester()
	in := &countWriter{}
	stream := io.TeeReader(dr, io.MultiWriter(zw, diff.Hash(), in))
	tr := tar.NewReader(stream)
	for n := 0; ; n++ {
		if err := ctx.Err(); err != nil {
			return ocispec.Descriptor{}, "", err
		}
		_, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if n == 0 {
				return ocispec.Descriptor{}, "", fmt.Errorf("import: the input is not a tar archive (%v)", err)
			}
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return ocispec.Descriptor{}, "", fmt.Errorf("import: the tar archive is truncated")
			}
			return ocispec.Descriptor{}, "", fmt.Errorf("import: reading the tar archive: %w", err)
		}
	}
	if in.n == 0 {
		return ocispec.Descriptor{}, "", fmt.Errorf("import: the input is empty: no tar archive to import")
	}
	// The diff ID covers the whole stream, past the tar trailer, as the
	// unpack will hash it.
	if _, err := io.Copy(io.Discard, stream); err != nil {
		return ocispec.Descriptor{}, "", fmt.Errorf("import: reading the tar archive: %w", err)
	}
	if err := zw.Close(); err != nil {
		return ocispec.Descriptor{}, "", fmt.Errorf("import: %w", err)
	}
	return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: blob.Digest(), Size: size.n}, diff.Digest(), nil
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

// applyChanges applies Dockerfile instructions (import's and commit's
// --change) to cfg: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD,
// STOPSIGNAL, USER, VOLUME and WORKDIR, in the forms a Dockerfile takes
// (JSON or shell form; $VAR and ${VAR} expand from the image's
// environment). A change may hold several lines.
func applyChanges(cfg *dockerspec.DockerOCIImageConfig, changes []string) error {
	cmdSet := false
	for _, change := range changes {
		for _, line := range strings.Split(change, "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			instr, rest := line, ""
			if i := strings.IndexFunc(line, unicode.IsSpace); i >= 0 {
				instr, rest = line[:i], strings.TrimSpace(line[i:])
			}
			instr = strings.ToLower(instr)
			if err := applyChange(cfg, instr, rest, &cmdSet); err != nil {
				return err
			}
		}
	}
	return nil
}

func applyChange(cfg *dockerspec.DockerOCIImageConfig, instr, rest string, cmdSet *bool) error {
	upper := strings.ToUpper(instr)
	lex := lexer{env: cfg.Env}
	switch instr {
	case "cmd", "entrypoint", "onbuild", "env", "label", "expose", "user", "volume", "workdir", "stopsignal":
	default:
		return fmt.Errorf("%s is not a valid change command", instr)
	}
	if rest == "" {
		return fmt.Errorf("%s requires at least one argument", upper)
	}
	switch instr {
	case "cmd":
		cfg.Cmd = commandForm(rest)
		*cmdSet = true
	case "entrypoint":
		cfg.Entrypoint = commandForm(rest)
		if !*cmdSet {
			cfg.Cmd = nil
		}
	case "env", "label":
		pairs, err := lex.keyValues(upper, rest)
		if err != nil {
			return err
		}
		for _, kv := range pairs {
			if instr == "env" {
				cfg.Env = setEnv(cfg.Env, kv[0], kv[1])
				continue
			}
			if cfg.Labels == nil {
				cfg.Labels = map[string]string{}
			}
			cfg.Labels[kv[0]] = kv[1]
		}
	case "expose":
		words, err := lex.words(rest)
		if err != nil {
			return err
		}
		for _, w := range words {
			ports, err := exposedPorts(w)
			if err != nil {
				return err
			}
			if cfg.ExposedPorts == nil {
				cfg.ExposedPorts = map[string]struct{}{}
			}
			for _, p := range ports {
				cfg.ExposedPorts[p] = struct{}{}
			}
		}
	case "volume":
		var vols []string
		if err := json.Unmarshal([]byte(rest), &vols); err != nil || !strings.HasPrefix(rest, "[") {
			if vols, err = lex.words(rest); err != nil {
				return err
			}
		}
		for _, v := range vols {
			if strings.TrimSpace(v) == "" {
				return fmt.Errorf("VOLUME specified can not be an empty string")
			}
			if cfg.Volumes == nil {
				cfg.Volumes = map[string]struct{}{}
			}
			cfg.Volumes[v] = struct{}{}
		}
	case "user", "workdir", "stopsignal":
		w, err := lex.word(rest)
		if err != nil {
			return err
		}
		switch instr {
		case "user":
			cfg.User = w
		case "workdir":
			if !path.IsAbs(w) {
				w = path.Join("/", cfg.WorkingDir, w)
			}
			cfg.WorkingDir = w
		case "stopsignal":
			if !signalName.MatchString(strings.ToUpper(w)) {
				return fmt.Errorf("Invalid signal: %s", w)
			}
			cfg.StopSignal = w
		}
	case "onbuild":
		trigger := strings.ToUpper(strings.FieldsFunc(rest, unicode.IsSpace)[0])
		switch trigger {
		case "ONBUILD":
			return fmt.Errorf("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
		case "FROM", "MAINTAINER":
			return fmt.Errorf("%s isn't allowed as an ONBUILD trigger", trigger)
		}
		cfg.OnBuild = append(cfg.OnBuild, rest)
	}
	return nil
}

// signalName is what STOPSIGNAL takes: a number, or a name with or
// without SIG (SIGRTMIN+3 too).
var signalName = regexp.MustCompile(`^([0-9]+|(SIG)?[A-Z][A-Z0-9]*([+-][0-9]+)?)$`)

// commandForm parses CMD's and ENTRYPOINT's argument: a JSON array of
// strings (exec form) or else a command for /bin/sh -c (shell form).
func commandForm(rest string) []string {
	var args []string
	if strings.HasPrefix(rest, "[") && json.Unmarshal([]byte(rest), &args) == nil {
		return args
	}
	return []string{"/bin/sh", "-c", rest}
}

func setEnv(env []string, key, value string) []string {
	for i, e := range env {
		if k, _, _ := strings.Cut(e, "="); k == key {
			env[i] = key + "=" + value
			return env
		}
	}
	return append(env, key+"="+value)
}

// exposedPorts expands EXPOSE's port[/proto] and range[/proto] to the
// config's "port/proto" keys.
func exposedPorts(spec string) ([]string, error) {
	port, proto, _ := strings.Cut(spec, "/")
	if proto == "" {
		proto = "tcp"
	}
	proto = strings.ToLower(proto)
	if proto != "tcp" && proto != "udp" && proto != "sctp" {
		return nil, fmt.Errorf("invalid proto: %s", proto)
	}
	lo, hi, isRange := strings.Cut(port, "-")
	if !isRange {
		hi = lo
	}
	start, err1 := strconv.ParseUint(lo, 10, 16)
	end, err2 := strconv.ParseUint(hi, 10, 16)
	if err1 != nil || err2 != nil || start == 0 || end < start {
		return nil, fmt.Errorf("invalid containerPort: %s", port)
	}
	var out []string
	for p := start; p <= end; p++ {
		out = append(out, fmt.Sprintf("%d/%s", p, proto))
	}
	return out, nil
}

// lexer reads an instruction's arguments as a Dockerfile does: blanks
// separate words, quotes group, a backslash escapes the next character,
// $NAME and ${NAME} (with :- and :+ defaults) expand from env, except
// inside single quotes.
type lexer struct{ env []string }

// keyValues reads ENV's and LABEL's key=value pairs, or the old form
// "KEY the value".
func (l lexer) keyValues(instr, rest string) ([][2]string, error) {
	first := strings.FieldsFunc(rest, unicode.IsSpace)[0]
	if !strings.Contains(first, "=") {
		value, err := l.word(strings.TrimSpace(rest[len(first):]))
		if err != nil {
			return nil, err
		}
		if value == "" && instr == "ENV" {
			return nil, fmt.Errorf("ENV must have two arguments")
		}
		return [][2]string{{first, value}}, nil
	}
	words, err := l.words(rest)
	if err != nil {
		return nil, err
	}
	var out [][2]string
	for _, w := range words {
		k, v, ok := strings.Cut(w, "=")
		if !ok {
			return nil, fmt.Errorf("Syntax error - can't find = in %q. Must be of the form: name=value", w)
		}
		if k == "" {
			return nil, fmt.Errorf("%s names can not be blank", instr)
		}
		out = append(out, [2]string{k, v})
	}
	return out, nil
}

// words splits s into words.
func (l lexer) words(s string) ([]string, error) { return l.process(s, true) }

// word unquotes and expands s as one word, keeping its blanks.
func (l lexer) word(s string) (string, error) {
	w, err := l.process(s, false)
	if err != nil || len(w) == 0 {
		return "", err
	}
	return w[0], nil
}

func (l lexer) process(s string, split bool) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		c := rs[i]
		switch {
		case split && unicode.IsSpace(c):
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
			continue
		case c == '\\':
			if i+1 < len(rs) {
				i++
				cur.WriteRune(rs[i])
			}
		case c == '\'':
			j := i + 1
			for j < len(rs) && rs[j] != '\'' {
				j++
			}
			if j >= len(rs) {
				return nil, fmt.Errorf("unexpected end of statement while looking for matching single-quote")
			}
			cur.WriteString(string(rs[i+1 : j]))
			i = j
		case c == '"':
			i++
			for ; i < len(rs) && rs[i] != '"'; i++ {
				switch {
				case rs[i] == '\\' && i+1 < len(rs) && strings.ContainsRune("\"\\$", rs[i+1]):
					i++
					cur.WriteRune(rs[i])
				case rs[i] == '$':
					v, n := l.variable(rs[i:])
					cur.WriteString(v)
					i += n - 1
				default:
					cur.WriteRune(rs[i])
				}
			}
			if i >= len(rs) {
				return nil, fmt.Errorf("unexpected end of statement while looking for matching double-quote")
			}
		case c == '$':
			v, n := l.variable(rs[i:])
			cur.WriteString(v)
			i += n - 1
		default:
			cur.WriteRune(c)
		}
		inWord = true
	}
	if inWord || !split {
		words = append(words, cur.String())
	}
	return words, nil
}

// variable expands the reference at the start of rs ("$NAME", "${NAME}",
// "${NAME:-word}", "${NAME:+word}") and returns the value and the runes
// it took; a lone "$" is itself.
func (l lexer) variable(rs []rune) (string, int) {
	isName := func(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }
	if len(rs) > 1 && rs[1] == '{' {
		end := 2
		for end < len(rs) && rs[end] != '}' {
			end++
		}
		if end >= len(rs) {
			return "$", 1
		}
		body := string(rs[2:end])
		name, mod := body, ""
		if i := strings.Index(body, ":"); i >= 0 {
			name, mod = body[:i], body[i:]
		}
		v, set := l.lookup(name)
		switch {
		case strings.HasPrefix(mod, ":-") && v == "":
			v = mod[2:]
		case strings.HasPrefix(mod, ":+"):
			if set && v != "" {
				v = mod[2:]
			} else {
				v = ""
			}
		}
		return v, end + 1
	}
	n := 1
	for n < len(rs) && isName(rs[n]) {
		n++
	}
	if n == 1 {
		return "$", 1
	}
	v, _ := l.lookup(string(rs[1:n]))
	return v, n
}

func (l lexer) lookup(name string) (string, bool) {
	for i := len(l.env) - 1; i >= 0; i-- {
		if k, v, _ := strings.Cut(l.env[i], "="); k == name {
			return v, true
		}
	}
	return "", false
}
