package registry

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/configfile"
	"github.com/docker/cli/cli/config/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// DockerConfig resolves credentials from the Docker config file
// ($DOCKER_CONFIG/config.json, else ~/.docker/config.json), honouring
// credsStore and credHelpers, as the docker CLI does.
type DockerConfig struct{}

// ServerKey is the key Docker files a registry's credentials under.
func ServerKey(registry string) string {
	if registry == "" || registry == name.DefaultRegistry || registry == "docker.io" || registry == "index.docker.io" {
		return authn.DefaultAuthKey
	}
	return registry
}

func loadConfig() (*configfile.ConfigFile, error) {
	cf, err := config.Load(config.Dir())
	if err != nil {
		return nil, fmt.Errorf("docker config %s: %w", config.Dir(), err)
	}
	return cf, nil
}

// Resolve implements authn.Keychain.
func (DockerConfig) Resolve(r authn.Resource) (authn.Authenticator, error) {
	cf, err := loadConfig()
	if err != nil {
		return nil, err
	}
	ac, err := cf.GetAuthConfig(ServerKey(r.RegistryStr()))
	if err != nil {
		return nil, fmt.Errorf("credentials for %s: %w", r.RegistryStr(), err)
	}
	if ac == (types.AuthConfig{ServerAddress: ac.ServerAddress}) {
		return authn.Anonymous, nil
	}
	return authn.FromConfig(authn.AuthConfig{
		Username: ac.Username, Password: ac.Password, Auth: ac.Auth,
		IdentityToken: ac.IdentityToken, RegistryToken: ac.RegistryToken,
	}), nil
}

// Login checks the credentials against the registry and stores them in
// the Docker config (or its credential helper). It returns where they
// were saved.
func Login(ctx context.Context, server, user, password string, o Options) (string, error) {
	server = strings.TrimPrefix(strings.TrimPrefix(server, "https://"), "http://")
	server = strings.TrimSuffix(strings.TrimSuffix(server, "/v1/"), "/")
	if server == "" {
		server = name.DefaultRegistry
	}
	var nopts []name.Option
	for _, h := range o.Insecure {
		if h == server {
			nopts = append(nopts, name.Insecure)
		}
	}
	reg, err := name.NewRegistry(server, nopts...)
	if err != nil {
		return "", fmt.Errorf("invalid registry %q: %w", server, err)
	}
	auth := authn.FromConfig(authn.AuthConfig{Username: user, Password: password})
	// The transport exchanges the credentials for a token where the
	// registry uses tokens (refused when wrong); a GET /v2/ through it
	// then proves them for basic-auth registries too.
	rt, err := transport.NewWithContext(ctx, reg, auth, o.base(), []string{reg.Scope("")})
	if err != nil {
		return "", describe(err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, reg.Scheme()+"://"+reg.RegistryStr()+"/v2/", nil)
	if err != nil {
		return "", err
	}
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return "", describe(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return "", fmt.Errorf("login to %s: incorrect username or password: %w", server, ErrUnauthorized)
	}
	if err := transport.CheckError(resp, http.StatusOK); err != nil {
		return "", describe(err)
	}
	cf, err := loadConfig()
	if err != nil {
		return "", err
	}
	key := ServerKey(server)
	if err := cf.GetCredentialsStore(key).Store(types.AuthConfig{Username: user, Password: password, ServerAddress: key}); err != nil {
		return "", fmt.Errorf("save credentials: %w", err)
	}
	if err := cf.Save(); err != nil {
		return "", fmt.Errorf("save %s: %w", cf.Filename, err)
	}
	return cf.Filename, nil
}

// Logout removes the stored credentials of server; it reports whether
// there were any.
func Logout(server string) (bool, error) {
	cf, err := loadConfig()
	if err != nil {
		return false, err
	}
	key := ServerKey(strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(server, "https://"), "http://"), "/"))
	if _, ok := cf.AuthConfigs[key]; !ok && cf.CredentialsStore == "" && cf.CredentialHelpers[key] == "" {
		return false, nil
	}
	if err := cf.GetCredentialsStore(key).Erase(key); err != nil {
		return false, fmt.Errorf("remove credentials: %w", err)
	}
	return true, cf.Save()
}
