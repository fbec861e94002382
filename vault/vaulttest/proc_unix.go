//go:build unix

package vaulttest

import (
	"os/exec"
	"syscall"
)

// setProcAttr puts the server in a process group of its own, so that
// killGroup reaches anything it starts, and on Linux makes the kernel kill
// it if the test binary dies without running its cleanups (a test timeout).
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	setPdeathsig(cmd.SysProcAttr)
}

// interrupt asks the server to shut down.
func interrupt(cmd *exec.Cmd) { _ = cmd.Process.Signal(syscall.SIGINT) }

// killGroup kills the server's process group. Called only while the server
// has not been reaped, so that the group id cannot belong to someone else.
func killGroup(cmd *exec.Cmd) { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
