package api

// WaitFor is waitFor for the external tests: poll a condition until a
// deadline.
var WaitFor = waitFor
