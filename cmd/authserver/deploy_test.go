package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The tests of this file check the deployment files of deploy/ against the
// command and against each other: every command, flag and AUTHSERVER_*
// variable they set is one authserver accepts, with a value it accepts, and
// the ports, probes, image and user agree across the Dockerfile,
// compose.yaml and kubernetes/.

// deployDir is the directory of the deployment files.
const deployDir = "../../deploy"

// deployed is how a deployment file runs authserver: the arguments after
// the entrypoint, each "--name" or "--name=value" after the command, and
// the environment.
type deployed struct {
	where string
	args  []string
	env   map[string]string
}

// flags returns the flags of the arguments by name; a flag without a value
// is "true". check reports the arguments that are not flags.
func (p deployed) flags() map[string]string {
	flags := map[string]string{}
	for i, arg := range p.args {
		name, ok := strings.CutPrefix(arg, "--")
		if i == 0 || !ok {
			continue
		}
		name, value, ok := strings.Cut(name, "=")
		if !ok {
			value = "true"
		}
		flags[name] = value
	}
	return flags
}

// setting returns the value of the setting name: its flag, else its
// environment variable, else def.
func (p deployed) setting(name, def string) string {
	if v, ok := p.flags()[name]; ok {
		return v
	}
	if v, ok := p.env[envName(name)]; ok {
		return v
	}
	return def
}

