package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/reference"
	"github.com/berth-dev/berth/internal/registry"
)

func newPullCommand(g *globalOptions) *cobra.Command {
	var platform string
	var all, quiet bool
	cmd := &cobra.Command{
		Use:   "pull [OPTIONS] NAME[:TAG|@DIGEST]",
		Short: "Download an image from a registry",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := g.engine()
			if err != nil {
				return err
			}
			defer e.Close()
			opts := engine.PullOptions{}
			if platform != "" {
				p, err := image.ParsePlatform(platform)
				if err != nil {
					return err
				}
				opts.Platform = &p
			}
			names := []string{args[0]}
			if all {
				ref, err := image.ParseRef(args[0])
				if err != nil {
					return err
				}
				if _, tagged := ref.(reference.Tagged); tagged && strings.Contains(args[0][strings.LastIndex(args[0], "/")+1:], ":") {
					return fmt.Errorf("tag can't be used with --all-tags/-a")
				}
				tags, err := e.Tags(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				names = nil
				for _, t := range tags {
					names = append(names, ref.Name()+":"+t)
				}
			}
			for _, n := range names {
				if err := pullOne(cmd.Context(), e, n, opts, quiet); err != nil {
					return err
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&platform, "platform", "", "Set platform if server is multi-platform capable")
	f.BoolVarP(&all, "all-tags", "a", false, "Download all tagged images in the repository")
	f.BoolVarP(&quiet, "quiet", "q", false, "Suppress verbose output")
	return cmd
}

func pullOne(ctx context.Context, e *engine.Engine, name string, opts engine.PullOptions, quiet bool) error {
	return pullTo(ctx, e, name, opts, quiet, os.Stdout, true)
}

// pullTo pulls name showing progress on out, as `pull` does on stdout
// and `run`/`create` on stderr; printRef ends with the reference (pull's
// last line).
func pullTo(ctx context.Context, e *engine.Engine, name string, opts engine.PullOptions, quiet bool, out *os.File, printRef bool) error {
	ref, err := image.ParseRef(name)
	if err != nil {
		return err
	}
	p := newProgress(out, isTerminal(out), quiet)
	opts.Progress = p
	if !quiet {
		if t, ok := ref.(reference.Tagged); ok {
			fmt.Fprintf(out, "%s: Pulling from %s\n", t.Tag(), reference.Path(ref))
		} else {
			fmt.Fprintf(out, "Pulling from %s\n", reference.Path(ref))
		}
	}
	res, err := e.Pull(ctx, name, opts)
	if err != nil {
		return err
	}
	if quiet {
		if printRef {
			fmt.Fprintln(out, ref.String())
		}
		return nil
	}
	p.println("Digest: " + res.Digest.String())
	if res.UpToDate {
		fmt.Fprintf(out, "Status: Image is up to date for %s\n", reference.FamiliarString(ref))
	} else {
		fmt.Fprintf(out, "Status: Downloaded newer image for %s\n", reference.FamiliarString(ref))
	}
	if printRef {
		fmt.Fprintln(out, ref.String())
	}
	return nil
}

func newPushCommand(g *globalOptions) *cobra.Command {
	var quiet bool
	cmd := &cobra.Command{
		Use:   "push [OPTIONS] NAME[:TAG]",
		Short: "Upload an image to a registry",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := g.engine()
			if err != nil {
				return err
			}
			defer e.Close()
			ref, err := image.ParseRef(args[0])
			if err != nil {
				return err
			}
			p := newProgress(os.Stdout, isTerminal(os.Stdout), quiet)
			if !quiet {
				fmt.Printf("The push refers to repository [%s]\n", ref.Name())
			}
			res, err := e.Push(cmd.Context(), args[0], p)
			if err != nil {
				return err
			}
			if quiet {
				fmt.Println(reference.FamiliarString(ref))
				return nil
			}
			p.println(fmt.Sprintf("%s: digest: %s size: %d", res.Tag, res.Digest, res.Size))
			return nil
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Suppress verbose output")
	cmd.Flags().BoolP("all-tags", "a", false, "Push all tags of an image to the repository")
	cmd.Flags().MarkHidden("all-tags")
	return cmd
}

func newLoginCommand(g *globalOptions) *cobra.Command {
	var user, password string
	var passwordStdin bool
	cmd := &cobra.Command{
		Use:   "login [OPTIONS] [SERVER]",
		Short: "Authenticate to a registry",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			server := ""
			if len(args) == 1 {
				server = args[0]
			}
			if passwordStdin {
				if password != "" {
					return fmt.Errorf("--password and --password-stdin are mutually exclusive")
				}
				if user == "" {
					return fmt.Errorf("Must provide --username with --password-stdin")
				}
				data, err := io.ReadAll(os.Stdin)
				if err != nil {
					return err
				}
				password = strings.TrimRight(string(data), "\r\n")
			}
			in := bufio.NewReader(os.Stdin)
			if user == "" {
				fmt.Print("Username: ")
				l, _ := in.ReadString('\n')
				user = strings.TrimSpace(l)
			}
			if password == "" {
				fmt.Print("Password: ")
				if term.IsTerminal(int(os.Stdin.Fd())) {
					b, _ := term.ReadPassword(int(os.Stdin.Fd()))
					fmt.Println()
					password = string(b)
				} else {
					l, _ := in.ReadString('\n')
					password = strings.TrimRight(l, "\r\n")
				}
			}
			if user == "" || password == "" {
				return fmt.Errorf("Error: Non-null Username and Password Required")
			}
			e, err := g.engine()
			if err != nil {
				return err
			}
			defer e.Close()
			if _, err := e.Login(cmd.Context(), server, user, password); err != nil {
				return err
			}
			fmt.Println("Login Succeeded")
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&user, "username", "u", "", "Username")
	f.StringVarP(&password, "password", "p", "", "Password or Personal Access Token (PAT)")
	f.BoolVar(&passwordStdin, "password-stdin", false, "Take the Password or Personal Access Token (PAT) from stdin")
	return cmd
}

func newLogoutCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "logout [SERVER]",
		Short: "Log out from a registry",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			server := ""
			if len(args) == 1 {
				server = args[0]
			}
			key := registry.ServerKey(server)
			found, err := registry.Logout(server)
			if err != nil {
				return err
			}
			if !found {
				fmt.Printf("Not logged in to %s\n", key)
				return nil
			}
			fmt.Printf("Removing login credentials for %s\n", key)
			return nil
		},
	}
}
