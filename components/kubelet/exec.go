package kubelet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/gorilla/websocket"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/remotecommand"
)

// The exec stream, as kubectl 1.3x speaks it through the apiserver: a
// WebSocket whose binary messages start with a channel byte —
//
//	0 stdin, 1 stdout, 2 stderr, 3 error (a metav1.Status when the command
//	ends), 4 resize ({"Width":80,"Height":24}), 255 close (v5: the client
//	has no more stdin; the next byte names the channel).
//
// Reference: apimachinery's remotecommand constants and KEP-4006.

var upgrader = websocket.Upgrader{
	Subprotocols: []string{remotecommand.StreamProtocolV5Name, remotecommand.StreamProtocolV4Name},
	CheckOrigin:  func(*http.Request) bool { return true },
}

// wsStream multiplexes a command's streams over one WebSocket.
type wsStream struct {
	mu   sync.Mutex
	conn *websocket.Conn
}

func (s *wsStream) write(channel byte, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn.WriteMessage(websocket.BinaryMessage, append([]byte{channel}, data...))
}

// channelWriter writes what a command prints to one channel.
type channelWriter struct {
	s       *wsStream
	channel byte
}

func (w channelWriter) Write(p []byte) (int, error) {
	if err := w.s.write(w.channel, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// execOptions are the query of an exec request.
type execOptions struct {
	Command                    []string
	Stdin, Stdout, Stderr, TTY bool
}

func readExecOptions(r *http.Request) execOptions {
	q := r.URL.Query()
	on := func(k string) bool { v := q.Get(k); return v == "true" || v == "1" }
	return execOptions{Command: q["command"], Stdin: on("stdin"), Stdout: on("stdout"), Stderr: on("stderr"), TTY: on("tty")}
}

// exec answers GET /exec/<ns>/<pod>/<container>: it runs the command in
// the running container (containerd's task.Exec, as `ctr task exec`
// does) with its streams on the WebSocket.
func (n *node) exec(w http.ResponseWriter, r *http.Request) {
	ns, podName, name := r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("container")
	opts := readExecOptions(r)
	if len(opts.Command) == 0 {
		http.Error(w, "you must specify at least one command for the container", http.StatusBadRequest)
		return
	}
	pod, err := n.pods.Pods(ns).Get(podName)
	if err != nil {
		http.Error(w, fmt.Sprintf("pod %s/%s is not on node %s", ns, podName, n.cfg.NodeName), http.StatusNotFound)
		return
	}
	all, err := n.runtime.ListPod(r.Context(), pod.UID)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	var target *Container
	for _, c := range podContainers(all, pod.UID) {
		if c.Name == name && c.State == StateRunning {
			c := c
			target = &c
		}
	}
	if target == nil {
		http.Error(w, fmt.Sprintf("unable to upgrade connection: container %s not found in pod %s or not running", name, podName), http.StatusBadRequest)
		return
	}
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered
	}
	defer conn.Close()
	s := &wsStream{conn: conn}
	exitCode, err := n.runExec(context.Background(), target.ID, opts, s, conn.Subprotocol() == remotecommand.StreamProtocolV5Name)
	status := metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess}
	switch {
	case err != nil:
		status = metav1.Status{TypeMeta: status.TypeMeta, Status: metav1.StatusFailure, Message: err.Error()}
	case exitCode != 0:
		status = metav1.Status{
			TypeMeta: status.TypeMeta, Status: metav1.StatusFailure, Reason: remotecommand.NonZeroExitCodeReason,
			Message: fmt.Sprintf("command terminated with non-zero exit code: error executing command %v, exit code %d", opts.Command, exitCode),
			Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: remotecommand.ExitCodeCauseType, Message: strconv.Itoa(int(exitCode))}}},
		}
	}
	data, _ := json.Marshal(status)
	s.write(remotecommand.StreamErr, data)
	conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), noDeadline)
}

// runExec runs one command in container id and returns its exit code.
func (n *node) runExec(ctx context.Context, id string, opts execOptions, s *wsStream, v5 bool) (uint32, error) {
	ctr, err := n.runtime.client.LoadContainer(ctx, id)
	if err != nil {
		return 0, err
	}
	spec, err := ctr.Spec(ctx)
	if err != nil {
		return 0, err
	}
	task, err := ctr.Task(ctx, nil)
	if err != nil {
		return 0, err
	}
	proc := *spec.Process
	proc.Args = opts.Command
	proc.Terminal = opts.TTY

	stdinR, stdinW := io.Pipe()
	var stdin io.Reader
	if opts.Stdin {
		stdin = stdinR
	}
	var stdout, stderr io.Writer = io.Discard, io.Discard
	if opts.Stdout {
		stdout = channelWriter{s, remotecommand.StreamStdOut}
	}
	if opts.Stderr && !opts.TTY {
		stderr = channelWriter{s, remotecommand.StreamStdErr}
	}
	ioOpts := []cio.Opt{cio.WithStreams(stdin, stdout, stderr), cio.WithFIFODir(n.runtime.fifoDir())}
	if opts.TTY {
		ioOpts = append(ioOpts, cio.WithTerminal)
	}
	execID := "exec-" + newID()[:12]
	p, err := task.Exec(ctx, execID, &proc, cio.NewCreator(ioOpts...))
	if err != nil {
		return 0, fmt.Errorf("exec: %w", err)
	}
	defer p.Delete(context.Background(), containerd.WithProcessKill)
	exited, err := p.Wait(ctx)
	if err != nil {
		return 0, err
	}
	if err := p.Start(ctx); err != nil {
		return 0, fmt.Errorf("exec: %w", err)
	}
	// Read what the client sends: stdin, terminal sizes, and the end of
	// its stdin.
	go func() {
		defer stdinW.Close()
		for {
			_, msg, err := s.conn.ReadMessage()
			if err != nil || len(msg) == 0 {
				return
			}
			switch msg[0] {
			case remotecommand.StreamStdIn:
				if _, err := stdinW.Write(msg[1:]); err != nil {
					return
				}
			case remotecommand.StreamResize:
				var size struct{ Width, Height uint16 }
				if json.Unmarshal(msg[1:], &size) == nil && opts.TTY {
					p.Resize(ctx, uint32(size.Width), uint32(size.Height))
				}
			case remotecommand.StreamClose:
				if v5 && len(msg) > 1 && msg[1] == remotecommand.StreamStdIn {
					stdinW.Close()
					p.CloseIO(ctx, containerd.WithStdinCloser)
				}
			}
		}
	}()
	st := <-exited
	p.IO().Wait() // the last output is written before the status
	code, _, err := st.Result()
	if errors.Is(err, context.Canceled) {
		return 0, err
	}
	return code, err
}

var noDeadline = zeroTime()

func zeroTime() (t time.Time) { return }
