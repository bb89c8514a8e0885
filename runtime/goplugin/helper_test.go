package goplugin_test

// The plugin processes of these tests are this test binary, re-executed with
// helperEnv naming the plugin to serve (go-plugin's own helperProcess
// pattern): TestMain serves instead of running tests.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/rpc"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/toolbrain/toolbrain/plugins/rewards"
	"github.com/toolbrain/toolbrain/runtime/goplugin"
	pb "github.com/toolbrain/toolbrain/runtime/goplugin/internal/proto"
	"github.com/toolbrain/toolbrain/runtime/goplugin/internal/wire"
	"github.com/toolbrain/toolbrain/runtime/goplugin/serve"
	"github.com/toolbrain/toolbrain/sdk"
)

const helperEnv = "TOOLBRAIN_GOPLUGIN_TEST_HELPER"

// wireEnv picks how a helper serves calls: "" as serve.Serve does (Stream),
// "unary" as a plugin built before Stream existed (Info says no stream, so
// the host calls Call), "stream-nolimit" with Stream but ignoring the host's
// output limit, as a plugin not written with package serve might.
const wireEnv = "TOOLBRAIN_GOPLUGIN_TEST_WIRE"

// wires are the two ways the host calls a plugin; tests of calls run on
// both.
var wires = []struct{ name, env string }{{"stream", ""}, {"unary", "unary"}}

// forEachWire runs f once per wire with the env that selects it.
func forEachWire(t *testing.T, f func(t *testing.T, env []string)) {
	for _, w := range wires {
		t.Run(w.name, func(t *testing.T) { f(t, []string{wireEnv + "=" + w.env}) })
	}
}

