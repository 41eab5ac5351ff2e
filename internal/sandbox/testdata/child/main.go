// Command child is what the sandbox tests run inside environments; its first
// argument selects a behaviour and it prints what it saw.
package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Println("usage: child ACTION [ARG]")
		os.Exit(2)
	}
	if os.Args[1] == "preinit" && len(os.Args) > 2 {
		// A pre-started environment: wait for the line its server sends once
		// the code is at /var/task, then act on the rest of the arguments.
		fmt.Println("waiting")
		if line, _ := bufio.NewReader(os.Stdin).ReadString('\n'); line == "" {
			os.Exit(0)
		}
		if err := os.Chdir("/var/task"); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		os.Args = append(os.Args[:1], os.Args[2:]...)
	}
	arg := ""
	if len(os.Args) > 2 {
		arg = os.Args[2]
	}
	switch os.Args[1] {
	case "ready": // like a runtime's first /next: connect to arg and wait
		c, err := net.Dial("tcp", arg)
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		c.Write([]byte("ready\n"))
		var b [1]byte
		c.Read(b[:])
	case "echo":
		fmt.Println(arg)
	case "exit":
		n, _ := strconv.Atoi(arg)
		os.Exit(n)
	case "ps":
		ents, _ := os.ReadDir("/proc")
		var pids []string
		for _, e := range ents {
			if _, err := strconv.Atoi(e.Name()); err == nil {
				pids = append(pids, e.Name())
			}
		}
		fmt.Printf("pid=%d ppid=%d procs=%s\n", os.Getpid(), os.Getppid(), strings.Join(pids, ","))
	case "id":
		fmt.Printf("uid=%d gid=%d groups=%v\n", os.Getuid(), os.Getgid(), must(os.Getgroups()))
	case "read":
		b, err := os.ReadFile(arg)
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		fmt.Printf("ok: %q\n", b)
	case "ls":
		ents, err := os.ReadDir(arg)
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		fmt.Println("ok:", strings.Join(names, ","))
	case "write":
		if err := os.WriteFile(arg, []byte("x"), 0o644); err != nil {
			fmt.Println("error:", err)
			return
		}
		fmt.Println("ok")
	case "fill": // write arg MB to a file; report how much fitted
		mb, _ := strconv.Atoi(arg)
		f, err := os.Create(os.Getenv("TMPDIR") + "/fill")
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		chunk := make([]byte, 1<<20)
		n := 0
		for ; n < mb; n++ {
			if _, err := f.Write(chunk); err != nil {
				fmt.Printf("wrote %d MB: error: %v\n", n, err)
				return
			}
		}
		fmt.Printf("wrote %d MB\n", n)
	case "alloc": // touch arg MB of memory
		mb, _ := strconv.Atoi(arg)
		var keep [][]byte
		for i := 0; i < mb; i++ {
			b := make([]byte, 1<<20)
			for j := 0; j < len(b); j += 4096 {
				b[j] = 1
			}
			keep = append(keep, b)
		}
		fmt.Printf("allocated %d MB\n", len(keep))
	case "forkbomb": // start sleeping copies of itself until that fails
		n := 0
		for ; n < 100000; n++ {
			cmd := exec.Command("/proc/self/exe", "sleep")
			if err := cmd.Start(); err != nil {
				fmt.Printf("started %d: error: %v\n", n, err)
				return
			}
		}
		fmt.Printf("started %d\n", n)
	case "sleep":
		time.Sleep(time.Hour)
	case "term": // handle SIGTERM: print and exit 0
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGTERM)
		fmt.Println("waiting")
		<-c
		fmt.Println("got SIGTERM")
	case "env":
		fmt.Println(strings.Join(os.Environ(), "\n"))
	default:
		fmt.Println("unknown action", os.Args[1])
		os.Exit(2)
	}
}

func must[T any](v T, _ error) T { return v }
