//go:build unix && !linux

package vaulttest

import "syscall"

func setPdeathsig(*syscall.SysProcAttr) {}