func TestMain(m *testing.M) {
	if name := os.Getenv(helperEnv); name != "" {
		if err := serveHelper(name); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// helperConfig is the Config that starts helper plugin name, logging to the
// test's output.
func helperConfig(t testing.TB, name string) goplugin.Config {
	return goplugin.Config{
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
		// No tests run if the helper env were lost: the process would
		// then print "PASS" and fail the handshake, not recurse.
		Args: []string{"-test.run=^$"},
		Env: []string{helperEnv + "=" + name,
			// Under -race a process sleeps a second at exit (for reports
			// still being written): a second per Close of every test.
			"GORACE=" + strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0")},
	}
}

// openHelper starts helper plugin name and closes it at the end of the test.
func openHelper(t testing.TB, name string, cfg goplugin.Config) *goplugin.Plugin {
	t.Helper()
	base := helperConfig(t, name)
	cfg.Args, cfg.Env = base.Args, append(base.Env, cfg.Env...)
	if cfg.Logger == nil {
		cfg.Logger = base.Logger
	}
	p, err := goplugin.Open(context.Background(), os.Args[0], cfg)
	if err != nil {
		t.Fatalf("open helper %s: %v", name, err)
	}
	t.Cleanup(func() { p.Close(context.Background()) })
	return p
}

func serveHelper(name string) error {
	serveAs := serve.Serve
	if w := os.Getenv(wireEnv); w != "" {
		serveAs = func(p serve.Plugin) error { return serveWire(p, w) }
	}
	switch name {
	case "rewards":
		w := &configured{}
		return serveAs(serve.Plugin{Name: "rewards", Version: "0.1.0", Kind: sdk.KindReward, Reward: w, Configure: w.configure})
	case "all":
		a := allKinds{}
		return serveAs(serve.Plugin{Name: "all", Kind: sdk.KindJudge,
			Tool: a, Reward: a, GroupReward: a, Judge: a, Algorithm: a, Interpreter: a})
	case "tools":
		return serveAs(serve.Plugin{Name: "tools", Kind: sdk.KindTool, Tool: tools{}})
	case "future":
		return serveAs(serve.Plugin{Name: "future", Kind: sdk.KindTool, Tool: tools{}, SDKVersion: "1.9"})
	case "major2":
		return serveAs(serve.Plugin{Name: "major2", Kind: sdk.KindTool, Tool: tools{}, SDKVersion: "2.0"})
	case "badconfig":
		return serveAs(serve.Plugin{Name: "badconfig", Kind: sdk.KindTool, Tool: tools{},
			Configure: func(map[string]string) error { return errors.New("api_key is required") }})
	case "hostfns":
		return serveAs(hostFnsPlugin(sdk.KindJudge))
	case "hostfns-tool":
		return serveAs(hostFnsPlugin(sdk.KindTool))
	case "hostfns-liar":
		// Asks for everything in its own checks but tells the host it asks
		// only for what askEnv says: the host's checks must stop it.
		p := hostFnsPlugin(sdk.KindJudge)
		p.HostFunctions = []string{sdk.PermissionTool, sdk.PermissionLLM}
		s, err := serve.NewServer(p)
		if err != nil {
			return err
		}
		plugin.Serve(&plugin.ServeConfig{
			HandshakeConfig: wire.Handshake(1),
			Plugins:         plugin.PluginSet{wire.PluginName: &wire.GRPCPlugin{Impl: liarServer{wire.PluginServerOf(s)}}},
			GRPCServer:      plugin.DefaultGRPCServer,
		})
		return nil
	case "hang":
		// Never answers the handshake.
		time.Sleep(time.Minute)
		return nil
	case "hang-on-restart":
		// The first process serves; the next says so in the marker
		// directory and never answers the handshake.
		dir := os.Getenv(markerEnv)
		if _, err := os.Stat(filepath.Join(dir, "served")); err == nil {
			if err := os.WriteFile(filepath.Join(dir, "hanging"), nil, 0o644); err != nil {
				return err
			}
			time.Sleep(time.Minute)
			return nil
		}
		if err := os.WriteFile(filepath.Join(dir, "served"), nil, 0o644); err != nil {
			return err
		}
		return serveAs(serve.Plugin{Name: "hang-on-restart", Kind: sdk.KindTool, Tool: tools{}})
	case "netrpc":
		// A plugin of the right handshake served over net/rpc: the host
		// accepts gRPC only.
		plugin.Serve(&plugin.ServeConfig{
			HandshakeConfig: wire.Handshake(1),
			Plugins:         plugin.PluginSet{wire.PluginName: netRPCPlugin{}},
		})
		return nil
	}
	return fmt.Errorf("unknown helper %q", name)
}

// serveWire serves p the way wire (see wireEnv) says.
func serveWire(p serve.Plugin, mode string) error {
	s, err := serve.NewServer(p)
	if err != nil {
		return err
	}
	var impl pb.PluginServer
	switch mode {
	case "unary":
		impl = unaryServer{wire.PluginServerOf(s)}
	case "stream-nolimit":
		impl = noLimitServer{wire.PluginServerOf(s)}
	default:
		return fmt.Errorf("unknown wire %q", mode)
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: wire.Handshake(1),
		Plugins:         plugin.PluginSet{wire.PluginName: &wire.GRPCPlugin{Impl: impl}},
		GRPCServer:      plugin.DefaultGRPCServer,
	})
	return nil
}

// unaryServer is a plugin from before Stream: its Info does not offer it.
type unaryServer struct{ wire.Service }

func (u unaryServer) Info(ctx context.Context, req *pb.InfoRequest) (*pb.InfoResponse, error) {
	info, err := u.Service.Info(ctx, req)
	if info != nil {
		info.Stream = false
	}
	return info, err
}

// noLimitServer streams but never sees the host's output limit.
type noLimitServer struct{ wire.Service }

func (n noLimitServer) Stream(st pb.Plugin_StreamServer) error { return n.Service.Stream(noLimit{st}) }

type noLimit struct{ pb.Plugin_StreamServer }

func (n noLimit) Recv() (*pb.CallRequest, error) {
	req, err := n.Plugin_StreamServer.Recv()
	if req != nil {
		req.MaxOutputBytes = 0
	}
	return req, err
}

// markerEnv names the directory where the "hang-on-restart" helper keeps
// its marker files.
const markerEnv = "TOOLBRAIN_GOPLUGIN_TEST_MARKER"

// askEnv lists, comma-separated, the permissions the "hostfns" helper asks
// for (serve.Plugin.HostFunctions).
const askEnv = "TOOLBRAIN_GOPLUGIN_TEST_ASK"

// hostFnsPlugin is a judge that asks the host's LLM to score each trace,
// and a tool plugin whose tools call the host: "llm" asks the LLM the
// argument text, "tool" calls the host's tool named by the argument text.
// kind is the kind it declares.
func hostFnsPlugin(kind sdk.Kind) serve.Plugin {
	var ask []string
	if a := os.Getenv(askEnv); a != "" {
		ask = strings.Split(a, ",")
	}
	h := hostFns{}
	return serve.Plugin{Name: "hostfns", Kind: kind, Judge: h, Tool: h, HostFunctions: ask}
}

type hostFns struct{}

// Judge scores each trace with the number the LLM answers.
func (hostFns) Judge(ctx context.Context, req sdk.JudgeRequest) (sdk.JudgeResponse, error) {
	var scores []float64
	for _, tr := range req.Traces {
		resp, err := serve.Host(ctx).LLM(ctx, sdk.LLMRequest{
			Messages: []sdk.Message{
				{Role: "system", Content: "Score the answer from 0 to 10. Reply with the number only."},
				{Role: "user", Content: "Expected: " + req.Expected + "\nAnswer: " + tr.FinalAnswer},
			},
			MaxTokens: 4,
		})
		if err != nil {
			return sdk.JudgeResponse{}, fmt.Errorf("judge: %w", err)
		}
		score, err := strconv.ParseFloat(strings.TrimSpace(resp.Text), 64)
		if err != nil {
			return sdk.JudgeResponse{}, fmt.Errorf("judge: the LLM answered %q, not a score", resp.Text)
		}
		scores = append(scores, score)
	}
	return sdk.JudgeResponse{Scores: scores}, nil
}

func (hostFns) CallTool(ctx context.Context, req sdk.ToolCallRequest) (sdk.ToolCallResponse, error) {
	var a toolArgs
	if len(req.Arguments) > 0 {
		if err := json.Unmarshal(req.Arguments, &a); err != nil {
			return sdk.ToolCallResponse{}, err
		}
	}
	switch req.Name {
	case "llm":
		resp, err := serve.Host(ctx).LLM(ctx, sdk.LLMRequest{Messages: []sdk.Message{{Role: "user", Content: a.Text}}})
		if err != nil {
			return sdk.ToolCallResponse{}, err
		}
		return sdk.ToolCallResponse{Content: resp.Text}, nil
	case "tool":
		return serve.Host(ctx).CallTool(ctx, sdk.ToolCallRequest{Name: a.Text, Arguments: req.Arguments})
	case "exit":
		os.Exit(a.Code)
	}
	return sdk.ToolCallResponse{Content: "no such tool: " + req.Name, IsError: true}, nil
}

// liarServer tells the host it asks for what askEnv says, whatever its
// serve.Plugin asks for.
type liarServer struct{ wire.Service }

func (l liarServer) Info(ctx context.Context, req *pb.InfoRequest) (*pb.InfoResponse, error) {
	info, err := l.Service.Info(ctx, req)
	if info != nil {
		info.HostFunctions = nil
		if a := os.Getenv(askEnv); a != "" {
			info.HostFunctions = strings.Split(a, ",")
		}
	}
	return info, err
}

// configured is the weighted reward list of the plugin's configuration.
type configured struct {
	mu sync.Mutex
	w  *rewards.Weighted
}

func (c *configured) configure(cfg map[string]string) error {
	var list []rewards.Config
	if err := json.Unmarshal([]byte(cfg["rewards"]), &list); err != nil {
		return fmt.Errorf("rewards: %w", err)
	}
	w, err := rewards.FromConfig(list)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.w = w
	c.mu.Unlock()
	return nil
}

func (c *configured) Reward(ctx context.Context, req sdk.RewardRequest) (sdk.RewardResponse, error) {
	c.mu.Lock()
	w := c.w
	c.mu.Unlock()
	return w.Reward(ctx, req)
}

// cancelled counts the "wait" calls whose context the host cancelled.
var cancelled atomic.Int64

// tools is a tool plugin whose tools misbehave on demand.
type tools struct{}

type toolArgs struct {
	Text  string `json:"text"`
	Code  int    `json:"code"`
	Ms    int    `json:"ms"`
	Bytes int    `json:"bytes"`
}

func (tools) CallTool(ctx context.Context, req sdk.ToolCallRequest) (sdk.ToolCallResponse, error) {
	var a toolArgs
	if len(req.Arguments) > 0 {
		if err := json.Unmarshal(req.Arguments, &a); err != nil {
			return sdk.ToolCallResponse{}, err
		}
	}
	switch req.Name {
	case "echo":
		return sdk.ToolCallResponse{Content: a.Text}, nil
	case "pid":
		return sdk.ToolCallResponse{Content: strconv.Itoa(os.Getpid())}, nil
	case "exit":
		os.Exit(a.Code)
	case "goroutine-panic":
		// Not recoverable by the server: takes the process down with the
		// panic on the real stderr.
		go panic("kaboom")
		time.Sleep(time.Minute)
	case "sleep":
		// Ignores ctx on purpose: the host's timeout must not depend on
		// the plugin's manners.
		time.Sleep(time.Duration(a.Ms) * time.Millisecond)
		return sdk.ToolCallResponse{Content: "slept"}, nil
	case "wait":
		// Waits for the host to cancel the call, and counts it.
		select {
		case <-ctx.Done():
			cancelled.Add(1)
			return sdk.ToolCallResponse{}, ctx.Err()
		case <-time.After(10 * time.Second):
			return sdk.ToolCallResponse{Content: "never cancelled"}, nil
		}
	case "cancelled":
		return sdk.ToolCallResponse{Content: strconv.FormatInt(cancelled.Load(), 10)}, nil
	case "panic":
		panic("boom")
	case "fail":
		return sdk.ToolCallResponse{}, errors.New("mailbox unreachable")
	case "big":
		return sdk.ToolCallResponse{Content: strings.Repeat("x", a.Bytes)}, nil
	case "log":
		serve.Logger().Info("searched", "query", a.Text, "hits", 3)
		return sdk.ToolCallResponse{Content: "logged"}, nil
	}
	return sdk.ToolCallResponse{Content: "no such tool: " + req.Name, IsError: true}, nil
}

// allKinds serves every kind with simple, checkable arithmetic.
type allKinds struct{}

func (allKinds) CallTool(_ context.Context, req sdk.ToolCallRequest) (sdk.ToolCallResponse, error) {
	return sdk.ToolCallResponse{Content: req.Name, Data: req.Arguments}, nil
}

func (allKinds) Reward(_ context.Context, req sdk.RewardRequest) (sdk.RewardResponse, error) {
	return sdk.RewardResponse{Score: float64(len(req.Trace.FinalAnswer)), Info: map[string]float64{"turns": float64(len(req.Trace.Turns))}}, nil
}

func (allKinds) RewardGroup(_ context.Context, req sdk.RewardGroupRequest) (sdk.RewardGroupResponse, error) {
	var s []float64
	for _, tr := range req.Traces {
		s = append(s, -float64(len(tr.FinalAnswer)))
	}
	return sdk.RewardGroupResponse{Scores: s}, nil
}

// Judge ranks shorter answers first.
func (allKinds) Judge(_ context.Context, req sdk.JudgeRequest) (sdk.JudgeResponse, error) {
	r := make([]int, len(req.Traces))
	for i := range r {
		r[i] = i
	}
	slices.SortStableFunc(r, func(a, b int) int { return len(req.Traces[a].FinalAnswer) - len(req.Traces[b].FinalAnswer) })
	return sdk.JudgeResponse{Ranking: r}, nil
}

// Advantages are GRPO's group-normalised rewards (population std, +1e-4).
func (allKinds) Advantages(_ context.Context, req sdk.AdvantageRequest) (sdk.AdvantageResponse, error) {
	var out [][]float64
	for _, g := range req.Groups {
		mean, sq := 0.0, 0.0
		for _, r := range g.Rewards {
			mean += r
		}
		mean /= float64(len(g.Rewards))
		for _, r := range g.Rewards {
			sq += (r - mean) * (r - mean)
		}
		std := math.Sqrt(sq / float64(len(g.Rewards)))
		a := make([]float64, len(g.Rewards))
		for i, r := range g.Rewards {
			a[i] = (r - mean) / (std + 1e-4)
		}
		out = append(out, a)
	}
	return sdk.AdvantageResponse{Advantages: out}, nil
}

func (allKinds) Interpret(_ context.Context, req sdk.InterpretRequest) (sdk.InterpretResponse, error) {
	answer := strings.ToUpper(req.Code)
	return sdk.InterpretResponse{Stdout: req.Code + "\n", FinalAnswer: &answer, Steps: int64(len(req.Code)), State: req.State}, nil
}

// netRPCPlugin serves over net/rpc only.
type netRPCPlugin struct{}

func (netRPCPlugin) Server(*plugin.MuxBroker) (any, error)              { return new(int), nil }
func (netRPCPlugin) Client(*plugin.MuxBroker, *rpc.Client) (any, error) { return nil, nil }
