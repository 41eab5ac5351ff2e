package registry

import "github.com/nimbus-dev/nimbus/internal/lambda"

// urlRef locates a function URL: the function's name and the qualifier.
type urlRef struct{ name, qualifier string }

// indexURLs replaces old's function URLs in the index by new's (either may be
// nil). The caller holds r.mu.
func (r *Registry) indexURLs(old, new *Function) {
	if old != nil {
		for q := range old.URLs {
			delete(r.urls, lambda.FunctionURLID(old.Latest.FunctionName, q))
		}
	}
	if new != nil {
		for q := range new.URLs {
			r.urls[lambda.FunctionURLID(new.Latest.FunctionName, q)] = urlRef{new.Latest.FunctionName, q}
		}
	}
}

// LookupURL returns the function, qualifier and configuration of the function
// URL whose id (the first label of its host name) is urlID.
func (r *Registry) LookupURL(urlID string) (*Function, string, lambda.FunctionURLConfig, bool) {
	r.mu.RLock()
	ref, ok := r.urls[urlID]
	var fn *Function
	if ok {
		fn = r.cache[ref.name].fn
	}
	r.mu.RUnlock()
	if fn == nil {
		return nil, "", lambda.FunctionURLConfig{}, false
	}
	cfg, ok := fn.URLs[ref.qualifier]
	return fn, ref.qualifier, cfg, ok
}
