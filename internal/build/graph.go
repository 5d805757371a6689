package build

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"github.com/moby/buildkit/util/suggest"
)

// The stages of a build form a graph: a stage depends on the stage it
// starts from and on the stages its COPY --from and RUN --mount from=
// read (and those of its ONBUILD triggers). As in BuildKit, a --from may
// name a stage defined later, FROM only an earlier one, and a cycle is
// an error. The scheduler starts the target and, first, what it needs;
// a stage builds once all it depends on is built, stages that don't
// depend on each other at once, at most maxParallelStages together.
// Stages the target doesn't need are never started. The first failure
// cancels the stages still running.

// maxParallelStages bounds the stages building at once: each may run a
// RUN container.
var maxParallelStages = max(2, runtime.NumCPU())

// dep is an edge of the graph: the stage read and the instruction that
// reads it (nil for FROM).
type dep struct {
	s   *stage
	cmd instructions.Command
}

// errDepFailed ends a stage whose dependency failed; the dependency's
// error is the one reported.
var errDepFailed = errors.New("a stage this one needs failed")

// link expands every stage's base name, resolves the stages each one
// reads and checks the graph has no cycle.
func (r *run) link() error {
	env := shell.EnvsFromSlice(r.globals)
	for _, s := range r.df.stages {
		base, _, err := r.df.lex.ProcessWord(s.BaseName, env)
		if err != nil {
			return atLines(err, s.Location)
		}
		if base == "" {
			return atLines(fmt.Errorf("base name (%s) should not be blank", s.BaseName), s.Location)
		}
		s.baseName = base
		if !strings.EqualFold(base, "scratch") {
			if b := r.df.findStage(base, s.index); b != nil {
				s.base = b
				s.deps = append(s.deps, dep{s: b})
			}
		}
		if s.base != nil {
			// BuildKit runs a base stage's own ONBUILD instructions in
			// the stages built on it.
			for _, c := range s.base.Commands {
				if ob, ok := c.(*instructions.OnbuildCommand); ok {
					t, err := parseTrigger(ob.Expression)
					if err != nil {
						return atLines(err, s.Location)
					}
					s.triggers = append(s.triggers, t)
				}
			}
		}
		for _, c := range append(append([]instructions.Command(nil), s.triggers...), s.Commands...) {
			deps, err := r.stageRefs(c)
			if err != nil {
				return err
			}
			s.deps = append(s.deps, deps...)
		}
	}
	return r.checkCycles()
}

// stageRefs are the stages cmd reads with --from (COPY) or from= (RUN
// --mount); a name that is not a stage is an image's.
func (r *run) stageRefs(cmd instructions.Command) ([]dep, error) {
	var froms []string
	switch c := cmd.(type) {
	case *instructions.CopyCommand:
		froms = append(froms, c.From)
	case *instructions.RunCommand:
		for _, m := range instructions.GetMounts(c) {
			froms = append(froms, m.From)
		}
	}
	var out []dep
	for _, f := range froms {
		if f == "" {
			continue
		}
		from, _, err := r.df.lex.ProcessWord(f, shell.EnvsFromSlice(r.globals))
		if err != nil {
			return nil, atLines(err, cmd.Location())
		}
		if s := r.df.findStage(from, -1); s != nil {
			out = append(out, dep{s: s, cmd: cmd})
		} else if n, err := strconv.Atoi(from); err == nil {
			return nil, atLines(fmt.Errorf("invalid stage index %d", n), cmd.Location())
		}
	}
	return out, nil
}

// checkCycles reports a cycle in the graph as BuildKit does, at the
// instruction that closes it.
func (r *run) checkCycles() error {
	const (
		unvisited = iota
		onPath
		finished
	)
	mark := map[*stage]int{}
	var visit func(s *stage) error
	visit = func(s *stage) error {
		mark[s] = onPath
		for _, d := range s.deps {
			switch mark[d.s] {
			case onPath:
				err := fmt.Errorf("circular dependency detected on stage: %s", d.s.label)
				if d.cmd != nil {
					return atLines(err, d.cmd.Location())
				}
				return atLines(err, s.Location)
			case unvisited:
				if err := visit(d.s); err != nil {
					return err
				}
			}
		}
		mark[s] = finished
		return nil
	}
	for _, s := range r.df.stages {
		if mark[s] == unvisited {
			if err := visit(s); err != nil {
				return err
			}
		}
	}
	return nil
}

