package testenv

import (
	"io"
	"net"
	"sync"
	"time"
)

// Proxy forwards TCP connections to a target until cut. Tests put it
// between authz and PostgreSQL or Redis to take the service away without
// stopping the server other tests share.
type Proxy struct {
	Addr   string
	target string
	ln     net.Listener

	mu    sync.Mutex
	cut   bool
	delay time.Duration
	wake  chan struct{} // closed, and replaced, by Delay and Cut
	held  int           // chunks being delayed
	conns map[net.Conn]bool
}

// NewProxy listens on a free loopback port and forwards to target.
func NewProxy(t T, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: proxy: %v", err)
	}
	p := &Proxy{Addr: ln.Addr().String(), target: target, ln: ln, wake: make(chan struct{}), conns: map[net.Conn]bool{}}
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.Cut() })
	return p
}

// Cut resets every open connection and new ones until Restore, as a
// stopped server's host does: clients see their connections reset, never
// a connection that is accepted and then closed without a word.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	p.wakeHeld()
	for c := range p.conns {
		reset(c)
		delete(p.conns, c)
	}
}

// reset closes c with an RST rather than a FIN.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

// Restore lets connections through again.
func (p *Proxy) Restore() {
	p.mu.Lock()
	p.cut = false
	p.mu.Unlock()
}

// Redirect sends new connections to target; those open stay where they
// are. A failover looks so to a client whose old primary is still up (a
// partition, or before it is demoted): what it connects anew reaches the
// new primary, what it holds still reaches the old one.
func (p *Proxy) Redirect(target string) {
	p.mu.Lock()
	p.target = target
	p.mu.Unlock()
}

// Delay holds every chunk of data for d before passing it on, both ways,
// as a slow network or an overloaded server would. A d longer than the
// clients' timeouts is a service that accepts connections and then hangs.
// Chunks held when the delay changes (0 ends it) go on at once.
func (p *Proxy) Delay(d time.Duration) {
	p.mu.Lock()
	p.delay = d
	p.wakeHeld()
	p.mu.Unlock()
}

// Held is the number of chunks the delay holds now: with one chunk per
// request in flight, how many requests are waiting for the service.
func (p *Proxy) Held() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.held
}

// wakeHeld sends the chunks held on; p.mu is held.
func (p *Proxy) wakeHeld() {
	close(p.wake)
	p.wake = make(chan struct{})
}

func (p *Proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.forward(c)
	}
}

func (p *Proxy) forward(c net.Conn) {
	p.mu.Lock()
	if p.cut {
		p.mu.Unlock()
		reset(c)
		return
	}
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		p.mu.Unlock()
		c.Close()
		return
	}
	p.conns[c], p.conns[up] = true, true
	p.mu.Unlock()
	go func() { p.copy(up, c); up.Close() }()
	p.copy(c, up)
	c.Close()
}

// copy is io.Copy with the delay.
func (p *Proxy) copy(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.hold()
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// hold waits out the delay for one chunk.
func (p *Proxy) hold() {
	p.mu.Lock()
	d, wake := p.delay, p.wake
	if d == 0 {
		p.mu.Unlock()
		return
	}
	p.held++
	p.mu.Unlock()
	timer := time.NewTimer(d)
	select {
	case <-timer.C:
	case <-wake:
		timer.Stop()
	}
	p.mu.Lock()
	p.held--
	p.mu.Unlock()
}
