package bench

import "errors"

// ErrInvalidConfig is wrapped by every Config.Validate error; the message
// names the field.
var ErrInvalidConfig = errors.New("bench: invalid config")
