// Package archtest holds the test that keeps the package dependencies of
// DESIGN §2: leaves import nothing of ours, api never reaches past cluster,
// the Go SDK pulls in nothing but the generated API code.
package archtest
