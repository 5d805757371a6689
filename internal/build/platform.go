package build

import (
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-dev/berth/internal/image"
)

// Platforms, as BuildKit's Dockerfile front end has them: the target
// platform is --platform (else the host's, "implicit"); a stage's is FROM
// --platform (expanded with the global ARGs, so $BUILDPLATFORM works),
// else the target's. A stage's base image is resolved for its platform,
// pulled from a multi-platform index when the store has none for it; a
// base of another architecture is pulled without a tag, so that the
// host's image of the same name stays. Nothing is emulated: a RUN in a
// stage of another architecture runs the image's binaries as they are,
// which without a binfmt_misc handler fails with the kernel's "exec
// format error", as Docker's build does without QEMU.

// targetPlatform is --platform, nil when not given.
func (r *run) targetPlatform() (*ocispec.Platform, error) {
	if r.o.Platform == "" {
		return nil, nil
	}
	p, err := image.ParsePlatform(r.o.Platform)
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// stagePlatform is s's platform: FROM --platform, else --platform; nil
// for neither (the base image's own, or the host's for scratch).
func (r *run) stagePlatform(s *stage) (*ocispec.Platform, error) {
	if s.Platform == "" {
		return r.targetPlatform()
	}
	v, _, err := s.lex.ProcessWord(s.Platform, shell.EnvsFromSlice(r.globals))
	if err != nil {
		return nil, atLines(err, s.Location)
	}
	p, err := image.ParsePlatform(v)
	if err != nil {
		return nil, atLines(err, s.Location)
	}
	return &p, nil
}

// setTargetPlatform makes an explicit --platform the image's, as
// BuildKit's exporter: the variant (and OS version) of the base stays
// when the OS and architecture are the same and --platform names none.
func setTargetPlatform(img *dockerspec.DockerOCIImage, tp *ocispec.Platform) {
	same := img.OS == tp.OS && img.Architecture == tp.Architecture
	img.OS, img.Architecture = tp.OS, tp.Architecture
	if tp.Variant != "" || !same {
		img.Variant = tp.Variant
	}
	if tp.OSVersion != "" || !same {
		img.OSVersion = tp.OSVersion
	}
}