// envName is the environment variable of the flag name.
func envName(flag string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// check fails the test unless each AUTHSERVER_* variable of p is a setting
// (a flag the environment may set) or the key-encryption key, and the
// command of p exists and accepts each of its flags with its value.
func (p deployed) check(t *testing.T) {
	t.Helper()
	for name := range p.env {
		flag, ok := strings.CutPrefix(name, envPrefix)
		if ok && name != kekEnv && !settingNames[strings.ToLower(strings.ReplaceAll(flag, "_", "-"))] {
			t.Errorf("%s: %s is not the variable of a setting (README \"Configuration\")", p.where, name)
		}
	}
	if len(p.args) == 0 {
		t.Errorf("%s: no command", p.where)
		return
	}
	for _, arg := range p.args[1:] {
		if !strings.HasPrefix(arg, "--") {
			t.Errorf("%s: argument %q: write each flag as --name=value, so that each argument stands alone", p.where, arg)
		}
	}
	// The command parses the arguments before --help, so it refuses an
	// unknown command, an unknown flag and a malformed value.
	var out bytes.Buffer
	if code := run(t.Context(), append(slices.Clone(p.args), "--help"), func(string) string { return "" },
		strings.NewReader(""), &out, &out); code != 0 {
		first, _, _ := strings.Cut(out.String(), "\n") // The error; the usage follows.
		t.Errorf("%s: authserver %s: exit %d: %s", p.where, strings.Join(p.args, " "), code, first)
	}
}

// validate runs "authserver version" with the settings of p: it validates
// them as every command does before it runs, and returns whether they are
// valid and what the command wrote.
func (p deployed) validate(t *testing.T) (bool, string) {
	t.Helper()
	args := []string{"version"}
	for name, value := range p.flags() {
		if settingNames[name] {
			args = append(args, "--"+name+"="+value)
		}
	}
	var out bytes.Buffer
	code := run(t.Context(), args, func(name string) string { return p.env[name] }, strings.NewReader(""), &out, &out)
	return code == 0, out.String()
}

// listenPort returns the port of a listen address such as ":8080".
func listenPort(t *testing.T, where, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	n, err2 := strconv.Atoi(p)
	if err != nil || err2 != nil {
		t.Fatalf("%s: listen address %q has no port", where, addr)
	}
	return n
}

// ports returns the ports of p's --addr and --metrics-addr.
func (p deployed) ports(t *testing.T) (http, metrics int) {
	t.Helper()
	d := defaults()
	return listenPort(t, p.where, p.setting("addr", d.Addr)), listenPort(t, p.where, p.setting("metrics-addr", d.MetricsAddr))
}

// dockerStage is one stage of a Dockerfile: its base, its name and its
// instructions, each on one line.
type dockerStage struct {
	from, name   string
	instructions []string
}

// readDockerfile returns the stages of deploy/Dockerfile.
func readDockerfile(t *testing.T) []*dockerStage {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(deployDir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var (
		stages []*dockerStage
		line   string
	)
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "#") || (l == "" && line == "") {
			continue
		}
		if cont, ok := strings.CutSuffix(l, `\`); ok {
			line += cont + " "
			continue
		}
		line += l
		fields := strings.Fields(line)
		switch {
		case len(fields) == 0:
		case strings.EqualFold(fields[0], "FROM"):
			s := &dockerStage{from: fields[1]}
			if len(fields) == 4 && strings.EqualFold(fields[2], "AS") {
				s.name = fields[3]
			}
			stages = append(stages, s)
		case len(stages) == 0:
			t.Fatalf("Dockerfile: %q before FROM", line)
		default:
			last := stages[len(stages)-1]
			last.instructions = append(last.instructions, line)
		}
		line = ""
	}
	if len(stages) == 0 {
		t.Fatal("Dockerfile: no FROM")
	}
	return stages
}

// stageNamed returns the stage called name, or nil.
func stageNamed(stages []*dockerStage, name string) *dockerStage {
	for _, s := range stages {
		if s.name == name {
			return s
		}
	}
	return nil
}

// stageValue returns the arguments of the last instruction keyword of s,
// or of the stage s is built on.
func stageValue(stages []*dockerStage, s *dockerStage, keyword string) string {
	for i := len(s.instructions) - 1; i >= 0; i-- {
		if k, args, _ := strings.Cut(s.instructions[i], " "); strings.EqualFold(k, keyword) {
			return strings.TrimSpace(args)
		}
	}
	if parent := stageNamed(stages, s.from); parent != nil {
		return stageValue(stages, parent, keyword)
	}
	return ""
}

// stageBase returns the image s is ultimately built on.
func stageBase(stages []*dockerStage, s *dockerStage) string {
	if parent := stageNamed(stages, s.from); parent != nil {
		return stageBase(stages, parent)
	}
	return s.from
}

// dockerImage is the production image of deploy/Dockerfile as it runs
// authserver.
type dockerImage struct {
	base   string
	user   string
	expose []int
	proc   deployed
}

// productionImage reads the image of the Dockerfile's default target, its
// last stage.
func productionImage(t *testing.T) dockerImage {
	t.Helper()
	stages := readDockerfile(t)
	final := stages[len(stages)-1]
	img := dockerImage{base: stageBase(stages, final), user: stageValue(stages, final, "USER"),
		proc: deployed{where: "Dockerfile", env: map[string]string{}}}
	for _, f := range strings.Fields(stageValue(stages, final, "EXPOSE")) {
		n, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("Dockerfile: EXPOSE %q", f)
		}
		img.expose = append(img.expose, n)
	}
	var entrypoint, cmd []string
	for v, keyword := range map[*[]string]string{&entrypoint: "ENTRYPOINT", &cmd: "CMD"} {
		if err := json.Unmarshal([]byte(stageValue(stages, final, keyword)), v); err != nil {
			t.Fatalf("Dockerfile: %s is not in exec form: %v", keyword, err)
		}
	}
	if !slices.Equal(entrypoint, []string{"/authserver"}) {
		t.Errorf("Dockerfile: ENTRYPOINT %q, want [/authserver]", entrypoint)
	}
	img.proc.args = cmd
	// Each ENV of the production stages, in order.
	var chain []*dockerStage
	for s := final; s != nil; s = stageNamed(stages, s.from) {
		chain = append([]*dockerStage{s}, chain...)
	}
	for _, s := range chain {
		for _, in := range s.instructions {
			if k, args, _ := strings.Cut(in, " "); strings.EqualFold(k, "ENV") {
				for _, kv := range strings.Fields(args) {
					name, value, _ := strings.Cut(kv, "=")
					img.proc.env[name] = value
				}
			}
		}
	}
	return img
}

func TestDeployDockerfile(t *testing.T) {
	stages := readDockerfile(t)
	img := productionImage(t)
	img.proc.check(t)
	if !slices.Equal(img.proc.args, []string{"serve"}) {
		t.Errorf("Dockerfile: CMD %q, want [serve]", img.proc.args)
	}
	if img.base != "gcr.io/distroless/static-debian12:nonroot" {
		t.Errorf("Dockerfile: the image is built on %s, want gcr.io/distroless/static-debian12:nonroot", img.base)
	}
	if uid, _, _ := strings.Cut(img.user, ":"); uid != "65532" {
		t.Errorf("Dockerfile: USER %q, want the numeric non-root 65532:65532 (Kubernetes verifies runAsNonRoot only with a numeric user)", img.user)
	}
	http, metrics := img.proc.ports(t)
	if !slices.Equal(img.expose, []int{http, metrics}) {
		t.Errorf("Dockerfile: EXPOSE %v, want the ports of AUTHSERVER_ADDR and AUTHSERVER_METRICS_ADDR %v", img.expose, []int{http, metrics})
	}
	if ok, out := img.proc.validate(t); !ok {
		t.Errorf("Dockerfile: the ENV settings are invalid:\n%s", out)
	}

	// The build stage: the Go of go.mod, a static, trimmed binary with its
	// version.
	mod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(mod)
	if goVersion == nil {
		t.Fatal("go.mod has no go line")
	}
	if build := stages[0]; build.from != "golang:"+string(goVersion[1]) {
		t.Errorf("Dockerfile: the build stage is FROM %s, want golang:%s, the Go of go.mod", build.from, goVersion[1])
	}
	runs := strings.Join(slices.DeleteFunc(slices.Clone(stages[0].instructions), func(in string) bool {
		return !strings.HasPrefix(in, "RUN ")
	}), "\n")
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-X main.version=", "./cmd/authserver"} {
		if !strings.Contains(runs, want) {
			t.Errorf("Dockerfile: the build stage does not run %q", want)
		}
	}
}

// k8sManifest is one YAML document of deploy/kubernetes.
type k8sManifest struct {
	file string
	node *yaml.Node
	Kind string
	Name string
}

// decode decodes the manifest into v.
func (m k8sManifest) decode(t *testing.T, v any) {
	t.Helper()
	if err := m.node.Decode(v); err != nil {
		t.Fatalf("%s: %s %s: %v", m.file, m.Kind, m.Name, err)
	}
}

// yamlDocuments returns the documents of the YAML file path.
func yamlDocuments(t *testing.T, path string) []*yaml.Node {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var docs []*yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); err != nil {
			if errors.Is(err, io.EOF) {
				return docs
			}
			t.Fatalf("%s: %v", path, err)
		}
		docs = append(docs, &doc)
	}
}

// kubernetesManifests returns every document of deploy/kubernetes/*.yaml.
func kubernetesManifests(t *testing.T) []k8sManifest {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(deployDir, "kubernetes", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no deploy/kubernetes/*.yaml (%v)", err)
	}
	var ms []k8sManifest
	for _, file := range files {
		for _, doc := range yamlDocuments(t, file) {
			m := k8sManifest{file: filepath.Base(file), node: doc}
			var head struct {
				Kind     string
				Metadata struct{ Name string }
			}
			m.decode(t, &head)
			m.Kind, m.Name = head.Kind, head.Metadata.Name
			ms = append(ms, m)
		}
	}
	return ms
}

// onlyManifest returns the only manifest of kind.
func onlyManifest(t *testing.T, ms []k8sManifest, kind string) k8sManifest {
	t.Helper()
	var found []k8sManifest
	for _, m := range ms {
		if m.Kind == kind {
			found = append(found, m)
		}
	}
	if len(found) != 1 {
		t.Fatalf("deploy/kubernetes has %d %s manifests, want 1", len(found), kind)
	}
	return found[0]
}

// k8sSecurityContext is the part of a pod's or container's security context
// the test checks.
type k8sSecurityContext struct {
	RunAsNonRoot             *bool  `yaml:"runAsNonRoot"`
	RunAsUser                *int64 `yaml:"runAsUser"`
	ReadOnlyRootFilesystem   *bool  `yaml:"readOnlyRootFilesystem"`
	AllowPrivilegeEscalation *bool  `yaml:"allowPrivilegeEscalation"`
	Capabilities             struct{ Drop []string }
	SeccompProfile           struct{ Type string } `yaml:"seccompProfile"`
}

type k8sKeyRef struct{ Name, Key string }

type k8sProbe struct {
	HTTPGet *struct {
		Path string
		Port any // A number or the name of a container port.
	} `yaml:"httpGet"`
}

type k8sContainer struct {
	Name, Image string
	Args        []string
	Env         []struct {
		Name      string
		Value     string
		ValueFrom struct {
			SecretKeyRef    *k8sKeyRef `yaml:"secretKeyRef"`
			ConfigMapKeyRef *k8sKeyRef `yaml:"configMapKeyRef"`
		} `yaml:"valueFrom"`
	}
	EnvFrom []struct {
		ConfigMapRef *struct{ Name string } `yaml:"configMapRef"`
		SecretRef    *struct{ Name string } `yaml:"secretRef"`
	} `yaml:"envFrom"`
	Ports []struct {
		Name          string
		ContainerPort int `yaml:"containerPort"`
	}
	ReadinessProbe  *k8sProbe `yaml:"readinessProbe"`
	LivenessProbe   *k8sProbe `yaml:"livenessProbe"`
	Resources       struct{ Requests, Limits map[string]string }
	SecurityContext k8sSecurityContext `yaml:"securityContext"`
}

// containerPort resolves a probe's or Service's port, a number or a port
// name, to a container port of c.
func (c k8sContainer) containerPort(p any) int {
	for _, cp := range c.Ports {
		if cp.Name == p || cp.ContainerPort == p {
			return cp.ContainerPort
		}
	}
	return 0
}

type k8sDeployment struct {
	Spec struct {
		Replicas int
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		}
		Template struct {
			Metadata struct{ Labels map[string]string }
			Spec     struct {
				EnableServiceLinks *bool              `yaml:"enableServiceLinks"`
				SecurityContext    k8sSecurityContext `yaml:"securityContext"`
				InitContainers     []k8sContainer     `yaml:"initContainers"`
				Containers         []k8sContainer
			}
		}
	}
}

// k8sQuantity parses a Kubernetes quantity of CPU (in cores) or memory (in
// bytes): "500m", "2", "256Mi".
func k8sQuantity(t *testing.T, s string) float64 {
	t.Helper()
	factor := 1.0
	for suffix, f := range map[string]float64{"m": 1e-3, "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			s, factor = n, f
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("quantity %q: %v", s, err)
	}
	return v * factor
}

// selects reports whether selector is not empty and labels has each of its
// labels.
func selects(labels, selector map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return len(selector) > 0
}

func TestDeployKubernetes(t *testing.T) {
	ms := kubernetesManifests(t)
	img := productionImage(t)

	var kustomization struct {
		Resources []string
		Images    []struct {
			Name    string
			NewName string `yaml:"newName"`
			NewTag  string `yaml:"newTag"`
		}
	}
	var files []string
	for _, m := range ms {
		if m.file == "kustomization.yaml" {
			m.decode(t, &kustomization)
		} else if !slices.Contains(files, m.file) {
			files = append(files, m.file)
		}
	}
	if slices.Sort(kustomization.Resources); !slices.Equal(kustomization.Resources, files) {
		t.Errorf("kustomization.yaml: resources %q, want every other file %q", kustomization.Resources, files)
	}
	if len(kustomization.Images) != 1 || kustomization.Images[0].NewName == "" {
		t.Fatalf("kustomization.yaml: images %+v, want one with newName", kustomization.Images)
	}
	imageName := kustomization.Images[0].Name

	// The settings the pod takes from ConfigMaps and Secrets.
	data := map[string]map[string]string{}
	for _, m := range ms {
		if m.Kind != "ConfigMap" && m.Kind != "Secret" {
			continue
		}
		var v struct {
			Data       map[string]string
			StringData map[string]string `yaml:"stringData"`
		}
		m.decode(t, &v)
		values := v.StringData
		if values == nil {
			values = map[string]string{}
		}
		for k, value := range v.Data {
			if m.Kind == "Secret" { // A Secret's data is base64.
				b, err := base64.StdEncoding.DecodeString(value)
				if err != nil {
					t.Fatalf("%s: Secret %s: data %s is not base64", m.file, m.Name, k)
				}
				value = string(b)
			}
			values[k] = value
		}
		data[m.Kind+"/"+m.Name] = values
	}
	// env returns the environment of c.
	env := func(c k8sContainer) map[string]string {
		vars := map[string]string{}
		for _, from := range c.EnvFrom {
			ref := ""
			switch {
			case from.ConfigMapRef != nil:
				ref = "ConfigMap/" + from.ConfigMapRef.Name
			case from.SecretRef != nil:
				ref = "Secret/" + from.SecretRef.Name
			}
			if data[ref] == nil {
				t.Errorf("container %s: envFrom %s does not exist", c.Name, ref)
			}
			for k, v := range data[ref] {
				vars[k] = v
			}
		}
		for _, e := range c.Env {
			vars[e.Name] = e.Value
			for kind, ref := range map[string]*k8sKeyRef{"Secret": e.ValueFrom.SecretKeyRef, "ConfigMap": e.ValueFrom.ConfigMapKeyRef} {
				if ref == nil {
					continue
				}
				v, ok := data[kind+"/"+ref.Name][ref.Key]
				if !ok {
					t.Errorf("container %s: %s refers to the missing key %s of %s %s", c.Name, e.Name, ref.Key, kind, ref.Name)
				}
				vars[e.Name] = v
			}
		}
		return vars
	}

	var d k8sDeployment
	depl := onlyManifest(t, ms, "Deployment")
	depl.decode(t, &d)
	pod := d.Spec.Template.Spec
	if d.Spec.Replicas != 3 {
		t.Errorf("Deployment: %d replicas, want 3", d.Spec.Replicas)
	}
	if !selects(d.Spec.Template.Metadata.Labels, d.Spec.Selector.MatchLabels) {
		t.Errorf("Deployment: the selector %v does not select the pod's labels %v", d.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels)
	}
	if pod.EnableServiceLinks == nil || *pod.EnableServiceLinks {
		t.Error("Deployment: enableServiceLinks is not false: a Service named authserver would add AUTHSERVER_SERVICE_HOST and the like to authserver's settings")
	}
	if len(pod.Containers) != 1 || len(pod.InitContainers) != 1 {
		t.Fatalf("Deployment: %d containers and %d init containers, want 1 and 1 (migrate)", len(pod.Containers), len(pod.InitContainers))
	}
	for _, c := range append(slices.Clone(pod.InitContainers), pod.Containers...) {
		vars := env(c)
		p := deployed{where: "container " + c.Name, args: c.Args, env: vars}
		p.check(t)
		if c.Image != imageName {
			t.Errorf("container %s: image %q, want %q, the image that kustomization.yaml names (name only: its images entry sets the tag)", c.Name, c.Image, imageName)
		}

		// The settings are valid, with a real key-encryption key in place
		// of the Secret's placeholder, which authserver must refuse.
		if kek, ok := vars[kekEnv]; ok {
			withKEK := deployed{where: p.where, args: p.args, env: map[string]string{kekEnv: kek}}
			if ok, _ := withKEK.validate(t); ok {
				t.Errorf("%s: the placeholder %s=%q is a valid key: make it one authserver refuses", p.where, kekEnv, kek)
			}
		}
		filled := deployed{where: p.where, args: p.args, env: maps.Clone(vars)}
		if _, ok := vars[kekEnv]; ok {
			filled.env[kekEnv] = base64.StdEncoding.EncodeToString(make([]byte, 32))
		}
		if ok, out := filled.validate(t); !ok {
			t.Errorf("%s: invalid settings:\n%s", p.where, out)
		}

		// Non-root, read-only, no privileges, the default seccomp profile:
		// the container's context or else the pod's.
		sc, podSC := c.SecurityContext, pod.SecurityContext
		for what, ok := range map[string]bool{
			"runAsNonRoot: true":              (sc.RunAsNonRoot != nil && *sc.RunAsNonRoot) || (sc.RunAsNonRoot == nil && podSC.RunAsNonRoot != nil && *podSC.RunAsNonRoot),
			"runAsUser not 0":                 (sc.RunAsUser == nil || *sc.RunAsUser != 0) && (podSC.RunAsUser == nil || *podSC.RunAsUser != 0),
			"readOnlyRootFilesystem: true":    sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem,
			"allowPrivilegeEscalation: false": sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation,
			"capabilities drop ALL":           slices.Contains(sc.Capabilities.Drop, "ALL"),
			"seccompProfile RuntimeDefault":   sc.SeccompProfile.Type == "RuntimeDefault" || (sc.SeccompProfile.Type == "" && podSC.SeccompProfile.Type == "RuntimeDefault"),
		} {
			if !ok {
				t.Errorf("container %s: security context lacks %s", c.Name, what)
			}
		}
		if uid, _, _ := strings.Cut(img.user, ":"); podSC.RunAsUser != nil && strconv.FormatInt(*podSC.RunAsUser, 10) != uid {
			t.Errorf("Deployment: runAsUser %d, but the image's USER is %s", *podSC.RunAsUser, img.user)
		}
	}
	if c := pod.InitContainers[0]; len(c.Args) == 0 || c.Args[0] != "migrate" {
		t.Errorf("init container %s: args %q, want authserver migrate", c.Name, c.Args)
	}

	c := pod.Containers[0]
	p := deployed{where: "container " + c.Name, args: c.Args, env: env(c)}
	if len(c.Args) == 0 || c.Args[0] != "serve" {
		t.Fatalf("container %s: args %q, want serve", c.Name, c.Args)
	}
	if _, ok := p.flags()["no-migrate"]; !ok {
		t.Errorf("container %s: serve without --no-migrate: the init container migrates", c.Name)
	}
	http, metrics := p.ports(t)
	if got := []int{c.containerPort("http"), c.containerPort("metrics")}; !slices.Equal(got, []int{http, metrics}) ||
		!slices.Equal(got, img.expose) {
		t.Errorf("container %s: ports http and metrics %v, want those of --addr and --metrics-addr %v and the Dockerfile's EXPOSE %v",
			c.Name, got, []int{http, metrics}, img.expose)
	}
	for _, probe := range []struct {
		name, path string
		p          *k8sProbe
	}{{"readinessProbe", "/readyz", c.ReadinessProbe}, {"livenessProbe", "/healthz", c.LivenessProbe}} {
		if probe.p == nil || probe.p.HTTPGet == nil {
			t.Errorf("container %s: no %s httpGet", c.Name, probe.name)
			continue
		}
		if got := probe.p.HTTPGet; got.Path != probe.path || c.containerPort(got.Port) != http {
			t.Errorf("container %s: %s gets %s on port %v, want %s on the port of --addr, %d", c.Name, probe.name, got.Path, got.Port, probe.path, http)
		}
	}

	// Resources: --hash-concurrency Argon2id computations at once, each on
	// a CPU of the limit and with --argon2-memory; the memory limit holds
	// the peak that cmd/authserver/abuse_test.go allows a login flood
	// (README "Memory-bounded hashing"): 100 MiB + concurrency × memory.
	hashes, err := strconv.Atoi(p.setting("hash-concurrency", ""))
	if err != nil {
		t.Fatalf("container %s: --hash-concurrency is not set: the default, the node's CPUs, is not the pod's", c.Name)
	}
	argon2KiB, err := strconv.Atoi(p.setting("argon2-memory", strconv.Itoa(int(defaults().Argon2.Memory))))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"cpu", "memory"} {
		if c.Resources.Requests[r] == "" || c.Resources.Limits[r] == "" {
			t.Fatalf("container %s: no %s request and limit", c.Name, r)
		}
	}
	if cpus := math.Ceil(k8sQuantity(t, c.Resources.Limits["cpu"])); int(cpus) != hashes {
		t.Errorf("container %s: --hash-concurrency=%d, want the CPU limit, %v", c.Name, hashes, cpus)
	}
	if limit, want := k8sQuantity(t, c.Resources.Limits["memory"]), float64(100<<20+hashes*argon2KiB<<10); limit < want {
		t.Errorf("container %s: memory limit %s, want at least 100 MiB + %d × %d KiB = %.0f MiB", c.Name, c.Resources.Limits["memory"], hashes, argon2KiB, want/(1<<20))
	}

	// The Service: the http and metrics ports of the container.
	var svc struct {
		Spec struct {
			Selector map[string]string
			Ports    []struct {
				Name       string
				Port       int
				TargetPort any `yaml:"targetPort"`
			}
		}
	}
	onlyManifest(t, ms, "Service").decode(t, &svc)
	if !selects(d.Spec.Template.Metadata.Labels, svc.Spec.Selector) {
		t.Errorf("Service: the selector %v does not select the pods %v", svc.Spec.Selector, d.Spec.Template.Metadata.Labels)
	}
	want := map[string]int{"http": http, "metrics": metrics}
	got := map[string]int{}
	for _, sp := range svc.Spec.Ports {
		if target := c.containerPort(sp.TargetPort); target != sp.Port {
			t.Errorf("Service: port %s is %d, its target %v is the container port %d", sp.Name, sp.Port, sp.TargetPort, target)
		}
		got[sp.Name] = sp.Port
	}
	if !maps.Equal(got, want) {
		t.Errorf("Service: ports %v, want those of --addr and --metrics-addr %v", got, want)
	}

	// Disruptions and autoscaling: a drain always leaves two replicas, and
	// one can always be drained.
	var pdb struct {
		Spec struct {
			MinAvailable int `yaml:"minAvailable"`
			Selector     struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			}
		}
	}
	onlyManifest(t, ms, "PodDisruptionBudget").decode(t, &pdb)
	if pdb.Spec.MinAvailable != 2 || !selects(d.Spec.Template.Metadata.Labels, pdb.Spec.Selector.MatchLabels) {
		t.Errorf("PodDisruptionBudget: minAvailable %d of %v, want 2 of the pods %v", pdb.Spec.MinAvailable, pdb.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels)
	}
	var hpa struct {
		Spec struct {
			ScaleTargetRef struct{ Kind, Name string } `yaml:"scaleTargetRef"`
			MinReplicas    int                         `yaml:"minReplicas"`
			MaxReplicas    int                         `yaml:"maxReplicas"`
			Metrics        []struct {
				Resource struct{ Name string }
			}
		}
	}
	onlyManifest(t, ms, "HorizontalPodAutoscaler").decode(t, &hpa)
	if hpa.Spec.ScaleTargetRef.Kind != "Deployment" || hpa.Spec.ScaleTargetRef.Name != depl.Name {
		t.Errorf("HorizontalPodAutoscaler: scales %+v, want the Deployment %s", hpa.Spec.ScaleTargetRef, depl.Name)
	}
	if hpa.Spec.MinReplicas <= pdb.Spec.MinAvailable || hpa.Spec.MaxReplicas < hpa.Spec.MinReplicas {
		t.Errorf("HorizontalPodAutoscaler: %d to %d replicas, want more than the PodDisruptionBudget's minAvailable %d", hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas, pdb.Spec.MinAvailable)
	}
	if len(hpa.Spec.Metrics) != 1 || hpa.Spec.Metrics[0].Resource.Name != "cpu" {
		t.Errorf("HorizontalPodAutoscaler: metrics %+v, want CPU", hpa.Spec.Metrics)
	}
	// The pools of the most replicas stay below PostgreSQL's default
	// max_connections, 100.
	conns, err := strconv.Atoi(p.setting("db-max-conns", strconv.Itoa(defaults().DBMaxConns)))
	if err != nil || hpa.Spec.MaxReplicas*conns >= 100 {
		t.Errorf("HorizontalPodAutoscaler: %d replicas of --db-max-conns=%d PostgreSQL connections, want fewer than 100 in all", hpa.Spec.MaxReplicas, conns)
	}

	// kustomize, where it is installed, builds the files with the image
	// kustomization.yaml names.
	var build *exec.Cmd
	if path, err := exec.LookPath("kustomize"); err == nil {
		build = exec.Command(path, "build", filepath.Join(deployDir, "kubernetes"))
	} else if path, err := exec.LookPath("kubectl"); err == nil {
		build = exec.Command(path, "kustomize", filepath.Join(deployDir, "kubernetes"))
	}
	if build != nil {
		out, err := build.Output()
		if err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(build.Args, " "), err, out)
		}
		wantImage := "image: " + kustomization.Images[0].NewName + ":" + kustomization.Images[0].NewTag
		if n := strings.Count(string(out), wantImage+"\n"); n != 2 {
			t.Errorf("%s: %d containers with %s, want 2:\n%s", strings.Join(build.Args, " "), n, wantImage, out)
		}
	}
}

// composeService is the part of a compose service the test checks.
type composeService struct {
	Image string
	Build *struct {
		Context, Dockerfile, Target string
	}
	Command     []string
	Environment map[string]string
	Healthcheck *struct{ Test []string }
	DependsOn   map[string]struct{ Condition string } `yaml:"depends_on"`
	Ports       []string
	Volumes     []string
	Networks    map[string]struct{ Aliases []string }
}

func TestDeployCompose(t *testing.T) {
	docs := yamlDocuments(t, filepath.Join(deployDir, "compose.yaml"))
	if len(docs) != 1 {
		t.Fatalf("compose.yaml: %d documents, want 1", len(docs))
	}
	var compose struct{ Services map[string]composeService }
	if err := docs[0].Decode(&compose); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	services := compose.Services
	img := productionImage(t)
	stages := readDockerfile(t)

	if s := services["postgres"]; s.Image != "postgres:16" {
		t.Errorf("compose.yaml: postgres image %q, want postgres:16", s.Image)
	}
	if s := services["redis"]; s.Image != "redis:7" || !strings.Contains(strings.Join(s.Command, " "), "--appendonly yes") {
		t.Errorf("compose.yaml: redis image %q command %q, want redis:7 with --appendonly yes", s.Image, s.Command)
	}

	// Every service that runs authserver: the image of deploy/Dockerfile,
	// a command and settings authserver accepts.
	var replicas []string
	issuers := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(services)) {
		s := services[name]
		if s.Build == nil {
			continue
		}
		if s.Build.Dockerfile != "deploy/Dockerfile" || s.Build.Context != ".." || stageNamed(stages, s.Build.Target) == nil {
			t.Errorf("compose.yaml: %s builds %+v, want deploy/Dockerfile from the repository root and a target of it", name, *s.Build)
		}
		p := deployed{where: "compose.yaml: " + name, args: s.Command, env: s.Environment}
		p.check(t)
		if ok, out := p.validate(t); !ok {
			t.Errorf("%s: invalid settings:\n%s", p.where, out)
		}
		if kek, err := base64.StdEncoding.DecodeString(s.Environment[kekEnv]); err != nil || len(kek) != 32 {
			t.Errorf("%s: %s is not 32 bytes in base64", p.where, kekEnv)
		}
		if !strings.HasPrefix(s.Environment[envName("database-url")], "postgres://") || s.Environment[envName("redis-url")] != "redis://redis:6379/0" {
			t.Errorf("%s: database %q and Redis %q, want the services postgres and redis", p.where, s.Environment[envName("database-url")], s.Environment[envName("redis-url")])
		}
		if len(s.Command) > 0 && s.Command[0] == "migrate" {
			if s.DependsOn["postgres"].Condition != "service_healthy" {
				t.Errorf("%s: migrate does not wait for a healthy postgres", p.where)
			}
			continue
		}
		if len(s.Command) == 0 || s.Command[0] != "serve" {
			t.Errorf("%s: command %q, want serve or migrate", p.where, s.Command)
			continue
		}
		replicas = append(replicas, name)
		if _, ok := p.flags()["no-migrate"]; !ok || s.DependsOn["migrate"].Condition != "service_completed_successfully" {
			t.Errorf("%s: want serve --no-migrate after the service migrate completed", p.where)
		}
		http, metrics := p.ports(t)
		if !slices.Equal([]int{http, metrics}, img.expose) {
			t.Errorf("%s: --addr and --metrics-addr listen on %v, want the Dockerfile's EXPOSE %v", p.where, []int{http, metrics}, img.expose)
		}
		if s.Healthcheck == nil || !slices.Contains(s.Healthcheck.Test, "http://127.0.0.1:"+strconv.Itoa(http)+"/readyz") {
			t.Errorf("%s: healthcheck %+v, want one that gets /readyz on the port of --addr, %d", p.where, s.Healthcheck, http)
		}
		issuers[p.setting("issuer", "")] = true
	}
	if len(issuers) != 1 || issuers[""] {
		t.Errorf("compose.yaml: the replicas' issuers %v, want one issuer set for every replica", slices.Collect(maps.Keys(issuers)))
	}
	if len(replicas) != 2 {
		t.Fatalf("compose.yaml: replicas %q, want 2", replicas)
	}

	// Prometheus runs deploy/prometheus/prometheus.yml and its rules, and
	// the targets there are the replicas' metrics listeners.
	prom := services["prometheus"]
	var config struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName       string                       `yaml:"job_name"`
			StaticConfigs []struct{ Targets []string } `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yamlDocuments(t, filepath.Join(deployDir, "prometheus", "prometheus.yml"))[0].Decode(&config); err != nil {
		t.Fatal(err)
	}
	for _, file := range append([]string{"prometheus.yml"}, config.RuleFiles...) {
		if mount := "./prometheus/" + file + ":/etc/prometheus/" + file + ":ro"; !slices.Contains(prom.Volumes, mount) {
			t.Errorf("compose.yaml: prometheus volumes %q, want %s", prom.Volumes, mount)
		}
	}
	var targets, want []string
	for _, sc := range config.ScrapeConfigs {
		for _, static := range sc.StaticConfigs {
			if sc.JobName == "authserver" {
				targets = append(targets, static.Targets...)
			}
		}
	}
	for _, name := range replicas {
		s := services[name]
		_, metrics := deployed{where: name, args: s.Command, env: s.Environment}.ports(t)
		aliases := s.Networks["default"].Aliases
		if len(aliases) == 0 {
			aliases = []string{name}
		}
		want = append(want, net.JoinHostPort(aliases[0], strconv.Itoa(metrics)))
		if _, ok := prom.DependsOn[name]; !ok {
			t.Errorf("compose.yaml: prometheus does not depend on %s", name)
		}
	}
	if slices.Sort(targets); !slices.Equal(targets, want) {
		t.Errorf("prometheus.yml: job authserver scrapes %q, want the replicas' metrics listeners %q", targets, want)
	}
}