// reaches reports whether from depends, directly or not, on to.
func reaches(from, to *stage) bool {
	seen := map[*stage]bool{}
	var walk func(s *stage) bool
	walk = func(s *stage) bool {
		if s == to {
			return true
		}
		if seen[s] {
			return false
		}
		seen[s] = true
		for _, d := range s.deps {
			if walk(d.s) {
				return true
			}
		}
		return false
	}
	return walk(from)
}

// parseTrigger parses an ONBUILD trigger: one instruction, not ONBUILD,
// FROM or MAINTAINER (which the parser refuses in a Dockerfile, and an
// image's config may still hold).
func parseTrigger(expr string) (instructions.Command, error) {
	res, err := parser.Parse(strings.NewReader(expr))
	if err != nil {
		return nil, err
	}
	if len(res.AST.Children) != 1 {
		return nil, errors.New("onbuild trigger should be a single expression")
	}
	node := res.AST.Children[0]
	switch name := strings.ToUpper(node.Value); name {
	case "ONBUILD":
		return nil, errors.New("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
	case "MAINTAINER", "FROM":
		return nil, fmt.Errorf("%s isn't allowed as an ONBUILD trigger", name)
	}
	return instructions.ParseCommand(node)
}

// scheduler runs the stages of one build.
type scheduler struct {
	ctx    context.Context
	cancel context.CancelFunc
	slots  chan struct{}
	wg     sync.WaitGroup
	mu     sync.Mutex
	err    error // the first failure
}

// buildTarget builds target and, first, the stages it needs, in
// parallel where they are independent, and returns target's state.
func (r *run) buildTarget(ctx context.Context, target *stage) (*state, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r.sched = &scheduler{ctx: ctx, cancel: cancel, slots: make(chan struct{}, maxParallelStages)}
	r.start(target)
	<-target.done
	r.sched.wg.Wait()
	if r.sched.err != nil {
		return nil, r.sched.err
	}
	return target.built, target.err
}

// start builds s, once, in its own goroutine, after starting what it
// depends on.
func (r *run) start(s *stage) {
	s.once.Do(func() {
		for _, d := range s.deps {
			r.start(d.s)
		}
		sc := r.sched
		sc.wg.Add(1)
		go func() {
			defer sc.wg.Done()
			defer close(s.done)
			s.built, s.err = r.buildStage(sc.ctx, s)
			if s.err != nil && !errors.Is(s.err, errDepFailed) {
				sc.mu.Lock()
				if sc.err == nil {
					sc.err = s.err
				}
				sc.mu.Unlock()
				sc.cancel()
			}
		}()
	})
}

// wait waits until deps are built.
func (r *run) wait(ctx context.Context, deps []dep) error {
	for _, d := range deps {
		select {
		case <-d.s.done:
			if d.s.err != nil {
				return errDepFailed
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// acquire takes one of the slots of the stages building at once and
// returns its release.
func (r *run) acquire(ctx context.Context) (func(), error) {
	select {
	case r.sched.slots <- struct{}{}:
		var once sync.Once
		return func() { once.Do(func() { <-r.sched.slots }) }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// stageNames are the names of the stages, for suggestions.
func (r *run) stageNames() []string {
	var out []string
	for _, s := range r.df.stages {
		if s.Name != "" {
			out = append(out, s.Name)
		}
	}
	return out
}

// commonImages are names BuildKit suggests for a mistyped base image.
var commonImages = []string{"alpine", "busybox", "centos", "debian", "golang", "ubuntu", "fedora"}

// unknownRef is err, about a name that is neither a stage nor an image
// to be had, with BuildKit's suggestion of a stage (or common image) it
// may have meant: "… (did you mean builder?)".
func (r *run) unknownRef(err error, name string, images bool) error {
	options := r.stageNames()
	if images {
		options = append(options, commonImages...)
	}
	return suggest.WrapError(err, name, options, true)
}
