package contract

import (
	"sort"
	"strings"
)

// Handler runs one contract function.
type Handler func(ctx Context) Response

// Router maps function names to handlers. Build it during package
// initialisation; it is read-only afterwards and then safe for concurrent
// use.
type Router struct {
	handlers map[string]Handler
}

// NewRouter returns an empty Router.
func NewRouter() *Router { return &Router{handlers: map[string]Handler{}} }

// Handle registers h for function name. Like http.ServeMux it panics on an
// empty name, a nil handler or a duplicate: those are programming errors
// found at init, never caused by input.
func (r *Router) Handle(name string, h Handler) {
	switch {
	case name == "":
		panic("contract: Handle with an empty function name")
	case h == nil:
		panic("contract: Handle(" + name + ") with a nil handler")
	case r.handlers[name] != nil:
		panic("contract: function " + name + " registered twice")
	}
	r.handlers[name] = h
}

// Functions lists the registered function names, sorted.
func (r *Router) Functions() []string {
	names := make([]string, 0, len(r.handlers))
	for n := range r.handlers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Invoke runs the handler of ctx.Function(). An unknown function is a 400
// response naming the known ones; a response without a status becomes a
// 500. It does not recover panics: the entry point (or contracttest) does.
func (r *Router) Invoke(ctx Context) Response {
	h := r.handlers[ctx.Function()]
	if h == nil {
		return BadRequest("function", "unknown function %q (this contract has: %s)",
			ctx.Function(), strings.Join(r.Functions(), ", ")).Response()
	}
	resp := h(ctx)
	if resp.Status == 0 {
		return Internal("function %s returned a response without a status", ctx.Function()).Response()
	}
	return resp
}

// DefaultRouter is the router Register adds to and the wasm entry point
// dispatches to unless Serve names another.
var DefaultRouter = NewRouter()

// Register registers h for function name on DefaultRouter.
func Register(name string, h Handler) { DefaultRouter.Handle(name, h) }

// served is the router the entry point dispatches to.
var served = DefaultRouter

// Serve makes r the router the wasm entry point dispatches to. Call it from
// an init function of the contract's main package. Outside wasm it only
// records r (see Served).
func Serve(r *Router) {
	if r == nil {
		panic("contract: Serve(nil)")
	}
	served = r
}

// Served returns the router the entry point dispatches to.
func Served() *Router { return served }

// Recover runs r.Invoke(ctx) and turns a panic into a 500 response,
// reporting panicked. The wasm entry point and contracttest both use it so
// that panics look the same in either.
func Recover(r *Router, ctx Context) (resp Response, panicked bool) {
	defer func() {
		if v := recover(); v != nil {
			resp = Internal("contract panicked in %s: %v", ctx.Function(), v).Response()
			panicked = true
		}
	}()
	return r.Invoke(ctx), false
}
